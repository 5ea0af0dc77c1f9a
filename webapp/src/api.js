// The REST client: same-origin cookies, the CSRF header on unsafe methods (api.md §2), errors in
// the user's language (Accept-Language), one ApiError shape for every failure.

let language = "en";
export const setApiLanguage = (lang) => { language = lang; };

export class ApiError extends Error {
  constructor(status, body, headers) {
    super((body && (body.error || body.detail)) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.code = this.body.code || null;
    this.fields = this.body.fields || {};
    this.retryAfter = Number(headers?.get("Retry-After")) || null;
  }
}

function cookie(name) {
  const found = document.cookie.split("; ").find((part) => part.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
let csrfReady = null;

async function ensureCsrf() {
  if (cookie("csrftoken")) return;
  csrfReady ??= fetch("/api/auth/csrf/", { credentials: "same-origin", headers: { "Accept-Language": language } }).finally(() => { csrfReady = null; });
  await csrfReady;
}

export async function api(method, path, body, { headers = {} } = {}) {
  const unsafe = !SAFE.has(method);
  if (unsafe) await ensureCsrf();
  const init = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", "Accept-Language": language, ...headers },
  };
  if (unsafe) init.headers["X-CSRFToken"] = cookie("csrftoken");
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, { code: "network" });
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) throw new ApiError(response.status, data, response.headers);
  return { data, headers: response.headers, status: response.status };
}

export const get = async (path) => (await api("GET", path)).data;
export const post = async (path, body = {}) => (await api("POST", path, body)).data;

// A file as the raw body (the admin media upload): its own Content-Type, the same CSRF and errors.
export async function upload(path, blob) {
  await ensureCsrf();
  let response;
  try {
    response = await fetch(path, {
      method: "POST", credentials: "same-origin", body: blob,
      headers: { Accept: "application/json", "Accept-Language": language, "Content-Type": blob.type, "X-CSRFToken": cookie("csrftoken") },
    });
  } catch {
    throw new ApiError(0, { code: "network" });
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data, response.headers);
  return data;
}
