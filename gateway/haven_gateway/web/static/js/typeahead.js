// A pupil picker: the ARIA 1.2 combobox pattern with a list of suggestions.
// Type to search, arrow keys to move, Enter to pick, Escape to close; mouse and touch pick too.

import { api } from "./api.js";
import { el } from "./ui.js";

const DEBOUNCE_MS = 60;
const LIMIT = 8;

export function describeStudent(student) {
  return student.year_group ? `${student.display_name}, Year ${student.year_group}` : student.display_name;
}

export function studentPicker({ input, listbox, schoolId, onPick, exclude = () => new Set() }) {
  let options = [];
  let active = -1;
  let timer = null;
  let controller = null;

  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", listbox.id);
  input.setAttribute("autocomplete", "off");
  listbox.setAttribute("role", "listbox");
  listbox.setAttribute("aria-label", "Suggestions");
  listbox.hidden = true;
  const status = el("p", { class: "visually-hidden", role: "status", id: `${listbox.id}-status` });
  listbox.after(status);

  function close() {
    listbox.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function highlight(index) {
    active = index;
    [...listbox.children].forEach((option, i) => option.setAttribute("aria-selected", i === index ? "true" : "false"));
    if (index >= 0) {
      const option = listbox.children[index];
      input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function pick(index) {
    const student = options[index];
    if (!student) return;
    close();
    input.value = "";
    onPick(student);
  }

  function render(items, query) {
    const skip = exclude();
    options = items.filter((s) => !skip.has(s.id));
    listbox.replaceChildren(
      ...options.map((student, i) => {
        const option = el(
          "li",
          { role: "option", id: `${listbox.id}-${i}`, "aria-selected": "false" },
          student.display_name,
          student.year_group ? [", ", el("span", { class: "year", text: `Year ${student.year_group}` })] : "",
        );
        // pointerdown would move focus away from the input before the click lands.
        option.addEventListener("pointerdown", (event) => event.preventDefault());
        option.addEventListener("click", () => pick(i));
        return option;
      }),
    );
    const open = options.length > 0;
    listbox.hidden = !open;
    input.setAttribute("aria-expanded", open ? "true" : "false");
    status.textContent = open
      ? `${options.length} suggestion${options.length === 1 ? "" : "s"}. Use the arrow keys to choose.`
      : query
        ? "No pupil found with that name."
        : "";
    highlight(open ? 0 : -1);
  }

  async function search() {
    const query = input.value.trim();
    if (controller) controller.abort();
    if (!query) {
      render([], "");
      return;
    }
    controller = new AbortController();
    try {
      const page = await api("/students", { query: { q: query, school_id: schoolId, limit: LIMIT }, signal: controller.signal });
      if (input.value.trim() === query) render(page.items, query);
    } catch (error) {
      if (error.name !== "AbortError") status.textContent = error.message;
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, DEBOUNCE_MS);
  });
  input.addEventListener("keydown", (event) => {
    const open = !listbox.hidden && options.length > 0;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      if (open) highlight((active + 1) % options.length);
      else search();
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      if (open) highlight((active - 1 + options.length) % options.length);
    } else if (event.key === "Enter") {
      if (open && active >= 0) {
        event.preventDefault();
        pick(active);
      }
    } else if (event.key === "Escape") {
      if (open) {
        event.preventDefault();
        close();
      }
    }
  });
  // Close when focus has really gone elsewhere (not when it came straight back).
  input.addEventListener("blur", () =>
    setTimeout(() => {
      if (document.activeElement !== input) close();
    }, 150),
  );
  // Someone quick may have typed before the page finished loading.
  if (input.value.trim() && document.activeElement === input) search();
  return { close };
}
