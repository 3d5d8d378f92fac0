// helpers.mjs — start/stop the Ursa server binary for a test and talk to it over HTTP.
//
// Environment:
//   URSA_BIN       the server binary (default build/ursa, relative to the repo root)
//   URSA_TEST_TMP  where temporary stores go (default os.tmpdir()); created if missing
// Only 127.0.0.1 is ever contacted.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, existsSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as PQ from '../tools/pqread.mjs';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const URSA_BIN = resolve(REPO_ROOT, process.env.URSA_BIN || 'build/ursa');

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
const LOG_LIMIT = 256 * 1024; // keep the last 256 KiB of server output for diagnostics

// ------------------------------------------------------------------ temporary directories
const tempDirs = [];

/** A fresh directory under URSA_TEST_TMP (or the OS temp dir), remembered for removeTempDirs(). */
export function makeTempDir(prefix = 'ursa-test-') {
  const base = process.env.URSA_TEST_TMP ? resolve(process.env.URSA_TEST_TMP) : tmpdir();
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, prefix));
  tempDirs.push(dir);
  return dir;
}

/** Every file below dir (recursively), sorted; [] when dir does not exist. */
export function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out.sort();
}

/** Removes every directory made by makeTempDir(); call only when the test passed (keep them for post-mortem otherwise). */
export function removeTempDirs() {
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

// ------------------------------------------------------------------ server process
// Servers still running when this process ends (failed assertion, timeout, interrupted run) are killed,
// so that no orphan keeps a port and a store.
const running = new Set();
let reaperInstalled = false;
function installReaper() {
  if (reaperInstalled) return;
  reaperInstalled = true;
  process.on('exit', () => { for (const p of running) { try { p.kill('SIGKILL'); } catch { /* already gone */ } } });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => { for (const p of running) { try { p.kill('SIGKILL'); } catch { /* already gone */ } } process.exit(128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 })[sig]); });
  }
}

// A watchdog process per server covers the cases where this process dies without running handlers (e.g.
// the test runner killed by a broken pipe): it holds the read end of a pipe from us and SIGKILLs the server
// when the pipe closes without a "disarm" message.
const WATCHDOG = `let armed = true; process.stdin.on('data', d => { if (String(d).includes('disarm')) armed = false; });
process.stdin.on('end', () => { if (armed) { try { process.kill(Number(process.argv[1]), 'SIGKILL'); } catch {} } process.exit(0); });`;
function startWatchdog(pid) {
  const w = spawn(process.execPath, ['-e', WATCHDOG, String(pid)], { stdio: ['pipe', 'ignore', 'ignore'] });
  w.on('error', () => {});
  w.stdin.on('error', () => {});
  w.unref(); w.stdin.unref?.(); // never keeps this process alive
  return { disarm() { try { w.stdin.end('disarm\n'); } catch { /* gone */ } } };
}

/**
 * Starts `URSA_BIN serve --listen 127.0.0.1:0 --store STORE --node NODE` and waits (up to 10 s) for the
 * stderr line containing `listening on http://127.0.0.1:PORT`.
 * Returns a Server: {port, url, proc, log(), stop(), request(), json helpers...}.
 */
