// gateway.mjs — nginx as a round-robin HTTP gateway in front of N Ursa nodes, for tests and benchmarks.
//
//   import { startGateway } from './gateway.mjs';
//   const gw = await startGateway({ upstreams: ['127.0.0.1:8001', '127.0.0.1:8002'] });
//   await fetch(gw.url + '/v1/datasets/d/records', { method: 'POST', body });
//   await gw.stop();
//
// startGateway writes its own nginx.conf into a fresh temporary directory (pid file, error log, optional
// access log and every *_temp_path live there; nothing is written under /var or /etc), starts nginx in the
// foreground (`daemon off;`) as a child of this process, and waits until the gateway answers a probe that
// only this instance knows (so a foreign server that took the port is never mistaken for it). The port is a
// free loopback port; if another process takes it between the pick and nginx's bind, it picks again.
//
// What the configuration does, and why:
// - `upstream` with the nodes, round robin (nginx's default), HTTP/1.1 and a pool of idle keepalive
//   connections to them (`keepalive`, `Connection: ""`), kept idle for less than Ursa's own idle timeout
//   (30 s by default): a pooled connection the node closed just as nginx reused it would fail a POST that
//   nginx may not retry (below), so nginx drops its idle connections first.
// - Request bodies are streamed to the node as they arrive (`proxy_request_buffering off`), never spooled
//   to disk, and `client_max_body_size 0` (no limit at the gateway): Ursa refuses a body over its
//   --max-body itself, with a 413 and a JSON error, which reaches the client unchanged.
// - Answers of the nodes pass through unchanged (`proxy_intercept_errors` stays off); only the errors nginx
//   makes itself (502 no node reachable, 504 a node too slow) get a JSON body in Ursa's shape
//   ({"error": ...}) instead of nginx's HTML page.
// - No retry of a POST on another node once it was sent. `proxy_next_upstream error timeout` is nginx's
//   default, written out: it passes a request to the next node only when the connection to a node failed
//   or timed out, and — without the `non_idempotent` flag, which this file must never add — never for a
//   POST once any of it was sent to a node (and with request buffering off, nginx cannot resend a body it
//   has streamed anyway). A POST of records retried on another node after the first one received it could
//   be written twice (double rows), so a failed POST fails to the client, who may retry it with an
//   Idempotency-Key on the same node.
//
// The nodes: every connection from the gateway comes from 127.0.0.1, so a node's --max-connections-per-client
// (256 by default) caps the requests in flight through the gateway to that node. Over it the node closes the
// new connection unanswered; nginx has sent the POST by then, so it answers 502 and does not retry (measured:
// 400 wrk connections through one node's gateway gave 2,279 of 6,982 answers 502, none of their rows
// stored). Start nodes with a larger limit, or 0, when a test drives more than ~250 requests at once.
//
// Environment: URSA_NGINX (default /usr/sbin/nginx), URSA_TEST_TMP (where the temporary directory goes,
// default the OS temp dir). Only 127.0.0.1 is ever bound.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';

export const NGINX_BIN = process.env.URSA_NGINX || '/usr/sbin/nginx';

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 8;

// Gateways still running when this process exits are stopped (SIGTERM: nginx's master stops its workers).
const running = new Set();
let reaperInstalled = false;
function installReaper() {
  if (reaperInstalled) return;
  reaperInstalled = true;
  process.on('exit', () => { for (const p of running) { try { p.kill('SIGTERM'); } catch { /* gone */ } } });
}

// A watchdog per gateway covers the cases where this process dies without running its exit handlers
// (SIGKILL, a crash): it holds the read end of a pipe from us and, when the pipe closes without a "disarm"
// message, sends SIGTERM to nginx's master (which stops its workers), then SIGKILL if it is still there 5 s
// later, and removes the gateway's own temporary directory. Same idea as the server watchdog in helpers.mjs; SIGTERM first because a master killed outright
// would leave its workers running.
const WATCHDOG = `let armed = true; process.stdin.on('data', d => { if (String(d).includes('disarm')) armed = false; });
process.stdin.on('end', () => {
  if (!armed) process.exit(0);
  const pid = Number(process.argv[1]), dir = process.argv[2];
  const done = () => { if (dir) { try { require('node:fs').rmSync(dir, { recursive: true, force: true }); } catch {} } process.exit(0); };
  try { process.kill(pid, 'SIGTERM'); } catch { done(); }
  const t0 = Date.now();
  setInterval(() => {
    let alive = true; try { process.kill(pid, 0); } catch { alive = false; }
    if (!alive || Date.now() - t0 > 5000) { try { process.kill(pid, 'SIGKILL'); } catch {} setTimeout(done, 200); }
  }, 100);
});`;
function startWatchdog(pid, dir) {
  const w = spawn(process.execPath, ['-e', WATCHDOG, String(pid), dir ?? ''], { stdio: ['pipe', 'ignore', 'ignore'] });
  w.on('error', () => {});
  w.stdin.on('error', () => {});
  w.unref(); w.stdin.unref?.();
  return { disarm() { try { w.stdin.end('disarm\n'); } catch { /* gone */ } } };
}

