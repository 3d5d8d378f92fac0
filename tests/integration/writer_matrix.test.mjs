// writer_matrix.test.mjs — the Parquet writer across every column type, nullable or not, every codec, every
// encoding choice and both data page versions, through `ursa convert`; every file is read back by DuckDB,
// Polars, arrow-rs (parquet-wasm) and hyparquet, which must each return exactly the rows written, and
// inspected through DuckDB (parquet_schema, parquet_metadata, parquet_bloom_probe) and the page index.
//
//   URSA_BIN=build/ursa node --test tests/integration/writer_matrix.test.mjs     (URSA_TEST_TMP: temp dir)
//
// The matrix: 6 codecs x 2 page versions x 4 encoding sets = 48 files, each holding every type twice
// (nullable and non-null columns), so every pair of (type, nullability, codec, encoding, page version) is
// in some file. Encoding sets: auto (no "encoding" key), plain, dictionary, alt (delta for integers, dates,
// times, timestamps and decimals up to 18 digits; delta_length for string, binary, json; byte_stream_split
// for floats). Writer options vary across the files (row group rows and bytes, page bytes, dictionary limit,
// codec level, no page index, --in-memory, input on stdin) so that row groups, pages and dictionary
// fallback happen. Then: 0-row and 1-row files, all-null columns, a multi-row-group file with bloom
// filters, identical output with and without --in-memory, rejected records with line numbers, usage errors.
//
// Known reader limitations, applied to the expected values (not to Ursa's output):
//   - DuckDB reads TIMESTAMP(NANOS, isAdjustedToUTC=true) as TIMESTAMP WITH TIME ZONE, i.e. microseconds,
//     truncating toward zero; its values and statistics are compared at that precision.
//   - DuckDB reads INT64_MAX / INT64_MIN + 1 in TIMESTAMP_NS as +-infinity, and its parquet_metadata() fails
//     on ns statistics near INT64_MIN: the matrix keeps ns values a day inside; a separate step checks the
//     exact ends with the other three readers.
//   - DuckDB's parquet_bloom_probe() wrongly excludes present values of BLOB and DECIMAL columns (also in
//     files DuckDB writes) and never excludes in UUID columns: bloom filters are checked by this test's own
//     reading of the spec (pqread: XXH64 + split-block filter) for every type, and by DuckDB for the rest.
//   - hyparquet-compressors cannot decode the LZ4 block of empty input (pqread works around it).
//   - Polars has no UUID type (reads the 16 bytes as Binary); arrow-rs reads UUID as FixedSizeBinary(16)
//     unless the Arrow schema carries the arrow.uuid extension; both may read json as a plain string.
// Data generator and expected-value model: writer_matrix-data.mjs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, removeTempDirs, sanitizerReports, URSA_BIN } from './helpers.mjs';
import * as PQ from '../tools/pqread.mjs';
import * as D from './writer_matrix-data.mjs';
import * as A from 'apache-arrow';

const STEP_TIMEOUT_MS = 60_000;
// URSA_MATRIX_TYPES=b,i64,s (type keys of writer_matrix-data.mjs) restricts the matrix to some types, for debugging.
const TYPES = process.env.URSA_MATRIX_TYPES ? D.TYPES.filter(t => process.env.URSA_MATRIX_TYPES.split(',').includes(t.key)) : D.TYPES;
const state = { failed: [], dir: null };
const dir = () => (state.dir ??= makeTempDir('ursa-matrix-'));

after(async () => {
  await PQ.close();
  if (state.failed.length === 0) removeTempDirs();
  else {
    console.error(`# failed steps: ${state.failed.join('; ')}`);
    if (state.dir) console.error(`# files kept for inspection: ${state.dir}`);
  }
});

function step(name, fn) {
  test(name, { timeout: STEP_TIMEOUT_MS }, async t => {
    try { await fn(t); } catch (err) { state.failed.push(name); throw err; }
  });
}

/** Collects problems so one assertion reports all of them. */
class Problems {
  constructor() { this.list = []; }
  add(msg) { this.list.push(msg); }
  check(cond, msg) { if (!cond) this.add(typeof msg === 'function' ? msg() : msg); }
  assertNone(title) {
    const shown = this.list.slice(0, 80);
    const more = this.list.length > shown.length ? `\n... and ${this.list.length - shown.length} more` : '';
    assert.equal(this.list.length, 0, `${title}: ${this.list.length} problem(s)\n- ${shown.join('\n- ')}${more}`);
  }
}
const show = v => {
  if (typeof v === 'bigint') return `${v}n`;
  if (Object.is(v, -0)) return '-0';
  if (typeof v === 'string') return JSON.stringify(v.length > 100 ? v.slice(0, 100) + `…(${v.length} chars)` : v);
  return String(v);
};
const cut = (s, n = 160) => (s.length > n ? s.slice(0, n) + '…' : s);

// ============================================================ running ursa convert
/** Runs `ursa convert` with args; input: a file path, or {stdin: text}. Returns {status, stdout, stderr, ms}. */
function convert(args, { stdin } = {}) {
  const t0 = Date.now();
  const r = spawnSync(URSA_BIN, ['convert', ...args], { input: stdin, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 50_000 });
  const san = sanitizerReports(r.stderr ?? '');
  if (san.length) sanitizer.push(`ursa convert ${args.join(' ')}:\n  ${san.slice(0, 5).join('\n  ')}`);
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error, ms: Date.now() - t0 };
}
const sanitizer = []; // sanitizer reports seen in any run (ASan/UBSan builds)
const rejectLines = stderr => stderr.split('\n').filter(l => /^line \d+: /.test(l));
function parseStats(stdout) {
  const line = stdout.trim().split('\n').filter(Boolean).at(-1);
  try { return JSON.parse(line); } catch { return null; }
}

