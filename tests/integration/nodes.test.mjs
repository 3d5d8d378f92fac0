// nodes.test.mjs — how nodes sharing one store find each other (issue 15): every node writes a heartbeat
// object, _ursa/nodes/<node>.json, and GET /v1/nodes answers the cluster as the node sees it. Through the real
// servers on loopback, over one local store:
//   - two nodes see each other in GET /v1/nodes, with the addresses they listen at, fresh, each one itself;
//   - a node stopped cleanly (SIGTERM) deletes its heartbeat: it disappears from the other's answer;
//   - a node killed -9 stays listed, and turns stale once its heartbeat is 5 of its intervals old
//     (--heartbeat 200ms: a second);
//   - --advertise (and URSA_ADVERTISE) is the address the others are told; a wildcard or malformed one is
//     refused at start; --heartbeat sets the pace (seen in the heartbeat's own interval_ms).
//
//   node --test tests/integration/nodes.test.mjs      (URSA_BIN=build/ursa, URSA_TEST_TMP=os.tmpdir())
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports, URSA_BIN } from './helpers.mjs';

let failed = false;
const logs = [];
const servers = [];
after(async () => {
  for (const s of servers) await s.kill('SIGKILL');
  const reports = logs.flatMap(l => sanitizerReports(l()));
  if (reports.length) { failed = true; console.error(reports.join('\n')); }
  assert.deepEqual(reports, [], 'sanitizer reports in the server output');
  if (!failed) removeTempDirs();
});

const HEARTBEAT = ['--heartbeat', '200ms'];

async function start(store, node, args = [], env = {}) {
  // Each node its own log: a local store's default log (STORE/_wal) takes one process.
  const s = await startServer({ store, node, args: ['--wal-dir', join(makeTempDir(`wal-${node}-`), 'wal'), ...args], env });
  logs.push(s.log);
  servers.push(s);
  return s;
}

async function nodes(srv) {
  const r = await srv.get('/v1/nodes');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('content-type'), 'application/json');
  return r.json;
}

// Polls GET /v1/nodes on srv until pred(answer) holds (up to ms); returns that answer.
async function until(srv, pred, what, ms = 10_000) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < ms) {
    last = await nodes(srv);
    if (pred(last)) return last;
    await new Promise(res => setTimeout(res, 50));
  }
  assert.fail(`${what}: not within ${ms} ms; last answer ${JSON.stringify(last)}`);
}

const byName = (answer, node) => answer.nodes.find(n => n.node === node);

function step(name, fn) {
  test(name, { timeout: 60_000 }, async () => {
    try { await fn(); } catch (e) { failed = true; for (const l of logs) console.error(l().split('\n').slice(-20).join('\n')); throw e; }
  });
}

