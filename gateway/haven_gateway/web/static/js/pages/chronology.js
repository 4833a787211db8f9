// Page 9: a pupil's chronology, for DSLs with elevated access; filter by category and date.
import { api } from "../api.js";
import { schoolOf, start } from "../shell.js";
import { describeStudent, studentPicker } from "../typeahead.js";
import { $, pageReady, el, formatDateTime } from "../ui.js";

const me = await start({ page: "chronology", role: "dsl" });
const school = schoolOf(me, "dsl") || schoolOf(me);
const schoolId = school ? school.school_id : undefined;

let pupil = null;
let incidents = [];
let cursor = null;

const elevated = () => me.elevated_until && new Date(me.elevated_until).getTime() > Date.now();
$("#need-elevation").hidden = Boolean(elevated());

const categories = await api("/categories", { query: { school_id: schoolId } });
$("#filter-category").append(...categories.items.map((c) => el("option", { value: c.id, text: c.name })));

function matches(incident) {
  const category = $("#filter-category").value;
  const from = $("#filter-from").value;
  const to = $("#filter-to").value;
  if (category && !incident.categories.some((c) => c.id === category)) return false;
  const day = incident.occurred_at ? new Date(incident.occurred_at) : null;
  if (from && day && day < new Date(`${from}T00:00:00`)) return false;
  if (to && day && day > new Date(`${to}T23:59:59.999`)) return false;
  return true;
}

function render() {
  const shown = incidents.filter(matches);
  $("#count").textContent = `Showing ${shown.length} of ${incidents.length} incident${incidents.length === 1 ? "" : "s"}${cursor ? " loaded so far" : ""}.`;
  $("#incidents").replaceChildren(
    ...shown.map((incident) => {
      const role = incident.student.id === pupil.id ? "Student" : "Linked student";
      const text = incident.description.length > 300 ? `${incident.description.slice(0, 300)}…` : incident.description;
      return el(
        "li",
        {},
        el("h3", {}, el("a", { href: `/incidents/${encodeURIComponent(incident.id)}`, text: formatDateTime(incident.occurred_at) })),
        el("p", { class: "meta", text: `${incident.categories.map((c) => c.name).join(", ")} · ${role} · recorded by ${incident.recorded_by ? incident.recorded_by.name : "unknown"}` }),
        el("p", { class: "description", text }),
      );
    }),
  );
  $("#more").hidden = !cursor;
}

async function load() {
  try {
    const page = await api(`/students/${encodeURIComponent(pupil.id)}/incidents`, { query: { limit: 50, cursor } });
    incidents = incidents.concat(page.items);
    cursor = page.next_cursor;
    $("#need-elevation").hidden = true;
    $("#results").hidden = false;
    render();
  } catch (error) {
    if (error.code === "elevation_required") {
      $("#results").hidden = true;
      $("#need-elevation").hidden = false;
      $("#need-elevation").focus?.();
    } else {
      $("#count").textContent = error.message;
      $("#results").hidden = false;
    }
  }
}

studentPicker({
  input: $("#student"),
  listbox: $("#student-options"),
  schoolId,
  onPick: async (picked) => {
    pupil = picked;
    incidents = [];
    cursor = null;
    $("#results-heading").textContent = `Chronology of ${describeStudent(picked)}`;
    await load();
    if (!$("#results").hidden) $("#results-heading").focus();
  },
});
for (const id of ["#filter-category", "#filter-from", "#filter-to"]) $(id).addEventListener("change", () => pupil && render());
$("#more").addEventListener("click", load);
$("#filters").addEventListener("submit", (event) => event.preventDefault());
$("#chronology-form").addEventListener("submit", (event) => event.preventDefault());

// When elevation runs out, what was shown goes too.
document.addEventListener("haven:elevation-ended", () => {
  if (!pupil) return;
  incidents = [];
  $("#incidents").replaceChildren();
  $("#results").hidden = true;
  $("#need-elevation").hidden = false;
});
pageReady();
