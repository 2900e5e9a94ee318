// Phones: the portal's menu is one row that scrolls sideways; bring the page's own item into view.
(function () {
  var active = document.querySelector(".portal-nav a.active");
  if (active && active.parentNode.scrollWidth > active.parentNode.clientWidth) {
    active.scrollIntoView({ inline: "center", block: "nearest" });
  }
})();
