// ingest.test.mjs — end to end: start the real server, create a dataset, send NDJSON (valid rows, invalid
// rows of every rejection kind, blank lines, CRLF, no final newline), check every answer, flush, and read
// every Parquet file with four independent readers (DuckDB, Polars, arrow-rs, hyparquet); then restart the
// server on the same store and check that the schema and the files survive.
//
//   node --test tests/integration/ingest.test.mjs        (URSA_BIN=build/ursa, URSA_TEST_TMP=os.tmpdir())
//
// The data (generator + expected-value model) lives in ingest-data.mjs; this file holds the steps and
// assertions. Steps run in order and share `state`; a step whose prerequisite failed fails at once.
// On any failure the temporary store is kept and its path printed, with the end of the server log.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports, showLine, URSA_BIN } from './helpers.mjs';
import { readAll, columnChecksums, firstRowDifference, duckdbQuery, duckdbParquetInfo, isoMicros, close as closeReaders } from '../tools/pqread.mjs';
import * as D from './ingest-data.mjs';

const STEP_TIMEOUT_MS = 60_000;
const requests = D.buildRequests();
const answers = requests.map(D.expectedAnswer);
const acceptedRows = answers.flatMap(a => a.acceptedRows);     // every accepted row, in acceptance order
const expectedByDay = D.expectedDays(acceptedRows);             // date -> rows of that UTC day, in ts order (stable)

const state = { failed: [], server: null, servers: [], store: null, started: false, created: false, flushed: null, sanitizer: [] };

/** A test step: fails fast when a prerequisite (a truthy state key) is missing; records failures for cleanup. */
function step(name, fn, { requires = [] } = {}) {
  test(name, { timeout: STEP_TIMEOUT_MS }, async t => {
    try {
      for (const r of requires) if (!state[r]) throw new Error(`not run: prerequisite "${r}" failed in an earlier step`);
      await fn(t);
    } catch (err) {
      state.failed.push(name);
      throw err;
    }
  });
}

/** Collects problems so one assertion can report all of them (engine, file, row, expected vs got). */
class Problems {
  constructor() { this.list = []; }
  add(msg) { this.list.push(msg); }
  check(cond, msg) { if (!cond) this.add(typeof msg === 'function' ? msg() : msg); }
  assertNone(title) {
    const shown = this.list.slice(0, 60);
    const more = this.list.length > shown.length ? `\n... and ${this.list.length - shown.length} more` : '';
    assert.equal(this.list.length, 0, `${title}: ${this.list.length} problem(s)\n- ${shown.join('\n- ')}${more}`);
  }
}

const show = v => typeof v === 'bigint' ? `${v}n` : Object.is(v, -0) ? '-0' : typeof v === 'string' ? JSON.stringify(v.length > 120 ? v.slice(0, 120) + '…' : v) : String(v);
const showTs = v => typeof v === 'bigint' ? `${v} (${isoMicros(v)})` : show(v);
const isNonEmptyString = v => typeof v === 'string' && v.length > 0;

async function startOnStore() {
  const s = await startServer({ store: state.store, node: 'test1' });
  state.server = s;
  state.servers.push(s);
  return s;
}
async function stopServer(s) {
  const st = await s.stop();
  state.sanitizer.push(...sanitizerReports(s.log()));
  if (state.server === s) state.server = null;
  return st;
}
function listParquet(dir) {
  const out = [];
  const walk = d => { for (const e of readdirSync(d, { withFileTypes: true })) { const p = join(d, e.name); if (e.isDirectory()) walk(p); else if (e.name.endsWith('.parquet')) out.push(p); } };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}
const sha256 = file => createHash('sha256').update(readFileSync(file)).digest('hex');

after(async () => {
  for (const s of state.servers) if (!s.exitStatus) { try { await stopServer(s); } catch { /* reported below */ } }
  await closeReaders();
  if (state.failed.length === 0) removeTempDirs();
  else {
    console.error(`# failed steps: ${state.failed.join('; ')}`);
    if (state.store) console.error(`# store kept for inspection: ${state.store}`);
    const last = state.servers.at(-1);
    if (last) console.error(`# last server output (tail):\n${last.log().slice(-4000)}`);
  }
});

