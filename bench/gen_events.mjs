#!/usr/bin/env node
// gen_events.mjs — writes the benchmark's event table as NDJSON, deterministically (same seed, same bytes).
//
//   node bench/gen_events.mjs [--rows N] [--seed S] [--dir DIR] [--force]
//
//   --rows   rows to write (default 10000000)
//   --seed   PRNG seed (default 20261123)
//   --dir    output directory (default $BENCH_DIR, else /tmp/ursa-bench); never inside the repository
//   --force  rewrite even when a file with the same rows and seed is already there
//
// Writes DIR/events-<rows>.ndjson, DIR/events.schema.json (Ursa's schema for it) and
// DIR/events-<rows>.json (a manifest: rows, seed, bytes, null values); prints the manifest.
// deriveFormats() (used by bench/parse.mjs) writes the same rows as a JSON array (events-<rows>.array.json)
// and as CSV with a header row (events-<rows>.csv; a null is an empty cell).
//
// The table (one JSON object per line, fields always in this order):
//   ts       RFC 3339 UTC timestamp with 6 fraction digits, increasing over about one day
//   user_id  int64, uniform in 1 .. 10^9
//   event    one of 50 names (skewed: a few are common)
//   value    float64 with 2 decimals, null in 5 % of rows (written as "value":null)
//   ok       bool, true in 90 % of rows
//   country  one of 200 two-letter codes (skewed)
//   payload  40 random characters from [A-Za-z0-9_-]
import { openSync, readSync, writeSync, closeSync, mkdirSync, existsSync, readFileSync, writeFileSync, renameSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const EVENT_SCHEMA = {
  columns: [
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'user_id', type: 'int64' },
    { name: 'event', type: 'string' },
    { name: 'value', type: 'float64' },
    { name: 'ok', type: 'bool' },
    { name: 'country', type: 'string' },
    { name: 'payload', type: 'string' },
  ],
  time_column: 'ts',
};

export function defaultDir() { return resolve(process.env.BENCH_DIR || '/tmp/ursa-bench'); }
export function dataPaths(dir, rows) {
  return {
    ndjson: join(dir, `events-${rows}.ndjson`), manifest: join(dir, `events-${rows}.json`), schema: join(dir, 'events.schema.json'),
    array: join(dir, `events-${rows}.array.json`), csv: join(dir, `events-${rows}.csv`),
  };
}

/** The 50 event names (the first ones most common). */
export const EVENTS = ['page_view', 'click', 'scroll', 'login', 'logout', 'signup', 'search', 'add_to_cart', 'remove_from_cart', 'checkout',
  'purchase', 'refund', 'share', 'like', 'comment', 'follow', 'unfollow', 'play', 'pause', 'seek', 'download', 'upload', 'error', 'timeout',
  'retry', 'open_app', 'close_app', 'notification_shown', 'notification_clicked', 'settings_changed', 'password_reset', 'profile_view',
  'profile_edit', 'invite_sent', 'invite_accepted', 'message_sent', 'message_read', 'video_start', 'video_complete', 'ad_impression',
  'ad_click', 'banner_closed', 'feedback', 'rating', 'subscription_start', 'subscription_cancel', 'trial_start', 'trial_end', 'export', 'import'];

/** 200 distinct two-letter country codes, deterministic (the first ones most common). */
export const COUNTRIES = [];
for (let i = 0; COUNTRIES.length < 200; i++) {
  const c = String.fromCharCode(65 + (i * 7) % 26, 65 + Math.floor(i * 7 / 26) % 26);
  if (!COUNTRIES.includes(c)) COUNTRIES.push(c);
}

/** mulberry32: a seeded generator of uint32s. */
export function makeRng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Makes dir (never inside the repository) and writes the schema; returns the manifest of a file already there
 * with the same rows and seed (unless force), else null. Shared with gen_real.mjs. */
