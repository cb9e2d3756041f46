// The signed-out page, while some portals have not confirmed: check again every 2 s and
// replace the status in place (its role="status" announces the change). A meta refresh
// used to reload the whole page under the reader, which WCAG 2.2.1 forbids; without
// script the page offers a "Check again" link instead.
(function () {
  "use strict";
  function schedule(region) {
    var url = region.getAttribute("data-refresh-url");
    if (!url) {
      return;
    }
    window.setTimeout(function () {
      fetch(url, { credentials: "same-origin" })
        .then(function (response) {
          return response.ok ? response.text() : Promise.reject(response.status);
        })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("logout-status");
          if (!fresh) {
            return;
          }
          region.replaceChildren.apply(region, Array.prototype.map.call(fresh.childNodes, function (node) {
            return document.importNode(node, true);
          }));
          var next = fresh.getAttribute("data-refresh-url");
          if (next) {
            region.setAttribute("data-refresh-url", next);
          } else {
            region.removeAttribute("data-refresh-url");
          }
          schedule(region);
        })
        .catch(function () { /* the "Check again" link still works */ });
    }, 2000);
  }
  var status = document.getElementById("logout-status");
  if (status) {
    schedule(status);
  }
})();
