// query_exact.test.mjs — SQL queries count every acknowledged row exactly once (POST /v1/query; src/query.h,
// "Exactness"), whatever flushes, table commits, compactions, upkeep and crashes happen meanwhile.
//
// One node, one dataset: ts (timestamp, not null, the time column) spread over three UTC days (so that every
// flush writes three files), seq (int64, unique per row: the day of row seq is DAYS[seq % 3]) and s (a
// string, unique too). Three writers each own a seq range (writer w: W_BASE * w + 0, 1, 2 ...) and post
// batches of consecutive seqs one request at a time, so the rows a writer has had acknowledged are a prefix
// of its range; one request in ten is big, logged in parts in the lives with a small --wal-part-bytes. Meanwhile the node flushes often (--flush-every 1, --flush-max-rows, POST /flush in a loop),
// compacts often (the policy with --compact-files 2 every second, and POST /compact?date= in a loop), runs
// upkeep (a short --retention in some lives) and, in some lives, holds every table commit a while
// (URSA_TEST_COMMIT_PAUSE_MS) so that publishes, commits and compactions interleave. Two queriers run, in a
// loop, queries whose answers are known from what was acknowledged before each was sent:
//   total      count(*), count(distinct seq), min, max: no row twice; at least the acknowledged rows, at most
//              the rows ever sent
//   exact      per writer's acknowledged prefix and per day (a CASE group by), count(*), count(distinct seq),
//              count(distinct s), min, max: exactly the acknowledged rows of that writer and day; the rows
//              past the prefixes (requests in flight) each once
//   star       count(*) alone (row group counts, no column read)
//   sample     count(*) where seq in (a random sample of acknowledged seqs)
//   pruned     one day (WHERE on ts, files of other days pruned) and a sub-range of a prefix: exact
//   days       date_trunc('day', ts) group by: each day at least its acknowledged rows, each once
// The node is killed (kill -9) in every life: at each crash hook of the build (URSA_TEST_KILL_AT:
// before-commit, before-hint, on-conflict, compact-before-publish, compact-before-commit,
// upkeep-between-deletes) and at random moments, and sometimes stopped (SIGTERM) instead; it is started
// again on the same store and WAL. A request whose answer was lost (or refused) is settled after the fact:
// once no node can still be working on it, a query counts its seqs, which must be all or none (none: the
// writer sends them again). After every restart, with ingest paused, the counts are exact (every settled
// row once); then ingest resumes. At the end: everything flushed and compacted, the counts exact, the
// table read by icebird (not our reader) holds every row once, and so does a node started again.
// Two more cases, each the deterministic reproducer of a bug this test found (fixed in table.c): F1, a flush
// cut between its days by a crash (the re-flush of its missing days was taken as committed); F2, two flushes
// waiting for their table commits at a crash (recovered in the text order of their names, 10 before 9).
//
//   node --test tests/integration/query_exact.test.mjs     (URSA_BIN, URSA_TEST_TMP as for every test)
//
// Environment:
//   QUERY_EXACT_ROUNDS   lives of the node (default 9: each hook once, random kills, a stop; about a minute)
//   QUERY_EXACT_SEED     the random seed (printed); the timing of kills is never exactly reproducible
//   QUERY_EXACT_VERBOSE  1: a line per life
//   QUERY_EXACT_KNOWN_FAILING=1  in the main loop, turn every before-commit kill into a flush cut between its
//                        days (F1's state, at random moments)
// On failure the store, the WAL and every node's log (node-<n>.log) are kept under URSA_TEST_TMP.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { icebergRead } from 'icebird';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports } from './helpers.mjs';
import { useLocalFetch } from '../tools/iceberg_local.mjs';

useLocalFetch();
const ROUNDS = Math.max(1, Number(process.env.QUERY_EXACT_ROUNDS ?? 9));
const SEED = Number(process.env.QUERY_EXACT_SEED ?? (Date.now() % 1_000_000_007));
const VERBOSE = process.env.QUERY_EXACT_VERBOSE === '1';
const KNOWN_FAILING = process.env.QUERY_EXACT_KNOWN_FAILING === '1';
const DS = 'ev';
const WRITERS = 3, QUERIERS = 2;
const W_BASE = 1_000_000_000; // writer w's seqs start at w * W_BASE
const MAX_BATCH = 60, BIG_BATCH = 600; // one request in ten is big: logged in parts where --wal-part-bytes is small
const FLUSH_MAX_ROWS = 300;
const REQUEST_TIMEOUT_MS = 30_000;
const HOOK_LIFE_MS = 6_000; // a life with a hook that did not fire by then ends with a kill -9 of ours
const DEATH_MS = 1_000; // a request that failed on a node still alive this long after: the node's fault
const HOOKS = ['before-commit', 'before-hint', 'on-conflict', 'compact-before-publish', 'compact-before-commit', 'upkeep-between-deletes'];

