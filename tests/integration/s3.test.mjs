// s3.test.mjs — Ursa on a real S3 server, as a user sees it: the real binary with --store s3://BUCKET/PREFIX
// against OpenStack Swift + s3api (tests/s3/swift.sh), objects fetched with an independent client (Debian's
// awscli) and read with DuckDB and Polars (tests/tools/pqread.mjs); then the same flushes through a
// fault-injecting proxy (tests/s3/s3fault.mjs, strict like AWS about chunked uploads): SlowDown bursts, 500s,
// connection resets before and in the middle of uploads, answers lost after the server stored the object,
// answers slower than the request timeout, and outages longer than the retry deadline. Every flush must end
// with exactly the right objects: the listing holds the schema and the files the flush answer names and
// nothing else, no multipart upload is left, every object is byte for byte the file a local-store Ursa
// writes for the same rows (the writer is deterministic), and DuckDB counts every row exactly once.
// Last, wrong credentials and a missing bucket: a clear message, and the secret never in any output.
//
//   node --test tests/integration/s3.test.mjs
//
// The S3 server: URSA_S3_ENV_FILE names the export lines written by `tests/s3/swift.sh start` (ctest's
// fixture "swift" sets it); without it this file starts its own Swift in a temporary directory and stops it
// at the end. URSA_BIN (default build/ursa), URSA_TEST_TMP (default the OS temp dir), URSA_AWS (default
// /usr/bin/aws, Debian's awscli v2). Only 127.0.0.1 is contacted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports, URSA_BIN } from './helpers.mjs';
import { readAll, firstRowDifference, duckdbQuery, close as closeReaders } from '../tools/pqread.mjs';
import { startFaultProxy } from '../s3/s3fault.mjs';
import { s3Rig, run } from '../s3/rig.mjs';

const STEP_TIMEOUT_MS = 150_000;
const MiB = 1024 * 1024;
const PART = 8 * MiB;                 // Ursa's default part size (docs/user-guide.md)
const RUN = `s3test-${Date.now().toString(36)}-${process.pid}`;   // every key of this run lives under RUN/

// Credentials and endpoints come only from the S3 config below, never from this process's environment.
for (const k of Object.keys(process.env)) if (/^(AWS_|S3_(KEY|SECRET|ENDPOINT_URL)$)/.test(k)) delete process.env[k];
// These tests check the store layer object by object (the listing holds the schema and the flushed files and
// nothing else; faults aimed at the files' PUTs): the servers run without tables. Tables over S3 are tested in
// multinode.test.mjs (three nodes behind nginx, one Swift store).
process.env.URSA_ICEBERG = '0';

const state = { failed: [], s3: null, proxy: null, servers: [], refs: {}, secretsSeen: [], ready: false };
const dirs = {};

function step(name, fn, { requires = ['ready'] } = {}) {
  test(name, { timeout: STEP_TIMEOUT_MS }, async t => {
    try {
      for (const r of requires) if (!state[r]) throw new Error(`not run: prerequisite "${r}" failed in an earlier step`);
      await fn(t);
    } catch (err) {
      state.failed.push(name);
      throw err;
    }
  });
}

