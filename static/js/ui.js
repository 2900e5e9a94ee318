// What style attributes and inline handlers did before the Content-Security-Policy refused them
// (style-src 'self', script-src 'self': no inline styles or scripts on any page).
(function () {
  function start() {
    // Progress bars start at their aria-valuenow; the pages' own scripts move them afterwards.
    document.querySelectorAll(".progress[aria-valuenow] > .progress-bar").forEach(function (bar) {
      var value = parseFloat(bar.parentNode.getAttribute("aria-valuenow"));
      if (!isNaN(value)) bar.style.width = Math.max(0, Math.min(100, value)) + "%";
    });
    // The branding preview in the provider's colour (validated #rrggbb by the form).
    document.querySelectorAll("[data-brand-color]").forEach(function (el) {
      el.style.setProperty("--preview-brand", el.getAttribute("data-brand-color"));
    });
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    // Parts of a form for one choice only (data-show-when="field=value"): hidden for the others.
    document.querySelectorAll("[data-show-when]").forEach(function (part) {
      var rule = part.getAttribute("data-show-when").split("="), form = part.closest("form");
      var field = form && form.querySelector("[name='" + rule[0] + "']");
      if (!field) return;
      var sync = function () { part.hidden = field.value !== rule[1]; };
      field.addEventListener("change", sync);
      sync();
    });
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
