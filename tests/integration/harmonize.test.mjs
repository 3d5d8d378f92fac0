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
//    union_by_name sees nulls there. A refused request changes nothing (issue 11): a CSV header past 1,024
//    columns, an all_or_nothing refusal and a refused wide record leave GET and the stored schema as they
//    were (also after kill -9), a partly refused request adds only its stored rows' columns, a field another
//    request stored meanwhile with another type (or past the limit) gets 409 and stores nothing, and a big
//    request logged in parts adds its field in the dataset's order while another request adds one.
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

    // Rules turned off are the column without them: created (201, not 409 against its own table), and the
    // same document again is the same schema (200).
    const off = { columns: [{ name: 'ts', type: 'timestamp', nullable: false, trim: false, coerce: false },
      { name: 's', type: 'string', trim: false }, { name: 'n', type: 'int64', coerce: false }], time_column: 'ts' };
    r = await server.put('/v1/datasets/off', off);
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.json.schema.columns[1], { name: 's', type: 'string', nullable: true });
    r = await server.put('/v1/datasets/off', off);
    assert.equal(r.status, 200, r.text);

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

/**
 * POSTs NDJSON whose body goes out in pieces: pieces[0] at once, each later one when the promise before it
 * (gates[i - 1]) resolves, so the server parses each piece before the next arrives.
 */
async function postInPieces(server, dataset, pieces, gates, headers = {}) {
  const enc = new TextEncoder();
  let step = 0;
  const body = new ReadableStream({
    async pull(ctl) {
      if (step >= pieces.length) return ctl.close();
      if (step > 0) await gates[step - 1];
      ctl.enqueue(enc.encode(pieces[step++]));
    },
  });
  const res = await fetch(`${server.url}/v1/datasets/${dataset}/records`, {
    method: 'POST', body, duplex: 'half', headers: { 'content-type': 'application/x-ndjson', ...headers },
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

/** A promise with its resolve function: gate.open(). */
function gate() {
  let open;
  const p = new Promise(res => { open = res; });
  p.open = open;
  return p;
}

const sleep = ms => new Promise(res => setTimeout(res, ms));

test('unknown_fields evolve: a refused request changes nothing; only stored rows add columns', async () => {
  const store = makeTempDir('ursa-evolve-refused-');
  let server = await start(store);
  try {
    const declared = { columns: [{ name: 'ts', type: 'timestamp', nullable: false }, { name: 'a', type: 'int64' }], time_column: 'ts', unknown_fields: 'evolve' };
    let r = await server.put('/v1/datasets/r', declared);
    assert.equal(r.status, 201, r.text);
    const ts = '2026-11-24T12:00:00Z';
    const nd = rows => rows.map(x => JSON.stringify(x)).join('\n') + '\n';
    const columns = async () => (await server.get('/v1/datasets/r')).json.schema.columns.map(c => `${c.name}:${c.type}`);
    const storedColumns = () => JSON.parse(readFileSync(join(store, 'r', '_ursa', 'schema.json'), 'utf8')).columns.map(c => `${c.name}:${c.type}`);
    let want = ['ts:timestamp', 'a:int64'];
    const unchanged = async what => {
      assert.deepEqual(await columns(), want, `${what}: GET shows the schema unchanged`);
      assert.deepEqual(storedColumns(), want, `${what}: the stored schema is unchanged`);
    };
    const wide = n => Object.fromEntries([['ts', ts], ['a', 1], ...Array.from({ length: n }, (_, i) => [`w${i}`, i])]);

    // 1. A CSV header with 1,100 new columns: 400, and no column added.
    const header = ['ts', 'a', ...Array.from({ length: 1100 }, (_, i) => `h${i}`)];
    r = await server.postRecords('r', `${header.join(',')}\n${[ts, 1, ...Array(1100).fill('x')].join(',')}\n`, 'text/csv');
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error, /would make more than 1024 columns/);
    await unchanged('CSV header with 1,100 new columns');

    // 2. all_or_nothing refused (one bad record): the good record's new field is not added.
    r = await server.request('POST', '/v1/datasets/r/records?mode=all_or_nothing', {
      body: nd([{ ts, a: 1, x1: 'v' }, { ts, a: 'bad', x2: 2 }]), headers: { 'content-type': 'application/x-ndjson' },
    });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.accepted, 0, r.text);
    await unchanged('all_or_nothing refusal');

    // 3. A wide NDJSON record refused alone: nothing added.
    r = await server.postRecords('r', nd([wide(1100)]));
    assert.equal(r.status, 400, r.text);
    assert.deepEqual(r.json.errors.map(e => [e.row, e.rule]), [[1, 'columns max 1024']], r.text);
    await unchanged('a refused wide record');

    // ... and within a request it does not use up the limit: a later record's new field is taken.
    r = await server.postRecords('r', nd([wide(1100), { ts, a: 2, later: 'y' }]));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.accepted, 1, r.text);
    want = [...want, 'later:string'];
    assert.deepEqual(await columns(), want, 'only the stored record\'s field is added');

    // 4. Partly refused: only the accepted rows' new fields become columns, in their order.
    r = await server.postRecords('r', nd([
      { ts, a: 3, p: 1 },
      { ts, a: 'bad', q: 2 },            // refused for a: q comes to nothing
      { ts, a: 4, s: 'x', q2: null },    // null adds nothing
      { ts, a: 5, s: 5 },                // refused: s is a string column by now (row 3)
    ]) + `{"ts":"${ts}","a":8,"v":tru}\n`); // refused for its own new field v
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.accepted, 2, r.text);
    assert.deepEqual(r.json.errors.map(e => [e.row, e.column]), [[2, 'a'], [4, 's'], [5, 'v']], r.text);
    want = [...want, 'p:int64', 's:string'];
    assert.deepEqual(await columns(), want);
    assert.deepEqual(storedColumns(), want);
    // The refused rows are quarantined as ever, naming the column (also one that was never added).
    r = await server.get('/v1/datasets/r/quarantine?limit=3');
    assert.deepEqual(r.json.rows.map(q => [Number(q.row), q.column]), [[5, 'v'], [4, 's'], [2, 'a']], r.text);

    // 5. A later legitimate request with a new field is accepted and adds it.
    r = await server.postRecords('r', nd([{ ts, a: 6, z: true }]));
    assert.equal(r.status, 200, r.text);
    want = [...want, 'z:bool'];
    assert.deepEqual(await columns(), want);
    // A CSV header column becomes a column once a stored row has a value in it (an empty cell is null).
    r = await server.postRecords('r', `ts,a,blank,note\n${ts},7,,n7\n`, 'text/csv');
    assert.equal(r.status, 200, r.text);
    want = [...want, 'note:string'];
    assert.deepEqual(await columns(), want);

    // 6. After a restart the stored schema is what GET showed; the buffered rows came back.
    await server.kill('SIGKILL');
    server = await start(store);
    assert.deepEqual(await columns(), want, 'after a restart');
    assert.deepEqual(storedColumns(), want);
    r = await server.get('/v1/datasets/r');
    assert.equal(r.json.buffered_rows, 1 + 2 + 1 + 1, r.text);
    r = await server.flush('r');
    assert.equal(r.status, 200, r.text);
    const files = parquetFiles(join(store, 'r'));
    assert.equal(files.length, 1, files.join(' '));
    const row = (a, extra = {}) => ({ ts: us(ts), a: BigInt(a), later: null, p: null, s: null, z: null, note: null, ...extra });
    await expectRows(files[0], [row(2, { later: 'y' }), row(3, { p: 1n }), row(4, { s: 'x' }), row(6, { z: true }), row(7, { note: 'n7' })], 'a');
  } catch (e) {
    failed = true;
    console.error(server.log().slice(-3000));
    throw e;
  }
});

