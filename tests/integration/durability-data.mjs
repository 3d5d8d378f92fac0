// durability-data.mjs — rows, the ledger of what was acknowledged, WAL segment parsing and the read-back
// of a dataset for durability.test.mjs.
//
// Row ids: id = client * ID_STRIDE + k, k = 0, 1, 2, ... per client, so every id is unique and every other
// column is a function of the id (checked row by row on read-back):
//   ts = BASE_MS + ((k * 7777777 + client * 13131313) mod 3 days)   (milliseconds, spread over 3 UTC days)
//   c  = client      s = 'r' || id      p = 'x' repeated (k mod 37) times      v = id * 0.5
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { duckdbQuery } from '../tools/pqread.mjs';

export const DATASET = 'ev';
export const ID_STRIDE = 1_000_000_000;
export const BASE_MS = Date.UTC(2026, 0, 10); // 2026-01-10T00:00:00Z
export const SPAN_MS = 3 * 86_400_000;
export const SCHEMA = {
  columns: [
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'id', type: 'int64', nullable: false },
    { name: 'c', type: 'int64', nullable: false },
    { name: 's', type: 'string' },
    { name: 'p', type: 'string' },
    { name: 'v', type: 'float64' },
  ],
  time_column: 'ts',
};

/** mulberry32: a small seeded PRNG giving floats in [0, 1). */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
/** The run's seed: URSA_TEST_SEED when set (decimal or 0x hex), otherwise a random one. */
export function seedFromEnv() {
  const s = process.env.URSA_TEST_SEED;
  if (s !== undefined && s !== '') return Number(s) >>> 0;
  return (Math.random() * 2 ** 32) >>> 0;
}

export const tsMs = (client, k) => BASE_MS + ((k * 7777777 + client * 13131313) % SPAN_MS);
export function rowJson(client, k) {
  const id = client * ID_STRIDE + k;
  return `{"ts":"${new Date(tsMs(client, k)).toISOString()}","id":${id},"c":${client},"s":"r${id}","p":"${'x'.repeat(k % 37)}","v":${id * 0.5}}\n`;
}
/** NDJSON body of rows k = first .. first+n-1 of a client. */
export function body(client, first, n) {
  let out = '';
  for (let k = first; k < first + n; k++) out += rowJson(client, k);
  return out;
}

// Status of an id in the ledger.
export const NEVER = 0, UNKNOWN = 1, ACKED = 2;

/** What every client sent, per id: NEVER, UNKNOWN (sent, no 200 answer seen) or ACKED (answered 200). */
export class Ledger {
  constructor(clients) {
    this.clients = clients;
    this.status = Array.from({ length: clients }, () => new Uint8Array(1 << 16));
    this.next = new Array(clients).fill(0);
    this.requests = []; // {c, first, n, gen, status, http, error}
  }
  /** Reserves the next n ids of client c, marked UNKNOWN; returns the request record. */
  take(c, n, gen) {
    const first = this.next[c];
    this.next[c] += n;
    let st = this.status[c];
    if (this.next[c] > st.length) {
      let len = st.length;
      while (len < this.next[c]) len *= 2;
      const bigger = new Uint8Array(len);
      bigger.set(st);
      this.status[c] = st = bigger;
    }
    st.fill(UNKNOWN, first, first + n);
    const r = { c, first, n, gen, status: UNKNOWN, http: null, error: null };
    this.requests.push(r);
    return r;
  }
  ack(r) { r.status = ACKED; this.status[r.c].fill(ACKED, r.first, r.first + r.n); }
  statusOf(c, k) { return c >= 0 && c < this.clients && k >= 0 && k < this.next[c] ? this.status[c][k] : NEVER; }
  counts() {
    let acked = 0, unknown = 0;
    for (let c = 0; c < this.clients; c++) {
      for (let k = 0; k < this.next[c]; k++) { const s = this.status[c][k]; if (s === ACKED) acked++; else if (s === UNKNOWN) unknown++; }
    }
    return { acked, unknown, sent: acked + unknown };
  }
  /** The request that sent id (client c, k), for failure messages. */
  requestOf(c, k) { return this.requests.find(r => r.c === c && r.first <= k && k < r.first + r.n); }
}

