// reader.test.mjs — the Parquet reader through `ursa cat` and `ursa inspect` on every file of
// ../shared/parquet-testing/data (a copy of apache/parquet-testing beside the repository), every value
// compared with DuckDB's reading of the same file.
//
//   URSA_BIN=build/ursa node --test tests/integration/reader.test.mjs     (URSA_TEST_TMP: temp dir)
//
// How values are compared (exactly): `ursa cat` prints NDJSON in ingest's conventions; this test parses it
// keeping every number's text, and turns each value into pqread.mjs's normalized form for the type DuckDB
// reports for that column: integers -> BigInt of the printed digits; floats -> Number of the printed
// shortest text (float32 through Math.fround; "NaN"/"Infinity"/"-Infinity" strings -> the number);
// decimals -> the printed exact string (DuckDB's normalized decimal has the same S fraction digits);
// binary -> the base64 decoded, as hex; uuid, date, string -> the text; json -> the printed raw text;
// time -> µs from "HH:MM:SS.ffffff"; timestamps -> BigInt in DuckDB's unit from the RFC 3339 text.
// Then every row and every column must be identical (Object.is, BigInt ===). FLOAT16 columns (pqread has
// no float16 type, arrow-rs tags the value with its text) are compared as numbers.
//
// Every file of data/ is in exactly one of three sets, so nothing is skipped silently:
//   - read equal to DuckDB (all the others);
//   - NESTED: files with LIST/MAP/struct columns: `ursa cat` without --columns must fail naming the nested
//     column, and with --columns of its flat columns (from `ursa inspect --json`) must equal DuckDB there;
//   - EXPECTED_ERROR: files Ursa refuses on purpose, each with the error it must give.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, existsSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { URSA_BIN, makeTempDir, removeTempDirs, parseLine, normalize } from './helpers.mjs';
import * as PQ from '../tools/pqread.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DATA = join(ROOT, '..', 'shared', 'parquet-testing', 'data');
const BAD_DATA = join(ROOT, '..', 'shared', 'parquet-testing', 'bad_data');

// Files Ursa refuses on purpose, with the error each must give (a regular expression on stderr).
const EXPECTED_ERROR = {
  // The page CRCs are wrong on purpose (parquet-testing's checksum tests); DuckDB does not check CRCs.
  'datapage_v1-corrupt-checksum.parquet': /row group 0, column a, page 0: CRC mismatch/,
  'rle-dict-uncompressed-corrupt-checksum.parquet': /row group 0, column long_field, page 0: CRC mismatch/,
  // A dictionary page whose size runs past its column chunk (arrow's malformed-dictionary test); DuckDB
  // reads past the chunk's declared end, Ursa does not.
  'nation.dict-malformed.parquet': /row group 0, column name, page 1: compressed size 28 past the chunk's end/,
  // INT96 values outside int64 microseconds (year 290,000 and beyond); DuckDB wraps them around silently.
  'int96_from_spark.parquet': /row group 0, column a, page 0: PLAIN INT96: value 4 .* not a timestamp in range/,
};

// Files DuckDB cannot read (the error it gives): compared with arrow-rs (parquet-wasm, pqread.mjs) instead.
const OTHER_REFERENCE = {
  // "BYTE_STREAM_SPLIT encoding is only supported for FLOAT or DOUBLE data"
  'byte_stream_split_extended.gzip.parquet': 'arrow-rs',
  // 'Unsupported compression codec "LZ4"' (the deprecated Hadoop-framed LZ4, codec 5)
  'hadoop_lz4_compressed.parquet': 'arrow-rs',
  'hadoop_lz4_compressed_larger.parquet': 'arrow-rs',
  'non_hadoop_lz4_compressed.parquet': 'arrow-rs',
};

// Files with nested columns: the column the full `ursa cat` must name.
const NESTED = {
  'datapage_v2.snappy.parquet': 'e.list.element',
  'incorrect_map_schema.parquet': 'my_map.key_value.key',
  'large_string_map.brotli.parquet': 'arr.key_value.key',
  'list_columns.parquet': 'int64_list.list.item',
  'map_no_value.parquet': 'my_map.key_value.key',
  'nested_lists.snappy.parquet': 'a.list.element.list.element.list.element',
  'nested_maps.snappy.parquet': 'a.key_value.key',
  'nested_structs.rust.parquet': 'roll_num.min',
  'nonnullable.impala.parquet': 'Int_Array.list.element',
  'null_list.parquet': 'emptylist.list.item',
  'nullable.impala.parquet': 'int_array.list.element',
  'nulls.snappy.parquet': 'b_struct.b_c_int',
  'old_list_structure.parquet': 'a.array.array',
  'repeated_no_annotation.parquet': 'phoneNumbers.phone.number',
  'repeated_primitive_no_list.parquet': 'Int32_list',
};

