// harmonize.test.mjs — harmonization rules and schema evolution through the real server.
//
// 1. Rules declared per column (coerce, trim, case, epoch, formats, enum, min/max, max_length) on NDJSON and
//    CSV: what is accepted is stored harmonized (read back from the flushed Parquet by DuckDB, Polars,
//    arrow-rs and hyparquet), and every rejection names row, line, column, the value as sent and the rule.
// 2. "unknown_fields": "evolve": unknown fields become nullable columns (type from the value), persisted in
//    the stored schema; a re-PUT of the original schema still matches; concurrent requests adding one field
//    add one column; a CSV header adds string columns; unusable names are rejected per row; a kill -9 and
//    restart replays WAL records written before and after the change; one flush writes one file per day for
//    rows from before and after the change; the file written before the change stays valid, and DuckDB's
//    union_by_name sees nulls there.
// 3. Limits (body size, record size, string length, nesting depth, columns per schema), each with its error.
//
//   node --test tests/integration/harmonize.test.mjs      (URSA_BIN=build/ursa, URSA_TEST_TMP=os.tmpdir())
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports } from './helpers.mjs';
import { readAll, duckdbQuery, close as closeReaders } from '../tools/pqread.mjs';

let failed = false;
const servers = [];
after(async () => {
  for (const s of servers) {
    await s.stop();
    const reports = sanitizerReports(s.log());
    if (reports.length) { failed = true; console.error(reports.join('\n')); }
  }
  await closeReaders();
  if (!failed) removeTempDirs();
});

async function start(store) {
  const s = await startServer({ store });
  servers.push(s);
  return s;
}

function parquetFiles(dir) {
  const out = [];
  const walk = d => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory() && e.name[0] !== '_') walk(p);
      else if (e.name.endsWith('.parquet')) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

const us = iso => BigInt(Date.parse(iso)) * 1000n;
const show = v => JSON.stringify(v, (k, x) => (typeof x === 'bigint' ? `${x}n` : x));

/** Reads `file` with all four engines and compares every row (sorted by `key`) with `want`. */
async function expectRows(file, want, key) {
  const sortBy = rows => rows.slice().sort((a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0));
  for (const r of await readAll(file)) {
    assert.ok(!r.error, `${r.engine}: ${r.error}`);
    assert.equal(show(sortBy(r.rows)), show(sortBy(want)), `${r.engine} reads ${file}`);
  }
}

test('harmonization rules: stored harmonized, rejections name value and rule', async () => {
  const store = makeTempDir('ursa-harmonize-');
  const server = await start(store);
  try {
    let r = await server.put('/v1/datasets/h', {
      columns: [
        { name: 'ts', type: 'timestamp', nullable: false, epoch: 's', formats: ['%d/%m/%Y %H:%M'] },
        { name: 'event', type: 'string', trim: true, case: 'lower', enum: ['view', 'click'] },
        { name: 'age', type: 'int32', coerce: true, min: 0, max: 150 },
        { name: 'ok', type: 'bool', coerce: true },
        { name: 'amount', type: 'float64', coerce: true },
        { name: 'country', type: 'string', case: 'upper', max_length: 2 },
      ],
      time_column: 'ts',
    });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.json.schema.columns[1], { name: 'event', type: 'string', nullable: true, trim: true, case: 'lower', enum: ['view', 'click'] });

    r = await server.put('/v1/datasets/bad', { columns: [{ name: 'ts', type: 'timestamp', nullable: false, formats: ['%Q'] }], time_column: 'ts' });
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error, /formats\[0\] "%Q": unknown directive/);

    const lines = [
      { ts: '2026-11-24T10:00:00Z', event: ' View ', age: '42', ok: 'yes', amount: '3.5', country: 'de' },
      { ts: 1795561200, event: 'click', age: 7, ok: 1, amount: 2, country: 'FR' },
      { ts: '24/11/2026 13:05', event: 'CLICK', age: null, ok: 'no', country: 'us' },
      { ts: '2026-11-24T10:00:00Z', event: 'tap' },
      { ts: '2026-11-24T10:00:00Z', age: '-1' },
      { ts: '2026-11-24T10:00:00Z', age: 'abc' },
      { ts: '2026-11-24T10:00:00Z', country: 'usa' },
      { ts: 'yesterday' },
      { ts: '2026-11-24T10:00:00Z', ok: 'maybe' },
    ];
    r = await server.postRecords('h', lines.map(l => JSON.stringify(l)).join('\n') + '\n');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.accepted, 3, r.text);
    assert.deepEqual(r.json.errors, [
      { row: 4, column: 'event', line: 4, reason: 'not one of the allowed values', value: '"tap"', rule: 'enum [view, click]' },
      { row: 5, column: 'age', line: 5, reason: 'below the minimum', value: '"-1"', rule: 'min 0' },
      { row: 6, column: 'age', line: 6, reason: 'malformed number', value: '"abc"', rule: 'type int32' },
      { row: 7, column: 'country', line: 7, reason: "longer than the column's max_length", value: '"usa"', rule: 'max_length 2' },
      { row: 8, column: 'ts', line: 8, reason: 'matches neither RFC 3339 nor a declared format', value: '"yesterday"', rule: 'formats' },
      { row: 9, column: 'ok', line: 9, reason: 'expected bool (true/false, 1/0, yes/no, y/n, t/f, on/off)', value: '"maybe"', rule: 'type bool' },
    ]);

    // CSV cells follow the same rules.
    const csv = 'ts,event,age,ok,amount,country\n' +
      '2026-11-24T11:00:00Z, Click ,5,Y,1.25,nl\n' +
      '2026-11-24T11:00:01Z,view,200,n,,se\n';
    r = await server.postRecords('h', csv, 'text/csv');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.accepted, 1, r.text);
    assert.deepEqual(r.json.errors, [{ row: 2, column: 'age', line: 3, reason: 'above the maximum', value: '200', rule: 'max 150' }]);

    r = await server.flush('h');
    assert.equal(r.status, 200, r.text);
    const files = parquetFiles(join(store, 'h'));
    assert.equal(files.length, 1, files.join(' '));
    await expectRows(files[0], [
      { ts: us('2026-11-24T10:00:00Z'), event: 'view', age: 42n, ok: true, amount: 3.5, country: 'DE' },
      { ts: us('2026-11-24T23:00:00Z'), event: 'click', age: 7n, ok: true, amount: 2, country: 'FR' },
      { ts: us('2026-11-24T13:05:00Z'), event: 'click', age: null, ok: false, amount: null, country: 'US' },
      { ts: us('2026-11-24T11:00:00Z'), event: 'click', age: 5n, ok: true, amount: 1.25, country: 'NL' },
    ], 'ts');
  } catch (e) {
    failed = true;
    console.error(server.log().slice(-3000));
    throw e;
  }
});