// ------------------------------------------------------------------------------------------- processes
const aws = (...args) => state.s3.aws(...args);
const parseJson = s => (s.trim() ? JSON.parse(s) : null);
/** Every object under prefix (awscli follows the continuation tokens): [{Key, Size, ETag}] sorted by key. */
async function listObjects(prefix, { nodes = false } = {}) {
  const j = parseJson(await aws('s3api', 'list-objects-v2', '--bucket', state.s3.bucket, '--prefix', prefix, '--output', 'json'));
  return (j?.Contents ?? []).map(o => ({ Key: o.Key, Size: o.Size, ETag: o.ETag }))
    // <prefix>/_ursa/nodes/<node>.lsn is each node's LSN mark (bookkeeping, see docs/internals/wal.md), <node>.json its
    // heartbeat (docs/internals/peers.md):
    // left out of the listings compared with what flushes published, unless asked for.
    .filter(o => nodes || !/\/_ursa\/nodes\//.test(o.Key))
    .sort((a, b) => (a.Key < b.Key ? -1 : 1));
}
/** Unfinished multipart uploads whose key starts with prefix (filtered here: one listing of the bucket). */
async function listUploads(prefix) {
  const j = parseJson(await aws('s3api', 'list-multipart-uploads', '--bucket', state.s3.bucket, '--output', 'json'));
  return (j?.Uploads ?? []).filter(u => u.Key.startsWith(prefix)).map(u => ({ Key: u.Key, UploadId: u.UploadId }));
}
/** `aws s3 cp --recursive s3://bucket/prefix/ dir/` -> {relative path: Buffer}. */
async function download(prefix, name) {
  const dir = join(dirs.work, name);
  mkdirSync(dir, { recursive: true });
  await aws('s3', 'cp', '--recursive', '--only-show-errors', `s3://${state.s3.bucket}/${prefix}/`, `${dir}/`);
  const out = {};
  const walk = d => { for (const e of readdirSync(d, { withFileTypes: true })) { const p = join(d, e.name); if (e.isDirectory()) walk(p); else out[relative(dir, p)] = p; } };
  walk(dir);
  return out;
}
const sha256 = b => createHash('sha256').update(b).digest('hex');
const md5 = b => createHash('md5').update(b).digest('hex');
/** The ETag S3 gives a multipart object uploaded in parts of `part` bytes. */
function multipartEtag(buf, part) {
  const sums = [];
  for (let off = 0; off < buf.length; off += part) sums.push(createHash('md5').update(buf.subarray(off, off + part)).digest());
  return `"${md5(Buffer.concat(sums))}-${sums.length}"`;
}

// ------------------------------------------------------------------------------------------- data
function mulberry32(seed) {
  return () => { seed |= 0; seed = (seed + 0x6d2b79f5) | 0; let t = Math.imul(seed ^ (seed >>> 15), 1 | seed); t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}
const DAY_US = 86_400_000_000n;
const isoOfMicros = us => new Date(Number(us / 1000n)).toISOString().replace(/\.(\d{3})Z$/, (_, ms) => `.${ms}${String(us % 1000n).padStart(3, '0')}Z`);

const SMALL_SCHEMA = {
  columns: [
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'seq', type: 'int64', nullable: false },
    { name: 'user_id', type: 'int64' },
    { name: 'event', type: 'string' },
    { name: 'value', type: 'float64' },
    { name: 'ok', type: 'bool' },
  ],
  time_column: 'ts',
};
const SMALL_DAYS = ['2026-11-21', '2026-11-22', '2026-11-23'];
const EVENTS = ['login', 'logout', 'click', 'view', 'purchase', 'ünïcødé ✓', 'emoji 🐻', 'quote "q" \\ back', ''];

/** `n` rows over three UTC days, sent in `requests` requests: {lines per request, rows (normalized, by seq)}. */
function makeSmall(n = 3000, requests = 3, seed = 42) {
  const rnd = mulberry32(seed);
  const base = BigInt(Date.UTC(2026, 10, 21)) * 1000n;
  const rows = [], lines = [];
  for (let i = 0; i < n; i++) {
    const day = BigInt(i % 3);
    const ts = base + day * DAY_US + BigInt(Math.floor(rnd() * 86_400_000)) * 1000n + BigInt(Math.floor(rnd() * 1000));
    const userId = rnd() < 0.1 ? null : (rnd() < 0.05 ? 9007199254740993n + BigInt(i) : BigInt(Math.floor(rnd() * 1e6)) - 500000n);
    const event = rnd() < 0.1 ? null : EVENTS[Math.floor(rnd() * EVENTS.length)];
    const value = rnd() < 0.1 ? null : (rnd() - 0.5) * 10 ** Math.floor(rnd() * 12 - 4);
    const ok = rnd() < 0.2 ? null : rnd() < 0.5;
    rows.push({ ts, seq: BigInt(i), user_id: userId, event, value, ok });
    const o = [`"ts":"${isoOfMicros(ts)}"`, `"seq":${i}`];
    if (userId !== null || rnd() < 0.5) o.push(`"user_id":${userId === null ? 'null' : userId}`);
    if (event !== null) o.push(`"event":${JSON.stringify(event)}`);
    if (value !== null) o.push(`"value":${JSON.stringify(value)}`);
    if (ok !== null) o.push(`"ok":${ok}`);
    lines.push(`{${o.join(',')}}`);
  }
  const per = Math.ceil(n / requests);
  const bodies = [];
  for (let i = 0; i < n; i += per) bodies.push(Buffer.from(lines.slice(i, i + per).join('\n') + '\n'));
  return { dataset: 'events', schema: SMALL_SCHEMA, rows, bodies, n, days: SMALL_DAYS, args: [] };
}

const BIG_SCHEMA = {
  columns: [
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'seq', type: 'int64', nullable: false },
    { name: 'payload', type: 'string', nullable: false },
  ],
  time_column: 'ts',
};
/** 300,000 rows of one day with random payload strings, for multipart uploads. */
function makeBig(n = 300_000, requests = 4) {   // 80 random characters a row: an uncompressed file of about 29 MB
  const base = BigInt(Date.UTC(2026, 10, 20)) * 1000n;
  const chars = randomBytes(n * 60).toString('base64');     // 80 characters per row
  const payloads = new Array(n);
  const lines = new Array(n);
  for (let i = 0; i < n; i++) {
    payloads[i] = chars.slice(i * 80, i * 80 + 80);
    const ts = base + BigInt(i) * 250_000n;                  // 300k rows x 0.25 s < one day
    lines[i] = `{"ts":"${isoOfMicros(ts)}","seq":${i},"payload":"${payloads[i]}"}`;
  }
  const per = Math.ceil(n / requests);
  const bodies = [];
  for (let i = 0; i < n; i += per) bodies.push(Buffer.from(lines.slice(i, i + per).join('\n') + '\n'));
  return { dataset: 'big', schema: BIG_SCHEMA, payloadMd5: md5(payloads.join('')), bodies, n, days: ['2026-11-20'],
    args: ['--compression', 'uncompressed'] };
}

