// Live count for the audience builder: asks /staff/audiences/count with the form's fields.
// The page works without it (the "Count" button submits the same fields).
(function () {
  var form = document.getElementById("audience-builder");
  var out = document.getElementById("audience-count");
  if (!form || !out) return;
  var timer = null;
  function refresh() {
    var params = new URLSearchParams(new FormData(form));
    params.delete("csrf_token");
    params.delete("name");
    fetch(form.dataset.countUrl + "?" + params.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        out.textContent = data.problem ? data.problem : data.count.toLocaleString("en-GB") + " contact(s) match";
      });
  }
  form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(refresh, 300); });
})();
