#!/usr/bin/env node
// read.mjs — reading Parquet (zstd): Ursa's reader (build/bench_read) against Polars and DuckDB on the same files,
// in the same run.
//
//   node bench/read.mjs [--rows N] [--runs R] [--files ursa,polars,duckdb] [--modes all,filter] [--only ursa,polars,duckdb]
//                       [--ursa-threads 1,2] [--build DIR] [--dir DIR] [--warm GIB] [--report F.json]
//
//   --rows   rows of the event table (default 10000000)
//   --runs   runs per measurement (default 3); medians are reported
//   --files  whose copy of the table to read (default ursa,polars,duckdb): events-N.ursa.parquet written by
//            `ursa convert --compression zstd` from the NDJSON of bench/gen_events.mjs, events-N.polars.parquet and
//            events-N.duckdb.parquet the same rows written by Polars and DuckDB with zstd (bench/peer_read.mjs
//            --write); every file is made once when missing, in DIR
//   --modes  all: every column of every row group into memory; filter: user_id of the rows with ts in
//            [2026-11-23T12:00:00Z, 13:12:00Z] (5 % of the day the rows span; ts rises through the file, so the
//            statistics of the other row groups rule them out; with fewer --rows the table spans less of the day
//            and the window may hold no row)
//   --ursa-threads  Ursa's reader measured at each of these thread counts (default 1,2: bench_read --threads,
//            pq_reader_set_threads: the columns of a row group decode in parallel)
//   --build  the Release build dir holding bench_read and ursa (default build)
//   --dir    data directory (default $BENCH_READ_DIR, else /tmp/ursa-bench-read); never inside the repository
//   --warm GIB before every measured process a helper touches GIB GiB of memory and exits (default 4; 0: off): see
//            "Fresh memory" in docs/benchmarks.md
//   --report F re-render a saved results-read-<time>.json and exit
//
// Every measurement is a fresh process under /usr/bin/time (peak RSS of that process: one engine each), rounds
// interleave every engine. Threads: Ursa as --ursa-threads says; Polars POLARS_MAX_THREADS=2 and DuckDB threads = 2
// (the machine's cores). Timed in each process: open + read (bench/bench_read.c, bench/peer_read.mjs say
// exactly what). Every run's checks (rows, non-null counts, sums, string bytes) must be equal per mode.
// Results: Markdown on stdout; JSON + Markdown in DIR (results-read-<time>.{json,md}).
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import { cpus, totalmem, release, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate, dataPaths } from './gen_events.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
if (args.includes('--help')) { const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n'); console.log(lines.slice(1, lines.findIndex(l => l.startsWith('import'))).map(l => l.replace(/^\/\/ ?/, '')).join('\n')); process.exit(0); }
const log = s => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const median = xs => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const ENGINE = { ursa: 'Ursa', polars: 'Polars', duckdb: 'DuckDB' };
const ursaName = t => (t === 1 ? 'ursa' : `ursa-t${t}`); // the measurement key of Ursa at t threads

if (opt('--report')) {
  console.log(render(JSON.parse(readFileSync(opt('--report'), 'utf8'))));
  process.exit(0);
}

const ROWS = Number(opt('--rows', 10_000_000));
const RUNS = Number(opt('--runs', 3));
const FILES = opt('--files', 'ursa,polars,duckdb').split(',');
const MODES = opt('--modes', 'all,filter').split(',');
const ONLY = opt('--only', 'ursa,polars,duckdb').split(',');
const URSA_THREADS = opt('--ursa-threads', '1,2').split(',').map(Number);
const BUILD = resolve(REPO, opt('--build', 'build'));
const WARM_GIB = Number(opt('--warm', 4));
const DIR = resolve(opt('--dir', process.env.BENCH_READ_DIR || '/tmp/ursa-bench-read'));
const THREADS = 2;
// The filter: 12:00:00 to 13:12:00 UTC on the day of the rows, in µs (inclusive).
const LO = BigInt(Date.UTC(2026, 10, 23, 12)) * 1000n, HI = LO + 4320n * 1000000n;

// ------------------------------------------------------------------ data
const paths = dataPaths(DIR, ROWS);
const file = w => join(DIR, `events-${ROWS}.${w}.parquet`);
const cache = join(BUILD, 'CMakeCache.txt');
const buildType = existsSync(cache) ? /CMAKE_BUILD_TYPE:STRING=(\w*)/.exec(readFileSync(cache, 'utf8'))?.[1] : 'unknown';
if (buildType !== 'Release') log(`WARNING: ${BUILD} is a ${buildType} build, not Release`);
if (!existsSync(file('ursa'))) {
  generate({ rows: ROWS, dir: DIR, log });
  log(`writing ${file('ursa')} (ursa convert)`);
  execFileSync(join(BUILD, 'ursa'), ['convert', '--schema', paths.schema, '--input', paths.ndjson, '--output', file('ursa') + '.tmp', '--compression', 'zstd'], { stdio: 'inherit' });
  execFileSync('mv', [file('ursa') + '.tmp', file('ursa')]);
}
for (const w of ['polars', 'duckdb']) {
  if (!FILES.includes(w) || existsSync(file(w))) continue;
  log(`writing ${file(w)} (${ENGINE[w]})`);
  execFileSync(process.execPath, [join(REPO, 'bench', 'peer_read.mjs'), '--engine', w, '--write', file('ursa'), '--output', file(w), '--threads', String(THREADS)],
    { stdio: 'inherit', env: { ...process.env, POLARS_MAX_THREADS: String(THREADS) } });
}
const FILEINFO = {};
for (const w of FILES) { // every engine reads from the page cache
  const fd = openSync(file(w), 'r'), b = Buffer.allocUnsafe(16 << 20);
  while (readSync(fd, b, 0, b.length, null) > 0);
  closeSync(fd);
  FILEINFO[w] = { path: file(w), bytes: statSync(file(w)).size };
}

const M = [];
for (const w of FILES) for (const mode of MODES) for (const engine of ONLY) {
  const key = `${engine} ${mode} ${w}`;
  if (engine === 'ursa') {
    for (const t of URSA_THREADS) {
      const cmd = [join(BUILD, 'bench_read'), '--store', DIR, '--key', `events-${ROWS}.${w}.parquet`, '--threads', String(t)];
      if (mode === 'filter') cmd.push('--project', 'user_id', '--between', 'ts', String(LO), String(HI));
      M.push({ key: `${ursaName(t)} ${mode} ${w}`, engine, mode, file: w, threads: t, cmd });
    }
  } else {
    M.push({ key, engine, mode, file: w, threads: THREADS, env: { POLARS_MAX_THREADS: String(THREADS) },
      cmd: [process.execPath, join(REPO, 'bench', 'peer_read.mjs'), '--engine', engine, '--mode', mode, '--input', file(w), '--threads', String(THREADS), '--lo', String(LO), '--hi', String(HI)] });
  }
}

// ------------------------------------------------------------------ runs
// Fresh memory on these VMs costs ~2.5 ns/byte at first touch when the host took it back (see "Fresh memory" in
// docs/benchmarks.md): each measured process starts right after a helper touched (and freed) WARM_GIB GiB.
function warm() {
  if (!WARM_GIB) return;
  const r = spawnSync(process.execPath, ['-e', `const b = []; for (let i = 0; i < ${WARM_GIB}; i++) b.push(Buffer.alloc(1 << 30, 1));`], { stdio: 'ignore' });
  if (r.status !== 0) log(`WARNING: memory warm-up exited ${r.status}`);
}
function runOnce(m, run) {
  warm();
  const load = loadavg()[0];
  const r = spawnSync('/usr/bin/time', ['-f', 'BENCHTIME %e %M %U %S', ...m.cmd], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, ...m.env } });
  const tl = (r.stderr || '').split('\n').filter(l => l.startsWith('BENCHTIME ')).at(-1);
  if (r.status !== 0 || !tl) throw new Error(`${m.key} run ${run}: exit ${r.status}\n${m.cmd.join(' ')}\n${(r.stderr || '').slice(-3000)}`);
  const [, wall, maxKb, user, sys] = tl.split(' ').map(Number);
  const out = JSON.parse(r.stdout.trim().split('\n').filter(l => l.startsWith('{')).at(-1));
  return { key: m.key, engine: m.engine, mode: m.mode, file: m.file, threads: m.threads, run, load1: load, seconds: out.seconds,
    cpu_seconds: out.cpu_seconds, process_wall: wall, process_cpu: user + sys, peak_rss: maxKb * 1024, rss_before: out.rss_before ?? null,
    rows: out.rows, out };
}
const results = [];
for (let run = 1; run <= RUNS; run++) {
  for (const m of M) {
    const r = runOnce(m, run);
    results.push(r);
    log(`run ${run}/${RUNS} ${m.key.padEnd(20)} ${r.seconds.toFixed(3)} s, CPU ${r.cpu_seconds.toFixed(2)} s, peak RSS ${(r.peak_rss / 2 ** 20).toFixed(0)} MiB, ${r.rows} rows, load ${r.load1.toFixed(2)}`);
  }
}

