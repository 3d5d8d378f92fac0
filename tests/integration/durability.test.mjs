// durability.test.mjs — the write-ahead log end to end (issue 5, item 6): a crash harness (concurrent
// clients, SIGKILL at random moments and during flushes, restart on the same store and WAL, then every
// acknowledged row exactly once), torn and corrupt WAL tails, SIGTERM under load, and --durability none;
// with a binary that has them: the crash harness again with Idempotency-Key retries (every request ends
// acknowledged) and --flush-max-rows (kills during automatic flushes), and backpressure past --memory-limit.
// Not here yet: the S3 outage (fault proxy answering 503 for a minute under load).
//
//   node --test tests/integration/durability.test.mjs
//
// Environment:
//   URSA_BIN, URSA_TEST_TMP      as for every integration test (helpers.mjs)
//   URSA_TEST_SEED               the random seed (printed at the start of every randomized test); set it to
//                                replay a run's choices (the timing of a crash is never exactly reproducible)
//   URSA_CRASH_KILLS             SIGKILLs per crash harness run (default 24, at least 20 for issue 5)
//   URSA_CRASH_CLIENTS           concurrent ingest clients (default 4)
//   URSA_TEST_KNOWN_FAILING=1    also run the cases that fail because of known defects (see KNOWN FAILING)
// On failure the temporary stores are kept (their paths are in the messages).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync, renameSync, truncateSync, appendFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports, URSA_BIN } from './helpers.mjs';
import { close as closeReaders } from '../tools/pqread.mjs';
import { tableDataFiles } from '../tools/iceberg_local.mjs';
import * as D from './durability-data.mjs';

/** The line of a refused start's output that names the segment. */
const refusal = (err, seg) => err.message.split('\n').find(l => l.includes(seg) && !/^---/.test(l))?.replace(/^.*?Z /, '') ?? '?';
const KNOWN_FAILING = process.env.URSA_TEST_KNOWN_FAILING === '1';
const NODE = 'n1';
const sleep = ms => new Promise(r => setTimeout(r, ms));
let anyFailed = false;
const allLogs = []; // [label, log] of every server started, checked for sanitizer reports

after(async () => {
  await closeReaders();
  if (!anyFailed) removeTempDirs();
});

function step(name, a, b) {
  const [opts, fn] = typeof a === 'function' ? [{}, a] : [a, b];
  test(name, { timeout: 300_000, ...opts }, async t => {
    try { await fn(t); } catch (err) { anyFailed = true; throw err; }
  });
}

function say(t, msg) { console.log(msg); }

async function start(store, args = [], label = '') {
  const s = await startServer({ store, node: NODE, args });
  s.label = label;
  s.proc.once('exit', () => allLogs.push([`${label} pid ${s.proc.pid}`, s.log()]));
  return s;
}

async function createDataset(s) {
  const r = await s.put(`/v1/datasets/${D.DATASET}`, D.SCHEMA);
  assert.ok(r.status === 200 || r.status === 201, `create dataset: ${r.status} ${r.text}`);
}

async function buffered(s) {
  const r = await s.get(`/v1/datasets/${D.DATASET}`);
  assert.equal(r.status, 200, `GET dataset: ${r.status} ${r.text}`);
  return r.json.buffered_rows;
}

/** Sanitizer lines in the logs of every server that has exited so far (ASan builds print them at exit). */
function assertNoSanitizerReports(where) {
  const bad = allLogs.flatMap(([label, log]) => sanitizerReports(log).map(l => `${label}: ${l}`));
  assert.deepEqual(bad, [], `${where}: sanitizer reports`);
}

/** Reads every Parquet file with DuckDB and Polars, compares with the ledger; returns a summary. */
async function verifyStore(t, store, ledger, { label }) {
  const { files, temps, other } = D.listDataset(store);
  const badNames = files.filter(f => !new RegExp(`^${D.DATASET}/date=\\d{4}-\\d{2}-\\d{2}/${NODE}-(\\d+)-(\\d+)\\.parquet$`).test(f)
    || (([, a, b]) => Number(a) > Number(b))(/-(\d+)-(\d+)\.parquet$/.exec(f)));
  const duck = await D.readBackDuckDB(store, files, ledger);
  const polars = await D.readBackPolars(store, files, ledger);
  const jd = D.judge(duck, ledger), jp = D.judge(polars, ledger);
  const problems = [...jd.problems, ...jp.problems];
  for (const m of duck.mismatched) problems.push(`duckdb: row does not match its id or partition: ${JSON.stringify(m, (k, v) => typeof v === 'bigint' ? String(v) : v)}`);
  for (const f of files) if (duck.perFile.get(f) !== polars.perFile.get(f)) problems.push(`${f}: duckdb reads ${duck.perFile.get(f)} rows, polars ${polars.perFile.get(f)}`);
  for (const f of badNames) problems.push(`file name does not follow <dataset>/date=YYYY-MM-DD/${NODE}-<first LSN>-<last LSN>.parquet: ${f}`);
  const table = other.filter(f => f.startsWith(`${D.DATASET}/metadata/`));
  for (const f of other) if (!table.includes(f)) problems.push(`unexpected entry in the dataset: ${f}`);
  // Through the dataset's table: it names exactly the files read above, so every row once there too.
  const named = (await tableDataFiles(`file://${store}/${D.DATASET}`)).map(u => u.slice(u.lastIndexOf(`/${D.DATASET}/date=`) + 1)).sort();
  const missing = files.filter(f => !named.includes(f)), extra = named.filter(f => !files.includes(f));
  for (const f of missing) problems.push(`a published file the table does not name: ${f}`);
  for (const f of extra) problems.push(`a file the table names that is not in the store: ${f}`);
  const c = ledger.counts();
  const summary = { label, files: files.length, table_files: named.length, temps: temps.length, acked: c.acked, unknown: c.unknown, read_duckdb: duck.rows, read_polars: polars.rows, lost: jd.lost, duplicated: jd.duplicated, unknown_present: jd.unknownPresent, unknown_absent: jd.unknownAbsent };
  say(t, `${label}: ${JSON.stringify(summary)}`);
  if (temps.length) say(t, `${label}: ${temps.length} temporary file(s) left by killed flushes, e.g. ${temps[0]}`);
  assert.deepEqual(problems.slice(0, 40), [], `${label}: store ${store}: ${problems.length} problem(s)`);
  assert.equal(jd.lost + jp.lost + jd.duplicated + jp.duplicated, 0);
  return summary;
}

