// sqlgen.mjs — a seeded random generator of datasets and of SQL queries within Ursa's query subset (issue 15),
// for the differential test against DuckDB (tests/integration/query_diff.test.mjs).
//
//   import { makeRng, genDataset, genQuery, genTlp, FEATURES_CI, FEATURES_ALL } from '../tools/sqlgen.mjs';
//   const rng = makeRng(42);
//   const ds = genDataset(rng, 'd0');                 // {name, schema, columns, rows(n)}
//   const q = genQuery(rng, ds, FEATURES_CI);         // {ursa, duck, names, ordered, approx}
//
// Every generated expression is rendered twice, in Ursa's SQL and in DuckDB's, so that both engines see the same
// semantics: DuckDB reads `2.5` as DECIMAL and `5` as INTEGER, so its side gets `CAST(2.5 AS DOUBLE)` and
// `CAST(5 AS BIGINT)`; the table DuckDB queries has Ursa's types (int32 columns as BIGINT, timestamps as TIMESTAMP).
// Each expression also carries the column name PostgreSQL would give it, and a bound on its magnitude, so that
// integer arithmetic that could pass the bigint range (an error in both engines, but one that depends on
// evaluation order) is generated only when the feature `overflow` asks for it.

// ------------------------------------------------------------------ PRNG (mulberry32)
export function makeRng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const rng = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), // inclusive
    pick: xs => xs[Math.floor(next() * xs.length)],
    chance: p => next() < p,
    weighted: pairs => { // [[weight, value], ...]
      const total = pairs.reduce((s, [w]) => s + w, 0);
      let x = next() * total;
      for (const [w, v] of pairs) { if ((x -= w) < 0) return v; }
      return pairs[pairs.length - 1][1];
    },
    shuffle: xs => { const a2 = xs.slice(); for (let i = a2.length - 1; i > 0; i--) { const j = Math.floor(next() * (i + 1)); [a2[i], a2[j]] = [a2[j], a2[i]]; } return a2; },
  };
  return rng;
}

// ------------------------------------------------------------------ features
// Every switch on: what a long hunt runs (QUERY_DIFF_FEATURES=all). The CI set turns off what fails on the current
// engine, each with the finding in FINDINGS.md that it waits for.
export const FEATURES_ALL = {
  overflow: true,        // bigint arithmetic that may pass the int64 range (both engines must error)
  unicodeCase: true,     // lower/upper/ILIKE over non-ASCII strings
  doubleToText: true,    // CAST(double AS varchar)
  doubleToInt: true,     // CAST(double AS bigint) (rounding, out-of-range errors)
  timeBucket: true,      // time_bucket(interval, ts)
  dateTrunc: true,
  extract: true,
  modDouble: true,       // % on doubles
  roundN: true,          // round(x, n)
  nanLiterals: true,     // 'NaN' / 'Infinity' double literals
  countDistinctDouble: true, // count(DISTINCT double) (-0.0 vs 0.0)
  groupByDouble: true,   // GROUP BY a double expression
  percentile: true,      // percentile_cont(f) WITHIN GROUP (ORDER BY x)
  approxDistinct: true,  // approx_count_distinct
  intervalArith: true,   // ts +- interval
  caseLazy: true,        // CASE whose untaken branch would error (x % 0 is NULL, so only overflow here)
  likePatterns: true,
  minMaxString: true,
  dates: true,           // CAST(ts AS date), date output
  mixedNumeric: true,    // COALESCE/CASE/IN mixing bigint and double
  substrNonPositive: true, // substr(s, start) with start <= 0 (DuckDB counts a negative start from the end)
  likeInner: true,       // LIKE '%x%' (no wildcard inside): the engine's memmem path
};
export const FEATURES_CI = {
  ...FEATURES_ALL,
  overflow: false, // not a finding: errors and infinities then depend on evaluation order (sums of +-1.8e308)
  // FINDING-1 .. 8 (FINDINGS.md in the branch that found them) are fixed: their features are on
};

// ------------------------------------------------------------------ datasets
const I64_MAX = 9223372036854775807n, I64_MIN = -9223372036854775808n;
const WORDS = ['alpha', 'beta', 'Gamma', 'delta', 'EPSILON', 'a', 'ab', 'abc', 'b', 'A', 'x_y', '50%', 'o\'brien', 'back\\slash', ' sp ', 'zz'];
const UNI = ['Café', 'ÉCOLE', 'naïve', 'straße', 'Ærø', 'ÖL', 'ñandú', 'Ελλάδα', 'ΣΊΣΥΦΟΣ', 'Москва', '日本語', '한국어',
  '👍', '👍🏽', 'a😀b', '🇫🇷', 'e\u0301', 'mañana', 'ǅemal', 'ß', ''];
const DAYS = ['2024-02-28', '2024-02-29', '2024-03-01', '2023-12-31', '2024-01-01'];

export const COLUMNS = [
  // name, Ursa type, SQL type class, magnitude bound (for arithmetic), nullable
  { name: 'ts', type: 'timestamp', t: 'ts', nullable: false },
  { name: 'i64', type: 'int64', t: 'int', mag: 1e9 },
  { name: 'i32', type: 'int32', t: 'int', mag: 2 ** 31 },
  { name: 'big', type: 'int64', t: 'int', mag: 2 ** 63 },
  { name: 'sp', type: 'int64', t: 'int', mag: 100 },
  { name: 'f64', type: 'float64', t: 'double', mag: 1e6 },
  { name: 'fx', type: 'float64', t: 'double', mag: Infinity },
  { name: 's', type: 'string', t: 'string' },
  { name: 'u', type: 'string', t: 'string', unicode: true },
  { name: 'cat', type: 'string', t: 'string' },
  { name: 'b', type: 'bool', t: 'bool' },
];

