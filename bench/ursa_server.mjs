// ursa_server.mjs — starts `ursa serve` for a benchmark: the process and the port it bound (it listens on
// 127.0.0.1:0 and says "listening on http://127.0.0.1:PORT" on stderr). Rejects with its stderr when it exits
// first or says nothing within timeoutMs.
import { spawn } from 'node:child_process';

export async function startUrsa(bin, args, { env = process.env, timeoutMs = 10000 } = {}) {
  const proc = spawn(bin, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const port = await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`no "listening on" from ursa: ${log}`)), timeoutMs);
    proc.stderr.on('data', d => {
      log += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m) { clearTimeout(timer); res(Number(m[1])); }
    });
    proc.on('exit', c => { clearTimeout(timer); rej(new Error(`ursa exited (${c}): ${log}`)); });
  });
  return { proc, port };
}
