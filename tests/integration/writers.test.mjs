// writers.test.mjs — Parquet files WRITTEN by independent writers, read back by Ursa (`ursa cat`), every value
// compared with what the writer was given.
//
//   URSA_BIN=build/ursa node --test tests/integration/writers.test.mjs     (URSA_TEST_TMP: temp dir)
//
// One table of N rows (the same values for every writer; columns below) is generated here, handed to each
// writer in its own input form, and the expected values are computed from that table in pqread.mjs's
// normalized form, never by reading the files with another reader. `ursa cat` output is turned into the same
// form by helpers.mjs's normalize(), then every row and column must be identical (BigInt ===, Object.is).
//
// The writers and what varies between their files (every file has several row groups; Polars and arrow-rs are
// asked for small data pages, DuckDB has no page size option):
//   - DuckDB (@duckdb/node-api): COPY ... (FORMAT parquet, PARQUET_VERSION v1 | v2) x COMPRESSION uncompressed,
//     snappy, gzip, zstd, brotli, lz4 (DuckDB's lz4 is LZ4_RAW) = 12 files. The input reaches COPY in slices
//     of DUCK_SLICE rows (a UNION ALL of filtered scans: DuckDB fills a row group from whole vectors
//     of 2048 rows, so ROW_GROUP_SIZE alone would give one group for 2000 rows).
//   - Polars (nodejs-polars, sinkParquet): compression uncompressed, snappy, gzip, brotli, lz4, zstd, each
//     with statistics on and off, small rowGroupSize and dataPagesizeLimit = 12 files. Input: the same
//     columns as an Arrow IPC stream (apache-arrow JS), read by pl.readIPCStream.
//   - arrow-rs (parquet-wasm, WriterPropertiesBuilder): every encoding it offers, set per physical type
//     (ARROW_ENCODINGS: PLAIN, dictionary (RLE_DICTIONARY), RLE for booleans, DELTA_BINARY_PACKED,
//     DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY, BYTE_STREAM_SPLIT, and a tiny dictionary page limit so
//     chunks fall back from dictionary to the fallback encoding mid-chunk) x writer version 1.0 and 2.0
//     (data page v1 / v2), each codec of parquet-wasm (UNCOMPRESSED, SNAPPY, GZIP, BROTLI, LZ4 (Hadoop
//     framing), ZSTD, LZ4_RAW) in turn, statistics None / Chunk / Page in turn, data page limit 512 bytes,
//     write batch 64 rows, row groups of 700 rows = 12 files.
//
// Columns (Ursa type: writers that produce it):
//   bool, int8..int64, uint8..uint64, float32, float64: all three
//   decimal(9,2) on INT32, decimal(18,4) on INT64, decimal(38,10) on FIXED_LEN_BYTE_ARRAY(16): all three
//   date: all three; time(ms): arrow-rs; time(us): DuckDB, arrow-rs; time(ns): all three (DuckDB TIME_NS)
//   timestamp ms/us/ns UTC: Polars, arrow-rs (DuckDB: only µs, TIMESTAMPTZ); wall clock ms/us/ns: all three;
//   a timestamp with a zone other than UTC (Europe/Paris, stored UTC-adjusted): Polars, arrow-rs
//   string, binary: all three; FIXED_LEN_BYTE_ARRAY(16) without annotation (binary): arrow-rs
//   json, uuid: DuckDB only.
// What the writers cannot produce (so it is not covered here):
//   - arrow-rs in parquet-wasm 0.8.0 (parquet 59.3) is built without Arrow's canonical extension types: an
//     arrow.uuid / arrow.json field is written as plain FIXED_LEN_BYTE_ARRAY / STRING, so no UUID or JSON
//     logical type; Polars has neither type. JSON and UUID come from DuckDB only.
//   - DuckDB has no TIME(MILLIS) and no UTC timestamps in ms or ns; Polars has only TIME(NANOS) (Time).
//   - Polars and DuckDB choose their own encodings (DuckDB v1: PLAIN here, v2: DELTA_BINARY_PACKED,
//     DELTA_LENGTH_BYTE_ARRAY, BYTE_STREAM_SPLIT; Polars: RLE_DICTIONARY or PLAIN); only arrow-rs lets the test
//     pick each encoding. No writer here produces BIT_PACKED levels, INT96 timestamps or DECIMAL on BYTE_ARRAY
//     (parquet-testing has those, see reader.test.mjs).
//   - No writer here produces LZO: parquet-wasm panics (wasm "unreachable") on Compression.LZO, and Polars
//     lists 'lzo' but refuses it ("parquet `compression` must be one of {..., 'lzo', ...}, got lzo").
//   - NaN and infinities are left out on purpose (`ursa cat` prints them as strings).
//
// Found by this test: DuckDB's PARQUET_VERSION v2 writes DELTA_BINARY_PACKED INT32 miniblocks of bit width 33
// (it takes the deltas in 64 bits); the spec says readers should accept one bit more than the type, and
// Ursa refused them ("miniblock bit width 33 > 32"). Fixed in pq_decode.c (test_pq_decode: delta_spec_examples).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { URSA_BIN, makeTempDir, removeTempDirs, parseLine, normalize } from './helpers.mjs';
import * as PQ from '../tools/pqread.mjs';
import * as A from 'apache-arrow';

