#!/usr/bin/env node
// live.mjs — live queries (GET /v1/live): how fresh their results are under steady ingest, what they cost ingest
// at saturation, and how they compare with a client polling POST /v1/query at the same rate (not part of CI).
//
//   node --experimental-websocket bench/live.mjs [--ursa build/ursa] [--dir DIR] [--only fresh,cost]
//        [--sizes 1000000,10000000] [--rate 10] [--batch 1000] [--seconds 12] [--warmup 1] [--rates 4,20]
//        [--queries minute,event] [--many 64] [--cost-rows 1000000] [--cost-subs 0,8,64] [--cost-seconds 8]
//        [--cost-rounds 2] [--cost-body-rows 10000] [--cost-conns 2] [--cost-threads 1] [--cost-rate 4]
//        [--durability fsync] [--live-max-rate 20] [--commit C] [--report F.json]
//
//   --ursa         the Release binary (default build/ursa; copy it somewhere of your own first, with build/CMakeCache.txt
//                  beside it: the report takes the build type from there)
//   --dir          data and results (default $BENCH_DIR, else /tmp/ursa-bench); stores go to DIR/live-store
//   --only         parts to run (default both): fresh (freshness, with the polling peer), cost (ingest at saturation)
//   --sizes        buffered rows already in the dataset when a freshness cell starts (default 1 M and 10 M)
//   --rate, --batch  the steady ingest of a freshness cell: --rate POSTs a second of --batch rows each (10 × 1,000)
//   --seconds      how long a freshness cell posts (default 12); --warmup: its first seconds left out (default 1)
//   --rates        the max_rate of the subscriptions, and the polling rate of the peer (default 4 and 20)
//   --queries      minute: SELECT date_trunc('minute', ts) AS m, count(*) … GROUP BY 1 ORDER BY 1 (a dashboard);
//                  event:  SELECT event, count(*) AS n … GROUP BY event ORDER BY n DESC (a string group-by)
//   --many         one more freshness cell per size with this many subscriptions (the queries in turn, max_rate
//                  the first of --rates, 8 a connection), every one's freshness pooled; 0: none (default 64,
//                  the server's default cap)
//   --cost-*       the cost part: --cost-rows buffered first; --cost-subs subscriptions (8 a connection, the server's
//                  default per connection; the queries alternate, max_rate --cost-rate); ingest at saturation for
//                  --cost-seconds: --cost-conns keep-alive connections each POSTing --cost-body-rows rows at a time,
//                  back to back, to a server with --threads --cost-threads (1: one HTTP worker, as
//                  bench/http_ingest.mjs; `default`: the server's own, one per core); --cost-rounds rounds, the
//                  subscription counts in a rotating order
//   --durability   of every server (default fsync, the server's default)
//   --live-max-rate  the server's cap (default 20, so that max_rate 20 is granted)
//   --commit       the commit the binary was built from, for the report (default: the checkout's HEAD at the start)
//   --report       re-render a saved results-live-<time>.json and exit
//
// Every cell is a fresh `ursa serve` (the Release build) on DIR/live-store with flushing off (--flush-max-rows 10^12,
// --flush-max-bytes 1T, --flush-max-age 10^8 s), --memory-limit 16G, --query-memory 4G, --wal-limit 64G,
// --no-compact, --live-max-rate (20), and one dataset `events` (the schema of gen_events.mjs) loaded with the first
// N rows of DIR/events-10000000.ndjson (generated once, or more rows when a size asks) in ~100 MB bodies and checked with count(*); the server is killed
// (SIGKILL: a shutdown would flush the buffer) after the cell.
//
// Freshness (per size, query and client; one cell each, and one cell of ingest alone):
//   ingest   one keep-alive connection POSTs --batch rows (the file's rows after the first N, cyclically), one in
//            each slot of 1 / --rate s, at a random point of the slot (a fixed seed; so that neither a poller's
//            fixed schedule nor the server's timers lock to the POSTs' phase), one request at a time (a late
//            answer delays the next, which then goes at once)
//   sub R    one WebSocket, {"type":"subscribe","id":"f0","sql":…,"max_rate":R}; its first result is awaited
//            before ingest starts
//   poll R   one other keep-alive connection POSTs {"sql"} to /v1/query every 1/R s (fixed schedule, at most one
//            in flight: a late answer sends the next at once) — what a client without live queries does
//   none     ingest alone: the server CPU that is not the query's
//   many     --many subscriptions at once (the runner runs them one at a time, so each is run less often)
// Both queries' counts add up to the dataset's rows, and the POSTs are sequential and the only writer, so a
// result whose total is ≥ N + batch × k holds the rows of POST k. Freshness of POST k: from its answer (the ack)
// to the arrival of the first result (push, or poll answer) holding its rows, both at the client
// (performance.now()); also from the POST's sending (what a writer sees end to end: the ack's own latency
// included). POSTs acknowledged in the first --warmup seconds are left out. After the last POST the
// cell waits (up to 10 s) until a result holds it. Server CPU: utime + stime of /proc/PID/stat over the posting
// span (every thread, those ended too); "above ingest": minus the ingest-alone cell of the same size.
// Cost: rows/s acknowledged over --cost-seconds, each subscription count against 0 in the same round; server and
// client CPU seconds; results pushed (the client counts them, unparsed).
// Results: Markdown on stdout; DIR/results-live-<time>.{json,md}.
import { readFileSync, writeFileSync, rmSync, mkdirSync, existsSync } from 'node:fs';
import { cpus, totalmem, release, loadavg } from 'node:os';
import { execFileSync, spawnSync } from 'node:child_process';
import http from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { generate, dataPaths, makeRng } from './gen_events.mjs';
import { startUrsa, request, cpuSeconds } from './ursa_server.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const list = (name, dflt) => opt(name, dflt).split(',').filter(Boolean);
if (args.includes('--help')) { const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n'); console.log(lines.slice(1, lines.findIndex(l => l.startsWith('import'))).map(l => l.replace(/^\/\/ ?/, '')).join('\n')); process.exit(0); }
const log = s => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const sleep = ms => new Promise(r => setTimeout(r, Math.max(0, ms)));
const now = () => performance.now();
const median = xs => { if (!xs.length) return NaN; const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const pct = (xs, p) => { if (!xs.length) return NaN; const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(p / 100 * s.length) - 1)]; };

