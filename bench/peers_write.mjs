// peers_write.mjs — the Parquet write alone, from memory, zstd: Ursa (build/bench_write, a child process
// that generates the event table in memory and times pq_writer_*), DuckDB (COPY ... TO, 2 threads) and
// Polars (writeParquet) on the same rows, alternating ursa, duckdb, polars, ursa, ... ROUNDS times; prints
// every run, then medians, file sizes and ratios (Ursa / peer: below 1 means Ursa is faster or smaller).
//
//   build/bench_write 10000000 none /tmp/ursa_bench_src.parquet   (once: the rows the peers load)
//   node bench/peers_write.mjs [rounds=3] [src=/tmp/ursa_bench_src.parquet] [rows=10000000]
// Env: URSA_BENCH (default build/bench_write), URSA_THREADS (BENCH_THREADS for Ursa, default: unset).
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importPeer } from './peer-import.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const rounds = Number(process.argv[2] ?? 3);
const src = process.argv[3] ?? '/tmp/ursa_bench_src.parquet';
const rows = Number(process.argv[4] ?? 10000000);
const bench = process.env.URSA_BENCH ?? resolve(REPO, 'build/bench_write');
const { DuckDBInstance } = await importPeer('@duckdb/node-api');
const pl = (await importPeer('nodejs-polars')).default;

const inst = await DuckDBInstance.create(':memory:', { threads: '2' });
const con = await inst.connect();
await con.run(`CREATE TABLE ev AS SELECT * FROM read_parquet('${src}')`);
const df = pl.readParquet(src);

const out = { ursa: '/tmp/peer_ursa.parquet', duckdb: '/tmp/peer_duckdb.parquet', polars: '/tmp/peer_polars.parquet' };
const times = { ursa: [], duckdb: [], polars: [] };
const runs = {
  ursa: async () => {
    const env = { ...process.env };
    if (process.env.URSA_THREADS) env.BENCH_THREADS = process.env.URSA_THREADS;
    const line = execFileSync(bench, [String(rows), 'zstd', out.ursa], { env }).toString();
    return Number(/: ([0-9.]+) s,/.exec(line)[1]); // bench_write times the write alone
  },
  duckdb: async () => {
    const t0 = performance.now();
    await con.run(`COPY ev TO '${out.duckdb}' (FORMAT parquet, COMPRESSION zstd)`);
    return (performance.now() - t0) / 1000;
  },
  polars: async () => {
    const t0 = performance.now();
    df.writeParquet(out.polars, { compression: 'zstd' });
    return (performance.now() - t0) / 1000;
  },
};
for (let r = 0; r < rounds; r++) {
  for (const name of ['ursa', 'duckdb', 'polars']) {
    const t = await runs[name]();
    times[name].push(t);
    console.log(`round ${r + 1} ${name}: ${t.toFixed(3)} s`);
  }
}
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const m = {}, size = {};
for (const name of Object.keys(times)) {
  m[name] = median(times[name]);
  size[name] = statSync(out[name]).size;
  console.log(`${name}: median ${m[name].toFixed(3)} s of [${times[name].map((t) => t.toFixed(2)).join(', ')}], ${size[name]} bytes`);
}
for (const peer of ['duckdb', 'polars'])
  console.log(`ursa / ${peer}: time ${(m.ursa / m[peer]).toFixed(3)}, size ${(size.ursa / size[peer]).toFixed(4)}`);