const N = 2000;
const ROWS_PER_GROUP = 700; // arrow-rs and Polars; DuckDB gets slices of DUCK_SLICE rows
const DUCK_SLICE = 450;
let failed = false;
let dirCache = null;
const dir = () => (dirCache ??= makeTempDir('ursa-writers-'));

after(async () => {
  await PQ.close();
  await duckClose();
  if (!failed) removeTempDirs();
  else if (dirCache) console.error(`# files kept for inspection: ${dirCache}`);
});

// ---------------------------------------------------------------- the data
// A deterministic generator (mulberry32), so a failure is reproducible.
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const big = words => { let v = 0n; for (let k = 0; k < words; k++) v = (v << 32n) | BigInt(next()); return v; };
  return {
    u32: next,
    below: n => next() % n,
    // a BigInt in [lo, hi]
    range: (lo, hi) => lo + big(5) % (hi - lo + 1n),
    bytes: n => { const b = Buffer.alloc(n); for (let k = 0; k < n; k++) b[k] = next() & 255; return b; },
  };
}

const DAY = 86400n;
const PER = { ms: 1000n, us: 1000000n, ns: 1000000000n };
const day = s => PQ.daysOfIsoDate(s);
const floorDiv = (a, b) => { const q = a / b; return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q; };

// Strings: multi-byte UTF-8 of 2, 3 and 4 bytes, quotes, backslashes, control characters.
const CHARS = ['a', 'b', 'Z', '0', ' ', '"', '\\', '\n', '\t', '\u0001', 'é', 'ß', '€', '日', '本', '😀', '𝄞', '\u00a0', "'"];
const randomText = (r, n) => { let s = ''; for (let k = 0; k < n; k++) s += CHARS[r.below(CHARS.length)]; return s; };