// ============================================================ the files
const BLOOM_TYPES = ['s', 'i64', 'i32', 'u64', 'f64', 'dt', 'uu', 'bin', 'd18_4'];
const LEVELS = { zstd: [null, 1, 19], gzip: [null, 1, 9], brotli: [null, 1, 11] };
const SPECS = [];
{
  let k = 0;
  for (const codec of D.CODECS) {
    for (const pv of [1, 2]) {
      for (const enc of Object.keys(D.ENCODING_SETS)) {
        SPECS.push({
          name: `${codec}-v${pv}-${enc}`, codec, pv, enc, rows: 300, seed: 100 + k,
          nullRate: k % 5 === 0 ? 0.5 : 0.15,
          bloom: k % 3 === 0 ? BLOOM_TYPES : [],
          rowGroupRows: [null, 120, null, 1000][k % 4],
          rowGroupBytes: k % 11 === 7 ? 65536 : null,
          pageBytes: [null, 2048, 16384][Math.floor(k / 4) % 3],
          dictMax: (enc === 'dictionary' || enc === 'auto') && k % 3 === 1 ? 2048 : null,
          level: LEVELS[codec]?.[k % 3] ?? null,
          noPageIndex: k % 9 === 4,
          inMemory: k % 4 === 2,
          stdin: k % 5 === 3,
        });
        k++;
      }
    }
  }
  const special = (name, o) => SPECS.push({ name, rows: 300, seed: 900 + SPECS.length, nullRate: 0.15, bloom: [], rowGroupRows: null, rowGroupBytes: null, pageBytes: null, dictMax: null, level: null, noPageIndex: false, inMemory: false, stdin: false, ...o });
  special('zero-rows-zstd-v1-auto', { codec: 'zstd', pv: 1, enc: 'auto', rows: 0 });
  special('zero-rows-snappy-v2-dictionary', { codec: 'snappy', pv: 2, enc: 'dictionary', rows: 0, stdin: true });
  special('one-row-zstd-v2-dictionary', { codec: 'zstd', pv: 2, enc: 'dictionary', rows: 1 });
  special('one-row-uncompressed-v1-plain', { codec: 'uncompressed', pv: 1, enc: 'plain', rows: 1 });
  special('one-row-lz4_raw-v2-alt', { codec: 'lz4_raw', pv: 2, enc: 'alt', rows: 1, bloom: BLOOM_TYPES });
  special('all-null-gzip-v1-auto', { codec: 'gzip', pv: 1, enc: 'auto', rows: 200, allNull: true, pageBytes: 2048 });
  special('all-null-lz4_raw-v2-alt', { codec: 'lz4_raw', pv: 2, enc: 'alt', rows: 200, allNull: true, bloom: BLOOM_TYPES });
  special('all-null-brotli-v2-dictionary', { codec: 'brotli', pv: 2, enc: 'dictionary', rows: 50, allNull: true });
  special('multi-row-group-zstd-v2-auto', { codec: 'zstd', pv: 2, enc: 'auto', rows: 3000, rowGroupRows: 1100, pageBytes: 4096, bloom: BLOOM_TYPES });
  special('multi-row-group-snappy-v1-alt', { codec: 'snappy', pv: 1, enc: 'alt', rows: 2000, rowGroupBytes: 200000, nullRate: 0.4 });
}

function convertArgs(spec, schemaPath, inputPath, outPath) {
  const a = ['--schema', schemaPath, '--input', spec.stdin ? '-' : inputPath, '--output', outPath, '--compression', spec.codec, '--page-version', String(spec.pv), '--stats'];
  if (spec.level !== null) a.push('--level', String(spec.level));
  if (spec.rowGroupRows) a.push('--row-group-rows', String(spec.rowGroupRows));
  if (spec.rowGroupBytes) a.push('--row-group-bytes', String(spec.rowGroupBytes));
  if (spec.pageBytes) a.push('--page-bytes', String(spec.pageBytes));
  if (spec.dictMax) a.push('--dict-max-bytes', String(spec.dictMax));
  if (spec.noPageIndex) a.push('--no-page-index');
  if (spec.inMemory) a.push('--in-memory');
  return a;
}

/** Writes the spec's schema and NDJSON, runs ursa convert; returns {file, out, r, spec}. */
function build(spec) {
  const file = D.buildFile({ rows: spec.rows, seed: spec.seed, nullRate: spec.nullRate, allNull: spec.allNull, encoding: spec.enc, bloom: spec.bloom, types: TYPES });
  const base = join(dir(), spec.name);
  writeFileSync(`${base}.schema.json`, JSON.stringify(file.schema));
  const text = file.lines.map(l => l + '\n').join('');
  writeFileSync(`${base}.ndjson`, text);
  const out = `${base}.parquet`;
  const args = convertArgs(spec, `${base}.schema.json`, `${base}.ndjson`, out);
  const r = convert(args, spec.stdin ? { stdin: text } : {});
  return { file, out, r, args, base };
}

// ============================================================ expected views per engine
// (pqread: ENGINE_TYPE_VIEWS, engineValue — Polars and arrow-rs without UUID/JSON types, DuckDB's µs ns-UTC)
const typeAccepted = PQ.engineTypeAccepted;
/** The value an engine that reports `gotType` must return for the expected value v of column c. */
const engineExpected = (engine, c, gotType, v) => PQ.engineValue(engine, c.type, gotType, v);

// ============================================================ comparisons
const utf8 = s => Buffer.from(s, 'utf8');
/** Total order of normalized values of a type (null excluded). */
function compare(type, a, b) {
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean') return Number(a) - Number(b);
  const dec = /^decimal\(\d+,(\d+)\)$/.exec(type);
  if (dec) { const x = PQ.decimalUnscaled(a, Number(dec[1])), y = PQ.decimalUnscaled(b, Number(dec[1])); return x < y ? -1 : x > y ? 1 : 0; }
  if (type === 'string' || type === 'json') return Buffer.compare(utf8(a), utf8(b));
  return a < b ? -1 : a > b ? 1 : 0; // binary hex, uuid text, ISO dates: text order is the byte/day order
}
/** Same statistic value: exact, except that a float zero may carry either sign (the spec allows -0 as min, +0 as max). */
const sameStat = (type, a, b) => PQ.sameValue(a, b) || (typeof a === 'number' && typeof b === 'number' && a === 0 && b === 0);
function minMax(type, values) {
  let min = null, max = null;
  for (const v of values) {
    if (v === null) continue;
    if (min === null || compare(type, v, min) < 0) min = v;
    if (max === null || compare(type, v, max) > 0) max = v;
  }
  return { min, max };
}
const BYTEWISE = new Set(['string', 'json', 'binary']);
/** Checks a written min/max pair against the values it covers (truncation allowed for byte arrays when not exact). */
function checkMinMax(p, where, type, got, values, { exactMin = true, exactMax = true } = {}) {
  const want = minMax(type, values);
  if (want.min === null) return;
  if (got.min === null || got.min === undefined || got.max === null || got.max === undefined) { p.add(`${where}: no min/max statistics (want ${show(want.min)} .. ${show(want.max)})`); return; }
  if (BYTEWISE.has(type) && (!exactMin || !exactMax || got.truncatable)) {
    p.check(exactMin ? sameStat(type, got.min, want.min) : compare(type, got.min, want.min) <= 0, () => `${where}: min ${show(got.min)} ${exactMin ? '!=' : 'above'} ${show(want.min)}`);
    p.check(exactMax ? sameStat(type, got.max, want.max) : compare(type, got.max, want.max) >= 0, () => `${where}: max ${show(got.max)} ${exactMax ? '!=' : 'below'} ${show(want.max)}`);
    return;
  }
  p.check(sameStat(type, got.min, want.min), () => `${where}: min ${show(got.min)} != ${show(want.min)}`);
  p.check(sameStat(type, got.max, want.max), () => `${where}: max ${show(got.max)} != ${show(want.max)}`);
}

