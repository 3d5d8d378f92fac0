// formats.test.mjs — request bodies other than plain NDJSON, through the real server: NDJSON compressed
// with gzip and zstd, JSON arrays of objects (plain and gzip), CSV (quoting, delimiter and null marker
// parameters, gzip), a zip bomb, broken compression, and the
// content types and encodings that are refused. Every accepted row is read back from the flushed Parquet
// with DuckDB and compared with what was sent.
//
//   node --test tests/integration/formats.test.mjs      (URSA_BIN=build/ursa, URSA_TEST_TMP=os.tmpdir())
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync, constants as zc } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports } from './helpers.mjs';
import { duckdbQuery, close as closeReaders } from '../tools/pqread.mjs';

const SCHEMA = {
  columns: [{ name: 'ts', type: 'timestamp', nullable: false }, { name: 'id', type: 'int64', nullable: false },
    { name: 's', type: 'string' }],
  time_column: 'ts',
};
const row = id => ({ ts: `2024-03-0${1 + (id % 3)}T12:00:00Z`, id, s: `row ${id} ✓ "q"` });
const ndjson = ids => ids.map(i => JSON.stringify(row(i))).join('\n') + '\n';
const zstd = buf => execFileSync('zstd', ['-q', '-c'], { input: buf }); // Debian's zstd, as a client would
const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);

let server, store, failed = false;
const sent = new Set();
after(async () => {
  if (server) {
    await server.stop();
    const reports = sanitizerReports(server.log());
    if (reports.length) { failed = true; console.error(reports.join('\n')); }
  }
  await closeReaders();
  if (!failed) removeTempDirs();
});