// =====================================================================================================
// 0. The generator says what it means (no server needed): each valid line parses, with JavaScript's JSON
//    parser and DuckDB's timestamp parser, to the expected row; each invalid line is invalid for its reason.
step('generator self-check', async () => {
  const p = new Problems();
  const tsTexts = [];
  for (const req of requests) {
    for (const it of req.items) {
      if (it.kind === 'blank') continue;
      const text = it.line.toString('utf8');
      const utf8ok = Buffer.from(text, 'utf8').equals(it.line);
      if (it.kind === 'valid') {
        let o;
        try { o = JSON.parse(text.replace(/("user_id"|"us\\u0065r_id")(\s*:\s*)(-?\d+)/, '$1$2"$3"')); } catch (e) { p.add(`${req.label}: valid line does not parse: ${showLine(it.line)}: ${e.message}`); continue; }
        const r = it.row;
        p.check(utf8ok, `${req.label}: valid line is not UTF-8: ${showLine(it.line)}`);
        p.check((o.user_id === undefined || o.user_id === null ? null : BigInt(o.user_id)) === r.user_id, () => `${req.label}: user_id ${o.user_id} != ${r.user_id} in ${showLine(it.line)}`);
        p.check(Object.is(o.value ?? null, r.value), () => `${req.label}: value ${o.value} != ${show(r.value)} in ${showLine(it.line)}`);
        p.check((o.ok ?? null) === r.ok, `${req.label}: ok mismatch in ${showLine(it.line)}`);
        p.check((o.name ?? null) === r.name, `${req.label}: name mismatch in ${showLine(it.line)}`);
        p.check(typeof o.ts === 'string', `${req.label}: ts not a string in ${showLine(it.line)}`);
        tsTexts.push([o.ts, r.ts]);
      } else {
        const k = it.rejection;
        let parsed, parseError = null;
        try { parsed = JSON.parse(text); } catch (e) { parseError = e; }
        if (k === 'malformed') p.check(parseError || !utf8ok, `malformed case parses: ${showLine(it.line)}`);
        else if (k === 'bad-utf8') p.check(!utf8ok, `bad-utf8 case is valid UTF-8: ${showLine(it.line)}`);
        else if (k === 'not-object') p.check(!parseError && (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)), `not-object case: ${showLine(it.line)}`);
        else {
          p.check(!parseError && parsed && typeof parsed === 'object' && !Array.isArray(parsed), `${k} case is not a JSON object: ${showLine(it.line)}`);
          if (k === 'lone-surrogate') p.check(!parsed.name.isWellFormed(), `lone-surrogate case is well formed: ${showLine(it.line)}`);
        }
      }
    }
  }
  // DuckDB's own RFC 3339 parser agrees with the model (fraction cut to 6 digits first: DuckDB rounds).
  const norm = s => s.replace(/^(\d{4}-\d\d-\d\d)[Tt ]/, '$1 ').replace(/(\.\d{6})\d+/, '$1');
  const lits = tsTexts.map(([s]) => `'${norm(s)}'`).join(',');
  const got = await duckdbQuery(`SELECT epoch_us(CAST(t AS TIMESTAMPTZ)) AS us FROM unnest([${lits}]) AS u(t)`);
  tsTexts.forEach(([s, us], i) => p.check(got[i]?.us === us, () => `timestamp ${JSON.stringify(s)}: model ${us}, DuckDB ${got[i]?.us}`));

  // Coverage the test relies on.
  const kinds = new Set(requests.slice(0, 3).flatMap(r => r.items.filter(i => i.kind === 'invalid').map(i => i.rejection)));
  for (const k of new Set(D.INVALID_CASES.map(c => c.rejection))) p.check(kinds.has(k), `rejection kind ${k} missing from R1-R3`);
  const localDayDiffers = requests.flatMap(r => r.items).filter(it => it.kind === 'valid').filter(it => {
    const m = /"ts"\s*:\s*"(\d{4}-\d\d-\d\d)[Tt ]/.exec(it.line.toString('utf8'));
    return m && m[1] !== D.utcDay(it.row.ts);
  }).length;
  p.check(localDayDiffers >= 50, `only ${localDayDiffers} rows whose local date differs from their UTC date`);
  p.check(acceptedRows.length > 3000, `only ${acceptedRows.length} accepted rows`);
  p.check(expectedByDay.size >= 3, `expected rows span only ${expectedByDay.size} UTC days`);
  p.assertNone('generator');
});

// =====================================================================================================
// 1. Server start, health, dataset API.
step('server starts and answers GET /healthz', async () => {
  state.store = makeTempDir('ursa-ingest-');
  const s = await startOnStore();
  const r = await s.get('/healthz');
  assert.equal(r.status, 200, `GET /healthz -> ${r.status} ${r.text}`);
  state.started = true;
});

