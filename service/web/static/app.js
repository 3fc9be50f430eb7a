// leadflow web app: reload the page when a lead changed anywhere (another browser, the API,
// the worker's SLA sweep). One small poll a second of a cheap endpoint; no reload while the
// person is typing into a form.
(function () {
  "use strict";
  var body = document.body;
  var every = parseInt(body.getAttribute("data-refresh") || "0", 10);
  if (every > 0) {
    // a wall board also reloads on a timer: clocks age and breach without a change
    window.setTimeout(function () {
      window.location.replace(body.getAttribute("data-reload") || window.location.href);
    }, every * 1000);
  }
  var url = body.getAttribute("data-changes");
  if (!url) { return; }
  var seen = body.getAttribute("data-change");
  var target = body.getAttribute("data-reload") || window.location.href;
  function busy() {
    var el = document.activeElement;
    if (el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT")) {
      return el.type !== "hidden" && el.type !== "submit";
    }
    return false;
  }
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (d && String(d.change) !== seen && !busy()) { window.location.replace(target); }
      })
      .catch(function () { /* the server is away: try again at the next tick */ });
  }
  window.setInterval(poll, 1000);
})();
