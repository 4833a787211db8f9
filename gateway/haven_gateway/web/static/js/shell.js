// What every signed-in page shares: the purple toolbar, elevation status, "Blank screen"
// and the idle lock. A page calls start() and gets the signed-in member of staff.

import { api, ApiError, forgetCsrf, onSessionLost, rememberCsrf, toLogin } from "./api.js";
import { $, announce, el, formatRemaining } from "./ui.js";

const ACTIVITY_EVENTS = ["keydown", "pointerdown", "pointermove", "wheel", "touchstart", "scroll"];

export function roles(me) {
  const schoolRoles = new Set(me.memberships.map((m) => m.role));
  const trustRoles = new Set((me.trust_roles || []).map((t) => t.role || t));
  return {
    dsl: schoolRoles.has("dsl") || trustRoles.has("trust_dsl"),
    admin: schoolRoles.has("admin") || trustRoles.has("trust_admin"),
  };
}

const SCHOOL_KEY = "haven.school";

// The school a page works in: the one chosen in the toolbar (members of several schools),
// else the first where the member has the role the page needs.
export function schoolOf(me, role) {
  const chosen = sessionStorage.getItem(SCHOOL_KEY);
  const mine = me.memberships.filter((m) => !role || m.role === role);
  return mine.find((m) => m.school_id === chosen) || mine[0] || me.memberships[0] || null;
}

function schoolChooser(me) {
  const schools = new Map(me.memberships.map((m) => [m.school_id, m.school_name]));
  if (schools.size < 2) return null;
  const current = schoolOf(me);
  const select = el(
    "select",
    { id: "school-choice" },
    [...schools].map(([id, name]) => el("option", { value: id, text: name, selected: current && id === current.school_id })),
  );
  select.addEventListener("change", () => {
    sessionStorage.setItem(SCHOOL_KEY, select.value);
    location.reload();
  });
  return el("div", { class: "school-choice" }, el("label", { for: "school-choice", text: "School" }), select);
}

let state = null;

const NEEDS = {
  admin: "This page is for your school's Haven administrators.",
  dsl: "This page is for your school's designated safeguarding leads (DSLs).",
};

// Anything that goes wrong while a page loads is said on the page, not only in the console.
function reportFailures() {
  const show = (reason) => {
    if (reason && reason.status === 401) return; // the lock screen or the login page deals with it
    const message = (reason && reason.message) || "Something went wrong.";
    const main = document.getElementById("main");
    if (!main || document.getElementById("page-error")) return;
    main.prepend(
      el("div", { class: "error-summary", id: "page-error", role: "alert" },
        el("p", { text: `${message} Reload the page to try again.` }),
      ),
    );
  };
  window.addEventListener("unhandledrejection", (event) => show(event.reason));
  window.addEventListener("error", (event) => show(event.error));
}

export async function start({ page, role } = {}) {
  reportFailures();
  const me = await api("/me");
  state = { me, elevationTimer: null, lastActivity: Date.now(), locked: false, blanked: false };
  renderToolbar(me, page);
  if (role && !roles(me)[role]) {
    const main = document.getElementById("main");
    main.replaceChildren(
      el("h1", { text: document.querySelector("h1")?.textContent || "Haven" }),
      el("p", { class: "notice", id: "not-for-you", text: NEEDS[role] }),
      el("p", {}, el("a", { href: "/dashboard", text: "Back to the dashboard" })),
    );
    watchIdle();
    await new Promise(() => {}); // the rest of the page is not for this member of staff
  }
  watchIdle();
  // The session ended under this page (timed out, or revoked): ask for the password here.
  onSessionLost(() => {
    if (!state.locked) lock({ ended: true });
  });
  return me;
}

export function currentUser() {
  return state && state.me;
}

function renderToolbar(me, page) {
  const header = document.getElementById("toolbar");
  const { dsl, admin } = roles(me);
  const link = (href, text, name) =>
    el("li", {}, el("a", { href, text, "aria-current": page === name ? "page" : null }));
  const links = [link("/dashboard", "Dashboard", "dashboard")];
  if (dsl) links.push(link("/chronology", "Chronology", "chronology"));
  if (admin) links.push(link("/admin", "Administration", "admin"));
  links.push(
    me.totp_enrolled ? link("/elevate", "Elevate access", "elevate") : link("/soft-key", "Set up soft key", "soft-key"),
  );
  // Not a live region: a countdown read out every second would drown everything else.
  const status = el("p", { class: "elevation-status", id: "elevation-status" });
  header.replaceChildren(
    ...[
    el("a", { class: "brand", href: "/dashboard", text: "Haven" }),
    el("a", { class: "button", href: "/incidents/new", text: "Add Incident", "aria-current": page === "incident-new" ? "page" : null }),
    el("nav", { "aria-label": "Main" }, el("ul", {}, links)),
    schoolChooser(me),
    status,
    el("button", { type: "button", class: "button quiet", id: "blank-screen", text: "Blank screen", onclick: blankScreen }),
    el("button", { type: "button", class: "button quiet", id: "log-out", text: "Log out", onclick: logOut }),
    ].filter(Boolean),
  );
  showElevation(me.elevated_until);
}

