// querydiff.mjs — running one SQL query on Ursa (POST /v1/query) and on DuckDB, and comparing the answers.
// Shared by tests/integration/query_diff.test.mjs and tests/integration/query_slt.test.mjs.
//
// Answers are normalized to {ok: true, columns: [{name, type}], rows: [[v...]]} with Ursa's type names
// (boolean, bigint, double, varchar, timestamp, date, interval, null) and values as: bigint -> BigInt,
// double -> number (NaN/Infinity as numbers), timestamp -> BigInt microseconds, date -> day number,
// varchar/boolean as they are; or {ok: false, status, error}.
import { DuckDBInstance } from '@duckdb/node-api';

// ------------------------------------------------------------------ JSON with exact integers
/** JSON.parse that keeps integers (no fraction, no exponent) as BigInt, so bigints past 2^53 stay exact. */
export function parseJsonBig(text) {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const val = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++; const o = {}; ws();
      if (text[i] === '}') { i++; return o; }
      for (;;) { ws(); const k = str(); ws(); i++; o[k] = val(); ws(); if (text[i++] === '}') return o; }
    }
    if (c === '[') {
      i++; const a = []; ws();
      if (text[i] === ']') { i++; return a; }
      for (;;) { a.push(val()); ws(); if (text[i++] === ']') return a; }
    }
    if (c === '"') return str();
    if (text.startsWith('true', i)) { i += 4; return true; }
    if (text.startsWith('false', i)) { i += 5; return false; }
    if (text.startsWith('null', i)) { i += 4; return null; }
    const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 40));
    if (!m) throw new SyntaxError(`bad JSON at ${i}: ${text.slice(i, i + 20)}`);
    i += m[0].length;
    return m[1] || m[2] ? Number(m[0]) : BigInt(m[0]);
  };
  const str = () => {
    const start = i; i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const v = val(); ws();
  if (i !== text.length) throw new SyntaxError('trailing text after JSON');
  return v;
}

// ------------------------------------------------------------------ values
export function tsMicros(s) {
  const m = /^([+-]?\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?Z$/.exec(s);
  if (!m) throw new Error(`not a timestamp: ${s}`);
  const d = new Date(0);
  d.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  d.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), 0);
  return BigInt(d.getTime()) * 1000n + BigInt((m[7] ?? '').padEnd(6, '0'));
}
export function microsTs(us) {
  const ms = us / 1000n - (us % 1000n < 0n ? 1n : 0n);
  const frac = ((us % 1000000n) + 1000000n) % 1000000n;
  const iso = new Date(Number(ms)).toISOString().slice(0, 19);
  return `${iso}${frac ? '.' + String(frac).padStart(6, '0') : ''}Z`;
}
export function dateDays(s) {
  const m = /^([+-]?\d{4,})-(\d\d)-(\d\d)$/.exec(s);
  if (!m) throw new Error(`not a date: ${s}`);
  const d = new Date(0);
  d.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return Math.round(d.getTime() / 86400000);
}
export function daysDate(n) { return new Date(n * 86400000).toISOString().slice(0, 10); }

function ursaValue(type, v) {
  if (v === null) return null;
  switch (type) {
    case 'bigint': return BigInt(v);
    case 'double': return typeof v === 'string' ? ({ NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity })[v] ?? Number(v) : Number(v);
    case 'timestamp': return tsMicros(v);
    case 'date': return dateDays(v);
    default: return v;
  }
}

/** Runs sql on Ursa; the normalized answer. */
export async function runUrsa(server, sql) {
  let res, text;
  try {
    res = await fetch(server.url + '/v1/query', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql }) });
    text = await res.text();
  } catch (e) { // the server died (a crash, a sanitizer report): an answer of its own, status 0
    return { ok: false, status: 0, error: `no answer: ${e.cause?.message ?? e.message}`, crashed: true };
  }
  if (res.status !== 200) {
    let error = text;
    try { error = JSON.parse(text).error ?? text; } catch { /* not JSON */ }
    return { ok: false, status: res.status, error };
  }
  const j = parseJsonBig(text);
  const columns = j.columns.map(c => ({ name: c.name, type: c.type }));
  return { ok: true, columns, rows: j.rows.map(r => r.map((v, i) => ursaValue(columns[i].type, v))), raw: text };
}

