#!/usr/bin/env node
// pqread.mjs — read one Parquet file with four independent engines and normalize what they return,
// so that the results can be compared exactly with each other and with the data a test sent.
//
//   DuckDB      (@duckdb/node-api, C++ reader)
//   Polars      (nodejs-polars, Rust polars-parquet)
//   arrow-rs    (parquet-wasm: the Rust `parquet` crate compiled to wasm; Arrow IPC decoded by apache-arrow JS)
//   hyparquet   (pure JS reader, + hyparquet-compressors for ZSTD/Snappy/...)
//
// Library:
//   readAll(file, {engines})  -> [{engine, rows, schema}, ...] in ENGINES order
//   readWith(engine, file)    -> {engine, rows, schema}
//   columnChecksums(rows, schema) -> {col: {...}}  (pure JS, same function for every engine and for expected data)
//   firstRowDifference(expected, got, schema) -> null or {row, column, expected, got}
//   duckdbQuery(sql)          -> rows of one SQL statement on a shared in-memory DuckDB (session TimeZone UTC)
//   duckdbParquetInfo(file)   -> {schema: parquet_schema() rows, metadata: parquet_metadata() rows, file: parquet_file_metadata() row}
//   close()                   -> releases the cached DuckDB instance
//
// Normalized values (identical across engines, so assert.deepStrictEqual works; it compares primitives with
// Object.is, hence NaN equals NaN and 0 differs from -0):
//   integers of any width -> BigInt            timestamps -> BigInt microseconds since the epoch (UTC)
//   float/double          -> JS number (NaN and -0 preserved)
//   bool -> boolean       string -> JS string decoded from the raw bytes (BOM kept; invalid UTF-8 tagged)
//   null -> null
//   anything else (dates, decimals, binary, nested) -> a string tagged with the engine's rendering; not meant
//   to be compared across engines (Ursa writes none of these).
// Normalized schema: [{name, type, nullable, raw}] with type one of
//   'int64' | 'int32' | 'float64' | 'float32' | 'bool' | 'string' | 'timestamp' (UTC-adjusted) |
//   'timestamp_ntz' (local/naive) | 'other'; nullable is true/false, or null when the engine does not say.
//
// CLI:  node tests/tools/pqread.mjs FILE.parquet [--engines=duckdb,polars,arrow-rs,hyparquet] [--rows=N]
//   prints a JSON summary (per engine: row count, schema, per-column checksums, first N rows) and a verdict;
//   exit 0 when all engines agree (schema types, row count and every value), 1 otherwise, 2 on usage error.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const ENGINES = ['duckdb', 'polars', 'arrow-rs', 'hyparquet'];

// ---------------------------------------------------------------- helpers
// Strings are decoded from their raw bytes here, not by the engines' JS glue: a default TextDecoder silently
// drops a leading U+FEFF (BOM) and replaces invalid UTF-8 with U+FFFD. Invalid bytes become a tagged string
// '<invalid UTF-8: hex>' so that they can never compare equal to a real value.
const UTF8_STRICT = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true });
export function decodeUtf8(bytes) {
  try { return UTF8_STRICT.decode(bytes); }
  catch { return `<invalid UTF-8: ${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}>`; }
}
const floorDiv = (a, b) => { const q = a / b; return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q; };
const sqlStr = s => "'" + String(s).replaceAll("'", "''") + "'";
const sqlId = s => '"' + String(s).replaceAll('"', '""') + '"';

/** BigInt microseconds -> '2024-01-02T03:04:05.123456Z' (for messages and summaries). */
export function isoMicros(us) {
  us = BigInt(us);
  const ms = floorDiv(us, 1000n);
  return new Date(Number(ms)).toISOString().replace('Z', String(us - ms * 1000n).padStart(3, '0') + 'Z');
}

// ---------------------------------------------------------------- DuckDB
let duckPromise = null;
async function duck() {
  duckPromise ??= (async () => {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
    const con = await instance.connect();
    await con.run(`SET TimeZone = 'UTC'`); // TIMESTAMPTZ values and statistics render in UTC
    return { instance, con };
  })();
  return duckPromise;
}
/** Runs one SQL statement on the shared in-memory DuckDB connection; rows as objects (BIGINT -> bigint). */
export async function duckdbQuery(sql) {
  const { con } = await duck();
  return (await con.runAndReadAll(sql)).getRowObjects();
}

