// logs.test.mjs — --log-format json: every line the server writes is one JSON object {"ts", "level", "msg"}
// (for log shippers), from start to shutdown; the default stays text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, makeTempDir, removeTempDirs, URSA_BIN } from './helpers.mjs';

const SCHEMA = { columns: [{ name: 'ts', type: 'timestamp', nullable: false }, { name: 'n', type: 'int64' }], time_column: 'ts' };

test('--log-format json: one JSON object a line, from start to stop; text by default; a bad value refused', async () => {
  const store = makeTempDir('ursa-logs-');
  try {
    const s = await startServer({ store, args: ['--wal-dir', `${store}/wal`, '--log-format', 'json'] });
    assert.equal((await s.put('/v1/datasets/ev', SCHEMA)).status, 201);
    assert.equal((await s.postRecords('ev', '{"ts":"2026-12-07T10:00:00Z","n":1}\n')).status, 200);
    await s.flush('ev');
    await s.stop();
    const lines = s.log().split('\n').filter(Boolean);
    assert.ok(lines.length >= 4, s.log());
    for (const line of lines) {
      let o;
      assert.doesNotThrow(() => { o = JSON.parse(line); }, `not JSON: ${line}`);
      assert.deepEqual(Object.keys(o), ['ts', 'level', 'msg'], line);
      assert.match(o.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, line);
      assert.ok(['info', 'warn', 'error'].includes(o.level), line);
    }
    const msgs = lines.map(l => JSON.parse(l).msg);
    assert.ok(msgs.some(m => /listening on http:\/\/127\.0\.0\.1:\d+/.test(m)));
    assert.ok(msgs.includes('created dataset ev'));
    assert.ok(msgs.includes('stopped'));

    const t = await startServer({ store, args: ['--wal-dir', `${store}/wal`] });
    await t.stop();
    assert.match(t.log().split('\n')[0], /^\d{4}-\d\d-\d\dT[\d:.]+Z info /, 'text by default');
    const bad = spawnSync(URSA_BIN, ['serve', '--log-format', 'yaml'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--log-format yaml/);
  } finally {
    removeTempDirs();
  }
});
