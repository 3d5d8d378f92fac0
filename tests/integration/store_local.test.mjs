// store_local.test.mjs — the local store directory as a client and an operator see it, through the real
// server on loopback: temporary files that writes killed by kill -9 left behind are removed at the next
// start when they are this node's (or old ones of a schema), and other nodes' stay; a failed flush
// answers 500 naming the dataset and the store key, never the local path (which only the server log
// shows), and keeps its rows for the next flush.
//
//   node --test tests/integration/store_local.test.mjs      (URSA_BIN=build/ursa, URSA_TEST_TMP=os.tmpdir())
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports, filesUnder } from './helpers.mjs';
import { duckdbQuery, close as closeReaders } from '../tools/pqread.mjs';

const SCHEMA = {
  columns: [{ name: 'ts', type: 'timestamp', nullable: false }, { name: 'id', type: 'int64', nullable: false }],
  time_column: 'ts',
};
const DAY = '2026-02-03';
const ndjson = ids => ids.map(id => JSON.stringify({ ts: `${DAY}T04:05:06Z`, id })).join('\n') + '\n';
const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);

let failed = false;
const logs = [];
after(async () => {
  await closeReaders();
  const reports = logs.flatMap(l => sanitizerReports(l()));
  if (reports.length) { failed = true; console.error(reports.join('\n')); }
  assert.deepEqual(reports, [], 'sanitizer reports in the server output');
  if (!failed) removeTempDirs();
});