test('unknown_fields evolve: a request whose new field was added meanwhile with another type, or past the column limit, stores nothing (409)', async () => {
  const store = makeTempDir('ursa-evolve-conflict-');
  const server = await start(store);
  try {
    const declared = { columns: [{ name: 'ts', type: 'timestamp', nullable: false }, { name: 'a', type: 'int64' }], time_column: 'ts', unknown_fields: 'evolve' };
    let r = await server.put('/v1/datasets/c', declared);
    assert.equal(r.status, 201, r.text);
    const ts = '2026-11-24T12:00:00Z';
    const line = x => JSON.stringify(x) + '\n';
    const columns = async () => (await server.get('/v1/datasets/c')).json.schema.columns.map(c => `${c.name}:${c.type}`);

    // The first request has z as a string when the second stores z as int64.
    let g = gate();
    const key = 'conflict-1';
    const slow = postInPieces(server, 'c', [line({ ts, a: 1, z: 'text' }), line({ ts, a: 2 })], [g], { 'idempotency-key': key });
    await sleep(300); // the first piece is parsed
    r = await server.postRecords('c', line({ ts, a: 3, z: 7 }));
    g.open();
    assert.equal(r.status, 200, r.text);
    r = await slow;
    assert.equal(r.status, 409, r.text);
    assert.match(r.json.error, /"z".*int64.*string.*retry/s, r.text);
    assert.deepEqual(await columns(), ['ts:timestamp', 'a:int64', 'z:int64']);
    assert.equal((await server.get('/v1/datasets/c')).json.buffered_rows, 1, 'nothing of the refused request is stored');
    // Its Idempotency-Key was released: the retry runs (z is an int64 column now, so its first row is refused).
    r = await server.request('POST', '/v1/datasets/c/records', {
      body: line({ ts, a: 1, z: 'text' }) + line({ ts, a: 2 }), headers: { 'content-type': 'application/x-ndjson', 'idempotency-key': key },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('idempotent-replayed'), null, 'not a replayed answer');
    assert.deepEqual([r.json.accepted, r.json.errors[0]?.column, r.json.errors[0]?.rule], [1, 'z', 'type int64'], r.text);

    // The first request's 22 new fields fit when it starts (3 + 22), not when it ends (1,003 + 22 = 1,025).
    g = gate();
    const late22 = Object.fromEntries([['ts', ts], ['a', 10], ...Array.from({ length: 22 }, (_, i) => [`t${i}`, i])]);
    const late = postInPieces(server, 'c', [line(late22), line({ ts, a: 11 })], [g]);
    await sleep(300);
    const thousand = Object.fromEntries([['ts', ts], ['a', 12], ...Array.from({ length: 1000 }, (_, i) => [`k${i}`, i])]);
    r = await server.postRecords('c', line(thousand));
    g.open();
    assert.equal(r.status, 200, r.text);
    const before = await columns();
    assert.equal(before.length, 1003);
    r = await late;
    assert.equal(r.status, 409, r.text);
    assert.match(r.json.error, /1024 columns.*retry/s, r.text);
    assert.deepEqual(await columns(), before, 'the schema is as the other request left it');
  } catch (e) {
    failed = true;
    console.error(server.log().slice(-3000));
    throw e;
  }
});

test('unknown_fields evolve: a big request logged in parts adds a field while another request adds one (kill -9, replay)', async () => {
  const store = makeTempDir('ursa-evolve-parts-');
  const args = ['--wal-part-bytes', '4096'];
  let server = await startServer({ store, args });
  servers.push(server);
  try {
    const declared = { columns: [{ name: 'ts', type: 'timestamp', nullable: false }, { name: 'a', type: 'int64' }], time_column: 'ts', unknown_fields: 'evolve' };
    let r = await server.put('/v1/datasets/p', declared);
    assert.equal(r.status, 201, r.text);
    const ts = i => new Date(Date.UTC(2026, 10, 24, 12, 0, 0) + i * 1000).toISOString();
    const rows = (from, to, f = i => ({ ts: ts(i), a: i })) => Array.from({ length: to - from }, (_, k) => JSON.stringify(f(from + k)) + '\n').join('');
    // Piece 1 is logged as a part (only the dataset's columns); piece 2 brings x, the request's own column
    // until it ends; meanwhile another request stores o at the index x has in the request; piece 3 has a
    // refused record whose field y goes with it.
    const g1 = gate(), g2 = gate();
    const big = postInPieces(server, 'p', [
      rows(0, 300),
      rows(300, 600, i => (i === 300 ? { ts: ts(i), a: i, x: `x${i}` } : { ts: ts(i), a: i })),
      rows(600, 1000, i => (i === 900 ? { ts: ts(i), a: 'bad', y: 1 } : { ts: ts(i), a: i })),
    ], [g1, g2]);
    await sleep(300);
    g1.open();
    await sleep(300);
    r = await server.postRecords('p', JSON.stringify({ ts: ts(2000), a: 2000, o: 'other' }) + '\n');
    g2.open();
    assert.equal(r.status, 200, r.text);
    r = await big;
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.json.accepted, r.json.rejected], [999, 1], r.text);
    const want = ['ts:timestamp', 'a:int64', 'o:string', 'x:string'];
    const columns = async () => (await server.get('/v1/datasets/p')).json.schema.columns.map(c => `${c.name}:${c.type}`);
    assert.deepEqual(await columns(), want);

    await server.kill('SIGKILL');
    server = await startServer({ store, args });
    servers.push(server);
    assert.deepEqual(await columns(), want, 'after a restart');
    r = await server.get('/v1/datasets/p');
    assert.equal(r.json.buffered_rows, 1000, r.text);
    r = await server.flush('p');
    assert.equal(r.status, 200, r.text);
    const files = parquetFiles(join(store, 'p'));
    assert.equal(files.length, 1, files.join(' '));
    const expect = [];
    for (let i = 0; i < 1000; i++) if (i !== 900) expect.push({ ts: us(ts(i)), a: BigInt(i), o: null, x: i === 300 ? 'x300' : null });
    expect.push({ ts: us(ts(2000)), a: 2000n, o: 'other', x: null });
    await expectRows(files[0], expect, 'a');
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