// ====================================================================== 1 and 4: the crash harness
/**
 * Clients ingest while the server is SIGKILLed `kills` times and restarted on the same store and WAL;
 * a flusher POSTs /flush every 30–120 ms, and about half the kills come right after a flush request
 * (the delay drawn from the flush times measured so far). Then restart, flush, stop, read everything.
 */
async function crashHarness(t, { durability, kills, clients, seed, idempotent = false, extraArgs = [] }) {
  const rnd = D.prng(seed);
  const store = makeTempDir(`ursa-crash-${durability}-`);
  const args = [...(durability === 'none' ? ['--durability', 'none'] : ['--durability', 'fsync']), ...extraArgs];
  const label = `durability=${durability}${idempotent ? ' Idempotency-Key retries' : ''}${extraArgs.length ? ' ' + extraArgs.join(' ') : ''}`;
  const t0 = Date.now();
  let gen = 0;
  let server = await start(store, args, `crash ${label} gen 0`);
  await createDataset(server);
  const ledger = new D.Ledger(clients);
  let ready = Promise.resolve(server), setReady = null;
  let stop = false;
  const stats = { requests: 0, acked_requests: 0, unknown_requests: 0, retries: 0, replayed_answers: 0, partial_redo_restarts: 0, non200: {}, flushes_ok: 0, flushes_failed: 0, flush_ms: [], kills: 0, kills_flush_in_flight: 0, kills_mid_write: 0, restart_ms: [], replayed_rows: [] };
  const inflightFlushes = new Set();

  async function client(c) {
    const r = D.prng(seed ^ (0x9E3779B9 * (c + 1)));
    let nreq = 0;
    while (!stop) {
      let s = await ready;
      if (stop) break;
      const n = 1 + Math.floor(r() * 200);
      const req = ledger.take(c, n, gen);
      const body = D.body(c, req.first, n);
      const headers = idempotent ? { 'content-type': 'application/x-ndjson', 'idempotency-key': `k${seed}-${c}-${nreq++}` } : undefined;
      stats.requests++;
      // Without a key an unanswered request stays "unknown". With a key it is retried (also after
      // `stop`) until it is answered: a retry after a lost answer must not store the rows again.
      for (let attempt = 0; ; attempt++) {
        try {
          const res = headers ? await s.request('POST', `/v1/datasets/${D.DATASET}/records`, { body, headers }) : await s.postRecords(D.DATASET, body);
          req.http = res.status;
          if (res.status === 200 && res.json?.accepted === n && res.json?.rejected === 0) {
            ledger.ack(req); stats.acked_requests++;
            if (res.headers.get('idempotent-replayed') === 'true') stats.replayed_answers++;
            break;
          }
          stats.non200[res.status] = (stats.non200[res.status] ?? 0) + 1;
          req.error = `HTTP ${res.status} ${res.text.slice(0, 200)}`;
          if (!idempotent || ![409, 429, 503].includes(res.status)) { stats.unknown_requests++; break; }
          await sleep(res.status === 409 ? 20 : 1000 * Number(res.headers.get('retry-after') ?? 1));
        } catch (err) {
          req.error = String(err?.cause?.code ?? err?.cause?.message ?? err?.message ?? err);
          if (!idempotent) { stats.unknown_requests++; await sleep(5); break; }
          await sleep(5);
        }
        stats.retries++;
        s = await ready;
      }
    }
  }
  function sendFlush(s) {
    const t1 = Date.now();
    const p = s.flush(D.DATASET).then(res => {
      if (res.status === 200) { stats.flushes_ok++; stats.flush_ms.push(Date.now() - t1); } else stats.flushes_failed++;
      return res.status;
    }, () => null);
    inflightFlushes.add(p);
    p.finally(() => inflightFlushes.delete(p));
    return p;
  }
  async function flusher() {
    while (!stop) {
      const s = await ready;
      if (stop) break;
      await sendFlush(s);
      await sleep(30 + rnd() * 90);
    }
  }
  const medianFlushMs = () => {
    const a = stats.flush_ms.slice(-50).sort((x, y) => x - y);
    return a.length ? a[a.length >> 1] : 5;
  };
  async function killer() {
    for (let i = 0; i < kills; i++) {
      await sleep(150 + rnd() * 350);
      const s = server;
      let flushP = null;
      if (rnd() < 0.5) {
        flushP = sendFlush(s);
        await sleep(rnd() * 1.5 * medianFlushMs());
      }
      const pending = [...inflightFlushes];
      ready = new Promise(r => { setReady = r; });
      await s.kill('SIGKILL');
      stats.kills++;
      const answers = await Promise.all(pending);
      if (answers.some(a => a === null)) stats.kills_flush_in_flight++;
      const { temps } = D.listDataset(store);
      if (temps.some(f => f.includes(`.tmp-${s.proc.pid}-`))) stats.kills_mid_write++;
      if (flushP) await flushP;
      const t1 = Date.now();
      server = await start(store, args, `crash ${label} gen ${gen + 1}`);
      gen++;
      stats.restart_ms.push(Date.now() - t1);
      const m = /replayed (\d+) rows/.exec(server.log());
      // A record partly published (some days' files committed, not all) is a kill between the commits of one flush.
      if ([...server.log().matchAll(/(\d+) rows were already published, (\d+) replayed/g)].some(x => Number(x[1]) > 0 && Number(x[2]) > 0)) stats.partial_redo_restarts++;
      stats.replayed_rows.push(m ? Number(m[1]) : 0);
      setReady(server);
    }
  }
  const workers = [...Array.from({ length: clients }, (_, c) => client(c)), flusher()];
  await killer();
  await sleep(300); // some traffic on the last generation too
  stop = true;
  await Promise.all(workers);

  const fl = await server.flush(D.DATASET);
  assert.equal(fl.status, 200, `final flush: ${fl.status} ${fl.text}`);
  assert.equal(await buffered(server), 0, 'buffered rows after the final flush');
  const st = await server.stop();
  assert.deepEqual([st.code, st.killed], [0, false], `SIGTERM after the run: exit ${JSON.stringify(st)}`);
  const again = await start(store, args, `crash ${label} final`);
  const left = await buffered(again);
  const st2 = await again.stop();
  assert.equal(left, 0, 'a restart after the final flush and stop brings no rows back');
  assert.equal(st2.code, 0);
  assertNoSanitizerReports(`crash harness (${label})`);

  const ms = Date.now() - t0;
  const rs = stats.restart_ms.slice().sort((a, b) => a - b);
  say(t, `crash harness ${label} seed=${seed}: ${stats.kills} SIGKILLs (${stats.kills_flush_in_flight} with a flush request in flight, ${stats.kills_mid_write} while a Parquet file was being written, ${stats.partial_redo_restarts} between the commits of one flush), `
    + `${stats.requests} requests (${stats.acked_requests} acked${idempotent ? `, ${stats.retries} retries, ${stats.replayed_answers} answered "Idempotent-Replayed"` : ''}, ${stats.unknown_requests} unanswered; non-200 answers: ${JSON.stringify(stats.non200)}), `
    + `${stats.flushes_ok} flushes answered 200 (${stats.flushes_failed} not), restart median ${rs[rs.length >> 1]} ms max ${rs[rs.length - 1]} ms, `
    + `rows replayed per restart max ${Math.max(...stats.replayed_rows)}; ${ms} ms before read-back`);
  const summary = await verifyStore(t, store, ledger, { label: `crash harness ${label} seed=${seed}` });
  if (idempotent) assert.deepEqual([summary.unknown, stats.unknown_requests], [0, 0], 'with Idempotency-Key retries every request ends acknowledged');
  assert.ok(stats.kills >= 20 || kills < 20, 'at least 20 kills');
  assert.ok(summary.acked > 0, 'some rows were acknowledged');
  return { stats, summary };
}

