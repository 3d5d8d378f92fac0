// multinode.test.mjs — several nodes, one table (issue 13, item 4): three `ursa serve` nodes, each with its own
// --node name and write-ahead log and its own flush policy, behind nginx (round robin, tests/integration/
// gateway.mjs) over one S3 store (Swift + s3api with conditional PUT, tests/s3/rig.mjs). Eight clients post
// through nginx; some of their rows carry fields the dataset has not seen (it evolves), the same new field from
// every client at once and one field per client, so nodes add columns to the one table concurrently. Then:
//   - every acknowledged row is in the table exactly once (read by icebird from a download of the prefix), with
//     its values, the new columns included; no other row is;
//   - every snapshot is a fast append of its parent (its manifest list is the parent's plus one manifest), the
//     sequence numbers climb by one, and there is one snapshot per flush the nodes made (no commit lost);
//   - every node serves the same schema (columns added through one node are seen by the others), and the
//     table's schema has each column once with an id of its own;
//   - a dataset created through one node is known to every node.
// Then a commit that fails while the store refuses metadata writes: the flush still publishes, the node retries
// the commit by itself once the store is back.
// The nodes reach Swift through the fault proxy with atomicConditional (tests/s3/s3fault.mjs): Swift's
// conditional PUT is not atomic when two PUTs race for one key (both can succeed), AWS S3's and MinIO's are;
// the proxy passes such PUTs to Swift one at a time, so the rig keeps S3's promise. (Without it this test
// loses commits on Swift: a measured failure of the rig, not of Ursa's protocol.)
// Last, a store without conditional writes (the fault proxy answering 501 to If-None-Match, as stock Swift
// does): a node refuses to start with a message saying why, and starts with --single-node.
//
//   node --test tests/integration/multinode.test.mjs
//
// URSA_BIN, URSA_TEST_TMP as for every integration test; URSA_S3_ENV_FILE (ctest's fixture "swift"), else a
// Swift of its own. Only 127.0.0.1 is contacted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { icebergMetadata, icebergRead, avroRead, avroMetadata } from 'icebird';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports } from './helpers.mjs';
import { startGateway } from './gateway.mjs';
import { s3Rig } from '../s3/rig.mjs';
import { startFaultProxy } from '../s3/s3fault.mjs';
import { useLocalFetch, mapS3 } from '../tools/iceberg_local.mjs';

const RUN = `multinode-${Date.now().toString(36)}-${process.pid}`;
const CLIENTS = 8, REQUESTS = 24, ROWS = 150;
const state = { s3: null, nodes: [], gateway: null, proxies: [], failed: false };
const logs = [];

before(async () => { state.s3 = await s3Rig(makeTempDir); });
after(async () => {
  await state.gateway?.stop();
  for (const n of state.nodes) await n.kill('SIGKILL');
  for (const p of state.proxies) await p.close();
  await state.s3?.stop();
  if (!state.failed) removeTempDirs();
});

function step(name, fn) {
  test(name, { timeout: 240_000 }, async t => {
    try { await fn(t); } catch (err) {
      state.failed = true;
      for (const [node, log] of logs) { // what the nodes said that was not routine
        const lines = log().split('\n').filter(l => / (warn|error) /.test(l));
        if (lines.length) console.error(`# ${node}:\n${lines.slice(-30).join('\n')}`);
      }
      throw err;
    }
  });
}

async function startNode(node, prefix, args = [], env = {}, endpoint = state.s3.endpoint) {
  const s = await startServer({
    store: `s3://${state.s3.bucket}/${prefix}`, node,
    args: ['--s3-endpoint', endpoint, '--wal-dir', join(makeTempDir(`wal-${node}-`), 'wal'), '--max-connections-per-client', '0', ...args],
    env: { ...state.s3.serverEnv(), ...env },
  });
  logs.push([node, s.log]);
  return s;
}

const metric = (text, name) => {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
};

const schema = {
  columns: [
    { name: 'id', type: 'int64', nullable: false },
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'client', type: 'int32' },
    { name: 'amount', type: 'float64' },
  ],
  time_column: 'ts',
  sort_by: ['client', 'ts'],
  unknown_fields: 'evolve',
};

// Row k of client c: ids are unique over the run; from request 8 on rows carry "tag" (every client) and
// "c<client>" (that client's own), so new columns arrive through every node at about the same time.
function rowsOf(c, r) {
  const out = [];
  for (let k = 0; k < ROWS; k++) {
    const id = (c * REQUESTS + r) * ROWS + k;
    const row = { id, ts: `2026-12-0${1 + (id % 3)}T${String(id % 24).padStart(2, '0')}:00:00Z`, client: c, amount: id / 4 };
    if (r >= 8) row.tag = `t${id % 7}`;
    if (r >= 12) row[`c${c}`] = id * 2;
    out.push(row);
  }
  return out;
}

