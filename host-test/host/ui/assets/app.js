// Progressive enhancement only: every page works without this file.
// Copy buttons: shown when JavaScript runs, they copy the value of the
// read-only field they name and say so in their own label.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button.copy-button[data-copy]").forEach(function (btn) {
    var field = document.getElementById(btn.getAttribute("data-copy"));
    if (!field) {
      return;
    }
    btn.hidden = false;
    var label = btn.firstChild ? btn.firstChild.textContent : "Copy";
    btn.addEventListener("click", function () {
      var done = function () {
        btn.firstChild.textContent = "Copied";
        btn.setAttribute("aria-live", "polite");
        window.setTimeout(function () { btn.firstChild.textContent = label; }, 2000);
      };
      var fallback = function () {
        field.focus();
        field.select();
        try { document.execCommand("copy"); done(); } catch (e) { /* the field stays selected for Ctrl+C */ }
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, fallback);
      } else {
        fallback();
      }
    });
  });
  // Put keyboard focus on the first field in error, or on the page's alert.
  var invalid = document.querySelector("[aria-invalid=true]");
  if (invalid) {
    invalid.focus();
  } else {
    var alert = document.getElementById("page-error");
    if (alert) {
      alert.setAttribute("tabindex", "-1");
      alert.focus();
    }
  }
});
