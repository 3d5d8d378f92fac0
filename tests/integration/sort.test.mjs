// sort.test.mjs — sorted files through the real server on loopback: a schema's "sort_by" is validated (400
// with a message naming what is wrong), shown by GET, kept when the schema evolves and across a restart;
// every flushed file holds its rows in key order (ascending, nulls first, rows equal on the key in arrival
// order) as DuckDB reads them, and every row group says so in RowGroup.sorting_columns, as hyparquet and
// `ursa inspect --json` read the footer. Without "sort_by" the key is the time column.
//
//   node --test tests/integration/sort.test.mjs      (URSA_BIN=build/ursa, URSA_TEST_TMP=os.tmpdir())
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports, URSA_BIN } from './helpers.mjs';
import { duckdbQuery, parquetFooter, close as closeReaders } from '../tools/pqread.mjs';

let failed = false;
const logs = [];
after(async () => {
  await closeReaders();
  const reports = logs.flatMap(l => sanitizerReports(l()));
  if (reports.length) { failed = true; console.error(reports.join('\n')); }
  assert.deepEqual(reports, [], 'sanitizer reports in the server output');
  if (!failed) removeTempDirs();
});

async function start(store) {
  const s = await startServer({ store, args: ['--flush-max-age', '3600'] });
  logs.push(s.log);
  return s;
}

const SCHEMA = {
  columns: [
    { name: 'id', type: 'int64', nullable: false },
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'country', type: 'string' },
    { name: 'doc', type: 'json' },
  ],
  time_column: 'ts',
  unknown_fields: 'evolve',
  sort_by: ['country', 'ts'],
};

/** The ids of a file's rows in file order, as DuckDB reads them. */
async function idsOf(file) {
  const rows = await duckdbQuery(`SELECT id FROM read_parquet('${file}', file_row_number = true) ORDER BY file_row_number`);
  return rows.map(r => Number(r.id));
}

