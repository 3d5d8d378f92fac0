// live.test.mjs — live queries over WebSocket (GET /v1/live, docs/internals/live.md), against the real
// server, with a raw client of our own (wsraw.mjs) so that malformed frames can be sent too:
//   - the handshake: 101 with the RFC's accept key, no extension or subprotocol; 426 without Upgrade,
//     400 for a bad key, 426 with Sec-WebSocket-Version: 13 for another version, JSON bodies; bytes sent in
//     the same write as the request are read;
//   - subscriptions: the first result (seq 1) is POST /v1/query's answer; new rows push a new result with no
//     client message; a result equal to the last one (rows that do not change it, another dataset, a
//     flush) is not sent; max_rate and --live-max-rate bound the results a second; unsubscribe; errors
//     (bad SQL 400, unknown dataset 404, too many subscriptions 429, a result too large 413) and bad
//     messages (not JSON, unknown type, no id, a reused id), which leave the connection open;
//   - frames: fragments (a ping between them, UTF-8 cut across them), ping/pong, the client's close, and
//     each refusal with its close code (1002, 1003, 1007, 1009); the server closes the TCP connection after
//     each close and goes on serving;
//   - a slow consumer: coalesced results (skipped > 0), then close 1008, with the server's memory bounded;
//   - SIGTERM: close 1001 and a prompt exit; twenty connections at once, then dropped.
//
//   URSA_BIN=build-dev/ursa URSA_TEST_TMP=/tmp/ursa-live node --test tests/integration/live.test.mjs
import { test, describe, after } from 'node:test';
import { AsyncLocalStorage } from 'node:async_hooks';
import assert from 'node:assert/strict';
import net from 'node:net';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports, URSA_BIN } from './helpers.mjs';
import { connect, frame, fragments, closePayload, acceptKey, OP, RSV1, RSV2, RSV3 } from './wsraw.mjs';

const sleep = ms => new Promise(r => setTimeout(r, ms));
const KiB = 1024, MiB = 1024 * 1024;
const ASAN = existsSync(URSA_BIN) && readFileSync(URSA_BIN).includes('__asan_init');
// ASan keeps freed memory in a quarantine (256 MiB by default), which would read as growth in the RSS check.
const ASAN_QUARANTINE_MB = 16;
const asanEnv = () => (ASAN ? { ASAN_OPTIONS: [process.env.ASAN_OPTIONS, `quarantine_size_mb=${ASAN_QUARANTINE_MB}`].filter(Boolean).join(':') } : {});

// How long a message may take to arrive when one is due, and how long "nothing arrives" is watched.
const DUE_MS = 5000;
const QUIET_MS = 1500;

// ------------------------------------------------------------------ servers (started once, stopped at the end)
let failed = false;
const logs = [];
const servers = new Map();
function server(name, args = [], env = {}) {
  if (!servers.has(name)) {
    const p = startServer({ store: makeTempDir(`ursa-live-${name}-`), node: `live-${name}`, args, env })
      .then(s => { logs.push(s.log); return s; });
    servers.set(name, p);
  }
  return servers.get(name);
}
// The main server: every default of live.md.
const mainServer = () => server('main');
after(async () => {
  for (const p of servers.values()) {
    try { await (await p).stop(); } catch { /* did not start: that test failed already */ }
  }
  const reports = logs.flatMap(l => sanitizerReports(l()));
  assert.deepEqual(reports, [], 'sanitizer reports in the server output');
  if (!failed) removeTempDirs();
});

// Every connection a test opened is dropped when it ends, whatever happened (each test has its own set,
// as some run side by side).
const openSets = new AsyncLocalStorage();
const open = { add: ws => (openSets.getStore() ?? new Set()).add(ws) };
function step(name, fn, timeout = 30_000) {
  test(name, { timeout }, async () => {
    const mine = new Set();
    try {
      await openSets.run(mine, fn);
    } catch (e) {
      failed = true;
      for (const p of servers.values()) {
        const s = await p.catch(() => null);
        if (s) e.message += `\n--- server ${s.argv.join(' ')} (log tail):\n${s.log().slice(-3000)}`;
      }
      throw e;
    } finally {
      for (const ws of mine) ws.destroy();
    }
  });
}

// ------------------------------------------------------------------ data
const SCHEMA = {
  columns: [
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'id', type: 'int64', nullable: false },
    { name: 'event', type: 'string' },
    { name: 'note', type: 'string' },
  ],
  time_column: 'ts',
};
const EVENTS = ['click', 'view', 'buy', 'été'];
/** Row i: a day of December 2026, one of four events, an optional note. */
const record = (i, note = null) => ({ ts: `2026-12-01T${String(Math.floor(i / 3600) % 24).padStart(2, '0')}:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}Z`, id: i, event: EVENTS[i % 4], note });
const ndjson = (from, n, note) => Array.from({ length: n }, (_, k) => JSON.stringify(record(from + k, typeof note === 'function' ? note(from + k) : note ?? null))).join('\n') + '\n';

async function createDataset(srv, name) {
  const r = await srv.put(`/v1/datasets/${name}`, SCHEMA);
  assert.ok(r.status === 200 || r.status === 201, `PUT /v1/datasets/${name}: ${r.status} ${r.text}`);
}
async function post(srv, name, from, n, note) {
  const r = await srv.postRecords(name, ndjson(from, n, note));
  assert.equal(r.status, 200, `POST records to ${name}: ${r.text}`);
  assert.equal(r.json.accepted, n, `POST records to ${name}: ${r.text}`);
}
async function query(srv, sql) {
  const r = await srv.post('/v1/query', { sql });
  assert.equal(r.status, 200, `POST /v1/query ${sql}: ${r.text}`);
  return r.json;
}

// ------------------------------------------------------------------ client helpers
async function health(srv, ms = 3000) {
  try {
    const r = await fetch(`${srv.url}/healthz`, { signal: AbortSignal.timeout(ms) });
    await r.text();
    return r.status;
  } catch { return 'timeout'; }
}
/** A WebSocket on /v1/live; fails unless the answer is 101. */
async function live(srv, opts = {}) {
  const h = await connect(srv.port, opts);
  assert.equal(h.status, 101, `GET /v1/live upgrade: ${h.status} ${h.body.toString()}`);
  open.add(h.ws);
  return h.ws;
}
/** The next JSON message about subscription `id`. */
const nextFor = (ws, id, ms = DUE_MS, what = `a message for ${id}`) => ws.nextJsonWhere(m => m.id === id, ms, what);
/** Subscribes and resolves the first answer for `id` (a result or an error). */
function subscribe(ws, id, sql, extra = {}) {
  ws.sendJson({ type: 'subscribe', id, sql, ...extra });
  return nextFor(ws, id, DUE_MS, `the first answer to subscribe ${id}`);
}
/** Subscribes and checks that the answer is result seq 1 with skipped 0. */
async function subscribeOk(ws, id, sql, extra) {
  const m = await subscribe(ws, id, sql, extra);
  assert.equal(m.type, 'result', `subscribe ${id} (${sql}): ${JSON.stringify(m).slice(0, 300)}`);
  assert.equal(m.seq, 1, `${id}: the first result has seq 1`);
  assert.equal(m.skipped, 0, `${id}: the first result skipped nothing`);
  return m;
}
/** The result must be exactly POST /v1/query's answer, but for stats (compared by their keys). */
function sameAsQuery(result, answer, label) {
  assert.ok(result && typeof result === 'object', `${label}: "result" is an object`);
  assert.deepEqual(Object.keys(result).sort(), Object.keys(answer).sort(), `${label}: the same members as POST /v1/query's answer`);
  assert.deepEqual(result.columns, answer.columns, `${label}: columns`);
  assert.deepEqual(result.rows, answer.rows, `${label}: rows`);
  assert.equal(typeof result.stats, 'object', `${label}: stats`);
}
/** Watches for ms: no JSON message at all (or none that pred accepts) may arrive. */
async function quiet(ws, ms, label, pred = () => true) {
  const got = await ws.collect(ms, pred);
  assert.deepEqual(got.map(m => JSON.stringify(m).slice(0, 200)), [], `${label}: nothing within ${ms} ms`);
}
/** An error with status 400 for a bad message (the connection stays open: checked by the caller). */
async function badMessage(ws, bytes, label) {
  ws.send(bytes);
  const m = await ws.nextJson(DUE_MS, `the error for ${label}`);
  assert.equal(m.type, 'error', `${label}: ${JSON.stringify(m)}`);
  assert.equal(m.status, 400, `${label}: status`);
  assert.ok(typeof m.error === 'string' && m.error.length > 0, `${label}: an error text`);
  return m;
}
/** The connection answers a ping (so it is open and its reader in step). */
async function alive(ws, label) {
  const payload = `alive-${Math.random().toString(36).slice(2)}`;
  ws.ping(payload);
  const p = await ws.nextPong(DUE_MS).catch(e => { throw new Error(`${label}: no pong: ${e.message}`); });
  assert.equal(p.payload.toString(), payload, `${label}: pong payload`);
}
/**
 * The server's close: its code, a reason text (unless reason is false: the test checks it elsewhere), then
 * the server ends the TCP connection (the client does not), and nothing the server sent broke RFC 6455.
 */