step('two nodes on one store see each other; one stopped cleanly disappears; one killed -9 turns stale', async () => {
  const store = makeTempDir('ursa-nodes-');
  const a = await start(store, 'na', HEARTBEAT);
  const b = await start(store, 'nb', HEARTBEAT);

  for (const [me, other] of [[a, b], [b, a]]) {
    const answer = await until(me, x => x.nodes.length === 2, `${me.port} sees both nodes`);
    const self = me === a ? 'na' : 'nb', peer = me === a ? 'nb' : 'na';
    assert.equal(answer.self, self);
    assert.deepEqual(answer.nodes.map(n => n.node), ['na', 'nb'], 'in name order');
    const s = byName(answer, self), p = byName(answer, peer);
    assert.equal(s.self, true);
    assert.equal(p.self, false);
    assert.equal(s.address, `127.0.0.1:${me.port}`);
    assert.equal(p.address, `127.0.0.1:${other.port}`, 'the address the peer listens at (port 0 resolved)');
    for (const n of [s, p]) {
      assert.equal(n.stale, false, JSON.stringify(n));
      assert.ok(n.age_ms >= 0 && n.age_ms < 1000, JSON.stringify(n));
      assert.match(n.version, /^\d+\.\d+\.\d+/);
      assert.ok(Math.abs(n.started_ms - Date.now()) < 60_000, JSON.stringify(n));
      assert.equal(n.pid, (n.node === 'na' ? a : b).proc.pid);
    }
  }
  // The heartbeat object itself, as any reader of the store sees it.
  const hb = JSON.parse(readFileSync(join(store, '_ursa', 'nodes', 'nb.json'), 'utf8'));
  assert.equal(hb.node, 'nb');
  assert.equal(hb.address, `127.0.0.1:${b.port}`);
  assert.equal(hb.interval_ms, 200);
  assert.ok(hb.heartbeat_ms >= hb.started_ms);

  // A clean stop deletes the heartbeat before the process exits.
  const st = await b.stop();
  assert.equal(st.code, 0, b.log());
  assert.ok(!existsSync(join(store, '_ursa', 'nodes', 'nb.json')), 'nb.json deleted at a clean stop');
  let answer = await nodes(a);
  assert.deepEqual(answer.nodes.map(n => n.node), ['na']);

  // kill -9: the heartbeat stays, fresh at first, stale after 5 x 200 ms.
  const c = await start(store, 'nc', HEARTBEAT);
  await until(a, x => byName(x, 'nc')?.stale === false, 'na sees nc');
  await c.kill('SIGKILL');
  const killedAt = Date.now();
  answer = await nodes(a);
  assert.ok(byName(answer, 'nc'), 'a killed node stays listed');
  answer = await until(a, x => byName(x, 'nc')?.stale === true, 'nc turns stale');
  const nc = byName(answer, 'nc');
  assert.ok(nc.age_ms > 1000, JSON.stringify(nc));
  assert.ok(Date.now() - killedAt >= 1000 - 250, 'not stale before 5 intervals (less one) passed');
  assert.equal(byName(answer, 'na').stale, false);
  // A node restarted under the killed one's name takes its place again.
  const c2 = await start(store, 'nc', HEARTBEAT);
  answer = await until(a, x => byName(x, 'nc')?.stale === false && byName(x, 'nc').pid === c2.proc.pid, 'nc back');
  // Killed and restarted at once: the new process says whose fresh heartbeat it found under its name.
  await c2.kill('SIGKILL');
  const c3 = await start(store, 'nc', HEARTBEAT);
  await until(a, x => byName(x, 'nc')?.pid === c3.proc.pid, 'nc back again');
  assert.match(c3.log(), new RegExp(`heartbeat of node nc is \\d+ ms old and from another process \\(pid ${c2.proc.pid} `), c3.log());
  await c3.stop();
  await a.stop();
  assert.ok(!existsSync(join(store, '_ursa', 'nodes', 'na.json')));
});

step('--advertise and URSA_ADVERTISE are what the others are told; bad ones are refused', async () => {
  const store = makeTempDir('ursa-nodes-adv-');
  const a = await start(store, 'a1', ['--advertise', 'ursa-a1.internal:9000', ...HEARTBEAT]);
  const b = await start(store, 'b1', [], { URSA_ADVERTISE: '10.1.2.3:8000', URSA_HEARTBEAT: '300ms' });
  const answer = await until(a, x => x.nodes.length === 2, 'a1 sees b1');
  assert.equal(byName(answer, 'a1').address, 'ursa-a1.internal:9000');
  assert.equal(byName(answer, 'b1').address, '10.1.2.3:8000');
  const hb = JSON.parse(readFileSync(join(store, '_ursa', 'nodes', 'b1.json'), 'utf8'));
  assert.equal(hb.interval_ms, 300, 'URSA_HEARTBEAT');
  assert.match(b.log(), /heartbeat every 300 ms to _ursa\/nodes\/b1\.json, advertising 10\.1\.2\.3:8000/);
  const r = await a.request('POST', '/v1/nodes');
  assert.equal(r.status, 405);
  assert.equal(r.headers.get('allow'), 'GET');
  await a.stop();
  await b.stop();

  for (const [args, env, says] of [
    [['--advertise', '0.0.0.0:8000'], {}, /--advertise "0\.0\.0\.0:8000" must name a host and a port/],
    [['--advertise', 'no-port'], {}, /--advertise "no-port" must be HOST:PORT/],
    [['--advertise', 'a/b:80'], {}, /--advertise "a\/b:80" must be HOST:PORT/],
    [[], { URSA_ADVERTISE: '[::]:80' }, /--advertise "\[::\]:80" must name a host/],
    [['--heartbeat', '0'], {}, /unknown option or bad value: --heartbeat 0/],
    [[], { URSA_HEARTBEAT: 'soon' }, /bad value in environment: soon/],
  ]) {
    const p = spawnSync(URSA_BIN, ['serve', '--listen', '127.0.0.1:0', '--store', store, '--node', 'x', ...args],
      { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(p.status, 2, `${args.join(' ')} ${JSON.stringify(env)}: ${p.stderr}`);
    assert.match(p.stderr, says);
  }
});
