// Page 2: ask for a password-reset link (also how a new member of staff registers).
import { api } from "../api.js";
import { $, pageReady, busy, clearErrors, showErrors } from "../ui.js";

const form = $("#reset-form");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const email = $("#email").value.trim();
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) {
    showErrors(form, [{ field: "email", message: email ? "Enter an email address like name@school.example." : "Enter your email address." }]);
    return;
  }
  const button = form.querySelector("button[type=submit]");
  busy(button, true);
  try {
    await api("/auth/password-reset", { method: "POST", body: { email }, allow401: true });
    clearErrors(form);
    form.hidden = true;
    const sent = $("#sent");
    sent.hidden = false;
    sent.focus();
  } catch (error) {
    busy(button, false);
    const message = error.code === "too_many_requests" ? "Too many requests from here. Wait a while, then try again." : error.message;
    showErrors(form, error.errors.length ? error.errors : [{ field: "email", message }]);
  }
});
pageReady();
