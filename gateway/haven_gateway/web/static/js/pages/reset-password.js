// Page 3: choose a password from the email's link, with a live strength meter.
import { api } from "../api.js";
import { $, pageReady, busy, clear, el, showErrors } from "../ui.js";

const DEBOUNCE_MS = 250;
const ACCEPTABLE = new Set(["strong", "very strong"]);

// The token stays in memory; the address bar (and history) lose it at once.
const token = new URLSearchParams(location.search).get("token") || "";
history.replaceState(null, "", "/reset-password");

const form = $("#password-form");
const input = $("#password");
const button = $("#set-password");
let timer = null;
let asked = 0;

if (!token) {
  $("#no-token").hidden = false;
  form.hidden = true;
}

$("#show-password").addEventListener("change", (event) => {
  input.type = event.target.checked ? "text" : "password";
});

function render(strength) {
  $("#meter").dataset.score = strength ? String(strength.score) : "";
  $("#strength-label").textContent = strength ? strength.label : "not yet rated";
  const warning = $("#strength-warning");
  warning.textContent = strength ? strength.warning : "";
  warning.hidden = !(strength && strength.warning);
  const suggestions = clear($("#strength-suggestions"));
  for (const text of strength ? strength.suggestions : []) suggestions.append(el("li", { text }));
  button.disabled = !(strength && strength.acceptable && ACCEPTABLE.has(strength.label));
}

async function rate() {
  const password = input.value;
  const mine = ++asked;
  if (!password) {
    render(null);
    return;
  }
  try {
    const strength = await api("/auth/password-strength", { method: "POST", body: { password, token }, allow401: true });
    if (mine === asked) render(strength);
  } catch (error) {
    if (mine === asked) {
      render(null);
      if (error.errors.length) $("#strength-label").textContent = error.errors[0].message;
    }
  }
}

input.addEventListener("input", () => {
  button.disabled = true;
  clearTimeout(timer);
  timer = setTimeout(rate, DEBOUNCE_MS);
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (button.disabled) return;
  busy(button, true);
  try {
    await api("/auth/password-reset/confirm", { method: "POST", body: { token, password: input.value }, allow401: true });
    form.hidden = true;
    const done = $("#done");
    done.hidden = false;
    done.focus();
  } catch (error) {
    busy(button, false);
    if (error.code === "weak_password") {
      render(error.problem.strength || null);
      showErrors(form, [{ field: "password", message: "This password is not strong enough yet." }]);
    } else if (error.code === "invalid_token") {
      showErrors(form, [{ field: "", message: "This link has expired or has been used. Ask for a new one from the log-in page." }]);
    } else {
      showErrors(form, error.errors.length ? error.errors : [{ field: "", message: error.message }]);
    }
  }
});
pageReady();
