// compact.test.mjs — `ursa compact` on a live table, as a user runs it (a CronJob next to the nodes):
//   - a day flushed in four files (random keys, so each file is a sorted run of its own) becomes one file, while
//     the node keeps running; DuckDB finds it sorted by the dataset's key and holding exactly the rows of the
//     four (tests/tools/compact_check.mjs); icebird reads every row once through the table; another day with
//     one file is left alone;
//   - late rows flushed for the compacted day are merged with the compacted file by the next run;
//   - killed after writing its outputs and before its commit (URSA_TEST_KILL_AT=compact-before-commit), then
//     run again: the same outputs, committed once; killed after the commit and before the hint: nothing to do
//     and nothing twice;
//   - two runs at once on the same day: both succeed, one commit, every row once.
//
//   node --test tests/integration/compact.test.mjs      (URSA_BIN, URSA_TEST_TMP as for every test)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { icebergRead } from 'icebird';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports, URSA_BIN, REPO_ROOT } from './helpers.mjs';
import { useLocalFetch } from '../tools/iceberg_local.mjs';
import { schema, rowMaker, ndjson } from './compact-data.mjs';
import { duckdbQuery, readWith, close } from '../tools/pqread.mjs';

useLocalFetch();
let failed = false;
const logs = [];
after(async () => {
  await close();
  const reports = logs.flatMap(l => sanitizerReports(l()));
  assert.deepEqual(reports, [], 'sanitizer reports');
  if (!failed) removeTempDirs();
});

const made = rowMaker(7, 'abcdefgh');
const rnd = made.rnd;
/** n rows of day `day` (1-based in December 2026), ids from `from`, keys and times at random. */
const rows = (day, from, n) => made.rows(`2026-12-0${day}`, from, n);

function compact(store, env = {}) {
  return new Promise(res => execFile(URSA_BIN, ['compact', '--store', store], { env: { ...process.env, ...env }, encoding: 'utf8' },
    (err, stdout, stderr) => res({ code: err ? err.code ?? err.signal : 0, signal: err?.signal, stdout, stderr })));
}
const check = (outs, ins) => new Promise(res => execFile('node', [join(REPO_ROOT, 'tests/tools/compact_check.mjs'),
  '--out', outs.join(','), '--in', ins.join(','), '--key', 'k,ts', '--tie', 'id'], { encoding: 'utf8' },
  (err, stdout, stderr) => res({ code: err ? err.code : 0, out: stdout + stderr })));

async function dayFiles(server, day) {
  const r = await server.get('/v1/datasets/ev/files');
  assert.equal(r.status, 200, r.text);
  return r.json.files.filter(f => f.date === `2026-12-0${day}`).map(f => f.path);
}
async function readIds(store) {
  return (await icebergRead({ tableUrl: `file://${store}/ev` })).map(x => Number(x.id)).sort((a, b) => a - b);
}
const range = (a, n) => Array.from({ length: n }, (_, i) => a + i);

function step(name, fn) {
  test(name, { timeout: 240_000 }, async () => { try { await fn(); } catch (e) { failed = true; throw e; } });
}

