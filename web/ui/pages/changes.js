// Changes: the recent persisted feed (GET /api/v1/events), then every new event from the live
// stream as it is committed, newest first; filtered by kind and provider (kept in the URL).

import {get, modelPath} from "../api.js";
import {choice, fill, h, keepFocus, notice} from "../elements.js";
import {count, decimal, ms, stamp, value} from "../format.js";
import {feed} from "../feed.js";

export const title = "Changes";

const WINDOW = 200;  // events read per step back through the stored feed
const STEPS = 10;  // windows one "Older changes" looks back through for a change that matches
// Live events push the oldest shown out past MAX_SHOWN ("Older changes" reads them again); events
// asked for with "Older changes" stay, with MAX_SHOWN more room for live ones above them, up to
// MAX_KEPT, past which the newest are let go instead.
const MAX_SHOWN = 500;
const MAX_KEPT = 5000;

function list(text) {
  return (text || "").split(",").map((s) => s.trim()).filter(Boolean);
}

function summary(e) {
  const d = e.data || {};
  switch (e.kind) {
    case "added":
      return [d.model?.kind, d.model?.limits?.context_window ? `${count(d.model.limits.context_window)} tokens` : null]
        .filter(Boolean).join(" · ");
    case "updated": {
      const fields = Object.keys(d.diff || {});
      return fields.length ? `${fields.slice(0, 4).join(", ")}${fields.length > 4 ? ` and ${fields.length - 4} more` : ""}` : "";
    }
    case "capabilities_changed":
      return [d.gained?.length ? `gained ${d.gained.join(", ")}` : null, d.lost?.length ? `lost ${d.lost.join(", ")}` : null]
        .filter(Boolean).join("; ");
    case "listed":
      return `${d.source} lists it now (a catalog knew it before)`;
    case "delisted":
      return `${e.provider} no longer lists it; ${d.source} still describes it`;
    case "deprecated":
      return `${d.previous_status || "—"} → ${d.status}${d.deprecation_date ? ` (from ${d.deprecation_date})` : ""}`;
    case "capability_added":
    case "capability_removed":
      return d.capability || "";
    case "models_refreshed":
      return `${count(d.total)} models: +${d.added} ~${d.updated} −${d.removed}`;
    case "status_changed":
      return `${d.old} → ${d.new}${d.reason ? `: ${d.reason}` : ""}`;
    case "retiring_soon":
      return `${d.date_kind || "retirement"} on ${d.date} (${d.days_left} days)${d.successor ? `; successor ${d.successor}` : ""}`;
    case "reconciliation_changed":
      return Object.entries(d.counts || {}).map(([k, n]) => `${n} ${k}`).join(", ");
    case "benchmark_completed": {
      const s = d.summary;
      const where = d.region ? `${d.region}: ` : "";
      return s ? `${where}TTFT ${ms(s.ttft_ms)}, ${decimal(s.output_tokens_per_s, 1)} tokens/s, latency ${ms(s.latency_ms)}`
        : `${where}no sample${d.error ? `: ${d.error}` : ""}`;
    }
    case "benchmark_regressed":
      return `${d.region ? `${d.region}: ` : ""}` + Object.entries(d.metrics || {})
        .map(([metric, m]) => `${metric} ${decimal(m.baseline, 1)} → ${decimal(m.now, 1)}`).join(", ");
    default:
      return "";
  }
}

/** "13:40:02" today, "11-29 13:40:02" on another day. */
function clock(t) {
  const full = stamp(t);
  return full.slice(0, 10) === stamp(Date.now() / 1000).slice(0, 10) ? full.slice(11) : full.slice(5);
}

function item(e, fresh) {
  const diff = e.kind === "updated" && e.data?.diff ? Object.entries(e.data.diff) : [];
  return h("li", {class: ["event", fresh ? "fresh" : null], dataset: {id: String(e.id), kind: e.kind}},
    h("div", {class: "line"},
      h("time", {datetime: e.time, title: stamp(e.time)}, clock(e.time)),
      h("span", {class: `badge ${e.kind}`}, e.kind.replaceAll("_", " ")),
      e.model_id ? h("a", {href: `/ui/models/${modelPath(e.model_id)}`}, e.model_id)
        : h("span", {class: "provider"}, e.provider || ""),
      h("span", {class: "what"}, summary(e))),
    diff.length ? h("details", {}, h("summary", {}, "diff"),
      h("table", {class: "diff"}, h("tbody", {}, diff.map(([path, [before, after]]) => h("tr", {},
        h("th", {scope: "row"}, path), h("td", {class: "before"}, h("del", {}, value(before))),
        h("td", {class: "after"}, h("ins", {}, value(after))))))))
      : null);
}