// ------------------------------------------------------------------ same data everywhere
const problems = [], ref = {};
for (const r of results) {
  const s = JSON.stringify({ rows: r.rows, checks: r.out.checks });
  if (r.mode === 'all' && r.rows !== ROWS) problems.push(`${r.key} run ${r.run}: ${r.rows} rows`);
  ref[r.mode] ??= { s, by: `${r.key} run ${r.run}` };
  if (ref[r.mode].s !== s) problems.push(`${r.key} run ${r.run}: ${s} differs from ${ref[r.mode].by}: ${ref[r.mode].s}`);
}
if (problems.length) log(`WARNING: results differ:\n  ${problems.join('\n  ')}`);

// ------------------------------------------------------------------ report
let commit = 'unknown';
try { commit = execFileSync('git', ['-C', REPO, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).trim().slice(0, 100); } catch { /* not a checkout */ }
const footers = {};
for (const w of FILES) { // row groups per file, from Ursa's reader (bench_read prints them)
  const r = results.find(x => x.engine === 'ursa' && x.file === w);
  if (r) footers[w] = { row_groups: r.out.row_groups };
}
const report = {
  date: new Date().toISOString(), rows: ROWS, runs: RUNS, commit, build: buildType, warm_gib: WARM_GIB, threads: THREADS,
  filter: { lo_us: String(LO), hi_us: String(HI) },
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, memory_gib: +(totalmem() / 2 ** 30).toFixed(1), kernel: release(), node: process.version },
  files: Object.fromEntries(FILES.map(w => [w, { ...FILEINFO[w], ...footers[w] }])),
  same_data: problems.length === 0, problems, checks: Object.fromEntries(Object.entries(ref).map(([k, v]) => [k, JSON.parse(v.s)])),
  commands: Object.fromEntries(M.map(m => [m.key, m.cmd.map(a => a.replace(REPO + '/', '')).join(' ')])),
  results: results.map(({ out, ...r }) => ({ ...r, version: out.version, counters: out.counters, mem_peak: out.mem_peak })),
};
const stamp = report.date.replace(/[:.]/g, '-');
writeFileSync(join(DIR, `results-read-${stamp}.json`), JSON.stringify(report, null, 1) + '\n');
const md = render(report);
writeFileSync(join(DIR, `results-read-${stamp}.md`), md + '\n');
console.log(md);
log(`written ${join(DIR, `results-read-${stamp}.json`)} and .md`);

