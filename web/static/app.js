// Updraft UI: a little live behaviour on top of pages that work without it.
// The DAG page's grid and graph refresh themselves, and so does a run's page
// until the run ends; a running task's log follows live over server-sent
// events.
(function () {
  "use strict";

  // Reads the box's fragment again every 1.5 s, until the fragment marks
  // itself finished (a run's page once the run ended).
  function poll(box) {
    var url = box.getAttribute("data-poll");
    function finished() { return box.querySelector("[data-finished]") !== null; }
    function tick() {
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) { box.innerHTML = html; } })
        .catch(function () {})
        .finally(function () { if (!finished()) { setTimeout(tick, 1500); } });
    }
    if (!finished()) { setTimeout(tick, 1500); }
  }

  function followLog(pre) {
    var url = pre.getAttribute("data-follow");
    var note = document.getElementById("follow-note");
    var source = new EventSource(url);
    source.addEventListener("line", function (e) {
      var l = JSON.parse(e.data);
      var span = document.createElement("span");
      span.className = l.stream;
      span.textContent = l.at + " " + l.line + "\n";
      var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.appendChild(span);
      if (atEnd) { pre.scrollTop = pre.scrollHeight; }
    });
    source.addEventListener("end", function () {
      source.close();
      if (note) { note.textContent = "the try has ended; reload for its final state"; }
      pre.setAttribute("data-ended", "true");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var boxes = document.querySelectorAll("[data-poll]");
    for (var i = 0; i < boxes.length; i++) { poll(boxes[i]); }
    var log = document.querySelector("pre.log[data-follow]");
    if (log) { followLog(log); }
  });
})();
