#!/usr/bin/env node
// pqread.mjs — read one Parquet file with four independent engines and normalize what they return,
// so that the results can be compared exactly with each other and with the data a test sent.
//
//   DuckDB      (@duckdb/node-api, C++ reader)
//   Polars      (nodejs-polars, Rust polars-parquet; the DataFrame leaves Polars as an Arrow IPC stream,
//                decoded by apache-arrow JS, so every Polars type arrives exactly)
//   arrow-rs    (parquet-wasm: the Rust `parquet` crate compiled to wasm; Arrow IPC decoded by apache-arrow JS)
//   hyparquet   (pure JS reader, + hyparquet-compressors for ZSTD/Snappy/gzip/Brotli/LZ4)
//
// Library:
//   readAll(file, {engines})  -> [{engine, rows, schema}, ...] in ENGINES order
//   readWith(engine, file)    -> {engine, rows, schema}
//   columnChecksums(rows, schema) -> {col: {...}}  (pure JS, same function for every engine and for expected data)
//   firstRowDifference(expected, got, schema) -> null or {row, column, expected, got}
//   convertNormalized(value, fromType, toType) -> a normalized value seen as another normalized type
//       (uuid -> binary, json -> string, ...: for engines that have no such logical type)
//   duckdbQuery(sql)          -> rows of one SQL statement on a shared in-memory DuckDB (session TimeZone UTC)
//   duckdbParquetInfo(file)   -> {schema: parquet_schema() rows, metadata: parquet_metadata() rows,
//                                 file: parquet_file_metadata() row, kv: {key: value} of parquet_kv_metadata()}
//   duckdbChunkStats(file)    -> per column chunk: parquet_metadata() with min/max normalized like the values
//   duckdbBloomProbe(file, column, sqlValue) -> [{row_group_id, bloom_filter_excludes}] (parquet_bloom_probe)
//   parquetFooter(file)       -> the FileMetaData as hyparquet decodes it (encodings, page index offsets, ...)
//   parquetPageIndex(file)    -> ColumnIndex/OffsetIndex of every chunk, with the type of every data page
//   decodePlainValue(bytes, type) -> a PLAIN statistics value (chunk or page min/max) as a normalized value
//   encodePlainValue(v, type) -> the PLAIN bytes of a normalized value (what a bloom filter hashes)
//   parquetBloomFilter(file, rowGroup, column) -> {numBytes, words} of a chunk's split-block bloom filter
//   xxhash64(bytes), sbbfMayContain(words, hash) -> the spec's hash and membership test, in JS
//   close()                   -> releases the cached DuckDB instance
//
// Normalized types (one vocabulary for every engine, named like Ursa's schema types):
//   'bool' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64' |
//   'float32' | 'float64' | 'decimal(P,S)' | 'string' | 'json' | 'binary' | 'uuid' | 'date' | 'time' |
//   'timestamp' (µs, UTC-adjusted) | 'timestamp_ntz' (µs, local/naive) |
//   'timestamp_ms' | 'timestamp_ns' | 'timestamp_ntz_ms' | 'timestamp_ntz_ns' | 'time_tz' | 'other'.
//   The type is what the engine itself reports (mapped to this vocabulary), except for a timestamp unit
//   that DuckDB widens (it reads TIMESTAMP(MILLIS) as a µs TIMESTAMP): there the unit is the file's.
//   Engines lacking a logical type report the physical view: Polars has no UUID or JSON type
//   ('binary' / 'string' or 'binary'), arrow-rs reads UUID as 'binary' unless the Arrow schema carries the
//   arrow.uuid extension. convertNormalized() maps an expected value to such a view.
// Normalized values (identical across engines, so assert.deepStrictEqual works; it compares primitives with
// Object.is, hence NaN equals NaN and 0 differs from -0):
//   every integer type, any width, signed or not -> BigInt (uint64 up to 2^64-1 exactly)
//   float64 -> JS number; float32 -> JS number holding the float32 value (what Math.fround gives); NaN, -0 kept
//   decimal(P,S) -> exact decimal string with exactly S fraction digits: '-0.05', '123', '-99…9' (no exponent)
//   string, json -> JS string decoded from the raw bytes (BOM kept; invalid UTF-8 tagged); json is the stored text
//   binary -> lowercase hex of the bytes        uuid -> 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx' (lowercase)
//   date -> 'YYYY-MM-DD' (proleptic Gregorian, from the day number)
//   time -> BigInt microseconds since midnight
//   timestamps -> BigInt in the type's unit since the epoch (ms, µs or ns); a µs view of a ns value that is
//                 not a whole number of µs is impossible here, a finer value in a coarser type is tagged
//   bool -> boolean     null -> null
//   anything else -> a string tagged with the engine's rendering ('<engine>:...'), never equal to a real value.
// Normalized schema: [{name, type, nullable, raw}]; nullable is true/false, or null when the engine does not say.
//
// CLI:  node tests/tools/pqread.mjs FILE.parquet [--engines=duckdb,polars,arrow-rs,hyparquet] [--rows=N]
//   prints a JSON summary (per engine: row count, schema, per-column checksums, first N rows) and a verdict;
//   exit 0 when all engines agree (schema types, row count and every value, each engine through its legitimate
//   view: ENGINE_TYPE_VIEWS, engineValue), 1 otherwise, 2 on usage error. The reference is hyparquet when it
//   can read the file.
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