async function expectClose(ws, code, label, { reason = true } = {}) {
  const c = await ws.waitClose(DUE_MS).catch(e => { throw new Error(`${label}: ${e.message}`); });
  assert.equal(c.code, code, `${label}: close code (reason ${JSON.stringify(c.reason)})`);
  if (reason) assert.ok(c.reason.length > 0, `${label}: the close carries a reason text (live.md: "each with a reason text")`);
  await ws.waitEnd(DUE_MS).catch(e => { throw new Error(`${label}: the server did not close the TCP connection after its close frame: ${e.message}`); });
  assert.deepEqual(ws.violations, [], `${label}: frames from the server`);
  return c;
}
const rss = pid => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
const openFds = pid => readdirSync(`/proc/${pid}/fd`).length;

// ================================================================== the handshake
step('handshake: 101 with the RFC 6455 accept key; no extension, no subprotocol', async () => {
  // Our accept key against the RFC's own example (4.2.2), so that the comparison below means something.
  assert.equal(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  const srv = await mainServer();
  for (const key of ['dGhlIHNhbXBsZSBub25jZQ==', undefined]) {
    const h = await connect(srv.port, {
      ...(key ? { key } : {}),
      headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits', 'Sec-WebSocket-Protocol': 'chat, superchat' },
    });
    assert.equal(h.status, 101, `${h.status} ${h.body}`);
    open.add(h.ws);
    assert.equal(h.headers['sec-websocket-accept'], acceptKey(h.key), 'Sec-WebSocket-Accept');
    assert.equal(h.headers.upgrade?.toLowerCase(), 'websocket', 'Upgrade: websocket');
    assert.match(h.headers.connection ?? '', /\bupgrade\b/i, 'Connection: Upgrade');
    assert.equal(h.headers['sec-websocket-extensions'], undefined, 'no extension negotiated (no compression)');
    assert.equal(h.headers['sec-websocket-protocol'], undefined, 'no subprotocol negotiated');
    await alive(h.ws, 'after the handshake');
    h.ws.close(1000, 'done');
    await expectClose(h.ws, 1000, 'close after the handshake', { reason: false }); // the reason: the client-close test
  }
  // Header forms browsers send: "Connection: keep-alive, Upgrade" (Firefox), "Upgrade: WebSocket" (any case).
  for (const headers of [{ Connection: 'keep-alive, Upgrade' }, { Upgrade: 'WebSocket', Connection: 'upgrade' }]) {
    const h = await connect(srv.port, { headers });
    assert.equal(h.status, 101, `${JSON.stringify(headers)}: ${h.status} ${h.body}`);
    open.add(h.ws);
    assert.equal(h.headers['sec-websocket-accept'], acceptKey(h.key));
    await alive(h.ws, JSON.stringify(headers));
  }
});

step('handshake refusals: 426 without Upgrade, 400 for a bad key, 426 + Sec-WebSocket-Version: 13 for another version; POST', async () => {
  const srv = await mainServer();
  const jsonError = (h, label) => {
    assert.match(h.headers['content-type'] ?? '', /^application\/json/, `${label}: Content-Type`);
    assert.ok(h.json && typeof h.json.error === 'string' && h.json.error.length > 0, `${label}: a JSON error body: ${h.body}`);
  };
  // No Upgrade at all (a plain GET), and an Upgrade to something else.
  for (const [label, headers] of [
    ['plain GET', { Upgrade: null, Connection: null, 'Sec-WebSocket-Key': null, 'Sec-WebSocket-Version': null }],
    ['no Upgrade header', { Upgrade: null, Connection: 'keep-alive' }],
    ['Upgrade: h2c', { Upgrade: 'h2c' }],
  ]) {
    const h = await connect(srv.port, { headers });
    assert.equal(h.status, 426, `${label}: ${h.status} ${h.body}`);
    assert.equal(h.headers.upgrade?.toLowerCase(), 'websocket', `${label}: Upgrade: websocket`);
    jsonError(h, label);
  }
  // A plain GET through fetch, as a browser or curl would make it.
  const g = await fetch(`${srv.url}/v1/live`, { signal: AbortSignal.timeout(DUE_MS) });
  assert.equal(g.status, 426, 'fetch GET /v1/live');
  assert.equal(g.headers.get('upgrade')?.toLowerCase(), 'websocket');
  assert.equal(typeof (await g.json()).error, 'string');
  // Bad keys: missing, not base64, base64 of other than 16 bytes.
  for (const [label, key] of [
    ['no key', null], ['empty key', ''], ['not base64', 'not*base64*at*all!!!!==='],
    ['15 bytes', Buffer.alloc(15, 1).toString('base64')], ['17 bytes', Buffer.alloc(17, 1).toString('base64')],
    ['20 bytes', Buffer.alloc(20, 7).toString('base64')],
  ]) {
    const h = await connect(srv.port, { headers: { 'Sec-WebSocket-Key': key } });
    assert.equal(h.status, 400, `${label}: ${h.status} ${h.body}`);
    jsonError(h, label);
  }
  // Other versions.
  for (const v of ['8', '12', '14', '13x']) {
    const h = await connect(srv.port, { headers: { 'Sec-WebSocket-Version': v } });
    assert.equal(h.status, 426, `version ${v}: ${h.status} ${h.body}`);
    assert.equal(h.headers['sec-websocket-version'], '13', `version ${v}: Sec-WebSocket-Version: 13`);
    jsonError(h, `version ${v}`);
  }
  // POST to the route: the router's rule for a method a path does not answer (405, Allow: GET).
  const p = await srv.post('/v1/live', { type: 'subscribe' });
  assert.equal(p.status, 405, `POST /v1/live: ${p.status} ${p.text}`);
  assert.match(p.headers.get('allow') ?? '', /\bGET\b/, 'Allow names GET');
  assert.equal(typeof p.json?.error, 'string', 'POST /v1/live: JSON error');
  // HEAD with every upgrade header, and HTTP/1.0: no upgrade (RFC 6455 4.1: a GET, HTTP/1.1).
  const rawHead = (req) => new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port: srv.port });
    let got = '';
    const done = () => { sock.destroy(); resolve(got); };
    sock.on('data', d => { got += d.toString('latin1'); if (/\r\n\r\n/.test(got) && (req.startsWith('HEAD') || /\}$/.test(got))) done(); });
    sock.on('end', done);
    sock.on('error', reject);
    sock.setTimeout(3000, () => { sock.destroy(); reject(new Error(`${req.split('\r\n')[0]}: no answer within 3 s (${got})`)); });
    sock.write(req);
  });
  const upgradeHeaders = 'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${Buffer.alloc(16, 3).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  const hd = await rawHead(`HEAD /v1/live HTTP/1.1\r\nHost: 127.0.0.1\r\n${upgradeHeaders}`);
  assert.match(hd, /^HTTP\/1\.1 400 /, `HEAD /v1/live: ${hd.slice(0, 200)}`);
  const old = await rawHead(`GET /v1/live HTTP/1.0\r\n${upgradeHeaders}`);
  assert.match(old, /^HTTP\/1\.[01] 400 /, `HTTP/1.0: ${old.slice(0, 200)}`);
  assert.match(old, /"error":"a WebSocket opens with GET over HTTP\/1\.1"/);
  assert.equal(await health(srv), 200);
});

