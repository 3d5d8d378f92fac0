// slt.mjs — a small sqllogictest dialect for Ursa's SQL (tests/sql/*.slt), run against Ursa by
// tests/integration/query_slt.test.mjs and against DuckDB by this file, to fill in or check expected answers:
//
//   node tests/tools/slt.mjs --check FILE.slt      DuckDB's answers against the file's expectations
//   node tests/tools/slt.mjs --complete FILE.slt   rewrites the file with DuckDB's answers (records without
//                                                  `skipif duckdb`); review the diff before committing
//
// Records are separated by blank lines; `#` starts a comment line.
//   dataset NAME                    the next line is the dataset's schema (JSON), as for PUT /v1/datasets/NAME
//   records NAME                    the following lines are NDJSON records, POSTed in one request
//   flush NAME                      POST /v1/datasets/NAME/flush
//   statement ok                    the SQL (following lines) must succeed
//   statement error SUBSTRING       the SQL must be refused with a 4xx whose error contains SUBSTRING
//   query TYPES [rowsort]           the SQL, then `----`, then one line per row, values separated by tabs
// TYPES has one letter per column: I bigint, R double, T varchar, B boolean, S timestamp, D date, V interval,
// N null. Values: NULL, (empty) for '', true/false, doubles compared within 1e-9 relative (NaN, Infinity, -0),
// timestamps as Ursa prints them (2024-02-29T12:34:56.123Z). `rowsort` sorts rows (as text) before comparing.
// A record preceded by `skipif ursa # FINDING-n` is not run on Ursa (a known bug, kept ready to re-enable);
// `skipif duckdb # why` is not run on DuckDB (Ursa's documented semantics differ from DuckDB's, e.g. x/0 is NULL).
import { readFileSync, writeFileSync } from 'node:fs';
import { microsTs, daysDate, runDuck, duckRun, duckClose, numClose } from './querydiff.mjs';

export const TYPE_LETTERS = { bigint: 'I', double: 'R', varchar: 'T', boolean: 'B', timestamp: 'S', date: 'D', interval: 'V', null: 'N' };

/** Parses an .slt file into records: {kind, line, skip: Set, ...}. */
export function parseSlt(text) {
  const lines = text.split('\n');
  const recs = [];
  let i = 0;
  while (i < lines.length) {
    const skip = new Set();
    const start = i;
    while (i < lines.length && (lines[i].trim() === '' || lines[i].startsWith('#'))) i++;
    if (i >= lines.length) break;
    while (/^(skipif|onlyif) /.test(lines[i])) {
      const [, how, who] = /^(skipif|onlyif) (\w+)/.exec(lines[i]);
      if (how === 'skipif') skip.add(who); else skip.add(who === 'ursa' ? 'duckdb' : 'ursa');
      i++;
    }
    const head = lines[i++];
    const line = i;
    const body = [];
    while (i < lines.length && lines[i].trim() !== '') body.push(lines[i++]);
    let m;
    if ((m = /^dataset (\w+)$/.exec(head))) recs.push({ kind: 'dataset', name: m[1], schema: JSON.parse(body.join('\n')), line, skip });
    else if ((m = /^records (\w+)$/.exec(head))) recs.push({ kind: 'records', name: m[1], lines: body, line, skip });
    else if ((m = /^flush (\w+)$/.exec(head))) recs.push({ kind: 'flush', name: m[1], line, skip });
    else if (head === 'statement ok') recs.push({ kind: 'ok', sql: body.join('\n'), line, skip });
    else if ((m = /^statement error ?(.*)$/.exec(head))) recs.push({ kind: 'error', want: m[1], sql: body.join('\n'), line, skip });
    else if ((m = /^query (\w+)( rowsort| nosort)?$/.exec(head))) {
      const sep = body.indexOf('----');
      recs.push({ kind: 'query', types: m[1], rowsort: m[2] === ' rowsort', sql: (sep < 0 ? body : body.slice(0, sep)).join('\n'),
        expected: sep < 0 ? null : body.slice(sep + 1), line, skip, headLine: start });
    } else throw new Error(`line ${line}: unknown record "${head}"`);
  }
  return recs;
}

/** Renders a normalized value (querydiff.mjs) as .slt text. */
export function renderValue(type, v) {
  if (v === null) return 'NULL';
  switch (type) {
    case 'varchar': return v === '' ? '(empty)' : v;
    case 'double': return Object.is(v, -0) ? '-0' : String(v);
    case 'timestamp': {
      let s = microsTs(v);
      return s.replace(/\.(\d{3})000Z$/, '.$1Z');
    }
    case 'date': return daysDate(v);
    default: return String(v);
  }
}
const renderRows = a => a.rows.map(r => r.map((v, i) => renderValue(a.columns[i].type, v)).join('\t'));

/**
 * Checks one answer (normalized) against a query record. Returns null when it matches, else the reason.
 */
