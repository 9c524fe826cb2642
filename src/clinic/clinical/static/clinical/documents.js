// The document upload with a progress bar: the same multipart form, sent by XHR so the bar can
// follow the bytes; the server answers a short text (the refusal, or the success shown after
// the page reloads). Without script the form posts and the page comes back as usual.
(function () {
  "use strict";
  const form = document.getElementById("document-upload");
  if (!form) return;
  const progress = document.getElementById("document-progress");
  const bar = progress.querySelector(".progress-bar");
  const error = document.getElementById("document-error");
  const button = document.getElementById("document-save");

  function show(text) {
    error.textContent = text;
    error.classList.toggle("d-none", !text);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    show("");
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Upload", "1");
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      const percent = Math.round((e.loaded / e.total) * 100);
      bar.style.width = percent + "%";
      progress.setAttribute("aria-valuenow", String(percent));
    });
    xhr.addEventListener("load", function () {
      button.disabled = false;
      if (xhr.status === 201) {
        window.location.hash = "documents";
        window.location.reload();
        return;
      }
      progress.classList.add("d-none");
      show(xhr.responseText || form.dataset.failed || "Upload failed");
    });
    xhr.addEventListener("error", function () {
      button.disabled = false;
      progress.classList.add("d-none");
      show(form.dataset.failed || "Upload failed");
    });
    progress.classList.remove("d-none");
    bar.style.width = "0%";
    button.disabled = true;
    xhr.send(new FormData(form));
  });
})();
