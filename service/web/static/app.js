// leadflow web app, two small behaviours:
// 1. Reload the page when a lead changed anywhere (another browser, the API, the worker's SLA
//    sweep): the server pushes the newest change id as server-sent events (/app/events); where
//    that fails, one small poll a second of /app/changes. No reload while the person is typing.
// 2. Drag a card onto another column to fire the trigger that leads there (the card's own
//    button does the same from the keyboard).
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
  var seen = Number(body.getAttribute("data-change"));
  var target = body.getAttribute("data-reload") || window.location.href;
  var stale = false;
  // once the person submits a form or follows a link, their navigation wins: a live reload
  // started now would cancel it (and, for a form, throw the answer away)
  var leaving = false;
  function leave() { leaving = true; }
  document.addEventListener("submit", leave, true);
  window.addEventListener("beforeunload", leave);
  window.addEventListener("pagehide", leave);
  function busy() {
    var el = document.activeElement;
    if (el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT")) {
      return el.type !== "hidden" && el.type !== "submit";
    }
    return false;
  }
  function saw(change) {
    if (Number(change) > seen) { stale = true; }
    if (stale && !busy() && !leaving) { window.location.replace(target); }
  }
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) { saw(d.change); } })
      .catch(function () { /* the server is away: try again at the next tick */ });
  }
  var polling = false;
  function startPolling() {
    if (!polling) { polling = true; window.setInterval(poll, 1000); }
  }
  // a change seen while the person typed reloads once they stop
  window.setInterval(function () { saw(seen); }, 1000);
  var events = body.getAttribute("data-events");
  if (!events || !window.EventSource) { startPolling(); return; }
  var source = new EventSource(events);
  body.setAttribute("data-live", "events");
  source.onmessage = function (e) { saw(e.data); };
  source.onerror = function () {
    if (source.readyState === EventSource.CLOSED) {
      body.setAttribute("data-live", "polling");
      startPolling();
    }
  };
})();

// Dragging a card onto a column submits the card's form whose transition goes to that stage.
(function () {
  "use strict";
  var dragged = null;
  function formFor(card, stage) {
    return card ? card.querySelector('form.fire[data-to="' + stage + '"]') : null;
  }
  document.addEventListener("dragstart", function (e) {
    var card = e.target.closest && e.target.closest("li.card[draggable]");
    if (!card) { return; }
    dragged = card;
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", card.id);
  });
  document.addEventListener("dragend", function () { dragged = null; });
  document.addEventListener("dragover", function (e) {
    var column = e.target.closest && e.target.closest("section.column[data-stage]");
    if (column && formFor(dragged, column.getAttribute("data-stage"))) { e.preventDefault(); }
  });
  document.addEventListener("drop", function (e) {
    var column = e.target.closest && e.target.closest("section.column[data-stage]");
    var form = column && formFor(dragged, column.getAttribute("data-stage"));
    if (!form) { return; }
    e.preventDefault();
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  });
})();
