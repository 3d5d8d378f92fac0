#!/usr/bin/env node
// check_writer_files.mjs -- checks the sample files that tests/unit/test_pq_write writes
// (ursa_pq_*.parquet, each with an .expect.json sidecar computed in C from the input rows)
// with independent readers.
//
//   node tests/tools/check_writer_files.mjs [DIR]      DIR defaults to $URSA_TEST_TMP or /tmp
//
// The readers come from tests/node_modules (scripts/deps.sh test installs them; $PQPEERS overrides
// the directory that holds node_modules); pqcheck.mjs ($PQCHECK, default
// /work/shared/tools/pqcheck/pqcheck.mjs) is copied next to them to run. Per file it checks:
//   1. pqcheck: DuckDB, Polars, arrow-rs (parquet-wasm) and hyparquet each read the file; every
//      engine's row count and per-column aggregates (nulls, sum/min/max, NaN count, true count,
//      string bytes/distinct/min/max) must equal the sidecar, i.e. what was written.
//   2. DuckDB parquet_file_metadata / parquet_schema / parquet_metadata: created_by, format
//      version, physical and logical types, repetition, and the column chunk statistics (null
//      counts add up, min/max bound the data and are exact unless truncated, exactness flags).
//   3. Statistics-driven pruning: DuckDB (int64, timestamp, double, string) and Polars (int64, string) range and equality
//      filters at the min and max of each column give the same counts as an unprunable filter
//      (DuckDB: an aggregate FILTER clause; Polars: an eager read, then the filter).
//   4. The type matrix (ursa_mx_*.parquet with a .rows.json sidecar of every value as canonical
//      text): DuckDB returns every value exactly (SQL casts to the canonical text), with the
//      Parquet physical/converted types and the DuckDB type of each Ursa type; arrow-rs
//      (parquet-wasm) restores the exact Arrow type from ARROW:schema and the same integers,
//      strings and decimals; Polars and hyparquet read every file to the right row count and
//      null counts; DuckDB's parquet_bloom_probe finds present values and parquet_metadata shows
//      the page index offsets.
// Exit status 0 when every file passes, 1 otherwise.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync, openSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyFileSync } from 'node:fs';

const dir = process.argv[2] ?? process.env.URSA_TEST_TMP ?? '/tmp';
const peers = process.env.PQPEERS ?? join(dirname(fileURLToPath(import.meta.url)), '..');
const pqcheck = join(peers, 'node_modules', '.ursa-pqcheck.mjs');
copyFileSync(process.env.PQCHECK ?? '/work/shared/tools/pqcheck/pqcheck.mjs', pqcheck);
const mod = name => import(join(peers, 'node_modules', name, readPkgMain(name)));
function readPkgMain(name) {
  const pkg = JSON.parse(readFileSync(join(peers, 'node_modules', name, 'package.json')));
  const exp = pkg.exports?.['.'];
  const pick = e => typeof e === 'string' ? e : e?.import?.default ?? e?.import ?? e?.node?.import ?? e?.default ?? e?.node ?? null;
  return pick(exp) ?? pkg.module ?? pkg.main ?? 'index.js';
}

function floorDiv(a, b) { const q = a / b; return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q; }
function isoUs(us) {
  us = BigInt(us); const ms = floorDiv(us, 1000n); const frac = us - ms * 1000n;
  return new Date(Number(ms)).toISOString().replace('Z', String(frac).padStart(3, '0') + 'Z');
}
const enc = new TextEncoder();
const cmpBytes = (a, b) => Buffer.compare(Buffer.from(enc.encode(a)), Buffer.from(enc.encode(b)));
const num = v => v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v === 'NaN' ? NaN : v;

const problems = [];
const fail = (file, msg) => problems.push(`${file}: ${msg}`);

