// query_diff.test.mjs — Ursa's SQL answers against DuckDB's on the same rows (issue 15), plus TLP on Ursa alone.
//
// One server, a few random datasets (tests/tools/sqlgen.mjs) ingested in several requests, some flushed to Parquet
// and some left in the buffer (one dataset all flushed, one all buffered, one mixed, one empty). DuckDB gets the
// same rows: the dataset's Parquet files as Ursa wrote them (GET /v1/datasets/NAME/files), read by read_parquet and
// cast to Ursa's query types, plus the buffered rows inserted from the generator's records. Then each generated
// query runs on both and the answers must agree: column count, types, names (PostgreSQL's), rows as multisets
// (in order with ORDER BY), doubles within 1e-9 relative (sums and quantiles 1e-6), approx_count_distinct
// within 5%; an error on one side only is a mismatch, a 5xx from Ursa always is.
//
// TLP (ternary logic partitioning): for a random predicate p, rows(Q) = rows(Q WHERE p) ⊎ rows(Q WHERE NOT p) ⊎
// rows(Q WHERE p IS NULL), and count/sum/min/max of the three partitions combine into those of Q.
//
//   node --test tests/integration/query_diff.test.mjs
//   QUERY_DIFF_QUERIES=20000 QUERY_DIFF_SEED=7 QUERY_DIFF_FEATURES=all node --test tests/integration/query_diff.test.mjs
//   QUERY_DIFF_ONLY=123 ...   runs only query 123 of that seed (a mismatch prints its number)
// Env: QUERY_DIFF_QUERIES (default 1500), QUERY_DIFF_SEED (default 20260115), QUERY_DIFF_FEATURES ('ci' default, or
// 'all', or a comma list like 'ci,+unicodeCase,-dates'), QUERY_DIFF_MAX_FAIL (mismatches reported, default 10).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports } from './helpers.mjs';
import { makeRng, genDataset, genQuery, genTlp, recordJson, recordDuckValues, DUCK_CASTS, DUCK_TABLE_COLUMNS, FEATURES_CI, FEATURES_ALL } from '../tools/sqlgen.mjs';
import { runUrsa, runDuck, duckRun, duckClose, compareAnswers, showRows } from '../tools/querydiff.mjs';

const N = Number(process.env.QUERY_DIFF_QUERIES ?? 1500);
const SEED = Number(process.env.QUERY_DIFF_SEED ?? 20260115);
const ONLY = process.env.QUERY_DIFF_ONLY !== undefined ? Number(process.env.QUERY_DIFF_ONLY) : null;
const MAX_FAIL = Number(process.env.QUERY_DIFF_MAX_FAIL ?? 10);

function features() {
  const spec = (process.env.QUERY_DIFF_FEATURES ?? 'ci').split(',').map(s => s.trim()).filter(Boolean);
  let f = { ...FEATURES_CI };
  for (const s of spec) {
    if (s === 'all') f = { ...FEATURES_ALL };
    else if (s === 'ci') f = { ...FEATURES_CI };
    else if (/^[+-]\w+$/.test(s) && s.slice(1) in FEATURES_ALL) f[s.slice(1)] = s[0] === '+';
    else throw new Error(`QUERY_DIFF_FEATURES: unknown ${s}`);
  }
  return f;
}

let failed = false;
const logs = [];
after(async () => {
  await duckClose();
  const reports = logs.flatMap(l => sanitizerReports(l()));
  assert.deepEqual(reports, [], 'sanitizer reports');
  if (!failed) removeTempDirs();
});

// How each dataset is loaded: [requests, rows per request, how many of the first requests are flushed].
const PLANS = [
  { name: 'dmix', requests: 4, rows: 300, flushed: 2 },
  { name: 'dfile', requests: 3, rows: 250, flushed: 3 },
  { name: 'dbuf', requests: 2, rows: 200, flushed: 0 },
  { name: 'dnone', requests: 0, rows: 0, flushed: 0 },
];

async function load(server, store, rng, plan) {
  const ds = genDataset(rng, plan.name);
  let r = await server.put(`/v1/datasets/${plan.name}`, ds.schema);
  assert.equal(r.status, 201, r.text);
  const buffered = [];
  for (let k = 0; k < plan.requests; k++) {
    const rows = ds.rows(plan.rows);
    r = await server.postRecords(plan.name, rows.map(recordJson).join('\n') + '\n');
    assert.equal(r.json?.accepted, rows.length, r.text);
    if (k < plan.flushed) {
      if (k === plan.flushed - 1) assert.equal((await server.flush(plan.name)).status, 200);
    } else buffered.push(...rows);
  }
  r = await server.get(`/v1/datasets/${plan.name}`);
  assert.equal(r.json?.buffered_rows ?? r.json?.dataset?.buffered_rows, buffered.length, `buffered rows of ${plan.name}: ${r.text}`);
  const files = (await server.get(`/v1/datasets/${plan.name}/files`)).json?.files ?? [];
  assert.equal(files.length > 0, plan.flushed > 0, `files of ${plan.name}`);
  await duckRun(`CREATE OR REPLACE TABLE ${plan.name} (${DUCK_TABLE_COLUMNS})`);
  if (files.length) {
    const list = files.map(f => `'${join(store, f.path)}'`).join(', ');
    await duckRun(`INSERT INTO ${plan.name} SELECT ${DUCK_CASTS} FROM read_parquet([${list}], hive_partitioning = false)`);
  }
  for (let i = 0; i < buffered.length; i += 500) {
    await duckRun(`INSERT INTO ${plan.name} VALUES ${buffered.slice(i, i + 500).map(recordDuckValues).join(', ')}`);
  }
  const total = plan.requests * plan.rows;
  const u = await runUrsa(server, `SELECT count(*) FROM ${plan.name}`);
  const d = await runDuck(`SELECT count(*) FROM ${plan.name}`);
  assert.deepEqual([u.rows?.[0]?.[0], d.rows?.[0]?.[0]], [BigInt(total), BigInt(total)], `row counts of ${plan.name}: ${showRows(u)}`);
  return ds;
}

