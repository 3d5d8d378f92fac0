// s3_outage.test.mjs — a store outage under load, as a user sees it (issue 5, item 6, third bullet): Ursa on
// a real S3 server (OpenStack Swift + s3api, tests/s3/swift.sh) behind the fault proxy (tests/s3/s3fault.mjs),
// clients ingesting all the time, and the proxy answering 503 SlowDown to every S3 request for about a minute.
//
//   1. before the outage: ingest is acknowledged and the flusher publishes (flushes ok, buffer small);
//   2. during the outage, within the memory budget: ingest goes on and is acknowledged, rows pile up
//      (GET dataset: buffered_rows grows), flushes fail (/metrics ursa_flushes_total{result="error"} grows);
//   3. once the budget is full: ingest answers 503 (not 429: the store is failing) with Retry-After, nothing
//      of such a request is stored; the server stays up and its RSS stays bounded (/proc/PID/status VmRSS);
//   4. after the outage (the proxy's rules cleared): the flusher publishes the backlog by itself, with no API
//      call, and ingest is answered 200 again;
//   5. at the end (one API flush): every Parquet object of the dataset, downloaded with awscli and read with
//      DuckDB, holds every acknowledged id exactly once and no refused id; no multipart upload is left; the
//      dataset's table names exactly those files (its commits failed during the outage and were retried).
//
// Clients: every row has a unique id; a request is never re-sent (a refused batch is given up and its ids are
// recorded as refused), so "acknowledged" and "refused" are disjoint sets. Most clients wait the Retry-After
// they are given, one impatient client retries every 200 ms (a user that ignores the header).
//
//   node --test tests/integration/s3_outage.test.mjs
//
// The S3 server: URSA_S3_ENV_FILE (ctest's fixture "swift"), else a Swift of its own in a temporary directory.
// URSA_BIN (default build/ursa), URSA_TEST_TMP, URSA_AWS (default /usr/bin/aws). Tunables (defaults in
// brackets): URSA_OUTAGE_SECONDS [50], URSA_OUTAGE_RATE rows/s offered by all clients together [14000];
// URSA_OUTAGE_REPORT: a file to write the figures, the samples and every request's answer to (JSON).
// Only 127.0.0.1 is contacted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports, URSA_BIN } from './helpers.mjs';
import { duckdbQuery, close as closeReaders } from '../tools/pqread.mjs';
import { startFaultProxy } from '../s3/s3fault.mjs';
import { s3Rig } from '../s3/rig.mjs';

const MiB = 1024 * 1024;
const RUN = `s3outage-${Date.now().toString(36)}-${process.pid}`;
const PREFIX = `${RUN}/lake`;
const DATASET = 'events';

// The server's settings (see docs/user-guide.md): a small budget that fills within the test, frequent flushes,
// failed flushes that end quickly.
const MEMORY_LIMIT = 48 * MiB;
const FLUSH_MAX_BYTES = 4 * MiB;
const S3_ENV = { URSA_S3_RETRY_DEADLINE_MS: '3000', URSA_S3_TIMEOUT_MS: '2000' };
// The test's own bounds.
const WARMUP_MS = 8_000;
const OUTAGE_MS = Number(process.env.URSA_OUTAGE_SECONDS || 50) * 1000;
const RECOVERY_LIMIT_MS = 45_000;      // the flusher's backoff after repeated failures is capped at 32 s (src/catalog.c)
const AFTER_RECOVERY_MS = 5_000;       // ingest kept going after recovery, to see it answered 200
// An AddressSanitizer build keeps freed memory in a quarantine (256 MiB by default) to catch use after free:
// resident, but not Ursa's. The server gets a fixed, smaller quarantine, and the bound grows by that much.
const ASAN = existsSync(URSA_BIN) && readFileSync(URSA_BIN).includes('__asan_init');
const ASAN_QUARANTINE_MB = 32;
const RSS_LIMIT = 2 * MEMORY_LIMIT + 100 * MiB + (ASAN ? ASAN_QUARANTINE_MB * MiB : 0);
const RATE = Number(process.env.URSA_OUTAGE_RATE || 14_000);   // rows/s offered, all clients together
const CLIENTS = 4;                     // CLIENTS - 1 patient clients (wait Retry-After) + 1 impatient
const ROWS_PER_REQUEST = 200;
const PAYLOAD = 180;                   // characters per row

