#!/usr/bin/env node
// compact.mjs — the merge of compaction (bench_compact) against DuckDB and Polars doing the same job, in one run
// (not part of CI; issue 14, item 7).
//
//   node bench/compact.mjs [--shape events] [--files 10] [--rows 1000000] [--rg-mb 0] [--runs 1]
//                          [--dir /tmp/ursa_bench_compact] [--only ursa,duckdb,polars] [--threads 2] [--page-rows 0]
//
// --shape events (the default), the input: --files flushes (ursa_dataset_flush, via `bench_compact gen`) of --rows rows each of the event table
// of bench_flush, one UTC day, every file over the same span of time, so each file is a sorted run by the time
// column and the runs interleave row by row (as the files of nodes behind a gateway do). --rg-mb sets the flush's
// row group size in MiB (0: the default, 128 MiB uncompressed), --page-rows the rows of a page at most, for the
// flushed inputs and Ursa's output alike (0: the dataset's default, 20,000; 1048576 for the files before it).
// --shape logs: web/app request logs (bench_compact.c, "The logs shape": 16 columns of strings of every length
// and cardinality, many nulls, ints, floats, a bool, JSON text) sorted by (service, user_id, ts), user_id nullable
// and skewed; --files nodes of 0.6 to 1.4 times --rows rows each (default 100,000), each flushed once, every key
// range interleaving with every other.
// Generated once per directory and setting (delete the directory after changing the flush or the generator).
// Each engine, in its own process, under `nice -n 10` and /usr/bin/time (wall, CPU, peak RSS of the process):
//   ursa    bench_compact merge: ursa_compact_merge with the flush's writer options (zstd)
//   duckdb  COPY (SELECT * FROM read_parquet([...]) ORDER BY ts) TO out (FORMAT parquet, COMPRESSION zstd)
//           (logs: ORDER BY service NULLS FIRST, user_id NULLS FIRST, ts NULLS FIRST, Ursa's order: src/sort.h)
//   polars  pl.scanParquet(files).sort('ts').collect() then writeParquet(out, {compression: 'zstd'})
//           (logs: .sort({ by: ['service', 'user_id', 'ts'], nullsLast: false }))
// Threads: DuckDB SET threads, POLARS_MAX_THREADS, Ursa's writer one per core (the machine has 2).
// Checked afterwards with DuckDB: every output has the inputs' row count and is sorted by the key (nulls first), and
// the sum of its rows' hashes (every column of the schema) equals the inputs'.
// Build first: cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build-rel bench_compact
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, statSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const SHAPES = {
  events: { dataset: 'ev', prefix: '', rows: 1000000, order: 'ts', polars: "'ts'", key: ['ts'],
    columns: ['ts', 'user_id', 'event', 'value', 'ok', 'country', 'payload'] },
  logs: { dataset: 'logs', prefix: 'logs-', rows: 100000, order: 'service NULLS FIRST, user_id NULLS FIRST, ts NULLS FIRST',
    polars: "{ by: ['service', 'user_id', 'ts'], nullsLast: false }", key: ['service', 'user_id', 'ts'],
    columns: ['ts', 'service', 'user_id', 'node', 'method', 'path', 'status', 'latency_ms', 'bytes_sent', 'user_agent',
      'referrer', 'trace_id', 'country', 'is_bot', 'error', 'attrs'] },
};
const SHAPE_NAME = opt('--shape', 'events'), SHAPE = SHAPES[SHAPE_NAME];
if (!SHAPE) throw new Error(`--shape: one of ${Object.keys(SHAPES).join(', ')}`);
const SHAPE_ENV = SHAPE_NAME === 'events' ? {} : { BENCH_SHAPE: SHAPE_NAME };
const FILES = Number(opt('--files', 10)), ROWS = Number(opt('--rows', SHAPE.rows)), RG = Number(opt('--rg-mb', 0));
const PAGE_ROWS = Number(opt('--page-rows', 0));
const RUNS = Number(opt('--runs', 1)), THREADS = Number(opt('--threads', cpus().length));
const ONLY = opt('--only', 'ursa,duckdb,polars').split(',');
const DIR = resolve(opt('--dir', '/tmp/ursa_bench_compact'), `${SHAPE.prefix}f${FILES}-r${ROWS}-rg${RG}-p${PAGE_ROWS}`);
const PAGE_ENV = { ...(PAGE_ROWS ? { BENCH_PAGE_ROWS: String(PAGE_ROWS) } : {}), ...SHAPE_ENV };
const BIN = join(REPO, 'build-rel', 'bench_compact');
const log = (s) => console.error(`[compact] ${s}`);
if (!existsSync(BIN)) throw new Error(`build ${BIN} first (see the top of this file)`);

