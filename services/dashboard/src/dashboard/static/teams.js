/* Kiro2API teams page: the tokens-per-day chart (numbers and budget bars are server-rendered). */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("teams-data").textContent);
  var canvas = document.getElementById("chart-team-tokens");
  var times = data.days.map(function (d) { return Date.parse(d + "T00:00:00Z") / 1000; });
  var series = data.teams.map(function (t) { return { name: t.team, label: t.team, values: t.tokens }; });
  function draw() {
    KiroCharts.draw(canvas, { times: times, series: series, stacked: true });
    KiroCharts.legend(document.getElementById("legend-team-tokens"), series);
  }
  draw();
  window.addEventListener("resize", draw);
})();
