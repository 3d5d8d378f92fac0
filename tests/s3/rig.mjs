// rig.mjs — the S3 server of the tests (OpenStack Swift + s3api, tests/s3/swift.sh) as a test file uses it:
// its settings, awscli against it, and its stop when the test started its own.
//
//   const s3 = await s3Rig(makeTempDir);   // URSA_S3_ENV_FILE (ctest's fixture "swift") or a Swift of its own
//   await s3.aws('s3', 'ls', ...);         // Debian's awscli, credentials from the rig only
//   await s3.stop();                       // stops the Swift it started, if any
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SWIFT_SH = resolve(dirname(fileURLToPath(import.meta.url)), 'swift.sh');
const AWS = process.env.URSA_AWS || (existsSync('/usr/bin/aws') ? '/usr/bin/aws' : 'aws');

/** Runs a command; resolves {code, stdout, stderr} (never rejects). */
export function run(cmd, args, { env = process.env, timeoutMs = 120_000, input } = {}) {
  return new Promise(res => {
    const p = execFile(cmd, args, { env, timeout: timeoutMs, maxBuffer: 256 << 20, encoding: 'utf8' }, (err, stdout, stderr) =>
      res({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr, error: err }));
    if (input !== undefined) p.stdin.end(input);
  });
}

/** Export lines (`export K=V`, values as printf %q writes them) -> object. */
export function parseEnvFile(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2];
    if (/^'.*'$/.test(v)) v = v.slice(1, -1);
    else v = v.replace(/\\(.)/g, '$1');
    out[m[1]] = v;
  }
  return out;
}

export async function s3Rig(makeTempDir) {
  let env, own = null;
  if (process.env.URSA_S3_ENV_FILE) {
    const f = process.env.URSA_S3_ENV_FILE;
    if (!existsSync(f)) throw new Error(`URSA_S3_ENV_FILE=${f} does not exist: the fixture (tests/s3/swift.sh start) did not run or failed`);
    env = parseEnvFile(readFileSync(f, 'utf8'));
  } else {
    own = makeTempDir('swift-');
    const r = await run(SWIFT_SH, ['start'], { env: { ...process.env, URSA_SWIFT_DIR: own, URSA_SWIFT_ENV_FILE: '' } });
    if (r.code !== 0) throw new Error(`tests/s3/swift.sh start failed (${r.code}):\n${r.stdout}${r.stderr}`);
    env = parseEnvFile(readFileSync(join(own, 'env'), 'utf8'));
  }
  for (const k of ['URSA_TEST_S3_ENDPOINT', 'URSA_TEST_S3_BUCKET', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'])
    if (!env[k]) throw new Error(`the S3 env has no ${k}`);
  const s3 = {
    endpoint: env.URSA_TEST_S3_ENDPOINT, bucket: env.URSA_TEST_S3_BUCKET, region: env.URSA_TEST_S3_REGION || 'us-east-1',
    accessKey: env.AWS_ACCESS_KEY_ID, secret: env.AWS_SECRET_ACCESS_KEY,
    /** The environment a server needs for this S3 (credentials only; the endpoint goes in --s3-endpoint). */
    serverEnv: () => ({ AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secret, AWS_REGION: s3.region }),
    awsEnv: () => ({ PATH: process.env.PATH, HOME: process.env.HOME || '/tmp', AWS_ACCESS_KEY_ID: s3.accessKey,
      AWS_SECRET_ACCESS_KEY: s3.secret, AWS_DEFAULT_REGION: s3.region, AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_PAGER: '', AWS_EC2_METADATA_DISABLED: 'true' }),
    /** awscli against the server; throws with its output on failure; resolves stdout. */
    async aws(...args) {
      const r = await run(AWS, ['--endpoint-url', s3.endpoint, ...args], { env: s3.awsEnv() });
      if (r.code !== 0) throw new Error(`aws ${args.join(' ')} -> exit ${r.code}: ${r.stderr.slice(0, 2000)}`);
      return r.stdout;
    },
    async stop() {
      if (own) await run(SWIFT_SH, ['stop'], { env: { ...process.env, URSA_SWIFT_DIR: own } });
      own = null;
    },
  };
  return s3;
}