for (const k of Object.keys(process.env)) if (/^(AWS_|S3_(KEY|SECRET|ENDPOINT_URL)$)/.test(k)) delete process.env[k];

const SCHEMA = {
  columns: [
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'id', type: 'int64', nullable: false },
    { name: 'client', type: 'int32', nullable: false },
    { name: 'payload', type: 'string', nullable: false },
  ],
  time_column: 'ts',
};

const state = { s3: null, proxy: null, server: null, passed: false };
const dirs = {};

// ------------------------------------------------------------------------------------------- rig
const aws = (...args) => state.s3.aws(...args); // awscli against Swift directly (never through the proxy)
const parseJson = s => (s.trim() ? JSON.parse(s) : null);

// ------------------------------------------------------------------------------------------- observation
const sleep = ms => new Promise(res => setTimeout(res, ms));
function rssBytes(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch { return null; }
}
async function metrics(s) {
  const r = await s.get('/metrics');
  assert.equal(r.status, 200, `GET /metrics -> ${r.status}`);
  const m = {};
  for (const line of r.text.split('\n')) {
    const x = /^([a-z_]+(?:\{[^}]*\})?) (\d+(?:\.\d+)?)$/.exec(line);
    if (x) m[x[1]] = Number(x[2]);
  }
  return {
    flushOk: m['ursa_flushes_total{result="ok"}'] ?? NaN,
    flushErr: m['ursa_flushes_total{result="error"}'] ?? NaN,
    flushRows: m.ursa_flush_rows_total ?? NaN,
    memory: m.ursa_memory_bytes ?? NaN,
    backpressure: m.ursa_backpressure_total ?? NaN,
    s3Failures: m.ursa_s3_failures_total ?? NaN,
  };
}
const mib = b => `${(b / MiB).toFixed(1)} MiB`;
const secs = ms => `${(ms / 1000).toFixed(1)} s`;

// ------------------------------------------------------------------------------------------- load
const CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_';
let noise = '';
for (let i = 0; i < 65536 + PAYLOAD; i++) noise += CHARS[(Math.imul(i, 2654435761) >>> 7) % CHARS.length];

/**
 * Clients that ingest until stop(): each request takes a fresh range of ids, is sent once, and its answer is
 * recorded: {client, lo, hi, t0, t1, status, retryAfter, body}. Paced to RATE rows/s in all.
 */