step('ursa compact: a day of four files becomes one sorted file, while the node runs; late rows merged next time', async () => {
  const store = makeTempDir('ursa-compact-');
  const server = await startServer({ store, args: ['--flush-max-age', '3600'] });
  logs.push(server.log);
  try {
    assert.equal((await server.put('/v1/datasets/ev', schema)).status, 201);
    for (let f = 0; f < 4; f++) {
      assert.equal((await server.postRecords('ev', ndjson(rows(1, f * 500, 500)))).json?.accepted, 500);
      assert.equal((await server.flush('ev')).status, 200);
    }
    assert.equal((await server.postRecords('ev', ndjson(rows(2, 5000, 100)))).json?.accepted, 100);
    assert.equal((await server.flush('ev')).status, 200);
    const inputs = await dayFiles(server, 1);
    assert.equal(inputs.length, 4);
    const r = await compact(store);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ev 2026-12-01: 4 files \(\d+ bytes\) -> 1 \(\d+ bytes\), 2000 rows/m);
    assert.doesNotMatch(r.stdout, /2026-12-02/, 'a day of one file is left alone');
    const out = await dayFiles(server, 1);
    assert.equal(out.length, 1);
    assert.match(out[0], /^ev\/date=2026-12-01\/c-[0-9a-f]{16}-0\.parquet$/);
    const c = await check(out.map(p => join(store, p)), inputs.map(p => join(store, p)));
    assert.equal(c.code, 0, `DuckDB: the output is the inputs sorted by (k, ts), stable: ${c.out}`);
    assert.deepEqual(await readIds(store), [...range(0, 2000), ...range(5000, 100)], 'every row once through the table');
    // Late rows for the compacted day: the next run merges them with the compacted file.
    assert.equal((await server.postRecords('ev', ndjson(rows(1, 9000, 50)))).json?.accepted, 50);
    assert.equal((await server.flush('ev')).status, 200);
    const late = await dayFiles(server, 1);
    assert.equal(late.length, 2);
    const r2 = await compact(store);
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stdout, /^ev 2026-12-01: 2 files .* -> 1 .*, 2050 rows/m);
    const out2 = await dayFiles(server, 1);
    const c2 = await check(out2.map(p => join(store, p)), inputs.concat(late.filter(p => !p.includes('/c-'))).map(p => join(store, p)));
    assert.equal(c2.code, 0, c2.out);
    assert.deepEqual(await readIds(store), [...range(0, 2000), ...range(5000, 100), ...range(9000, 50)]);
  } finally {
    await server.stop();
  }
});

step('ursa compact killed before its commit, and after it: run again, every row once', async () => {
  const store = makeTempDir('ursa-compact-crash-');
  const server = await startServer({ store, args: ['--flush-max-age', '3600'] });
  logs.push(server.log);
  try {
    assert.equal((await server.put('/v1/datasets/ev', schema)).status, 201);
    for (let f = 0; f < 3; f++) {
      assert.equal((await server.postRecords('ev', ndjson(rows(1, f * 100, 100)))).json?.accepted, 100);
      assert.equal((await server.flush('ev')).status, 200);
    }
    let r = await compact(store, { URSA_TEST_KILL_AT: 'compact-before-commit' });
    assert.equal(r.signal, 'SIGKILL', `killed: ${JSON.stringify(r)}`);
    assert.equal((await dayFiles(server, 1)).length, 3, 'the table is as it was');
    r = await compact(store, { URSA_TEST_KILL_AT: 'before-hint' }); // the same outputs, committed, then killed
    assert.equal(r.signal, 'SIGKILL', `killed: ${JSON.stringify(r)}`);
    assert.equal((await dayFiles(server, 1)).length, 1, 'committed before the kill');
    r = await compact(store);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /->/, 'nothing left to do');
    assert.deepEqual(await readIds(store), range(0, 300), 'every row once through the table');
  } finally {
    await server.stop();
  }
});

step('two ursa compact at once on the same day: one commit, every row once', async () => {
  const store = makeTempDir('ursa-compact-race-');
  const server = await startServer({ store, args: ['--flush-max-age', '3600'] });
  logs.push(server.log);
  try {
    assert.equal((await server.put('/v1/datasets/ev', schema)).status, 201);
    for (let f = 0; f < 5; f++) {
      assert.equal((await server.postRecords('ev', ndjson(rows(1, f * 200, 200)))).json?.accepted, 200);
      assert.equal((await server.flush('ev')).status, 200);
    }
    const [a, b] = await Promise.all([compact(store), compact(store)]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.equal((await dayFiles(server, 1)).length, 1);
    const snaps = (await server.get('/v1/datasets/ev/snapshots')).json.snapshots;
    assert.equal(snaps.filter(s => s.summary.operation === 'replace').length, 1, 'one replace commit');
    assert.deepEqual(await readIds(store), range(0, 1000), 'every row once through the table');
  } finally {
    await server.stop();
  }
});

/** The node's counters, by name (with labels). */
async function metrics(server) {
  const m = {};
  for (const line of (await server.get('/metrics')).text.split('\n')) {
    const x = /^([a-z_]+(?:\{[^}]*\})?) ([\d.]+)$/.exec(line);
    if (x) m[x[1]] = Number(x[2]);
  }
  return m;
}

