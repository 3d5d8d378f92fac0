import { runDuck, showRows } from '/work/wt-diff/tests/tools/querydiff.mjs';
for (const q of process.argv.slice(2)) console.log(q, '=>', showRows(await runDuck(q)));
