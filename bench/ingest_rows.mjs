// bench/ingest_rows.mjs -- the rows bench/ingest.sh and bench/ack_trace.sh
// post: the first N of a deterministic event table (the columns of
// bench/gen_events.mjs), one JSON object a line.
//
//   node bench/ingest_rows.mjs N OUT.ndjson
import fs from 'node:fs';

const [n, out] = [Number(process.argv[2]), process.argv[3]];
let s = '', x = 42;
const r = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
for (let i = 0; i < n; i++) {
  const p = Array.from({length: 40}, () => 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(r() * 36)]).join('');
  s += JSON.stringify({ts: new Date(1764000000000 + i * 1000).toISOString(), user_id: Math.floor(r() * 1e9),
    event: 'event_' + Math.floor(r() * 50), value: r() < 0.05 ? null : r() * 1000, ok: r() < 0.5,
    country: 'C' + Math.floor(r() * 200), payload: p}) + '\n';
}
fs.writeFileSync(out, s);