// ------------------------------------------------------------------ seeded choices
let rs = SEED >>> 0 || 1;
const rnd = n => { rs ^= rs << 13; rs >>>= 0; rs ^= rs >>> 17; rs ^= rs << 5; rs >>>= 0; return rs % n; };
const between = (lo, hi) => lo + rnd(hi - lo + 1);
const sleep = ms => new Promise(res => setTimeout(res, ms));

// ------------------------------------------------------------------ the data: a row is a function of its seq
const DAY_MS = 86_400_000;
const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
const DAYS = [today - 2 * DAY_MS, today - DAY_MS, today].map(ms => new Date(ms).toISOString().slice(0, 10));
const NEXT_DAYS = [today - DAY_MS, today, today + DAY_MS].map(ms => new Date(ms).toISOString().slice(0, 10));
const dayOf = seq => seq % 3;
function row(seq) {
  const d = dayOf(seq);
  const secs = (seq * 7919) % (d === 2 ? 3600 : 86_400); // today: its first hour only (not in the future)
  const hh = String(Math.floor(secs / 3600)).padStart(2, '0'), mm = String(Math.floor(secs / 60) % 60).padStart(2, '0');
  const ss = String(secs % 60).padStart(2, '0');
  return `{"ts":"${DAYS[d]}T${hh}:${mm}:${ss}.${String(seq % 1000).padStart(3, '0')}Z","seq":${seq},"s":"v${seq}"}`;
}
const ndjson = (lo, n) => Array.from({ length: n }, (_, i) => row(lo + i)).join('\n') + '\n';
/** Rows of [lo, hi] on day d (seq % 3 == d). */
function onDay(lo, hi, d) {
  if (hi < lo) return 0;
  const first = lo + ((d - (lo % 3)) + 3) % 3;
  return first > hi ? 0 : Math.floor((hi - first) / 3) + 1;
}

const SCHEMA = {
  columns: [
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'seq', type: 'int64', nullable: false },
    { name: 's', type: 'string' },
  ],
  time_column: 'ts',
};

// ------------------------------------------------------------------ state
// writers[w]: base; next (rows [base, next) are settled: acknowledged, or found whole after a lost answer);
// sentMax (the highest seq ever sent); open (a request whose fate is not known yet: {lo, n, node, why}).
const writers = Array.from({ length: WRITERS }, (_, w) => ({ w, base: w * W_BASE, next: w * W_BASE, sentMax: w * W_BASE - 1, open: null, busy: false }));
const settledTotal = () => writers.reduce((a, W) => a + (W.next - W.base), 0);
const sentTotal = () => writers.reduce((a, W) => a + (W.sentMax - W.base + 1), 0);
const problems = [];
const notes = []; // the first answers other than 200 to ingest, flushes and compactions (printed at the end)
const counts = { acked: 0, refused: 0, lost: 0, settledWhole: 0, settledNone: 0, queries: 0, queryChecks: 0, queriesLost: 0, flushes: 0, compactions: 0, statuses: {} };
const kills = { ours: 0, stop: 0, startup: 0, ...Object.fromEntries(HOOKS.map(h => [h, 0])), hookNotReached: {} };
const logs = []; // [label, log()] of every node started
let node = null; // the node of the moment: {server, n (its number), hook, killedByUs, dying}
let nodeCount = 0;
let paused = true, stopAll = false;

function problem(what) {
  problems.push({ at: new Date().toISOString(), node: node?.n, ...what });
  stopAll = true;
}
const status = (what, st) => { const k = `${what} ${st}`; counts.statuses[k] = (counts.statuses[k] ?? 0) + 1; };

