#!/usr/bin/env node
// table.mjs — what Iceberg tables cost (serve --iceberg), on demand only (not in CI).
//
//   node bench/table.mjs commit [--store local,s3] [--flushes 30] [--rows 10000] [--rounds 2]
//   node bench/table.mjs ingest [--configs direct1,gw1,gw3] [--seconds 20] [--clients 8] [--rows 1000] [--rounds 2]
//   node bench/table.mjs all    (both, with their defaults)
//   ingest also: [--gw-body-buffer SIZE|nginx] (the gateway's client_body_buffer_size: gateway.mjs's default
//   256k, or nginx's own 16k)
//   common: [--ursa build/ursa] [--dir $BENCH_DIR or /tmp/ursa-bench] [--json FILE]
//
// commit — one node, a dataset of 10 columns (ts, id, user_id, event, country, value, amount, ok, n, payload),
//   flushed on demand (POST /v1/datasets/t/flush) after each POST of --rows rows (one UTC day), --flushes
//   times, with and without --iceberg, on a fresh store each time; automatic flushes pushed out of the way.
//   Timed: the flush request, at the client. Per flush, from the node's /metrics: ursa_table_commits_total
//   (must be one per flush with --iceberg), ursa_s3_requests_total (S3 only: the local store has no request
//   counter), ursa_flush_bytes_total. After the run, the table's metadata files (listed in the directory, or
//   with awscli on S3): bytes per commit = the metadata JSON of that version + its manifest list + its
//   manifest. The first flush with --iceberg also creates the table: reported apart, left out of the
//   medians. Rounds alternate plain and iceberg. On S3 the server is OpenStack Swift + s3api
//   (tests/s3/swift.sh; URSA_S3_ENV_FILE names a running one, else one is started in --dir and stopped).
//
// ingest — ingest throughput with --iceberg on a local store: wrk (Debian's package, bench/ingest_post.lua,
//   one thread, --clients connections) POSTs the same NDJSON body of --rows rows of the 10 columns for
//   --seconds, to 1 node directly (direct1), to 1 node behind nginx (gw1) and to 3 nodes behind nginx (gw3;
//   tests/integration/gateway.mjs, round robin, keepalive): each node its own --node name and --wal-dir, all
//   on one store, the dataset created on each node directly, the default flush policy (so flushes and their
//   commits happen during the run). Reported: requests/s, rows/s, MB/s of NDJSON, latency p50/p99 (wrk),
//   rows accepted (summed over the nodes' /metrics: at least what wrk saw acknowledged, at most --clients requests
//   more, those still in flight when wrk stopped), flushes and commits in the window, the table after
//   it (its snapshots and their nodes; their added-records must equal the rows the flushes wrote), and CPU seconds of each process group (Ursa nodes, nginx master + workers, wrk) and of the
//   whole machine (/proc/stat) over the window, against the 2 cores × the window.
//
// The machine is shared: read rows against each other (same run), not as capacity.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';
import http from 'node:http';
import { startGateway } from '../tests/integration/gateway.mjs';
import { s3Rig, run } from '../tests/s3/rig.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const part = argv[0] && !argv[0].startsWith('--') ? argv[0] : 'all';
const opt = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : dflt; };
const URSA = resolve(REPO, opt('--ursa', 'build/ursa'));
const DIR = resolve(opt('--dir', process.env.BENCH_DIR || '/tmp/ursa-bench'));
mkdirSync(DIR, { recursive: true });
const WORK = mkdtempSync(join(DIR, 'table-'));