// ------------------------------------------------------------------------------------------- servers
const s3Env = (extra = {}) => ({ ...state.s3.serverEnv(), ...extra });
async function startS3Server(prefix, { endpoint = state.s3.endpoint, args = [], env = s3Env(), useFlag = true } = {}) {
  // Each server its own write-ahead log (for an S3 store it defaults to ./wal, shared by every server started here).
  const s = await startServer({ store: `s3://${state.s3.bucket}/${prefix}`, node: 'n1',
    args: [...(useFlag ? ['--s3-endpoint', endpoint] : []), ...args], env: { URSA_WAL_DIR: join(makeTempDir('wal-'), 'wal'), ...env } });
  state.servers.push(s);
  return s;
}
async function stop(s) {
  const st = await s.stop();
  assert.deepEqual(sanitizerReports(s.log()), [], `sanitizer reports in the server output:\n${s.log().slice(-4000)}`);
  return st;
}
const show = r => `${r.status} ${r.text.slice(0, 500)}`;

/** Creates the dataset and sends its requests; asserts every row was accepted. */
async function load(s, data) {
  let r = await s.put(`/v1/datasets/${data.dataset}`, data.schema);
  assert.ok(r.status === 201 || r.status === 200, `PUT /v1/datasets/${data.dataset} -> ${show(r)}`);
  let accepted = 0;
  for (const body of data.bodies) {
    r = await s.postRecords(data.dataset, body);
    assert.equal(r.status, 200, `POST records -> ${show(r)}`);
    assert.equal(r.json.rejected, 0, `rejected rows: ${r.text.slice(0, 1000)}`);
    accepted += r.json.accepted;
  }
  assert.equal(accepted, data.n);
}

/** Checks a successful flush answer: all rows, one file per day, paths under the dataset. */
function checkFlushAnswer(r, data, where) {
  assert.equal(r.status, 200, `${where}: flush -> ${show(r)}`);
  assert.equal(r.json.rows, data.n, `${where}: flush rows: ${r.text.slice(0, 500)}`);
  assert.deepEqual(r.json.files.map(f => f.date).sort(), data.days, `${where}: one file per day: ${r.text.slice(0, 500)}`);
  for (const f of r.json.files) assert.match(f.path, new RegExp(`^${data.dataset}/date=${f.date}/n1-[^/]+\\.parquet$`), `${where}: file path`);
  assert.equal(r.json.files.reduce((a, f) => a + f.rows, 0), data.n, `${where}: rows of the files`);
}

/** The files a local-store Ursa writes for the same requests and flags: {date: Buffer}. */
async function reference(data) {
  if (state.refs[data.dataset]) return state.refs[data.dataset];
  const store = makeTempDir('ref-');
  const s = await startServer({ store, node: 'n1', args: data.args });
  state.servers.push(s);
  await load(s, data);
  const r = await s.flush(data.dataset);
  checkFlushAnswer(r, data, 'reference (local store)');
  await stop(s);
  const out = {};
  for (const f of r.json.files) out[f.date] = readFileSync(join(store, f.path));
  state.refs[data.dataset] = out;
  return out;
}

/**
 * Everything under s3://bucket/prefix/ is exactly what the flush answers name (plus the dataset's schema):
 * no other object, no unfinished multipart upload, every object equal to the local-store reference, sizes as
 * answered, and DuckDB reads every row exactly once. Returns {objects, files: {relpath: localpath}}.
 */
