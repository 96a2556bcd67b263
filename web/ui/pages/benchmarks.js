// Benchmarks: the leaderboard (GET /api/v1/benchmarks), sortable by any metric, filtered by
// provider and region (kept in the URL). Shown only when the service measures models.

import {ApiError, get, modelPath, NO_BENCHMARKS, offersBenchmarks} from "../api.js";
import {fill, h, keepFocus, notice} from "../elements.js";
import {ago, decimal, ms, stamp, UNKNOWN} from "../format.js";

export const title = "Benchmarks";

// Columns: label, the row's field, the leaderboard's sort name, and which way is "best first".
const METRICS = [
  {label: "TTFT", field: "ttft_ms", sort: "ttft", format: ms},
  {label: "TTFT p90", field: "ttft_p90_ms", sort: "ttft_p90", format: ms},
  {label: "Output tokens/s", field: "output_tokens_per_s", sort: "output_speed", format: (v) => decimal(v, 1), highFirst: true,
    // A speed not exactly the provider's says so: tokens counted from the text, or reasoning counted in.
    note: (r) => [r.tokens_estimated ? "tokens estimated from the text (no usage report)" : null,
      r.speed_includes_reasoning ? "counts reasoning tokens the stream did not tell apart" : null].filter(Boolean).join("; ")},
  {label: "Latency", field: "latency_ms", sort: "latency", format: ms},
  {label: "Latency p90", field: "latency_p90_ms", sort: "latency_p90", format: ms},
  {label: "Cost", field: "cost_usd", sort: "cost", format: (v) => (v === null || v === undefined ? UNKNOWN : `$${+v.toPrecision(3)}`)},
];
const LIMIT = 100;

export async function render(ctx) {
  const {main, signal} = ctx;
  const params = new URLSearchParams(ctx.params);
  const head = h("div", {class: "page-head"}, h("h1", {}, "Benchmarks"));
  if (!(await offersBenchmarks())) {
    fill(main, head, notice("empty", NO_BENCHMARKS));
    return;
  }
  const summary = h("p", {class: "summary", role: "status", "aria-live": "polite"}, "Loading…");
  const box = h("div", {class: "table-scroll"});
  let sortSelect = null;
  let loads = 0;  // an answer to an earlier load than the newest is not drawn

  function go(changes) {
    for (const [k, v] of Object.entries(changes)) {
      if (v) params.set(k, v);
      else params.delete(k);
    }
    params.delete("offset");
    const text = params.toString();
    history.pushState(null, "", `/ui/benchmarks${text ? `?${text}` : ""}`);
    ctx.drawn();
    load();
  }

  function header(label, sortName, highFirst, num = false) {
    const current = params.get("sort") || "ttft";
    const active = current.replace(/^-/, "") === sortName;
    const descending = active && current.startsWith("-");
    const next = active ? (descending ? sortName : `-${sortName}`) : (highFirst ? `-${sortName}` : sortName);
    return h("th", {scope: "col", class: num ? "num" : null, "aria-sort": active ? (descending ? "descending" : "ascending") : "none"},
      h("button", {type: "button", class: "sort", dataset: {key: `sort-${sortName}`}, onclick: () => go({sort: next})},
        label, h("span", {class: "arrow", "aria-hidden": "true"}, active ? (descending ? " ▼" : " ▲") : "")));
  }

  async function load() {
    const mine = ++loads;
    const query = new URLSearchParams(params);
    query.set("limit", String(LIMIT));
    summary.textContent = "Loading…";
    box.setAttribute("aria-busy", "true");
    if (sortSelect) sortSelect.value = params.get("sort") || "ttft";
    let board;
    try {
      board = await get("/api/v1/benchmarks", query, signal);
    } catch (err) {
      if (signal.aborted || mine !== loads) return;
      // Neither "Loading…" nor the count of an earlier answer stays above the refusal.
      summary.textContent = "";
      fill(box, notice("error", err instanceof ApiError ? `The API refused this query: ${err.message}`
        : `The service did not answer (${err.message}): is it running? Change a filter to ask again.`));
      box.setAttribute("aria-busy", "false");
      return;
    }
    if (mine !== loads) return;
    summary.textContent = `${board.total} measured model${board.total === 1 ? "" : "s"} and regions · sorted by ${board.sort}`;
    keepFocus(main, () => fill(box, board.data.length ? h("table", {class: "board stack"},
      h("caption", {class: "visually-hidden"}, "Leaderboard"),
      h("thead", {}, h("tr", {}, h("th", {scope: "col"}, "#"), header("Model", "model"), h("th", {scope: "col"}, "Region"),
        METRICS.map((m) => header(m.label, m.sort, m.highFirst, true)), header("Measured", "measured_at"))),
      h("tbody", {}, board.data.map((r) => h("tr", {dataset: {id: `${r.model_id}@${r.region || ""}`}},
        h("td", {"data-label": "#", class: "rank-cell"}, String(r.rank)),
        h("th", {scope: "row", "data-label": "Model"}, h("span", {class: "rank", "aria-hidden": "true"}, `${r.rank}. `),
          h("a", {href: `/ui/models/${modelPath(r.model_id)}`}, r.name || r.model_id),
          h("span", {class: "id"}, r.model_id)),
        h("td", {"data-label": "Region"}, r.region || UNKNOWN),
        METRICS.map((m) => {
          const note = m.note ? m.note(r) : "";
          return h("td", {"data-label": m.label, class: "num", ...(note ? {title: note, "data-flagged": ""} : {})},
            m.format(r[m.field]) + (note ? " ≈" : ""));
        }),
        h("td", {"data-label": "Measured"}, h("time", {title: stamp(r.measured_at)}, ago(r.measured_at)),
          r.failed_at ? [" ", h("span", {class: "badge failing", title: `newest run ${stamp(r.failed_at)}: ${r.last_error || "no sample"}`},
            "failing since")] : null)))))
      : notice("empty", "Nothing measured yet.")));
    box.setAttribute("aria-busy", "false");
  }

  const filter = (name, label, placeholder) => h("div", {class: "field"}, h("label", {for: `b-${name}`}, label),
    h("input", {id: `b-${name}`, value: params.get(name) || "", placeholder, autocomplete: "off",
      onchange: (e) => go({[name]: e.target.value.trim()})}));
  const sorts = [...METRICS, {label: "Measured", sort: "measured_at"}, {label: "Model", sort: "model"}];
  const current = params.get("sort") || "ttft";
  sortSelect = h("select", {id: "b-sort", onchange: (e) => go({sort: e.target.value})},
    sorts.flatMap((m) => [m.sort, `-${m.sort}`]).map((value) => h("option", {value, selected: value === current},
      `${sorts.find((m) => m.sort === value.replace(/^-/, "")).label} ${value.startsWith("-") ? "↓" : "↑"}`)));
  fill(main, head, summary,
    h("form", {class: "filters", onsubmit: (e) => e.preventDefault()}, h("div", {class: "grid"},
      filter("provider", "Provider", "any (comma list)"), filter("region", "Region", "any"),
      h("div", {class: "field"}, h("label", {for: "b-sort"}, "Sort by"), sortSelect))),
    box);
  await load();
}
