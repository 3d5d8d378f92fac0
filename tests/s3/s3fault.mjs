#!/usr/bin/env node
// s3fault.mjs — a fault-injecting reverse proxy for S3 tests: put it between Ursa and the S3 server
// (tests/s3/swift.sh) and tell it, rule by rule, which requests to break and how. No dependencies.
//
// CLI:      UPSTREAM=http://127.0.0.1:PORT [PORT=0] [STRICT=1] [FAULTS='[...]'] node tests/s3/s3fault.mjs
//           prints "s3fault listening on http://127.0.0.1:PORT -> UPSTREAM" once it accepts connections.
// Library:  const p = await startFaultProxy({upstream, port: 0, strict: false, noConditional: false});
//           p.url, p.port, p.setRules([...]), p.clearRules(), p.rules(), p.log(), p.clearLog(), await p.close()
// Control over HTTP, on the proxy's own port (paths starting with /__ never reach the server):
//   POST   /__faults   body: a rule or an array of rules; replaces the rules     GET /__faults: rules + hit counts
//   DELETE /__faults   removes every rule                                         GET /__log, DELETE /__log
//
// A rule: {match, action, times, skip, every, bytes, ms}
//   match   regular expression tested on "METHOD /path?query" (e.g. "^PUT .*partNumber=2&"); absent: every request
//   skip    let the first N matching requests through untouched        times  then apply to the next N (absent: all)
//   every   apply only to every Kth matching request
//   action  "503"    answer 503 SlowDown (the request never reaches the server)
//           "500"    answer 500 InternalError (idem)
//           "reset"  close the connection without an answer after `bytes` bytes of the request body arrived
//                    (0 or absent: at once); nothing reaches the server
//           "cut"    forward; once the server has answered (for a PUT: stored the object), pass on only
//                    `bytes` bytes of the answer's body (0 or absent: nothing, not even the status line) and
//                    close the connection — the server did the work, the client sees an error
//           "delay"  wait `ms` before forwarding (a client that gave up meanwhile is not forwarded)
//           "slow"   forward at once, hold the server's whole answer `ms` before passing it on (the server did
//                    the work; a client with a shorter timeout gives up)
//           "pass"   forward untouched (useful with skip/times to count requests)
//   The first rule that matches (and whose skip/times/every allow it) decides; hits are counted per rule.
// STRICT mode: like AWS S3, answer 501 NotImplemented to a PUT or POST whose body is sent with
//   Transfer-Encoding: chunked (Swift would accept it) and 411 MissingContentLength to a PUT without a length.
// noConditional (NO_COND=1): answer 501 NotImplemented to a PUT with If-None-Match, as stock Swift and S3
//   servers without conditional writes do.
// The Host header and every signed header pass unchanged, so SigV4 signatures still verify upstream. An
// "Expect: 100-continue" that is not signed is answered here and not forwarded.
// Only loopback addresses are allowed as upstream.
import http from 'node:http';
import { pathToFileURL } from 'node:url';

const ERRORS = {
  500: ['InternalError', 'We encountered an internal error. Please try again.'],
  501: ['NotImplemented', 'A header you provided implies functionality that is not implemented'],
  503: ['SlowDown', 'Please reduce your request rate.'],
  411: ['MissingContentLength', 'You must provide the Content-Length HTTP header.'],
  502: ['BadGateway', 's3fault: the upstream server could not be reached'],
};
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']);
const LOG_LIMIT = 20000;

function normalizeRules(r) {
  const list = Array.isArray(r) ? r : [r];
  return list.map(x => {
    if (!x || typeof x !== 'object') throw new Error('a rule is an object');
    const rule = { action: 'pass', ...x, seen: 0, hits: 0 };
    if (!['503', '500', 'reset', 'cut', 'delay', 'slow', 'pass'].includes(String(rule.action))) throw new Error(`unknown action ${rule.action}`);
    rule.action = String(rule.action);
    rule.re = rule.match ? new RegExp(rule.match) : null;
    return rule;
  });
}
const showRule = r => { const { re, ...rest } = r; return rest; };

