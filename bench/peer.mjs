#!/usr/bin/env node
// peer.mjs — one peer measurement in its own process (started by bench/convert.mjs, one process per run).
//
//   node bench/peer.mjs --engine polars|duckdb --mode convert|write --input F.ndjson --output F.parquet [--threads 2]
//                       [--corpus tidy|real]
//
//   convert  NDJSON -> Parquet zstd, timed from the first read to the closed file:
//              polars  scanJson(F, {schema}).collect() (what read_ndjson does; ts read as a string, then
//                      str.strptime('%Y-%m-%dT%H:%M:%S%.fZ') -> Datetime(us, UTC); with --corpus real, whose
//                      timestamps carry offsets and 0-9 fraction digits, str.strptime('%+') converted to UTC)
//                      + DataFrame.writeParquet(zstd)
//              duckdb  COPY (FROM read_json(F, columns = {...})) TO out (FORMAT parquet, COMPRESSION zstd)
//   write    the NDJSON is loaded first (not timed), then only the write is timed:
//              polars  DataFrame.writeParquet(out, zstd) of the DataFrame in memory
//              duckdb  COPY t TO out (FORMAT parquet, COMPRESSION zstd) of a table loaded by CREATE TABLE t AS FROM read_json(...)
//
// Both peers get the column types (as Ursa gets its schema): ts as a UTC timestamp in µs, user_id int64,
// value float64, ok bool, the rest strings. Threads: Polars reads POLARS_MAX_THREADS (set by the caller before
// this process starts), DuckDB gets SET threads. Prints one JSON line:
//   {engine, mode, rows, load_seconds, write_seconds, total_seconds, bytes, threads, version}
// (total_seconds is the timed part: the whole conversion, or the write alone).
import { statSync } from 'node:fs';
import { importPeer, requireFromTests } from './peer-import.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const engine = opt('--engine'), mode = opt('--mode', 'convert'), input = opt('--input'), output = opt('--output');
const threads = Number(opt('--threads', 2)), corpus = opt('--corpus', 'tidy');
if (!engine || !input || !output || !['convert', 'write'].includes(mode) || !['tidy', 'real'].includes(corpus)) {
  console.error('usage: node bench/peer.mjs --engine polars|duckdb --mode convert|write --input F.ndjson --output F.parquet [--threads 2] [--corpus tidy|real]');
  process.exit(2);
}
const now = () => Number(process.hrtime.bigint()) / 1e9;
const sqlStr = s => "'" + String(s).replaceAll("'", "''") + "'";

async function polars() {
  const plmod = await importPeer('nodejs-polars');
  const pl = plmod.default ?? plmod;
  if (String(process.env.POLARS_MAX_THREADS) !== String(threads)) throw new Error(`set POLARS_MAX_THREADS=${threads} before starting this process`);
  // ts is read as a string and parsed with its explicit format: Polars' JSON reader given a Datetime column
  // parses it about 16x slower (11.5 s against 0.7 s for 1 M rows, nodejs-polars 0.26.1), and a plain cast of
  // the string to Datetime(us, UTC) gives nulls. Every ts in the tidy file is UTC ("Z"); the realistic corpus's
  // are RFC 3339 with Z or offsets: '%+' (the tidy format gives null for an offset, '%.f%:z' null for "Z").
  const schema = { ts: pl.Utf8, user_id: pl.Int64, event: pl.Utf8, value: pl.Float64, ok: pl.Bool, country: pl.Utf8, payload: pl.Utf8 };
  const parseTs = corpus === 'real' ? pl.col('ts').str.strptime(pl.Datetime('ms'), '%+').dt.convertTimeZone('UTC')
    : pl.col('ts').str.strptime(pl.Datetime('ms'), '%Y-%m-%dT%H:%M:%S%.fZ').dt.replaceTimeZone('UTC');
  const t0 = now();
  const df = await pl.scanJson(input, { schema }).withColumns(parseTs).collect();
  const t1 = now();
  df.writeParquet(output, { compression: 'zstd' });
  const t2 = now();
  const version = requireFromTests('nodejs-polars/package.json').version;
  return { rows: df.height, load_seconds: t1 - t0, write_seconds: t2 - t1, total_seconds: mode === 'write' ? t2 - t1 : t2 - t0, version };
}

async function duckdb() {
  const { DuckDBInstance } = await importPeer('@duckdb/node-api');
  const inst = await DuckDBInstance.create(':memory:', { threads: String(threads) });
  const con = await inst.connect();
  const q = async sql => (await con.runAndReadAll(sql)).getRowObjects();
  const src = `read_json(${sqlStr(input)}, format = 'newline_delimited', columns = {ts: 'TIMESTAMPTZ', user_id: 'BIGINT', event: 'VARCHAR', value: 'DOUBLE', ok: 'BOOLEAN', country: 'VARCHAR', payload: 'VARCHAR'})`;
  const copyOpts = `(FORMAT parquet, COMPRESSION zstd)`;
  let rows, load = 0, write;
  const t0 = now();
  if (mode === 'write') {
    await q(`CREATE TABLE t AS FROM ${src}`);
    load = now() - t0;
    const t1 = now();
    rows = (await q(`COPY t TO ${sqlStr(output)} ${copyOpts}`))[0]?.Count;
    write = now() - t1;
  } else {
    rows = (await q(`COPY (FROM ${src}) TO ${sqlStr(output)} ${copyOpts}`))[0]?.Count;
    write = now() - t0;
  }
  const version = (await q('SELECT version() AS v'))[0].v;
  return { rows: Number(rows), load_seconds: load, write_seconds: mode === 'write' ? write : null, total_seconds: write, version };
}

const res = engine === 'polars' ? await polars() : engine === 'duckdb' ? await duckdb() : null;
if (!res) { console.error(`unknown engine ${engine}`); process.exit(2); }
console.log(JSON.stringify({ engine, mode, threads, ...res, bytes: statSync(output).size, peak_rss_bytes: process.resourceUsage().maxRSS * 1024 }));
