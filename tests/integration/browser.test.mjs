// browser.test.mjs — the pages the binary serves (web/), in a real browser against a real server: Debian's
// Chromium, headless, driven by playwright-core.
//   - /docs: the reference is built from the served /openapi.json (every operation listed, grouped by tag); a
//     schema opens to its properties; "try it" sends GET /healthz, PUT /v1/datasets/{name} with the body the
//     page prefilled from the document's example, and GET /v1/datasets, and shows each answer's status,
//     headers and body;
//   - the console: a dataset created through the API is listed with its schema; records posted, a query run
//     from the editor (Ctrl+Enter) shows the server's rows in the table and draws a line chart (a time
//     bucket first) and bars (a group first); the history brings back the earlier query (Ctrl+↑); an error
//     is shown with its status; a live query redraws the table and the chart when records arrive, without
//     reloading the page, and comes back after the server restarts; the quarantine lists the refused rows
//     with their reasons; the metrics page computes ingest rates and shows buffered rows per dataset; after
//     a flush the dataset shows its files by day and its snapshots;
//   - the keyboard: a skip link first, a visible focus ring, 1–4 switch sections, / focuses, ? helps;
//   - the query page and the reference at 1920×1080 in the dark theme (screenshots);
//   - none of that asks for an API key or sends one (the node has no --auth-keys);
//   - API keys, on a node run with --auth-keys (keys made by `ursa keys add`), in a browser context of its
//     own: the console asks for a key; a wrong key is refused with the node's reason; a key with query:* and
//     admin lists the datasets and runs a query (every request carries it as Authorization: Bearer, none in
//     a URL, the page's text never holds it); a live chart, the key as a WebSocket subprotocol, redraws
//     when records are posted with an ingest key; a key without the scope gets the 403 message where the
//     result would be (the dialog stays shut); forgetting the key asks again; /docs "try it" answers 401
//     without the key field and 200 with it, "copy as curl" writes $URSA_KEY, and the console then uses the
//     key the reference kept; past the node's failed-key limit the dialog says when to try again;
//   - throughout: no request leaves the server's origin, and the pages log no console error (save the
//     "Failed to load resource" lines of the answers the test provokes on purpose: a 400 for bad SQL, 401,
//     403 and 429 for keys, and refused connections while the server is restarted).
// Screenshots of every step are kept (not removed with the store) under
// URSA_TEST_TMP/ursa-browser-shots-*/screenshots and their paths printed.
//
//   node --test tests/integration/browser.test.mjs      (URSA_BIN, URSA_TEST_TMP as for every test)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports, URSA_BIN } from './helpers.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TMP = resolve(process.env.URSA_TEST_TMP || tmpdir());
mkdirSync(TMP, { recursive: true });
const SHOTS = join(mkdtempSync(join(TMP, 'ursa-browser-shots-')), 'screenshots');
mkdirSync(SHOTS);

const SCHEMA = {
  columns: [
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'user_id', type: 'int64' },
    { name: 'event', type: 'string', enum: ['view', 'click', 'buy', 'refund'] },
    { name: 'amount', type: 'float64' },
  ],
  time_column: 'ts',
};
const DS = 'web_events';
const T0 = Date.parse('2026-11-23T10:00:00Z');
const MINUTES = 6;

let failed = false;
let srv, store, browser, context, page;
let authSrv, actx, apage;        // the node run with --auth-keys, and the browser context that speaks to it
const shots = [];
const foreign = [];              // requests to anywhere but the server
const sentKeys = [];             // requests of the no-auth pages that carried an Authorization header
const consoleErrors = [];        // {text, allowed}
let allowErrors = null;          // a RegExp while the test provokes errors on purpose
const logs = [];

function step(name, fn) {
  test(name, { timeout: 60_000 }, async t => { try { await fn(t); } catch (e) { failed = true; await shot(`FAILED-${name.replace(/\W+/g, '-').slice(0, 40)}`, apage ?? page).catch(() => {}); throw e; } });
}

async function shot(name, p = page) {
  const file = join(SHOTS, `${String(shots.length + 1).padStart(2, '0')}-${name}.png`);
  await p.screenshot({ path: file });
  shots.push(file);
  return file;
}

function watch(p) {
  p.on('console', m => { if (m.type() === 'error') consoleErrors.push({ text: m.text(), url: p.url(), allowed: !!allowErrors && allowErrors.test(m.text()) }); });
  p.on('pageerror', e => consoleErrors.push({ text: `uncaught: ${e.message}`, url: p.url(), allowed: false }));
  p.on('websocket', ws => { if (!ws.url().startsWith(origin(p).replace(/^http/, 'ws') + '/')) foreign.push(ws.url()); });
}
/** The server a page speaks to: the node with keys for the pages of its context, else the first one. */
const origin = p => (authSrv && p.context() === actx ? authSrv.url : srv.url);

const records = (rows) => rows.map(r => JSON.stringify(r)).join('\n') + '\n';
async function post(rows) {
  const r = await srv.postRecords(DS, typeof rows === 'string' ? rows : records(rows));
  assert.equal(r.status, 200, r.text);
  return r.json;
}
async function query(sql) {
  const r = await srv.post('/v1/query', { sql });
  assert.equal(r.status, 200, r.text);
  return r.json;
}
/** Waits until fn(arg) is true in the page, or fails saying what did not happen. */
async function until(what, fn, arg, timeout = 10_000, p = page) {
  try { await p.waitForFunction(fn, arg, { timeout }); } catch (e) { throw new Error(`${what}: not within ${timeout} ms (${e.message.split('\n')[0]})`); }
}
const cellTexts = () => page.$$eval('.result-table tbody tr', trs => trs.map(tr => [...tr.querySelectorAll('td')].slice(1).map(td => td.textContent)));