async function verifyPublished(prefix, data, answers, name, log = null) {
  const requests = log ? `\nrequests of the flush through the proxy:\n${requestSummary(log)}` : '';
  const ref = await reference(data);
  const objects = await listObjects(`${prefix}/`);
  const files = answers.flatMap(a => a.json.files);
  const want = [`${prefix}/${data.dataset}/_ursa/schema.json`, ...files.map(f => `${prefix}/${f.path}`)].sort();
  assert.deepEqual(objects.map(o => o.Key), want, `${name}: the objects under ${prefix}/ (awscli list-objects-v2)${requests}`);
  for (const f of files) {
    const o = objects.find(x => x.Key === `${prefix}/${f.path}`);
    assert.equal(o.Size, f.bytes, `${name}: size of ${o.Key} vs the flush answer`);
  }
  assert.deepEqual(await listUploads(`${prefix}/`), [], `${name}: unfinished multipart uploads left under ${prefix}/ (aws s3api list-multipart-uploads)${requests}`);
  const got = await download(prefix, name);
  const parquet = [];
  for (const f of files) {
    const local = got[f.path];
    assert.ok(local, `${name}: aws s3 cp did not fetch ${f.path}`);
    const bytes = readFileSync(local);
    if (answers.length === 1) {
      assert.equal(bytes.length, ref[f.date].length, `${name}: ${f.path} is ${bytes.length} bytes, the local store wrote ${ref[f.date].length}`);
      assert.ok(bytes.equals(ref[f.date]), `${name}: ${f.path} differs from the file a local-store Ursa writes for the same rows (sha256 ${sha256(bytes)} vs ${sha256(ref[f.date])})`);
    }
    const o = objects.find(x => x.Key === `${prefix}/${f.path}`);
    if (!/-\d+"$/.test(o.ETag)) assert.equal(o.ETag, `"${md5(bytes)}"`, `${name}: ETag of ${o.Key} is not the MD5 of what was downloaded`);
    parquet.push(local);
  }
  const list = parquet.map(p => `'${p.replaceAll("'", "''")}'`).join(', ');
  const [c] = await duckdbQuery(`SELECT count(*) AS n, count(DISTINCT seq) AS d, min(seq) AS lo, max(seq) AS hi FROM read_parquet([${list}])`);
  assert.deepEqual(c, { n: BigInt(data.n), d: BigInt(data.n), lo: 0n, hi: BigInt(data.n - 1) },
    `${name}: DuckDB over every object: each of the ${data.n} rows exactly once`);
  return { objects, files: got };
}

/**
 * A flush through the fault proxy: fresh prefix and server (pointed at the proxy), dataset loaded without
 * faults, then the rules set for the flush only. Asserts the rules were hit at least `minHits` times each.
 */
async function faultFlush(name, data, rules, { env = {}, minHits = rules.map(() => 1) } = {}) {
  const prefix = `${RUN}/${name}`;
  const s = await startS3Server(prefix, { endpoint: state.proxy.url, args: data.args, env: s3Env(env) });
  await load(s, data);
  state.proxy.clearLog();
  state.proxy.setRules(rules);
  const t0 = Date.now();
  const r = await s.flush(data.dataset);
  const ms = Date.now() - t0;
  const hits = state.proxy.rules().map(x => x.hits);
  const log = state.proxy.log();
  state.proxy.clearRules();
  rules.forEach((rule, i) => assert.ok(hits[i] >= minHits[i],
    `${name}: fault ${JSON.stringify(rule)} was hit ${hits[i]} times, want >= ${minHits[i]}: the test did not inject what it meant to.\nproxy log:\n${log.map(e => `${e.method} ${e.url} ${e.action} -> ${e.result}`).join('\n')}`));
  return { s, r, ms, prefix, log, hits };
}
const requestSummary = log => log.map(e => `${e.method} ${e.url.replace(/uploadId=[^&]+/, 'uploadId=…')} [${e.action}] -> ${e.result}`).join('\n');

// ------------------------------------------------------------------------------------------- setup
const small = makeSmall();
const big = makeBig();

before(async () => {
  state.s3 = await s3Rig(makeTempDir);
  state.secretsSeen.push(state.s3.secret);
  dirs.work = makeTempDir('s3-work-');
  const help = await run(URSA_BIN, ['serve', '--help']);
  if (!/--s3-endpoint/.test(help.stdout + help.stderr)) throw new Error(`${URSA_BIN} has no S3 store (serve --help does not mention --s3-endpoint)`);
  state.proxy = await startFaultProxy({ upstream: state.s3.endpoint, strict: true });
  state.ready = true;
});

after(async () => {
  for (const s of state.servers) if (!s.exitStatus) { try { await s.stop(); } catch { /* reported by its step */ } }
  await state.proxy?.close();
  await closeReaders();
  if (state.s3 && state.failed.length === 0) {   // leave the keys of a failed run for inspection
    try { await aws('s3', 'rm', '--recursive', '--only-show-errors', `s3://${state.s3.bucket}/${RUN}/`); } catch { /* best effort */ }
  }
  await state.s3?.stop();
  if (state.failed.length === 0) removeTempDirs();
  else {
    console.error(`# failed steps: ${state.failed.join('; ')}`);
    console.error(`# keys kept under s3://${state.s3?.bucket}/${RUN}/ ; work files under ${dirs.work}`);
    const last = state.servers.at(-1);
    if (last) console.error(`# last server output (tail):\n${last.log().slice(-4000)}`);
  }
});

// =====================================================================================================
// 1. End to end: ingest over HTTP, flush to S3, fetch with awscli, read with DuckDB and Polars (and the other
//    two readers), restart on the same store (schema loaded from S3), flush again.
step('end to end: ingest, flush to s3://bucket/prefix, fetch with awscli, read with DuckDB and Polars', async () => {
  const prefix = `${RUN}/e2e`;
  const s = await startS3Server(prefix);
  assert.match(s.log(), new RegExp(`store s3://${state.s3.bucket}/${prefix}`), 'the start line names the S3 store');
  await load(s, small);
  let r = await s.get(`/v1/datasets/${small.dataset}`);
  assert.equal(r.json.buffered_rows, small.n, `GET dataset: ${show(r)}`);
  r = await s.flush(small.dataset);
  checkFlushAnswer(r, small, 'e2e');
  state.e2e = { prefix, first: r.json };
  assert.equal((await s.get(`/v1/datasets/${small.dataset}`)).json.buffered_rows, 0, 'buffer empty after the flush');
  r = await s.flush(small.dataset);
  assert.equal(r.status, 200, `empty flush: ${show(r)}`);
  assert.deepEqual(r.json.files, [], 'an empty flush writes nothing');

  // What a user sees with awscli.
  const ls = await aws('s3', 'ls', '--recursive', `s3://${state.s3.bucket}/${prefix}/`);
  const listed = ls.trim().split('\n').map(l => { const m = /^\S+ \S+\s+(\d+) (.+)$/.exec(l); return m && { size: Number(m[1]), key: m[2] }; });
  assert.deepEqual(listed.map(x => x?.key).sort(), [`${prefix}/_ursa/nodes/n1.json`, `${prefix}/_ursa/nodes/n1.lsn`, `${prefix}/events/_ursa/schema.json`, ...state.e2e.first.files.map(f => `${prefix}/${f.path}`)].sort(), `aws s3 ls:\n${ls}`);

  const { files } = await verifyPublished(prefix, small, [{ json: state.e2e.first }], 'e2e');
  const marks = (await listObjects(`${prefix}/_ursa/nodes/`, { nodes: true })).map(o => o.Key);
  assert.deepEqual(marks, [`${prefix}/_ursa/nodes/n1.json`, `${prefix}/_ursa/nodes/n1.lsn`], 'the node\'s heartbeat and LSN mark are in the store');
  const schema = JSON.parse(readFileSync(files['events/_ursa/schema.json'], 'utf8'));
  assert.deepEqual(schema.columns.map(c => [c.name, c.type]), SMALL_SCHEMA.columns.map(c => [c.name, c.type]), 'schema.json on S3');
  assert.equal(schema.time_column, 'ts');

  // Every value, by four independent readers (DuckDB and Polars at least), against the rows sent.
  for (const f of state.e2e.first.files) {
    const want = small.rows.filter(x => new Date(Number(x.ts / 1000n)).toISOString().slice(0, 10) === f.date);
    for (const res of await readAll(files[f.path])) {
      assert.ok(!res.error, `${res.engine} cannot read ${f.path}: ${res.error}`);
      const got = [...res.rows].sort((a, b) => (a.seq < b.seq ? -1 : 1));
      const d = firstRowDifference(want, got, SMALL_SCHEMA.columns.map(c => c.name));
      assert.equal(d, null, `${res.engine}, ${f.path}: first difference ${JSON.stringify(d, (k, v) => (typeof v === 'bigint' ? `${v}n` : v))}`);
    }
  }
  // The reader on S3 (issue 12): `ursa cat s3://bucket/key` (ranged GETs) prints exactly what it prints for
  // the downloaded copy, and `ursa inspect` reads the footer; a missing key is a clear error.
  const env = { PATH: process.env.PATH, ...s3Env({ AWS_ENDPOINT_URL: state.s3.endpoint }) };
  for (const f of state.e2e.first.files) {
    const url = `s3://${state.s3.bucket}/${prefix}/${f.path}`;
    const remote = await run(URSA_BIN, ['cat', url], { env });
    assert.equal(remote.code, 0, `ursa cat ${url}: ${remote.stderr}`);
    const local = await run(URSA_BIN, ['cat', files[f.path]]);
    assert.equal(local.code, 0, local.stderr);
    assert.equal(remote.stdout, local.stdout, `ursa cat ${url} = ursa cat of the downloaded copy`);
    assert.equal(remote.stdout.split('\n').length - 1, f.rows, `ursa cat ${url}: the file's rows`);
    const ins = await run(URSA_BIN, ['inspect', '--json', url], { env });
    assert.equal(ins.code, 0, ins.stderr);
    assert.equal(JSON.parse(ins.stdout).rows, f.rows);
  }
  const missing = await run(URSA_BIN, ['cat', `s3://${state.s3.bucket}/${prefix}/no-such.parquet`], { env });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no-such\.parquet/);
  for (const r of [missing]) assert.ok(!r.stderr.includes(state.s3.secret), 'the secret is never printed');

  const st = await stop(s);
  assert.equal(st.code, 0, `exit status after SIGTERM: ${JSON.stringify(st)}`);
});