export function prepareDir({ dir, paths, rows, seed, force, log }) {
  const repo = resolve(new URL('..', import.meta.url).pathname);
  if ((resolve(dir) + '/').startsWith(repo + '/')) throw new Error(`data dir ${dir} is inside the repository; use BENCH_DIR outside it`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(paths.schema, JSON.stringify(EVENT_SCHEMA, null, 1) + '\n');
  if (!force && existsSync(paths.manifest) && existsSync(paths.ndjson)) {
    const m = JSON.parse(readFileSync(paths.manifest, 'utf8'));
    if (m.rows === rows && m.seed === seed && m.bytes === statSync(paths.ndjson).size) { log(`reusing ${paths.ndjson}`); return m; }
  }
  return null;
}

/** Generates the file; returns the manifest. */
export function generate({ rows = 10_000_000, seed = 20261123, dir = defaultDir(), force = false, log = () => {} } = {}) {
  const paths = dataPaths(dir, rows);
  const reused = prepareDir({ dir, paths, rows, seed, force, log });
  if (reused) return reused;
  const u32 = makeRng(seed);
  const unit = () => u32() / 4294967296;
  const countries = COUNTRIES;
  const ALPHA = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
  const tmp = paths.ndjson + '.tmp';
  const fd = openSync(tmp, 'w');
  const CHUNK = 8 << 20;
  const buf = Buffer.allocUnsafe(CHUNK + 4096);
  let pos = 0, bytes = 0, nulls = 0;
  let us = Date.UTC(2026, 10, 23) * 1000; // 2026-11-23T00:00:00Z in µs
  let sec = -1, prefix = '';
  const t0 = Date.now();
  for (let r = 0; r < rows; r++) {
    us += u32() % 17280; // mean gap 8.64 ms: 10 M rows span about one day
    const s = Math.floor(us / 1e6);
    if (s !== sec) { sec = s; prefix = `{"ts":"${new Date(s * 1000).toISOString().slice(0, 19)}.`; }
    const frac = String(us - s * 1e6).padStart(6, '0');
    const user = 1 + Math.floor(unit() * 1e9);
    const e1 = unit();
    const event = EVENTS[Math.floor(50 * e1 * e1)];
    let value;
    if (u32() % 100 < 5) { value = 'null'; nulls++; } else value = String((u32() % 10000000) / 100);
    const ok = u32() % 10 < 9 ? 'true' : 'false';
    const c1 = unit();
    const country = countries[Math.floor(200 * c1 * c1 * c1)];
    let payload = '';
    for (let k = 0; k < 8; k++) { // 8 x 5 characters of 6 random bits each
      let x = u32();
      for (let j = 0; j < 5; j++) { payload += ALPHA[x & 63]; x >>>= 6; }
    }
    pos += buf.latin1Write(`${prefix}${frac}Z","user_id":${user},"event":"${event}","value":${value},"ok":${ok},"country":"${country}","payload":"${payload}"}\n`, pos);
    if (pos >= CHUNK) { writeSync(fd, buf, 0, pos); bytes += pos; pos = 0; }
    if ((r + 1) % 1_000_000 === 0) log(`${r + 1} rows, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (pos) { writeSync(fd, buf, 0, pos); bytes += pos; }
  closeSync(fd);
  renameSync(tmp, paths.ndjson);
  const manifest = { rows, seed, bytes, value_nulls: nulls, file: paths.ndjson, schema: paths.schema, generated: new Date().toISOString(), seconds: (Date.now() - t0) / 1000 };
  writeFileSync(paths.manifest, JSON.stringify(manifest, null, 1) + '\n');
  return manifest;
}

/**
 * Writes the rows of the NDJSON file again as a JSON array ("[\n" + the lines joined by ",\n" + "\n]\n": the
 * same objects, byte for byte) and as CSV (header row; each line parsed with JSON.parse; a null is an empty
 * cell; a string with a comma, quote or line end is quoted). Skipped when both are newer than the NDJSON.
 */
export function deriveFormats({ rows = 10_000_000, dir = defaultDir(), log = () => {} } = {}) {
  const paths = dataPaths(dir, rows);
  const src = statSync(paths.ndjson);
  const fresh = f => existsSync(f) && statSync(f).mtimeMs >= src.mtimeMs;
  if (fresh(paths.array) && fresh(paths.csv)) { log(`reusing ${paths.array} and ${paths.csv}`); return paths; }
  const cols = EVENT_SCHEMA.columns.map(c => c.name);
  const cell = v => {
    if (v === null) return '';
    const t = String(v);
    return /[",\r\n]/.test(t) ? '"' + t.replaceAll('"', '""') + '"' : t;
  };
  const fdIn = openSync(paths.ndjson, 'r');
  const fa = openSync(paths.array + '.tmp', 'w'), fc = openSync(paths.csv + '.tmp', 'w');
  writeSync(fa, '[\n');
  writeSync(fc, cols.join(',') + '\n');
  const inBuf = Buffer.allocUnsafe(16 << 20);
  let rest = '', first = true, n = 0;
  const t0 = Date.now();
  for (;;) {
    const k = readSync(fdIn, inBuf, 0, inBuf.length, null);
    const text = rest + inBuf.latin1Slice(0, k);
    const lines = text.split('\n');
    rest = k ? lines.pop() : '';
    let a = '', c = '';
    for (const line of lines) {
      if (!line) continue;
      a += (first ? '' : ',\n') + line;
      first = false;
      const o = JSON.parse(line);
      c += cols.map(name => cell(o[name])).join(',') + '\n';
      n++;
    }
    writeSync(fa, a, null, 'latin1');
    writeSync(fc, c, null, 'latin1');
    if (!k) break;
    if (n % 1_000_000 < lines.length) log(`derived ${n} rows, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  writeSync(fa, '\n]\n');
  closeSync(fdIn); closeSync(fa); closeSync(fc);
  if (n !== rows) throw new Error(`${paths.ndjson} holds ${n} rows, expected ${rows}`);
  renameSync(paths.array + '.tmp', paths.array);
  renameSync(paths.csv + '.tmp', paths.csv);
  return paths;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
  if (args.includes('--help')) { console.log('usage: node bench/gen_events.mjs [--rows N] [--seed S] [--dir DIR] [--force]'); process.exit(0); }
  const m = generate({ rows: Number(opt('--rows', 10_000_000)), seed: Number(opt('--seed', 20261123)), dir: opt('--dir', defaultDir()), force: args.includes('--force'), log: s => console.error(s) });
  console.log(JSON.stringify(m));
}
