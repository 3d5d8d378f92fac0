// quarantine.test.mjs — refused rows are kept (issue 6, item 4): request ids, the quarantine dataset
// _quarantine/<dataset>/ (logged, buffered, listed by GET /v1/datasets/D/quarantine, flushed to Parquet
// read back by DuckDB, Polars, arrow-rs and hyparquet), exactly once across a kill -9, and never mixed
// into the dataset's own files. Real server on loopback, real store directory.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports, filesUnder } from './helpers.mjs';
import { readAll, duckdbQuery, close as closeReaders } from '../tools/pqread.mjs';

const SCHEMA = {
  columns: [
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'id', type: 'int64', nullable: false },
    { name: 'name', type: 'string' },
  ],
  time_column: 'ts',
};
const TS = '2026-03-04T05:06:07Z';
const MAX_RECORD = 4096;
const QCOLS = ['received_at', 'request_id', 'row', 'line', 'column', 'reason', 'value', 'rule', 'raw', 'raw_truncated', 'raw_replaced'];

let failed = false;
const logs = [];
after(async () => {
  await closeReaders();
  const reports = logs.flatMap(l => sanitizerReports(l()));
  assert.deepEqual(reports, [], 'sanitizer reports in the server output');
  if (!failed) removeTempDirs();
});

const rec = o => JSON.stringify(o);
const isoToMicros = s => BigInt(Date.parse(s.slice(0, 19) + 'Z')) * 1000n + BigInt(s.slice(20, 26));
const good = (id, name = `n${id}`) => rec({ ts: TS, id, name });

