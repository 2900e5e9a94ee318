// Route sheet: Enter moves to the next meter's box; the last Enter submits the sheet.
(function () {
  var form = document.getElementById("sheet");
  if (!form) return;
  var boxes = Array.prototype.slice.call(form.querySelectorAll("input[name^='v-']"));
  boxes.forEach(function (box, i) {
    box.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") return;
      event.preventDefault();
      var next = boxes[i + 1];
      if (next) { next.focus(); next.scrollIntoView({block: "center"}); } else { form.requestSubmit(); }
    });
  });
  var firstEmpty = boxes.filter(function (b) { return !b.value; })[0];
  if (firstEmpty) firstEmpty.focus();
})();
