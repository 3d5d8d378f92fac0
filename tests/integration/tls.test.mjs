// tls.test.mjs — --tls-cert / --tls-key: HTTPS with a certificate made here by a CA made here (the openssl
// command line), checked by curl --cacert; TLS 1.2 and 1.3 only; a plain-HTTP request to the TLS port fails
// without harm to the node; a certificate that is not PEM, or one flag alone, is refused at start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports, URSA_BIN } from './helpers.mjs';

const openssl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
const curl = (...args) => spawnSync('curl', ['-s', '-S', '-m', '5', ...args], { encoding: 'utf8' });

/** A CA (ca.pem) and a node certificate it signed for san (node.pem, node.key), made in dir. */
function makeCerts(dir, san) {
  const f = name => join(dir, name);
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=Ursa test CA');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('node.key'), '-out', f('node.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(f('ext'), `subjectAltName=${san}\n`);
  openssl('x509', '-req', '-in', f('node.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('node.pem'), '-days', '2', '-extfile', f('ext'));
}

test('HTTPS: curl --cacert gets answers, TLS 1.1 and plain HTTP are refused, the node lives on', async () => {
  const dir = makeTempDir('ursa-tls-');
  const f = name => join(dir, name);
  makeCerts(dir, 'IP:127.0.0.1,DNS:localhost');
  const s = await startServer({ store: f('store'), args: ['--wal-dir', f('wal'), '--tls-cert', f('node.pem'), '--tls-key', f('node.key')] });
  try {
    assert.match(s.log(), /listening on https:\/\/127\.0\.0\.1:/);
    const url = `https://127.0.0.1:${s.port}`;
    let r = curl('--cacert', f('ca.pem'), `${url}/healthz`);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { status: 'ok' });
    r = curl('--cacert', f('ca.pem'), '-X', 'PUT', '--data-binary', JSON.stringify({ columns: [{ name: 'ts', type: 'timestamp', nullable: false }], time_column: 'ts' }), `${url}/v1/datasets/t`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).name, 't');
    // Without the CA the certificate is not trusted; with TLS 1.1 at most there is no handshake.
    assert.notEqual(curl(`${url}/healthz`).status, 0, 'a certificate of an unknown CA is refused by curl');
    assert.notEqual(curl('--cacert', f('ca.pem'), '--tls-max', '1.1', `${url}/healthz`).status, 0, 'TLS 1.1 refused');
    r = curl('--cacert', f('ca.pem'), '--tls-max', '1.2', `${url}/healthz`);
    assert.equal(r.status, 0, `TLS 1.2 taken: ${r.stderr}`);
    // wss: a live subscription over TLS (libmicrohttpd's upgrade through its TLS layer) gets its first
    // result, then the next after a POST. Node's WebSocket, in a child with the flag Node 20 needs.
    const client = `
      const ws = new WebSocket('wss://127.0.0.1:${s.port}/v1/live'), got = [];
      ws.onopen = () => ws.send(JSON.stringify({ type: 'subscribe', id: 'a', sql: 'SELECT count(*) AS n FROM t' }));
      ws.onmessage = async e => {
        const m = JSON.parse(e.data); got.push(m.result.rows[0][0]);
        if (got.length === 1) await fetch('${url}/v1/datasets/t/records', { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: '{"ts":"2026-12-07T10:00:00Z"}\\n' });
        else { console.log(JSON.stringify(got)); ws.onclose = () => process.exit(0); ws.close(1000); }
      };
      ws.onerror = e => { console.log('error ' + e.message); process.exit(1); };
      setTimeout(() => { console.log('timeout ' + JSON.stringify(got)); process.exit(1); }, 8000);`;
    const w = spawnSync(process.execPath, ['--experimental-websocket', '-e', client], { encoding: 'utf8', timeout: 15000, env: { ...process.env, NODE_EXTRA_CA_CERTS: f('ca.pem') } });
    assert.equal(w.stdout.trim(), '[0,1]', `wss: ${w.stdout} ${w.stderr}`);
    // Plain HTTP to the TLS port: no answer, and the node goes on.
    r = curl(`http://127.0.0.1:${s.port}/healthz`);
    assert.notEqual(r.status, 0);
    assert.doesNotMatch(r.stdout, /status/);
    r = curl('--cacert', f('ca.pem'), `${url}/healthz`);
    assert.equal(r.status, 0, r.stderr);
  } finally {
    await s.stop();
    assert.deepEqual(sanitizerReports(s.log()), []);
  }
  // Refused at start: one flag alone, a file that is not PEM.
  writeFileSync(f('junk.pem'), 'not a certificate\n');
  for (const [args, msg] of [[['--tls-cert', f('node.pem')], /both --tls-cert and --tls-key/],
    [['--tls-cert', f('junk.pem'), '--tls-key', f('node.key')], /not a PEM file/]]) {
    const p = spawnSync(URSA_BIN, ['serve', '--listen', '127.0.0.1:0', '--store', f('s2'), '--wal-dir', f('w2'), ...args], { encoding: 'utf8', timeout: 10000 });
    assert.notEqual(p.status, 0);
    assert.match(p.stderr, msg);
  }
});