// ============================================================ checks of one file
/** Every engine returns the expected schema and rows. */
async function checkEngines(p, name, file, out) {
  const results = await PQ.readAll(out);
  for (const res of results) {
    const w = `${name} [${res.engine}]`;
    if (res.error) { p.add(`${w}: read failed: ${cut(res.error.split('\n')[0], 400)}`); continue; }
    const names = res.schema.map(c => c.name).join(',');
    const wantNames = file.columns.map(c => c.name).join(',');
    if (names !== wantNames) { p.add(`${w}: columns ${names}, want ${wantNames}`); continue; }
    p.check(res.rows.length === file.rows.length, `${w}: ${res.rows.length} rows, want ${file.rows.length}`);
    file.columns.forEach((c, i) => {
      const g = res.schema[i];
      if (!typeAccepted(res.engine, c.type, g.type)) { p.add(`${w}: column ${c.name} (${c.type}) read as ${g.type} (${g.raw})`); return; }
      if (g.nullable !== null) p.check(g.nullable === c.nullable, `${w}: column ${c.name} nullable ${g.nullable}, want ${c.nullable}`);
      let shown = 0;
      const n = Math.min(res.rows.length, file.rows.length);
      for (let r = 0; r < n && shown < 3; r++) {
        const want = engineExpected(res.engine, c, g.type, file.rows[r][c.name]);
        const got = res.rows[r][c.name] ?? null;
        if (!PQ.sameValue(want, got)) {
          shown++;
          p.add(`${w}: row ${r + 1} column ${c.name} (${c.type}${g.type !== c.type ? ` seen as ${g.type}` : ''}): got ${show(got)}, want ${show(want)}; input ${cut(file.texts[r][c.name] ?? 'null/missing')}`);
        }
      }
    });
  }
}

const DUCK_CODEC = { uncompressed: 'UNCOMPRESSED', snappy: 'SNAPPY', gzip: 'GZIP', brotli: 'BROTLI', lz4_raw: 'LZ4_RAW', zstd: 'ZSTD' };
const DICT_ENC = ['RLE_DICTIONARY', 'PLAIN_DICTIONARY'];
const ALT_ENC = { delta: 'DELTA_BINARY_PACKED', delta_length: 'DELTA_LENGTH_BYTE_ARRAY', byte_stream_split: 'BYTE_STREAM_SPLIT' };
function physicalOf(c) {
  const t = c.spec.type;
  if (t === 'bool') return 'BOOLEAN';
  if (/^u?int(8|16|32)$/.test(t) || t === 'date') return 'INT32';
  if (/^u?int64$/.test(t) || t === 'time' || t === 'timestamp') return 'INT64';
  if (t === 'float32') return 'FLOAT';
  if (t === 'float64') return 'DOUBLE';
  if (t === 'decimal') return c.spec.precision <= 9 ? 'INT32' : c.spec.precision <= 18 ? 'INT64' : 'FIXED_LEN_BYTE_ARRAY';
  if (t === 'uuid') return 'FIXED_LEN_BYTE_ARRAY';
  return 'BYTE_ARRAY';
}
/** Encodings a column chunk of this type may list at all. */
function encodingsAllowed(c) {
  const phys = physicalOf(c);
  const base = ['PLAIN', 'RLE', 'BIT_PACKED', ...DICT_ENC];
  if (phys === 'INT32' || phys === 'INT64') return [...base, 'DELTA_BINARY_PACKED', 'BYTE_STREAM_SPLIT'];
  if (phys === 'FLOAT' || phys === 'DOUBLE') return [...base, 'BYTE_STREAM_SPLIT'];
  if (phys === 'BYTE_ARRAY') return [...base, 'DELTA_LENGTH_BYTE_ARRAY', 'DELTA_BYTE_ARRAY'];
  if (phys === 'FIXED_LEN_BYTE_ARRAY') return [...base, 'DELTA_BYTE_ARRAY', 'BYTE_STREAM_SPLIT'];
  return base; // BOOLEAN
}

/** parquet_schema(): physical, converted and logical types, repetition. */
function checkParquetSchema(p, name, file, info) {
  const byName = new Map(info.schema.map(r => [r.name, r]));
  for (const c of file.columns) {
    const r = byName.get(c.name), w = `${name}: parquet_schema ${c.name} (${c.type})`;
    if (!r) { p.add(`${w}: missing`); continue; }
    const phys = physicalOf(c), t = c.spec.type, lt = r.logical_type ?? '', ct = r.converted_type ?? null;
    p.check(r.type === phys, `${w}: physical ${r.type}, want ${phys}`);
    p.check(r.repetition_type === (c.nullable ? 'OPTIONAL' : 'REQUIRED'), `${w}: repetition ${r.repetition_type}`);
    const intm = /^(u?)int(8|16|32|64)$/.exec(t);
    if (intm) {
      const signed = !intm[1], bits = Number(intm[2]);
      const want = `${signed ? '' : 'U'}INT_${bits}`;
      if (t === 'int64') p.check(ct === null || ct === want, `${w}: converted ${ct}`);
      else p.check(ct === want, `${w}: converted ${ct}, want ${want}`);
      const m = /IntType\(bitWidth=(.), isSigned=(\d)\)/s.exec(lt);
      if (m) p.check(m[1].charCodeAt(0) === bits && m[2] === (signed ? '1' : '0'), `${w}: logical ${JSON.stringify(lt)}, want INT(${bits}, ${signed})`);
      else p.check(t === 'int64' && !lt, `${w}: logical ${JSON.stringify(lt)}, want INT(${bits}, ${signed})`);
    } else if (t === 'decimal') {
      const { precision: pr, scale: sc } = c.spec;
      p.check(ct === 'DECIMAL', `${w}: converted ${ct}, want DECIMAL`);
      p.check(lt === `DecimalType(scale=${sc}, precision=${pr})`, `${w}: logical ${lt}`);
      p.check(Number(r.scale) === sc && Number(r.precision) === pr, `${w}: scale ${r.scale} precision ${r.precision}`);
      if (phys === 'FIXED_LEN_BYTE_ARRAY') {
        const minBytes = Math.ceil((Math.log2(10) * pr + 1) / 8);
        p.check(Number(r.type_length) >= minBytes && Number(r.type_length) <= 16, `${w}: type_length ${r.type_length} for precision ${pr}`);
      }
    } else if (t === 'string') {
      p.check(ct === 'UTF8' && lt === 'StringType()', `${w}: converted ${ct} logical ${lt}, want UTF8 / StringType()`);
    } else if (t === 'json') {
      p.check(ct === 'JSON' && lt === 'JsonType()', `${w}: converted ${ct} logical ${lt}, want JSON / JsonType()`);
    } else if (t === 'binary' || t === 'bool' || t === 'float32' || t === 'float64') {
      p.check(ct === null && !lt, `${w}: converted ${ct} logical ${lt}, want none`);
    } else if (t === 'date') {
      p.check(ct === 'DATE' && (!lt || lt === 'DateType()'), `${w}: converted ${ct} logical ${lt}`);
    } else if (t === 'time') {
      p.check(ct === 'TIME_MICROS' && /^TimeType\(isAdjustedToUTC=0, unit=TimeUnit\(MILLIS=<null>, MICROS=MicroSeconds\(\), NANOS=<null>\)\)$/.test(lt), `${w}: converted ${ct} logical ${lt}, want TIME_MICROS / Time(isAdjustedToUTC=false, MICROS)`);
    } else if (t === 'timestamp') {
      const unit = c.spec.unit ?? 'us', utc = c.spec.utc ?? true;
      const U = { ms: 'MILLIS=MilliSeconds()', us: 'MICROS=MicroSeconds()', ns: 'NANOS=NanoSeconds()' }[unit];
      p.check(lt.startsWith(`TimestampType(isAdjustedToUTC=${utc ? 1 : 0},`) && lt.includes(U), `${w}: logical ${lt}, want Timestamp(isAdjustedToUTC=${utc}, ${unit})`);
      const legacy = { ms: 'TIMESTAMP_MILLIS', us: 'TIMESTAMP_MICROS', ns: null }[unit];
      p.check(ct === null || ct === legacy, `${w}: converted ${ct}`);
    } else if (t === 'uuid') {
      p.check(Number(r.type_length) === 16 && lt === 'UUIDType()' && ct === null, `${w}: type_length ${r.type_length} logical ${lt} converted ${ct}, want 16 / UUIDType()`);
    }
  }
}