// Elevation: "Elevated, 12:34 left" until it runs out, then "Not elevated".
export function showElevation(until) {
  const status = document.getElementById("elevation-status");
  if (!status) return;
  if (state.elevationTimer) clearInterval(state.elevationTimer);
  const end = until ? new Date(until).getTime() : 0;
  const render = () => {
    const left = end - Date.now();
    if (left > 0) {
      status.textContent = `Elevated: ${formatRemaining(left)} left`;
      status.dataset.elevated = "true";
    } else {
      status.textContent = "Not elevated";
      status.dataset.elevated = "false";
      if (state.elevationTimer) clearInterval(state.elevationTimer);
      state.elevationTimer = null;
      document.dispatchEvent(new CustomEvent("haven:elevation-ended"));
    }
  };
  render();
  if (end > Date.now()) state.elevationTimer = setInterval(render, 1000);
}

async function logOut() {
  try {
    await api("/auth/logout", { method: "POST", allow401: true });
  } catch {
    // Already ended: logging out again changes nothing.
  }
  forgetCsrf();
  location.assign("/login");
}

/* Blank screen --------------------------------------------------------------
 * One click hides everything; the page underneath keeps all that was typed.
 */

function hideContent(hidden) {
  for (const region of document.querySelectorAll("body > :not(.cover):not(#announcer)")) {
    region.inert = hidden;
    region.setAttribute("aria-hidden", hidden ? "true" : "false");
  }
}

export function blankScreen() {
  if (state.blanked || state.locked) return;
  state.blanked = true;
  const back = el("button", {
    type: "button",
    class: "blank-return",
    id: "blank-return",
    text: "Screen hidden. Click or press Enter to show it again.",
  });
  const cover = el("div", { class: "cover", id: "blank-cover" }, back);
  back.addEventListener("click", () => {
    cover.remove();
    state.blanked = false;
    hideContent(false);
    $("#blank-screen").focus();
  });
  document.body.append(cover);
  hideContent(true);
  back.focus();
}

/* Idle lock ------------------------------------------------------------------
 * After the configured time without a key press, click or touch, the session is
 * ended on the server and the screen is covered until the password is typed again.
 */

async function idleMinutes() {
  try {
    const response = await fetch("/web-config.json", { credentials: "same-origin" });
    const config = await response.json();
    return Number(config.idle_lock_minutes) || 10;
  } catch {
    return 10;
  }
}

async function watchIdle() {
  const limit = (await idleMinutes()) * 60 * 1000;
  const touched = () => {
    if (!state.locked) state.lastActivity = Date.now();
  };
  for (const name of ACTIVITY_EVENTS) document.addEventListener(name, touched, { passive: true, capture: true });
  setInterval(() => {
    if (!state.locked && Date.now() - state.lastActivity >= limit) lock();
  }, 1000);
}

async function lock({ ended = false } = {}) {
  state.locked = true;
  const blank = document.getElementById("blank-cover");
  if (blank) blank.remove();
  state.blanked = false;
  if (!ended) {
    try {
      await api("/auth/logout", { method: "POST", allow401: true });
    } catch {
      // The session may have ended already; the lock stands either way.
    }
  }
  forgetCsrf();
  const password = el("input", { type: "password", id: "unlock-password", name: "password", autocomplete: "current-password", required: true });
  const error = el("p", { class: "error-message", id: "unlock-error", role: "alert" });
  const form = el(
    "form",
    { class: "lock-box", id: "unlock-form", novalidate: true },
    el("h2", { id: "lock-heading", text: "Haven is locked" }),
    el("p", {
      text: ended
        ? `Your session has ended. Type the password of ${state.me.email} to carry on; nothing on this page is lost.`
        : `You were away for a while. Type the password of ${state.me.email} to carry on.`,
    }),
    error,
    el("div", { class: "field" }, el("label", { for: "unlock-password", text: "Password" }), password),
    el(
      "div",
      { class: "actions" },
      el("button", { type: "submit", text: "Unlock" }),
      el("a", { href: "/login", text: "Log in as someone else" }),
    ),
  );
  const cover = el("div", { class: "cover", id: "lock-cover", role: "dialog", "aria-modal": "true", "aria-labelledby": "lock-heading" }, form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    password.removeAttribute("aria-invalid");
    if (!password.value) {
      error.textContent = "Enter your password.";
      password.setAttribute("aria-invalid", "true");
      password.focus();
      return;
    }
    try {
      const answer = await api("/auth/login", {
        method: "POST",
        body: { email: state.me.email, password: password.value },
        allow401: true,
      });
      rememberCsrf(answer.csrf_token);
      state.me = answer.user;
      state.locked = false;
      state.lastActivity = Date.now();
      cover.remove();
      hideContent(false);
      showElevation(answer.user.elevated_until);
      announce("Unlocked.");
    } catch (failure) {
      error.textContent =
        failure instanceof ApiError && failure.code === "invalid_credentials"
          ? "That password is not right."
          : failure.message;
      password.setAttribute("aria-invalid", "true");
      password.value = "";
      password.focus();
    }
  });
  document.body.append(cover);
  hideContent(true);
  password.focus();
}

export function requireLogin(error) {
  if (error instanceof ApiError && error.status === 401) toLogin();
}

export function replaceSession(answer) {
  rememberCsrf(answer.csrf_token);
}
