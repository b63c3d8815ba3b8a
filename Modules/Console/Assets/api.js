// The one way the console talks to the platform: the public REST API with the user's bearer token.
// The token lives in sessionStorage only (gone when the tab closes; never in a URL or a cookie).

const TOKEN_KEY = 'iot.token';

/** An API answer that was not 2xx: the DESIGN §4 envelope {code, detail, fields}. */
export class ApiError extends Error {
  constructor(status, body) {
    const detail = (body && body.detail) || `HTTP ${status}`;
    super(detail);
    this.status = status;
    this.code = (body && body.code) || 'HTTP_' + status;
    this.detail = detail;
    this.fields = (body && body.fields) || null;
  }
  /** The detail, with every field problem ("port: must be 1..65535"). */
  describe() {
    const fields = this.fields ? Object.entries(this.fields).map(([k, v]) => `${k}: ${v}`) : [];
    return [this.detail, ...fields].join(' · ');
  }
}

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  set token(value) { value ? sessionStorage.setItem(TOKEN_KEY, value) : sessionStorage.removeItem(TOKEN_KEY); },
  /** Whether the token was minted by this sign-in (password login), so signing out revokes it; a pasted token is kept. */
  get minted() { return sessionStorage.getItem(TOKEN_KEY + '.minted') === '1'; },
  set minted(value) { value ? sessionStorage.setItem(TOKEN_KEY + '.minted', '1') : sessionStorage.removeItem(TOKEN_KEY + '.minted'); },
  me: null,
};

let onUnauthorized = () => {};
/** What to do when the token stops working (401): the app goes back to the login page. */
export function setUnauthorizedHandler(handler) { onUnauthorized = handler; }

/** Calls `method path` under /api/v2 (or an absolute same-origin path); resolves the parsed JSON (null for 204). */
export async function api(method, path, body, { auth = true, token = null } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  else if (auth && session.token) headers.Authorization = 'Bearer ' + session.token;
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const url = path.startsWith('/') || path.startsWith('http') ? path : '/api/v2/' + path;
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new ApiError(0, { code: 'NETWORK', detail: String(error.message || error) });
  }
  const text = await response.text();
  let json = null;
  if (text) { try { json = JSON.parse(text); } catch { json = null; } }
  if (!response.ok) {
    const error = new ApiError(response.status, json);
    if (response.status === 401 && auth && !token) onUnauthorized(error);
    throw error;
  }
  return json;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body === undefined ? {} : body);
export const patch = (path, body) => api('PATCH', path, body);
export const put = (path, body) => api('PUT', path, body);
export const del = (path) => api('DELETE', path);

/** Every item of a paginated list, following `next` (bounded by `max`). */
export async function all(path, max = 1000) {
  const sep = path.includes('?') ? '&' : '?';
  let page = await get(path + sep + 'page_size=100');
  const items = [...page.results];
  while (page.next && items.length < max) {
    const next = new URL(page.next, location.origin);
    page = await get(next.pathname + next.search);
    items.push(...page.results);
  }
  return items;
}

/** A path segment, percent-encoded. */
export const seg = (value) => encodeURIComponent(String(value));