const SEED = D.seedFromEnv();
const KILLS = Number(process.env.URSA_CRASH_KILLS ?? 24);
const CLIENTS = Number(process.env.URSA_CRASH_CLIENTS ?? 4);

step(`crash harness: ${CLIENTS} clients, ${KILLS} SIGKILLs (some during flushes), --durability fsync: every acknowledged row exactly once (URSA_TEST_SEED=${SEED})`, async t => {
  say(t, `URSA_TEST_SEED=${SEED} URSA_BIN=${URSA_BIN}`);
  const { stats } = await crashHarness(t, { durability: 'fsync', kills: KILLS, clients: CLIENTS, seed: SEED });
  assert.ok(stats.kills_flush_in_flight >= 1, 'at least one kill landed while a flush was in flight');
});

// ====================================================================== 2: torn and corrupt WAL tails
/**
 * A store with published rows (phase A, flushed) and WAL-only rows (phase B, one record per request),
 * then SIGKILL. Returns {store, wal, segment, A: [[c,k0,n]], B: [...]} — ids by (client 0, k range).
 */
async function tornFixture(t) {
  const store = makeTempDir('ursa-torn-');
  const s = await start(store, [], 'torn fixture');
  await createDataset(s);
  const ledger = new D.Ledger(1);
  const send = async n => {
    const req = ledger.take(0, n, 0);
    const r = await s.postRecords(D.DATASET, D.body(0, req.first, n));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.accepted, n);
    ledger.ack(req);
    return req;
  };
  const A = [];
  for (const n of [7, 13, 5]) A.push(await send(n));
  const f = await s.flush(D.DATASET);
  assert.equal(f.status, 200, f.text);
  const B = [];
  for (const n of [11, 3, 17, 9, 1, 20, 6, 8]) B.push(await send(n));
  assert.equal(await buffered(s), B.reduce((a, r) => a + r.n, 0));
  await s.kill('SIGKILL');
  const wal = join(store, '_wal');
  const segs = D.walSegments(wal);
  assert.equal(segs.length, 1, `one WAL segment expected, found ${segs}`);
  const segment = join(wal, segs[0]);
  const { recs, end, size, padding } = D.walRecords(segment);
  assert.ok(end === size || padding, `the segment holds whole records (and zero padding) only before it is damaged: records end at ${end} of ${size}`);
  assert.equal(recs.length, A.length + B.length, 'one record per request');
  return { store, segment, segName: segs[0], recs, ledger, A, B };
}

