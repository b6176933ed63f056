// The page: a key form, uploads with live progress, the job list and a job page
// (hash routes: #/ and #/jobs/<id>). Plain DOM; every text goes in through
// textContent, never as HTML.
import { getKey, setKey, forgetKey, request, upload, follow, jobPath, FINAL, describe, ApiError } from './api.js';

const $ = (id) => document.getElementById(id);
const PAGE = 20;

// ---- small helpers

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v; else if (k in e) e[k] = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function showError(err) {
  const a = $('alert');
  a.textContent = err instanceof ApiError ? err.message : describe(0);
  a.hidden = false;
}

function clearError() { $('alert').hidden = true; $('alert').textContent = ''; }

function bytes(n) {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(1)} ${u[i]}`;
}

function when(ts) { return ts ? new Date(ts).toLocaleString() : '—'; }

function took(a, b) {
  if (!a || !b) return '—';
  const s = (new Date(b) - new Date(a)) / 1000;
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

// Lines per second since the first event this view saw.
function rateMeter() {
  let t0 = 0, p0 = 0;
  return (processed) => {
    const now = performance.now();
    if (!t0) { t0 = now; p0 = processed; return 0; }
    const dt = (now - t0) / 1000;
    return dt > 0.5 ? (processed - p0) / dt : 0;
  };
}

function ingestText(ev, rate) {
  const r = rate > 0 ? `, ${rate < 10 ? rate.toFixed(1) : Math.round(rate)} lines/s` : '';
  return `${ev.lines_processed} of ${ev.lines_total} lines: ${ev.entries_ingested} valid, ${ev.lines_invalid} invalid${r}`;
}

function pct(ev) {
  if (FINAL.has(ev.status) && ev.status === 'completed') return 100;
  return ev.lines_total > 0 ? Math.floor((100 * ev.lines_processed) / ev.lines_total) : 0;
}

const STATE_TEXT = {
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

// ---- the key

async function useKey(key) {
  setKey(key);
  // A key is checked with a read that needs one: a job id that cannot exist answers 404 to a good key, 401 to a bad one.
  try {
    await request('GET', jobPath('00000000-0000-0000-0000-000000000000'));
    keyAccepted();
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) { keyAccepted(); return; }
    forgetKey();
    $('key-state').textContent = 'No key in use.';
    showError(err);
  }
}

function keyAccepted() {
  clearError();
  $('api-key').value = '';
  $('key-state').textContent = 'Key in use for this browser tab.';
  route();
}

// ---- uploads

function startUploads(files) {
  clearError();
  for (const file of files) {
    if (!/\.(jsonl|ndjson)$/i.test(file.name)) {
      showError(new ApiError(415, 'unsupported_media_type', `${file.name} is not a .jsonl or .ndjson file`));
      continue;
    }
    uploadOne(file);
  }
}

function uploadOne(file) {
  const up = el('progress', { max: 100, value: 0, id: `up-${Math.random().toString(36).slice(2)}` });
  const upText = el('span', {}, 'Waiting…');
  const ing = el('progress', { max: 100, value: 0, id: `in-${Math.random().toString(36).slice(2)}` });
  const ingText = el('span', {}, '—');
  const state = el('p', { class: 'state', role: 'status' }, 'Uploading…');
  const item = el('li', { class: 'upload' },
    el('h3', {}, file.name),
    el('div', { class: 'progress-row' }, el('label', { htmlFor: up.id }, 'Upload'), up, upText),
    el('div', { class: 'progress-row' }, el('label', { htmlFor: ing.id }, 'Ingestion'), ing, ingText),
    state);
  $('uploads').prepend(item);
  const t0 = performance.now();
  upload(file, (sent, total) => {
    up.value = total ? Math.floor((100 * sent) / total) : 0;
    const secs = (performance.now() - t0) / 1000;
    const rate = secs > 0.2 ? ` at ${bytes(sent / secs)}/s` : '';
    upText.textContent = `${bytes(sent)} of ${bytes(total)}${rate}`;
  }).then((job) => {
    up.value = 100;
    upText.textContent = `${bytes(job.size_bytes)} sent`;
    state.textContent = 'Queued';
    item.append(el('p', {}, el('a', { href: `#/jobs/${job.job_id}` }, 'Open job')));
    const rate = rateMeter();
    follow(job.job_id, (ev) => {
      ing.value = pct(ev);
      ingText.textContent = ingestText(ev, rate(ev.lines_processed));
      if (FINAL.has(ev.status)) {
        state.textContent = `${STATE_TEXT[ev.status]}${ev.error ? `: ${ev.error}` : ''}`;
        state.className = `state ${ev.status}`;
        loadJobs();
      } else {
        state.textContent = ev.status === 'queued' ? 'Queued' : 'Processing…';
      }
    }, () => { state.textContent = 'Connection lost; reconnecting…'; });
    loadJobs();
  }).catch((err) => {
    state.textContent = `Upload failed. ${err.message}`;
    state.className = 'state failed';
    showError(err);
  });
}

