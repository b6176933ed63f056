// Drives the web page in Debian's Chromium through playwright-core (no browser
// download). One scenario per run: node web_scenarios.mjs SCENARIO, with
// EH_URL (the API serving the page), EH_API_KEY (may be empty when the
// server runs without keys), EH_SCREENSHOT_DIR, EH_REPO_ROOT.
// Prints one JSON line of findings; exits 1 with the reason on a failure.
// tests/integration/test_web.py runs each scenario against the real services.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const url = process.env.EH_URL;
const key = process.env.EH_API_KEY || '';
const shots = process.env.EH_SCREENSHOT_DIR || 'build/screenshots';
const repo = process.env.EH_REPO_ROOT || '.';
const scenario = process.argv[2];
const TIMEOUT = 60000;

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

async function api(p, method = 'GET') {
  const res = await fetch(url + p, { method, headers: key ? { Authorization: `Bearer ${key}` } : {} });
  return { status: res.status, body: res.status === 204 ? null : await res.json() };
}

const taken = [];

async function shot(page, name) {
  fs.mkdirSync(shots, { recursive: true });
  taken.push(name);
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

async function enterKey(page, k) {
  await page.getByLabel('API key').fill(k || 'no-key-needed');
  await page.getByRole('button', { name: 'Use key' }).click();
}

async function uploadFile(page, file) {
  await page.locator('#file-input').setInputFiles(file);
  const item = page.locator('.upload').first();
  return item;
}

const scenarios = {
  // Key, upload of mixed.jsonl, progress to 100 %, counts as the API has them, the job page and its error report.
  async upload(page, found) {
    await page.goto(url + '/');
    await enterKey(page, key);
    await page.getByText('Key in use').waitFor();
    const item = await uploadFile(page, path.join(repo, 'examples', 'mixed.jsonl'));
    await item.locator('.state.completed').waitFor({ timeout: TIMEOUT });
    const bars = item.locator('progress');
    found.upload_bar = await bars.nth(0).evaluate((e) => e.value);
    found.ingest_bar = await bars.nth(1).evaluate((e) => e.value);
    check(found.upload_bar === 100 && found.ingest_bar === 100, 'both bars at 100 %');
    const text = await item.locator('.progress-row span').nth(1).textContent();
    found.ingest_text = text;
    const href = await item.getByRole('link', { name: 'Open job' }).getAttribute('href');
    const id = href.split('/').pop();
    const job = (await api(`/api/v1/jobs/${id}`)).body;
    check(text.startsWith(`${job.lines_processed} of ${job.lines_total} lines: ${job.entries_ingested} valid, ${job.lines_invalid} invalid`),
      `progress text "${text}" matches the API's counts`);
    check((await item.locator('.state').textContent()) === 'Completed', 'the final state reads Completed');
    await shot(page, 'upload');

    await item.getByRole('link', { name: 'Open job' }).click();
    await page.locator('#job-status.completed').waitFor();
    check((await page.locator('#job-valid').textContent()) === String(job.entries_ingested), 'valid count on the job page');
    check((await page.locator('#job-invalid').textContent()) === String(job.lines_invalid), 'invalid count on the job page');
    await page.getByText(/^Error report/).click();
    const errors = (await api(`/api/v1/jobs/${id}/errors?limit=1000`)).body.errors;
    const rows = page.locator('#errors-table tbody tr');
    await rows.nth(errors.length - 1).waitFor();
    check((await rows.count()) === errors.length, 'one row per invalid line');
    for (let i = 0; i < errors.length; i++) {
      const cells = await rows.nth(i).locator('td').allTextContents();
      check(cells[0] === String(errors[i].line_no) && cells[1] === errors[i].reason, `error row ${i}`);
    }
    found.error_rows = errors.length;
    check(await page.locator('#job-delete').isEnabled(), 'a finished job can be deleted');
    check(await page.locator('#job-cancel').isDisabled(), 'a finished job cannot be cancelled');
    await shot(page, 'job');
  },

  // The entries of a job filtered by level and by text.
  async entries(page, found) {
    await page.goto(url + '/');
    await enterKey(page, key);
    const item = await uploadFile(page, path.join(repo, 'examples', 'mixed.jsonl'));
    await item.locator('.state.completed').waitFor({ timeout: TIMEOUT });
    await item.getByRole('link', { name: 'Open job' }).click();
    const id = page.url().split('/').pop();
    const all = (await api(`/api/v1/jobs/${id}/entries?limit=1000`)).body.entries;
    const rows = page.locator('#entries-table tbody tr');
    await rows.nth(all.length - 1).waitFor();
    check((await rows.count()) === all.length, 'every entry listed');
    const level = all.find((e) => e.level === 'error') ? 'error' : all[0].level;
    const want = all.filter((e) => e.level === level);
    await page.getByLabel('Level').selectOption(level);
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForFunction((n) => document.querySelectorAll('#entries-table tbody tr').length === n, want.length);
    const levels = await page.locator('#entries-table tbody tr td:nth-child(3)').allTextContents();
    check(levels.length === want.length && levels.every((l) => l === level), `only ${level} entries`);
    found.level = level;
    found.level_rows = levels.length;
    await shot(page, 'entries');
  },

  // A slow job cancelled from its page ends as cancelled.
  async cancel(page, found) {
    await page.goto(url + '/');
    await enterKey(page, key);
    const item = await uploadFile(page, path.join(repo, 'examples', 'sample.jsonl'));
    await item.getByRole('link', { name: 'Open job' }).click();
    await page.locator('#job-cancel:enabled').waitFor();
    await page.getByRole('button', { name: 'Cancel job' }).click();
    await page.getByRole('dialog').waitFor();
    await shot(page, 'cancel-confirm');
    await page.getByRole('button', { name: 'Yes' }).click();
    await page.locator('#job-status.cancelled').waitFor({ timeout: TIMEOUT });
    const id = page.url().split('/').pop();
    found.api_status = (await api(`/api/v1/jobs/${id}`)).body.status;
    check(found.api_status === 'cancelled', 'the API says cancelled');
    await page.goto(url + '/');
    await page.locator('#jobs-table .status.cancelled').first().waitFor();
    await shot(page, 'jobs');
  },

  // A wrong key is refused in words.
  async wrongkey(page, found) {
    await page.goto(url + '/');
    await enterKey(page, 'ehk_this-key-does-not-exist');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    found.alert = await alert.textContent();
    check(found.alert.includes('API key was not accepted'), 'a sentence about the key');
    check(!found.alert.includes('{'), 'no JSON shown');
    await shot(page, 'wrong-key');
  },

  // 375 px wide: nothing wider than the screen; the upload control works from the keyboard.
  async narrow(page, found) {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(url + '/');
    await enterKey(page, key);
    await page.getByText('Key in use').waitFor();
    found.scroll_width = await page.evaluate(() => document.documentElement.scrollWidth);
    check(found.scroll_width <= 375, `page fits 375 px (scrollWidth ${found.scroll_width})`);
    // keyboard only: Tab from the top reaches the file picker, Space opens it
    await page.locator('body').focus();
    let reached = false;
    for (let i = 0; i < 12 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.id === 'file-input');
    }
    check(reached, 'the file picker is reachable with Tab');
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.keyboard.press('Space')]);
    await chooser.setFiles(path.join(repo, 'examples', 'mixed.jsonl'));
    await page.locator('.upload .state.completed').waitFor({ timeout: TIMEOUT });
    await shot(page, 'narrow');
  },
};

async function main() {
  const run = scenarios[scenario];
  if (!run) {
    console.error(`unknown scenario ${scenario}; known: ${Object.keys(scenarios).join(', ')}`);
    process.exit(2);
  }
  const browser = await chromium.launch({
    executablePath: process.env.EH_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  const found = { scenario, console_errors: [] };
  let failed = null;
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    page.setDefaultTimeout(20000);
    // A CSP violation or a script error shows in the console: any is a failure.
    page.on('console', (m) => { if (m.type() === 'error') found.console_errors.push(m.text()); });
    page.on('pageerror', (e) => found.console_errors.push(String(e)));
    await run(page, found);
    // A refused request is logged by the browser as "Failed to load resource": the page handles those itself
    // (the key check answers 404 by design; the refusals under test answer 401/409).
    const unexpected = found.console_errors.filter((t) => !t.startsWith('Failed to load resource'));
    check(unexpected.length === 0, `no console errors: ${unexpected.join(' | ')}`);
  } catch (e) {
    failed = e;
  } finally {
    await browser.close();
  }
  found.shots = taken;
  console.log(JSON.stringify(found));
  if (failed) {
    console.error(failed.stack || String(failed));
    process.exit(1);
  }
}

main();
