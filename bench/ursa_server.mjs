// ursa_server.mjs — what the benchmarks share about a server: startUrsa starts `ursa serve` and resolves the
// process and the port it bound (it listens on 127.0.0.1:0 and says "listening on http://127.0.0.1:PORT" on
// stderr; rejects with its stderr when it exits first or says nothing within timeoutMs); request sends one
// HTTP request on a keep-alive agent; cpuSeconds reads a process's CPU time.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';

/** One request to 127.0.0.1:port; resolves {status, body (a string)}. */
export function request(port, agent, method, path, body = Buffer.alloc(0), type = 'application/json') {
  return new Promise((res, rej) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: { 'content-type': type, 'content-length': body.length } }, r => {
      const chunks = [];
      r.on('data', c => chunks.push(c));
      r.on('end', () => res({ status: r.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', rej);
    req.end(body);
  });
}

/** User + system seconds of a process, every thread (fields 14 and 15 of stat(5), 100 clock ticks a second). */
export function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

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
