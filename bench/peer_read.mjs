#!/usr/bin/env node
// peer_read.mjs — one Parquet read by a peer in its own process (started by bench/read.mjs, one process per run),
// or the writing of the peers' copies of the event table.
//
//   node bench/peer_read.mjs --engine polars|duckdb --mode all|filter --input F [--threads T] [--lo US --hi US]
//   node bench/peer_read.mjs --engine polars|duckdb --write SRC.parquet --output OUT.parquet [--threads T]
//
// Timed (in the process, from the page cache):
//   polars all     pl.readParquet(F): every column of every row group into a DataFrame
//   polars filter  pl.scanParquet(F).filter(ts >= LO and ts <= HI).select('user_id').collect() (the predicate is
//                  pushed into the scan: row groups are skipped by their statistics)
//   duckdb all     CREATE TABLE t AS SELECT * FROM read_parquet(F): every column materialized in DuckDB's in-memory
//                  table storage
//   duckdb filter  CREATE TABLE t AS SELECT user_id FROM read_parquet(F) WHERE ts BETWEEN LO AND HI
// LO and HI are µs since the epoch (inclusive). Threads: DuckDB SET threads = T; Polars POLARS_MAX_THREADS (set by the
// caller before this process starts; checked here).
// Not timed: the checks afterwards (per column: non-null count; sums of ts and user_id; sum of round(value × 100);
// count of true; bytes of each string column), in the shape bench_read prints, which bench/read.mjs compares.
// Prints one JSON line: {engine, mode, threads, rows, seconds, cpu_seconds (user + system of every thread of the
// process during the timed part), rss_before (the process's RSS just before the timed part: node and the engine's
// library), checks, version}.
//
// --write: the rows of SRC written again by the engine with zstd and its defaults otherwise (row group size,
// encodings, statistics): Polars readParquet(SRC).writeParquet(OUT, {compression: 'zstd'}); DuckDB
// COPY (FROM read_parquet(SRC)) TO OUT (FORMAT parquet, COMPRESSION zstd).
import { renameSync } from 'node:fs';
import { importPeer, requireFromTests } from './peer-import.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const engine = opt('--engine'), mode = opt('--mode', 'all'), input = opt('--input');
const threads = Number(opt('--threads', 2));
const lo = BigInt(opt('--lo', '0')), hi = BigInt(opt('--hi', '0'));
const writeSrc = opt('--write'), writeOut = opt('--output');
if (!['polars', 'duckdb'].includes(engine) || (!writeSrc && (!input || !['all', 'filter'].includes(mode)))) {
  console.error('usage: node bench/peer_read.mjs --engine polars|duckdb --mode all|filter --input F [--threads T] [--lo US --hi US]\n' +
    '       node bench/peer_read.mjs --engine polars|duckdb --write SRC --output OUT [--threads T]');
  process.exit(2);
}
const now = () => Number(process.hrtime.bigint()) / 1e9;
const cpuNow = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const sqlStr = s => "'" + String(s).replaceAll("'", "''") + "'";
// Timestamps are summed relative to this instant (the sums fit an int64) and made absolute afterwards.
const TS_BASE_US = BigInt(Date.UTC(2026, 10, 23)) * 1000n;
const usToIso = us => new Date(Number(us / 1000n)).toISOString(); // the bounds are whole milliseconds

function shape(a, m) {
  if (m === 'filter') return { user_id: { count: Number(a.user_id_n), sum: String(a.user_id_sum ?? 0) } };
  return {
    ts: { count: Number(a.ts_n), sum: String(BigInt(a.ts_rel) + BigInt(a.ts_n) * TS_BASE_US) },
    user_id: { count: Number(a.user_id_n), sum: String(a.user_id_sum) },
    event: { count: Number(a.event_n), bytes: Number(a.event_bytes) },
    value: { count: Number(a.value_n), sum_x100: String(a.value_x100) },
    ok: { count: Number(a.ok_n), true: Number(a.ok_true) },
    country: { count: Number(a.country_n), bytes: Number(a.country_bytes) },
    payload: { count: Number(a.payload_n), bytes: Number(a.payload_bytes) },
  };
}