// ---- 1. four engines against the sidecar ----
function checkEngines(file, exp) {
  const tmp = join(tmpdir(), `check_writer_${process.pid}.json`);
  const fd = openSync(tmp, 'w');
  const r = spawnSync(process.execPath, [pqcheck, file, '--rows=2'], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' });
  closeSync(fd);
  let out;
  try { out = JSON.parse(readFileSync(tmp, 'utf8')); } catch { fail(file, `pqcheck output unreadable: ${String(r.stderr).slice(0, 300)}`); return; } finally { rmSync(tmp, { force: true }); }
  for (const [engine, v] of Object.entries(out.engines)) {
    if (v.error) { fail(file, `${engine} failed: ${v.error}`); continue; }
    if (v.rows !== exp.rows) fail(file, `${engine}: ${v.rows} rows, expected ${exp.rows}`);
    for (const [name, e] of Object.entries(exp.columns)) {
      const got = v.checksum[name];
      if (!got) { fail(file, `${engine}: column ${name} missing`); continue; }
      const bad = (what, a, b) => fail(file, `${engine}: ${name}.${what} = ${JSON.stringify(a)}, expected ${JSON.stringify(b)}`);
      if (got.nulls !== e.nulls) bad('nulls', got.nulls, e.nulls);
      if (e.kind === 'int') for (const k of ['sum', 'min', 'max']) { if ((got[k] ?? null) !== e[k] && !(k === 'sum' && e.sum === '0' && got.sum === '0')) bad(k, got[k], e[k]); }
      if (e.kind === 'timestamp') {
        if (got.sum_us !== e.sum) bad('sum_us', got.sum_us, e.sum);
        for (const k of ['min', 'max']) if ((got[k] ?? null) !== (e[k] === null ? null : isoUs(e[k]))) bad(k, got[k], e[k] && isoUs(e[k]));
      }
      if (e.kind === 'bool' && got.true !== e.true) bad('true', got.true, e.true);
      if (e.kind === 'string') for (const k of ['bytes', 'distinct', 'min', 'max']) if ((got[k] ?? null) !== e[k]) bad(k, got[k], e[k]);
      if (e.kind === 'float') {
        if (got.nan !== e.nan) bad('nan', got.nan, e.nan);
        for (const k of ['min', 'max', 'sum']) {
          const want = num(e[k]), have = got[k];
          // JSON turns +-Infinity and NaN into null, and DuckDB's 'inf' strings become NaN: accept
          // null where the expected value is not finite.
          if (want === null || (typeof want === 'number' && !Number.isFinite(want))) { if (have !== null && !Object.is(have, want)) bad(k, have, e[k]); continue; }
          if (typeof have !== 'number' || Math.abs(have - want) > 1e-9 * Math.max(1, Math.abs(want))) bad(k, have, e[k]);
        }
      }
    }
  }
}

// ---- 2 and 3. DuckDB metadata, statistics and pruning; Polars pruning ----
let duck = null, pl = null;
async function q(sql) { return (await duck.runAndReadAll(sql)).getRowObjectsJson(); }
const lit = s => `'${String(s).replaceAll("'", "''")}'`;

async function checkMetadata(file, exp) {
  const f = lit(file);
  const fm = (await q(`SELECT * FROM parquet_file_metadata(${f})`))[0];
  if (!fm.created_by?.startsWith('ursa version ')) fail(file, `created_by ${fm.created_by}`);
  if (Number(fm.num_rows) !== exp.rows) fail(file, `num_rows ${fm.num_rows}`);
  if (!['1', '2'].includes(String(fm.format_version))) fail(file, `format_version ${fm.format_version}`);
  if ((fm.column_orders ?? []).length !== Object.keys(exp.columns).length || !fm.column_orders.every(o => /TypeDefinedOrder/.test(o)))
    fail(file, `column_orders ${JSON.stringify(fm.column_orders)}`);

  const schema = await q(`SELECT * FROM parquet_schema(${f})`);
  if (schema[0].num_children !== String(Object.keys(exp.columns).length)) fail(file, `root num_children ${schema[0].num_children}`);
  const want = { int: ['INT64', null, 'BIGINT'], timestamp: ['INT64', 'TIMESTAMP_MICROS', 'TIMESTAMP WITH TIME ZONE'], float: ['DOUBLE', null, 'DOUBLE'], bool: ['BOOLEAN', null, 'BOOLEAN'], string: ['BYTE_ARRAY', 'UTF8', 'VARCHAR'] };
  for (const el of schema.slice(1)) {
    const e = exp.columns[el.name];
    if (!e) { fail(file, `unexpected column ${el.name}`); continue; }
    const [pt, ct, dt] = want[e.kind];
    if (el.type !== pt || (el.converted_type ?? null) !== ct || el.duckdb_type !== dt) fail(file, `${el.name}: schema ${el.type}/${el.converted_type}/${el.duckdb_type}`);
    if (el.repetition_type !== (e.nullable ? 'OPTIONAL' : 'REQUIRED')) fail(file, `${el.name}: repetition ${el.repetition_type}`);
    if (e.kind === 'string' && el.logical_type !== 'StringType()') fail(file, `${el.name}: logical type ${el.logical_type}`);
    if (e.kind === 'timestamp' && !/isAdjustedToUTC=1.*MICROS=MicroSeconds/.test(el.logical_type ?? '')) fail(file, `${el.name}: logical type ${el.logical_type}`);
  }

  const md = await q(`SELECT * FROM parquet_metadata(${f}) ORDER BY row_group_id, column_id`);
  for (const [name, e] of Object.entries(exp.columns)) {
    const chunks = md.filter(m => m.path_in_schema === name);
    const nulls = chunks.reduce((a, m) => a + Number(m.stats_null_count), 0);
    if (chunks.length && nulls !== e.nulls) fail(file, `${name}: stats null counts add up to ${nulls}, expected ${e.nulls}`);
    for (const m of chunks) {
      const encs = m.encodings.split(', ');
      if (!encs.includes('RLE') || (m.dictionary_page_offset !== null) !== encs.includes('RLE_DICTIONARY'))
        fail(file, `${name} rg ${m.row_group_id}: encodings ${m.encodings} / dictionary page ${m.dictionary_page_offset}`);
      const allNull = Number(m.stats_null_count) === Number(m.num_values);
      if (allNull && (m.stats_min_value !== null || m.stats_max_value !== null)) fail(file, `${name}: min/max on an all-null chunk`);
      if (m.stats_min !== null || m.stats_max !== null) fail(file, `${name}: deprecated min/max written`);
      if (e.kind === 'int') {
        if (!allNull && (m.stats_min_value === null || m.stats_max_value === null)) fail(file, `${name}: no min/max`);
        if (m.stats_min_value !== null && (BigInt(m.stats_min_value) < BigInt(e.min) || BigInt(m.stats_max_value) > BigInt(e.max))) fail(file, `${name}: stats outside the data`);
      }
      if (e.kind === 'string' && m.stats_min_value !== null) {
        // An exact bound lies within the data; an inexact one is a prefix (min) or a prefix with
        // its last character bumped (max), at most 64 bytes either way.
        if (m.min_is_exact && cmpBytes(m.stats_min_value, e.min) < 0) fail(file, `${name}: exact stats min below the data min`);
        if (m.stats_max_value !== null && m.max_is_exact && cmpBytes(m.stats_max_value, e.max) > 0) fail(file, `${name}: exact stats max above the data max`);
        if (!m.min_is_exact && enc.encode(m.stats_min_value).length > 64) fail(file, `${name}: inexact min longer than 64 bytes`);
        if (m.stats_max_value !== null && !m.max_is_exact && enc.encode(m.stats_max_value).length > 68) fail(file, `${name}: inexact max too long`);
      }
    }
    const withStats = chunks.filter(m => m.stats_min_value !== null);
    if (e.kind === 'int' && e.min !== null) {
      const mn = withStats.reduce((a, m) => BigInt(m.stats_min_value) < a ? BigInt(m.stats_min_value) : a, BigInt(e.max));
      const mx = withStats.reduce((a, m) => BigInt(m.stats_max_value) > a ? BigInt(m.stats_max_value) : a, BigInt(e.min));
      if (String(mn) !== e.min || String(mx) !== e.max) fail(file, `${name}: stats ${mn}..${mx}, data ${e.min}..${e.max}`);
    }
    if (e.kind === 'string' && e.min !== null) {
      // The smallest min bounds the data min from below (equal when exact); the largest max
      // bounds the data max from above (equal when exact; absent when no bound exists).
      const mins = withStats.map(m => m).sort((a, b) => cmpBytes(a.stats_min_value, b.stats_min_value));
      const maxs = withStats.filter(m => m.stats_max_value !== null).sort((a, b) => cmpBytes(a.stats_max_value, b.stats_max_value));
      const lo = mins[0], hi = maxs[maxs.length - 1];
      if (!lo || cmpBytes(lo.stats_min_value, e.min) > 0 || (lo.min_is_exact && lo.stats_min_value !== e.min)) fail(file, `${name}: stats min ${lo?.stats_min_value} vs data min`);
      if (maxs.length === withStats.length && (!hi || cmpBytes(hi.stats_max_value, e.max) < 0 || (hi.max_is_exact && hi.stats_max_value !== e.max))) fail(file, `${name}: stats max ${hi?.stats_max_value} vs data max`);
      if (enc.encode(e.min).length <= 64 && !lo?.min_is_exact) fail(file, `${name}: short min not marked exact`);
    }
    if (e.kind === 'float') {
      for (const m of chunks) if (m.stats_min_value !== null && /nan/i.test(m.stats_min_value + m.stats_max_value)) fail(file, `${name}: NaN in stats`);
    }
  }

  // Pruning: filters that DuckDB and Polars push down to row-group statistics must count the
  // same rows as a filter evaluated on every row.
  for (const [name, e] of Object.entries(exp.columns)) {
    if (e.min === null || e.min === undefined || exp.rows === 0) continue;
    const id = `"${name}"`;
    let vals;
    if (e.kind === 'int') vals = [e.min, e.max].map(v => `CAST('${v}' AS BIGINT)`);
    else if (e.kind === 'timestamp') vals = [e.min, e.max].map(v => `make_timestamp(CAST('${v}' AS BIGINT))::TIMESTAMPTZ`);
    else if (e.kind === 'float') vals = [e.min, e.max].filter(v => typeof v === 'number').map(v => `${v}::DOUBLE`);
    else if (e.kind === 'string') vals = [e.min, e.max].filter(v => v.length < 1000).map(lit);
    else continue;
    for (const v of vals) for (const op of ['=', '>=', '<=', '>', '<']) {
      const [a] = await q(`SELECT count(*)::VARCHAR n FROM read_parquet(${f}) WHERE ${id} ${op} ${v}`);
      const [b] = await q(`SELECT (count(*) FILTER (WHERE ${id} ${op} ${v}))::VARCHAR n FROM read_parquet(${f})`);
      if (a.n !== b.n) fail(file, `duckdb pruning: ${name} ${op} ${v}: ${a.n} rows, full scan ${b.n}`);
    }
  }
  if (pl && exp.rows > 0) {
    for (const [name, e] of Object.entries(exp.columns)) {
      if (!['int', 'string'].includes(e.kind) || e.min === null) continue;
      for (const v of [e.min, e.max]) {
        if (e.kind === 'string' && v.length >= 1000) continue;
        const val = e.kind === 'int' ? pl.lit(String(v)).cast(pl.Int64) : pl.lit(v);
        for (const op of ['eq', 'gtEq', 'ltEq', 'gt', 'lt']) {
          const lazy = pl.scanParquet(file).filter(pl.col(name)[op](val)).select(pl.len()).collectSync();
          const full = pl.readParquet(file).filter(pl.col(name)[op](val)).height;
          const n = Number(lazy.toRecords()[0].len);
          if (n !== full || (op === 'eq' && n === 0)) fail(file, `polars pruning: ${name} ${op} ${v}: ${n} rows, full read ${full}`);
        }
      }
    }
  }
}

// ---- 4. the type matrix ----
const duckCanon = {
  bool: x => `${x}::VARCHAR`, date: x => `(${x} - DATE '1970-01-01')::VARCHAR`,
  time: x => `(epoch_us(${x}))::VARCHAR`, uuid: x => `replace(${x}::VARCHAR, '-', '')`, binary: x => `lower(hex(${x}))`,
  float32: x => `${x}::VARCHAR`, float64: x => `${x}::VARCHAR`,
};
const duckTypes = {
  bool: ['BOOLEAN', null, 'BOOLEAN'], int8: ['INT32', 'INT_8', 'TINYINT'], int16: ['INT32', 'INT_16', 'SMALLINT'],
  int32: ['INT32', 'INT_32', 'INTEGER'], int64: ['INT64', null, 'BIGINT'], uint8: ['INT32', 'UINT_8', 'UTINYINT'],
  uint16: ['INT32', 'UINT_16', 'USMALLINT'], uint32: ['INT32', 'UINT_32', 'UINTEGER'], uint64: ['INT64', 'UINT_64', 'UBIGINT'],
  float32: ['FLOAT', null, 'FLOAT'], float64: ['DOUBLE', null, 'DOUBLE'], string: ['BYTE_ARRAY', 'UTF8', 'VARCHAR'],
  binary: ['BYTE_ARRAY', null, 'BLOB'], json: ['BYTE_ARRAY', 'JSON', 'JSON'], date: ['INT32', 'DATE', 'DATE'],
  time: ['INT64', 'TIME_MICROS', 'TIME'], uuid: ['FIXED_LEN_BYTE_ARRAY', null, 'UUID'],
};
const arrowTypes = {
  bool: 'Bool', int8: 'Int8', int16: 'Int16', int32: 'Int32', int64: 'Int64', uint8: 'Uint8', uint16: 'Uint16',
  uint32: 'Uint32', uint64: 'Uint64', float32: 'Float32', float64: 'Float64', string: 'Utf8', json: 'Utf8',
  binary: 'Binary', date: 'Date32<DAY>', time: 'Time64<MICROSECOND>', uuid: 'FixedSizeBinary[16]',
};
function expectTypes(c) {
  const unit = ['MILLIS', 'MICROS', 'NANOS'][c.unit], aunit = ['MILLISECOND', 'MICROSECOND', 'NANOSECOND'][c.unit];
  if (c.type === 'decimal') return { pq: [c.precision <= 9 ? 'INT32' : c.precision <= 18 ? 'INT64' : 'FIXED_LEN_BYTE_ARRAY', 'DECIMAL', `DECIMAL(${c.precision},${c.scale})`], arrow: `Decimal[${c.precision}e${c.scale ? '+' + c.scale : '0'}]` };
  if (c.type === 'timestamp') return { pq: ['INT64', c.utc && c.unit < 2 ? `TIMESTAMP_${unit}` : null, c.utc ? 'TIMESTAMP WITH TIME ZONE' : ['TIMESTAMP_MS', 'TIMESTAMP', 'TIMESTAMP_NS'][c.unit]], arrow: `Timestamp<${aunit}${c.utc ? ', UTC' : ''}>` };
  return { pq: duckTypes[c.type], arrow: arrowTypes[c.type] };
}
function duckValue(c, x) {
  if (c.type === 'timestamp') return `(${['epoch_ms', 'epoch_us', 'epoch_ns'][c.unit]}(${x}))::VARCHAR`;
  return (duckCanon[c.type] ?? (y => `${y}::VARCHAR`))(x);
}
const canonFloat = (t, v) => { if (v === null) return null; const n = Number(v); return t === 'float32' ? Math.fround(n) : n; };

async function checkMatrix(file, exp) {
  const f = lit(file), cols = Object.entries(exp.columns);
  const schema = await q(`SELECT * FROM parquet_schema(${f})`);
  for (const el of schema.slice(1)) {
    const c = exp.columns[el.name], [pt, ct, dt] = expectTypes(c).pq;
    if (el.type !== pt || (el.converted_type ?? null) !== ct || el.duckdb_type !== dt)
      fail(file, `${el.name} (${c.type}): duckdb schema ${el.type}/${el.converted_type}/${el.duckdb_type}, expected ${pt}/${ct}/${dt}`);
  }
  const sel = cols.map(([n, c]) => `${duckValue(c, `"${n}"`)} AS "${n}"`).join(', ');
  const rows = await q(`SELECT ${sel} FROM read_parquet(${f})`);
  if (rows.length !== exp.rows) fail(file, `duckdb: ${rows.length} rows`);
  for (const [n, c] of cols) {
    let bad = 0;
    for (let r = 0; r < rows.length && bad < 3; r++) {
      let got = rows[r][n], want = c.values[r];
      if (c.type === 'float32' || c.type === 'float64') { got = canonFloat(c.type, got); want = canonFloat(c.type, want); if (Object.is(got, want) || (got === want)) continue; }
      else if (c.type === 'bool') { got = got === null ? null : got === 'true'; }
      if (c.type === 'timestamp' && c.unit === 2 && c.utc && got !== null && want !== null) { // DuckDB keeps TIMESTAMPTZ in µs
        if (BigInt(got) - BigInt(want) < 1000n && BigInt(want) - BigInt(got) < 1000n) continue;
      }
      if (got !== want && !(typeof want === 'string' && got === want)) { bad++; fail(file, `duckdb: ${n} row ${r}: ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`); }
    }
  }
  const md = await q(`SELECT path_in_schema, bloom_filter_offset, encodings FROM parquet_metadata(${f})`);
  for (const [n, c] of cols) {
    if (!c.bloom || exp.rows === 0) continue;
    const v = c.values.find(x => x !== null);
    if (v === undefined || ['float32', 'float64', 'bool', 'binary', 'uuid', 'decimal', 'time', 'date', 'timestamp'].includes(c.type)) continue;
    const probe = await q(`SELECT bool_and(bloom_filter_excludes) ex, count(*) n FROM parquet_bloom_probe(${f}, '${n}', ${lit(v)})`);
    // The value is in row group 0; other row groups may rightly exclude it.
    if (probe[0].ex !== false) fail(file, `bloom: every row group of ${n} excludes the present value ${v}`);
    if (md.filter(m => m.path_in_schema === n).some(m => m.bloom_filter_offset === null)) fail(file, `bloom: ${n} has no bloom_filter_offset`);
  }
  // arrow-rs through parquet-wasm: exact Arrow types from ARROW:schema, and values.
  const buf = readFileSync(file);
  const pw = await import(join(peers, 'node_modules', 'parquet-wasm', 'node', 'parquet_wasm.js')), arrow = await mod('apache-arrow');
  const t = arrow.tableFromIPC(pw.readParquet(new Uint8Array(buf)).intoIPCStream());
  if (t.numRows !== exp.rows) fail(file, `arrow-rs: ${t.numRows} rows`);
  for (const fld of t.schema.fields) {
    const c = exp.columns[fld.name], want = expectTypes(c).arrow;
    if (String(fld.type) !== want) fail(file, `arrow-rs: ${fld.name} is ${fld.type}, expected ${want}`);
    if (fld.nullable !== c.nullable) fail(file, `arrow-rs: ${fld.name} nullable ${fld.nullable}`);
    const col = t.getChild(fld.name);
    let bad = 0;
    for (let r = 0; r < t.numRows && bad < 3; r++) {
      const v = col.get(r), want2 = c.values[r];
      let got;
      if (v === null || v === undefined) got = null;
      else if (['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'time'].includes(c.type)) got = String(v);
      else if (c.type === 'string' || c.type === 'json') got = v;
      else if (c.type === 'bool') got = v;
      else if (c.type === 'uuid' || c.type === 'binary') got = Buffer.from(v).toString('hex');
      else continue;
      if (got !== want2) { bad++; fail(file, `arrow-rs: ${fld.name} row ${r}: ${JSON.stringify(got)}, expected ${JSON.stringify(want2)}`); }
    }
  }
  // Polars (the JS binding cannot hand Binary to JS: leave binary columns out) and hyparquet.
  if (pl) {
    const keep = cols.filter(([, c]) => c.type !== 'binary' && c.type !== 'uuid').map(([n]) => n); // both are Binary in Polars
    const d = pl.scanParquet(file).select(...keep).collectSync();
    if (d.height !== exp.rows) fail(file, `polars: ${d.height} rows`);
    for (const n of keep) { const nn = d.getColumn(n).nullCount(), want = exp.columns[n].values.filter(v => v === null).length; if (nn !== want) fail(file, `polars: ${n} has ${nn} nulls, expected ${want}`); }
    const want = { int8: 'Int8', int16: 'Int16', int32: 'Int32', int64: 'Int64', uint8: 'UInt8', uint16: 'UInt16', uint32: 'UInt32', uint64: 'UInt64', float32: 'Float32', float64: 'Float64', date: 'Date', time: 'Time', string: 'String', json: 'String', bool: 'Bool' };
    d.columns.forEach((n, i) => { const w = want[exp.columns[n].type]; if (w && String(d.dtypes[i]).replace(/^DataType\((.*)\)$/, '$1') !== w) fail(file, `polars: ${n} is ${d.dtypes[i]}, expected ${w}`); });
  }
  const { parquetReadObjects, parquetMetadata, readColumnIndex, readOffsetIndex } = await import(join(peers, 'node_modules', 'hyparquet', 'src', 'node.js'));
  const { compressors } = await import(join(peers, 'node_modules', 'hyparquet-compressors', 'src', 'index.js'));
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);
  const hrows = await parquetReadObjects({ file: ab, compressors });
  // The page index, read by hyparquet: an OffsetIndex for every chunk, whose pages start at the
  // data page offset at row 0 and follow each other; a ColumnIndex (when present) with one entry
  // per page and null counts adding up to the chunk's.
  const meta = parquetMetadata(ab);
  meta.row_groups.forEach((rg, ri) => rg.columns.forEach((cc, ci) => {
    const name = cc.meta_data.path_in_schema[0];
    if (cc.offset_index_offset === undefined) { fail(file, `page index: ${name} rg ${ri} has no OffsetIndex`); return; }
    const oi = readOffsetIndex({ view: new DataView(ab, Number(cc.offset_index_offset), cc.offset_index_length), offset: 0 });
    const locs = oi.page_locations;
    if (!locs.length || Number(locs[0].offset) !== Number(cc.meta_data.data_page_offset) || Number(locs[0].first_row_index) !== 0) fail(file, `page index: ${name} rg ${ri} bad first page location`);
    for (let k = 1; k < locs.length; k++) if (Number(locs[k].offset) !== Number(locs[k - 1].offset) + locs[k - 1].compressed_page_size || locs[k].first_row_index <= locs[k - 1].first_row_index) fail(file, `page index: ${name} rg ${ri} page ${k} location`);
    if (cc.column_index_offset !== undefined) {
      const cix = readColumnIndex({ view: new DataView(ab, Number(cc.column_index_offset), cc.column_index_length), offset: 0 }, meta.schema[ci + 1]);
      const nulls = cix.null_counts.reduce((a, b) => a + Number(b), 0);
      if (cix.null_pages.length !== locs.length || nulls !== Number(cc.meta_data.statistics.null_count)) fail(file, `page index: ${name} rg ${ri} ColumnIndex ${cix.null_pages.length} pages, ${nulls} nulls`);
    } else if (!['float32', 'float64'].includes(exp.columns[name].type) && exp.columns[name].values.some(v => v !== null)) {
      fail(file, `page index: ${name} rg ${ri} has no ColumnIndex`);
    }
  }));
  if (hrows.length !== exp.rows) fail(file, `hyparquet: ${hrows.length} rows`);
  for (const [n, c] of cols) {
    const nn = hrows.filter(r => r[n] === null || r[n] === undefined).length, want = c.values.filter(v => v === null).length;
    if (nn !== want) fail(file, `hyparquet: ${n} has ${nn} nulls, expected ${want}`);
    if (['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'string'].includes(c.type)) {
      const r = hrows.findIndex((row, i) => c.values[i] !== null && String(row[n]) !== c.values[i]);
      if (r >= 0) fail(file, `hyparquet: ${n} row ${r}: ${hrows[r][n]}, expected ${c.values[r]}`);
    }
  }
}

const files = readdirSync(dir).filter(n => /^ursa_pq_.*\.parquet$/.test(n)).sort();
const mxFiles = readdirSync(dir).filter(n => /^ursa_mx_.*\.parquet$/.test(n)).sort();
if (!files.length && !mxFiles.length) { console.error(`no ursa_pq_*.parquet in ${dir}: run test_pq_write with URSA_TEST_TMP=${dir}`); process.exit(2); }
const { DuckDBInstance } = await mod('@duckdb/node-api');
duck = await (await DuckDBInstance.create(':memory:')).connect();
try { pl = (await mod('nodejs-polars')).default; } catch (err) { console.error(`polars not loaded: ${err.message}`); }
for (const name of files) {
  const file = join(dir, name), side = file.replace(/\.parquet$/, '.expect.json');
  if (!existsSync(side)) { fail(file, 'no .expect.json sidecar'); continue; }
  const exp = JSON.parse(readFileSync(side, 'utf8'));
  const before = problems.length;
  checkEngines(file, exp);
  try { await checkMetadata(file, exp); } catch (err) { fail(file, `metadata check threw: ${err.message}`); }
  console.log(`${problems.length === before ? 'ok  ' : 'FAIL'} ${name} (${exp.rows} rows)`);
}
for (const name of mxFiles) {
  const file = join(dir, name), side = file.replace(/\.parquet$/, '.rows.json');
  if (!existsSync(side)) { fail(file, 'no .rows.json sidecar'); continue; }
  const exp = JSON.parse(readFileSync(side, 'utf8'));
  const before = problems.length;
  try { await checkMatrix(file, exp); } catch (err) { fail(file, `matrix check threw: ${err.message}`); }
  console.log(`${problems.length === before ? 'ok  ' : 'FAIL'} ${name} (${exp.rows} rows)`);
}
for (const p of problems) console.log('  ' + p);
process.exit(problems.length ? 1 : 0);
