// gateway.test.mjs — the nginx gateway of gateway.mjs in front of two Ursa nodes (one store, a node name
// and a log directory each): requests alternate between the nodes (each node's /metrics counts its own),
// bodies are streamed through whole (fixed length and chunked), Ursa's own refusals (413 over --max-body,
// 400 for a bad schema, 404) reach the client unchanged — status, content type and JSON body as the node
// gives them directly — and a node that is down gives a JSON 502 from the gateway, never a POST retried on
// the other node.
//
//   node --test tests/integration/gateway.test.mjs
//
// URSA_BIN (default build/ursa), URSA_NGINX (default /usr/sbin/nginx), URSA_TEST_TMP.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports } from './helpers.mjs';
import { startGateway } from './gateway.mjs';

const SCHEMA = {
  columns: [
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'id', type: 'int64', nullable: false },
    { name: 's', type: 'string' },
  ],
  time_column: 'ts',
};
const MAX_BODY = 1 << 20;

const servers = [];
let gateway = null;
let failed = false;
after(async () => {
  await gateway?.stop();
  for (const s of servers) await s.stop();
  const reports = servers.flatMap(s => sanitizerReports(s.log()));
  assert.deepEqual(reports, [], 'sanitizer reports in the server output');
  if (!failed) removeTempDirs();
});

function metric(text, name) {
  const m = new RegExp(`^${name.replace(/[{}"]/g, c => '\\' + c)} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}
const rows = (from, n) => Array.from({ length: n }, (_, k) =>
  JSON.stringify({ ts: '2026-12-07T05:00:00Z', id: from + k, s: `row ${from + k}` })).join('\n') + '\n';

async function answer(base, method, path, body, headers = {}) {
  const res = await fetch(base + path, { method, body, headers, ...(body instanceof ReadableStream ? { duplex: 'half' } : {}) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, type: res.headers.get('content-type'), text, json };
}

test('nginx gateway: round robin over two nodes, bodies streamed, Ursa answers passed through unchanged', async () => {
  try {
    const store = makeTempDir('ursa-gateway-store-');
    for (const node of ['gw1', 'gw2']) {
      const wal = makeTempDir(`ursa-gateway-wal-${node}-`);
      servers.push(await startServer({ store, node, args: ['--wal-dir', join(wal, 'wal'), '--max-body', String(MAX_BODY), '--flush-max-age', '3600'] }));
    }
    gateway = await startGateway({ upstreams: servers.map(s => `127.0.0.1:${s.port}`), accessLog: true });
    // The dataset on each node directly (a node does not yet learn of datasets another node created).
    for (const s of servers) {
      const r = await s.put('/v1/datasets/ev', SCHEMA);
      assert.ok(r.status === 201 || r.status === 200, r.text);
    }

    // 10 POSTs one after the other: 5 on each node, in turn (nginx's round robin, one worker).
    const before = await Promise.all(servers.map(async s => metric((await s.get('/metrics')).text, 'ursa_ingest_requests_total')));
    const upstreamOrder = [];
    for (let i = 0; i < 10; i++) {
      const r = await answer(gateway.url, 'POST', '/v1/datasets/ev/records', rows(i * 100, 100), { 'content-type': 'application/x-ndjson' });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.accepted, 100, r.text);
    }
    for (const line of gateway.accessLog().trim().split('\n')) upstreamOrder.push(/upstream=(\S+)/.exec(line)[1]);
    const after1 = await Promise.all(servers.map(async s => (await s.get('/metrics')).text));
    assert.deepEqual(after1.map((m, i) => metric(m, 'ursa_ingest_requests_total') - before[i]), [5, 5], 'requests per node');
    assert.deepEqual(after1.map(m => metric(m, 'ursa_rows_accepted_total')), [500, 500], 'rows per node');
    for (let i = 1; i < upstreamOrder.length; i++) assert.notEqual(upstreamOrder[i], upstreamOrder[i - 1], `access log: ${upstreamOrder}`);

    // A chunked body (no Content-Length), streamed in pieces through the gateway: every row arrives.
    const pieces = [rows(5000, 300), rows(5300, 300), rows(5600, 300)].map(s => new TextEncoder().encode(s));
    const stream = new ReadableStream({ pull(c) { if (pieces.length) c.enqueue(pieces.shift()); else c.close(); } });
    let r = await answer(gateway.url, 'POST', '/v1/datasets/ev/records', stream, { 'content-type': 'application/x-ndjson' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.accepted, 900);

    // Ursa's refusals, through the gateway and directly: the same status, content type and JSON.
    const big = Buffer.alloc(2 * MAX_BODY, 0x20);
    const cases = [
      ['413 over --max-body', 'POST', '/v1/datasets/ev/records', big, { 'content-type': 'application/x-ndjson' }, 413],
      ['400 bad schema', 'PUT', '/v1/datasets/bad', JSON.stringify({ columns: [], time_column: 'ts' }), { 'content-type': 'application/json' }, 400],
      ['404 no dataset', 'POST', '/v1/datasets/nope/records', rows(0, 1), { 'content-type': 'application/x-ndjson' }, 404],
      ['415 content type', 'POST', '/v1/datasets/ev/records', rows(0, 1), { 'content-type': 'text/plain' }, 415],
    ];
    for (const [name, method, path, body, headers, status] of cases) {
      for (let k = 0; k < 2; k++) { // both nodes
        const via = await answer(gateway.url, method, path, body, headers);
        const direct = await answer(servers[k].url, method, path, body, headers);
        assert.equal(direct.status, status, `${name} directly: ${direct.text}`);
        assert.equal(via.status, direct.status, `${name} via the gateway: ${via.text}`);
        assert.equal(via.type, direct.type, name);
        assert.equal(typeof via.json?.error, 'string', `${name}: ${via.text}`);
        assert.deepEqual(via.json, direct.json, name);
      }
    }

    // A node down: a connection to it is refused before anything is sent, so nginx may (and does) pass the
    // POST to the live node; each is stored once there.
    const rowsBefore = metric((await servers[0].get('/metrics')).text, 'ursa_rows_accepted_total');
    await servers[1].stop();
    for (let i = 0; i < 4; i++) {
      r = await answer(gateway.url, 'POST', '/v1/datasets/ev/records', rows(9000 + i * 10, 10), { 'content-type': 'application/x-ndjson' });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.accepted, 10);
    }
    assert.equal(metric((await servers[0].get('/metrics')).text, 'ursa_rows_accepted_total') - rowsBefore, 40, 'each POST stored once');
    // Both down: the gateway's own answer, a 502 with a JSON error.
    await servers[0].stop();
    r = await answer(gateway.url, 'POST', '/v1/datasets/ev/records', rows(0, 1), { 'content-type': 'application/x-ndjson' });
    assert.equal(r.status, 502, r.text);
    assert.equal(r.type, 'application/json');
    assert.match(r.json.error, /^gateway: no answer from an Ursa node/);
  } catch (err) {
    failed = true;
    if (gateway) err.message += `\n--- nginx error log:\n${gateway.log()}\n--- access log:\n${gateway.accessLog()}`;
    throw err;
  }
});
