// The consent form's drawn signature (signature_pad): the canvas follows its box's width (and
// the device's pixel ratio), "Clear" starts again, and the drawing goes with the form as a PNG
// data URL. An empty pad is refused here first (the server refuses it too).
(function () {
  "use strict";
  const form = document.getElementById("consent-form");
  const canvas = document.getElementById("signature-pad");
  if (!form || !canvas || !window.SignaturePad) return;
  const pad = new window.SignaturePad(canvas, { penColor: "#0b2a55" });
  const error = document.getElementById("signature-error");
  const contact = document.getElementById("consent-contact");

  function resize() {
    const ratio = Math.max(window.devicePixelRatio || 1, 1);
    const data = pad.toData();
    canvas.width = canvas.offsetWidth * ratio;
    canvas.height = canvas.offsetHeight * ratio;
    canvas.getContext("2d").scale(ratio, ratio);
    pad.clear();
    pad.fromData(data);
  }
  window.addEventListener("resize", resize);
  resize();

  document.getElementById("signature-clear").addEventListener("click", function () {
    pad.clear();
  });
  form.querySelectorAll('input[name="signer"]').forEach(function (radio) {
    radio.addEventListener("change", function () {
      contact.value = radio.dataset.contact || "";
    });
  });
  form.addEventListener("submit", function (event) {
    if (pad.isEmpty()) {
      event.preventDefault();
      error.textContent = error.dataset.empty;
      error.classList.remove("d-none");
      canvas.focus();
      return;
    }
    document.getElementById("signature-data").value = pad.toDataURL("image/png");
  });
})();