async function duckdb() {
  const { DuckDBInstance } = await importPeer('@duckdb/node-api');
  const inst = await DuckDBInstance.create(':memory:', { threads: String(threads) });
  const con = await inst.connect();
  const q = async sql => (await con.runAndReadAll(sql)).getRowObjects();
  const version = (await q('SELECT version() AS v'))[0].v;
  if (writeSrc) {
    await q(`COPY (FROM read_parquet(${sqlStr(writeSrc)})) TO ${sqlStr(writeOut + '.tmp')} (FORMAT parquet, COMPRESSION zstd)`);
    renameSync(writeOut + '.tmp', writeOut);
    return { version };
  }
  const sql = mode === 'all' ? `CREATE TABLE t AS SELECT * FROM read_parquet(${sqlStr(input)})`
    : `CREATE TABLE t AS SELECT user_id FROM read_parquet(${sqlStr(input)}) WHERE ts BETWEEN TIMESTAMPTZ ${sqlStr(usToIso(lo))} AND TIMESTAMPTZ ${sqlStr(usToIso(hi))}`;
  const rss_before = process.memoryUsage().rss;
  const c0 = cpuNow(), t0 = now();
  await q(sql);
  const seconds = now() - t0, cpu_seconds = cpuNow() - c0;
  const [a] = await q(mode === 'filter' ? 'SELECT count(*) AS rows, count(user_id) AS user_id_n, sum(user_id)::VARCHAR AS user_id_sum FROM t'
    : `SELECT count(*) AS rows, count(ts) AS ts_n, (sum(epoch_us(ts) - ${TS_BASE_US}))::VARCHAR AS ts_rel,
      count(user_id) AS user_id_n, sum(user_id)::VARCHAR AS user_id_sum, count(event) AS event_n, sum(strlen(event)) AS event_bytes,
      count(value) AS value_n, sum(round(value * 100)::HUGEINT)::VARCHAR AS value_x100, count(ok) AS ok_n, sum(ok::INT) AS ok_true,
      count(country) AS country_n, sum(strlen(country)) AS country_bytes, count(payload) AS payload_n, sum(strlen(payload)) AS payload_bytes FROM t`);
  return { rows: Number(a.rows), seconds, cpu_seconds, rss_before, sql, checks: shape(a, mode), version };
}

async function polars() {
  const plmod = await importPeer('nodejs-polars');
  const pl = plmod.default ?? plmod;
  const version = requireFromTests('nodejs-polars/package.json').version;
  if (String(process.env.POLARS_MAX_THREADS) !== String(threads)) throw new Error(`set POLARS_MAX_THREADS=${threads} before starting this process`);
  if (writeSrc) {
    pl.readParquet(writeSrc).writeParquet(writeOut + '.tmp', { compression: 'zstd' });
    renameSync(writeOut + '.tmp', writeOut);
    return { version };
  }
  const c = n => pl.col(n);
  const tsLit = us => pl.lit(new Date(Number(us / 1000n))).cast(pl.Datetime('us', 'UTC'));
  const rss_before = process.memoryUsage().rss;
  const c0 = cpuNow(), t0 = now();
  const df = mode === 'all' ? pl.readParquet(input)
    : await pl.scanParquet(input).filter(c('ts').gtEq(tsLit(lo)).and(c('ts').ltEq(tsLit(hi)))).select('user_id').collect();
  const seconds = now() - t0, cpu_seconds = cpuNow() - c0;
  let agg;
  if (mode === 'filter') {
    agg = df.select(c('user_id').count().alias('user_id_n'), c('user_id').cast(pl.Int64).sum().alias('user_id_sum')).toRecords()[0];
  } else {
    const rel = c('ts').cast(pl.Int64).sub(pl.lit(Number(TS_BASE_US)));
    agg = df.select(
      // In two parts, each sum below 2^53: toRecords() gives JS numbers.
      c('ts').count().alias('ts_n'), rel.sub(rel.modulo(1000000)).divideBy(1000000).cast(pl.Int64).sum().alias('ts_s'), rel.modulo(1000000).sum().alias('ts_us'),
      c('user_id').count().alias('user_id_n'), c('user_id').cast(pl.Int64).sum().alias('user_id_sum'),
      c('event').count().alias('event_n'), c('event').str.lengths().cast(pl.Int64).sum().alias('event_bytes'),
      c('value').count().alias('value_n'), c('value').mul(100).round(0).cast(pl.Int64).sum().alias('value_x100'),
      c('ok').count().alias('ok_n'), c('ok').cast(pl.Int64).sum().alias('ok_true'),
      c('country').count().alias('country_n'), c('country').str.lengths().cast(pl.Int64).sum().alias('country_bytes'),
      c('payload').count().alias('payload_n'), c('payload').str.lengths().cast(pl.Int64).sum().alias('payload_bytes'),
    ).toRecords()[0];
    agg.ts_rel = String(BigInt(agg.ts_s) * 1000000n + BigInt(agg.ts_us));
  }
  for (const k of Object.keys(agg)) if (typeof agg[k] === 'number' && !Number.isSafeInteger(agg[k])) throw new Error(`check ${k} = ${agg[k]} is not exact`);
  return { rows: df.height, seconds, cpu_seconds, rss_before, checks: shape(agg, mode), version };
}

const res = engine === 'polars' ? await polars() : await duckdb();
console.log(JSON.stringify({ engine, mode: writeSrc ? 'write' : mode, threads, ...res }));
