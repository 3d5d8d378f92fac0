#!/usr/bin/env node
// http_ingest.mjs — end-to-end ingest over HTTP: one fresh `ursa serve` and one connection, NDJSON bodies of a
// file POSTed one after the other (started by bench/parse.mjs, one process per run; usable alone).
//
//   node bench/http_ingest.mjs --ursa build/ursa --schema S.json --input F.ndjson [--durability fsync|none]
//                              [--body-mb 100] [--threads 1] [--dir DIR]
//   node bench/http_ingest.mjs --ursa build/ursa --corpus tidy|real --rows N [...]
//
// --corpus and --rows instead of --schema and --input: the NDJSON of bench/gen_events.mjs (tidy) or of
// bench/gen_real.mjs (real) with N rows in DIR, written there when missing.
// The file is read into memory first (in pieces: it may pass 2 GiB) and cut at line ends into bodies of about
// --body-mb MB (under the server's 256 MiB default --max-body). The server runs with --threads 1 (one HTTP worker: the parser's core)
// and with flushing pushed out of the way (--flush-max-bytes 1 TiB, --flush-max-age 1 day), so what is timed
// is the ingest path alone: HTTP, parse + validate + append, the WAL record and its write (and fdatasync with
// --durability fsync). Its store and log are in DIR/http-store (removed before and after).
// Timed: from the first request to the last answer (keep-alive, one request at a time). Also: the server's
// CPU seconds over that span (/proc/PID/stat), and the sum of accepted and rejected rows of the answers.
// The server is ended with SIGKILL once measured (its shutdown would flush the buffer to Parquet, which is
// not what this measures). Prints one JSON line.
import { readFileSync, rmSync, mkdirSync, openSync, readSync, closeSync, fstatSync } from 'node:fs';
import http from 'node:http';
import { join, resolve } from 'node:path';
import { startUrsa, request as requestTo, cpuSeconds } from './ursa_server.mjs';
import { corpusFiles } from './gen_real.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const URSA = resolve(opt('--ursa', 'build/ursa'));
const durability = opt('--durability', 'fsync'), bodyBytes = Number(opt('--body-mb', 100)) * 1e6;
const threads = opt('--threads', '1'), dir = resolve(opt('--dir', process.env.BENCH_DIR || '/tmp/ursa-bench'));
let schemaPath = opt('--schema'), input = opt('--input');
if (opt('--corpus') && !input) ({ schema: schemaPath, ndjson: input } = corpusFiles(opt('--corpus'), { rows: Number(opt('--rows', 10_000_000)), dir }));
if (!schemaPath || !input) { console.error('usage: see the header of bench/http_ingest.mjs'); process.exit(2); }

// Bodies of about bodyBytes, each ending at a line end (the last at the end of the file), each its own buffer.
const bodies = [];
{
  const fd = openSync(input, 'r'), size = fstatSync(fd).size, look = Buffer.allocUnsafe(1 << 16);
  for (let pos = 0; pos < size;) {
    let end = Math.min(pos + bodyBytes, size);
    for (let at = end, k; end < size && at < size; at += k) { // to the next line end
      k = readSync(fd, look, 0, look.length, at);
      const nl = look.subarray(0, k).indexOf(10);
      if (nl >= 0) { end = at + nl + 1; break; }
      if (at + k >= size) end = size;
    }
    const b = Buffer.allocUnsafe(end - pos);
    for (let got = 0; got < b.length;) got += readSync(fd, b, got, b.length - got, pos + got);
    bodies.push(b);
    pos = end;
  }
  closeSync(fd);
}
const dataLength = bodies.reduce((a, b) => a + b.length, 0);

const store = join(dir, 'http-store');
rmSync(store, { recursive: true, force: true });
mkdirSync(store, { recursive: true });
const { proc, port } = await startUrsa(URSA, ['serve', '--listen', '127.0.0.1:0', '--store', store, '--node', 'bench',
  '--threads', threads, '--durability', durability, '--flush-max-bytes', String(2 ** 40), '--flush-max-age', '86400']);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const request = (method, path, body, type) => requestTo(port, agent, method, path, body, type);

let result;
try {
  const put = await request('PUT', '/v1/datasets/events', readFileSync(schemaPath), 'application/json');
  if (put.status !== 200 && put.status !== 201) throw new Error(`PUT schema: ${put.status} ${put.body}`);
  let accepted = 0, rejected = 0;
  const cpu0 = cpuSeconds(proc.pid), t0 = process.hrtime.bigint();
  for (const b of bodies) {
    const r = await request('POST', '/v1/datasets/events/records', b, 'application/x-ndjson');
    if (r.status !== 200) throw new Error(`POST: ${r.status} ${r.body.slice(0, 500)}`);
    const a = JSON.parse(r.body);
    accepted += a.accepted;
    rejected += a.rejected;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9, cpu = cpuSeconds(proc.pid) - cpu0;
  const info = JSON.parse((await request('GET', '/v1/datasets/events', Buffer.alloc(0), 'application/json')).body);
  result = {
    durability, threads: Number(threads), bytes: dataLength, requests: bodies.length, accepted, rejected, buffered_rows: info.buffered_rows,
    seconds, mb_per_s: dataLength / seconds / 1e6, server_cpu_seconds: cpu,
  };
} finally {
  proc.kill('SIGKILL');
  await new Promise(r => (proc.exitCode !== null || proc.signalCode !== null ? r() : proc.on('exit', r)));
  rmSync(store, { recursive: true, force: true });
  agent.destroy();
}
console.log(JSON.stringify(result));
