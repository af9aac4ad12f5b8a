/* Draws every chart of a page from its JSON data; no page holds inline script.
 *
 * <div class="chart" id="X" data-figure="X-data"></div>
 * <script type="application/json" id="X-data">{"data": [...], "layout": {...}, "config": {...}}</script>
 *
 * Story markers carry their panel anchor ("story-N") as customdata: a click moves to the story.
 * A <button data-spc-toggle="X" aria-pressed="false"> shows or hides the traces with meta "spc".
 * When every chart is drawn, <html data-charts-ready="true"> is set (tests and printing wait).
 */
(function () {
  "use strict";
  var STORY = /^story-[0-9]+$/;

  function goToStory(anchor) {
    var target = document.getElementById(anchor);
    if (!target) { return; }
    if (window.location.hash !== "#" + anchor) { window.location.hash = anchor; }
    target.focus();
  }

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-figure"));
    if (!source || typeof Plotly === "undefined") { return Promise.resolve(); }
    var spec = JSON.parse(source.textContent);
    return Plotly.newPlot(el, spec.data, spec.layout, spec.config).then(function (gd) {
      gd.on("plotly_click", function (event) {
        var point = event && event.points && event.points[0];
        var anchor = point && point.customdata;
        if (typeof anchor === "string" && STORY.test(anchor)) { goToStory(anchor); }
      });
      return gd;
    });
  }

  function toggle(button) {
    var gd = document.getElementById(button.getAttribute("data-spc-toggle"));
    if (!gd || !gd.data) { return; }
    var on = button.getAttribute("aria-pressed") !== "true";
    var indices = [];
    gd.data.forEach(function (trace, i) { if (trace.meta === "spc") { indices.push(i); } });
    if (indices.length) { Plotly.restyle(gd, { visible: on ? true : "legendonly" }, indices); }
    button.setAttribute("aria-pressed", on ? "true" : "false");
    var label = button.querySelector(".label");
    if (label) { label.textContent = on ? "Hide SPC limits" : "Show SPC limits"; }
  }

  function start() {
    var charts = Array.prototype.slice.call(document.querySelectorAll("[data-figure]"));
    Promise.all(charts.map(draw)).then(function () {
      document.documentElement.setAttribute("data-charts-ready", "true");
    }, function () {
      document.documentElement.setAttribute("data-charts-ready", "error");
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-spc-toggle]"), function (button) {
      button.addEventListener("click", function () { toggle(button); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
