// Compare: 2-10 models side by side (each one's GET /api/v1/models/<id>), fields that differ marked.

import {get, modelPath} from "../api.js";
import {fill, h, notice} from "../elements.js";
import {value} from "../format.js";
import {selection} from "../selection.js";

export const title = "Compare";

// Top-level record fields in the order they are shown; anything else follows under its own name.
const GROUPS = [
  ["Overview", ["name", "provider", "provider_model_id", "family", "kind", "source", "live", "open_weights"]],
  ["Modalities", ["modalities"]],
  ["Capabilities", ["capabilities"]],
  ["Limits", ["limits"]],
  ["Pricing (USD per million tokens)", ["pricing"]],
  ["Lifecycle", ["lifecycle"]],
  ["Regions", ["regions"]],
  ["Measured performance", ["performance"]],
  ["Attributes", ["attributes"]],
];
const SKIP = new Set(["id", "provenance", "raw"]);

/** {"limits": {"context_window": 1}} → {"limits.context_window": 1}; lists stay values. */
export function flatten(record, prefix = "", out = {}) {
  for (const [key, v] of Object.entries(record || {})) {
    if (!prefix && SKIP.has(key)) continue;
    const path = prefix ? `${prefix}.${key}` : key;
    if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length) flatten(v, path, out);
    else out[path] = v;
  }
  return out;
}

function groupOf(path) {
  const top = path.split(".")[0];
  const found = GROUPS.findIndex(([, keys]) => keys.includes(top));
  return found < 0 ? GROUPS.length : found;
}

/** Fields in group order, and within the overview in the record's own order. */
function byGroup(a, b) {
  const rank = (path) => GROUPS[0][1].indexOf(path);
  return groupOf(a) - groupOf(b) || rank(a) - rank(b) || a.localeCompare(b);
}

/** The row's name under its group's heading: "limits.context_window" → "context_window". */
function rowName(path) {
  const top = path.split(".")[0];
  const name = groupOf(path) < GROUPS.length && path !== top ? path.slice(top.length + 1) : path;
  return name.replaceAll("_", " ");
}

export async function render(ctx) {
  const {main, params, signal, config} = ctx;
  // The ids of the address (a comma list, or repeated, as the API takes them); a shared link shows
  // its models without touching this tab's own ticks. Without ids, the ticked models.
  const named = [...new Set(params.getAll("ids").flatMap((v) => v.split(",")).map((s) => s.trim()).filter(Boolean))];
  const fromLink = named.length > 0;
  let ids = fromLink ? named : selection.ids();
  const dropped = ids.length - config.max_compare;
  ids = ids.slice(0, config.max_compare);
  if (!fromLink && ids.length >= 2) {
    // Opened from the navigation with models ticked: the address names them, so it can be shared.
    const url = new URL(location.href);
    url.searchParams.set("ids", ids.join(","));
    history.replaceState(null, "", url.pathname + url.search);
  }
  const head = h("div", {class: "page-head"}, h("h1", {}, "Compare"));
  const tooMany = dropped > 0 ? notice("error", `At most ${config.max_compare} models are compared: the last `,
    String(dropped), ` of the ${ids.length + dropped} named are left out.`) : null;
  if (ids.length < 2) {
    fill(main, head, notice("empty", "Tick 2 to ", String(config.max_compare), " models in the ",
      h("a", {href: "/ui/catalog"}, "catalog"), " to compare them side by side."));
    return;
  }
  fill(main, head, h("p", {class: "summary"}, "Loading…"));
  const answers = await Promise.allSettled(ids.map((id) => get(`/api/v1/models/${modelPath(id)}`, {raw: "false"}, signal)));
  if (signal.aborted) return;
  const locked = answers.find((a) => a.status === "rejected" && a.reason.status === 401);
  if (locked) throw locked.reason;
  const models = answers.filter((a) => a.status === "fulfilled").map((a) => a.value);
  const missing = ids.filter((id, i) => answers[i].status === "rejected");
  const flat = models.map((m) => flatten(m));
  const paths = [...new Set(flat.flatMap((f) => Object.keys(f)))]
    .sort(byGroup);
  const differs = (path) => new Set(flat.map((f) => JSON.stringify(f[path] ?? null))).size > 1;
  const differing = paths.filter(differs).length;

  const remove = (id) => {
    const rest = ids.filter((x) => x !== id);
    if (selection.has(id)) selection.toggle(id, false);
    ctx.navigate(`/ui/compare?ids=${rest.map(encodeURIComponent).join(",")}`, {replace: true});
  };
  const table = h("table", {class: "compare"},
    h("caption", {class: "visually-hidden"}, "Fields of each model; rows that differ are marked"),
    h("thead", {}, h("tr", {}, h("th", {scope: "col"}, "Field"), models.map((m) => h("th", {scope: "col"},
      h("a", {href: `/ui/models/${modelPath(m.id)}`}, m.name || m.id), h("span", {class: "id"}, m.id),
      h("button", {type: "button", class: "small", "aria-label": `Remove ${m.name || m.id}`, onclick: () => remove(m.id)}, "Remove"))))),
    h("tbody", {}, paths.map((path, i) => {
      const group = groupOf(path);
      const rows = [];
      if (i === 0 || groupOf(paths[i - 1]) !== group) {
        rows.push(h("tr", {class: "group"}, h("th", {scope: "colgroup", colspan: models.length + 1},
          group < GROUPS.length ? GROUPS[group][0] : "Other")));
      }
      const diff = differs(path);
      rows.push(h("tr", {class: diff ? "differs" : "same"},
        h("th", {scope: "row", title: path}, rowName(path), diff ? h("span", {class: "marker", title: "values differ"}, " ≠") : null),
        flat.map((f) => h("td", {}, value(f[path])))));
      return rows;
    })));
  const only = h("input", {type: "checkbox", id: "only-diff", onchange: (e) => table.classList.toggle("only-differs", e.target.checked)});
  fill(main, head,
    h("p", {class: "summary"}, models.length < 2 ? `${models.length} of the ${ids.length} models named ${models.length === 1 ? "is" : "are"} in the catalog: nothing to compare`
      : `${models.length} models · ${differing} of ${paths.length} fields differ`),
    missing.length ? notice("error", `Not in the catalog: ${missing.join(", ")}`) : null,
    tooMany,
    h("div", {class: "toolbar"}, h("label", {for: "only-diff"}, only, " only fields that differ")),
    h("div", {class: "table-scroll"}, table));
}
