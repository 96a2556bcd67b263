// Model: the full record grouped, each value's provenance on hover or focus, conflicts marked;
// its regions (Bedrock), benchmarks (when the service measures models) and history of diffs.

import {get, modelPath, offersBenchmarks, post} from "../api.js";
import {legend, timeChart} from "../chart.js";
import {fill, h, keepFocus, notice} from "../elements.js";
import {ago, decimal, label, ms, price, stamp, toDate, tokens, UNKNOWN, value} from "../format.js";
import {feed} from "../feed.js";
import {selection} from "../selection.js";

export const title = "Model";

const GROUPS = [
  ["Overview", ["name", "provider", "provider_model_id", "family", "kind", "source", "live", "open_weights"]],
  ["Modalities", ["modalities.input", "modalities.output"]],
  ["Capabilities", "capabilities"],
  ["Limits", "limits"],
  ["Pricing (USD per million tokens)", "pricing"],
  ["Lifecycle", "lifecycle"],
  ["Attributes", "attributes"],
];
const FORMATS = {"limits": tokens, "pricing": price};

function pick(record, path) {
  return path.split(".").reduce((obj, key) => (obj == null ? undefined : obj[key]), record);
}

/** The paths a group shows: a list of its own, or every key of one sub-record. */
function groupPaths(record, spec) {
  if (Array.isArray(spec)) return spec;
  return Object.keys(record[spec] || {}).map((k) => `${spec}.${k}`);
}

let tips = 0;

/** A value with its provenance as a tooltip (hover or keyboard focus), conflicts marked. */
function traced(text, prov, cls, fmt = value) {
  if (!prov) return h("span", {class: cls}, text);
  const conflicts = prov.conflicts || [];
  const id = `tip-${++tips}`;
  // Shown by CSS on hover and focus; moved left when it would run off the screen.
  const place = () => {
    tip.style.left = "0px";
    const over = tip.getBoundingClientRect().right - (document.documentElement.clientWidth - 8);
    if (over > 0) tip.style.left = `${-over}px`;
  };
  const tip = h("span", {class: "tip", role: "tooltip", id},
    h("b", {}, prov.source || "unknown source"),
    prov.entry ? ` · entry ${prov.entry}` : "",
    prov.match ? ` · ${prov.match} match` : "",
    prov.verified_at ? ` · answered ${ago(prov.verified_at)}` : "",
    conflicts.map((c) => h("span", {class: "other"}, `${c.source}${c.entry ? ` (${c.entry})` : ""} says ${c.value === null || c.value === undefined ? UNKNOWN : fmt(c.value)}`)));
  return h("span", {class: "traced"},
    h("span", {class: ["prov", cls, conflicts.length ? "conflict" : null], tabindex: "0", "aria-describedby": id,
      onmouseenter: place, onfocus: place},
    text, conflicts.length ? h("span", {class: "warn", title: "sources disagree"}, " ⚠") : null),
    tip);
}

function recordSection(record) {
  const prov = record.provenance || {};
  const disagreements = Object.values(prov).filter((p) => p && p.conflicts && p.conflicts.length).length;
  return h("section", {class: "record", "aria-labelledby": "record-h"},
    h("h2", {id: "record-h"}, "Record"),
    h("p", {class: "hint"}, "Hover or focus a value to see where it came from.",
      disagreements ? h("span", {class: "conflict-count"}, ` ${disagreements} field${disagreements === 1 ? "" : "s"} where sources disagree (⚠).`) : ""),
    h("div", {class: "groups"}, GROUPS.map(([name, spec]) => {
      const paths = groupPaths(record, spec);
      if (!paths.length) return null;
      const top = Array.isArray(spec) ? null : spec;
      return h("div", {class: ["group", top === "attributes" ? "wide" : null]}, h("h3", {}, name),
        h("table", {class: "fields"}, h("tbody", {}, paths.map((path) => {
          const v = pick(record, path);
          const fmt = FORMATS[top] || value;
          const cls = top === "capabilities" ? (v === true ? "yes" : v === false ? "no" : "unknown") : null;
          return h("tr", {},
            h("th", {scope: "row"}, label(path)),
            h("td", {}, traced(v === null || v === undefined ? UNKNOWN : fmt(v), prov[path], cls, fmt),
              prov[path]?.source ? h("span", {class: "source"}, prov[path].source) : null));
        }))));
    })));
}