function intColumn(name, bits, signed) {
  const lo = signed ? -(1n << BigInt(bits - 1)) : 0n, hi = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  const edges = [lo, hi, 0n, lo + 1n, hi - 1n, signed ? -1n : 1n];
  if (bits === 64) edges.push(signed ? -(2n ** 53n + 1n) : 2n ** 63n, 2n ** 53n + 1n);
  return { name, type: (signed ? 'int' : 'uint') + bits, phys: bits === 64 ? 'INT64' : 'INT32', edges, pool: [lo, 7n, hi, 42n], random: r => r.range(lo, hi) };
}
function floatColumn(name, bits) {
  const f = bits === 32 ? Math.fround : x => x;
  const edges = bits === 32
    ? [-0, 0, f(1.4e-45), -f(1.4e-45), f(3.4028234663852886e38), -f(3.4028234663852886e38), f(1.1754943508222875e-38), f(0.1), f(-1e-10), f(16777217)]
    : [-0, 0, 5e-324, -5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, 2.2250738585072014e-308, 0.1, 1 / 3, 2 ** 53 + 2, -123456789.125];
  // any finite value of the type, from random bits (every exponent, subnormals included)
  const random = r => {
    for (;;) {
      const dv = new DataView(new ArrayBuffer(8));
      if (bits === 32) { dv.setUint32(0, r.u32()); const v = dv.getFloat32(0); if (Number.isFinite(v)) return v; }
      else { dv.setUint32(0, r.u32()); dv.setUint32(4, r.u32()); const v = dv.getFloat64(0); if (Number.isFinite(v)) return v; }
    }
  };
  return { name, type: `float${bits}`, phys: bits === 32 ? 'FLOAT' : 'DOUBLE', edges, pool: [f(1.5), -0, f(2.25), 0], random };
}
function decimalColumn(name, p, s) {
  const max = 10n ** BigInt(p) - 1n;
  return {
    name, type: `decimal(${p},${s})`, precision: p, scale: s, phys: p <= 9 ? 'INT32' : p <= 18 ? 'INT64' : 'FLBA',
    edges: [max, -max, 0n, 1n, -1n, 10n ** BigInt(s), -(10n ** BigInt(s)) + 1n],
    pool: [12345n, -5n, max],
    random: r => (r.below(3) === 0 ? r.range(-1000n, 1000n) : r.range(-max, max)),
  };
}
function timeColumn(name, unit) {
  const end = DAY * PER[unit] - 1n;
  const edges = [0n, end, 1n];
  if (unit === 'ns') edges.push(999n, 1001n, end - 999n); // ns are printed as µs, rounded toward the past
  return { name, type: 'time', unit, phys: unit === 'ms' ? 'INT32' : 'INT64', edges, pool: [PER[unit] * 3600n, 0n], random: r => r.range(0n, end) };
}
function timestampColumn(name, unit, utc, tz = utc ? 'UTC' : null) {
  // ms and µs: years 0001 to 9999; ns: what int64 holds, less a year at each end (1678 to 2261)
  const lo = unit === 'ns' ? day('1678-01-01') * DAY * PER.ns : day('0001-01-01') * DAY * PER[unit];
  const hi = unit === 'ns' ? day('2262-01-01') * DAY * PER.ns - 1n : (day('9999-12-31') + 1n) * DAY * PER[unit] - 1n;
  return {
    name, type: PQ.timestampType(unit, utc), unit, utc, tz, phys: 'INT64',
    edges: [lo, hi, 0n, -1n, 1n, day('2026-11-23') * DAY * PER[unit] + 123n],
    pool: [day('2024-02-29') * DAY * PER[unit], 0n], random: r => r.range(lo, hi),
  };
}
const LONG_TEXT = 'ü€😀'.repeat(200) + 'end'; // 1803 bytes
const COLUMNS = [
  { name: 'b', type: 'bool', phys: 'BOOLEAN', edges: [true, false], pool: [true, false], random: r => r.below(2) === 0 },
  intColumn('i8', 8, true), intColumn('i16', 16, true), intColumn('i32', 32, true), intColumn('i64', 64, true),
  intColumn('u8', 8, false), intColumn('u16', 16, false), intColumn('u32', 32, false), intColumn('u64', 64, false),
  floatColumn('f32', 32), floatColumn('f64', 64),
  decimalColumn('d9', 9, 2), decimalColumn('d18', 18, 4), decimalColumn('d38', 38, 10),
  { name: 'day', type: 'date', phys: 'INT32', edges: [day('0001-01-01'), day('9999-12-31'), 0n, -1n, day('2000-02-29')], pool: [day('2026-01-01')], random: r => r.range(day('0001-01-01'), day('9999-12-31')) },
  timeColumn('t_ms', 'ms'), timeColumn('t_us', 'us'), timeColumn('t_ns', 'ns'),
  timestampColumn('ts_ms', 'ms', true), timestampColumn('ts_us', 'us', true), timestampColumn('ts_ns', 'ns', true),
  timestampColumn('tsn_ms', 'ms', false), timestampColumn('tsn_us', 'us', false), timestampColumn('tsn_ns', 'ns', false),
  timestampColumn('ts_paris', 'us', true, 'Europe/Paris'),
  {
    name: 's', type: 'string', phys: 'BYTE_ARRAY', edges: ['', 'é"\\\n\u0001😀', LONG_TEXT, '日本語のテキスト', ' ', "it's"],
    pool: ['alpha', 'beta', 'γάμμα', ''],
    random: r => (r.below(40) === 0 ? randomText(r, 600 + r.below(600)) : randomText(r, r.below(24))),
  },
  {
    name: 'bin', type: 'binary', phys: 'BYTE_ARRAY', edges: [Buffer.alloc(0), Buffer.from([0]), Buffer.from([255, 255, 255]), rng(7).bytes(1500)],
    pool: [Buffer.from('cafe', 'hex'), Buffer.alloc(0)],
    random: r => r.bytes(r.below(40) === 0 ? 1100 : r.below(20)),
  },
  { name: 'fb', type: 'binary', phys: 'FLBA', edges: [Buffer.alloc(16), Buffer.alloc(16, 255)], pool: [Buffer.alloc(16, 1)], random: r => r.bytes(16) },
  {
    name: 'j', type: 'json', phys: 'BYTE_ARRAY',
    edges: ['{}', '[]', '{"a":[1,2.5,null],"b":"x"}', '"str"', '123', 'true', '{"k":"é😀\\n"}', `{"long":"${'x'.repeat(1200)}"}`],
    pool: ['{"kind":"a"}', '[1,2,3]'],
    random: r => JSON.stringify({ n: r.below(1000), s: randomText(r, r.below(10)) }),
  },
  {
    name: 'id', type: 'uuid', phys: 'FLBA', edges: ['0'.repeat(32), 'f'.repeat(32), '123e4567e89b12d3a456426614174000'],
    pool: ['00112233445566778899aabbccddeeff'], random: r => r.bytes(16).toString('hex'),
  },
];
const COL = Object.fromEntries(COLUMNS.map(c => [c.name, c]));

