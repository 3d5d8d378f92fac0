// query.test.mjs — SQL over a dataset's buffered and stored rows, as users ask it:
//   - one node: the same answers before a flush, after it (rows in Parquet), and with rows in both; GET and
//     POST; every format read back by an independent reader (apache-arrow for the Arrow stream, hyparquet for
//     Parquet, CSV and NDJSON parsed here); EXPLAIN names the files it pruned; FROM <dataset>.quarantine;
//   - errors are 4xx with a JSON body naming the cause (syntax, unsupported constructs, unknown dataset or
//     column, overflow, the memory budget, the time limit), and the node lives on;
//   - three nodes behind nginx: every row acknowledged by any node is counted once, whichever node takes the
//     query, while rows sit in all three buffers and in files; a node killed -9 makes the answer fail with 503
//     naming it, or, with "partial": true, succeed with the node listed as missing;
//   - `ursa query --store` runs the same engine on the stored table.
//
//   node --test tests/integration/query.test.mjs      (URSA_BIN, URSA_TEST_TMP as for every test)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { tableFromIPC } from 'apache-arrow';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports, URSA_BIN } from './helpers.mjs';
import { startGateway } from './gateway.mjs';

let failed = false;
const logs = [];
after(async () => {
  const reports = logs.flatMap(l => sanitizerReports(l()));
  assert.deepEqual(reports, [], 'sanitizer reports');
  if (!failed) removeTempDirs();
});
function step(name, fn) {
  test(name, { timeout: 180_000 }, async () => { try { await fn(); } catch (e) { failed = true; throw e; } });
}

const SCHEMA = {
  columns: [
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'id', type: 'int64', nullable: false },
    { name: 'event', type: 'string' },
    { name: 'value', type: 'float64' },
    { name: 'ok', type: 'bool' },
  ],
  time_column: 'ts',
};
const EVENTS = ['click', 'view', 'buy', 'été', '日本'];
/** Row i: three days of December 2026, a null value every 7th row, a null event every 11th. */
function row(i) {
  const day = 1 + (i % 3), sec = i % 86400;
  const ts = `2026-12-0${day}T${String(Math.floor(sec / 3600)).padStart(2, '0')}:${String(Math.floor(sec / 60) % 60).padStart(2, '0')}:${String(sec % 60).padStart(2, '0')}Z`;
  return { ts, id: i, event: i % 11 === 0 ? null : EVENTS[i % 5], value: i % 7 === 0 ? null : (i % 100) / 4, ok: i % 2 === 0 };
}
const ndjson = (a, b) => Array.from({ length: b - a }, (_, k) => JSON.stringify(row(a + k))).join('\n') + '\n';

/** The answer a correct engine gives for rows [0, n): computed here, independently. */
function expected(n) {
  const byEvent = new Map();
  let sum = 0, nulls = 0;
  for (let i = 0; i < n; i++) {
    const r = row(i);
    if (r.value === null) nulls++; else sum += r.value;
    const e = byEvent.get(r.event) ?? { count: 0, sum: 0, ids: 0 };
    e.count++; if (r.value !== null) e.sum += r.value; e.ids += r.id;
    byEvent.set(r.event, e);
  }
  return { sum, nulls, byEvent };
}

async function query(server, sql, extra = {}) {
  const r = await server.post('/v1/query', { sql, ...extra });
  return r;
}
async function rows(server, sql, extra) {
  const r = await query(server, sql, extra);
  assert.equal(r.status, 200, `${sql}: ${r.text}`);
  return r.json.rows;
}

