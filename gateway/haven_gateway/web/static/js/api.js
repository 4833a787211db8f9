// Talking to /api/v1: JSON in and out, the session cookie plus X-CSRF-Token, problem+json errors.
//
// The session itself is an HttpOnly cookie the page cannot read. The CSRF token
// from login is kept in sessionStorage (this tab only, gone when it closes) so the
// next page can send it; it is the only thing the client stores, and names no pupil.

const BASE = "/api/v1";
const CSRF_KEY = "haven.csrf";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `Request failed (${status})`);
    this.status = status;
    this.code = problem.code || "error";
    this.problem = problem;
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
  }
}

export function rememberCsrf(token) {
  sessionStorage.setItem(CSRF_KEY, token);
}

export function forgetCsrf() {
  sessionStorage.removeItem(CSRF_KEY);
}

function headersFor(method, extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (UNSAFE.has(method)) {
    const csrf = sessionStorage.getItem(CSRF_KEY);
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  return headers;
}

async function problemFrom(response) {
  try {
    return await response.json();
  } catch {
    return { detail: `The server answered ${response.status}.`, code: "error" };
  }
}

// Where a page goes when the session has ended: the login page, then back here.
export function toLogin() {
  forgetCsrf();
  location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
}

// What to do when the session has gone. A signed-in page replaces this with its lock
// screen, so a form half filled in is not lost by going to the login page.
let sessionLost = () => toLogin();

export function onSessionLost(handler) {
  sessionLost = handler;
}

export async function api(path, { method = "GET", body, headers, query, signal, allow401 = false } = {}) {
  let url = BASE + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, value);
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  const init = { method, headers: headersFor(method, headers), credentials: "same-origin", signal };
  if (body !== undefined) {
    if (typeof body === "string") {
      init.body = body;
    } else {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (failure) {
    if (failure.name === "AbortError") throw failure;
    throw new ApiError(0, { code: "network", detail: "Haven cannot be reached. Check your connection and try again." });
  }
  if (response.status === 401 && !allow401) {
    const error = new ApiError(401, await problemFrom(response));
    sessionLost(error);
    throw error;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, await problemFrom(response));
    // A tab that lost its CSRF token must log in again to get one.
    if (error.code === "csrf_failed") sessionLost(error);
    throw error;
  }
  if (response.status === 204) return null;
  return response.json();
}

// A file upload with progress (fetch cannot report upload progress; XMLHttpRequest can).
export function upload(file, schoolId, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    const query = schoolId ? `?school_id=${encodeURIComponent(schoolId)}` : "";
    request.open("POST", `${BASE}/files${query}`);
    request.responseType = "json";
    const csrf = sessionStorage.getItem(CSRF_KEY);
    if (csrf) request.setRequestHeader("X-CSRF-Token", csrf);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      const payload = request.response || {};
      if (request.status === 201) {
        resolve(payload);
        return;
      }
      const error = new ApiError(request.status, payload);
      if (request.status === 401 || error.code === "csrf_failed") sessionLost(error);
      reject(error);
    });
    request.addEventListener("error", () =>
      reject(new ApiError(0, { code: "network", detail: "The upload was interrupted. Try again." })),
    );
    const form = new FormData();
    form.append("file", file, file.name);
    request.send(form);
  });
}