/** The ARROW:schema key-value entry (an IPC schema message) names the exact Arrow type of every column. */
function checkArrowSchema(p, name, file, kv) {
  const b64 = kv['ARROW:schema'];
  if (typeof b64 !== 'string' || !b64.length) { p.add(`${name}: no ARROW:schema key-value metadata (keys: ${Object.keys(kv).join(', ')})`); return; }
  let fields;
  try {
    const eos = Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    fields = A.tableFromIPC(Buffer.concat([Buffer.from(b64, 'base64'), eos])).schema.fields;
  } catch (e) { p.add(`${name}: ARROW:schema does not decode as an Arrow IPC schema: ${e.message}`); return; }
  const byName = new Map(fields.map(f => [f.name, f]));
  const T = A.Type, TU = A.TimeUnit;
  for (const c of file.columns) {
    const f = byName.get(c.name), w = `${name}: ARROW:schema ${c.name} (${c.type})`;
    if (!f) { p.add(`${w}: missing`); continue; }
    const t = f.type, sp = c.spec, ext = f.metadata?.get('ARROW:extension:name') ?? null;
    let ok;
    switch (sp.type) {
      case 'bool': ok = t.typeId === T.Bool; break;
      case 'float32': ok = A.DataType.isFloat(t) && t.precision === A.Precision.SINGLE; break;
      case 'float64': ok = A.DataType.isFloat(t) && t.precision === A.Precision.DOUBLE; break;
      case 'decimal': ok = A.DataType.isDecimal(t) && t.precision === sp.precision && t.scale === (sp.scale ?? 0); break;
      case 'string': ok = [T.Utf8, T.LargeUtf8, T.Utf8View].includes(t.typeId) && !ext; break;
      case 'json': ok = [T.Utf8, T.LargeUtf8, T.Utf8View].includes(t.typeId) && (!ext || ext === 'arrow.json'); break;
      case 'binary': ok = [T.Binary, T.LargeBinary, T.BinaryView].includes(t.typeId); break;
      case 'date': ok = A.DataType.isDate(t) && t.unit === A.DateUnit.DAY; break;
      case 'time': ok = A.DataType.isTime(t) && t.unit === TU.MICROSECOND && t.bitWidth === 64; break;
      case 'timestamp': {
        const unit = { ms: TU.MILLISECOND, us: TU.MICROSECOND, ns: TU.NANOSECOND }[sp.unit ?? 'us'];
        const utc = sp.utc ?? true;
        ok = A.DataType.isTimestamp(t) && t.unit === unit && (utc ? ['UTC', '+00:00', 'Etc/UTC'].includes(t.timezone) : !t.timezone);
        break;
      }
      case 'uuid': ok = A.DataType.isFixedSizeBinary(t) && t.byteWidth === 16 && (!ext || ext === 'arrow.uuid'); break;
      default: {
        const m = /^(u?)int(8|16|32|64)$/.exec(sp.type);
        ok = !!m && A.DataType.isInt(t) && t.bitWidth === Number(m[2]) && t.isSigned === !m[1];
      }
    }
    p.check(ok, `${w}: Arrow type ${t}${ext ? ` (${ext})` : ''}`);
    p.check(f.nullable === c.nullable, `${w}: Arrow field nullable ${f.nullable}, want ${c.nullable}`);
  }
}

/** Row ranges [start, end) of the row groups, from the chunk rows of the first column. */
function rowGroupRanges(stats) {
  const out = [];
  let start = 0;
  for (const s of stats.filter(x => x.column_id === 0)) { out.push([start, start + s.rows]); start += s.rows; }
  return out;
}