step('restart on the same S3 store (S3_KEY, S3_SECRET, S3_ENDPOINT_URL): the schema comes back from S3', async () => {
  const { prefix } = state.e2e;
  const s = await startS3Server(prefix, { useFlag: false,
    env: { S3_KEY: state.s3.accessKey, S3_SECRET: state.s3.secret, S3_ENDPOINT_URL: state.s3.endpoint } });
  let r = await s.get(`/v1/datasets/${small.dataset}`);
  assert.equal(r.status, 200, `GET dataset after restart: ${show(r)}`);
  assert.deepEqual(r.json.schema.columns.map(c => [c.name, c.type, c.nullable]), SMALL_SCHEMA.columns.map(c => [c.name, c.type, c.nullable ?? true]));
  assert.equal(r.json.buffered_rows, 0);
  r = await s.put(`/v1/datasets/${small.dataset}`, { ...SMALL_SCHEMA, columns: SMALL_SCHEMA.columns.slice(0, 3) });
  assert.equal(r.status, 409, `PUT a different schema after restart must conflict with the one on S3: ${show(r)}`);
  const before = await listObjects(`${prefix}/`);
  const more = makeSmall(600, 2, 7);
  const bodies = more.bodies.map(b => Buffer.from(b.toString().replace(/"seq":(\d+)/g, (_, n) => `"seq":${Number(n) + 100000}`)));
  for (const b of bodies) { r = await s.postRecords(small.dataset, b); assert.equal(r.status, 200, show(r)); }
  r = await s.flush(small.dataset);
  assert.equal(r.status, 200, `flush after restart: ${show(r)}`);
  assert.equal(r.json.rows, 600);
  const after = await listObjects(`${prefix}/`);
  assert.deepEqual(after.map(o => o.Key).sort(), [...before.map(o => o.Key), ...r.json.files.map(f => `${prefix}/${f.path}`)].sort(), 'old objects kept, new ones added');
  for (const o of before) assert.equal(after.find(x => x.Key === o.Key).ETag, o.ETag, `${o.Key} unchanged`);
  const parquet = Object.values(await download(prefix, 'e2e-restart')).filter(p => p.endsWith('.parquet'));
  const [c] = await duckdbQuery(`SELECT count(*) AS n, count(DISTINCT seq) AS d FROM read_parquet([${parquet.map(p => `'${p}'`).join(', ')}])`);
  assert.deepEqual(c, { n: 3600n, d: 3600n }, 'all 3,600 rows of both flushes, once each');
  await stop(s);
});