/** Ledger of only the given requests (acked), for reading a store back. */
function ledgerOf(fx, reqs) {
  const l = new D.Ledger(1);
  l.take(0, fx.ledger.next[0], 0); // every id was sent ...
  l.status[0].fill(D.NEVER, 0, fx.ledger.next[0]);
  for (const r of reqs) l.status[0].fill(D.ACKED, r.first, r.first + r.n); // ... those expected are acked
  return l;
}
/** Exactly the ids of reqs are in the store, once each, and no other id. */
async function assertExactly(t, store, fx, reqs, label) {
  const l = ledgerOf(fx, reqs);
  const { files } = D.listDataset(store);
  const duck = await D.readBackDuckDB(store, files, l);
  const j = D.judge(duck, l, { showRequest: false });
  const extra = [];
  for (let k = 0; k < l.next[0]; k++) if (duck.counts[0][k] && l.status[0][k] !== D.ACKED) extra.push(k);
  assert.deepEqual([j.problems, duck.mismatched, extra.slice(0, 10)], [[], [], []], `${label}: store ${store}`);
  const want = reqs.reduce((a, r) => a + r.n, 0);
  assert.equal(duck.rows, want, `${label}: rows read`);
}

step('torn WAL tail: cut inside the last record (+ garbage) at several points; restart recovers every whole record, logs the cut, and keeps logging', async t => {
  const fx = await tornFixture(t);
  const last = fx.recs[fx.recs.length - 1];
  const bWhole = fx.B.slice(0, -1);
  const rndGarbage = n => { const b = Buffer.alloc(n); const r = D.prng(n * 7919); for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256); return b; };
  const cases = [
    { name: 'cut after 1 byte of the header', at: last.off + 1, garbage: Buffer.alloc(0) },
    { name: 'cut inside the header (magic and CRC kept)', at: last.off + 10, garbage: Buffer.alloc(0) },
    { name: 'cut after the header', at: last.off + D.WAL_HDR, garbage: rndGarbage(5) },
    { name: 'cut in the middle of the payload, random garbage appended', at: last.off + Math.floor(last.len / 2), garbage: rndGarbage(300) },
    { name: 'last byte missing, zeros appended (preallocated page)', at: last.off + last.len - 1, garbage: Buffer.alloc(4096) },
    { name: 'cut in the payload, a fake header "UWAL" with a huge length appended', at: last.off + 40, garbage: Buffer.concat([Buffer.from('UWAL'), Buffer.from([1, 2, 3, 4, 0xff, 0xff, 0xff, 0x7f]), rndGarbage(64)]) },
  ];
  const tail = { name: 'whole last record, garbage after it', at: last.off + last.len, garbage: rndGarbage(77), all: true };
  for (const cs of [...cases, tail]) {
    const store = makeTempDir('ursa-torn-case-');
    cpSync(fx.store, store, { recursive: true });
    const seg = join(store, '_wal', fx.segName);
    truncateSync(seg, cs.at);
    appendFileSync(seg, cs.garbage);
    const s = await start(store, [], `torn: ${cs.name}`);
    const want = cs.all ? fx.B : bWhole;
    const got = await buffered(s);
    const cut = s.log().split('\n').filter(l => /torn tail/.test(l) && l.includes(fx.segName));
    assert.equal(got, want.reduce((a, r) => a + r.n, 0), `${cs.name}: buffered rows after restart`);
    assert.equal(cut.length, 1, `${cs.name}: the server logs the cut, naming the segment; log:\n${s.log()}`);
    const cutAt = cs.all ? last.off + last.len : last.off;
    assert.match(cut[0], new RegExp(`offset ${cutAt}\\b`), `${cs.name}: the cut is at the end of the last whole record (${cutAt})`);
    // The log goes on from the cut: one more request, a crash, a restart: all of it is back.
    const more = fx.ledger.take(0, 4, 1); // fresh ids (past every fixture id)
    const r = await s.postRecords(D.DATASET, D.body(0, more.first, more.n));
    assert.equal(r.status, 200, r.text);
    await s.kill('SIGKILL');
    const s2 = await start(store, [], `torn: ${cs.name}, second restart`);
    assert.equal(await buffered(s2), want.reduce((a, q) => a + q.n, 0) + more.n, `${cs.name}: rows after a second crash`);
    assert.equal((await s2.flush(D.DATASET)).status, 200);
    await s2.stop();
    await assertExactly(t, store, fx, [...fx.A, ...want, more], cs.name);
    say(t, `torn tail, ${cs.name} (offset ${cs.at}, ${cs.garbage.length} garbage bytes): ${got} rows back, cut logged`);
  }
  assertNoSanitizerReports('torn tail');
});

