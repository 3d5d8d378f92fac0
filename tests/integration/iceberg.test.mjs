// iceberg.test.mjs -- tables written by Ursa's table module (the unit test
// test_table, run here with URSA_TEST_KEEP=1 so that its tables stay) read by
// readers that are not ours: icebird (an Iceberg reader in JavaScript, through
// a fetch that serves file:// URLs with Range), Debian's python3-avro for every
// manifest and manifest list, hyparquet for the field ids of every data file.
// Then the server with --iceberg: rows posted over two days and flushed three
// times (a restart between), read back through the table by icebird, equal to
// the rows sent, once each.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { parquetMetadata } from 'hyparquet';
import { icebergRead, icebergMetadata } from 'icebird';
import { URSA_BIN, startServer, makeTempDir, removeTempDirs, sanitizerReports } from './helpers.mjs';
import { useLocalFetch } from '../tools/iceberg_local.mjs';

useLocalFetch(); // icebird reads through fetch: file:// URLs served from disk, with Range

const PYCHECK = `
import json, sys, warnings
import avro.datafile, avro.io
warnings.filterwarnings("ignore", message="Unknown map")
def ids(s, path):
    if isinstance(s, list):
        for b in s: ids(b, path)
    elif isinstance(s, dict):
        t = s.get("type")
        if t == "record":
            for f in s["fields"]:
                if not isinstance(f.get("field-id"), int): sys.exit("%s.%s: no field-id" % (path, f["name"]))
                ids(f["type"], path + "." + f["name"])
        elif t == "array":
            if s.get("logicalType") != "map" and not isinstance(s.get("element-id"), int): sys.exit(path + ": no element-id")
            ids(s["items"], path + "[]")
        elif isinstance(t, (dict, list)): ids(t, path)
out = {}
for p in sys.argv[1:]:
    with open(p, "rb") as f:
        r = avro.datafile.DataFileReader(f, avro.io.DatumReader())
        ids(json.loads(r.meta["avro.schema"]), p)
        out[p] = {"records": sum(1 for _ in r), "meta": sorted(k for k in r.meta if not k.startswith("avro."))}
        r.close()
print(json.dumps(out))
`;