function startClients(s, t0) {
  let nextId = 1;
  let stopping = false;
  const requests = [];
  const perClientInterval = (CLIENTS * ROWS_PER_REQUEST * 1000) / RATE;   // ms between one client's requests
  async function client(c, patient) {
    let due = Date.now();
    while (!stopping) {
      const lo = nextId;
      nextId += ROWS_PER_REQUEST;
      const hi = nextId;                 // ids lo..hi-1
      const ts = new Date().toISOString();
      let body = '';
      for (let id = lo; id < hi; id++) {
        const off = (id * 7919) % 65536;
        body += `{"ts":"${ts}","id":${id},"client":${c},"payload":"${noise.slice(off, off + PAYLOAD)}"}\n`;
      }
      const rec = { client: c, lo, hi, t0: Date.now() - t0, t1: null, status: null, retryAfter: null, body: null };
      requests.push(rec);
      try {
        const r = await fetch(`${s.url}/v1/datasets/${DATASET}/records`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
        const text = await r.text();
        rec.status = r.status;
        rec.retryAfter = r.headers.get('retry-after');
        if (r.status !== 200) rec.body = text.slice(0, 300);
        else {
          const j = JSON.parse(text);
          if (j.accepted !== ROWS_PER_REQUEST || j.rejected !== 0) rec.body = text.slice(0, 300);
        }
      } catch (err) {
        rec.status = 'error';
        rec.body = String(err.cause?.code || err.message);
      }
      rec.t1 = Date.now() - t0;
      let wait;
      if (rec.status === 200) { due += perClientInterval; wait = due - Date.now(); }
      else {
        const ra = Number(rec.retryAfter);
        wait = patient && Number.isFinite(ra) && ra > 0 ? ra * 1000 : 200;
        due = Date.now() + wait;
      }
      if (wait < -1000) due = Date.now();     // fell behind: do not burst to catch up
      if (wait > 0) await sleep(wait);
    }
  }
  const all = [];
  for (let c = 0; c < CLIENTS; c++) all.push(client(c, c !== CLIENTS - 1));
  return { requests, async stop() { stopping = true; await Promise.all(all); } };
}

// ------------------------------------------------------------------------------------------- setup
before(async () => {
  state.s3 = await s3Rig(makeTempDir);
  dirs.work = makeTempDir('s3-outage-');
  state.proxy = await startFaultProxy({ upstream: state.s3.endpoint, strict: true });
});

after(async () => {
  if (state.server && !state.server.exitStatus) { try { await state.server.stop(); } catch { /* reported by the test */ } }
  await state.proxy?.close();
  await closeReaders();
  if (state.s3 && state.passed) {
    try { await aws('s3', 'rm', '--recursive', '--only-show-errors', `s3://${state.s3.bucket}/${RUN}/`); } catch { /* best effort */ }
  }
  await state.s3?.stop();
  if (state.passed) removeTempDirs();
  else {
    console.error(`# keys kept under s3://${state.s3?.bucket}/${RUN}/ ; work files under ${dirs.work}`);
    if (state.server) console.error(`# server output (tail):\n${state.server.log().slice(-6000)}`);
  }
});

// ------------------------------------------------------------------------------------------- the test
test('store outage under load: acknowledged within budget, then 503 + Retry-After, bounded RSS, recovers by itself, nothing acknowledged lost', { timeout: 300_000 }, async () => {
  const s = await startServer({
    store: `s3://${state.s3.bucket}/${PREFIX}`, node: 'n1',
    args: ['--s3-endpoint', state.proxy.url, '--memory-limit', String(MEMORY_LIMIT), '--flush-max-bytes', String(FLUSH_MAX_BYTES),
      '--flush-max-age', '1'],
    env: { ...state.s3.serverEnv(),
      URSA_WAL_DIR: join(makeTempDir('wal-'), 'wal'), ...S3_ENV,
      ...(ASAN ? { ASAN_OPTIONS: [process.env.ASAN_OPTIONS, `quarantine_size_mb=${ASAN_QUARANTINE_MB}`].filter(Boolean).join(':') } : {}) },
  });
  state.server = s;
  const pid = s.proc.pid;
  let r = await s.put(`/v1/datasets/${DATASET}`, SCHEMA);
  assert.equal(r.status, 201, `PUT dataset -> ${r.status} ${r.text}`);

  // The sampler: every 250 ms, RSS, GET dataset and /metrics, with the phase they were taken in.
  const T0 = Date.now();
  const now = () => Date.now() - T0;
  const samples = [];
  const marks = { outageStart: null, outageEnd: null, recovered: null };
  let sampling = true;
  let phase = 'warmup';
  const sampler = (async () => {
    while (sampling) {
      const t = now();
      const rss = rssBytes(pid);
      try {
        const g = await s.get(`/v1/datasets/${DATASET}`);
        const m = await metrics(s);
        samples.push({ t, phase, rss, buffered: g.json?.buffered_rows, bufferedBytes: g.json?.buffered_bytes, ...m });
      } catch (err) {
        samples.push({ t, phase, rss, error: String(err.cause?.code || err.message) });
      }
      await sleep(250);
    }
  })();
  const clients = startClients(s, T0);
  const last = () => samples.at(-1);
  const fail = msg => { throw new Error(`${msg}\n${timeline()}`); };
  function timeline() {
    const lines = [];
    let prev = -Infinity;
    for (const x of samples) {
      if (x.t - prev < 2000 && x !== samples.at(-1)) continue;
      prev = x.t;
      lines.push(`  t=${secs(x.t)} ${x.phase}: ${x.error ? `sample error ${x.error}` : `buffered_rows=${x.buffered} buffered=${mib(x.bufferedBytes)} ursa_memory=${mib(x.memory)} flushes ok=${x.flushOk} error=${x.flushErr} flush_rows=${x.flushRows}`} rss=${x.rss === null ? 'gone' : mib(x.rss)}`);
    }
    const byStatus = {};
    for (const q of clients.requests) { const k = `${q.status}`; byStatus[k] = (byStatus[k] || 0) + 1; }
    return `timeline (outage ${marks.outageStart === null ? '-' : secs(marks.outageStart)} .. ${marks.outageEnd === null ? '-' : secs(marks.outageEnd)}):\n${lines.join('\n')}\nanswers: ${JSON.stringify(byStatus)}`;
  }

  try {
    // ---- 1. Before the outage: acknowledged and published.
    await sleep(WARMUP_MS);
    const w = last();
    const warm = clients.requests.filter(q => q.t1 !== null);
    if (!warm.length || warm.some(q => q.status !== 200)) fail(`before the outage every ingest request must be answered 200: ${JSON.stringify(warm.filter(q => q.status !== 200).slice(0, 5))}`);
    if (!(w.flushOk >= 1)) fail('before the outage the flusher published nothing (ursa_flushes_total{result="ok"} = 0)');
    if (!(w.flushErr === 0)) fail(`flushes failed before the outage: ${w.flushErr}`);

    // ---- 2/3. The outage: every S3 request answered 503 SlowDown by the proxy.
    state.proxy.clearLog();
    state.proxy.setRules([{ action: '503' }]);
    marks.outageStart = now();
    phase = 'outage';
    const atStart = last();
    let budgetFullAt = null;
    while (now() - marks.outageStart < OUTAGE_MS) {
      await sleep(250);
      if (s.exitStatus) fail(`the server exited during the outage: ${JSON.stringify(s.exitStatus)}`);
      if (budgetFullAt === null) {
        const refused = clients.requests.find(q => q.t0 >= marks.outageStart && (q.status === 503 || q.status === 429));
        if (refused) budgetFullAt = refused.t1;
      }
    }
    marks.outageEnd = now();
    const outageHits = state.proxy.rules()[0].hits;
    state.proxy.clearRules();
    phase = 'recovery';
    const atEnd = last();

    // ---- 4. Recovery, with no API call: the flusher publishes the backlog (flush_rows grows by at least the
    //         rows buffered when the outage ended) and ingest is answered 200 again.
    const backlog = atEnd.buffered;
    while (now() - marks.outageEnd < RECOVERY_LIMIT_MS) {
      await sleep(250);
      const x = last();
      if (x.t > marks.outageEnd && x.flushRows - atEnd.flushRows >= backlog) { marks.recovered = x.t; break; }
      if (s.exitStatus) fail(`the server exited after the outage: ${JSON.stringify(s.exitStatus)}`);
    }
    phase = 'after';
    if (marks.recovered !== null) await sleep(AFTER_RECOVERY_MS);
    await clients.stop();
    sampling = false;
    await sampler;

    // ---------------------------------------------------------------- what was answered
    const reqs = clients.requests;
    const inOutage = q => q.t0 >= marks.outageStart && q.t0 < marks.outageEnd;
    const acked = reqs.filter(q => q.status === 200 && q.body === null);
    const refused = reqs.filter(q => q.status === 503 || q.status === 429);
    const other = reqs.filter(q => !(q.status === 200 && q.body === null) && q.status !== 503 && q.status !== 429);
    const outageAcked = acked.filter(inOutage);
    const firstFlushErrorAt = samples.find(x => x.flushErr > atStart.flushErr)?.t ?? null;
    const maxRss = Math.max(...samples.map(x => x.rss ?? 0));
    const maxMemory = Math.max(...samples.map(x => x.memory || 0));
    const outageSamples = samples.filter(x => x.phase === 'outage' && !x.error);
    const maxBuffered = Math.max(...outageSamples.map(x => x.buffered));
    const retryAfters = [...new Set(refused.map(q => q.retryAfter))];
    const report = {
      outage_s: (marks.outageEnd - marks.outageStart) / 1000,
      proxy_503_answers: outageHits,
      requests: reqs.length,
      acked_requests: acked.length, acked_rows: acked.length * ROWS_PER_REQUEST,
      acked_during_outage: outageAcked.length,
      refused_503: refused.filter(q => q.status === 503).length, refused_429: refused.filter(q => q.status === 429).length,
      retry_after_values: retryAfters,
      other_answers: other.length,
      first_flush_error_after_s: firstFlushErrorAt === null ? null : (firstFlushErrorAt - marks.outageStart) / 1000,
      budget_full_after_s: budgetFullAt === null ? null : (budgetFullAt - marks.outageStart) / 1000,
      max_buffered_rows: maxBuffered,
      flush_errors_during_outage: atEnd.flushErr - atStart.flushErr,
      backlog_rows_at_outage_end: backlog,
      recovery_s: marks.recovered === null ? null : (marks.recovered - marks.outageEnd) / 1000,
      max_rss_mib: +(maxRss / MiB).toFixed(1), max_ursa_memory_mib: +(maxMemory / MiB).toFixed(1),
      memory_limit_mib: MEMORY_LIMIT / MiB, rss_limit_mib: RSS_LIMIT / MiB, asan: ASAN,
    };
    state.report = report;
    console.error(`# outage report: ${JSON.stringify(report)}`);
    const full = JSON.stringify({ report, samples, requests: reqs }, null, 1);
    writeFileSync(join(dirs.work, 'report.json'), full);
    if (process.env.URSA_OUTAGE_REPORT) writeFileSync(process.env.URSA_OUTAGE_REPORT, full);
    console.error(timeline().replace(/^/gm, '# '));

    // ---------------------------------------------------------------- assertions: during the outage
    if (other.length) fail(`answers other than 200 (all rows accepted), 429 or 503: ${other.length}, e.g. ${JSON.stringify(other.slice(0, 5))}`);
    if (!(outageHits > 0)) fail('the proxy answered no S3 request with 503 during the outage');
    if (firstFlushErrorAt === null) fail('no flush failed during the outage (ursa_flushes_total{result="error"} did not grow)');
    if (!(outageAcked.length > 0)) fail('no ingest request was acknowledged during the outage (while the budget was not full)');
    const bufferedAtFirstError = samples.find(x => x.t >= firstFlushErrorAt)?.buffered ?? 0;
    if (!(maxBuffered > atStart.buffered && maxBuffered > bufferedAtFirstError)) fail(`buffered_rows did not grow during the outage (at its start ${atStart.buffered}, at the first failed flush ${bufferedAtFirstError}, max ${maxBuffered})`);
    if (!(atEnd.flushErr - atStart.flushErr >= 2)) fail(`flush errors during the outage: ${atEnd.flushErr - atStart.flushErr}, want >= 2 (the flusher keeps trying)`);
    if (budgetFullAt === null) fail(`the memory budget (${mib(MEMORY_LIMIT)}) never filled during the outage: no 503 to assert (raise URSA_OUTAGE_RATE)`);

    // Refusals: 503 (the store is failing) with Retry-After; a 429 only before the first failed flush was seen.
    const bad429 = refused.filter(q => q.status === 429 && (firstFlushErrorAt === null || q.t1 > firstFlushErrorAt));
    if (bad429.length) fail(`${bad429.length} ingest requests answered 429 while the store was failing (want 503), e.g. ${JSON.stringify(bad429.slice(0, 3))}`);
    const noRetryAfter = refused.filter(q => !/^\d+$/.test(q.retryAfter ?? '') || Number(q.retryAfter) < 1);
    if (noRetryAfter.length) fail(`${noRetryAfter.length} refusals without a valid Retry-After header, e.g. ${JSON.stringify(noRetryAfter.slice(0, 3))}`);
    const refused503 = refused.filter(q => q.status === 503);
    if (!refused503.length) fail('no ingest request was answered 503 during the outage');
    if (!refused503.every(q => q.body && /"error"/.test(q.body))) fail(`a 503 without {"error": ...}: ${JSON.stringify(refused503.find(q => !/"error"/.test(q.body ?? '')))}`);
    // The server did not die and its RSS stayed bounded.
    if (s.exitStatus) fail(`the server exited: ${JSON.stringify(s.exitStatus)}`);
    if (samples.some(x => x.rss === null)) fail('the server process disappeared (no /proc/PID/status) during the run');
    if (!(maxRss < RSS_LIMIT)) fail(`RSS reached ${mib(maxRss)}, over ${mib(RSS_LIMIT)} (2 x --memory-limit + 100 MiB${ASAN ? ` + the ASan quarantine of ${ASAN_QUARANTINE_MB} MiB` : ''})`);

    // ---------------------------------------------------------------- assertions: recovery
    if (marks.recovered === null) fail(`the flusher did not publish the backlog of ${backlog} rows within ${secs(RECOVERY_LIMIT_MS)} after the outage ended (flush_rows grew by ${last().flushRows - atEnd.flushRows}); no API call was made`);
    const afterRecovery = reqs.filter(q => q.t0 > marks.recovered + 1000);
    if (!afterRecovery.length) fail('no ingest request was sent after recovery');
    const notOk = afterRecovery.filter(q => q.status !== 200);
    if (notOk.length) fail(`${notOk.length} of ${afterRecovery.length} ingest requests sent more than 1 s after recovery were not answered 200, e.g. ${JSON.stringify(notOk.slice(0, 3))}`);

    // ---------------------------------------------------------------- the store: every acknowledged id once, no refused id
    const mem = await metrics(s);
    r = await s.flush(DATASET);
    assert.equal(r.status, 200, `final flush -> ${r.status} ${r.text.slice(0, 500)}`);
    r = await s.get(`/v1/datasets/${DATASET}`);
    assert.equal(r.json.buffered_rows, 0, `buffered rows after the final flush: ${r.text}`);
    // The table: commits that failed during the outage were retried, so it names every published file.
    r = await s.get(`/v1/datasets/${DATASET}/files`);
    assert.equal(r.status, 200, r.text);
    const tableFiles = r.json.files.map(f => f.path).sort();
    const st = await s.stop();
    assert.equal(st.code, 0, `exit status after SIGTERM: ${JSON.stringify(st)}\n${s.log().slice(-3000)}`);
    assert.deepEqual(sanitizerReports(s.log()), [], `sanitizer reports in the server output:\n${s.log().slice(-4000)}`);

    const listing = parseJson(await aws('s3api', 'list-objects-v2', '--bucket', state.s3.bucket, '--prefix', `${PREFIX}/`, '--output', 'json'));
    const keys = (listing?.Contents ?? []).map(o => o.Key);
    const stray = keys.filter(k => !k.endsWith('.parquet') && k !== `${PREFIX}/${DATASET}/_ursa/schema.json` && !/\/_ursa\/nodes\/n1\.(lsn|released)$/.test(k) &&
      !k.startsWith(`${PREFIX}/${DATASET}/metadata/`));
    assert.deepEqual(stray, [], `objects that are neither Parquet files, the table's metadata, the schema nor the node's marks under ${PREFIX}/`);
    const uploads = (parseJson(await aws('s3api', 'list-multipart-uploads', '--bucket', state.s3.bucket, '--output', 'json'))?.Uploads ?? [])
      .filter(u => u.Key.startsWith(`${PREFIX}/`));
    assert.deepEqual(uploads.map(u => u.Key), [], 'unfinished multipart uploads left under the prefix (aws s3api list-multipart-uploads)');
    const dl = join(dirs.work, 'download');
    mkdirSync(dl, { recursive: true });
    await aws('s3', 'cp', '--recursive', '--only-show-errors', `s3://${state.s3.bucket}/${PREFIX}/${DATASET}/`, `${dl}/`);
    const files = [];
    const walk = d => { for (const e of readdirSync(d, { withFileTypes: true })) { const p = join(d, e.name); if (e.isDirectory()) walk(p); else if (p.endsWith('.parquet')) files.push(p); } };
    walk(dl);
    assert.ok(files.length > 0, 'no Parquet object downloaded');
    assert.ok(files.every(f => /\/date=\d{4}-\d{2}-\d{2}\/n1-\d+-\d+\.parquet$/.test(f)), `object names: ${files.map(f => relative(dl, f)).join(', ')}`);
    assert.deepEqual(files.map(f => `${DATASET}/${relative(dl, f)}`).sort(), tableFiles, 'the files the table names are the files in the store');
    const list = files.map(p => `'${p.replaceAll("'", "''")}'`).join(', ');
    const rows = await duckdbQuery(`SELECT id::BIGINT AS id, count(*)::BIGINT AS n FROM read_parquet([${list}]) GROUP BY id`);
    const count = new Map(rows.map(x => [Number(x.id), Number(x.n)]));
    let stored = 0;
    for (const x of rows) stored += Number(x.n);
    const lost = [], dup = [], leaked = [];
    for (const q of acked) for (let id = q.lo; id < q.hi; id++) { const n = count.get(id) ?? 0; if (n === 0) lost.push(id); else if (n > 1) dup.push(id); }
    for (const q of refused) for (let id = q.lo; id < q.hi; id++) if (count.has(id)) leaked.push(id);
    const ackedIds = acked.length * ROWS_PER_REQUEST;
    report.objects = files.length;
    report.stored_rows = stored;
    report.lost = lost.length; report.duplicated = dup.length; report.refused_but_stored = leaked.length;
    report.ursa_memory_before_final_flush_mib = +(mem.memory / MiB).toFixed(1);
    console.error(`# outage result: ${JSON.stringify({ objects: files.length, stored_rows: stored, acked_rows: ackedIds, lost: lost.length, duplicated: dup.length, refused_but_stored: leaked.length })}`);
    const where = id => JSON.stringify(reqs.find(q => id >= q.lo && id < q.hi));
    assert.equal(lost.length, 0, `acknowledged ids missing from the store: ${lost.length}, e.g. ${lost.slice(0, 5)} (request ${where(lost[0])})`);
    assert.equal(dup.length, 0, `acknowledged ids stored more than once: ${dup.length}, e.g. ${dup.slice(0, 5)} (request ${where(dup[0])})`);
    assert.equal(leaked.length, 0, `ids of refused (429/503) requests found in the store: ${leaked.length}, e.g. ${leaked.slice(0, 5)} (request ${where(leaked[0])})`);
    assert.equal(stored, ackedIds, `rows in the store (${stored}) vs rows acknowledged (${ackedIds})`);
    state.passed = true;
  } finally {
    sampling = false;
    await clients.stop();
    await sampler;
  }
});