function regionsSection(rows) {
  return h("section", {"aria-labelledby": "regions-h"}, h("h2", {id: "regions-h"}, "Regions"),
    h("p", {class: "hint"}, "Best first: by the model's measured time to first token where benchmarked, then by the region's API latency."),
    h("div", {class: "table-scroll"}, h("table", {class: "stack"},
      h("thead", {}, h("tr", {}, ["#", "Region", "Access", "Inference", "Lifecycle", "Region status", "Measured TTFT", "API latency"]
        .map((c) => h("th", {scope: "col"}, c)))),
      h("tbody", {}, rows.map((r) => h("tr", {},
        h("td", {"data-label": "#"}, String(r.rank)),
        h("th", {scope: "row", "data-label": "Region"}, r.region),
        h("td", {"data-label": "Access"}, r.access || UNKNOWN, r.inference_profiles?.length ? ` (${r.inference_profiles.join(", ")})` : ""),
        h("td", {"data-label": "Inference"}, value(r.inference_types)),
        h("td", {"data-label": "Lifecycle"}, r.lifecycle || UNKNOWN),
        h("td", {"data-label": "Region status"}, h("span", {class: `badge ${r.region_status}`}, r.region_status || UNKNOWN)),
        h("td", {"data-label": "Measured TTFT", class: "num"}, ms(r.ttft_ms)),
        h("td", {"data-label": "API latency", class: "num"}, ms(r.latency_ms))))))));
}

function historySection(versions) {
  const newest = [...versions].reverse();
  return h("section", {"aria-labelledby": "history-h"}, h("h2", {id: "history-h"}, "History"),
    h("ol", {class: "timeline", reversed: true}, newest.map((v) => h("li", {class: `change ${v.change}`},
      h("div", {class: "when"}, h("span", {class: `badge ${v.change}`}, v.change), ` version ${v.version} · `,
        h("time", {datetime: toDate(v.created_at).toISOString(), title: stamp(v.created_at)}, stamp(v.created_at)),
        v.run_id ? ` · run ${v.run_id}` : ""),
      v.diff && Object.keys(v.diff).length
        ? h("table", {class: "diff"},
          h("thead", {}, h("tr", {}, h("th", {scope: "col"}, "Field"), h("th", {scope: "col"}, "Before"), h("th", {scope: "col"}, "After"))),
          h("tbody", {}, Object.entries(v.diff).map(([path, [before, after]]) => h("tr", {},
            h("th", {scope: "row"}, path),
            h("td", {class: "before"}, h("del", {}, value(before))),
            h("td", {class: "after"}, h("ins", {}, value(after)))))))
        : h("p", {class: "hint"}, v.change === "added" ? "First seen." : v.change === "removed" ? "Left the catalog." : "No field changed.")))));
}

function runButton(record) {
  const status = h("span", {class: "hint", role: "status"});
  return h("p", {}, h("button", {type: "button", class: "admin-only", dataset: {key: "run-benchmark"}, onclick: async (e) => {
    const button = e.currentTarget;
    button.disabled = true;
    try {
      const answer = await post(`/api/v1/models/${modelPath(record.id)}/benchmarks`);
      status.textContent = ` Started: run ${answer.runs.map((r) => r.run_id).join(", ")}; results appear here when it ends.`;
    } catch (err) {
      status.textContent = ` Refused: ${err.message}`;
    }
    button.disabled = false;
  }}, "Run a benchmark"), status);
}

function benchmarkSection(record, bench, ctx) {
  const body = [h("h2", {id: "bench-h"}, "Benchmarks"), ctx.admin ? runButton(record) : null];
  const results = bench.history || [];
  const measured = results.filter((r) => !r.error);
  if (!results.length) {
    body.push(notice("empty", "No benchmarks yet for this model."));
    return h("section", {"aria-labelledby": "bench-h"}, body);
  }
  const regions = [...new Set(measured.map((r) => r.region || "—"))];
  const series = (key) => regions.map((region) => ({name: region,
    points: measured.filter((r) => (r.region || "—") === region).map((r) => ({t: toDate(r.measured_at).getTime() / 1000, v: r[key]}))}));
  const chart = (key, title, yFormat) => h("figure", {}, timeChart(series(key), {title, yFormat}), h("figcaption", {}, title));
  const streams = measured.some((r) => r.ttft_ms !== null && r.ttft_ms !== undefined);
  if (measured.length) {
    body.push(h("div", {class: "charts"},
      streams ? [chart("ttft_ms", "Time to first token (p50)", ms), chart("output_tokens_per_s", "Output tokens per second (p50)", (v) => decimal(v, 0))]
        : chart("latency_ms", "Latency (p50)", ms)),
    legend(regions));
  }
  body.push(h("div", {class: "table-scroll"}, h("table", {class: "stack results"},
    h("thead", {}, h("tr", {}, ["Measured", "Region", "TTFT", "Tokens/s", "Latency", "Samples", "Cost", "Error"]
      .map((c) => h("th", {scope: "col"}, c)))),
    h("tbody", {}, results.slice(0, 20).map((r) => h("tr", {},
      h("td", {"data-label": "Measured"}, stamp(r.measured_at)),
      h("td", {"data-label": "Region"}, r.region || UNKNOWN),
      h("td", {"data-label": "TTFT", class: "num"}, ms(r.ttft_ms)),
      h("td", {"data-label": "Tokens/s", class: "num"}, decimal(r.output_tokens_per_s, 1)),
      h("td", {"data-label": "Latency", class: "num"}, ms(r.latency_ms)),
      h("td", {"data-label": "Samples", class: "num"}, String(r.sample_count ?? UNKNOWN)),
      h("td", {"data-label": "Cost", class: "num"}, r.cost_usd === null || r.cost_usd === undefined ? UNKNOWN : `$${+r.cost_usd.toPrecision(3)}`),
      h("td", {"data-label": "Error", class: "error-text"}, r.error ? h("span", {title: r.error}, r.error) : "")))))));
  return h("section", {"aria-labelledby": "bench-h"}, body);
}

