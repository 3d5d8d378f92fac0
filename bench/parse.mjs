#!/usr/bin/env node
// parse.mjs — parse + validate + append throughput: Ursa's scanners against DuckDB and Polars on the same bytes, in
// the same run; and Ursa end to end over HTTP against its bare parser.
//
//   node bench/parse.mjs [--rows N] [--runs R] [--corpus tidy,real] [--formats ndjson,json,csv] [--threads 1,2]
//                        [--only ursa,duckdb,polars,http] [--polars-json] [--build DIR] [--dir DIR] [--warm GIB] [--report F.json]
//
//   --rows     rows of the event table (default 10000000); bench/gen_events.mjs makes the NDJSON, deriveFormats the
//              JSON array and CSV of the same rows
//   --corpus   tidy (default: bench/gen_events.mjs's table), real (bench/gen_real.mjs: the same columns with the
//              variety real producers emit; NDJSON and JSON array, no CSV) or tidy,real: both in the same run, every
//              measurement of one round on both, and a table of realistic ÷ tidy time (and CPU) per input byte
//   --runs     runs per measurement (default 3); medians are reported
//   --threads  thread counts for the peers (default 1,2: DuckDB SET threads, POLARS_MAX_THREADS)
//   --build    the Release build dir holding bench_parse and ursa (default build)
//   --polars-json  also Polars' readJSON of the JSON array (not in the default set: slow and memory hungry)
//   --warm GIB before every measured process, a helper touches GIB GiB of memory and exits (default 4; 0: off), so
//              that every tool gets memory the hypervisor backs already: see "Fresh memory" in docs/benchmarks.md
//   --report F re-render a saved results-parse-<time>.json and exit
//
// Measurements (each run a fresh process, runs interleaved round-robin so that load on a shared machine spreads
// over every tool):
//   ursa    bench_parse --format F: the file preloaded in memory, fed in 128 KiB pieces through ursa_body_feed
//           (the server's path) into one batch; timed in the process (seconds, CPU seconds)
//   duckdb  CREATE TABLE t AS FROM read_json / read_csv with the column types (bench/peer_parse.mjs)
//   polars  scanJson(...).collect() / readCSV with the column types (bench/peer_parse.mjs)
//   http    bench/http_ingest.mjs: ursa serve --threads 1, one connection, the NDJSON in ~100 MB bodies,
//           --durability fsync and none
// Every peer run's checks (non-null counts, sums per column, string bytes) must equal Ursa's on the same corpus,
// and every HTTP run must accept every row. Results: Markdown on stdout; JSON + Markdown in DIR
// (results-parse-<time>.{json,md}).
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import { cpus, totalmem, release, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultDir } from './gen_events.mjs';
import { corpusFiles } from './gen_real.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
if (args.includes('--help')) { console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 31).map(l => l.replace(/^\/\/ ?/, '')).join('\n')); process.exit(0); }
const log = s => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const median = xs => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const FORMAT_NAME = { ndjson: 'NDJSON', json: 'JSON array', csv: 'CSV' };
const CORPUS_NAME = { tidy: 'tidy', real: 'realistic' };
const sfx = corpus => (!corpus || corpus === 'tidy' ? '' : ` ${corpus}`); // measurement keys: tidy's as before
const TS_BASE_US = BigInt(Date.UTC(2026, 10, 23) * 1000); // as in peer_parse.mjs

if (opt('--report')) {
  console.log(render(JSON.parse(readFileSync(opt('--report'), 'utf8'))));
  process.exit(0);
}

const ROWS = Number(opt('--rows', 10_000_000));
const RUNS = Number(opt('--runs', 3));
const FORMATS = opt('--formats', 'ndjson,json,csv').split(',');
const CORPORA = opt('--corpus', 'tidy').split(',');
const THREADS = opt('--threads', '1,2').split(',').map(Number);
const ONLY = opt('--only', 'ursa,duckdb,polars,http').split(',');
const BUILD = resolve(REPO, opt('--build', 'build'));
const WARM_GIB = Number(opt('--warm', 4));
const DIR = resolve(opt('--dir', defaultDir()));

