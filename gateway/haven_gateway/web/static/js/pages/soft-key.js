// Page 5: set up the soft key: QR code and secret, confirm with a code, recovery codes once.
import { api } from "../api.js";
import { start } from "../shell.js";
import { $, pageReady, busy, clearErrors, el, showErrors } from "../ui.js";

const me = await start({ page: "soft-key" });
const passwordForm = $("#password-form");
const confirmForm = $("#confirm-form");

if (me.totp_enrolled) {
  $("#already").hidden = false;
  passwordForm.hidden = true;
}

passwordForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const password = $("#password").value;
  if (!password) {
    showErrors(passwordForm, [{ field: "password", message: "Enter your password." }]);
    return;
  }
  const button = passwordForm.querySelector("button[type=submit]");
  busy(button, true);
  try {
    const setup = await api("/auth/totp/setup", { method: "POST", body: { password }, allow401: true });
    clearErrors(passwordForm);
    passwordForm.hidden = true;
    // Shown as an image: an SVG in <img> cannot run anything.
    $("#qr").src = `data:image/svg+xml;base64,${btoa(unescape(encodeURIComponent(setup.qr_svg)))}`;
    $("#secret").textContent = setup.secret.replace(/(.{4})/g, "$1 ").trim();
    $("#secret").dataset.secret = setup.secret;
    $("#scan").hidden = false;
    $("#scan-heading").focus();
  } catch (error) {
    busy(button, false);
    const messages = {
      invalid_credentials: "That password is not right.",
      totp_already_enrolled: "You already have a soft key.",
    };
    showErrors(passwordForm, [{ field: "password", message: messages[error.code] || error.message }]);
  }
});

confirmForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = $("#code").value.replace(/\s+/g, "");
  if (!/^\d{6}$/.test(code)) {
    showErrors(confirmForm, [{ field: "code", message: "Enter the 6-digit code your app shows." }]);
    return;
  }
  const button = confirmForm.querySelector("button[type=submit]");
  busy(button, true);
  try {
    const answer = await api("/auth/totp/confirm", { method: "POST", body: { code }, allow401: true });
    clearErrors(confirmForm);
    $("#scan").hidden = true;
    showRecoveryCodes(answer.recovery_codes);
  } catch (error) {
    busy(button, false);
    const message = error.code === "invalid_code" ? "That code is not right. Check the app and type the code it shows now." : error.message;
    showErrors(confirmForm, [{ field: "code", message }]);
  }
});

function showRecoveryCodes(codes) {
  $("#recovery-codes").replaceChildren(...codes.map((code) => el("li", { text: code })));
  const text = `Haven recovery codes for ${me.email}\nEach works once.\n\n${codes.join("\n")}\n`;
  $("#download-codes").href = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
  $("#print-codes").addEventListener("click", () => window.print());
  $("#recovery").hidden = false;
  $("#recovery-heading").focus();
}
pageReady();
