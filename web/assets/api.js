// The API client: the login token lives in sessionStorage (one tab's
// session) and travels only in the Authorization header.
const KEY = "convo.token";

export const token = {
  get: () => sessionStorage.getItem(KEY) || "",
  set: (v) => sessionStorage.setItem(KEY, v),
  clear: () => sessionStorage.removeItem(KEY),
};

export class APIError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.reason = e.reason || "";
  }
  // missingRoute is an API this server does not have yet.
  get missingRoute() {
    return this.status === 404 && this.reason === "ROUTE_NOT_FOUND";
  }
}

// onUnauthorized is called on any 401 of a request made with a token: it
// was revoked or it expired.
let unauthorized = () => {};
export const onUnauthorized = (fn) => (unauthorized = fn);

export async function request(method, path, body, params) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (Array.isArray(v)) v.forEach((x) => url.searchParams.append(k, x));
    else if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const headers = {};
  const tok = token.get();
  if (tok) headers.Authorization = "Bearer " + tok;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    if (res.status === 401 && tok) unauthorized();
    throw new APIError(res.status, data);
  }
  return data;
}

export const get = (path, params) => request("GET", path, undefined, params);
export const post = (path, body) => request("POST", path, body ?? {});
export const put = (path, body) => request("PUT", path, body);
export const del = (path) => request("DELETE", path);

// all reads every page of a list (for short lists: agents, accounts, labels).
export async function all(path, params) {
  const out = [];
  let page_token = "";
  for (let i = 0; i < 20; i++) {
    const page = await get(path, { ...params, page_size: 100, page_token });
    out.push(...page.result);
    if (page.result.length < 100 || !page.next_page_token) break;
    page_token = page.next_page_token;
  }
  return out;
}