export function datasetSchema() {
  return {
    columns: COLUMNS.map(c => ({ name: c.name, type: c.type, ...(c.nullable === false ? { nullable: false } : {}) })),
    time_column: 'ts',
    sort_by: ['cat', 'ts'],
  };
}

/** A dataset: its schema and a row maker; rows hold JS values (BigInt for integers, numbers, strings, booleans, null). */
export function genDataset(rng, name) {
  const nullRate = rng.pick([0, 0.05, 0.2, 0.5]);
  const catW = rng.shuffle(['red', 'green', 'blue', 'Red', 'ünï', '']).map((c, i) => [[60, 20, 10, 5, 3, 2][i], c]);
  const days = rng.shuffle(DAYS).slice(0, rng.int(1, 3));
  const maybe = (f, rate = nullRate) => (rng.chance(rate) ? null : f());
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  const mkTs = () => {
    const frac = rng.weighted([[5, ''], [2, `.${pad(rng.int(0, 999), 3)}`], [2, `.${pad(rng.int(0, 999999), 6)}`]]);
    const clock = rng.weighted([[8, () => `${pad(rng.int(0, 23))}:${pad(rng.int(0, 59))}:${pad(rng.int(0, 59))}`],
      [1, () => '00:00:00'], [1, () => '23:59:59']])();
    return `${rng.pick(days)}T${clock}${clock === '00:00:00' && rng.chance(0.5) ? '' : frac}Z`;
  };
  const row = () => ({
    ts: mkTs(),
    i64: maybe(() => BigInt(rng.weighted([[8, () => rng.int(-50, 50)], [2, () => rng.int(-1e6, 1e6)], [1, () => rng.pick([0, 1e9, -1e9])]])())),
    i32: maybe(() => BigInt(rng.weighted([[8, () => rng.int(-1000, 1000)], [1, () => rng.pick([2147483647, -2147483648, 0])]])())),
    big: maybe(() => rng.weighted([[3, () => I64_MAX], [3, () => I64_MIN], [3, () => 0n], [3, () => BigInt(rng.int(-1e6, 1e6)) * 1000000007n], [3, () => BigInt(rng.int(-5, 5))]])()),
    sp: maybe(() => BigInt(rng.int(-100, 100)), 0.9),
    f64: maybe(() => rng.weighted([[6, () => Math.round((rng.next() - 0.5) * 2e4) / 8], [2, () => (rng.next() - 0.5) * 2e6],
      [1, () => rng.pick([0, -0, 1, -1, 0.1, 0.5, 2.5, -2.5])], [1, () => rng.int(-100, 100)]])()),
    fx: maybe(() => rng.pick([1e300, -1e300, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324, -5e-324, 2.2250738585072014e-308,
      0, -0, 1e-10, 123456789.123456789, 9007199254740993, 1e15 + 0.5, 0.1 + 0.2])),
    s: maybe(() => rng.pick(WORDS)),
    u: maybe(() => rng.pick(UNI)),
    cat: maybe(() => rng.weighted(catW), nullRate / 2),
    b: maybe(() => rng.chance(0.6)),
  });
  return { name, schema: datasetSchema(), columns: COLUMNS, rows: n => Array.from({ length: n }, row) };
}

/** One record as NDJSON text: exact integers, -0.0 kept. */
export function recordJson(r) {
  const parts = COLUMNS.map(c => {
    const v = r[c.name];
    let s;
    if (v === null || v === undefined) s = 'null';
    else if (typeof v === 'bigint') s = v.toString();
    else if (typeof v === 'number') s = Object.is(v, -0) ? '-0.0' : String(v);
    else s = JSON.stringify(v);
    return `${JSON.stringify(c.name)}:${s}`;
  });
  return `{${parts.join(',')}}`;
}

/** The row as a DuckDB VALUES tuple, typed like the table DuckDB queries. */
export function recordDuckValues(r) {
  return '(' + COLUMNS.map(c => {
    const v = r[c.name];
    if (v === null || v === undefined) return 'NULL';
    switch (c.t) {
      case 'ts': return `TIMESTAMP '${v.replace('T', ' ').replace('Z', '')}'`;
      case 'int': return `CAST(${v} AS BIGINT)`;
      case 'double': return `CAST('${Object.is(v, -0) ? '-0.0' : String(v)}' AS DOUBLE)`;
      case 'bool': return v ? 'TRUE' : 'FALSE';
      default: return sqlString(v);
    }
  }).join(', ') + ')';
}

/** DuckDB's view of the dataset's Parquet columns, cast to Ursa's query types. */
export const DUCK_CASTS = COLUMNS.map(c => {
  const ty = { ts: 'TIMESTAMP', int: 'BIGINT', double: 'DOUBLE', string: 'VARCHAR', bool: 'BOOLEAN' }[c.t];
  return `CAST("${c.name}" AS ${ty}) AS "${c.name}"`;
}).join(', ');
export const DUCK_TABLE_COLUMNS = COLUMNS.map(c => `"${c.name}" ${{ ts: 'TIMESTAMP', int: 'BIGINT', double: 'DOUBLE', string: 'VARCHAR', bool: 'BOOLEAN' }[c.t]}`).join(', ');

