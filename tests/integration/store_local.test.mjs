// store_local.test.mjs — the local store directory as a client and an operator see it, through the real
// server on loopback: a failed flush answers 500 naming the dataset and the store key, never the local
// path (which only the server log shows), and keeps its rows for the next flush.
//
//   node --test tests/integration/store_local.test.mjs      (URSA_BIN=build/ursa, URSA_TEST_TMP=os.tmpdir())
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports } from './helpers.mjs';
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

function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out.sort();
}

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
    assert.match(r.json?.error ?? '', /e\/_ursa/, r.text);

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
