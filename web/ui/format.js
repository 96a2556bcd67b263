// How values read on the page. Unknown (null) always shows as "—", never as false or zero.

export const UNKNOWN = "—";

const integer = new Intl.NumberFormat("en", {maximumFractionDigits: 0});

/** 200000 → "200K", 1048576 → "1.05M" (token counts). */
export function tokens(n) {
  if (n === null || n === undefined) return UNKNOWN;
  if (n >= 1e6) return `${+(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}K`;
  return integer.format(n);
}

/** A count: 1993 → "1,993". */
export function count(n) {
  return n === null || n === undefined ? UNKNOWN : integer.format(n);
}

/** USD per million tokens: 3 → "$3", 0.075 → "$0.075". */
export function price(n) {
  if (n === null || n === undefined) return UNKNOWN;
  if (n === 0) return "free";
  return `$${+n.toPrecision(4)}`;
}

/** Milliseconds: 254.7 → "255 ms", 1840 → "1.84 s". */
export function ms(n) {
  if (n === null || n === undefined) return UNKNOWN;
  return n >= 1000 ? `${+(n / 1000).toFixed(2)} s` : `${Math.round(n)} ms`;
}

/** A number with up to `digits` decimals. */
export function decimal(n, digits = 1) {
  return n === null || n === undefined ? UNKNOWN : `${+Number(n).toFixed(digits)}`;
}

/** A share 0..1 as a percentage. */
export function percent(n) {
  return n === null || n === undefined ? UNKNOWN : `${+(n * 100).toFixed(1)}%`;
}

/** A Date from unix seconds or an ISO string. */
export function toDate(t) {
  if (t === null || t === undefined || t === "") return null;
  return typeof t === "number" ? new Date(t * 1000) : new Date(t);
}

/** "2026-11-30 13:40:02" in the reader's time zone. */
export function stamp(t) {
  const d = toDate(t);
  if (!d || Number.isNaN(d.getTime())) return UNKNOWN;
  const pad = (x) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "12 s ago", "3 min ago", "in 5 min". */
export function ago(t) {
  const d = toDate(t);
  if (!d) return "never";
  const seconds = Math.round((Date.now() - d.getTime()) / 1000);
  const abs = Math.abs(seconds);
  const unit = abs < 90 ? [abs, "s"] : abs < 5400 ? [Math.round(abs / 60), "min"]
    : abs < 129600 ? [Math.round(abs / 3600), "h"] : [Math.round(abs / 86400), "d"];
  return seconds >= 0 ? `${unit[0]} ${unit[1]} ago` : `in ${unit[0]} ${unit[1]}`;
}

/** Any field value as short text: lists joined, objects as compact JSON. */
export function value(v) {
  if (v === null || v === undefined) return UNKNOWN;
  if (v === true) return "yes";
  if (v === false) return "no";
  if (Array.isArray(v)) return v.length ? v.map((x) => (typeof x === "object" ? JSON.stringify(x) : x)).join(", ") : "none";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** "limits.context_window" → "context window". */
export function label(path) {
  return path.split(".").pop().replaceAll("_", " ");
}
