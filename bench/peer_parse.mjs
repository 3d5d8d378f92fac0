#!/usr/bin/env node
// peer_parse.mjs — one peer parse measurement in its own process (started by bench/parse.mjs, one process per run).
//
//   node bench/peer_parse.mjs --engine polars|duckdb --format ndjson|json|csv --input F [--threads T] [--corpus tidy|real]
//
// Timed: reading the file (from the page cache) and parsing it into the engine's in-memory columns, with the
// column types given up front (as Ursa gets its schema):
//   duckdb  CREATE TABLE t AS FROM read_json(F, format = 'newline_delimited' | 'array', columns = {...})
//           or read_csv(F, header = true, columns = {...}); SET threads = T
//   polars  ndjson: scanJson(F, {schema}).collect() (= read_ndjson); csv: readCSV(F, {dtypes}); json (array):
//           readJSON(F, {format: 'json'}) (no schema option: types inferred); ts is read as a string and parsed
//           with str.strptime('%Y-%m-%dT%H:%M:%S%.fZ') inside the timed part (see bench/peer.mjs for why; the
//           result is Datetime(us, UTC) whatever the unit passed: nodejs-polars takes the unit from the format);
//           with --corpus real (bench/gen_real.mjs: 0-9 fraction digits, Z or offsets) the format is '%+' (RFC
//           3339; the format above gives null for any offset, and '%.f%:z' null for "Z"), and the result is
//           converted to UTC; threads from POLARS_MAX_THREADS (set by the caller before this process starts)
// Not timed: the checks afterwards (per column: non-null count, sums, string bytes), which bench/parse.mjs
// compares with Ursa's batch. value's sum is of round(v * 100), half away from zero, with v clamped to [-1e9, 1e9]
// (the realistic corpus holds values up to 1.8e308); string bytes are UTF-8 bytes (Polars' str.lengths() counts characters, so
// its check adds the extra bytes of every character past U+007F). Prints one JSON line: {engine, format, threads,
// rows, seconds, cpu_seconds (user + system of every thread of the process during the timed part), checks, version}.
import { importPeer, requireFromTests } from './peer-import.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const engine = opt('--engine'), format = opt('--format', 'ndjson'), input = opt('--input');
const threads = Number(opt('--threads', 2)), corpus = opt('--corpus', 'tidy');
if (!engine || !input || !['ndjson', 'json', 'csv'].includes(format) || !['tidy', 'real'].includes(corpus)) {
  console.error('usage: node bench/peer_parse.mjs --engine polars|duckdb --format ndjson|json|csv --input F [--threads T] [--corpus tidy|real]');
  process.exit(2);
}
const now = () => Number(process.hrtime.bigint()) / 1e9;
const cpuNow = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; }; // every thread of the process
const sqlStr = s => "'" + String(s).replaceAll("'", "''") + "'";
// The checks are relative to this instant so that the sum of timestamps fits an int64 in Polars.
const TS_BASE_US = Date.UTC(2026, 10, 23) * 1000;

async function duckdb() {
  const { DuckDBInstance } = await importPeer('@duckdb/node-api');
  const inst = await DuckDBInstance.create(':memory:', { threads: String(threads) });
  const con = await inst.connect();
  const q = async sql => (await con.runAndReadAll(sql)).getRowObjects();
  const columns = `columns = {ts: 'TIMESTAMPTZ', user_id: 'BIGINT', event: 'VARCHAR', value: 'DOUBLE', ok: 'BOOLEAN', country: 'VARCHAR', payload: 'VARCHAR'}`;
  const src = format === 'csv' ? `read_csv(${sqlStr(input)}, header = true, ${columns})`
    : `read_json(${sqlStr(input)}, format = '${format === 'json' ? 'array' : 'newline_delimited'}', ${columns})`;
  const c0 = cpuNow(), t0 = now();
  await q(`CREATE TABLE t AS FROM ${src}`);
  const seconds = now() - t0, cpu_seconds = cpuNow() - c0;
  const [a] = await q(`SELECT count(*) AS rows, count(ts) AS ts_n, (sum(epoch_us(ts) - ${TS_BASE_US}))::VARCHAR AS ts_rel,
      count(user_id) AS user_id_n, sum(user_id)::VARCHAR AS user_id_sum, count(event) AS event_n, sum(strlen(event)) AS event_bytes,
      count(value) AS value_n, sum(round(CASE WHEN value > 1e9 THEN 1e9 WHEN value < -1e9 THEN -1e9 ELSE value END * 100)::HUGEINT)::VARCHAR AS value_x100, count(ok) AS ok_n, sum(ok::INT) AS ok_true,
      count(country) AS country_n, sum(strlen(country)) AS country_bytes, count(payload) AS payload_n, sum(strlen(payload)) AS payload_bytes FROM t`);
  const version = (await q('SELECT version() AS v'))[0].v;
  return { rows: Number(a.rows), seconds, cpu_seconds, checks: normalize(a), version };
}