// ------------------------------------------------------------------------------------------ data
const SCHEMA = {
  columns: [
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'id', type: 'int64', nullable: false },
    { name: 'user_id', type: 'int64' },
    { name: 'event', type: 'string' },
    { name: 'country', type: 'string' },
    { name: 'value', type: 'float64' },
    { name: 'amount', type: 'decimal', precision: 12, scale: 2 },
    { name: 'ok', type: 'bool' },
    { name: 'n', type: 'int32' },
    { name: 'payload', type: 'string' },
  ],
  time_column: 'ts',
};
let seed = 20261207;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
/** n rows from id `from`, one UTC day (2026-12-07), time increasing. */
function ndjson(from, n) {
  let s = '';
  for (let i = from; i < from + n; i++) {
    const p = Array.from({ length: 32 }, () => 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(rnd() * 36)]).join('');
    s += JSON.stringify({
      ts: new Date(Date.UTC(2026, 11, 7) + (i % 86_400_000)).toISOString(), id: i, user_id: Math.floor(rnd() * 1e9),
      event: 'event_' + Math.floor(rnd() * 50), country: 'C' + Math.floor(rnd() * 200),
      value: rnd() < 0.05 ? null : rnd() * 1000, amount: (Math.floor(rnd() * 1e6) / 100).toFixed(2), ok: rnd() < 0.5,
      n: Math.floor(rnd() * 1e6), payload: p,
    }) + '\n';
  }
  return s;
}

// ------------------------------------------------------------------------------------------ processes
const children = new Set();
process.on('exit', () => { for (const p of children) { try { p.kill('SIGKILL'); } catch { /* gone */ } } });
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));

async function startUrsa({ store, node = 'bench', wal, args = [], env = {} }) {
  const a = ['serve', '--listen', '127.0.0.1:0', '--store', store, '--node', node, '--wal-dir', wal, ...args];
  const proc = spawn(URSA, a, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(proc);
  let log = '';
  const exited = new Promise(res => proc.once('exit', (code, signal) => { children.delete(proc); res({ code, signal }); }));
  const port = await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`ursa did not start: ${log}`)), 15_000);
    proc.stderr.on('data', d => {
      log += d; if (log.length > 1 << 20) log = log.slice(-(1 << 19));
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m) { clearTimeout(timer); res(Number(m[1])); }
    });
    proc.once('exit', c => { clearTimeout(timer); rej(new Error(`ursa exited (${c}): ${log}`)); });
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const request = (method, path, body, type = 'application/json') => new Promise((res, rej) => {
    const headers = body !== undefined ? { 'content-type': type, 'content-length': Buffer.byteLength(body) } : {};
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers }, r => {
      const chunks = [];
      r.on('data', c => chunks.push(c));
      r.on('end', () => res({ status: r.statusCode, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', rej);
    req.end(body);
  });
  return {
    proc, port, pid: proc.pid, url: `http://127.0.0.1:${port}`, log: () => log, request,
    async metrics() {
      const r = await request('GET', '/metrics');
      const out = {};
      for (const line of r.text.split('\n')) {
        const m = /^([a-z0-9_]+(?:\{[^}]*\})?) (\d+)$/.exec(line);
        if (m) out[m[1]] = Number(m[2]);
      }
      return out;
    },
    async stop(signal = 'SIGTERM') {
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 60_000);
      await exited; clearTimeout(t); agent.destroy();
    },
  };
}

/** System seconds of a process (field 15 of /proc/PID/stat), 0 if gone. */
function sysOf(pid) {
  try { return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[12]) / 100; } catch { return 0; }
}
/** user + system seconds of a process (fields 14, 15 of /proc/PID/stat, 100 ticks/s), 0 if gone. */
function cpuOf(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch { return 0; }
}
/** The direct children of a process (nginx's workers). */
function childrenOf(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap(t => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch { return []; }
}
/** Busy and total jiffies of the whole machine (/proc/stat, first line). */
function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / 100, total: total / 100 };
}

const median = a => { const s = [...a].sort((x, y) => x - y); const n = s.length; return n ? (n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2) : NaN; };
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.min(s.length - 1, Math.ceil(p / 100 * s.length) - 1)] : NaN; };
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const num = x => Math.round(x).toLocaleString('en-US');