// Row i of column k: null for about 1 row in 13 (never row 0, so no column starts with nulls only), an edge
// value every 10th row, a value of a small pool every 3rd (dictionaries, runs), a random one otherwise.
function makeRows() {
  const cols = {};
  COLUMNS.forEach((c, k) => {
    const r = rng(1000 + k), vals = new Array(N);
    for (let i = 0; i < N; i++) {
      if (i > 0 && (i * 7 + k * 5) % 13 === 4) vals[i] = null;
      else if (i % 10 === 0) vals[i] = c.edges[(i / 10 + k) % c.edges.length];
      else if (i % 3 === 0) vals[i] = c.pool[(i >> 2) % c.pool.length];
      else vals[i] = c.random(r);
    }
    vals[N - 1] = null; // a null in the last row of the file too
    cols[c.name] = vals;
  });
  return cols;
}
const DATA = makeRows();

// The value `ursa cat` must give, in pqread's normalized form (what normalize() makes of its output).
function expected(c, v) {
  if (v === null) return null;
  switch (c.type) {
    case 'binary': return v.toString('hex');
    case 'uuid': return PQ.uuidOf(Buffer.from(v, 'hex'));
    case 'date': return PQ.isoDate(v);
    case 'time': return c.unit === 'ms' ? v * 1000n : c.unit === 'ns' ? v / 1000n : v; // µs, ns rounded down
    default:
      if (c.scale !== undefined) return PQ.decimalText(v, c.scale);
      return v; // bool, integers, floats, strings, json text, timestamps in their unit
  }
}

// ---------------------------------------------------------------- reading back and comparing
function ursa(args) {
  return spawnSync(URSA_BIN, args, { encoding: 'utf8', maxBuffer: 1 << 30, timeout: 60_000 });
}
const fmt = v => (typeof v === 'bigint' ? `${v}n` : Object.is(v, -0) ? '-0' : JSON.stringify(v));

/** `ursa cat` of file must give exactly DATA's values of `columns`, in order; returns the differences. */
function compareFile(file, columns) {
  const r = ursa(['cat', file, '--format', 'ndjson']);
  if (r.status !== 0) return [`ursa cat failed (${r.status}): ${r.stderr.trim()}`];
  const lines = r.stdout.split('\n');
  assert.equal(lines.pop(), '', 'output ends with a line break');
  const diffs = [];
  if (lines.length !== N) diffs.push(`${lines.length} rows, written ${N}`);
  const names = columns.map(c => c.name);
  for (let i = 0; i < Math.min(lines.length, N) && diffs.length < 10; i++) {
    const { row, raw } = parseLine(lines[i]);
    if (Object.keys(row).join() !== names.join()) { diffs.push(`row ${i}: columns ${Object.keys(row)}, written ${names}`); break; }
    for (const c of columns) {
      const want = expected(c, DATA[c.name][i]);
      const got = normalize(row[c.name], raw[c.name], c.type);
      let bad = !PQ.sameValue(got, want);
      // a UTC-adjusted timestamp ends in Z, a wall-clock one has no offset
      if (!bad && c.unit && c.type !== 'time' && want !== null && raw[c.name].endsWith('Z"') !== c.utc) bad = true;
      if (bad) diffs.push(`row ${i} column ${c.name} (${c.type}): ursa ${raw[c.name].slice(0, 120)} -> ${fmt(got)?.slice(0, 120)}, written ${fmt(want)?.slice(0, 120)}`);
    }
  }
  return diffs;
}

