// compact_loop.test.mjs — compaction under change (issue 14, item 5): two nodes compact the same day at once,
// round after round, while a third ingests into it, all three on one store; one of the compacting nodes is
// killed (kill -9, URSA_TEST_KILL_AT) at a different step each round:
//   compact-before-publish   during the merge (its outputs written, not published),
//   compact-before-commit    after its outputs are published, before its replace commit,
//   before-hint              right after a commit (its compaction's, or its upkeep's expiry),
//   upkeep-between-deletes   during upkeep's deletion of replaced inputs (a short --retention);
// the killed node is started again. After every round the table (read by icebird) holds exactly the rows
// acknowledged and flushed so far, each once. At the end, past the retention: the day is one file, and the
// Parquet files on disk under the day are exactly the table's, so a glob reader (DuckDB) counts every row
// once too -- no input left behind by a kill.
//
//   node --test tests/integration/compact_loop.test.mjs      (URSA_BIN, URSA_TEST_TMP as for every test)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { icebergRead } from 'icebird';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports } from './helpers.mjs';
import { useLocalFetch } from '../tools/iceberg_local.mjs';
import { duckdbQuery, close } from '../tools/pqread.mjs';
import { schema, rowMaker, ndjson } from './compact-data.mjs';

useLocalFetch();
let failed = false;
const logs = [];
after(async () => {
  await close();
  const reports = logs.flatMap(l => sanitizerReports(l()));
  assert.deepEqual(reports, [], 'sanitizer reports');
  if (!failed) removeTempDirs();
});

const DAY = '2026-12-01';
const made = rowMaker(11, 'abcdef');
const rows = (from, n) => made.rows(DAY, from, n);
const sleep = ms => new Promise(res => setTimeout(res, ms));
const ROUNDS = 12;
// Who is killed where, round by round (the env of the node's process for that round). In the rounds marked
// alone, the node to be killed compacts first, alone (so that it reaches the step), then the third node
// flushes once more and the other merges a larger set: at compact-before-commit, b's outputs (another
// name) are never committed, and compaction's cleanup must delete them. Only b runs upkeep within the test (a 2 s retention; the others'
// is an hour), so that its kill among upkeep's deletes happens.
const KILLS = [
  null,
  { node: 'a', at: 'compact-before-publish', alone: true },
  { node: 'b', at: 'compact-before-commit', alone: true },
  { node: 'a', at: 'before-hint', alone: true },
  { node: 'b', at: 'upkeep-between-deletes', wait: true },
];

