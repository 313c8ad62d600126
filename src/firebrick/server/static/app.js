// Progressive enhancement: follow a running scan live over server-sent events, then show the
// finished report. Without JavaScript the page refreshes itself (<noscript> meta refresh).
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box || !window.EventSource) { return; }
  var list = document.getElementById("events");
  var status = document.getElementById("status");
  var source = new EventSource("/api/v1/scans/" + box.dataset.scan + "/events");
  function add(text) {
    var item = document.createElement("li");
    item.textContent = text;
    list.appendChild(item);
  }
  source.onmessage = function () {};
  ["queued", "started", "progress"].forEach(function (kind) {
    source.addEventListener(kind, function (e) {
      var data = JSON.parse(e.data);
      status.textContent = kind === "progress" ? "running" : kind;
      if (data.message) { add(data.message); }
    });
  });
  ["done", "failed"].forEach(function (kind) {
    source.addEventListener(kind, function () { source.close(); window.location.reload(); });
  });
  source.onerror = function () { source.close(); setTimeout(function () { window.location.reload(); }, 2000); };
}());