function duckType(t) {
  if (t === 'BIGINT') return 'int64';
  if (t === 'INTEGER' || t === 'SMALLINT' || t === 'TINYINT') return 'int32';
  if (/^U(BIGINT|INTEGER|SMALLINT|TINYINT)$/.test(t) || t === 'HUGEINT') return 'int64';
  if (t === 'DOUBLE') return 'float64';
  if (t === 'FLOAT') return 'float32';
  if (t === 'BOOLEAN') return 'bool';
  if (t === 'VARCHAR') return 'string';
  if (t === 'TIMESTAMP WITH TIME ZONE') return 'timestamp';
  if (/^TIMESTAMP(_S|_MS|_NS)?$/.test(t)) return 'timestamp_ntz';
  return 'other';
}

async function readDuckDB(file) {
  const src = `read_parquet(${sqlStr(file)}, hive_partitioning = false)`; // file order: preserve_insertion_order is on by default
  const desc = (await duckdbQuery(`DESCRIBE SELECT * FROM ${src}`));
  const reps = new Map((await duckdbQuery(`SELECT name, repetition_type FROM parquet_schema(${sqlStr(file)})`))
    .map(r => [r.name, r.repetition_type]));
  const schema = desc.map(r => ({
    name: r.column_name, type: duckType(r.column_type),
    nullable: reps.has(r.column_name) ? reps.get(r.column_name) !== 'REQUIRED' : null, raw: r.column_type,
  }));
  // Cast in SQL so that JS receives exact values: integers as BIGINT/HUGEINT (-> bigint), timestamps as
  // epoch microseconds (-> bigint), floats as DOUBLE (-> number, NaN/-0 kept), strings as VARCHAR.
  const sel = schema.map(c => {
    const x = sqlId(c.name);
    switch (c.type) {
      case 'int64': case 'int32': return `${x}::HUGEINT AS ${x}`;
      case 'timestamp': case 'timestamp_ntz': return `epoch_us(${x}) AS ${x}`;
      case 'float64': case 'float32': return `${x}::DOUBLE AS ${x}`;
      case 'string': return `encode(${x}) AS ${x}`; // VARCHAR -> its UTF-8 bytes as BLOB, decoded by decodeUtf8
      case 'bool': return x;
      default: return `${x}::VARCHAR AS ${x}`;
    }
  });
  const rows = await duckdbQuery(`SELECT ${sel.join(', ') || '1 AS __none'} FROM ${src}`);
  if (!schema.length) return { engine: 'duckdb', rows: rows.map(() => ({})), schema };
  const out = rows.map(r => {
    const o = {};
    for (const c of schema) {
      const v = r[c.name];
      o[c.name] = v === null || v === undefined ? null
        : (c.type === 'int64' || c.type === 'int32' || c.type === 'timestamp' || c.type === 'timestamp_ntz') ? BigInt(v)
          : c.type === 'string' ? decodeUtf8(v.bytes)
            : c.type === 'other' ? `duckdb:${v}` : v;
    }
    return o;
  });
  return { engine: 'duckdb', rows: out, schema };
}

/** Parquet-level metadata as DuckDB sees it (BigInts turned into strings for easy asserting). */
export async function duckdbParquetInfo(file) {
  const plain = rows => rows.map(r => Object.fromEntries(Object.entries(r).map(([k, v]) =>
    [k, typeof v === 'bigint' ? String(v) : (v !== null && typeof v === 'object') ? String(v) : v])));
  return {
    schema: plain(await duckdbQuery(`SELECT * FROM parquet_schema(${sqlStr(file)})`)),
    metadata: plain(await duckdbQuery(`SELECT * FROM parquet_metadata(${sqlStr(file)}) ORDER BY row_group_id, column_id`)),
    file: plain(await duckdbQuery(`SELECT * FROM parquet_file_metadata(${sqlStr(file)})`))[0],
  };
}

