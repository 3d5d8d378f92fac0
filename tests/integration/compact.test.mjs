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

useLocalFetch();
let failed = false;
const logs = [];
after(() => {
  const reports = logs.flatMap(l => sanitizerReports(l()));
  assert.deepEqual(reports, [], 'sanitizer reports');
  if (!failed) removeTempDirs();
});

const schema = {
  columns: [
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'k', type: 'string' },
    { name: 'id', type: 'int64', nullable: false },
  ],
  time_column: 'ts',
  sort_by: ['k', 'ts'],
};
let seed = 7;
const rnd = n => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
/** n rows of day `day` (1-based in December 2026), ids from `from`, keys and times at random. */
const rows = (day, from, n) => Array.from({ length: n }, (_, i) => ({
  ts: `2026-12-0${day}T${String(rnd(24)).padStart(2, '0')}:${String(rnd(60)).padStart(2, '0')}:00Z`,
  k: 'abcdefgh'[rnd(8)], id: from + i,
}));
const ndjson = rs => rs.map(x => JSON.stringify(x)).join('\n') + '\n';

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
