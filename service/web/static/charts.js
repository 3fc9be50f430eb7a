// leadflow web app, the map page's charts: each <figure class="chart"> holds the server's SVG
// and its Vega-Lite spec as JSON data (<script type="application/json" data-chart-spec>).
// With the vendored Vega (static/vendor/) this draws the spec as an interactive view (a
// tooltip on hover, a click on a bar or legend entry highlights it) and then removes the SVG.
// Vega runs with its expression interpreter (ast: true), not generated code, so the page's
// Content-Security-Policy needs no 'unsafe-eval'; no style element is injected (the tooltip's
// style is in app.css). Where anything fails, the SVG stays.
(function () {
  "use strict";
  if (typeof window.vegaEmbed !== "function") { return; }
  var options = {
    ast: true,
    renderer: "svg",
    actions: false,
    defaultStyle: false,
    tooltip: { disableDefaultStyle: true, theme: "light" }
  };
  function draw(block) {
    var figure = block.parentNode;
    var fallback = figure.querySelector("svg.chart");
    var spec;
    try { spec = JSON.parse(block.textContent); } catch (e) { return; }
    var view = document.createElement("div");
    view.className = "chart-view";
    view.setAttribute("data-chart-view", block.getAttribute("data-chart-spec"));
    figure.insertBefore(view, block);
    var caption = figure.querySelector("figcaption");
    window.vegaEmbed(view, spec, options).then(function () {
      var drawn = view.querySelector("svg");
      // the view is named by the chart's title, as the SVG it replaces was
      if (drawn && caption) { drawn.setAttribute("aria-label", caption.textContent); }
      if (fallback) { fallback.parentNode.removeChild(fallback); }
      figure.setAttribute("data-drawn", "view");
    }).catch(function (error) {
      view.parentNode.removeChild(view);
      figure.setAttribute("data-drawn", "svg");
      if (window.console) { window.console.warn("chart kept as SVG:", error); }
    });
  }
  var blocks = document.querySelectorAll("script[type='application/json'][data-chart-spec]");
  Array.prototype.forEach.call(blocks, draw);
})();