/** Every published Parquet file of the dataset (relative paths), and leftover temporaries (".*.tmp-*"). */
export function listDataset(store, dataset = DATASET) {
  const files = [], temps = [], other = [];
  const root = join(store, dataset);
  for (const day of readdirSync(root)) {
    if (day === '_ursa') continue;
    const dir = join(root, day);
    if (!statSync(dir).isDirectory()) { other.push(relative(store, dir)); continue; }
    for (const f of readdirSync(dir)) {
      const rel = relative(store, join(dir, f));
      if (/^\..*\.tmp-/.test(f)) temps.push(rel);
      else if (f.endsWith('.parquet')) files.push(rel);
      else other.push(rel);
    }
  }
  return { files: files.sort(), temps: temps.sort(), other };
}

// ------------------------------------------------------------------ WAL segments
export const WAL_HDR = 24; // u32 magic | u32 crc32c | u32 len | u32 0 | u64 lsn
export function walSegments(walDir) {
  return readdirSync(walDir).filter(f => /^\d{20}\.wal$/.test(f)).sort();
}
/**
 * The whole records of a segment: [{off, len (total), lsn}], the offset where they end, and whether what follows
 * is the zero padding a segment written with direct I/O ends with (fewer than 4096 zeros up to a block boundary).
 */
export function walRecords(path) {
  const b = readFileSync(path);
  const recs = [];
  let off = 0;
  while (off + WAL_HDR <= b.length && b.toString('latin1', off, off + 4) === 'UWAL') {
    const len = b.readUInt32LE(off + 8);
    if (off + WAL_HDR + len > b.length) break;
    recs.push({ off, len: WAL_HDR + len, lsn: Number(b.readBigUInt64LE(off + 16)) });
    off += WAL_HDR + len;
  }
  const padding = b.length % 4096 === 0 && b.length - off < 4096 && b.subarray(off).every(x => x === 0);
  return { recs, end: off, size: b.length, padding };
}

// ------------------------------------------------------------------ read-back
const sqlStr = s => "'" + String(s).replaceAll("'", "''") + "'";

/**
 * Reads every file with DuckDB: per-id counts into per-client arrays, rows whose columns do not match their
 * id, rows in the wrong day partition, ids that no client could have sent, rows per file.
 */
export async function readBackDuckDB(store, files, ledger) {
  const counts = Array.from({ length: ledger.clients }, (_, c) => new Uint8Array(Math.max(1, ledger.next[c])));
  const out = { engine: 'duckdb', rows: 0, counts, foreign: [], mismatched: [], perFile: new Map() };
  if (!files.length) return out;
  const src = `read_parquet([${files.map(f => sqlStr(join(store, f))).join(', ')}], filename = true, hive_partitioning = false)`;
  const chk = `(SELECT *, id // ${ID_STRIDE} AS cc, id % ${ID_STRIDE} AS kk FROM ${src})`;
  for (const r of await duckdbQuery(`SELECT filename, count(*)::BIGINT AS n FROM ${src} GROUP BY filename`)) {
    out.perFile.set(relative(store, r.filename), Number(r.n));
  }
  const ids = await duckdbQuery(`SELECT (id // ${ID_STRIDE})::INTEGER AS c, (id % ${ID_STRIDE})::INTEGER AS k FROM ${src}`);
  out.rows = ids.length;
  for (const { c, k } of ids) {
    if (c < 0 || c >= ledger.clients || k < 0 || k >= ledger.next[c]) { if (out.foreign.length < 20) out.foreign.push(c * ID_STRIDE + k); continue; }
    if (counts[c][k] < 255) counts[c][k]++;
  }
  out.mismatched = await duckdbQuery(`SELECT id, strftime(ts, '%Y-%m-%dT%H:%M:%S.%gZ') AS ts, c, s, length(p) AS plen, v, filename FROM ${chk}
    WHERE c <> cc OR s IS DISTINCT FROM ('r' || id::VARCHAR) OR p IS DISTINCT FROM repeat('x', (kk % 37)::INTEGER) OR v IS DISTINCT FROM id * 0.5
       OR epoch_ms(ts) <> ${BASE_MS} + ((kk * 7777777 + cc * 13131313) % ${SPAN_MS})
       OR strftime(ts, '%Y-%m-%d') <> regexp_extract(filename, 'date=([0-9-]+)', 1)
    LIMIT 20`);
  return out;
}

