// Page 7: Add Incident. The fields in the order staff meet them; checks that mirror the
// server's before sending; the server's own errors beside their fields; nothing typed is lost.

import { api } from "../api.js";
import { editableBodyMap } from "../bodymap.js";
import { ACCEPT, fileBox } from "../files.js";
import { schoolOf, start } from "../shell.js";
import { describeStudent, studentPicker } from "../typeahead.js";
import { $, pageReady, $$, busy, clearErrors, el, localInputValue, showErrors } from "../ui.js";

const MAX_DESCRIPTION = 20000;
const MAX_NOTE = 1000;
const CLOCK_SKEW_MS = 2 * 60 * 1000;

const me = await start({ page: "incident-new" });
const school = schoolOf(me);
const schoolId = school ? school.school_id : undefined;
const form = $("#incident-form");

// One key per incident being written: sending again after a lost answer cannot record it twice.
const idempotencyKey = crypto.randomUUID();

let student = null;
const linked = new Map();

function checkboxes(container, items, name) {
  container.replaceChildren(
    ...items.map((item) =>
      el(
        "li",
        {},
        el(
          "label",
          {},
          el("input", { type: "checkbox", name, value: item.id, id: `${name}-${item.id}` }),
          item.label || item.name,
        ),
      ),
    ),
  );
}

const [categories, agencies, staff] = await Promise.all([
  api("/categories", { query: { school_id: schoolId } }),
  api("/agencies", { query: { school_id: schoolId } }),
  api("/staff", { query: { school_id: schoolId, limit: 100 } }),
]);
checkboxes($("#categories"), categories.items, "category");
checkboxes($("#agencies"), agencies.items, "agency");
const dsls = staff.items.filter((s) => s.role === "dsl");
if (dsls.length) {
  $("#dsl-note").textContent =
    `The school's designated safeguarding leads (DSLs) are always alerted: ${dsls.map((s) => s.name).join(", ")}.`;
}

// Staff to alert: those ticked stay listed while the list is narrowed by a search.
const alerted = new Map();
const seen = new Map();
function showStaff(items) {
  const choosable = items.filter((s) => s.role !== "dsl" && s.id !== me.id);
  for (const member of choosable) seen.set(member.id, member);
  const shown = new Map([...alerted, ...choosable.map((s) => [s.id, s])]);
  checkboxes($("#staff"), [...shown.values()].map((s) => ({ id: s.id, label: `${s.name} (${s.email})` })), "staff");
  for (const box of $$("input[name=staff]", form)) box.checked = alerted.has(box.value);
  if (!shown.size) $("#staff").append(el("li", { text: "No other member of staff found." }));
}
$("#staff").addEventListener("change", (event) => {
  const box = event.target;
  if (box.name !== "staff") return;
  if (box.checked) alerted.set(box.value, seen.get(box.value));
  else alerted.delete(box.value);
});
let staffTimer = null;
$("#staff-filter").addEventListener("input", () => {
  clearTimeout(staffTimer);
  staffTimer = setTimeout(async () => {
    const found = await api("/staff", { query: { school_id: schoolId, q: $("#staff-filter").value.trim(), limit: 100 } });
    showStaff(found.items);
  }, 150);
});
// Enter in the search box narrows the list; it must not send the incident.
$("#staff-filter").addEventListener("keydown", (event) => {
  if (event.key === "Enter") event.preventDefault();
});
showStaff(staff.items);

// Student ----------------------------------------------------------------------
function showStudent() {
  $("#student-chosen").textContent = student ? `Chosen: ${describeStudent(student)}` : "";
  $("#student").hidden = Boolean(student);
  $("#student-clear").hidden = !student;
}
studentPicker({
  input: $("#student"),
  listbox: $("#student-options"),
  schoolId,
  exclude: () => new Set(linked.keys()),
  onPick: (picked) => {
    student = picked;
    showStudent();
    $("#student-clear").focus();
  },
});
$("#student-clear").addEventListener("click", () => {
  student = null;
  showStudent();
  $("#student").focus();
});

// Linked students ----------------------------------------------------------------
function showLinked() {
  $("#linked-chips").replaceChildren(
    ...[...linked.values()].map((s) =>
      el(
        "li",
        {},
        describeStudent(s),
        el("button", {
          type: "button",
          class: "secondary",
          text: "×",
          "aria-label": `Remove ${describeStudent(s)}`,
          onclick: () => {
            linked.delete(s.id);
            showLinked();
            $("#linked").focus();
          },
        }),
      ),
    ),
  );
}
studentPicker({
  input: $("#linked"),
  listbox: $("#linked-options"),
  schoolId,
  exclude: () => new Set([...linked.keys(), ...(student ? [student.id] : [])]),
  onPick: (picked) => {
    linked.set(picked.id, picked);
    showLinked();
    $("#linked").focus();
  },
});