test('quarantine: rejected rows kept with request ids, listed, logged, flushed, read back', async t => {
  const store = makeTempDir('ursa-quar-');
  const args = ['--max-record', String(MAX_RECORD), '--flush-max-age', '3600'];
  let srv = await startServer({ store, node: 'qnode', args });
  logs.push(srv.log);
  try {
    let r = await srv.put('/v1/datasets/ev', SCHEMA);
    assert.equal(r.status, 201, r.text);
    assert.match(r.headers.get('x-request-id') ?? '', /^qnode-[0-9a-f]+-\d+$/, 'every answer carries X-Request-Id');

    // Every expected quarantine row, in the order sent: {request_id, row, line, column, reason~, raw, flags}.
    const want = [];
    const expectRow = (request_id, row, line, column, reason, raw, raw_truncated = false, raw_replaced = false, extra = {}) =>
      want.push({ request_id, row, line, column, reason, raw, raw_truncated, raw_replaced, ...extra });

    // ---- 1. NDJSON with bad rows at known positions, with the client's request id.
    const badType = rec({ ts: TS, id: 'two', name: 'x' });
    const invalidUtf8 = Buffer.concat([Buffer.from('{"ts":"' + TS + '","id":4,"name":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const missing = rec({ ts: TS, name: 'no id' });
    const long = rec({ ts: TS, id: 6, name: 'y'.repeat(MAX_RECORD + 100) });
    const spaced = '  {"ts":"' + TS + '","id":7, "name": "spaces kept"} ';
    const nd = Buffer.concat([
      Buffer.from(good(1) + '\n' + badType + '\n' + good(3) + '\n'),
      invalidUtf8, Buffer.from('\n' + missing + '\r\n' + long + '\n' + spaced + '\n{"ts":\n'),
    ]);
    r = await srv.request('POST', '/v1/datasets/ev/records', { body: nd, headers: { 'content-type': 'application/x-ndjson', 'x-request-id': 'client-42' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-request-id'), 'client-42');
    assert.equal(r.json.request_id, 'client-42');
    assert.equal(r.json.accepted, 3);
    assert.equal(r.json.rejected, 5);
    assert.equal(r.json.quarantined, 5);
    assert.deepEqual(r.json.errors.map(e => [e.row, e.column]), [[2, 'id'], [4, 'name'], [5, 'id'], [6, null], [8, null]]);
    expectRow('client-42', 2, 2, 'id', /int64/, badType, false, false, { value: '"two"', rule: 'type int64' });
    // invalid bytes replaced by U+FFFD, and said so
    expectRow('client-42', 4, 4, 'name', /UTF-8/, '{"ts":"' + TS + '","id":4,"name":"\uFFFD\uFFFD"}', false, true);
    expectRow('client-42', 5, 5, 'id', /missing/, missing, false, false, { value: null, rule: 'nullable false' });
    expectRow('client-42', 6, 6, null, /larger/, long.slice(0, MAX_RECORD), true);
    expectRow('client-42', 8, 8, null, /malformed|end/, '{"ts":');

    // ---- 2. A JSON array, no request id: the node makes one.
    const elems = [good(11), rec({ ts: TS, id: 12.5 }), good(13), '[1,2]', good(15)];
    r = await srv.postRecords('ev', '[' + elems.join(',\n ') + ']', 'application/json');
    assert.equal(r.status, 200, r.text);
    const arrId = r.headers.get('x-request-id');
    assert.match(arrId, /^qnode-[0-9a-f]+-\d+$/);
    assert.equal(r.json.request_id, arrId);
    assert.deepEqual(r.json.errors.map(e => e.row), [2, 4]);
    expectRow(arrId, 2, 2, 'id', /./, elems[1]);
    expectRow(arrId, 4, 4, null, /object/, '[1,2]');

    // ---- 3. CSV with a multi-line quoted bad record; an insane X-Request-Id is replaced.
    const csvBad = `${TS},x,"two\nlines"`;
    const csv = `ts,id,name\n${TS},21,a\n${csvBad}\n${TS},23\n${TS},24,d\n`;
    r = await srv.request('POST', '/v1/datasets/ev/records', { body: csv, headers: { 'content-type': 'text/csv', 'x-request-id': 'has space' } });
    assert.equal(r.status, 200, r.text);
    const csvId = r.json.request_id;
    assert.notEqual(csvId, 'has space');
    assert.match(csvId, /^qnode-[0-9a-f]+-\d+$/);
    assert.notEqual(csvId, arrId, 'generated ids are unique');
    assert.deepEqual(r.json.errors.map(e => [e.row, e.column]), [[2, 'id'], [3, null]]);
    expectRow(csvId, 2, 3, 'id', /number/, csvBad, false, false, { value: 'x', rule: 'type int64' });
    expectRow(csvId, 3, 5, null, /fields/, `${TS},23`);

    // ---- 4. all_or_nothing: the bad row is quarantined, the good ones are not stored.
    const before = (await srv.get('/v1/datasets/ev')).json.buffered_rows;
    r = await srv.request('POST', '/v1/datasets/ev/records?mode=all_or_nothing', { body: good(31) + '\n' + rec({ ts: 'soon', id: 32 }) + '\n' + good(33) + '\n', headers: { 'content-type': 'application/x-ndjson', 'x-request-id': 'aon-1' } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.accepted, 0);
    assert.equal(r.json.quarantined, 1);
    assert.equal(r.headers.get('x-request-id'), 'aon-1');
    expectRow('aon-1', 2, 2, 'ts', /./, rec({ ts: 'soon', id: 32 }));
    assert.equal((await srv.get('/v1/datasets/ev')).json.buffered_rows, before, 'all_or_nothing stored none of the valid rows');

    // ---- 5. Modes: accept_valid explicitly, an unknown one is a 400 (with a request id).
    r = await srv.request('POST', '/v1/datasets/ev/records?mode=accept_valid', { body: good(41) + '\n', headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.quarantined, 0);
    r = await srv.request('POST', '/v1/datasets/ev/records?mode=maybe', { body: good(42) + '\n', headers: { 'content-type': 'application/x-ndjson', 'x-request-id': 'bad-mode' } });
    assert.equal(r.status, 400);
    assert.match(r.json.error, /mode/);
    assert.equal(r.headers.get('x-request-id'), 'bad-mode');
    r = await srv.get('/v1/nothing-here');
    assert.equal(r.status, 404);
    assert.match(r.headers.get('x-request-id') ?? '', /^qnode-/);

    // ---- 6. GET quarantine: newest first, raw exactly as sent.
    const checkRows = (rows, expected, where) => {
      assert.equal(rows.length, expected.length, `${where}: row count`);
      rows.forEach((got, i) => {
        const w = expected[i];
        const at = `${where}: row ${i} (${w.request_id} #${w.row})`;
        assert.equal(got.request_id, w.request_id, at);
        assert.equal(Number(got.row), w.row, at);
        assert.equal(Number(got.line), w.line, at);
        assert.equal(got.column, w.column, at);
        assert.match(got.reason, w.reason, at);
        assert.equal(got.raw, w.raw, at);
        assert.equal(got.raw_truncated, w.raw_truncated, at);
        assert.equal(got.raw_replaced, w.raw_replaced, at);
        if ('value' in w) assert.equal(got.value, w.value, `${at}: value`);
        if ('rule' in w) assert.equal(got.rule, w.rule, `${at}: rule`);
      });
    };
    const newestFirst = want.slice().reverse();
    r = await srv.get('/v1/datasets/ev/quarantine');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.buffered, want.length);
    checkRows(r.json.rows, newestFirst, 'GET quarantine');
    assert.match(r.json.rows[0].received_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.deepEqual(r.json.files, []);
    const before1 = r.json.rows;
    r = await srv.get('/v1/datasets/ev/quarantine?limit=2');
    checkRows(r.json.rows, newestFirst.slice(0, 2), 'limit=2');
    assert.equal(r.json.buffered, want.length);
    assert.equal((await srv.get('/v1/datasets/ev/quarantine?limit=10001')).status, 400);
    assert.equal((await srv.get('/v1/datasets/ev/quarantine?limit=x')).status, 400);
    assert.equal((await srv.get('/v1/datasets/nope/quarantine')).status, 404);
    assert.deepEqual((await srv.get('/v1/datasets')).json.datasets.map(d => d.name), ['ev'], 'the quarantine is not a user dataset');
    let m = (await srv.get('/metrics')).text;
    assert.match(m, new RegExp(`^ursa_quarantined_rows_total ${want.length}$`, 'm'));
    assert.match(m, new RegExp(`^ursa_quarantine_buffered_rows\\{dataset="ev"\\} ${want.length}$`, 'm'));

    // ---- 7. kill -9 after the answers, restart: every quarantined row back, exactly once (WAL replay).
    await srv.kill('SIGKILL');
    srv = await startServer({ store, node: 'qnode', args });
    logs.push(srv.log);
    r = await srv.get('/v1/datasets/ev/quarantine');
    assert.equal(r.json.buffered, want.length);
    assert.deepEqual(r.json.rows, before1, 'the same rows, received_at included, after the replay');

    // ---- 8. POST /flush: the quarantine's own files, partitioned by day of received_at.
    r = await srv.flush('ev');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.rows, 3 + 3 + 2 + 1);
    assert.equal(r.json.quarantine.rows, want.length);
    const day = before1[0].received_at.slice(0, 10);
    const qfiles = filesUnder(join(store, '_quarantine')).map(f => relative(store, f));
    assert.equal(qfiles.length, 1, qfiles.join(' '));
    assert.match(qfiles[0], new RegExp(`^_quarantine/ev/date=${day}/qnode-\\d+-\\d+\\.parquet$`));
    assert.deepEqual(r.json.quarantine.files.map(f => f.path), qfiles);

    const file = join(store, qfiles[0]);
    const wantFile = want; // one request after another: the file is in log order
    for (const res of await readAll(file)) {
      assert.ok(!res.error, `${res.engine}: ${res.error}`);
      assert.deepEqual(res.schema.map(c => c.name), QCOLS, `${res.engine}: columns`);
      assert.deepEqual(res.schema.map(c => c.type), ['timestamp', 'string', 'uint64', 'uint64', 'string', 'string', 'string', 'string', 'string', 'bool', 'bool'], `${res.engine}: types`);
      const rows = res.rows.map(row => Object.fromEntries(QCOLS.map((c, i) => [c, Array.isArray(row) ? row[i] : row[c]])));
      checkRows(rows, wantFile, res.engine);
      // received_at: the request's arrival, to the microsecond, as GET showed it
      const shown = new Map(before1.map(g => [`${g.request_id}#${g.row}`, isoToMicros(g.received_at)]));
      rows.forEach(row => assert.equal(row.received_at, shown.get(`${row.request_id}#${row.row}`), `${res.engine}: received_at`));
    }
    const viaSql = await duckdbQuery(`SELECT count(*)::INTEGER AS n, count(DISTINCT request_id)::INTEGER AS ids FROM read_parquet('${file}')`);
    assert.deepEqual(viaSql, [{ n: want.length, ids: 4 }]);

    // ---- 9. The dataset's files: data only, and a glob over ev/ sees only data.
    const dataFiles = filesUnder(join(store, 'ev')).filter(f => f.endsWith('.parquet'));
    assert.ok(dataFiles.length >= 1);
    for (const f of dataFiles) {
      const [res] = await readAll(f, { engines: ['duckdb'] });
      assert.deepEqual(res.schema.map(c => c.name), ['ts', 'id', 'name'], `${f}: no quarantine column`);
    }
    const glob = await duckdbQuery(`SELECT count(*)::INTEGER AS n, min(id)::INTEGER AS lo FROM read_parquet('${join(store, 'ev')}/**/*.parquet')`);
    assert.deepEqual(glob, [{ n: 9, lo: 1 }]);

    // ---- 10. After the flush: listed as a file with its rows, nothing buffered; a restart adds nothing.
    const listed = async () => {
      const q = (await srv.get('/v1/datasets/ev/quarantine')).json;
      assert.equal(q.buffered, 0);
      assert.deepEqual(q.rows, []);
      assert.deepEqual(q.files.map(f => [f.key, f.rows, f.bytes]), [[qfiles[0], want.length, statSync(file).size]]);
      assert.equal(q.totals.rows, want.length);
    };
    await listed();
    await srv.kill('SIGKILL');
    srv = await startServer({ store, node: 'qnode', args });
    logs.push(srv.log);
    await listed();
    m = (await srv.get('/metrics')).text;
    assert.match(m, /^ursa_quarantine_buffered_rows\{dataset="ev"\} 0$/m);

    // ---- 11. A request whose rows are all refused still logs them; shutdown flushes the quarantine.
    r = await srv.request('POST', '/v1/datasets/ev/records', { body: 'nope\n', headers: { 'content-type': 'application/x-ndjson', 'x-request-id': 'all-bad' } });
    assert.equal(r.status, 400);
    assert.equal(r.json.quarantined, 1);
    await srv.kill('SIGKILL');
    srv = await startServer({ store, node: 'qnode', args });
    logs.push(srv.log);
    r = await srv.get('/v1/datasets/ev/quarantine');
    assert.equal(r.json.buffered, 1);
    assert.equal(r.json.rows[0].request_id, 'all-bad');
    assert.equal(r.json.rows[0].raw, 'nope');
    const st = await srv.stop();
    assert.equal(st.code, 0);
    assert.equal(filesUnder(join(store, '_quarantine')).length, 2, 'the shutdown flush wrote the quarantine');
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    await srv.stop();
  }
});