step('POST /v1/datasets/ev/compact: a day on request, then every day not compacted; errors as JSON', async () => {
  const store = makeTempDir('ursa-compact-api-');
  const server = await startServer({ store, args: ['--flush-max-age', '3600'] });
  logs.push(server.log);
  try {
    assert.equal((await server.put('/v1/datasets/ev', schema)).status, 201);
    for (let f = 0; f < 3; f++) {
      assert.equal((await server.postRecords('ev', ndjson([...rows(1, f * 300, 300), ...rows(2, 10000 + f * 10, 10)]))).json?.accepted, 310);
      assert.equal((await server.flush('ev')).status, 200);
    }
    const inputs = await dayFiles(server, 1);
    let r = await server.request('POST', '/v1/datasets/ev/compact?date=2026-12-01');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.dataset, 'ev');
    assert.equal(r.json.days.length, 1);
    const d = r.json.days[0];
    assert.deepEqual([d.date, d.result, d.files_before, d.files_in, d.files_out, d.rows], ['2026-12-01', 'compacted', 3, 3, 1, 900], r.text);
    assert.ok(d.bytes_in > 0 && d.bytes_out > 0 && d.seconds >= 0, r.text);
    const out = await dayFiles(server, 1);
    assert.equal(out.length, 1);
    const c = await check(out.map(p => join(store, p)), inputs.map(p => join(store, p)));
    assert.equal(c.code, 0, c.out);
    assert.equal((await dayFiles(server, 2)).length, 3, 'the other day is left alone');
    // Asked again: nothing to do.
    r = await server.request('POST', '/v1/datasets/ev/compact?date=2026-12-01');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.days[0].result, 'nothing to do');
    // Without a date: every day not compacted yet (the 2nd), not the compacted one.
    r = await server.request('POST', '/v1/datasets/ev/compact');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.days.map(x => [x.date, x.result, x.files_in]), [['2026-12-02', 'compacted', 3]], r.text);
    assert.deepEqual(await readIds(store), [...range(0, 900), ...range(10000, 30)], 'every row once through the table');
    // ... and through the live file list, read by DuckDB and by Polars.
    const live = (await server.get('/v1/datasets/ev/files')).json.files.map(f => join(store, f.path));
    assert.equal(live.length, 2);
    const want = [...range(0, 900), ...range(10000, 30)];
    const duck = await duckdbQuery(`SELECT id FROM read_parquet([${live.map(p => `'${p}'`).join(',')}]) ORDER BY id`);
    assert.deepEqual(duck.map(x => Number(x.id)), want, 'DuckDB on the live files');
    const pol = [];
    for (const p of live) pol.push(...(await readWith('polars', p)).rows.map(r => Number(r.id)));
    assert.deepEqual(pol.sort((a, b) => a - b), want, 'Polars on the live files');
    const m = await metrics(server);
    assert.equal(m['ursa_compactions_total{result="ok"}'], 2, JSON.stringify(m));
    assert.equal(m['ursa_compaction_files_total{side="in"}'], 6);
    assert.equal(m['ursa_compaction_files_total{side="out"}'], 2);
    assert.equal(m['ursa_compaction_rows_total'], 930);
    assert.ok(m['ursa_compaction_bytes_total{side="in"}'] > 0 && m['ursa_compaction_bytes_total{side="out"}'] > 0);
    assert.match(server.log(), /compacted ev, 2026-12-01: 3 of its 3 files \(\d+ bytes\) into 1 \(\d+ bytes\), 900 rows/);
    // Bad requests: a clear 4xx with a JSON body, and the node lives on.
    r = await server.request('POST', '/v1/datasets/ev/compact?date=2026-13-01');
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error, /date must be a day, YYYY-MM-DD/);
    r = await server.request('POST', '/v1/datasets/nope/compact');
    assert.equal(r.status, 404, r.text);
    assert.ok(r.json.error, r.text);
    r = await server.request('GET', '/v1/datasets/ev/compact');
    assert.equal(r.status, 405, r.text);
    assert.equal((await server.get('/healthz')).status, 200);
  } finally {
    await server.stop();
  }
});

