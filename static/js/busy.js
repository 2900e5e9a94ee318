// Long form submissions (billing runs): show that work is under way and stop double submits.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.matches("form[data-busy]")) return;
  if (form.classList.contains("is-busy")) { event.preventDefault(); return; }
  form.classList.add("is-busy");
  form.querySelectorAll("button[type=submit]").forEach(function (b) { b.setAttribute("aria-disabled", "true"); });
});