export const sqlString = s => `'${String(s).replace(/'/g, "''")}'`;

// ------------------------------------------------------------------ expressions
// An expression: {u: Ursa SQL, d: DuckDB SQL, t: type class, mag: magnitude bound (int/double), name: PG column
// name, agg: holds an aggregate, col: the column when a bare column reference}.
const E = (t, u, d = u, extra = {}) => ({ t, u, d, name: '?column?', mag: 0, ...extra });
const castName = (a, type) => (a.name !== '?column?' && a.name !== null ? a.name : type);
const LIT_INTS = [0, 1, 2, 3, -1, 7, 10, 100, -100, 1000];
const LIT_DOUBLES = ['0.5', '1.5', '2.5', '-0.5', '0.1', '100.25', '1e3', '3.0', '-2.0'];

function intLit(rng) {
  const v = rng.pick(LIT_INTS);
  return E('int', v < 0 ? `(${v})` : String(v), `CAST(${v} AS BIGINT)`, { mag: Math.abs(v) });
}
function doubleLit(rng, f) {
  if (f.nanLiterals && rng.chance(0.05)) {
    const s = rng.pick(['NaN', 'Infinity', '-Infinity']);
    return E('double', `CAST('${s}' AS double precision)`, `CAST('${s}' AS DOUBLE)`, { mag: Infinity, name: 'float8' });
  }
  const v = rng.pick(LIT_DOUBLES);
  return E('double', v.startsWith('-') ? `(${v})` : v, `CAST(${v} AS DOUBLE)`, { mag: Math.abs(Number(v)) });
}
function stringLit(rng, ds) {
  const pool = [...WORDS, ...UNI, 'red', 'green', 'Red', ''];
  const v = rng.pick(pool);
  return E('string', sqlString(v), sqlString(v));
}
function litOf(rng, t) {
  switch (t) {
    case 'string': return stringLit(rng);
    case 'bool': return E('bool', rng.chance(0.5) ? 'TRUE' : 'FALSE');
    case 'ts': return E('ts', `TIMESTAMP '${rng.pick(DAYS)} ${rng.pick(['00:00:00', '12:00:00', '06:30:15.5'])}'`, undefined, { name: 'timestamp' });
    case 'date': return E('date', `DATE '${rng.pick(DAYS)}'`, undefined, { name: 'date' });
    case 'double': return E('double', '0.5', 'CAST(0.5 AS DOUBLE)', { mag: 0.5 });
    default: return intLit(rng);
  }
}
const colRef = c => E(c.t, `"${c.name}"`, `"${c.name}"`, { name: c.name, mag: c.mag ?? 0, col: c, unicode: !!c.unicode });

export class Gen {
  constructor(rng, ds, f) { this.rng = rng; this.ds = ds; this.f = f; this.MAXMAG = f.overflow ? Infinity : 2 ** 62; }
  col(t, filter = () => true) { return this.ds.columns.filter(c => c.t === t && filter(c)); }

  expr(t, depth) {
    const r = this.rng;
    if (depth <= 0 || r.chance(0.3)) return this.leaf(t);
    const m = this['g_' + t];
    return m.call(this, depth - 1);
  }
  leaf(t) {
    const r = this.rng;
    const cols = this.col(t);
    if (cols.length && r.chance(0.75)) return colRef(r.pick(cols));
    switch (t) {
      case 'int': return intLit(r);
      case 'double': return doubleLit(r, this.f);
      case 'string': return stringLit(r, this.ds);
      case 'bool': return E('bool', r.chance(0.5) ? 'TRUE' : 'FALSE', undefined, { name: null }); // PostgreSQL: "bool"; not pinned
      default: return litOf(r, t);
    }
  }
  // a numeric of either class (for mixed arithmetic and comparisons)
  num(depth) { return this.expr(this.rng.chance(0.6) ? 'int' : 'double', depth); }

