// bodies.test.mjs — what a client sees for awkward bodies, through the real server on loopback: the
// value of a row error stops at the value's end in NDJSON, JSON arrays and CSV (the answer and the
// quarantine's Parquet, read back by DuckDB, say the same).
//
//   node --test tests/integration/bodies.test.mjs      (URSA_BIN=build/ursa, URSA_TEST_TMP=os.tmpdir())
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports } from './helpers.mjs';
import { duckdbQuery, close as closeReaders } from '../tools/pqread.mjs';

const SCHEMA = {
  columns: [
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'n', type: 'int64' },
    { name: 's', type: 'string' },
    { name: 'b', type: 'bool' },
    { name: 'j', type: 'int32' },
    { name: 't2', type: 'timestamp' },
    { name: 'x', type: 'int64' },
  ],
  time_column: 'ts',
};
const TS = '"ts":"2026-02-03T04:05:06Z"';

let server, store, failed = false;
after(async () => {
  if (server) {
    await server.stop();
    const reports = sanitizerReports(server.log());
    if (reports.length) { failed = true; console.error(reports.join('\n')); }
  }
  await closeReaders();
  if (!failed) removeTempDirs();
});

async function start() {
  if (server) return server;
  store = makeTempDir('ursa-bodies-');
  server = await startServer({ store, node: 'bnode', args: ['--flush-max-age', '3600'] });
  const r = await server.put('/v1/datasets/d', SCHEMA);
  assert.equal(r.status, 201, r.text);
  return server;
}

// [column, the value as sent (followed by more fields), the error's value]
const BAD = [
  ['s', '"ab\\q"', '"ab\\q"'],                                    // a string with a bad escape
  ['s', '"a\u0001b"', '"a\u0001b"'],                              // ... with a raw control byte
  ['n', '12abc', '12abc'],                                        // a number that fails partway
  ['n', 'NaN', 'NaN'],
  ['n', '1.5e', '1.5e'],
  ['b', 'tru', 'tru'],                                            // a bool
  ['j', '{"a":1x}', '{"a":1x}'],                                  // a nested object
  ['j', '[1, "]", {"c": [2, x]}]', '[1, "]", {"c": [2, x]}]'],     // a nested array
  ['t2', '"2026-02-03\t04:05"', '"2026-02-03\t04:05"'],           // a timestamp
  ['t2', '"2026-02-30T04:05:06Z"', '"2026-02-30T04:05:06Z"'],
];

test('an error\'s value stops at the value\'s end: NDJSON, JSON array, CSV, quarantine', async () => {
  try {
    const srv = await start();
    const post = (body, type) => srv.request('POST', '/v1/datasets/d/records', { body, headers: { 'content-type': type } });

    const lines = BAD.map(([col, v]) => `{${TS},"${col}":${v} , "x":1,"s2":"more"}`);
    let r = await post(lines.join('\n') + '\n', 'application/x-ndjson');
    assert.equal(r.status, 400, r.text);
    assert.deepEqual(r.json.errors.map(e => [e.column, e.value]), BAD.map(([c, , want]) => [c, want]), `NDJSON: ${r.text}`);

    r = await post('[' + BAD.map(([col, v]) => `{"x":1, "${col}": ${v}\n, ${TS}}`).join(',\n') + ']', 'application/json');
    assert.equal(r.status, 400, r.text);
    assert.deepEqual(r.json.errors.map(e => [e.column, e.value]), BAD.map(([c, , want]) => [c, want]), `JSON array: ${r.text}`);

    // CSV: the value is the cell's text (quotes removed), never the cells after it.
    r = await post('ts,n,t2,x\n2026-02-03T04:05:06Z,12abc,2026-02-03T04:05:06Z,1\n2026-02-03T04:05:06Z,1,"2026-02-30, late",1\n', 'text/csv');
    assert.equal(r.status, 400, r.text);
    assert.deepEqual(r.json.errors.map(e => [e.column, e.value]), [['n', '12abc'], ['t2', '2026-02-30, late']], `CSV: ${r.text}`);

    // The quarantine keeps the same values.
    r = await srv.flush('d');
    assert.equal(r.status, 200, r.text);
    const files = r.json.quarantine.files.map(f => `${store}/${f.path}`);
    assert.equal(files.length, 1, r.text);
    const rows = await duckdbQuery(`SELECT "column", value FROM read_parquet('${files[0]}') ORDER BY received_at, request_id, "row"`);
    const want = [...BAD, ...BAD].map(([c, , v]) => [c, v]).concat([['n', '12abc'], ['t2', '2026-02-30, late']]);
    assert.deepEqual(rows.map(x => [x.column, x.value]), want);
  } catch (e) { failed = true; throw e; }
});