// ---------------------------------------------------------------- Polars
function polarsType(dt) {
  const v = dt.variant, s = String(dt);
  if (v === 'Int64' || v === 'UInt64' || v === 'UInt32') return 'int64';
  if (v === 'Int32' || v === 'Int16' || v === 'Int8' || v === 'UInt16' || v === 'UInt8') return 'int32';
  if (v === 'Float64') return 'float64';
  if (v === 'Float32') return 'float32';
  if (v === 'Bool') return 'bool';
  if (v === 'String' || v === 'Utf8') return 'string';
  if (v === 'Datetime') { // 'Datetime(us,UTC)' vs 'Datetime(us,)' (naive); another zone is still an instant
    const tz = /Datetime\(\w+,\s*([^)]*)\)/.exec(s)?.[1] ?? '';
    return tz.trim() ? 'timestamp' : 'timestamp_ntz';
  }
  return 'other';
}

async function readPolars(file) {
  const { default: pl } = await import('nodejs-polars');
  const df = pl.readParquet(file);
  const schema = df.columns.map(name => {
    let dt = null;
    try { dt = df.getColumn(name).dtype; } catch { /* e.g. Binary cannot cross into JS */ }
    return { name, type: dt ? polarsType(dt) : 'other', nullable: null, raw: dt ? String(dt).replace(/^DataType\((.*)\)$/, '$1') : 'unknown' };
  });
  // Int64 reaches JS as a double: cast to Utf8 inside polars so extremes stay exact; timestamps -> µs -> Utf8.
  const exprs = schema.map(c => {
    const x = pl.col(c.name);
    switch (c.type) {
      case 'int64': case 'int32': return x.cast(pl.Utf8).alias(c.name);
      case 'timestamp': case 'timestamp_ntz': return x.cast(pl.Datetime('us')).cast(pl.Int64).cast(pl.Utf8).alias(c.name);
      case 'float64': case 'float32': return x.cast(pl.Float64).alias(c.name);
      case 'bool': case 'string': return x;
      default: return x.cast(pl.Utf8).alias(c.name);
    }
  });
  const rows = schema.length ? df.select(...exprs).toRecords() : Array.from({ length: df.height }, () => ({}));
  const out = rows.map(r => {
    const o = {};
    for (const c of schema) {
      const v = r[c.name];
      o[c.name] = v === null || v === undefined ? null
        : (c.type === 'int64' || c.type === 'int32' || c.type === 'timestamp' || c.type === 'timestamp_ntz') ? BigInt(v)
          : c.type === 'other' ? `polars:${v}` : v;
    }
    return o;
  });
  return { engine: 'polars', rows: out, schema };
}

// ---------------------------------------------------------------- arrow-rs (parquet-wasm) + apache-arrow
const TS_MUL = [1000000n, 1000n, 1n, null]; // arrow TimeUnit SECOND, MILLISECOND, MICROSECOND, NANOSECOND (/1000)

/** Raw bytes of string j of one arrow-js Data chunk (Utf8, LargeUtf8 or Utf8View). */
function arrowStringBytes(d, ty, j, Type) {
  if (ty.typeId === Type.Utf8View) { // 16-byte views: length, then 12 inline bytes or (prefix, buffer index, offset)
    const o = j * 16, dv = new DataView(d.values.buffer, d.values.byteOffset + o, 16), len = dv.getInt32(0, true);
    if (len <= 12) return d.values.subarray(o + 4, o + 4 + len);
    const off = dv.getInt32(12, true);
    return d.variadicBuffers[dv.getInt32(8, true)].subarray(off, off + len);
  }
  const s = Number(d.valueOffsets[j]), e = Number(d.valueOffsets[j + 1]); // valueOffsets already account for d.offset
  return d.values.subarray(s, e);
}

