/* Search results: fetched from /api/search and drawn into #results. */
(function () {
  "use strict";
  var stateNode = document.getElementById("search-state");
  if (!stateNode) { return; }
  var state = JSON.parse(stateNode.textContent);
  var results = document.getElementById("results");
  var pagination = document.getElementById("pagination");

  function node(tag, className, text) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    if (text !== undefined) { el.textContent = text; }
    return el;
  }

  function searchHref(page) {
    return "/search?q=" + encodeURIComponent(state.term) + "&page=" + page;
  }

  function card(item) {
    var div = node("div", item.sponsored ? "result sponsored" : "result");
    div.dataset.listingId = item.listing_id;
    if (item.sponsored) { div.appendChild(node("span", "ad-slot", "Sponsored")); }
    var link = node("a", "result-link", item.title);
    link.href = item.url;
    div.appendChild(link);
    div.appendChild(document.createTextNode(" "));
    div.appendChild(node("span", "price", item.price_text));
    div.appendChild(document.createTextNode(" "));
    var img = node("img");
    img.src = item.image;
    img.alt = item.title;
    img.width = 160;
    img.height = 160;
    div.appendChild(img);
    div.appendChild(document.createTextNode(" "));
    div.appendChild(node("span", "seller", item.seller.name));
    return div;
  }

  function pageLink(className, page, label) {
    var a = node("a", className, label);
    a.href = searchHref(page);
    return a;
  }

  function render(data) {
    results.textContent = "";
    if (!data.results.length) {
      results.appendChild(node("p", "no-results", "No results"));
    }
    data.results.forEach(function (item) { results.appendChild(card(item)); });
    if (data.page > 1) { pagination.appendChild(pageLink("pagination-prev", data.page - 1, "Previous")); }
    pagination.appendChild(node("span", "pagination-status", "Page " + data.page + " of " + data.pages));
    if (data.page < data.pages) { pagination.appendChild(pageLink("pagination-next", data.page + 1, "Next")); }
  }

  function fail() {
    results.textContent = "";
    results.appendChild(node("p", "error", "Could not load results, please try again."));
  }

  var api = "/api/search?q=" + encodeURIComponent(state.term) + "&page=" + state.page;
  fetch(api, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    })
    .then(render, fail)
    .then(function () { document.body.dataset.ready = "1"; });
})();