// ------------------------------------------------------------------ input
const KEYS = join(DIR, 'keys.txt');
if (!existsSync(KEYS)) {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  log(`writing ${FILES} files of ${ROWS} rows by ursa_dataset_flush into ${DIR}`);
  const r = spawnSync('nice', ['-n', '10', BIN, 'gen', DIR, String(FILES), String(ROWS), String(RG)], { encoding: 'utf8', env: { ...process.env, ...PAGE_ENV } });
  if (r.status !== 0) throw new Error(r.stderr);
  if (r.stderr.trim()) writeFileSync(join(DIR, 'gen.json'), r.stderr.trim().split('\n').at(-1));
  writeFileSync(KEYS, r.stdout);
}
const GEN = existsSync(join(DIR, 'gen.json')) ? JSON.parse(readFileSync(join(DIR, 'gen.json'), 'utf8')) : null;
const keys = readFileSync(KEYS, 'utf8').trim().split('\n');
const paths = keys.map((k) => join(DIR, k));
const bytesIn = paths.reduce((a, p) => a + statSync(p).size, 0);
const dayDir = dirname(paths[0]);
const OUT = join(DIR, 'out');
mkdirSync(OUT, { recursive: true });
const sql = (s) => "'" + s.replaceAll("'", "''") + "'";
const list = paths.map(sql).join(', ');

// Peer scripts, run with node from tests/ (where the peers are installed).
const DUCK = `import { DuckDBInstance } from '@duckdb/node-api';
const inst = await DuckDBInstance.create(':memory:', { threads: '${THREADS}' });
const con = await inst.connect();
await con.run(\`COPY (SELECT * FROM read_parquet([${list.replaceAll('`', '')}]) ORDER BY ${SHAPE.order}) TO ${sql(join(OUT, 'duckdb.parquet'))} (FORMAT parquet, COMPRESSION zstd)\`);`;
const POLARS = `import pl from 'nodejs-polars';
const df = await pl.scanParquet(${JSON.stringify(join(dayDir, '*.parquet'))}).sort(${SHAPE.polars}).collect();
df.writeParquet(${JSON.stringify(join(OUT, 'polars.parquet'))}, { compression: 'zstd' });`;

const ENGINES = {
  ursa: { env: PAGE_ENV, cmd: [BIN, 'merge', DIR, `${SHAPE.dataset}/out-ursa`, ...keys], out: () => readdirSync(join(DIR, SHAPE.dataset)).filter((f) => f.startsWith('out-ursa-')).sort((a, b) => parseInt(a.slice(9)) - parseInt(b.slice(9))).map((f) => join(DIR, SHAPE.dataset, f)) },
  duckdb: { cmd: [process.execPath, '--input-type=module', '-e', DUCK], out: () => [join(OUT, 'duckdb.parquet')] },
  polars: { cmd: [process.execPath, '--input-type=module', '-e', POLARS], out: () => [join(OUT, 'polars.parquet')], env: { POLARS_MAX_THREADS: String(THREADS) } },
};

function run(name) {
  const e = ENGINES[name];
  for (const f of e.out()) rmSync(f, { force: true });
  const r = spawnSync('nice', ['-n', '10', '/usr/bin/time', '-f', 'BENCHTIME %e %M %U %S', ...e.cmd],
    { encoding: 'utf8', cwd: join(REPO, 'tests'), env: { ...process.env, ...(e.env ?? {}) }, maxBuffer: 64 << 20 });
  const tl = (r.stderr || '').split('\n').filter((l) => l.startsWith('BENCHTIME ')).at(-1);
  if (r.status !== 0 || !tl) throw new Error(`${name}: exit ${r.status}\n${(r.stderr || '').slice(-3000)}`);
  const [, wall, maxKb, user, sys] = tl.split(' ').map(Number);
  const outs = e.out();
  const inner = name === 'ursa' ? JSON.parse(r.stdout.trim().split('\n').at(-1)) : null;
  return { engine: name, wall, cpu: user + sys, rss_mib: maxKb / 1024, bytes_out: outs.reduce((a, p) => a + statSync(p).size, 0), outs, inner };
}

const results = [];
for (let i = 0; i < RUNS; i++) {
  for (const name of ONLY) {
    const r = run(name);
    results.push(r);
    log(`run ${i + 1} ${name.padEnd(7)} ${r.wall.toFixed(2)} s, CPU ${r.cpu.toFixed(2)} s, peak RSS ${r.rss_mib.toFixed(0)} MiB, ` +
      `${(r.bytes_out / 1e6).toFixed(1)} MB out${r.inner ? `, merge ${r.inner.seconds} s, ursa_mem peak ${r.inner.mem_peak_mb} MiB, ${r.inner.outputs} output(s)` : ''}`);
  }
}