// ------------------------------------------------------------------------------------------ S3 (Swift)
let swift = null; // the S3 rig (tests/s3/rig.mjs)
async function s3Start() {
  swift ??= await s3Rig(() => { const d = join(WORK, 'swift'); mkdirSync(d, { recursive: true }); return d; });
  return swift;
}
async function s3Stop() {
  await swift?.stop();
  swift = null;
}
const s3Env = () => swift.serverEnv();
async function s3List(prefix) {
  const out = await swift.aws('s3api', 'list-objects-v2', '--bucket', swift.bucket, '--prefix', prefix, '--output', 'json');
  const j = out.trim() ? JSON.parse(out) : {};
  return (j.Contents ?? []).map(o => ({ name: o.Key.slice(prefix.length), size: o.Size }));
}
function localList(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).map(name => ({ name, size: statSync(join(dir, name)).size }));
}

/** Metadata bytes per commit from the listing of D/metadata/: commit k is v(k+1).metadata.json (v1 is the
 * table's creation), the manifest list of sequence number k (snap-<id>-<k>-<uuid>.avro) and one manifest. */
function metadataPerCommit(files) {
  const versions = new Map(), lists = new Map(), manifests = [];
  let hint = 0;
  for (const f of files) {
    let m;
    if ((m = /^v(\d+)\.metadata\.json$/.exec(f.name))) versions.set(Number(m[1]), f.size);
    else if ((m = /^snap-\d+-(\d+)-.*\.avro$/.exec(f.name))) lists.set(Number(m[1]), (lists.get(Number(m[1])) ?? 0) + f.size);
    else if (/-m\d+\.avro$/.test(f.name)) manifests.push(f.size);
    else if (f.name === 'version-hint.text') hint = f.size;
  }
  const commits = lists.size;
  const manifestMean = manifests.length ? manifests.reduce((a, b) => a + b, 0) / manifests.length : 0;
  const perCommit = [];
  for (let k = 1; k <= commits; k++) perCommit.push((versions.get(k + 1) ?? 0) + (lists.get(k) ?? 0) + manifestMean);
  const total = files.reduce((a, f) => a + f.size, 0);
  return { commits, versions: versions.size, manifests: manifests.length, manifestMean, hint, total,
    v1: versions.get(1), firstJson: versions.get(2), lastJson: versions.get(commits + 1), firstList: lists.get(1), lastList: lists.get(commits),
    firstCommit: perCommit[0], lastCommit: perCommit.at(-1), meanCommit: perCommit.length ? perCommit.reduce((a, b) => a + b, 0) / perCommit.length : NaN };
}

// ------------------------------------------------------------------------------------------ commit
async function commitRun({ storeKind, iceberg, flushes, rows, round }) {
  const tag = `${storeKind}-${iceberg ? 'iceberg' : 'plain'}-${round}`;
  const wal = join(WORK, `wal-${tag}`);
  let store, env = {}, args = ['--flush-max-age', '86400', '--flush-max-bytes', String(2 ** 40)];
  let prefix;
  if (storeKind === 'local') store = join(WORK, `store-${tag}`);
  else {
    await s3Start();
    prefix = `bench-table-${Date.now().toString(36)}-${tag}`;
    store = `s3://${swift.bucket}/${prefix}`;
    env = s3Env();
    args.push('--s3-endpoint', swift.endpoint);
  }
  args.push(iceberg ? '--iceberg' : '--no-iceberg'); // tables are the default
  const srv = await startUrsa({ store, wal, args, env });
  const out = { store: storeKind, iceberg, round, flushes: [] };
  try {
    let r = await srv.request('PUT', '/v1/datasets/t', JSON.stringify(SCHEMA));
    if (r.status >= 300) throw new Error(`PUT: ${r.status} ${r.text}`);
    for (let k = 0; k < flushes; k++) {
      r = await srv.request('POST', '/v1/datasets/t/records', ndjson(k * rows, rows), 'application/x-ndjson');
      if (r.status !== 200 || JSON.parse(r.text).accepted !== rows) throw new Error(`POST: ${r.status} ${r.text.slice(0, 300)}`);
      const m0 = await srv.metrics();
      const t0 = process.hrtime.bigint();
      r = await srv.request('POST', '/v1/datasets/t/flush');
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status !== 200) throw new Error(`flush: ${r.status} ${r.text}`);
      const m1 = await srv.metrics();
      const d = key => (m1[key] ?? 0) - (m0[key] ?? 0);
      out.flushes.push({ ms, commits: d('ursa_table_commits_total'), commitsFailed: d('ursa_table_commits_failed_total'),
        s3Requests: d('ursa_s3_requests_total'), s3Retries: d('ursa_s3_retries_total'), bytes: d('ursa_flush_bytes_total') });
    }
    if (iceberg) out.meta = metadataPerCommit(storeKind === 'local' ? localList(join(store, 't/metadata')) : await s3List(`${prefix}/t/metadata/`));
  } finally {
    await srv.stop();
    rmSync(wal, { recursive: true, force: true });
    if (storeKind === 'local') rmSync(store, { recursive: true, force: true });
  }
  return out;
}