/** Row groups, and per column its codec and encodings, from `ursa inspect --json` (to check the file is what we meant). */
function layout(file) {
  const r = ursa(['inspect', '--json', file]);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  const cols = {};
  for (const rg of j.row_groups) for (const c of rg.columns) {
    cols[c.column] ??= { codecs: new Set(), encodings: new Set() };
    cols[c.column].codecs.add(c.codec);
    for (const e of c.encodings) cols[c.column].encodings.add(e);
  }
  return { rowGroups: j.row_groups.length, schema: j.columns, cols };
}

function check(name, file, columns, expectLayout) {
  const diffs = compareFile(file, columns);
  if (diffs.length) failed = true;
  assert.deepEqual(diffs, [], `${name}: ${file} read by ursa differs from what the writer was given`);
  const l = layout(file);
  assert.ok(l.rowGroups >= 2, `${name}: ${l.rowGroups} row groups`);
  expectLayout?.(l);
}

// ---------------------------------------------------------------- DuckDB
const DUCK_TYPES = {
  b: 'BOOLEAN', i8: 'TINYINT', i16: 'SMALLINT', i32: 'INTEGER', i64: 'BIGINT', u8: 'UTINYINT', u16: 'USMALLINT',
  u32: 'UINTEGER', u64: 'UBIGINT', f32: 'FLOAT', f64: 'DOUBLE', d9: 'DECIMAL(9,2)', d18: 'DECIMAL(18,4)',
  d38: 'DECIMAL(38,10)', day: 'DATE', t_us: 'TIME', t_ns: 'TIME_NS', ts_us: 'TIMESTAMPTZ', tsn_ms: 'TIMESTAMP_MS',
  tsn_us: 'TIMESTAMP', tsn_ns: 'TIMESTAMP_NS', s: 'VARCHAR', bin: 'BLOB', j: 'JSON', id: 'UUID',
};
const sqlStr = s => "'" + s.replaceAll("'", "''") + "'";
const pad = (v, n) => String(v).padStart(n, '0');
function clock(us, unit) { // time of day in `unit` -> 'HH:MM:SS.fff…'
  const p = PER[unit], secs = us / p, frac = us % p;
  return `${pad(secs / 3600n, 2)}:${pad((secs / 60n) % 60n, 2)}:${pad(secs % 60n, 2)}.${pad(frac, String(p).length - 1)}`;
}
function floatText(v) { return Object.is(v, -0) ? '-0.0' : String(v); }
function duckLiteral(c, v) {
  if (v === null) return 'NULL';
  switch (c.type) {
    case 'bool': return v ? 'true' : 'false';
    case 'float32': case 'float64': return sqlStr(floatText(v)); // VARCHAR -> FLOAT/DOUBLE: correctly rounded
    case 'date': return sqlStr(PQ.isoDate(v));
    case 'time': return sqlStr(clock(v, c.unit));
    case 'string': case 'json': return sqlStr(v);
    case 'binary': return sqlStr([...v].map(b => `\\x${pad(b.toString(16), 2)}`).join('')) + '::BLOB';
    case 'uuid': return sqlStr(PQ.uuidOf(Buffer.from(v, 'hex')));
    default:
      if (c.scale !== undefined) return sqlStr(PQ.decimalText(v, c.scale));
      if (c.unit) { // timestamp: days + time of day in the unit
        const perDay = DAY * PER[c.unit], d = floorDiv(v, perDay);
        return sqlStr(`${PQ.isoDate(d)} ${clock(v - d * perDay, c.unit)}${c.utc ? '+00' : ''}`);
      }
      return String(v); // integers
  }
}
let duckState = null;
async function duck() {
  duckState ??= (async () => {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(':memory:', { threads: '1' }); // one thread: row order kept
    const con = await instance.connect();
    await con.run(`SET TimeZone = 'UTC'`);
    const cols = Object.keys(DUCK_TYPES);
    await con.run(`CREATE TABLE t (rn INTEGER, ${cols.map(n => `${n} ${DUCK_TYPES[n]}`).join(', ')})`);
    const rows = [];
    for (let i = 0; i < N; i++) rows.push(`(${i}, ${cols.map(n => duckLiteral(COL[n], DATA[n][i])).join(', ')})`);
    await con.run(`INSERT INTO t VALUES ${rows.join(',\n')}`);
    return { instance, con };
  })();
  return duckState;
}
async function duckClose() {
  if (!duckState) return;
  const { instance, con } = await duckState;
  duckState = null;
  con.closeSync?.();
  instance.closeSync?.();
}