async function checkAnswers(server, n, label) {
  const ex = expected(n);
  const [[count, distinct, sumv, nullv]] = await rows(server,
    'SELECT count(*), count(DISTINCT id), sum(value), count(*) - count(value) FROM ev');
  assert.equal(count, n, `${label}: count(*)`);
  assert.equal(distinct, n, `${label}: no row twice`);
  assert.ok(Math.abs(sumv - ex.sum) < 1e-6 * Math.max(1, ex.sum), `${label}: sum ${sumv} != ${ex.sum}`);
  assert.equal(nullv, ex.nulls, `${label}: nulls`);
  const grouped = await rows(server, 'SELECT event, count(*) AS c, sum(id) FROM ev GROUP BY event ORDER BY event NULLS FIRST');
  const want = [...ex.byEvent.entries()].sort((a, b) => (a[0] === null ? -1 : b[0] === null ? 1 : a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([e, v]) => [e, v.count, v.ids]);
  assert.deepEqual(grouped, want, `${label}: GROUP BY event`);
  const top = await rows(server, 'SELECT id, value FROM ev WHERE value IS NOT NULL ORDER BY value DESC, id LIMIT 3 OFFSET 1');
  const all = Array.from({ length: n }, (_, i) => row(i)).filter(r => r.value !== null)
    .sort((a, b) => b.value - a.value || a.id - b.id).slice(1, 4).map(r => [r.id, r.value]);
  assert.deepEqual(top, all, `${label}: ORDER BY ... LIMIT ... OFFSET`);
}

step('one node: the same answers from the buffer, from Parquet, and from both', async () => {
  const store = makeTempDir('ursa-query-');
  const server = await startServer({ store, args: ['--wal-dir', `${store}/wal`] });
  logs.push(server.log);
  try {
    assert.equal((await server.put('/v1/datasets/ev', SCHEMA)).status, 201);
    assert.equal((await server.postRecords('ev', ndjson(0, 3000))).status, 200);
    await checkAnswers(server, 3000, 'buffered');
    assert.equal((await server.flush('ev')).status, 200);
    await checkAnswers(server, 3000, 'stored');
    assert.equal((await server.postRecords('ev', ndjson(3000, 4000))).status, 200);
    await checkAnswers(server, 4000, 'stored and buffered');
    const st = (await query(server, 'SELECT count(*) FROM ev')).json.stats;
    assert.equal(st.live_rows, 1000);
    assert.equal(st.files, 3);
    assert.equal(typeof st.snapshot_id, 'number');

    // GET, and the time column's bounds prune files by day; EXPLAIN says so
    const g = await server.get('/v1/query?sql=' + encodeURIComponent("SELECT count(*) FROM ev WHERE ts >= '2026-12-03'"));
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.rows[0][0], Array.from({ length: 4000 }, (_, i) => i).filter(i => i % 3 === 2).length);
    assert.equal(g.json.stats.files_pruned, 2);
    const plan = (await rows(server, "EXPLAIN SELECT count(*) FROM ev WHERE ts >= '2026-12-03'")).map(r => r[0]).join('\n');
    assert.match(plan, /Files: 3 in the snapshot, 2 pruned by day, 1 read/);

    // expressions over both kinds of rows
    const ex = await rows(server, `SELECT id, upper(event), length(event), id % 4, id / 8, CASE WHEN value > 20 THEN 'hi' ELSE 'lo' END,
      coalesce(value, -1), date_trunc('day', ts), extract(day FROM ts), time_bucket(interval '6 hours', ts)
      FROM ev WHERE id IN (3, 3001) ORDER BY id`);
    const exRow = i => {
      const r = row(i), day = r.ts.slice(0, 10) + 'T00:00:00Z', hour = Number(r.ts.slice(11, 13));
      return [i, r.event === null ? null : r.event.toUpperCase(), r.event === null ? null : [...r.event].length, i % 4, i / 8,
        r.value > 20 ? 'hi' : 'lo', r.value ?? -1, day, Number(r.ts.slice(8, 10)),
        `${r.ts.slice(0, 10)}T${String(hour - hour % 6).padStart(2, '0')}:00:00Z`];
    };
    assert.deepEqual(ex, [exRow(3), exRow(3001)]);
    const uni = await rows(server, "SELECT upper(event), length(event), substr(event, 2, 1) FROM ev WHERE event ILIKE 'ÉT%' LIMIT 1");
    assert.deepEqual(uni, [['ÉTÉ', 3, 't']]);
  } finally { await server.stop(); }
});

