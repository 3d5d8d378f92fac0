#!/usr/bin/env node
// compact_check.mjs — checks a merge's outputs with DuckDB, independently of Ursa's reader:
//   SELECT * FROM read_parquet([outputs])   (the outputs in order, each in file order)
// must equal
//   SELECT * FROM read_parquet([inputs], union_by_name) ORDER BY <key> NULLS FIRST, <tiebreak>
// row for row, where <tiebreak> names a column that grows with the input and the row's place in it
// (so the stable order is checked too). Also: every output column carries the expected field id.
//
//   node compact_check.mjs --out a.parquet,b.parquet --in x.parquet,y.parquet --key k,n --tie id \
//        [--ids col=1,col2=2]
// Exit 0 when equal; prints the first difference and exits 1 otherwise.
import { duckdbQuery, close } from './pqread.mjs';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].slice(2)] = process.argv[i + 1];
const list = (s) => s.split(',').filter(Boolean).map((f) => `'${f.replaceAll("'", "''")}'`).join(', ');
const order = args.key.split(',').map((c) => `"${c}" NULLS FIRST`).concat([`"${args.tie}"`]).join(', ');

const got = await duckdbQuery(`SELECT * FROM read_parquet([${list(args.out)}])`);
const cols = got.length ? Object.keys(got[0]) : [];
const sel = cols.map((c) => `"${c}"`).join(', ') || '*';
const want = await duckdbQuery(
  `SELECT ${sel} FROM read_parquet([${list(args.in)}], union_by_name = true) ORDER BY ${order}`);
const text = (r) => JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
let bad = 0;
if (got.length !== want.length) {
  console.error(`rows: ${got.length} in the outputs, ${want.length} in the inputs`);
  bad = 1;
}
for (let i = 0; !bad && i < got.length; i++) {
  if (text(got[i]) !== text(want[i])) {
    console.error(`row ${i}: got ${text(got[i])}\n        want ${text(want[i])}`);
    bad = 1;
  }
}
if (!bad && args.ids) {
  for (const f of args.out.split(',').filter(Boolean)) {
    const schema = await duckdbQuery(`SELECT name, field_id FROM parquet_schema('${f}')`);
    for (const pair of args.ids.split(',')) {
      const [name, id] = pair.split('=');
      const row = schema.find((r) => r.name === name);
      if (!row || String(row.field_id) !== id) {
        console.error(`${f}: column ${name} has field id ${row?.field_id}, want ${id}`);
        bad = 1;
      }
    }
  }
}
close();
if (!bad) console.log(`ok: ${got.length} rows`);
process.exit(bad);