const PER_CONN = 8; // --live-subscriptions-per-connection's default
const SQL = {
  minute: "SELECT date_trunc('minute', ts) AS m, count(*) FROM events GROUP BY 1 ORDER BY 1",
  event: 'SELECT event, count(*) AS n FROM events GROUP BY event ORDER BY n DESC',
};

if (opt('--report')) {
  console.log(render(JSON.parse(readFileSync(opt('--report'), 'utf8'))));
  process.exit(0);
}
if (typeof WebSocket !== 'function') {
  console.error('no global WebSocket: run as `node --experimental-websocket bench/live.mjs` (Node 20), or Node 22+');
  process.exit(2);
}

const URSA = resolve(REPO, opt('--ursa', 'build/ursa'));
const DIR = resolve(opt('--dir', process.env.BENCH_DIR || '/tmp/ursa-bench'));
const ONLY = list('--only', 'fresh,cost');
const SIZES = list('--sizes', '1000000,10000000').map(Number);
const RATE = Number(opt('--rate', 10)), BATCH = Number(opt('--batch', 1000));
const SECONDS = Number(opt('--seconds', 12)), WARMUP = Number(opt('--warmup', 1));
const RATES = list('--rates', '4,20').map(Number);
const QUERIES = list('--queries', 'minute,event');
for (const q of QUERIES) if (!SQL[q]) throw new Error(`--queries: ${q} is not one of ${Object.keys(SQL).join(', ')}`);
const MANY = Number(opt('--many', 64));
const COST_ROWS = Number(opt('--cost-rows', 1_000_000));
const COST_SUBS = list('--cost-subs', '0,8,64').map(Number);
const COST_SECONDS = Number(opt('--cost-seconds', 8)), COST_ROUNDS = Number(opt('--cost-rounds', 2));
const COST_BODY = Number(opt('--cost-body-rows', 10_000)), COST_CONNS = Number(opt('--cost-conns', 2));
const COST_THREADS = String(opt('--cost-threads', 1)), COST_RATE = Number(opt('--cost-rate', 4));
const DURABILITY = opt('--durability', 'fsync'), MAX_RATE = Number(opt('--live-max-rate', 20));
const STORE = join(DIR, 'live-store');