before(async () => {
  store = makeTempDir('ursa-browser-');
  srv = await startServer({ store, node: 'web1' });
  logs.push(srv.log);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  context = await browser.newContext({ viewport: { width: 1366, height: 768 }, colorScheme: 'light' });
  context.setDefaultTimeout(10_000); // a page that does not do what the test waits for fails fast
  context.on('request', r => {
    const u = r.url();
    if (!u.startsWith(srv.url + '/') && !u.startsWith('data:')) foreign.push(u);
    if (r.headers().authorization !== undefined) sentKeys.push(u);
  });
  page = await context.newPage();
  watch(page);
});

after(async () => {
  await browser?.close();
  const authStopped = await authSrv?.stop();
  const stopped = await srv?.stop();
  console.log(`screenshots (${shots.length}):\n${shots.map(f => `  ${f}`).join('\n')}`);
  const reports = logs.flatMap(l => sanitizerReports(l()));
  assert.deepEqual(reports, [], 'sanitizer reports in the server output');
  if (stopped) assert.equal(stopped.killed, false, 'the server stopped on SIGTERM');
  if (authStopped) assert.equal(authStopped.killed, false, 'the node with keys stopped on SIGTERM');
  if (!failed) removeTempDirs();
});

// ------------------------------------------------------------------ /docs
step('docs: the reference is built from /openapi.json, grouped by tag; a schema opens', async () => {
  const spec = (await srv.get('/openapi.json')).json;
  assert.ok(spec && spec.paths, '/openapi.json is an OpenAPI document with paths');
  const methods = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];
  const want = Object.entries(spec.paths).flatMap(([p, item]) => methods.filter(m => item[m]).map(m => `${m.toUpperCase()} ${p}`)).sort();

  const res = await page.goto(`${srv.url}/docs`);
  assert.equal(res.status(), 200);
  assert.match(res.headers()['content-security-policy'] ?? '', /default-src 'self'/);
  await page.waitForSelector('body[data-ready="true"]');
  const listed = await page.$$eval('details.op', els => els.map(e => `${e.dataset.method.toUpperCase()} ${e.dataset.path}`));
  assert.deepEqual(listed.slice().sort(), want, 'every operation of the document, once');
  const tags = [...new Set(Object.values(spec.paths).flatMap(item => methods.map(m => item[m]?.tags?.[0]).filter(Boolean)))];
  const sections = await page.$$eval('.tag-section h2', hs => hs.map(x => x.textContent));
  for (const tag of tags) assert.ok(sections.includes(tag), `a section for the tag ${tag}`);
  assert.equal(await page.title(), `${spec.info.title} — API reference`);

  // PUT /v1/datasets/{name}: its request body's schema, a property opened to its own properties ($refs followed)
  const put = page.locator('details.op[data-method="put"][data-path="/v1/datasets/{name}"]');
  await put.locator('summary').click();
  const body = put.locator('.op-section', { has: page.locator('h4', { hasText: 'Request body' }) });
  const root = body.locator('.schema').first();
  await root.waitFor();
  const props = await root.locator(':scope > .sch-node > .sch-children > .sch-node > .sch-line .sch-name').allTextContents();
  const schema = spec.components.schemas[(spec.paths['/v1/datasets/{name}'].put.requestBody.content['application/json'].schema.$ref ?? '').split('/').pop()];
  assert.ok(schema?.properties, 'the document names the schema of the body');
  assert.deepEqual(props, Object.keys(schema.properties), 'the body schema\'s properties, in order');
  const columns = root.locator(':scope > .sch-node > .sch-children > .sch-node', { has: page.locator(':scope > .sch-line .sch-name', { hasText: /^columns$/ }) });
  const toggle = columns.locator(':scope > .sch-line .sch-toggle');
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  const inner = columns.locator(':scope > .sch-children > .sch-node');
  await inner.first().waitFor();
  assert.ok(await inner.count() >= 1, 'the array opens to its items');
  // one level further: the item (a Column) shows its own properties once opened
  const itemToggle = inner.first().locator(':scope > .sch-line .sch-toggle');
  if (await itemToggle.count()) await itemToggle.click();
  const colProps = await inner.first().locator(':scope > .sch-children > .sch-node > .sch-line .sch-name').allTextContents();
  assert.ok(colProps.includes('name') && colProps.includes('type'), `a column's properties: ${colProps}`);
  await columns.evaluate(e => e.scrollIntoView({ block: 'start' }));
  await shot('docs-schema-open');
});

step('docs: "try it" sends requests and shows status, headers and body', async () => {
  // GET /healthz
  const health = page.locator('details.op[data-method="get"][data-path="/healthz"]');
  await health.locator('summary').click();
  await health.locator('.try-form button[type="submit"]').click();
  const answer = health.locator('.try-answer');
  await answer.locator('.answer-status .badge').filter({ hasText: '200' }).waitFor();
  assert.match(await answer.locator('.answer-body').textContent(), /"status"\s*:\s*"ok"/);
  await answer.locator('.answer-headers summary').click();
  assert.match(await answer.locator('.answer-headers').textContent(), /x-request-id/i, 'the answer\'s headers are listed');
  await answer.scrollIntoViewIfNeeded();
  await shot('docs-try-healthz');

  // PUT /v1/datasets/{name}: a path parameter filled in, the body as prefilled from the document's example
  const put = page.locator('details.op[data-method="put"][data-path="/v1/datasets/{name}"]');
  const form = put.locator('.try-form');
  await form.locator('input[name="name"]').fill('from_docs');
  const prefilled = JSON.parse(await form.locator('textarea.try-body').inputValue());
  assert.ok(Array.isArray(prefilled.columns) && prefilled.time_column, 'the body is prefilled with a schema from the example');
  assert.match(await form.locator('.try-url').textContent(), /\/v1\/datasets\/from_docs$/);
  await form.locator('textarea.try-body').press('Control+Enter');
  const putAnswer = put.locator('.try-answer');
  await putAnswer.locator('.answer-status .badge').filter({ hasText: '201' }).waitFor();
  assert.match(await putAnswer.locator('.answer-body').textContent(), /"name"\s*:\s*"from_docs"/);
  const r = await srv.get('/v1/datasets/from_docs');
  assert.equal(r.status, 200, 'the dataset exists on the server');
  assert.deepEqual(r.json.schema.columns.map(c => c.name), prefilled.columns.map(c => c.name));

  // GET /v1/datasets lists it
  await page.fill('#filter', 'GET /v1/datasets');
  const list = page.locator('details.op[data-method="get"][data-path="/v1/datasets"]');
  assert.equal(await page.locator('details.op:not([hidden])').count() >= 1, true);
  await list.locator('summary').click();
  await list.locator('.try-form button[type="submit"]').click();
  await list.locator('.try-answer .answer-status .badge').filter({ hasText: '200' }).waitFor();
  assert.match(await list.locator('.try-answer .answer-body').textContent(), /from_docs/);
  await list.locator('.try-answer').scrollIntoViewIfNeeded();
  await shot('docs-try-datasets');
  await page.fill('#filter', '');
});

