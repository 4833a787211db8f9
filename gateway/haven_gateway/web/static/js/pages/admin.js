// Page 10: administration: CSV imports with per-row errors, categories and agencies,
// unlocking accounts and resetting soft keys.
import { api } from "../api.js";
import { schoolOf, start } from "../shell.js";
import { $, pageReady, announce, busy, clearErrors, el, showErrors } from "../ui.js";

const me = await start({ page: "admin", role: "admin" });
const school = schoolOf(me, "admin") || schoolOf(me);
const schoolId = school ? school.school_id : "";
const schoolPath = `/admin/schools/${encodeURIComponent(schoolId)}`;
$("#school-name").textContent = school ? `School: ${school.school_name}` : "You belong to no school.";

// Imports ------------------------------------------------------------------------
const importForm = $("#import-form");
importForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const kind = importForm.querySelector("input[name=kind]:checked").value;
  const file = $("#import-file").files[0];
  if (!file) {
    showErrors(importForm, [{ field: "file", message: "Choose a CSV file to import." }]);
    return;
  }
  if (!/\.csv$/i.test(file.name) && file.type !== "text/csv") {
    showErrors(importForm, [{ field: "file", message: "Choose a .csv file." }]);
    return;
  }
  clearErrors(importForm);
  const button = $("#import-button");
  busy(button, true);
  $("#import-progress").hidden = false;
  const result = $("#import-result");
  result.replaceChildren();
  try {
    const text = await file.text();
    const answer = await api(`${schoolPath}/${kind}`, { method: "POST", body: text, headers: { "Content-Type": "text/csv" } });
    const what = kind === "staff" ? "members of staff" : "pupils";
    result.append(
      el("p", { class: answer.errors.length ? "notice" : "success", text: `Imported ${what}: ${answer.created} added, ${answer.updated} updated, ${answer.errors.length} row${answer.errors.length === 1 ? "" : "s"} with errors.` }),
    );
    if (answer.errors.length) {
      result.append(
        el("div", { class: "table-scroll" },
          el("table", { id: "import-errors" },
            el("caption", { text: "Rows not imported" }),
            el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Line" }), el("th", { scope: "col", text: "Field" }), el("th", { scope: "col", text: "Problem" }))),
            el("tbody", {}, answer.errors.map((e) => el("tr", {}, el("td", { text: String(e.line) }), el("td", { text: e.field }), el("td", { text: e.message })))),
          ),
        ),
      );
    }
    result.focus();
    if (kind === "staff") findStaff();
  } catch (error) {
    showErrors(importForm, error.errors.length ? error.errors.map((e) => ({ field: "file", message: `${e.field}: ${e.message}` })) : [{ field: "file", message: error.message }]);
  } finally {
    $("#import-progress").hidden = true;
    busy(button, false);
  }
});

// Categories and agencies ------------------------------------------------------------
function namedList({ listId, formId, inputId, path, what }) {
  const list = $(listId);
  const form = $(formId);
  async function load() {
    const answer = await api(path, { query: { school_id: schoolId } });
    list.replaceChildren(
      ...answer.items.map((item) =>
        el(
          "li",
          {},
          `${item.name} `,
          el("button", {
            type: "button",
            class: "link-button",
            text: "Retire",
            "aria-label": `Retire ${what} ${item.name}`,
            onclick: async () => {
              try {
                await api(`${schoolPath}${path}/${encodeURIComponent(item.id)}`, { method: "DELETE" });
                announce(`Retired ${item.name}.`);
                await load();
                $(inputId).focus();
              } catch (error) {
                announce(error.message);
              }
            },
          }),
        ),
      ),
    );
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $(inputId).value.trim();
    if (!name) {
      showErrors(form, [{ field: "name", message: `Enter the ${what}'s name.` }]);
      return;
    }
    try {
      await api(`${schoolPath}${path}`, { method: "POST", body: { name } });
      clearErrors(form);
      $(inputId).value = "";
      await load();
      announce(`Added ${name}.`);
    } catch (error) {
      showErrors(form, error.errors.length ? error.errors : [{ field: "name", message: error.message }]);
    }
  });
  return load();
}

// Staff accounts ----------------------------------------------------------------------
async function accountAction(member, action) {
  const message = $("#account-message");
  try {
    if (action === "unlock") {
      await api(`/admin/users/${encodeURIComponent(member.id)}/unlock`, { method: "POST" });
      message.textContent = `${member.name}'s account is unlocked: they can log in again.`;
    } else {
      if (!window.confirm(`Reset ${member.name}'s soft key? They will be emailed and must set up a new one.`)) return;
      await api(`/admin/users/${encodeURIComponent(member.id)}/totp/reset`, { method: "POST" });
      message.textContent = `${member.name}'s soft key is reset: they have been emailed.`;
    }
  } catch (error) {
    message.textContent = error.message;
  }
}

async function findStaff() {
  const answer = await api("/staff", { query: { school_id: schoolId, q: $("#staff-q").value.trim(), limit: 100 } });
  $("#staff-rows").replaceChildren(
    ...answer.items.map((member) =>
      el(
        "tr",
        { "data-email": member.email },
        el("td", { text: member.name }),
        el("td", { text: member.email }),
        el("td", { text: member.role }),
        el(
          "td",
          {},
          el("div", { class: "actions" },
            el("button", { type: "button", class: "secondary", text: "Unlock", "aria-label": `Unlock ${member.name}`, onclick: () => accountAction(member, "unlock") }),
            el("button", { type: "button", class: "secondary", text: "Reset soft key", "aria-label": `Reset soft key of ${member.name}`, onclick: () => accountAction(member, "reset") }),
          ),
        ),
      ),
    ),
  );
}
$("#staff-search").addEventListener("submit", (event) => {
  event.preventDefault();
  findStaff();
});

await Promise.all([
  namedList({ listId: "#category-list", formId: "#category-form", inputId: "#category-name", path: "/categories", what: "category" }),
  namedList({ listId: "#agency-list", formId: "#agency-form", inputId: "#agency-name", path: "/agencies", what: "agency" }),
  findStaff(),
]);
pageReady();