function setupDrop() {
  const zone = $('drop-zone');
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    startUploads([...e.dataTransfer.files]);
  });
  $('file-input').addEventListener('change', (e) => {
    startUploads([...e.target.files]);
    e.target.value = '';
  });
}

// ---- job list

let cursors = [null]; // the cursor of each page shown; the last is the current page's

async function loadJobs() {
  const status = $('status-filter').value;
  const cursor = cursors[cursors.length - 1];
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (status) q.set('status', status);
  if (cursor) q.set('cursor', cursor);
  let page;
  try {
    page = await request('GET', `/api/v1/jobs?${q}`);
  } catch (err) {
    showError(err);
    return;
  }
  const body = $('jobs-table').tBodies[0];
  body.replaceChildren(...page.jobs.map((j) => el('tr', {},
    el('td', { class: 'msg' }, el('a', { href: `#/jobs/${j.job_id}` }, j.file_name)),
    el('td', {}, el('span', { class: `status ${j.status}` }, j.status)),
    el('td', { class: 'num' }, `${j.lines_processed}/${j.lines_total}`),
    el('td', { class: 'num' }, String(j.lines_invalid)),
    el('td', {}, when(j.created_at)))));
  $('jobs-empty').hidden = page.jobs.length > 0;
  $('jobs-next').disabled = !page.next_cursor;
  $('jobs-next').dataset.cursor = page.next_cursor || '';
  $('jobs-first').disabled = cursors.length === 1;
}

// ---- job page

let stopFollow = null;
let current = null; // the job shown
let entriesCursor = null;
let errorsOffset = 0;

function showJob(job, rate) {
  current = job;
  $('job-title').textContent = `Job: ${job.file_name}`;
  const s = $('job-status');
  s.textContent = job.status;
  s.className = `status ${job.status}`;
  $('job-progress').value = pct(job);
  $('job-progress-text').textContent = `${pct(job)} %${rate > 0 ? `, ${Math.round(rate)} lines/s` : ''}`;
  $('job-lines').textContent = `${job.lines_processed} of ${job.lines_total}`;
  $('job-valid').textContent = String(job.entries_ingested);
  $('job-invalid').textContent = String(job.lines_invalid);
  $('job-size').textContent = bytes(job.size_bytes);
  $('job-created').textContent = when(job.created_at);
  $('job-started').textContent = when(job.started_at);
  $('job-completed').textContent = when(job.completed_at);
  $('job-duration').textContent = took(job.started_at || job.created_at, job.completed_at);
  $('job-error').hidden = !job.error;
  $('job-error').textContent = job.error ? `Error: ${job.error}` : '';
  $('errors-count').textContent = String(job.lines_invalid);
  $('job-cancel').disabled = FINAL.has(job.status);
  $('job-delete').disabled = !FINAL.has(job.status);
}

async function openJob(id) {
  if (stopFollow) { stopFollow(); stopFollow = null; }
  $('errors-table').tBodies[0].replaceChildren();
  $('entries-table').tBodies[0].replaceChildren();
  let job;
  try {
    job = await request('GET', jobPath(id));
  } catch (err) {
    showError(err);
    return;
  }
  showJob(job, 0);
  $('job-title').focus();
  errorsOffset = 0;
  loadErrors(true);
  loadEntries(true);
  if (!FINAL.has(job.status)) {
    const rate = rateMeter();
    stopFollow = follow(id, (ev) => {
      showJob(ev, rate(ev.lines_processed));
      if (FINAL.has(ev.status)) { loadErrors(true); loadEntries(true); }
    });
  }
}