async function polars() {
  const plmod = await importPeer('nodejs-polars');
  const pl = plmod.default ?? plmod;
  if (String(process.env.POLARS_MAX_THREADS) !== String(threads)) throw new Error(`set POLARS_MAX_THREADS=${threads} before starting this process`);
  const schema = { ts: pl.Utf8, user_id: pl.Int64, event: pl.Utf8, value: pl.Float64, ok: pl.Bool, country: pl.Utf8, payload: pl.Utf8 };
  const parseTs = corpus === 'real' ? pl.col('ts').str.strptime(pl.Datetime('ms'), '%+').dt.convertTimeZone('UTC')
    : pl.col('ts').str.strptime(pl.Datetime('ms'), '%Y-%m-%dT%H:%M:%S%.fZ').dt.replaceTimeZone('UTC');
  const c0 = cpuNow(), t0 = now();
  let df;
  if (format === 'ndjson') df = await pl.scanJson(input, { schema }).withColumns(parseTs).collect();
  else if (format === 'csv') df = pl.readCSV(input, { dtypes: schema }).withColumns(parseTs);
  else df = pl.readJSON(input, { format: 'json' }).withColumns(parseTs);
  const seconds = now() - t0, cpu_seconds = cpuNow() - c0;
  const c = n => pl.col(n);
  // UTF-8 bytes: characters, each past U+007F replaced by as many ASCII characters as its UTF-8 bytes.
  // round(v * 100) half away from zero, as C's llround and DuckDB's round (Polars' round(0) rounds half to even)
  const cents = (() => {
    const a = c('value').clip(-1e9, 1e9).mul(100), m = a.abs(), r = m.floor().add(m.sub(m.floor()).gtEq(0.5).cast(pl.Float64));
    return pl.when(a.gtEq(0)).then(r).otherwise(r.mul(-1));
  })();
  const bytes = n => c(n).str.replaceAll('[\\x{80}-\\x{7FF}]', 'xx').str.replaceAll('[\\x{800}-\\x{FFFF}]', 'xxx')
    .str.replaceAll('[\\x{10000}-\\x{10FFFF}]', 'xxxx').str.lengths().cast(pl.Int64).sum();
  const rel = c('ts').cast(pl.Int64).sub(pl.lit(TS_BASE_US));
  const agg = df.select(
    pl.lit(df.height).alias('rows'),
    // In two parts, each sum below 2^53: toRecords() gives JS numbers, which would round a sum near 4e17 (the other
    // sums that may pass 2^53 come as strings).
    c('ts').count().alias('ts_n'), rel.sub(rel.modulo(1000000)).divideBy(1000000).cast(pl.Int64).sum().alias('ts_s'), rel.modulo(1000000).sum().alias('ts_us'),
    c('user_id').count().alias('user_id_n'), c('user_id').cast(pl.Int64).sum().cast(pl.Utf8).alias('user_id_sum'),
    c('event').count().alias('event_n'), bytes('event').alias('event_bytes'),
    c('value').count().alias('value_n'), cents.cast(pl.Int64).sum().cast(pl.Utf8).alias('value_x100'),
    c('ok').count().alias('ok_n'), c('ok').cast(pl.Int64).sum().alias('ok_true'),
    c('country').count().alias('country_n'), bytes('country').alias('country_bytes'),
    c('payload').count().alias('payload_n'), bytes('payload').alias('payload_bytes'),
  ).toRecords()[0];
  agg.ts_rel = String(BigInt(agg.ts_s) * 1000000n + BigInt(agg.ts_us));
  delete agg.ts_s;
  delete agg.ts_us;
  for (const k of Object.keys(agg)) if (typeof agg[k] === 'number' && !Number.isSafeInteger(agg[k])) throw new Error(`check ${k} = ${agg[k]} is not exact`);
  const version = requireFromTests('nodejs-polars/package.json').version;
  return { rows: df.height, seconds, cpu_seconds, checks: normalize(agg), dtypes: Object.fromEntries(df.columns.map((n, i) => [n, String(df.dtypes[i])])), version };
}

/** Every check as a string (exact, whatever the engine's integer type). */
function normalize(o) {
  return Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'rows').map(([k, v]) => [k, String(v)]));
}

const res = engine === 'polars' ? await polars() : engine === 'duckdb' ? await duckdb() : null;
if (!res) { console.error(`unknown engine ${engine}`); process.exit(2); }
console.log(JSON.stringify({ engine, format, threads, corpus, ...res }));
