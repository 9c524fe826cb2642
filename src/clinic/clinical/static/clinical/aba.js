// The ABA editor: each target's accuracy follows its trials and correct responses as they are
// typed (the server computes it again for the saved note), and "Add a target/behaviour" copies
// the last row empty with the next index, so the autosaved form carries it.
(function () {
  "use strict";
  function accuracyUpdate(row) {
    const trials = parseInt(row.querySelector('[name^="t_trials_"]').value, 10);
    const correct = parseInt(row.querySelector('[name^="t_correct_"]').value, 10);
    const cell = row.querySelector(".aba-accuracy");
    cell.textContent =
      trials > 0 && correct >= 0 && correct <= trials ? Math.round((100 * correct) / trials) + " %" : "—";
  }
  const targets = document.getElementById("aba-targets");
  if (!targets) return;
  targets.addEventListener("input", function (event) {
    const row = event.target.closest("tr");
    if (row && row.querySelector(".aba-accuracy")) accuracyUpdate(row);
  });
  document.querySelectorAll(".aba-add").forEach(function (button) {
    button.addEventListener("click", function () {
      const body = document.getElementById(button.dataset.table).tBodies[0];
      const last = body.rows[body.rows.length - 1];
      const copy = last.cloneNode(true);
      const index = body.rows.length;
      copy.querySelectorAll("input, select").forEach(function (field) {
        field.name = field.name.replace(/_\d+$/, "_" + index);
        const label = field.getAttribute("aria-label");
        if (label) field.setAttribute("aria-label", label.replace(/\d+$/, String(index + 1)));
        if (field.tagName === "SELECT") field.selectedIndex = 0;
        else field.value = "";
      });
      const cell = copy.querySelector(".aba-accuracy");
      if (cell) cell.textContent = "—";
      body.appendChild(copy);
      copy.querySelector("input").focus();
    });
  });
})();