/** Reads the id column of every file with Polars (a second, independent reader). */
export async function readBackPolars(store, files, ledger) {
  const { default: pl } = await import('nodejs-polars');
  const counts = Array.from({ length: ledger.clients }, (_, c) => new Uint8Array(Math.max(1, ledger.next[c])));
  const out = { engine: 'polars', rows: 0, counts, foreign: [], perFile: new Map() };
  for (const f of files) {
    const ids = pl.readParquet(join(store, f), { columns: ['id'] }).getColumn('id').toArray();
    out.perFile.set(f, ids.length);
    out.rows += ids.length;
    for (const idv of ids) {
      const id = Number(idv), c = Math.floor(id / ID_STRIDE), k = id % ID_STRIDE;
      if (c < 0 || c >= ledger.clients || k < 0 || k >= ledger.next[c]) { if (out.foreign.length < 20) out.foreign.push(id); continue; }
      if (counts[c][k] < 255) counts[c][k]++;
    }
  }
  return out;
}

/**
 * Compares what an engine read with the ledger. Returns {lost, duplicated, unknownPresent, unknownAbsent,
 * problems: [...]} — lost: acknowledged ids missing; duplicated: any id read more than once.
 */
export function judge(read, ledger, { showRequest = true } = {}) {
  const res = { engine: read.engine, lost: 0, duplicated: 0, unknownPresent: 0, unknownAbsent: 0, neverPresent: read.foreign.length, problems: [] };
  const examples = { lost: [], dup: [], never: [] };
  for (let c = 0; c < ledger.clients; c++) {
    const cnt = read.counts[c];
    for (let k = 0; k < ledger.next[c]; k++) {
      const st = ledger.status[c][k], n = cnt[k];
      if (n > 1) { res.duplicated++; if (examples.dup.length < 10) examples.dup.push([c, k, n]); }
      if (st === ACKED && n === 0) { res.lost++; if (examples.lost.length < 10) examples.lost.push([c, k]); }
      if (st === UNKNOWN) { if (n) res.unknownPresent++; else res.unknownAbsent++; }
      if (st === NEVER && n > 0) { res.neverPresent++; if (examples.never.length < 10) examples.never.push([c, k]); }
    }
  }
  const req = (c, k) => { const r = showRequest && ledger.requestOf(c, k); return r ? ` (request of client ${c} ids k=${r.first}..${r.first + r.n - 1}, server generation ${r.gen}, ${r.status === ACKED ? 'acked' : `unknown: ${r.error ?? r.http}`})` : ''; };
  for (const [c, k] of examples.lost) res.problems.push(`${read.engine}: acknowledged id ${c * ID_STRIDE + k} is missing${req(c, k)}`);
  for (const [c, k, n] of examples.dup) res.problems.push(`${read.engine}: id ${c * ID_STRIDE + k} read ${n} times${req(c, k)}`);
  for (const id of read.foreign) res.problems.push(`${read.engine}: id ${id} was never sent`);
  for (const [c, k] of examples.never) res.problems.push(`${read.engine}: id ${c * ID_STRIDE + k} is present but was never sent or was refused${req(c, k)}`);
  if (res.lost > examples.lost.length) res.problems.push(`${read.engine}: ... ${res.lost} acknowledged ids missing in all`);
  if (res.duplicated > examples.dup.length) res.problems.push(`${read.engine}: ... ${res.duplicated} ids duplicated in all`);
  return res;
}
