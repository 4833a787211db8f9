// Page 1: log in with email and password.
import { api, ApiError, rememberCsrf } from "../api.js";
import { $, pageReady, busy, clearErrors, showErrors } from "../ui.js";

// Only a path on this site: never an address elsewhere ("//evil.example").
function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "";
  return /^\/(?![/\\])[\w\-/]*$/.test(next) && next !== "/login" ? next : "/dashboard";
}

const form = $("#login-form");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const email = $("#email").value.trim();
  const password = $("#password").value;
  const problems = [];
  if (!email) problems.push({ field: "email", message: "Enter your email address." });
  else if (!/^[^\s@]+@[^\s@]+$/.test(email)) problems.push({ field: "email", message: "Enter an email address like name@school.example." });
  if (!password) problems.push({ field: "password", message: "Enter your password." });
  if (problems.length) {
    showErrors(form, problems);
    return;
  }
  const button = form.querySelector("button[type=submit]");
  busy(button, true);
  try {
    const answer = await api("/auth/login", { method: "POST", body: { email, password }, allow401: true });
    rememberCsrf(answer.csrf_token);
    clearErrors(form);
    location.assign(nextPage());
  } catch (error) {
    busy(button, false);
    $("#password").value = "";
    if (error instanceof ApiError && error.code === "invalid_credentials") {
      showErrors(form, [{ field: "password", message: "The email address or password is not right." }]);
    } else if (error instanceof ApiError && error.code === "too_many_attempts") {
      showErrors(form, [{ field: "", message: "Too many attempts. Wait a little, then try again." }]);
    } else {
      showErrors(form, error.errors.length ? error.errors : [{ field: "", message: error.message }]);
    }
  }
});
pageReady();
