// compact_s3.test.mjs — compaction on S3 (the Swift + s3api rig): the outputs go up as multipart uploads, the
// records and the cleanup list and delete objects, upkeep deletes the replaced inputs. One node over S3 with
// a 2 s retention; three flushes of one day and one of another; POST .../compact merges the day into one
// file; `ursa compact` then merges the other day after late rows; icebird reads every row once through the
// table (over a download of the prefix); past the retention only the table's files are left under the day,
// and no compaction record is left.
//
//   node --test tests/integration/compact_s3.test.mjs   (URSA_S3_ENV_FILE from ctest's fixture "swift", or a
//                                                        Swift of its own)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { icebergRead } from 'icebird';
import { startServer, makeTempDir, removeTempDirs, sanitizerReports, URSA_BIN } from './helpers.mjs';
import { s3Rig } from '../s3/rig.mjs';
import { useLocalFetch, mapS3 } from '../tools/iceberg_local.mjs';
import { schema, rowMaker, ndjson } from './compact-data.mjs';

const PREFIX = `compact-${Date.now().toString(36)}-${process.pid}`;
const state = { s3: null, failed: false, server: null };
before(async () => { state.s3 = await s3Rig(makeTempDir); });
after(async () => {
  if (state.server) await state.server.kill('SIGKILL');
  await state.s3?.stop();
  if (!state.failed) removeTempDirs();
});

const made = rowMaker(5, 'abcd');
const rows = (day, from, n) => made.rows(`2026-12-0${day}`, from, n);
const sleep = ms => new Promise(res => setTimeout(res, ms));

test('compaction on S3: a day on request, another by ursa compact, replaced inputs deleted after the retention', { timeout: 300_000 }, async () => {
  try {
    const store = `s3://${state.s3.bucket}/${PREFIX}`;
    const args = ['--s3-endpoint', state.s3.endpoint, '--wal-dir', join(makeTempDir('wal-'), 'wal'), '--flush-max-age', '3600', '--retention', '2s'];
    const server = state.server = await startServer({ store, node: 'n1', args, env: state.s3.serverEnv() });
    assert.equal((await server.put('/v1/datasets/ev', schema)).status, 201);
    const acked = [];
    const flush = async (day, from, n) => {
      const batch = rows(day, from, n);
      assert.equal((await server.postRecords('ev', ndjson(batch))).json?.accepted, n);
      assert.equal((await server.flush('ev')).status, 200);
      acked.push(...batch.map(x => x.id));
    };
    for (let f = 0; f < 3; f++) await flush(1, f * 1000, 1000);
    await flush(2, 5000, 100), await flush(2, 6000, 100);
    const files = async day => (await server.get('/v1/datasets/ev/files')).json.files.filter(f => f.date === `2026-12-0${day}`).map(f => f.path);
    let r = await server.request('POST', '/v1/datasets/ev/compact?date=2026-12-01');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.json.days[0].result, r.json.days[0].files_in, r.json.days[0].files_out, r.json.days[0].rows], ['compacted', 3, 1, 3000], r.text);
    assert.equal((await files(1)).length, 1);
    // Late rows for the 2nd, then the command against the same store while the node runs.
    await flush(2, 7000, 50);
    const cli = await new Promise(res => execFile(URSA_BIN, ['compact', '--store', store, '--s3-endpoint', state.s3.endpoint],
      { env: { ...process.env, ...state.s3.serverEnv() }, encoding: 'utf8' }, (err, stdout, stderr) => res({ code: err ? err.code : 0, stdout, stderr })));
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^ev 2026-12-02: 3 files \(\d+ bytes\) -> 1 \(\d+ bytes\), 250 rows/m, cli.stdout);
    assert.doesNotMatch(cli.stdout, /2026-12-01: .*->/, 'the compacted day is left alone');
    assert.equal((await files(2)).length, 1);
    // Past the retention, upkeep deletes the replaced inputs: under each day only the table's file.
    const listed = async () => (await state.s3.aws('s3', 'ls', '--recursive', `s3://${state.s3.bucket}/${PREFIX}/ev/`))
      .split('\n').map(l => l.trim().split(/\s+/).pop()).filter(k => k && k.endsWith('.parquet')).map(k => k.slice(PREFIX.length + 1)).sort();
    const live = async () => (await server.get('/v1/datasets/ev/files')).json.files.map(f => f.path).sort();
    let onS3;
    for (let k = 0; k < 120; k++) {
      onS3 = await listed();
      if (onS3.length === 2) break;
      await sleep(500);
    }
    if (onS3.length !== 2) console.error((await server.get('/metrics')).text.split('\n').filter(l => /^ursa_table_|^ursa_s3_/.test(l)).join('\n'));
    assert.deepEqual(onS3, await live(), 'only the table\'s files are left');
    const records = await state.s3.aws('s3', 'ls', '--recursive', `s3://${state.s3.bucket}/${PREFIX}/ev/_ursa/`);
    assert.doesNotMatch(records, /compactions\//, 'no compaction record left');
    // Every row once through the table, read by icebird over a download.
    const dl = makeTempDir('compact-s3-dl-');
    await state.s3.aws('s3', 'cp', '--recursive', '--only-show-errors', `s3://${state.s3.bucket}/${PREFIX}/`, `${dl}/`);
    useLocalFetch();
    mapS3(`s3://${state.s3.bucket}/${PREFIX}`, dl);
    const got = (await icebergRead({ tableUrl: `s3://${state.s3.bucket}/${PREFIX}/ev` })).map(x => Number(x.id)).sort((a, b) => a - b);
    assert.deepEqual(got, acked.slice().sort((a, b) => a - b));
    const st = await server.stop();
    state.server = null;
    assert.equal(st.code, 0, JSON.stringify(st));
    assert.deepEqual(sanitizerReports(server.log()), []);
  } catch (e) {
    state.failed = true;
    if (state.server) console.error(state.server.log().split('\n').filter(l => / (warn|error|info) /.test(l)).slice(-40).join('\n'));
    throw e;
  }
});