/** Lowercase hex of bytes. */
export function hexOf(bytes) {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
/** 16 bytes -> canonical lowercase UUID text; any other length is tagged. */
export function uuidOf(bytes) {
  const h = hexOf(bytes);
  if (h.length !== 32) return `<not 16 bytes: ${h}>`;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Unscaled integer + scale -> exact decimal text with exactly `scale` fraction digits ('-0.05', '12'). */
export function decimalText(unscaled, scale) {
  unscaled = BigInt(unscaled);
  const neg = unscaled < 0n;
  let s = (neg ? -unscaled : unscaled).toString();
  if (scale > 0) { s = s.padStart(scale + 1, '0'); s = `${s.slice(0, -scale)}.${s.slice(-scale)}`; }
  return (neg ? '-' : '') + s;
}
/**
 * A decimal literal ('-1.5', '1.5e2', '0.001', '+7', '.5') -> its unscaled BigInt at `scale`, or null when it
 * is not a literal or needs more than `scale` fraction digits (not representable exactly).
 */
export function decimalUnscaled(text, scale) {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(String(text).trim());
  if (!m || (m[2] + (m[3] ?? '')) === '') return null;
  const digits = m[2] + (m[3] ?? '');
  const shift = Number(m[4] ?? 0) - (m[3]?.length ?? 0) + scale; // value * 10^scale = digits * 10^shift
  let v = BigInt(digits);
  if (shift >= 0) v *= 10n ** BigInt(shift);
  else { const d = 10n ** BigInt(-shift); if (v % d !== 0n) return null; v /= d; }
  return m[1] === '-' ? -v : v;
}
/** Decimal text as an engine renders it -> canonical text at `scale` (or a tagged string when inexact). */
export function canonicalDecimal(text, scale, tag = 'decimal') {
  const u = decimalUnscaled(text, scale);
  return u === null ? `<${tag}: ${text}>` : decimalText(u, scale);
}
/** Big-endian two's complement bytes (Parquet FIXED_LEN_BYTE_ARRAY / BYTE_ARRAY decimals) -> BigInt. */
export function bigEndianSigned(bytes) {
  if (!bytes.length) return 0n;
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  const bits = BigInt(bytes.length * 8);
  return v >= (1n << (bits - 1n)) ? v - (1n << bits) : v;
}

/** Days since 1970-01-01 -> 'YYYY-MM-DD' (proleptic Gregorian; years outside 0..9999 signed and padded). */
export function isoDate(days) {
  // Howard Hinnant's civil_from_days, in BigInt so that any int32 day number is exact.
  let z = BigInt(days) + 719468n;
  const era = floorDiv(z, 146097n);
  const doe = z - era * 146097n;
  const yoe = (doe - doe / 1460n + doe / 36524n - doe / 146096n) / 365n;
  const doy = doe - (365n * yoe + yoe / 4n - yoe / 100n);
  const mp = (5n * doy + 2n) / 153n;
  const d = doy - (153n * mp + 2n) / 5n + 1n;
  const m = mp < 10n ? mp + 3n : mp - 9n;
  const y = yoe + era * 400n + (m <= 2n ? 1n : 0n);
  const ys = y >= 0n && y <= 9999n ? String(y).padStart(4, '0') : (y < 0n ? '-' : '+') + String(y < 0n ? -y : y).padStart(6, '0');
  return `${ys}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}
/** 'YYYY-MM-DD' -> days since 1970-01-01 (inverse of isoDate for years 0..9999). */
export function daysOfIsoDate(s) {
  const m = /^(\d{4})-(\d\d)-(\d\d)$/.exec(s);
  if (!m) throw new Error(`not a date: ${s}`);
  let y = BigInt(m[1]); const mo = BigInt(m[2]), d = BigInt(m[3]);
  if (mo <= 2n) y -= 1n;
  const era = floorDiv(y, 400n), yoe = y - era * 400n;
  const doy = (153n * (mo > 2n ? mo - 3n : mo + 9n) + 2n) / 5n + d - 1n;
  const doe = yoe * 365n + yoe / 4n - yoe / 100n + doy;
  return era * 146097n + doe - 719468n;
}

// ---------------------------------------------------------------- the vocabulary
const INTEGER_TYPES = new Set(['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64']);
const BIGINT_TYPES = new Set([...INTEGER_TYPES, 'time', 'timestamp', 'timestamp_ntz', 'timestamp_ms', 'timestamp_ns', 'timestamp_ntz_ms', 'timestamp_ntz_ns']);
/** True for the normalized types whose values are BigInt. */
export const isBigIntType = t => BIGINT_TYPES.has(t);
export const isIntegerType = t => INTEGER_TYPES.has(t);
export const isTimestampType = t => /^timestamp/.test(t);
export const isFloatType = t => t === 'float32' || t === 'float64';
/** Normalized timestamp type of a unit ('ms' | 'us' | 'ns') and UTC adjustment. */
export function timestampType(unit, utc) {
  return (utc ? 'timestamp' : 'timestamp_ntz') + (unit === 'us' ? '' : `_${unit}`);
}
/** {unit, utc} of a normalized timestamp type, or null. */
export function timestampUnit(type) {
  const m = /^timestamp(_ntz)?(?:_(ms|ns))?$/.exec(type);
  return m ? { unit: m[2] ?? 'us', utc: !m[1] } : null;
}
const UNIT_PER_SECOND = { ms: 1000n, us: 1000000n, ns: 1000000000n };
/** Converts a timestamp value between units; exact or a tagged string (floor when `floor`). */
export function convertTimestamp(v, fromUnit, toUnit, { floor = false } = {}) {
  const a = UNIT_PER_SECOND[fromUnit], b = UNIT_PER_SECOND[toUnit];
  if (b >= a) return v * (b / a);
  const d = a / b;
  if (floor) return floorDiv(v, d);
  return v % d === 0n ? v / d : `<${v} ${fromUnit}: not a whole number of ${toUnit}>`;
}

/**
 * A normalized value of type `from` as it looks through an engine that reports type `to`: uuid -> binary
 * (hex of the 16 bytes), json/string -> binary (hex of the UTF-8 text), json <-> string (same text),
 * timestamps between units and UTC adjustment (exact or tagged). Same type: unchanged. Otherwise tagged.
 */
export function convertNormalized(v, from, to) {
  if (v === null || v === undefined || from === to) return v ?? null;
  if (from === 'uuid' && to === 'binary') return v.replaceAll('-', '');
  if ((from === 'json' || from === 'string') && to === 'binary') return Buffer.from(v, 'utf8').toString('hex');
  if ((from === 'json' && to === 'string') || (from === 'string' && to === 'json')) return v;
  const tf = timestampUnit(from), tt = timestampUnit(to);
  if (tf && tt) return convertTimestamp(v, tf.unit, tt.unit);
  return `<${from} seen as ${to}: ${typeof v === 'bigint' ? `${v}n` : v}>`;
}

/**
 * Types an engine may legitimately report for a column of another type (it lacks the logical type):
 * Polars has no UUID type and reads JSON as a string; arrow-rs reads UUID as FixedSizeBinary(16) without the
 * arrow.uuid extension, and JSON as a string.
 */
export const ENGINE_TYPE_VIEWS = {
  polars: { uuid: ['binary'], json: ['string'] },
  'arrow-rs': { uuid: ['binary'], json: ['string'] },
};
/** True when `engine` reporting `got` for a column of type `want` is its legitimate view of that type. */
export const engineTypeAccepted = (engine, want, got) => got === want || (ENGINE_TYPE_VIEWS[engine]?.[want] ?? []).includes(got);
/**
 * The value `engine` (reporting type `gotType`) returns for value v of a column of type `type`: v through
 * convertNormalized, and DuckDB's reading of TIMESTAMP(NANOS, UTC) as a µs TIMESTAMPTZ (truncated toward zero).
 */
export function engineValue(engine, type, gotType, v) {
  if (v === null || v === undefined) return null;
  if (engine === 'duckdb' && type === 'timestamp_ns' && gotType === 'timestamp_ns' && typeof v === 'bigint') return (v / 1000n) * 1000n;
  return convertNormalized(v, type, gotType);
}

/** Time value in some unit -> µs (exact, else tagged). */
function timeMicros(v, unit) {
  v = BigInt(v);
  if (unit === 'ms') return v * 1000n;
  if (unit === 's') return v * 1000000n;
  if (unit === 'ns') return v % 1000n === 0n ? v / 1000n : `<time ${v} ns: not a whole number of µs>`;
  return v;
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

const DUCK_TYPES = {
  BOOLEAN: 'bool', TINYINT: 'int8', SMALLINT: 'int16', INTEGER: 'int32', BIGINT: 'int64',
  UTINYINT: 'uint8', USMALLINT: 'uint16', UINTEGER: 'uint32', UBIGINT: 'uint64',
  FLOAT: 'float32', DOUBLE: 'float64', VARCHAR: 'string', JSON: 'json', BLOB: 'binary', UUID: 'uuid',
  DATE: 'date', TIME: 'time', 'TIME WITH TIME ZONE': 'time_tz',
};
/** Unit of a Parquet timestamp column from its parquet_schema() row (logical type first, then converted). */
function parquetTimestampUnit(p) {
  const lt = p?.logical_type ?? '';
  if (/MILLIS=MilliSeconds/.test(lt)) return 'ms';
  if (/NANOS=NanoSeconds/.test(lt)) return 'ns';
  if (/MICROS=MicroSeconds/.test(lt)) return 'us';
  if (p?.converted_type === 'TIMESTAMP_MILLIS') return 'ms';
  if (p?.converted_type === 'TIMESTAMP_MICROS') return 'us';
  return null;
}
function duckType(t, p) {
  if (DUCK_TYPES[t]) return DUCK_TYPES[t];
  const dec = /^DECIMAL\((\d+),\s*(\d+)\)$/.exec(t);
  if (dec) return `decimal(${dec[1]},${dec[2]})`;
  if (t === 'TIMESTAMP WITH TIME ZONE' || /^TIMESTAMP(_S|_MS|_NS)?$/.test(t)) {
    const unit = parquetTimestampUnit(p) ?? (t === 'TIMESTAMP_NS' ? 'ns' : t === 'TIMESTAMP_MS' || t === 'TIMESTAMP_S' ? 'ms' : 'us');
    return timestampType(unit, t === 'TIMESTAMP WITH TIME ZONE');
  }
  return 'other';
}

// Cast in SQL so that JS receives exact values: integers as HUGEINT (-> bigint), timestamps as epoch units
// (-> bigint), floats as DOUBLE (-> number, NaN/-0 kept), strings as their UTF-8 bytes, decimals and
// uuids as text, dates as day numbers. duckConverter() finishes the job in JS.
function duckExpr(type, x) {
  const ts = timestampUnit(type);
  if (ts) return `epoch_${ts.unit}(${x})`;
  if (isIntegerType(type)) return `${x}::HUGEINT`;
  if (type.startsWith('decimal(')) return `${x}::VARCHAR`;
  switch (type) {
    case 'float64': case 'float32': return `${x}::DOUBLE`;
    case 'string': return `encode(${x})`; // VARCHAR -> its UTF-8 bytes as BLOB, decoded by decodeUtf8
    case 'json': return `encode(${x}::VARCHAR)`;
    case 'binary': case 'bool': return x;
    case 'uuid': return `${x}::VARCHAR`;
    case 'date': return `(${x} - DATE '1970-01-01')::BIGINT`;
    case 'time': return `epoch_us(${x})`;
    default: return `${x}::VARCHAR`;
  }
}
function duckConverter(type) {
  if (isBigIntType(type)) return v => BigInt(v);
  const dec = /^decimal\(\d+,(\d+)\)$/.exec(type);
  if (dec) return v => canonicalDecimal(v, Number(dec[1]), 'duckdb decimal');
  switch (type) {
    case 'string': case 'json': return v => decodeUtf8(v.bytes);
    case 'binary': return v => hexOf(v.bytes);
    case 'uuid': return v => String(v).toLowerCase();
    case 'date': return v => isoDate(v);
    case 'float32': case 'float64': case 'bool': return v => v;
    default: return v => `duckdb:${v}`;
  }
}

async function readDuckDB(file) {
  const src = `read_parquet(${sqlStr(file)}, hive_partitioning = false)`; // file order: preserve_insertion_order is on by default
  const desc = (await duckdbQuery(`DESCRIBE SELECT * FROM ${src}`));
  const pschema = new Map((await duckdbQuery(`SELECT * FROM parquet_schema(${sqlStr(file)})`)).map(r => [r.name, r]));
  const schema = desc.map(r => {
    const p = pschema.get(r.column_name);
    return { name: r.column_name, type: duckType(r.column_type, p), nullable: p ? p.repetition_type !== 'REQUIRED' : null, raw: r.column_type };
  });
  const sel = schema.map(c => `${duckExpr(c.type, sqlId(c.name))} AS ${sqlId(c.name)}`);
  const rows = await duckdbQuery(`SELECT ${sel.join(', ') || '1 AS __none'} FROM ${src}`);
  if (!schema.length) return { engine: 'duckdb', rows: rows.map(() => ({})), schema };
  const conv = schema.map(c => duckConverter(c.type));
  const out = rows.map(r => {
    const o = {};
    schema.forEach((c, i) => { const v = r[c.name]; o[c.name] = v === null || v === undefined ? null : conv[i](v); });
    return o;
  });
  return { engine: 'duckdb', rows: out, schema };
}

/** Parquet-level metadata as DuckDB sees it (BigInts turned into strings for easy asserting). */
export async function duckdbParquetInfo(file) {
  const plain = rows => rows.map(r => Object.fromEntries(Object.entries(r).map(([k, v]) =>
    [k, typeof v === 'bigint' ? String(v) : (v !== null && typeof v === 'object') ? String(v) : v])));
  const kvRows = await duckdbQuery(`SELECT decode(key) AS k, value FROM parquet_kv_metadata(${sqlStr(file)})`);
  return {
    schema: plain(await duckdbQuery(`SELECT * FROM parquet_schema(${sqlStr(file)})`)),
    metadata: plain(await duckdbQuery(`SELECT * FROM parquet_metadata(${sqlStr(file)}) ORDER BY row_group_id, column_id`)),
    file: plain(await duckdbQuery(`SELECT * FROM parquet_file_metadata(${sqlStr(file)})`))[0],
    kv: Object.fromEntries(kvRows.map(r => [r.k, Buffer.from(r.value.bytes).toString('utf8')])),
  };
}

/**
 * Column chunk metadata as DuckDB's parquet_metadata() reports it, with the statistics normalized like the
 * values readDuckDB returns (DuckDB renders min/max as text; they are cast back to the column's DuckDB type
 * and normalized). One row per column chunk, in row group then column order:
 *   {row_group, rows (of the row group), column, type (normalized), num_values, nulls, min, max, min_exact,
 *    max_exact, min_text, max_text, encodings: [..], compression, dictionary_page_offset, bloom_filter_offset,
 *    bloom_filter_length}
 */
export async function duckdbChunkStats(file) {
  const src = `read_parquet(${sqlStr(file)}, hive_partitioning = false)`;
  const desc = await duckdbQuery(`DESCRIBE SELECT * FROM ${src}`);
  const pschema = new Map((await duckdbQuery(`SELECT * FROM parquet_schema(${sqlStr(file)})`)).map(r => [r.name, r]));
  const out = [];
  for (const d of desc) {
    const type = duckType(d.column_type, pschema.get(d.column_name));
    const cast = v => duckExpr(type, `TRY_CAST(${v} AS ${d.column_type})`);
    const conv = duckConverter(type);
    const rows = await duckdbQuery(`SELECT row_group_id, row_group_num_rows, column_id, num_values, stats_null_count, min_is_exact, max_is_exact,
        stats_min_value, stats_max_value, ${cast('stats_min_value')} AS mn, ${cast('stats_max_value')} AS mx, encodings, compression,
        dictionary_page_offset, bloom_filter_offset, bloom_filter_length
      FROM parquet_metadata(${sqlStr(file)}) WHERE path_in_schema = ${sqlStr(d.column_name)} ORDER BY row_group_id`);
    for (const r of rows) {
      out.push({
        row_group: Number(r.row_group_id), rows: Number(r.row_group_num_rows), column: d.column_name, column_id: Number(r.column_id), type,
        num_values: Number(r.num_values), nulls: r.stats_null_count === null ? null : Number(r.stats_null_count),
        min: r.mn === null ? null : conv(r.mn), max: r.mx === null ? null : conv(r.mx), min_exact: r.min_is_exact, max_exact: r.max_is_exact,
        min_text: r.stats_min_value, max_text: r.stats_max_value,
        encodings: r.encodings ? r.encodings.split(/,\s*/) : [], compression: r.compression,
        dictionary_page_offset: r.dictionary_page_offset === null ? null : Number(r.dictionary_page_offset),
        bloom_filter_offset: r.bloom_filter_offset === null ? null : Number(r.bloom_filter_offset),
        bloom_filter_length: r.bloom_filter_length === null ? null : Number(r.bloom_filter_length),
      });
    }
  }
  return out.sort((a, b) => a.row_group - b.row_group || a.column_id - b.column_id);
}

/** DuckDB parquet_bloom_probe(file, column, value): one row per row group, bloom_filter_excludes true/false/null. */
export async function duckdbBloomProbe(file, column, sqlValue) {
  return duckdbQuery(`SELECT row_group_id, bloom_filter_excludes FROM parquet_bloom_probe(${sqlStr(file)}, ${sqlStr(column)}, ${sqlValue}) ORDER BY row_group_id`);
}

// ---------------------------------------------------------------- Arrow tables (Polars and arrow-rs)
const ARROW_TS_UNIT = ['s', 'ms', 'us', 'ns']; // arrow TimeUnit SECOND, MILLISECOND, MICROSECOND, NANOSECOND

/** Raw bytes of value j of one arrow-js Data chunk of a (Large)Utf8/(Large)Binary/view/FixedSizeBinary type. */
function arrowBytes(d, ty, j, Type) {
  if (ty.typeId === Type.Utf8View || ty.typeId === Type.BinaryView) { // 16-byte views: length, then 12 inline bytes or (prefix, buffer index, offset)
    const o = j * 16, dv = new DataView(d.values.buffer, d.values.byteOffset + o, 16), len = dv.getInt32(0, true);
    if (len <= 12) return d.values.subarray(o + 4, o + 4 + len);
    const off = dv.getInt32(12, true);
    return d.variadicBuffers[dv.getInt32(8, true)].subarray(off, off + len);
  }
  if (ty.typeId === Type.FixedSizeBinary) return d.values.subarray(j * ty.byteWidth, (j + 1) * ty.byteWidth);
  const s = Number(d.valueOffsets[j]), e = Number(d.valueOffsets[j + 1]); // valueOffsets already account for d.offset
  return d.values.subarray(s, e);
}

/** Normalized type of an Arrow field (extension types from field metadata). */
function arrowTypeOf(field, A) {
  const { DataType, Type } = A;
  let t = field.type;
  if (DataType.isDictionary(t)) t = t.dictionary;
  const ext = field.metadata?.get?.('ARROW:extension:name') ?? null;
  if (DataType.isInt(t)) return `${t.isSigned ? 'int' : 'uint'}${t.bitWidth}`;
  if (DataType.isFloat(t)) return t.precision === 2 ? 'float64' : t.precision === 1 ? 'float32' : 'other';
  if (DataType.isBool(t)) return 'bool';
  if (DataType.isDecimal(t)) return `decimal(${t.precision},${t.scale})`;
  if (DataType.isUtf8(t) || DataType.isLargeUtf8(t) || t.typeId === Type.Utf8View) return ext === 'arrow.json' ? 'json' : 'string';
  if (DataType.isFixedSizeBinary(t)) return ext === 'arrow.uuid' && t.byteWidth === 16 ? 'uuid' : 'binary';
  if (DataType.isBinary(t) || DataType.isLargeBinary(t) || t.typeId === Type.BinaryView) return ext === 'arrow.json' ? 'json' : 'binary';
  if (DataType.isDate(t)) return 'date';
  if (DataType.isTime(t)) return 'time';
  if (DataType.isTimestamp(t)) { const u = ARROW_TS_UNIT[t.unit]; return timestampType(u === 's' ? 'ms' : u, !!t.timezone); }
  return 'other';
}

/** A cell reader for one column: (Data chunk, index) -> normalized value (non-null). */
function arrowCellReader(type, arrowType, A, engine) {
  const { Type, DataType } = A;
  if (DataType.isDictionary(arrowType)) {
    const inner = arrowCellReader(type, arrowType.dictionary, A, engine);
    const cache = new Map(); // dictionary Data -> normalized values
    return (d, j) => {
      const dict = d.dictionary;
      let vals = cache.get(dict);
      if (!vals) {
        vals = [];
        for (const dd of dict.data) for (let k = 0; k < dd.length; k++) vals.push(dd.getValid(k) ? inner(dd, k) : null);
        cache.set(dict, vals);
      }
      return vals[Number(d.values[j])];
    };
  }
  const t = arrowType;
  if (isIntegerType(type)) return (d, j) => BigInt(d.values[j]); // raw buffer: exact, no double detour
  const ts = timestampUnit(type);
  if (ts) {
    const u = ARROW_TS_UNIT[t.unit];
    return u === 's' ? (d, j) => BigInt(d.values[j]) * 1000n : (d, j) => BigInt(d.values[j]);
  }
  const dec = /^decimal\(\d+,(\d+)\)$/.exec(type);
  if (dec) {
    const scale = Number(dec[1]);
    const words = (t.bitWidth ?? 128) / 32;
    return (d, j) => {
      if (words <= 2 && !(d.values instanceof Uint32Array)) return decimalText(BigInt(d.values[j]), scale);
      let v = 0n;
      for (let w = words - 1; w >= 0; w--) v = (v << 32n) | BigInt(d.values[j * words + w]);
      return decimalText(BigInt.asIntN(words * 32, v), scale);
    };
  }
  switch (type) {
    case 'float64': case 'float32': return (d, j) => Number(d.values[j]);
    case 'bool': return (d, j) => (d.values[(d.offset + j) >> 3] & (1 << ((d.offset + j) & 7))) !== 0;
    case 'string': case 'json': return (d, j) => decodeUtf8(arrowBytes(d, t, j, Type));
    case 'binary': return (d, j) => hexOf(arrowBytes(d, t, j, Type));
    case 'uuid': return (d, j) => uuidOf(arrowBytes(d, t, j, Type));
    case 'date': return t.unit === 0 /* DAY */ ? (d, j) => isoDate(d.values[j]) : (d, j) => {
      const ms = BigInt(d.values[j]); return ms % 86400000n === 0n ? isoDate(ms / 86400000n) : `<date64 ${ms} ms: not a whole day>`;
    };
    case 'time': { const u = ARROW_TS_UNIT[t.unit]; return (d, j) => timeMicros(d.values[j], u); }
    default: return null;
  }
}

/** Normalized {rows, schema} of an apache-arrow Table. */
function arrowTableRows(table, A, engine, { nullable = true } = {}) {
  const schema = table.schema.fields.map(f => ({ name: f.name, type: arrowTypeOf(f, A), nullable: nullable ? f.nullable : null, raw: String(f.type) }));
  const cols = schema.map((c, i) => {
    const vec = table.getChildAt(i), ty = table.schema.fields[i].type, vals = [];
    const cell = arrowCellReader(c.type, ty, A, engine);
    for (const d of vec.data) { // one Data per record batch
      for (let j = 0; j < d.length; j++) {
        if (!d.getValid(j)) { vals.push(null); continue; }
        vals.push(cell ? cell(d, j) : `${engine}:${vec.get(vals.length)}`);
      }
    }
    return vals;
  });
  const rows = Array.from({ length: table.numRows }, (_, r) => Object.fromEntries(schema.map((c, i) => [c.name, cols[i][r]])));
  return { rows, schema };
}

// ---------------------------------------------------------------- Polars
async function readPolars(file) {
  const { default: pl } = await import('nodejs-polars');
  const A = await import('apache-arrow');
  const df = pl.readParquet(file);
  // Polars' own Arrow IPC writer carries every dtype exactly (Int64/UInt64, Decimal, Binary, Time in ns,
  // Datetime in its unit and zone), which its JS row conversion does not.
  const table = A.tableFromIPC(df.writeIPCStream());
  const { rows, schema } = arrowTableRows(table, A, 'polars', { nullable: false });
  if (table.numRows !== df.height) throw new Error(`polars: IPC stream holds ${table.numRows} rows, DataFrame ${df.height}`);
  return { engine: 'polars', rows, schema };
}

// ---------------------------------------------------------------- arrow-rs (parquet-wasm) + apache-arrow
async function readArrowRs(file) {
  const pw = await import('parquet-wasm');
  const A = await import('apache-arrow');
  const u8 = new Uint8Array(readFileSync(file));
  const table = A.tableFromIPC(pw.readParquet(u8).intoIPCStream());
  const { rows, schema } = arrowTableRows(table, A, 'arrow-rs');
  return { engine: 'arrow-rs', rows, schema };
}

// ---------------------------------------------------------------- hyparquet
/** Normalized type of a hyparquet schema element (logical type first, then converted, then physical). */
function hyparquetTypeOf(el) {
  const ct = el.converted_type, lt = el.logical_type;
  if (el.num_children) return 'other';
  if (lt?.type === 'DECIMAL' || ct === 'DECIMAL') return `decimal(${lt?.precision ?? el.precision},${lt?.scale ?? el.scale ?? 0})`;
  if (lt?.type === 'TIMESTAMP') return timestampType({ MILLIS: 'ms', MICROS: 'us', NANOS: 'ns' }[lt.unit], lt.isAdjustedToUTC);
  if (ct === 'TIMESTAMP_MICROS') return 'timestamp'; // legacy annotations imply UTC
  if (ct === 'TIMESTAMP_MILLIS') return 'timestamp_ms';
  if (lt?.type === 'TIME') return lt.isAdjustedToUTC ? 'time_tz' : 'time';
  if (ct === 'TIME_MILLIS' || ct === 'TIME_MICROS') return 'time';
  if (lt?.type === 'DATE' || ct === 'DATE') return 'date';
  if (lt?.type === 'UUID') return 'uuid';
  if (lt?.type === 'JSON' || ct === 'JSON') return 'json';
  if (lt?.type === 'STRING' || ct === 'UTF8' || lt?.type === 'ENUM' || ct === 'ENUM') return 'string';
  if (lt?.type === 'INTEGER') return `${lt.isSigned ? 'int' : 'uint'}${lt.bitWidth}`;
  const cm = /^(U?)INT_(8|16|32|64)$/.exec(ct ?? '');
  if (cm) return `${cm[1] ? 'uint' : 'int'}${cm[2]}`;
  if (lt || ct) return 'other';
  return { INT64: 'int64', INT32: 'int32', DOUBLE: 'float64', FLOAT: 'float32', BOOLEAN: 'bool', BYTE_ARRAY: 'binary', FIXED_LEN_BYTE_ARRAY: 'binary' }[el.type] ?? 'other';
}

async function readHyparquet(file) {
  const { parquetMetadata, parquetSchema, parquetReadObjects } = await import('hyparquet');
  const { compressors: base } = await import('hyparquet-compressors');
  // hyparquet-compressors 1.1.2 rejects the LZ4 block of empty input (the single token byte 0x00: a valid
  // block, what LZ4_compress_default makes of 0 bytes), which a v2 page of nulls only holds as its values
  // section: "lz4 offset out of range 0". An empty output needs no decoding.
  const compressors = { ...base, LZ4_RAW: (input, n) => (n === 0 && input.length === 1 && input[0] === 0 ? new Uint8Array(0) : base.LZ4_RAW(input, n)) };
  const buf = readFileSync(file);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const metadata = parquetMetadata(ab);
  const elements = parquetSchema(metadata).children.map(n => n.element);
  const schema = elements.map(el => ({
    name: el.name, type: hyparquetTypeOf(el), nullable: el.repetition_type !== 'REQUIRED',
    raw: [el.type, el.logical_type ? JSON.stringify(el.logical_type, (k, v) => (typeof v === 'bigint' ? String(v) : v)) : el.converted_type].filter(Boolean).join(' '),
  }));
  // hyparquet turns decimals into JS numbers (inexact past 2^53): read their unscaled integers instead, by
  // handing it a copy of the metadata without the DECIMAL annotation; the scale comes from hyparquet's own
  // parse of the footer. Every other type goes through hyparquet's conversion, with parsers that keep
  // timestamps, dates and byte values exact.
  const plainMeta = {
    ...metadata,
    schema: metadata.schema.map(el => (el.converted_type === 'DECIMAL' || el.logical_type?.type === 'DECIMAL')
      ? { ...el, converted_type: undefined, logical_type: undefined } : el),
  };
  const parsers = {
    timestampFromMilliseconds: v => BigInt(v),
    timestampFromMicroseconds: v => BigInt(v),
    timestampFromNanoseconds: v => BigInt(v),
    dateFromDays: v => v,
    stringFromBytes: b => (b === null || b === undefined ? b : decodeUtf8(b)),
    jsonFromBytes: b => (b === null || b === undefined ? b : decodeUtf8(b)),
    uuidFromBytes: b => (b === null || b === undefined ? b : b),
  };
  const objs = await parquetReadObjects({ file: ab, metadata: plainMeta, compressors, parsers, utf8: false });
  const conv = schema.map((c, i) => {
    const el = elements[i];
    const dec = /^decimal\(\d+,(\d+)\)$/.exec(c.type);
    if (dec) return v => decimalText(v instanceof Uint8Array ? bigEndianSigned(v) : BigInt(v), Number(dec[1]));
    if (c.type === 'time' || c.type === 'time_tz') {
      const u = el.logical_type?.unit ?? (el.converted_type === 'TIME_MILLIS' ? 'MILLIS' : 'MICROS');
      return v => timeMicros(v, { MILLIS: 'ms', MICROS: 'us', NANOS: 'ns' }[u]);
    }
    if (isBigIntType(c.type)) return v => BigInt(v);
    switch (c.type) {
      case 'float64': case 'float32': return v => Number(v);
      case 'binary': return v => (v instanceof Uint8Array ? hexOf(v) : `hyparquet:${v}`);
      case 'uuid': return v => (v instanceof Uint8Array ? uuidOf(v) : `hyparquet:${v}`);
      case 'date': return v => isoDate(v);
      case 'bool': case 'string': case 'json': return v => v;
      default: return v => `hyparquet:${v}`;
    }
  });
  const rows = objs.map(r => {
    const o = {};
    schema.forEach((c, i) => { const v = r[c.name]; o[c.name] = v === null || v === undefined ? null : conv[i](v); });
    return o;
  });
  return { engine: 'hyparquet', rows, schema };
}

/**
 * A PLAIN-encoded statistics value (min_value/max_value bytes of a chunk or page) -> the normalized value of
 * `type` (pqread's vocabulary; the Parquet physical type follows from it as Ursa maps it).
 */
export function decodePlainValue(bytes, type) {
  if (bytes === null || bytes === undefined) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dec = /^decimal\((\d+),(\d+)\)$/.exec(type);
  if (dec) {
    const p = Number(dec[1]), s = Number(dec[2]);
    const u = p <= 9 && bytes.length === 4 ? BigInt(dv.getInt32(0, true)) : p <= 18 && bytes.length === 8 ? dv.getBigInt64(0, true) : bigEndianSigned(bytes);
    return decimalText(u, s);
  }
  switch (type) {
    case 'bool': return bytes[0] === 1;
    case 'int8': case 'int16': case 'int32': return BigInt(dv.getInt32(0, true));
    case 'uint8': case 'uint16': case 'uint32': return BigInt(dv.getUint32(0, true));
    case 'int64': return dv.getBigInt64(0, true);
    case 'uint64': return dv.getBigUint64(0, true);
    case 'float32': return dv.getFloat32(0, true);
    case 'float64': return dv.getFloat64(0, true);
    case 'date': return isoDate(dv.getInt32(0, true));
    case 'string': case 'json': return decodeUtf8(bytes);
    case 'binary': return hexOf(bytes);
    case 'uuid': return uuidOf(bytes);
    default: return isBigIntType(type) && bytes.length === 8 ? dv.getBigInt64(0, true) : `<${type}: ${hexOf(bytes)}>`;
  }
}

/** Reads one Thrift compact varint at bytes[pos]; returns [value, next]. */
function varint(bytes, pos) {
  let v = 0n, shift = 0n, b;
  do { b = bytes[pos++]; v |= BigInt(b & 0x7f) << shift; shift += 7n; } while (b & 0x80);
  return [v, pos];
}
export const PAGE_TYPES = ['DATA_PAGE', 'INDEX_PAGE', 'DICTIONARY_PAGE', 'DATA_PAGE_V2'];

/**
 * The page index of every column chunk (hyparquet decodes the Thrift; min/max stay raw bytes, see
 * decodePlainValue), and the type of every data page it lists (read from the page header it points at).
 * Returns [[{column, offset_index: null | {pages: [{offset, compressed_page_size, first_row_index, page_type}]},
 *            column_index: null | {null_pages, null_counts, boundary_order, min: [bytes], max: [bytes]}}]] per row group.
 */
export async function parquetPageIndex(file) {
  const { parquetMetadata, readColumnIndex, readOffsetIndex } = await import('hyparquet');
  const buf = readFileSync(file);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const meta = parquetMetadata(ab);
  const bytes = new Uint8Array(ab);
  const reader = (off, len) => ({ view: new DataView(ab, Number(off), Number(len)), offset: 0 });
  const RAW = { type: 'FIXED_LEN_BYTE_ARRAY' }; // hyparquet returns min/max bytes untouched for this element
  return meta.row_groups.map(rg => rg.columns.map(cc => {
    const column = cc.meta_data.path_in_schema.join('.');
    let offset_index = null, column_index = null;
    if (cc.offset_index_offset !== undefined && cc.offset_index_offset !== null) {
      const oi = readOffsetIndex(reader(cc.offset_index_offset, cc.offset_index_length));
      offset_index = {
        pages: oi.page_locations.map(l => {
          const at = Number(l.offset);
          let page_type = null;
          if (bytes[at] === 0x15) { const [z] = varint(bytes, at + 1); page_type = PAGE_TYPES[Number((z >> 1n) ^ -(z & 1n))] ?? 'unknown'; }
          return { offset: at, compressed_page_size: l.compressed_page_size, first_row_index: Number(l.first_row_index), page_type };
        }),
      };
    }
    if (cc.column_index_offset !== undefined && cc.column_index_offset !== null) {
      const ci = readColumnIndex(reader(cc.column_index_offset, cc.column_index_length), RAW);
      column_index = {
        null_pages: ci.null_pages, null_counts: ci.null_counts?.map(Number) ?? null, boundary_order: ci.boundary_order,
        min: ci.min_values, max: ci.max_values,
      };
    }
    return { column, offset_index, column_index };
  }));
}

// ---------------------------------------------------------------- bloom filters (our own reading of the spec)
const M64 = (1n << 64n) - 1n;
const XP1 = 0x9E3779B185EBCA87n, XP2 = 0xC2B2AE3D27D4EB4Fn, XP3 = 0x165667B19E3779F9n, XP4 = 0x85EBCA77C2B2AE63n, XP5 = 0x27D4EB2F165667C5n;
const rotl64 = (x, r) => ((x << BigInt(r)) | (x >> BigInt(64 - r))) & M64;
const xround = (acc, v) => (rotl64((acc + v * XP2) & M64, 31) * XP1) & M64;
const xmerge = (acc, v) => (((acc ^ xround(0n, v)) * XP1) + XP4) & M64;
/** XXH64 of bytes with seed 0 (the hash of Parquet's split-block bloom filters), as a BigInt. */
export function xxhash64(bytes) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), n = bytes.length;
  let i = 0, h;
  if (n >= 32) {
    let v1 = (XP1 + XP2) & M64, v2 = XP2, v3 = 0n, v4 = (M64 + 1n - XP1) & M64;
    for (; i + 32 <= n; i += 32) {
      v1 = xround(v1, dv.getBigUint64(i, true)); v2 = xround(v2, dv.getBigUint64(i + 8, true));
      v3 = xround(v3, dv.getBigUint64(i + 16, true)); v4 = xround(v4, dv.getBigUint64(i + 24, true));
    }
    h = (rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18)) & M64;
    h = xmerge(h, v1); h = xmerge(h, v2); h = xmerge(h, v3); h = xmerge(h, v4);
  } else h = XP5;
  h = (h + BigInt(n)) & M64;
  for (; i + 8 <= n; i += 8) { h ^= xround(0n, dv.getBigUint64(i, true)); h = (rotl64(h, 27) * XP1 + XP4) & M64; }
  if (i + 4 <= n) { h ^= (BigInt(dv.getUint32(i, true)) * XP1) & M64; h = (rotl64(h, 23) * XP2 + XP3) & M64; i += 4; }
  for (; i < n; i++) { h ^= (BigInt(bytes[i]) * XP5) & M64; h = (rotl64(h, 11) * XP1) & M64; }
  h ^= h >> 33n; h = (h * XP2) & M64; h ^= h >> 29n; h = (h * XP3) & M64; h ^= h >> 32n;
  return h;
}
const SBBF_SALT = [0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31];
/** Split-block bloom filter membership of a hash (words: Uint32Array of 8 words per 32-byte block). */
export function sbbfMayContain(words, hash) {
  const blocks = words.length >> 3;
  const b = Number(((hash >> 32n) * BigInt(blocks)) >> 32n) * 8;
  const low = Number(hash & 0xffffffffn);
  for (let k = 0; k < 8; k++) {
    const bit = Number((BigInt(Math.imul(low, SBBF_SALT[k]) >>> 0)) >> 27n);
    if ((words[b + k] & (1 << bit)) === 0) return false;
  }
  return true;
}
/** Skips one Thrift compact value of `type` at pos; returns the next position. */
function thriftSkip(bytes, pos, type) {
  switch (type) {
    case 1: case 2: return pos;
    case 3: return pos + 1;
    case 4: case 5: case 6: return varint(bytes, pos)[1];
    case 7: return pos + 8;
    case 8: { const [len, p] = varint(bytes, pos); return p + Number(len); }
    case 9: case 10: {
      const h = bytes[pos++]; let size = h >> 4; const et = h & 15;
      if (size === 15) { const [s2, p] = varint(bytes, pos); size = Number(s2); pos = p; }
      for (let k = 0; k < size; k++) pos = thriftSkip(bytes, pos, et === 1 || et === 2 ? 3 : et);
      return pos;
    }
    case 12: return thriftStruct(bytes, pos).end;
    default: throw new Error(`thrift: cannot skip type ${type}`);
  }
}
/** Reads the i32 fields of a Thrift compact struct at pos (others skipped): {fields: {id: value}, end}. */
function thriftStruct(bytes, pos) {
  const fields = {};
  let last = 0;
  for (;;) {
    const b = bytes[pos++];
    if (b === 0) return { fields, end: pos };
    const type = b & 15;
    let id = b >> 4;
    if (id === 0) { const [z, p] = varint(bytes, pos); id = Number((z >> 1n) ^ -(z & 1n)); pos = p; } else id += last;
    last = id;
    if (type === 5) { const [z, p] = varint(bytes, pos); fields[id] = Number((z >> 1n) ^ -(z & 1n)); pos = p; }
    else pos = thriftSkip(bytes, pos, type);
  }
}
/**
 * The split-block bloom filter of one column chunk, read by this file's own code (BloomFilterHeader +
 * bitset at bloom_filter_offset): {numBytes, words} or null when the chunk has none.
 */
export async function parquetBloomFilter(file, rowGroup, column) {
  const meta = await parquetFooter(file);
  const cc = meta.row_groups[rowGroup]?.columns.find(c => c.meta_data.path_in_schema.join('.') === column);
  const off = cc?.meta_data?.bloom_filter_offset;
  if (off === undefined || off === null) return null;
  const bytes = new Uint8Array(readFileSync(file));
  const { fields, end } = thriftStruct(bytes, Number(off));
  const numBytes = fields[1];
  const words = new Uint32Array(numBytes / 4);
  const dv = new DataView(bytes.buffer, bytes.byteOffset + end, numBytes);
  for (let k = 0; k < words.length; k++) words[k] = dv.getUint32(k * 4, true);
  return { numBytes, words };
}
/**
 * A normalized value of `type` as the PLAIN bytes a bloom filter hashes (the inverse of decodePlainValue);
 * flbaLength: the FIXED_LEN_BYTE_ARRAY length of a decimal with precision > 18.
 */
export function encodePlainValue(v, type, { flbaLength = 16 } = {}) {
  const le = (n, f) => { const b = new Uint8Array(n); f(new DataView(b.buffer)); return b; };
  const dec = /^decimal\((\d+),(\d+)\)$/.exec(type);
  if (dec) {
    const p = Number(dec[1]), u = decimalUnscaled(v, Number(dec[2]));
    if (p <= 9) return le(4, d => d.setInt32(0, Number(u), true));
    if (p <= 18) return le(8, d => d.setBigInt64(0, u, true));
    const b = new Uint8Array(flbaLength); let x = BigInt.asUintN(flbaLength * 8, u);
    for (let k = flbaLength - 1; k >= 0; k--) { b[k] = Number(x & 0xffn); x >>= 8n; }
    return b;
  }
  switch (type) {
    case 'string': case 'json': return new Uint8Array(Buffer.from(v, 'utf8'));
    case 'binary': return new Uint8Array(Buffer.from(v, 'hex'));
    case 'uuid': return new Uint8Array(Buffer.from(v.replaceAll('-', ''), 'hex'));
    case 'int8': case 'int16': case 'int32': return le(4, d => d.setInt32(0, Number(v), true));
    case 'uint8': case 'uint16': case 'uint32': return le(4, d => d.setUint32(0, Number(v), true));
    case 'uint64': return le(8, d => d.setBigUint64(0, v, true));
    case 'float32': return le(4, d => d.setFloat32(0, v, true));
    case 'float64': return le(8, d => d.setFloat64(0, v, true));
    case 'date': return le(4, d => d.setInt32(0, Number(daysOfIsoDate(v)), true));
    case 'bool': return Uint8Array.of(v ? 1 : 0);
    default: if (isBigIntType(type)) return le(8, d => d.setBigInt64(0, v, true));
      throw new Error(`encodePlainValue: ${type}`);
  }
}

/** The file's FileMetaData as hyparquet decodes it (row groups, column chunks, encodings, offsets, statistics). */
export async function parquetFooter(file) {
  const { parquetMetadata } = await import('hyparquet');
  const buf = readFileSync(file);
  return parquetMetadata(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
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
  if (isBigIntType(type) && typeof v === 'bigint') { // 64-bit two's complement: uint64 maps one to one too
    const b = Buffer.alloc(9); b[0] = 1; b.writeBigInt64LE(BigInt.asIntN(64, v), 1); return b;
  }
  if (isFloatType(type) && typeof v === 'number') { const b = Buffer.alloc(9); b[0] = 1; b.writeDoubleLE(v, 1); return b; } // exact bits (-0 and NaN payload)
  if (type === 'bool') return Buffer.from([1, v ? 1 : 0]);
  const s = Buffer.from(String(v), 'utf8'), b = Buffer.alloc(5); b[0] = 2; b.writeUInt32LE(s.length, 1); return Buffer.concat([b, s]);
}

/**
 * Per-column checksums of normalized rows, computed in JS; the same function is applied to every engine's
 * rows and to the expected rows of a test, so the results compare with deepStrictEqual.
 * Every column: {count (non-null), nulls, hash (sha256 prefix over the canonical encoding of every cell in
 * row order)}; integers, times and timestamps add sum mod 2^64, min, max (decimal strings); floats add nan,
 * neg_zero, min, max; bools add trues; strings and json add utf8_bytes and byte-wise min/max; decimals
 * add exact min/max; binary, uuid and date add min/max (hex and ISO text order is the byte/day order).
 */
export function columnChecksums(rows, schema) {
  const out = {};
  for (const c of schema) {
    const h = createHash('sha256');
    const s = { count: 0, nulls: 0 };
    let sum = 0n, min = null, max = null, nan = 0, negZero = 0, trues = 0, bytes = 0;
    const dec = /^decimal\(\d+,(\d+)\)$/.exec(c.type);
    for (const r of rows) {
      const v = r[c.name] ?? null;
      h.update(encodeCell(c.type, v));
      if (v === null) { s.nulls++; continue; }
      s.count++;
      if (isBigIntType(c.type)) {
        if (typeof v !== 'bigint') { s.tagged = (s.tagged ?? 0) + 1; continue; }
        sum += v; if (min === null || v < min) min = v; if (max === null || v > max) max = v;
      } else if (isFloatType(c.type)) {
        if (Number.isNaN(v)) { nan++; continue; }
        if (Object.is(v, -0)) negZero++;
        if (min === null || v < min) min = v; if (max === null || v > max) max = v;
      } else if (c.type === 'bool') { if (v) trues++; }
      else if (c.type === 'string' || c.type === 'json') {
        const b = Buffer.from(v, 'utf8'); bytes += b.length;
        if (min === null || Buffer.compare(b, min) < 0) min = b;
        if (max === null || Buffer.compare(b, max) > 0) max = b;
      } else if (dec) {
        const u = decimalUnscaled(v, Number(dec[1]));
        if (u === null) { s.tagged = (s.tagged ?? 0) + 1; continue; }
        if (min === null || u < min) min = u; if (max === null || u > max) max = u;
      } else if (c.type === 'binary' || c.type === 'uuid' || c.type === 'date') {
        if (min === null || v < min) min = v; if (max === null || v > max) max = v; // same-length hex/ISO: text order
      }
    }
    if (isBigIntType(c.type)) Object.assign(s, { sum_mod_2_64: String(BigInt.asUintN(64, sum)), min: min === null ? null : String(min), max: max === null ? null : String(max) });
    if (isFloatType(c.type)) Object.assign(s, { nan, neg_zero: negZero, min, max });
    if (c.type === 'bool') s.trues = trues;
    if (c.type === 'string' || c.type === 'json') Object.assign(s, { utf8_bytes: bytes, min: min && min.toString('utf8'), max: max && max.toString('utf8') });
    if (dec) Object.assign(s, { min: min === null ? null : decimalText(min, Number(dec[1])), max: max === null ? null : decimalText(max, Number(dec[1])) });
    if (c.type === 'uuid' || c.type === 'date') Object.assign(s, { min, max });
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
  // The reference is hyparquet when it read the file (it reports every Parquet logical type as such), else
  // the first engine that did; other engines are compared through their legitimate views (engineValue).
  const ref = results.find(r => !r.error && r.engine === 'hyparquet') ?? results.find(r => !r.error);
  for (const r of results) {
    if (r.error) { summary.engines[r.engine] = { error: r.error.split('\n')[0] }; problems.push(`${r.engine}: failed: ${r.error.split('\n')[0]}`); continue; }
    summary.engines[r.engine] = {
      rows: r.rows.length,
      schema: r.schema.map(c => `${c.name}: ${c.type}${c.nullable === false ? ' not null' : ''} (${c.raw})`),
      checksums: columnChecksums(r.rows, r.schema),
      first_rows: r.rows.slice(0, nrows),
    };
    if (r === ref) continue;
    const names = s => s.map(c => c.name).join(',');
    if (names(r.schema) !== names(ref.schema)) { problems.push(`${r.engine}: columns ${names(r.schema)} != ${ref.engine} ${names(ref.schema)}`); continue; }
    if (r.rows.length !== ref.rows.length) problems.push(`${r.engine}: ${r.rows.length} rows, ${ref.engine} ${ref.rows.length}`);
    ref.schema.forEach((c, i) => {
      const g = r.schema[i];
      if (!engineTypeAccepted(r.engine, c.type, g.type)) { problems.push(`${r.engine}: column ${c.name} is ${g.type} (${g.raw}), ${ref.engine} says ${c.type}`); return; }
      for (let k = 0; k < Math.min(r.rows.length, ref.rows.length); k++) {
        const want = engineValue(r.engine, c.type, g.type, ref.rows[k][c.name]), got = r.rows[k][c.name] ?? null;
        if (!sameValue(want, got)) { problems.push(`${r.engine} vs ${ref.engine}: first difference in column ${c.name} at row ${k}: ${JSON.stringify(got, jsonSafe)} != ${JSON.stringify(want, jsonSafe)}`); break; }
      }
    });
  }
  if (!ref) problems.push('no engine could read the file');
  summary.verdict = { agree: problems.length === 0, reference: ref?.engine ?? null, problems };
  console.log(JSON.stringify(summary, jsonSafe, 1));
  return problems.length ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === (await import('node:fs')).realpathSync(process.argv[1])) {
  process.exitCode = await main(process.argv.slice(2));
}