// ------------------------------------------------------------------ DuckDB
let duckPromise = null;
export function duck() {
  duckPromise ??= (async () => {
    const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
    const con = await instance.connect();
    await con.run(`SET TimeZone = 'UTC'`);
    return { instance, con };
  })();
  return duckPromise;
}
export async function duckRun(sql) { const { con } = await duck(); return con.run(sql); }
export async function duckClose() {
  if (!duckPromise) return;
  const { con, instance } = await duckPromise;
  con.closeSync?.(); instance.closeSync?.();
  duckPromise = null;
}

/** DuckDB's type name -> Ursa's, or null when the type has no counterpart. */
export function duckTypeToUrsa(t) {
  if (/^(BIGINT|INTEGER|SMALLINT|TINYINT|HUGEINT|UBIGINT|UINTEGER|USMALLINT|UTINYINT|UHUGEINT)$/.test(t)) return 'bigint';
  if (/^(DOUBLE|FLOAT|DECIMAL.*)$/.test(t)) return 'double';
  if (t === 'VARCHAR') return 'varchar';
  if (t === 'BOOLEAN') return 'boolean';
  if (/^TIMESTAMP/.test(t)) return 'timestamp';
  if (t === 'DATE') return 'date';
  if (t === 'INTERVAL') return 'interval';
  if (t === '"NULL"' || t === 'NULL') return 'null';
  return null;
}
function duckValue(type, v) {
  if (v === null || v === undefined) return null;
  switch (type) {
    case 'bigint': return BigInt(v);
    case 'double': return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : v.toDouble ? v.toDouble() : Number(String(v));
    case 'timestamp': return 'micros' in v ? v.micros : 'millis' in v ? v.millis * 1000n : 'seconds' in v ? v.seconds * 1000000n : v.nanos / 1000n;
    case 'date': return v.days;
    case 'interval': return String(v);
    default: return v;
  }
}
/** Runs sql on DuckDB; the normalized answer (error: {ok: false, error}). */
export async function runDuck(sql) {
  const { con } = await duck();
  let r;
  try { r = await con.runAndReadAll(sql); } catch (e) { return { ok: false, error: String(e.message ?? e) }; }
  const names = r.columnNames();
  const types = r.columnTypes().map(t => String(t));
  const columns = names.map((n, i) => ({ name: n, type: duckTypeToUrsa(types[i]) ?? `duck:${types[i]}`, duckType: types[i] }));
  const rows = r.getRows().map(row => row.map((v, i) => duckValue(columns[i].type, v)));
  return { ok: true, columns, rows };
}

// ------------------------------------------------------------------ comparing
/** Printable rendering of a normalized value. */
export function show(type, v) {
  if (v === null) return 'NULL';
  if (type === 'timestamp') return microsTs(v);
  if (type === 'date') return daysDate(v);
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}
export const showRows = (a, max = 12) => !a.ok ? `ERROR ${a.status ?? ''} ${a.error}` :
  `${a.columns.map(c => `${c.name}:${c.type}`).join(' | ')}  (${a.rows.length} rows)\n` +
  a.rows.slice(0, max).map(r => '    ' + r.map((v, i) => show(a.columns[i].type, v)).join(' | ')).join('\n') + (a.rows.length > max ? '\n    ...' : '');

