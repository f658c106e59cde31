/* Cookie consent: accepting stores consent=yes and reveals the page. */
(function () {
  "use strict";
  function accept() {
    document.cookie = "consent=yes; path=/; max-age=31536000; SameSite=Lax";
    var overlay = document.getElementById("consent");
    if (overlay) { overlay.remove(); }
    document.body.classList.remove("consent-pending");
  }
  var button = document.getElementById("consent-accept");
  if (button) { button.addEventListener("click", accept); }
})();
