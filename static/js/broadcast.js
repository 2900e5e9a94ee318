// Follows a broadcast: preparing its messages, then their sending, until every one is settled.
(function () {
  var box = document.getElementById("broadcast-progress");
  if (!box || box.getAttribute("data-state") === "done") return;
  var bar = box.querySelector(".progress-bar"), text = document.getElementById("broadcast-state");
  var timer = setInterval(function () {
    fetch(box.getAttribute("data-status-url"), {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        bar.style.width = s.percent + "%";
        box.querySelector(".progress").setAttribute("aria-valuenow", s.percent);
        ["sent", "delivered", "queued", "failed", "skipped"].forEach(function (k) {
          var el = box.querySelector('[data-count="' + k + '"]');
          if (el) el.textContent = s.counts[k] || 0;
        });
        if (s.state === "preparing") text.textContent = "Preparing messages: " + s.prepared + " of " + s.total + " clients…";
        else if (s.state === "sending") text.textContent = "Sending: " + s.messages + " messages…";
        else { text.textContent = "Done: " + s.messages + " messages."; clearInterval(timer); }
      });
  }, 1500);
})();