/** parquet_metadata(): row groups, codec, encodings, statistics, bloom filter offsets. */
function checkChunks(p, name, spec, file, stats) {
  const ranges = rowGroupRanges(stats);
  const total = ranges.length ? ranges.at(-1)[1] : 0;
  p.check(total === file.rows.length, `${name}: row groups hold ${total} rows, want ${file.rows.length}`);
  if (spec.rowGroupRows) for (const [a, b] of ranges) p.check(b - a <= spec.rowGroupRows, `${name}: a row group of ${b - a} rows, limit ${spec.rowGroupRows}`);
  if (spec.rowGroupRows && !spec.rowGroupBytes && file.rows.length) p.check(ranges.length === Math.ceil(file.rows.length / spec.rowGroupRows), `${name}: ${ranges.length} row groups for ${file.rows.length} rows at ${spec.rowGroupRows} per group`);
  const cols = new Map(file.columns.map(c => [c.name, c]));
  for (const s of stats) {
    const c = cols.get(s.column);
    if (!c) continue;
    const w = `${name}: row group ${s.row_group} column ${c.name} (${c.type}, ${c.encoding})`;
    const [a, b] = ranges[s.row_group];
    const values = file.rows.slice(a, b).map(r => r[c.name]);
    const nulls = values.filter(v => v === null).length;
    p.check(s.compression === DUCK_CODEC[spec.codec], `${w}: codec ${s.compression}, want ${DUCK_CODEC[spec.codec]}`);
    p.check(s.num_values === b - a, `${w}: num_values ${s.num_values}, want ${b - a}`);
    p.check(s.nulls === nulls, `${w}: null_count ${s.nulls}, want ${nulls}`);
    // statistics: DuckDB's view (ns UTC timestamps at µs)
    const view = values.map(v => engineExpected('duckdb', c, s.type, v));
    checkMinMax(p, `${w}: statistics`, c.type, s, view, { exactMin: s.min_exact !== false, exactMax: s.max_exact !== false });
    // encodings
    const encs = s.encodings;
    const bad = encs.filter(e => !encodingsAllowed(c).includes(e));
    p.check(bad.length === 0, `${w}: encodings ${encs.join(', ')} (${bad.join(', ')} not valid for ${physicalOf(c)})`);
    const hasValues = nulls < values.length;
    const dict = encs.some(e => DICT_ENC.includes(e));
    if (c.encoding === 'plain') {
      p.check(!dict && (!hasValues || encs.includes('PLAIN')), `${w}: encodings ${encs.join(', ')}, want PLAIN without a dictionary`);
    } else if (c.encoding === 'dictionary') {
      if (hasValues) p.check(dict || (spec.dictMax && encs.includes('PLAIN')), `${w}: encodings ${encs.join(', ')}, want a dictionary`);
    } else if (ALT_ENC[c.encoding]) {
      if (hasValues) p.check(encs.includes(ALT_ENC[c.encoding]) && !dict, `${w}: encodings ${encs.join(', ')}, want ${ALT_ENC[c.encoding]} and no dictionary`);
    }
    if (dict) p.check(s.dictionary_page_offset !== null, `${w}: ${encs.join(', ')} but no dictionary page offset`);
    // bloom filter where asked, none elsewhere
    if (c.bloom && hasValues) p.check(s.bloom_filter_offset !== null && s.bloom_filter_length > 0, `${w}: bloom_filter requested, no bloom filter (offset ${s.bloom_filter_offset})`);
    if (!c.bloom) p.check(s.bloom_filter_offset === null, `${w}: bloom filter at ${s.bloom_filter_offset} without bloom_filter in the schema`);
  }
}

/** The page index: present unless --no-page-index; page types v1/v2; per-page rows, null counts and min/max. */
function checkPageIndex(p, name, spec, file, stats, pageIndex) {
  const ranges = rowGroupRanges(stats);
  const WANT_PAGE = spec.pv === 2 ? 'DATA_PAGE_V2' : 'DATA_PAGE';
  pageIndex.forEach((rg, g) => {
    const [a, b] = ranges[g] ?? [0, 0];
    rg.forEach((chunk, i) => {
      const c = file.columns[i];
      const w = `${name}: page index of row group ${g} column ${c.name} (${c.type}, ${c.encoding})`;
      if (spec.noPageIndex) { p.check(!chunk.offset_index && !chunk.column_index, `${w}: present with --no-page-index`); return; }
      if (!chunk.offset_index || !chunk.column_index) { p.add(`${w}: missing (offset index ${!!chunk.offset_index}, column index ${!!chunk.column_index})`); return; }
      const pages = chunk.offset_index.pages;
      const starts = pages.map(pg => pg.first_row_index);
      p.check(pages.length > 0 && starts[0] === 0 && starts.every((x, j) => j === 0 || x > starts[j - 1]) && starts.at(-1) < b - a,
        `${w}: first_row_index ${starts.join(',')} for ${b - a} rows`);
      const types = [...new Set(pages.map(pg => pg.page_type))];
      p.check(types.length === 1 && types[0] === WANT_PAGE, `${w}: page types ${types.join(',')}, want ${WANT_PAGE}`);
      if (spec.pageBytes && spec.pageBytes <= 2048 && b - a >= 300 && c.encoding === 'plain' && (c.type === 'string' || c.type === 'binary')) p.check(pages.length > 1, `${w}: one page for ${b - a} rows with --page-bytes ${spec.pageBytes}`);
      const ci = chunk.column_index;
      p.check(ci.null_pages.length === pages.length && (ci.null_counts === null || ci.null_counts.length === pages.length), `${w}: column index has ${ci.null_pages.length} pages, offset index ${pages.length}`);
      for (let j = 0; j < Math.min(pages.length, ci.null_pages.length); j++) {
        const lo = a + starts[j], hi = j + 1 < pages.length ? a + starts[j + 1] : b;
        const values = file.rows.slice(lo, hi).map(r => r[c.name]);
        const nulls = values.filter(v => v === null).length;
        const wp = `${w} page ${j} (rows ${lo - a}..${hi - a - 1})`;
        if (ci.null_counts) p.check(ci.null_counts[j] === nulls, `${wp}: null_count ${ci.null_counts[j]}, want ${nulls}`);
        p.check(ci.null_pages[j] === (nulls === values.length), `${wp}: null_pages ${ci.null_pages[j]} with ${nulls} nulls of ${values.length}`);
        if (nulls === values.length) continue;
        const got = { min: PQ.decodePlainValue(ci.min[j], c.type), max: PQ.decodePlainValue(ci.max[j], c.type), truncatable: true };
        checkMinMax(p, `${wp}: min/max`, c.type, got, values, { exactMin: !BYTEWISE.has(c.type), exactMax: !BYTEWISE.has(c.type) });
      }
    });
  });
}

/**
 * Bloom filters answer "maybe" for every value present and mostly "no" for absent ones. Two readers: this
 * test's own reading of the spec (pqread: XXH64 of the PLAIN bytes, split-block filter), for every type; and
 * DuckDB's parquet_bloom_probe() for the types it probes correctly. DuckDB 1.5.6 answers "excluded" for
 * values present in BLOB and DECIMAL columns of its own files (and never excludes anything in UUID
 * columns), so it is not asked about those.
 */
