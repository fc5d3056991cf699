// Live refresh of the self-service pages: every 5 s, re-reads this same page (same origin, with
// its cookie) and swaps in the element marked data-live. A file, not inline script: the pages'
// Content-Security-Policy allows script from the gateway's own origin only.
(function () {
  "use strict";
  var live = document.querySelector("[data-live]");
  if (!live || !window.fetch || !window.DOMParser) {
    return;
  }

  function refresh() {
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) {
          return;
        }
        var next = new DOMParser().parseFromString(html, "text/html").querySelector("[data-live]");
        var current = document.querySelector("[data-live]");
        if (next && current) {
          current.replaceWith(document.importNode(next, true));
        }
      })
      .catch(function () { /* the next round tries again */ })
      .then(function () { window.setTimeout(refresh, 5000); });
  }

  window.setTimeout(refresh, 5000);
})();
