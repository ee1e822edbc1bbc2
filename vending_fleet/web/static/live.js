// Live updates: listen to /events (server-sent events) and re-fetch the small HTML fragment
// an update touches (the server renders it, escaped, as on a full page load).
(function () {
  "use strict";
  if (!window.EventSource) { return; }
  var status = document.getElementById("live-status");
  var parts = document.querySelectorAll("[data-fragment]");
  if (!parts.length) { return; }
  var machine = document.body.dataset.machine || "";
  var source = new EventSource("/events");
  source.onopen = function () {
    if (status) { status.textContent = "Live updates on."; }
    // What changed between the page's render and now (a reply that came at once, or while
    // reconnecting) sent nothing this stream saw: fetch each fragment once.
    parts.forEach(function (el) { refresh(el); });
  };
  source.onerror = function () {
    if (status) { status.textContent = "Live updates interrupted; reconnecting."; }
  };
  var timers = {};
  function refresh(el) {
    // a burst of updates (a reconnecting machine) becomes one fetch
    if (timers[el.id]) { return; }
    timers[el.id] = setTimeout(function () {
      delete timers[el.id];
      fetch(el.dataset.fragment, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { el.innerHTML = html; })
        .catch(function () {});
    }, 300);
  }
  var wants = {
    "machine-rows": ["machine", "state", "alert", "event"],
    "sales-feed": ["sale"],
    "machine-live": ["machine", "state", "reply", "alert", "event", "command"]
  };
  parts.forEach(function (el) {
    (wants[el.id] || []).forEach(function (kind) {
      source.addEventListener(kind, function (e) {
        var data = {};
        try { data = JSON.parse(e.data); } catch (err) { data = {}; }
        if (el.id === "machine-live" && data.machine && data.machine !== machine) { return; }
        refresh(el);
      });
    });
  });
})();