// ------------------------------------------------------------------ the console
step('console: a dataset created through the API is listed with its schema', async () => {
  const r = await srv.put(`/v1/datasets/${DS}`, SCHEMA);
  assert.equal(r.status, 201, r.text);
  const res = await page.goto(`${srv.url}/console`);
  assert.equal(res.status(), 200);
  await page.waitForSelector('body[data-ready="true"]');
  await page.evaluate(() => { window.__sameDocument = true; }); // gone if the page ever reloads
  const link = page.locator(`#ds-items a[data-name="${DS}"]`);
  await link.click();
  await page.waitForURL(`**/console#datasets/${DS}`);
  const detail = page.locator('#ds-detail');
  await detail.locator('article.detail h2', { hasText: DS }).waitFor();
  const rows = await detail.locator('.schema-table tbody tr').evaluateAll(trs => trs.map(tr => [tr.querySelector('.col-name').textContent, tr.querySelector('.type').textContent]));
  assert.deepEqual(rows, SCHEMA.columns.map(c => [c.name, c.type]));
  assert.match(await detail.locator('.schema-table tbody tr').first().textContent(), /time/, 'the time column is marked');
  assert.match(await detail.locator('[data-stat="buffered_rows"] .stat-value').textContent(), /^0$/);
  await shot('console-dataset');
});

step('console: records posted, the editor runs a query: rows in the table, a line chart and bars', async () => {
  const rows = [];
  const kinds = ['view', 'click', 'buy'];
  for (let m = 0; m < MINUTES; m++)
    for (let i = 0; i <= m; i++) rows.push({ ts: new Date(T0 + m * 60_000 + i * 1000).toISOString(), user_id: i, event: kinds[i % 3], amount: m * 10 + i });
  const a = await post(rows);
  assert.equal(a.accepted, rows.length);
  // refused rows for the quarantine page
  const bad = await srv.postRecords(DS, '{"ts":"2026-11-23T10:00:00Z","user_id":"seven","event":"view"}\n{"ts":"2026-11-23T10:00:00Z","event":"teleport"}\n{oops\n');
  assert.equal(bad.status, 400, 'every record refused');
  assert.equal(bad.json.quarantined, 3);

  await page.click('nav.tabs a[data-route="query"]');
  await page.waitForURL('**#query');
  const sql1 = `SELECT date_trunc('minute', ts) AS minute, count(*) AS n, sum(amount) AS total FROM ${DS} GROUP BY 1 ORDER BY 1`;
  await page.fill('#sql', sql1);
  await page.press('#sql', 'Control+Enter');
  await until('a table row per minute', n => document.querySelectorAll('.result-table tbody tr').length === n, MINUTES);
  const want = await query(sql1);
  assert.deepEqual(await cellTexts(), want.rows.map(r => r.map(String)), 'the table shows the server\'s rows');
  assert.deepEqual(await page.$$eval('.result-table thead .th-name', ths => ths.map(t => t.textContent)), ['minute', 'n', 'total']);
  // a time bucket first: a line per number column, one point per minute
  await page.waitForSelector('.chart-host[data-kind="line"] svg path.line');
  const lines = await page.$$eval('.chart-host svg path.line', ps => ps.map(p => (p.getAttribute('d').match(/[ML]/g) ?? []).length));
  assert.deepEqual(lines, [MINUTES, MINUTES], 'two lines of six points');
  assert.equal(await page.locator('.chart-host .legend li').count(), 2);
  await shot('console-query-line');

  // a group first: bars
  const sql2 = `SELECT event, count(*) AS n FROM ${DS} GROUP BY 1 ORDER BY 2 DESC`;
  await page.fill('#sql', sql2);
  await page.click('#run');
  await page.waitForSelector('.chart-host[data-kind="bar"] svg rect.bar');
  const want2 = await query(sql2);
  assert.deepEqual(await cellTexts(), want2.rows.map(r => r.map(String)));
  assert.equal(await page.locator('.chart-host rect.bar').count(), want2.rows.length, 'a bar per group');
  await shot('console-query-bars');

  // the history: Ctrl+↑ brings back the earlier query; it is kept in localStorage
  await page.focus('#sql');
  await page.keyboard.press('Control+ArrowUp');
  assert.equal(await page.inputValue('#sql'), sql2);
  await page.keyboard.press('Control+ArrowUp');
  assert.equal(await page.inputValue('#sql'), sql1);
  await page.keyboard.press('Control+ArrowDown');
  assert.equal(await page.inputValue('#sql'), sql2);
  const kept = await page.evaluate(() => JSON.parse(localStorage.getItem('ursa.console.history')).map(e => e.sql));
  assert.deepEqual(kept.slice(0, 2), [sql2, sql1]);

  // an error: its status and message, in place of the result
  allowErrors = /Failed to load resource: the server responded with a status of 400/;
  await page.fill('#sql', `SELECT no_such_column FROM ${DS}`);
  await page.press('#sql', 'Control+Enter');
  const err = page.locator('#result .error-box');
  await err.waitFor();
  assert.match(await err.textContent(), /400/);
  assert.match(await err.textContent(), /no_such_column/);
  await shot('console-query-error');
  allowErrors = null;
});