  g_int(depth) {
    const r = this.rng, f = this.f;
    for (let tries = 0; tries < 8; tries++) {
      const k = r.weighted([[4, 'arith'], [1, 'mod'], [1, 'abs'], [1, 'length'], [1, 'extract'], [1, 'case'], [1, 'simplecase'],
        [1, 'coalesce'], [1, 'nullif'], [1, 'cast'], [1, 'neg']]);
      switch (k) {
        case 'arith': {
          const op = r.pick(['+', '-', '*']);
          const a = this.expr('int', depth), b = this.expr('int', depth);
          const mag = op === '*' ? a.mag * b.mag : a.mag + b.mag;
          if (mag >= this.MAXMAG) continue;
          return E('int', `(${a.u} ${op} ${b.u})`, `(${a.d} ${op} ${b.d})`, { mag });
        }
        case 'mod': {
          const a = this.expr('int', depth), b = this.expr('int', depth);
          if (a.mag >= 2 ** 63 && !f.overflow) continue; // INT64_MIN % -1: DuckDB errs (FINDING-6), Ursa gives 0
          return E('int', `(${a.u} % ${b.u})`, `(${a.d} % ${b.d})`, { mag: a.mag });
        }
        case 'neg': {
          const a = this.expr('int', depth);
          if (a.mag >= this.MAXMAG) continue;
          return E('int', `(- ${a.u})`, `(- ${a.d})`, { mag: a.mag });
        }
        case 'abs': {
          const a = this.expr('int', depth);
          if (a.mag >= this.MAXMAG) continue;
          return E('int', `abs(${a.u})`, `abs(${a.d})`, { mag: a.mag, name: 'abs' });
        }
        case 'length': {
          const a = this.expr('string', depth);
          return E('int', `length(${a.u})`, `length(${a.d})`, { mag: 1000, name: 'length' });
        }
        case 'extract': {
          if (!f.extract) continue;
          const field = r.pick(['year', 'month', 'day', 'hour', 'minute', 'second', 'dow', 'doy', 'quarter', 'millisecond', 'microsecond', 'week', 'isodow']);
          const a = this.expr('ts', depth);
          if (r.chance(0.5)) return E('int', `extract(${field} from ${a.u})`, `extract(${field} from ${a.d})`, { mag: 1e8, name: 'extract' });
          return E('int', `date_part('${field}', ${a.u})`, `date_part('${field}', ${a.d})`, { mag: 1e8, name: 'date_part' });
        }
        case 'case': return this.caseExpr('int', depth);
        case 'simplecase': return this.simpleCase('int', depth);
        case 'coalesce': return this.coalesce('int', depth);
        case 'nullif': {
          const a = this.expr('int', depth), b = this.expr('int', depth);
          return E('int', `NULLIF(${a.u}, ${b.u})`, `NULLIF(${a.d}, ${b.d})`, { mag: a.mag, name: 'nullif' });
        }
        case 'cast': {
          if (!f.doubleToInt) continue;
          const a = this.expr('double', depth);
          if (a.mag >= 9e18 && !f.overflow) continue;
          return r.chance(0.5) ? E('int', `CAST(${a.u} AS bigint)`, `CAST(${a.d} AS BIGINT)`, { mag: a.mag + 1, name: castName(a, 'int8') })
            : E('int', `(${a.u})::bigint`, `(${a.d})::BIGINT`, { mag: a.mag + 1, name: castName(a, 'int8') });
        }
      }
    }
    return this.leaf('int');
  }

  g_double(depth) {
    const r = this.rng, f = this.f;
    for (let tries = 0; tries < 8; tries++) {
      const k = r.weighted([[4, 'arith'], [2, 'div'], [1, 'mod'], [1, 'abs'], [1, 'round'], [1, 'floorceil'], [1, 'cast'], [1, 'case'],
        [1, 'coalesce'], [1, 'epoch']]);
      switch (k) {
        case 'arith': {
          const op = r.pick(['+', '-', '*']);
          let a = this.num(depth), b = this.num(depth);
          if (a.t === 'int' && b.t === 'int') a = this.expr('double', depth);
          const mag = op === '*' ? a.mag * b.mag : a.mag + b.mag;
          if (!(mag < 1e300) && !f.overflow) continue;
          return E('double', `(${a.u} ${op} ${b.u})`, `(${a.d} ${op} ${b.d})`, { mag });
        }
        case 'div': {
          const a = this.num(depth), b = this.num(depth);
          const mag = b.t === 'int' ? a.mag : Infinity;
          if (mag === Infinity && !f.overflow && a.mag > 0) {
            // a double divisor may be tiny: keep the quotient out of further arithmetic
          }
          return E('double', `(${a.u} / ${b.u})`, `(${a.d} / NULLIF(${b.d}, 0))`, { mag });
        }
        case 'mod': {
          if (!f.modDouble) continue;
          const a = this.expr('double', depth), b = this.num(depth);
          return E('double', `(${a.u} % ${b.u})`, `(${a.d} % NULLIF(${b.d}, 0))`, { mag: a.mag });
        }
        case 'abs': { const a = this.expr('double', depth); return E('double', `abs(${a.u})`, `abs(${a.d})`, { mag: a.mag, name: 'abs' }); }
        case 'round': {
          const a = this.expr('double', depth);
          if (f.roundN && r.chance(0.5)) {
            const n = r.pick([0, 1, 2, -1, 3]);
            return E('double', `round(${a.u}, ${n})`, `round(${a.d}, ${n})`, { mag: a.mag * 10 + 10, name: 'round' });
          }
          return E('double', `round(${a.u})`, `round(${a.d})`, { mag: a.mag + 1, name: 'round' });
        }
        case 'floorceil': {
          const fn = r.pick(['floor', 'ceil']);
          const a = this.expr('double', depth);
          return E('double', `${fn}(${a.u})`, `${fn}(${a.d})`, { mag: a.mag + 1, name: fn });
        }
        case 'cast': {
          const a = this.expr('int', depth);
          return r.chance(0.5) ? E('double', `CAST(${a.u} AS double precision)`, `CAST(${a.d} AS DOUBLE)`, { mag: a.mag, name: castName(a, 'float8') })
            : E('double', `${a.u}::double precision`, `${a.d}::DOUBLE`, { mag: a.mag, name: castName(a, 'float8') });
        }
        case 'case': return this.caseExpr('double', depth);
        case 'coalesce': return this.coalesce('double', depth);
        case 'epoch': {
          if (!f.extract) continue;
          const a = this.expr('ts', depth);
          return E('double', `extract(epoch from ${a.u})`, `extract(epoch from ${a.d})`, { mag: 1e10, name: 'extract' });
        }
      }
    }
    return this.leaf('double');
  }

