// Trend charts of the chart's vital signs (chart.js). Data come from the json_script block
// (no inline script under the CSP); charts are drawn again after an htmx swap of the card.
(function () {
  "use strict";
  var drawn = [];

  function draw() {
    var source = document.getElementById("vital-chart-data");
    drawn.forEach(function (chart) { chart.destroy(); });
    drawn = [];
    if (!source || typeof window.Chart === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var rtl = document.documentElement.dir === "rtl";
    document.querySelectorAll("canvas.vital-trend").forEach(function (canvas) {
      var vital = data[canvas.dataset.vital];
      if (!vital) { return; }
      drawn.push(new window.Chart(canvas, {
        type: "line",
        data: {
          labels: vital.labels,
          datasets: [{ label: vital.label + (vital.unit ? " (" + vital.unit + ")" : ""), data: vital.values, tension: 0.2 }]
        },
        options: {
          animation: false,
          responsive: true,
          maintainAspectRatio: false,
          locale: document.documentElement.lang || "en",
          plugins: { legend: { rtl: rtl, labels: { boxWidth: 12 } }, tooltip: { rtl: rtl } },
          scales: { x: { reverse: rtl } }
        }
      }));
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target && event.target.id === "clinical-summary") { draw(); }
  });
})();