after(async () => {
  await PQ.close();
  removeTempDirs();
});

function ursa(args) {
  return spawnSync(URSA_BIN, args, { encoding: 'utf8', maxBuffer: 1 << 30, timeout: 120_000 });
}

function fmt(v) {
  return typeof v === 'bigint' ? `${v}n` : JSON.stringify(v);
}

// Compares `ursa cat` output (only `columns` when given) with DuckDB's rows; returns a list of differences.
async function compare(file, columns, path = join(DATA, file)) {
  const args = ['cat', path];
  if (columns) args.push('--columns', columns.join(','));
  const r = ursa(args);
  if (r.status !== 0) return [`ursa cat failed: ${r.stderr.trim()}`];
  const lines = r.stdout.split('\n').filter(l => l.length);
  const engine = OTHER_REFERENCE[file] ?? 'duckdb';
  const duck = await PQ.readWith(engine, path);
  const diffs = [];
  if (lines.length !== duck.rows.length) diffs.push(`${lines.length} rows, ${engine} ${duck.rows.length}`);
  const schema = columns ? duck.schema.filter(c => columns.includes(c.name)) : duck.schema;
  if (columns) assert.equal(schema.length, columns.length, `${file}: DuckDB has the columns ${columns}`);
  for (let i = 0; i < Math.min(lines.length, duck.rows.length) && diffs.length < 5; i++) {
    const { row, raw } = parseLine(lines[i]);
    assert.deepEqual(Object.keys(row), schema.map(c => c.name), `${file}: column names`);
    for (const c of schema) {
      let got = normalize(row[c.name], raw[c.name], c.type);
      let want = duck.rows[i][c.name] ?? null;
      if (c.type === 'other' && c.raw === 'Float16' && typeof want === 'string') {
        // pqread has no float16 type: arrow-rs's value is tagged with its text; Ursa reads FLOAT16 as
        // float32 (exact: every half is a float). Compared as numbers.
        want = Number(want.slice(engine.length + 1));
        got = normalize(row[c.name], raw[c.name], 'float32');
      }
      if (!PQ.sameValue(got, want)) diffs.push(`row ${i} column ${c.name} (${c.type}, ${engine} ${c.raw}): ursa ${raw[c.name]} -> ${fmt(got)}, ${engine} ${fmt(want)}`);
    }
  }
  return diffs;
}

const files = existsSync(DATA) ? readdirSync(DATA).filter(f => f.endsWith('.parquet')).sort() : [];

test('parquet-testing is there', () => {
  assert.ok(files.length > 50, `${DATA} holds the parquet-testing files`);
});

for (const file of files) {
  test(`ursa cat ${file}`, async () => {
    if (EXPECTED_ERROR[file]) {
      const r = ursa(['cat', join(DATA, file)]);
      assert.equal(r.status, 1, `${file} must fail`);
      assert.match(r.stderr, EXPECTED_ERROR[file]);
      assert.ok(r.stderr.includes(file), 'the error names the file');
      return;
    }
    if (NESTED[file]) {
      const r = ursa(['cat', join(DATA, file)]);
      assert.equal(r.status, 1, `${file}: the nested column is refused`);
      assert.ok(r.stderr.includes(`column ${NESTED[file]}: a nested column`), r.stderr);
      const info = JSON.parse(ursa(['inspect', '--json', join(DATA, file)]).stdout);
      const flat = info.columns.filter(c => c.ursa_type !== null).map(c => c.name);
      if (flat.length === 0) return; // nothing flat to compare: every leaf is nested
      const diffs = await compare(file, flat);
      assert.deepEqual(diffs, [], `${file} (flat columns ${flat}) differs from DuckDB`);
      return;
    }
    const diffs = await compare(file);
    assert.deepEqual(diffs, [], `${file} differs from DuckDB`);
  });
}