function rawSection(id, signal) {
  const out = h("pre", {class: "raw"}, "Loading…");
  let loaded = false;
  return h("section", {}, h("details", {class: "raw-answer", ontoggle: async (e) => {
    if (!e.target.open || loaded) return;
    loaded = true;
    try {
      const full = await get(`/api/v1/models/${modelPath(id)}`, null, signal);
      out.textContent = full.raw === null || full.raw === undefined ? "No raw answer kept (a catalog-only model)."
        : JSON.stringify(full.raw, null, 2);
    } catch (err) {
      loaded = false;
      if (!signal.aborted) out.textContent = `Could not read it: ${err.message}`;
    }
  }}, h("summary", {}, "The provider's own answer"), out));
}

export async function render(ctx) {
  const {main, rest: id, signal} = ctx;
  const record = await get(`/api/v1/models/${modelPath(id)}`, {raw: "false"}, signal);
  document.title = `${record.name || id} · Model discovery`;
  const status = record.lifecycle?.status;
  const compareButton = h("button", {type: "button", "aria-pressed": String(selection.has(id)), onclick: (e) => {
    const button = e.currentTarget;
    const on = button.getAttribute("aria-pressed") !== "true";
    if (selection.toggle(id, on)) {
      button.setAttribute("aria-pressed", String(on));
      button.textContent = on ? "✓ ticked for compare" : "Tick for compare";
    }
  }}, selection.has(id) ? "✓ ticked for compare" : "Tick for compare");
  const later = h("div", {class: "later"}, h("p", {class: "hint"}, "Loading history…"));
  const recordBox = h("div", {}, recordSection(record));
  fill(main,
    h("div", {class: "page-head"},
      h("h1", {}, record.name || record.provider_model_id),
      h("p", {class: "id"}, record.id),
      h("p", {class: "badges"},
        h("a", {class: "badge provider", href: `/ui/catalog?provider=${encodeURIComponent(record.provider)}`}, record.provider),
        record.kind ? h("span", {class: "badge"}, record.kind) : null,
        status ? h("span", {class: `badge ${status}`}, status) : null,
        h("span", {class: `badge ${record.live ? "live" : "catalog"}`}, record.live ? "live at the provider" : "known from catalogs only"),
        compareButton)),
    recordBox,
    later,
    rawSection(id, signal));

  const base = `/api/v1/models/${modelPath(id)}`;
  const historyBox = h("div", {});
  const benchBox = h("div", {});
  const [history, regions, bench] = await Promise.all([
    get(`${base}/history`, null, signal),
    record.provider === "bedrock" ? get(`/api/v1/bedrock/models/${modelPath(id)}/best-regions`, null, signal) : null,
    offersBenchmarks(record) ? get(`${base}/benchmarks`, null, signal) : null,
  ]);
  fill(benchBox, bench ? benchmarkSection(record, bench, ctx)
    : h("section", {}, h("h2", {}, "Benchmarks"), notice("empty", "No benchmarks: this service does not measure models.")));
  fill(historyBox, historySection(history.versions));
  fill(later,
    regions && regions.regions.length ? regionsSection(regions.regions)
      : record.regions?.length ? h("section", {}, h("h2", {}, "Regions"), h("p", {}, record.regions.join(", "))) : null,
    benchBox, historyBox);
  // This model's new benchmark results and versions arrive without a reload.
  ctx.onLeave(feed.on(async (e) => {
    if (e.model_id !== id) return;
    try {
      if (e.kind === "benchmark_completed" && bench) {
        fill(benchBox, benchmarkSection(record, await get(`${base}/benchmarks`, null, signal), ctx));
      } else if (["updated", "removed", "added"].includes(e.kind)) {
        // The record too: the history showed "32768 → 65536" above a record still saying 32.8K.
        const [versions, now] = await Promise.all([
          get(`${base}/history`, null, signal),
          e.kind === "removed" ? null : get(base, {raw: "false"}, signal),
        ]);
        fill(historyBox, historySection(versions.versions));
        keepFocus(main, () => fill(recordBox, now ? recordSection(now)
          : notice("info", "This model was removed from the catalog; its history stays below.")));
      }
    } catch (err) {
      if (!signal.aborted) reportError(err);
    }
  }));
}