/** Starts the proxy on 127.0.0.1; resolves once it listens. */
export async function startFaultProxy({ upstream, port = 0, strict = false, noConditional = false, rules = [] } = {}) {
  const up = new URL(upstream);
  if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(up.hostname)) throw new Error(`s3fault: upstream must be a loopback address, not ${up.hostname}`);
  let ruleList = normalizeRules(rules);
  let log = [];
  let n = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const sockets = new Set();

  function pick(line) {
    for (const r of ruleList) {
      if (r.re && !r.re.test(line)) continue;
      r.seen++;
      if (r.skip && r.seen <= r.skip) continue;
      if (r.every && (r.seen - (r.skip || 0)) % r.every) continue;
      if (r.times !== undefined && r.hits >= r.times) continue;
      r.hits++;
      return r;
    }
    return null;
  }

  function record(entry) {
    log.push(entry);
    if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT / 2);
  }

  function errorReply(req, res, status, entry) {
    const [code, msg] = ERRORS[status];
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${msg}</Message>` +
      `<Resource>${req.url.split('?')[0].replace(/[<>&]/g, '')}</Resource><RequestId>s3fault-${entry.id}</RequestId></Error>`;
    const send = () => {
      entry.result = status;
      if (!res.headersSent && !res.destroyed) res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) }).end(body);
    };
    // Read (and drop) the body first, as a server would, so that the client is not reset while sending.
    if (req.complete) send(); else { req.on('data', d => { entry.reqBytes += d.length; }); req.on('end', send); req.on('error', () => {}); }
  }

  function control(req, res) {
    let b = '';
    req.on('data', d => { b += d; });
    req.on('end', () => {
      let out, status = 200;
      try {
        if (req.url.startsWith('/__faults')) {
          if (req.method === 'POST') ruleList = normalizeRules(JSON.parse(b || '[]'));
          else if (req.method === 'DELETE') ruleList = [];
          out = ruleList.map(showRule);
        } else if (req.url.startsWith('/__log')) {
          if (req.method === 'DELETE') log = [];
          out = log;
        } else { status = 404; out = { error: 'unknown control path' }; }
      } catch (e) { status = 400; out = { error: String(e.message) }; }
      const body = JSON.stringify(out) + '\n';
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }).end(body);
    });
  }

  function forward(req, res, rule, entry) {
    const action = rule?.action || 'pass';
    const headers = {};
    const signed = (/SignedHeaders=([^,\s]+)/.exec(req.headers.authorization || '')?.[1] || '').split(';');
    for (const [k, v] of Object.entries(req.headers)) {
      if (HOP_BY_HOP.has(k)) continue;
      if (k === 'expect' && !signed.includes('expect')) continue; // node already answered 100 Continue
      headers[k] = v;
    }
    let clientGone = false;
    res.on('close', () => { if (!res.writableFinished) clientGone = true; });
    const p = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers, agent }, ur => {
      entry.upstream = ur.statusCode;
      if (action === 'cut') {
        const lim = rule.bytes || 0;
        const chunks = [];
        ur.on('data', d => chunks.push(d));
        ur.on('end', () => {
          const body = Buffer.concat(chunks);
          entry.result = `cut after ${Math.min(lim, body.length)} of ${body.length} answer bytes`;
          if (!lim) { req.socket.destroy(); return; }
          const h = { ...ur.headers }; for (const k of HOP_BY_HOP) delete h[k];
          res.writeHead(ur.statusCode, h);
          res.write(body.subarray(0, lim), () => req.socket.destroy());
        });
        return;
      }
      const pass = (body) => {
        if (clientGone || res.destroyed) { entry.result = 'client gone before the answer'; return; }
        const h = { ...ur.headers }; for (const k of HOP_BY_HOP) delete h[k];
        entry.result = ur.statusCode;
        res.writeHead(ur.statusCode, h);
        if (body) res.end(body); else ur.pipe(res);
      };
      if (action === 'slow') {
        const chunks = [];
        ur.on('data', d => chunks.push(d));
        ur.on('end', () => setTimeout(() => pass(Buffer.concat(chunks)), rule.ms ?? 1000));
      } else pass(null);
    });
    p.on('error', err => {
      entry.result = `upstream error ${err.code || err.message}`;
      if (!res.headersSent && !res.destroyed) errorReply(req, res, 502, entry); else req.socket.destroy();
    });
    req.on('data', d => { entry.reqBytes += d.length; });
    req.on('aborted', () => { clientGone = true; p.destroy(); });
    req.pipe(p);
  }

  function handle(req, res) {
    if (req.url.startsWith('/__')) return control(req, res);
    const entry = { id: ++n, t: Date.now(), method: req.method, url: req.url, action: 'pass', reqBytes: 0, result: null };
    record(entry);
    res.on('close', () => { entry.ms = Date.now() - entry.t; });
    req.on('error', () => {});
    const te = req.headers['transfer-encoding'] || '';
    if (strict && /^(PUT|POST)$/.test(req.method) && /chunked/i.test(te)) { entry.action = 'strict'; return errorReply(req, res, 501, entry); }
    if (strict && req.method === 'PUT' && req.headers['content-length'] === undefined && !te) { entry.action = 'strict'; return errorReply(req, res, 411, entry); }
    if (noConditional && req.method === 'PUT' && req.headers['if-none-match'] !== undefined) { entry.action = 'no-conditional'; return errorReply(req, res, 501, entry); }
    const rule = pick(`${req.method} ${req.url}`);
    entry.action = rule?.action || 'pass';
    switch (entry.action) {
      case '503': case '500': return errorReply(req, res, Number(entry.action), entry);
      case 'reset': {
        const lim = rule.bytes || 0;
        const kill = () => { entry.result = `reset after ${entry.reqBytes} body bytes`; req.socket.destroy(); };
        if (!lim) return kill();
        req.on('data', d => { entry.reqBytes += d.length; if (entry.reqBytes >= lim && !req.socket.destroyed) kill(); });
        req.on('end', () => { if (!req.socket.destroyed) kill(); });
        return;
      }
      case 'delay':
        req.pause();
        return setTimeout(() => {
          if (req.socket.destroyed || res.destroyed) { entry.result = 'client gone during the delay'; return; }
          req.resume();
          forward(req, res, rule, entry);
        }, rule.ms ?? 1000);
      default: return forward(req, res, rule, entry);
    }
  }

  const server = http.createServer({ keepAliveTimeout: 30_000, requestTimeout: 0 }, handle);
  server.on('connection', s => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  server.on('clientError', (err, socket) => socket.destroy());
  await new Promise((res, rej) => { server.once('error', rej); server.listen(port, '127.0.0.1', res); });
  const actualPort = server.address().port;
  return {
    port: actualPort,
    url: `http://127.0.0.1:${actualPort}`,
    upstream: up.href,
    setRules(r) { ruleList = normalizeRules(r); },
    clearRules() { ruleList = []; },
    rules() { return ruleList.map(showRule); },
    log() { return log.slice(); },
    clearLog() { log = []; },
    async close() {
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise(res => server.close(() => res()));
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] || '').href) {
  const upstream = process.env.UPSTREAM;
  if (!upstream) { console.error('usage: UPSTREAM=http://127.0.0.1:PORT [PORT=0] [STRICT=1] [FAULTS=JSON] node s3fault.mjs'); process.exit(2); }
  const p = await startFaultProxy({ upstream, port: Number(process.env.PORT || 0), strict: !!process.env.STRICT && process.env.STRICT !== '0',
    noConditional: !!process.env.NO_COND && process.env.NO_COND !== '0',
    rules: JSON.parse(process.env.FAULTS || '[]') });
  console.log(`s3fault listening on ${p.url} -> ${p.upstream}${process.env.STRICT && process.env.STRICT !== '0' ? ' (strict)' : ''}`);
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => { p.close().then(() => process.exit(0)); });
}