  g_string(depth) {
    const r = this.rng, f = this.f;
    for (let tries = 0; tries < 8; tries++) {
      const k = r.weighted([[2, 'case'], [2, 'substr'], [2, 'concat'], [1, 'pipe'], [1, 'cond'], [1, 'coalesce'], [1, 'cast']]);
      switch (k) {
        case 'case': {
          const fn = r.pick(['lower', 'upper']);
          const a = this.expr('string', depth);
          if (!f.unicodeCase && this.mayUnicode(a)) continue;
          return E('string', `${fn}(${a.u})`, `${fn}(${a.d})`, { name: fn, unicode: a.unicode });
        }
        case 'substr': {
          const a = this.expr('string', depth);
          const fn = r.pick(['substr', 'substring']);
          const start = f.substrNonPositive ? r.int(-3, 5) : r.int(1, 5), n = r.int(0, 4);
          if (r.chance(0.5)) return E('string', `${fn}(${a.u}, ${start})`, `${fn}(${a.d}, ${start})`, { name: fn, unicode: a.unicode });
          return E('string', `${fn}(${a.u}, ${start}, ${n})`, `${fn}(${a.d}, ${start}, ${n})`, { name: fn, unicode: a.unicode });
        }
        case 'concat': {
          const xs = Array.from({ length: r.int(1, 3) }, () => this.rng.chance(0.8) ? this.expr('string', depth) : this.expr('int', depth));
          return E('string', `concat(${xs.map(x => x.u).join(', ')})`, `concat(${xs.map(x => x.d).join(', ')})`, { name: 'concat', unicode: xs.some(x => x.unicode) });
        }
        case 'pipe': {
          const a = this.expr('string', depth), b = this.expr('string', depth);
          return E('string', `(${a.u} || ${b.u})`, `(${a.d} || ${b.d})`, { unicode: a.unicode || b.unicode });
        }
        case 'cond': return this.caseExpr('string', depth);
        case 'coalesce': return this.coalesce('string', depth);
        case 'cast': {
          const src = r.weighted([[3, 'int'], [1, 'bool'], [f.doubleToText ? 1 : 0, 'double']]);
          const a = this.expr(src, depth);
          return E('string', `CAST(${a.u} AS varchar)`, `CAST(${a.d} AS VARCHAR)`, { name: castName(a, 'varchar') });
        }
      }
    }
    return this.leaf('string');
  }
  mayUnicode(e) { return e.unicode || /[^\x00-\x7f]/.test(e.u) || /"(s|cat)"/.test(e.u) || e.col?.name === 'cat'; }

  g_bool(depth) {
    const r = this.rng, f = this.f;
    for (let tries = 0; tries < 8; tries++) {
      const k = r.weighted([[4, 'cmp'], [2, 'andor'], [1, 'not'], [1, 'isnull'], [1, 'in'], [1, 'between'], [1, 'like'], [1, 'starts']]);
      switch (k) {
        case 'cmp': {
          const t = r.weighted([[3, 'num'], [2, 'string'], [1, 'ts'], [1, 'bool'], [f.dates ? 1 : 0, 'date']]);
          const op = r.pick(['=', '<>', '<', '<=', '>', '>=', '!=']);
          const a = t === 'num' ? this.num(depth) : this.expr(t, depth);
          const b = t === 'num' ? this.num(depth) : this.expr(t, depth);
          return E('bool', `(${a.u} ${op} ${b.u})`, `(${a.d} ${op} ${b.d})`);
        }
        case 'andor': {
          const op = r.pick(['AND', 'OR']);
          const a = this.expr('bool', depth), b = this.expr('bool', depth);
          return E('bool', `(${a.u} ${op} ${b.u})`, `(${a.d} ${op} ${b.d})`);
        }
        case 'not': { const a = this.expr('bool', depth); return E('bool', `(NOT ${a.u})`, `(NOT ${a.d})`); }
        case 'isnull': {
          const a = this.expr(r.pick(['int', 'double', 'string', 'bool', 'ts']), depth);
          const not = r.chance(0.5) ? ' NOT' : '';
          return E('bool', `(${a.u} IS${not} NULL)`, `(${a.d} IS${not} NULL)`);
        }
        case 'in': {
          const t = r.pick(['int', 'string', f.mixedNumeric ? 'num' : 'int']);
          const a = t === 'num' ? this.num(depth) : this.expr(t, depth);
          const xs = Array.from({ length: r.int(1, 4) }, () => t === 'num' ? (r.chance(0.5) ? intLit(r) : doubleLit(r, f)) : t === 'int' ? intLit(r) : stringLit(r));
          if (r.chance(0.1)) xs.push(E(t, 'NULL'));
          const not = r.chance(0.3) ? ' NOT' : '';
          return E('bool', `(${a.u}${not} IN (${xs.map(x => x.u).join(', ')}))`, `(${a.d}${not} IN (${xs.map(x => x.d).join(', ')}))`);
        }
        case 'between': {
          const t = r.pick(['int', 'double', 'string', 'ts']);
          const a = this.expr(t, depth), lo = this.leaf(t), hi = this.leaf(t);
          const not = r.chance(0.3) ? ' NOT' : '';
          return E('bool', `(${a.u}${not} BETWEEN ${lo.u} AND ${hi.u})`, `(${a.d}${not} BETWEEN ${lo.d} AND ${hi.d})`);
        }
        case 'like': {
          if (!f.likePatterns) continue;
          const a = this.expr('string', depth);
          const op = r.pick(['LIKE', 'NOT LIKE', 'ILIKE', 'NOT ILIKE']);
          const pat = this.likePattern(op.includes('ILIKE') && f.unicodeCase);
          if (op.includes('ILIKE') && !f.unicodeCase && (this.mayUnicode(a) || /[^\x00-\x7f]/.test(pat))) continue;
          return E('bool', `(${a.u} ${op} ${sqlString(pat)})`, `(${a.d} ${op} ${sqlString(pat)})`);
        }
        case 'starts': {
          const a = this.expr('string', depth);
          const p = r.pick(['a', 'A', 'al', '', 'r', 'ü', 'Ca', '👍', 'e']);
          return E('bool', `starts_with(${a.u}, ${sqlString(p)})`, `starts_with(${a.d}, ${sqlString(p)})`, { name: 'starts_with' });
        }
      }
    }
    return this.leaf('bool');
  }
  likePattern(unicode) {
    const r = this.rng;
    const base = r.pick(unicode ? [...WORDS, ...UNI, 'red'] : [...WORDS, 'red', 'green', 'Gamma']);
    const chars = [...base];
    let out = '';
    for (const ch of chars) out += r.weighted([[6, ch], [1, '_'], [1, '%'], [1, ch + '%']]);
    // (two code points, not two UTF-16 units: slicing an emoji in half would send a lone surrogate)
    let p = r.weighted([[2, out], [1, '%' + out], [1, out + '%'], [1, '%' + [...out].slice(0, 2).join('') + '%'], [1, '%']]);
    const inner = p.length >= 2 && p[0] === '%' && p.endsWith('%') && !/[%_]/.test(p.slice(1, -1));
    if (inner && !this.f.likeInner) p = p.slice(0, -1) + '_%'; // FINDING-8: not the '%x%' shape
    return p;
  }