// An absolute path in a message: a '/' at the start or after a blank, quote, colon or '(' that is followed by
// a name (keys such as "d/date=..." have no leading '/').
const ABSOLUTE = /(^|[\s"':(=])\/[A-Za-z0-9._-]/;

test('a failed flush names the dataset and the store key, never the local path', async () => {
  const store = makeTempDir('ursa-store-err-');
  const srv = await startServer({ store, node: 'snode', args: ['--flush-max-age', '3600'] });
  logs.push(srv.log);
  try {
    let r = await srv.put('/v1/datasets/d', SCHEMA);
    assert.equal(r.status, 201, r.text);
    r = await srv.postRecords('d', ndjson(range(0, 50)));
    assert.equal(r.json?.accepted, 50, r.text);

    // Tests run as root, where permissions do not stop writes: a file where the day's directory must
    // go does.
    const blocker = join(store, 'd', `date=${DAY}`);
    writeFileSync(blocker, 'not a directory');
    r = await srv.flush('d');
    assert.equal(r.status, 500, r.text);
    const msg = r.json?.error ?? '';
    assert.ok(!msg.includes(store), `the answer shows the store's path: ${msg}`);
    assert.doesNotMatch(msg, ABSOLUTE, `the answer shows an absolute path: ${msg}`);
    assert.match(msg, /dataset d\b/, `the answer does not name the dataset: ${msg}`);
    assert.match(msg, new RegExp(`d/date=${DAY}/snode-\\d+-\\d+\\.parquet`), `the answer does not name the key: ${msg}`);
    assert.match(msg, /Not a directory/, msg);
    // The operator still finds the full path in the log.
    assert.ok(srv.log().includes(`${blocker}/.snode-`), `the log lacks the path:\n${srv.log()}`);

    // A schema that cannot be written: the same rule for PUT.
    writeFileSync(join(store, 'e'), 'not a directory');
    r = await srv.put('/v1/datasets/e', SCHEMA);
    assert.equal(r.status, 500, r.text);
    assert.ok(!r.text.includes(store) && !ABSOLUTE.test(r.json?.error ?? ''), `PUT answer: ${r.text}`);
    assert.match(r.json?.error ?? '', /dataset e: its table: e\/metadata\//, r.text); // the table is made first

    // Nothing was lost: with the obstacle gone the next flush writes every row.
    rmSync(blocker);
    r = await srv.flush('d');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.rows, 50, r.text);
    const files = filesUnder(join(store, 'd')).filter(f => f.endsWith('.parquet'));
    assert.equal(files.length, 1, files.join('\n'));
    const rows = await duckdbQuery(`SELECT id FROM read_parquet('${files[0]}') ORDER BY id`);
    assert.deepEqual(rows.map(x => Number(x.id)), range(0, 50));
  } catch (e) { failed = true; throw e; } finally {
    await srv.stop();
  }
});

test('temporary files of killed writes: this node\'s are removed at start, other nodes\' stay', async () => {
  const store = makeTempDir('ursa-store-tmp-');
  let srv = await startServer({ store, node: 'n1', args: ['--flush-max-age', '3600'] });
  logs.push(srv.log);
  try {
    let r = await srv.put('/v1/datasets/d', SCHEMA);
    assert.equal(r.status, 201, r.text);
    r = await srv.postRecords('d', ndjson(range(0, 10)));
    assert.equal(r.json?.accepted, 10, r.text);
    r = await srv.flush('d');
    assert.equal(r.status, 200, r.text);
    r = await srv.postRecords('d', ndjson(range(10, 20)) + '{"ts":"x"}\n'); // logged, not flushed; one refused
    assert.equal(r.json?.accepted, 10, r.text);
    await srv.kill('SIGKILL');

    // What flushes and mark writes killed midway leave: ".<final name>.tmp-<pid>-<n>" beside the final name.
    const day = join(store, 'd', `date=${DAY}`);
    const put = (dir, name, mtime) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, name), 'PAR1 half a file');
      if (mtime) utimesSync(join(dir, name), mtime, mtime);
      return join(dir, name);
    };
    const hoursAgo = h => new Date(Date.now() - h * 3600e3);
    const mine = [
      put(day, '.n1-2-5.parquet.tmp-4242-0'),                                          // this node's data file
      put(join(store, 'd', 'date=2026-01-01'), '.n1-2-5.parquet.tmp-4242-1'),          // another day
      put(join(store, '_quarantine', 'd', `date=${DAY}`), '.n1-3-3.parquet.tmp-4242-2'), // its quarantine
      put(join(store, '_ursa', 'nodes'), '.n1.lsn.tmp-4242-3'),                          // its LSN mark
      put(join(store, '_ursa', 'nodes'), '.n1.json.tmp-4242-4'),                         // its heartbeat
      put(join(store, 'd', '_ursa'), '.schema.json.tmp-77-0', hoursAgo(2)),             // a schema write that died
      put(join(store, 'd', 'metadata'), '.v9.metadata.json.tmp-77-1', hoursAgo(2)),    // a commit that died
    ];
    const others = [
      put(day, '.n2-2-5.parquet.tmp-555-0'),            // another node's flush, maybe in progress
      put(day, '.n1-x-2-5.parquet.tmp-555-1'),          // node "n1-x": not n1's
      put(day, '.n1-2-5-9.parquet.tmp-555-2'),          // node "n1-2": not n1's either
      put(join(store, '_ursa', 'nodes'), '.n2.lsn.tmp-555-3'),
      put(join(store, '_ursa', 'nodes'), '.n2.json.tmp-555-4'),  // another node's heartbeat
      put(join(store, 'd', '_ursa'), '.schema.json.tmp-78-0'), // a schema being written right now, maybe
      put(join(store, 'd', 'metadata'), '.1f2e-m0.avro.tmp-78-1'), // a manifest being written, maybe
      put(day, '.n1-2-5.parquet.tmp-x-1'),              // not a temporary's name
      put(day, '.n1-2-5.parquet'),                      // nor this
    ];

    srv = await startServer({ store, node: 'n1', args: ['--flush-max-age', '3600'] });
    logs.push(srv.log);
    for (const f of mine) assert.ok(!existsSync(f), `${f} was left`);
    for (const f of others) assert.ok(existsSync(f), `${f} was removed`);
    const log = srv.log();
    for (const f of mine) assert.ok(log.includes(`removed ${f}`), `the log does not name ${f}:\n${log}`);
    assert.match(log, /removed 7 temporary files of writes that never finished/, log);
    assert.match(log, /left 7 temporary files that other nodes may still be writing/, log);

    // The restart lost nothing and published nothing twice: 10 rows flushed before, 10 replayed now.
    r = await srv.flush('d');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.rows, 10, r.text);
    assert.equal(r.json.quarantine.rows, 1, r.text);
    const files = filesUnder(join(store, 'd')).filter(f => f.endsWith('.parquet') && !f.split('/').pop().startsWith('.'));
    const rows = await duckdbQuery(`SELECT id FROM read_parquet([${files.map(f => `'${f}'`).join(',')}]) ORDER BY id`);
    assert.deepEqual(rows.map(x => Number(x.id)), range(0, 20));
  } catch (e) { failed = true; throw e; } finally {
    await srv.stop();
  }
});