// ------------------------------------------------------------------ setup
const FILES = {}, BYTES = {}, SCHEMA = {};
for (const c of CORPORA) {
  const p = corpusFiles(c, { rows: ROWS, dir: DIR, derive: c === 'tidy' || FORMATS.includes('json'), log }); // the realistic array only when asked for
  FILES[c] = {};
  for (const f of FORMATS) if (p[f]) FILES[c][f] = p[f];
    else log(`no ${FORMAT_NAME[f]} of the ${c} corpus: left out`);
  BYTES[c] = Object.fromEntries(Object.entries(FILES[c]).map(([f, q]) => [f, statSync(q).size]));
  SCHEMA[c] = p.schema;
}
const cache = join(BUILD, 'CMakeCache.txt');
const buildType = existsSync(cache) ? /CMAKE_BUILD_TYPE:STRING=(\w*)/.exec(readFileSync(cache, 'utf8'))?.[1] : 'unknown';
if (buildType !== 'Release') log(`WARNING: ${BUILD} is a ${buildType} build, not Release`);
for (const c of CORPORA) for (const file of Object.values(FILES[c])) { // every tool reads its input from the page cache
  const fd = openSync(file, 'r'), b = Buffer.allocUnsafe(16 << 20);
  while (readSync(fd, b, 0, b.length, null) > 0);
  closeSync(fd);
}

const M = [];
for (const c of CORPORA) {
  for (const f of Object.keys(FILES[c])) {
    const input = FILES[c][f];
    if (ONLY.includes('ursa')) M.push({ key: `ursa ${f}${sfx(c)}`, tool: 'ursa', corpus: c, format: f, threads: 1, cmd: [join(BUILD, 'bench_parse'), '--schema', SCHEMA[c], '--input', input, '--format', f] });
    for (const engine of ['duckdb', 'polars']) {
      if (!ONLY.includes(engine) || (engine === 'polars' && f === 'json' && !args.includes('--polars-json'))) continue;
      for (const t of THREADS)
        M.push({ key: `${engine} ${f} t${t}${sfx(c)}`, tool: engine, corpus: c, format: f, threads: t, env: { POLARS_MAX_THREADS: String(t) },
          cmd: [process.execPath, join(REPO, 'bench', 'peer_parse.mjs'), '--engine', engine, '--format', f, '--input', input, '--threads', String(t), ...(c === 'tidy' ? [] : ['--corpus', c])] });
    }
  }
  if (ONLY.includes('http') && FILES[c].ndjson)
    for (const d of ['fsync', 'none'])
      M.push({ key: `http ${d}${sfx(c)}`, tool: 'http', corpus: c, format: 'ndjson', durability: d, threads: 1,
        cmd: [process.execPath, join(REPO, 'bench', 'http_ingest.mjs'), '--ursa', join(BUILD, 'ursa'), '--schema', SCHEMA[c], '--input', FILES[c].ndjson, '--durability', d, '--dir', DIR] });
}

