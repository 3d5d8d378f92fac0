// bodies.test.mjs — what a client sees for awkward bodies, through the real server on loopback: a UTF-8
// byte order mark at the start of an NDJSON, JSON-array or CSV body is skipped (plain, gzip, zstd, and
// cut between chunks), and the value of a row error stops at the value's end in NDJSON, JSON arrays
// and CSV (the answer and the quarantine's Parquet, read back by DuckDB, say the same).
//
//   node --test tests/integration/bodies.test.mjs      (URSA_BIN=build/ursa, URSA_TEST_TMP=os.tmpdir())
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
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

test('a byte order mark at the start of a body is skipped in every format and encoding', async () => {
  try {
    const srv = await start();
    let r = await srv.put('/v1/datasets/bom', { columns: [{ name: 'ts', type: 'timestamp', nullable: false }, { name: 'id', type: 'int64', nullable: false }], time_column: 'ts' });
    assert.equal(r.status, 201, r.text);
    const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
    const zstd = buf => execFileSync('zstd', ['-q', '-c'], { input: buf });
    const rec = id => `{"ts":"2026-02-03T04:05:06Z","id":${id}}`;
    const nd = ids => Buffer.from(ids.map(rec).join('\n') + '\n');
    const arr = ids => Buffer.from('[' + ids.map(rec).join(',') + ']');
    const csv = ids => Buffer.from('ts,id\n' + ids.map(i => `2026-02-03T04:05:06Z,${i}`).join('\n') + '\n');
    const TYPES = { nd: 'application/x-ndjson', arr: 'application/json', csv: 'text/csv' };
    const cases = [];
    let next = 1;
    for (const [fmt, make] of [['nd', nd], ['arr', arr], ['csv', csv]]) {
      for (const enc of ['identity', 'gzip', 'zstd', 'chunked']) {
        const ids = [next++, next++];
        const plain = Buffer.concat([BOM, make(ids)]);
        let body = plain;
        const headers = { 'content-type': TYPES[fmt] };
        if (enc === 'gzip') { body = gzipSync(plain); headers['content-encoding'] = 'gzip'; }
        if (enc === 'zstd') { body = zstd(plain); headers['content-encoding'] = 'zstd'; }
        if (enc === 'chunked') body = [plain.subarray(0, 1), plain.subarray(1, 2), plain.subarray(2)]; // the mark cut in three
        cases.push({ what: `${fmt} ${enc}`, ids, body, headers });
      }
    }
    for (const c of cases) {
      r = await srv.request('POST', '/v1/datasets/bom/records', { body: c.body, headers: c.headers });
      assert.equal(r.status, 200, `${c.what}: ${r.status} ${r.text}`);
      assert.deepEqual([r.json.accepted, r.json.rejected], [2, 0], `${c.what}: ${r.text}`);
    }
    // Not a whole mark: data, so the first record is refused (the CSV header, the whole body).
    r = await srv.request('POST', '/v1/datasets/bom/records', { body: Buffer.concat([BOM.subarray(0, 2), nd([100, 101])]), headers: { 'content-type': TYPES.nd } });
    assert.deepEqual([r.json.accepted, r.json.rejected, r.json.errors[0].row], [1, 1, 1], r.text);

    r = await srv.flush('bom');
    assert.equal(r.status, 200, r.text);
    const files = r.json.files.map(f => `'${store}/${f.path}'`).join(',');
    const rows = await duckdbQuery(`SELECT id FROM read_parquet([${files}]) ORDER BY id`);
    assert.deepEqual(rows.map(x => Number(x.id)), [...cases.flatMap(c => c.ids), 101]);
  } catch (e) { failed = true; throw e; }
});