test('unknown_fields evolve: new nullable columns, persisted, one file per day, replayed after a crash', async () => {
  const store = makeTempDir('ursa-evolve-');
  let server = await start(store);
  try {
    const declared = { columns: [{ name: 'ts', type: 'timestamp', nullable: false }, { name: 'a', type: 'int64' }], time_column: 'ts', unknown_fields: 'evolve' };
    let r = await server.put('/v1/datasets/e', declared);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.schema.unknown_fields, 'evolve');
    const ts = i => `2026-11-24T12:00:${String(i).padStart(2, '0')}Z`;
    const post = async (rows, what) => {
      const res = await server.postRecords('e', rows.map(x => JSON.stringify(x)).join('\n') + '\n');
      assert.equal(res.status, 200, `${what}: ${res.text}`);
      return res.json;
    };

    // A file written before any change.
    await post([{ ts: ts(0), a: 0 }, { ts: ts(1), a: 1 }], 'r0');
    assert.equal((await server.flush('e')).status, 200);
    const before = parquetFiles(join(store, 'e'));
    assert.equal(before.length, 1);

    // Buffered rows from before the change, then rows that bring new fields.
    await post([{ ts: ts(2), a: 2 }, { ts: ts(3), a: 3 }, { ts: ts(4), a: 4 }], 'r1');
    let j = await post([
      { ts: ts(5), a: 5, b: 'x', c: 1.5, d: true, e: { k: [1] }, f: 7, g: null },
      { ts: ts(6), a: 6, f: 8 },
      { ts: ts(7), a: 7, 'Bad-Name': 1 },
      { ts: ts(8), a: 8, c: 'not a number' },
    ], 'r2');
    assert.equal(j.accepted, 2, show(j));
    assert.deepEqual(j.errors, [
      { row: 3, column: null, line: 3, reason: 'field name cannot be a column name (must match [a-z][a-z0-9_]*, at most 128 bytes)', value: 'Bad-Name', rule: 'unknown_fields evolve' },
      { row: 4, column: 'c', line: 4, reason: 'expected float64, got a string', value: '"not a number"', rule: 'type float64' },
    ]);
    r = await server.get('/v1/datasets/e');
    const cols = r.json.schema.columns.map(c => `${c.name}:${c.type}:${c.nullable}`);
    assert.deepEqual(cols, ['ts:timestamp:false', 'a:int64:true', 'b:string:true', 'c:float64:true', 'd:bool:true', 'e:json:true', 'f:int64:true']);
    const stored = JSON.parse(readFileSync(join(store, 'e', '_ursa', 'schema.json'), 'utf8'));
    assert.deepEqual(stored.columns.map(c => c.name), ['ts', 'a', 'b', 'c', 'd', 'e', 'f'], 'the stored schema has the new columns');

    // The document that created the dataset still matches it.
    r = await server.put('/v1/datasets/e', declared);
    assert.equal(r.status, 200, r.text);

    // Concurrent requests bringing the same new field add one column.
    const many = await Promise.all([0, 1, 2, 3].map(k => server.postRecords('e', JSON.stringify({ ts: ts(10 + k), a: 10 + k, h: k }) + '\n')));
    for (const m of many) assert.equal(m.json?.accepted, 1, m.text);
    // A CSV header brings a string column.
    r = await server.postRecords('e', `ts,a,note\n${ts(20)},20,hello\n`, 'text/csv');
    assert.equal(r.json?.accepted, 1, r.text);
    r = await server.get('/v1/datasets/e');
    assert.deepEqual(r.json.schema.columns.slice(7).map(c => `${c.name}:${c.type}`), ['h:int64', 'note:string']);

    // A crash before the flush: the WAL holds records from before and after the change.
    await server.kill('SIGKILL');
    server = await start(store);
    r = await server.get('/v1/datasets/e');
    assert.equal(r.json.schema.columns.length, 9, r.text);
    assert.equal(r.json.buffered_rows, 3 + 2 + 4 + 1, r.text);
    r = await server.flush('e');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.files.length, 1, `one file for the day: ${r.text}`);
    const all = parquetFiles(join(store, 'e'));
    assert.equal(all.length, 2, all.join(' '));
    const after = all.find(f => !before.includes(f));

    const row = (i, extra = {}) => ({ ts: us(ts(i)), a: BigInt(i), b: null, c: null, d: null, e: null, f: null, h: null, note: null, ...extra });
    await expectRows(after, [
      row(2), row(3), row(4),
      row(5, { b: 'x', c: 1.5, d: true, e: '{"k":[1]}', f: 7n }),
      row(6, { f: 8n }),
      row(10, { h: 0n }), row(11, { h: 1n }), row(12, { h: 2n }), row(13, { h: 3n }),
      row(20, { note: 'hello' }),
    ], 'ts');
    // The file from before the change is untouched and still reads as it did.
    await expectRows(before[0], [{ ts: us(ts(0)), a: 0n }, { ts: us(ts(1)), a: 1n }], 'ts');
    // Readers that union by name see nulls in the old file.
    const u = await duckdbQuery(`SELECT a, b, f FROM read_parquet([${all.map(f => `'${f}'`).join(',')}], union_by_name = true) ORDER BY a`);
    assert.equal(u.length, 12);
    assert.deepEqual(u.slice(0, 2).map(x => [Number(x.a), x.b, x.f]), [[0, null, null], [1, null, null]]);
    const five = u.find(x => Number(x.a) === 5);
    assert.deepEqual([five.b, Number(five.f)], ['x', 7]);
  } catch (e) {
    failed = true;
    console.error(server.log().slice(-3000));
    throw e;
  }
});