function checkSchemaEcho(p, where, schema) {
  if (!schema || typeof schema !== 'object') { p.add(`${where}: no "schema" object`); return; }
  p.check(schema.time_column === 'ts', `${where}: time_column ${JSON.stringify(schema.time_column)}`);
  const cols = Array.isArray(schema.columns) ? schema.columns : [];
  const want = D.SCHEMA.columns.map(c => ({ name: c.name, type: c.type, nullable: c.nullable ?? true }));
  const got = cols.map(c => ({ name: c.name, type: c.type, nullable: c.nullable ?? true }));
  p.check(JSON.stringify(got) === JSON.stringify(want), `${where}: columns ${JSON.stringify(cols)}, want ${JSON.stringify(want)}`);
}
function checkDatasetObject(p, where, o, bufferedRows) {
  if (!o || typeof o !== 'object') { p.add(`${where}: not an object`); return; }
  p.check(o.name === D.DATASET, `${where}: name ${JSON.stringify(o.name)}`);
  checkSchemaEcho(p, where, o.schema);
  p.check(o.buffered_rows === bufferedRows, `${where}: buffered_rows ${o.buffered_rows}, want ${bufferedRows}`);
  p.check(Number.isInteger(o.buffered_bytes) && o.buffered_bytes >= 0 && (bufferedRows === 0 || o.buffered_bytes > 0),
    `${where}: buffered_bytes ${o.buffered_bytes} with ${bufferedRows} rows buffered`);
}

step('dataset API: create, re-create, conflict, invalid schemas, 404, 415', async () => {
  const s = state.server, p = new Problems();
  const path = `/v1/datasets/${D.DATASET}`;
  const errBody = (r, where, status) => {
    p.check(r.status === status, `${where}: status ${r.status}, want ${status}; body ${r.text.slice(0, 300)}`);
    p.check(isNonEmptyString(r.json?.error), `${where}: body is not {"error":"..."}: ${r.text.slice(0, 300)}`);
  };

  let r = await s.put(path, D.SCHEMA);
  p.check(r.status === 201, `PUT new dataset: status ${r.status}, want 201; ${r.text.slice(0, 300)}`);
  p.check(r.json?.name === D.DATASET, `PUT new dataset: name ${JSON.stringify(r.json?.name)}`);
  checkSchemaEcho(p, 'PUT new dataset', r.json?.schema);
  state.created = r.status === 201 || r.status === 200;

  r = await s.put(path, D.SCHEMA);
  p.check(r.status === 200, `PUT identical schema: status ${r.status}, want 200; ${r.text.slice(0, 300)}`);
  checkSchemaEcho(p, 'PUT identical schema', r.json?.schema);
  const explicit = { ...D.SCHEMA, columns: D.SCHEMA.columns.map(c => ({ nullable: true, ...c })) };
  r = await s.put(path, explicit);
  p.check(r.status === 200, `PUT identical schema with the default "nullable": true spelled out: status ${r.status}, want 200; ${r.text.slice(0, 300)}`);

  const different = [
    ['user_id as string', { ...D.SCHEMA, columns: D.SCHEMA.columns.map(c => c.name === 'user_id' ? { ...c, type: 'string' } : c) }],
    ['without the name column', { ...D.SCHEMA, columns: D.SCHEMA.columns.filter(c => c.name !== 'name') }],
    ['value not nullable', { ...D.SCHEMA, columns: D.SCHEMA.columns.map(c => c.name === 'value' ? { ...c, nullable: false } : c) }],
  ];
  for (const [what, schema] of different) errBody(await s.put(path, schema), `PUT different schema (${what})`, 409);

  const cols = D.SCHEMA.columns;
  const invalid = [
    ['Bad', D.SCHEMA, 'upper-case dataset name'],
    ['9lives', D.SCHEMA, 'dataset name starting with a digit'],
    ['a-b', D.SCHEMA, 'dataset name with a dash'],
    ['bad_type', { ...D.SCHEMA, columns: [...cols, { name: 'n128', type: 'int128' }] }, 'unknown type int128'],
    ['bad_dup', { ...D.SCHEMA, columns: [...cols, { name: 'value', type: 'string' }] }, 'duplicate column'],
    ['bad_tcol', { ...D.SCHEMA, time_column: 'user_id' }, 'time_column not a timestamp column'],
    ['bad_tcol2', { ...D.SCHEMA, time_column: 'nope' }, 'time_column not a column'],
    ['bad_col', { ...D.SCHEMA, columns: [...cols, { name: 'User', type: 'int64' }] }, 'upper-case column name'],
    ['bad_col2', { ...D.SCHEMA, columns: [...cols, { name: '', type: 'int64' }] }, 'empty column name'],
    ['bad_nocols', { time_column: 'ts' }, 'no columns'],
    ['bad_json', '{"columns": [', 'body not JSON'],
  ];
  for (const [name, body, what] of invalid) {
    const res = await s.request('PUT', `/v1/datasets/${name}`, { body, headers: { 'content-type': 'application/json' } });
    errBody(res, `PUT invalid schema (${what})`, 400);
    if (/^[a-z][a-z0-9_]*$/.test(name)) {
      const g = await s.get(`/v1/datasets/${name}`);
      p.check(g.status === 404, `after rejected PUT (${what}): GET /v1/datasets/${name} -> ${g.status}, want 404`);
    }
  }

  errBody(await s.postRecords('nope', '{"ts":"2024-02-28T12:00:00Z"}\n'), 'POST records to unknown dataset', 404);
  errBody(await s.get('/v1/datasets/nope'), 'GET unknown dataset', 404);
  errBody(await s.flush('nope'), 'flush unknown dataset', 404);
  for (const ct of ['text/plain', 'application/xml', 'application/octet-stream'] /* application/json is a JSON array body now */) {
    errBody(await s.postRecords(D.DATASET, '{"ts":"2024-02-28T12:00:00Z"}\n', ct), `POST records as ${ct}`, 415);
  }

  r = await s.get(path);
  p.check(r.status === 200, `GET dataset: status ${r.status}`);
  checkDatasetObject(p, 'GET dataset before ingest', r.json, 0);
  r = await s.get('/v1/datasets');
  p.check(r.status === 200 && Array.isArray(r.json?.datasets), `GET /v1/datasets: ${r.status} ${r.text.slice(0, 300)}`);
  const names = (r.json?.datasets ?? []).map(d => d.name);
  p.check(JSON.stringify(names) === JSON.stringify([D.DATASET]), `GET /v1/datasets lists ${JSON.stringify(names)}, want ["${D.DATASET}"]`);
  checkDatasetObject(p, 'GET /v1/datasets entry', (r.json?.datasets ?? []).find(d => d.name === D.DATASET), 0);
  p.assertNone('dataset API');
}, { requires: ['started'] });