export function checkQuery(rec, ans) {
  if (!ans.ok) return `error ${ans.status ?? ''}: ${ans.error}`;
  const got = ans.columns.map(c => TYPE_LETTERS[c.type] ?? '?').join('');
  if (got.length !== rec.types.length) return `${got.length} columns (${got}), expected ${rec.types.length} (${rec.types})`;
  for (let i = 0; i < got.length; i++) if (got[i] !== rec.types[i] && got[i] !== 'N') return `column types ${got}, expected ${rec.types}`;
  if (!rec.expected) return `no expected rows in the file; got (${got}):\n${renderRows(ans).join('\n')}`;
  let rows = renderRows(ans), exp = rec.expected.slice();
  if (rec.rowsort) { rows = rows.slice().sort(); exp = exp.slice().sort(); }
  if (rows.length !== exp.length) return `${rows.length} rows, expected ${exp.length}:\n${rows.join('\n')}`;
  for (let r = 0; r < rows.length; r++) {
    const a = rows[r].split('\t'), b = exp[r].split('\t');
    const same = a.length === b.length && a.every((x, i) => x === b[i] ||
      (rec.types[i] === 'R' && x !== 'NULL' && b[i] !== 'NULL' && numClose(Number(x), Number(b[i]), 1e-9)));
    if (!same) return `row ${r + 1}: got\n  ${rows[r]}\nexpected\n  ${exp[r]}\n(all rows:\n${rows.join('\n')})`;
  }
  return null;
}

// ------------------------------------------------------------------ DuckDB
const DUCK_TYPES = { int64: 'BIGINT', int32: 'BIGINT', int16: 'BIGINT', int8: 'BIGINT', float64: 'DOUBLE', float32: 'DOUBLE',
  string: 'VARCHAR', bool: 'BOOLEAN', timestamp: 'TIMESTAMP', date: 'DATE' };
function duckLiteral(type, v) {
  if (v === null || v === undefined) return 'NULL';
  switch (DUCK_TYPES[type]) {
    case 'BIGINT': return `CAST(${v} AS BIGINT)`;
    case 'DOUBLE': return `CAST('${v}' AS DOUBLE)`;
    case 'BOOLEAN': return v ? 'TRUE' : 'FALSE';
    case 'TIMESTAMP': return `TIMESTAMP '${v.replace('T', ' ').replace('Z', '')}'`;
    case 'DATE': return `DATE '${v}'`;
    default: return `'${String(v).replace(/'/g, "''")}'`;
  }
}
/** Keeps integers and -0.0 exact when reading NDJSON records for DuckDB. */
function parseRecord(line) {
  return JSON.parse(line.replace(/(:\s*)(-?\d{16,})(?=\s*[,}])/g, '$1"$2"').replace(/(:\s*)-0\.0(?=\s*[,}])/g, '$1"-0.0"'));
}

async function runOnDuck(recs) {
  const schemas = new Map();
  const out = [];
  for (const rec of recs) {
    if (rec.skip.has('duckdb')) { out.push(null); continue; }
    if (rec.kind === 'dataset') {
      schemas.set(rec.name, rec.schema);
      await duckRun(`CREATE OR REPLACE TABLE ${rec.name} (${rec.schema.columns.map(c => `"${c.name}" ${DUCK_TYPES[c.type]}`).join(', ')})`);
      out.push(null);
    } else if (rec.kind === 'records') {
      const cols = schemas.get(rec.name).columns;
      const vals = rec.lines.map(l => { const o = parseRecord(l); return `(${cols.map(c => duckLiteral(c.type, o[c.name])).join(', ')})`; });
      await duckRun(`INSERT INTO ${rec.name} VALUES ${vals.join(', ')}`);
      out.push(null);
    } else if (rec.kind === 'flush') out.push(null);
    else out.push(await runDuck(rec.sql));
  }
  return out;
}

async function main() {
  const [mode, file] = process.argv.slice(2);
  if (!['--check', '--complete'].includes(mode) || !file) { console.error('usage: slt.mjs --check|--complete FILE.slt'); process.exit(2); }
  const text = readFileSync(file, 'utf8');
  const recs = parseSlt(text);
  const ans = await runOnDuck(recs);
  let bad = 0;
  const lines = text.split('\n');
  const replace = []; // [from line index, to line index (exclusive), new lines]
  recs.forEach((rec, k) => {
    const a = ans[k];
    if (!a) return;
    if (rec.kind === 'error') {
      if (a.ok) { bad++; console.log(`line ${rec.line}: DuckDB accepts what should be an error: ${rec.sql}`); }
    } else if (rec.kind === 'ok') {
      if (!a.ok) { bad++; console.log(`line ${rec.line}: DuckDB errs: ${a.error}`); }
    } else if (rec.kind === 'query') {
      if (mode === '--complete' && a.ok) {
        const types = a.columns.map(c => TYPE_LETTERS[c.type] ?? '?').join('');
        const head = rec.line - 1; // the `query` line; its body runs to the next blank line
        let end = rec.line;
        while (end < lines.length && lines[end].trim() !== '') end++;
        const sqlLines = rec.sql.split('\n');
        replace.push([head, end, [`query ${types}${rec.rowsort ? ' rowsort' : ''}`, ...sqlLines, '----', ...renderRows(a)]]);
      } else {
        const why = rec.expected ? checkQuery(rec, a) : 'no expected rows';
        if (why) { bad++; console.log(`line ${rec.line}: ${rec.sql}\n  DuckDB: ${why}`); }
      }
    }
  });
  if (mode === '--complete') {
    for (const [from, to, repl] of replace.reverse()) lines.splice(from, to - from, ...repl);
    writeFileSync(file, lines.join('\n'));
  }
  await duckClose();
  console.log(`${recs.filter(r => r.kind === 'query' || r.kind === 'error' || r.kind === 'ok').length} records, ${bad} problems`);
  process.exit(bad ? 1 : 0);
}
if (import.meta.url === `file://${process.argv[1]}`) await main();
