// Drop's own script: progressive enhancements only; every page works without it.

// Signed-in pages are sent with Cache-Control: no-store, yet Chromium may keep them in its
// back/forward cache and show one again after the user signed out. Such a page is reloaded
// instead, so the server decides what Back shows (the sign-in page, once signed out).
window.addEventListener('pageshow', (event) => {
  if (event.persisted && document.body.hasAttribute('data-private')) {
    window.location.reload();
  }
});

// Loaded with the page's CSP nonce; no inline handlers, no eval, no HTML built from strings.
(function () {
  "use strict";

  // Upload forms: send with XMLHttpRequest to show progress, then open the new file's page.
  // Without this script the form posts normally and the server answers 303 to the same page.
  function enhanceUpload(form) {
    var status = form.querySelector("[data-upload-status]");
    var bar = form.querySelector("[data-upload-progress]");
    var percent = form.querySelector("[data-upload-percent]");
    var error = form.querySelector("[data-upload-error]");
    var button = form.querySelector("button[type=submit]");
    var token = form.querySelector("input[name=csrf_token]");
    if (!status || !bar || !error || !button || !token || !window.FormData) {
      return;
    }

    function showError(message) {
      error.textContent = message;
      error.hidden = false;
      status.hidden = true;
      button.disabled = false;
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      error.hidden = true;
      button.disabled = true;
      bar.value = 0;
      percent.textContent = "Starting upload…";
      status.hidden = false;

      // FormData keeps the form's order, so csrf_token is the first part; the header carries
      // it as well.
      var data = new FormData(form);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      xhr.setRequestHeader("X-CSRF-Token", token.value);
      xhr.responseType = "json";
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable && e.total > 0) {
          var done = Math.floor((e.loaded / e.total) * 100);
          bar.value = done;
          percent.textContent = done + "% uploaded";
        }
      });
      xhr.addEventListener("load", function () {
        var answer = xhr.response || {};
        if (xhr.status === 201 && typeof answer.url === "string" && /^\/files\/[0-9a-f]{32}$/.test(answer.url)) {
          bar.value = 100;
          percent.textContent = "Uploaded.";
          window.location.assign(answer.url);
          return;
        }
        if (typeof answer.error === "string") {
          showError(answer.error);
        } else if (xhr.status === 403) {
          showError("This form could not be verified. Please reload the page and try again.");
        } else {
          showError("The upload failed (status " + xhr.status + "). Please try again.");
        }
      });
      xhr.addEventListener("error", function () {
        showError("The upload was interrupted. Please check your connection and try again.");
      });
      xhr.addEventListener("abort", function () {
        showError("The upload was cancelled.");
      });
      xhr.send(data);
    });
  }

  // Forms that destroy something ask first.
  function confirmFirst(form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  }

  document.querySelectorAll("form[data-upload]").forEach(enhanceUpload);
  document.querySelectorAll("form[data-confirm]").forEach(confirmFirst);
})();