/** A loopback port that was free a moment ago (the kernel's pick for port 0). */
function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

/** nginx.conf for one gateway; every path is inside dir. */
export function nginxConf({ dir, port, upstreams, workers, keepalive, accessLog, probe, proxyReadTimeout, bodyBuffer }) {
  const q = s => `"${s}"`;
  const user = process.getuid?.() === 0 ? `user ${userInfo().username};  # as root, the workers would otherwise run as nobody and could not use ${dir}\n` : '';
  return `# Written by tests/integration/gateway.mjs; not for production.
${user}daemon off;
master_process on;
worker_processes ${workers};
pid ${q(join(dir, 'nginx.pid'))};
error_log ${q(join(dir, 'error.log'))} warn;

events {
  worker_connections 4096;
}

http {
  ${accessLog
    ? `log_format gateway '$remote_addr "$request" $status $body_bytes_sent upstream=$upstream_addr upstream_status=$upstream_status rt=$request_time urt=$upstream_response_time';
  access_log ${q(join(dir, 'access.log'))} gateway;`
    : 'access_log off;'}
  client_body_temp_path ${q(join(dir, 'client_body'))};
  proxy_temp_path ${q(join(dir, 'proxy'))};
  fastcgi_temp_path ${q(join(dir, 'fastcgi'))};
  uwsgi_temp_path ${q(join(dir, 'uwsgi'))};
  scgi_temp_path ${q(join(dir, 'scgi'))};
  server_tokens off;

  upstream ursa {
    # round robin over the nodes (nginx's default balancing)
${upstreams.map(u => `    server ${u};`).join('\n')}
    keepalive ${keepalive};            # idle connections kept open to the nodes, per worker
    keepalive_requests 100000;
    keepalive_timeout 20s;           # below Ursa's --idle-timeout (30 s): nginx closes an idle one first
  }

  server {
    listen 127.0.0.1:${port} backlog=1024;

    # Client side.
    client_max_body_size 0;          # no limit here: Ursa answers 413 (JSON) over its --max-body
${bodyBuffer ? `    client_body_buffer_size ${bodyBuffer};  # the pieces a body is read and passed on in (see startGateway)\n` : ''}    client_body_timeout 60s;         # between two reads of a body
    client_header_timeout 10s;
    keepalive_timeout 75s;
    keepalive_requests 100000;
    send_timeout 60s;

    location = /__gateway/probe {
      access_log off;
      default_type text/plain;
      return 200 ${q(probe)};
    }

    # Live queries: the WebSocket is passed through (RFC 6455's Upgrade, hop by hop, is forwarded
    # by hand); a node pings a silent client after 30 s, so a read timeout above that keeps an idle
    # subscription open.
    location = /v1/live {
      proxy_pass http://ursa;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_set_header Host $http_host;
      proxy_read_timeout 120s;
    }

    location / {
      proxy_pass http://ursa;
      proxy_http_version 1.1;
      proxy_set_header Connection "";   # keep the upstream connection open (keepalive pool)
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;

      proxy_request_buffering off;      # stream bodies to the node as they arrive
      proxy_buffering on;               # answers are small JSON; kept in memory, never in temp files
      proxy_max_temp_file_size 0;

      proxy_connect_timeout 5s;
      proxy_send_timeout 120s;          # between two writes to the node (a node under backpressure reads slowly)
      proxy_read_timeout ${proxyReadTimeout}s;  # a flush on S3 or a big body's group commit may take long

      # nginx's default, written out so that nobody "fixes" it: the next node is tried only when a
      # connection failed or timed out, and never for a POST once it was sent (no "non_idempotent"
      # flag; with request buffering off nginx could not resend the body anyway). Retrying a POST of
      # records on another node could write its rows twice.
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 2;

      proxy_intercept_errors off;       # the nodes' own errors (400, 413, 429 ... with JSON) pass unchanged
      error_page 502 503 504 @gateway_error;
    }

    location @gateway_error {
      default_type application/json;
      return 502 '{"error":"gateway: no answer from an Ursa node (nginx status $status, upstream $upstream_addr)"}';
    }
  }
}
`;
}

/**
 * Starts nginx in front of `upstreams` (["127.0.0.1:PORT", ...]). Options:
 *   workers            nginx worker processes (default 1)
 *   keepalive          idle connections per worker kept to the nodes (default 32)
 *   accessLog          write access.log (one line per request with $upstream_addr) in the directory
 *   proxyReadTimeout   seconds to wait for a node's answer (default 300)
 *   bodyBuffer         client_body_buffer_size: the pieces a streamed body is read and passed on in
 *                      (default 256k; null: nginx's own, 16k on 64-bit). With 16k, nginx spent twice the
 *                      CPU seconds on 1,000-row bodies (208 KB) as with 256k (bench/table.mjs ingest,
 *                      gw1: 2.4 and 1.8 s against 1.2 and 1.2 s in 15 s runs); the cost is up to 256 KiB
 *                      per request in flight
 *   dir                the directory for nginx.conf, logs and temp paths (default: a fresh one, removed by
 *                      stop() unless keepDir)
 * Resolves { url, port, dir, pid, proc, conf, log(), accessLog(), stop() }.
 * log() is nginx's error log (and anything it printed on stdout/stderr); accessLog() the access log ('' when
 * off). stop() sends SIGTERM (nginx's fast shutdown: requests in flight are cut), waits, SIGKILL after 10 s,
 * removes the directory it made; resolves { code, signal, ms }.
 */
export async function startGateway({ upstreams, workers = 1, keepalive = 32, accessLog = false,
  proxyReadTimeout = 300, bodyBuffer = '256k', dir, keepDir = false, nginx = NGINX_BIN } = {}) {
  if (!Array.isArray(upstreams) || upstreams.length === 0) throw new Error('startGateway: upstreams is required');
  for (const u of upstreams) if (!/^127\.0\.0\.1:\d+$/.test(u)) throw new Error(`startGateway: upstream ${u} is not 127.0.0.1:PORT`);
  if (!existsSync(nginx)) throw new Error(`nginx not found: ${nginx} (apt-get install nginx, or set URSA_NGINX)`);
  installReaper();
  const ownDir = !dir;
  if (!dir) {
    const base = process.env.URSA_TEST_TMP ? resolve(process.env.URSA_TEST_TMP) : tmpdir();
    mkdirSync(base, { recursive: true });
    dir = mkdtempSync(join(base, 'ursa-gateway-'));
  }
  const probe = randomBytes(12).toString('hex');
  let lastErr;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await freePort();
    const conf = nginxConf({ dir, port, upstreams, workers, keepalive, accessLog, probe, proxyReadTimeout, bodyBuffer });
    const confPath = join(dir, 'nginx.conf');
    writeFileSync(confPath, conf);
    // -e: the error log before the configuration is read (nginx would try /var/log/nginx/error.log);
    // -p: the prefix for relative paths.
    const proc = spawn(nginx, ['-p', dir + '/', '-c', confPath, '-e', join(dir, 'error.log')],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
    running.add(proc);
    const watchdog = startWatchdog(proc.pid, ownDir && !keepDir ? dir : '');
    let output = '';
    proc.stdout.on('data', d => { output += d; });
    proc.stderr.on('data', d => { output += d; });
    let exitStatus = null;
    const exited = new Promise(res => proc.once('exit', (code, signal) => {
      exitStatus = { code, signal }; running.delete(proc); watchdog.disarm(); res(exitStatus);
    }));
    proc.once('error', err => { output += String(err); });
    const readLog = () => { try { return readFileSync(join(dir, 'error.log'), 'utf8') + output; } catch { return output; } };

    const up = await waitReady(port, probe, () => exitStatus);
    if (up) {
      const url = `http://127.0.0.1:${port}`;
      return {
        url, port, dir, conf, pid: proc.pid, proc,
        log: readLog,
        accessLog: () => { try { return readFileSync(join(dir, 'access.log'), 'utf8'); } catch { return ''; } },
        async stop() {
          const t0 = Date.now();
          if (!exitStatus) {
            proc.kill('SIGTERM');
            let timer;
            const timedOut = new Promise(res => { timer = setTimeout(() => res(null), STOP_TIMEOUT_MS); });
            const st = await Promise.race([exited, timedOut]);
            clearTimeout(timer);
            if (!st) { proc.kill('SIGKILL'); await exited; }
          }
          if (ownDir && !keepDir) rmSync(dir, { recursive: true, force: true });
          return { ...exitStatus, ms: Date.now() - t0 };
        },
      };
    }
    // Not up: the port was taken (bind failed), or nginx refused the configuration.
    if (!exitStatus) { proc.kill('SIGTERM'); await exited; }
    const log = readLog();
    lastErr = new Error(`nginx did not start on 127.0.0.1:${port} (exit ${JSON.stringify(exitStatus)}):\n${log}`);
    if (!/Address already in use/.test(log)) break;
    try { rmSync(join(dir, 'error.log')); } catch { /* none */ }
  }
  if (ownDir && !keepDir) rmSync(dir, { recursive: true, force: true });
  throw lastErr;
}

/** Polls GET /__gateway/probe until it answers this instance's token; false when nginx exited or time ran out. */
async function waitReady(port, probe, exitStatus) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exitStatus()) return false;
    try {
      const r = await fetch(`http://127.0.0.1:${port}/__gateway/probe`, { signal: AbortSignal.timeout(1000) });
      const t = await r.text();
      if (r.status === 200 && t === probe) return true;
    } catch { /* not listening yet */ }
    await new Promise(r => setTimeout(r, 50));
  }
  return false;
}
