// Model: the full record grouped, each value's provenance on hover or focus, conflicts marked;
// its regions (Bedrock), benchmarks (when the service measures models) and history of diffs.

import {ApiError, get, modelPath, NO_BENCHMARKS, offersBenchmarks, post} from "../api.js";
import {legend, timeChart} from "../chart.js";
import {fill, h, keepFocus, notice} from "../elements.js";
import {ago, count, decimal, label, ms, price, stamp, toDate, tokens, UNKNOWN, value} from "../format.js";
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

function historySection(versions, total, olderButton, note) {
  const newest = [...versions].reverse();
  const left = total - versions.length;
  return h("section", {"aria-labelledby": "history-h"}, h("h2", {id: "history-h"}, "History"),
    left > 0 ? h("p", {class: "hint history-count"}, `The newest ${count(versions.length)} of ${count(total)} versions.`) : null,
    h("ol", {class: "timeline", reversed: true}, newest.map((v) => h("li", {class: `change ${v.change}`, dataset: {version: String(v.version)}},
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
        : h("p", {class: "hint"}, v.change === "added" ? "First seen." : v.change === "removed" ? "Left the catalog." : "No field changed.")))),
    left > 0 || note ? h("p", {class: "more"}, left > 0 ? olderButton(left) : null,
      note ? h("span", {class: "hint", role: "status"}, ` ${note}`) : null) : null);
}

/** A model's history (GET .../history, the newest page first): "Older versions" reads the pages
 * before it (``before``), and a reload for a new version keeps the older pages read. */
function historyView(base, signal) {
  const box = h("div", {});
  let versions = [];  // oldest first, from the newest back without a gap
  let total = 0;
  let busy = false;

  function take(page) {
    const byVersion = new Map(versions.map((v) => [v.version, v]));
    for (const v of page.versions) byVersion.set(v.version, v);
    versions = [...byVersion.values()].sort((a, b) => a.version - b.version);
    total = Math.max(page.total, versions.length);
  }

  function draw(note = "") {
    keepFocus(box, () => fill(box, historySection(versions, total, (left) => h("button", {type: "button",
      dataset: {key: "older-versions"}, onclick: older}, `Older versions (${count(left)} more)`), note)));
  }

  async function older() {
    if (busy || !versions.length) return;
    busy = true;
    try {
      take(await get(`${base}/history`, {before: versions[0].version}, signal));
      draw();
    } catch (err) {
      if (!signal.aborted) draw(`Could not read older versions: ${err.message}`);
    } finally {
      busy = false;
    }
  }

  return {
    box,
    /** Show a page of the history (the first, or the newest again after a new version). */
    show(page) {
      take(page);
      draw();
    },
    async reload() {
      this.show(await get(`${base}/history`, null, signal));
    },
  };
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

/** A model no longer in the catalog: what its history says, the newest version first. */
function removedPage(ctx, page) {
  const {main, rest: id, signal} = ctx;
  const base = `/api/v1/models/${modelPath(id)}`;
  const last = page.versions[page.versions.length - 1] || {};
  const record = last.model || {};
  document.title = `${record.name || id} · Model discovery`;
  const history = historyView(base, signal);
  history.show(page);
  fill(main,
    h("div", {class: "page-head"},
      h("h1", {}, record.name || record.provider_model_id || id),
      h("p", {class: "id"}, id),
      h("p", {class: "badges"},
        record.provider ? h("a", {class: "badge provider", href: `/ui/catalog?provider=${encodeURIComponent(record.provider)}`}, record.provider) : null,
        record.kind ? h("span", {class: "badge"}, record.kind) : null,
        h("span", {class: "badge removed"}, "not in the catalog"))),
    notice("info", "This model is no longer in the catalog",
      last.change === "removed" && last.created_at ? ` (removed ${stamp(last.created_at)})` : "",
      ": its record is not served, and its history stays below."),
    h("div", {class: "later"}, history.box));
  // Back in the catalog, or another version: the page is drawn again (as the live record, if back).
  ctx.onLeave(feed.on((e) => {
    if (e.model_id === id && ["added", "updated", "removed"].includes(e.kind)) {
      ctx.navigate(location.pathname + location.search, {replace: true});
    }
  }));
}

export async function render(ctx) {
  const {main, rest: id, signal} = ctx;
  const base = `/api/v1/models/${modelPath(id)}`;
  let record;
  try {
    record = await get(base, {raw: "false"}, signal);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
    // Not in the catalog: a removed model keeps its history. Only an id with no history either
    // is not found.
    let page;
    try {
      page = await get(`${base}/history`, null, signal);
    } catch (again) {
      throw again instanceof ApiError && again.status === 404 ? err : again;
    }
    removedPage(ctx, page);
    return;
  }
  document.title = `${record.name || id} · Model discovery`;
  const status = record.lifecycle?.status;
  const tickNote = h("span", {class: "hint", role: "status"});
  const compareButton = h("button", {type: "button", "aria-pressed": String(selection.has(id)), onclick: (e) => {
    const button = e.currentTarget;
    const on = button.getAttribute("aria-pressed") !== "true";
    if (selection.toggle(id, on)) {
      button.setAttribute("aria-pressed", String(on));
      button.textContent = on ? "✓ ticked for compare" : "Tick for compare";
      tickNote.textContent = "";
    } else {
      tickNote.textContent = ` At most ${selection.max} models can be compared.`;
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
        compareButton, tickNote)),
    recordBox,
    later,
    rawSection(id, signal));

  const history = historyView(base, signal);
  const benchBox = h("div", {});
  const [first, regions, bench] = await Promise.all([
    get(`${base}/history`, null, signal),
    record.provider === "bedrock" ? get(`/api/v1/bedrock/models/${modelPath(id)}/best-regions`, null, signal) : null,
    offersBenchmarks().then((measured) => (measured ? get(`${base}/benchmarks`, null, signal) : null)),
  ]);
  fill(benchBox, bench ? benchmarkSection(record, bench, ctx)
    : h("section", {}, h("h2", {}, "Benchmarks"), notice("empty", NO_BENCHMARKS)));
  history.show(first);
  fill(later,
    regions && regions.regions.length ? regionsSection(regions.regions)
      : record.regions?.length ? h("section", {}, h("h2", {}, "Regions"), h("p", {}, record.regions.join(", "))) : null,
    benchBox, history.box);
  // This model's new benchmark results and versions arrive without a reload.
  ctx.onLeave(feed.on(async (e) => {
    if (e.model_id !== id) return;
    try {
      if (e.kind === "benchmark_completed") {
        if (bench || await offersBenchmarks()) {
          fill(benchBox, benchmarkSection(record, await get(`${base}/benchmarks`, null, signal), ctx));
        }
      } else if (["updated", "removed", "added"].includes(e.kind)) {
        // The record too: the history showed "32768 → 65536" above a record still saying 32.8K.
        const [, now] = await Promise.all([
          history.reload(),
          e.kind === "removed" ? null : get(base, {raw: "false"}, signal),
        ]);
        if (now) record = now;
        keepFocus(main, () => fill(recordBox, now ? recordSection(now)
          : notice("info", "This model was removed from the catalog; its history stays below.")));
      }
    } catch (err) {
      if (!signal.aborted) reportError(err);
    }
  }));
}