step('console: a live query redraws the table and chart as records arrive, without reloading', async () => {
  const sql = `SELECT event, count(*) AS n FROM ${DS} GROUP BY 1 ORDER BY 1`;
  await page.fill('#sql', sql);
  await page.check('#live-toggle');
  await until('the live state says "live"', () => document.querySelector('#live-state')?.dataset.state === 'live');
  await until('the first pushed result is drawn', () => /live #1/.test(document.querySelector('.live-badge')?.textContent ?? ''));
  const before = await cellTexts();
  assert.ok(!before.some(r => r[0] === 'refund'));
  const barsBefore = await page.locator('.chart-host rect.bar').count();

  await post([1, 2, 3, 4, 5, 6, 7].map(i => ({ ts: new Date(T0 + i * 1000).toISOString(), user_id: 100 + i, event: 'refund', amount: -i })));
  await until('the new group appears in the live table', () => [...document.querySelectorAll('.result-table tbody tr')].some(tr => tr.children[1]?.textContent === 'refund'));
  const after1 = await cellTexts();
  assert.deepEqual(after1.find(r => r[0] === 'refund'), ['refund', '7']);
  assert.deepEqual(after1, (await query(sql)).rows.map(r => r.map(String)));
  assert.equal(await page.locator('.chart-host rect.bar').count(), barsBefore + 1, 'the chart has the new group');
  assert.match(await page.textContent('.live-badge'), /live #[2-9]/);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was not reloaded');
  await shot('console-live');

  // the server goes away and comes back on the same port: the page says so, reconnects and subscribes again
  allowErrors = /Failed to load resource|WebSocket connection to .* failed|ERR_CONNECTION_REFUSED/;
  const st = await srv.stop();
  assert.equal(st.killed, false);
  await until('the live state says it reconnects', () => document.querySelector('#live-state')?.dataset.state === 'reconnecting');
  assert.match(await page.textContent('#live-state'), /reconnecting in/);
  await shot('console-live-reconnecting');
  srv = await startServer({ store, node: 'web1', args: ['--listen', `127.0.0.1:${srv.port}`] });
  logs.push(srv.log);
  await until('live again after the restart', () => document.querySelector('#live-state')?.dataset.state === 'live', null, 20_000);
  allowErrors = null;
  await post([{ ts: new Date(T0).toISOString(), user_id: 1, event: 'refund', amount: -1 }]);
  await until('the resubscribed query shows the row posted after the restart', () => [...document.querySelectorAll('.result-table tbody tr')].some(tr => tr.children[1]?.textContent === 'refund' && tr.children[2]?.textContent === '8'));
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'still the same page');

  await page.uncheck('#live-toggle');
  assert.equal(await page.isHidden('#live-state'), true);
});

step('console: the quarantine lists refused rows with their reasons', async () => {
  await page.keyboard.press('Escape'); // leave the editor: number keys switch sections
  await page.keyboard.press('3');
  await page.waitForURL(`**#quarantine/${DS}`);
  // (the restart above flushed them: the rows are in the quarantine's files now, read by SQL)
  const q = (await srv.get(`/v1/datasets/${DS}/quarantine`)).json;
  assert.equal(q.totals.rows, 3);
  const want = (await query(`SELECT reason FROM ${DS}.quarantine`)).rows.map(r => r[0]).sort();
  assert.equal(want.length, 3);
  const body = page.locator('#qu-body');
  await body.locator('.qrows tbody tr').first().waitFor();
  const reasons = await body.locator('.reasons tbody tr td:first-child').allTextContents();
  assert.deepEqual(reasons.slice().sort(), want, 'every reason, counted');
  const listed = await body.locator('.qrows tbody tr').evaluateAll(trs => trs.map(tr => tr.querySelector('.reason').textContent));
  assert.deepEqual(listed.slice().sort(), want, 'every refused row');
  assert.match(await body.locator('.qrows').textContent(), /"user_id":"seven"/, 'the record as sent');
  assert.match(await body.locator('.stats').textContent(), /Refused rows\s*3/);
  await shot('console-quarantine-stored');

  // refused rows still buffered come from the quarantine's own listing
  const more = await srv.postRecords(DS, '{"ts":"2026-11-23T10:00:00Z","user_id":1,"event":"levitate"}\n');
  assert.equal(more.status, 400);
  await page.selectOption('#qu-limit', '20');
  await page.click('#qu-refresh');
  await until('the new refused row is counted', () => /Refused rows\s*4/.test(document.querySelector('#qu-body .stats')?.textContent ?? ''));
  assert.match(await body.locator('.qrows tbody tr').first().textContent(), /levitate/, 'the newest first');
  assert.equal(await body.locator('.qrows tbody tr').count(), 4);
  await shot('console-quarantine');
});

step('console: metrics show ingest rates, flushes and buffered rows per dataset', async () => {
  await page.keyboard.press('4');
  await page.waitForURL('**#metrics');
  await page.selectOption('#m-every', '1000');
  await page.waitForSelector('[data-metric="rate:rows"] .metric-value');
  // rows arrive between two samples: the rate is computed from the counters' difference
  for (let k = 0; k < 3; k++) {
    await post(Array.from({ length: 50 }, (_, i) => ({ ts: new Date(T0 + i).toISOString(), user_id: i, event: 'view', amount: i })));
    await page.waitForTimeout(400);
  }
  await until('a rate of accepted rows above 0', () => parseFloat(document.querySelector('[data-metric="rate:rows"] .metric-value')?.textContent.replace(/,/g, '')) > 0);
  const buffered = (await srv.get(`/v1/datasets/${DS}`)).json.buffered_rows;
  await until(`the dataset's ${buffered} buffered rows`, ([name, n]) => [...document.querySelectorAll('.buffers tbody tr')].some(tr => tr.children[0].textContent === name && tr.children[1].textContent === n.toLocaleString('en-US')),
    [DS, buffered]);
  assert.ok(await page.locator('[data-metric="rate:rows"] svg.spark path.spark-line').count() === 1, 'a sparkline of the rate');
  assert.match(await page.textContent('[data-metric="rate:requests"] .metric-sub'), /in total/);
  await shot('console-metrics');

  // a flush shows up in the flush counters
  const f = await srv.flush(DS);
  assert.equal(f.status, 200, f.text);
  await until('the flush counted', () => /^[1-9]/.test(document.querySelector('[data-metric="rate:flushRows"] .metric-value')?.textContent ?? ''));
});

step('console: after a flush the dataset shows its files by day and its snapshots', async () => {
  await page.keyboard.press('1');
  await page.waitForURL(`**#datasets/${DS}`);
  const files = (await srv.get(`/v1/datasets/${DS}/files`)).json;
  const days = [...new Set(files.files.map(f => f.date))].sort().reverse();
  const snaps = (await srv.get(`/v1/datasets/${DS}/snapshots`)).json.snapshots;
  // the first column of the table with that caption, as the page shows it now, is `want`
  const shows = ([caption, want]) => JSON.stringify([...document.querySelectorAll('#ds-detail table')]
    .filter(t => t.querySelector('caption')?.textContent.startsWith(caption))
    .flatMap(t => [...t.querySelectorAll('tbody tr td:first-child code')].map(c => c.textContent))) === JSON.stringify(want);
  await until(`the days ${days}`, shows, ['Stored files by day', days]);
  await until(`the ${snaps.length} snapshots, newest first`, shows, ['Snapshots', snaps.map(x => String(x.snapshot_id)).reverse()]);
  assert.equal(await page.locator('#ds-detail tr.current').count(), 1, 'the current snapshot is marked');
  await shot('console-dataset-flushed');
});

step('keyboard: a skip link first, visible focus, shortcuts, the help', async () => {
  await page.goto(`${srv.url}/console#datasets/${DS}`);
  await page.reload(); // (a new hash alone is not a new page: focus would stay where it was)
  await page.waitForSelector('body[data-ready="true"]');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip-link', 'Tab reaches the skip link first');
  await page.keyboard.press('Tab');
  const ring = await page.evaluate(() => { const st = getComputedStyle(document.activeElement); return [document.activeElement.matches(':focus-visible'), st.outlineStyle, st.outlineWidth]; });
  assert.deepEqual(ring, [true, 'solid', '2px'], 'the focused element shows a ring');
  await page.keyboard.press('?');
  assert.equal(await page.evaluate(() => document.getElementById('help').open), true, '? opens the help');
  await page.keyboard.press('Escape');
  assert.equal(await page.evaluate(() => document.getElementById('help').open), false);
  await page.keyboard.press('2');
  await page.waitForURL('**#query');
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'sql', '/ goes to the editor');
  await page.keyboard.press('Escape');
  await page.keyboard.press('1');
  await page.waitForURL(`**#datasets/${DS}`);
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'ds-filter');
  await page.keyboard.type('web');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.name), DS, 'arrow keys go down the filtered list');
  // a node without --auth-keys: the console never asked for a key, and shows no key control
  assert.equal(await page.evaluate(() => document.getElementById('key-dialog').open), false, 'no key prompt');
  assert.equal(await page.isHidden('#key-state'), true, 'no key control in the top bar');
});