  g_ts(depth) {
    const r = this.rng, f = this.f;
    for (let tries = 0; tries < 8; tries++) {
      const k = r.weighted([[2, 'trunc'], [1, 'bucket'], [2, 'interval'], [1, 'coalesce'], [1, 'case']]);
      switch (k) {
        case 'trunc': {
          if (!f.dateTrunc) continue;
          const unit = r.pick(['microseconds', 'milliseconds', 'second', 'minute', 'hour', 'day', 'week', 'month', 'quarter', 'year']);
          const a = this.expr('ts', depth);
          return E('ts', `date_trunc('${unit}', ${a.u})`, `date_trunc('${unit}', ${a.d})`, { name: 'date_trunc' });
        }
        case 'bucket': {
          if (!f.timeBucket) continue;
          const w = r.pick(['15 minutes', '1 hour', '1 day', '7 days', '1 month', '3 months', '10 seconds', '90 minutes', '2 hours']);
          const a = this.expr('ts', depth);
          return E('ts', `time_bucket(interval '${w}', ${a.u})`, `time_bucket(INTERVAL '${w}', ${a.d})`, { name: 'time_bucket' });
        }
        case 'interval': {
          if (!f.intervalArith) continue;
          const w = r.pick(['15 minutes', '1 hour', '1 day', '1 month', '2 days 3 hours', '1 second', '500 milliseconds', '1 year']);
          const op = r.pick(['+', '-']);
          const a = this.expr('ts', depth);
          return E('ts', `(${a.u} ${op} interval '${w}')`, `(${a.d} ${op} INTERVAL '${w}')`);
        }
        case 'coalesce': return this.coalesce('ts', depth);
        case 'case': return this.caseExpr('ts', depth);
      }
    }
    return this.leaf('ts');
  }
  g_date(depth) {
    const a = this.expr('ts', depth);
    return this.rng.chance(0.5) ? E('date', `CAST(${a.u} AS date)`, `CAST(${a.d} AS DATE)`, { name: castName(a, 'date') })
      : E('date', `(${a.u})::date`, `(${a.d})::DATE`, { name: castName(a, 'date') });
  }

  caseExpr(t, depth) {
    const r = this.rng;
    const n = r.int(1, 2);
    let u = 'CASE', d = 'CASE', mag = 0, unicode = false;
    for (let i = 0; i < n; i++) {
      const c = this.expr('bool', depth), v = this.expr(t, depth);
      u += ` WHEN ${c.u} THEN ${v.u}`; d += ` WHEN ${c.d} THEN ${v.d}`; mag = Math.max(mag, v.mag); unicode ||= v.unicode;
    }
    if (r.chance(0.7)) { const v = this.expr(t, depth); u += ` ELSE ${v.u}`; d += ` ELSE ${v.d}`; mag = Math.max(mag, v.mag); unicode ||= v.unicode; }
    return E(t, u + ' END', d + ' END', { mag, name: 'case', unicode });
  }
  simpleCase(t, depth) {
    const r = this.rng;
    const x = this.expr('int', depth);
    let u = `CASE ${x.u}`, d = `CASE ${x.d}`, mag = 0;
    for (let i = 0; i < r.int(1, 3); i++) {
      const k = intLit(r), v = this.expr(t, depth);
      u += ` WHEN ${k.u} THEN ${v.u}`; d += ` WHEN ${k.d} THEN ${v.d}`; mag = Math.max(mag, v.mag);
    }
    if (r.chance(0.5)) { const v = this.expr(t, depth); u += ` ELSE ${v.u}`; d += ` ELSE ${v.d}`; mag = Math.max(mag, v.mag); }
    return E(t, u + ' END', d + ' END', { mag, name: 'case' });
  }
  coalesce(t, depth) {
    const r = this.rng;
    const xs = Array.from({ length: r.int(1, 3) }, () => this.expr(t === 'double' && this.f.mixedNumeric && r.chance(0.3) ? 'int' : t, depth));
    return E(t, `COALESCE(${xs.map(x => x.u).join(', ')})`, `COALESCE(${xs.map(x => x.d).join(', ')})`,
      { mag: Math.max(...xs.map(x => x.mag)), name: 'coalesce', unicode: xs.some(x => x.unicode) });
  }