// =====================================================================================================
// 2-3. Ingest: every request's answer matches the model exactly (counts, rows and columns of errors).
function checkAnswer(p, req, exp, res) {
  const records = req.items.filter(i => i.kind !== 'blank');
  const describe = row => { const it = records[row - 1]; return it ? `${it.kind === 'valid' ? 'valid' : 'invalid: ' + it.what} ${showLine(it.line, 100)}` : '<no such record>'; };
  const b = res.json;
  p.check(res.status === exp.status, `status ${res.status}, want ${exp.status}`);
  if (!b || typeof b !== 'object') { p.add(`body is not a JSON object: ${res.text.slice(0, 300)}`); return; }
  p.check(b.accepted === exp.accepted, `accepted ${b.accepted}, want ${exp.accepted}`);
  p.check(b.rejected === exp.rejected, `rejected ${b.rejected}, want ${exp.rejected}`);
  if (!Array.isArray(b.errors)) { p.add(`"errors" is not an array: ${JSON.stringify(b.errors)}`); return; }
  if (exp.truncated) p.check(b.errors_truncated === true, `errors_truncated ${b.errors_truncated}, want true`);
  else p.check(!b.errors_truncated, `errors_truncated ${b.errors_truncated} with only ${exp.rejected} errors`);
  p.check(b.errors.length === exp.listedErrors.length, `${b.errors.length} errors listed, want ${exp.listedErrors.length}`);
  for (const e of b.errors) {
    p.check(Number.isInteger(e?.row) && (e.column === null || typeof e.column === 'string') && isNonEmptyString(e.reason),
      `malformed error entry ${JSON.stringify(e)}`);
  }
  const got = new Map(b.errors.map(e => [e?.row, e]));
  const want = new Map(exp.listedErrors.map(e => [e.row, e]));
  for (const [row, w] of want) {
    const g = got.get(row);
    if (!g) p.add(`record ${row} (${describe(row)}): expected a rejection (column ${JSON.stringify(w.column)}), none reported`);
    else if (g.column !== w.column) p.add(`record ${row} (${describe(row)}): column ${JSON.stringify(g.column)}, want ${JSON.stringify(w.column)} (reason: ${JSON.stringify(g.reason)})`);
  }
  for (const [row, g] of got) {
    if (!want.has(row)) p.add(`record ${row} (${describe(row)}): unexpectedly rejected: column ${JSON.stringify(g?.column)}, reason ${JSON.stringify(g?.reason)}`);
  }
}