test('ursa inspect: human and JSON', () => {
  const f = join(DATA, 'alltypes_tiny_pages_plain.parquet');
  const h = ursa(['inspect', f]);
  assert.equal(h.status, 0, h.stderr);
  assert.match(h.stdout, /row group 0: 7300 rows/);
  const j = JSON.parse(ursa(['inspect', '--json', f]).stdout);
  assert.equal(j.rows, 7300);
  const id = j.row_groups[0].columns.find(c => c.column === 'id');
  assert.equal(id.page_index, true);
  assert.equal(id.statistics.min, 0);
  assert.equal(id.statistics.max, 7299);
  const bad = ursa(['inspect', join(DATA, 'no-such.parquet')]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /no-such\.parquet/);
});

test('ursa cat: --limit, --columns, csv', () => {
  const f = join(DATA, 'alltypes_plain.parquet');
  const r = ursa(['cat', f, '--columns', 'id,bool_col', '--limit', '2']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '{"id":4,"bool_col":true}\n{"id":5,"bool_col":false}\n');
  const c = ursa(['cat', f, '--columns', 'id,timestamp_col', '--limit', '1', '--format', 'csv']);
  assert.equal(c.stdout, 'id,timestamp_col\n4,2009-03-01T00:00:00.000000Z\n');
  const u = ursa(['cat', f, '--columns', 'nope']);
  assert.equal(u.status, 1);
  assert.match(u.stderr, /no column nope/);
  assert.equal(ursa(['cat']).status, 2);
});

// Ingest's conventions: what `ursa cat` prints is accepted by ingest (here `ursa convert`, the same parser)
// and reads back identically, for every Ursa type with edge values and nulls; and DuckDB agrees with it.
test('ursa cat output round-trips through ingest', async () => {
  const dir = makeTempDir('ursa-reader-');
  const schema = {
    columns: [
      { name: 'ts', type: 'timestamp', nullable: false },
      { name: 'b', type: 'bool' }, { name: 'i8', type: 'int8' }, { name: 'i16', type: 'int16' },
      { name: 'i32', type: 'int32' }, { name: 'i64', type: 'int64' }, { name: 'u8', type: 'uint8' },
      { name: 'u16', type: 'uint16' }, { name: 'u32', type: 'uint32' }, { name: 'u64', type: 'uint64' },
      { name: 'f32', type: 'float32' }, { name: 'f64', type: 'float64' },
      { name: 'd9', type: 'decimal', precision: 9, scale: 2 }, { name: 'd38', type: 'decimal', precision: 38, scale: 10 },
      { name: 's', type: 'string' }, { name: 'bin', type: 'binary' }, { name: 'day', type: 'date' },
      { name: 'tod', type: 'time' }, { name: 'ms', type: 'timestamp', unit: 'ms' },
      { name: 'ns', type: 'timestamp', unit: 'ns', utc: false }, { name: 'id', type: 'uuid' }, { name: 'j', type: 'json' },
    ],
    time_column: 'ts',
  };
  const rows = [
    { ts: '1970-01-01T00:00:00Z', b: true, i8: -128, i16: -32768, i32: -2147483648, i64: '-9223372036854775808', u8: 255,
      u16: 65535, u32: 4294967295, u64: '18446744073709551615', f32: 3.4028234663852886e38, f64: '-0', d9: '-9999999.99',
      d38: '-9999999999999999999999999999.9999999999', s: 'é"\\\n\u0001😀', bin: '', day: '0001-01-01', tod: '00:00:00',
      ms: '1969-12-31T23:59:59.999Z', ns: '2262-04-11T23:47:16.854775807', id: '00000000-0000-0000-0000-000000000000',
      j: { a: [1, 2.5, null], b: 'x' } },
    { ts: '2026-11-23T10:00:00.123456Z', b: false, i8: 127, i16: 32767, i32: 2147483647, i64: '9223372036854775807', u8: 0,
      u16: 0, u32: 0, u64: '0', f32: 1.1, f64: 5e-324, d9: '0.01', d38: '0.0000000001', s: '', bin: 'AAEC/w==',
      day: '9999-12-31', tod: '23:59:59.999999', ms: '2026-01-01T00:00:00Z', ns: '1677-09-21T00:12:43.145224192',
      id: 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', j: 'text' },
    { ts: '2026-11-23T10:00:00Z', b: null, i8: null, i16: null, i32: null, i64: null, u8: null, u16: null, u32: null,
      u64: null, f32: null, f64: null, d9: null, d38: null, s: null, bin: null, day: null, tod: null, ms: null, ns: null,
      id: null, j: null },
  ];
  // int64/uint64 and -0 as JSON numbers (not strings): written by hand.
  const text = rows.map(r => JSON.stringify(r).replace(/"(i64|u64|f64)":"(-?\d+)"/g, '"$1":$2')).join('\n') + '\n';
  writeFileSync(join(dir, 'schema.json'), JSON.stringify(schema));
  writeFileSync(join(dir, 'in.ndjson'), text);
  const conv = (input, output) => {
    const r = ursa(['convert', '--schema', join(dir, 'schema.json'), '--input', join(dir, input), '--output', join(dir, output),
      '--page-version', '2', '--compression', 'snappy']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '', 'no record rejected');
  };
  conv('in.ndjson', 'a.parquet');
  const a = ursa(['cat', join(dir, 'a.parquet')]);
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.stdout.split('\n').length, 4);
  const first = a.stdout.split('\n')[0];
  for (const part of ['"i64":-9223372036854775808', '"u64":18446744073709551615', '"f64":-0', '"f32":3.4028235e+38',
    '"d38":"-9999999999999999999999999999.9999999999"', '"bin":""', '"day":"0001-01-01"', '"tod":"00:00:00.000000"',
    '"ms":"1969-12-31T23:59:59.999Z"', '"ns":"2262-04-11T23:47:16.854775807"', '"j":{"a":[1,2.5,null],"b":"x"}',
    '"ts":"1970-01-01T00:00:00.000000Z"'])
    assert.ok(first.includes(part), `${part} in ${first}`);
  writeFileSync(join(dir, 'a.ndjson'), a.stdout);
  conv('a.ndjson', 'b.parquet');
  const b = ursa(['cat', join(dir, 'b.parquet')]);
  assert.equal(b.stdout, a.stdout, 'cat | ingest | cat is the identity');
  const csv = ursa(['cat', join(dir, 'a.parquet'), '--format', 'csv', '--columns', 's,d9,j']);
  assert.equal(csv.stdout.split('\n')[0], 's,d9,j');
  assert.ok(csv.stdout.includes('"é""\\\n\u0001😀",-9999999.99,"{""a"":[1,2.5,null],""b"":""x""}"'), csv.stdout);
  assert.deepEqual(await compare('a.parquet', null, join(dir, 'a.parquet')), []);
});

