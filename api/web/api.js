// The API as the page uses it: the key from sessionStorage, JSON requests,
// errors turned into sentences, uploads with byte progress, live events.

const KEY = 'eh.apiKey';

export function getKey() { return sessionStorage.getItem(KEY) || ''; }
export function setKey(k) { sessionStorage.setItem(KEY, k); }
export function forgetKey() { sessionStorage.removeItem(KEY); }

export class ApiError extends Error {
  constructor(status, code, serverMessage, retryAfter) {
    super(describe(status, code, serverMessage, retryAfter));
    this.status = status;
    this.code = code;
  }
}

function capital(s) { return s ? s.charAt(0).toUpperCase() + s.slice(1) : s; }

// What the user reads: the situation and what to do, never the raw JSON.
export function describe(status, code, serverMessage, retryAfter) {
  const said = serverMessage ? ` (${capital(serverMessage)}.)` : '';
  switch (status) {
  case 0: return 'Cannot reach the server. Check your connection and try again.';
  case 401: return 'The API key was not accepted. Enter a valid key above.';
  case 403: return 'This API key may not do that: uploading, cancelling and deleting need a key with write scope.';
  case 404: return 'Not found: the job does not exist, or it was deleted.';
  case 409: return `That cannot be done now.${said}`;
  case 413: return `The file is too large for this server.${said}`;
  case 415: return `This file is not JSON lines.${said}`;
  case 429: return `Too many requests${code === 'quota_exceeded' ? ': too many jobs are running for your tenant' : ''}. Try again in ${retryAfter || 'a few'} seconds.`;
  case 503: return `The service is unavailable right now. Try again in ${retryAfter || 'a few'} seconds.`;
  default:
    if (status >= 500) return `The server failed to answer (HTTP ${status}). Try again later.`;
    return `The server refused the request.${said}`;
  }
}

function headers(extra) {
  const h = Object.assign({ Accept: 'application/json' }, extra || {});
  const k = getKey();
  if (k) h.Authorization = `Bearer ${k}`;
  return h;
}

async function errorOf(res) {
  let code = '', message = '';
  try {
    const body = await res.json();
    code = body?.error?.code || '';
    message = body?.error?.message || '';
  } catch { /* not JSON: the status says enough */ }
  return new ApiError(res.status, code, message, res.headers.get('Retry-After'));
}

export async function request(method, path) {
  let res;
  try {
    res = await fetch(path, { method, headers: headers(), cache: 'no-store' });
  } catch {
    throw new ApiError(0);
  }
  if (!res.ok) throw await errorOf(res);
  return res.status === 204 ? null : res.json();
}

export const jobPath = (id, rest = '') => `/api/v1/jobs/${encodeURIComponent(id)}${rest}`;

// POST /api/v1/files/upload with XMLHttpRequest, whose upload events give the bytes sent.
export function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/v1/files/upload');
    for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onerror = () => reject(new ApiError(0));
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* handled below */ }
      if (xhr.status >= 200 && xhr.status < 300 && body) {
        resolve(body);
        return;
      }
      reject(new ApiError(xhr.status, body?.error?.code, body?.error?.message, xhr.getResponseHeader('Retry-After')));
    };
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

export const FINAL = new Set(['completed', 'failed', 'cancelled']);

// Live events of a job. A browser cannot set headers on a WebSocket: the key
// goes in access_token, which the server never logs. Reconnects (after 1 s,
// then up to 5 s) until an event with a final status arrives; events whose
// seq is not above the last one are dropped, so a reconnect repeats nothing.
export function follow(id, onEvent, onTrouble) {
  let lastSeq = -1, stopped = false, ws = null, delay = 1000;
  const open = () => {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = getKey() ? `?access_token=${encodeURIComponent(getKey())}` : '';
    ws = new WebSocket(`${proto}//${location.host}/ws/jobs/${encodeURIComponent(id)}${q}`);
    ws.onopen = () => { delay = 1000; };
    ws.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      if (typeof ev.seq !== 'number' || ev.seq <= lastSeq) return;
      lastSeq = ev.seq;
      onEvent(ev);
      if (FINAL.has(ev.status)) stopped = true;
    };
    ws.onclose = () => {
      if (stopped) return;
      if (onTrouble) onTrouble();
      setTimeout(() => { if (!stopped) open(); }, delay);
      delay = Math.min(delay * 2, 5000);
    };
  };
  open();
  return () => { stopped = true; if (ws) ws.close(); };
}