async function commitPart() {
  const stores = opt('--store', 'local,s3').split(',');
  const flushes = Number(opt('--flushes', 30)), rows = Number(opt('--rows', 10000)), rounds = Number(opt('--rounds', 2));
  const runs = [];
  try {
    for (const storeKind of stores)
      for (let round = 1; round <= rounds; round++)
        for (const iceberg of [false, true]) {
          process.stderr.write(`# commit: ${storeKind} ${iceberg ? 'iceberg' : 'plain'} round ${round} (load ${loadavg()[0].toFixed(2)})\n`);
          runs.push({ ...(await commitRun({ storeKind, iceberg, flushes, rows, round })), load: loadavg()[0] });
        }
  } finally { await s3Stop(); }

  const lines = [];
  lines.push(`### Commit cost: ${flushes} flushes of ${num(rows)} rows (10 columns, one day) per run, ${rounds} round(s), on demand (POST .../flush)`, '');
  lines.push('| store | mode | flushes timed | flush ms median | p90 | min | first flush ms | S3 requests per flush (median) | commits per flush | Parquet KB per flush |');
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const summary = {};
  for (const storeKind of stores) for (const iceberg of [false, true]) {
    const rs = runs.filter(r => r.store === storeKind && r.iceberg === iceberg);
    const timed = rs.flatMap(r => r.flushes.slice(1)); // the first flush creates the table: apart
    const first = rs.map(r => r.flushes[0].ms);
    const s = { median: median(timed.map(f => f.ms)), p90: pct(timed.map(f => f.ms), 90), min: Math.min(...timed.map(f => f.ms)),
      first: median(first), s3: median(timed.map(f => f.s3Requests)), s3first: median(rs.map(r => r.flushes[0].s3Requests)),
      commits: timed.reduce((a, f) => a + f.commits, 0) / timed.length, failed: timed.reduce((a, f) => a + f.commitsFailed, 0),
      kb: median(timed.map(f => f.bytes)) / 1024, n: timed.length };
    summary[`${storeKind}/${iceberg ? 'iceberg' : 'plain'}`] = s;
    lines.push(`| ${storeKind} | ${iceberg ? '--iceberg' : 'plain'} | ${s.n} | ${fmt(s.median)} | ${fmt(s.p90)} | ${fmt(s.min)} | ${fmt(s.first)} | ${storeKind === 's3' ? fmt(s.s3, 0) : 'no counter'} | ${fmt(s.commits, 2)} | ${fmt(s.kb)} |`);
  }
  lines.push('');
  lines.push('| store | commit ms (median iceberg − median plain) | p90 difference | flush time iceberg ÷ plain (median) | S3 requests per commit | metadata bytes: first commit | commit #N | mean per commit | metadata.json v2 → last | manifest list #1 → #N | manifest (mean) |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const storeKind of stores) {
    const p = summary[`${storeKind}/plain`], i = summary[`${storeKind}/iceberg`];
    const metas = runs.filter(r => r.store === storeKind && r.iceberg).map(r => r.meta);
    const mm = key => median(metas.map(m => m[key]));
    lines.push(`| ${storeKind} | ${fmt(i.median - p.median)} | ${fmt(i.p90 - p.p90)} | ${fmt(i.median / p.median, 2)}× | ${storeKind === 's3' ? fmt(i.s3 - p.s3, 0) : '– (11 in test_table)'} | ${num(mm('firstCommit'))} | ${num(mm('lastCommit'))} (#${mm('commits')}) | ${num(mm('meanCommit'))} | ${num(mm('firstJson'))} → ${num(mm('lastJson'))} | ${num(mm('firstList'))} → ${num(mm('lastList'))} | ${num(mm('manifestMean'))} |`);
  }
  lines.push('');
  for (const storeKind of stores) {
    const i = summary[`${storeKind}/iceberg`];
    if (i.failed) lines.push(`- ${storeKind}: ${i.failed} commits failed`);
    if (storeKind === 's3') lines.push(`- s3: the first flush with --iceberg (creates the table): ${fmt(i.first)} ms, ${fmt(i.s3first, 0)} S3 requests (plain: ${fmt(summary['s3/plain'].first)} ms, ${fmt(summary['s3/plain'].s3first, 0)})`);
  }
  // The trend: flush time against the table's length (commit number), iceberg runs.
  for (const storeKind of stores) {
    const rs = runs.filter(r => r.store === storeKind && r.iceberg);
    const ps = runs.filter(r => r.store === storeKind && !r.iceberg);
    const at = (list, k) => median(list.map(r => r.flushes[k]?.ms).filter(Number.isFinite));
    const marks = flushes <= 30 ? [1, 4, 9, 14, 19, 24, 29].filter(k => k < flushes)
      : [...new Set([1, 9, ...[0.25, 0.5, 0.75, 1].map(f => Math.round(f * flushes) - 1)])];
    lines.push(`- ${storeKind}: flush ms at flush #${marks.map(k => k + 1).join(', #')}: iceberg ${marks.map(k => fmt(at(rs, k))).join(', ')}; plain ${marks.map(k => fmt(at(ps, k))).join(', ')}`);
  }
  return { runs, summary, text: lines.join('\n') };
}