// ------------------------------------------------------------------ TLP
function tlpCheck(t, base, parts) {
  if (!base.ok || parts.some(p => !p.ok)) {
    const errs = [base, ...parts].filter(a => !a.ok);
    if (errs.some(a => a.status >= 500)) return `Ursa answered ${errs.find(a => a.status >= 500).status}`;
    if (!base.ok) return null; // the base query errs: nothing to partition
    if (parts.every(p => !p.ok)) return null; // p itself errs (a cast out of range), on every partition alike
    return `some partitions err, others do not: ${errs[0].error}`;
  }
  if (t.kind === 'rows') {
    const key = r => r.map(v => (typeof v === 'number' ? (Number.isNaN(v) ? 'NaN' : String(v === 0 ? 0 : v)) : typeof v + String(v))).join('\u0001');
    const count = new Map();
    for (const r of base.rows) count.set(key(r), (count.get(key(r)) ?? 0) + 1);
    for (const p of parts) for (const r of p.rows) {
      const k = key(r);
      if (!count.get(k)) return `a partition's row ${k} is not (or too often) in the whole`;
      count.set(k, count.get(k) - 1);
    }
    const left = [...count.entries()].filter(([, n]) => n);
    return left.length ? `${left.reduce((s, [, n]) => s + n, 0)} rows of the whole in no partition, e.g. ${left[0][0]}` : null;
  }
  // agg: count(*), sum(x), min(y), max(y), count(y)
  const b = base.rows[0], ps = parts.map(p => p.rows[0]);
  const add = (xs) => xs.reduce((s, v) => (v === null ? s : s === null ? v : s + v), null);
  const cmp = (a, c) => (a < c ? -1 : a > c ? 1 : 0);
  const mn = xs => xs.filter(v => v !== null).reduce((s, v) => (s === null || cmp(v, s) < 0 ? v : s), null);
  const mx = xs => xs.filter(v => v !== null).reduce((s, v) => (s === null || cmp(v, s) > 0 ? v : s), null);
  const want = [add(ps.map(r => r[0])), add(ps.map(r => r[1])), mn(ps.map(r => r[2])), mx(ps.map(r => r[3])), add(ps.map(r => r[4]))];
  for (let i = 0; i < 5; i++) if (b[i] !== want[i]) return `column ${i + 1}: whole ${b[i]}, partitions give ${want[i]}`;
  return null;
}

test('differential: Ursa vs DuckDB on random queries, and TLP', { timeout: 3_600_000 }, async () => {
  const f = features();
  const store = makeTempDir('ursa-query-diff-');
  const server = await startServer({ store, args: ['--flush-max-age', '3600'] });
  logs.push(server.log);
  const mismatches = [];
  let agreedErrors = 0, ran = 0, tlpRan = 0;
  const t0 = Date.now();
  try {
    const rng = makeRng(SEED);
    const datasets = [];
    for (const plan of PLANS) datasets.push(await load(server, store, rng, plan));
    for (let i = 0; i < (ONLY !== null ? ONLY + 1 : N); i++) {
      if (ONLY !== null && i !== ONLY) continue;
      const qr = makeRng((SEED * 1000003 + i) >>> 0); // one stream per query, so that query i can be rerun alone
      const ds = datasets[qr.int(0, datasets.length - 1)];
      if (i % 5 === 4) {
        const t = genTlp(qr, ds, f);
        const base = await runUrsa(server, t.base);
        const parts = [];
        for (const p of t.parts) parts.push(await runUrsa(server, p));
        tlpRan++;
        const crash = [base, ...parts].find(a => a.crashed);
        const why = crash ? `Ursa crashed (${crash.error})` : tlpCheck(t, base, parts);
        if (why) mismatches.push({ i, why, text: `TLP (Ursa alone): ${why}\n  whole: ${t.base}\n  p:     ${t.p}\n  whole: ${showRows(base, 5)}\n` + parts.map((p, k) => `  part ${k + 1} (${t.parts[k]}): ${showRows(p, 5)}`).join('\n') });
        if (crash) break;
        continue;
      }
      const q = genQuery(qr, ds, f);
      const u = await runUrsa(server, q.ursa);
      const d = await runDuck(q.duck);
      ran++;
      if (!u.ok && !d.ok) agreedErrors++;
      const why = compareAnswers(u, d, q);
      if (why) mismatches.push({ i, why, text: `${why}\n  Ursa SQL:   ${q.ursa}\n  DuckDB SQL: ${q.duck}\n  Ursa:   ${showRows(u)}\n  DuckDB: ${showRows(d)}` });
      if (mismatches.length >= MAX_FAIL || u.crashed) break;
    }
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    console.log(`query_diff: seed ${SEED}, ${ran} differential queries (${agreedErrors} errors on both sides), ${tlpRan} TLP cases, ${mismatches.length} mismatches, ${secs} s`);
    if (mismatches.length) {
      failed = true;
      const report = mismatches.map(m => `--- query ${m.i} (rerun: QUERY_DIFF_SEED=${SEED} QUERY_DIFF_ONLY=${m.i}): ${m.text}`).join('\n');
      const san = sanitizerReports(server.log());
      assert.fail(`${mismatches.length} mismatches (seed ${SEED}):\n${report}${san.length ? `\n--- server sanitizer reports:\n${san.join('\n')}` : ''}`);
    }
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    await server.stop();
  }
});
