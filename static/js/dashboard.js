/* Draws the dashboard's charts (templates/integrations/_dashboard.html) with the vendored
 * uPlot, from the figures rendered by json_script in #dashboard-data. Every chart's figures are
 * also in a table below it: without JavaScript that table is the chart; with it, the table is
 * folded away (still one click from view). No inline script or style: CSP-clean. */
(function () {
  "use strict";

  var COLOURS = ["#1f6feb", "#2da44e", "#bf8700", "#cf222e", "#8250df", "#0a7e8c", "#57606a"];
  var HEIGHT = 240;

  function chartWidth(el) {
    return Math.max(280, el.clientWidth || el.parentElement.clientWidth || 600);
  }

  function draw(el, x, series) {
    var names = Object.keys(series);
    if (!names.length) {
      return null;
    }
    el.hidden = false;
    var data = [x];
    var options = {
      width: chartWidth(el),
      height: HEIGHT,
      // Days are UTC days: shown as such whatever the browser's time zone.
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      scales: { y: { range: function (u, min, max) { return [0, Math.max(5, max)]; } } },
      axes: [{}, { values: function (u, ticks) { return ticks.map(function (t) { return Number.isInteger(t) ? t : ""; }); } }],
      series: [{ label: "Day", value: "{D} {MMM} {YYYY}" }],
    };
    names.forEach(function (name, i) {
      data.push(series[name]);
      options.series.push({
        label: name,
        stroke: COLOURS[i % COLOURS.length],
        width: 2,
        points: { show: true, size: 5 },
      });
    });
    var chart = new uPlot(options, data, el);
    var table = el.parentElement.querySelector("details.chart-table");
    if (table) {
      table.open = false;
    }
    return chart;
  }

  function init() {
    var source = document.getElementById("dashboard-data");
    if (!source || typeof uPlot === "undefined") {
      return;
    }
    var figures = JSON.parse(source.textContent);
    var charts = [];
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var series = figures[el.getAttribute("data-chart")];
      if (series) {
        var chart = draw(el, figures.x, series);
        if (chart) {
          charts.push([chart, el]);
        }
      }
    });
    var pending = null;
    window.addEventListener("resize", function () {
      window.clearTimeout(pending);
      pending = window.setTimeout(function () {
        charts.forEach(function (pair) {
          pair[0].setSize({ width: chartWidth(pair[1]), height: HEIGHT });
        });
      }, 150);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
