// Building the page: elements from plain data, never from HTML strings. Model names,
// descriptions and errors come from providers, so nothing here parses markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
  return parent;
}

function setAttributes(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (key === "value" && "value" in el) {
      el.value = value;
    } else if (key === "checked" || key === "disabled" || key === "selected") {
      el[key] = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  return el;
}

/** An HTML element: h("a", {href: "/x", class: "link"}, "text", child, [more]). */
export function h(tag, attrs, ...children) {
  return append(setAttributes(document.createElement(tag), attrs), children);
}

/** An SVG element (charts). */
export function svg(tag, attrs, ...children) {
  return append(setAttributes(document.createElementNS(SVG_NS, tag), attrs), children);
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A message box: kind is "info", "error" or "empty". */
export function notice(kind, ...children) {
  return h("p", {class: `notice ${kind}`, role: kind === "error" ? "alert" : null}, ...children);
}

/** Run fn, which rebuilds part of the page, and give focus back to the control that had it
 * (matched by its data-key), so a live update never throws a keyboard user out. */
export function keepFocus(container, fn) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.key : null;
  fn();
  if (key) {
    const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

/** A label with a control, for filter forms. */
export function field(label, control) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h("div", {class: "field"}, h("label", {for: id}, label), control);
}

/** A <select> with an "any" first option. A selected value from the URL shows whatever its case
 * (the API takes CHAT as chat); one that is none of the values (a comma list, say) gets an option
 * of its own, so the control says what filters the rows. */
export function choice(name, values, selected, anyLabel = "any", label = (v) => v) {
  const wanted = (selected || "").trim();
  const known = values.find((v) => v.toLowerCase() === wanted.toLowerCase());
  const extra = wanted && !known ? [h("option", {value: wanted, selected: true}, wanted.split(",").map(label).join(", "))] : [];
  return h("select", {name},
    h("option", {value: ""}, anyLabel),
    values.map((v) => h("option", {value: v, selected: v === known}, label(v))),
    extra);
}

/** Calls fn once the input has been quiet for ms. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