step('serve compacts by itself: a closed day once, an open day past --compact-files (its flushes\' files first), late rows next pass', async () => {
  const store = makeTempDir('ursa-compact-policy-');
  const server = await startServer({
    store, env: { URSA_COMPACT: '1' },
    args: ['--flush-max-age', '3600', '--compact-every', '300ms', '--compact-files', '4'],
  });
  logs.push(server.log);
  const today = new Date().toISOString().slice(0, 10);
  let id = 0;
  const todays = n => Array.from({ length: n }, () => ({ ts: `${today}T${String(rnd(24)).padStart(2, '0')}:00:00Z`, k: 'abc'[rnd(3)], id: id++ }));
  const files = async date => (await server.get('/v1/datasets/ev/files')).json.files.filter(f => f.date === date).map(f => f.path);
  /** Waits until the day's files satisfy ok (a pass of the policy), or fails after 30 s. */
  const until = async (date, ok, what) => {
    let f;
    for (let k = 0; k < 150; k++) {
      f = await files(date);
      if (ok(f)) return f;
      await new Promise(res => setTimeout(res, 200));
    }
    assert.fail(`${what}: ${JSON.stringify(f)}\n${server.log().slice(-3000)}`);
  };
  const flushToday = async n => {
    for (let i = 0; i < n; i++) {
      assert.equal((await server.postRecords('ev', ndjson(todays(50)))).json?.accepted, 50);
      assert.equal((await server.flush('ev')).status, 200);
    }
  };
  const outputs = f => new Set(f.filter(p => /\/c-/.test(p)).map(p => p.replace(/-\d+\.parquet$/, ''))).size;
  try {
    assert.equal((await server.put('/v1/datasets/ev', schema)).status, 201);
    // A closed day of two files: merged whole.
    for (let f = 0; f < 2; f++) {
      assert.equal((await server.postRecords('ev', ndjson(rows(1, 100000 + f * 100, 100)))).json?.accepted, 100);
      assert.equal((await server.flush('ev')).status, 200);
    }
    await until('2026-12-01', f => f.length === 1 && /\/c-/.test(f[0]), 'the closed day compacted');
    // Today with four files: open, at the limit, left alone for a few passes. (Each step below adds files
    // only up to the one that passes the limit, so what the policy merges does not depend on its timing.)
    await flushToday(4);
    await new Promise(res => setTimeout(res, 1500));
    assert.equal((await files(today)).length, 4, 'an open day of --compact-files files is left alone');
    // A fifth: the five flushed files become one.
    await flushToday(1);
    let f = await until(today, f => f.length === 1, 'the open day past the limit compacted');
    // Four more (the day passes the limit only at the 4th, so the policy acts once): the flushes' files are
    // merged among themselves, the earlier output left as it is.
    await flushToday(4);
    f = await until(today, f => f.length === 2, 'the flushes\' files merged apart from the earlier output');
    assert.equal(outputs(f), 2, JSON.stringify(f));
    // Three more (5 files, 2 earlier outputs = half the limit): everything is merged into one.
    await flushToday(3);
    f = await until(today, f => f.length === 1, 'the whole open day merged');
    // Late rows for the closed day: merged with its output by a later pass.
    assert.equal((await server.postRecords('ev', ndjson(rows(1, 200000, 30)))).json?.accepted, 30);
    assert.equal((await server.flush('ev')).status, 200);
    await until('2026-12-01', f => f.length === 1 && /\/c-/.test(f[0]), 'the late rows merged in');
    const want = [...range(0, id), ...range(100000, 100), ...range(100100, 100), ...range(200000, 30)].sort((a, b) => a - b);
    assert.deepEqual(await readIds(store), want, 'every row once through the table');
    const m = await metrics(server);
    assert.equal(m['ursa_compactions_total{result="ok"}'], 5, JSON.stringify(m));
    assert.equal(m['ursa_compactions_total{result="error"}'], 0);
  } finally {
    await server.stop();
  }
});