step('the pages at 1920×1080 and in the dark theme', async () => {
  const big = await browser.newContext({ viewport: { width: 1920, height: 1080 }, colorScheme: 'dark' });
  big.on('request', r => { const u = r.url(); if (!u.startsWith(srv.url + '/') && !u.startsWith('data:')) foreign.push(u); });
  big.setDefaultTimeout(10_000);
  const p = await big.newPage();
  watch(p);
  await p.goto(`${srv.url}/console#query`);
  await p.waitForSelector('body[data-ready="true"]');
  await p.fill('#sql', `SELECT date_trunc('minute', ts) AS minute, event, count(*) AS n FROM ${DS} GROUP BY 1, 2 ORDER BY 1`);
  await p.press('#sql', 'Control+Enter');
  await p.waitForSelector('.chart-host[data-kind="line"] svg path.line');
  assert.ok(await p.locator('.chart-host svg path.line').count() >= 3, 'a line per event (time, group, number)');
  await shot('console-query-1920-dark', p);
  await p.goto(`${srv.url}/docs`);
  await p.waitForSelector('body[data-ready="true"]');
  const op = p.locator('details.op[data-method="post"][data-path="/v1/query"]');
  await op.locator('summary').click();
  await op.evaluate(e => e.scrollIntoView({ block: 'start' }));
  await shot('docs-1920-dark', p);
  await big.close();
});

// ------------------------------------------------------------------ API keys (a node run with --auth-keys)
const SECRET = 'secret_events';
const keys = {};                 // name → the key `ursa keys add` printed
const keyRequests = [];          // {url, auth}: every request of the context with keys
const keySockets = [];           // the URLs of its WebSockets
const bearer = key => ({ authorization: `Bearer ${key}` });
const KEY_ERRORS = /Failed to load resource: the server responded with a status of (401|403|429)|WebSocket connection to .* failed: HTTP Authentication failed/;