const cache = join(dirname(URSA), 'CMakeCache.txt');
const buildType = existsSync(cache) ? /CMAKE_BUILD_TYPE:STRING=(\w*)/.exec(readFileSync(cache, 'utf8'))?.[1] : 'unknown (no CMakeCache.txt beside the binary)';
if (buildType !== 'Release') log(`note: ${URSA} is from a ${buildType} build; measure a Release build`);

// ------------------------------------------------------------------ data
const ROWS = Math.max(10_000_000, ...SIZES, COST_ROWS);
const manifest = generate({ rows: ROWS, dir: DIR, log });
const paths = dataPaths(DIR, ROWS);
const SCHEMA = readFileSync(paths.schema);
const data = readFileSync(paths.ndjson);
const lineAt = new Float64Array(ROWS + 1); // byte offset of each line's start
for (let i = 0, pos = 0; i <= ROWS; i++) { lineAt[i] = pos; pos = i < ROWS ? data.indexOf(10, pos) + 1 : pos; }
if (lineAt[ROWS] !== data.length) throw new Error(`${paths.ndjson}: ${ROWS} lines end at ${lineAt[ROWS]}, not at ${data.length}`);
const rowsBody = (from, n) => data.subarray(lineAt[from], lineAt[from + n]);
/** The first n rows in bodies of about 100 MB. */
function baseBodies(n) {
  const out = [];
  for (let r = 0; r < n;) {
    let e = r;
    while (e < n && lineAt[e] - lineAt[r] < 100e6) e = Math.min(n, e + 10000);
    out.push(rowsBody(r, e - r));
    r = e;
  }
  return out;
}
/** The j-th streamed body of b rows after the first n rows, wrapping round the file. */
const streamBody = (n, b, j) => { const chunks = Math.floor(ROWS / b); return rowsBody(((Math.floor(n / b) + j) % chunks) * b, b); };

// ------------------------------------------------------------------ servers and requests
let server = null;
process.on('exit', () => { try { server?.proc.kill('SIGKILL'); } catch { /* gone */ } });
process.on('SIGINT', () => process.exit(130));

async function api(port, agent, method, path, body, type) {
  const r = await request(port, agent, method, path, body, type);
  if (r.status !== 200 && r.status !== 201) throw new Error(`${method} ${path}: ${r.status} ${r.body.slice(0, 1000)}`);
  return JSON.parse(r.body);
}
function rng(seed) { // [0, 1) from gen_events.mjs's generator
  const next = makeRng(seed);
  return () => next() / 4294967296;
}
const clientCpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };

/** A fresh server with `events` holding the first n rows; resolves {port, pid, agent, load_seconds}. */
async function startServer(n, threads) {
  rmSync(STORE, { recursive: true, force: true });
  mkdirSync(STORE, { recursive: true });
  const argv = ['serve', '--listen', '127.0.0.1:0', '--store', STORE, '--node', 'bench', '--durability', DURABILITY,
    '--flush-max-rows', String(1e12), '--flush-max-bytes', '1T', '--flush-max-age', String(1e8), '--memory-limit', '16G',
    '--query-memory', '4G', '--wal-limit', '64G', '--no-compact', '--live-max-rate', String(MAX_RATE)];
  if (threads && threads !== 'default') argv.push('--threads', threads);
  server = await startUrsa(URSA, argv);
  const port = server.port, agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  await api(port, agent, 'PUT', '/v1/datasets/events', SCHEMA);
  const t0 = now();
  let accepted = 0;
  for (const b of baseBodies(n)) {
    const a = await api(port, agent, 'POST', '/v1/datasets/events/records', b, 'application/x-ndjson');
    if (a.rejected) throw new Error(`${a.rejected} rows rejected: ${JSON.stringify(a.errors).slice(0, 500)}`);
    accepted += a.accepted;
  }
  const load_seconds = (now() - t0) / 1000;
  const c = await api(port, agent, 'POST', '/v1/query', Buffer.from(JSON.stringify({ sql: 'SELECT count(*) FROM events' })));
  if (accepted !== n || c.rows[0][0] !== n || c.stats.live_rows !== n) throw new Error(`loaded ${accepted}, count(*) ${c.rows[0][0]}, live rows ${c.stats.live_rows}; expected ${n}`);
  return { port, pid: server.proc.pid, agent, load_seconds, argv };
}
async function stopServer(s) {
  s.agent.destroy();
  const p = server.proc;
  p.kill('SIGKILL');
  await new Promise(r => (p.exitCode !== null || p.signalCode !== null ? r() : p.on('exit', r)));
  server = null;
  rmSync(STORE, { recursive: true, force: true });
}

