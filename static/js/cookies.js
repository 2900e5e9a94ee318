// The cookie notice without a page load: post the choice, hide the notice, and load the
// analytics script only when it was allowed. Without JavaScript the form posts as it is.
(function () {
  var banner = document.getElementById("cookie-banner");
  if (!banner || !window.fetch) return;
  var form = banner.querySelector("form");
  form.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (!button) return;
    event.preventDefault();
    var data = new FormData(form);
    data.set("choice", button.value);
    fetch(form.action, {method: "POST", body: data, credentials: "same-origin",
                        headers: {"X-Requested-With": "fetch"}})
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        banner.remove();
        var src = form.getAttribute("data-analytics-src");
        if (button.value === "analytics" && src) {
          var script = document.createElement("script");
          script.src = src; script.defer = true; script.setAttribute("data-analytics", "");
          document.head.appendChild(script);
        }
      })
      .catch(function () {  // post it the plain way, with the button's choice
        var input = document.createElement("input");
        input.type = "hidden"; input.name = "choice"; input.value = button.value;
        form.appendChild(input); form.submit();
      });
  });
})();
