// The dashboard's shell: routing between pages by path (/ui/<page>/...), the admin token form,
// the live-feed indicator. Each page is a module with a title and render(ctx).

import {ApiError, headers, token} from "./api.js";
import {fill, h, notice} from "./elements.js";
import {feed} from "./feed.js";
import {selection} from "./selection.js";
import * as benchmarks from "./pages/benchmarks.js";
import * as catalog from "./pages/catalog.js";
import * as changes from "./pages/changes.js";
import * as compare from "./pages/compare.js";
import * as model from "./pages/model.js";
import * as providers from "./pages/providers.js";

const PAGES = {catalog, compare, models: model, changes, providers, benchmarks};
const config = JSON.parse(document.getElementById("dashboard-config").textContent);
const main = document.getElementById("view");
selection.max = config.max_compare;

let current = null;  // the page shown: its AbortController and cleanups
let shown = "";  // the path and query of the view drawn last
// Whether this service takes admin actions from this address with no token (a service with no
// admin token, asked from loopback): then they are shown without one, and a token is not needed.
let open = false;
// Whether it needs no token of any kind from here (asked with none, it answered and takes changes).
let free = false;

/** Whether admin actions may be offered: an admin token entered and accepted, or none needed. */
function admin() {
  return open || token.isAdmin();
}

/** Ask the service whether it takes changes from here without a token (GET /version's admin_open),
 * with the token kept, if any (a service with a read token answers only with it); asked with none,
 * the answer also says whether this service needs no token of any kind from here. */
async function checkOpen() {
  const bare = !token.get();
  try {
    const resp = await fetch("/version", {headers: headers(), cache: "no-store"});
    open = resp.ok && (await resp.json()).admin_open === true;
  } catch {
    open = false;
  }
  if (bare) free = open;
}

/** The page and the rest of the path: "/ui/models/openai/gpt-4o" → ["models", "openai/gpt-4o"]. */
function route(pathname) {
  const parts = pathname.replace(/^\/ui\/?/, "").split("/").filter(Boolean);
  if (pathname === "/" || !parts.length) return ["catalog", ""];
  return [parts[0], parts.slice(1).map(decodeURIComponent).join("/")];
}

/** Go to a dashboard URL without reloading; `replace` for changes not worth a history entry. */
export function navigate(url, {replace = false} = {}) {
  history[replace ? "replaceState" : "pushState"](null, "", url);
  show({focus: !replace});
}

async function show({focus = false} = {}) {
  // A control that had focus when its page is drawn again in place (a filter that rewrote the
  // URL) gets it back: the keyboard user typing in it was thrown out to the page's body.
  const held = !focus && document.activeElement && main.contains(document.activeElement) ? document.activeElement.id : "";
  if (current) {
    current.controller.abort();
    current.cleanups.forEach((fn) => fn());
  }
  const url = new URL(location.href);
  shown = url.pathname + url.search;
  const [name, rest] = route(url.pathname);
  const page = PAGES[name];
  const controller = new AbortController();
  current = {controller, cleanups: []};
  const mine = current;
  for (const link of document.querySelectorAll("nav a[data-page]")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  fill(main);
  delete main.dataset.ready;
  if (!page) {
    document.title = "Not found · Model discovery";
    main.append(h("h1", {tabindex: "-1"}, "Not found"), notice("empty", "The dashboard has no such page."));
    main.dataset.ready = "missing";
    return;
  }
  document.title = `${page.title} · Model discovery`;
  const ctx = {
    main, rest, config, navigate,
    params: url.searchParams,
    signal: controller.signal,
    admin: admin(),
    onLeave: (fn) => mine.cleanups.push(fn),
    // A page that changed the URL itself (history.pushState) says the new one is drawn, so Back
    // to the URL before draws that one again instead of being taken as already shown.
    drawn: () => {
      shown = location.pathname + location.search;
    },
  };
  try {
    await page.render(ctx);
  } catch (err) {
    if (controller.signal.aborted || err.name === "AbortError") return;
    if (!main.querySelector("h1")) main.append(h("h1", {}, page.title));
    // What the page put up while its first requests were out says no more than the notice below.
    for (const el of main.querySelectorAll("p, pre")) if (/^Loading/.test(el.textContent)) el.remove();
    for (const el of main.querySelectorAll("[aria-busy]")) el.removeAttribute("aria-busy");
    if (err instanceof ApiError && err.status === 401) {
      // A service with a read token: nothing can be shown until the token is entered.
      main.append(notice("error", "This service needs a token to show its data: enter it under Admin (top right)."));
      document.getElementById("admin").open = true;
      document.getElementById("token").focus();  // where the keyboard user has to go next
    } else {
      main.append(notice("error", err instanceof ApiError ? `${err.message} (${err.status})` : String(err.message || err)));
    }
  }
  if (current !== mine) return;
  main.dataset.ready = name;  // every request of the first view has been answered (tests wait for it)
  const again = held ? document.getElementById(held) : null;
  if (again && main.contains(again)) {
    again.focus({preventScroll: true});
    if (typeof again.setSelectionRange === "function" && typeof again.value === "string" && again.type !== "number") {
      again.setSelectionRange(again.value.length, again.value.length);
    }
  }
  if (focus) {
    const heading = main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({preventScroll: true});
    }
    window.scrollTo(0, 0);
  }
}