  // ---------------------------------------------------------------- aggregates
  agg() {
    const r = this.rng, f = this.f;
    for (;;) {
      const k = r.weighted([[2, 'count*'], [2, 'count'], [1, 'countd'], [3, 'sum'], [2, 'avg'], [3, 'minmax'],
        [f.approxDistinct ? 1 : 0, 'approx'], [f.percentile ? 1 : 0, 'pct']]);
      switch (k) {
        case 'count*': return E('int', 'count(*)', 'count(*)', { name: 'count', agg: true, mag: 1e7 });
        case 'count': {
          const a = this.expr(r.pick(['int', 'double', 'string', 'bool', 'ts']), 1);
          return E('int', `count(${a.u})`, `count(${a.d})`, { name: 'count', agg: true, mag: 1e7 });
        }
        case 'countd': {
          const t = r.pick(['int', 'string', 'bool', 'ts', f.countDistinctDouble ? 'double' : 'int']);
          const a = this.expr(t, 1);
          return E('int', `count(DISTINCT ${a.u})`, `count(DISTINCT ${a.d})`, { name: 'count', agg: true, mag: 1e7 });
        }
        case 'sum': case 'avg': {
          const t = r.pick(['int', 'double']);
          const a = this.expr(t, 2);
          if (t === 'int' && a.mag * 1e4 >= this.MAXMAG) continue;
          // a double sum of values near 1e18 cancels to an order-dependent last few ulps (sum(CAST(big AS double))
          // is -3 or 0): keep summed doubles small enough that the tolerance covers the rounding
          if (t === 'double' && !(a.mag <= 1e7) && !f.overflow) continue;
          return E(k === 'avg' ? 'double' : t, `${k}(${a.u})`, `${k}(${a.d})`, { name: k, agg: true, mag: k === 'sum' ? a.mag * 1e4 : a.mag, sumLike: true });
        }
        case 'minmax': {
          const fn = r.pick(['min', 'max']);
          const t = r.pick(['int', 'double', 'ts', f.minMaxString ? 'string' : 'int', 'bool']);
          const a = this.expr(t, 2);
          return E(t, `${fn}(${a.u})`, `${fn}(${a.d})`, { name: fn, agg: true, mag: a.mag, unicode: a.unicode });
        }
        case 'approx': {
          const a = this.expr(r.pick(['int', 'string', 'ts']), 1);
          return E('int', `approx_count_distinct(${a.u})`, `count(DISTINCT ${a.d})`, { name: 'approx_count_distinct', agg: true, approx: true, mag: 1e7 });
        }
        case 'pct': {
          const fr = r.pick(['0.5', '0.25', '0.9', '0', '1', '0.33']);
          const a = this.expr(r.pick(['int', 'double']), 1);
          if (!(a.mag < 1e290)) continue;
          return E('double', `percentile_cont(${fr}) WITHIN GROUP (ORDER BY ${a.u})`, `quantile_cont(${a.d}, ${fr})`, { name: 'percentile_cont', agg: true, mag: a.mag });
        }
      }
    }
  }
}

// ------------------------------------------------------------------ queries
const OUT_TYPES = ['int', 'double', 'string', 'bool', 'ts'];

// Columns compared with a tolerance (sums, averages, quantiles, approx_count_distinct) sort last: the engines may differ in their last
// bits, and an earlier key that differs so would reorder the rows.
function orderBy(rng, n, aliases, late = []) {
  const shuffled = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  const idx = [...shuffled.filter(i => !late.includes(i)), ...shuffled.filter(i => late.includes(i))];
  return idx.map(i => {
    const ref = aliases[i] && rng.chance(0.4) ? aliases[i] : String(i + 1);
    const dir = rng.weighted([[2, ''], [1, ' ASC'], [2, ' DESC']]);
    const nulls = rng.weighted([[3, ''], [1, ' NULLS FIRST'], [1, ' NULLS LAST']]);
    return ref + dir + nulls;
  }).join(', ');
}

/**
 * One query: {ursa, duck, names (PostgreSQL's column names, for Ursa), ordered, approx (indexes of columns to compare
 * loosely), sumCols (indexes compared with the looser tolerance of sums)}.
 */