step('a flush whose commit is under way hides no row, and a query while it runs counts each row once', async () => {
  const store = makeTempDir('ursa-query-');
  const server = await startServer({ store, args: ['--wal-dir', `${store}/wal`], env: { URSA_TEST_COMMIT_PAUSE_MS: '1500' } });
  logs.push(server.log);
  try {
    assert.equal((await server.put('/v1/datasets/ev', SCHEMA)).status, 201);
    await server.postRecords('ev', ndjson(0, 2000));
    await server.flush('ev');                 // rows 0..2000 in the table
    await server.postRecords('ev', ndjson(2000, 3000));
    const flushing = server.flush('ev');      // its files are published, its commit paused 1.5 s
    await new Promise(res => setTimeout(res, 700));
    await checkAnswers(server, 3000, 'while a commit is under way');
    assert.equal((await flushing).status, 200);
    await checkAnswers(server, 3000, 'after the commit');
  } finally { await server.stop(); }
});

step('formats: JSON, NDJSON, CSV, Arrow IPC and Parquet, by "format" and by Accept', async () => {
  const store = makeTempDir('ursa-query-');
  const server = await startServer({ store, args: ['--wal-dir', `${store}/wal`] });
  logs.push(server.log);
  try {
    await server.put('/v1/datasets/ev', SCHEMA);
    await server.postRecords('ev', ndjson(0, 50));
    await server.flush('ev');
    await server.postRecords('ev', ndjson(50, 60));
    const sql = 'SELECT id, event, value, ok, ts FROM ev WHERE id < 12 ORDER BY id';
    const want = Array.from({ length: 12 }, (_, i) => row(i));

    const nd = await server.post('/v1/query', { sql, format: 'ndjson' });
    assert.equal(nd.status, 200);
    assert.match(nd.headers.get('content-type'), /ndjson/);
    const ndRows = nd.text.trim().split('\n').map(l => JSON.parse(l));
    assert.deepEqual(ndRows.map(r => [r.id, r.event, r.value, r.ok]), want.map(r => [r.id, r.event, r.value, r.ok]));

    const csv = await server.request('POST', '/v1/query', { body: { sql }, headers: { accept: 'text/csv' } });
    assert.equal(csv.status, 200);
    const lines = csv.text.trim().split('\n');
    assert.equal(lines[0], 'id,event,value,ok,ts');
    assert.equal(lines[1].split(',').slice(0, 4).join(','), '0,,,true');

    const arrow = await fetch(server.url + '/v1/query', { method: 'POST', body: JSON.stringify({ sql }),
      headers: { accept: 'application/vnd.apache.arrow.stream' } });
    assert.equal(arrow.status, 200);
    assert.equal(arrow.headers.get('content-type'), 'application/vnd.apache.arrow.stream');
    const t = tableFromIPC(new Uint8Array(await arrow.arrayBuffer()));
    assert.equal(t.numRows, 12);
    assert.deepEqual([...t.getChild('id').toArray()].map(Number), want.map(r => r.id));
    assert.deepEqual([...t.getChild('event')], want.map(r => r.event));
    assert.deepEqual([...t.getChild('value')], want.map(r => r.value));

    const pq = await fetch(server.url + '/v1/query', { method: 'POST', body: JSON.stringify({ sql, format: 'parquet' }) });
    assert.equal(pq.status, 200);
    const buf = await pq.arrayBuffer();
    const objs = await parquetReadObjects({ file: buf, compressors });
    assert.deepEqual(objs.map(o => [Number(o.id), o.event, o.value, o.ok]), want.map(r => [r.id, r.event, r.value, r.ok]));

    const bad = await server.post('/v1/query', { sql, format: 'xml' });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error, /xml/);
  } finally { await server.stop(); }
});