step('Origin: a page of another origin gets 403 unless --live-allow-origin names it; the node\'s own and no Origin pass', async () => {
  const srv = await mainServer();
  const own = await connect(srv.port, { headers: { Origin: `http://127.0.0.1:${srv.port}` } });
  assert.equal(own.status, 101, `own origin: ${own.status} ${own.body}`);
  own.ws.destroy();
  const evil = await connect(srv.port, { headers: { Origin: 'http://evil.example' } });
  assert.equal(evil.status, 403, `another origin: ${evil.status}`);
  assert.match(evil.json?.error ?? '', /another origin/);
  const other = await server('origins', ['--live-allow-origin', 'https://dash.example, https://ops.example']);
  for (const [origin, status] of [['https://ops.example', 101], ['https://dash.example', 101], ['http://dash.example', 403], ['http://evil.example', 403]]) {
    const h = await connect(other.port, { headers: { Origin: origin } });
    assert.equal(h.status, status, `${origin}: ${h.status} ${h.body}`);
    h.ws?.destroy();
  }
});

step('bytes sent in the same write as the handshake are read: a ping and a subscribe', async () => {
  const srv = await mainServer();
  await createDataset(srv, 'glued');
  await post(srv, 'glued', 0, 7);
  const h = await connect(srv.port, {
    extra: [frame({ opcode: OP.PING, payload: 'glued-ping' }), frame({ opcode: OP.TEXT, payload: JSON.stringify({ type: 'subscribe', id: 'g', sql: 'SELECT count(*) AS n FROM glued' }) })],
  });
  assert.equal(h.status, 101, `${h.status} ${h.body}`);
  open.add(h.ws);
  // Nothing more is sent: the server must act on the two frames it already has.
  const pong = await h.ws.nextPong(3000).catch(async e => {
    // Tell "lost" from "read only when more bytes come": send one more ping and see what comes back.
    h.ws.ping('nudge');
    await sleep(1000);
    throw new Error('the ping sent with the handshake was not answered within 3000 ms; after one more ping the server sent: ' +
      `${JSON.stringify(h.ws.history)} (${e.message.split('\n')[0]})`);
  });
  assert.equal(pong.payload.toString(), 'glued-ping');
  const m = await nextFor(h.ws, 'g');
  assert.equal(m.type, 'result', JSON.stringify(m));
  assert.equal(m.seq, 1);
  assert.deepEqual(m.result.rows, [[7]]);
});

// ================================================================== subscriptions
step('subscribe: the first result is POST /v1/query\'s answer; new rows push seq 2, 3 with no client message', async () => {
  const srv = await mainServer();
  await createDataset(srv, 'ev');
  await post(srv, 'ev', 0, 10);
  const ws = await live(srv);
  const sql = 'SELECT event, count(*) AS n, max(id) AS top FROM ev GROUP BY event ORDER BY event';
  const first = await subscribeOk(ws, 'q1', sql);
  assert.equal(first.id, 'q1');
  sameAsQuery(first.result, await query(srv, sql), 'seq 1');
  assert.equal(first.result.rows.reduce((s, r) => s + r[1], 0), 10, 'seq 1 counts the 10 rows');

  for (const [seq, from, n] of [[2, 10, 5], [3, 15, 21]]) {
    await post(srv, 'ev', from, n);
    const m = await nextFor(ws, 'q1', DUE_MS, `seq ${seq} after ${n} new rows`);
    assert.equal(m.type, 'result', JSON.stringify(m).slice(0, 300));
    assert.equal(m.seq, seq, 'seq counts the results sent');
    assert.ok(Number.isInteger(m.skipped) && m.skipped >= 0, `skipped: ${m.skipped}`);
    sameAsQuery(m.result, await query(srv, sql), `seq ${seq}`);
    assert.equal(m.result.rows.reduce((s, r) => s + r[1], 0), from + n, `seq ${seq} counts every row`);
  }
  assert.deepEqual(ws.violations, []);
});

