// live_cluster.test.mjs — live queries over several nodes: a WebSocket opened through nginx reaches one
// node, records posted to the others move its result, and flushes and commits on any node between two
// results never count a row twice or miss one (docs/internals/live.md "When a result is sent").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports } from './helpers.mjs';
import { startGateway } from './gateway.mjs';
import { connect } from './wsraw.mjs';

const SCHEMA = {
  columns: [
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'node', type: 'string' },
    { name: 'seq', type: 'int64' },
  ],
  time_column: 'ts',
};

const rows = (node, from, to) => {
  let s = '';
  for (let i = from; i < to; i++)
    s += JSON.stringify({ ts: new Date(Date.UTC(2026, 11, 7, 10, 0, i % 60)).toISOString(), node, seq: i }) + '\n';
  return s;
};

test('a live query through nginx sees every node\'s rows, once, as they arrive', async () => {
  const store = makeTempDir('ursa-live-cluster-');
  const nodes = [];
  const logs = [];
  try {
    for (const n of ['l1', 'l2', 'l3'])
      nodes.push(await startServer({ store, node: n, args: ['--wal-dir', `${store}/wal-${n}`, '--heartbeat', '200ms', '--live-max-rate', '10'] }));
    nodes.forEach(s => logs.push(s.log));
    const gw = await startGateway({ upstreams: nodes.map(s => `127.0.0.1:${s.port}`) });
    try {
      assert.equal((await nodes[0].put('/v1/datasets/ev', SCHEMA)).status, 201);
      await new Promise(res => setTimeout(res, 500)); // every node has a heartbeat in the store
      const h = await connect(gw.port, { path: '/v1/live' });
      assert.equal(h.status, 101, h.body.toString());
      const ws = h.ws;
      ws.sendJson({ type: 'subscribe', id: 'c', sql: 'SELECT node, count(*) AS n, count(DISTINCT seq) AS d FROM ev GROUP BY node ORDER BY node' });
      const first = await ws.nextJson(5000);
      assert.equal(first.type, 'result', JSON.stringify(first));
      assert.deepEqual(first.result.rows, []);

      // Each node takes its own rows, straight from the test (not through the gateway): whichever node
      // holds the WebSocket must see all three; two flushes in between move rows into files.
      const want = { l1: 0, l2: 0, l3: 0 };
      for (let round = 0; round < 4; round++) {
        for (const [i, s] of nodes.entries()) {
          const name = `l${i + 1}`;
          const r = await s.postRecords('ev', rows(name, want[name], want[name] + 50 * (i + 1)));
          assert.equal(r.status, 200, r.text);
          want[name] += 50 * (i + 1);
        }
        if (round === 1) await nodes[1].flush('ev');
        if (round === 2) await nodes[2].flush('ev');
      }
      const expect = Object.entries(want).map(([k, v]) => [k, v, v]);
      let last = first, seen = 1;
      const deadline = Date.now() + 3_000; // under the 5 s refresh: other nodes' rows are polled for each second
      while (JSON.stringify(last.result.rows) !== JSON.stringify(expect)) {
        const m = await ws.nextJson(Math.max(100, deadline - Date.now()));
        assert.equal(m.type, 'result', JSON.stringify(m));
        assert.equal(m.seq, last.seq + 1);
        for (const [node, n, d] of m.result.rows) {
          assert.equal(n, d, `a row counted twice for ${node}: ${JSON.stringify(m.result.rows)}`);
          assert.ok(n <= want[node], `more rows than were posted for ${node}`);
        }
        last = m;
        seen++;
      }
      assert.equal(last.result.stats.nodes, 3, 'the query covered every node');
      assert.ok(seen >= 2);
      // One more row on each node in turn, alone: at least two of them are not the node that holds the
      // WebSocket, whose own buffer then does not change; each must still show within 3 s (below the
      // 5 s refresh: the node polls the others each second).
      for (const [i, s] of nodes.entries()) {
        const name = `l${i + 1}`;
        assert.equal((await s.postRecords('ev', rows(name, want[name], want[name] + 1))).status, 200);
        want[name]++;
        let m;
        const until = Date.now() + 3000;
        do {
          m = await ws.nextJson(Math.max(1, until - Date.now()), `the row posted to ${name}`);
          assert.equal(m.type, 'result', JSON.stringify(m));
        } while (m.result.rows.find(r => r[0] === name)?.[1] !== want[name]);
        assert.deepEqual(m.result.rows, Object.entries(want).map(([k, v]) => [k, v, v]));
      }
      // Flushing the rest changes no answer: no further result.
      await nodes[0].flush('ev');
      await nodes[1].flush('ev');
      await assert.rejects(ws.nextJson(1500), 'a flush sent a result although the rows did not change');
      ws.close(1000, 'done');
      const c = await ws.waitClose(3000);
      assert.equal(c.code, 1000);

      // A node dies with rows only in its log: a subscription fails with 503 and stays (ended: false),
      // one with "partial" goes on without it; once the node is back (its log replayed), both see
      // every row again.
      const d = await connect(nodes[0].port, { path: '/v1/live' });
      assert.equal(d.status, 101);
      const sql = 'SELECT node, count(*) AS n, count(DISTINCT seq) AS d FROM ev GROUP BY node ORDER BY node';
      d.ws.sendJson({ type: 'subscribe', id: 'strict', sql });
      d.ws.sendJson({ type: 'subscribe', id: 'part', sql, partial: true });
      const full = JSON.stringify(Object.entries(want).map(([k, v]) => [k, v, v]));
      for (const id of ['strict', 'part']) {
        const m = await d.ws.nextJsonWhere(x => x.id === id, 5000, `the first result of ${id}`);
        assert.equal(JSON.stringify(m.result.rows), full);
      }
      await nodes[2].kill();
      const err = await d.ws.nextJsonWhere(x => x.id === 'strict', 8000, 'the strict subscription\'s error');
      assert.equal(err.type, 'error', JSON.stringify(err));
      assert.equal(err.status, 503);
      assert.equal(err.ended, false);
      assert.match(err.error, /l3/);
      // The partial one: l3's buffered rows left out, and said so (its result changes when l3 drops out).
      const part = await d.ws.nextJsonWhere(x => x.id === 'part' && x.type === 'result' && x.result.stats.partial, 8000,
        'a partial result without l3');
      assert.deepEqual(part.result.stats.missing, ['l3']);
      assert.ok((part.result.rows.find(r => r[0] === 'l3')?.[1] ?? 0) < want.l3, 'l3\'s buffered rows are not in it');
      nodes[2] = await startServer({ store, node: 'l3', args: ['--wal-dir', `${store}/wal-l3`, '--heartbeat', '200ms'] });
      logs.push(nodes[2].log);
      for (const id of ['strict', 'part']) {
        const m = await d.ws.nextJsonWhere(x => x.id === id && x.type === 'result' && JSON.stringify(x.result.rows) === full, 10000,
          `${id} with every row once l3 is back`);
        assert.equal(m.result.stats.nodes, 3);
      }
      d.ws.destroy();
    } finally {
      await gw.stop();
    }
  } finally {
    for (const s of nodes) await s.stop();
    for (const l of logs) assert.deepEqual(sanitizerReports(l()), []);
    removeTempDirs();
  }
});