const DUCK_CODECS = ['uncompressed', 'snappy', 'gzip', 'zstd', 'brotli', 'lz4'];
for (const version of ['v1', 'v2']) {
  for (const codec of DUCK_CODECS) {
    const name = `DuckDB PARQUET_VERSION ${version}, ${codec}`;
    test(name, async () => {
      const { con } = await duck();
      const file = join(dir(), `duckdb-${version}-${codec}.parquet`);
      const cols = Object.keys(DUCK_TYPES);
      const slices = [];
      for (let lo = 0; lo < N; lo += DUCK_SLICE) slices.push(`SELECT ${cols.join(', ')} FROM t WHERE rn >= ${lo} AND rn < ${lo + DUCK_SLICE}`);
      await con.run(`COPY (${slices.join(' UNION ALL ')}) TO ${sqlStr(file)} (FORMAT parquet, PARQUET_VERSION ${version}, COMPRESSION ${codec}, ROW_GROUP_SIZE ${DUCK_SLICE - 50})`);
      check(name, file, cols.map(n => COL[n]), l => {
        const want = codec === 'lz4' ? 'LZ4_RAW' : codec.toUpperCase();
        for (const n of cols) assert.deepEqual([...l.cols[n].codecs], [want], `${n}: codec`);
        if (version === 'v2') assert.ok(l.cols.i64.encodings.has('DELTA_BINARY_PACKED'), `v2 uses DELTA_BINARY_PACKED: ${[...l.cols.i64.encodings]}`);
        assert.equal(l.schema.find(c => c.name === 'j').ursa_type, 'json');
        assert.equal(l.schema.find(c => c.name === 'id').ursa_type, 'uuid');
      });
    });
  }
}

