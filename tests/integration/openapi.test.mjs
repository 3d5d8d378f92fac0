// openapi.test.mjs — web/openapi.json, the OpenAPI 3.1 description of the HTTP API that the binary serves at
// GET /openapi.json, held to the real server it describes (loopback, real stores):
//   1. the document the server serves is the file in web/ (the binary was rebuilt), a valid OpenAPI 3.1
//      document (@seriousme/openapi-schema-validator) with the binary's version; every schema in it compiles
//      under ajv's strict mode (JSON Schema 2020-12), every reference resolves, every component is used, and
//      every example is valid against the schema beside it;
//   2. the examples: every request example (a body example, or a parameter example, named N) is sent to a
//      real server, operation by operation in an order that makes sense (the dataset is created first,
//      records go in before the flush, …; a few to servers started with the flags their answer needs); the
//      one response holding an example named N (in its content, or in a header) gives the status to expect;
//      the answer's body must validate (ajv) against that response's schema for its content type, its headers
//      be those documented (with the example's values), its X-Request-Id the one sent; a 101 from /v1/live
//      is followed by a subscription whose first message must be a documented one;
//   3. the routes: the server's are read from src/http_server.c (the routing table routes[] and path_of, with
//      the pages of src/api_web.c), so that a route added to the C code without documenting it fails here;
//      they must be the documented ones, and every documented operation, sent a request made of its
//      parameters' and body's defaults, answers neither 404 "no such endpoint" nor 405 but a status it
//      documents, with a body and headers as documented; HEAD answers like GET; every file of web/ is served
//      at /assets/<name> with a documented type;
//   4. the dataset schema: every column type with every option and rule, one at a time, is created by the
//      server exactly when the documented schema accepts it;
//   5. errors: unknown paths, a method a path does not answer (Allow must list exactly the documented
//      methods), an Accept or a Content-Type the server cannot take, framing a proxy could read another way,
//      malformed bodies: each answer validates against the schema documented for its status;
//   6. API keys: the document requires its bearer scheme but on the open operations, and documents 401, 403
//      and 429 where the node can answer them; nodes run with --auth-keys (keys made by `ursa keys add`) answer
//      every operation without a key, with a wrong one, with one lacking the scope and with one holding every
//      scope as documented; the key as a WebSocket subprotocol; the failed-key limit (429, Retry-After).
//
//   URSA_BIN=build/ursa URSA_TEST_TMP=/tmp/ursa-oa node --test tests/integration/openapi.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, deflateSync } from 'node:zlib';
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports, REPO_ROOT, URSA_BIN } from './helpers.mjs';

const Ajv2020 = Ajv2020Module.default ?? Ajv2020Module;
const addFormats = addFormatsModule.default ?? addFormatsModule;

const DOC_FILE = join(REPO_ROOT, 'web/openapi.json');
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

// The order the operations' examples are sent in: the dataset is created before records go to it, records
// before the flush, the flush before the table's files, snapshots and compaction. A new operation must be
// placed here (the test says so).
const ORDER = [
  'getHealth', 'getMetrics', 'listNodes', 'putDataset', 'listDatasets', 'getDataset', 'ingestRecords',
  'getQuarantine', 'flushDataset', 'listTableFiles', 'listSnapshots', 'compactDataset', 'runQuery', 'runQueryGet',
  'internalScan', 'openLive', 'getHome', 'getConsole', 'getDocs', 'getOpenApi', 'getAsset',
];

// The operations open on a node run with --auth-keys (security: []); /metrics is open unless --auth-metrics.
const OPEN_OPS = ['getHealth', 'getHome', 'getConsole', 'getDocs', 'getOpenApi', 'getAsset'];

// Examples whose answer only a node started with other flags gives: each is sent to a server of its own,
// started with `args`, after the dataset was created there (putDataset "create") and, with `warm`, after
// that example too.
const SPECIAL = {
  'ingestRecords tooLarge': { args: ['--max-body', '256'] },
  'ingestRecords walFull': { args: ['--wal-limit', '1'], warm: 'ingestRecords idempotent' }, // a log that holds something
  'runQuery overBudget': { args: ['--query-memory', '1K'] },
};

let failed = false;
const logs = [];
const servers = [];
after(async () => {
  for (const s of servers) await s.stop();
  const reports = logs.flatMap(l => sanitizerReports(l()));
  if (reports.length) { failed = true; console.error(reports.join('\n')); }
  assert.deepEqual(reports, [], 'sanitizer reports in the server output');
  if (!failed) removeTempDirs();
});
async function start(args = []) {
  const srv = await startServer({ store: makeTempDir('ursa-oa-'), node: 'oa1', args });
  logs.push(srv.log);
  servers.push(srv);
  return srv;
}
// Wraps a test's body so that a failure keeps the temporary stores and shows the server's log.
const guarded = (srvOf, fn) => async t => {
  try {
    await fn(t);
  } catch (e) {
    failed = true;
    const srv = srvOf();
    if (srv) e.message += `\n--- server log (tail):\n${srv.log().slice(-3000)}`;
    throw e;
  }
};

// ------------------------------------------------------------------ HTTP
/**
 * One request over a connection of its own. Resolves {status, headers, body (Buffer), socket?}: a 101 answer
 * (a WebSocket) leaves its socket open for the caller. (node:http, not the helpers' fetch: fetch refuses to
 * send Upgrade and Connection, and cannot take a 101.)
 */
function send(port, { method = 'GET', path, headers = {}, body }) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (body !== undefined) h['content-length'] = String(Buffer.byteLength(body));
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: h, agent: false });
    const timer = setTimeout(() => { req.destroy(new Error(`${method} ${path}: no answer in 20 s`)); }, 20_000);
    req.on('error', e => { clearTimeout(timer); reject(e); });
    req.on('upgrade', (res, socket, head) => {
      clearTimeout(timer);
      resolve({ status: res.statusCode, headers: res.headers, body: Buffer.alloc(0), socket, head });
    });
    req.on('response', res => {
      const parts = [];
      res.on('data', d => parts.push(d));
      res.on('end', () => { clearTimeout(timer); resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts) }); });
      res.on('error', e => { clearTimeout(timer); reject(e); });
    });
    req.end(body);
  });
}
const mediaType = ct => (ct ?? '').split(';')[0].trim().toLowerCase();
const show = a => `${a.status} ${a.headers['content-type'] ?? ''} ${a.body.subarray(0, 400).toString('utf8')}`;

// ------------------------------------------------------------------ the document
const doc = JSON.parse(readFileSync(DOC_FILE, 'utf8'));

