// Catalog: GET /api/v1/models with its filters as controls. The page's query string is the API's
// query string, so a shared URL shows the same rows the API returns for it.

import {ApiError, get, modelPath, offersBenchmarks} from "../api.js";
import {choice, debounce, fill, h, keepFocus, notice} from "../elements.js";
import {count, ms, price, tokens, UNKNOWN} from "../format.js";
import {selection} from "../selection.js";

export const title = "Catalog";

const PAGE_SIZES = [25, 50, 100, 200];
// [parameter, label, step, whole]: a whole-number parameter gets the number the box shows ("1e3"
// typed is 1000; the API takes whole numbers only there, and refused it).
const RANGES = [
  ["min_context_window", "Context at least", "1000", true],
  ["min_max_output_tokens", "Max output at least", "1000", true],
  ["max_input_price", "Input at most ($/M)", "any", false],
  ["max_output_price", "Output at most ($/M)", "any", false],
  ["max_ttft_ms", "Measured TTFT at most (ms)", "any", false],
];

/** A range box's value as the parameter to send: a whole number for the whole-number ones. */
function rangeValue(value, whole) {
  const number = Number(value);
  return whole && value.trim() !== "" && Number.isFinite(number) ? String(Math.round(number)) : value;
}
const COLUMNS = [
  {label: "Model", sort: "name"},
  {label: "Provider", sort: "provider"},
  {label: "Kind"},
  {label: "Context", sort: "context_window", num: true},
  {label: "Max output", sort: "max_output_tokens", num: true},
  {label: "Input $/M", sort: "input_price", num: true},
  {label: "Output $/M", sort: "output_price", num: true},
  {label: "Released", sort: "release_date"},
  {label: "Status"},
  {label: "TTFT", sort: "ttft", num: true, measured: true},
  {label: "Capabilities", wide: true},
];

// Parameters the page has a control for; any other in the URL (as_of, id, attr.<key>, ...) still
// filters the rows, and is listed under the controls with a button that takes it out.
const CONTROLLED = new Set(["sort", "limit", "offset", "q", "capability", "provider", "kind", "status",
  "input_modality", "output_modality", ...RANGES.map(([name]) => name)]);

function commaList(value) {
  return (value || "").split(",").map((s) => s.trim()).filter(Boolean);
}

/** Every value of a list parameter, as the API reads it: repeated (provider=a&provider=b), comma
 * lists, or both; once each, in order. */
function listParam(params, name) {
  return [...new Set(params.getAll(name).flatMap(commaList))];
}