step('three nodes behind nginx over one S3 store: every acknowledged row in the table once, every commit there', async () => {
  const prefix = `${RUN}/lake`;
  const proxy = await startFaultProxy({ upstream: state.s3.endpoint, atomicConditional: true });
  state.proxies.push(proxy);
  const endpoint = proxy.url;
  // Each node its own flush policy: by rows, by age, on a schedule.
  state.nodes = [
    await startNode('n1', prefix, ['--flush-max-rows', '700'], {}, endpoint),
    await startNode('n2', prefix, ['--flush-max-age', '1'], {}, endpoint),
    await startNode('n3', prefix, ['--flush-every', '2'], {}, endpoint),
  ];
  state.gateway = await startGateway({ upstreams: state.nodes.map(n => `127.0.0.1:${n.port}`) });
  const gw = state.gateway.url;
  let r = await fetch(`${gw}/v1/datasets/ev`, { method: 'PUT', body: JSON.stringify(schema), headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 201, await r.text());

  const acked = new Map(); // id -> row
  const failures = [];
  const client = async c => {
    for (let q = 0; q < REQUESTS; q++) {
      const rows = rowsOf(c, q);
      let res, text;
      for (let attempt = 0; ; attempt++) { // 409: a column this request added was added meanwhile with another type
        res = await fetch(`${gw}/v1/datasets/ev/records`, { method: 'POST', body: rows.map(x => JSON.stringify(x)).join('\n') + '\n',
          headers: { 'content-type': 'application/x-ndjson' } });
        text = await res.text();
        if (res.status !== 409 || attempt > 3) break;
      }
      const j = JSON.parse(text);
      if (res.status === 200 && j.accepted === ROWS) for (const x of rows) acked.set(x.id, x);
      else failures.push(`client ${c} request ${q}: ${res.status} ${text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  assert.deepEqual(failures, [], 'every request acknowledged whole');
  assert.equal(acked.size, CLIENTS * REQUESTS * ROWS);

  // Every node saw requests (round robin), and every node serves every column.
  const columns = [];
  for (const n of state.nodes) {
    const m = await (await fetch(`${n.url}/metrics`)).text();
    assert.ok(metric(m, 'ursa_rows_accepted_total') > 0, `node ${n.port} got traffic through the gateway`);
    const d = await n.get('/v1/datasets/ev');
    columns.push(d.json.schema.columns.map(x => x.name).sort());
  }
  const want = ['amount', 'client', 'id', 'tag', 'ts', ...Array.from({ length: CLIENTS }, (_, c) => `c${c}`)].sort();
  for (const cols of columns) assert.deepEqual(cols, want, 'columns added through any node are seen by every node');

  // The last rows out, then the nodes stop.
  for (const n of state.nodes) assert.equal((await n.flush('ev')).status, 200);
  let flushes = 0, commits = 0, failed = 0;
  for (const n of state.nodes) {
    const m = await (await fetch(`${n.url}/metrics`)).text();
    flushes += metric(m, 'ursa_table_commits_total');
    failed += metric(m, 'ursa_table_commits_failed_total');
  }
  await state.gateway.stop();
  state.gateway = null;
  for (const n of state.nodes) {
    const st = await n.stop();
    assert.equal(st.code, 0, `node exit: ${JSON.stringify(st)}`);
    assert.deepEqual(sanitizerReports(n.log()), []);
  }
  state.nodes = [];

  // Read the table as another engine would: icebird over a download of the prefix.
  const dl = makeTempDir('multinode-dl-');
  await state.s3.aws('s3', 'cp', '--recursive', '--only-show-errors', `s3://${state.s3.bucket}/${prefix}/`, `${dl}/`);
  useLocalFetch();
  mapS3(`s3://${state.s3.bucket}/${prefix}`, dl);
  const tableUrl = `s3://${state.s3.bucket}/${prefix}/ev`;
  const md = await icebergMetadata({ tableUrl });
  const got = await icebergRead({ tableUrl });
  const seen = new Map();
  const problems = [];
  for (const row of got) {
    const id = Number(row.id);
    if (seen.has(id)) problems.push(`row ${id} twice`);
    seen.set(id, row);
    const x = acked.get(id);
    if (!x) { problems.push(`row ${id} was never acknowledged`); continue; }
    if (row.ts.toISOString().slice(0, 19) !== x.ts.slice(0, 19) || Number(row.client) !== x.client || row.amount !== x.amount ||
        (row.tag ?? undefined) !== x.tag || (row[`c${x.client}`] === null || row[`c${x.client}`] === undefined ? undefined : Number(row[`c${x.client}`])) !== x[`c${x.client}`])
      problems.push(`row ${id}: ${JSON.stringify(row, (k, v) => (typeof v === 'bigint' ? String(v) : v))} vs sent ${JSON.stringify(x)}`);
  }
  for (const id of acked.keys()) if (!seen.has(id)) problems.push(`acknowledged row ${id} is not in the table`);
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problems reading the table`);

  // The schema: every column once, ids unique.
  const fields = md.schemas.find(s => s['schema-id'] === md['current-schema-id']).fields;
  assert.deepEqual(fields.map(f => f.name).sort(), want);
  assert.equal(new Set(fields.map(f => f.id)).size, fields.length, 'field ids unique');

  // The snapshots: a chain of fast appends, one per commit the nodes counted.
  const appends = md.snapshots.filter(s => s.summary.operation === 'append');
  assert.equal(appends.length, flushes, `snapshots (${appends.length}) vs commits the nodes counted (${flushes}; ${failed} failed and were retried)`);
  const byId = new Map(md.snapshots.map(s => [s['snapshot-id'], s]));
  let s = byId.get(md['current-snapshot-id']), chain = 0;
  const listOf = async snap => {
    const buf = await (await fetch(snap['manifest-list'])).arrayBuffer();
    const reader = { view: new DataView(buf), offset: 0 };
    const meta = avroMetadata(reader);
    return avroRead({ reader, metadata: meta.metadata, syncMarker: meta.syncMarker }).map(m => m.manifest_path);
  };
  while (s) {
    const parent = byId.get(s['parent-snapshot-id']);
    const mine = await listOf(s);
    if (parent) {
      assert.equal(s['sequence-number'], parent['sequence-number'] + 1, 'sequence numbers climb by one');
      const theirs = await listOf(parent);
      assert.equal(mine.length, theirs.length + 1, 'a fast append adds one manifest');
      assert.ok(theirs.every(p => mine.includes(p)), "a snapshot keeps its parent's manifests");
    }
    chain++;
    s = parent;
  }
  assert.equal(chain, md.snapshots.length, 'every snapshot on the chain of the current one');
  const nodes = new Set(appends.map(x => x.summary['ursa.node']));
  assert.deepEqual([...nodes].sort(), ['n1', 'n2', 'n3'], 'every node committed');
});

// A commit that fails (the store refuses the metadata writes for a while) does not fail the flush: the files
// are published and the commit waits; the node retries it on its own, every few seconds, without new rows.
step('a failed commit is retried by the node itself once the store is back, with no new rows', async () => {
  const proxy = await startFaultProxy({ upstream: state.s3.endpoint, atomicConditional: true });
  state.proxies.push(proxy);
  const n = await startNode('n1', `${RUN}/retry`, ['--flush-max-age', '3600'], { URSA_S3_RETRY_DEADLINE_MS: '1500' }, proxy.url);
  state.nodes.push(n);
  let r = await n.put('/v1/datasets/ev', schema);
  assert.equal(r.status, 201, r.text);
  r = await n.postRecords('ev', rowsOf(0, 0).map(x => JSON.stringify(x)).join('\n') + '\n');
  assert.equal(r.json?.accepted, ROWS, r.text);
  proxy.setRules([{ match: '^PUT .*/ev/metadata/v\\d+\\.metadata\\.json', action: '503' }]);
  r = await n.flush('ev');
  assert.equal(r.status, 200, `the flush publishes its files whatever the commit does: ${r.text}`);
  r = await n.get('/v1/datasets/ev/files');
  assert.equal(r.json.rows, 0, 'not committed yet');
  assert.match(n.log(), /the table commit failed \(the next flush retries it\)/);
  proxy.clearRules();
  const t0 = Date.now();
  while (Date.now() - t0 < 20_000 && (await n.get('/v1/datasets/ev/files')).json.rows === 0) await new Promise(res => setTimeout(res, 500));
  r = await n.get('/v1/datasets/ev/files');
  assert.equal(r.json.rows, ROWS, 'committed by the node itself');
  await n.stop();
  state.nodes = [];
});

step('a store without conditional writes: refused for several nodes, allowed with --single-node', async () => {
  const proxy = await startFaultProxy({ upstream: state.s3.endpoint, noConditional: true });
  try {
    const prefix = `${RUN}/nocond`;
    await assert.rejects(startNode('n1', prefix, [], {}, proxy.url), err => {
      assert.match(err.message, /does not support conditional writes \(PUT with If-None-Match: \*\)/);
      assert.match(err.message, /--single-node/);
      return true;
    });
    const n = await startNode('n1', prefix, ['--single-node'], {}, proxy.url);
    state.nodes.push(n);
    assert.match(n.log(), /commits as the only writer/);
    let r = await n.put('/v1/datasets/ev', schema);
    assert.equal(r.status, 201, r.text);
    r = await n.postRecords('ev', rowsOf(0, 0).map(x => JSON.stringify(x)).join('\n') + '\n');
    assert.equal(r.json?.accepted, ROWS, r.text);
    r = await n.flush('ev');
    assert.equal(r.status, 200, r.text);
    r = await n.get('/v1/datasets/ev/files');
    assert.equal(r.json.rows, ROWS, r.text);
    await n.stop();
    state.nodes = [];
  } finally {
    await proxy.close();
  }
});