/** The object a "#/..." reference names, following references. */
function resolve(o) {
  let seen = 0;
  while (o && typeof o === 'object' && typeof o.$ref === 'string' && !o.$ref.startsWith('urn:')) {
    assert.ok(o.$ref.startsWith('#/'), `only local references: ${o.$ref}`);
    const target = o.$ref.slice(2).split('/').map(s => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce((x, k) => (x === undefined ? undefined : x[k]), doc);
    assert.ok(target !== undefined, `dangling reference ${o.$ref}`);
    o = target;
    assert.ok(++seen < 20, 'a loop of references');
  }
  return o;
}
/** An example's value (an Example Object or a reference to one). */
const exampleOf = e => resolve(e);

/** Every operation: {path, method, op, pathItem, id}. */
const operations = [];
for (const [path, item] of Object.entries(doc.paths ?? {}))
  for (const method of METHODS)
    if (item[method]) operations.push({ path, method, op: item[method], item, id: item[method].operationId });
const byId = Object.fromEntries(operations.map(o => [o.id, o]));

const paramsOf = o => [...(o.item.parameters ?? []), ...(o.op.parameters ?? [])].map(resolve);

// ------------------------------------------------------------------ JSON Schema (ajv, 2020-12)
// The document's schemas go into ajv under one id, their "#/components/schemas/X" references rewritten to it.
const SCHEMAS_ID = 'urn:ursa:openapi:schemas';
function rewriteRefs(v) {
  if (Array.isArray(v)) return v.map(rewriteRefs);
  if (!v || typeof v !== 'object') return v;
  const out = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === '$ref' && typeof x === 'string' && x.startsWith('#/components/schemas/'))
      out[k] = `${SCHEMAS_ID}#/$defs/${x.slice('#/components/schemas/'.length)}`;
    else out[k] = rewriteRefs(x);
  }
  return out;
}
const ajv = new Ajv2020({ strict: true, strictTypes: false, strictRequired: false, allErrors: true, allowUnionTypes: true });
addFormats(ajv);
ajv.addSchema({ $id: SCHEMAS_ID, $defs: rewriteRefs(doc.components?.schemas ?? {}) });
const compiled = new Map();
function validatorFor(schema) {
  const key = JSON.stringify(schema);
  if (!compiled.has(key)) compiled.set(key, ajv.compile(rewriteRefs(schema)));
  return compiled.get(key);
}
function assertValid(schema, value, what) {
  const v = validatorFor(schema);
  if (!v(value))
    assert.fail(`${what}: not valid against its schema:\n${ajv.errorsText(v.errors, { separator: '\n' })}\nvalue: ${JSON.stringify(value).slice(0, 1500)}`);
}

// ------------------------------------------------------------------ requests made of the document
const TEXT_JSON = new Set(['application/json']);
const NDJSON = new Set(['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines', 'application/jsonlines']);

/** The names of an operation's request examples, in the order they are to be sent: body first, then parameters. */
function requestExampleNames(o) {
  const names = [];
  const add = n => { if (!names.includes(n)) names.push(n); };
  for (const m of Object.values(resolve(o.op.requestBody)?.content ?? {})) for (const n of Object.keys(m.examples ?? {})) add(n);
  for (const p of paramsOf(o)) for (const n of Object.keys(p.examples ?? {})) add(n);
  return names;
}

/** A parameter's value for example `name`: its example of that name, else (when required) its schema's first example or default. */
function paramValue(p, name) {
  if (name && p.examples?.[name]) return exampleOf(p.examples[name]).value;
  if (!p.required) return undefined;
  const s = resolve(p.schema) ?? {};
  const v = s.examples?.[0] ?? s.default;
  assert.ok(v !== undefined, `required parameter ${p.name} has no example to send`);
  return v;
}

/**
 * The request for example `name` of operation o (null: the defaults). The body is the body example of that
 * name, or else the first example of the first media type when a body is required; sent compressed when the
 * example's Content-Encoding says so (examples show bodies before compression).
 */
function buildRequest(o, name) {
  let path = o.path;
  const query = new URLSearchParams();
  const headers = {};
  for (const p of paramsOf(o)) {
    const v = paramValue(p, name);
    if (v === undefined) continue;
    if (p.in === 'path') path = path.replace(`{${p.name}}`, encodeURIComponent(String(v)));
    else if (p.in === 'query') query.set(p.name, String(v));
    else if (p.in === 'header') headers[p.name.toLowerCase()] = String(v);
  }
  let body;
  const rb = resolve(o.op.requestBody);
  if (rb) {
    const content = Object.entries(rb.content ?? {});
    let pick = content.find(([, m]) => name && m.examples?.[name]);
    let ex = pick && exampleOf(pick[1].examples[name]);
    if (!pick && rb.required) {
      pick = content.find(([, m]) => m.examples && Object.keys(m.examples).length);
      assert.ok(pick, `${o.id}: a required body without an example`);
      ex = exampleOf(Object.values(pick[1].examples)[0]);
    }
    if (pick) {
      const [ct] = pick;
      headers['content-type'] = ct;
      body = typeof ex.value === 'string' && !TEXT_JSON.has(mediaType(ct)) ? Buffer.from(ex.value) : Buffer.from(JSON.stringify(ex.value));
      const enc = headers['content-encoding'];
      if (enc === 'gzip' || enc === 'x-gzip') body = gzipSync(body);
      else if (enc === 'deflate') body = deflateSync(body);
      else if (enc === 'zstd') body = execFileSync('zstd', ['-q', '-c'], { input: body });
    }
  }
  const qs = query.toString();
  return { method: o.method.toUpperCase(), path: qs ? `${path}?${qs}` : path, headers, body };
}

/** The response that holds example `name` (in its content or one of its headers): {status, response, ct?}. */
function expectedResponse(o, name) {
  const found = [];
  for (const [status, r0] of Object.entries(o.op.responses)) {
    const r = resolve(r0);
    for (const [ct, m] of Object.entries(r.content ?? {})) if (m.examples?.[name]) found.push({ status, response: r, ct });
    for (const h of Object.values(r.headers ?? {})) if (resolve(h).examples?.[name] && !found.some(f => f.status === status)) found.push({ status, response: r });
  }
  const statuses = [...new Set(found.map(f => f.status))];
  assert.equal(statuses.length, 1, `${o.id}: request example "${name}" must match the example of one response, found ${statuses.length ? statuses.join(', ') : 'none'}`);
  return found.find(f => f.ct) ?? found[0];
}

const BINARY_MAGIC = {
  'application/vnd.apache.parquet': Buffer.from('PAR1'),
  'application/vnd.apache.arrow.stream': Buffer.from([0xff, 0xff, 0xff, 0xff]),
};

/**
 * Checks an answer against the documented response of operation o for its status: the content type is one
 * documented, the body validates against that media type's schema, the headers marked required are there, and
 * those with an example named `name` carry its value.
 */
