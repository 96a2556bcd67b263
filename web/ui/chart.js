// Small SVG charts drawn from the API's numbers: a sparkline for recent health checks and a
// line chart over time for benchmarks. Colours come from the stylesheet (classes s0..s5).

import {h, svg} from "./elements.js";
import {stamp} from "./format.js";

const SERIES = 6;

function scale(lo, hi, from, to) {
  const span = hi - lo || 1;
  return (v) => from + ((v - lo) / span) * (to - from);
}

/** Recent checks as small bars, newest on the right: height is latency, a failed check is a
 * full-height red bar. checks: [{at, ok, latency_ms}], oldest first. */
export function healthSparkline(checks, {width = 150, height = 30, label = "recent checks", slots = 30} = {}) {
  const failed = checks.filter((c) => !c.ok).length;
  const text = `${label}: ${checks.length} checks, ${failed} failed`;
  const chart = svg("svg", {class: "spark", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": text},
    svg("title", {}, text),
    svg("line", {class: "grid", x1: 0, x2: width, y1: height - 0.5, y2: height - 0.5}));
  const shown = checks.slice(-slots);
  const top = Math.max(1, ...shown.map((c) => c.latency_ms || 0));
  const slot = width / slots;
  shown.forEach((c, i) => {
    const tall = c.ok ? Math.max(2, ((c.latency_ms || 0) / top) * (height - 2)) : height;
    chart.appendChild(svg("rect", {class: c.ok ? "ok" : "fail", x: width - (shown.length - i) * slot + 1, y: height - tall,
      width: Math.max(1, slot - 2), height: tall}));
  });
  return chart;
}

/** Lines over time. series: [{name, points: [{t (unix s), v}]}]; yFormat formats axis values. */
export function timeChart(series, {width = 560, height = 200, title = "", yFormat = String} = {}) {
  const pad = {left: 56, right: 12, top: 12, bottom: 24};
  const all = series.flatMap((s) => s.points).filter((p) => p.v !== null && p.v !== undefined);
  const chart = svg("svg", {class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `${title}: ${series.map((s) => s.name).join(", ")}`});
  chart.appendChild(svg("title", {}, title));
  if (!all.length) return chart;
  const t0 = Math.min(...all.map((p) => p.t));
  const t1 = Math.max(...all.map((p) => p.t));
  const top = Math.max(...all.map((p) => p.v)) * 1.1 || 1;
  const x = scale(t0, t1 === t0 ? t0 + 1 : t1, pad.left, width - pad.right);
  const y = scale(0, top, height - pad.bottom, pad.top);
  for (const frac of [0, 0.5, 1]) {
    const v = top * frac;
    chart.appendChild(svg("line", {class: "grid", x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v)}));
    chart.appendChild(svg("text", {class: "axis", x: pad.left - 6, y: y(v) + 4, "text-anchor": "end"}, yFormat(v)));
  }
  const day = (t) => stamp(t).slice(5, 16);
  chart.appendChild(svg("text", {class: "axis", x: pad.left, y: height - 6}, day(t0)));
  if (t1 !== t0) chart.appendChild(svg("text", {class: "axis", x: width - pad.right, y: height - 6, "text-anchor": "end"}, day(t1)));
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => p.v !== null && p.v !== undefined).sort((a, b) => a.t - b.t);
    const cls = `s${i % SERIES}`;
    if (pts.length > 1) chart.appendChild(svg("polyline", {class: `line ${cls}`, points: pts.map((p) => `${x(p.t)},${y(p.v)}`).join(" ")}));
    for (const p of pts) {
      chart.appendChild(svg("circle", {class: `dot ${cls}`, cx: x(p.t), cy: y(p.v), r: 3},
        svg("title", {}, `${s.name}: ${yFormat(p.v)}`)));
    }
  });
  return chart;
}

/** The legend of a timeChart: one swatch per series, in the same colours. */
export function legend(names) {
  return h("ul", {class: "legend"},
    names.map((name, i) => h("li", {}, h("span", {class: `swatch s${i % SERIES}`, "aria-hidden": "true"}), name)));
}
