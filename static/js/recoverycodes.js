// Recovery codes page: "Download as text" saves the codes shown (they exist only in this page).
(function () {
  function start() {
    var button = document.querySelector("[data-download-codes]");
    var text = document.querySelector("[data-codes-text]");
    if (!button || !text) return;
    button.addEventListener("click", function () {
      var blob = new Blob([text.value + "\n"], { type: "text/plain" });
      var link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = button.getAttribute("data-filename") || "recovery-codes.txt";
      document.body.appendChild(link);
      link.click();
      setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