// Several TLS nodes on one store: a query on one node asks the others over HTTPS (their certificates
// checked against --peer-ca), so rows still in another node's buffer are counted. Without the CA the
// other node's certificate is refused and the query says which node and why.
test('TLS nodes call each other over HTTPS, checking certificates against --peer-ca', async () => {
  const dir = makeTempDir('ursa-tls2-');
  const f = name => join(dir, name);
  makeCerts(dir, 'IP:127.0.0.1');
  const tls = ['--tls-cert', f('node.pem'), '--tls-key', f('node.key'), '--heartbeat', '200ms'];
  const a = await startServer({ store: f('store'), node: 'a', args: ['--wal-dir', f('wa'), ...tls, '--peer-ca', f('ca.pem')] });
  const b = await startServer({ store: f('store'), node: 'b', args: ['--wal-dir', f('wb'), ...tls] });
  try {
    const call = (s, path, body) => {
      const r = curl('--cacert', f('ca.pem'), ...(body ? ['--data-binary', body, '-H', `content-type: ${path.endsWith('records') ? 'application/x-ndjson' : 'application/json'}`] : []), '-w', '\n%{http_code}', `https://127.0.0.1:${s.port}${path}`);
      const at = r.stdout.lastIndexOf('\n');
      return { status: Number(r.stdout.slice(at + 1)), body: r.stdout.slice(0, at) };
    };
    let r = curl('--cacert', f('ca.pem'), '-X', 'PUT', '--data-binary', JSON.stringify({ columns: [{ name: 'ts', type: 'timestamp', nullable: false }], time_column: 'ts' }), `https://127.0.0.1:${a.port}/v1/datasets/t`);
    assert.equal(r.status, 0, r.stderr);
    // b learns of the dataset from the store when it is first named
    for (let i = 0; i < 50 && call(b, '/v1/datasets/t').status !== 200; i++) await new Promise(res => setTimeout(res, 100));
    r = call(b, '/v1/datasets/t/records', '{"ts":"2026-12-07T10:00:00Z"}\n{"ts":"2026-12-07T10:00:01Z"}\n{"ts":"2026-12-07T10:00:02Z"}\n');
    assert.equal(r.status, 200, r.body);
    // a sees b once b's heartbeat is in the store
    let q;
    for (let i = 0; i < 50; i++) {
      q = call(a, '/v1/query', JSON.stringify({ sql: 'SELECT count(*) FROM t' }));
      if (q.status === 200 && JSON.parse(q.body).stats.nodes === 2) break;
      await new Promise(res => setTimeout(res, 100));
    }
    assert.equal(q.status, 200, q.body);
    assert.deepEqual(JSON.parse(q.body).rows, [[3]], 'a counts the rows in b\'s buffer, asked over HTTPS');
    // b has no --peer-ca: the system's CAs do not know the test CA, so b refuses a's certificate
    q = call(b, '/v1/query', JSON.stringify({ sql: 'SELECT count(*) FROM t' }));
    assert.equal(q.status, 503, q.body);
    assert.match(JSON.parse(q.body).error, /node a .*(certificate|SSL)/i);
  } finally {
    await a.stop();
    await b.stop();
    assert.deepEqual(sanitizerReports(a.log() + b.log()), []);
  }
  removeTempDirs();
});