export function genQuery(rng, ds, f) {
  const g = new Gen(rng, ds, f);
  const from = ` FROM ${ds.name}`;
  const where = rng.chance(0.5) ? g.expr('bool', rng.int(1, 3)) : null;
  const grouped = rng.chance(0.45);
  let items = [], groupKeys = [], groupBy = '', having = null;
  if (!grouped) {
    const n = rng.int(1, 4);
    for (let i = 0; i < n; i++) {
      const t = rng.weighted([[3, 'int'], [2, 'double'], [2, 'string'], [1, 'bool'], [1, 'ts'], [f.dates ? 1 : 0, 'date']]);
      items.push(g.expr(t, rng.int(0, 3)));
    }
  } else {
    const nk = rng.weighted([[1, 0], [3, 1], [2, 2]]);
    for (let i = 0; i < nk; i++) {
      const t = rng.weighted([[3, 'string'], [3, 'int'], [1, 'bool'], [2, 'ts'], [f.groupByDouble ? 1 : 0, 'double'], [f.dates ? 1 : 0, 'date']]);
      const cols = g.col(t);
      const k = cols.length && rng.chance(0.5) ? colRef(rng.pick(cols)) : g.expr(t, 1);
      if (/^\(?-?\d/.test(k.u) || k.u.startsWith("'") || !/"/.test(k.u)) { i--; continue; } // a constant key: GROUP BY 7 is a position
      groupKeys.push(k);
    }
    const na = rng.int(1, 3);
    const aggs = Array.from({ length: na }, () => g.agg());
    // expressions over aggregates, sometimes
    if (rng.chance(0.2) && aggs[0].t === 'int' && aggs[0].mag < 1e12) {
      const a = aggs[0];
      aggs[0] = E('int', `(${a.u} + 1)`, `(${a.d} + CAST(1 AS BIGINT))`, { agg: true, mag: a.mag + 1, sumLike: a.sumLike, approx: a.approx });
    }
    items = rng.shuffle([...groupKeys.map(k => ({ ...k, key: true })), ...aggs]);
    if (rng.chance(0.3)) {
      const a = g.agg();
      if (!a.approx) {
        const op = rng.pick(['>', '<', '>=', '<>']);
        const lit = a.t === 'int' ? intLit(rng) : a.t === 'double' ? doubleLit(rng, f) : litOf(rng, a.t);
        having = E('bool', `${a.u} ${op} ${lit.u}`, `${a.d} ${op} ${lit.d}`);
      }
    }
  }
  const aliased = items.map(() => rng.chance(0.6));
  const aliases = items.map((_, i) => (aliased[i] ? `c${i}` : null));
  const sel = (k) => items.map((e, i) => e[k] + (aliases[i] ? ` AS ${aliases[i]}` : '')).join(', ');
  if (grouped && groupKeys.length) {
    const refs = groupKeys.map(key => {
      const i = items.findIndex(it => it.key && it.u === key.u);
      const how = rng.pick(['expr', 'pos', 'alias']);
      if (how === 'pos' && i >= 0) return { u: String(i + 1), d: String(i + 1) };
      if (how === 'alias' && i >= 0 && aliases[i]) return { u: aliases[i], d: aliases[i] };
      return { u: key.u, d: key.d };
    });
    groupBy = { u: refs.map(x => x.u).join(', '), d: refs.map(x => x.d).join(', ') };
  }
  const ordered = rng.chance(0.6);
  const late = items.map((e, i) => (e.agg && (e.t === 'double' || e.approx) ? i : -1)).filter(i => i >= 0);
  const ob = ordered ? orderBy(rng, items.length, aliases, late) : '';
  const limit = ordered && rng.chance(0.4) ? ` LIMIT ${rng.int(0, 20)}${rng.chance(0.5) ? ` OFFSET ${rng.int(0, 10)}` : ''}` : '';
  const build = k => `SELECT ${sel(k)}${from}${where ? ` WHERE ${where[k]}` : ''}${groupBy ? ` GROUP BY ${groupBy[k]}` : ''}` +
    `${having ? ` HAVING ${having[k]}` : ''}${ob ? ` ORDER BY ${ob}` : ''}${limit}`;
  return {
    ursa: build('u'), duck: build('d'), ordered,
    names: items.map((e, i) => aliases[i] ?? e.name),
    types: items.map(e => e.t),
    approx: items.map((e, i) => (e.approx ? i : -1)).filter(i => i >= 0),
    sumCols: items.map((e, i) => (e.sumLike || e.name === 'percentile_cont' ? i : -1)).filter(i => i >= 0),
  };
}

/**
 * A TLP case on Ursa alone: a base query, a predicate p and the three partitions (p, NOT p, p IS NULL).
 * kind 'rows': SELECT e.. FROM ds [WHERE w] — the union of the partitions' rows is the base's rows.
 * kind 'agg': SELECT count(*), sum(x), min(y), max(y) — the partitions' counts and sums add up, min/max combine.
 */
export function genTlp(rng, ds, f) {
  const g = new Gen(rng, ds, f);
  const p = g.expr('bool', rng.int(1, 3)).u;
  if (rng.chance(0.5)) {
    const n = rng.int(1, 3);
    const items = Array.from({ length: n }, () => g.expr(rng.pick(OUT_TYPES), rng.int(0, 2)).u);
    const base = `SELECT ${items.join(', ')} FROM ${ds.name}`;
    return { kind: 'rows', p, base, parts: [`${base} WHERE ${p}`, `${base} WHERE NOT (${p})`, `${base} WHERE (${p}) IS NULL`] };
  }
  let x;
  do { x = g.expr('int', 2); } while (x.mag * 1e4 >= 2 ** 62);
  const y = g.expr(rng.pick(['int', 'string', 'ts']), 1);
  const base = `SELECT count(*), sum(${x.u}), min(${y.u}), max(${y.u}), count(${y.u}) FROM ${ds.name}`;
  return { kind: 'agg', p, base, parts: [`${base} WHERE ${p}`, `${base} WHERE NOT (${p})`, `${base} WHERE (${p}) IS NULL`] };
}