step('corrupt WAL: a damaged record with a whole record after it (or damage in an earlier segment) refuses the start naming the file; moving the segment away lets it start', async t => {
  const fx = await tornFixture(t);
  const mid = fx.recs[Math.floor(fx.recs.length / 2)];
  for (const cs of [
    { name: 'a payload byte flipped in the middle record', at: mid.off + D.WAL_HDR + Math.floor((mid.len - D.WAL_HDR) / 2) },
    { name: 'a byte of the middle record\'s magic flipped', at: mid.off + 1 },
    { name: 'a byte of the middle record\'s length flipped', at: mid.off + 9 },
  ]) {
    const store = makeTempDir('ursa-corrupt-');
    cpSync(fx.store, store, { recursive: true });
    const seg = join(store, '_wal', fx.segName);
    const b = readFileSync(seg);
    b[cs.at] ^= 0x5a;
    writeFileSync(seg, b);
    let err = null;
    try { const s = await start(store, [], `corrupt: ${cs.name}`); await s.kill('SIGKILL'); } catch (e) { err = e; }
    assert.ok(err, `${cs.name}: the server must refuse to start`);
    assert.match(err.message, /exited before listening \(code [1-9]/, `${cs.name}: non-zero exit`);
    assert.ok(err.message.includes(fx.segName), `${cs.name}: the message names the segment ${fx.segName}:\n${err.message}`);
    assert.ok(readFileSync(seg).equals(b), `${cs.name}: the damaged segment is left as it was`);
    // The operator moves the segment away: the server starts, without the rows of that segment.
    renameSync(seg, join(store, `${fx.segName}.damaged`));
    const s = await start(store, [], `corrupt: ${cs.name}, segment moved away`);
    assert.equal(await buffered(s), 0, `${cs.name}: nothing replayed once the segment is gone`);
    await s.stop();
    await assertExactly(t, store, fx, fx.A, `${cs.name}: published rows stay`);
    say(t, `corrupt WAL, ${cs.name}: start refused (${refusal(err, fx.segName)}); starts once moved away`);
  }
  // Damage in an earlier segment: even a cut-looking end of a segment that is not the last one is refused.
  const store = makeTempDir('ursa-corrupt-earlier-');
  cpSync(fx.store, store, { recursive: true });
  const s = await start(store, [], 'corrupt earlier: second segment');
  const more = fx.ledger.take(0, 5, 1);
  assert.equal((await s.postRecords(D.DATASET, D.body(0, more.first, more.n))).status, 200);
  await s.kill('SIGKILL');
  const segs = D.walSegments(join(store, '_wal'));
  assert.ok(segs.length >= 2 && segs[0] === fx.segName, `a second segment after the restart: ${segs}`);
  const first = join(store, '_wal', fx.segName);
  truncateSync(first, fx.recs[fx.recs.length - 1].off + 10);
  let err = null;
  try { const s3 = await start(store, [], 'corrupt earlier'); await s3.kill('SIGKILL'); } catch (e) { err = e; }
  assert.ok(err && err.message.includes(fx.segName), `a torn end of an earlier segment refuses the start, naming it: ${err?.message}`);
  say(t, `corrupt WAL, earlier segment cut: start refused (${refusal(err, fx.segName)})`);
  assertNoSanitizerReports('corrupt WAL');
});

// After the WAL directory has been emptied by moving its only segment away (the documented way out of a
// damaged segment), LSNs must not start again at 1: new files would get the names of files already published
// (rename replaces them: published rows lost) and replay would leave out new records whose LSN an old file
// name covers (acknowledged rows lost). Found by this test; the node's LSN mark in the store prevents it.
step('after moving the only WAL segment away, new rows neither replace published files nor get skipped at replay', async t => {
  const fx = await tornFixture(t);
  const results = [];
  for (const how of ['crash', 'flush']) {
    const store = makeTempDir(`ursa-moved-away-${how}-`);
    cpSync(fx.store, store, { recursive: true });
    renameSync(join(store, '_wal', fx.segName), join(store, `${fx.segName}.moved`));
    const s = await start(store, [], `moved away (${how})`);
    const C = [];
    for (const n of [7, 13, 5]) { const q = fx.ledger.take(0, n, 1); assert.equal((await s.postRecords(D.DATASET, D.body(0, q.first, n))).status, 200); C.push(q); }
    let replayed = null;
    if (how === 'crash') { // acknowledged rows, a crash, a restart: the replay must bring them back
      await s.kill('SIGKILL');
      const s2 = await start(store, [], 'moved away, restart');
      replayed = await buffered(s2);
      assert.equal((await s2.flush(D.DATASET)).status, 200);
      await s2.stop();
    } else { // a flush of the new rows must not replace the files published before
      assert.equal((await s.flush(D.DATASET)).status, 200);
      await s.stop();
    }
    say(t, `moved away, then ${how}: ${replayed === null ? '' : `${replayed} of ${C.reduce((a, q) => a + q.n, 0)} acknowledged rows replayed; `}files ${D.listDataset(store).files.join(' ')}`);
    try { await assertExactly(t, store, fx, [...fx.A, ...C], `moved away, then ${how}: rows published before + rows acknowledged after`); results.push(null); }
    catch (err) { results.push(err.message.split('\n').slice(0, 8).join('\n')); }
  }
  assert.deepEqual(results, [null, null]);
});

// ====================================================================== 2b: requests logged in parts
/** Records of every WAL segment of a store: {parts, aborts, others}. */
function walKinds(store) {
  const wal = join(store, '_wal');
  const k = { parts: 0, aborts: 0, others: 0 };
  for (const seg of D.walSegments(wal)) {
    const b = readFileSync(join(wal, seg));
    for (const r of D.walRecords(join(wal, seg)).recs) {
      const p = r.off + D.WAL_HDR;
      if (b.readUInt16LE(p) === 0xffff) { if (b[p + 2] === 1) k.parts++; else k.aborts++; } else k.others++;
    }
  }
  return k;
}

/** POSTs NDJSON in two writes, calling between() after the first half has been sent (and parsed). */
function postInTwoHalves(server, body, between) {
  return new Promise((resolve, reject) => {
    const half = Math.floor(body.length / 2), cut = body.indexOf('\n', half) + 1;
    const req = http.request(`${server.url}/v1/datasets/${D.DATASET}/records`, { method: 'POST', agent: false, headers: { 'content-type': 'application/x-ndjson', 'transfer-encoding': 'chunked' } }, res => {
      let text = '';
      res.on('data', d => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.write(body.slice(0, cut), async () => {
      try { await between(); req.end(body.slice(cut)); } catch (err) { req.destroy(); reject(err); }
    });
  });
}

step('big requests logged in parts while they are parsed: replay restores exactly the answered ones; a refused request\'s parts store nothing; releases keep the parts of buffered rows and of requests still arriving', async t => {
  const store = makeTempDir('ursa-parts-');
  const args = ['--wal-part-bytes', '4096', '--wal-segment-bytes', '65536'];
  let s = await start(store, args, 'parts');
  await createDataset(s);
  const ledger = new D.Ledger(1);
  const ndjson = { 'content-type': 'application/x-ndjson' };
  const send = async (n, gen) => {
    const req = ledger.take(0, n, gen);
    const r = await s.postRecords(D.DATASET, D.body(0, req.first, n));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.accepted, n);
    ledger.ack(req);
    return req;
  };
  const refused = async (n, gen) => { // all_or_nothing, one broken record at the end: parts logged, then refused
    const req = ledger.take(0, n, gen);
    const r = await s.request('POST', `/v1/datasets/${D.DATASET}/records?mode=all_or_nothing`, { body: D.body(0, req.first, n) + '{"ts": broken\n', headers: ndjson });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.accepted, 0);
    return req;
  };
  const R1 = await send(20000, 0);
  await refused(20000, 0);
  const R3 = await send(3000, 0);
  const kinds0 = walKinds(store);
  assert.ok(kinds0.parts >= 10, `big requests were logged in parts: ${JSON.stringify(kinds0)}`);
  assert.ok(kinds0.aborts >= 1, `the refused request's parts were aborted: ${JSON.stringify(kinds0)}`);
  // Crash: exactly the answered rows come back, none of the refused request.
  await s.kill('SIGKILL');
  s = await start(store, args, 'parts, restart 1');
  assert.equal(await buffered(s), R1.n + R3.n, 'rows buffered after replay 1');
  assert.equal((await s.flush(D.DATASET)).status, 200);

  // A flush of another dataset releases log segments while R4 (logged in parts over many segments) is
  // buffered; a flush of this one releases them while R5 is half received: neither may lose its parts.
  const OTHER = 'other_events';
  assert.ok([200, 201].includes((await s.put(`/v1/datasets/${OTHER}`, D.SCHEMA)).status));
  const flushOther = async k => {
    const r = await s.request('POST', `/v1/datasets/${OTHER}/records`, { body: D.body(1, k * 1000, 1000), headers: ndjson });
    assert.equal(r.status, 200, r.text);
    const f = await s.flush(OTHER);
    assert.equal(f.status, 200, f.text);
  };
  const R4 = await send(20000, 1);
  await flushOther(0);
  await s.kill('SIGKILL');
  s = await start(store, args, 'parts, restart 2');
  assert.equal(await buffered(s), R4.n, 'rows buffered after replay 2 (a flush of another dataset in between)');
  const segs0 = D.walSegments(join(store, '_wal'));
  const R5 = ledger.take(0, 20000, 1);
  const r5 = await postInTwoHalves(s, D.body(0, R5.first, R5.n), async () => {
    await sleep(300); // the first half parsed and logged in parts
    const f = await s.flush(D.DATASET); // publishes R4: the log is released up to R5's first part
    assert.equal(f.status, 200, f.text);
  });
  assert.equal(r5.status, 200, r5.text);
  assert.equal(r5.json.accepted, R5.n);
  ledger.ack(R5);
  const segs1 = D.walSegments(join(store, '_wal'));
  assert.ok(segs0.some(x => !segs1.includes(x)), `the flush deleted log segments (${segs0.length} before, ${segs1.length} after)`);
  await s.kill('SIGKILL');
  s = await start(store, args, 'parts, restart 3');
  assert.equal(await buffered(s), R5.n, 'rows buffered after replay 3 (a flush while the request was half received)');
  assert.equal((await s.flush(D.DATASET)).status, 200);
  await s.stop();
  say(t, `parts: ${JSON.stringify(kinds0)} in the log before the first crash; segments ${segs0.length} → ${segs1.length} over the flush during R5: ${segs0.join(",")} → ${segs1.join(",")}`);
  await assertExactly(t, store, { ledger }, [R1, R3, R4, R5], 'parts: every answered row once, nothing of the refused request');
});

// ====================================================================== 3: SIGTERM under load
step(`SIGTERM under load: exit 0 within --shutdown-timeout, every acknowledged row published, nothing left in the WAL (URSA_TEST_SEED=${SEED})`, async t => {
  const store = makeTempDir('ursa-sigterm-');
  const TIMEOUT_S = 3;
  const args = ['--shutdown-timeout', String(TIMEOUT_S)];
  const s = await start(store, args, 'sigterm');
  await createDataset(s);
  const clients = CLIENTS;
  const ledger = new D.Ledger(clients + 1);
  const rnd = D.prng(SEED ^ 0x5151);
  let stop = false, requests = 0, refused = 0;
  async function client(c) {
    while (!stop) {
      const n = 1 + Math.floor(rnd() * 200);
      const req = ledger.take(c, n, 0);
      requests++;
      try {
        const r = await s.postRecords(D.DATASET, D.body(c, req.first, n));
        if (r.status === 200 && r.json?.accepted === n) ledger.ack(req); else req.error = `HTTP ${r.status}`;
      } catch (err) { req.error = String(err?.cause?.code ?? err?.message); refused++; await sleep(20); }
    }
  }
  // A slow request: its body arrives in pieces over ~1 s, SIGTERM lands after the first piece.
  const slowC = clients, slowN = 50;
  const slowReq = ledger.take(slowC, slowN, 0);
  const slowBody = D.body(slowC, slowReq.first, slowN);
  let firstPieceSent;
  const firstPiece = new Promise(r => { firstPieceSent = r; });
  const pieces = [slowBody.slice(0, 100), slowBody.slice(100, slowBody.length >> 1), slowBody.slice(slowBody.length >> 1)];
  let idx = 0;
  const stream = new ReadableStream({
    async pull(ctl) {
      if (idx > 0) await sleep(400);
      if (idx === pieces.length) { ctl.close(); return; }
      ctl.enqueue(new TextEncoder().encode(pieces[idx++]));
      if (idx === 1) firstPieceSent();
    },
  });
  const workers = Array.from({ length: clients }, (_, c) => client(c));
  await sleep(1500);
  const f = await s.flush(D.DATASET); // some rows published before, some only in the WAL
  assert.equal(f.status, 200);
  await sleep(500);
  const slow = fetch(`${s.url}/v1/datasets/${D.DATASET}/records`, { method: 'POST', body: stream, duplex: 'half', headers: { 'content-type': 'application/x-ndjson' } })
    .then(async r => ({ status: r.status, json: await r.json().catch(() => null) }), err => ({ error: String(err?.cause?.code ?? err?.message) }));
  await firstPiece;
  await sleep(50);
  const bufferedAtTerm = await buffered(s);
  const st = await s.stop();
  stop = true;
  await Promise.all(workers);
  const slowRes = await slow;
  assert.deepEqual([st.code, st.signal, st.killed], [0, null, false], `exit on SIGTERM: ${JSON.stringify(st)}\n${s.log().slice(-3000)}`);
  assert.ok(st.ms < TIMEOUT_S * 1000 + 5000, `exit within the deadline (+5 s for the flush): ${st.ms} ms`);
  if (slowRes.status === 200) ledger.ack(slowReq);
  const again = await start(store, args, 'sigterm: restart');
  const left = await buffered(again);
  await again.stop();
  assert.equal(left, 0, 'after a clean stop the WAL holds no unpublished rows');
  const c = ledger.counts();
  say(t, `SIGTERM under load: ${requests} requests, ${c.acked} rows acked, ${c.unknown} unanswered (${refused} refused after SIGTERM), ${bufferedAtTerm} rows buffered at SIGTERM, exit ${st.code} in ${st.ms} ms; slow in-flight request: ${JSON.stringify(slowRes)}`);
  await verifyStore(t, store, ledger, { label: 'SIGTERM under load' });
  assertNoSanitizerReports('SIGTERM under load');
  assert.equal(slowRes.status, 200, `a request whose body was still arriving at SIGTERM is finished (200): ${JSON.stringify(slowRes)}`);
});

// ====================================================================== 4: --durability none
step(`crash harness with --durability none: a process kill loses nothing acknowledged (URSA_TEST_SEED=${SEED + 1})`, async t => {
  await crashHarness(t, { durability: 'none', kills: KILLS, clients: CLIENTS, seed: (SEED + 1) >>> 0 });
});

// ====================================================================== Idempotency-Key and flush policies
// Needs `--flush-max-rows` and the Idempotency-Key header (skipped with a binary that does not have them).
const HELP = (() => { try { return execFileSync(URSA_BIN, ['serve', '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }); } catch (e) { return String(e.stdout ?? '') + String(e.stderr ?? ''); } })();
const HAS_POLICIES = HELP.includes('--flush-max-rows');
const HAS_MEMORY_LIMIT = HELP.includes('--memory-limit');

step(`crash harness with Idempotency-Key retries and --flush-max-rows: every request ends acknowledged, every row exactly once (URSA_TEST_SEED=${(SEED + 2) >>> 0})`,
  { skip: !HAS_POLICIES && `${URSA_BIN} has no --flush-max-rows` }, async t => {
    await crashHarness(t, { durability: 'fsync', kills: KILLS, clients: CLIENTS, seed: (SEED + 2) >>> 0, idempotent: true, extraArgs: ['--flush-max-rows', '20000'] });
  });

// A key outlives the release of its record: answered in one life, its rows flushed and its segment released
// in the next (a start opens a new segment, so the old one can go), then a retry in a third life finds it.
// Without the keys carried over in the log, the third life stores the rows again.
step('Idempotency-Key: a retry after its record was flushed, released and the node restarted gets the first answer', async () => {
  const store = makeTempDir('ursa-idem-carry-');
  const args = ['--flush-max-age', '3600'];
  let s = await start(store, args, 'idem carry 1');
  await createDataset(s);
  const body = D.body(0, 0, 50);
  const headers = { 'content-type': 'application/x-ndjson', 'idempotency-key': 'carry-1' };
  let r = await s.request('POST', `/v1/datasets/${D.DATASET}/records`, { body, headers });
  assert.equal(r.status, 200, r.text);
  const first = r.text;
  await s.kill('SIGKILL');
  s = await start(store, args, 'idem carry 2');
  const segments = () => readdirSync(join(store, '_wal')).filter(f => f.endsWith('.wal')).sort();
  const before = segments();
  r = await s.flush(D.DATASET);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.rows, 50, r.text);
  assert.ok(!segments().includes(before[0]), `the first life's segment is released: ${before} -> ${segments()}`);
  await s.kill('SIGKILL');
  s = await start(store, args, 'idem carry 3');
  r = await s.request('POST', `/v1/datasets/${D.DATASET}/records`, { body, headers });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('idempotent-replayed'), 'true', 'the retry is recognized');
  assert.equal(r.text, first, 'the first answer');
  assert.equal(await buffered(s), 0, 'nothing stored again');
  await s.stop();
  assertNoSanitizerReports('idempotency carry');
});

step(`crash harness with requests logged in parts, small log segments and --flush-max-rows: every acknowledged row exactly once (URSA_TEST_SEED=${(SEED + 3) >>> 0})`,
  { skip: !HELP.includes('--wal-part-bytes') && `${URSA_BIN} has no --wal-part-bytes` }, async t => {
    await crashHarness(t, { durability: 'fsync', kills: KILLS, clients: CLIENTS, seed: (SEED + 3) >>> 0, extraArgs: ['--wal-part-bytes', '2048', '--wal-segment-bytes', '65536', '--flush-max-rows', '20000'] });
  });

// ====================================================================== backpressure
step(`backpressure: past --memory-limit ingest answers 429 with Retry-After and stores nothing of it; a flush lets ingest go on (URSA_TEST_SEED=${SEED})`,
  { skip: !HAS_MEMORY_LIMIT && `${URSA_BIN} has no --memory-limit` }, async t => {
    const store = makeTempDir('ursa-backpressure-');
    const LIMIT = 16 << 20;
    const s = await start(store, ['--memory-limit', String(LIMIT), '--flush-max-age', '3600', '--flush-max-bytes', String(1 << 30)], 'backpressure');
    await createDataset(s);
    const ledger = new D.Ledger(CLIENTS);
    const rnd = D.prng(SEED ^ 0xb00);
    const refused = [], bad = [];
    let acked = 0;
    const t0 = Date.now();
    async function client(c) {
      while (Date.now() - t0 < 20_000 && refused.length < 20) {
        const n = 100 + Math.floor(rnd() * 100);
        const req = ledger.take(c, n, 0);
        const r = await s.postRecords(D.DATASET, D.body(c, req.first, n));
        req.http = r.status;
        if (r.status === 200 && r.json?.accepted === n) { ledger.ack(req); acked += n; }
        else if (r.status === 429) refused.push({ req, retryAfter: r.headers.get('retry-after'), text: r.text });
        else bad.push(`HTTP ${r.status} ${r.text.slice(0, 200)}`);
      }
    }
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
    const bufferedAtLimit = await buffered(s);
    assert.deepEqual(bad, [], 'only 200 and 429 answers');
    assert.ok(refused.length > 0, `ingest answered 429 past the memory limit (${acked} rows acked in ${Date.now() - t0} ms, ${bufferedAtLimit} buffered)`);
    for (const x of refused) assert.match(String(x.retryAfter), /^[1-9]\d*$/, `429 with Retry-After in seconds: ${JSON.stringify(x.retryAfter)} ${x.text}`);
    const f = await s.flush(D.DATASET);
    assert.equal(f.status, 200, f.text);
    const after = ledger.take(0, 10, 0);
    const r = await s.postRecords(D.DATASET, D.body(0, after.first, after.n));
    assert.equal(r.status, 200, `after the flush ingest goes on: ${r.status} ${r.text}`);
    ledger.ack(after);
    const st = await s.stop();
    assert.equal(st.code, 0);
    say(t, `backpressure: --memory-limit ${LIMIT}: ${acked} rows acked, ${bufferedAtLimit} rows buffered at the limit, ${refused.length} answers 429 (Retry-After ${[...new Set(refused.map(x => x.retryAfter))].join(',')})`);
    // Nothing of a refused request is stored: mark their ids as never sent.
    for (const { req } of refused) ledger.status[req.c].fill(D.NEVER, req.first, req.first + req.n);
    await verifyStore(t, store, ledger, { label: 'backpressure' });
    assertNoSanitizerReports('backpressure');
  });
