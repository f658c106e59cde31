/* Lazy gallery: an image's real URL sits in data-src until it scrolls into view. */
(function () {
  "use strict";
  var images = Array.prototype.slice.call(document.querySelectorAll(".gallery img[data-src]"));
  function load(img) {
    if (!img.getAttribute("src")) {
      img.src = img.dataset.src;
      img.classList.add("loaded");
    }
  }
  if (!("IntersectionObserver" in window)) { images.forEach(load); return; }
  var observer = new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting) {
        load(entry.target);
        observer.unobserve(entry.target);
      }
    });
  });
  images.forEach(function (img) { observer.observe(img); });
  document.body.dataset.ready = "1";
})();