// ------------------------------------------------------------------ checks (DuckDB, after the runs)
// Rows in the order of the files and, within one, of the file (file_row_number); a row is "backwards" when its key
// is below the previous row's, nulls first: (a IS NOT NULL, coalesce) compared column by column.
const prevs = SHAPE.key.map((k) => `lag(${k}) OVER w AS p_${k}, lag(${k} IS NULL) OVER w AS pn_${k}`).join(', ');
const below = (i) => {
  if (i === SHAPE.key.length) return 'false';
  const k = SHAPE.key[i];
  return `((${k} IS NULL AND NOT pn_${k}) OR (${k} IS NOT NULL AND NOT pn_${k} AND ${k} < p_${k}) OR ` +
    `(${k} IS NOT DISTINCT FROM p_${k} AND ${below(i + 1)}))`;
};
const HASH = `sum(hash(${SHAPE.columns.join(', ')})::HUGEINT)::VARCHAR`;
const check = `import { DuckDBInstance } from '@duckdb/node-api';
const con = await (await DuckDBInstance.create(':memory:')).connect();
const out = {};
for (const [name, files] of Object.entries(JSON.parse(process.argv[1]))) {
  const l = files.map((f) => "'" + f + "'").join(', ');
  const src = \`read_parquet([\${l}], hive_partitioning = false, filename = true, file_row_number = true)\`;
  const [a] = (await con.runAndReadAll(\`SELECT count(*)::BIGINT AS n, count(*) FILTER (WHERE ${below(0)})::BIGINT AS back FROM (SELECT ${SHAPE.key.join(', ')}, ${prevs} FROM \${src} WINDOW w AS (ORDER BY list_position([\${l}], filename), file_row_number))\`)).getRowObjects();
  const [h] = (await con.runAndReadAll(\`SELECT ${HASH} AS h FROM \${src}\`)).getRowObjects();
  out[name] = { rows: Number(a.n), backwards: Number(a.back), hash: h.h };
}
console.log(JSON.stringify(out));`;
const last = { inputs: paths };
for (const r of results) last[r.engine] = r.outs;
const c = spawnSync(process.execPath, ['--input-type=module', '-e', check, JSON.stringify(last)], { encoding: 'utf8', cwd: join(REPO, 'tests') });
if (c.status !== 0) throw new Error(c.stderr);
const checks = JSON.parse(c.stdout);
const problems = [];
const expected = checks.inputs.rows;
if (SHAPE_NAME === 'events' && expected !== FILES * ROWS) problems.push(`inputs: ${expected} rows, expected ${FILES * ROWS}`);
for (const [name, v] of Object.entries(checks)) {
  if (name === 'inputs') continue;
  if (v.rows !== expected) problems.push(`${name}: ${v.rows} rows, expected ${expected}`);
  if (v.backwards) problems.push(`${name}: ${v.backwards} rows before their predecessor`);
  if (v.hash !== checks.inputs.hash) problems.push(`${name}: the rows' hashes sum to ${v.hash}, the inputs' to ${checks.inputs.hash}`);
}

// ------------------------------------------------------------------ summary (medians)
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
const sum = {};
for (const name of ONLY) {
  const rs = results.filter((r) => r.engine === name);
  sum[name] = { wall: med(rs.map((r) => r.wall)), cpu: med(rs.map((r) => r.cpu)), rss_mib: med(rs.map((r) => r.rss_mib)), bytes_out: rs[0].bytes_out };
}
const rowsIn = GEN ? `${GEN.rows} rows in all (${(GEN.bytes / 1e6).toFixed(1)} MB of values uncompressed)` : `${ROWS} rows`;
console.log(`\n${SHAPE_NAME}: ${FILES} files${GEN ? "," : " ×"} ${rowsIn}, ${(bytesIn / 1e6).toFixed(1)} MB in (flush row groups: ${RG ? RG + ' MiB' : 'default'}, page rows: ${PAGE_ROWS || 'default'}), ${RUNS} run(s), medians\n`);
console.log('| engine | wall (s) | CPU (s) | peak RSS (MiB) | output (MB) | wall vs Ursa | RSS vs Ursa |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const name of ONLY) {
  const s = sum[name], u = sum.ursa;
  console.log(`| ${name} | ${s.wall.toFixed(2)} | ${s.cpu.toFixed(2)} | ${s.rss_mib.toFixed(0)} | ${(s.bytes_out / 1e6).toFixed(1)} | ` +
    `${u ? (s.wall / u.wall).toFixed(2) + '×' : '-'} | ${u ? (s.rss_mib / u.rss_mib).toFixed(2) + '×' : '-'} |`);
}
console.log(`\nchecks: ${JSON.stringify(checks)}`);
if (problems.length) { console.log(`PROBLEMS:\n${problems.join('\n')}`); process.exit(1); }
