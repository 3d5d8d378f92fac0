// query_slt.test.mjs — runs every tests/sql/*.slt file (the dialect is described in tests/tools/slt.mjs) against a
// real Ursa server: one server per file, datasets created and loaded as the file says, each query's answer checked
// (types, rows, in order unless `rowsort`), each `statement error` checked to be a 4xx naming the expected words.
// Records marked `skipif ursa # FINDING-n` are known engine bugs (FINDINGS.md): they are counted, not run.
//
//   node --test tests/integration/query_slt.test.mjs      (SLT_FILE=regressions to run one file of tests/sql,
//                                                           SLT_PATH=/tmp/x.slt to run a scratch file)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports, REPO_ROOT } from './helpers.mjs';
import { parseSlt, checkQuery } from '../tools/slt.mjs';
import { runUrsa } from '../tools/querydiff.mjs';

// SLT_PATH=/some/file.slt runs that file alone (for scratch cases).
const DIR = process.env.SLT_PATH ? dirname(resolve(process.env.SLT_PATH)) : join(REPO_ROOT, 'tests/sql');
const files = process.env.SLT_PATH ? [basename(process.env.SLT_PATH)]
  : readdirSync(DIR).filter(f => f.endsWith('.slt') && (!process.env.SLT_FILE || f.startsWith(process.env.SLT_FILE))).sort();

let failed = false;
const logs = [];
after(() => {
  const reports = logs.flatMap(l => sanitizerReports(l()));
  assert.deepEqual(reports, [], 'sanitizer reports');
  if (!failed) removeTempDirs();
});

for (const file of files) {
  test(`tests/sql/${file}`, { timeout: 300_000 }, async () => {
    const recs = parseSlt(readFileSync(join(DIR, file), 'utf8'));
    const server = await startServer({ store: makeTempDir('ursa-slt-'), args: ['--flush-max-age', '3600'] });
    logs.push(server.log);
    const problems = [];
    let ran = 0, skipped = 0;
    try {
      for (const rec of recs) {
        if (rec.skip.has('ursa')) { skipped++; continue; }
        const where = `${file}:${rec.line}`;
        if (rec.kind === 'dataset') {
          const r = await server.put(`/v1/datasets/${rec.name}`, rec.schema);
          assert.equal(r.status, 201, `${where}: ${r.text}`);
        } else if (rec.kind === 'records') {
          const r = await server.postRecords(rec.name, rec.lines.join('\n') + '\n');
          assert.equal(r.json?.accepted, rec.lines.length, `${where}: ${r.text}`);
        } else if (rec.kind === 'flush') {
          assert.equal((await server.flush(rec.name)).status, 200, where);
        } else {
          ran++;
          const a = await runUrsa(server, rec.sql);
          if (rec.kind === 'ok') {
            if (!a.ok) problems.push(`${where}: ${rec.sql}\n  error ${a.status}: ${a.error}`);
          } else if (rec.kind === 'error') {
            if (a.ok) problems.push(`${where}: ${rec.sql}\n  succeeded, expected an error containing "${rec.want}"`);
            else if (!(a.status >= 400 && a.status < 500)) problems.push(`${where}: ${rec.sql}\n  status ${a.status}, expected 4xx: ${a.error}`);
            else if (!a.error.toLowerCase().includes(rec.want.toLowerCase())) problems.push(`${where}: ${rec.sql}\n  error "${a.error}" does not contain "${rec.want}"`);
          } else {
            const why = checkQuery(rec, a);
            if (why) problems.push(`${where}: ${rec.sql}\n  ${why}`);
          }
        }
      }
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      await server.stop();
    }
    console.log(`${file}: ${ran} records run, ${skipped} skipped (known findings), ${problems.length} problems`);
    if (problems.length) {
      failed = true;
      assert.fail(`${problems.length} of ${ran} records fail:\n${problems.join('\n')}`);
    }
  });
}
