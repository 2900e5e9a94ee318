// Polls a background job's status and moves its progress bar; reloads when it finishes.
(function () {
  var box = document.getElementById("import-job");
  if (!box) return;
  var status = box.getAttribute("data-status");
  if (status !== "queued" && status !== "running") return;
  var bar = box.querySelector(".progress-bar"), text = document.getElementById("import-state");
  var timer = setInterval(function () {
    fetch(box.getAttribute("data-status-url"), {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        bar.style.width = s.percent + "%";
        box.querySelector(".progress").setAttribute("aria-valuenow", s.percent);
        if (s.status === "running") text.textContent = s.rows_done + " of about " + s.total_rows + " rows checked…";
        if (s.status === "done" || s.status === "failed") { clearInterval(timer); window.location.reload(); }
      });
  }, 1000);
})();
