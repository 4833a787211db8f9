// Page 8: one incident: every field, the body map, files, addenda (and who viewed it, for DSLs).
import { api } from "../api.js";
import { readOnlyBodyMap } from "../bodymap.js";
import { roles, start } from "../shell.js";
import { $, pageReady, announce, busy, clearErrors, el, formatDateTime, formatSize, showErrors } from "../ui.js";

const me = await start({ page: "incident" });
const incidentId = decodeURIComponent(location.pathname.split("/").pop());
const path = `/incidents/${encodeURIComponent(incidentId)}`;
const names = (items, key = "name") => (items.length ? items.map((i) => i[key]).join(", ") : "None");

function renderAddenda(addenda) {
  $("#addenda").replaceChildren(
    ...addenda.map((a) =>
      el("li", {}, el("p", { class: "description", text: a.text }), el("p", { class: "meta", text: `${a.author ? a.author.name : "Unknown"}, ${formatDateTime(a.created_at)}` })),
    ),
  );
  if (!addenda.length) $("#addenda").append(el("li", { class: "meta", text: "No addenda yet." }));
}

const ACTIONS = { viewed: "Viewed", chronology_viewed: "Viewed in a chronology", file_downloaded: "Downloaded a file" };

async function showViews() {
  try {
    const views = await api(`${path}/views`, { query: { limit: 100 } });
    $("#views").replaceChildren(
      ...views.items.map((v) =>
        el("tr", {}, el("td", { text: v.user ? v.user.name : "Unknown" }), el("td", { text: ACTIONS[v.action] || v.action }), el("td", { text: formatDateTime(v.at) })),
      ),
    );
    $("#views-section").hidden = false;
  } catch {
    // Only DSLs may read who viewed an incident; for anyone else the section stays hidden.
  }
}

try {
  const incident = await api(path);
  $("#title").textContent = `Incident about ${incident.student.display_name}`;
  document.title = "Incident – Haven";
  $("#student").textContent = incident.student.display_name;
  $("#occurred-at").textContent = formatDateTime(incident.occurred_at);
  $("#recorded").textContent = `${formatDateTime(incident.recorded_at)} by ${incident.recorded_by ? incident.recorded_by.name : "unknown"}`;
  $("#categories").textContent = names(incident.categories);
  $("#linked").textContent = names(incident.linked_students, "display_name");
  $("#alerted").textContent = names(incident.alerted_staff);
  $("#agencies").textContent = names(incident.agencies);
  $("#description").textContent = incident.description;
  if (incident.body_map.length) readOnlyBodyMap($("#body-map"), incident.body_map);
  else $("#body-map").replaceChildren(el("p", { text: "No marks." }));
  $("#files").replaceChildren(
    ...incident.files.map((f) =>
      el(
        "li",
        {},
        el("a", { href: `/api/v1/files/${encodeURIComponent(f.id)}/content`, download: f.filename || "", text: f.filename || "File" }),
        f.size !== null ? ` (${formatSize(f.size)})` : "",
      ),
    ),
  );
  if (!incident.files.length) $("#files").append(el("li", { text: "No files." }));
  renderAddenda(incident.addenda || []);
  const { dsl } = roles(me);
  const author = incident.recorded_by && incident.recorded_by.id === me.id;
  $("#addendum-form").hidden = !(dsl || author);
  $("#incident").hidden = false;
  if (dsl) showViews();

  const form = $("#addendum-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("#addendum").value;
    if (!text.trim()) {
      showErrors(form, [{ field: "text", message: "Write the addendum first." }]);
      return;
    }
    const button = form.querySelector("button[type=submit]");
    busy(button, true);
    try {
      const added = await api(`${path}/addenda`, { method: "POST", body: { text } });
      clearErrors(form);
      incident.addenda = [...(incident.addenda || []), added];
      renderAddenda(incident.addenda);
      $("#addendum").value = "";
      announce("Addendum added.");
    } catch (error) {
      showErrors(form, error.errors.length ? error.errors : [{ field: "text", message: error.message }]);
    } finally {
      busy(button, false);
    }
  });
} catch (error) {
  const box = $("#load-error");
  box.textContent = error.status === 404 ? "There is no incident here, or you may not see it." : error.message;
  box.hidden = false;
}
pageReady();
