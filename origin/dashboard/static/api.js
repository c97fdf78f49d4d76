// The /v1 API: JSON envelopes, the CSRF token on unsafe calls, errors as ApiError.

let csrfToken = '';

export function setCsrfToken(token) {
  csrfToken = token || '';
}

export function csrfHeaders() {
  return csrfToken ? { 'X-CSRF-Token': csrfToken } : {};
}

class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Turn a response's status and text into data or an ApiError (shared with XHR uploads). */
export function readEnvelope(status, text) {
  let payload;
  try {
    payload = JSON.parse(text);
  } catch {
    // Empty or not JSON (a proxy's page): the status speaks.
  }
  if (status >= 200 && status < 300 && payload && payload.success !== false) return payload.data;
  const error = payload?.error || {};
  const message = error.message || (status === 0 ? 'Picora could not be reached.' : `The server answered ${status}.`);
  throw new ApiError(status, error.code || `HTTP_${status}`, message, error);
}

export function signInUrl() {
  return `/dashboard/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`;
}

/** Call the API; a 401 means the session ended, so go and sign in again (unless told not to). */
export async function api(path, { method = 'GET', json, signal, redirectOn401 = true } = {}) {
  const headers = { Accept: 'application/json' };
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  if (method !== 'GET') Object.assign(headers, csrfHeaders());
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal, credentials: 'same-origin', cache: 'no-store' });
  } catch (error) {
    if (error?.name === 'AbortError') throw error;
    throw new ApiError(0, 'NETWORK', 'Picora could not be reached. Check the connection and try again.');
  }
  const text = await response.text();
  try {
    return readEnvelope(response.status, text);
  } catch (error) {
    if (error.status === 401 && redirectOn401) location.assign(signInUrl());
    throw error;
  }
}

/** ``work`` over ``items``, at most ``limit`` at once: [{ok, value | error}] in order. */
export async function eachLimited(items, limit, work) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const index = next++;
      try {
        results[index] = { ok: true, value: await work(items[index]) };
      } catch (error) {
        results[index] = { ok: false, error };
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