// Links inside the dashboard change the page in place; everything else (the API's JSON) loads normally.
document.addEventListener("click", (e) => {
  const link = e.target.closest("a[href]");
  if (!link || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || link.target || !(url.pathname === "/" || url.pathname.startsWith("/ui/"))) return;
  // A link within this page (the skip link to #view) is the browser's to follow: no new view.
  if (url.hash && url.pathname === location.pathname && url.search === location.search) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
// Back and forward draw the page anew; a jump within the page (the skip link) fires popstate too,
// with only the fragment changed: nothing to draw.
window.addEventListener("popstate", () => {
  if (location.pathname + location.search !== shown) show();
});

function setupLive() {
  const live = document.getElementById("live");
  const words = {connecting: "connecting", live: "live", reconnecting: "reconnecting", locked: "needs a token"};
  feed.onState((state) => {
    live.dataset.state = state;
    live.textContent = words[state] || state;
    live.title = state === "live" ? "Changes arrive as they happen" : "Waiting for the event stream";
  });
  feed.start();
}

function setupCompareCount() {
  const counter = document.getElementById("compare-count");
  const update = () => {
    const n = selection.ids().length;
    counter.textContent = n ? String(n) : "";
  };
  document.addEventListener("selectionchange", update);
  update();
}

/** The admin token form: checked against a route that needs it before it is kept. */
function setupToken() {
  const form = document.getElementById("token-form");
  const input = document.getElementById("token");
  const note = document.getElementById("token-note");
  const panel = document.getElementById("admin");
  const mark = () => {
    document.body.classList.toggle("is-admin", admin());
    panel.querySelector("summary").textContent = token.isAdmin() ? "Admin ✓" : token.get() ? "Read ✓"
      : open ? "Admin (open here)" : "Admin";
  };
  // Asked first of a read route (401: a read token is needed and this is not one the service
  // knows), then of a route only the admin may read (web/auth.py): 200 is the admin token, or a
  // service that takes changes from this host without one; 403 a token that may read but not
  // change anything (the read token); 401 no token the service knows. The admin route alone let
  // any token through where only a read token is set: loopback may read it without one.
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    note.textContent = "Checking…";
    let role = "admin";
    if (free) {
      // Neither reads nor changes need a token from here: any token would pass, the service
      // cannot tell this one right or wrong, so it is not kept.
      note.textContent = "This service takes admin actions from this address without a token: none is needed, and this one was not kept.";
      input.value = "";
      mark();
      return;
    }
    try {
      const headers = {Authorization: `Bearer ${value}`, Accept: "application/json"};
      const read = await fetch("/version", {headers});
      const resp = read.status === 401 ? read : await fetch("/api/v1/subscriptions", {headers});
      if (resp.status === 401) {
        note.textContent = "The service refused this token.";
        return;
      }
      role = resp.ok ? "admin" : "read";
      note.textContent = resp.ok ? "Token accepted: admin actions are shown."
        : "Token kept for reading; it cannot change anything here, so no admin actions are shown.";
    } catch {
      note.textContent = "Kept; the service could not be asked about it just now.";
    }
    input.value = "";
    token.set(value, role);
    panel.open = false;  // out of the way of the page it unlocked
  });
  panel.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && panel.open) {
      panel.open = false;
      panel.querySelector("summary").focus();
    }
  });
  document.getElementById("token-forget").addEventListener("click", () => {
    token.set("");
    note.textContent = "Forgotten: admin actions are hidden.";
  });
  document.addEventListener("tokenchange", () => {
    // What a change needs may differ with the token now kept (a read token opens /version).
    checkOpen().finally(() => {
      mark();
      show();
    });
  });
  mark();
}

setupCompareCount();
setupLive();
checkOpen().finally(() => {
  setupToken();
  show();
});
