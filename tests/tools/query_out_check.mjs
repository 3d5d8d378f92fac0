#!/usr/bin/env node
// query_out_check.mjs — reads the query answers test_query_out wrote with independent readers and compares every
// value, null and column with what the test put in (<name>.expect.json, written from the test's own vectors):
//   <name>.arrow    apache-arrow JS (tableFromIPC: schema, types, record batch count, raw buffers) and
//                   nodejs-polars (readIPCStream; its DataFrame leaves Polars as an IPC stream decoded by apache-arrow,
//                   so that every value arrives exactly)
//   <name>.parquet  hyparquet, DuckDB, Polars and arrow-rs (parquet-wasm), through pqread.mjs (which normalizes what
//                   they return)
//
//   node query_out_check.mjs DIR NAME...
// <name>.expect.json: {"batches": record batches expected (-1: any), "columns": [{"name", "type"}] (Ursa's execution
// type names), "rows": [[value, ...], ...]} with bigint, timestamp (µs) and date (days) values as decimal strings,
// doubles as strings ("NaN", "Infinity", "-0", %.17g), intervals as [months, days, "µs", "PostgreSQL text"].
// Exit 0 when every reader agrees with every value; the first differences are printed otherwise.
import { readFileSync, existsSync } from 'node:fs';
import { decodeUtf8, isoDate, readWith, close } from './pqread.mjs';

// Polars refuses Arrow's MONTH_DAY_NANO intervals unless told to read them as a struct (months, days, nanoseconds).
process.env.POLARS_IMPORT_INTERVAL_AS_STRUCT = '1';
const A = await import('apache-arrow');
const { default: pl } = await import('nodejs-polars');
const { Type } = A;

let failures = 0;
const printed = new Map(); // where -> differences printed
function fail(where, msg) {
  failures++;
  const n = printed.get(where) ?? 0;
  if (n < 5) console.error(`${where}: ${msg}`);
  printed.set(where, n + 1);
}

/** The expected value of a cell, in the form the readers' values are brought to. */
function want(type, v) {
  if (v === null) return null;
  switch (type) {
    case 'double': return Number(v); // "NaN", "Infinity", "-0" included
    case 'interval': return `${v[0]} mons ${v[1]} days ${BigInt(v[2]) * 1000n} ns`;
    default: return v; // boolean, or a string
  }
}

const same = (a, b) => Object.is(a, b);
const show = v => (typeof v === 'bigint' ? `${v}n` : typeof v === 'number' && Object.is(v, -0) ? '-0' : JSON.stringify(v));

// ---------------------------------------------------------------- Arrow
/** Whether an Arrow field's type is the one a column of Ursa type `type` must have. */
function arrowTypeOk(type, t, polars) {
  switch (type) {
    case 'boolean': return t.typeId === Type.Bool;
    case 'bigint': return t.typeId === Type.Int && t.bitWidth === 64 && t.isSigned;
    case 'double': return t.typeId === Type.Float && t.precision === 2;
    case 'varchar': return t.typeId === Type.Utf8 || (polars && (t.typeId === Type.LargeUtf8 || t.typeId === Type.Utf8View));
    case 'timestamp': return t.typeId === Type.Timestamp && t.unit === 2 /* µs */ && t.timezone === 'UTC';
    case 'date': return t.typeId === Type.Date && t.unit === 0 /* DAY */;
    case 'interval':
      if (polars) return t.typeId === Type.Struct && t.children.map(c => c.name).join() === 'months,days,nanoseconds';
      return t.typeId === Type.Interval && t.unit === 2 /* MONTH_DAY_NANO */;
    case 'null': return t.typeId === Type.Null;
    default: return false;
  }
}

/** The bytes of string j of a Utf8, LargeUtf8 or Utf8View Data chunk. */
function stringBytes(d, j) {
  if (d.type.typeId === Type.Utf8View) {
    const o = j * 16, dv = new DataView(d.values.buffer, d.values.byteOffset + o, 16), len = dv.getInt32(0, true);
    if (len <= 12) return d.values.subarray(o + 4, o + 4 + len);
    const off = dv.getInt32(12, true);
    return d.variadicBuffers[dv.getInt32(8, true)].subarray(off, off + len);
  }
  return d.values.subarray(Number(d.valueOffsets[j]), Number(d.valueOffsets[j + 1]));
}

/** Cell j of a Data chunk of Ursa type `type`, in want()'s form, read from the raw buffers. */
function arrowCell(type, d, j) {
  if (d.type.typeId === Type.Null || !d.getValid(j)) return null;
  switch (type) {
    case 'boolean': return (d.values[(d.offset + j) >> 3] & (1 << ((d.offset + j) & 7))) !== 0;
    case 'bigint': case 'timestamp': case 'date': return String(d.values[j]);
    case 'double': return d.values[j];
    case 'varchar': return decodeUtf8(stringBytes(d, j));
    case 'interval': {
      if (d.type.typeId === Type.Struct) { // Polars: {months, days, nanoseconds}
        const [m, dd, ns] = d.children;
        return `${m.values[j]} mons ${dd.values[j]} days ${BigInt(ns.values[j])} ns`;
      }
      const v = d.values, k = 4 * j; // months, days, nanoseconds (int64 as two int32)
      const ns = BigInt.asIntN(64, (BigInt(v[k + 3] >>> 0) << 32n) | BigInt(v[k + 2] >>> 0));
      return `${v[k]} mons ${v[k + 1]} days ${ns} ns`;
    }
    default: return `<unexpected type ${type}>`;
  }
}

