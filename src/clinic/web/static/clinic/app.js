/* Behaviour shared by every page, kept out of the markup so that the Content-Security-Policy
   can refuse inline script and event-handler attributes (issue 18, hardening). */
"use strict";

// <select data-autosubmit> submits its form on change (the language and organization
// switchers, list filters); each such form keeps a <noscript> button for browsers without JS.
document.addEventListener("change", (event) => {
  const field = event.target;
  if (field instanceof HTMLSelectElement && field.hasAttribute("data-autosubmit") && field.form) {
    field.form.submit();
  }
});