// ---------------------------------------------------------------- Arrow input (Polars, arrow-rs)
function arrowType(c) {
  switch (c.type) {
    case 'bool': return new A.Bool();
    case 'int8': return new A.Int8(); case 'int16': return new A.Int16(); case 'int32': return new A.Int32(); case 'int64': return new A.Int64();
    case 'uint8': return new A.Uint8(); case 'uint16': return new A.Uint16(); case 'uint32': return new A.Uint32(); case 'uint64': return new A.Uint64();
    case 'float32': return new A.Float32(); case 'float64': return new A.Float64();
    case 'date': return new A.DateDay();
    case 'time': return c.unit === 'ms' ? new A.TimeMillisecond() : c.unit === 'us' ? new A.TimeMicrosecond() : new A.TimeNanosecond();
    case 'string': return new A.Utf8();
    case 'binary': return c.phys === 'FLBA' ? new A.FixedSizeBinary(16) : new A.Binary();
    default:
      if (c.scale !== undefined) return new A.Decimal(c.scale, c.precision, 128);
      if (c.unit) return new A.Timestamp({ ms: A.TimeUnit.MILLISECOND, us: A.TimeUnit.MICROSECOND, ns: A.TimeUnit.NANOSECOND }[c.unit], c.tz);
      throw new Error(`no Arrow type for ${c.type}`);
  }
}
function arrowData(c) {
  const vals = DATA[c.name], type = arrowType(c);
  const nullBitmap = new Uint8Array((N + 7) >> 3);
  let nullCount = 0;
  vals.forEach((v, i) => { if (v === null) nullCount++; else nullBitmap[i >> 3] |= 1 << (i & 7); });
  const base = { type, length: N, nullCount, nullBitmap };
  const fill = (Arr, f = v => v, zero = 0) => Arr.from(vals, v => (v === null ? zero : f(v)));
  switch (c.type) {
    case 'bool': { const data = new Uint8Array((N + 7) >> 3); vals.forEach((v, i) => { if (v) data[i >> 3] |= 1 << (i & 7); }); return A.makeData({ ...base, data }); }
    case 'int8': return A.makeData({ ...base, data: fill(Int8Array, Number) });
    case 'int16': return A.makeData({ ...base, data: fill(Int16Array, Number) });
    case 'int32': return A.makeData({ ...base, data: fill(Int32Array, Number) });
    case 'int64': return A.makeData({ ...base, data: fill(BigInt64Array, v => v, 0n) });
    case 'uint8': return A.makeData({ ...base, data: fill(Uint8Array, Number) });
    case 'uint16': return A.makeData({ ...base, data: fill(Uint16Array, Number) });
    case 'uint32': return A.makeData({ ...base, data: fill(Uint32Array, Number) });
    case 'uint64': return A.makeData({ ...base, data: fill(BigUint64Array, v => v, 0n) });
    case 'float32': return A.makeData({ ...base, data: fill(Float32Array) });
    case 'float64': return A.makeData({ ...base, data: fill(Float64Array) });
    case 'date': return A.makeData({ ...base, data: fill(Int32Array, Number) });
    case 'time': return A.makeData({ ...base, data: c.unit === 'ms' ? fill(Int32Array, Number) : fill(BigInt64Array, v => v, 0n) });
    case 'string': case 'binary': {
      if (c.phys === 'FLBA') return A.makeData({ ...base, data: new Uint8Array(Buffer.concat(vals.map(v => v ?? Buffer.alloc(16)))) });
      const parts = vals.map(v => (v === null ? Buffer.alloc(0) : typeof v === 'string' ? Buffer.from(v, 'utf8') : v));
      const valueOffsets = new Int32Array(N + 1);
      parts.forEach((p, i) => { valueOffsets[i + 1] = valueOffsets[i] + p.length; });
      return A.makeData({ ...base, valueOffsets, data: new Uint8Array(Buffer.concat(parts)) });
    }
    default:
      if (c.scale !== undefined) { // 128-bit two's complement, little-endian 32-bit words
        const data = new Uint32Array(N * 4);
        vals.forEach((v, i) => { let u = BigInt.asUintN(128, v ?? 0n); for (let w = 0; w < 4; w++) { data[i * 4 + w] = Number(u & 0xffffffffn); u >>= 32n; } });
        return A.makeData({ ...base, data });
      }
      return A.makeData({ ...base, data: fill(BigInt64Array, v => v, 0n) }); // timestamps
  }
}
/** The columns as an Arrow IPC stream (one record batch). */
function arrowIPC(columns) {
  const datas = columns.map(arrowData);
  const fields = columns.map((c, k) => new A.Field(c.name, datas[k].type, true));
  const schema = new A.Schema(fields);
  const batch = new A.RecordBatch(schema, A.makeData({ type: new A.Struct(fields), length: N, children: datas }));
  return A.tableToIPC(new A.Table(schema, [batch]), 'stream');
}

// ---------------------------------------------------------------- Polars
const POLARS_COLUMNS = COLUMNS.filter(c => !['t_ms', 't_us', 'fb', 'j', 'id'].includes(c.name));
const POLARS_CODECS = ['uncompressed', 'snappy', 'gzip', 'brotli', 'lz4', 'zstd'];
for (const codec of POLARS_CODECS) {
  for (const statistics of [true, false]) {
    const name = `Polars ${codec}, statistics ${statistics ? 'on' : 'off'}`;
    test(name, async () => {
      const { default: pl } = await import('nodejs-polars');
      const file = join(dir(), `polars-${codec}-${statistics}.parquet`);
      const df = pl.readIPCStream(Buffer.from(arrowIPC(POLARS_COLUMNS)));
      await df.lazy().sinkParquet(file, { compression: codec, statistics, rowGroupSize: ROWS_PER_GROUP, dataPagesizeLimit: 1024 }).collect();
      check(name, file, POLARS_COLUMNS, l => {
        const want = codec === 'lz4' ? 'LZ4_RAW' : codec.toUpperCase();
        for (const c of POLARS_COLUMNS) assert.deepEqual([...l.cols[c.name].codecs], [want], `${c.name}: codec`);
      });
    });
  }
}