step('multipart: a flush of a 300,000-row file over 20 MiB (AWS_ENDPOINT_URL) is byte-identical to what aws s3 cp downloads and DuckDB reads it', async () => {
  const prefix = `${RUN}/e2e-big`;
  const s = await startS3Server(prefix, { useFlag: false, args: big.args, env: s3Env({ AWS_ENDPOINT_URL: state.s3.endpoint }) });
  await load(s, big);
  const t0 = Date.now();
  const r = await s.flush(big.dataset);
  const ms = Date.now() - t0;
  checkFlushAnswer(r, big, 'multipart');
  const f = r.json.files[0];
  assert.ok(f.bytes >= 20 * MiB, `the file is ${f.bytes} bytes, want >= 20 MiB for a multipart upload`);
  const head = parseJson(await aws('s3api', 'head-object', '--bucket', state.s3.bucket, '--key', `${prefix}/${f.path}`, '--output', 'json'));
  assert.equal(head.ContentLength, f.bytes, 'HEAD size');
  assert.match(head.ETag, /-\d+"$/, `ETag ${head.ETag}: not a multipart upload`);
  const { files } = await verifyPublished(prefix, big, [r], 'multipart');
  const bytes = readFileSync(files[f.path]);
  assert.equal(head.ETag, multipartEtag(bytes, PART), `ETag ${head.ETag} vs the parts of ${PART} bytes of what aws s3 cp downloaded`);
  const [c] = await duckdbQuery(`SELECT count(*) AS n, md5(string_agg(payload, '' ORDER BY seq)) AS h FROM read_parquet('${files[f.path]}')`);
  assert.deepEqual(c, { n: BigInt(big.n), h: big.payloadMd5 }, 'DuckDB: every payload, in order');
  console.error(`# multipart flush of ${f.bytes} bytes in ${ms} ms (${head.ETag.match(/-(\d+)"/)[1]} parts)`);
  await stop(s);
});

// =====================================================================================================
// 2. Faults through the proxy. Each flush must succeed (retries) and publish exactly the right objects.
const PUT_PARQUET = '^PUT /[^?]*\\.parquet$';
const PUT_PART = n => `^PUT /[^?]*\\.parquet\\?partNumber=${n}&uploadId=`;
const ANY_PART = '^PUT /[^?]*\\.parquet\\?partNumber=';
const CREATE_MPU = '^POST /[^?]*\\.parquet\\?uploads=';
const COMPLETE_MPU = '^POST /[^?]*\\.parquet\\?uploadId=';

step('faults: a burst of 503 SlowDown on PutObject', async () => {
  const { s, r, prefix, log } = await faultFlush('slowdown-put', small, [{ match: PUT_PARQUET, action: '503', times: 4 }], { minHits: [4] });
  checkFlushAnswer(r, small, `slowdown-put\n${requestSummary(log)}`);
  await verifyPublished(prefix, small, [r], 'slowdown-put', log);
  assert.match(s.log(), /SlowDown|503/, 'the log says what was retried');
  await stop(s);
});

step('faults: 503 SlowDown on parts and 500 on CompleteMultipartUpload', async () => {
  const { s, r, prefix, log } = await faultFlush('slowdown-parts', big,
    [{ match: ANY_PART, action: '503', times: 3 }, { match: COMPLETE_MPU, action: '500', times: 1 }, { match: CREATE_MPU, action: '503', times: 1 }]);
  checkFlushAnswer(r, big, `slowdown-parts\n${requestSummary(log)}`);
  await verifyPublished(prefix, big, [r], 'slowdown-parts', log);
  await stop(s);
});

step('faults: connection reset before a PutObject body and mid-upload of a part', async () => {
  const a = await faultFlush('reset-put', small, [{ match: PUT_PARQUET, action: 'reset', times: 2 }], { minHits: [2] });
  checkFlushAnswer(a.r, small, `reset-put\n${requestSummary(a.log)}`);
  await verifyPublished(a.prefix, small, [a.r], 'reset-put', a.log);
  await stop(a.s);
  const b = await faultFlush('reset-part', big,
    [{ match: PUT_PART(2), action: 'reset', bytes: 3 * MiB, times: 1 }, { match: CREATE_MPU, action: 'reset', times: 1 }]);
  checkFlushAnswer(b.r, big, `reset-part\n${requestSummary(b.log)}`);
  assert.ok(b.log.some(e => /reset after [1-9]\d* body bytes/.test(e.result)), `a part upload was cut in the middle:\n${requestSummary(b.log)}`);
  await verifyPublished(b.prefix, big, [b.r], 'reset-part', b.log);
  await stop(b.s);
});

step('faults: the answer is lost after the server did the work (PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload)', async () => {
  const a = await faultFlush('cut-put', small, [{ match: PUT_PARQUET, action: 'cut', times: 3 }], { minHits: [3] });
  checkFlushAnswer(a.r, small, `cut-put\n${requestSummary(a.log)}`);
  await verifyPublished(a.prefix, small, [a.r], 'cut-put', a.log);
  await stop(a.s);
  // A lost CreateMultipartUpload answer leaves an upload the client never heard of: it must not stay behind.
  const b = await faultFlush('cut-mpu', big, [{ match: CREATE_MPU, action: 'cut', times: 1 }, { match: PUT_PART(1), action: 'cut', times: 1 },
    { match: COMPLETE_MPU, action: 'cut', times: 1 }]);
  checkFlushAnswer(b.r, big, `cut-mpu\n${requestSummary(b.log)}`);
  await verifyPublished(b.prefix, big, [b.r], 'cut-mpu', b.log);
  await stop(b.s);
});

step('faults: answers slower than URSA_S3_TIMEOUT_MS=2000 (PutObject after and before the server got it, UploadPart, CompleteMultipartUpload)', async () => {
  const env = { URSA_S3_TIMEOUT_MS: '2000' };
  const a = await faultFlush('timeout-put', small,
    [{ match: PUT_PARQUET, action: 'slow', ms: 3500, times: 1 }, { match: PUT_PARQUET, action: 'delay', ms: 3500, times: 1 }], { env });
  checkFlushAnswer(a.r, small, `timeout-put\n${requestSummary(a.log)}`);
  assert.ok(a.ms >= 2000, `the flush took ${a.ms} ms: the slow answer did not make it wait for the timeout`);
  await verifyPublished(a.prefix, small, [a.r], 'timeout-put', a.log);
  await stop(a.s);
  const b = await faultFlush('timeout-part', big, [{ match: PUT_PART(2), action: 'slow', ms: 3500, times: 1 },
    { match: COMPLETE_MPU, action: 'slow', ms: 3500, times: 1 }], { env });
  checkFlushAnswer(b.r, big, `timeout-part\n${requestSummary(b.log)}`);
  await verifyPublished(b.prefix, big, [b.r], 'timeout-part', b.log);
  await stop(b.s);
});

step('a flush slower than --idle-timeout still gets its answer (the server\'s own work is not the client\'s silence)', async () => {
  // Every PutObject held 4 s by the proxy, with a 2 s idle timeout: the flush takes longer than the
  // timeout while the client waits. libmicrohttpd 0.9.75 counts queueing the answer as activity, so the
  // 200 arrives; this guards that (a library that checked the timeout first would drop the answer).
  const data = { ...small, args: [...(small.args ?? []), '--idle-timeout', '2'] };
  const a = await faultFlush('slow-flush', data, [{ match: PUT_PARQUET, action: 'delay', ms: 4000 }]);
  assert.ok(a.ms >= 4000, `the flush took ${a.ms} ms: the delay was not applied`);
  checkFlushAnswer(a.r, small, `slow-flush\n${requestSummary(a.log)}`);
  await verifyPublished(a.prefix, small, [a.r], 'slow-flush', a.log);
  await stop(a.s);
});

// An outage longer than the retry deadline: the flush answers 500, the rows stay buffered, nothing is
// visible, and the next flush (after the outage) publishes every row exactly once.
async function outage(name, data, rules, env) {
  const { s, r, ms, prefix, log } = await faultFlush(name, data, rules, { env });
  assert.equal(r.status, 500, `${name}: flush during the outage -> ${show(r)}\n${requestSummary(log)}`);
  assert.ok(typeof r.json?.error === 'string' && r.json.error.length > 0, `${name}: 500 without {"error": ...}: ${r.text}`);
  assert.ok(ms < 60_000, `${name}: the failed flush took ${ms} ms`);
  const count = {};
  for (const e of log) { const k = `${e.method}${/[?&]uploadId=/.test(e.url) ? ' (upload)' : ''} ${e.action}`; count[k] = (count[k] || 0) + 1; }
  console.error(`# ${name}: 500 after ${ms} ms (${r.json?.error}); requests: ${Object.entries(count).map(([k, v]) => `${k} x${v}`).join(', ')}`);
  const g = await s.get(`/v1/datasets/${data.dataset}`);
  assert.equal(g.json.buffered_rows, data.n, `${name}: rows buffered after the failed flush: ${show(g)}`);
  const objects = await listObjects(`${prefix}/`);
  assert.deepEqual(objects.map(o => o.Key), [`${prefix}/${data.dataset}/_ursa/schema.json`], `${name}: objects visible after the failed flush\n${requestSummary(log)}`);
  assert.deepEqual(await listUploads(`${prefix}/`), [], `${name}: unfinished multipart uploads after the failed flush\n${requestSummary(log)}`);
  const r2 = await s.flush(data.dataset);
  checkFlushAnswer(r2, data, `${name}: flush after the outage`);
  assert.equal((await s.get(`/v1/datasets/${data.dataset}`)).json.buffered_rows, 0);
  await verifyPublished(prefix, data, [r2], name);
  await stop(s);
  return { error: r.json.error, ms };
}

step('outage longer than URSA_S3_RETRY_DEADLINE_MS: 500, rows kept, published once afterwards', async () => {
  const env = { URSA_S3_RETRY_DEADLINE_MS: '3000', URSA_S3_TIMEOUT_MS: '2000' };
  const a = await outage('outage-all', small, [{ action: '503' }], env);
  assert.match(a.error, /503|SlowDown|retr|deadline/i, `the error names the cause: ${a.error}`);
});

step('outage of one day\'s object only: the other days of that flush do not stay visible', async () => {
  await outage('outage-one-day', small, [{ match: `^PUT /[^?]*date(=|%3D)${SMALL_DAYS[2]}/[^?]*\\.parquet`, action: '503' }],
    { URSA_S3_RETRY_DEADLINE_MS: '3000', URSA_S3_TIMEOUT_MS: '2000' });
});

step('outage in the middle of a multipart upload: aborted, nothing left, published once afterwards', async () => {
  await outage('outage-mpu', big, [{ match: ANY_PART, action: '503', skip: 1 }], { URSA_S3_RETRY_DEADLINE_MS: '3000', URSA_S3_TIMEOUT_MS: '2000' });
});

// =====================================================================================================
// 3. Wrong credentials and a missing bucket: a clear message naming the problem, the secret never shown.
/** Starts the binary and waits for it to exit or to listen: {code, output, listening, server}. */
async function startOrExit(store, env, ms = 60_000) {
  return new Promise(res => {
    const p = spawn(URSA_BIN, ['serve', '--listen', '127.0.0.1:0', '--store', store, '--node', 'n1', '--s3-endpoint', state.s3.endpoint],
      { env: { ...process.env, URSA_WAL_DIR: join(makeTempDir('wal-'), 'wal'), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => { p.kill('SIGKILL'); }, ms);
    const onData = d => {
      out += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) { clearTimeout(timer); res({ listening: Number(m[1]), proc: p, output: () => out }); }
    };
    p.stdout.on('data', onData); p.stderr.on('data', onData);
    p.on('exit', (code, signal) => { clearTimeout(timer); res({ code, signal, output: () => out }); });
  });
}
/** Either the server refuses to start, or creating a dataset / the first flush fails: the message of that. */
async function firstFailure(store, env) {
  const st = await startOrExit(store, env);
  if (!st.listening) return { where: `exit ${st.code}${st.signal ? ` (${st.signal})` : ''}`, message: st.output(), log: st.output(), exited: st.code !== 0 };
  const url = `http://127.0.0.1:${st.listening}`;
  let msg = '', where = '';
  try {
    let r = await fetch(`${url}/v1/datasets/${small.dataset}`, { method: 'PUT', body: JSON.stringify(SMALL_SCHEMA) });
    let text = await r.text();
    if (r.status >= 500) { where = `PUT dataset ${r.status}`; msg = text; }
    else {
      await fetch(`${url}/v1/datasets/${small.dataset}/records`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: small.bodies[0] });
      r = await fetch(`${url}/v1/datasets/${small.dataset}/flush`, { method: 'POST' });
      text = await r.text();
      where = `flush ${r.status}`; msg = r.status === 500 ? text : '';
    }
  } finally {
    st.proc.kill('SIGTERM');
    await new Promise(res => st.proc.once('exit', res));
  }
  return { where, message: msg, log: st.output() + msg, exited: false };
}

step('wrong secret, unknown access key, missing bucket: a clear message, and no secret in any output', async () => {
  const wrongSecret = `WrOnG-${randomBytes(9).toString('hex')}`;
  state.secretsSeen.push(wrongSecret);
  const store = `s3://${state.s3.bucket}/${RUN}/creds`;
  const cases = [
    ['wrong secret', store, s3Env({ AWS_SECRET_ACCESS_KEY: wrongSecret }), /credential|signature|access denied|forbidden|403/i],
    ['unknown access key', store, s3Env({ AWS_ACCESS_KEY_ID: 'nobody:nobody' }), /credential|signature|access denied|access key|forbidden|403/i],
    ['missing bucket', `s3://no-such-bucket-${process.pid}/p`, s3Env(), new RegExp(`no-such-bucket-${process.pid}.*(does not exist|NoSuchBucket|not found)|(NoSuchBucket|does not exist).*no-such-bucket-${process.pid}`, 'i')],
  ];
  const problems = [];
  for (const [what, st, env, want] of cases) {
    const f = await firstFailure(st, env);
    console.error(`# ${what}: ${f.where}: ${f.message.trim().split('\n').pop()}`);
    if (!f.exited && !f.where.includes('500')) problems.push(`${what}: the server started and nothing failed (${f.where})`);
    else if (!want.test(f.message)) problems.push(`${what}: ${f.where}: the message does not name the problem (${want}): ${f.message.slice(-600)}`);
    for (const secret of state.secretsSeen) if (f.log.includes(secret)) problems.push(`${what}: the secret ${secret.slice(0, 4)}… appears in the output`);
  }
  const listed = await listObjects(`${RUN}/creds/`);
  if (listed.length) problems.push(`objects written with wrong credentials: ${listed.map(o => o.Key).join(', ')}`);
  assert.deepEqual(problems, []);
});

step('no secret in the output of any server of this file', async () => {
  const bad = [];
  for (const s of state.servers) for (const secret of state.secretsSeen) if (s.log().includes(secret)) bad.push(`${s.argv.join(' ')}: contains the secret ${secret.slice(0, 4)}…`);
  assert.deepEqual(bad, []);
}, { requires: [] });