for (const [i, req] of requests.entries()) {
  const exp = answers[i];
  step(`POST ${req.label} (${exp.records} records, ${exp.accepted} valid, ${exp.rejected} invalid; ${req.contentType})`, async () => {
    const res = await state.server.postRecords(D.DATASET, req.chunked ? D.pieces(D.body(req)) : D.body(req), req.contentType);
    const p = new Problems();
    checkAnswer(p, req, exp, res);
    p.assertNone(`${req.label} answer`);
  }, { requires: ['started', 'created'] });
}

// =====================================================================================================
// 4. Buffered rows, flush: one file per UTC day, row counts, buffer emptied.
step('buffered rows, flush writes one file per UTC day, buffer emptied', async () => {
  const s = state.server, p = new Problems();
  const total = acceptedRows.length;
  let r = await s.get(`/v1/datasets/${D.DATASET}`);
  checkDatasetObject(p, 'GET dataset before flush', r.json, total);

  r = await s.flush(D.DATASET);
  p.check(r.status === 200, `flush: status ${r.status}; ${r.text.slice(0, 300)}`);
  const b = r.json ?? {};
  p.check(b.dataset === D.DATASET, `flush: dataset ${JSON.stringify(b.dataset)}`);
  p.check(b.rows === total, `flush: rows ${b.rows}, want ${total}`);
  const files = Array.isArray(b.files) ? [...b.files].sort((x, y) => (x.date < y.date ? -1 : 1)) : [];
  const wantDays = [...expectedByDay.keys()];
  p.check(JSON.stringify(files.map(f => f.date)) === JSON.stringify(wantDays), `flush: days ${JSON.stringify(files.map(f => f.date))}, want ${JSON.stringify(wantDays)}`);
  for (const f of files) {
    const want = expectedByDay.get(f.date)?.length;
    p.check(f.rows === want, `flush: ${f.date}: rows ${f.rows}, want ${want}`);
    p.check(typeof f.path === 'string' && f.path.startsWith(`${D.DATASET}/date=${f.date}/`) && f.path.endsWith('.parquet') && !f.path.includes('..'),
      `flush: ${f.date}: path ${JSON.stringify(f.path)}, want ${D.DATASET}/date=${f.date}/<file>.parquet`);
    const abs = join(state.store, f.path ?? '');
    if (!existsSync(abs)) { p.add(`flush: ${f.path}: no such file in the store`); continue; }
    p.check(statSync(abs).size === f.bytes, `flush: ${f.path}: bytes ${f.bytes}, file has ${statSync(abs).size}`);
  }
  // The rejected rows were flushed to the dataset's quarantine, outside the dataset's directory.
  const qfiles = Array.isArray(b.quarantine?.files) ? b.quarantine.files.map(f => f.path) : [];
  p.check(qfiles.length > 0 && qfiles.every(f => f.startsWith(`_quarantine/${D.DATASET}/date=`)), `flush: quarantine files ${JSON.stringify(qfiles)}`);
  const onDisk = listParquet(state.store).map(f => relative(state.store, f));
  const listed = [...files.map(f => f.path), ...qfiles].sort();
  p.check(JSON.stringify(onDisk) === JSON.stringify(listed), `store holds ${JSON.stringify(onDisk)}, flush listed ${JSON.stringify(listed)}`);

  r = await s.get(`/v1/datasets/${D.DATASET}`);
  checkDatasetObject(p, 'GET dataset after flush', r.json, 0);
  r = await s.flush(D.DATASET);
  p.check(r.status === 200 && r.json?.rows === 0 && Array.isArray(r.json?.files) && r.json.files.length === 0,
    `flush of an empty buffer: ${r.status} ${r.text.slice(0, 300)}, want 200 {"rows":0,"files":[]}`);
  p.check(listParquet(state.store).length === onDisk.length, 'flush of an empty buffer wrote a file');
  const readable = files.filter(f => typeof f.path === 'string' && existsSync(join(state.store, f.path)));
  if (readable.length) state.flushed = readable; // later steps check what exists, even if the list is wrong

  // GET /metrics counts what this server saw: every answer above, both flushes.
  r = await s.get('/metrics');
  const metric = name => { const m = r.text.match(new RegExp(`^${name.replace(/[{}"]/g, c => '\\' + c)} (\\d+)$`, 'm')); return m ? Number(m[1]) : NaN; };
  const rejected = answers.reduce((n, a) => n + a.rejected, 0);
  p.check(r.status === 200 && /^text\/plain/.test(r.headers.get('content-type') ?? ''), `GET /metrics: ${r.status}`);
  p.check(metric('ursa_rows_accepted_total') === total, `metrics: ursa_rows_accepted_total ${metric('ursa_rows_accepted_total')}, want ${total}`);
  p.check(metric('ursa_rows_rejected_total') === rejected, `metrics: ursa_rows_rejected_total ${metric('ursa_rows_rejected_total')}, want ${rejected}`);
  p.check(metric('ursa_flush_rows_total') === total, `metrics: ursa_flush_rows_total ${metric('ursa_flush_rows_total')}, want ${total}`);
  p.check(metric('ursa_flush_files_total') === files.length, `metrics: ursa_flush_files_total ${metric('ursa_flush_files_total')}, want ${files.length}`);
  p.check(metric('ursa_flushes_total{result="ok"}') === 2, `metrics: ursa_flushes_total{result="ok"} ${metric('ursa_flushes_total{result="ok"}')}, want 2`);
  p.assertNone('flush');
}, { requires: ['started', 'created'] });

