// loopguard dashboard: live refresh (server-sent events) and the callback buttons.
// No framework, no external resources: the server renders every view; this script
// only swaps in a freshly rendered <main> when something changed.
(function () {
  "use strict";
  var status = document.querySelector("[data-testid=live-status]");
  var refreshing = false;
  var pending = false;
  var timer = null;

  function refresh() {
    if (refreshing) { pending = true; return; }
    refreshing = true;
    fetch(location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (text) {
        if (text === null) { return; }
        var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("content");
        var current = document.getElementById("content");
        if (fresh && current) { current.replaceWith(fresh); }
      })
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (pending) { pending = false; schedule(); }
      });
  }

  // Bursts of events become one refresh, at most one per second, and never sooner
  // than 300 ms after the event: the server may answer with a view computed up to
  // 250 ms earlier (it computes each view at most four times a second).
  var lastRefresh = 0;
  function schedule() {
    if (timer !== null) { return; }
    var wait = Math.max(300, lastRefresh + 1000 - Date.now());
    timer = setTimeout(function () { timer = null; lastRefresh = Date.now(); refresh(); }, wait);
  }

  function connect() {
    if (!window.EventSource) { return; }
    var source = new EventSource("/v1/events");
    // Browsers allow six connections per host; release this one when leaving the page.
    window.addEventListener("pagehide", function () { source.close(); });
    var opened = false;
    source.addEventListener("hello", function () {
      if (status) { status.classList.add("connected"); status.dataset.connected = "true"; }
      // A reconnect may have missed events: refresh once after every reconnect.
      if (opened) { schedule(); }
      opened = true;
    });
    ["transfer", "end", "callback", "promise", "lagged"].forEach(function (kind) {
      source.addEventListener(kind, schedule);
    });
    source.onerror = function () {
      if (status) { status.classList.remove("connected"); status.dataset.connected = "false"; }
    };
  }

  function eventId() {
    if (window.crypto && crypto.randomUUID) { return "dashboard-" + crypto.randomUUID(); }
    return "dashboard-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-mark]");
    if (!button) { return; }
    var status = button.dataset.mark;
    var note = status === "failed" ? (prompt("Note (optional)") || null) : "marked on the dashboard";
    button.disabled = true;
    fetch("/calls/" + encodeURIComponent(button.dataset.call) + "/callback", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ event_id: eventId(), status: status, note: note })
    }).then(function (response) {
      if (!response.ok) { button.disabled = false; alert("The mark was not saved (" + response.status + ")."); }
      schedule();
    }).catch(function () { button.disabled = false; });
  });

  connect();
})();