/** Markdown tables of a report: ratios first, then every measurement. */
function render(rep) {
  const rs = rep.results;
  const keys = [...new Set(rs.map(r => r.key))];
  const S = {};
  for (const k of keys) {
    const xs = rs.filter(r => r.key === k);
    S[k] = { ...xs[0], seconds: median(xs.map(r => r.seconds)), all: xs.map(r => r.seconds), best: Math.min(...xs.map(r => r.seconds)),
      cpu: median(xs.map(r => r.cpu_seconds)), rss: median(xs.map(r => r.peak_rss)), pwall: median(xs.map(r => r.process_wall)),
      pcpu: median(xs.map(r => r.process_cpu)), before: xs[0].rss_before };
  }
  const X = v => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–');
  const MiB = b => (b / 2 ** 20).toFixed(0);
  const L = [`# Reading Parquet (zstd): ${rep.rows} rows; ${rep.runs} runs each; ${rep.date}`, '',
    `Machine: ${rep.machine.cpu}, ${rep.machine.cores} cores, ${rep.machine.memory_gib} GiB, kernel ${rep.machine.kernel}, node ${rep.machine.node}. Ursa ${rep.build} build at ${rep.commit}.`,
    `Threads: Ursa ${[...new Set(rs.filter(r => r.engine === 'ursa').map(r => r.threads))].join(' and ')} (pq_reader_set_threads), Polars and DuckDB ${rep.threads}. ${rep.warm_gib ? `Memory warmed (${rep.warm_gib} GiB) before every process.` : 'Memory not warmed.'}`,
    `Files: ${Object.entries(rep.files).map(([w, f]) => `${w} ${(f.bytes / 1e6).toFixed(0)} MB${f.row_groups ? `, ${f.row_groups} row groups` : ''}`).join('; ')}.`,
    `Filter: ts between ${new Date(Number(BigInt(rep.filter.lo_us) / 1000n)).toISOString()} and ${new Date(Number(BigInt(rep.filter.hi_us) / 1000n)).toISOString()}, user_id projected.`,
    `Same data everywhere: ${rep.same_data}${rep.same_data ? '' : ' — ' + rep.problems.join('; ')}.`, ''];
  L.push('Ursa ÷ peer, of the medians (below 1: Ursa takes less). Time and CPU: the timed part in the process (open + read); RSS: peak of the whole process.', '');
  L.push('| file | mode | Ursa threads | peer | time | CPU s | peak RSS |', '| --- | --- | ---: | --- | ---: | ---: | ---: |');
  const uts = [...new Set(rs.filter(r => r.engine === 'ursa').map(r => r.threads))];
  for (const k of keys.filter(k => S[k].engine !== 'ursa')) {
    const p = S[k];
    for (const t of uts) {
      const u = S[`${ursaName(t)} ${p.mode} ${p.file}`];
      if (u) L.push(`| ${p.file} | ${p.mode} | ${t} | ${ENGINE[p.engine]} | ${X(u.seconds / p.seconds)} | ${X(u.cpu / p.cpu)} | ${X(u.rss / p.rss)} |`);
    }
  }
  L.push('', '| file | mode | engine | threads | rows | seconds (median) | best | all runs | CPU s (timed) | process wall s | process CPU s | peak RSS MiB | RSS before the read MiB |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const k of keys) {
    const s = S[k];
    L.push(`| ${s.file} | ${s.mode} | ${ENGINE[s.engine]} | ${s.threads} | ${s.rows} | ${s.seconds.toFixed(3)} | ${s.best.toFixed(3)} | ${s.all.map(x => x.toFixed(2)).join(', ')} | ${s.cpu.toFixed(2)} | ${s.pwall.toFixed(2)} | ${s.pcpu.toFixed(2)} | ${MiB(s.rss)} | ${s.before ? MiB(s.before) : '–'} |`);
  }
  const cs = rs.filter(r => r.engine === 'ursa' && r.threads === uts[0] && r.mode === 'filter' && r.counters && r.run === 1);
  if (cs.length) {
    L.push('', "Ursa's reader counters, filtered read (first run):", '', '| file | row groups | skipped by stats | by bloom | pages | pages skipped | rows decoded | bytes read | reads |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of cs) { const c = r.counters; L.push(`| ${r.file} | ${c.row_groups} | ${c.row_groups_by_stats} | ${c.row_groups_by_bloom} | ${c.pages} | ${c.pages_skipped} | ${c.rows_decoded} | ${c.bytes_read} | ${c.reads} |`); }
  }
  const loads = rs.map(r => r.load1);
  L.push('', `1-minute load average at the runs: ${Math.min(...loads).toFixed(2)} to ${Math.max(...loads).toFixed(2)} (2 cores; other work shares the machine).`);
  return L.join('\n');
}