// ---------------------------------------------------------------- arrow-rs (parquet-wasm)
const ARROW_COLUMNS = COLUMNS.filter(c => !['j', 'id'].includes(c.name));
// Encoding per physical type; a type not listed gets PLAIN. dict: dictionary on (the listed encodings are then
// the fallback); dictLimit: the dictionary page size limit (tiny: the chunk falls back after a few values).
const ARROW_ENCODINGS = {
  plain: { dict: false, enc: {} },
  dictionary: { dict: true, enc: {} },
  delta: { dict: false, enc: { BOOLEAN: 'RLE', INT32: 'DELTA_BINARY_PACKED', INT64: 'DELTA_BINARY_PACKED', BYTE_ARRAY: 'DELTA_LENGTH_BYTE_ARRAY', FLBA: 'DELTA_BYTE_ARRAY' } },
  delta_byte_array: { dict: false, enc: { BOOLEAN: 'RLE', BYTE_ARRAY: 'DELTA_BYTE_ARRAY', FLBA: 'DELTA_BYTE_ARRAY', INT32: 'DELTA_BINARY_PACKED', INT64: 'DELTA_BINARY_PACKED' } },
  byte_stream_split: { dict: false, enc: { FLOAT: 'BYTE_STREAM_SPLIT', DOUBLE: 'BYTE_STREAM_SPLIT', INT32: 'BYTE_STREAM_SPLIT', INT64: 'BYTE_STREAM_SPLIT', FLBA: 'BYTE_STREAM_SPLIT' } },
  dictionary_fallback: { dict: true, dictLimit: 256, enc: { INT32: 'DELTA_BINARY_PACKED', INT64: 'DELTA_BINARY_PACKED', BYTE_ARRAY: 'DELTA_BYTE_ARRAY', FLBA: 'DELTA_BYTE_ARRAY', FLOAT: 'BYTE_STREAM_SPLIT', DOUBLE: 'BYTE_STREAM_SPLIT' } },
};
const ARROW_CODECS = ['UNCOMPRESSED', 'SNAPPY', 'GZIP', 'BROTLI', 'LZ4', 'ZSTD', 'LZ4_RAW'];
const ARROW_STATS = ['None', 'Chunk', 'Page'];
let arrowFile = 0;
for (const [encName, set] of Object.entries(ARROW_ENCODINGS)) {
  for (const version of ['V1', 'V2']) {
    const codec = ARROW_CODECS[arrowFile % ARROW_CODECS.length], stats = ARROW_STATS[arrowFile % ARROW_STATS.length];
    arrowFile++;
    const name = `arrow-rs ${encName}, writer version ${version === 'V1' ? '1.0' : '2.0'}, ${codec}, statistics ${stats}`;
    test(name, async () => {
      const pw = await import('parquet-wasm');
      const file = join(dir(), `arrow-rs-${encName}-${version}-${codec}.parquet`);
      let b = new pw.WriterPropertiesBuilder()
        .setWriterVersion(pw.WriterVersion[version])
        .setCompression(pw.Compression[codec])
        .setStatisticsEnabled(pw.EnabledStatistics[stats])
        .setDictionaryEnabled(set.dict)
        .setDataPageSizeLimit(512)
        .setWriteBatchSize(64)
        .setMaxRowGroupSize(ROWS_PER_GROUP);
      if (set.dictLimit) b = b.setDictionaryPageSizeLimit(set.dictLimit);
      for (const c of ARROW_COLUMNS) b = b.setColumnEncoding(c.name, pw.Encoding[set.enc[c.phys] ?? 'PLAIN']);
      const bytes = pw.writeParquet(pw.Table.fromIPCStream(arrowIPC(ARROW_COLUMNS)), b.build());
      writeFileSync(file, bytes);
      check(name, file, ARROW_COLUMNS, l => {
        for (const c of ARROW_COLUMNS) {
          const enc = l.cols[c.name].encodings, codecs = [...l.cols[c.name].codecs];
          assert.deepEqual(codecs, [codec], `${c.name}: codec`);
          const want = set.enc[c.phys] ?? 'PLAIN';
          if (!set.dict || set.dictLimit) assert.ok(enc.has(want), `${c.name}: ${want} in ${[...enc]}`);
          // (arrow-rs has no dictionary for booleans, nor for FIXED_LEN_BYTE_ARRAY with writer version 1.0)
          if (set.dict && c.phys !== 'BOOLEAN' && !(c.phys === 'FLBA' && version === 'V1')) assert.ok(enc.has('RLE_DICTIONARY') || enc.has('PLAIN_DICTIONARY'), `${c.name}: dictionary in ${[...enc]}`);
        }
      });
    });
  }
}