/** A WebSocket at /v1/live; onText(text, t) for every message. */
function openLive(port, onText) {
  return new Promise((res, rej) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/live`);
    ws.onmessage = e => onText(typeof e.data === 'string' ? e.data : Buffer.from(e.data).toString(), now());
    ws.onopen = () => res(ws);
    ws.onerror = e => rej(new Error(`WebSocket: ${e.message || 'error'}`));
    let closed;
    ws.closed = new Promise(r => { closed = r; });
    ws.onclose = e => { if (e.code !== 1000) log(`WebSocket closed ${e.code} ${e.reason}`); closed(); };
  });
}
/** Closes (1000) and waits up to 2 s for the server's close. */
async function closeLive(ws) {
  ws.close(1000);
  let timer;
  await Promise.race([ws.closed, new Promise(r => { timer = setTimeout(r, 2000); })]);
  clearTimeout(timer);
}
const total = rows => rows.reduce((s, r) => s + r[1], 0); // both queries: the count is the second column

// ------------------------------------------------------------------ freshness
/**
 * One freshness cell on a fresh server holding n rows: client 'none' (ingest alone), 'sub' (`subs` subscriptions
 * of `query`, or of the queries in turn when query is 'mixed', PER_CONN a connection) or 'poll'.
 */
async function freshCell(n, query, client, rate, subs = 1) {
  const s = await startServer(n);
  const streams = []; // one per subscription, or the poller's: {id, results: [{t, total, engine_ms, skipped}]}
  const problems = [];
  const conns = [];
  let stopPoll = false, pollDone = null;
  if (client === 'sub') {
    const byId = new Map();
    for (let i = 0; i < subs; i++) {
      const q = query === 'mixed' ? QUERIES[i % QUERIES.length] : query;
      const st = { id: `f${i}`, query: q, results: [] };
      streams.push(st);
      byId.set(st.id, st);
    }
    for (let c = 0; c * PER_CONN < subs; c++) {
      const ws = await openLive(s.port, (text, t) => {
        const m = JSON.parse(text);
        if (m.type !== 'result' || !byId.has(m.id)) { problems.push(text.slice(0, 300)); return; }
        byId.get(m.id).results.push({ t, total: total(m.result.rows), engine_ms: m.result.stats.seconds * 1000, skipped: m.skipped });
      });
      conns.push(ws);
      for (const st of streams.slice(c * PER_CONN, (c + 1) * PER_CONN)) ws.send(JSON.stringify({ type: 'subscribe', id: st.id, sql: SQL[st.query], max_rate: rate }));
    }
    const w0 = now();
    while (streams.some(st => !st.results.length) && now() - w0 < 120000 && !problems.length) await sleep(5);
    if (streams.some(st => !st.results.length)) throw new Error(`no first result from every subscription: ${problems.join('; ')}`);
  } else if (client === 'poll') {
    const st = { id: 'poll', query, results: [] };
    streams.push(st);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 }), body = Buffer.from(JSON.stringify({ sql: SQL[query] }));
    const one = async () => {
      const r = await request(s.port, agent, 'POST', '/v1/query', body);
      const t = now();
      if (r.status !== 200) { problems.push(`${r.status} ${r.body.slice(0, 200)}`); return; }
      const a = JSON.parse(r.body);
      st.results.push({ t, total: total(a.rows), engine_ms: a.stats.seconds * 1000 });
    };
    await one();
    pollDone = (async () => {
      let next = now() + 1000 / rate;
      while (!stopPoll) {
        await sleep(next - now());
        if (stopPoll) break;
        next += 1000 / rate;
        if (next < now()) next = now(); // late: the next goes right after this one, no catching up
        await one();
      }
      agent.destroy();
    })();
  }
  const firsts = streams.map(st => st.results.length);

  // the steady ingest
  const acks = [];
  const rnd = rng(20261207 + n + (query ? query.length : 0) + rate + subs);
  const cpu0 = cpuSeconds(s.pid), cc0 = clientCpu(), load0 = loadavg()[0], t0 = now();
  let late = 0;
  for (let k = 1; ; k++) {
    const slot = t0 + (k - 1) * 1000 / RATE;
    if (slot >= t0 + SECONDS * 1000) break;
    const due = slot + rnd() * 1000 / RATE;
    if (now() > due + 5) late++;
    await sleep(due - now());
    const sent = now();
    const r = await request(s.port, s.agent, 'POST', '/v1/datasets/events/records', streamBody(n, BATCH, k - 1), 'application/x-ndjson');
    const t = now();
    if (r.status !== 200) throw new Error(`POST: ${r.status} ${r.body.slice(0, 300)}`);
    const a = JSON.parse(r.body);
    if (a.accepted !== BATCH) throw new Error(`POST ${k}: accepted ${a.accepted} of ${BATCH}`);
    acks.push({ k, t, sent, need: n + k * BATCH });
  }
  const t1 = now(), cpu = cpuSeconds(s.pid) - cpu0, ccpu = clientCpu() - cc0;
  const last = acks.at(-1).need;
  const deadline = now() + 10000 + subs * 500; // until a result of every subscription holds the last POST
  while (now() < deadline && streams.some(st => !(st.results.length && st.results.at(-1).total >= last))) await sleep(5);
  stopPoll = true;
  await pollDone;
  for (const ws of conns) await closeLive(ws);
  await stopServer(s);

  // freshness of each POST, for each stream
  const lat = [], latSend = [], gaps = [], engine = [];
  let missed = 0, nres = 0, skipped = 0;
  streams.forEach((st, i) => {
    const rs = st.results;
    let j = firsts[i];
    for (const a of acks) {
      while (j < rs.length && rs[j].total < a.need) j++;
      if (j === rs.length) { missed++; continue; }
      if (a.t - t0 >= WARMUP * 1000) { lat.push(rs[j].t - a.t); latSend.push(rs[j].t - a.sent); }
    }
    const within = rs.slice(firsts[i]).filter(r => r.t >= t0 && r.t <= t1);
    gaps.push(...within.slice(1).map((r, x) => r.t - within[x].t));
    engine.push(...within.map(r => r.engine_ms));
    nres += within.length;
    skipped += within.reduce((x, r) => x + (r.skipped || 0), 0);
  });
  const secs = (t1 - t0) / 1000;
  const cell = {
    rows: n, query, client, rate, subs: client === 'sub' ? subs : 0, posts: acks.length, late_posts: late, seconds: secs, load1: load0,
    ack_ms_p50: median(acks.map(a => a.t - a.sent)), ack_ms_p99: pct(acks.map(a => a.t - a.sent), 99),
    server_cpu: cpu, client_cpu: ccpu, load_seconds: s.load_seconds,
    samples: lat.length, missed, fresh_p50: median(lat), fresh_p99: pct(lat, 99), fresh_max: Math.max(...lat), fresh_min: Math.min(...lat),
    send_p50: median(latSend), send_p99: pct(latSend, 99), results: nres,
    results_per_s: nres / secs, gap_ms_p50: median(gaps), engine_ms_p50: median(engine), skipped, problems: problems.slice(0, 5),
  };
  log(`fresh ${n} ${query ?? '-'} ${client}${rate ? ' ' + rate : ''}${subs > 1 ? ` ×${subs}` : ''}: ${cell.posts} POSTs` + (client === 'none' ? '' :
    `, freshness p50 ${cell.fresh_p50.toFixed(0)} p99 ${cell.fresh_p99.toFixed(0)} ms (${lat.length} samples, ${missed} missed), ` +
    `${cell.results_per_s.toFixed(1)} results/s, engine ${cell.engine_ms_p50.toFixed(1)} ms`) +
    `, ack p50 ${cell.ack_ms_p50.toFixed(1)} ms, server CPU ${cpu.toFixed(2)} s, load ${load0.toFixed(2)}`);
  if (problems.length) log(`  problems: ${problems.slice(0, 3).join(' | ')}`);
  return cell;
}

// ------------------------------------------------------------------ cost at saturation
async function costCell(nsubs, round) {
  const s = await startServer(COST_ROWS, COST_THREADS);
  const conns = [], problems = [];
  let pushed = 0, firsts = 0;
  const seen = new Set();
  for (let c = 0; c * PER_CONN < nsubs; c++) {
    const ws = await openLive(s.port, text => {
      if (!text.startsWith('{"type":"result"')) { problems.push(text.slice(0, 300)); return; }
      pushed++;
      const id = /"id":"([^"]+)"/.exec(text)[1];
      if (!seen.has(id)) { seen.add(id); firsts++; }
    });
    conns.push(ws);
    for (let i = c * PER_CONN; i < Math.min(nsubs, (c + 1) * PER_CONN); i++)
      ws.send(JSON.stringify({ type: 'subscribe', id: `s${i}`, sql: SQL[QUERIES[i % QUERIES.length]], max_rate: COST_RATE }));
  }
  const w0 = now();
  while (firsts < nsubs && now() - w0 < 120000 && !problems.length) await sleep(10);
  if (firsts < nsubs) throw new Error(`${firsts} of ${nsubs} subscriptions answered: ${problems.join('; ')}`);
  await sleep(500); // every subscription in its steady state
  const agent = new http.Agent({ keepAlive: true, maxSockets: COST_CONNS });
  const pushed0 = pushed, cpu0 = cpuSeconds(s.pid), cc0 = clientCpu(), load0 = loadavg()[0], t0 = now(), end = t0 + COST_SECONDS * 1000;
  let rows = 0, requests = 0, j = 0;
  const lat = [];
  await Promise.all(Array.from({ length: COST_CONNS }, async () => {
    while (now() < end) {
      const b = streamBody(COST_ROWS, COST_BODY, j++), ts = now();
      const r = await request(s.port, agent, 'POST', '/v1/datasets/events/records', b, 'application/x-ndjson');
      if (r.status !== 200) throw new Error(`POST: ${r.status} ${r.body.slice(0, 300)}`);
      lat.push(now() - ts);
      rows += JSON.parse(r.body).accepted;
      requests++;
    }
  }));
  const seconds = (now() - t0) / 1000, cpu = cpuSeconds(s.pid) - cpu0, ccpu = clientCpu() - cc0, results = pushed - pushed0;
  for (const ws of conns) await closeLive(ws);
  agent.destroy();
  await stopServer(s);
  const cell = {
    round, subs: nsubs, rows, rows_end: COST_ROWS + rows, requests, seconds, rows_per_s: rows / seconds, server_cpu: cpu, client_cpu: ccpu, results,
    results_per_s: results / seconds, post_ms_p50: median(lat), post_ms_p99: pct(lat, 99), load1: load0, load_seconds: s.load_seconds, problems: problems.slice(0, 5),
  };
  log(`cost round ${round}, ${nsubs} subscriptions: ${(cell.rows_per_s / 1e3).toFixed(0)} k rows/s, server CPU ${cpu.toFixed(2)} s ` +
    `(${(cpu / seconds * 100).toFixed(0)} %), ${cell.results_per_s.toFixed(1)} results/s, POST p50 ${cell.post_ms_p50.toFixed(1)} ms, load ${load0.toFixed(2)}`);
  return cell;
}

// ------------------------------------------------------------------ the run
const report = {
  date: new Date().toISOString(), build: buildType, durability: DURABILITY, live_max_rate: MAX_RATE,
  fresh_opts: { sizes: SIZES, rate: RATE, batch: BATCH, seconds: SECONDS, warmup: WARMUP, rates: RATES, queries: QUERIES, many: MANY },
  cost_opts: { rows: COST_ROWS, subs: COST_SUBS, seconds: COST_SECONDS, rounds: COST_ROUNDS, body_rows: COST_BODY, conns: COST_CONNS, threads: COST_THREADS, rate: COST_RATE, queries: QUERIES },
  sql: SQL, fresh: [], cost: [], load: [loadavg()[0]],
};
let commit = 'unknown';
try { commit = execFileSync('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim(); } catch { /* not a checkout */ }
report.commit = opt('--commit', commit);
const t00 = Date.now();
if (ONLY.includes('fresh')) {
  for (const n of SIZES) {
    report.fresh.push(await freshCell(n, null, 'none', 0));
    for (const q of QUERIES) for (const r of RATES) for (const client of ['sub', 'poll']) report.fresh.push(await freshCell(n, q, client, r));
    if (MANY > 0) report.fresh.push(await freshCell(n, 'mixed', 'sub', RATES[0], MANY));
  }
}
if (ONLY.includes('cost')) {
  for (let round = 1; round <= COST_ROUNDS; round++) {
    const k = (round - 1) % COST_SUBS.length;
    for (const n of COST_SUBS.slice(k).concat(COST_SUBS.slice(0, k))) report.cost.push(await costCell(n, round));
  }
}
report.load.push(loadavg()[0]);
report.minutes = (Date.now() - t00) / 60000;
report.machine = { cpu: cpus()[0]?.model, cores: cpus().length, memory_gib: +(totalmem() / 2 ** 30).toFixed(1), kernel: release(), node: process.version };
report.ursa = { bin: URSA, version: spawnSync(URSA, ['version'], { encoding: 'utf8' }).stdout.trim() };
report.data = { ndjson: paths.ndjson, rows: ROWS, bytes: manifest.bytes };
const stamp = report.date.replace(/[:.]/g, '-');
writeFileSync(join(DIR, `results-live-${stamp}.json`), JSON.stringify(report, null, 1) + '\n');
const md = render(report);
writeFileSync(join(DIR, `results-live-${stamp}.md`), md + '\n');
console.log(md);
log(`written ${join(DIR, `results-live-${stamp}.json`)} and .md (${report.minutes.toFixed(1)} minutes)`);
process.exit(0);

/** Markdown of a report. */
function render(rep) {
  const f0 = v => (Number.isFinite(v) ? v.toFixed(0) : '–'), f1 = v => (Number.isFinite(v) ? v.toFixed(1) : '–'), f2 = v => (Number.isFinite(v) ? v.toFixed(2) : '–');
  const X = v => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–');
  const M = n => (n >= 1e6 ? `${n / 1e6} M` : n >= 1e3 ? `${n / 1e3} k` : String(n));
  const L = [`# Live queries: ${rep.date}, Ursa ${rep.build} build at ${rep.commit}, --durability ${rep.durability}, --live-max-rate ${rep.live_max_rate}`, '',
    `Machine: ${rep.machine.cpu}, ${rep.machine.cores} cores, ${rep.machine.memory_gib} GiB, kernel ${rep.machine.kernel}, node ${rep.machine.node}. ` +
    `1-minute load average: ${f2(Math.min(...rep.load, ...rep.fresh.map(c => c.load1), ...rep.cost.map(c => c.load1)))} to ${f2(Math.max(...rep.load, ...rep.fresh.map(c => c.load1), ...rep.cost.map(c => c.load1)))}. ` +
    `${f1(rep.minutes)} minutes.`];
  if (rep.fresh.length) {
    const o = rep.fresh_opts;
    L.push('', `## Freshness: ${o.rate} POSTs/s of ${o.batch} rows for ${o.seconds} s per cell (first ${o.warmup} s left out), a fresh server per cell`, '',
      'From a POST\'s acknowledgement to the first result holding its rows, at the client, ms; "CPU above ingest": server CPU seconds over the posting span minus the ingest-alone cell of the same size:', '',
      '| rows buffered | query | client | rate | freshness p50 | p99 | max | from sending p50 | p99 | samples (missed) | results/s | gap p50 ms | engine ms p50 | server CPU s | CPU above ingest | ms of CPU per result | POST ack p50 ms | p99 |',
      '| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const c of rep.fresh) {
      const base = rep.fresh.find(b => b.rows === c.rows && b.client === 'none');
      if (c.client === 'none') { L.push(`| ${M(c.rows)} | – | ingest alone | – | – | – | – | – | – | – | – | – | – | ${f2(c.server_cpu)} | – | – | ${f1(c.ack_ms_p50)} | ${f1(c.ack_ms_p99)} |`); continue; }
      const above = base ? c.server_cpu - base.server_cpu : NaN;
      L.push(`| ${M(c.rows)} | ${c.query} | ${c.client === 'sub' ? (c.subs > 1 ? `${c.subs} subscriptions` : 'subscription') : 'polling'} | ${c.rate} | ${f0(c.fresh_p50)} | ${f0(c.fresh_p99)} | ${f0(c.fresh_max)} | ${f0(c.send_p50)} | ${f0(c.send_p99)} | ${c.samples}${c.missed ? ` (${c.missed})` : ''} | ` +
        `${f1(c.results_per_s)} | ${f0(c.gap_ms_p50)} | ${f1(c.engine_ms_p50)} | ${f2(c.server_cpu)} | ${f2(above)} | ${f0(above / c.results * 1000)} | ${f1(c.ack_ms_p50)} | ${f1(c.ack_ms_p99)} |`);
    }
    L.push('', 'Subscription ÷ polling at the same rate (below 1: the subscription is fresher or cheaper):', '',
      '| rows buffered | query | rate | freshness p50 | freshness p99 | from sending p50 | from sending p99 | server CPU | CPU above ingest | results/s |', '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const c of rep.fresh.filter(x => x.client === 'sub' && !(x.subs > 1))) {
      const p = rep.fresh.find(x => x.client === 'poll' && x.rows === c.rows && x.query === c.query && x.rate === c.rate);
      const base = rep.fresh.find(b => b.rows === c.rows && b.client === 'none');
      if (!p) continue;
      L.push(`| ${M(c.rows)} | ${c.query} | ${c.rate} | ${X(c.fresh_p50 / p.fresh_p50)} | ${X(c.fresh_p99 / p.fresh_p99)} | ${X(c.send_p50 / p.send_p50)} | ${X(c.send_p99 / p.send_p99)} | ${X(c.server_cpu / p.server_cpu)} | ` +
        `${base ? X((c.server_cpu - base.server_cpu) / (p.server_cpu - base.server_cpu)) : '–'} | ${X(c.results_per_s / p.results_per_s)} |`);
    }
  }
  if (rep.cost.length) {
    const o = rep.cost_opts;
    L.push('', `## Cost: ingest at saturation with live subscriptions (${M(o.rows)} rows buffered first; ${o.conns} connection(s) POSTing ${o.body_rows}-row bodies back to back for ${o.seconds} s; --threads ${o.threads}; subscriptions 8 a connection, queries ${o.queries.join('/')} alternating, max_rate ${o.rate}; ${o.rounds} round(s))`, '',
      '| subscriptions | rows/s (median) | ÷ 0 subscriptions (median per round) | rows/s, every round | server CPU s (median) | server cores | server CPU per M rows | client CPU s | results pushed/s | per subscription | rows at the end | POST p50 ms | POST p99 ms |',
      '| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const n of o.subs) {
      const cs = rep.cost.filter(c => c.subs === n);
      if (!cs.length) continue;
      const ratios = cs.map(c => { const b = rep.cost.find(x => x.round === c.round && x.subs === 0); return b ? c.rows_per_s / b.rows_per_s : NaN; });
      L.push(`| ${n} | ${f0(median(cs.map(c => c.rows_per_s)))} | ${X(median(ratios))} | ${cs.map(c => f0(c.rows_per_s)).join(', ')} | ${f2(median(cs.map(c => c.server_cpu)))} | ${f2(median(cs.map(c => c.server_cpu / c.seconds)))} | ` +
        `${f2(median(cs.map(c => c.server_cpu / (c.rows / 1e6))))} | ${f2(median(cs.map(c => c.client_cpu)))} | ${f1(median(cs.map(c => c.results_per_s)))} | ${n ? f2(median(cs.map(c => c.results_per_s)) / n) : '–'} | ` +
        `${M(Math.round(median(cs.map(c => c.rows_end ?? NaN)) / 1e5) * 1e5)} | ${f1(median(cs.map(c => c.post_ms_p50)))} | ${f1(median(cs.map(c => c.post_ms_p99)))} |`);
    }
  }
  L.push('', 'SQL:', '');
  for (const [q, s] of Object.entries(rep.sql)) L.push(`- ${q}: \`${s}\``);
  const probs = [...rep.fresh, ...rep.cost].flatMap(c => c.problems || []);
  if (probs.length) L.push('', `Problems: ${probs.slice(0, 10).join(' | ')}`);
  return L.join('\n');
}
