// Page 6: elevate access with a code from the soft key; the time left stays visible.
import { api } from "../api.js";
import { showElevation, start, replaceSession } from "../shell.js";
import { $, pageReady, busy, clearErrors, formatRemaining, showErrors } from "../ui.js";

const me = await start({ page: "elevate" });
const form = $("#elevate-form");
let timer = null;

function showTimeLeft(until) {
  clearInterval(timer);
  const end = until ? new Date(until).getTime() : 0;
  const box = $("#elevated");
  const render = () => {
    const left = end - Date.now();
    box.hidden = left <= 0;
    $("#time-left").textContent = formatRemaining(left);
    if (left <= 0) clearInterval(timer);
  };
  render();
  if (end > Date.now()) timer = setInterval(render, 1000);
}

if (!me.totp_enrolled) {
  $("#not-enrolled").hidden = false;
  form.hidden = true;
}
showTimeLeft(me.elevated_until);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = $("#code").value.replace(/\s+/g, "");
  if (!code) {
    showErrors(form, [{ field: "code", message: "Enter the code your authenticator app shows." }]);
    return;
  }
  const button = form.querySelector("button[type=submit]");
  busy(button, true);
  try {
    const answer = await api("/auth/elevate", { method: "POST", body: { code }, allow401: true });
    replaceSession(answer);
    clearErrors(form);
    $("#code").value = "";
    showTimeLeft(answer.elevated_until);
    showElevation(answer.elevated_until);
    $("#elevated").focus?.();
  } catch (error) {
    const messages = {
      invalid_code: "That code is not right, has expired or has been used. Wait for the next code and try again.",
      too_many_attempts: "Too many attempts. Wait a little, then try again.",
      totp_not_enrolled: "You need to set up a soft key first.",
    };
    showErrors(form, [{ field: "code", message: messages[error.code] || error.message }]);
  } finally {
    busy(button, false);
  }
});
pageReady();