export async function render(ctx) {
  const {main, config, signal} = ctx;
  // The API's own page size when the URL names none: a shared URL shows the rows the API returns.
  const DEFAULT_LIMIT = config.default_limit;
  const params = new URLSearchParams(ctx.params);
  const summary = h("p", {class: "summary", role: "status", "aria-live": "polite"}, "Loading…");
  const tableBox = h("div", {class: "table-scroll"});
  const pager = h("nav", {class: "pager", "aria-label": "Pages of results"});
  const compareBar = h("div", {class: "compare-bar", hidden: true});
  const chips = h("div", {class: "chips", role: "group", "aria-labelledby": "chips-label",
    title: "A model must have every capability ticked"});
  const providerList = h("datalist", {id: "provider-names"});
  const pastNote = h("div", {class: "as-of"});
  const otherFilters = h("div", {class: "chips-row other-filters"});
  let loads = 0;
  let rows = [];
  // Whether the service measures models: the TTFT column and filter are shown only then (or when
  // the URL holds a TTFT filter or sort, so the controls still say what filters the rows).
  const measured = await offersBenchmarks();
  const ttftAsked = params.has("max_ttft_ms");

  /** Change the filters: the URL follows (history), then the rows. */
  function apply(changes, {replace = false, keepOffset = false} = {}) {
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === undefined || v === "") params.delete(k);
      else params.set(k, v);
    }
    if (!keepOffset) params.delete("offset");
    const text = params.toString();
    history[replace ? "replaceState" : "pushState"](null, "", `/ui/catalog${text ? `?${text}` : ""}`);
    ctx.drawn();  // this URL is drawn here: Back to the one before draws that one again
    load();
  }

  /** The filters of the URL that no control shows, and whether this is a past catalog (as_of). */
  function drawUncontrolled() {
    const asOf = params.get("as_of");
    fill(pastNote, asOf ? notice("past", h("strong", {}, "A past catalog: "),
      `the models as they stood at ${asOf}, not the live catalog. `,
      h("button", {type: "button", class: "link", dataset: {key: "drop-as_of"}, onclick: () => apply({as_of: null})},
        "Show the live catalog")) : null);
    const others = [...new Set(params.keys())].filter((k) => !CONTROLLED.has(k) && k !== "as_of");
    otherFilters.hidden = others.length === 0;
    fill(otherFilters, others.length ? [h("span", {class: "chips-label"}, "Also filtered by"),
      h("div", {class: "chips"}, others.map((k) => h("button", {type: "button", class: "chip", dataset: {key: `drop-${k}`},
        title: `Take out ${k}`, onclick: () => apply({[k]: null})},
        `${k} = ${params.getAll(k).join(",")}`, h("span", {"aria-hidden": "true"}, " ×"))))] : null);
  }

  async function load(initial = false) {
    const mine = ++loads;
    drawUncontrolled();
    const query = new URLSearchParams(params);
    if (!query.has("limit")) query.set("limit", String(DEFAULT_LIMIT));
    summary.textContent = "Loading…";
    tableBox.setAttribute("aria-busy", "true");
    sortSelect.value = params.get("sort") || "";
    let page;
    try {
      page = await get("/api/v1/models", query, signal);
    } catch (err) {
      if (mine !== loads || signal.aborted) return;
      if (initial && err.status === 401) throw err;  // the page says what is missing
      summary.textContent = "";
      fill(tableBox, notice("error", err instanceof ApiError ? `The API refused this query: ${err.message}`
        : `The service did not answer (${err.message}): is it running? Change a filter to ask again.`));
      tableBox.setAttribute("aria-busy", "false");
      fill(pager);
      return;
    }
    if (mine !== loads) return;
    rows = page.data;
    const first = page.data.length ? page.offset + 1 : 0;
    const last = page.offset + page.data.length;
    const models = `${count(page.total)} model${page.total === 1 ? "" : "s"}`;
    // An offset past the end (a shared link to a page that has since emptied): said, not "showing 100,000–99,999".
    summary.textContent = page.data.length ? `${models} · showing ${count(first)}–${count(last)}`
      : page.total ? `${models} · none on this page` : models;
    keepFocus(main, () => {
      fill(tableBox, page.data.length ? table(page.data)
        : page.total ? notice("empty", `This page is past the last of the ${models}. `,
          h("a", {href: pageUrl(0)}, "Go to the first page"), ".")
          : notice("empty", "No model matches these filters."));
      fill(pager, pagerControls(page));
    });
    tableBox.setAttribute("aria-busy", "false");
  }

  function sortHeader(col) {
    if (!col.sort) return h("th", {scope: "col", class: col.num ? "num" : null}, col.label);
    const current = params.get("sort") || "";
    const active = current.replace(/^-/, "") === col.sort;
    const descending = active && current.startsWith("-");
    const next = active && !descending ? `-${col.sort}` : col.sort;
    return h("th", {scope: "col", class: col.num ? "num" : null, "aria-sort": active ? (descending ? "descending" : "ascending") : "none"},
      h("button", {type: "button", class: "sort", dataset: {key: `sort-${col.sort}`},
        onclick: () => apply({sort: next === "id" ? null : next})},
      col.label, h("span", {class: "arrow", "aria-hidden": "true"}, active ? (descending ? " ▼" : " ▲") : "")));
  }

  function table(models) {
    const full = selection.ids().length >= selection.max;
    const columns = COLUMNS.filter((c) => measured || !c.measured);
    return h("table", {class: "models"},
      h("caption", {class: "visually-hidden"}, "Models matching the filters"),
      h("thead", {}, h("tr", {}, h("th", {scope: "col", class: "tick"}, h("span", {class: "visually-hidden"}, "Compare")),
        columns.map(sortHeader))),
      h("tbody", {}, models.map((m) => {
        const ticked = selection.has(m.id);
        const caps = Object.entries(m.capabilities || {}).filter(([, v]) => v === true).map(([k]) => k);
        return h("tr", {dataset: {id: m.id}},
          h("td", {class: "tick"}, h("input", {type: "checkbox", checked: ticked, disabled: full && !ticked,
            dataset: {key: `tick-${m.id}`}, "aria-label": `Compare ${m.name || m.id}`,
            onchange: (e) => tick(m.id, e.target)})),
          h("th", {scope: "row", class: "model"}, h("a", {href: `/ui/models/${modelPath(m.id)}`}, m.name || m.provider_model_id),
            h("span", {class: "id"}, m.id)),
          h("td", {"data-label": "Provider"}, m.provider),
          h("td", {"data-label": "Kind"}, m.kind || UNKNOWN),
          h("td", {class: "num", "data-label": "Context"}, tokens(m.limits?.context_window)),
          h("td", {class: "num", "data-label": "Max output"}, tokens(m.limits?.max_output_tokens)),
          h("td", {class: "num", "data-label": "Input $/M"}, price(m.pricing?.input)),
          h("td", {class: "num", "data-label": "Output $/M"}, price(m.pricing?.output)),
          h("td", {class: "date", "data-label": "Released"}, m.lifecycle?.release_date || UNKNOWN),
          h("td", {"data-label": "Status"}, m.lifecycle?.status ? h("span", {class: `badge ${m.lifecycle.status}`}, m.lifecycle.status) : UNKNOWN),
          measured ? h("td", {class: "num", "data-label": "TTFT"}, ms(m.performance?.ttft_ms)) : null,
          h("td", {class: "caps"}, caps.map((c) => h("span", {class: "tag"}, c.replaceAll("_", " ")))));
      })));
  }

  function tick(id, box) {
    if (!selection.toggle(id, box.checked)) {
      box.checked = false;
      summary.textContent = `At most ${selection.max} models can be compared.`;
    }
  }

  function updateCompareBar() {
    const ids = selection.ids();
    compareBar.hidden = ids.length === 0;
    fill(compareBar,
      h("span", {}, `${ids.length} ticked`),
      ids.length >= 2 ? h("a", {class: "button primary", href: `/ui/compare?ids=${ids.map(encodeURIComponent).join(",")}`}, "Compare")
        : h("span", {class: "hint"}, "tick at least 2 to compare"),
      h("button", {type: "button", onclick: () => selection.clear()}, "Clear"));
    // The checkboxes follow (another page or tab may have changed the selection).
    const full = ids.length >= selection.max;
    for (const box of tableBox.querySelectorAll("tbody input[type=checkbox]")) {
      const id = box.closest("tr").dataset.id;
      box.checked = ids.includes(id);
      box.disabled = full && !box.checked;
    }
  }

  function pageUrl(offset) {
    const next = new URLSearchParams(params);
    if (offset) next.set("offset", String(offset));
    else next.delete("offset");
    const text = next.toString();
    return `/ui/catalog${text ? `?${text}` : ""}`;
  }

  function pagerControls(page) {
    const limit = page.limit;
    const pages = Math.max(1, Math.ceil(page.total / limit));
    const prev = Math.min(Math.max(0, page.offset - limit), (pages - 1) * limit);
    const sizes = PAGE_SIZES.includes(limit) ? PAGE_SIZES : [...PAGE_SIZES, limit].sort((a, b) => a - b);
    return [
      h("button", {type: "button", disabled: page.offset === 0, dataset: {key: "prev"},
        onclick: () => apply({offset: prev || null}, {keepOffset: true})}, "← Previous"),
      h("span", {class: "page-no"}, page.offset >= page.total && page.total ? `past the last page (${pages})`
        : `page ${Math.floor(page.offset / limit) + 1} of ${pages}`),
      h("button", {type: "button", disabled: page.offset + limit >= page.total, dataset: {key: "next"},
        onclick: () => apply({offset: page.offset + limit}, {keepOffset: true})}, "Next →"),
      h("label", {class: "page-size"}, "per page ",
        h("select", {dataset: {key: "limit"}, onchange: (e) => apply({limit: e.target.value === String(DEFAULT_LIMIT) ? null : e.target.value})},
          sizes.map((n) => h("option", {value: n, selected: n === limit}, n)))),
    ];
  }

  function chipButtons(capabilities) {
    const on = new Set(listParam(params, "capability"));
    return capabilities.map((c) => h("button", {type: "button", class: "chip", "aria-pressed": String(on.has(c.name)),
      dataset: {key: `cap-${c.name}`, capability: c.name},
      onclick: (e) => {
        // Every capability the URL holds, repeated or in a comma list, is kept: one comma list.
        const now = new Set(listParam(params, "capability"));
        if (now.has(c.name)) now.delete(c.name);
        else now.add(c.name);
        e.currentTarget.setAttribute("aria-pressed", String(now.has(c.name)));
        apply({capability: [...now].join(",")});
      }}, c.name.replaceAll("_", " "), h("span", {class: "count"}, count(c.models))));
  }

  const search = h("input", {type: "search", name: "q", value: params.get("q") || "", placeholder: "id or name",
    autocomplete: "off", oninput: debounce((e) => apply({q: e.target.value.trim()}, {replace: true}), 300)});
  const select = (name, values) => {
    const el = choice(name, values, listParam(params, name).join(","));
    el.addEventListener("change", () => apply({[name]: el.value}));
    return el;
  };
  const provider = h("input", {name: "provider", list: "provider-names", value: listParam(params, "provider").join(","),
    placeholder: "any (comma list)", autocomplete: "off",
    onchange: (e) => apply({provider: e.target.value.replace(/\s+/g, "")})});
  const ranges = RANGES.filter(([name]) => measured || ttftAsked || name !== "max_ttft_ms").map(([name, label, step, whole]) => h("div", {class: "field"},
    h("label", {for: `f-${name}`}, label),
    h("input", {id: `f-${name}`, name, type: "number", min: "0", step, inputmode: "decimal", value: params.get(name) || "",
      oninput: debounce((e) => apply({[name]: rangeValue(e.target.value, whole)}, {replace: true}), 400)})));
  const sortSelect = h("select", {id: "f-sort", onchange: (e) => apply({sort: e.target.value})},
    [...config.sorts, ...(measured || config.performance_sorts.includes((params.get("sort") || "").replace(/^-/, ""))
      ? config.performance_sorts : [])].flatMap((name) => [name, `-${name}`]).map((value) => h("option", {value: value === "id" ? "" : value,
      selected: (params.get("sort") || "id") === value}, `${value.replace(/^-/, "").replaceAll("_", " ")}${value.startsWith("-") ? " ↓" : " ↑"}`)));
  const active = [...new Set(params.keys())].filter((k) => !["sort", "limit", "offset", "q", "capability"].includes(k)).length;
  const wide = window.matchMedia("(min-width: 800px)").matches;

  fill(main,
    h("div", {class: "page-head"}, h("h1", {}, "Catalog"), summary),
    h("form", {class: "filters", role: "search", onsubmit: (e) => e.preventDefault()},
      h("div", {class: "row"},
        h("div", {class: "field grow"}, h("label", {for: "f-q"}, "Search"), Object.assign(search, {id: "f-q"})),
        h("div", {class: "field"}, h("label", {for: "f-sort"}, "Sort by"), sortSelect),
        h("a", {class: "button", href: "/ui/catalog"}, "Clear filters")),
      h("details", {class: "more", open: wide || active > 0},
        h("summary", {}, `Filters${active ? ` (${active})` : ""}`),
        h("div", {class: "grid"},
          h("div", {class: "field"}, h("label", {for: "f-provider"}, "Provider"), Object.assign(provider, {id: "f-provider"})),
          [["kind", "Kind", config.kinds], ["status", "Status", config.statuses],
            ["input_modality", "Input modality", config.modalities], ["output_modality", "Output modality", config.modalities]]
            .map(([name, label, values]) => h("div", {class: "field"}, h("label", {for: `f-${name}`}, label),
              Object.assign(select(name, values), {id: `f-${name}`}))),
          ranges)),
      h("div", {class: "chips-row"}, h("span", {class: "chips-label", id: "chips-label"}, "Capabilities"), chips),
      otherFilters,
      providerList),
    pastNote,
    tableBox,
    pager,
    compareBar);

  const onSelection = () => updateCompareBar();
  document.addEventListener("selectionchange", onSelection);
  ctx.onLeave(() => document.removeEventListener("selectionchange", onSelection));
  updateCompareBar();
  const [caps, provs, bedrock] = await Promise.all([
    get("/api/v1/capabilities", null, signal),
    get("/api/v1/providers", null, signal),
    get("/api/v1/bedrock/regions", null, signal),
    load(true),
  ]);
  fill(chips, chipButtons(caps.data));
  const names = provs.data.filter((p) => !p.is_catalog).map((p) => p.name);
  if (bedrock.enabled) names.push("bedrock");
  fill(providerList, names.sort().map((n) => h("option", {value: n})));
}
