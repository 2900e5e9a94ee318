// Live status of an M-Pesa prompt or card payment: polls the request's status every 2 s and
// shows what M-Pesa said, then the new balance. Stops when the request is finished.
(function () {
  var box = document.getElementById("pay-status");
  if (!box) return;
  var url = box.getAttribute("data-status-url"), tries = 0;
  var message = document.getElementById("pay-message"), balance = document.getElementById("pay-balance");
  // As majismart.money.kes writes it ("KES 1,440.00", "KES -500.00"), from the decimal string:
  // no float on the way.
  function kes(text) {
    var minus = text.charAt(0) === "-", parts = text.replace("-", "").split(".");
    var cents = ((parts[1] || "") + "00").slice(0, 2);
    return "KES " + (minus ? "-" : "") + parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + cents;
  }
  function show(s) {
    box.setAttribute("data-status", s.status);
    message.textContent = s.message;
    if (balance && s.balance !== undefined) balance.textContent = kes(String(s.balance));
    if (s.finished) {
      box.classList.remove("is-pending");
      box.classList.add(s.status === "failed" ? "is-failed" : "is-paid");
      var done = document.getElementById("pay-done");
      if (done) done.hidden = false;
    }
    return s.finished;
  }
  function poll() {
    tries += 1;
    fetch(url, {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.json(); })
      .then(function (s) { if (!show(s)) setTimeout(poll, tries < 60 ? 2000 : 10000); })
      .catch(function () { setTimeout(poll, 5000); });
  }
  if (box.getAttribute("data-status") === "pending") setTimeout(poll, 1500);
})();
