// Small DOM helpers. Every value goes in as text (textContent, attributes), never as HTML.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attributes);
  append(node, children);
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttributes(node, attributes);
  append(node, children);
  return node;
}

function setAttributes(node, attributes) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "text") {
      node.textContent = value;
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function clear(node) {
  node.replaceChildren();
  return node;
}

// The page's polite live region: what a screen reader should hear about a change.
export function announce(message) {
  let region = document.getElementById("announcer");
  if (!region) {
    region = el("div", { id: "announcer", class: "visually-hidden", "aria-live": "polite", role: "status" });
    document.body.append(region);
  }
  region.textContent = "";
  // A fresh text node after a tick, so the same message is read again.
  setTimeout(() => {
    region.textContent = message;
  }, 50);
}

export function formatDateTime(value) {
  if (!value) return "";
  const date = new Date(value);
  return date.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}

export function formatSize(bytes) {
  if (bytes === null || bytes === undefined) return "";
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

export function formatRemaining(milliseconds) {
  const total = Math.max(0, Math.round(milliseconds / 1000));
  const minutes = Math.floor(total / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return `${minutes}:${seconds}`;
}

// The value for <input type=datetime-local> of a moment, in the browser's time zone.
export function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

/* Form errors ---------------------------------------------------------------
 * Each field's wrapper has data-field="name" and holds an .error-message slot.
 * The summary at the top links to each field; both are announced.
 */

export function clearErrors(form) {
  for (const message of $$(".error-message[data-for]", form)) message.remove();
  for (const input of $$("[aria-invalid=true]", form)) {
    input.removeAttribute("aria-invalid");
    const described = (input.getAttribute("aria-describedby") || "")
      .split(" ")
      .filter((id) => id && !id.endsWith("-error"));
    if (described.length) input.setAttribute("aria-describedby", described.join(" "));
    else input.removeAttribute("aria-describedby");
  }
  const summary = $(".error-summary", form.parentElement || document);
  if (summary) summary.remove();
}

// errors: [{field, message}]. Fields not on the form go in the summary only.
export function showErrors(form, errors, heading = "There is a problem") {
  clearErrors(form);
  const items = [];
  for (const { field, message } of errors) {
    const key = String(field || "").replace(/\[\d+\].*$/, "").replace(/\..*$/, "");
    const wrapper = key ? form.querySelector(`[data-field="${CSS.escape(key)}"]`) : null;
    let targetId = null;
    if (wrapper) {
      const input = wrapper.querySelector("[data-error-target]") || wrapper.querySelector("input, textarea, select, button");
      const errorId = `${key}-error`;
      let slot = document.getElementById(errorId);
      if (!slot) {
        slot = el("p", { class: "error-message", id: errorId, "data-for": key });
        const anchor = wrapper.querySelector("legend, label, .label");
        if (anchor && anchor.parentElement === wrapper) anchor.after(slot);
        else wrapper.prepend(slot);
      }
      slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
      if (input) {
        if (!input.id) input.id = `${key}-input`;
        targetId = input.id;
        input.setAttribute("aria-invalid", "true");
        const described = new Set((input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean));
        described.add(errorId);
        input.setAttribute("aria-describedby", [...described].join(" "));
      }
    }
    items.push(
      el("li", {}, targetId ? el("a", { href: `#${targetId}`, text: message }) : message),
    );
  }
  const summary = el(
    "div",
    { class: "error-summary", role: "alert", tabindex: "-1" },
    el("h2", { text: heading }),
    el("ul", {}, items),
  );
  form.before(summary);
  summary.focus();
  return summary;
}

// A whole-form message (not about one field), announced at once.
export function showProblem(form, error) {
  const errors = error.errors && error.errors.length ? error.errors : [{ field: "", message: error.message }];
  return showErrors(form, errors);
}

export function busy(button, isBusy) {
  button.disabled = isBusy;
  button.setAttribute("aria-busy", isBusy ? "true" : "false");
}

// Forms stay unusable until their page's module has wired them up: a form sent by the
// browser itself would reload the page and lose what was typed.
export function pageReady() {
  for (const button of $$("[data-until-ready]")) {
    button.disabled = false;
    button.removeAttribute("data-until-ready");
  }
  document.documentElement.dataset.ready = "true";
}