// Tests that mostly wait (quiet windows, rates, the 5 s refresh, an idle timeout) run side by side: each
// has its own datasets and connections, and what one posts cannot change another's results.
describe('waiting tests, side by side', { concurrency: true }, () => {
  step('a result equal to the last one is not sent: rows that do not change it, another dataset, a flush', async () => {
    const srv = await mainServer();
    await createDataset(srv, 'same_a');
    await createDataset(srv, 'same_b');
    await post(srv, 'same_a', 0, 4);
    await post(srv, 'same_b', 0, 3);
    const ws = await live(srv);
    const a = await subscribeOk(ws, 'a', 'SELECT count(*) AS n FROM same_a');
    assert.deepEqual(a.result.rows, [[4]]);
    const neg = await subscribeOk(ws, 'neg', 'SELECT count(*) AS n FROM same_a WHERE id < 0');
    assert.deepEqual(neg.result.rows, [[0]]);
    const b = await subscribeOk(ws, 'b', 'SELECT count(*) AS n FROM same_b');
    assert.deepEqual(b.result.rows, [[3]]);

    // New rows in same_a: "a" changes; "neg" runs again (its stats change) but its rows do not; "b" reads
    // another dataset.
    await post(srv, 'same_a', 4, 6);
    const a2 = await nextFor(ws, 'a');
    assert.equal(a2.seq, 2);
    assert.deepEqual(a2.result.rows, [[10]]);
    await quiet(ws, QUIET_MS, 'after rows that change only "a"');

    // A flush moves the buffered rows into a file: the same rows, so nothing is sent.
    const f = await srv.flush('same_a');
    assert.equal(f.status, 200, f.text);
    await quiet(ws, QUIET_MS, 'after a flush');

    // And the next change counts the flushed rows once.
    await post(srv, 'same_a', 10, 1);
    const a3 = await nextFor(ws, 'a');
    assert.equal(a3.seq, 3);
    assert.deepEqual(a3.result.rows, [[11]], 'rows in the file and in the buffer, each counted once');
    await quiet(ws, 500, 'after the third result');
    assert.deepEqual(ws.violations, []);
  });

  step('a query on now() is run again after 5 s without new rows, and its new result sent', async () => {
    const srv = await mainServer();
    await createDataset(srv, 'clock');
    const ts = new Date().toISOString();
    const r = await srv.postRecords('clock', [0, 1, 2].map(id => JSON.stringify({ ts, id })).join('\n') + '\n');
    assert.equal(r.status, 200, r.text);
    const ws = await live(srv);
    const t0 = Date.now();
    const first = await subscribeOk(ws, 'clk', "SELECT count(*) AS n FROM clock WHERE ts > now() - INTERVAL '2 seconds'");
    assert.deepEqual(first.result.rows, [[3]], 'the rows are younger than 2 s at first');
    const m = await nextFor(ws, 'clk', 9000, 'a new result once the rows are older than 2 s (no new rows)');
    const took = Date.now() - t0;
    assert.equal(m.type, 'result');
    assert.equal(m.seq, 2);
    assert.deepEqual(m.result.rows, [[0]]);
    assert.ok(took >= 2000 && took <= 8000, `sent ${took} ms after the subscribe (the rows leave the window at 2 s, a run every 5 s)`);
  });

  step('max_rate: at most that many results a second, capped by --live-max-rate (default 4); the last change is sent', async () => {
    const srv = await mainServer();
    await createDataset(srv, 'rate');
    await post(srv, 'rate', 0, 1);
    const ws = await live(srv);
    await subscribeOk(ws, 'r2', 'SELECT count(*) AS n FROM rate', { max_rate: 2 });
    await subscribeOk(ws, 'rmax', 'SELECT count(*) + 0 AS n FROM rate', { max_rate: 1000 });
    await subscribeOk(ws, 'rhalf', 'SELECT count(*) AS n, max(id) AS m FROM rate', { max_rate: 0.5 });
    // Rows every ~50 ms for 3 s: each subscription is due as often as its rate allows.
    const SECONDS = 3;
    const t0 = Date.now();
    let next = 1;
    while (Date.now() - t0 < SECONDS * 1000) {
      await post(srv, 'rate', next, 1);
      next++;
      await sleep(50);
    }
    const t1 = Date.now();
    await sleep(2800); // the last change is sent within 1 / rate: 0.5 s for r2, 2 s for rhalf
    const msgs = ws.queue.filter(e => e.type === 'message').map(e => ({ ...e.json, at: e.at }));
    const during = id => msgs.filter(m => m.id === id && m.at <= t1 + 100);
    const secs = (t1 - t0) / 1000;
    const r2 = during('r2'), rmax = during('rmax'), rhalf = during('rhalf');
    const gaps = l => l.slice(1).map((m, i) => m.at - l[i].at);
    const info = `r2 ${r2.length} (gaps ${gaps(r2)}), rmax ${rmax.length}, rhalf ${rhalf.length} in ${secs} s`;
    console.log(`# max_rate: ${info}`);
    assert.ok(r2.length <= Math.ceil(2 * secs) + 1, `max_rate 2: ${info}`);
    assert.ok(r2.length >= 3, `max_rate 2 still sends results while rows arrive: ${info}`);
    assert.ok(Math.min(...gaps(r2)) >= 300, `max_rate 2: results at least ~0.5 s apart: ${info}`);
    assert.ok(rmax.length <= Math.ceil(4 * secs) + 1, `max_rate 1000 capped by --live-max-rate 4: ${info}`);
    assert.ok(rmax.length >= r2.length, `max_rate 1000 (capped at 4) sends at least as often as max_rate 2: ${info}`);
    assert.ok(rhalf.length <= Math.ceil(0.5 * secs) + 1, `max_rate 0.5: ${info}`);
    // seq counts every result of a subscription; the last one sent holds the last rows.
    for (const id of ['r2', 'rmax', 'rhalf']) {
      const all = msgs.filter(m => m.id === id);
      assert.ok(all.every(m => m.type === 'result'), `${id}: only results: ${JSON.stringify(all.filter(m => m.type !== 'result'))}`);
      assert.deepEqual(all.map(m => m.seq), all.map((_, i) => i + 2), `${id}: seq 2, 3, … without gaps`);
      assert.equal(all.at(-1).result.rows[0][0], next, `${id}: the last result counts every row (${next})`);
    }
  });

  step('unsubscribe: "unsubscribed", then no more results for it; the others go on', async () => {
    const srv = await mainServer();
    await createDataset(srv, 'unsub');
    await post(srv, 'unsub', 0, 2);
    const ws = await live(srv);
    await subscribeOk(ws, 'u1', 'SELECT count(*) AS n FROM unsub');
    await subscribeOk(ws, 'u2', 'SELECT count(*) AS n, min(id) AS lo FROM unsub');
    ws.sendJson({ type: 'unsubscribe', id: 'u1' });
    const u = await nextFor(ws, 'u1');
    assert.deepEqual(u, { type: 'unsubscribed', id: 'u1' });
    await post(srv, 'unsub', 2, 3);
    const r = await nextFor(ws, 'u2');
    assert.equal(r.seq, 2);
    assert.deepEqual(r.result.rows, [[5, 0]]);
    await quiet(ws, QUIET_MS, 'after unsubscribe', m => m.id === 'u1');
    await post(srv, 'unsub', 5, 1);
    assert.equal((await nextFor(ws, 'u2')).seq, 3);
    await quiet(ws, 500, 'after unsubscribe, more rows', m => m.id === 'u1');
  });

  step('a quiet WebSocket outlives the HTTP --idle-timeout (live.md: closed after 75 s without a frame)', async () => {
    const srv = await server('shutdown', ['--shutdown-timeout', '20', '--idle-timeout', '1']);
    await createDataset(srv, 'quiet');
    await post(srv, 'quiet', 0, 1);
    const ws = await live(srv);
    await subscribeOk(ws, 'q', 'SELECT count(*) AS n FROM quiet');
    await sleep(2500); // nothing from the client for 2.5 s
    assert.equal(ws.ended, false, `the connection is still open after 2.5 s of silence: ${ws.describe()}`);
    await post(srv, 'quiet', 1, 1);
    assert.deepEqual((await nextFor(ws, 'q')).result.rows, [[2]], 'and still gets results');
    await alive(ws, 'after 2.5 s of silence');
  });
});

step('subscription errors: bad SQL 400, unknown dataset 404, both ended; the connection goes on', async () => {
  const srv = await mainServer();
  await createDataset(srv, 'errs');
  await post(srv, 'errs', 0, 3);
  const ws = await live(srv);
  for (const [id, sql, status] of [
    ['syntax', 'SELEC count(*) FROM errs', 400],
    ['column', 'SELECT no_such_column FROM errs', 400],
    ['nodata', 'SELECT count(*) FROM no_such_dataset', 404],
  ]) {
    const viaQuery = await srv.post('/v1/query', { sql });
    assert.equal(viaQuery.status, status, `POST /v1/query ${sql}: ${viaQuery.text}`);
    const m = await subscribe(ws, id, sql);
    assert.equal(m.type, 'error', `${id}: ${JSON.stringify(m)}`);
    assert.equal(m.id, id);
    assert.equal(m.status, status, `${id}: the status POST /v1/query gives`);
    assert.equal(m.ended, true, `${id}: ended`);
    assert.ok(typeof m.error === 'string' && m.error.length > 0, `${id}: error text`);
  }
  // The connection stays, and a good subscription still works.
  await alive(ws, 'after the errors');
  const ok = await subscribeOk(ws, 'good', 'SELECT count(*) AS n FROM errs');
  assert.deepEqual(ok.result.rows, [[3]]);
  // Ended ones are gone: new rows bring a result for "good" only.
  await post(srv, 'errs', 3, 1);
  assert.equal((await nextFor(ws, 'good')).seq, 2);
  await quiet(ws, 700, 'ended subscriptions after new rows', m => m.id !== 'good');
});

