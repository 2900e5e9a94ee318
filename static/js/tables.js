// Tables that become one card per row on a phone (table.stack-sm): CSS "display: block" makes
// some browsers (Safari) forget that they are tables, so a screen reader no longer reads a cell
// with its column's name. Saying so in ARIA roles keeps them tables whatever the CSS does.
document.addEventListener("DOMContentLoaded", function () {
  var roles = [["", "table"], ["thead, tbody, tfoot", "rowgroup"], ["tr", "row"], ["th", "columnheader"], ["td", "cell"]];
  document.querySelectorAll("table.stack-sm").forEach(function (table) {
    roles.forEach(function (pair) {
      var parts = pair[0] ? table.querySelectorAll(pair[0]) : [table];
      Array.prototype.forEach.call(parts, function (el) {
        if (!el.hasAttribute("role")) el.setAttribute("role", pair[1]);
      });
    });
  });
});