// =====================================================================================================
// 5. Every file read by four engines: exactly the accepted rows of its day, in order.
async function checkFileContents(p, file, expected, label) {
  const rows = expected.map(a => a.row);
  const want = columnChecksums(rows, D.PQ_SCHEMA);
  for (const res of await readAll(file)) {
    const where = `${label} [${res.engine}]`;
    if (res.error) { p.add(`${where}: cannot read: ${res.error.split('\n')[0]}`); continue; }
    const types = res.schema.map(c => `${c.name}:${c.type}`).join(',');
    const wantTypes = D.PQ_SCHEMA.map(c => `${c.name}:${c.type}`).join(',');
    p.check(types === wantTypes, `${where}: schema ${types} (${res.schema.map(c => c.raw).join(', ')}), want ${wantTypes}`);
    for (const c of res.schema) {
      if (c.nullable === null) continue;
      const wantNullable = c.name !== 'ts';
      p.check(c.nullable === wantNullable, `${where}: column ${c.name} nullable=${c.nullable}, want ${wantNullable}`);
    }
    p.check(res.rows.length === rows.length, `${where}: ${res.rows.length} rows, want ${rows.length}`);
    const d = firstRowDifference(rows, res.rows, D.PQ_SCHEMA);
    if (d) {
      const origin = expected[d.row]?.origin ?? '<beyond expected rows>';
      const fmt = d.column === 'ts' ? showTs : show;
      p.add(d.column === null ? `${where}: row count differs at row ${d.row}`
        : `${where}: first difference at row ${d.row} (${origin}), column ${d.column}: got ${fmt(d.got)}, want ${fmt(d.expected)}`);
    }
    const got = columnChecksums(res.rows, D.PQ_SCHEMA);
    for (const c of D.PQ_SCHEMA) {
      p.check(JSON.stringify(got[c.name]) === JSON.stringify(want[c.name]), () => `${where}: checksums of ${c.name}: got ${JSON.stringify(got[c.name])}, want ${JSON.stringify(want[c.name])}`);
    }
  }
}

step('every Parquet file: DuckDB, Polars, arrow-rs and hyparquet read exactly the accepted rows of its day', async () => {
  const p = new Problems();
  for (const f of state.flushed) await checkFileContents(p, join(state.store, f.path), expectedByDay.get(f.date) ?? [], f.path);
  p.assertNone('file contents');
}, { requires: ['flushed'] });

// =====================================================================================================
// 6. Parquet schema and metadata as DuckDB reports them.
async function tsMicros(text) { return (await duckdbQuery(`SELECT epoch_us(CAST('${String(text).replaceAll("'", "''")}' AS TIMESTAMPTZ)) AS us`))[0].us; }