/** The key is in no URL the page loaded or holds, and nowhere in its document (text, attributes). */
async function keyHidden(p, key) {
  assert.ok(!p.url().includes(key), 'the key in the page\'s URL');
  assert.ok(!(await p.content()).includes(key), 'the key in the page\'s document');
  assert.ok(!(await p.evaluate(() => document.body.innerText)).includes(key), 'the key in the page\'s text');
  assert.deepEqual(keyRequests.filter(r => r.url.includes(key)).map(r => r.url), [], 'the key in a request URL');
  assert.deepEqual(keySockets.filter(u => u.includes(key)), [], 'the key in a WebSocket URL');
}
const storedKey = p => p.evaluate(() => ({ local: localStorage.getItem('ursa.apiKey'), session: sessionStorage.getItem('ursa.apiKey') }));
const dialogOpen = p => p.evaluate(() => document.getElementById('key-dialog').open);

step('keys: the console asks for a key; a wrong key is refused with the node\'s reason', async () => {
  allowErrors = KEY_ERRORS;
  const dir = makeTempDir('ursa-browser-keys-');
  const file = join(dir, 'keys');
  for (const [name, scopes] of [['admin', 'query:*,admin'], ['writer', `ingest:${DS}`], ['viewer', `query:${DS}`]])
    keys[name] = execFileSync(URSA_BIN, ['keys', 'add', name, '--scopes', scopes, '--file', file], { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
  assert.match(keys.admin, /^ursa_[A-Za-z0-9_-]{43}$/);
  authSrv = await startServer({ store: makeTempDir('ursa-browser-auth-'), node: 'web2', args: ['--auth-keys', file] });
  logs.push(authSrv.log);
  for (const name of [DS, SECRET]) {
    const r = await authSrv.request('PUT', `/v1/datasets/${name}`, { body: SCHEMA, headers: bearer(keys.admin) });
    assert.equal(r.status, 201, r.text);
  }
  const rows = Array.from({ length: 12 }, (_, i) => ({ ts: new Date(T0 + i * 60_000).toISOString(), user_id: i, event: ['view', 'click', 'buy'][i % 3], amount: i }));
  const ing = await authSrv.request('POST', `/v1/datasets/${DS}/records`, { body: records(rows), headers: { ...bearer(keys.writer), 'content-type': 'application/x-ndjson' } });
  assert.equal(ing.status, 200, ing.text);

  actx = await browser.newContext({ viewport: { width: 1366, height: 768 }, colorScheme: 'light' });
  actx.setDefaultTimeout(10_000);
  await actx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: authSrv.url });
  actx.on('request', r => {
    const u = r.url();
    if (!u.startsWith(authSrv.url + '/') && !u.startsWith('data:')) foreign.push(u);
    keyRequests.push({ url: u, auth: r.headers().authorization });
  });
  apage = await actx.newPage();
  watch(apage);
  apage.on('websocket', ws => keySockets.push(ws.url()));

  await apage.goto(`${authSrv.url}/console`);
  await apage.waitForSelector('body[data-ready="true"]');
  await until('the key prompt opens', () => document.getElementById('key-dialog').open, null, 10_000, apage);
  assert.equal(await apage.textContent('#key-title'), 'This node needs an API key');
  assert.equal(await apage.getAttribute('#key-input', 'type'), 'password');
  assert.equal(await apage.evaluate(() => document.activeElement.id), 'key-input', 'the key field has the focus');
  assert.match(await apage.textContent('#key-reason'), /an API key is needed/);
  assert.equal(await apage.isVisible('#key-remember'), true, 'a "remember on this browser" box');
  assert.match(await apage.textContent('#key-text'), /API key needed/);
  await shot('keys-prompt', apage);

  // a key the node does not hold: refused, the dialog stays, nothing is kept
  const wrong = `ursa_${'x'.repeat(43)}`;
  await apage.fill('#key-input', wrong);
  await apage.press('#key-input', 'Enter');
  await apage.locator('#key-error').filter({ hasText: /refused this key: the API key is not valid/ }).waitFor();
  assert.equal(await dialogOpen(apage), true, 'still asking');
  assert.deepEqual(await storedKey(apage), { local: null, session: null }, 'a refused key is not kept');
  const tried = keyRequests.filter(r => r.auth === `Bearer ${wrong}`).map(r => new URL(r.url).pathname);
  assert.deepEqual(tried, ['/v1/datasets'], 'the key was checked once, in the Authorization header');
  await shot('keys-wrong-key', apage);
  await keyHidden(apage, wrong);
});

step('keys: a key with query:* and admin: the datasets, a query and its rows; every request carries it', async () => {
  const from = keyRequests.length;
  // the keyboard alone: the field (focused, the wrong key selected), "remember", Enter
  await apage.keyboard.type(keys.admin);
  await apage.keyboard.press('Tab');
  assert.equal(await apage.evaluate(() => document.activeElement.id), 'key-remember', 'Tab goes to "remember"');
  await apage.keyboard.press('Space');
  await apage.keyboard.press('Shift+Tab');
  await apage.keyboard.press('Enter');
  await until('the prompt closes', () => !document.getElementById('key-dialog').open, null, 10_000, apage);
  assert.deepEqual(await storedKey(apage), { local: keys.admin, session: null }, 'remembered: in localStorage');
  assert.match(await apage.textContent('#key-text'), /API key: remembered/);
  assert.equal(await apage.isVisible('#key-forget'), true, 'a control to forget it');
  await until('both datasets listed', want => JSON.stringify([...document.querySelectorAll('#ds-items a')].map(a => a.dataset.name).sort()) === JSON.stringify(want),
    [DS, SECRET].sort(), 10_000, apage);
  await apage.locator('#ds-detail article.detail h2').waitFor();
  await shot('keys-datasets', apage);

  await apage.keyboard.press('2');
  await apage.waitForURL('**#query');
  const sql = `SELECT event, count(*) AS n, sum(amount) AS total FROM ${DS} GROUP BY 1 ORDER BY 1`;
  await apage.fill('#sql', sql);
  await apage.press('#sql', 'Control+Enter');
  const want = await authSrv.request('POST', '/v1/query', { body: { sql }, headers: bearer(keys.admin) });
  assert.equal(want.status, 200, want.text);
  await until('a row per event', n => document.querySelectorAll('.result-table tbody tr').length === n, want.json.rows.length, 10_000, apage);
  const cells = await apage.$$eval('.result-table tbody tr', trs => trs.map(tr => [...tr.querySelectorAll('td')].slice(1).map(td => td.textContent)));
  assert.deepEqual(cells, want.json.rows.map(r => r.map(String)), 'the server\'s rows');
  await shot('keys-query', apage);

  const api = keyRequests.slice(from).filter(r => /\/(v1\/|metrics)/.test(new URL(r.url).pathname));
  assert.ok(api.length >= 4, `requests to the API: ${api.length}`);
  assert.deepEqual(api.filter(r => r.auth !== `Bearer ${keys.admin}`).map(r => r.url), [], 'every API request with Authorization: Bearer <key>');
  await keyHidden(apage, keys.admin);
});