const DUCK_PROBES = new Set(['string', 'int64', 'int32', 'uint64', 'float64', 'date']);
async function checkBloom(p, name, file, out, stats) {
  const ranges = rowGroupRanges(stats);
  const info = await PQ.duckdbParquetInfo(out);
  const typeLength = new Map(info.schema.map(r => [r.name, Number(r.type_length)]));
  const lit = (c, v) => {
    switch (c.type) {
      case 'string': return `'${v.replaceAll("'", "''")}'`;
      case 'int64': return `(${v})::BIGINT`; case 'int32': return `(${v})::INTEGER`; case 'uint64': return `(${v})::UBIGINT`;
      case 'float64': return `'${String(v)}'::DOUBLE`;
      case 'date': return `DATE '${v}'`;
      default: return null;
    }
  };
  const rng = D.makeRng(4242);
  const absent = c => {
    switch (c.type) {
      case 'string': return `absent value ${rng.u32()}`;
      case 'int64': return rng.u64() - (1n << 63n);
      case 'int32': return BigInt(rng.u32()) - (1n << 31n);
      case 'uint64': return rng.u64();
      case 'float64': return rng.float() * 1e300;
      case 'date': return PQ.isoDate(BigInt(rng.int(2000000)) - 700000n);
      case 'uuid': return [8, 4, 4, 4, 12].map(n => Array.from({ length: n }, () => '0123456789abcdef'[rng.int(16)]).join('')).join('-');
      case 'binary': return Buffer.from(rng.bytes(9)).toString('hex');
      case 'decimal(18,4)': return `${rng.int(1000000)}.${String(rng.int(10000)).padStart(4, '0')}`;
      default: return null;
    }
  };
  for (const c of file.columns.filter(x => x.bloom)) {
    const w = `${name}: bloom filter of ${c.name} (${c.type})`;
    const enc = v => PQ.encodePlainValue(v, c.type, { flbaLength: typeLength.get(c.name) });
    for (const [g, [a, b]] of ranges.entries()) {
      const present = [...new Set(file.rows.slice(a, b).map(r => r[c.name]).filter(v => v !== null))];
      if (!present.length) continue;
      const bf = await PQ.parquetBloomFilter(out, g, c.name);
      if (!bf) { p.add(`${w}: row group ${g}: no bloom filter`); continue; }
      const misses = present.filter(v => !PQ.sbbfMayContain(bf.words, PQ.xxhash64(enc(v))));
      p.check(misses.length === 0, () => `${w}: row group ${g}: ${misses.length} of ${present.length} values present are not in the filter (spec hashing), e.g. ${misses.slice(0, 3).map(show).join(', ')}`);
      const seen = new Set(present.map(String));
      const probes = Array.from({ length: 40 }, () => absent(c)).filter(v => v !== null && !seen.has(String(v)));
      const kept = probes.filter(v => PQ.sbbfMayContain(bf.words, PQ.xxhash64(enc(v)))).length;
      p.check(kept <= probes.length * 0.25, `${w}: row group ${g}: ${kept} of ${probes.length} absent values pass the filter (${bf.numBytes} bytes for ${present.length} distinct values)`);
      if (!DUCK_PROBES.has(c.type)) continue;
      for (const v of present.slice(0, 8)) {
        const e = (await PQ.duckdbBloomProbe(out, c.name, lit(c, v))).find(x => Number(x.row_group_id) === g)?.bloom_filter_excludes;
        p.check(e === false, () => `${w}: row group ${g} holds ${show(v)} but DuckDB's probe says excludes=${e}`);
      }
      let excluded = 0;
      for (const v of probes.slice(0, 12)) if ((await PQ.duckdbBloomProbe(out, c.name, lit(c, v))).find(x => Number(x.row_group_id) === g)?.bloom_filter_excludes === true) excluded++;
      p.check(excluded >= Math.min(12, probes.length) * 0.75, `${w}: row group ${g}: DuckDB's probe excludes only ${excluded} of ${Math.min(12, probes.length)} absent values`);
    }
  }
}

/** The whole check of one converted matrix file. */
async function checkConverted(spec, { file, out, r, args }) {
  const p = new Problems();
  const cmd = `${URSA_BIN} convert ${args.join(' ')}`;
  if (r.error || r.status !== 0) assert.fail(`${spec.name}: ${cmd} -> exit ${r.status}${r.signal ? ` (${r.signal})` : ''} ${r.error ?? ''}\nstderr: ${cut(r.stderr, 3000)}`);
  const rejects = rejectLines(r.stderr);
  p.check(rejects.length === 0, () => `${spec.name}: valid records rejected:\n    ${rejects.slice(0, 10).map(l => { const n = Number(/^line (\d+)/.exec(l)[1]); return `${l}\n      input: ${cut(file.lines[n - 1] ?? '?', 300)}`; }).join('\n    ')}`);
  p.check(existsSync(out), `${spec.name}: no output file`);
  if (!existsSync(out)) p.assertNone(spec.name);
  const st = parseStats(r.stdout);
  if (!st) p.add(`${spec.name}: --stats printed no JSON line: ${cut(r.stdout)}`);
  else {
    p.check(st.rows === file.rows.length && st.rejected === 0, `${spec.name}: stats rows ${st.rows} rejected ${st.rejected}, want ${file.rows.length} / 0`);
    p.check(st.bytes === statSync(out).size, `${spec.name}: stats bytes ${st.bytes}, file has ${statSync(out).size}`);
    for (const k of ['parse_seconds', 'write_seconds', 'total_seconds', 'peak_rss_bytes']) p.check(typeof st[k] === 'number' && st[k] >= 0, `${spec.name}: stats ${k} = ${st[k]}`);
  }
  file.out = out;
  await checkEngines(p, spec.name, file, out);
  const info = await PQ.duckdbParquetInfo(out);
  checkParquetSchema(p, spec.name, file, info);
  p.check(Number(info.file?.num_rows) === file.rows.length, `${spec.name}: parquet_file_metadata num_rows ${info.file?.num_rows}`);
  checkArrowSchema(p, spec.name, file, info.kv);
  const stats = await PQ.duckdbChunkStats(out);
  checkChunks(p, spec.name, spec, file, stats);
  checkPageIndex(p, spec.name, spec, file, stats, await PQ.parquetPageIndex(out));
  if (spec.bloom.length) await checkBloom(p, spec.name, file, out, stats);
  p.assertNone(spec.name);
}

// =====================================================================================================
step('ursa convert exists', () => {
  assert.ok(existsSync(URSA_BIN), `binary not found: ${URSA_BIN} (set URSA_BIN)`);
  const r = convert(['--help']);
  assert.ok(/ursa convert/.test(r.stdout + r.stderr), `ursa convert --help: exit ${r.status}\n${cut(r.stderr + r.stdout, 1000)}`);
});