// Body map, date and files --------------------------------------------------------
const bodyMap = editableBodyMap($("#body-map"));
$("#occurred-at").value = localInputValue(new Date());
$("#occurred-at").max = localInputValue(new Date(Date.now() + CLOCK_SKEW_MS));
$("#files-input").accept = ACCEPT;
const files = fileBox({ zone: $("#drop-zone"), input: $("#files-input"), list: $("#file-list"), schoolId });

// Leaving with a half-written incident asks first.
let dirty = false;
let sent = false;
form.addEventListener("input", () => {
  dirty = true;
});
window.addEventListener("beforeunload", (event) => {
  if (dirty && !sent) event.preventDefault();
});

// Submit ---------------------------------------------------------------------------
const checked = (name) => $$(`input[name=${name}]:checked`, form).map((input) => input.value);

function clientErrors(body, occurred) {
  const errors = [];
  if (!body.student_id) errors.push({ field: "student_id", message: "Choose the student from the suggestions." });
  if (!body.description.trim()) errors.push({ field: "description", message: "Describe the incident." });
  else if (body.description.length > MAX_DESCRIPTION) {
    errors.push({ field: "description", message: `Keep the description to ${MAX_DESCRIPTION.toLocaleString("en-GB")} characters.` });
  }
  if (!body.category_ids.length) errors.push({ field: "category_ids", message: "Choose at least one category." });
  if (body.linked_student_ids.includes(body.student_id)) {
    errors.push({ field: "linked_student_ids", message: "The student cannot also be a linked student." });
  }
  body.body_map.forEach((mark, index) => {
    if (mark.note.length > MAX_NOTE) errors.push({ field: "body_map", message: `Keep the note of mark ${index + 1} to ${MAX_NOTE} characters.` });
  });
  if (occurred === "invalid") errors.push({ field: "occurred_at", message: "Enter the date and time it happened." });
  else if (occurred && occurred.getTime() > Date.now() + CLOCK_SKEW_MS) {
    errors.push({ field: "occurred_at", message: "The date and time cannot be in the future." });
  }
  if (files.uploading()) errors.push({ field: "file_ids", message: "Wait for the files to finish uploading." });
  else if (files.refused()) errors.push({ field: "file_ids", message: "Remove the files that were refused, or they will not be attached." });
  return errors;
}

// Server field paths ("body_map[0].note") onto the form's fields, in words a person can act on.
function serverErrors(error) {
  if (error.status === 422 && error.errors.length) {
    return error.errors.map(({ field, message }) => ({ field, message: `${labelOf(field)}: ${message}` }));
  }
  if (error.status === 404) {
    return [{ field: "", message: "Something chosen here is no longer available (a pupil, category, agency or file). Check the choices and try again." }];
  }
  return [{ field: "", message: error.message }];
}

function labelOf(field) {
  const key = String(field).replace(/\[\d+\].*$/, "").replace(/\..*$/, "");
  const wrapper = key && form.querySelector(`[data-field="${CSS.escape(key)}"]`);
  const label = wrapper && wrapper.querySelector("label, legend, .label, summary");
  return label ? label.textContent.replace(/\s*\(.*\)\s*$/, "") : "This incident";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const raw = $("#occurred-at").value;
  const occurred = raw ? new Date(raw) : null;
  const occurredValue = occurred && !Number.isNaN(occurred.getTime()) ? occurred : raw ? "invalid" : null;
  const body = {
    school_id: schoolId,
    student_id: student ? student.id : "",
    description: $("#description").value,
    category_ids: checked("category"),
    linked_student_ids: [...linked.keys()],
    body_map: bodyMap.marks(),
    alert_staff_ids: [...alerted.keys()],
    file_ids: files.fileIds(),
    agency_ids: checked("agency"),
  };
  if (occurredValue instanceof Date) body.occurred_at = occurredValue.toISOString();
  const problems = clientErrors(body, occurredValue);
  if (problems.some((p) => p.field === "body_map")) $("#body-map-details").open = true;
  if (problems.length) {
    showErrors(form, problems);
    return;
  }
  const button = $("#add-incident");
  busy(button, true);
  try {
    const incident = await api("/incidents", { method: "POST", body, headers: { "Idempotency-Key": idempotencyKey } });
    clearErrors(form);
    sent = true;
    location.assign(`/incidents/${encodeURIComponent(incident.id)}`);
  } catch (error) {
    busy(button, false);
    if (error.status === 401 || error.code === "csrf_failed") return; // the lock screen asks for the password
    if (error.errors.some((e) => String(e.field).startsWith("body_map"))) $("#body-map-details").open = true;
    showErrors(form, serverErrors(error));
  }
});
pageReady();
