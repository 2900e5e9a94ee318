// Live SMS size while a template is typed: characters, GSM-7 or UCS-2, parts and cost (the
// same rules as notifications/text.py; placeholders count as written until the preview).
(function () {
  var form = document.getElementById("template-form");
  if (!form || form.getAttribute("data-channel") !== "sms") return;
  var body = document.getElementById("body"), out = document.getElementById("sms-counter");
  var cost = parseFloat(form.getAttribute("data-cost") || "0");
  var basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var ext = "^{}\\[~]|€\f";
  function size(text) {
    var gsm = true, units = 0;
    for (var i = 0; i < text.length; i++) {
      var ch = text.charAt(i);
      if (basic.indexOf(ch) >= 0) units += 1; else if (ext.indexOf(ch) >= 0) units += 2; else { gsm = false; break; }
    }
    if (!gsm) units = text.length;  // UTF-16 code units, as UCS-2 counts them
    var single = gsm ? 160 : 70, part = gsm ? 153 : 67;
    var parts = units === 0 ? 0 : (units <= single ? 1 : Math.ceil(units / part));
    return {units: units, enc: gsm ? "GSM-7" : "UCS-2", parts: parts};
  }
  function show() {
    var s = size(body.value);
    out.textContent = "As typed: " + s.units + " characters · " + s.enc + " · " + s.parts + " part" + (s.parts === 1 ? "" : "s") +
      " · about KES " + (s.parts * cost).toFixed(2) + " (placeholders are longer once filled in: press Preview)";
  }
  body.addEventListener("input", show);
  // Typed before this script ran (a slow phone): count what is there now.
  if (body.value !== body.defaultValue) show();
})();