function checkAnswer(o, answer, { name, sentId, dynamic = [] } = {}) {
  const what = `${o.method.toUpperCase()} ${o.path}${name ? ` (example "${name}")` : ''}`;
  const r0 = o.op.responses[String(answer.status)] ?? o.op.responses.default;
  assert.ok(r0, `${what}: status ${answer.status} is not documented: ${show(answer)}`);
  const r = resolve(r0);
  for (const [hn, h0] of Object.entries(r.headers ?? {})) {
    const h = resolve(h0);
    const got = answer.headers[hn.toLowerCase()];
    if (h.required) assert.ok(got !== undefined, `${what}: header ${hn} missing (status ${answer.status})`);
    const ex = name && h.examples?.[name];
    if (ex && !dynamic.includes(hn)) assert.equal(got, String(exampleOf(ex).value), `${what}: header ${hn}`);
    else if (ex) assert.ok(got !== undefined, `${what}: header ${hn} missing`);
    if (got !== undefined && h.schema) assertValid(h.schema, resolve(h.schema).type === 'integer' ? Number(got) : got, `${what}: header ${hn}`);
  }
  if (sentId) assert.equal(answer.headers['x-request-id'], sentId, `${what}: X-Request-Id not echoed`);
  if (!r.content) {
    assert.equal(answer.body.length, 0, `${what}: a body where none is documented`);
    return;
  }
  const ct = mediaType(answer.headers['content-type']);
  const media = r.content[ct];
  assert.ok(media, `${what}: Content-Type ${answer.headers['content-type']} is not documented for ${answer.status} (${Object.keys(r.content).join(', ')})`);
  if (!media.schema) return;
  const text = answer.body.toString('utf8');
  if (TEXT_JSON.has(ct)) {
    let value;
    try { value = JSON.parse(text); } catch { assert.fail(`${what}: not JSON: ${show(answer)}`); }
    assertValid(media.schema, value, what);
  } else if (NDJSON.has(ct)) {
    assertValid(media.schema, text, what);
    for (const line of text.split('\n').filter(l => l.trim())) {
      let v;
      try { v = JSON.parse(line); } catch { assert.fail(`${what}: an NDJSON line that is not JSON: ${line}`); }
      assert.ok(v && typeof v === 'object' && !Array.isArray(v), `${what}: an NDJSON line that is not an object: ${line}`);
    }
  } else if (BINARY_MAGIC[ct]) {
    assert.ok(answer.body.subarray(0, 4).equals(BINARY_MAGIC[ct]), `${what}: ${ct} does not start as it should`);
    if (ct === 'application/vnd.apache.parquet') assert.ok(answer.body.subarray(-4).equals(BINARY_MAGIC[ct]), `${what}: Parquet without its footer magic`);
  } else if (ct.startsWith('text/') || ct === 'image/svg+xml') {
    assertValid(media.schema, text, what);
  } else {
    assert.ok(answer.body.length > 0, `${what}: an empty ${ct} body`);
  }
}

// ------------------------------------------------------------------ WebSocket: a small client for /v1/live
function wsFrame(opcode, payload) {
  const mask = randomBytes(4);
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n])
    : Buffer.from([0x80 | opcode, 0x80 | 126, n >> 8, n & 0xff]);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i & 3]));
  return Buffer.concat([head, mask, body]);
}
/** The first complete frame at the start of buf: {opcode, payload, size}, or null. */
function wsParse(buf) {
  if (buf.length < 2) return null;
  let n = buf[1] & 0x7f, off = 2;
  if (n === 126) { if (buf.length < 4) return null; n = buf.readUInt16BE(2); off = 4; }
  else if (n === 127) { if (buf.length < 10) return null; n = Number(buf.readBigUInt64BE(2)); off = 10; }
  if (buf[1] & 0x80) off += 4; // a server never masks; a mask would be a protocol error, caught below
  if (buf.length < off + n) return null;
  return { opcode: buf[0] & 0x0f, fin: !!(buf[0] & 0x80), masked: !!(buf[1] & 0x80), payload: buf.subarray(off, off + n), size: off + n };
}
/** Subscribes over an open WebSocket and resolves the first text message the server sends, parsed. */
function liveFirstMessage(socket, head, sql) {
  return new Promise((res, rej) => {
    let buf = Buffer.from(head ?? []);
    const timer = setTimeout(() => { socket.destroy(); rej(new Error('/v1/live: no message within 10 s of subscribing')); }, 10_000);
    const look = () => {
      for (let f; (f = wsParse(buf));) {
        buf = buf.subarray(f.size);
        if (f.masked) return done(new Error('/v1/live: a masked frame from the server'));
        if (f.opcode === 1 && f.fin) {
          try { return done(null, JSON.parse(f.payload.toString('utf8'))); } catch (e) { return done(e); }
        }
        if (f.opcode === 8) return done(new Error(`/v1/live: closed (${f.payload.length >= 2 ? f.payload.readUInt16BE(0) : '-'} ${f.payload.subarray(2)})`));
      }
    };
    const done = (err, v) => {
      clearTimeout(timer);
      socket.off('data', onData);
      try { socket.write(wsFrame(8, Buffer.from([0x03, 0xe8]))); } catch { /* gone */ }
      socket.end();
      setTimeout(() => socket.destroy(), 200).unref();
      err ? rej(err) : res(v);
    };
    const onData = d => { buf = Buffer.concat([buf, d]); look(); };
    socket.on('data', onData);
    socket.on('error', () => {});
    socket.write(wsFrame(1, Buffer.from(JSON.stringify({ type: 'subscribe', id: 'q1', sql }))));
    look();
  });
}