test('two nodes compact one day at once in a loop while a third ingests, one killed at a step each round: every row once', { timeout: 600_000 }, async () => {
  const nodes = {};
  try {
    const store = makeTempDir('ursa-compact-loop-');
    const args = node => ['--flush-max-age', '3600', '--retention', node === 'b' ? '2s' : '1h', '--wal-dir', join(store, `_wal-${node}`)];
    const start = async (node, env = {}) => {
      const s = await startServer({ store, node, args: args(node), env });
      logs.push(s.log);
      nodes[node] = { server: s, env: JSON.stringify(env) };
      return s;
    };
    const alive = node => nodes[node].server.proc.exitCode === null && nodes[node].server.proc.signalCode === null;
    let ingest = await start('c');
    assert.equal((await ingest.put('/v1/datasets/ev', schema)).status, 201);
    await start('a'), await start('b');
    const acked = [];
    let id = 0, kills = 0;
    const killedAt = {};
    const tableIds = async () => (await icebergRead({ tableUrl: `file://${store}/ev` })).map(x => Number(x.id)).sort((x, y) => x - y);
    for (let round = 0; round < ROUNDS; round++) {
      // The third node ingests: two flushes into the day (so two new files).
      const flushOne = async () => {
        const batch = rows(id, 200);
        const r = await ingest.postRecords('ev', ndjson(batch));
        assert.equal(r.json?.accepted, 200, r.text);
        assert.equal((await ingest.flush('ev')).status, 200);
        acked.push(...batch.map(x => x.id));
        id += 200;
      };
      await flushOne(), await flushOne();
      // The compacting nodes, each with this round's env (restarted when it differs or the node died).
      const kill = KILLS[round % KILLS.length];
      for (const node of ['a', 'b']) {
        const env = kill && kill.node === node ? { URSA_TEST_KILL_AT: kill.at } : {};
        if (!alive(node) || nodes[node].env !== JSON.stringify(env)) {
          if (alive(node)) await nodes[node].server.stop();
          await start(node, env);
        }
      }
      // Both at once (or b alone first). A request to a node killed under it fails; that is the point.
      const compact = n => nodes[n].server.request('POST', `/v1/datasets/ev/compact?date=${DAY}`).catch(e => ({ status: 0, error: String(e) }));
      let answers;
      if (kill?.alone) {
        const other = kill.node === 'a' ? 'b' : 'a';
        const first = await compact(kill.node);
        await flushOne();
        const second = await compact(other);
        answers = kill.node === 'a' ? [first, second] : [second, first];
      } else {
        answers = await Promise.all(['a', 'b'].map(compact));
      }
      for (const [i, r] of answers.entries())
        if (r.status !== 0) assert.equal(r.status, 200, `node ${'ab'[i]}: ${r.text}`);
      // Upkeep (b's, every second) has its chance to delete, or to be killed doing it.
      for (let k = 0; k < (kill?.wait ? 30 : 2) && alive(kill?.node ?? 'a'); k++) await sleep(200);
      for (const node of ['a', 'b'])
        if (!alive(node)) kills++, killedAt[nodes[node].env] = (killedAt[nodes[node].env] ?? 0) + 1;
      // The table after the round: every acknowledged, flushed row once.
      const got = await tableIds();
      assert.deepEqual(got, acked.slice().sort((x, y) => x - y), `round ${round}: the table holds every flushed row once`);
    }
    // Restart the dead, compact once more, wait out the retention: the day is one file, nothing else is left.
    for (const node of ['a', 'b']) if (!alive(node)) await start(node);
    const r = await nodes.a.server.request('POST', `/v1/datasets/ev/compact?date=${DAY}`);
    assert.equal(r.status, 200, r.text);
    const live = async () => (await ingest.get('/v1/datasets/ev/files')).json.files.map(f => f.path).sort();
    let onDisk, files;
    for (let k = 0; k < 100; k++) {
      files = await live();
      onDisk = readdirSync(join(store, 'ev', `date=${DAY}`)).filter(f => f.endsWith('.parquet')).map(f => `ev/date=${DAY}/${f}`).sort();
      if (files.length === 1 && onDisk.length === 1) break;
      await sleep(300);
    }
    assert.equal(files.length, 1, 'the day is one file');
    assert.deepEqual(onDisk, files, 'no replaced input left on disk past the retention, whatever was killed');
    const glob = await duckdbQuery(`SELECT count(*) AS n, count(DISTINCT id) AS d FROM read_parquet('${store}/ev/date=${DAY}/*.parquet')`);
    assert.equal(Number(glob[0].n), acked.length, 'a glob reader counts every row once');
    assert.equal(Number(glob[0].d), acked.length);
    assert.deepEqual(await tableIds(), acked.slice().sort((x, y) => x - y));
    // The ingesting node killed and started again: its log still holds records whose files were replaced
    // and deleted; it asks the table what it committed, so nothing comes back twice.
    await ingest.kill();
    const again = await start('c');
    assert.match(again.log(), /replay left out \d+ rows that were already published/);
    assert.equal((await again.flush('ev')).status, 200);
    assert.deepEqual(await tableIds(), acked.slice().sort((x, y) => x - y), 'no row back from the log');
    console.log(`# ${ROUNDS} rounds, ${acked.length} rows, ${kills} kills: ${JSON.stringify(killedAt)}`);
    for (const k of KILLS.filter(Boolean))
      assert.ok(killedAt[JSON.stringify({ URSA_TEST_KILL_AT: k.at })] >= 1, `killed at ${k.at} at least once: ${JSON.stringify(killedAt)}`);
    assert.equal(readdirSync(join(store, 'ev', '_ursa', 'compactions')).length, 0, 'no compaction record left');
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    for (const n of Object.values(nodes))
      if (n.server.proc.exitCode === null && n.server.proc.signalCode === null) await n.server.stop();
  }
});
