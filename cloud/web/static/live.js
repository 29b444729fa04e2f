// Progressive enhancement: every element with data-live="<url>" is refreshed from that URL every few seconds
// while the page is visible. Without JavaScript the page still works; it just does not update by itself.
(function () {
  "use strict";
  var EVERY_MS = 5000;
  function refresh(element) {
    if (document.hidden) { return; }
    fetch(element.getAttribute("data-live"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html !== null) { element.innerHTML = html; element.setAttribute("data-refreshed", String(Date.now())); } })
      .catch(function () { /* offline for a moment: try again next time */ });
  }
  document.querySelectorAll("[data-live]").forEach(function (element) {
    setInterval(function () { refresh(element); }, EVERY_MS);
  });
})();