// ------------------------------------------------------------------ the server's routes, from its source
/** Reads the routes the server answers from src/http_server.c and src/api_web.c: a Set of "METHOD /path/{}". */
function serverRoutes() {
  const src = readFileSync(join(REPO_ROOT, 'src/http_server.c'), 'utf8');
  const headers = readdirSync(join(REPO_ROOT, 'src')).filter(f => f.endsWith('.h')).map(f => readFileSync(join(REPO_ROOT, 'src', f), 'utf8')).join('\n');
  const literal = tok => {
    if (tok.startsWith('"')) return JSON.parse(tok);
    const m = new RegExp(`#define\\s+${tok}\\s+("(?:[^"\\\\]|\\\\.)*")`).exec(headers);
    assert.ok(m, `path_of uses ${tok}, which is no string macro of src/*.h`);
    return JSON.parse(m[1]);
  };
  const enumBody = /enum path\s*\{([^}]*)\}/.exec(src);
  assert.ok(enumBody, 'enum path not found in src/http_server.c');
  const pathKinds = [...enumBody[1].matchAll(/\b(P_[A-Z0-9_]+)\b/g)].map(m => m[1]).filter(p => p !== 'P_NONE');

  const table = /static const api_route_t routes\[\]\s*=\s*\{([\s\S]*?)\n\};/.exec(src);
  assert.ok(table, 'the routing table routes[] not found in src/http_server.c');
  const routes = [...table[1].matchAll(/\{\s*(P_[A-Z0-9_]+)\s*,\s*"([A-Z]+)"/g)].map(m => ({ kind: m[1], method: m[2] }));
  assert.ok(routes.length > 0, 'routes[] has no rows this test can read');

  const fn = /static enum path path_of\([^)]*\)\s*\{([\s\S]*?)\n\}/.exec(src);
  assert.ok(fn, 'path_of not found in src/http_server.c');
  const body = fn[1];
  const urls = []; // {url, kind}
  const consumed = new Set(); // offsets of the "return P_X" / "r = P_X" this parser has read
  // exact URLs: if (strcmp(url, "/x") == 0 [|| strcmp(url, MACRO) == 0 ...]) return P_X;
  for (const m of body.matchAll(/if \(([^;{]*?)\)\s*(return (P_[A-Z0-9_]+));/g)) {
    const exact = [...m[1].matchAll(/\bstrcmp\(url, ("(?:[^"\\]|\\.)*"|[A-Z_][A-Z0-9_]*)\) == 0/g)];
    if (m[3] === 'P_NONE' || !exact.length) continue;
    for (const c of exact) urls.push({ url: literal(c[1]), kind: m[3] });
    consumed.add(m.index + m[0].indexOf(m[2]));
  }
  // the pages: api_web_find(url) decides, from src/api_web.c's pages[] and its /assets/ prefix
  const web = /api_web_find\(url\);[\s\S]*?(return (P_[A-Z0-9_]+));/.exec(body);
  if (web) {
    const wsrc = readFileSync(join(REPO_ROOT, 'src/api_web.c'), 'utf8');
    const pages = /\}\s*pages\[\]\s*=\s*\{([\s\S]*?)\n\};/.exec(wsrc);
    assert.ok(pages, 'pages[] not found in src/api_web.c');
    for (const p of pages[1].matchAll(/\{\s*("(?:[^"\\]|\\.)*")\s*,\s*"[^"]*"\s*\}/g)) urls.push({ url: JSON.parse(p[1]), kind: web[2] });
    const assets = /strncmp\(url, ("[^"]*"), \d+\) == 0 && !strchr\(url \+ \d+, '\/'\)/.exec(wsrc);
    assert.ok(assets, 'the /assets/ prefix not found in api_web_find');
    urls.push({ url: JSON.parse(assets[1]) + '{name}', kind: web[2] });
    consumed.add(web.index + web[0].indexOf(web[1]));
  }
  // a dataset's paths: a prefix, then "/v1/datasets/NAME" and "/v1/datasets/NAME/<suffix>"
  const prefix = /if \(strncmp\(url, ("[^"]*"), \d+\) != 0\) return P_NONE;/.exec(body);
  if (prefix) {
    const base = JSON.parse(prefix[1]);
    for (const m of body.matchAll(/if \(!slash \|\| slash\[1\] == '\\0'\)\s*(r = (P_[A-Z0-9_]+));/g)) {
      urls.push({ url: base + '{name}', kind: m[2] });
      consumed.add(m.index + m[0].indexOf(m[1]));
    }
    for (const m of body.matchAll(/strcmp\(slash, ("[^"]*")\) == 0\)\s*(r = (P_[A-Z0-9_]+));/g)) {
      urls.push({ url: base + '{name}' + JSON.parse(m[1]), kind: m[3] });
      consumed.add(m.index + m[0].indexOf(m[2]));
    }
  }
  for (const m of body.matchAll(/(?:return|r =) (P_[A-Z0-9_]+)/g))
    if (m[1] !== 'P_NONE') assert.ok(consumed.has(m.index), `path_of has a branch to ${m[1]} this test cannot read: teach serverRoutes() in ${import.meta.url} the new form`);

  const norm = u => (u.length > 1 && u.endsWith('/') ? u.slice(0, -1) : u).replace(/\{[^}]*\}/g, '{}'); // "/v1/datasets/" is "/v1/datasets"
  const out = new Set();
  for (const kind of pathKinds) {
    assert.ok(urls.some(u => u.kind === kind), `${kind} has no URL in path_of`);
    assert.ok(routes.some(r => r.kind === kind), `${kind} has no row in routes[]`);
  }
  for (const r of routes) {
    const us = urls.filter(u => u.kind === r.kind);
    assert.ok(us.length, `routes[] row ${r.kind} ${r.method} has no URL in path_of`);
    for (const u of us) out.add(`${r.method} ${norm(u.url)}`);
  }
  return out;
}
const docRoutes = () => new Set(operations.map(o => `${o.method.toUpperCase()} ${o.path.replace(/\{[^}]*\}/g, '{}')}`));

// ------------------------------------------------------------------ sending examples
let main; // the server of tests 1, 2, 4 and 5
const special = new Map(); // args → server
before(async () => { main = await start(); });

/** Sends example `name` of operation o (null: the defaults) to srv; resolves {answer, request}. */
async function sendExample(srv, o, name, extraHeaders = {}) {
  const req = buildRequest(o, name);
  req.headers = { ...req.headers, ...extraHeaders };
  // If-None-Match: the example's ETag is that of the page when the example was written; the page's current
  // one is sent instead (pages change while their ETag's meaning does not).
  if (req.headers['if-none-match']) {
    const fresh = await send(srv.port, { path: req.path });
    req.headers['if-none-match'] = fresh.headers.etag;
  }
  const answer = await send(srv.port, req);
  return { answer, request: req };
}

async function specialServer(key) {
  const spec = SPECIAL[key];
  const id = JSON.stringify(spec);
  if (!special.has(id)) {
    const srv = await start(spec.args);
    const create = await sendExample(srv, byId.putDataset, 'create');
    assert.equal(create.answer.status, 201, `creating the dataset on the server started with ${spec.args.join(' ')}: ${show(create.answer)}`);
    if (spec.warm) {
      const [wid, wname] = spec.warm.split(' ');
      const w = await sendExample(srv, byId[wid], wname);
      assert.equal(w.answer.status, 200, `warming the server started with ${spec.args.join(' ')}: ${show(w.answer)}`);
    }
    special.set(id, srv);
  }
  return special.get(id);
}

// ------------------------------------------------------------------ 1. the document
test('the server serves web/openapi.json, a valid OpenAPI 3.1 document whose schemas and examples agree', guarded(() => main, async () => {
  const a = await send(main.port, { path: '/openapi.json' });
  assert.equal(a.status, 200, show(a));
  assert.equal(mediaType(a.headers['content-type']), 'application/json');
  assert.ok(a.body.equals(readFileSync(DOC_FILE)), 'GET /openapi.json is not web/openapi.json: rebuild the binary (the files of web/ are built into it)');

  const validator = new Validator();
  const res = await validator.validate(JSON.parse(a.body.toString('utf8')));
  assert.ok(res.valid, `not a valid OpenAPI document:\n${JSON.stringify(res.errors, null, 2)?.slice(0, 6000)}`);
  assert.equal(doc.openapi, '3.1.0');
  assert.equal(`ursa ${doc.info.version}`, execFileSync(URSA_BIN, ['version']).toString().trim(), 'info.version is not the binary\'s version');

  // Every schema compiles in strict mode (a misspelt keyword fails), every reference resolves.
  for (const name of Object.keys(doc.components.schemas)) validatorFor({ $ref: `#/components/schemas/${name}` });
  const refs = [];
  (function walk(v) {
    if (Array.isArray(v)) return v.forEach(walk);
    if (!v || typeof v !== 'object') return;
    if (typeof v.$ref === 'string') refs.push(v.$ref);
    Object.values(v).forEach(walk);
  })(doc);
  for (const r of refs) resolve({ $ref: r });
  const text = JSON.stringify(doc);
  for (const [kind, group] of Object.entries(doc.components))
    for (const n of Object.keys(group)) {
      if (kind === 'securitySchemes') // named by security requirements, not by $ref
        assert.ok([doc.security, ...operations.map(o => o.op.security)].some(reqs => (reqs ?? []).some(r => n in r)), `the security scheme ${n} is required nowhere`);
      else assert.ok(text.includes(JSON.stringify(`#/components/${kind}/${n}`)), `components/${kind}/${n} is used nowhere`);
    }

  const tags = new Set(doc.tags.map(t => t.name));
  const ids = new Set();
  for (const o of operations) {
    const what = `${o.method.toUpperCase()} ${o.path}`;
    assert.ok(o.id && !ids.has(o.id), `${what}: operationId missing or twice`);
    ids.add(o.id);
    assert.ok(o.op.tags?.length && o.op.tags.every(t => tags.has(t)), `${what}: tags must be declared ones`);
    assert.ok(o.op.summary && o.op.description, `${what}: summary and description`);
    assert.ok(o.op.responses['405'] && o.op.responses.default, `${what}: 405 and default answers`);
    assert.ok(paramsOf(o).some(p => p.name === 'X-Request-Id' && p.in === 'header'), `${what}: the X-Request-Id header`);
    for (const [status, r0] of Object.entries(o.op.responses)) {
      const r = resolve(r0);
      assert.ok(r.headers?.['X-Request-Id'], `${what} ${status}: the X-Request-Id answer header`);
      // Every example is valid against the schema beside it (binary ones have no value).
      for (const [ct, m] of Object.entries(r.content ?? {}))
        for (const [n, e0] of Object.entries(m.examples ?? {})) {
          const e = exampleOf(e0);
          if (e.value !== undefined && m.schema) assertValid(m.schema, e.value, `${what} ${status} ${ct} example "${n}"`);
        }
      if (/^[45]/.test(status) && r.content?.['application/json']?.schema?.$ref === '#/components/schemas/Error')
        for (const [n, e0] of Object.entries(r.content['application/json'].examples ?? {}))
          assert.ok(typeof exampleOf(e0).value?.error === 'string', `${what} ${status} example "${n}": an error answer names the error`);
    }
    for (const [ct, m] of Object.entries(resolve(o.op.requestBody)?.content ?? {}))
      for (const [n, e0] of Object.entries(m.examples ?? {})) {
        const e = exampleOf(e0);
        // The examples of requests the server refuses are allowed to break the schema: that is their point.
        const expect = expectedResponse(o, n);
        if (/^2/.test(expect.status)) assertValid(m.schema, e.value, `${what} request ${ct} example "${n}"`);
      }
    // Every request example names one response (also those only parameters make).
    for (const n of requestExampleNames(o)) expectedResponse(o, n);
  }
  assert.deepEqual([...ids].sort(), [...ORDER].sort(), 'ORDER (in this test) must name every operation once');

  // API keys (--auth-keys): one bearer scheme, required by default; the open operations say so with
  // `security: []`; every other documents 401 (with WWW-Authenticate) and 429 (with Retry-After), and 403
  // when its requirement names a scope; its description says which.
  assert.deepEqual(Object.keys(doc.components.securitySchemes), ['apiKey']);
  assert.equal(doc.components.securitySchemes.apiKey.type, 'http');
  assert.equal(doc.components.securitySchemes.apiKey.scheme, 'bearer');
  assert.deepEqual(doc.security, [{ apiKey: [] }], 'a key is needed unless an operation says otherwise');
  const open = operations.filter(o => Array.isArray(o.op.security) && o.op.security.length === 0).map(o => o.id).sort();
  assert.deepEqual(open, OPEN_OPS.slice().sort(), 'the operations documented as open (security: [])');
  assert.ok(byId.getMetrics.op.security.some(r => !Object.keys(r).length), '/metrics is open by default (an empty requirement)');
  assert.ok(byId.getMetrics.op.security.some(r => r.apiKey?.includes('metrics')), '/metrics: the scope metrics with --auth-metrics');
  for (const o of operations) {
    if (OPEN_OPS.includes(o.id)) continue;
    const what = `${o.method.toUpperCase()} ${o.path}`;
    const reqs = o.op.security ?? doc.security;
    const roles = reqs.flatMap(r => r.apiKey ?? []);
    for (const role of roles) assert.match(role, /^((ingest|query):(\{name\}|<dataset>)|admin|metrics)$/, `${what}: a scope`);
    const r401 = resolve(o.op.responses['401'] ?? {});
    assert.ok(r401.description && resolve(r401.headers?.['WWW-Authenticate'] ?? {}).required, `${what}: 401 with WWW-Authenticate`);
    const r429 = resolve(o.op.responses['429'] ?? {});
    assert.ok(r429.description && resolve(r429.headers?.['Retry-After'] ?? {}).required, `${what}: 429 with Retry-After`);
    assert.ok(Object.keys(r429.content?.['application/json']?.examples ?? {}).includes('authTooManyFailures'), `${what}: 429 for too many refused keys`);
    if (roles.length) assert.ok(o.op.responses['403'], `${what}: 403 (a key without the scope)`);
    else assert.ok(!o.op.responses['403'] || o.id === 'openLive', `${what}: 403 documented, but any valid key may call it`);
    assert.match(o.op.description, /\*\*API key\*\*/, `${what}: the description says which key it needs`);
  }
  assert.match(byId.openLive.op.description, /ursa\.bearer\./, '/v1/live: the key as a subprotocol');
  for (const key of Object.keys(SPECIAL)) {
    const [id, n] = key.split(' ');
    assert.ok(byId[id] && requestExampleNames(byId[id]).includes(n), `SPECIAL names ${key}, which is no request example`);
  }
}));

// ------------------------------------------------------------------ 2. the examples, on the real server
test('every request example gets the documented status, and a body its schema accepts', guarded(() => main, async () => {
  let sent = 0;
  for (const id of ORDER) {
    const o = byId[id];
    assert.ok(o, `ORDER names ${id}, which web/openapi.json does not have`);
    for (const name of requestExampleNames(o)) {
      const key = `${id} ${name}`;
      const srv = SPECIAL[key] ? await specialServer(key) : main;
      const expect = expectedResponse(o, name);
      const sentId = `oa-${id}-${name}`.slice(0, 128);
      const extra = { 'x-request-id': sentId };
      if (expect.ct) extra.accept = expect.ct;
      const { answer } = await sendExample(srv, o, name, extra);
      sent++;
      assert.equal(String(answer.status), expect.status, `${key}: ${show(answer)}`);
      checkAnswer(o, answer, { name, sentId, dynamic: ['ETag'] });
      // The ingest answer names the request (a replay names the first one).
      if (id === 'ingestRecords' && answer.body.length && JSON.parse(answer.body).request_id && name !== 'replay')
        assert.equal(JSON.parse(answer.body).request_id, sentId, `${key}: request_id`);
      if (answer.status === 101) {
        const msg = await liveFirstMessage(answer.socket, answer.head, 'SELECT count(*) AS n FROM events');
        assertValid({ $ref: '#/components/schemas/LiveServerMessage' }, msg, '/v1/live: the first message after subscribing');
      }
    }
  }
  assert.ok(sent > 60, `only ${sent} examples were sent`);
  assert.equal(special.size, new Set(Object.values(SPECIAL).map(s => JSON.stringify(s))).size, 'every special server was used');
}));

// ------------------------------------------------------------------ 3. the routes (on a server of their own)
test('the routes the server answers are the documented ones, and each answers as documented', guarded(() => servers.at(-1), async () => {
  const fromC = serverRoutes();
  const fromDoc = docRoutes();
  const missing = [...fromC].filter(r => !fromDoc.has(r)).sort();
  const extra = [...fromDoc].filter(r => !fromC.has(r)).sort();
  assert.deepEqual(missing, [], `routes the server answers that web/openapi.json does not document: ${missing.join('; ')}`);
  assert.deepEqual(extra, [], `routes web/openapi.json documents that src/http_server.c does not route: ${extra.join('; ')}`);

  // A server of its own: the requests below are made of defaults (the dataset "events" is created first).
  const srv = await start();
  const first = ['putDataset', 'ingestRecords', 'flushDataset'];
  const ordered = [...first.map(id => byId[id]), ...operations.filter(o => !first.includes(o.id))];
  for (const o of ordered) {
    const req = buildRequest(o, null);
    const a = await send(srv.port, req);
    const what = `${req.method} ${req.path}`;
    assert.ok(!(a.status === 404 && /no such endpoint/.test(a.body.toString())), `${what}: 404 no such endpoint`);
    assert.notEqual(a.status, 405, `${what}: 405 ${a.headers.allow}`);
    assert.ok(o.op.responses[String(a.status)], `${what}: status ${a.status} is not documented: ${show(a)}`);
    checkAnswer(o, a, { dynamic: ['ETag'] });
    if (a.socket) a.socket.destroy();
    if (o.method === 'get' && o.path !== '/v1/live') { // GET answers HEAD too
      const h = await send(srv.port, { ...req, method: 'HEAD' });
      assert.equal(h.status, a.status, `HEAD ${req.path}`);
      assert.equal(h.body.length, 0, `HEAD ${req.path}: a body`);
    }
  }
  // Every file of web/ is served at /assets/<name>, typed as documented.
  const assets = byId.getAsset;
  for (const f of readdirSync(join(REPO_ROOT, 'web')).filter(f => statSync(join(REPO_ROOT, 'web', f)).isFile())) {
    const a = await send(srv.port, { path: `/assets/${encodeURIComponent(f)}` });
    assert.equal(a.status, 200, `/assets/${f}: ${show(a)} (a file added to web/ needs a rebuild)`);
    checkAnswer(assets, a);
  }
}));

// ------------------------------------------------------------------ 4. the dataset schema, type by type
// Every column type with every option and rule, alone: the server creates the dataset (201) exactly when the
// documented schema (DatasetSchema, with its per-type rules) accepts the document. (What JSON Schema cannot
// say is left out: scale at most precision, min at most max, a default of the column's type, formats that
// parse, aliases that name one field only. The document says those in words.)
//
test('the documented dataset schema accepts exactly the columns the server accepts, for every type and option', guarded(() => main, async t => {
  const types = resolve({ $ref: '#/components/schemas/ColumnType' }).enum;
  const ints = ['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64'];
  const options = [
    {}, { nullable: false }, { precision: 10 }, { scale: 2 }, { unit: 'ns' }, { utc: false }, { epoch: 'ms' },
    { formats: ['%d/%m/%Y %H:%M'] }, { case: 'upper' }, { enum: ['a', 'b'] }, { enum: [1, 2] }, { min: 0, max: 10 },
    { min: 0.5 }, { max_length: 5 }, { coerce: true }, { coerce: false }, { trim: true }, { trim: false },
    { bloom_filter: true }, { bloom_filter: false },
    { aliases: ['alias_x'] }, { nulable: true },
    ...resolve({ $ref: '#/components/schemas/Column' }).properties.encoding.enum.map(encoding => ({ encoding })),
  ];
  assert.ok(types.length >= 19 && ints.every(t => types.includes(t)), 'ColumnType names every type');
  const mismatches = [], columns = [];
  for (const type of types) {
    columns.push(...options.map(o => ({ name: 'c', type, ...(type === 'decimal' && !('precision' in o) ? { precision: 10 } : {}), ...o })));
    if (type === 'decimal') columns.push({ name: 'c', type }, { name: 'c', type, precision: 20, encoding: 'delta' }, { name: 'c', type, precision: 39 });
  }
  let n = 0;
  const worker = async () => {
    while (n < columns.length) {
      const i = n++, col = columns[i];
      const schema = { columns: [{ name: 'ts', type: 'timestamp', nullable: false }, col], time_column: 'ts' };
      const a = await send(main.port, { method: 'PUT', path: `/v1/datasets/col_${i}`, headers: { 'content-type': 'application/json' }, body: JSON.stringify(schema) });
      const documented = validatorFor({ $ref: '#/components/schemas/DatasetSchema' })(schema);
      assert.ok(a.status === 201 || a.status === 400, `PUT ${JSON.stringify(col)}: ${show(a)}`);
      checkAnswer(byId.putDataset, a);
      if (documented !== (a.status === 201)) mismatches.push(`${JSON.stringify(col)}: the server says ${a.status} ${a.status === 400 ? JSON.parse(a.body).error : ''}, the document ${documented ? 'accepts it' : 'does not'}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  assert.deepEqual(mismatches, [], 'columns the documented schema and the server judge differently');
  assert.ok(n > 400, `only ${n} columns tried`);
}));

// ------------------------------------------------------------------ 5. error answers
test('error answers are JSON as documented: unknown paths, methods, formats, framing, bodies', guarded(() => main, async () => {
  const errorSchema = { $ref: '#/components/schemas/Error' };
  // An unknown path.
  for (const path of ['/nosuch', '/v1', '/v1/datasets/events/nosuch', '/assets/nosuch.js', '/assets/a/b']) {
    const a = await send(main.port, { path });
    assert.equal(a.status, 404, `${path}: ${show(a)}`);
    assertValid(errorSchema, JSON.parse(a.body), path);
    assert.ok(a.headers['x-request-id'], `${path}: X-Request-Id`);
  }
  checkAnswer(byId.getAsset, await send(main.port, { path: '/assets/nosuch.js' }));

  // A method a path does not answer: 405, Allow naming exactly the documented methods.
  for (const [path, item] of Object.entries(doc.paths)) {
    const documented = METHODS.filter(m => item[m]).map(m => m.toUpperCase());
    const other = ['DELETE', 'PATCH', 'PUT', 'POST'].find(m => !documented.includes(m));
    const concrete = path.replace('{name}', path.startsWith('/assets/') ? 'openapi.json' : 'events');
    const a = await send(main.port, { method: other, path: concrete });
    assert.equal(a.status, 405, `${other} ${concrete}: ${show(a)}`);
    assert.deepEqual((a.headers.allow ?? '').split(', ').sort(), documented.sort(), `${other} ${concrete}: Allow`);
    const o = operations.find(x => x.path === path);
    checkAnswer({ ...o, op: { ...o.op, responses: { 405: o.op.responses['405'] } } }, a);
  }

  // Content negotiation and bodies the routes refuse, each against the schema of its operation and status.
  const q = byId.runQueryGet, p = byId.runQuery, rec = byId.ingestRecords, put = byId.putDataset;
  const cases = [
    [q, { path: `/v1/query?sql=${encodeURIComponent('SELECT count(*) FROM events')}`, headers: { accept: 'image/png' } }, 406],
    [q, { path: `/v1/query?sql=${encodeURIComponent('SELECT count(*) FROM events')}`, headers: { accept: 'text/*' } }, 200, 'text/csv'],
    [q, { path: `/v1/query?sql=${encodeURIComponent('SELECT count(*) FROM events')}`, headers: { accept: 'application/vnd.apache.parquet;q=0.5, application/x-ndjson' } }, 200, 'application/x-ndjson'],
    [p, { method: 'POST', path: '/v1/query?format=csv', headers: { 'content-type': 'application/json' }, body: '{"sql":"SELECT count(*) FROM events"}' }, 200, 'text/csv'],
    [p, { method: 'POST', path: '/v1/query', headers: { 'content-type': 'application/json' }, body: '{"sql": 1}' }, 400],
    [p, { method: 'POST', path: '/v1/query', headers: { 'content-type': 'application/json' }, body: 'not json' }, 400],
    [p, { method: 'POST', path: '/v1/query', headers: { 'content-type': 'application/json' }, body: '{"sql":"SELECT 1 FROM events","partial":"yes"}' }, 400],
    [p, { method: 'POST', path: '/v1/query', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: 'x'.repeat((1 << 20) + 1) }) }, 413],
    [rec, { method: 'POST', path: '/v1/datasets/events/records', headers: { 'content-type': 'text/plain' }, body: '{}' }, 415],
    [rec, { method: 'POST', path: '/v1/datasets/events/records', headers: { 'content-type': 'text/csv; delimiter=ab' }, body: 'ts\n' }, 415],
    [rec, { method: 'POST', path: '/v1/datasets/events/records', headers: { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' }, body: 'not gzip' }, 400],
    [rec, { method: 'POST', path: '/v1/datasets/events/records', headers: { 'content-type': 'text/csv' }, body: 'ts,ts\n1,2\n' }, 400],
    [rec, { method: 'POST', path: '/v1/datasets/events/records', headers: { 'content-type': 'application/json' }, body: '{"not": "an array"}' }, 400],
    [rec, { method: 'POST', path: '/v1/datasets/events/records', headers: { 'content-type': 'application/x-ndjson' }, body: '' }, 200],
    [put, { method: 'PUT', path: '/v1/datasets/broken', headers: { 'content-type': 'application/json' }, body: 'nope' }, 400],
    [put, { method: 'PUT', path: '/v1/datasets/broken', headers: { 'content-type': 'application/json' }, body: '{"columns":[{"name":"ts","type":"timestamp","nullable":false,"nulable":true}],"time_column":"ts"}' }, 400],
    [put, { method: 'PUT', path: '/v1/datasets/broken', headers: { 'content-type': 'application/json' }, body: '{"columns":[{"name":"ts","type":"timestamp","nullable":false}]}' }, 400],
    [put, { method: 'PUT', path: '/v1/datasets/broken', headers: { 'content-type': 'application/json' }, body: '{"columns":[{"name":"ts","type":"timestamp","nullable":false},{"name":"p","type":"decimal"}],"time_column":"ts"}' }, 400],
    [byId.getQuarantine, { path: '/v1/datasets/events/quarantine?limit=10001' }, 400],
    [byId.compactDataset, { method: 'POST', path: '/v1/datasets/events/compact?date=2026-02-30' }, 400],
    [byId.internalScan, { method: 'POST', path: '/v1/internal/scan', headers: { 'content-type': 'application/json' }, body: '[]' }, 400],
  ];
  for (const [o, req, status, ct] of cases) {
    const a = await send(main.port, { method: 'GET', ...req });
    assert.equal(a.status, status, `${req.method ?? 'GET'} ${req.path.slice(0, 80)} ${JSON.stringify(req.headers ?? {})}: ${show(a)}`);
    if (ct) assert.equal(mediaType(a.headers['content-type']), ct);
    checkAnswer(o, a);
  }

  // A client's X-Request-Id that is not sane is replaced by one the node makes.
  const bad = await send(main.port, { path: '/healthz', headers: { 'x-request-id': 'has "quotes"' } });
  assert.match(bad.headers['x-request-id'], /^oa1-[0-9a-f]+-\d+$/);
  checkAnswer(byId.getHealth, bad);

  // Framing a proxy could read another way (400), headers past the connection's buffer (431, libmicrohttpd's
  // own answer): JSON as the default answer says, the connection closed.
  const rawAnswer = request => new Promise((res, rej) => {
    const s = net.connect(main.port, '127.0.0.1', () => s.end(request));
    let data = '';
    s.on('data', d => { data += d; });
    s.on('end', () => res(data));
    s.on('error', rej);
  });
  const defaultSchema = resolve(byId.runQuery.op.responses.default).content['application/json'].schema;
  for (const [request, status] of [
    ['POST /v1/query HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}', 400],
    [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(300_000)}\r\n\r\n`, 431],
  ]) {
    const raw = await rawAnswer(request);
    const [head, ...rest] = raw.split('\r\n\r\n');
    assert.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), raw.slice(0, 300));
    assertValid(defaultSchema, JSON.parse(rest.join('\r\n\r\n')), `the ${status} answer`);
  }
}));

// ------------------------------------------------------------------ 6. API keys
// Nodes run with --auth-keys (keys made by `ursa keys add`), every operation sent the request made of its
// defaults: without a key (401 as documented, with WWW-Authenticate, unless the operation is open), with a
// key the node does not hold (401), with a valid key without a scope on the dataset (403 as documented when
// the operation's `security` names a scope, else no refusal), and with a key holding every scope (what the
// document says, as in test 3). The key as a WebSocket subprotocol opens /v1/live and the node answers
// ursa.v1; a subscription the key may not query ends with 403. Past --auth-fail-limit: 429 with Retry-After.
test('with --auth-keys, every operation answers a request without a key, with a wrong key and with one lacking the scope as documented', guarded(() => servers.at(-1), async () => {
  const dir = makeTempDir('ursa-oa-keys-');
  const file = join(dir, 'keys');
  const addKey = (name, scopes) => execFileSync(URSA_BIN, ['keys', 'add', name, '--scopes', scopes, '--file', file], { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
  const all = addKey('all', 'ingest:*,query:*,admin,metrics');
  const other = addKey('other', 'ingest:zzz,query:zzz');
  assert.match(all, /^ursa_[A-Za-z0-9_-]{43}$/, 'the key printed by ursa keys add');
  const wrong = `ursa_${'A'.repeat(43)}`;
  const bearer = k => ({ authorization: `Bearer ${k}` });
  const ex401 = resolve({ $ref: '#/components/responses/Unauthorized' }).content['application/json'].examples;
  const srv = await start(['--auth-keys', file, '--auth-metrics', '--auth-fail-limit', '0']);
  const create = await sendExample(srv, byId.putDataset, 'create', bearer(all));
  assert.equal(create.answer.status, 201, show(create.answer));

  const first = ['putDataset', 'ingestRecords', 'flushDataset'];
  const ordered = [...first.map(id => byId[id]), ...operations.filter(o => !first.includes(o.id))];
  const roles = o => (o.op.security ?? doc.security).flatMap(r => r.apiKey ?? []);
  for (const o of ordered) {
    const req = buildRequest(o, null);
    const what = `${req.method} ${req.path}`;
    const sendWith = async headers => {
      const a = await send(srv.port, { ...req, headers: { ...req.headers, ...headers } });
      if (a.socket) a.socket.destroy();
      return a;
    };
    if (OPEN_OPS.includes(o.id)) {
      const a = await sendWith({});
      assert.ok(![401, 403, 429].includes(a.status), `${what}: open, but ${show(a)}`);
      checkAnswer(o, a, { dynamic: ['ETag'] });
      continue;
    }
    const none = await sendWith({});
    assert.equal(none.status, 401, `${what} without a key: ${show(none)}`);
    checkAnswer(o, none);
    assert.equal(none.headers['www-authenticate'], 'Bearer realm="ursa"');
    assert.deepEqual(JSON.parse(none.body), ex401.authNoKey.value, `${what}: the documented message`);

    const bad = await sendWith(bearer(wrong));
    assert.equal(bad.status, 401, `${what} with a key the node does not hold: ${show(bad)}`);
    checkAnswer(o, bad);
    assert.deepEqual(JSON.parse(bad.body), ex401.authInvalidKey.value);

    const denied = await sendWith(bearer(other));
    if (roles(o).length) {
      assert.equal(denied.status, 403, `${what} with a key without the scope: ${show(denied)}`);
      checkAnswer(o, denied);
      assert.match(JSON.parse(denied.body).error, /^the API key "other" may not .*\(it needs .*\)$/, `${what}: 403 names the key and the scope`);
    } else {
      assert.ok(![401, 403, 429].includes(denied.status), `${what}: any valid key may call it, but ${show(denied)}`);
      checkAnswer(o, denied, { dynamic: ['ETag'] });
    }

    const ok = await sendWith(bearer(all));
    assert.ok(![401, 403, 429].includes(ok.status), `${what} with every scope: ${show(ok)}`);
    checkAnswer(o, ok, { dynamic: ['ETag'] });
  }
  // Another scheme than Bearer.
  const basic = await send(srv.port, { ...buildRequest(byId.listDatasets, null), headers: { authorization: 'Basic dXJzYTp1cnNh' } });
  assert.equal(basic.status, 401);
  checkAnswer(byId.listDatasets, basic);
  assert.deepEqual(JSON.parse(basic.body), ex401.authMalformed.value);

  // The WebSocket: the key as the subprotocol ursa.bearer.<key>; the node chooses ursa.v1 (never the key).
  const live = byId.openLive;
  const upgrade = async (key, sql) => {
    const req = buildRequest(live, 'handshake');
    req.headers['sec-websocket-protocol'] = `ursa.v1, ursa.bearer.${key}`;
    const a = await send(srv.port, req);
    assert.equal(a.status, 101, `/v1/live with the key as a subprotocol: ${show(a)}`);
    checkAnswer(live, a, { name: 'handshake' });
    assert.equal(a.headers['sec-websocket-protocol'], 'ursa.v1');
    const msg = await liveFirstMessage(a.socket, a.head, sql);
    assertValid({ $ref: '#/components/schemas/LiveServerMessage' }, msg, '/v1/live: the first message');
    return msg;
  };
  assert.equal((await upgrade(all, 'SELECT count(*) AS n FROM events')).type, 'result');
  const refused = await upgrade(other, 'SELECT count(*) AS n FROM events');
  assert.equal(refused.status, 403, JSON.stringify(refused));
  assert.equal(refused.ended, true);
  assert.match(refused.error, /^the API key "other" may not query dataset events/);
  const wrongWs = buildRequest(live, 'handshake');
  wrongWs.headers['sec-websocket-protocol'] = `ursa.v1, ursa.bearer.${wrong}`;
  const w = await send(srv.port, wrongWs);
  assert.equal(w.status, 401, show(w));
  checkAnswer(live, w);

  // /metrics is open without --auth-metrics; past --auth-fail-limit, keyed requests get 429 with Retry-After.
  const limited = await start(['--auth-keys', file, '--auth-fail-limit', '2']);
  const m = await send(limited.port, buildRequest(byId.getMetrics, null));
  assert.equal(m.status, 200, `/metrics without --auth-metrics is open: ${show(m)}`);
  for (let i = 0; i < 2; i++) assert.equal((await send(limited.port, { ...buildRequest(byId.listDatasets, null), headers: bearer(wrong) })).status, 401);
  for (const o of [byId.listDatasets, byId.ingestRecords]) {
    const req = buildRequest(o, null);
    const a = await send(limited.port, { ...req, headers: { ...req.headers, ...bearer(all) } });
    assert.equal(a.status, 429, `${o.id} past the limit, even with a valid key: ${show(a)}`);
    checkAnswer(o, a);
    assert.ok(Number(a.headers['retry-after']) >= 1, 'Retry-After');
    const ex = resolve(o.op.responses['429']).content['application/json'].examples.authTooManyFailures.value;
    assert.deepEqual(JSON.parse(a.body), ex, `${o.id}: the documented message`);
  }
  const noKey = await send(limited.port, buildRequest(byId.listDatasets, null));
  assert.equal(noKey.status, 401, 'a request without a key is not limited (nothing to try)');
}));