test('tables written by table_append, read by icebird, python3-avro and hyparquet', async () => {
  const work = mkdtempSync(join(tmpdir(), 'ursa-iceberg-'));
  try {
    execFileSync(join(dirname(URSA_BIN), 'test_table'), [], { cwd: work, env: { ...process.env, URSA_TEST_KEEP: '1' }, stdio: 'pipe' });
    const top = join(work, 'test-tmp');
    const run = join(top, readdirSync(top)[0]);
    await check(join(run, 'ev'), 70, 2);
    await check(join(run, 'race'), 225, 15);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

async function check(table, rows, manifests) {
  const tableUrl = 'file://' + table;
  const md = await icebergMetadata({ tableUrl });
  assert.equal(md['format-version'], 2);
  const got = await icebergRead({ tableUrl });
  assert.equal(got.length, rows, `${table}: rows through icebird`);
  if (rows === 70) {
    // a: rows 0..29 of day 20000, b: 0..24 and c: 25..39 of day 20001 (one a minute), k null every 5th
    const want = [];
    for (const [day, from, to] of [[20000, 0, 30], [20001, 0, 25], [20001, 25, 40]])
      for (let r = from; r < to; r++) want.push({ ts: (day * 86400 + r * 60) * 1000, k: r % 5 ? 7n : null, s: `v${String(r).padStart(3, '0')}` });
    const norm = x => ({ ts: x.ts.getTime(), k: x.k, s: x.s });
    const key = x => `${x.ts}|${x.s}`;
    assert.deepEqual(got.map(norm).sort((a, b) => key(a) < key(b) ? -1 : 1), want.sort((a, b) => key(a) < key(b) ? -1 : 1));
  }
  // Every Avro file: python3-avro reads it, every field has its id.
  const meta = join(table, 'metadata');
  const avros = readdirSync(meta).filter(f => f.endsWith('.avro')).map(f => join(meta, f));
  const py = JSON.parse(execFileSync('/usr/bin/python3', ['-c', PYCHECK, ...avros], { encoding: 'utf8' }));
  const lists = avros.filter(p => p.includes('/snap-'));
  const current = md.snapshots.find(s => String(s['snapshot-id']) === String(md['current-snapshot-id']));
  const currentList = lists.find(p => current['manifest-list'].endsWith(p.slice(p.lastIndexOf('/'))));
  assert.equal(py[currentList].records, manifests, `${table}: manifests in the current list`);
  assert.deepEqual(py[currentList].meta, ['format-version', 'parent-snapshot-id', 'sequence-number', 'snapshot-id']);
  for (const p of avros.filter(p => !p.includes('/snap-')))
    assert.deepEqual(py[p].meta, ['content', 'format-version', 'partition-spec', 'partition-spec-id', 'schema', 'schema-id']);
  // Every data file: the field ids of the table's schema.
  const schema = md.schemas.find(s => s['schema-id'] === md['current-schema-id']);
  const files = readdirSync(table, { recursive: true }).filter(f => f.endsWith('.parquet'));
  for (const f of files) {
    const buf = readFileSync(join(table, f));
    const pm = parquetMetadata(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
    for (const el of pm.schema.slice(1)) {
      const field = schema.fields.find(x => x.name === el.name);
      assert.equal(el.field_id, field.id, `${f}: field id of ${el.name}`);
    }
  }
}

const logs = [];
const servers = [];
let failed = false;
after(async () => {
  for (const sv of servers) await sv.kill(); // a failed test leaves its server running: end it

  const reports = logs.flatMap(l => sanitizerReports(l()));
  if (reports.length) { failed = true; console.error(reports.join('\n')); }
  assert.deepEqual(reports, [], 'sanitizer reports in the server output');
  if (!failed) removeTempDirs();
});

test('serve --iceberg: every flush a snapshot; the table holds every row sent, once', async () => {
  const store = makeTempDir('ursa-iceberg-serve-');
  const schema = {
    columns: [
      { name: 'id', type: 'int64', nullable: false },
      { name: 'ts', type: 'timestamp', nullable: false },
      { name: 'country', type: 'string' },
      { name: 'amount', type: 'decimal', precision: 12, scale: 2 },
    ],
    time_column: 'ts',
    unknown_fields: 'evolve',
    sort_by: ['country', 'ts'],
  };
  const sent = [];
  let id = 0;
  const post = async (server, n, extra) => {
    const rows = [];
    for (let k = 0; k < n; k++, id++) {
      const row = { id, ts: `2026-03-0${1 + (id % 2)}T${String(id % 24).padStart(2, '0')}:00:00Z`, amount: `${id}.25` };
      if (id % 3) row.country = ['de', 'us', 'fr'][id % 3];
      if (extra) row.city = `c${id}`;
      rows.push(row);
    }
    const r = await server.postRecords('sales', rows.map(x => JSON.stringify(x)).join('\n') + '\n');
    assert.equal(r.json?.accepted, n, r.text);
    sent.push(...rows);
  };
  let server = await startServer({ store, args: ['--iceberg', '--flush-max-age', '3600'] });
  logs.push(server.log), servers.push(server);
  let r = await server.put('/v1/datasets/sales', schema);
  assert.ok(r.status < 300, r.text);
  await post(server, 50);
  r = await server.flush('sales');
  assert.equal(r.status, 200, r.text);
  await post(server, 30, true); // a new column: a new schema, a new field id
  r = await server.flush('sales');
  assert.equal(r.status, 200, r.text);
  await server.stop();
  server = await startServer({ store, args: ['--iceberg', '--flush-max-age', '3600'] });
  logs.push(server.log), servers.push(server);
  await post(server, 20);
  r = await server.flush('sales');
  assert.equal(r.status, 200, r.text);

  // The live files through the API: a list DuckDB reads exactly the table from.
  r = await server.get('/v1/datasets/sales/files');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.rows, sent.length);
  assert.ok(r.json.files.every(f => /^sales\/date=2026-03-0[12]\/.+\.parquet$/.test(f.path) && f.date === f.path.slice(11, 21)), r.text);
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const con = await (await DuckDBInstance.create(':memory:')).connect();
  const list = r.json.files.map(f => `'${join(store, f.path)}'`).join(', ');
  const ids = (await (await con.run(`SELECT id FROM read_parquet([${list}]) ORDER BY id`)).getRows()).map(x => Number(x[0]));
  assert.deepEqual(ids, sent.map(x => x.id), 'read_parquet of the listed files: every row once');
  r = await server.get('/v1/datasets/sales/snapshots');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.snapshots.length, 3);
  assert.equal(r.json.current_snapshot_id, r.json.snapshots[2].snapshot_id);
  assert.equal(r.json.snapshots[1].parent_snapshot_id, r.json.snapshots[0].snapshot_id);
  assert.deepEqual(r.json.snapshots.map(x => x.summary['added-records']), ['50', '30', '20']);
  // A dataset gets its table when it is created: empty until the first flush.
  r = await server.put('/v1/datasets/empty', schema);
  r = await server.get('/v1/datasets/empty/files');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.snapshot_id, null);
  assert.deepEqual(r.json.files, []);
  r = await server.get('/v1/datasets/empty/snapshots');
  assert.deepEqual(r.json.snapshots, []);
  r = await server.get('/v1/datasets/nothing/files');
  assert.equal(r.status, 404, r.text);
  await server.stop();

  const tableUrl = 'file://' + join(store, 'sales');
  const md = await icebergMetadata({ tableUrl });
  assert.equal(md.snapshots.length, 3);
  assert.deepEqual(md.schemas.at(-1).fields.map(f => [f.id, f.name]), [[1, 'id'], [2, 'ts'], [3, 'country'], [4, 'amount'], [5, 'city']]);
  const got = await icebergRead({ tableUrl });
  const byId = new Map();
  for (const row of got) {
    assert.ok(!byId.has(Number(row.id)), `row ${row.id} twice`);
    byId.set(Number(row.id), row);
  }
  assert.equal(byId.size, sent.length, 'rows through the table');
  for (const x of sent) {
    const row = byId.get(x.id);
    assert.ok(row, `row ${x.id} missing`);
    assert.equal(row.ts.toISOString().slice(0, 19), x.ts.slice(0, 19));
    assert.equal(row.country ?? undefined, x.country);
    assert.equal(row.city ?? undefined, x.city);
  }
});

const crashSchema = {
  columns: [{ name: 'id', type: 'int64', nullable: false }, { name: 'ts', type: 'timestamp', nullable: false }],
  time_column: 'ts',
};
const crashRows = (from, n) => Array.from({ length: n }, (_, k) => ({ id: from + k, ts: `2026-04-0${1 + ((from + k) % 3)}T10:00:00Z` }));
const ndjson = rows => rows.map(x => JSON.stringify(x)).join('\n') + '\n';
const range = (from, n) => Array.from({ length: n }, (_, i) => from + i);

// kill -9 at two steps of a flush's commit, then restart: every acknowledged row in the table once.
//   before-commit: the flush's files are published, its commit not begun -- the next start commits them;
//   before-hint:   the commit's metadata version is written, version-hint.text still names the one before --
//                  the next start finds the commit (the loader probes past a stale hint) and adds nothing.
for (const step of ['before-commit', 'before-hint']) {
  test(`tables: killed ${step}, the next start leaves every row in the table once`, async () => {
    const store = makeTempDir(`ursa-iceberg-${step}-`);
    let server = await startServer({ store }); // the dataset and its table, made by a commit of its own
    logs.push(server.log), servers.push(server);
    let r = await server.put('/v1/datasets/d', crashSchema);
    assert.ok(r.status < 300, r.text);
    await server.stop();
    server = await startServer({ store, args: ['--flush-max-age', '3600'], env: { URSA_TEST_KILL_AT: step } });
    logs.push(server.log), servers.push(server);
    r = await server.postRecords('d', ndjson(crashRows(0, 60)));
    assert.equal(r.json?.accepted, 60, r.text);
    await server.flush('d').catch(() => null);
    const st = await server.kill('SIGKILL'); // gone already; makes sure
    assert.equal(st.signal, 'SIGKILL');
    const published = readdirSync(join(store, 'd'), { recursive: true }).filter(f => String(f).endsWith('.parquet'));
    assert.equal(published.length, 3, 'the files of the killed flush are published');
    const hint = () => Number(readFileSync(join(store, 'd/metadata/version-hint.text'), 'utf8'));
    const versions = () => readdirSync(join(store, 'd/metadata')).filter(f => /^v\d+\.metadata\.json$/.test(f)).length;
    if (step === 'before-hint') assert.equal(hint(), versions() - 1, 'the hint names the version before the last');
    // Restart: the rows of the log are in published files, so replay adds none.
    server = await startServer({ store, args: ['--flush-max-age', '3600'] });
    logs.push(server.log), servers.push(server);
    r = await server.postRecords('d', ndjson(crashRows(60, 30)));
    assert.equal(r.json?.accepted, 30, r.text);
    r = await server.flush('d');
    assert.equal(r.status, 200, r.text);
    await server.stop();
    assert.equal(hint(), versions(), 'the hint is current again');
    const tableUrl = 'file://' + join(store, 'd');
    const got = (await icebergRead({ tableUrl })).map(x => Number(x.id)).sort((a, b) => a - b);
    assert.deepEqual(got, range(0, 90), 'every row once through the table');
    // A third start finds nothing left to commit.
    server = await startServer({ store });
    logs.push(server.log), servers.push(server);
    await server.stop();
    const md = await icebergMetadata({ tableUrl });
    assert.equal(md.snapshots.length, 2, 'the killed flush and the next one');
  });
}

// Two nodes on one store flush together; every commit attempt waits between its load and its write, so both
// load the same version and one loses the race for the next -- and is killed right there, before its retry.
// Its restart commits its flush (recovery); the winner's commit is untouched.
test('tables: two nodes collide, the loser is killed before its retry, its restart commits its rows once', async () => {
  const store = makeTempDir('ursa-iceberg-conflict-');
  const env = { URSA_TEST_KILL_AT: 'on-conflict', URSA_TEST_COMMIT_PAUSE_MS: '1500' };
  const start = (node, e = env) =>
    startServer({ store, node, args: ['--flush-max-age', '3600', '--wal-dir', join(store, `_wal-${node}`)], env: e });
  const nodes = { a: await start('a'), b: await start('b') };
  for (const s of Object.values(nodes)) logs.push(s.log), servers.push(s);
  let r = await nodes.a.put('/v1/datasets/d', crashSchema);
  assert.ok(r.status < 300, r.text);
  r = await nodes.a.postRecords('d', ndjson(crashRows(0, 40)));
  assert.equal(r.json?.accepted, 40, r.text);
  r = await nodes.b.postRecords('d', ndjson(crashRows(40, 40)));
  assert.equal(r.json?.accepted, 40, r.text);
  const answers = await Promise.all([nodes.a.flush('d').catch(() => null), nodes.b.flush('d').catch(() => null)]);
  const lost = answers.map((x, i) => (x?.status === 200 ? null : 'ab'[i])).filter(Boolean);
  assert.equal(lost.length, 1, `exactly one node lost the race and was killed (answers: ${answers.map(x => x?.status)})`);
  const loser = lost[0], winner = loser === 'a' ? 'b' : 'a';
  assert.equal((await nodes[loser].kill('SIGKILL')).signal, 'SIGKILL');
  const tableUrl = 'file://' + join(store, 'd');
  let got = (await icebergRead({ tableUrl })).map(x => Number(x.id)).sort((x, y) => x - y);
  assert.deepEqual(got, loser === 'a' ? range(40, 40) : range(0, 40), "the winner's rows only, once");
  nodes[loser] = await start(loser, {});
  logs.push(nodes[loser].log), servers.push(nodes[loser]);
  await Promise.all(Object.values(nodes).map(s => s.stop()));
  got = (await icebergRead({ tableUrl })).map(x => Number(x.id)).sort((x, y) => x - y);
  assert.deepEqual(got, range(0, 80), 'every row once after the restart');
  const md = await icebergMetadata({ tableUrl });
  assert.deepEqual(md.snapshots.map(x => x.summary['ursa.node']).sort(), ['a', 'b'], 'one snapshot per flush');
  assert.ok(nodes[winner].log().includes('flushed d'));
});

// The manifest paths a manifest list names, read with python3-avro.
const PYLIST = `
import json, sys, warnings
import avro.datafile, avro.io
warnings.filterwarnings("ignore", message="Unknown map")
with open(sys.argv[1], "rb") as f:
    print(json.dumps([m["manifest_path"] for m in avro.datafile.DataFileReader(f, avro.io.DatumReader())]))
`;

test('tables with --retention: upkeep expires snapshots, merged manifests stay readable, only unreachable files go', async () => {
  const store = makeTempDir('ursa-iceberg-upkeep-');
  const schema = {
    columns: [{ name: 'id', type: 'int64', nullable: false }, { name: 'ts', type: 'timestamp', nullable: false }],
    time_column: 'ts',
  };
  const args = ['--flush-max-age', '3600', '--retention', '2s', '--manifest-merge', '4'];
  const server = await startServer({ store, args });
  logs.push(server.log), servers.push(server);
  let r = await server.put('/v1/datasets/d', schema);
  assert.ok(r.status < 300, r.text);
  // Nine flushes of ten rows over two days: the 5th and the 8th append merge the manifests before them.
  let id = 0;
  for (let f = 0; f < 9; f++) {
    const rows = Array.from({ length: 10 }, () => ({ id: id++, ts: `2026-05-0${1 + (id % 2)}T10:00:00Z` }));
    r = await server.postRecords('d', rows.map(x => JSON.stringify(x)).join('\n') + '\n');
    assert.equal(r.json?.accepted, 10, r.text);
    r = await server.flush('d');
    assert.equal(r.status, 200, r.text);
  }
  // Orphans: an old and a young manifest by their names (young: past the retention, not past the hour
  // orphans wait at least), one of the old form; a Parquet file nothing names.
  const meta = join(store, 'd', 'metadata');
  const now = Date.now();
  const planted = {
    old: `${now - 2 * 3600000}-00000000000000aa-m0.avro`,
    young: `${now - 1800000}-00000000000000bb-m0.avro`,
    legacy: '0123456789abcdef-m0.avro',
  };
  for (const name of Object.values(planted)) writeFileSync(join(meta, name), 'x');
  const lone = join(store, 'd', 'date=2026-05-01', 'other-1-2.parquet');
  writeFileSync(lone, 'not committed');
  const before = readdirSync(meta);
  // Upkeep runs every second (a quarter of the retention, at least 1 s): wait for the last expiry, and
  // for the run that made it to be counted (its commit is visible before it returns and counts).
  const metrics = async () => {
    const m = {};
    for (const line of (await server.get('/metrics')).text.split('\n')) {
      const x = /^([a-z_]+(?:\{[^}]*\})?) (\d+)$/.exec(line);
      if (x) m[x[1]] = Number(x[2]);
    }
    return m;
  };
  let snaps, m;
  for (let k = 0; k < 100; k++) {
    snaps = (await server.get('/v1/datasets/d/snapshots')).json;
    m = await metrics();
    if (snaps.snapshots.length === 1 && !existsSync(join(meta, planted.old)) &&
        m['ursa_table_snapshots_expired_total'] === 8) break;
    await new Promise(res => setTimeout(res, 200));
  }
  assert.equal(snaps.snapshots.length, 1, 'every snapshot but the current one expired');
  await server.stop();

  // What is left in metadata/: the current list and the manifests it names, the young orphan and the
  // one of unknown age, the metadata files and the hint -- nothing else.
  const md = await icebergMetadata({ tableUrl: 'file://' + join(store, 'd') });
  const listPath = md.snapshots[0]['manifest-list'].slice('file://'.length);
  const manifests = JSON.parse(execFileSync('/usr/bin/python3', ['-c', PYLIST, listPath], { encoding: 'utf8' }));
  assert.equal(manifests.length, 3, 'the merged manifest of the 8th append, its own and the 9th\'s');
  const want = [listPath, ...manifests.map(p => p.slice('file://'.length))].map(p => p.slice(meta.length + 1));
  want.push(planted.young, planted.legacy);
  const left = readdirSync(meta).filter(f => f.endsWith('.avro'));
  assert.deepEqual(left.sort(), want.sort(), 'the avro files left');
  // What went (counted by the node: under load upkeep may have run before the listing above, so the
  // listing cannot tell): the lists of the 8 expired snapshots, the 8 manifests merged away and the orphan.
  assert.equal(before.filter(f => f === planted.old).length, 1);
  assert.equal(m['ursa_table_snapshots_expired_total'], 8, JSON.stringify(m));
  assert.equal(m['ursa_table_files_deleted_total{kind="manifest_list"}'], 8, JSON.stringify(m));
  assert.equal(m['ursa_table_files_deleted_total{kind="manifest"}'], 9, JSON.stringify(m));
  assert.equal(m['ursa_table_files_deleted_total{kind="data"}'], 0);
  // Every data file stays (all live), and so does the Parquet file nothing names.
  assert.ok(existsSync(lone));
  assert.equal(readdirSync(join(store, 'd'), { recursive: true }).filter(f => String(f).endsWith('.parquet')).length, 18 + 1);
  // icebird reads every row once through the merged manifests.
  const got = (await icebergRead({ tableUrl: 'file://' + join(store, 'd') })).map(x => Number(x.id)).sort((a, b) => a - b);
  assert.deepEqual(got, Array.from({ length: 90 }, (_, i) => i), 'every row once through the table');
});