step('errors: 4xx with a JSON error naming the cause; the node lives on', async () => {
  const store = makeTempDir('ursa-query-');
  const server = await startServer({ store, args: ['--wal-dir', `${store}/wal`, '--query-memory', '2M'] });
  logs.push(server.log);
  try {
    await server.put('/v1/datasets/ev', SCHEMA);
    await server.postRecords('ev', ndjson(0, 40000));
    const cases = [
      ['SELEC 1', 400, /syntax error/],
      ['SELECT * FROM ev a JOIN ev b ON a.id = b.id', 400, /joins are not supported/],
      ['SELECT count(*) FROM (SELECT 1) s', 400, /subqueries are not supported/],
      ['SELECT DISTINCT event FROM ev', 400, /DISTINCT/],
      ['SELECT id, row_number() OVER () FROM ev', 400, /window functions|row_number/],
      ['SELECT nope FROM ev', 400, /column "nope" does not exist/],
      ['SELECT * FROM nothere', 404, /nothere/],
      ['SELECT event, count(*) FROM ev', 400, /GROUP BY/],
      ['SELECT id + 9223372036854775807 FROM ev', 400, /overflow/],
      ["SELECT 'abc'::bigint FROM ev", 400, /cannot cast 'abc' to bigint/],
      ['SELECT id, event, value, ts FROM ev ORDER BY event, id', 413, /memory/],
      ['SELECT 1; SELECT 2', 400, /one statement/],
      ['DELETE FROM ev', 400, /only SELECT/],
    ];
    for (const [sql, status, re] of cases) {
      const r = await query(server, sql);
      assert.equal(r.status, status, `${sql}: ${r.text}`);
      assert.match(r.json.error, re, sql);
    }
    assert.equal((await server.post('/v1/query', { nosql: 1 })).status, 400);
    assert.equal((await server.request('POST', '/v1/query', { body: 'not json' })).status, 400);
    // division by zero is NULL, as DuckDB has it
    assert.deepEqual(await rows(server, 'SELECT 1 / (id - id), id % 0 FROM ev LIMIT 1'), [[null, null]]);
    // still serving
    assert.deepEqual(await rows(server, 'SELECT count(*) FROM ev'), [[40000]]);
  } finally { await server.stop(); }
});

step('a query past its time limit is a 408', async () => {
  const store = makeTempDir('ursa-query-');
  const server = await startServer({ store, args: ['--wal-dir', `${store}/wal`, '--query-timeout', '1ms'] });
  logs.push(server.log);
  try {
    await server.put('/v1/datasets/ev', SCHEMA);
    for (let k = 0; k < 4; k++) await server.postRecords('ev', ndjson(k * 50000, (k + 1) * 50000));
    const r = await query(server, 'SELECT event, count(DISTINCT id) FROM ev GROUP BY event ORDER BY 2');
    assert.equal(r.status, 408, r.text);
    assert.match(r.json.error, /time limit/);
  } finally { await server.stop(); }
});

step('a query whose client goes away stops; the node goes on', async () => {
  const store = makeTempDir('ursa-query-');
  // the query's first batch waits 1.5 s (a test hook), long enough for the client to leave first
  const server = await startServer({ store, args: ['--wal-dir', `${store}/wal`], env: { URSA_TEST_QUERY_PAUSE_MS: '1500' } });
  logs.push(server.log);
  try {
    await server.put('/v1/datasets/ev', SCHEMA);
    await server.postRecords('ev', ndjson(0, 1000));
    const ac = new AbortController();
    const gone = fetch(server.url + '/v1/query', { method: 'POST', body: JSON.stringify({ sql: 'SELECT count(*) FROM ev' }),
      signal: ac.signal }).catch(e => e.name);
    await new Promise(res => setTimeout(res, 300));
    ac.abort();
    assert.equal(await gone, 'AbortError');
    for (let i = 0; i < 50 && !/query stopped: its client went away/.test(server.log()); i++)
      await new Promise(res => setTimeout(res, 100));
    assert.match(server.log(), /query stopped: its client went away/);
    assert.deepEqual(await rows(server, 'SELECT count(*) FROM ev'), [[1000]]);
  } finally { await server.stop(); }
});