step('bad messages: not JSON, no known type, no id or sql, a bad id, a reused id — an error each, the connection stays', async () => {
  const srv = await mainServer();
  await createDataset(srv, 'msgs');
  await post(srv, 'msgs', 0, 2);
  const ws = await live(srv);
  const SQL = 'SELECT count(*) AS n FROM msgs';
  const text = s => frame({ opcode: OP.TEXT, payload: s });
  const cases = [
    ['not JSON', 'hello'],
    ['truncated JSON', '{"type": "subscribe", "id": "x", "sql": "SEL'],
    ['a JSON array', '[1, 2, 3]'],
    ['a JSON string', '"subscribe"'],
    ['an empty message', ''],
    ['no type', JSON.stringify({ id: 'x', sql: SQL })],
    ['unknown type', JSON.stringify({ type: 'frobnicate', id: 'x', sql: SQL })],
    ['type not a string', JSON.stringify({ type: 1, id: 'x', sql: SQL })],
    ['subscribe without id', JSON.stringify({ type: 'subscribe', sql: SQL })],
    ['subscribe without sql', JSON.stringify({ type: 'subscribe', id: 'nosql' })],
    ['unsubscribe without id', JSON.stringify({ type: 'unsubscribe' })],
    ['an empty id', JSON.stringify({ type: 'subscribe', id: '', sql: SQL })],
    ['an id of 65 characters', JSON.stringify({ type: 'subscribe', id: 'x'.repeat(65), sql: SQL })],
    ['an id with a newline', JSON.stringify({ type: 'subscribe', id: 'a\nb', sql: SQL })],
    ['an id not ASCII', JSON.stringify({ type: 'subscribe', id: 'été', sql: SQL })],
    ['an id that is a number', JSON.stringify({ type: 'subscribe', id: 7, sql: SQL })],
    // max_rate is "a number > 0" (these may come back as an ended subscription error, with their id).
    ['max_rate 0', JSON.stringify({ type: 'subscribe', id: 'rate0', sql: SQL, max_rate: 0 })],
    ['max_rate -1', JSON.stringify({ type: 'subscribe', id: 'rateneg', sql: SQL, max_rate: -1 })],
    ['max_rate a string', JSON.stringify({ type: 'subscribe', id: 'ratestr', sql: SQL, max_rate: '2' })],
  ];
  // live.md shows the message errors as {"type": "error", "status": 400, "error": "…"}; what else they carry
  // is listed (not failed on) so that a report can say it.
  const shapes = [];
  for (const [label, msg] of cases) {
    const m = await badMessage(ws, text(msg), label);
    const extra = Object.keys(m).filter(k => !['type', 'status', 'error'].includes(k));
    if (extra.length) shapes.push(`${label}: ${JSON.stringify(m)}`);
  }
  if (shapes.length) console.log(`# error messages with more than type/status/error:\n#   ${shapes.join('\n#   ')}`);
  // None of them subscribed anything.
  await quiet(ws, 300, 'after the bad messages');
  // Bounds of a good id: 64 printable ASCII characters.
  const id64 = '~!' + 'A'.repeat(60) + ' z';
  assert.equal(id64.length, 64);
  const ok = await subscribeOk(ws, id64, SQL);
  assert.equal(ok.id, id64);
  await subscribeOk(ws, 'dup', SQL);
  // A reused id: an error that does not say the first one ended, and the first subscription is untouched.
  const dupErr = await badMessage(ws, text(JSON.stringify({ type: 'subscribe', id: 'dup', sql: 'SELECT count(*) + 1 AS n FROM msgs' })), 'a reused id');
  assert.notEqual(dupErr.ended, true, `a reused id does not end the subscription that has it: ${JSON.stringify(dupErr)}`);
  await post(srv, 'msgs', 2, 1);
  // Both go on, and "dup" still runs its own SQL (count(*), not the reused message's count(*) + 1).
  for (const id of ['dup', id64]) {
    const r = await nextFor(ws, id);
    assert.deepEqual([r.type, r.seq, r.result?.rows], ['result', 2, [[3]]], `${id} after the reused id`);
  }
  await alive(ws, 'after every bad message');
  assert.deepEqual(ws.violations, []);
});

step('bounds: a result over --live-result-max ends with 413; 429 past --live-subscriptions-per-connection and --live-subscriptions', async () => {
  const srv = await server('limits', ['--live-subscriptions-per-connection', '2', '--live-subscriptions', '3', '--live-result-max', '2K']);
  await createDataset(srv, 'lim');
  await post(srv, 'lim', 0, 3);
  await createDataset(srv, 'big');
  await post(srv, 'big', 0, 40, i => `${i}:${'n'.repeat(100)}`); // ~5 KB of JSON
  await createDataset(srv, 'grow');
  await post(srv, 'grow', 0, 1, 'short');

  // 413: from the start, and when a result grows past the limit.
  const w0 = await live(srv);
  const viaQuery = await srv.post('/v1/query', { sql: 'SELECT id, note FROM big' });
  assert.equal(viaQuery.status, 200, 'POST /v1/query has no such limit');
  assert.ok(viaQuery.text.length > 2 * KiB, `the answer is over 2 KiB (${viaQuery.text.length} bytes)`);
  let m = await subscribe(w0, 'big', 'SELECT id, note FROM big');
  assert.equal(m.type, 'error', JSON.stringify(m).slice(0, 300));
  assert.equal(m.status, 413);
  assert.equal(m.ended, true);
  await subscribeOk(w0, 'grow', 'SELECT id, note FROM grow ORDER BY id');
  await post(srv, 'grow', 1, 40, i => `${i}:${'g'.repeat(100)}`);
  m = await nextFor(w0, 'grow');
  assert.equal(m.type, 'error', `a result grown past the limit: ${JSON.stringify(m).slice(0, 300)}`);
  assert.equal(m.status, 413);
  assert.equal(m.ended, true);
  await post(srv, 'grow', 41, 1, 'x');
  await quiet(w0, 700, 'the ended subscription', x => x.id === 'grow');
  await alive(w0, 'after 413');
  w0.close(1000, 'bye');
  await expectClose(w0, 1000, 'w0', { reason: false });

  // 429 per connection (2), then for the server (3); ended and closed subscriptions above hold no slot.
  const a = await live(srv);
  await subscribeOk(a, 's1', 'SELECT count(*) AS n FROM lim');
  await subscribeOk(a, 's2', 'SELECT count(*) AS n FROM lim');
  m = await subscribe(a, 's3', 'SELECT count(*) AS n FROM lim');
  assert.equal(m.type, 'error', `the third on a connection: ${JSON.stringify(m)}`);
  assert.equal(m.status, 429);
  assert.equal(m.ended, true);
  await alive(a, 'after 429');
  const b = await live(srv);
  await subscribeOk(b, 't1', 'SELECT count(*) AS n FROM lim');
  m = await subscribe(b, 't2', 'SELECT count(*) AS n FROM lim');
  assert.equal(m.type, 'error', `the fourth on the server: ${JSON.stringify(m)}`);
  assert.equal(m.status, 429);
  assert.equal(m.ended, true);
  await alive(b, 'after 429 for the server');
  // An unsubscribe frees a slot at once.
  a.sendJson({ type: 'unsubscribe', id: 's1' });
  assert.equal((await nextFor(a, 's1')).type, 'unsubscribed');
  await subscribeOk(b, 't3', 'SELECT count(*) AS n FROM lim');
  // A connection dropped without a close frees its slots too.
  a.destroy();
  const c = await live(srv);
  const t0 = Date.now();
  let cid;
  for (let i = 0; ; i++) {
    cid = `c${i}`;
    m = await subscribe(c, cid, 'SELECT count(*) AS n FROM lim');
    if (m.type === 'result') break;
    assert.equal(m.status, 429, JSON.stringify(m));
    assert.ok(Date.now() - t0 < 3000, 'the slot of a dropped connection is freed within 3 s');
    await sleep(100);
  }
  // Everyone still gets results.
  await post(srv, 'lim', 3, 1);
  for (const [ws, id] of [[b, 't1'], [b, 't3'], [c, cid]]) {
    const r = await nextFor(ws, id);
    assert.equal(r.seq, 2, id);
    assert.deepEqual(r.result.rows, [[4]], id);
  }
  assert.equal(await health(srv), 200);
});