// The generator says what it means: every line is JSON, and DuckDB's own parsers agree with the model for
// dates, times, decimals, float32 rounding, timestamps, uuids and base64.
step('generator self-check (JSON.parse and DuckDB casts agree with the expected values)', async () => {
  const p = new Problems();
  const f = D.buildFile({ rows: 400, seed: 7, types: TYPES });
  f.lines.forEach((l, i) => { try { JSON.parse(l); } catch (e) { p.add(`line ${i + 1} is not JSON: ${e.message}: ${cut(l)}`); } });
  const checks = []; // {sql: expression of ?, text, want, post: DuckDB's answer -> normalized, c}
  const big = v => BigInt(v);
  for (const c of f.columns) {
    f.rows.forEach((row, i) => {
      const v = row[c.name], t = f.texts[i][c.name];
      if (v === null || t === undefined) return;
      const str = t.startsWith('"') ? JSON.parse(t) : t;
      const unit = PQ.timestampUnit(c.type);
      const add = (sql, text, want, post) => checks.push({ sql, text, want, post, c });
      if (c.type === 'date') add(`(CAST(? AS DATE) - DATE '1970-01-01')::BIGINT`, str, PQ.daysOfIsoDate(v), big);
      else if (c.type === 'time') add(`epoch_us(CAST(? AS TIME))`, str.replace(/(\.\d{6})\d+/, '$1'), v, big);
      else if (c.type === 'float32') add(`CAST(? AS FLOAT)::DOUBLE`, str, v, x => x);
      else if (c.type === 'uuid') add(`CAST(? AS UUID)::VARCHAR`, str, v, x => String(x).toLowerCase());
      else if (c.type === 'binary' && str.length % 4 === 0) add(`lower(hex(from_base64(?)))`, str, v, x => x);
      else if (c.type.startsWith('decimal(') && !/[eE]/.test(str)) add(`CAST(? AS ${c.type.toUpperCase()})::VARCHAR`, str, v, x => PQ.canonicalDecimal(x, Number(/,(\d+)\)/.exec(c.type)[1])));
      else if (unit) {
        // DuckDB rounds fractions past µs: cut them; DuckDB answers µs, compared with the model at µs or ms
        const s6 = str.replace(/(\.\d{6})\d+/, '$1').replace(/^(\d{4}-\d\d-\d\d)[Tt ]/, '$1 ');
        const hasOffset = /(Z|[+-]\d\d:\d\d)$/.test(str);
        const want = unit.unit === 'ns' ? PQ.convertTimestamp(v, 'ns', 'us', { floor: true }) : v;
        add(`epoch_us(CAST(? AS ${hasOffset ? 'TIMESTAMPTZ' : 'TIMESTAMP'}))`, s6, want, x => unit.unit === 'ms' ? PQ.convertTimestamp(BigInt(x), 'us', 'ms', { floor: true }) : BigInt(x));
      }
    });
  }
  const lit = s => `'${String(s).replaceAll("'", "''")}'`;
  for (let i = 0; i < checks.length; i += 200) {
    const part = checks.slice(i, i + 200);
    const row = (await PQ.duckdbQuery(`SELECT ${part.map((k, j) => `${k.sql.replace('?', lit(k.text))} AS c${j}`).join(', ')}`))[0];
    part.forEach((k, j) => {
      const got = row[`c${j}`] === null ? null : k.post(row[`c${j}`]);
      p.check(PQ.sameValue(got, k.want), () => `${k.c.name} (${k.c.type}): text ${JSON.stringify(k.text)}: DuckDB ${show(got)}, model ${show(k.want)}`);
    });
  }
  p.check(checks.length > 80 * TYPES.length, `only ${checks.length} cross-checks`);
  p.assertNone('generator');
});

for (const spec of SPECS) {
  step(`matrix ${spec.name}: ${spec.rows} rows; ${[spec.rowGroupRows && `row groups of ${spec.rowGroupRows} rows`, spec.rowGroupBytes && `row groups of ${spec.rowGroupBytes} bytes`, spec.pageBytes && `pages of ${spec.pageBytes} bytes`, spec.dictMax && `dictionary limit ${spec.dictMax}`, spec.level !== null && `level ${spec.level}`, spec.noPageIndex && 'no page index', spec.inMemory && 'in memory', spec.stdin && 'stdin', spec.bloom.length && 'bloom filters', spec.allNull && 'all nullable columns null'].filter(Boolean).join(', ') || 'defaults'}`, async () => {
    await checkConverted(spec, build(spec));
  });
}

// ns timestamps at the exact ends of int64 (1677-09-21T00:12:43.145224192Z .. 2262-04-11T23:47:16.854775807Z).
// DuckDB is left out: it reads INT64_MAX / INT64_MIN + 1 as +-infinity and fails on such statistics.
step('ns timestamps at the int64 ends (Polars, arrow-rs, hyparquet)', async () => {
  const base = join(dir(), 'ns-ends');
  writeFileSync(`${base}.schema.json`, JSON.stringify({ columns: [{ name: 'utc', type: 'timestamp', unit: 'ns', nullable: false }, { name: 'local', type: 'timestamp', unit: 'ns', utc: false }] }));
  writeFileSync(`${base}.ndjson`, D.NS_ENDS.map(e => `{"utc":${e.json},"local":${e.json}}\n`).join(''));
  const r = convert(['--schema', `${base}.schema.json`, '--input', `${base}.ndjson`, '--output', `${base}.parquet`]);
  assert.equal(r.status, 0, `exit ${r.status}\n${r.stderr}`);
  assert.deepEqual(rejectLines(r.stderr), [], 'rejected');
  const p = new Problems();
  for (const res of await PQ.readAll(`${base}.parquet`, { engines: ['polars', 'arrow-rs', 'hyparquet'] })) {
    if (res.error) { p.add(`${res.engine}: ${res.error.split('\n')[0]}`); continue; }
    p.check(res.schema.map(c => c.type).join() === 'timestamp_ns,timestamp_ntz_ns', `${res.engine}: types ${res.schema.map(c => c.type).join()}`);
    D.NS_ENDS.forEach((e, i) => {
      for (const c of ['utc', 'local']) p.check(res.rows[i]?.[c] === e.value, () => `${res.engine}: row ${i + 1} ${c}: got ${show(res.rows[i]?.[c])}, want ${show(e.value)} for ${e.json}`);
    });
  }
  p.assertNone('ns ends');
});

step('--in-memory writes the same bytes as streaming', () => {
  const spec = SPECS.find(s => s.name === 'zstd-v2-auto');
  const one = build({ ...spec, name: 'same-streaming', inMemory: false, stdin: false });
  const two = build({ ...spec, name: 'same-in-memory', inMemory: true, stdin: false });
  assert.equal(one.r.status, 0, one.r.stderr); assert.equal(two.r.status, 0, two.r.stderr);
  assert.ok(readFileSync(one.out).equals(readFileSync(two.out)), `${one.out} and ${two.out} differ`);
});

