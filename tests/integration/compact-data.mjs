// compact-data.mjs — the dataset the compaction tests ingest: events keyed by (k, ts), so that every flushed file
// is a sorted run of its own and the runs of several files interleave; rows from a seeded generator.
//
//   import { schema, rowMaker, ndjson } from './compact-data.mjs';
//   const { rows, rnd } = rowMaker(7, 'abcdefgh');   // seed, the values of k
//   rows('2026-12-01', 1000, 500)                     // 500 rows of that day, ids 1000..1499, keys and times at random

export const schema = {
  columns: [
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'k', type: 'string' },
    { name: 'id', type: 'int64', nullable: false },
  ],
  time_column: 'ts',
  sort_by: ['k', 'ts'],
};

export function rowMaker(seed, keys) {
  const rnd = n => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
  const two = n => String(rnd(n)).padStart(2, '0');
  const rows = (day, from, n) =>
    Array.from({ length: n }, (_, i) => ({ ts: `${day}T${two(24)}:${two(60)}:00Z`, k: keys[rnd(keys.length)], id: from + i }));
  return { rows, rnd };
}

export const ndjson = rs => rs.map(x => JSON.stringify(x)).join('\n') + '\n';