step('keys: a live chart (the key as a WebSocket subprotocol) redraws when records are posted', async () => {
  const sql = `SELECT event, count(*) AS n FROM ${DS} GROUP BY 1 ORDER BY 1`;
  await apage.fill('#sql', sql);
  await apage.check('#live-toggle');
  await until('live', () => document.querySelector('#live-state')?.dataset.state === 'live', null, 10_000, apage);
  await until('the first pushed result', () => /live #1/.test(document.querySelector('.live-badge')?.textContent ?? ''), null, 10_000, apage);
  const bars = await apage.locator('.chart-host rect.bar').count();
  const add = [1, 2, 3, 4, 5].map(i => ({ ts: new Date(T0 + i * 1000).toISOString(), user_id: 500 + i, event: 'refund', amount: -i }));
  const r = await authSrv.request('POST', `/v1/datasets/${DS}/records`, { body: records(add), headers: { ...bearer(keys.writer), 'content-type': 'application/x-ndjson' } });
  assert.equal(r.status, 200, r.text);
  await until('the new group in the live table', () => [...document.querySelectorAll('.result-table tbody tr')].some(tr => tr.children[1]?.textContent === 'refund' && tr.children[2]?.textContent === '5'),
    null, 10_000, apage);
  assert.equal(await apage.locator('.chart-host rect.bar').count(), bars + 1, 'a bar more');
  assert.ok(keySockets.some(u => u === authSrv.url.replace(/^http/, 'ws') + '/v1/live'), 'the socket at /v1/live, nothing in its URL');
  await shot('keys-live', apage);
  await apage.uncheck('#live-toggle');
  await keyHidden(apage, keys.admin);
});

step('keys: a key without the scope for a dataset: the 403 message where the result would be', async () => {
  await apage.click('#key-change');
  assert.equal(await dialogOpen(apage), true);
  assert.equal(await apage.isChecked('#key-remember'), true, 'the box says where the key is kept now');
  await apage.fill('#key-input', keys.viewer);
  await apage.uncheck('#key-remember');
  await apage.click('#key-submit');
  await until('the prompt closes', () => !document.getElementById('key-dialog').open, null, 10_000, apage);
  assert.deepEqual(await storedKey(apage), { local: null, session: keys.viewer }, 'not remembered: in sessionStorage only');
  assert.match(await apage.textContent('#key-text'), /API key: this tab/);
  await until('the datasets of the key: only its own', want => JSON.stringify([...document.querySelectorAll('#side-datasets .ds-name')].map(x => x.textContent)) === JSON.stringify(want),
    [DS], 10_000, apage);

  const sql = `SELECT count(*) AS n FROM ${SECRET}`;
  await apage.fill('#sql', sql);
  await apage.press('#sql', 'Control+Enter');
  const err = apage.locator('#result .error-box');
  await err.filter({ hasText: '403' }).waitFor();
  assert.match(await err.textContent(), /the API key "viewer" may not query dataset secret_events \(it needs query:secret_events\)/);
  assert.equal(await dialogOpen(apage), false, 'a 403 does not ask for another key');
  await shot('keys-403', apage);

  // the same as a live query: the subscription ends with 403, shown the same way
  await apage.check('#live-toggle');
  await until('the live query stops', () => document.querySelector('#live-state')?.dataset.state === 'error', null, 10_000, apage);
  assert.match(await err.textContent(), /Live query failed: Forbidden[\s\S]*may not query dataset secret_events/);
  assert.equal(await dialogOpen(apage), false);
  await apage.uncheck('#live-toggle');
  await keyHidden(apage, keys.viewer);
});

step('keys: forgetting the key: the console asks again; dismissed, the 401 says so', async () => {
  // a live query runs with the key; forgotten, the socket is refused (401) and the live state says why
  await apage.fill('#sql', `SELECT event, count(*) AS n FROM ${DS} GROUP BY 1 ORDER BY 1`);
  await apage.check('#live-toggle');
  await until('live', () => document.querySelector('#live-state')?.dataset.state === 'live', null, 10_000, apage);
  await apage.click('#key-forget');
  assert.deepEqual(await storedKey(apage), { local: null, session: null });
  await until('the prompt opens again', () => document.getElementById('key-dialog').open, null, 10_000, apage);
  assert.equal(await apage.inputValue('#key-input'), '', 'the field is empty');
  await until('the live query waits for a key', () => document.querySelector('#live-state')?.dataset.state === 'needs-key', null, 10_000, apage);
  await apage.keyboard.press('Escape');
  assert.equal(await dialogOpen(apage), false, 'Esc closes it');
  assert.equal(await apage.evaluate(() => document.activeElement.id), 'key-change', 'the focus back on the top bar\'s key button');
  await apage.keyboard.press('1');
  await apage.waitForURL('**#datasets**');
  const box = apage.locator('#ds-detail .error-box');
  await box.filter({ hasText: '401' }).waitFor();
  assert.match(await box.textContent(), /an API key is needed/);
  assert.equal(await dialogOpen(apage), false, 'not asked again after Esc');
  assert.match(await apage.textContent('#key-text'), /API key needed/);
  assert.equal(await apage.isHidden('#key-forget'), true);
  await shot('keys-forgotten', apage);
  assert.match(await apage.textContent('#live-state'), /needs an API key/);
  await box.locator('button.key-open').click();
  assert.equal(await dialogOpen(apage), true, 'the error box\'s button asks for a key');
  await apage.keyboard.press('Escape');
});

step('keys: /docs "try it": 401 without the key field, 200 with it; curl says $URSA_KEY; the console uses it', async () => {
  await apage.goto(`${authSrv.url}/docs`);
  await apage.waitForSelector('body[data-ready="true"]');
  assert.equal(await apage.getAttribute('#api-key', 'type'), 'password');
  assert.equal(await apage.inputValue('#api-key'), '', 'no key held');
  const op = apage.locator('details.op[data-method="get"][data-path="/v1/datasets"]');
  await op.locator('summary').click();
  assert.match(await op.locator('.op-auth').textContent(), /an API key/, 'what the operation needs');
  assert.match(await op.locator('.try-auth').textContent(), /No API key/);
  const send = op.locator('.try-form button[type="submit"]');
  await send.click();
  const answer = op.locator('.try-answer');
  await answer.locator('.answer-status .badge').filter({ hasText: '401' }).waitFor();
  await answer.locator('.answer-headers summary').click();
  assert.match(await answer.locator('.answer-headers').textContent(), /www-authenticate\s*Bearer realm="ursa"/i);
  await answer.scrollIntoViewIfNeeded();
  await shot('keys-docs-401', apage);

  await apage.fill('#api-key', keys.admin);
  assert.match(await op.locator('.try-auth').textContent(), /Authorization: Bearer/);
  await send.click();
  await answer.locator('.answer-status .badge').filter({ hasText: '200' }).waitFor();
  const body = await answer.locator('.answer-body').textContent();
  assert.ok(body.includes(DS) && body.includes(SECRET), 'the admin key lists both datasets');
  assert.deepEqual(await storedKey(apage), { local: null, session: keys.admin }, 'kept as the console keeps it (this tab)');
  await op.locator('.try-form button', { hasText: 'Copy as curl' }).click();
  await op.locator('.try-form button', { hasText: 'Copied' }).waitFor();
  const curl = await apage.evaluate(() => navigator.clipboard.readText());
  assert.match(curl, /^curl -i '.*\/v1\/datasets' -H "Authorization: Bearer \$URSA_KEY"/, curl);
  assert.ok(!curl.includes(keys.admin), 'the key is not in the curl line');
  // an open operation sends no key
  const health = apage.locator('details.op[data-method="get"][data-path="/healthz"]');
  await health.locator('summary').click();
  assert.equal(await health.locator('.try-auth').count(), 0);
  assert.match(await health.locator('.op-auth').textContent(), /Open: no API key/);
  const n = keyRequests.length;
  await health.locator('.try-form button[type="submit"]').click();
  await health.locator('.try-answer .answer-status .badge').filter({ hasText: '200' }).waitFor();
  assert.deepEqual(keyRequests.slice(n).filter(r => r.url.endsWith('/healthz')).map(r => r.auth), [undefined], '/healthz without the key');
  await op.evaluate(e => e.scrollIntoView({ block: 'start' }));
  await shot('keys-docs-200', apage);
  await keyHidden(apage, keys.admin);

  // the console (same tab) uses the key the reference kept: no prompt
  await apage.goto(`${authSrv.url}/console#datasets`);
  await apage.waitForSelector('body[data-ready="true"]');
  await apage.locator(`#ds-items a[data-name="${SECRET}"]`).waitFor();
  assert.equal(await dialogOpen(apage), false);
  assert.match(await apage.textContent('#key-text'), /API key: this tab/);
});

step('keys: past the node\'s failed-key limit the prompt says when to try again', async () => {
  // (the node's default: 20 keys that are not valid a minute from one address; then every keyed request gets 429)
  let status = 0;
  for (let i = 0; i < 25 && status !== 429; i++) status = (await authSrv.request('GET', '/v1/datasets', { headers: bearer(`ursa_bad${i}`) })).status;
  assert.equal(status, 429, 'the limit is reached');
  await apage.click('#key-change');
  await apage.fill('#key-input', keys.admin);
  await apage.press('#key-input', 'Enter');
  await apage.locator('#key-error').filter({ hasText: /Too many refused keys from this address: try again in \d+ s/ }).waitFor();
  assert.equal(await dialogOpen(apage), true);
  await shot('keys-too-many', apage);
  await apage.keyboard.press('Escape');
  allowErrors = null;
  // and the node wrote none of the keys it was given in its log
  const tried = [...Object.values(keys), ...keyRequests.map(r => r.auth?.slice('Bearer '.length)).filter(Boolean)];
  for (const k of new Set(tried)) assert.ok(!authSrv.log().includes(k), `a key in the node's log: ${k.slice(0, 9)}…`);
});

step('no request left the origin; no console error', async () => {
  assert.deepEqual(foreign, [], 'requests to other origins');
  assert.deepEqual(sentKeys, [], 'requests with Authorization from the pages of the node without keys');
  const unexpected = consoleErrors.filter(e => !e.allowed);
  assert.deepEqual(unexpected, [], 'console errors');
});