// ================================================================== frames
step('fragments: a subscribe in 1-byte fragments with a ping between them, UTF-8 cut across fragments; 64 KiB exactly is taken', async () => {
  const srv = await mainServer();
  await createDataset(srv, 'frag');
  await post(srv, 'frag', 0, 8);
  const ws = await live(srv);
  const sql = "SELECT count(*) AS n FROM frag WHERE event <> 'été'";
  const msg = Buffer.from(JSON.stringify({ type: 'subscribe', id: 'f1', sql }));
  const ping = frame({ opcode: OP.PING, payload: 'between fragments' });
  ws.sendEach(fragments(OP.TEXT, msg, 1, { 5: ping, 40: frame({ opcode: OP.PONG, payload: 'unsolicited' }) }));
  const pong = await ws.nextPong(DUE_MS);
  assert.equal(pong.payload.toString(), 'between fragments', 'the pong carries the ping\'s bytes');
  const r = await nextFor(ws, 'f1');
  assert.equal(r.type, 'result', JSON.stringify(r));
  sameAsQuery(r.result, await query(srv, sql), 'fragmented subscribe');
  assert.deepEqual(r.result.rows, [[6]]);

  // Fragments of uneven sizes, one of them empty.
  ws.sendEach(fragments(OP.TEXT, JSON.stringify({ type: 'subscribe', id: 'f2', sql: 'SELECT count(*) AS n FROM frag' }), [3, 0, 17, 1]));
  assert.deepEqual((await nextFor(ws, 'f2')).result.rows, [[8]]);

  // A message of exactly 64 KiB (JSON padded with spaces), whole and in fragments: taken.
  const pad = (obj, size) => { const s = JSON.stringify(obj); return s + ' '.repeat(size - s.length); };
  const exact = pad({ type: 'subscribe', id: 'f64', sql: 'SELECT count(*) AS n FROM frag' }, 64 * KiB);
  assert.equal(Buffer.byteLength(exact), 65536);
  ws.send(frame({ opcode: OP.TEXT, payload: exact }));
  assert.deepEqual((await nextFor(ws, 'f64')).result.rows, [[8]], 'a 65536-byte message');
  const exact2 = pad({ type: 'subscribe', id: 'f64b', sql: 'SELECT count(*) AS n FROM frag' }, 64 * KiB);
  ws.sendEach(fragments(OP.TEXT, exact2, 4096));
  assert.deepEqual((await nextFor(ws, 'f64b')).result.rows, [[8]], 'a 65536-byte message in 16 fragments');
  await alive(ws, 'after the fragments');
  assert.deepEqual(ws.violations, []);
});

step('ping → pong with the same bytes (empty, binary, 125 bytes); a pong from the client is ignored', async () => {
  const srv = await mainServer();
  const ws = await live(srv);
  const payloads = [Buffer.alloc(0), Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80]), Buffer.alloc(125, 0x61), Buffer.from('é?')];
  for (const p of payloads) {
    ws.ping(p);
    const pong = await ws.nextPong(DUE_MS);
    assert.deepEqual(pong.payload, p, `pong for a ping of ${p.length} bytes`);
  }
  // Several pings in one write: RFC 6455 5.5.3 lets a pong answer only the latest of the pings not yet
  // answered, so the pongs are some of a, b, c, in order, ending with c.
  ws.send(['a', 'b', 'c'].map(s => frame({ opcode: OP.PING, payload: s })));
  const seen = [];
  while (seen.at(-1) !== 'c') seen.push((await ws.nextPong(DUE_MS)).payload.toString());
  assert.ok(/^a?b?c$/.test(seen.join('')), `pongs for pings a, b, c in one write: ${seen}`);
  ws.pong('nobody asked');
  await quiet(ws, 300, 'after an unsolicited pong');
  await alive(ws, 'after an unsolicited pong');
  assert.deepEqual(ws.violations, []);
});

step('the client\'s close: the server answers 1000 and closes the TCP connection; no result after it', async () => {
  const srv = await mainServer();
  await createDataset(srv, 'closing');
  await post(srv, 'closing', 0, 1);
  const ws = await live(srv);
  await subscribeOk(ws, 'c', 'SELECT count(*) AS n FROM closing');
  ws.close(1000, 'bye now');
  await post(srv, 'closing', 1, 1);
  const c1 = await expectClose(ws, 1000, 'client close 1000', { reason: false });
  assert.equal(ws.queue.filter(e => e.type === 'message').length, 0, 'no result after the close');
  // Another code from the client: answered with a close too, the TCP connection closed.
  const ws2 = await live(srv);
  ws2.close(4000, 'app code');
  const c2 = await ws2.waitClose(DUE_MS);
  assert.ok([1000, 4000].includes(c2.code), `the answer to close 4000: ${c2.code}`);
  await ws2.waitEnd(DUE_MS);
  // An empty close.
  const ws3 = await live(srv);
  ws3.close();
  const c3 = await ws3.waitClose(DUE_MS);
  assert.ok([1000, 1005].includes(c3.code), `the answer to an empty close: ${c3.code}`);
  await ws3.waitEnd(DUE_MS);
  assert.equal(await health(srv), 200);
  // live.md: "Close codes the server sends …, each with a reason text" — 1000 included.
  assert.ok(c1.reason.length > 0, `the answer to the client's close 1000 carries a reason text (got payload ${c1.payload.toString('hex')})`);
});

