// Echo AI charts: draws the experiment and tracker pages' charts with the vendored Chart.js from the
// JSON block #chart-data (data, not code: the CSP runs no inline script). Every chart has
// its table beside it, which stays the accessible version: the canvas is hidden from
// assistive technology. Without JavaScript the tables are all there is.
(function () {
  "use strict";

  function css(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function pct(x) { return x === null || x === undefined ? null : Math.round(x * 1000) / 10; }

  function intervalBars(rates) {
    return rates.map(function (r) { return r ? [pct(r.low), pct(r.high)] : null; });
  }

  function values(rates) {
    return rates.map(function (r) { return r ? pct(r.value) : null; });
  }

  function rateLabel(r) {
    if (!r) return "no value";
    return pct(r.value) + "% (95% interval " + pct(r.low) + "–" + pct(r.high) + "%, n = " + r.n + ")";
  }

  var percentAxis = { min: 0, max: 100, ticks: { callback: function (v) { return v + "%"; } } };

  var builders = {
    // Mention rate of every brand: floating bars [low, high] with the rate as a dot
    // (d.label names another rate drawn the same way).
    brands: function (d, colours) {
      return {
        type: "bar",
        data: {
          labels: d.labels,
          datasets: [
            { type: "bar", label: "95% interval", data: intervalBars(d.rates), backgroundColor: colours.soft, borderColor: colours.accent, borderWidth: 1, borderSkipped: false },
            { type: "line", label: d.label || "Mention rate", data: values(d.rates), showLine: false, pointRadius: 5, pointBackgroundColor: colours.ink, borderColor: colours.ink }
          ]
        },
        options: {
          indexAxis: "y",
          scales: { x: percentAxis },
          plugins: { tooltip: { callbacks: { label: function (c) { return rateLabel(d.rates[c.dataIndex]); } } } }
        },
        height: Math.max(160, 40 * d.labels.length + 60)
      };
    },
    // Of the answers naming each brand, the share positive, neutral and negative (stacked).
    sentiment: function (d, colours) {
      function share(rates) { return rates.map(function (r) { return r ? pct(r.value) : 0; }); }
      function tip(rates) { return function (c) { return c.dataset.label + ": " + rateLabel(rates[c.dataIndex]); }; }
      var sets = [["Positive", d.positive, colours.good], ["Neutral", d.neutral, colours.muted], ["Negative", d.negative, colours.bad]];
      return {
        type: "bar",
        data: {
          labels: d.labels,
          datasets: sets.map(function (s) { return { label: s[0], data: share(s[1]), backgroundColor: s[2] }; })
        },
        options: {
          indexAxis: "y",
          scales: { x: { min: 0, max: 100, stacked: true, ticks: { callback: function (v) { return v + "%"; } } }, y: { stacked: true } },
          plugins: { tooltip: { callbacks: { label: function (c) { return tip(sets[c.datasetIndex][1])(c); } } } }
        },
        height: Math.max(160, 40 * d.labels.length + 60)
      };
    },
    // Visibility and share of voice per provider, each with its interval.
    providers: function (d, colours) {
      return {
        type: "bar",
        data: {
          labels: d.labels,
          datasets: [
            { type: "bar", label: "Visibility (95% interval)", data: intervalBars(d.visibility), backgroundColor: colours.soft, borderColor: colours.accent, borderWidth: 1, borderSkipped: false },
            { type: "bar", label: "Share of voice (95% interval)", data: intervalBars(d.share_of_voice), backgroundColor: colours.warnSoft, borderColor: colours.warn, borderWidth: 1, borderSkipped: false },
            { type: "line", label: "Visibility", data: values(d.visibility), showLine: false, pointRadius: 5, pointStyle: "circle", pointBackgroundColor: colours.accent, borderColor: colours.accent },
            { type: "line", label: "Share of voice", data: values(d.share_of_voice), showLine: false, pointRadius: 5, pointStyle: "rect", pointBackgroundColor: colours.warn, borderColor: colours.warn }
          ]
        },
        options: {
          indexAxis: "y",
          scales: { x: percentAxis },
          plugins: { tooltip: { callbacks: { label: function (c) {
            var rates = c.datasetIndex % 2 === 0 ? d.visibility : d.share_of_voice;
            return c.dataset.label + ": " + rateLabel(rates[c.dataIndex]);
          } } } }
        },
        height: Math.max(180, 70 * d.labels.length + 80)
      };
    },
    // A tracker's visibility overall and per topic, intervals over prompts: as brands.
    groups: function (d, colours) { return builders.brands(d, colours); },
    // How often the target is named first, second... or not at all.
    positions: function (d, colours) {
      return {
        type: "bar",
        data: { labels: d.labels, datasets: [{ label: "Answers", data: d.counts, backgroundColor: colours.accent }] },
        options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }, plugins: { legend: { display: false } } },
        height: 220
      };
    },
    // Visibility per run: the line, its 95% band and a diamond on significant changes.
    trend: function (d, colours) {
      var points = d.points;
      return {
        type: "line",
        data: {
          labels: d.labels,
          datasets: [
            { label: "95% interval (low)", data: points.map(function (p) { return pct(p.low); }), borderWidth: 0, pointRadius: 0, fill: false },
            { label: "95% interval", data: points.map(function (p) { return pct(p.high); }), borderWidth: 0, pointRadius: 0, fill: "-1", backgroundColor: colours.soft },
            {
              label: "Visibility", data: points.map(function (p) { return pct(p.value); }), borderColor: colours.accent, backgroundColor: colours.accent,
              pointStyle: points.map(function (p) { return p.significant ? "rectRot" : "circle"; }),
              pointRadius: points.map(function (p) { return p.significant ? 8 : 3; }), spanGaps: true
            }
          ]
        },
        options: {
          scales: { y: percentAxis },
          plugins: {
            legend: { labels: { filter: function (item) { return item.text !== "95% interval (low)"; } } },
            tooltip: { filter: function (c) { return c.datasetIndex === 2; }, callbacks: { label: function (c) {
              var p = points[c.dataIndex];
              return rateLabel(p.value === undefined ? null : p) + (p.significant ? " · significant change" : "");
            } } }
          }
        },
        height: 260
      };
    },
    // Top domains: answers citing them and answers that retrieved them without citing.
    domains: function (d, colours) {
      return {
        type: "bar",
        data: {
          labels: d.labels,
          datasets: [
            { label: "Cited", data: d.cited, backgroundColor: colours.accent },
            { label: "Retrieved, not cited", data: d.retrieved, backgroundColor: colours.muted }
          ]
        },
        options: { indexAxis: "y", scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } } },
        height: Math.max(160, 30 * d.labels.length + 60)
      };
    }
  };

  function draw() {
    var source = document.getElementById("chart-data");
    if (!source || typeof window.Chart === "undefined") return;
    var data;
    // A JSON script block, or (content htmx swaps in, which drops scripts) an attribute.
    try { data = JSON.parse(source.dataset.charts || source.textContent); } catch (e) { return; }
    var colours = {
      accent: css("--accent", "#4338ca"),
      soft: "rgba(67, 56, 202, 0.25)",
      ink: css("--ink", "#1c1f2a"),
      muted: css("--muted", "#555b6e"),
      warn: css("--warn", "#8a5300"),
      warnSoft: "rgba(138, 83, 0, 0.25)",
      good: css("--good", "#116b3a"),
      bad: css("--bad", "#a4161a")
    };
    var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    document.querySelectorAll(".chart[data-chart]").forEach(function (box) {
      var name = box.dataset.chart;
      if (!data[name] || !builders[name] || box.dataset.drawn) return;
      var config = builders[name](data[name], colours);
      box.dataset.drawn = "1";
      var canvas = document.createElement("canvas");
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-hidden", "true");
      canvas.setAttribute("aria-label", box.dataset.label || name);
      box.style.height = config.height + "px";
      box.appendChild(canvas);
      config.options = config.options || {};
      config.options.responsive = true;
      config.options.maintainAspectRatio = false;
      if (still) config.options.animation = false;
      delete config.height;
      new window.Chart(canvas, config);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
  // A page refreshed by htmx (a tracker's figures while its prompts run) brings new
  // chart boxes and data: draw those.
  document.addEventListener("htmx:afterSettle", draw);
})();
