// The live change feed: one stream of GET /api/v1/events/stream for the whole page.
//
// Read with fetch rather than EventSource so the request can carry the admin token and, after a
// reload, the Last-Event-ID of the last event this tab saw (kept in sessionStorage): the service
// then sends every event committed in between, once. Reconnects with backoff when the stream ends.

import {ApiError, get, headers} from "./api.js";

const LAST_ID_KEY = "discovery.lastEventId";
const KEEP = 300;           // events kept for pages opened later
const MAX_CATCH_UP = 1000;  // a tab away for longer starts this far back, not from its old id

export const feed = {
  state: "connecting",
  lastId: null,
  recent: [],
  listeners: new Set(),
  stateListeners: new Set(),

  /** Call fn(event) for every event from now on; returns the function that stops it. */
  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  },

  /** Call fn(state) when the connection state changes ("connecting", "live", "reconnecting", "locked"). */
  onState(fn) {
    this.stateListeners.add(fn);
    fn(this.state);
    return () => this.stateListeners.delete(fn);
  },

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    for (const fn of this.stateListeners) fn(state);
  },

  deliver(event) {
    if (this.lastId !== null && event.id <= this.lastId) return;
    this.lastId = event.id;
    sessionStorage.setItem(LAST_ID_KEY, String(event.id));
    this.recent.push(event);
    if (this.recent.length > KEEP) this.recent.splice(0, this.recent.length - KEEP);
    for (const fn of this.listeners) {
      try {
        fn(event);
      } catch (err) {
        reportError(err);  // a page's bug shows in the console; the feed goes on
      }
    }
  },

  /** Where to resume: the stored id, unless the feed was reset or the tab is far behind; else the
   * newest event now. Never none: a stream opened without Last-Event-ID starts from its own now,
   * so a tab that had seen no event yet lost every one committed while the service restarted. */
  async resumePoint(signal) {
    const stored = Number(sessionStorage.getItem(LAST_ID_KEY));
    const head = (await get("/api/v1/events", {limit: 1}, signal)).last_event_id;
    if (!Number.isInteger(stored) || stored <= 0 || stored > head) return head;  // none, or another database's
    return Math.max(stored, head - MAX_CATCH_UP);
  },

  /** Run for the life of the page: connect, read, and connect again when the stream ends. */
  async start() {
    let checked = false;
    let delay = 1000;
    let controller = null;
    // A new token: read again with it at once (the service may show more, or less).
    document.addEventListener("tokenchange", () => controller && controller.abort());
    for (;;) {
      controller = new AbortController();
      try {
        if (!checked) {
          this.lastId = await this.resumePoint(controller.signal);
          sessionStorage.setItem(LAST_ID_KEY, String(this.lastId));
          checked = true;
        }
        await this.read(controller.signal);
        delay = 1000;
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          // The service needs a read token: wait until one is entered.
          this.setState("locked");
          await new Promise((resolve) => document.addEventListener("tokenchange", resolve, {once: true}));
          continue;
        }
        if (controller.signal.aborted) delay = 0;
        // Otherwise a dropped or refused connection: try again, more slowly each time.
      }
      this.setState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(Math.max(delay * 2, 1000), 15000);
    }
  },

  async read(signal) {
    const extra = {Accept: "text/event-stream"};
    if (this.lastId !== null) extra["Last-Event-ID"] = String(this.lastId);
    const resp = await fetch("/api/v1/events/stream", {headers: headers(extra), cache: "no-store", signal});
    if (!resp.ok || !resp.body) throw new ApiError(resp.status, "stream", `event stream answered ${resp.status}`);
    this.setState("live");
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return;
      buffer += value.replaceAll("\r\n", "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        this.message(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  },

  /** One SSE message: "id:", "event:" and "data:" lines; comments (heartbeats) start with ":". */
  message(block) {
    const data = [];
    let name = null;
    for (const line of block.split("\n")) {
      if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      else if (line.startsWith("event:")) name = line.slice(6).trim();
    }
    // "missed" (retention deleted events after the resume point) is no event: the page shows the
    // recent feed only, and its views read the current state themselves.
    if (!data.length || name === "missed") return;
    let event;
    try {
      event = JSON.parse(data.join("\n"));
    } catch {
      return;  // not an event this page understands; the next one will be
    }
    this.deliver(event);
  },
};