step('refused frames close the connection with the RFC\'s code, then the TCP connection; the server goes on', async () => {
  const srv = await mainServer();
  await createDataset(srv, 'proto');
  await post(srv, 'proto', 0, 1);
  const SUB = JSON.stringify({ type: 'subscribe', id: 'p', sql: 'SELECT count(*) AS n FROM proto' });
  const bad = b => Buffer.from(b);
  const cases = [
    ['an unmasked frame', 1002, [frame({ mask: false, payload: SUB })]],
    ['an unmasked ping', 1002, [frame({ mask: false, opcode: OP.PING, payload: 'x' })]],
    ['RSV1 (no compression negotiated)', 1002, [frame({ rsv: RSV1, payload: SUB })]],
    ['RSV2', 1002, [frame({ rsv: RSV2, payload: SUB })]],
    ['RSV3', 1002, [frame({ rsv: RSV3, payload: SUB })]],
    ['RSV1 on a ping', 1002, [frame({ rsv: RSV1, opcode: OP.PING })]],
    ['opcode 3', 1002, [frame({ opcode: 0x3, payload: 'x' })]],
    ['opcode 7', 1002, [frame({ opcode: 0x7 })]],
    ['opcode 0xB', 1002, [frame({ opcode: 0xB, payload: 'x' })]],
    ['opcode 0xF', 1002, [frame({ opcode: 0xF })]],
    ['a ping of 126 bytes', 1002, [frame({ opcode: OP.PING, payload: Buffer.alloc(126, 1) })]],
    ['a close of 126 bytes', 1002, [frame({ opcode: OP.CLOSE, payload: closePayload(1000, 'r'.repeat(124)) })]],
    ['a pong of 200 bytes', 1002, [frame({ opcode: OP.PONG, payload: Buffer.alloc(200, 2) })]],
    ['a fragmented ping', 1002, [frame({ opcode: OP.PING, fin: false, payload: 'a' }), frame({ opcode: OP.CONT, payload: 'b' })]],
    ['a fragmented close', 1002, [frame({ opcode: OP.CLOSE, fin: false, payload: closePayload(1000) })]],
    ['a continuation with no message begun', 1002, [frame({ opcode: OP.CONT, payload: SUB })]],
    ['a continuation after a whole message', 1002, [frame({ opcode: OP.TEXT, payload: '{"type":"x"}' }), frame({ opcode: OP.CONT, payload: 'more' })]],
    ['a text frame while a message is open', 1002, [frame({ opcode: OP.TEXT, fin: false, payload: '{"ty' }), frame({ opcode: OP.TEXT, payload: SUB })]],
    ['a binary message', 1003, [frame({ opcode: OP.BINARY, payload: SUB })]],
    ['a fragmented binary message', 1003, [frame({ opcode: OP.BINARY, fin: false, payload: 'ab' }), frame({ opcode: OP.CONT, payload: 'cd' })]],
    ['text with a bad UTF-8 byte', 1007, [frame({ payload: bad([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]) })]],
    ['text with an overlong form', 1007, [frame({ payload: bad([0x22, 0xc0, 0xaf, 0x22]) })]],
    ['text with a surrogate', 1007, [frame({ payload: bad([0x22, 0xed, 0xa0, 0x80, 0x22]) })]],
    ['text past U+10FFFF', 1007, [frame({ payload: bad([0x22, 0xf4, 0x90, 0x80, 0x80, 0x22]) })]],
    ['text ending inside a character', 1007, [frame({ payload: bad([0x22, 0x61, 0xe2, 0x82]) })]],
    ['bad UTF-8 in the second fragment', 1007, [frame({ fin: false, payload: '{"type": "subscribe", "id": "' }), frame({ opcode: OP.CONT, payload: bad([0xff, 0x22, 0x7d]) })]],
    ['a frame declaring 65537 bytes (header only)', 1009, [frame({ payload: Buffer.alloc(0), length: 65537 })]],
    ['a frame declaring 2^40 bytes (header only)', 1009, [frame({ payload: Buffer.alloc(0), length: 2 ** 40 })]],
    ['a whole frame of 65537 bytes', 1009, [frame({ payload: Buffer.alloc(65537, 0x20) })]],
    ['fragments adding up past 64 KiB', 1009, fragments(OP.TEXT, Buffer.alloc(17 * 4096, 0x20), 4096)],
    ['a close of 1 byte', 1002, [frame({ opcode: OP.CLOSE, payload: Buffer.from([3]) })]],
    ['a close with code 1005 (not to be sent)', 1002, [frame({ opcode: OP.CLOSE, payload: closePayload(1005) })]],
    ['a close with code 999', 1002, [frame({ opcode: OP.CLOSE, payload: closePayload(999) })]],
  ];
  // All at once, each on its own connection (a server may wait a little for the client's close before it
  // drops the TCP connection); half with a subscription open, so that its teardown is part of the refusal.
  const results = await Promise.all(cases.map(async ([label, code, frames], i) => {
    const t0 = Date.now();
    let got;
    try {
      const ws = await live(srv);
      if (i % 2 === 0) await subscribeOk(ws, 'p', 'SELECT count(*) AS n FROM proto');
      ws.send(frames);
      const c = await expectClose(ws, code, label);
      got = `${c.code} ${JSON.stringify(c.reason)}, TCP closed ${ws.endedAt - t0} ms after`;
    } catch (e) {
      got = `FAILED: ${e.message.split('\n')[0]}`;
    }
    return { label, want: code, got };
  }));
  assert.equal(await health(srv), 200, 'the server answers /healthz after every refusal');
  const wrong = results.filter(r => r.got.startsWith('FAILED'));
  assert.deepEqual(wrong, [], `every refusal:\n${results.map(r => `  ${r.label}: want ${r.want}, got ${r.got}`).join('\n')}`);
});

// ================================================================== a slow consumer
/** Bytes queued on the loopback connection between the server's socket and ours (/proc/net/tcp). */
function queued(serverPort, clientPort) {
  const hexPort = p => p.toString(16).toUpperCase().padStart(4, '0');
  const sp = hexPort(serverPort), cp = hexPort(clientPort);
  let tx = null, rx = null;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const local = f[1].split(':')[1], remote = f[2].split(':')[1];
    const [txq, rxq] = f[4].split(':').map(h => parseInt(h, 16));
    if (local === sp && remote === cp) tx = txq;        // the server's socket: bytes not yet taken by us
    if (local === cp && remote === sp) rx = rxq;        // ours: bytes received, not read (we are paused)
  }
  if (tx === null || rx === null) throw new Error(`connection 127.0.0.1:${clientPort} <-> :${serverPort} not in /proc/net/tcp`);
  return { tx, rx, total: tx + rx };
}
/**
 * Waits (up to ms) until both sides' buffers are full: the bytes queued stop growing for 500 ms, with over
 * `min` of them, and some still in the server's socket (on loopback they leave it at once while our side
 * has room). Resolves the queues and when they stopped growing.
 */
async function waitFull(serverPort, clientPort, ms, min = MiB) {
  const t0 = Date.now();
  let last = -1, since = Date.now(), q;
  for (;;) {
    q = queued(serverPort, clientPort);
    if (q.total !== last) { last = q.total; since = Date.now(); }
    else if (q.total > min && q.tx > 0 && Date.now() - since >= 500) return { ...q, at: since, waited: Date.now() - t0 };
    if (Date.now() - t0 > ms) throw new Error(`the socket buffers did not fill within ${ms} ms (queued ${JSON.stringify(q)})`);
    await sleep(50);
  }
}