async function readArrowRs(file) {
  const pw = await import('parquet-wasm');
  const { tableFromIPC, DataType, Type } = await import('apache-arrow');
  const u8 = new Uint8Array(readFileSync(file));
  const table = tableFromIPC(pw.readParquet(u8).intoIPCStream());
  const typeOf = t => {
    if (DataType.isInt(t)) return t.bitWidth === 64 || (t.bitWidth === 32 && !t.isSigned) ? 'int64' : 'int32';
    if (DataType.isFloat(t)) return t.precision === 2 ? 'float64' : t.precision === 1 ? 'float32' : 'other';
    if (DataType.isBool(t)) return 'bool';
    if (DataType.isUtf8(t) || DataType.isLargeUtf8(t) || t.typeId === Type.Utf8View) return 'string';
    if (DataType.isTimestamp(t)) return t.timezone ? 'timestamp' : 'timestamp_ntz';
    return 'other';
  };
  const schema = table.schema.fields.map(f => ({ name: f.name, type: typeOf(f.type), nullable: f.nullable, raw: String(f.type) }));
  const cols = schema.map((c, i) => {
    const vec = table.getChildAt(i), ty = table.schema.fields[i].type, vals = [];
    for (const d of vec.data) { // one Data per record batch
      for (let j = 0; j < d.length; j++) {
        if (!d.getValid(j)) { vals.push(null); continue; }
        switch (c.type) {
          case 'int64': case 'int32': vals.push(BigInt(d.values[j])); break; // raw buffer: exact, no double detour
          case 'timestamp': case 'timestamp_ntz': {
            const raw = BigInt(d.values[j]), m = TS_MUL[ty.unit];
            vals.push(m === null ? floorDiv(raw, 1000n) : raw * m); break;
          }
          case 'float64': case 'float32': vals.push(Number(d.values[j])); break;
          case 'string': vals.push(decodeUtf8(arrowStringBytes(d, ty, j, Type))); break;
          default: { const v = vec.get(vals.length); vals.push(c.type === 'other' ? `arrow-rs:${v}` : v); }
        }
      }
    }
    return vals;
  });
  const rows = Array.from({ length: table.numRows }, (_, r) => Object.fromEntries(schema.map((c, i) => [c.name, cols[i][r]])));
  return { engine: 'arrow-rs', rows, schema };
}

// ---------------------------------------------------------------- hyparquet
async function readHyparquet(file) {
  const { parquetMetadata, parquetSchema, parquetReadObjects } = await import('hyparquet');
  const { compressors } = await import('hyparquet-compressors');
  const buf = readFileSync(file);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const metadata = parquetMetadata(ab);
  const typeOf = el => {
    const ct = el.converted_type, lt = el.logical_type;
    if (el.num_children) return 'other';
    if (lt?.type === 'TIMESTAMP') return lt.isAdjustedToUTC ? 'timestamp' : 'timestamp_ntz';
    if (ct === 'TIMESTAMP_MICROS' || ct === 'TIMESTAMP_MILLIS') return 'timestamp'; // legacy annotations imply UTC
    if (lt?.type === 'STRING' || ct === 'UTF8') return 'string';
    if (lt?.type === 'INTEGER') return lt.bitWidth === 64 || (lt.bitWidth === 32 && !lt.isSigned) ? 'int64' : 'int32';
    if (ct === 'INT_64' || ct === 'UINT_64' || ct === 'UINT_32') return 'int64';
    if (/^U?INT_(8|16|32)$/.test(ct ?? '')) return 'int32';
    if (lt || ct) return 'other'; // date, decimal, json, enum, ...
    return { INT64: 'int64', INT32: 'int32', DOUBLE: 'float64', FLOAT: 'float32', BOOLEAN: 'bool' }[el.type] ?? 'other';
  };
  const schema = parquetSchema(metadata).children.map(n => ({
    name: n.element.name, type: typeOf(n.element), nullable: n.element.repetition_type !== 'REQUIRED',
    raw: [n.element.type, n.element.logical_type ? JSON.stringify(n.element.logical_type) : n.element.converted_type].filter(Boolean).join(' '),
  }));
  const parsers = { // keep timestamps exact (the default turns them into Date, i.e. milliseconds)
    timestampFromMilliseconds: v => BigInt(v) * 1000n,
    timestampFromMicroseconds: v => BigInt(v),
    timestampFromNanoseconds: v => floorDiv(BigInt(v), 1000n),
    stringFromBytes: b => (b === null || b === undefined ? b : decodeUtf8(b)),
  };
  const objs = await parquetReadObjects({ file: ab, metadata, compressors, parsers });
  const rows = objs.map(r => {
    const o = {};
    for (const c of schema) {
      const v = r[c.name];
      o[c.name] = v === null || v === undefined ? null
        : (c.type === 'int64' || c.type === 'int32' || c.type === 'timestamp' || c.type === 'timestamp_ntz') ? BigInt(v)
          : (c.type === 'float64' || c.type === 'float32') ? Number(v)
            : c.type === 'other' ? `hyparquet:${v}` : v;
    }
    return o;
  });
  return { engine: 'hyparquet', rows, schema };
}

