// CivicSentry dashboard: small conveniences, no inline handlers (the CSP forbids them).
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // Ask before revoking a token or disabling a user.
  document.querySelectorAll('form[action$="/revoke"], form[action$="/disable"], form[action$="/erase"], form[action$="/purge"]').forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm("Are you sure?")) ev.preventDefault();
    });
  });
  // Select the text of a freshly created token, ready to copy.
  const token = document.getElementById("new-token");
  if (token && window.getSelection) {
    const range = document.createRange();
    range.selectNodeContents(token);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
  }
});