step('Parquet schema (parquet_schema) and metadata (parquet_metadata): types, ZSTD, statistics', async () => {
  const p = new Problems();
  for (const f of state.flushed) {
    const file = join(state.store, f.path);
    const info = await duckdbParquetInfo(file);
    const col = n => info.schema.find(r => r.name === n) ?? {};
    const where = f.path;
    const ts = col('ts');
    p.check(ts.type === 'INT64' && ts.duckdb_type === 'TIMESTAMP WITH TIME ZONE', `${where}: ts is ${ts.type} / ${ts.duckdb_type}, want INT64 / TIMESTAMP WITH TIME ZONE`);
    p.check(/isAdjustedToUTC=1/.test(ts.logical_type ?? '') && /MICROS=MicroSeconds/.test(ts.logical_type ?? ''), `${where}: ts logical type ${ts.logical_type}, want Timestamp(isAdjustedToUTC=true, MICROS)`);
    p.check(ts.repetition_type === 'REQUIRED', `${where}: ts repetition ${ts.repetition_type}, want REQUIRED (nullable: false)`);
    for (const [n, phys, duck] of [['user_id', 'INT64', 'BIGINT'], ['value', 'DOUBLE', 'DOUBLE'], ['ok', 'BOOLEAN', 'BOOLEAN'], ['name', 'BYTE_ARRAY', 'VARCHAR']]) {
      const c = col(n);
      p.check(c.type === phys && c.duckdb_type === duck, `${where}: ${n} is ${c.type} / ${c.duckdb_type}, want ${phys} / ${duck}`);
      p.check(c.repetition_type === 'OPTIONAL', `${where}: ${n} repetition ${c.repetition_type}, want OPTIONAL`);
    }
    const nm = col('name');
    p.check(nm.converted_type === 'UTF8' || /StringType/.test(nm.logical_type ?? ''), `${where}: name converted_type ${nm.converted_type} logical_type ${nm.logical_type}, want UTF8 / STRING`);
    const order = info.schema.filter(r => r.num_children === null || r.num_children === undefined).map(r => r.name);
    p.check(JSON.stringify(order) === JSON.stringify(D.COLUMNS), `${where}: column order ${JSON.stringify(order)}`);

    const rows = (expectedByDay.get(f.date) ?? []).map(a => a.row);
    p.check(Number(info.file?.num_rows) === rows.length, `${where}: footer num_rows ${info.file?.num_rows}, want ${rows.length}`);
    const groups = [...new Set(info.metadata.map(m => m.row_group_id))];
    let offset = 0;
    for (const g of groups) {
      const chunks = info.metadata.filter(m => m.row_group_id === g);
      const n = Number(chunks[0].row_group_num_rows);
      const part = rows.slice(offset, offset + n);
      offset += n;
      for (const m of chunks) p.check(m.compression === 'ZSTD', `${where}: row group ${g} column ${m.path_in_schema}: codec ${m.compression}, want ZSTD`);
      const tsm = chunks.find(m => m.path_in_schema === 'ts');
      if (!part.length) { p.add(`${where}: row group ${g} holds rows beyond the expected ${rows.length}`); continue; }
      if (!tsm || tsm.stats_min_value === null || tsm.stats_max_value === null) { p.add(`${where}: row group ${g}: no min/max statistics for ts`); continue; }
      const mn = part.reduce((a, r) => (r.ts < a ? r.ts : a), part[0].ts), mx = part.reduce((a, r) => (r.ts > a ? r.ts : a), part[0].ts);
      const [gmn, gmx] = [await tsMicros(tsm.stats_min_value), await tsMicros(tsm.stats_max_value)];
      p.check(gmn === mn && gmx === mx, `${where}: row group ${g}: ts statistics [${tsm.stats_min_value}, ${tsm.stats_max_value}], want [${isoMicros(mn)}, ${isoMicros(mx)}]`);
      const um = chunks.find(m => m.path_in_schema === 'user_id');
      const ids = part.map(r => r.user_id).filter(v => v !== null);
      if (um && um.stats_null_count !== null && um.stats_null_count !== undefined) p.check(Number(um.stats_null_count) === part.length - ids.length, `${where}: row group ${g}: user_id null_count ${um.stats_null_count}, want ${part.length - ids.length}`);
      if (um && um.stats_min_value !== null && ids.length) {
        const [imn, imx] = [ids.reduce((a, v) => (v < a ? v : a)), ids.reduce((a, v) => (v > a ? v : a))];
        p.check(um.stats_min_value === String(imn) && um.stats_max_value === String(imx), `${where}: row group ${g}: user_id statistics [${um.stats_min_value}, ${um.stats_max_value}], want [${imn}, ${imx}]`);
      }
    }
    p.check(offset === rows.length, `${where}: row groups hold ${offset} rows, want ${rows.length}`);
  }
  p.assertNone('Parquet metadata');
}, { requires: ['flushed'] });