step('a slow consumer gets fewer, newer results (skipped > 0), then close 1008; the server\'s memory stays bounded', async () => {
  // 3 s: room on both sides of the timing below (the close must be read after the timeout and before a
  // second one, when the server would drop the TCP connection instead).
  const SEND_TIMEOUT_S = 3;
  const srv = await server('slow', ['--live-send-timeout', `${SEND_TIMEOUT_S}s`, '--live-result-max', '64M', '--live-max-rate', '20'], asanEnv());
  await createDataset(srv, 'wide');
  // ~1 MB per result: the 500 newest rows of 2,000-character notes; every new row changes it.
  const note = i => `${i}:`.padEnd(2000, String.fromCharCode(97 + (i % 26)));
  for (let i = 0; i < 500; i += 100) await post(srv, 'wide', i, 100, note);
  const SQL = 'SELECT id, note FROM wide ORDER BY id DESC LIMIT 500';
  const ws = await live(srv);
  const first = await subscribeOk(ws, 's', SQL, { max_rate: 20 });
  assert.ok(first.result.rows.length === 500, 'the first result has 500 rows');
  assert.deepEqual(first.result.rows[0][0], 499);

  const pid = srv.proc.pid;
  const rssBase = rss(pid);
  let rssMax = rssBase, postsFailed = 0, nextId = 500, stop = false;
  const sampler = setInterval(() => { try { rssMax = Math.max(rssMax, rss(pid)); } catch { /* exited */ } }, 100);
  // New rows every ~100 ms, all along: results keep changing.
  const poster = (async () => {
    while (!stop) {
      const r = await srv.postRecords('wide', ndjson(nextId, 5, note)).catch(() => ({ status: 'error' }));
      if (r.status === 200) nextId += 5; else postsFailed++;
      await sleep(100);
    }
  })();
  try {
    // Phase 1: stop reading until both socket buffers are full, and a little longer (well under the
    // send timeout); then read again: the results that came while blocked were coalesced.
    ws.pause();
    const full1 = await waitFull(srv.port, ws.socket.localPort, 20_000);
    await sleep(400);
    ws.resume();
    const t1 = Date.now();
    const coalesced = await ws.nextJsonWhere(m => m.type === 'result' && m.skipped > 0, 8000, 'a result with skipped > 0 after phase 1')
      .catch(e => { throw new Error(`${e.message}\n(phase 1: buffers full after ${full1.waited} ms with ${full1.total} bytes queued)`); });
    assert.ok(!ws.closeReceived, `no close after a pause shorter than the send timeout: ${JSON.stringify(ws.closeReceived?.reason)}`);
    await sleep(Math.max(0, 500 - (Date.now() - t1)));
    assert.equal(await health(srv), 200);

    // Phase 2: stop reading for longer than the send timeout (once the buffers are full): close 1008,
    // which we read once reading again.
    ws.pause();
    const full2 = await waitFull(srv.port, ws.socket.localPort, 20_000);
    assert.equal(await health(srv), 200, 'the server answers others while a consumer is stuck');
    await sleep(SEND_TIMEOUT_S * 1000 * 1.25); // past the timeout, well before twice it
    ws.resume();
    const c = await ws.waitClose(10_000).catch(e => { throw new Error(`${e.message}\n(phase 2: buffers full after ${full2.waited} ms with ${full2.total} bytes queued)`); });
    assert.equal(c.code, 1008, `a slow consumer is closed with 1008 (reason ${JSON.stringify(c.reason)})`);
    assert.ok(c.reason.length > 0, 'a reason text');
    await ws.waitEnd(DUE_MS);
    assert.deepEqual(ws.violations, [], 'the frame stream stays whole up to the close');

    const results = [first, ...ws.queue.filter(e => e.type === 'message').map(e => e.json), coalesced].filter(m => m?.type === 'result');
    const seqs = results.map(m => m.seq).sort((x, y) => x - y);
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1), 'seq counts the results sent, without gaps');
    assert.ok(coalesced.skipped > 0);
    for (const m of results) assert.equal(m.result.rows.length, 500, 'every result is whole');
    assert.equal(postsFailed, 0, 'ingest went on all along');
    const grew = rssMax - rssBase;
    const computed = results.reduce((n, m) => n + 1 + m.skipped, 0);
    console.log(`# slow consumer: buffers full after ${full1.waited} ms (${(full1.total / MiB).toFixed(1)} MiB queued) and ${full2.waited} ms ` +
      `(${(full2.total / MiB).toFixed(1)} MiB); ${results.length} results, coalesced one: seq ${coalesced.seq} skipped ${coalesced.skipped}; ` +
      `${computed} results accounted for by seq + skipped; close ${c.code} ${JSON.stringify(c.reason)}; RSS ${(rssBase / MiB).toFixed(0)} -> max ${(rssMax / MiB).toFixed(0)} MiB${ASAN ? ' (ASan)' : ''}`);
    // At most two results (~1 MB each) are held for the stuck subscription; the rest is the query's own
    // memory, the rows posted meanwhile and ASan's quarantine. A queue of every result computed while stuck
    // (printed above) would be tens of MB.
    assert.ok(grew < 64 * MiB, `the server's RSS grew by ${(grew / MiB).toFixed(1)} MiB while the consumer was stuck`);
  } finally {
    stop = true;
    clearInterval(sampler);
    await poster;
  }
  assert.equal(await health(srv), 200);
}, 45_000);

// ================================================================== many connections, shutdown
step('twenty connections with a subscription each get their results; dropping them leaves the server healthy', async () => {
  const srv = await mainServer();
  await createDataset(srv, 'many');
  await post(srv, 'many', 0, 5);
  const pid = srv.proc.pid;
  const fdsBefore = openFds(pid);
  const conns = await Promise.all(Array.from({ length: 20 }, () => live(srv)));
  const firsts = await Promise.all(conns.map((ws, i) => subscribe(ws, `m${i}`, i % 2 ? 'SELECT count(*) AS n FROM many' : 'SELECT count(*) AS n, max(id) AS top FROM many')));
  firsts.forEach((m, i) => { assert.equal(m.type, 'result', `m${i}: ${JSON.stringify(m)}`); assert.equal(m.result.rows[0][0], 5); });
  // Ten subscriptions share each query: one run serves those that are due (ursa_live_shared_runs_total).
  const shared = async () => Number(/^ursa_live_shared_runs_total (\d+)$/m.exec(await (await fetch(`${srv.url}/metrics`)).text())[1]);
  const sharedBefore = await shared();
  await post(srv, 'many', 5, 3);
  const seconds = await Promise.all(conns.map((ws, i) => nextFor(ws, `m${i}`, 10_000)));
  seconds.forEach((m, i) => { assert.equal(m.seq, 2, `m${i}`); assert.equal(m.result.rows[0][0], 8, `m${i}`); });
  const sharedRuns = await shared() - sharedBefore;
  assert.ok(sharedRuns >= 10, `of 20 new results, ${sharedRuns} came from another subscription's run of the same query`);
  // Dropped without a close frame, some with half a frame sent.
  conns.forEach((ws, i) => { if (i % 3 === 0) ws.send(frame({ payload: 'x'.repeat(100) }).subarray(0, 40)); ws.destroy(); });
  assert.equal(await health(srv), 200);
  await post(srv, 'many', 8, 1); // results for connections that are gone
  const t0 = Date.now();
  let fds = openFds(pid);
  while (fds > fdsBefore + 2 && Date.now() - t0 < 3000) { await sleep(100); fds = openFds(pid); }
  assert.ok(fds <= fdsBefore + 2, `the dropped connections' sockets are released (${fds} fds open, ${fdsBefore} before)`);
  const ws = await live(srv);
  assert.deepEqual((await subscribeOk(ws, 'after', 'SELECT count(*) AS n FROM many')).result.rows, [[9]]);
  assert.equal(await health(srv), 200);
});

step('SIGTERM: subscribed clients get close 1001 and the server exits promptly', async () => {
  const srv = await server('shutdown', ['--shutdown-timeout', '20', '--idle-timeout', '1']);
  await createDataset(srv, 'bye');
  await post(srv, 'bye', 0, 2);
  const ws1 = await live(srv);
  await subscribeOk(ws1, 'b', 'SELECT count(*) AS n FROM bye');
  const ws2 = await live(srv); // no subscription
  await alive(ws2, 'idle connection');
  const stopping = srv.stop(); // SIGTERM, waits for the exit
  const [c1, c2] = await Promise.all([expectClose(ws1, 1001, 'subscribed client'), expectClose(ws2, 1001, 'idle client')]);
  assert.ok(c1.reason.length > 0 && c2.reason.length > 0);
  const st = await stopping;
  assert.equal(st.killed, false, 'SIGTERM was enough');
  assert.equal(st.code, 0, `exit code (signal ${st.signal})`);
  assert.ok(st.ms < 5000, `exited ${st.ms} ms after SIGTERM (shutdown timeout 20 s)`);
});