test('formats and encodings, end to end', async t => {
  try {
    store = makeTempDir('ursa-formats-');
    server = await startServer({ store, args: ['--max-body', String(8 << 20)] });
    let r = await server.put('/v1/datasets/f', SCHEMA);
    assert.equal(r.status, 201, r.text);

    const post = (body, headers, query = '') => server.request('POST', `/v1/datasets/f/records${query}`, { body, headers });
    const expectAccepted = (res, n, what) => {
      assert.equal(res.status, 200, `${what}: ${res.status} ${res.text}`);
      assert.equal(res.json.accepted, n, `${what}: ${res.text}`);
    };

    // NDJSON, gzip and zstd.
    r = await post(gzipSync(ndjson(range(0, 500))), { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' });
    expectAccepted(r, 500, 'gzip NDJSON'); range(0, 500).forEach(i => sent.add(i));
    r = await post(zstd(Buffer.from(ndjson(range(500, 1000)))), { 'content-type': 'application/x-ndjson', 'content-encoding': 'zstd' });
    expectAccepted(r, 500, 'zstd NDJSON'); range(500, 1000).forEach(i => sent.add(i));

    // JSON arrays, plain and gzip, with one bad element reported at its position.
    const arr = [...range(1000, 1100).map(row), 42, ...range(1100, 1200).map(row)];
    r = await post(JSON.stringify(arr), { 'content-type': 'application/json' });
    expectAccepted(r, 200, 'JSON array');
    assert.deepEqual(r.json.errors.map(e => [e.row, e.column]), [[101, null]], `JSON array errors: ${r.text}`);
    range(1000, 1200).forEach(i => sent.add(i));
    r = await post(gzipSync(JSON.stringify(range(1200, 1300).map(row))), { 'content-type': 'application/json; charset=utf-8', 'content-encoding': 'gzip' });
    expectAccepted(r, 100, 'gzip JSON array'); range(1200, 1300).forEach(i => sent.add(i));
    r = await post('[]', { 'content-type': 'application/json' });
    expectAccepted(r, 0, 'empty array');

    // CSV: header, quoting with doubled quotes, CRLF, a custom delimiter and null marker, gzip.
    const csv = (ids, d = ',') => `ts${d}id${d}s\r\n` + ids.map(i => { const x = row(i); return [x.ts, x.id, `"${x.s.replace(/"/g, '""')}"`].join(d); }).join('\r\n') + '\r\n';
    r = await post(csv(range(1300, 1400)), { 'content-type': 'text/csv' });
    expectAccepted(r, 100, 'CSV'); range(1300, 1400).forEach(i => sent.add(i));
    r = await post(gzipSync(csv(range(1400, 1500), ';') + `2024-03-01T12:00:00Z;oops;x\r\n`), { 'content-type': 'text/csv; delimiter=";"; null=NULL', 'content-encoding': 'gzip' });
    assert.equal(r.status, 200, `gzip CSV: ${r.text}`);
    assert.equal(r.json.accepted, 100, `gzip CSV: ${r.text}`);
    assert.deepEqual(r.json.errors.map(e => [e.row, e.column]), [[101, 'id']], `gzip CSV errors: ${r.text}`);
    range(1400, 1500).forEach(i => sent.add(i));
    r = await post('ts,ts\n', { 'content-type': 'text/csv' });
    assert.equal(r.status, 400, `CSV with a duplicate header column: ${r.status} ${r.text}`);

    // Refused bodies store nothing.
    const bomb = gzipSync(Buffer.alloc(64 << 20, 0x20), { level: zc.Z_BEST_COMPRESSION }); // 64 MiB of blanks
    assert.ok(bomb.length < 200_000, `bomb is ${bomb.length} bytes`);
    r = await post(bomb, { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' });
    assert.equal(r.status, 413, `zip bomb: ${r.status} ${r.text}`);
    r = await post(Buffer.from('not gzip'), { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' });
    assert.equal(r.status, 400, `corrupt gzip: ${r.status} ${r.text}`);
    assert.match(r.json?.error ?? '', /gzip/);
    r = await post(ndjson([9999]), { 'content-type': 'application/x-ndjson', 'content-encoding': 'br' });
    assert.equal(r.status, 415, `br: ${r.status} ${r.text}`);
    r = await post(gzipSync(ndjson([9998])).subarray(0, 20), { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' });
    assert.equal(r.status, 400, `truncated gzip: ${r.status} ${r.text}`);

    // ?mode=all_or_nothing: one bad record and nothing of the request is stored.
    r = await post(ndjson([9000, 9001]) + '{"ts":"2024-03-01T12:00:00Z","id":"bad"}\n', { 'content-type': 'application/x-ndjson' }, '?mode=all_or_nothing');
    assert.equal(r.status, 400, `all_or_nothing with a bad record: ${r.status} ${r.text}`);
    assert.equal(r.json.accepted, 0, r.text);
    assert.deepEqual(r.json.errors.map(e => [e.row, e.column]), [[3, 'id']], r.text);
    r = await post(ndjson([1500, 1501]), { 'content-type': 'application/x-ndjson' }, '?mode=all_or_nothing');
    expectAccepted(r, 2, 'all_or_nothing, all good'); [1500, 1501].forEach(i => sent.add(i));
    r = await post(ndjson([9002]), { 'content-type': 'application/x-ndjson' }, '?mode=most');
    assert.equal(r.status, 400, `unknown mode: ${r.status} ${r.text}`);

    // "unknown_fields": "reject" on a second dataset.
    r = await server.put('/v1/datasets/strict', { ...SCHEMA, unknown_fields: 'reject' });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.schema.unknown_fields, 'reject', r.text);
    r = await server.request('POST', '/v1/datasets/strict/records', { body: ndjson([1]) + '{"ts":"2024-03-01T12:00:00Z","id":2,"extra":1}\n', headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(r.json?.accepted, 1, r.text);
    assert.deepEqual(r.json.errors.map(e => e.row), [2], r.text);

    r = await server.get('/v1/datasets/f');
    assert.equal(r.json.buffered_rows, sent.size, `buffered rows: ${r.text}`);
    r = await server.flush('f');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.rows, sent.size);

    // Every row exactly as sent, read by DuckDB.
    const files = [];
    const walk = d => { for (const e of readdirSync(d, { withFileTypes: true })) { const p = join(d, e.name); if (e.isDirectory() && e.name[0] !== '_') walk(p); else if (e.name.endsWith('.parquet')) files.push(p); } };
    walk(join(store, 'f'));
    const list = files.map(f => `'${f}'`).join(',');
    const got = await duckdbQuery(`SELECT id, s, strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') AS ts FROM read_parquet([${list}]) ORDER BY id`);
    assert.equal(got.length, sent.size, 'rows in the files');
    const want = [...sent].sort((a, b) => a - b).map(row);
    for (let i = 0; i < want.length; i++) {
      const g = got[i];
      assert.deepEqual([Number(g.id), g.s, g.ts], [want[i].id, want[i].s, want[i].ts], `row ${i}`);
    }
    t.diagnostic(`${sent.size} rows in ${files.length} files, read back exactly`);
  } catch (e) {
    failed = true;
    if (server) console.error(server.log().slice(-3000));
    throw e;
  }
});
