// Providers: each one's status, breaker, last refresh and error, model count and recent health
// (GET /api/v1/providers and .../health); Bedrock regions with availability and latency. An open
// breaker says when it lets the next call through; a source the supervisor gave up on says so.
// Redrawn when the live feed reports a status change or a refresh, and every few seconds.

import {ApiError, get, post} from "../api.js";
import {healthSparkline} from "../chart.js";
import {debounce, fill, h, keepFocus, notice} from "../elements.js";
import {ago, count, ms, percent, stamp, toDate, UNKNOWN} from "../format.js";
import {feed} from "../feed.js";

export const title = "Providers";

const POLL_MS = 5000;
const HEALTH_HISTORY = 30;

function outcomeText(o) {
  if (!o) return "";
  const counts = o.outcome === "succeeded" ? ` +${o.added} ~${o.updated} −${o.removed}` : "";
  return `${o.outcome}${counts}`;
}

function when(t) {
  return t ? h("time", {datetime: toDate(t).toISOString(), title: stamp(t)}, ago(t)) : "never";
}

/** "retry in 42 s" until an open breaker's next_try_at (by this browser's clock, so as of the
 * last redraw), the time itself on hover; nothing when the server does not say (older servers). */
function retry(at) {
  const d = toDate(at);
  if (!d || Number.isNaN(d.getTime())) return null;
  const due = Math.round((d.getTime() - Date.now()) / 1000) <= 0;
  return h("time", {class: "id retry", datetime: d.toISOString(), title: `next try at ${stamp(at)}`, dataset: {role: "retry"}},
    due ? "retry due now" : `retry ${ago(at)}`);
}

/** Whether the supervisor stopped restarting the source's actor (every row says given_up; an
 * older server's provider row only its actor's state). It will not refresh again before a restart. */
function givenUp(row) {
  return row.given_up === true || row.actor?.state === "failed";
}

/** The "given up" badge and why: the row's reason, else its actor's last error. */
function givenUpNote(reason, error) {
  const why = reason || `its actor kept crashing${error ? ` (${error})` : ""}; no restart until the service restarts`;
  return [h("span", {class: "badge given-up", dataset: {role: "given-up"}}, "given up"), h("span", {class: "reason"}, why)];
}