step('FROM <dataset>.quarantine: refused rows, buffered and stored', async () => {
  const store = makeTempDir('ursa-query-');
  const server = await startServer({ store, args: ['--wal-dir', `${store}/wal`] });
  logs.push(server.log);
  try {
    await server.put('/v1/datasets/ev', SCHEMA);
    const bad = n => Array.from({ length: n }, (_, i) => JSON.stringify({ ts: 'not a time', id: i })).join('\n') + '\n';
    assert.equal((await server.postRecords('ev', bad(5))).json.quarantined, 5);
    await server.flush('ev');
    assert.equal((await server.postRecords('ev', bad(3))).json.quarantined, 3);
    const r = await rows(server, 'SELECT count(*), min("column"), max(reason) FROM ev.quarantine');
    assert.equal(r[0][0], 8);
    assert.equal(r[0][1], 'ts');
    assert.match(r[0][2], /RFC 3339/);
  } finally { await server.stop(); }
});

step('three nodes behind nginx: every acknowledged row once, whichever node answers; a dead node fails the query', async () => {
  const store = makeTempDir('ursa-query-');
  const nodes = [];
  for (const n of ['q1', 'q2', 'q3'])
    nodes.push(await startServer({ store, node: n, args: ['--wal-dir', `${store}/wal-${n}`, '--heartbeat', '200ms'] }));
  nodes.forEach(s => logs.push(s.log));
  const gw = await startGateway({ upstreams: nodes.map(s => `127.0.0.1:${s.port}`) });
  const via = async (body) => {
    const r = await fetch(gw.url + '/v1/query', { method: 'POST', body: JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, json: JSON.parse(text), text };
  };
  try {
    assert.equal((await nodes[0].put('/v1/datasets/ev', SCHEMA)).status, 201);
    let n = 0;
    for (let round = 0; round < 6; round++) {
      const r = await fetch(gw.url + '/v1/datasets/ev/records', { method: 'POST', body: ndjson(n, n + 500),
        headers: { 'content-type': 'application/x-ndjson' } });
      assert.equal(r.status, 200, await r.text());
      n += 500;
      if (round === 2) await nodes[1].flush('ev');
      if (round === 4) await nodes[0].flush('ev');
    }
    const ex = expected(n);
    for (let k = 0; k < 6; k++) { // round robin: each node answers twice
      const r = await via({ sql: 'SELECT count(*), count(DISTINCT id), sum(value) FROM ev' });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.rows[0][0], n, 'count(*)');
      assert.equal(r.json.rows[0][1], n, 'no row twice');
      assert.ok(Math.abs(r.json.rows[0][2] - ex.sum) < 1e-6 * ex.sum);
      assert.equal(r.json.stats.nodes, 3);
    }
    await nodes[2].kill();
    await new Promise(res => setTimeout(res, 1500)); // its heartbeat turns stale
    const fail = await nodes[0].post('/v1/query', { sql: 'SELECT count(*) FROM ev' });
    assert.equal(fail.status, 503, fail.text);
    assert.match(fail.json.error, /q3/);
    const part = await nodes[0].post('/v1/query', { sql: 'SELECT count(*) FROM ev', partial: true });
    assert.equal(part.status, 200, part.text);
    assert.equal(part.json.stats.partial, true);
    assert.deepEqual(part.json.stats.missing, ['q3']);
    assert.ok(part.json.rows[0][0] < n);
  } finally {
    await gw.stop();
    for (const s of nodes) await s.stop();
  }
});

step('ursa query --store: the engine on the stored table', async () => {
  const store = makeTempDir('ursa-query-');
  const server = await startServer({ store, args: ['--wal-dir', `${store}/wal`] });
  logs.push(server.log);
  try {
    await server.put('/v1/datasets/ev', SCHEMA);
    await server.postRecords('ev', ndjson(0, 1000));
    await server.flush('ev');
  } finally { await server.stop(); }
  const run = args => new Promise(res => execFile(URSA_BIN, ['query', ...args], { encoding: 'utf8' },
    (err, stdout, stderr) => res({ code: err ? err.code : 0, stdout, stderr })));
  const r = await run(['--store', store, '--format', 'csv', 'SELECT count(*) AS n, sum(id) FROM ev WHERE ok']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `n,sum\n500,${Array.from({ length: 1000 }, (_, i) => i).filter(i => i % 2 === 0).reduce((a, b) => a + b, 0)}\n`);
  const bad = await run(['--store', store, 'SELECT * FROM missing']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /missing/);
});
