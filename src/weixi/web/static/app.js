// weixi web: render ECharts from data-chart JSON (no inline scripts: strict CSP), after htmx swaps too.
(function () {
  "use strict";
  function initCharts(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.chartReady) return;
      var option;
      try { option = JSON.parse(el.getAttribute("data-chart")); } catch (e) { return; }
      var chart = echarts.init(el, null, { renderer: "canvas" });
      option.animation = false;
      chart.setOption(option);
      el.dataset.chartReady = "1";
      window.addEventListener("resize", function () { chart.resize(); });
    });
    document.documentElement.dataset.chartsReady = "1";
  }
  document.addEventListener("DOMContentLoaded", function () { initCharts(document); });
  document.addEventListener("htmx:afterSwap", function (evt) { initCharts(evt.target); });
  document.addEventListener("change", function (evt) {
    if (evt.target.hasAttribute && evt.target.hasAttribute("data-autosubmit")) evt.target.form.submit();
  });
  // confirm dialogs declared as data-confirm on forms
  document.addEventListener("submit", function (evt) {
    var msg = evt.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) evt.preventDefault();
  });
})();