export function numClose(a, b, rel) {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b)) + (rel > 1e-9 ? rel : 1e-300);
}
function valEqual(type, a, b, tol) {
  if (a === null || b === null) return a === b;
  if (type === 'double') return numClose(Number(a), Number(b), tol);
  if (tol.approx && type === 'bigint') return Math.abs(Number(a) - Number(b)) <= 1 + 0.05 * Math.abs(Number(b)); // b: DuckDB's exact count(DISTINCT)
  return a === b;
}
// a total order on normalized rows for multiset comparison: NULL first, numbers by value (NaN above all), others by
// their text
function cmpVal(a, b) {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
    if (Number.isNaN(b)) return -1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : 1;
  const x = String(a), y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
const cmpRow = (r, s) => { for (let i = 0; i < r.length; i++) { const c = cmpVal(r[i], s[i]); if (c) return c; } return 0; };

/**
 * Compares two normalized answers. opts: {ordered, names (expected column names or null), approx: [col idx],
 * sumCols: [col idx]}. Returns null when they agree, else a one-line reason.
 */
export function compareAnswers(u, d, { ordered = false, names = null, approx = [], sumCols = [] } = {}) {
  if (!u.ok || !d.ok) {
    if (u.crashed) return `Ursa crashed (${u.error})`;
    if (!u.ok && !d.ok) return u.status >= 500 ? `Ursa answered ${u.status}` : null;
    return !u.ok ? `only Ursa errs (${u.status}): ${u.error}` : `only DuckDB errs: ${d.error}`;
  }
  if (u.columns.length !== d.columns.length) return `column count ${u.columns.length} vs ${d.columns.length}`;
  for (let i = 0; i < u.columns.length; i++) {
    const ut = u.columns[i].type, dt = d.columns[i].type;
    const allNull = [...u.rows, ...d.rows].every(r => r[i] === null); // DuckDB types `NULL || u` as INTEGER
    if (ut !== dt && !(ut === 'null' || dt === 'null') && !allNull) return `column ${i + 1} type ${ut} vs DuckDB ${d.columns[i].duckType}`;
    if (names && names[i] != null && u.columns[i].name !== names[i]) return `column ${i + 1} named ${JSON.stringify(u.columns[i].name)}, expected ${JSON.stringify(names[i])}`;
  }
  if (u.rows.length !== d.rows.length) return `row count ${u.rows.length} vs ${d.rows.length}`;
  const types = u.columns.map((c, i) => (c.type === 'null' ? d.columns[i].type : c.type));
  const tols = types.map((_, i) => (approx.includes(i) ? Object.assign(new Number(0.05), { approx: true }) : sumCols.includes(i) ? 1e-6 : 1e-9));
  let ur = u.rows, dr = d.rows;
  if (!ordered) {
    // approximate columns (and those compared with a sum's tolerance) last in the sort key, so that their differences do not reorder the rows
    const loose = i => (approx.includes(i) || sumCols.includes(i) ? 1 : 0);
    const perm = [...types.keys()].sort((a, b) => (loose(a) - loose(b)) || a - b);
    const sortRows = rs => rs.slice().sort((r, q) => cmpRow(perm.map(i => r[i]), perm.map(i => q[i])));
    ur = sortRows(ur); dr = sortRows(dr);
  }
  const rowEqual = (a, b) => types.every((t, i) => valEqual(t, a[i], b[i], tols[i]));
  for (let r = 0; r < ur.length; r++) {
    if (rowEqual(ur[r], dr[r])) continue;
    const i = types.findIndex((t, k) => !valEqual(t, ur[r][k], dr[r][k], tols[k]));
    const why = `row ${r + 1} column ${i + 1}: Ursa ${show(types[i], ur[r][i])} vs DuckDB ${show(types[i], dr[r][i])}`;
    if (ordered) return why;
    // Unordered, doubles that differ in their last bits may have sorted the two sides differently: match each Ursa
    // row with a DuckDB row equal within the tolerances, among those with the same exact (non-double) values.
    const exactKey = row => row.map((v, k) => (types[k] === 'double' || approx.includes(k) ? '' : typeof v + String(v))).join('\u0001');
    const pool = new Map();
    for (const row of dr) { const k = exactKey(row); if (!pool.has(k)) pool.set(k, []); pool.get(k).push(row); }
    for (const row of ur) {
      const cands = pool.get(exactKey(row)) ?? [];
      const j = cands.findIndex(c => rowEqual(row, c));
      if (j < 0) return `${why} (no DuckDB row matches Ursa's ${row.map((v, k) => show(types[k], v)).join(' | ')})`;
      cands.splice(j, 1);
    }
    return null;
  }
  return null;
}