// ------------------------------------------------------------------ runs
// Fresh memory on these VMs: pages the guest freed a few seconds ago are handed back to the host (virtio-balloon
// free page reporting), and the first touch of such a page costs ~2.5 ns/byte (0.4 GB/s) against ~10+ GB/s for a
// page the host still backs. Which process gets which kind depends on who ran just before, so each measured process
// starts right after a helper has touched (and freed) WARM_GIB GiB.
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
  return {
    key: m.key, tool: m.tool, corpus: m.corpus, format: m.format, threads: m.threads, durability: m.durability, run, load1: load,
    seconds: out.seconds, cpu_seconds: out.cpu_seconds ?? out.server_cpu_seconds, process_wall: wall, process_cpu: user + sys,
    peak_rss: maxKb * 1024, rows: out.rows ?? out.accepted, out,
  };
}
const results = [];
for (let run = 1; run <= RUNS; run++) {
  for (const m of M) {
    const r = runOnce(m, run);
    results.push(r);
    log(`run ${run}/${RUNS} ${m.key.padEnd(21)} ${r.seconds.toFixed(3)} s, ${(BYTES[m.corpus][m.format] / r.seconds / 1e6).toFixed(0)} MB/s, CPU ${r.cpu_seconds.toFixed(2)} s, load ${load1(r)}`);
  }
}
function load1(r) { return r.load1.toFixed(2); }

// ------------------------------------------------------------------ same data everywhere
const problems = [];
const ursaChecks = {}; // per corpus: the reference checks (ref: as a string, obj)
for (const r of results.filter(r => r.tool === 'ursa')) {
  const c = r.out.checks, x = {};
  for (const [name, v] of Object.entries(c)) {
    x[`${name}_n`] = String(v.count);
    if (name === 'ts') x.ts_rel = String(BigInt(v.sum) - BigInt(v.count) * TS_BASE_US);
    else if (v.sum !== undefined) x[`${name}_sum`] = v.sum;
    if (v.sum_x100 !== undefined) x[`${name}_x100`] = v.sum_x100;
    if (v.true !== undefined) x[`${name}_true`] = String(v.true);
    if (v.bytes !== undefined) x[`${name}_bytes`] = String(v.bytes);
  }
  const s = JSON.stringify(x), u = (ursaChecks[r.corpus] ??= {});
  if (r.rows !== ROWS || r.out.rejected) problems.push(`${r.key} run ${r.run}: ${r.rows} rows, ${r.out.rejected} rejected`);
  if (u.ref && u.ref !== s) problems.push(`${r.key} run ${r.run}: checks differ from the other Ursa runs`);
  u.ref ??= s;
  u.obj ??= x;
}
for (const r of results.filter(r => r.tool === 'duckdb' || r.tool === 'polars')) {
  if (r.rows !== ROWS) problems.push(`${r.key} run ${r.run}: ${r.rows} rows`);
  if (ursaChecks[r.corpus]) for (const [k, v] of Object.entries(ursaChecks[r.corpus].obj))
    if (r.out.checks[k] !== v) problems.push(`${r.key} run ${r.run}: ${k} = ${r.out.checks[k]}, Ursa ${v}`);
}
for (const r of results.filter(r => r.tool === 'http'))
  if (r.out.accepted !== ROWS || r.out.rejected || r.out.buffered_rows !== ROWS) problems.push(`${r.key} run ${r.run}: accepted ${r.out.accepted}, rejected ${r.out.rejected}, buffered ${r.out.buffered_rows}`);
if (problems.length) log(`WARNING: results differ:\n  ${problems.join('\n  ')}`);

// ------------------------------------------------------------------ report
let commit = 'unknown';
try { commit = execFileSync('git', ['-C', REPO, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).trim(); } catch { /* not a checkout */ }
const report = {
  date: new Date().toISOString(), rows: ROWS, runs: RUNS, corpora: CORPORA, bytes: BYTES, commit, build: buildType, warm_gib: WARM_GIB,
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, memory_gib: +(totalmem() / 2 ** 30).toFixed(1), kernel: release(), node: process.version },
  same_data: problems.length === 0, problems, checks: Object.fromEntries(Object.entries(ursaChecks).map(([c, u]) => [c, u.obj])),
  commands: Object.fromEntries(M.map(m => [m.key, m.cmd.map(a => a.replace(REPO + '/', '')).join(' ')])),
  results: results.map(({ out, ...r }) => ({ ...r, version: out.version })),
};
const stamp = report.date.replace(/[:.]/g, '-');
writeFileSync(join(DIR, `results-parse-${stamp}.json`), JSON.stringify(report, null, 1) + '\n');
const md = render(report);
writeFileSync(join(DIR, `results-parse-${stamp}.md`), md + '\n');
console.log(md);
log(`written ${join(DIR, `results-parse-${stamp}.json`)} and .md`);