export async function startServer({ store, node = 'test1', args = [], env = {} } = {}) {
  if (!store) throw new Error('startServer: store is required');
  if (!existsSync(URSA_BIN)) throw new Error(`server binary not found: ${URSA_BIN} (set URSA_BIN)`);
  const argv = ['serve', '--listen', '127.0.0.1:0', '--store', store, '--node', node, ...args];
  installReaper();
  // The compaction policy is off unless a test turns it on (env URSA_COMPACT: '1'): it would merge the files
  // other tests count, at a moment of its own choosing.
  const proc = spawn(URSA_BIN, argv, { cwd: REPO_ROOT, env: { ...process.env, URSA_COMPACT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  const watchdog = startWatchdog(proc.pid);
  proc.once('exit', () => { running.delete(proc); watchdog.disarm(); });

  let log = '';
  const append = chunk => { log += chunk.toString('utf8'); if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT); };
  proc.stdout.on('data', append);

  const exited = new Promise(res => proc.once('exit', (code, signal) => res({ code, signal })));
  let exitStatus = null;
  exited.then(s => { exitStatus = s; });

  const port = await new Promise((res, rej) => {
    let stderrBuf = '';
    const timer = setTimeout(() => fail(new Error(`server did not print "listening on http://127.0.0.1:PORT" within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    const onData = chunk => {
      append(chunk);
      stderrBuf += chunk.toString('utf8');
      const m = /listening on https?:\/\/127\.0\.0\.1:(\d+)/.exec(stderrBuf);
      if (m) { cleanup(); res(Number(m[1])); }
      else if (stderrBuf.length > 65536) stderrBuf = stderrBuf.slice(-4096);
    };
    const onExit = (code, signal) => fail(new Error(`server exited before listening (code ${code}, signal ${signal})`));
    const onError = err => fail(err);
    function cleanup() { clearTimeout(timer); proc.stderr.off('data', onData); proc.off('exit', onExit); proc.off('error', onError); }
    function fail(err) { cleanup(); proc.kill('SIGKILL'); err.message += `\n--- ${URSA_BIN} ${argv.join(' ')}\n--- server output:\n${log}`; rej(err); }
    proc.stderr.on('data', onData);
    proc.once('exit', onExit);
    proc.once('error', onError);
  });
  proc.stderr.on('data', append);

  const url = `http://127.0.0.1:${port}`;
  const server = {
    port, url, proc, store, argv,
    log: () => log,
    get exitStatus() { return exitStatus; },

    /**
     * SIGTERM, then wait for exit; SIGKILL after 10 s. Resolves {code, signal, killed, ms}.
     * `killed` is true when SIGTERM was not enough.
     */
    async stop() {
      if (exitStatus) return { ...exitStatus, killed: false, ms: 0 };
      const t0 = Date.now();
      proc.kill('SIGTERM');
      let timer;
      const timedOut = new Promise(res => { timer = setTimeout(() => res(null), STOP_TIMEOUT_MS); });
      let st = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      let killed = false;
      if (!st) { killed = true; proc.kill('SIGKILL'); st = await exited; }
      return { ...st, killed, ms: Date.now() - t0 };
    },

    /**
     * Sends `signal` (default SIGKILL: a crash, no shutdown work) and waits for the exit.
     * Resolves {code, signal, ms}; at once when the process had already exited.
     */
    async kill(signal = 'SIGKILL') {
      if (exitStatus) return { ...exitStatus, ms: 0 };
      const t0 = Date.now();
      proc.kill(signal);
      const st = await exited;
      return { ...st, ms: Date.now() - t0 };
    },

    /**
     * One HTTP request. body: string | Buffer | Uint8Array | object (sent as JSON) | array of Buffers (sent
     * with Transfer-Encoding: chunked, one write per element). Resolves {status, headers, text, json}.
     */
    async request(method, path, { body, headers = {} } = {}) {
      const h = { ...headers };
      let payload = body, extra = {};
      if (Array.isArray(body)) {
        const parts = body.slice();
        payload = new ReadableStream({ pull(ctl) { if (parts.length) ctl.enqueue(new Uint8Array(parts.shift())); else ctl.close(); } });
        extra = { duplex: 'half' };
      } else if (body !== undefined && body !== null && typeof body === 'object' && !(body instanceof Uint8Array)) {
        payload = JSON.stringify(body);
        h['content-type'] ??= 'application/json';
      }
      const res = await fetch(url + path, { method, headers: h, body: payload, ...extra });
      const text = await res.text();
      let json;
      try { json = text.length ? JSON.parse(text) : undefined; } catch { json = undefined; }
      return { status: res.status, headers: res.headers, text, json };
    },
    get(path) { return server.request('GET', path); },
    put(path, body) { return server.request('PUT', path, { body }); },
    post(path, body, headers) { return server.request('POST', path, { body, headers }); },

    /** POST NDJSON records (body: string or Buffer sent as is, or an array of Buffers sent chunked). */
    postRecords(dataset, body, contentType = 'application/x-ndjson') {
      return server.request('POST', `/v1/datasets/${dataset}/records`, { body, headers: { 'content-type': contentType } });
    },
    flush(dataset) { return server.request('POST', `/v1/datasets/${dataset}/flush`); },
  };
  return server;
}

/** Lines of server output that look like AddressSanitizer/UBSan/LeakSanitizer reports. */
export function sanitizerReports(log) {
  return log.split('\n').filter(l => /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined|Leak)/.test(l));
}

/** Short printable rendering of a request line (Buffer or string) for failure messages. */
export function showLine(line, max = 160) {
  const b = Buffer.isBuffer(line) ? line : Buffer.from(String(line));
  const s = b.toString('utf8');
  let out = JSON.stringify(s);
  if (out.length > max) out = out.slice(0, max) + '…';
  if (!Buffer.from(s, 'utf8').equals(b)) out += ` (invalid UTF-8; hex ${b.toString('hex').slice(0, 160)})`;
  return out;
}

// ------------------------------------------------------------------ `ursa cat` output
// A JSON parser that keeps numbers as {num: text} and records every top-level member's raw text.
export function parseLine(s) {
  let i = 0;
  const ws = () => { while (i < s.length && ' \t\r\n'.includes(s[i])) i++; };
  function value() {
    ws();
    const c = s[i];
    if (c === '{') {
      i++; const o = {}; ws();
      if (s[i] === '}') { i++; return o; }
      for (;;) { ws(); const k = str(); ws(); i++; /* : */ o[k] = value(); ws(); if (s[i++] === '}') return o; }
    }
    if (c === '[') {
      i++; const a = []; ws();
      if (s[i] === ']') { i++; return a; }
      for (;;) { a.push(value()); ws(); if (s[i++] === ']') return a; }
    }
    if (c === '"') return str();
    if (s.startsWith('true', i)) { i += 4; return true; }
    if (s.startsWith('false', i)) { i += 5; return false; }
    if (s.startsWith('null', i)) { i += 4; return null; }
    const m = /^-?\d+(\.\d+)?([eE][-+]?\d+)?/.exec(s.slice(i, i + 400));
    if (!m) throw new Error(`bad JSON at ${i}: ${s.slice(i, i + 40)}`);
    i += m[0].length;
    return { num: m[0] };
  }
  function str() {
    const start = i;
    i++;
    while (s[i] !== '"') i += s[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(s.slice(start, i));
  }
  // top level: an object; keep raw text of members
  const row = {}, raw = {};
  i = 0; ws(); i++;
  ws();
  if (s[i] === '}') return { row, raw };
  for (;;) {
    ws(); const k = str(); ws(); i++;
    ws(); const st = i; row[k] = value(); raw[k] = s.slice(st, i);
    ws(); if (s[i++] === '}') break;
  }
  return { row, raw };
}

// RFC 3339 text as printed by `ursa cat` -> BigInt in unit ('ms' | 'us' | 'ns') since the epoch.
const PER = { ms: 1000n, us: 1000000n, ns: 1000000000n };
export function tsValue(text, unit) {
  const m = /^(-?\d+)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z?$/.exec(text);
  if (!m) return `<bad timestamp ${text}>`;
  let days;
  try {
    days = PQ.daysOfIsoDate(`${m[1]}-${m[2]}-${m[3]}`);
  } catch {
    return `<timestamp ${text}: year outside 0..9999>`;
  }
  const secs = days * 86400n + BigInt(m[4]) * 3600n + BigInt(m[5]) * 60n + BigInt(m[6]);
  const p = PER[unit];
  const frac = (m[7] ?? '').padEnd(9, '0');
  const sub = BigInt(frac) * p / 1000000000n;
  return secs * p + sub;
}

// A value printed by `ursa cat` (parsed by parseLine: v the value, raw its text) -> pqread's normalized value
// for type t (a pqread type name), so that it compares exactly with what another reader or the test expects.
export function normalize(v, raw, t) {
  if (v === null) return null;
  if (PQ.isIntegerType(t)) return typeof v === 'object' ? BigInt(v.num) : `<${raw} as ${t}>`;
  if (t === 'float32' || t === 'float64') {
    const n = typeof v === 'object' ? Number(v.num) : v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : `<${raw}>`;
    return t === 'float32' && typeof n === 'number' ? Math.fround(n) : n;
  }
  if (t.startsWith('decimal(')) return typeof v === 'string' ? v : `<${raw} as ${t}>`;
  if (t === 'bool') return v;
  if (t === 'binary') return typeof v === 'string' ? Buffer.from(v, 'base64').toString('hex') : `<${raw} as binary>`;
  if (t === 'json') return raw;
  if (t === 'string' || t === 'uuid' || t === 'date') return typeof v === 'string' ? v : `<${raw} as ${t}>`;
  if (t === 'time') {
    const m = /^(\d\d):(\d\d):(\d\d)\.(\d{6})$/.exec(v);
    return m ? (BigInt(m[1]) * 3600n + BigInt(m[2]) * 60n + BigInt(m[3])) * 1000000n + BigInt(m[4]) : `<${raw} as time>`;
  }
  const tu = PQ.timestampUnit(t);
  if (tu) return typeof v === 'string' ? tsValue(v, tu.unit) : `<${raw} as ${t}>`;
  return `<${raw} as ${t}>`;
}
