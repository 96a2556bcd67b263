// The models ticked for comparison, kept for this tab across pages and reloads.

const KEY = "discovery.compare";

function read() {
  try {
    const ids = JSON.parse(sessionStorage.getItem(KEY) || "[]");
    return Array.isArray(ids) ? ids.filter((x) => typeof x === "string") : [];
  } catch {
    return [];
  }
}

export const selection = {
  max: 10,

  ids() {
    return read();
  },

  has(id) {
    return read().includes(id);
  },

  /** Replace the selection (at most `max`). */
  set(ids) {
    const unique = [...new Set(ids)].slice(0, this.max);
    sessionStorage.setItem(KEY, JSON.stringify(unique));
    document.dispatchEvent(new CustomEvent("selectionchange", {detail: unique}));
    return unique;
  },

  /** Tick or untick one model; false when the selection is already full. */
  toggle(id, on) {
    const ids = read().filter((x) => x !== id);
    if (on) {
      if (ids.length >= this.max) return false;
      ids.push(id);
    }
    this.set(ids);
    return true;
  },

  clear() {
    this.set([]);
  },
};