// ------------------------------------------------------------------------------------------ ingest
async function ingestRun({ config, seconds, clients, bodyFile, bodyBytes, rows }) {
  const nodes = config === 'gw3' ? 3 : 1;
  const store = join(WORK, `store-${config}`);
  const servers = [];
  let gw = null;
  try {
    for (let k = 1; k <= nodes; k++)
      servers.push(await startUrsa({ store, node: `n${k}`, wal: join(WORK, `wal-${config}-${k}`), args: ['--iceberg'] }));
    for (const s of servers) {
      const r = await s.request('PUT', '/v1/datasets/t', JSON.stringify(SCHEMA));
      if (r.status >= 300) throw new Error(`PUT on ${s.url}: ${r.status} ${r.text}`);
    }
    let url = servers[0].url;
    if (config !== 'direct1') { gw = await startGateway({ upstreams: servers.map(s => `127.0.0.1:${s.port}`), ...(opt('--gw-body-buffer') ? { bodyBuffer: opt('--gw-body-buffer') === 'nginx' ? null : opt('--gw-body-buffer') } : {}) }); url = gw.url; }
    const m0 = await Promise.all(servers.map(s => s.metrics()));
    const groups = () => ({
      ursa: servers.reduce((a, s) => a + cpuOf(s.pid), 0),
      ursaSys: servers.reduce((a, s) => a + sysOf(s.pid), 0),
      nginx: gw ? cpuOf(gw.pid) + childrenOf(gw.pid).reduce((a, p) => a + cpuOf(p), 0) : 0,
    });
    const c0 = groups(), mc0 = machineCpu();
    const wrk = spawn('/usr/bin/time', ['-f', 'TIME %U %S %e', 'wrk', '-t1', `-c${clients}`, `-d${seconds}s`, '--timeout', '30s',
      '-s', join(REPO, 'bench/ingest_post.lua'), `${url}/v1/datasets/t/records`],
      { env: { ...process.env, URSA_BODY: bodyFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(wrk);
    let wout = '', werr = '';
    wrk.stdout.on('data', d => { wout += d; });
    wrk.stderr.on('data', d => { werr += d; });
    await new Promise(res => wrk.once('exit', res));
    children.delete(wrk);
    const c1 = groups(), mc1 = machineCpu();
    const m1 = await Promise.all(servers.map(s => s.metrics()));
    // The table after the run: every commit a snapshot (nodes committing at once to one table), and the
    // snapshots' added-records = the rows the flushes wrote.
    let table = null;
    const md = join(store, 't/metadata');
    if (existsSync(md)) {
      let v = Number(readFileSync(join(md, 'version-hint.text'), 'utf8').trim());
      while (existsSync(join(md, `v${v + 1}.metadata.json`))) v++;
      const t = JSON.parse(readFileSync(join(md, `v${v}.metadata.json`), 'utf8'));
      const snaps = t.snapshots ?? [];
      table = { version: v, snapshots: snaps.length, addedRecords: snaps.reduce((a, x) => a + Number(x.summary?.['added-records'] ?? 0), 0),
        nodes: [...new Set(snaps.map(x => x.summary?.['ursa.node']))].sort() };
    }
    const line = wout.trim().split('\n').filter(l => l.startsWith('{')).at(-1);
    if (!line) throw new Error(`wrk: ${wout}${werr}`);
    const w = JSON.parse(line);
    const t = /TIME ([\d.]+) ([\d.]+) ([\d.]+)/.exec(werr);
    const sum = key => m1.reduce((a, m, i) => a + (m[key] ?? 0) - (m0[i][key] ?? 0), 0);
    const accepted = sum('ursa_rows_accepted_total');
    const perNode = m1.map((m, i) => (m.ursa_ingest_requests_total ?? 0) - (m0[i].ursa_ingest_requests_total ?? 0));
    return {
      config, nodes, seconds: w.seconds, requests: w.requests, errors: w.errors, non2xx: w.non2xx,
      rps: w.requests / w.seconds, rowsPerSec: w.requests * rows / w.seconds, clients, mbPerSec: w.requests * bodyBytes / w.seconds / 1e6,
      accepted, expected: w.requests * rows, p50: w.p50_us / 1000, p99: w.p99_us / 1000, perNode,
      flushes: sum('ursa_flushes_total{result="ok"}'), flushRows: sum('ursa_flush_rows_total'), table, commits: sum('ursa_table_commits_total'), commitsFailed: sum('ursa_table_commits_failed_total'),
      cpu: { ursa: c1.ursa - c0.ursa, ursaSys: c1.ursaSys - c0.ursaSys, nginx: c1.nginx - c0.nginx, wrk: t ? Number(t[1]) + Number(t[2]) : NaN,
        machineBusy: mc1.busy - mc0.busy, machineTotal: mc1.total - mc0.total },
      load: loadavg()[0],
    };
  } finally {
    await gw?.stop();
    for (const s of servers) await s.stop('SIGKILL'); // a shutdown flush is not what is measured
    rmSync(store, { recursive: true, force: true });
    for (let k = 1; k <= nodes; k++) rmSync(join(WORK, `wal-${config}-${k}`), { recursive: true, force: true });
  }
}

async function ingestPart() {
  const configs = opt('--configs', 'direct1,gw1,gw3').split(',');
  const seconds = Number(opt('--seconds', 20)), clients = Number(opt('--clients', 8)), rows = Number(opt('--rows', 1000));
  const rounds = Number(opt('--rounds', 2));
  const bodyFile = join(WORK, 'body.ndjson');
  writeFileSync(bodyFile, ndjson(0, rows));
  const bodyBytes = statSync(bodyFile).size;
  const runs = [];
  for (let round = 1; round <= rounds; round++)
    for (const config of configs) {
      process.stderr.write(`# ingest: ${config} round ${round} (load ${loadavg()[0].toFixed(2)})\n`);
      runs.push({ round, ...(await ingestRun({ config, seconds, clients, bodyFile, bodyBytes, rows })) });
    }
  const lines = [];
  lines.push(`### Ingest with --iceberg, local store: wrk, ${clients} connections, ${seconds} s, bodies of ${num(rows)} rows (${num(bodyBytes)} bytes of NDJSON)`, '');
  lines.push('| config | round | requests/s | rows/s | MB/s | p50 ms | p99 ms | requests per node | rows accepted ≥ acknowledged | flushes (rows) | commits (failed) | table: snapshots, rows = flushed | CPU s: Ursa (system) | nginx | wrk | others | machine busy | of 2 cores × window | rows per CPU s of Ursa | of Ursa + nginx | load |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of runs) {
    lines.push(`| ${r.config} | ${r.round} | ${num(r.rps)} | ${num(r.rowsPerSec)} | ${fmt(r.mbPerSec)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 1)} | ${r.perNode.join(' / ')} | ${r.accepted >= r.expected && r.accepted <= r.expected + r.clients * (r.expected / r.requests) && !r.errors && !r.non2xx ? 'yes' : `NO: ${r.accepted} for ${r.expected}, ${r.errors} errors, ${r.non2xx} non-2xx`} | ${r.flushes} (${(r.flushRows / 1e6).toFixed(1)} M) | ${r.commits} (${r.commitsFailed}) | ${r.table ? `${r.table.snapshots} (${r.table.nodes.join(', ')}), ${r.table.addedRecords === r.flushRows ? 'yes' : `NO: ${r.table.addedRecords} of ${r.flushRows}`}` : '–'} | ${fmt(r.cpu.ursa)} (${fmt(r.cpu.ursaSys)}) | ${fmt(r.cpu.nginx)} | ${fmt(r.cpu.wrk)} | ${fmt(r.cpu.machineBusy - r.cpu.ursa - r.cpu.nginx - r.cpu.wrk)} | ${fmt(r.cpu.machineBusy)} | ${fmt(100 * r.cpu.machineBusy / r.cpu.machineTotal, 0)} % | ${num(r.expected / r.cpu.ursa)} | ${num(r.expected / (r.cpu.ursa + r.cpu.nginx))} | ${fmt(r.load, 2)} |`);
  }
  const by = c => runs.filter(r => r.config === c);
  const med = (c, k) => median(by(c).map(r => r[k]));
  lines.push('');
  if (by('direct1').length) {
    for (const c of ['gw1', 'gw3']) if (by(c).length)
      lines.push(`- ${c} ÷ direct1 (medians over rounds): rows/s ${fmt(med(c, 'rowsPerSec') / med('direct1', 'rowsPerSec'), 2)}×, p50 latency ${fmt(med(c, 'p50') / med('direct1', 'p50'), 2)}×, ` +
        `rows per CPU s of Ursa ${fmt(median(by(c).map(r => r.expected / r.cpu.ursa)) / median(by('direct1').map(r => r.expected / r.cpu.ursa)), 2)}×, ` +
        `of Ursa + nginx ${fmt(median(by(c).map(r => r.expected / (r.cpu.ursa + r.cpu.nginx))) / median(by('direct1').map(r => r.expected / r.cpu.ursa)), 2)}×`);
  }
  return { runs, text: lines.join('\n') };
}

// ------------------------------------------------------------------------------------------ main
if (!existsSync(URSA)) { console.error(`no ${URSA}: build it (cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build ursa)`); process.exit(2); }
const started = new Date().toISOString();
const commit = (await run('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'])).stdout.trim();
const result = { started, commit, cpus: cpus().length, argv: process.argv.slice(2) };
try {
  if (part === 'commit' || part === 'all') result.commit_part = await commitPart();
  if (part === 'ingest' || part === 'all') result.ingest_part = await ingestPart();
} finally {
  rmSync(WORK, { recursive: true, force: true });
}
result.ended = new Date().toISOString();
const jsonPath = opt('--json', join(DIR, `table-${started.replace(/[:.]/g, '-')}.json`));
writeFileSync(jsonPath, JSON.stringify(result, null, 1));
console.log(`## bench/table.mjs ${process.argv.slice(2).join(' ')} — Ursa at ${commit}, ${started} → ${result.ended}, ${result.cpus} cores\n`);
if (result.commit_part) console.log(result.commit_part.text + '\n');
if (result.ingest_part) console.log(result.ingest_part.text + '\n');
console.log(`(raw results: ${jsonPath})`);