export async function render(ctx) {
  const {main, params, signal, config} = ctx;
  const kinds = new Set(list(params.get("kinds")));
  const providers = new Set(list(params.get("provider")));
  // As the API filters: bedrock takes its regions' own events (bedrock@<region>) too.
  const wanted = (provider) => providers.has(provider)
    || (providers.has("bedrock") && typeof provider === "string" && provider.startsWith("bedrock@"));
  const matches = (e) => (!kinds.size || kinds.has(e.kind)) && (!providers.size || wanted(e.provider));
  const feedList = h("ol", {class: "feed", role: "log", "aria-label": "Change events, newest first"});
  const state = h("p", {class: "summary", role: "status"});
  const more = h("p", {class: "more"});
  const newer = h("p", {class: "more newer", hidden: true});
  const shown = new Set();
  // Every matching event with a higher id than this is shown (or was let go from the top, below).
  let oldest = null;
  let cap = MAX_SHOWN;  // raised by the events the user asked for with "Older changes"
  let cut = false;  // the newest were let go to keep older ones asked for: live events wait
  let waiting = 0;  // live events not shown since
  let reading = false;  // older() is reading the stored feed

  /** Put an event in its place by id; whether it was (not when shown already, or filtered out). */
  function insert(e, fresh) {
    if (shown.has(e.id) || !matches(e)) return false;
    if (fresh && cut) {
      waiting += 1;
      showNewer();
      return false;
    }
    shown.add(e.id);
    const node = item(e, fresh);
    const after = [...feedList.children].find((li) => Number(li.dataset.id) < e.id);
    feedList.insertBefore(node, after || null);
    return true;
  }

  function drop(li) {
    shown.delete(Number(li.dataset.id));
    li.remove();
  }

  /** Past the cap after live events: the oldest go, and "Older changes" reads them again. */
  function trimOldest() {
    // While older ones are being read, older() sets the cap and the marker when it is done.
    if (reading || feedList.children.length <= cap) return;
    while (feedList.children.length > cap) {
      const id = Number(feedList.lastElementChild.dataset.id);
      drop(feedList.lastElementChild);
      oldest = Math.max(oldest, id);
    }
    showMore();
  }

  function showNewer() {
    newer.hidden = !cut;
    if (cut) {
      fill(newer, h("span", {class: "hint"}, `The newest changes were let go to keep the older ones within the ${count(MAX_KEPT)} `
        + `this page holds${waiting ? `; ${count(waiting)} more arrived since` : ""}. `),
      h("button", {type: "button", onclick: () => ctx.navigate(location.pathname + location.search, {replace: true})},
        "Show the newest"));
    }
  }

  function setFilter(name, values) {
    const next = new URLSearchParams(params);
    if (values) next.set(name, values);
    else next.delete(name);
    const text = next.toString();
    ctx.navigate(`/ui/changes${text ? `?${text}` : ""}`, {replace: true});
  }

  const kindSelect = Object.assign(choice("kinds", config.event_kinds, [...kinds].join(","), "every kind",
    (k) => k.replaceAll("_", " ")), {id: "f-kind", onchange: (e) => setFilter("kinds", e.target.value)});
  // Applied when the name is complete (Enter, or leaving the box): while typing, "op" was sent
  // for "openai", an unknown provider, and the page was drawn again under the typist's hands.
  const providerInput = h("input", {id: "f-provider", list: "change-providers", value: params.get("provider") || "",
    placeholder: "any (comma list)", autocomplete: "off",
    onchange: (e) => setFilter("provider", e.target.value.replace(/\s+/g, ""))});
  const providerNames = h("datalist", {id: "change-providers"});

  fill(main,
    h("div", {class: "page-head"}, h("h1", {}, "Changes"), state),
    h("form", {class: "filters", onsubmit: (e) => e.preventDefault()},
      h("div", {class: "grid"},
        h("div", {class: "field"}, h("label", {for: "f-kind"}, "Kind"), kindSelect),
        h("div", {class: "field"}, h("label", {for: "f-provider"}, "Provider"), providerInput),
        providerNames)),
    newer,
    feedList,
    more);

  const off = feed.on((e) => {
    if (insert(e, true)) trimOldest();
  });
  ctx.onLeave(off);
  const offState = feed.onState((s) => {
    state.textContent = s === "live" ? "Live: new changes appear at the top as they are committed."
      : "Connecting to the live feed…";
    state.dataset.state = s;
  });
  ctx.onLeave(offState);

  const filter = {kinds: [...kinds].join(","), provider: [...providers].join(",")};
  /** Read back through the stored feed, a window at a time, until older changes that match are
   * shown (or STEPS windows held none, said so, or the feed's start is reached). They stay: the
   * cap rises to keep them, and past MAX_KEPT the newest are let go instead. */
  async function older() {
    if (reading) return;
    reading = true;  // a second click meanwhile is the same request (the button keeps the focus)
    const from = oldest;
    let added = 0;
    try {
      for (let step = 0; step < STEPS && oldest > 0 && !added && !signal.aborted; step++) {
        const since = Math.max(0, oldest - WINDOW);
        const page = await get("/api/v1/events", {...filter, since, limit: WINDOW}, signal);
        for (const e of page.data) if (e.id <= oldest && insert(e, false)) added += 1;
        oldest = since;
      }
    } finally {
      reading = false;
    }
    // What was read stays: live events then have the page's usual room above it before the oldest go.
    if (feedList.children.length + MAX_SHOWN > cap) cap = Math.min(MAX_KEPT, feedList.children.length + MAX_SHOWN);
    while (feedList.children.length > cap) {
      drop(feedList.firstElementChild);
      cut = true;
    }
    showNewer();
    showMore(added || oldest === from ? "" : `No change matches these filters in events ${count(oldest + 1)}–${count(from)}.`);
  }
  function showMore(note = "") {
    keepFocus(main, () => {
      fill(more, oldest > 0 ? h("button", {type: "button", dataset: {key: "older"}, onclick: () => older().catch((err) => {
        if (!signal.aborted) showMore(`Could not read older changes: ${err.message}`);
      })}, "Older changes")
        : feedList.children.length ? h("span", {class: "hint"}, "The start of the stored feed.") : null,
      note ? h("span", {class: "hint", role: "status"}, ` ${note}`) : null);
      if (!feedList.children.length && oldest === 0) fill(more, notice("empty", "No change matches these filters yet."));
    });
  }

  const [head, provs] = await Promise.all([get("/api/v1/events", {limit: 1}, signal), get("/api/v1/providers", null, signal)]);
  fill(providerNames, provs.data.map((p) => h("option", {value: p.name})));
  oldest = head.last_event_id;
  feed.recent.forEach((e) => insert(e, false));
  // A rare filter may match nothing recent: older() looks a few windows further back.
  await older();
}