// ---------------------------------------------------------------- public API
const READERS = { duckdb: readDuckDB, polars: readPolars, 'arrow-rs': readArrowRs, hyparquet: readHyparquet };

export async function readWith(engine, file) {
  const f = READERS[engine];
  if (!f) throw new Error(`unknown engine ${engine} (have ${ENGINES.join(', ')})`);
  return f(file);
}

/** Reads `file` with every engine (sequentially). An engine that throws yields {engine, error}. */
export async function readAll(file, { engines = ENGINES } = {}) {
  const out = [];
  for (const e of engines) {
    try { out.push(await readWith(e, file)); }
    catch (err) { out.push({ engine: e, error: String(err?.stack ?? err), rows: null, schema: null }); }
  }
  return out;
}

export async function close() {
  if (!duckPromise) return;
  const { instance, con } = await duckPromise;
  duckPromise = null;
  con.closeSync?.();
  instance.closeSync?.();
}

/** Same-value comparison of two normalized cells (NaN == NaN, 0 != -0). */
export const sameValue = (a, b) => Object.is(a, b) || (typeof a === 'bigint' && typeof b === 'bigint' && a === b);

/** First differing cell between two normalized row lists, or null. Row numbers are 0-based. */
export function firstRowDifference(expected, got, columns) {
  const names = columns ?? [...new Set([...Object.keys(expected[0] ?? {}), ...Object.keys(got[0] ?? {})])];
  const cols = names.map(c => (typeof c === 'string' ? c : c.name));
  const n = Math.min(expected.length, got.length);
  for (let i = 0; i < n; i++) {
    for (const c of cols) if (!sameValue(expected[i][c] ?? null, got[i][c] ?? null)) return { row: i, column: c, expected: expected[i][c] ?? null, got: got[i][c] ?? null };
  }
  if (expected.length !== got.length) return { row: n, column: null, expected: expected.length > n ? expected[n] : '<end>', got: got.length > n ? got[n] : '<end>' };
  return null;
}

// Canonical byte encoding of one normalized cell, fed into an order-sensitive column hash.
function encodeCell(type, v) {
  if (v === null || v === undefined) return Buffer.from([0]);
  switch (type) {
    case 'int64': case 'int32': case 'timestamp': case 'timestamp_ntz': {
      const b = Buffer.alloc(9); b[0] = 1; b.writeBigInt64LE(BigInt.asIntN(64, BigInt(v)), 1); return b;
    }
    case 'float64': case 'float32': { const b = Buffer.alloc(9); b[0] = 1; b.writeDoubleLE(v, 1); return b; } // exact bits (-0 and NaN payload)
    case 'bool': return Buffer.from([1, v ? 1 : 0]);
    default: { const s = Buffer.from(String(v), 'utf8'), b = Buffer.alloc(5); b[0] = 1; b.writeUInt32LE(s.length, 1); return Buffer.concat([b, s]); }
  }
}

/**
 * Per-column checksums of normalized rows, computed in JS; the same function is applied to every engine's
 * rows and to the expected rows of a test, so the results compare with deepStrictEqual.
 * Every column: {count (non-null), nulls, hash (sha256 prefix over the canonical encoding of every cell in
 * row order)}; integers/timestamps add sum mod 2^64, min, max (decimal strings); floats add nan, neg_zero,
 * min, max; bools add trues; strings add utf8_bytes and byte-wise min/max.
 */