export async function render(ctx) {
  const {main, signal} = ctx;
  const summary = h("p", {class: "summary", role: "status", "aria-live": "polite"}, "Loading…");
  const providersBox = h("div", {class: "table-scroll"});
  const regionsBox = h("div", {});
  const messages = new Map();  // provider -> what its last admin action answered
  let running = null;
  let again = false;

  function refreshButton(name) {
    return h("button", {type: "button", class: "small admin-only", dataset: {key: `refresh-${name}`}, onclick: async () => {
      messages.set(name, "refreshing…");
      load();
      try {
        const answer = await post(`/api/v1/providers/${encodeURIComponent(name)}/refresh`);
        messages.set(name, `started run ${answer.runs.map((r) => r.run_id).join(", ")}`);
      } catch (err) {
        messages.set(name, `refused: ${err.message}`);
      }
      load();
    }}, "Refresh");
  }

  function providerTable(providers, healths) {
    return h("table", {class: "providers stack"},
      h("caption", {class: "visually-hidden"}, "Providers and catalog sources"),
      h("thead", {}, h("tr", {}, ["Provider", "Status", "Breaker", "Last refresh", "Last error", "Models", "Recent health",
        ctx.admin ? "Actions" : null].filter(Boolean).map((c) => h("th", {scope: "col"}, c)))),
      h("tbody", {}, providers.map((p, i) => {
        const health = healths[i];
        const checks = health ? health.history : [];
        return h("tr", {dataset: {provider: p.name}},
          h("th", {scope: "row", "data-label": "Provider"}, p.name, h("span", {class: "id"}, p.is_catalog ? `${p.format} catalog` : p.format)),
          h("td", {"data-label": "Status"}, h("span", {class: `badge ${p.status}`, dataset: {role: "status"}}, p.status),
            givenUp(p) ? givenUpNote(p.status_reason, p.actor?.last_error)
              : p.status_reason ? h("span", {class: "reason"}, p.status_reason) : null),
          h("td", {"data-label": "Breaker"}, p.breaker?.state ? h("span", {class: `badge breaker-${p.breaker.state}`}, p.breaker.state) : UNKNOWN,
            p.breaker ? h("span", {class: "id"}, `${p.breaker.fail_counter}/${p.breaker.fail_max} failures`) : null,
            p.breaker?.state === "open" ? retry(p.breaker.next_try_at) : null),
          h("td", {"data-label": "Last refresh"}, p.refreshing ? "refreshing now" : when(p.last_refresh_at),
            h("span", {class: "id"}, outcomeText(p.last_outcome)),
            p.next_refresh_at ? h("span", {class: "id"}, "next ", when(p.next_refresh_at)) : null),
          h("td", {"data-label": "Last error", class: ["error-text", p.last_error ? "full" : null]}, p.last_error ? h("span", {title: p.last_error}, p.last_error) : UNKNOWN),
          h("td", {"data-label": "Models", class: "num"}, p.model_count
            ? h("a", {href: `/ui/catalog?provider=${encodeURIComponent(p.name)}`}, count(p.model_count)) : count(p.model_count)),
          h("td", {"data-label": "Recent health", class: "full"}, healthSparkline(checks, {label: `${p.name} recent checks`}),
            health ? h("span", {class: "id"}, `uptime ${percent(health.uptime)} · errors ${percent(health.error_rate)} · ${ms(health.last_latency_ms)}`) : null),
          ctx.admin ? h("td", {"data-label": "Actions"}, refreshButton(p.name),
            messages.has(p.name) ? h("span", {class: "id", role: "status"}, messages.get(p.name)) : null) : null);
      })));
  }

  function regionTable(regions) {
    const slowest = Math.max(1, ...regions.map((r) => r.latency_ms || 0));
    return h("table", {class: "regions stack"},
      h("caption", {class: "visually-hidden"}, "Bedrock regions"),
      h("thead", {}, h("tr", {}, ["Region", "Availability", "Latency", "Models", "Profiles", "Last refresh", "Last error", "Breaker"]
        .map((c) => h("th", {scope: "col"}, c)))),
      h("tbody", {}, regions.map((r) => {
        const bar = h("span", {class: "bar", "aria-hidden": "true"});
        bar.style.width = `${Math.round(((r.latency_ms || 0) / slowest) * 100)}%`;
        return h("tr", {dataset: {region: r.region}},
          h("th", {scope: "row", "data-label": "Region"}, r.region),
          h("td", {"data-label": "Availability"}, h("span", {class: `badge ${r.status}`, dataset: {role: "status"}}, r.status),
            givenUp(r) ? givenUpNote(r.reason) : null),
          h("td", {"data-label": "Latency", class: "latency"}, h("span", {class: "meter"}, bar), ms(r.latency_ms)),
          h("td", {"data-label": "Models", class: "num"}, count(r.model_count)),
          h("td", {"data-label": "Profiles", class: "num"}, count(r.profile_count)),
          h("td", {"data-label": "Last refresh"}, r.refreshing ? "refreshing now" : when(r.last_refresh_at)),
          h("td", {"data-label": "Last error", class: ["error-text", r.last_error ? "full" : null]}, r.last_error ? h("span", {title: r.last_error}, r.last_error) : UNKNOWN),
          h("td", {"data-label": "Breaker"}, r.breaker_state ? h("span", {class: `badge breaker-${r.breaker_state}`}, r.breaker_state) : UNKNOWN,
            r.breaker_state === "open" ? retry(r.breaker_next_try_at) : null));
      })));
  }

  async function draw() {
    const [providers, regions] = await Promise.all([get("/api/v1/providers", null, signal), get("/api/v1/bedrock/regions", null, signal)]);
    // A given-up source's health answers 503 until the service restarts: not asked at every redraw.
    const healths = await Promise.all(providers.data.map((p) => givenUp(p) ? null
      : get(`/api/v1/providers/${encodeURIComponent(p.name)}/health`, {history: HEALTH_HISTORY}, signal).catch(() => null)));
    if (signal.aborted) return;
    const by = {};
    for (const p of providers.data) by[p.status] = (by[p.status] || 0) + 1;
    summary.textContent = `${providers.data.length} sources: ` +
      Object.entries(by).map(([status, n]) => `${n} ${status}`).join(", ");
    keepFocus(main, () => {
      fill(providersBox, providers.data.length ? providerTable(providers.data, healths) : notice("empty", "No providers configured."));
      fill(regionsBox, h("h2", {id: "regions-h"}, "Bedrock regions"),
        !regions.enabled ? notice("empty", "Bedrock discovery is off.")
          : h("div", {class: "table-scroll"}, regionTable(regions.data)));
    });
  }

  /** Redraw now, or right after the redraw in flight (never two at once). */
  async function load() {
    if (running) {
      again = true;
      return;
    }
    running = draw().catch((err) => {
      if (signal.aborted) return;
      // The counts above were the last answer's: not what is true now (they stayed, above the error).
      summary.textContent = err instanceof ApiError ? "The service refused the last redraw."
        : "The service did not answer the last redraw.";
      fill(providersBox, notice("error", err instanceof ApiError ? err.message
        : `The service did not answer (${err.message}): is it running? The page asks again every few seconds.`));
    });
    await running;
    running = null;
    if (again && !signal.aborted) {
      again = false;
      load();
    }
  }

  fill(main, h("div", {class: "page-head"}, h("h1", {}, "Providers"), summary), providersBox,
    h("section", {"aria-labelledby": "regions-h"}, regionsBox));
  const soon = debounce(load, 100);
  ctx.onLeave(feed.on((e) => {
    if (e.kind === "status_changed" || e.kind === "models_refreshed") soon();
  }));
  const timer = setInterval(() => document.visibilityState === "visible" && load(), POLL_MS);
  ctx.onLeave(() => clearInterval(timer));
  await draw();  // the first view's failure is the page's (a missing token, say)
}