/** Markdown tables of a report: ratios first, then every measurement. */
function render(rep) {
  const rs = rep.results.map(r => ({ ...r, corpus: r.corpus ?? 'tidy' }));
  const bytes = typeof Object.values(rep.bytes)[0] === 'number' ? { tidy: rep.bytes } : rep.bytes; // a report from before --corpus
  const corpora = Object.keys(bytes), multi = corpora.length > 1 || corpora[0] !== 'tidy';
  const keys = [...new Set(rs.map(r => r.key))];
  const S = {};
  for (const k of keys) {
    const xs = rs.filter(r => r.key === k), n = bytes[xs[0].corpus][xs[0].format];
    S[k] = { ...xs[0], seconds: median(xs.map(r => r.seconds)), all: xs.map(r => r.seconds), best: Math.min(...xs.map(r => r.seconds)),
      cpu: median(xs.map(r => r.cpu_seconds)), rss: median(xs.map(r => r.peak_rss)), bytes: n, mbs: n / median(xs.map(r => r.seconds)) / 1e6,
      mb_per_cpu_s: median(xs.map(r => n / r.cpu_seconds / 1e6)) };
  }
  // the median over rounds of f(a's run, b's run), for the rounds that ran both
  const perRound = (a, b, f) => median([...new Set(rs.map(r => r.run))].map(run => {
    const x = rs.find(r => r.run === run && r.key === a), y = rs.find(r => r.run === run && r.key === b);
    return x && y ? f(x, y) : NaN;
  }).filter(Number.isFinite));
  const paired = (a, b) => perRound(a, b, (x, y) => x.seconds / y.seconds);
  const X = v => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–');
  const CN = c => (c ? CORPUS_NAME[c] ?? c : '');
  const inputs = c => Object.entries(bytes[c]).map(([f, b]) => `${FORMAT_NAME[f]} ${(b / 1e6).toFixed(0)} MB`).join(', ');
  const L = [`# Parse + validate + append: ${rep.rows} rows; ${rep.runs} runs each; ${rep.date}`, '',
    `Machine: ${rep.machine.cpu}, ${rep.machine.cores} cores, ${rep.machine.memory_gib} GiB, kernel ${rep.machine.kernel}, node ${rep.machine.node}. Ursa ${rep.build} build at ${rep.commit}.`,
    multi ? `Input bytes: ${corpora.map(c => `${CN(c)} corpus: ${inputs(c)}`).join('; ')}.` : `Input bytes: ${inputs('tidy')}.`, ''];
  L.push('Ursa ÷ peer (below 1: Ursa takes less); time = median of the per-round ratios of the timed seconds; CPU = ratio of the median CPU seconds of the timed part.', '');
  const cc = c => (multi ? `| ${CN(c)} ` : '');
  L.push(`${multi ? '| corpus ' : ''}| format | peer | threads | time ratio | CPU-seconds ratio | Ursa MB/s | peer MB/s | Ursa MB per CPU-s | peer MB per CPU-s |`);
  L.push(`${multi ? '| --- ' : ''}| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`);
  for (const k of keys.filter(k => S[k].tool === 'duckdb' || S[k].tool === 'polars')) {
    const p = S[k], u = S[`ursa ${p.format}${sfx(p.corpus)}`];
    if (!u) continue;
    L.push(`${cc(p.corpus)}| ${FORMAT_NAME[p.format]} | ${p.tool === 'duckdb' ? 'DuckDB' : 'Polars'} | ${p.threads} | ${X(paired(u.key, k))} | ${X(u.cpu / p.cpu)} | ${u.mbs.toFixed(0)} | ${p.mbs.toFixed(0)} | ${u.mb_per_cpu_s.toFixed(0)} | ${p.mb_per_cpu_s.toFixed(0)} |`);
  }
  const h = keys.filter(k => S[k].tool === 'http' && S[`ursa ndjson${sfx(S[k].corpus)}`]);
  if (h.length) {
    L.push('', 'End to end over HTTP (NDJSON, one connection, `--threads 1`) against the bare parser:', '');
    L.push(`${multi ? '| corpus ' : ''}| durability | MB/s | bare parser MB/s | HTTP ÷ parser time (median per round; target ≤ 2×) | server CPU s |`);
    L.push(`${multi ? '| --- ' : ''}| --- | ---: | ---: | ---: | ---: |`);
    for (const k of h) {
      const u = `ursa ndjson${sfx(S[k].corpus)}`;
      L.push(`${cc(S[k].corpus)}| ${S[k].durability} | ${S[k].mbs.toFixed(0)} | ${S[u].mbs.toFixed(0)} | ${X(paired(k, u))} | ${S[k].cpu.toFixed(2)} |`);
    }
  }
  // the same measurement on both corpora: time and CPU per input byte, realistic ÷ tidy
  const both = keys.filter(k => S[k].corpus === 'tidy' && S[`${k} real`]);
  if (both.length) {
    L.push('', 'Realistic ÷ tidy, per input byte (the same rows; above 1: a realistic byte takes longer). time = median of the per-round ratios of seconds per byte; CPU = ratio of the median CPU seconds per byte. Target for Ursa\'s parse + validate + append (ursa ndjson): ≤ 1.25×.', '');
    L.push('| measurement | tidy ns/byte | realistic ns/byte | time per byte ratio | CPU per byte ratio | tidy MB/s | realistic MB/s |');
    L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const k of both) {
      const t = S[k], r = S[`${k} real`];
      const ratio = perRound(r.key, t.key, (x, y) => (x.seconds / r.bytes) / (y.seconds / t.bytes));
      L.push(`| ${k} | ${(t.seconds / t.bytes * 1e9).toFixed(2)} | ${(r.seconds / r.bytes * 1e9).toFixed(2)} | ${X(ratio)} | ${X((r.cpu / r.bytes) / (t.cpu / t.bytes))} | ${t.mbs.toFixed(0)} | ${r.mbs.toFixed(0)} |`);
    }
  }
  L.push('', '| measurement | seconds (median) | best | all runs | MB/s (median) | CPU s (timed part) | peak RSS MiB |', '| --- | ---: | ---: | --- | ---: | ---: | ---: |');
  for (const k of keys) L.push(`| ${k} | ${S[k].seconds.toFixed(3)} | ${S[k].best.toFixed(3)} | ${S[k].all.map(x => x.toFixed(2)).join(', ')} | ${S[k].mbs.toFixed(0)} | ${S[k].cpu.toFixed(2)} | ${(S[k].rss / 2 ** 20).toFixed(0)} |`);
  const loads = rs.map(r => r.load1);
  L.push('', `1-minute load average at the start of the runs: ${Math.min(...loads).toFixed(2)} .. ${Math.max(...loads).toFixed(2)} (2 cores).`);
  L.push('', rep.warm_gib === undefined ? 'Memory not warmed before the measurements (a report from before --warm).' : rep.warm_gib ? `Before every measured process a helper touched ${rep.warm_gib} GiB of memory and exited (--warm ${rep.warm_gib}).` : 'Memory not warmed before the measurements (--warm 0).');
  L.push('', `Same data everywhere: ${rep.same_data}${rep.problems.length ? ' — ' + rep.problems.join('; ') : ''}`, '', 'Commands:', '');
  for (const [k, c] of Object.entries(rep.commands)) L.push(`- ${k}: \`${c}\``);
  return L.join('\n');
}
