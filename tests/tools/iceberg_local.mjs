// iceberg_local.mjs — lets icebird (an Iceberg reader that is not ours; it reads through fetch) read tables
// from local disk: file:// URLs are served from the file system, with Range; s3://BUCKET/PREFIX/… URLs from a
// local copy of that prefix once mapS3(…) names it (a test downloads the table with awscli first).
//
//   import { useLocalFetch, mapS3, tableDataFiles } from '../tools/iceberg_local.mjs';
//   useLocalFetch();                                   // once; other URLs go to the real fetch
//   mapS3('s3://test-bucket/run1', '/tmp/download');   // optional
//   await tableDataFiles('file:///data/events')        // the current snapshot's live data files (URIs)
import { readFileSync, statSync } from 'node:fs';
import { icebergMetadata, icebergManifests } from 'icebird';

const s3Maps = [];
let installed = false;

/** s3://… URLs under `prefix` are read from `dir` (the same relative paths). */
export function mapS3(prefix, dir) {
  s3Maps.push([prefix.replace(/\/+$/, '') + '/', dir.replace(/\/+$/, '') + '/']);
}

function localPath(u) {
  if (u.startsWith('file://')) return decodeURIComponent(new URL(u).pathname);
  for (const [p, d] of s3Maps) if (u.startsWith(p)) return d + u.slice(p.length);
  return null;
}

export function useLocalFetch() {
  if (installed) return;
  installed = true;
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (url, init = {}) => {
    const path = localPath(String(url));
    if (path === null) return realFetch(url, init);
    let size;
    try { size = statSync(path).size; } catch { return new Response('not found', { status: 404 }); }
    if ((init.method ?? 'GET') === 'HEAD') return new Response(null, { status: 200, headers: { 'content-length': String(size) } });
    const buf = readFileSync(path);
    const h = init.headers;
    const range = h && (typeof h.get === 'function' ? h.get('range') : (h.Range ?? h.range));
    if (range) {
      const m = /bytes=(\d+)-(\d*)/.exec(range);
      const a = Number(m[1]), b = m[2] ? Math.min(Number(m[2]) + 1, buf.length) : buf.length;
      return new Response(buf.subarray(a, b), { status: 206, headers: { 'content-length': String(b - a) } });
    }
    return new Response(buf, { status: 200, headers: { 'content-length': String(buf.length) } });
  };
}

/** The data files of the table's current snapshot (status EXISTING or ADDED), as the manifests name them;
 *  [] for a table without a snapshot. Throws when a file is named twice. */
export async function tableDataFiles(tableUrl) {
  useLocalFetch();
  const md = await icebergMetadata({ tableUrl });
  if (!md['current-snapshot-id'] || md['current-snapshot-id'] < 0) return [];
  const out = [];
  for (const m of await icebergManifests(md))
    for (const e of m.entries) if (e.status !== 2 && e.data_file.content === 0) out.push(e.data_file.file_path);
  if (new Set(out).size !== out.length) throw new Error(`${tableUrl}: a data file is named twice in the current snapshot`);
  return out;
}