const ms = {}; // per endpoint: [requests, total ms] (printed at the end)
async function req(srv, method, path, body, headers = {}) {
  const t = Date.now();
  const res = await fetch(srv.url + path, { method, body, headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await res.text();
  const k = path.split('?')[0].split('/').pop();
  ms[k] = ms[k] ?? [0, 0]; ms[k][0]++; ms[k][1] += Date.now() - t;
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, text, json };
}
const alive = nd => nd && nd.server.proc.exitCode === null && nd.server.proc.signalCode === null;

/** A query on nd: the answer's rows, or null when the node died under it (then it proves nothing). */
async function sql(nd, text) {
  let r;
  try {
    r = await req(nd.server, 'POST', '/v1/query', JSON.stringify({ sql: text }), { 'content-type': 'application/json' });
  } catch (e) {
    if (!alive(nd) || nd.dying) { counts.queriesLost++; return null; }
    await sleep(DEATH_MS);
    if (!alive(nd) || nd.dying) { counts.queriesLost++; return null; }
    problem({ kind: 'query failed on a live node', sql: text, error: String(e) });
    return null;
  }
  if (r.status === 503 && nd.dying) { counts.queriesLost++; return null; } // a stop in progress
  counts.queries++;
  if (r.status !== 200) {
    problem({ kind: `query answered ${r.status}`, sql: text, answer: r.text.slice(0, 500) });
    return null;
  }
  return r.json;
}

// ------------------------------------------------------------------ the checks
// A snapshot of what is known before a query is sent: each writer's settled prefix [base, next).
const known = () => writers.map(W => ({ w: W.w, lo: W.base, hi: W.next - 1 }));

function expect(cond, what, details) {
  counts.queryChecks++;
  if (!cond) problem({ kind: what, ...details });
  return cond;
}

const caseOf = pre => `case ${pre.filter(p => p.hi >= p.lo).map(p => `when seq between ${p.lo} and ${p.hi} then ${p.w}`).join(' ') || 'when seq < 0 then -2'} else -1 end`;

/** exact: every settled row once, per writer and day; rows past the prefixes once each. */
async function qExact(nd, { quiet = false } = {}) {
  const pre = known();
  const q = `select ${caseOf(pre)} as w, date_trunc('day', ts) as d, count(*) as n, count(distinct seq) as ds, count(distinct s) as dstr, min(seq) as lo, max(seq) as hi from ${DS} group by 1, 2 order by 1, 2`;
  const r = await sql(nd, q);
  if (!r) return false;
  const got = new Map(r.rows.map(([w, d, n, ds, dstr, lo, hi]) => [`${w} ${String(d).slice(0, 10)}`, { n, ds, dstr, lo, hi }]));
  let ok = true;
  for (const p of pre)
    for (let d = 0; d < 3; d++) {
      const want = onDay(p.lo, p.hi, d), g = got.get(`${p.w} ${DAYS[d]}`) ?? { n: 0, ds: 0, dstr: 0 };
      ok &&= expect(g.n === want && g.ds === want && g.dstr === want, 'exact: a writer\'s acknowledged rows on a day, each once',
        { sql: q, writer: p.w, day: DAYS[d], prefix: [p.lo, p.hi], want, got: g, stats: r.stats });
    }
  for (const [k, g] of got) {
    ok &&= expect(g.n === g.ds && g.n === g.dstr, 'exact: a group counts a row twice', { sql: q, group: k, got: g, stats: r.stats });
    if (k.startsWith('-1 ')) {
      ok &&= expect(!quiet || g.n === 0, 'exact (quiesced): rows that no writer sent or settled', { sql: q, group: k, got: g, writers: JSON.stringify(writers) });
      const owner = writers[Math.floor(g.lo / W_BASE)], last = writers[Math.floor(g.hi / W_BASE)];
      ok &&= expect(owner && last && g.hi <= last.sentMax && g.lo >= owner.base, 'exact: a row past every prefix that was never sent', { sql: q, group: k, got: g });
    }
  }
  return ok;
}

/** total: count(*) = count(distinct seq); at least the settled rows before, at most the rows sent after. */
async function qTotal(nd, { quiet = false } = {}) {
  const floor = settledTotal();
  const q = `select count(*), count(distinct seq), min(seq), max(seq) from ${DS}`;
  const r = await sql(nd, q);
  if (!r) return false;
  const [[n, ds, lo, hi]] = r.rows, ceil = sentTotal();
  return expect(n === ds, 'total: count(*) != count(distinct seq): a row counted twice', { sql: q, n, ds, stats: r.stats }) &&
    expect(n >= floor, 'total: fewer rows than were acknowledged before the query: a row missing', { sql: q, n, floor, stats: r.stats }) &&
    expect(n <= ceil, 'total: more rows than were ever sent', { sql: q, n, ceil, stats: r.stats }) &&
    expect(!quiet || n === floor, 'total (quiesced): not exactly the settled rows', { sql: q, n, floor, stats: r.stats }) &&
    expect(n === 0 || (lo >= 0 && hi < WRITERS * W_BASE), 'total: min/max outside every writer\'s range', { sql: q, lo, hi });
}

/** star: count(*) alone, read from row group counts. */
async function qStar(nd, { quiet = false } = {}) {
  const floor = settledTotal();
  const r = await sql(nd, `select count(*) from ${DS}`);
  if (!r) return false;
  const n = r.rows[0][0], ceil = sentTotal();
  return expect(n >= floor && n <= ceil && (!quiet || n === floor), 'star: count(*) outside [acknowledged, sent]', { n, floor, ceil, stats: r.stats });
}

/** days: per day, each row once and at least the settled rows of the day. */
async function qDays(nd, { quiet = false } = {}) {
  const pre = known();
  const floors = [0, 1, 2].map(d => pre.reduce((a, p) => a + onDay(p.lo, p.hi, d), 0));
  const q = `select date_trunc('day', ts) as d, count(*), count(distinct seq) from ${DS} group by 1 order by 1`;
  const r = await sql(nd, q);
  if (!r) return false;
  let ok = expect(r.rows.every(([d]) => DAYS.includes(String(d).slice(0, 10))), 'days: a day no row has', { rows: r.rows });
  for (let d = 0; d < 3; d++) {
    const g = r.rows.find(x => String(x[0]).slice(0, 10) === DAYS[d]) ?? [DAYS[d], 0, 0];
    ok &&= expect(g[1] === g[2] && g[1] >= floors[d] && (!quiet || g[1] === floors[d]), 'days: a day\'s count wrong',
      { sql: q, day: DAYS[d], floor: floors[d], got: g, stats: r.stats });
  }
  if (quiet) {
    const sum = r.rows.reduce((a, x) => a + x[1], 0), star = await sql(nd, `select count(*) from ${DS}`);
    if (star) ok &&= expect(sum === star.rows[0][0], 'days (quiesced): the group-by sum is not count(*)', { sum, star: star.rows[0][0] });
  }
  return ok;
}

/** sample: count(*) where seq in (up to 60 settled seqs) is their number. */
async function qSample(nd) {
  const pre = known().filter(p => p.hi >= p.lo);
  if (!pre.length) return true;
  const set = new Set();
  const k = between(1, 60);
  for (let i = 0; i < k; i++) { const p = pre[rnd(pre.length)]; set.add(p.lo + rnd(p.hi - p.lo + 1)); }
  const q = `select count(*), count(distinct seq) from ${DS} where seq in (${[...set].join(', ')})`;
  const r = await sql(nd, q);
  if (!r) return false;
  const [[n, ds]] = r.rows;
  return expect(n === set.size && ds === set.size, 'sample: acknowledged seqs missing or twice', { sql: q, want: set.size, n, ds, stats: r.stats });
}

/** pruned: one day and a sub-range of one writer's prefix, exact. */
async function qPruned(nd) {
  const pre = known().filter(p => p.hi >= p.lo);
  if (!pre.length) return true;
  const p = pre[rnd(pre.length)], d = rnd(3);
  const a = p.lo + rnd(p.hi - p.lo + 1), b = a + rnd(p.hi - a + 1);
  const q = `select count(*), count(distinct seq) from ${DS} where ts >= '${DAYS[d]}' and ts < '${NEXT_DAYS[d]}' and seq between ${a} and ${b}`;
  const r = await sql(nd, q);
  if (!r) return false;
  const [[n, ds]] = r.rows, want = onDay(a, b, d);
  return expect(n === want && ds === want, 'pruned: a day\'s rows of an acknowledged range', { sql: q, want, n, ds, stats: r.stats });
}

const QUERIES = [qExact, qExact, qTotal, qStar, qDays, qSample, qPruned];

/** Every check, with ingest paused: the counts are exactly the settled rows. */
async function quiescedCheck(nd, where) {
  for (const f of [qExact, qTotal, qStar, qDays]) {
    const ok = await f(nd, { quiet: true });
    if (!ok || stopAll) {
      if (!problems.length) problem({ kind: `${where}: the node died during the quiesced check` });
      return false;
    }
  }
  return true;
}

// ------------------------------------------------------------------ the load
async function writer(W) {
  while (!stopAll) {
    const nd = node;
    if (paused || !alive(nd) || nd.dying || W.open) { await sleep(20); continue; }
    const lo = W.next, n = rnd(10) ? between(1, MAX_BATCH) : between(MAX_BATCH, BIG_BATCH);
    W.sentMax = Math.max(W.sentMax, lo + n - 1);
    W.busy = true;
    let r;
    try {
      r = await req(nd.server, 'POST', `/v1/datasets/${DS}/records`, ndjson(lo, n), { 'content-type': 'application/x-ndjson' });
    } catch (e) {
      W.open = { lo, n, node: nd, why: String(e.cause?.code ?? e) };
      counts.lost++;
      W.busy = false;
      if (alive(nd) && !nd.dying) { await sleep(DEATH_MS); if (alive(nd) && !nd.dying) problem({ kind: 'ingest failed on a live node', error: W.open.why }); }
      continue;
    }
    W.busy = false;
    status('records', r.status);
    if (r.status === 200 && r.json?.accepted === n) { W.next += n; counts.acked += n; continue; }
    if (r.status >= 500 && r.status !== 503) problem({ kind: `ingest answered ${r.status}`, answer: r.text.slice(0, 300) });
    if (r.status === 200) problem({ kind: 'ingest accepted a part of a batch', n, answer: r.text.slice(0, 300) });
    counts.refused++;
    if (notes.length < 20) notes.push({ what: 'records', status: r.status, dying: nd.dying, text: r.text.slice(0, 300) });
    W.open = { lo, n, node: nd, why: `answered ${r.status}` }; // answered: settled on this node at once
    await sleep(50);
  }
}

/** Finds out what became of open requests that no node can still be working on: all or none of its rows. */
async function settle(nd) {
  for (const W of writers) {
    const o = W.open;
    if (!o || (alive(o.node) && !o.why.startsWith('answered'))) continue;
    const q = `select count(*), count(distinct seq) from ${DS} where seq between ${o.lo} and ${o.lo + o.n - 1}`;
    const r = await sql(nd, q);
    if (!r) return false;
    const [[n, ds]] = r.rows;
    if (n === 0) counts.settledNone++;
    else if (n === o.n && ds === o.n) { W.next += o.n; counts.settledWhole++; }
    else { problem({ kind: 'a request\'s rows are there in part or twice', sql: q, request: { lo: o.lo, n: o.n, why: o.why }, n, ds, stats: r.stats }); return false; }
    W.open = null;
  }
  return true;
}

async function querier() {
  while (!stopAll) {
    const nd = node;
    if (paused || !alive(nd) || nd.dying) { await sleep(20); continue; }
    await QUERIES[rnd(QUERIES.length)](nd);
  }
}

async function pokes() { // flushes and compactions asked for, besides the node's own
  let nextFlush = 0, nextCompact = 0;
  while (!stopAll) {
    const nd = node;
    await sleep(20);
    if (paused || !alive(nd) || nd.dying) continue;
    const now = Date.now();
    let what = null, path;
    if (now >= nextFlush) what = 'flush', path = `/v1/datasets/${DS}/flush`, nextFlush = now + between(50, 500);
    else if (now >= nextCompact) what = 'compact', path = `/v1/datasets/${DS}/compact?date=${DAYS[rnd(3)]}`, nextCompact = now + between(200, 1500);
    if (!what) continue;
    try {
      const r = await req(nd.server, 'POST', path);
      status(what, r.status);
      if (r.status !== 200 && notes.length < 20) notes.push({ what, status: r.status, dying: nd.dying, text: r.text.slice(0, 300) });
      if (r.status === 200) counts[what === 'flush' ? 'flushes' : 'compactions']++;
      if (r.status >= 500 && r.status !== 503) problem({ kind: `${what} answered ${r.status}`, answer: r.text.slice(0, 300) });
    } catch (e) {
      if (alive(nd) && !nd.dying) { await sleep(DEATH_MS); if (alive(nd) && !nd.dying) problem({ kind: `${what} failed on a live node`, error: String(e) }); }
    }
  }
}

// ------------------------------------------------------------------ lives of the node
let store, walDir;
const baseArgs = retention => ['--wal-dir', walDir, '--wal-part-bytes', rnd(2) ? '4K' : '8M', '--flush-every', '1', '--flush-max-rows', String(FLUSH_MAX_ROWS), '--flush-max-age', '3600',
  '--compact-every', '1s', '--compact-files', '2', '--compact-grace', '1s', '--retention', retention];

/** Starts a node; null when it was killed (by its hook) before it listened. */
async function startNode({ hook = null, pause = 0, retention = '1h' } = {}) {
  const env = { URSA_COMPACT: '1' };
  if (hook) env.URSA_TEST_KILL_AT = hook;
  if (pause) env.URSA_TEST_COMMIT_PAUSE_MS = String(pause);
  const n = ++nodeCount;
  let server;
  try {
    server = await startServer({ store, node: 'q1', args: baseArgs(retention), env });
  } catch (e) {
    if (hook && /exited before listening \(code null, signal SIGKILL\)/.test(e.message)) {
      kills.startup++, kills[hook]++;
      logs.push([`node ${n} (${hook}, killed while starting)`, () => e.message]);
      return null;
    }
    throw e;
  }
  logs.push([`node ${n}${hook ? ` (${hook})` : ''}`, server.log]);
  const nd = { server, n, hook, killedByUs: false, dying: false };
  server.proc.once('exit', (code, signal) => {
    if (nd.killedByUs) return;
    if (signal === 'SIGKILL' && hook) kills[hook]++;
    else problem({ kind: 'the node exited by itself', code, signal, log: server.log().slice(-3000) });
  });
  return nd;
}

async function endNode(nd, how) {
  if (!alive(nd)) return;
  nd.killedByUs = true, nd.dying = true;
  if (how === 'stop') {
    const st = await nd.server.stop();
    if (st.killed || st.code !== 0) problem({ kind: 'SIGTERM did not stop the node cleanly', st });
    kills.stop++;
  } else {
    await nd.server.kill('SIGKILL');
    kills.ours++;
  }
}

/** After a crash or a stop: a node without hooks; open requests settled; exact counts with ingest paused. */
async function recover(where, retention = rnd(2) ? '2s' : '1h') {
  paused = true;
  while (writers.some(W => W.busy)) await sleep(10);
  const nd = await startNode({ retention });
  node = nd;
  if (!(await settle(nd))) return null;
  if (!(await quiescedCheck(nd, where))) return null;
  return nd;
}

async function runLoad(nd, duration) {
  node = nd;
  paused = false;
  const t0 = Date.now();
  while (!stopAll && alive(nd) && Date.now() - t0 < duration) {
    await sleep(50);
    if (writers.some(W => W.open && (W.open.why.startsWith('answered') || !alive(W.open.node)))) {
      paused = true;
      while (writers.some(W => W.busy) && alive(nd)) await sleep(10);
      if (alive(nd) && !(await settle(nd))) break;
      paused = false;
    }
  }
  paused = true;
}

/** The newest flush's files (all published, none committed: a before-commit kill) lose their last one or
 *  two days, as if the kill had come between the renames of its days (they go in day order). */
function cutLastFlush() {
  const files = DAYS.flatMap((day, d) => {
    try { return readdirSync(join(store, DS, `date=${day}`)).map(f => ({ d, f, m: /^q1-(\d+)-(\d+)\.parquet$/.exec(f) })).filter(x => x.m); } catch { return []; }
  });
  if (!files.length) return;
  const last = Math.max(...files.map(x => Number(x.m[2])));
  const mine = files.filter(x => Number(x.m[2]) === last);
  if (mine.length < 2) return;
  const drop = mine.slice(mine.length - between(1, mine.length - 1));
  for (const x of drop) rmSync(join(store, DS, `date=${DAYS[x.d]}`, x.f));
  kills.cut = (kills.cut ?? 0) + 1;
}

function saveLogs(dir) {
  logs.forEach(([label, log], i) => writeFileSync(join(dir, `node-${i + 1}.log`), `# ${label}\n${log()}`));
}

after(() => { if (!problems.length && !failed) removeTempDirs(); });
let failed = false;

test(`queries count every acknowledged row exactly once through flushes, commits, compactions and kills (QUERY_EXACT_SEED=${SEED}, ${ROUNDS} rounds)`, { timeout: 300_000 + ROUNDS * 30_000 }, async () => {
  console.log(`# QUERY_EXACT_SEED=${SEED} rounds=${ROUNDS} days=${DAYS.join(',')}`);
  const t0 = Date.now();
  store = makeTempDir('ursa-query-exact-');
  walDir = join(store, '_wal-q1');
  const tasks = [];
  try {
    let nd = await startNode();
    node = nd;
    const r = await req(nd.server, 'PUT', `/v1/datasets/${DS}`, JSON.stringify(SCHEMA), { 'content-type': 'application/json' });
    assert.equal(r.status, 201, r.text);
    tasks.push(...writers.map(writer), ...Array.from({ length: QUERIERS }, querier), pokes());
    await runLoad(nd, 1500);
    await endNode(nd, 'kill');

    // Each round: a life with a crash hook (or none), ended by the hook, a kill -9 or a stop; then a node
    // without hooks that must count exactly after its recovery, takes load a while, and is killed or stopped.
    for (let round = 0; round < ROUNDS && !stopAll; round++) {
      const hook = round % 8 < HOOKS.length ? HOOKS[round % 8] : null;
      const pause = hook === 'on-conflict' || rnd(3) === 0 ? between(50, 400) : 0;
      const retention = hook === 'upkeep-between-deletes' || rnd(2) ? '2s' : '1h';
      if (hook) {
        nd = await startNode({ hook, pause, retention });
        if (nd) {
          await runLoad(nd, HOOK_LIFE_MS);
          if (alive(nd)) { kills.hookNotReached[hook] = (kills.hookNotReached[hook] ?? 0) + 1; await endNode(nd, 'kill'); }
          else if (hook === 'before-commit' && KNOWN_FAILING) cutLastFlush();
        }
      } else {
        nd = await startNode({ pause, retention });
        await runLoad(nd, between(500, 4000));
        await endNode(nd, round % 8 === HOOKS.length ? 'kill' : 'stop');
      }
      if (stopAll) break;
      nd = await recover(`after round ${round} (${hook ?? 'no hook'})`);
      if (!nd) break;
      await runLoad(nd, between(300, 2500)); // again while ingest resumes
      if (stopAll) break;
      await endNode(nd, rnd(4) ? 'kill' : 'stop');
      if (VERBOSE) console.log(`# round ${round} (${hook ?? 'none'}, pause ${pause}, retention ${retention}): ${settledTotal()} rows settled, ${counts.queries} queries, ${Date.now() - t0} ms`);
    }

    // The end: a last node, ingest over, every open request settled, everything flushed and compacted.
    if (!stopAll) {
      nd = await recover('at the end', '1h');
      if (nd) {
        await runLoad(nd, 1000);
        paused = true;
        while (writers.some(W => W.busy)) await sleep(10);
        await settle(nd);
        assert.equal((await req(nd.server, 'POST', `/v1/datasets/${DS}/flush`)).status, 200);
        for (const day of DAYS) {
          const c = await req(nd.server, 'POST', `/v1/datasets/${DS}/compact?date=${day}`);
          assert.equal(c.status, 200, c.text);
        }
        await quiescedCheck(nd, 'at the end, flushed and compacted');
        const live = (await req(nd.server, 'GET', `/v1/datasets/${DS}`)).json;
        assert.equal(live.buffered_rows, 0, 'nothing buffered after the last flush');
        // An independent reader of the table: every settled row once.
        const seqs = (await icebergRead({ tableUrl: `file://${store}/${DS}` })).map(x => Number(x.seq)).sort((a, b) => a - b);
        const want = writers.flatMap(W => Array.from({ length: W.next - W.base }, (_, i) => W.base + i));
        assert.equal(seqs.length, want.length, 'icebird: the table holds every settled row');
        assert.deepEqual(seqs, want, 'icebird: every settled row once, no other');
        // Stopped and started again: the same counts.
        await endNode(nd, 'stop');
        nd = await recover('after the last stop', '1h');
        if (nd) await endNode(nd, 'stop');
      }
    }
    stopAll = true;
    await Promise.all(tasks);
    console.log('# ms', JSON.stringify(Object.fromEntries(Object.entries(ms).map(([k, [n, t]]) => [k, [n, Math.round(t / n)]]))));
    const summary = { seconds: Math.round((Date.now() - t0) / 1000), rows: settledTotal(), ...counts, kills };
    console.log(`# ${JSON.stringify(summary)}`);
    if (notes.length) console.log(`# answers other than 200: ${JSON.stringify(notes)}`);
    assert.deepEqual(problems, [], `problems (store ${store}, logs node-*.log there)`);
    for (const h of HOOKS.slice(0, Math.min(ROUNDS, HOOKS.length)))
      assert.ok(kills[h] >= 1, `killed at ${h} at least once: ${JSON.stringify(kills)}`);
    assert.ok(counts.settledWhole + counts.settledNone >= 1 || counts.lost === 0, 'requests lost to a kill were settled');
    const reports = logs.flatMap(([label, l]) => sanitizerReports(l()).map(x => `${label}: ${x}`));
    assert.deepEqual(reports, [], 'sanitizer reports');
  } catch (e) {
    failed = true;
    stopAll = true;
    throw e;
  } finally {
    stopAll = true;
    if (alive(node)) { node.killedByUs = true; await node.server.stop(); }
    await Promise.allSettled(tasks);
    if (problems.length || failed) { saveLogs(store); console.log(`# kept ${store}: ${JSON.stringify(problems, null, 1).slice(0, 4000)}`); }
  }
});

// A flush cut between its days by a crash: some days' files published, the others not. The state is made
// exactly: the before-commit hook kills the node with every day's file published and none committed, and
// the test removes the last day's file, as if the kill had come between the renames of the last two days.
// The flush's last request has rows on the first day only, so the flush that writes the missing day after
// the restart covers lower LSNs than the cut flush. F1 (fixed): that flush was taken as committed
// already and its row is lost to the table (and to queries).
test('a flush cut between its days by a crash: the next flush commits the missing day, every row counted once (F1)',
  { timeout: 120_000 }, async () => {
  const dir = makeTempDir('ursa-query-cut-');
  const args = ['--wal-dir', join(dir, '_wal'), '--flush-max-age', '3600'];
  const rowsOf = (...xs) => xs.map(([d, seq]) => `{"ts":"${DAYS[d]}T01:00:00Z","seq":${seq},"s":"v${seq}"}`).join('\n') + '\n';
  const count = async srv => (await srv.post('/v1/query', { sql: `select count(*), count(distinct seq) from ${DS}` })).json?.rows[0];
  let srv = await startServer({ store: dir, node: 'q1', args, env: { URSA_TEST_KILL_AT: 'before-commit' } });
  logs.push(['cut: first node', srv.log]);
  try {
    assert.equal((await srv.put(`/v1/datasets/${DS}`, SCHEMA)).status, 201);
    assert.equal((await srv.postRecords(DS, rowsOf([0, 1], [1, 2], [2, 3]))).status, 200);
    assert.equal((await srv.postRecords(DS, rowsOf([0, 4]))).status, 200); // the flush's last request: day 0 only
    assert.deepEqual(await count(srv), [4, 4]);
    await srv.flush(DS).catch(() => null); // killed at before-commit
    assert.equal((await srv.kill()).signal, 'SIGKILL');
    const cut = readdirSync(join(dir, DS, `date=${DAYS[2]}`)).filter(f => /^q1-\d+-\d+\.parquet$/.test(f));
    assert.equal(cut.length, 1, 'the flush published the last day\'s file');
    rmSync(join(dir, DS, `date=${DAYS[2]}`, cut[0]));
    srv = await startServer({ store: dir, node: 'q1', args });
    logs.push(['cut: second node', srv.log]);
    assert.deepEqual(await count(srv), [4, 4], 'after the restart: the published days from the table, the third from the log');
    assert.equal((await srv.flush(DS)).status, 200);
    assert.deepEqual(await count(srv), [4, 4], 'after the flush that writes the missing day');
    await srv.stop();
    srv = await startServer({ store: dir, node: 'q1', args });
    logs.push(['cut: third node', srv.log]);
    assert.deepEqual(await count(srv), [4, 4], 'after a stop and a start');
    const seqs = (await icebergRead({ tableUrl: `file://${dir}/${DS}` })).map(x => Number(x.seq)).sort((a, b) => a - b);
    assert.deepEqual(seqs, [1, 2, 3, 4], 'icebird: the table holds every row once');
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    await srv.stop();
  }
});

// Two flushes published whose table commits failed (the next metadata version's name taken by a directory:
// every attempt finds it "written by another writer"), then a kill -9 and a start with the store well again.
// The flushes' names are q1-9-9 and q1-10-10. F2 (fixed): the start committed them in the byte order of
// their names, q1-10-10 first, after which q1-9-9 is taken as committed already and its row is lost.
// Each failed commit gives up after 50 attempts (about 20 s here), so this case takes about a minute.
test('two flushes waiting for their commits at a kill -9: the start commits both, every row counted once (F2)',
  { timeout: 300_000 }, async () => {
  const dir = makeTempDir('ursa-query-pending-');
  const args = ['--wal-dir', join(dir, '_wal'), '--flush-max-age', '3600'];
  const post = seq => srv.postRecords(DS, `{"ts":"${DAYS[0]}T01:00:00Z","seq":${seq},"s":"v${seq}"}\n`);
  const count = async () => (await srv.post('/v1/query', { sql: `select count(*), count(distinct seq) from ${DS}` })).json?.rows[0];
  const meta = join(dir, DS, 'metadata');
  let srv = await startServer({ store: dir, node: 'q1', args });
  logs.push(['pending: first node', srv.log]);
  try {
    assert.equal((await srv.put(`/v1/datasets/${DS}`, SCHEMA)).status, 201);
    for (let seq = 1; seq <= 8; seq++) assert.equal((await post(seq)).status, 200);
    assert.equal((await srv.flush(DS)).status, 200);
    assert.deepEqual(readdirSync(join(dir, DS, `date=${DAYS[0]}`)), ['q1-1-8.parquet'], 'LSNs 1..8 flushed');
    const last = Math.max(...readdirSync(meta).map(f => Number(/^v(\d+)\.metadata\.json$/.exec(f)?.[1] ?? 0)));
    const blocker = join(meta, `v${last + 1}.metadata.json`);
    mkdirSync(blocker); // every commit now fails
    assert.equal((await post(9)).status, 200);
    assert.equal((await srv.flush(DS)).status, 200, 'a failed commit does not fail the flush');
    assert.equal((await post(10)).status, 200);
    assert.equal((await srv.flush(DS)).status, 200);
    assert.deepEqual(readdirSync(join(dir, DS, `date=${DAYS[0]}`)).sort(), ['q1-1-8.parquet', 'q1-10-10.parquet', 'q1-9-9.parquet']);
    assert.deepEqual(await count(), [10, 10], 'while the commits wait, the query reads their rows from the buffer');
    await srv.kill();
    rmSync(blocker, { recursive: true });
    srv = await startServer({ store: dir, node: 'q1', args });
    logs.push(['pending: second node', srv.log]);
    assert.deepEqual(await count(), [10, 10], 'after the start, which commits the waiting flushes');
    const seqs = (await icebergRead({ tableUrl: `file://${dir}/${DS}` })).map(x => Number(x.seq)).sort((a, b) => a - b);
    assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'icebird: the table holds every row once');
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    await srv.stop();
  }
});