export function columnChecksums(rows, schema) {
  const out = {};
  for (const c of schema) {
    const h = createHash('sha256');
    const s = { count: 0, nulls: 0 };
    let sum = 0n, min = null, max = null, nan = 0, negZero = 0, trues = 0, bytes = 0;
    for (const r of rows) {
      const v = r[c.name] ?? null;
      h.update(encodeCell(c.type, v));
      if (v === null) { s.nulls++; continue; }
      s.count++;
      switch (c.type) {
        case 'int64': case 'int32': case 'timestamp': case 'timestamp_ntz':
          sum += BigInt(v); if (min === null || v < min) min = v; if (max === null || v > max) max = v; break;
        case 'float64': case 'float32':
          if (Number.isNaN(v)) { nan++; break; }
          if (Object.is(v, -0)) negZero++;
          if (min === null || v < min) min = v; if (max === null || v > max) max = v; break;
        case 'bool': if (v) trues++; break;
        case 'string': {
          const b = Buffer.from(v, 'utf8'); bytes += b.length;
          if (min === null || Buffer.compare(b, min) < 0) min = b;
          if (max === null || Buffer.compare(b, max) > 0) max = b;
          break;
        }
      }
    }
    if (['int64', 'int32', 'timestamp', 'timestamp_ntz'].includes(c.type)) Object.assign(s, { sum_mod_2_64: String(BigInt.asUintN(64, sum)), min: min === null ? null : String(min), max: max === null ? null : String(max) });
    if (c.type === 'float64' || c.type === 'float32') Object.assign(s, { nan, neg_zero: negZero, min, max });
    if (c.type === 'bool') s.trues = trues;
    if (c.type === 'string') Object.assign(s, { utf8_bytes: bytes, min: min && min.toString('utf8'), max: max && max.toString('utf8') });
    s.hash = h.digest('hex').slice(0, 32);
    out[c.name] = s;
  }
  return out;
}

// ---------------------------------------------------------------- CLI
const jsonSafe = (k, v) => typeof v === 'bigint' ? String(v) : (typeof v === 'number' && !Number.isFinite(v)) ? String(v) : Object.is(v, -0) ? '-0' : v;

async function main(argv) {
  const file = argv.find(a => !a.startsWith('--'));
  const opt = Object.fromEntries(argv.filter(a => a.startsWith('--')).map(a => { const [k, ...v] = a.slice(2).split('='); return [k, v.join('=')]; }));
  if (!file || 'help' in opt) {
    console.error('usage: node tests/tools/pqread.mjs FILE.parquet [--engines=duckdb,polars,arrow-rs,hyparquet] [--rows=3]');
    return 2;
  }
  const engines = opt.engines ? opt.engines.split(',') : ENGINES;
  const bad = engines.filter(e => !READERS[e]);
  if (bad.length) { console.error(`unknown engine(s): ${bad.join(', ')}`); return 2; }
  const nrows = Number(opt.rows ?? 3);
  const results = await readAll(file, { engines });
  await close();
  const summary = { file, engines: {}, verdict: null };
  const problems = [];
  const ref = results.find(r => !r.error);
  for (const r of results) {
    if (r.error) { summary.engines[r.engine] = { error: r.error.split('\n')[0] }; problems.push(`${r.engine}: failed: ${r.error.split('\n')[0]}`); continue; }
    summary.engines[r.engine] = {
      rows: r.rows.length,
      schema: r.schema.map(c => `${c.name}: ${c.type}${c.nullable === false ? ' not null' : ''} (${c.raw})`),
      checksums: columnChecksums(r.rows, r.schema),
      first_rows: r.rows.slice(0, nrows),
    };
    if (r === ref) continue;
    const types = s => s.map(c => `${c.name}:${c.type}`).join(',');
    if (types(r.schema) !== types(ref.schema)) problems.push(`${r.engine}: schema ${types(r.schema)} != ${ref.engine} ${types(ref.schema)}`);
    else {
      const d = firstRowDifference(ref.rows, r.rows, ref.schema);
      if (d) problems.push(`${r.engine} vs ${ref.engine}: first difference at row ${d.row} column ${d.column}: ${JSON.stringify(d.got, jsonSafe)} != ${JSON.stringify(d.expected, jsonSafe)}`);
    }
  }
  if (!ref) problems.push('no engine could read the file');
  summary.verdict = { agree: problems.length === 0, reference: ref?.engine ?? null, problems };
  console.log(JSON.stringify(summary, jsonSafe, 1));
  return problems.length ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === (await import('node:fs')).realpathSync(process.argv[1])) {
  process.exitCode = await main(process.argv.slice(2));
}
