#!/usr/bin/env node
// peer_query.mjs — one peer engine holding its data, answering the queries of bench/query.mjs one at a time
// (started by query.mjs, one process per engine and mode, kept alive for the whole run).
//
//   node bench/peer_query.mjs --engine polars|duckdb --mode mem|scan --files F1.parquet[,F2...] [--threads T]
//
// At start (not timed): mem loads every row of the files into the engine's memory — Polars
// pl.readParquet(F) (pl.concat of several) into a DataFrame, DuckDB CREATE TABLE t AS SELECT * FROM read_parquet([F...])
// — and prints {"ready": true, ...}; scan loads nothing (each query reads the files: Polars pl.scanParquet(F),
// DuckDB read_parquet([F...])).
// Then, for each line {"query": "Q1".."Q5"} on standard input, runs that query and prints one JSON line:
// {query, seconds, cpu_seconds, rows} — seconds and CPU seconds (process.cpuUsage(): every thread) of the query
// alone, from building it to its (tiny) result as JavaScript values; rows the result as arrays in the shape
// query.mjs compares (counts as numbers, sums and averages as doubles).
// The queries (query.mjs holds Ursa's SQL of them):
//   Q1  count of rows with ts in [2026-11-23 12:00, 13:00) UTC
//   Q2  sum(value) by event
//   Q3  count(*), avg(value) by country, event; the 10 largest counts
//   Q4  count(DISTINCT user_id)
//   Q5  count of rows with payload LIKE '%abc%'
// Polars: the lazy API (df.lazy() / scanParquet(...), then .collect()), the plan a Polars SQLContext would build.
// DuckDB: SQL. Threads: DuckDB SET threads = T; Polars POLARS_MAX_THREADS (set by the caller, checked here).
import { createInterface } from 'node:readline';
import { importPeer, requireFromTests } from './peer-import.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const engine = opt('--engine'), mode = opt('--mode'), files = (opt('--files') || '').split(',').filter(Boolean);
const threads = Number(opt('--threads', 2));
if (!['polars', 'duckdb'].includes(engine) || !['mem', 'scan'].includes(mode) || !files.length) {
  console.error('usage: node bench/peer_query.mjs --engine polars|duckdb --mode mem|scan --files F1[,F2...] [--threads T]');
  process.exit(2);
}
const now = () => Number(process.hrtime.bigint()) / 1e9;
const cpuNow = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const sqlStr = s => "'" + String(s).replaceAll("'", "''") + "'";
const HOUR_LO = Date.UTC(2026, 10, 23, 12), HOUR_HI = Date.UTC(2026, 10, 23, 13); // ms
const num = v => (typeof v === 'bigint' ? Number(v) : v);

let run, info;
if (engine === 'duckdb') {
  const { DuckDBInstance } = await importPeer('@duckdb/node-api');
  const inst = await DuckDBInstance.create(':memory:', { threads: String(threads) });
  const con = await inst.connect();
  const q = async sql => (await con.runAndReadAll(sql)).getRows();
  const version = (await q('SELECT version()'))[0][0];
  const src = `read_parquet([${files.map(sqlStr).join(', ')}])`;
  const t0 = now();
  if (mode === 'mem') await q(`CREATE TABLE t AS SELECT * FROM ${src}`);
  const from = mode === 'mem' ? 't' : src;
  const [[tsType]] = await q(`SELECT typeof(ts) FROM ${from} LIMIT 1`);
  const lit = ms => `${tsType === 'TIMESTAMP WITH TIME ZONE' ? 'TIMESTAMPTZ' : 'TIMESTAMP'} ${sqlStr(new Date(ms).toISOString().replace('T', ' ').replace('Z', tsType === 'TIMESTAMP WITH TIME ZONE' ? '+00' : ''))}`;
  const SQL = {
    Q1: `SELECT count(*) FROM ${from} WHERE ts >= ${lit(HOUR_LO)} AND ts < ${lit(HOUR_HI)}`,
    Q2: `SELECT event, sum(value) FROM ${from} GROUP BY event`,
    Q3: `SELECT country, event, count(*) AS n, avg(value) FROM ${from} GROUP BY country, event ORDER BY n DESC LIMIT 10`,
    Q4: `SELECT count(DISTINCT user_id) FROM ${from}`,
    Q5: `SELECT count(*) FROM ${from} WHERE payload LIKE '%abc%'`,
  };
  info = { version, load_seconds: now() - t0, ts_type: tsType, sql: SQL };
  run = async name => (await q(SQL[name])).map(r => r.map(num));
} else {
  const plmod = await importPeer('nodejs-polars');
  const pl = plmod.default ?? plmod;
  if (String(process.env.POLARS_MAX_THREADS) !== String(threads)) throw new Error(`set POLARS_MAX_THREADS=${threads} before starting this process`);
  const version = requireFromTests('nodejs-polars/package.json').version;
  const t0 = now();
  let df = null;
  if (mode === 'mem') df = files.length === 1 ? pl.readParquet(files[0]) : pl.concat(files.map(f => pl.readParquet(f)));
  const lazy = () => (mode === 'mem' ? df.lazy() : files.length === 1 ? pl.scanParquet(files[0]) : pl.concat(files.map(f => pl.scanParquet(f))));
  const c = n => pl.col(n);
  const tsLit = ms => pl.lit(new Date(ms)).cast(pl.Datetime('us', 'UTC'));
  const Q = {
    Q1: () => lazy().filter(c('ts').gtEq(tsLit(HOUR_LO)).and(c('ts').lt(tsLit(HOUR_HI)))).select(pl.len().alias('n')),
    Q2: () => lazy().groupBy('event').agg(c('value').sum().alias('s')).select('event', 's'),
    Q3: () => lazy().groupBy(['country', 'event']).agg(pl.len().alias('n'), c('value').mean().alias('a')).sort('n', true).head(10)
      .select('country', 'event', 'n', 'a'),
    Q4: () => lazy().select(c('user_id').nUnique().alias('d')),
    Q5: () => lazy().filter(c('payload').str.contains('abc', true)).select(pl.len().alias('n')),
  };
  info = { version, load_seconds: now() - t0, rows_loaded: df?.height, dtypes: df ? Object.fromEntries(df.columns.map((n, i) => [n, String(df.dtypes[i])])) : undefined,
    api: 'lazy (LazyDataFrame.collect())' };
  run = async name => {
    const out = await Q[name]().collect();
    return out.rows().map(r => r.map(num));
  };
}

console.log(JSON.stringify({ ready: true, engine, mode, threads, files, rss: process.memoryUsage().rss, ...info }));
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  const { query } = JSON.parse(line);
  const c0 = cpuNow(), t0 = now();
  const rows = await run(query);
  const seconds = now() - t0, cpu_seconds = cpuNow() - c0;
  console.log(JSON.stringify({ query, seconds, cpu_seconds, rows }));
}
