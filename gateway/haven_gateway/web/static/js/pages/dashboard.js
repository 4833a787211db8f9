// Page 4: the dashboard: the incidents you have been alerted to, unread first.
import { api } from "../api.js";
import { start } from "../shell.js";
import { $, pageReady, announce, el, formatDateTime } from "../ui.js";

const me = await start({ page: "dashboard" });
$("#welcome").textContent = `Logged in as ${me.name} (${me.email}).`;
$("#soft-key-nudge").hidden = me.totp_enrolled;

const list = $("#alerts");
let alerts = [];
let cursor = null;

function unreadFirst(a, b) {
  const ua = a.read_at ? 1 : 0;
  const ub = b.read_at ? 1 : 0;
  if (ua !== ub) return ua - ub;
  return (b.created_at || "").localeCompare(a.created_at || "");
}

function render() {
  const sorted = [...alerts].sort(unreadFirst);
  const unread = alerts.filter((a) => !a.read_at).length;
  $("#unread-count").textContent = unread ? `${unread} unread` : "";
  $("#alerts-empty").hidden = alerts.length > 0;
  list.replaceChildren(
    ...sorted.map((alert) => {
      const categories = alert.categories.map((c) => c.name).join(", ");
      const who = alert.recorded_by ? alert.recorded_by.name : "someone";
      const markRead = alert.read_at
        ? el("span", { class: "meta", text: "Read" })
        : el("button", {
            type: "button",
            class: "secondary",
            text: "Mark as read",
            "aria-label": `Mark as read: ${alert.student.display_name}, ${formatDateTime(alert.occurred_at)}`,
            onclick: () => markAsRead(alert),
          });
      return el(
        "li",
        { class: alert.read_at ? "read" : "unread", "data-alert": alert.id },
        el(
          "div",
          {},
          el("a", { href: `/incidents/${encodeURIComponent(alert.incident_id)}`, text: alert.student.display_name }),
          alert.read_at ? "" : el("span", { class: "visually-hidden", text: " (unread)" }),
          el("div", { class: "meta", text: `${categories} · recorded by ${who} · ${formatDateTime(alert.occurred_at)}` }),
        ),
        markRead,
      );
    }),
  );
}

async function markAsRead(alert) {
  await api(`/alerts/${encodeURIComponent(alert.id)}/read`, { method: "POST" });
  alert.read_at = new Date().toISOString();
  render();
  announce(`Marked as read: ${alert.student.display_name}.`);
  $("#alerts-heading").focus?.();
}

async function load() {
  const page = await api("/alerts", { query: { limit: 50, cursor } });
  alerts = alerts.concat(page.items);
  cursor = page.next_cursor;
  $("#more-alerts").hidden = !cursor;
  render();
}

$("#more-alerts").addEventListener("click", load);
await load();
pageReady();
