// The service's HTTP API, as the dashboard uses it. Every call here is a documented route
// (README "HTTP API"); the admin token, when one is entered, goes with every request.

const TOKEN_KEY = "discovery.token";
const ROLE_KEY = "discovery.tokenRole";

/** An answer with an error status: the API's {"error": {"code", "message"}}. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The token entered in the page, kept for this tab: the admin token, or a read token (role "read"). */
export const token = {
  get() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  },
  /** Whether admin actions may be offered: an admin token was entered and accepted. */
  isAdmin() {
    return Boolean(this.get()) && sessionStorage.getItem(ROLE_KEY) === "admin";
  },
  set(value, role = "admin") {
    if (value) {
      sessionStorage.setItem(TOKEN_KEY, value);
      sessionStorage.setItem(ROLE_KEY, role);
    } else {
      sessionStorage.removeItem(TOKEN_KEY);
      sessionStorage.removeItem(ROLE_KEY);
    }
    document.dispatchEvent(new CustomEvent("tokenchange"));
  },
};

/** Headers for a request: the admin token as a Bearer token when one is set. */
export function headers(extra = {}) {
  const out = {Accept: "application/json", ...extra};
  const t = token.get();
  if (t) out.Authorization = `Bearer ${t}`;
  return out;
}

/** "/api/v1/models/" + an id whose parts may hold ':' or '#': each path segment encoded. */
export function modelPath(id) {
  return id.split("/").map(encodeURIComponent).join("/");
}

/** A query string from an object (leaving out empty values: unset) or from URLSearchParams, a
 * page's own query string, sent as it is: an empty value there is the API's to refuse, as it would
 * refuse the same URL (a shared link shows what the API answers for it). */
export function query(params) {
  const out = new URLSearchParams();
  const given = params instanceof URLSearchParams;
  const entries = given ? params.entries() : Object.entries(params || {});
  for (const [k, v] of entries) {
    if (given || (v !== null && v !== undefined && v !== "")) out.append(k, v);
  }
  const text = out.toString();
  return text ? `?${text}` : "";
}

async function send(method, path, params, signal) {
  const resp = await fetch(path + query(params), {method, headers: headers(), signal, cache: "no-store"});
  let body = null;
  if ((resp.headers.get("Content-Type") || "").includes("json")) body = await resp.json();
  if (!resp.ok) {
    const err = (body && body.error) || {};
    throw new ApiError(resp.status, err.code || "error", err.message || `${method} ${path} answered ${resp.status}`);
  }
  return body;
}

/** GET a JSON resource. */
export function get(path, params, signal) {
  return send("GET", path, params, signal);
}

/** POST to a route (the admin actions). */
export function post(path, params, signal) {
  return send("POST", path, params, signal);
}

let measures = null;  // asked once a tab: the settings do not change while the service runs

/** Whether the service measures models (the benchmarks feature): its settings benchmark a source
 * (GET /api/v1/status, benchmarks.enabled), or it has a benchmark run recorded from before they
 * stopped (GET /api/v1/benchmarks/runs). Every record carries "performance" (null until measured)
 * either way, so that cannot tell. */
export function offersBenchmarks() {
  if (!measures) {
    // Shared by every page of the tab, so not cut short when the page that asked first is left.
    // Bounded: a stalled answer would hold every page of the tab that waits on it.
    measures = (async () => Boolean((await get("/api/v1/status", {}, AbortSignal.timeout(10000))).benchmarks?.enabled
      || (await get("/api/v1/benchmarks/runs", {limit: 1}, AbortSignal.timeout(10000))).data.length > 0))();
    // Not known (no token yet, the API refused): the page says why, and the next one asks again.
    measures = measures.catch((err) => { measures = null; throw err; });
  }
  return measures;
}

/** What a page says instead of its benchmarks on a service that measures nothing. */
export const NO_BENCHMARKS = "No benchmarks: this service does not measure models (no provider is enabled in its [benchmarks] settings).";