// parquet-testing/bad_data: files that broke other readers. Each gives its listed error (never a crash),
// or, when it is readable, reads equal to DuckDB.
const BAD = {
  'ARROW-GH-41317.parquet': /footer: row group 1, column 18 \(timestamp_us_no_tz\): path_in_schema differs/,
  'ARROW-GH-41321.parquet': /column list_boolean\.list\.item: a nested column/,
  'ARROW-GH-43605.parquet': 'equal',
  'ARROW-GH-45185.parquet': /column x\.list\.element: a nested column/,
  'ARROW-GH-47662.parquet': /row group 0, column flba_field, page 0: PLAIN: 100 values of 4 bytes need more than the 364 bytes left/,
  'ARROW-RS-GH-6229-DICTHEADER.parquet': /row group 0, column region_key: chunk at 466 of 125 bytes outside the file's 525 bytes of data/,
  'ARROW-RS-GH-6229-LEVELS.parquet': /column outer\.list\.item\.c: a nested column/,
  'PARQUET-1481.parquet': /footer: SchemaElement\.type: unknown physical type -7/,
};
const badFiles = existsSync(BAD_DATA) ? readdirSync(BAD_DATA).filter(f => f.endsWith('.parquet')).sort() : [];
test('parquet-testing/bad_data: every file listed', () => {
  assert.deepEqual(badFiles, Object.keys(BAD).sort());
});
for (const file of badFiles) {
  test(`ursa cat bad_data/${file}`, async () => {
    const path = join(BAD_DATA, file);
    if (BAD[file] === 'equal') {
      assert.deepEqual(await compare(file, null, path), []);
      return;
    }
    const r = ursa(['cat', path]);
    assert.equal(r.status, 1, `${file} must fail`);
    assert.match(r.stderr, BAD[file]);
    assert.ok(r.stderr.includes(file), 'the error names the file');
  });
}