step('rejected records: stderr names each line and column; the other rows are written', async () => {
  const p = new Problems();
  const { lines, bad, goodCount } = D.buildErrorFile();
  const base = join(dir(), 'errors');
  writeFileSync(`${base}.schema.json`, JSON.stringify(D.ERROR_SCHEMA));
  writeFileSync(`${base}.ndjson`, lines.join('\n') + '\n');
  const r = convert(['--schema', `${base}.schema.json`, '--input', `${base}.ndjson`, '--output', `${base}.parquet`, '--stats']);
  assert.equal(r.status, 0, `exit ${r.status}; rejected records must not fail the run\n${cut(r.stderr, 3000)}`);
  const got = new Map();
  for (const l of rejectLines(r.stderr)) {
    const m = /^line (\d+): column (\S+): (.+)$/.exec(l);
    if (!m) { p.add(`stderr line not "line N: column C: reason": ${JSON.stringify(l)}`); continue; }
    if (got.has(Number(m[1]))) p.add(`line ${m[1]} reported twice: ${JSON.stringify(l)}`);
    got.set(Number(m[1]), { column: m[2], reason: m[3] });
  }
  for (const b of bad) {
    const g = got.get(b.line);
    if (!g) { p.add(`line ${b.line} (${b.what}) not reported; input ${cut(lines[b.line - 1])}`); continue; }
    p.check(g.column === b.column, `line ${b.line} (${b.what}): column ${g.column}, want ${b.column}; reason ${g.reason}`);
    p.check(g.reason.trim().length > 0, `line ${b.line}: empty reason`);
    got.delete(b.line);
  }
  for (const [n, g] of got) p.add(`line ${n} reported (${g.column}: ${g.reason}) but it is valid: ${cut(lines[n - 1])}`);
  const st = parseStats(r.stdout);
  p.check(st && st.rows === goodCount && st.rejected === bad.length, `stats ${JSON.stringify(st)}, want rows ${goodCount} rejected ${bad.length}`);
  const results = existsSync(`${base}.parquet`) ? await PQ.readAll(`${base}.parquet`) : [];
  p.check(results.length > 0, 'no output file');
  for (const res of results) {
    if (res.error) { p.add(`${res.engine}: ${res.error.split('\n')[0]}`); continue; }
    p.check(res.rows.length === goodCount, `${res.engine}: ${res.rows.length} rows, want ${goodCount}`);
    const types = new Map(res.schema.map(c => [c.name, c.type]));
    const norm = { i8: 'int8', u8: 'uint8', i16: 'int16', u16: 'uint16', i32: 'int32', u32: 'uint32', i64: 'int64', u64: 'uint64', f32: 'float32', f64: 'float64', d9: 'decimal(9,2)', d38: 'decimal(38,0)', bin: 'binary', uu: 'uuid', dt: 'date', tm: 'time', tsns: 'timestamp_ns', tsutc: 'timestamp', js: 'json', req: 'int32', ok: 'bool' };
    res.rows.forEach((row, i) => {
      for (const [k, v] of Object.entries(D.ERROR_GOOD_ROW)) {
        const want = engineExpected(res.engine, { type: norm[k] }, types.get(k), v);
        if (!PQ.sameValue(row[k] ?? null, want)) p.add(`${res.engine}: row ${i + 1} ${k}: got ${show(row[k])}, want ${show(want)}`);
      }
    });
  }
  p.assertNone('rejected records');
});

step('every record rejected: exit 0 and a file with 0 rows', async () => {
  const base = join(dir(), 'all-rejected');
  writeFileSync(`${base}.schema.json`, JSON.stringify({ columns: [{ name: 'a', type: 'int8', nullable: false }] }));
  writeFileSync(`${base}.ndjson`, '{"a":300}\n{"a":-129}\n{"a":"x"}\n');
  const r = convert(['--schema', `${base}.schema.json`, '--input', `${base}.ndjson`, '--output', `${base}.parquet`]);
  assert.equal(r.status, 0, `exit ${r.status}\n${r.stderr}`);
  assert.deepEqual(rejectLines(r.stderr).map(l => /^line (\d+): column (\S+):/.exec(l)?.slice(1).join(' ')), ['1 a', '2 a', '3 a']);
  for (const res of await PQ.readAll(`${base}.parquet`)) {
    assert.ok(!res.error, `${res.engine}: ${res.error}`);
    assert.equal(res.rows.length, 0, `${res.engine}: rows`);
  }
});

step('usage and failures: exit 2 for usage, 1 for failures, no output file left behind', () => {
  const base = join(dir(), 'usage');
  writeFileSync(`${base}.schema.json`, JSON.stringify({ columns: [{ name: 'a', type: 'int64' }] }));
  writeFileSync(`${base}.bad-schema.json`, JSON.stringify({ columns: [{ name: 'a', type: 'int128' }] }));
  writeFileSync(`${base}.bad-encoding.json`, JSON.stringify({ columns: [{ name: 's', type: 'string', encoding: 'byte_stream_split' }] }));
  writeFileSync(`${base}.ndjson`, '{"a":1}\n');
  const p = new Problems();
  const cases = [
    ['no --output', ['--schema', `${base}.schema.json`, '--input', `${base}.ndjson`], 2],
    ['unknown option', ['--schema', `${base}.schema.json`, '--input', `${base}.ndjson`, '--output', `${base}.1.parquet`, '--frobnicate'], 2],
    ['unknown codec', ['--schema', `${base}.schema.json`, '--input', `${base}.ndjson`, '--output', `${base}.2.parquet`, '--compression', 'lzo'], 2],
    ['page version 3', ['--schema', `${base}.schema.json`, '--input', `${base}.ndjson`, '--output', `${base}.3.parquet`, '--page-version', '3'], 2],
    ['missing input file', ['--schema', `${base}.schema.json`, '--input', `${base}.missing.ndjson`, '--output', `${base}.4.parquet`], 1],
    ['missing schema file', ['--schema', `${base}.missing.json`, '--input', `${base}.ndjson`, '--output', `${base}.5.parquet`], 1],
    ['unknown type in the schema', ['--schema', `${base}.bad-schema.json`, '--input', `${base}.ndjson`, '--output', `${base}.6.parquet`], 1],
    ['byte_stream_split on a string', ['--schema', `${base}.bad-encoding.json`, '--input', `${base}.ndjson`, '--output', `${base}.7.parquet`], 1],
  ];
  for (const [what, args, code] of cases) {
    const r = convert(args);
    p.check(r.status === code, `${what}: exit ${r.status}, want ${code}; stderr ${cut(r.stderr, 300)}`);
    p.check(r.stderr.trim().length > 0, `${what}: nothing on stderr`);
    const out = args[args.indexOf('--output') + 1];
    if (args.includes('--output')) p.check(!existsSync(out), `${what}: ${out} exists`);
  }
  p.assertNone('usage');
});

step('no sanitizer reports in any ursa convert run', () => {
  assert.deepEqual(sanitizer, [], sanitizer.join('\n'));
});
