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
        if (fresh && current) { current.replaceWith(fresh); restoreView(); }
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

  // Pan and zoom on the routing graph: the wheel zooms around the pointer, a drag
  // pans, the buttons zoom in, out or fit. The view box survives live refreshes.
  var view = null;
  function graphSvg() { return document.querySelector(".pan-zoom svg"); }
  function fullBox(svg) {
    var parts = (svg.dataset.fullBox || svg.getAttribute("viewBox")).split(" ").map(Number);
    svg.dataset.fullBox = parts.join(" ");
    return parts;
  }
  function setView(svg, box) {
    view = box;
    svg.setAttribute("viewBox", box.join(" "));
  }
  function restoreView() {
    var svg = graphSvg();
    if (svg && view && location.pathname === "/graph") { fullBox(svg); setView(svg, view); }
  }
  function zoom(svg, factor, cx, cy) {
    var box = view || fullBox(svg);
    var full = fullBox(svg);
    var width = Math.min(full[2] * 4, Math.max(full[2] / 20, box[2] * factor));
    var scale = width / box[2];
    var height = box[3] * scale;
    setView(svg, [cx - (cx - box[0]) * scale, cy - (cy - box[1]) * scale, width, height]);
  }
  function pointer(svg, event) {
    var box = view || fullBox(svg);
    var rect = svg.getBoundingClientRect();
    return [box[0] + (event.clientX - rect.left) / rect.width * box[2],
            box[1] + (event.clientY - rect.top) / rect.height * box[3]];
  }
  document.addEventListener("wheel", function (event) {
    var svg = event.target.closest && event.target.closest(".pan-zoom svg");
    if (!svg) { return; }
    event.preventDefault();
    var at = pointer(svg, event);
    zoom(svg, event.deltaY > 0 ? 1.15 : 1 / 1.15, at[0], at[1]);
  }, { passive: false });
  var drag = null;
  document.addEventListener("pointerdown", function (event) {
    var svg = event.target.closest && event.target.closest(".pan-zoom svg");
    if (!svg || event.target.closest("a")) { return; }
    drag = { svg: svg, x: event.clientX, y: event.clientY, box: (view || fullBox(svg)).slice() };
    svg.classList.add("dragging");
  });
  document.addEventListener("pointermove", function (event) {
    if (!drag) { return; }
    var rect = drag.svg.getBoundingClientRect();
    var dx = (event.clientX - drag.x) / rect.width * drag.box[2];
    var dy = (event.clientY - drag.y) / rect.height * drag.box[3];
    setView(drag.svg, [drag.box[0] - dx, drag.box[1] - dy, drag.box[2], drag.box[3]]);
  });
  document.addEventListener("pointerup", function () {
    if (drag) { drag.svg.classList.remove("dragging"); drag = null; }
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-zoom]");
    var svg = graphSvg();
    if (!button || !svg) { return; }
    var box = view || fullBox(svg);
    var cx = box[0] + box[2] / 2, cy = box[1] + box[3] / 2;
    if (button.dataset.zoom === "in") { zoom(svg, 1 / 1.3, cx, cy); }
    else if (button.dataset.zoom === "out") { zoom(svg, 1.3, cx, cy); }
    else { view = null; setView(svg, fullBox(svg)); view = null; }
  });
})();
