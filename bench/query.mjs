#!/usr/bin/env node
// query.mjs — Ursa's SQL engine against Polars and DuckDB on the same 10 M rows of the event table, in one run
// (not part of CI; issue 15, item 6).
//
//   node bench/query.mjs [--rows N] [--runs R] [--warmup W] [--ursa build/ursa] [--dir DIR] [--only E1,E2,...]
//                        [--threads T] [--body-mb 100] [--perf] [--keep] [--report F.json]
//
//   --rows    rows of the event table (default 10000000; bench/gen_events.mjs writes them once into DIR)
//   --runs    timed rounds (default 5); medians are reported
//   --warmup  untimed rounds before them (default 1)
//   --ursa    the Release binary (default build/ursa)
//   --dir     data and results (default $BENCH_DIR, else /tmp/ursa-bench); the store is DIR/query-store
//   --only    engines to time (default all): ursa-live, ursa-stored, ursa-cli, polars-mem, polars-scan,
//             duckdb-mem, duckdb-scan
//   --threads threads of the peers (default 2, the machine's cores): POLARS_MAX_THREADS, DuckDB SET threads
//   --perf    after the rounds, `perf record -g` of the server while each query runs again on live and on
//             stored rows (about 3 s each); the top functions go into the report
//   --keep    keep the store (and leave the server's files) after the run
//   --report  re-render a saved results-query-<time>.json and exit
//
// One `ursa serve` (the Release build) on DIR/query-store, with flushing off (--flush-max-rows 10^12,
// --flush-max-bytes 1T, --flush-max-age 10^8 s, no schedule), --memory-limit 16G, --query-memory 4G,
// --no-compact, --durability none, and two datasets of the same rows (the schema of gen_events.mjs):
//   evs  the stored rows: the NDJSON POSTed in ~--body-mb MB bodies, then POST /v1/datasets/evs/flush and
//        POST /v1/datasets/evs/compact (the day's files as one sorted file, as in production; a day already in
//        one file is left alone), so its buffer is empty and every row is in the table's Parquet files
//   ev   the live rows: the same NDJSON POSTed again and left in the buffer (nothing of it is flushed)
// Both are checked to hold N rows (count(*), and stats.live_rows = N for ev, 0 for evs).
// The engines, each timed on the same five queries (Ursa's SQL below; bench/peer_query.mjs has the peers'):
//   ursa-live    POST /v1/query {"sql"} on ev over one keep-alive connection: the wall time of the request, from
//                sending it to the parsed JSON answer (HTTP and JSON of a tiny result included); the engine's own
//                stats.seconds is reported beside it. Server CPU: every thread's run time (/proc/PID/task/*/schedstat)
//   ursa-stored  the same on evs (files only)
//   ursa-cli     `ursa query --store DIR --format json --stats SQL` on evs: a fresh process per query (its start,
//                the table's metadata, the query), wall time of the process (/usr/bin/time for its CPU)
//   polars-mem   pl.readParquet(the files) into a DataFrame before the rounds, then the lazy API on df.lazy()
//   polars-scan  pl.scanParquet(the file) per query (the lazy API, predicates and projections pushed into the scan)
//   duckdb-mem   CREATE TABLE t AS SELECT * FROM read_parquet([the files]) before the rounds, then SQL on t
//   duckdb-scan  SQL on read_parquet([the files]) per query
// Each peer is its own long-lived node process (bench/peer_query.mjs, started once, the data loaded before the
// rounds), told over stdin to run one query at a time and timing it in its process (from building the query to its
// result as JavaScript values: no HTTP, no process start). So Ursa's live and stored figures carry a loopback HTTP
// request and a JSON answer (~0.1–0.5 ms) that the peers' do not; the stats.seconds column shows Ursa's engine alone.
// Rounds: every query on every engine, engines in a rotating order (round r starts at engine r), queries in turn.
// Checks: every answer of every engine and round equals ursa-live's of the same query — counts exactly, sums and
// averages within 1e-6 relative, Q2 compared by event, Q3's ten rows in order.
// Results: Markdown on stdout; DIR/results-query-<time>.{json,md}.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, rmSync, mkdirSync, readdirSync, openSync, readSync, closeSync } from 'node:fs';
import { cpus, totalmem, release, loadavg } from 'node:os';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate, dataPaths } from './gen_events.mjs';
import { startUrsa, request as requestTo } from './ursa_server.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
if (args.includes('--help')) { const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n'); console.log(lines.slice(1, lines.findIndex(l => l.startsWith('import'))).map(l => l.replace(/^\/\/ ?/, '')).join('\n')); process.exit(0); }
const log = s => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const median = xs => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

const ENGINES = ['ursa-live', 'ursa-stored', 'ursa-cli', 'polars-mem', 'polars-scan', 'duckdb-mem', 'duckdb-scan'];
const NAME = { 'ursa-live': 'Ursa live', 'ursa-stored': 'Ursa stored', 'ursa-cli': 'Ursa CLI', 'polars-mem': 'Polars mem',
  'polars-scan': 'Polars scan', 'duckdb-mem': 'DuckDB mem', 'duckdb-scan': 'DuckDB scan' };
const QUERIES = ['Q1', 'Q2', 'Q3', 'Q4', 'Q5'];
// Ursa's SQL; D is the dataset. The hour of Q1 is in the middle of the day the rows span.
const SQL = {
  Q1: D => `SELECT count(*) FROM ${D} WHERE ts >= '2026-11-23 12:00:00' AND ts < '2026-11-23 13:00:00'`,
  Q2: D => `SELECT event, sum(value) FROM ${D} GROUP BY event`,
  Q3: D => `SELECT country, event, count(*) AS n, avg(value) FROM ${D} GROUP BY country, event ORDER BY n DESC LIMIT 10`,
  Q4: D => `SELECT count(DISTINCT user_id) FROM ${D}`,
  Q5: D => `SELECT count(*) FROM ${D} WHERE payload LIKE '%abc%'`,
};
const KINDS = { Q1: ['count'], Q2: ['str', 'float'], Q3: ['str', 'str', 'count', 'float'], Q4: ['count'], Q5: ['count'] };
// The goals of issue 15: live rows at least as fast as Polars in memory; stored files faster than DuckDB on them.
const GOALS = [['ursa-live', 'polars-mem', '≤ 1'], ['ursa-live', 'duckdb-mem', ''], ['ursa-stored', 'polars-scan', ''], ['ursa-stored', 'duckdb-scan', '< 1']];

if (opt('--report')) {
  console.log(render(JSON.parse(readFileSync(opt('--report'), 'utf8'))));
  process.exit(0);
}

const ROWS = Number(opt('--rows', 10_000_000));
const RUNS = Number(opt('--runs', 5)), WARMUP = Number(opt('--warmup', 1));
const URSA = resolve(REPO, opt('--ursa', 'build/ursa'));
const DIR = resolve(opt('--dir', process.env.BENCH_DIR || '/tmp/ursa-bench'));
const ONLY = opt('--only', ENGINES.join(',')).split(',');
for (const e of ONLY) if (!ENGINES.includes(e)) throw new Error(`--only: ${e} is not one of ${ENGINES.join(', ')}`);
const THREADS = Number(opt('--threads', 2));
const BODY = Number(opt('--body-mb', 100)) * 1e6;
const PERF = args.includes('--perf'), KEEP = args.includes('--keep');
const STORE = join(DIR, 'query-store');

const cache = join(dirname(URSA), 'CMakeCache.txt');
const buildType = existsSync(cache) ? /CMAKE_BUILD_TYPE:STRING=(\w*)/.exec(readFileSync(cache, 'utf8'))?.[1] : 'unknown';
if (buildType !== 'Release') log(`WARNING: ${URSA} is from a ${buildType} build, not Release`);

// ------------------------------------------------------------------ data
const manifest = generate({ rows: ROWS, dir: DIR, log });
const paths = dataPaths(DIR, ROWS);
const data = readFileSync(paths.ndjson);
const bodies = [];
for (let pos = 0; pos < data.length;) {
  let end = Math.min(pos + BODY, data.length);
  if (end < data.length) end = data.indexOf(10, end) + 1 || data.length;
  bodies.push(data.subarray(pos, end));
  pos = end;
}

// ------------------------------------------------------------------ the server
rmSync(STORE, { recursive: true, force: true });
mkdirSync(STORE, { recursive: true });
const SERVE = ['serve', '--listen', '127.0.0.1:0', '--store', STORE, '--node', 'bench', '--durability', 'none',
  '--flush-max-rows', String(1e12), '--flush-max-bytes', '1T', '--flush-max-age', String(1e8), '--memory-limit', '16G',
  '--query-memory', '4G', '--wal-limit', '64G', '--no-compact'];
const { proc: server, port } = await startUrsa(URSA, SERVE);
const peers = {};
const cleanup = () => {
  try { server.kill('SIGKILL'); } catch { /* gone */ }
  for (const p of Object.values(peers)) try { p.proc.kill('SIGKILL'); } catch { /* gone */ }
};
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const request = (method, path, body, type) => requestTo(port, agent, method, path, body, type);
async function api(method, path, body, type) {
  const r = await request(method, path, body, type);
  if (r.status !== 200 && r.status !== 201) throw new Error(`${method} ${path}: ${r.status} ${r.body.slice(0, 1000)}`);
  return JSON.parse(r.body);
}
const serverCpu = () => { // seconds on a CPU, every thread of the server (ns in schedstat)
  let ns = 0;
  for (const t of readdirSync(`/proc/${server.pid}/task`)) {
    try { ns += Number(readFileSync(`/proc/${server.pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]); } catch { /* ended */ }
  }
  return ns / 1e9;
};
const ursaQuery = async (D, q) => api('POST', '/v1/query', Buffer.from(JSON.stringify({ sql: SQL[q](D) })));

async function ingest(D) {
  await api('PUT', `/v1/datasets/${D}`, readFileSync(paths.schema));
  const t0 = Date.now();
  let accepted = 0;
  for (const b of bodies) {
    const a = await api('POST', `/v1/datasets/${D}/records`, b, 'application/x-ndjson');
    if (a.rejected) throw new Error(`${D}: ${a.rejected} rows rejected: ${JSON.stringify(a.errors).slice(0, 500)}`);
    accepted += a.accepted;
  }
  const seconds = (Date.now() - t0) / 1000;
  if (accepted !== ROWS) throw new Error(`${D}: ${accepted} rows accepted, expected ${ROWS}`);
  log(`${D}: ${ROWS} rows POSTed in ${bodies.length} bodies, ${seconds.toFixed(1)} s`);
  return seconds;
}
async function checkCount(D, live) {
  const r = await api('POST', '/v1/query', Buffer.from(JSON.stringify({ sql: `SELECT count(*) FROM ${D}` })));
  if (r.rows[0][0] !== ROWS || r.stats.live_rows !== live) throw new Error(`${D}: count(*) ${r.rows[0][0]}, live rows ${r.stats.live_rows}; expected ${ROWS} and ${live}`);
  return r.stats;
}

const setup = { ingest_seconds: {} };
setup.ingest_seconds.evs = await ingest('evs');
let t0 = Date.now();
setup.flush = await api('POST', '/v1/datasets/evs/flush');
setup.flush_seconds = (Date.now() - t0) / 1000;
t0 = Date.now();
setup.compact = await api('POST', '/v1/datasets/evs/compact');
setup.compact_seconds = (Date.now() - t0) / 1000;
setup.table = await api('GET', '/v1/datasets/evs/files');
const FILES = setup.table.files.map(f => fileURLToPath(f.location));
log(`evs: flushed in ${setup.flush_seconds.toFixed(1)} s (${setup.flush.files.length} file(s)), compacted in ${setup.compact_seconds.toFixed(1)} s ` +
  `(${JSON.stringify(setup.compact.days)}); the table: ${FILES.length} file(s), ${(setup.table.bytes / 1e6).toFixed(0)} MB`);
setup.stored_check = await checkCount('evs', 0);
setup.ingest_seconds.ev = await ingest('ev');
setup.live_check = await checkCount('ev', ROWS);
for (const f of FILES) { // every engine reads the files from the page cache
  const fd = openSync(f, 'r'), b = Buffer.allocUnsafe(16 << 20);
  while (readSync(fd, b, 0, b.length, null) > 0);
  closeSync(fd);
}

// ------------------------------------------------------------------ the peers
function startPeer(name) {
  const [engine, mode] = name.split('-');
  const proc = spawn(process.execPath, [join(REPO, 'bench', 'peer_query.mjs'), '--engine', engine, '--mode', mode, '--files', FILES.join(','), '--threads', String(THREADS)],
    { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, POLARS_MAX_THREADS: String(THREADS) } });
  const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`${name} ended (exit ${proc.exitCode})`);
    return JSON.parse(value);
  };
  return { proc, next };
}
const peerInfo = {};
for (const name of ONLY.filter(e => !e.startsWith('ursa'))) {
  t0 = Date.now();
  peers[name] = startPeer(name);
  peerInfo[name] = await peers[name].next(); // loads one at a time: each load has the cores to itself
  log(`${name}: ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (${peerInfo[name].version}), RSS ${(peerInfo[name].rss / 2 ** 20).toFixed(0)} MiB`);
}
const rssOf = pid => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
setup.server_rss = rssOf(server.pid);
setup.peer_rss = Object.fromEntries(Object.entries(peers).map(([n, p]) => [n, rssOf(p.proc.pid)]));

// ------------------------------------------------------------------ one measurement
async function measure(engine, q) {
  if (engine === 'ursa-live' || engine === 'ursa-stored') {
    const body = Buffer.from(JSON.stringify({ sql: SQL[q](engine === 'ursa-live' ? 'ev' : 'evs') }));
    const c0 = serverCpu(), t = process.hrtime.bigint();
    const r = await request('POST', '/v1/query', body);
    const a = JSON.parse(r.body);
    const seconds = Number(process.hrtime.bigint() - t) / 1e9, cpu = serverCpu() - c0;
    if (r.status !== 200) throw new Error(`${engine} ${q}: ${r.status} ${r.body}`);
    return { seconds, cpu_seconds: cpu, engine_seconds: a.stats.seconds, rows: a.rows, stats: a.stats };
  }
  if (engine === 'ursa-cli') {
    const t = process.hrtime.bigint();
    const r = spawnSync('/usr/bin/time', ['-f', 'BENCHTIME %e %U %S', URSA, 'query', '--store', STORE, '--format', 'json', '--memory', '4G', SQL[q]('evs')],
      { encoding: 'utf8', maxBuffer: 16 << 20 });
    const seconds = Number(process.hrtime.bigint() - t) / 1e9;
    const tl = (r.stderr || '').split('\n').filter(l => l.startsWith('BENCHTIME ')).at(-1);
    if (r.status !== 0 || !tl) throw new Error(`ursa-cli ${q}: exit ${r.status} ${r.stderr}`);
    const [, , user, sys] = tl.split(' ').map(Number);
    const a = JSON.parse(r.stdout);
    return { seconds, cpu_seconds: user + sys, engine_seconds: a.stats.seconds, rows: a.rows, stats: a.stats };
  }
  const p = peers[engine];
  p.proc.stdin.write(JSON.stringify({ query: q }) + '\n');
  const a = await p.next();
  return { seconds: a.seconds, cpu_seconds: a.cpu_seconds, rows: a.rows };
}

// ------------------------------------------------------------------ checks
function canonical(q, rows) {
  return q === 'Q2' ? [...rows].sort((a, b) => String(a[0]).localeCompare(String(b[0]))) : rows;
}
function differs(q, a, b) { // a reason, or null when a and b agree
  a = canonical(q, a); b = canonical(q, b);
  if (a.length !== b.length) return `${a.length} rows against ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < KINDS[q].length; j++) {
      const x = a[i][j], y = b[i][j], k = KINDS[q][j];
      const ok = k === 'float' ? (x === y || Math.abs(x - y) <= 1e-6 * Math.max(Math.abs(x), Math.abs(y))) : x === y;
      if (!ok) return `row ${i} column ${j}: ${JSON.stringify(x)} against ${JSON.stringify(y)}`;
    }
  }
  return null;
}

// ------------------------------------------------------------------ rounds
const results = [], problems = [], reference = {};
const order = ONLY.filter(e => e === 'ursa-live').concat(ONLY.filter(e => e !== 'ursa-live'));
for (let round = 1 - WARMUP; round <= RUNS; round++) {
  for (const q of QUERIES) {
    const k = ((round - 1) % order.length + order.length) % order.length;
    for (const engine of order.slice(k).concat(order.slice(0, k))) {
      const load1 = loadavg()[0];
      const m = await measure(engine, q);
      reference[q] ??= { engine, rows: m.rows };
      const d = differs(q, m.rows, reference[q].rows);
      if (d) problems.push(`${q} ${engine} round ${round}: ${d} (reference ${reference[q].engine})`);
      if (round >= 1) results.push({ round, query: q, engine, load1, ...m });
    }
  }
  const rs = results.filter(r => r.round === round);
  if (round >= 1) log(`round ${round}/${RUNS}: ` + QUERIES.map(q => `${q} ` + order.map(e => (rs.find(r => r.query === q && r.engine === e).seconds * 1000).toFixed(0)).join('/')).join('  ') + ` ms (${order.join('/')}), load ${loadavg()[0].toFixed(2)}`);
  else log(`warm-up round done`);
}
if (problems.length) log(`WARNING: answers differ:\n  ${problems.join('\n  ')}`);

// ------------------------------------------------------------------ profiles
const profiles = {};
if (PERF) {
  for (const [engine, D] of [['ursa-live', 'ev'], ['ursa-stored', 'evs']]) {
    for (const q of QUERIES) {
      const out = join(DIR, `perf-query-${engine}-${q}.data`);
      const perf = spawn('perf', ['record', '-F', '999', '-g', '-o', out, '-p', String(server.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
      let perfErr = '';
      perf.stderr.on('data', d => { perfErr += d; });
      await new Promise(r => setTimeout(r, 300));
      const s0 = Date.now();
      let n = 0;
      while (Date.now() - s0 < 3000 || n < 2) { await ursaQuery(D, q); n++; }
      perf.kill('SIGINT');
      await new Promise(r => (perf.exitCode !== null ? r() : perf.on('exit', r)));
      const rep = spawnSync('perf', ['report', '-i', out, '--no-children', '--stdio', '--percent-limit', '1.5', '--sort', 'symbol', '-g', 'none'], { encoding: 'utf8', maxBuffer: 64 << 20 });
      const top = (rep.stdout || '').split('\n').filter(l => /^\s+\d+\.\d+%/.test(l)).slice(0, 12).map(l => l.trim().replace(/\s+/g, ' ').replace(/( -)+$/, ''));
      profiles[`${engine} ${q}`] = { queries: n, top, file: out, error: rep.status ? (rep.stderr || perfErr).slice(0, 300) : undefined };
      log(`perf ${engine} ${q} (${n} queries): ${top.slice(0, 4).join(' | ')}`);
    }
  }
}

// ------------------------------------------------------------------ report
let commit = 'unknown';
try { commit = execFileSync('git', ['-C', REPO, 'log', '-1', '--format=%h (%s', '--abbrev=7'], { encoding: 'utf8' }).trim().slice(0, 60) + '…)'; } catch { /* not a checkout */ }
const versions = { ursa: spawnSync(URSA, ['version'], { encoding: 'utf8' }).stdout.trim() };
for (const [n, i] of Object.entries(peerInfo)) versions[n] = i.version;
const report = {
  date: new Date().toISOString(), rows: ROWS, runs: RUNS, warmup: WARMUP, commit, build: buildType, threads: THREADS,
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, memory_gib: +(totalmem() / 2 ** 30).toFixed(1), kernel: release(), node: process.version },
  versions, serve: SERVE.join(' '), data: { ndjson: paths.ndjson, bytes: manifest.bytes, bodies: bodies.length },
  files: setup.table.files.map(f => ({ path: f.path, rows: f.rows, bytes: f.bytes })), setup: { ...setup, table: undefined },
  peers: Object.fromEntries(Object.entries(peerInfo).map(([n, i]) => [n, { ...i, ready: undefined }])),
  sql: Object.fromEntries(QUERIES.map(q => [q, SQL[q]('ev')])), engines: order,
  same_answers: problems.length === 0, problems: problems.slice(0, 50), answers: Object.fromEntries(QUERIES.map(q => [q, reference[q]?.rows])),
  results, profiles,
};
const stamp = report.date.replace(/[:.]/g, '-');
writeFileSync(join(DIR, `results-query-${stamp}.json`), JSON.stringify(report, null, 1) + '\n');
const md = render(report);
writeFileSync(join(DIR, `results-query-${stamp}.md`), md + '\n');
console.log(md);
log(`written ${join(DIR, `results-query-${stamp}.json`)} and .md`);
agent.destroy();
for (const p of Object.values(peers)) p.proc.stdin.end();
server.kill('SIGKILL'); // a shutdown would flush ev's 10 M buffered rows, which is not measured
await new Promise(r => (server.exitCode !== null || server.signalCode !== null ? r() : server.on('exit', r)));
if (!KEEP) rmSync(STORE, { recursive: true, force: true });
process.exit(0);

/** Markdown of a report: medians, Ursa ÷ peer, CPU, then what was run. */
function render(rep) {
  const rs = rep.results, E = rep.engines, Q = [...new Set(rs.map(r => r.query))];
  const S = {};
  for (const q of Q) for (const e of E) {
    const xs = rs.filter(r => r.query === q && r.engine === e);
    if (!xs.length) continue;
    S[`${q} ${e}`] = { ms: median(xs.map(r => r.seconds)) * 1000, cpu: median(xs.map(r => r.cpu_seconds)) * 1000,
      eng: xs[0].engine_seconds !== undefined ? median(xs.map(r => r.engine_seconds)) * 1000 : null,
      all: xs.map(r => r.seconds * 1000), stats: xs[0].stats };
  }
  const ms = v => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
  const X = v => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–');
  const L = [`# Queries (issue 15): ${rep.rows} rows of the event table; ${rep.runs} rounds (+${rep.warmup} warm-up); ${rep.date}`, '',
    `Machine: ${rep.machine.cpu}, ${rep.machine.cores} cores, ${rep.machine.memory_gib} GiB, kernel ${rep.machine.kernel}, node ${rep.machine.node}. ` +
    `Ursa ${rep.build} build at ${rep.commit}. Peers: ${Object.entries(rep.versions).filter(([n]) => n !== 'ursa').map(([n, v]) => `${n} ${v}`).join(', ')}; ${rep.threads} threads each.`,
    `Stored: ${rep.files.length} file(s), ${rep.files.map(f => `${f.path} (${f.rows} rows, ${(f.bytes / 1e6).toFixed(0)} MB)`).join(', ')}.`,
    `Same answers everywhere: ${rep.same_answers}${rep.same_answers ? '' : ' — ' + rep.problems.slice(0, 5).join('; ')}.`, '',
    'Medians, milliseconds (Ursa live/stored: wall time of the HTTP request; Ursa CLI: the whole process; peers: the query in their process):', '',
    `| query | ${E.map(e => NAME[e]).join(' | ')} |`, `| --- |${E.map(() => ' ---: |').join('')}`];
  for (const q of Q) L.push(`| ${q} | ${E.map(e => (S[`${q} ${e}`] ? ms(S[`${q} ${e}`].ms) : '–')).join(' | ')} |`);
  const goals = GOALS.filter(([u, p]) => E.includes(u) && E.includes(p));
  if (goals.length) {
    L.push('', 'Ursa ÷ peer, of the medians (below 1: Ursa faster); in brackets the rounds Ursa was faster in:', '',
      `| query | ${goals.map(([u, p, g]) => `${NAME[u]} ÷ ${NAME[p]}${g ? ` (goal ${g})` : ''}`).join(' | ')} |`, `| --- |${goals.map(() => ' ---: |').join('')}`);
    for (const q of Q) {
      L.push(`| ${q} | ${goals.map(([u, p]) => {
        const a = S[`${q} ${u}`], b = S[`${q} ${p}`];
        const won = rs.filter(r => r.query === q && r.engine === u).filter(r => r.seconds < rs.find(x => x.query === q && x.engine === p && x.round === r.round).seconds).length;
        return `${X(a.ms / b.ms)} (${won}/${rep.runs})`;
      }).join(' | ')} |`);
    }
  }
  if (goals.length) {
    L.push('', 'CPU seconds, Ursa ÷ peer, of the medians (Ursa\'s server figures miss the worker threads a query ended; the peers on ' + rep.threads + ' threads):', '',
      `| query | ${goals.map(([u, p]) => `${NAME[u]} ÷ ${NAME[p]}`).join(' | ')} |`, `| --- |${goals.map(() => ' ---: |').join('')}`);
    for (const q of Q) L.push(`| ${q} | ${goals.map(([u, p]) => X(S[`${q} ${u}`].cpu / S[`${q} ${p}`].cpu)).join(' | ')} |`);
  }
  const ursa = E.filter(e => e.startsWith('ursa'));
  L.push('', "Ursa's engine alone (stats.seconds, median ms) and CPU milliseconds of the measurement (median; Ursa server: every thread; CLI: the process; peers: their process, every thread):", '',
    `| query | ${ursa.map(e => `${NAME[e]} engine`).join(' | ')} | ${E.map(e => `${NAME[e]} CPU`).join(' | ')} |`, `| --- |${ursa.concat(E).map(() => ' ---: |').join('')}`);
  for (const q of Q) L.push(`| ${q} | ${ursa.map(e => (S[`${q} ${e}`]?.eng != null ? ms(S[`${q} ${e}`].eng) : '–')).join(' | ')} | ${E.map(e => (S[`${q} ${e}`] ? ms(S[`${q} ${e}`].cpu) : '–')).join(' | ')} |`);
  const st = E.includes('ursa-stored') ? E.filter(e => e === 'ursa-stored') : [];
  if (st.length) {
    L.push('', "Ursa's reading of the stored rows (first round): files, row groups, pages (pruned), bytes read, peak bytes of the query:", '');
    for (const q of Q) {
      const s = S[`${q} ursa-stored`].stats;
      L.push(`- ${q}: ${s.files} file(s) (${s.files_pruned} pruned), ${s.row_groups} row groups (${s.row_groups_pruned} pruned), ${s.pages} pages (${s.pages_pruned} pruned), ${s.rows_scanned} rows scanned, ${(s.bytes_read / 1e6).toFixed(1)} MB read, peak ${(s.peak_bytes / 2 ** 20).toFixed(0)} MiB`);
    }
  }
  L.push('', 'Every round (ms):', '', `| query | engine | ${Array.from({ length: rep.runs }, (_, i) => `r${i + 1}`).join(' | ')} |`, `| --- | --- |${Array.from({ length: rep.runs }, () => ' ---: |').join('')}`);
  for (const q of Q) for (const e of E) if (S[`${q} ${e}`]) L.push(`| ${q} | ${NAME[e]} | ${S[`${q} ${e}`].all.map(ms).join(' | ')} |`);
  const prof = Object.entries(rep.profiles || {});
  if (prof.length) {
    L.push('', 'Profiles of the server (`perf record -g`, self time by symbol, entries of 1.5 % and more):', '');
    for (const [k, p] of prof) L.push(`- ${k} (${p.queries} queries): ${p.error ? 'perf failed: ' + p.error : p.top.slice(0, 8).join('; ')}`);
  }
  L.push('', 'SQL (Ursa; D = ev live, evs stored):', '');
  for (const [q, s] of Object.entries(rep.sql)) L.push(`- ${q}: \`${s}\``);
  const loads = rs.map(r => r.load1);
  L.push('', `1-minute load average at the measurements: ${Math.min(...loads).toFixed(2)} to ${Math.max(...loads).toFixed(2)} (${rep.machine.cores} cores; other work shares the machine).`);
  return L.join('\n');
}
