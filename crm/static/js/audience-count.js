// Live count for the audience builder: asks /staff/audiences/count with the form's fields.
// The page works without it (the "Count who matches" button submits the same fields). Only the answer to the
// latest question is shown (answers can arrive out of order), and the count says it is busy
// (aria-busy) until that answer is in.
(function () {
  var form = document.getElementById("audience-builder");
  var out = document.getElementById("audience-count");
  if (!form || !out) return;
  var timer = null;
  var asked = 0;
  function refresh() {
    var params = new URLSearchParams(new FormData(form));
    params.delete("csrf_token");
    params.delete("name");
    var question = ++asked;
    fetch(form.dataset.countUrl + "?" + params.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (question !== asked) return;
        out.textContent = data.text;
        out.removeAttribute("aria-busy");
      })
      .catch(function () {
        if (question !== asked) return;
        out.textContent = "Could not count just now: use the Count who matches button.";
        out.removeAttribute("aria-busy");
      });
  }
  form.addEventListener("change", function () {
    out.setAttribute("aria-busy", "true");
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  });
})();