async function loadErrors(fresh) {
  if (!current) return;
  if (fresh) { errorsOffset = 0; $('errors-table').tBodies[0].replaceChildren(); }
  let page;
  try {
    page = await request('GET', jobPath(current.job_id, `/errors?limit=100&offset=${errorsOffset}`));
  } catch (err) {
    showError(err);
    return;
  }
  for (const e of page.errors) {
    $('errors-table').tBodies[0].append(el('tr', {}, el('td', { class: 'num' }, String(e.line_no)),
      el('td', { class: 'msg' }, e.reason)));
  }
  errorsOffset += page.errors.length;
  $('errors-more').hidden = errorsOffset >= page.total || page.errors.length === 0;
  $('errors-note').hidden = !page.truncated;
  $('errors-note').textContent = page.truncated ? 'Only the first invalid lines are kept with their reason; the rest are counted.' : '';
}

async function loadEntries(fresh) {
  if (!current) return;
  if (fresh) { entriesCursor = null; $('entries-table').tBodies[0].replaceChildren(); }
  const q = new URLSearchParams({ limit: '100' });
  if ($('level-filter').value) q.set('level', $('level-filter').value);
  if ($('entries-search').value) q.set('q', $('entries-search').value);
  if (entriesCursor) q.set('cursor', entriesCursor);
  let page;
  try {
    page = await request('GET', jobPath(current.job_id, `/entries?${q}`));
  } catch (err) {
    showError(err);
    return;
  }
  const body = $('entries-table').tBodies[0];
  for (const e of page.entries) {
    body.append(el('tr', {}, el('td', { class: 'num' }, String(e.line_no)), el('td', {}, e.timestamp),
      el('td', {}, e.level), el('td', {}, e.service || '—'), el('td', { class: 'msg' }, e.message)));
  }
  entriesCursor = page.next_cursor;
  $('entries-more').hidden = !page.next_cursor;
  $('entries-empty').hidden = body.rows.length > 0;
}

function confirmAction(text) {
  return new Promise((resolve) => {
    const d = $('confirm');
    $('confirm-text').textContent = text;
    d.addEventListener('close', () => resolve(d.returnValue === 'yes'), { once: true });
    d.returnValue = '';
    d.showModal();
    $('confirm-no').focus();
  });
}

async function cancelJob() {
  if (!current || !(await confirmAction(`Cancel the job of ${current.file_name}? What was ingested so far stays.`))) return;
  clearError();
  try {
    const job = await request('POST', jobPath(current.job_id, '/cancel'));
    showJob(job, 0);
  } catch (err) { showError(err); }
}

async function deleteJob() {
  if (!current || !(await confirmAction(`Delete the job of ${current.file_name}, its entries and its file? This cannot be undone.`))) return;
  clearError();
  try {
    await request('DELETE', jobPath(current.job_id));
    location.hash = '#/';
  } catch (err) { showError(err); }
}

// ---- routing

function route() {
  const m = location.hash.match(/^#\/jobs\/([0-9a-fA-F-]{36})$/);
  $('view-home').hidden = !!m;
  $('view-job').hidden = !m;
  if (m) {
    openJob(m[1]);
  } else {
    if (stopFollow) { stopFollow(); stopFollow = null; }
    current = null;
    if (getKey()) loadJobs();
  }
}

function init() {
  $('key-form').addEventListener('submit', (e) => { e.preventDefault(); useKey($('api-key').value.trim()); });
  $('forget-key').addEventListener('click', () => { forgetKey(); $('key-state').textContent = 'Key forgotten.'; });
  $('key-state').textContent = getKey() ? 'Key in use for this browser tab.' : 'Enter an API key to start.';
  setupDrop();
  $('status-filter').addEventListener('change', () => { cursors = [null]; loadJobs(); });
  $('jobs-refresh').addEventListener('click', () => loadJobs());
  $('jobs-next').addEventListener('click', () => { cursors.push($('jobs-next').dataset.cursor); loadJobs(); });
  $('jobs-first').addEventListener('click', () => { cursors = [null]; loadJobs(); });
  $('errors-more').addEventListener('click', () => loadErrors(false));
  $('entries-form').addEventListener('submit', (e) => { e.preventDefault(); loadEntries(true); });
  $('entries-more').addEventListener('click', () => loadEntries(false));
  $('job-cancel').addEventListener('click', cancelJob);
  $('job-delete').addEventListener('click', deleteJob);
  window.addEventListener('hashchange', () => { clearError(); route(); });
  route();
}

init();