// =====================================================================================================
// 7. Restart on the same store: schema reloaded, files untouched, a later flush adds a file.
step('restart on the same store: schema persists, files intact, a new flush adds a file', async () => {
  const p = new Problems();
  const before = new Map(listParquet(state.store).map(f => [f, sha256(f)]));
  const st = await stopServer(state.server);
  p.check(!st.killed, `server did not exit within 10 s of SIGTERM (killed)`);

  const s = await startOnStore();
  let r = await s.get(`/v1/datasets/${D.DATASET}`);
  p.check(r.status === 200, `after restart: GET dataset -> ${r.status} ${r.text.slice(0, 300)}`);
  checkDatasetObject(p, 'after restart: GET dataset', r.json, 0);
  r = await s.get('/v1/datasets');
  const names = (r.json?.datasets ?? []).map(d => d.name);
  p.check(JSON.stringify(names) === JSON.stringify([D.DATASET]), `after restart: GET /v1/datasets lists ${JSON.stringify(names)}`);
  r = await s.put(`/v1/datasets/${D.DATASET}`, D.SCHEMA);
  p.check(r.status === 200, `after restart: PUT identical schema -> ${r.status}, want 200`);
  r = await s.put(`/v1/datasets/${D.DATASET}`, { ...D.SCHEMA, columns: D.SCHEMA.columns.slice(0, 4) });
  p.check(r.status === 409, `after restart: PUT different schema -> ${r.status}, want 409`);
  for (const [f, h] of before) p.check(existsSync(f) && sha256(f) === h, `after restart: ${relative(state.store, f)} changed or vanished`);

  // More rows for a day that already has a file: the new flush must add a file, not replace the old one.
  const day = [...expectedByDay.keys()].find(d => d.startsWith('2024-02-28'));
  const more = Array.from({ length: 10 }, (_, i) => ({ line: `{"ts":"${day}T0${i}:00:00.00000${i}+00:00","user_id":${i},"name":"after restart ${i}"}`, row: { ts: BigInt(Date.parse(`${day}T0${i}:00:00Z`)) * 1000n + BigInt(i), user_id: BigInt(i), value: null, ok: null, name: `after restart ${i}` } }));
  r = await s.postRecords(D.DATASET, more.map(m => m.line).join('\n') + '\n');
  p.check(r.status === 200 && r.json?.accepted === 10 && r.json?.rejected === 0, `after restart: POST 10 rows -> ${r.status} ${r.text.slice(0, 300)}`);
  r = await s.flush(D.DATASET);
  const nf = r.json?.files ?? [];
  p.check(r.status === 200 && r.json?.rows === 10 && nf.length === 1 && nf[0].date === day, `after restart: flush -> ${r.status} ${r.text.slice(0, 300)}`);
  const oldPath = state.flushed.find(f => f.date === day)?.path;
  if (nf[0]?.path) {
    p.check(nf[0].path !== oldPath, `after restart: new flush reused the path ${oldPath}`);
    for (const [f, h] of before) p.check(existsSync(f) && sha256(f) === h, `after second flush: ${relative(state.store, f)} changed or vanished`);
    if (existsSync(join(state.store, nf[0].path))) await checkFileContents(p, join(state.store, nf[0].path), more.map((m, i) => ({ row: m.row, origin: `post-restart row ${i}` })), nf[0].path);
    else p.add(`after restart: ${nf[0].path} does not exist`);
  }
  const st2 = await stopServer(s);
  p.check(!st2.killed, 'server did not exit within 10 s of SIGTERM (killed)');
  p.assertNone('restart');
}, { requires: ['started', 'created', 'flushed'] });

step('no sanitizer reports in the server output', async () => {
  for (const s of state.servers) if (!s.exitStatus) await stopServer(s);
  assert.deepEqual(state.sanitizer, [], `sanitizer reports:\n${state.sanitizer.join('\n')}`);
}, { requires: ['started'] });
