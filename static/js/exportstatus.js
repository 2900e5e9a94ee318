// Polls each export being prepared and reloads the page when one is ready (or failed).
(function () {
  var rows = document.querySelectorAll("[data-export][data-status='pending']");
  rows.forEach(function (row) {
    var bar = row.querySelector(".progress-bar");
    var timer = setInterval(function () {
      fetch(row.getAttribute("data-status-url"), {credentials: "same-origin", cache: "no-store"})
        .then(function (r) { return r.json(); })
        .then(function (s) {
          if (bar) { bar.style.width = s.percent + "%"; row.querySelector(".progress").setAttribute("aria-valuenow", s.percent); }
          if (s.status !== "pending") { clearInterval(timer); window.location.reload(); }
        });
    }, 1500);
  });
})();