test('limits: body, record, string length, nesting depth, columns — each with a clear error', async () => {
  const store = makeTempDir('ursa-limits-');
  const server = await startServer({ store, args: ['--max-body', String(1 << 20), '--max-record', '4096'] });
  servers.push(server);
  try {
    const cols = [{ name: 'ts', type: 'timestamp', nullable: false }, { name: 's', type: 'string', max_length: 8 }];
    let r = await server.put('/v1/datasets/l', { columns: cols, time_column: 'ts' });
    assert.equal(r.status, 201, r.text);
    const many = Array.from({ length: 1025 }, (_, i) => ({ name: `c${i}`, type: 'int64' }));
    r = await server.put('/v1/datasets/wide', { columns: [...cols, ...many], time_column: 'ts' });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error, 'too many columns: 1027 (at most 1024)');

    r = await server.postRecords('l', Buffer.alloc(2 << 20, 0x20));
    assert.equal(r.status, 413, r.text);
    assert.match(r.json.error, /^request body larger than 1048576 bytes/);

    const ok = JSON.stringify({ ts: '2026-11-24T00:00:00Z', s: 'fine' });
    const deep = `{"ts":"2026-11-24T00:00:00Z","x":${'['.repeat(200)}${']'.repeat(200)}}`;
    const big = JSON.stringify({ ts: '2026-11-24T00:00:00Z', x: 'y'.repeat(5000) });
    const long = JSON.stringify({ ts: '2026-11-24T00:00:00Z', s: 'ninechars' });
    r = await server.postRecords('l', [ok, deep, big, long, ok].join('\n') + '\n');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.accepted, 2, r.text);
    assert.deepEqual(r.json.errors, [
      { row: 2, column: null, line: 2, reason: 'value nested too deeply', rule: 'max_depth 128' },
      { row: 3, column: null, line: 3, reason: 'record larger than the maximum record size', rule: 'max_record 4096 bytes' },
      { row: 4, column: 's', line: 4, reason: "longer than the column's max_length", value: '"ninechars"', rule: 'max_length 8' },
    ]);
  } catch (e) {
    failed = true;
    console.error(server.log().slice(-3000));
    throw e;
  }
});