/** Row groups' sorting columns as hyparquet decodes them, and as `ursa inspect --json` shows them. */
async function sortingOf(file) {
  const md = await parquetFooter(file);
  const hy = md.row_groups.map(g => (g.sorting_columns ?? []).map(c => [c.column_idx, c.descending, c.nulls_first]));
  const r = spawnSync(URSA_BIN, ['inspect', '--json', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const ours = JSON.parse(r.stdout).row_groups.map(g => (g.sorting_columns ?? []).map(c => [c.column_idx, c.descending, c.nulls_first]));
  assert.deepEqual(ours, hy, 'ursa inspect and hyparquet disagree');
  return hy;
}

/** Stable sort by (country nulls first, ts): what a sorted file must hold, from rows in arrival order. */
function expectedOrder(rows) {
  const key = r => [r.country ?? null, Date.parse(r.ts)];
  return rows.map((r, i) => ({ r, i })).sort((a, b) => {
    const [ca, ta] = key(a.r), [cb, tb] = key(b.r);
    if (ca !== cb) {
      if (ca === null) return -1;
      if (cb === null) return 1;
      return Buffer.compare(Buffer.from(ca), Buffer.from(cb));
    }
    return ta - tb || a.i - b.i;
  }).map(x => x.r.id);
}

test('sort_by: validated, shown, kept; flushed files sorted by country then ts, nulls first, stable', async () => {
  const store = makeTempDir('ursa-sort-');
  let server = await start(store);
  try {
    // Bad keys: 400 with a JSON body that names the problem; no dataset is made.
    const bad = [
      [['nope'], /"sort_by"\[0\]: no column "nope"/],
      [['doc'], /column "doc" is json, which has no order/],
      [['country', 'country'], /column "country" is named twice/],
      [[], /"sort_by" must be a list of 1 to 8 column names/],
      ['country', /"sort_by" must be a list of 1 to 8 column names/],
      [['id', 'ts', 'country', 'id', 'ts', 'country', 'id', 'ts', 'country'], /list of 1 to 8/],
    ];
    for (const [sortBy, re] of bad) {
      const r = await server.put('/v1/datasets/bad', { ...SCHEMA, sort_by: sortBy });
      assert.equal(r.status, 400, r.text);
      assert.match(r.json?.error ?? '', re, r.text);
    }
    assert.equal((await server.get('/v1/datasets/bad')).status, 404);

    let r = await server.put('/v1/datasets/s', SCHEMA);
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.json.schema.sort_by, ['country', 'ts']);
    // Another key is another schema.
    r = await server.put('/v1/datasets/s', { ...SCHEMA, sort_by: ['ts'] });
    assert.equal(r.status, 409, r.text);

    // Unsorted rows in several requests over two days, with nulls and rows equal on the key.
    const countries = ['us', 'de', null, 'fr', 'de', 'br', undefined, 'us', 'dé', 'd'];
    const sent = [];
    let id = 0;
    for (let req = 0; req < 6; req++) {
      const rows = [];
      for (let k = 0; k < 40; k++) {
        const c = countries[(req * 7 + k * 3) % countries.length];
        const day = (req + k) % 2 ? '2026-03-01' : '2026-03-02';
        const sec = (k * 37 + req * 11) % 5; // few distinct times: many ties
        const row = { id: id++, ts: `${day}T0${sec}:00:00Z` };
        if (c !== undefined) row.country = c;
        if (req === 4 && k === 0) row.extra = 'x'; // a new column: the schema evolves
        rows.push(row);
      }
      r = await server.postRecords('s', rows.map(x => JSON.stringify(x)).join('\n') + '\n');
      assert.equal(r.json?.accepted, rows.length, r.text);
      sent.push(...rows);
    }
    r = await server.get('/v1/datasets/s');
    assert.deepEqual(r.json.schema.columns.map(c => c.name), ['id', 'ts', 'country', 'doc', 'extra']);
    assert.deepEqual(r.json.schema.sort_by, ['country', 'ts'], 'evolution kept the key');

    r = await server.flush('s');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.files.length, 2, r.text);
    for (const f of r.json.files) {
      const file = join(store, f.path);
      const want = expectedOrder(sent.filter(x => x.ts.startsWith(f.date)));
      assert.deepEqual(await idsOf(file), want, `${f.path}: rows not in key order`);
      const sorting = await sortingOf(file);
      assert.ok(sorting.length >= 1);
      for (const g of sorting) assert.deepEqual(g, [[2, false, true], [1, false, true]], `${f.path}: sorting_columns`);
    }

    // The key is in the stored schema: a restart keeps it.
    await server.stop();
    server = await start(store);
    r = await server.get('/v1/datasets/s');
    assert.deepEqual(r.json.schema.sort_by, ['country', 'ts']);
    r = await server.put('/v1/datasets/s', SCHEMA);
    assert.equal(r.status, 200, r.text);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    await server.stop();
  }
});

test('without sort_by: files sorted by the time column, ties in arrival order', async () => {
  const store = makeTempDir('ursa-sort-default-');
  const server = await start(store);
  try {
    const schema = { columns: [{ name: 'id', type: 'int64', nullable: false }, { name: 'ts', type: 'timestamp', nullable: false }], time_column: 'ts' };
    let r = await server.put('/v1/datasets/d', schema);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.schema.sort_by, undefined, 'the default key is not written into the document');
    // Saying the default is the same schema.
    r = await server.put('/v1/datasets/d', { ...schema, sort_by: ['ts'] });
    assert.equal(r.status, 200, r.text);
    const sent = [];
    for (let req = 0; req < 3; req++) {
      const rows = Array.from({ length: 50 }, (_, k) => ({ id: req * 50 + k, ts: `2026-03-03T10:${String((49 - k + req * 7) % 60).padStart(2, '0')}:00Z` }));
      r = await server.postRecords('d', rows.map(x => JSON.stringify(x)).join('\n') + '\n');
      assert.equal(r.json?.accepted, 50, r.text);
      sent.push(...rows);
    }
    r = await server.flush('d');
    assert.equal(r.status, 200, r.text);
    const file = join(store, r.json.files[0].path);
    const want = sent.map((x, i) => ({ x, i })).sort((a, b) => Date.parse(a.x.ts) - Date.parse(b.x.ts) || a.i - b.i).map(e => e.x.id);
    assert.deepEqual(await idsOf(file), want);
    for (const g of await sortingOf(file)) assert.deepEqual(g, [[1, false, true]]);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    await server.stop();
  }
});