function checkArrowTable(where, table, exp, { polars = false } = {}) {
  const fields = table.schema.fields;
  if (fields.length !== exp.columns.length) return fail(where, `${fields.length} columns, want ${exp.columns.length}`);
  exp.columns.forEach((c, i) => {
    const f = fields[i];
    if (f.name !== c.name) fail(where, `column ${i} is named ${JSON.stringify(f.name)}, want ${JSON.stringify(c.name)}`);
    if (!arrowTypeOk(c.type, f.type, polars)) fail(where, `column ${c.name}: type ${f.type}, want ${c.type}`);
    if (!polars && !f.nullable) fail(where, `column ${c.name} is not nullable`);
  });
  if (table.numRows !== exp.rows.length) return fail(where, `${table.numRows} rows, want ${exp.rows.length}`);
  exp.columns.forEach((c, i) => {
    let r = 0;
    for (const d of table.getChildAt(i).data) {
      for (let j = 0; j < d.length; j++, r++) {
        const got = arrowCell(c.type, d, j), w = want(c.type, exp.rows[r][i]);
        if (!same(got, w)) fail(where, `row ${r}, column ${c.name}: got ${show(got)}, want ${show(w)}`);
      }
    }
  });
}

// ---------------------------------------------------------------- Parquet
const PARQUET_TYPES = { boolean: 'bool', bigint: 'int64', double: 'float64', varchar: 'string', timestamp: 'timestamp',
  date: 'date', interval: 'string', null: 'string' };

/** A reader's normalized value (pqread.mjs) in want()'s form; intervals are their text in Parquet. */
function parquetCell(type, v) {
  if (v === null || v === undefined) return null;
  switch (type) {
    case 'bigint': case 'timestamp': return typeof v === 'bigint' ? String(v) : `<${typeof v} ${v}>`;
    case 'date': return v;
    default: return v;
  }
}

async function checkParquet(where, file, exp, engine) {
  const { rows, schema } = await readWith(engine, file);
  if (schema.length !== exp.columns.length) return fail(where, `${schema.length} columns, want ${exp.columns.length}`);
  exp.columns.forEach((c, i) => {
    if (schema[i].name !== c.name) fail(where, `column ${i} is named ${JSON.stringify(schema[i].name)}, want ${JSON.stringify(c.name)}`);
    if (schema[i].type !== PARQUET_TYPES[c.type]) fail(where, `column ${c.name}: type ${schema[i].type}, want ${PARQUET_TYPES[c.type]}`);
    if (schema[i].nullable === false) fail(where, `column ${c.name} is not nullable`);
  });
  if (rows.length !== exp.rows.length) return fail(where, `${rows.length} rows, want ${exp.rows.length}`);
  rows.forEach((row, r) => {
    exp.columns.forEach((c, i) => {
      const e = exp.rows[r][i];
      let w = want(c.type, e);
      if (c.type === 'interval' && e !== null) w = e[3];
      if (c.type === 'date' && e !== null) w = isoDate(BigInt(e));
      const got = parquetCell(c.type, row[c.name]);
      if (!same(got, w)) fail(where, `row ${r}, column ${c.name}: got ${show(got)}, want ${show(w)}`);
    });
  });
}

// ---------------------------------------------------------------- main
const PARQUET_READERS = ['hyparquet', 'duckdb', 'polars', 'arrow-rs'];
const [dir, ...names] = process.argv.slice(2);
if (!dir || !names.length) {
  console.error('usage: node query_out_check.mjs DIR NAME...');
  process.exit(2);
}
for (const name of names) {
  const exp = JSON.parse(readFileSync(`${dir}/${name}.expect.json`, 'utf8'));
  const arrow = `${dir}/${name}.arrow`, parquet = `${dir}/${name}.parquet`;
  const before = failures;
  if (existsSync(arrow)) {
    const bytes = readFileSync(arrow);
    try {
      checkArrowTable(`${name}.arrow (apache-arrow)`, A.tableFromIPC(bytes), exp);
      // The RecordBatch messages as the stream has them (tableFromIPC makes up an empty batch when there is none).
      const reader = new A.MessageReader(bytes);
      let batches = 0;
      for (let m; (m = reader.readMessage());) {
        if (m.headerType === A.MessageHeader.RecordBatch) batches++;
        if (m.bodyLength) reader.readMessageBody(m.bodyLength);
      }
      if (exp.batches >= 0 && batches !== exp.batches)
        fail(`${name}.arrow (apache-arrow)`, `${batches} record batches, want ${exp.batches}`);
    } catch (e) {
      fail(`${name}.arrow (apache-arrow)`, e.message);
    }
    try {
      const df = pl.readIPCStream(bytes);
      if (df.height !== exp.rows.length) fail(`${name}.arrow (polars)`, `${df.height} rows, want ${exp.rows.length}`);
      checkArrowTable(`${name}.arrow (polars)`, A.tableFromIPC(df.writeIPCStream()), exp, { polars: true });
    } catch (e) {
      fail(`${name}.arrow (polars)`, e.message);
    }
  }
  if (existsSync(parquet)) {
    for (const engine of PARQUET_READERS) {
      try {
        await checkParquet(`${name}.parquet (${engine})`, parquet, exp, engine);
      } catch (e) {
        fail(`${name}.parquet (${engine})`, e.message);
      }
    }
  }
  const readers = [existsSync(arrow) && 'Arrow: apache-arrow, polars', existsSync(parquet) && `Parquet: ${PARQUET_READERS.join(', ')}`];
  if (failures === before) console.log(`ok: ${name}: ${exp.rows.length} rows (${readers.filter(Boolean).join('; ')})`);
}
await close();
if (failures) console.error(`${failures} differences`);
process.exit(failures ? 1 : 0);
