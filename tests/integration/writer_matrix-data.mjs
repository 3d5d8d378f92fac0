// writer_matrix-data.mjs — the data side of writer_matrix.test.mjs: every Ursa column type with its edge
// values, a deterministic generator of NDJSON files (valid rows, and invalid rows of every rejection kind)
// and the expected-value model (the normalized values tests/tools/pqread.mjs must return, the Parquet types
// DuckDB must report). No I/O here.
//
// Request lines are built as raw text by this file, so the exact JSON spelling (numbers as big as 38
// digits, exponents, -0.0, base64 with and without padding, upper-case UUIDs, JSON values with their
// inner whitespace) is under test control. Expected values use pqread's normalized forms: integers as
// BigInt, float32 as the float32 value, decimals as exact text with `scale` fraction digits, binary as hex,
// uuid as lowercase text, dates as 'YYYY-MM-DD', times as BigInt µs, timestamps as BigInt in their unit.
import { decimalText, isoDate, daysOfIsoDate } from '../tools/pqread.mjs';

// ============================================================ deterministic PRNG (mulberry32)
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
    float: next,
    int: n => Math.floor(next() * n), // 0 .. n-1
    chance: p => next() < p,
    pick: arr => arr[Math.floor(next() * arr.length)],
    u32: () => Math.floor(next() * 4294967296) >>> 0,
    u64: () => (BigInt(rng.u32()) << 32n) | BigInt(rng.u32()),
    /** Uniform BigInt in [lo, hi]. */
    big: (lo, hi) => {
      const span = hi - lo + 1n;
      let bits = 0n, r = 0n;
      while ((1n << bits) < span) bits += 32n;
      for (let b = 0n; b < bits; b += 32n) r = (r << 32n) | BigInt(rng.u32());
      return lo + (r % span);
    },
    bytes: n => Uint8Array.from({ length: n }, () => rng.int(256)),
  };
  return rng;
}

// ============================================================ helpers
const pad = (n, w) => String(n).padStart(w, '0');
const floorDiv = (a, b) => { const q = a / b; return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q; };
const hex = b => Buffer.from(b).toString('hex');
const NS_PER_SEC = 1_000_000_000n;
const NS_PER_DAY = 86_400n * NS_PER_SEC;
const UNIT_NS = { ms: 1_000_000n, us: 1000n, ns: 1n };
const f32 = Math.fround;

/** Civil date-time text 'YYYY-MM-DDTHH:MM:SS' and the ns remainder of a ns instant (floor). */
function civilNs(ns) {
  const days = floorDiv(ns, NS_PER_DAY);
  const rem = ns - days * NS_PER_DAY;
  const sec = rem / NS_PER_SEC;
  const frac = rem - sec * NS_PER_SEC;
  const h = sec / 3600n, mi = (sec % 3600n) / 60n, s = sec % 60n;
  return { text: `${isoDate(days)}T${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}`, frac };
}
const offsetText = min => (min < 0 ? '-' : '+') + pad(Math.floor(Math.abs(min) / 60), 2) + ':' + pad(Math.abs(min) % 60, 2);

/**
 * RFC 3339 text of ns instant `ns` written as local time at offset `offMin` (null: no offset) with `digits`
 * fraction digits (0..9; the fraction is cut, so the text stands for floor(ns) at that precision).
 * Returns {text, ns: the instant the text stands for (UTC), wall: the wall clock it shows as if UTC}.
 */
function rfc3339(ns, offMin, digits, sep = 'T') {
  const local = ns + BigInt(offMin ?? 0) * 60n * NS_PER_SEC;
  const { text, frac } = civilNs(local);
  const f9 = pad(frac, 9);
  const cut = 10n ** BigInt(9 - digits);
  const wall = local - (frac % cut);
  const suffix = offMin === null ? '' : offMin === 0 ? 'Z' : offsetText(offMin);
  return { text: text.replace('T', sep) + (digits ? '.' + f9.slice(0, digits) : '') + suffix, ns: wall - BigInt(offMin ?? 0) * 60n * NS_PER_SEC, wall };
}

/** Text of a JSON string literal (JSON.stringify, with a few non-ASCII characters as \u escapes). */
function jsonString(s, rng) {
  let t = JSON.stringify(s);
  if (rng && rng.chance(0.3)) t = t.replace(/[\u00e9\u4e2d]/g, c => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  return t;
}
/** Standard base64 of bytes, padded or not. */
const base64 = (bytes, padded) => { const s = Buffer.from(bytes).toString('base64'); return padded ? s : s.replace(/=+$/, ''); };

// ============================================================ the types
// Each column type: key (column name stem), spec (the schema fields), norm (pqread's normalized type), alt
// (the non-default encoding it offers: delta, delta_length, byte_stream_split, or null), and gen(rng) ->
// {edges: [{json, value}], random: () => {json, value}}.
const INT_RANGE = bits => ({ lo: -(1n << BigInt(bits - 1)), hi: (1n << BigInt(bits - 1)) - 1n });
const UINT_RANGE = bits => ({ lo: 0n, hi: (1n << BigInt(bits)) - 1n });

function intGen(lo, hi) {
  return rng => {
    const vals = [lo, hi, 0n, lo + 1n, hi - 1n, lo < 0n ? -1n : 1n, lo < 0n ? 1n : 2n];
    return {
      edges: vals.map(v => ({ json: String(v), value: v })),
      random: () => {
        const v = rng.chance(0.4) ? (lo < 0n ? BigInt(rng.int(201) - 100) : BigInt(rng.int(200))) : rng.big(lo, hi);
        return { json: String(v), value: v };
      },
    };
  };
}

function float32Gen(rng) {
  const F32 = new Float32Array(1), U32 = new Uint32Array(F32.buffer);
  const edges = [
    ['0.0', 0], ['-0.0', -0], ['-0', -0], ['0', 0], ['1', 1], ['-1.5', -1.5],
    ['3.4028234663852886e38', 3.4028234663852886e38], ['-3.4028234663852886E+38', -3.4028234663852886e38],
    ['1.401298464324817e-45', f32(1.401298464324817e-45)], ['-1.401298464324817e-45', -f32(1.401298464324817e-45)],
    ['1.1754943508222875e-38', f32(1.1754943508222875e-38)], ['0.1', f32(0.1)], ['16777217', 16777216], ['1e10', f32(1e10)],
  ];
  return {
    edges: edges.map(([json, value]) => ({ json, value })),
    random: () => {
      if (rng.chance(0.3)) { const v = f32((rng.int(2000001) - 1000000) / 64); return { json: String(v), value: v }; }
      let v;
      do { U32[0] = rng.u32(); v = F32[0]; } while (!Number.isFinite(v));
      // The shortest double text of a float32 value parses to that double, which is a float32: exact.
      return { json: rng.chance(0.5) ? String(v) : v.toExponential(), value: v };
    },
  };
}

function float64Gen(rng) {
  const F64 = new Float64Array(1), U32 = new Uint32Array(F64.buffer);
  const edges = ['0.0', '-0.0', '-0', '0', '5e-324', '-5e-324', '1.7976931348623157e308', '-1.7976931348623157E+308',
    '2.2250738585072014e-308', '0.1', '1E+2', '123456789012345678901234567890', '-2.5', '9007199254740993', '1e-7'];
  return {
    edges: edges.map(json => ({ json, value: Number(json) })),
    random: () => {
      if (rng.chance(0.3)) { const json = `${rng.int(2000001) - 1000000}.${pad(rng.int(1000), 3)}`; return { json, value: Number(json) }; }
      let v;
      do { U32[0] = rng.u32(); U32[1] = rng.u32(); v = F64[0]; } while (!Number.isFinite(v));
      const json = rng.chance(0.5) ? String(v) : v.toExponential().toUpperCase();
      return { json, value: Number(json) };
    },
  };
}

/** JSON spellings of the decimal unscaled/scale: number or string, plain, short fraction or exponent. */
function decimalSpellings(u, scale) {
  const neg = u < 0n, a = neg ? -u : u, sign = neg ? '-' : '';
  const canon = decimalText(u, scale);
  const out = [canon];
  // fewer fraction digits when the trailing ones are zero ("1.5" for 1.50; "12" for 12.00)
  let intPart = a / 10n ** BigInt(scale), frac = scale ? pad(a % 10n ** BigInt(scale), scale) : '';
  const trimmed = frac.replace(/0+$/, '');
  out.push(sign + intPart + (trimmed ? '.' + trimmed : ''));
  // exponent forms: all significant digits as mantissa "d.ddd" with an exponent
  const digits = String(a), e = digits.length - 1 - scale;
  const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  out.push(`${sign}${mant}e${e}`, `${sign}${mant}E${e >= 0 ? '+' : ''}${e}`);
  out.push(`${sign}${digits}e-${scale}`);
  return out;
}
function decimalGen(p, s) {
  return rng => {
    const max = 10n ** BigInt(p) - 1n;
    const vals = [max, -max, 0n, 1n, -1n, 10n ** BigInt(s), -(10n ** BigInt(Math.max(0, s - 1)))];
    const mk = u => {
      const sp = rng.pick(decimalSpellings(u, s));
      return { json: rng.chance(0.4) ? `"${sp}"` : sp, value: decimalText(u, s) };
    };
    const edges = vals.flatMap(u => [{ json: decimalText(u, s), value: decimalText(u, s) }, { json: `"${decimalText(u, s)}"`, value: decimalText(u, s) }]);
    edges.push({ json: '-0.0', value: decimalText(0n, s) }, { json: '"-0"', value: decimalText(0n, s) });
    return {
      edges,
      random: () => mk(rng.chance(0.3) ? BigInt(rng.int(20001) - 10000) % (max + 1n) : rng.big(-max, max)),
    };
  };
}

const STRING_EDGES = ['', ' ', 'a', 'é', '日本語', '😀', '👩‍👩‍👧', 'e\u0301', 'مرحبا', '\u2028', '\ufeffbom', 'line\nbreak', 'tab\t"quote"\\',
  'Z'.repeat(300), 'é'.repeat(40000), '\u{10FFFF}'];
const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa', 'lambda', 'mu', 'Ärger', '中文', 'naïve', 'café'];
function stringGen(rng) {
  return {
    edges: STRING_EDGES.map(s => ({ json: jsonString(s, rng), value: s })),
    random: () => {
      let s;
      if (rng.chance(0.6)) s = rng.pick(WORDS); // repeats: a dictionary is worth it
      else s = Array.from({ length: 1 + rng.int(4) }, () => rng.pick(WORDS)).join(' ') + ' ' + rng.int(100000);
      return { json: jsonString(s, rng), value: s };
    },
  };
}

function binaryGen(rng) {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const big = rng.bytes(30000);
  const edges = [new Uint8Array(0), Uint8Array.of(0), Uint8Array.of(255), Uint8Array.of(0xfb, 0xff), all, big, Buffer.from('plain text')];
  return {
    edges: edges.flatMap((b, i) => [{ json: `"${base64(b, true)}"`, value: hex(b) }, ...(i < 5 ? [{ json: `"${base64(b, false)}"`, value: hex(b) }] : [])]),
    random: () => {
      const b = rng.chance(0.3) ? Uint8Array.of(rng.int(4)) : rng.bytes(rng.int(40));
      return { json: `"${base64(b, rng.chance(0.5))}"`, value: hex(b) };
    },
  };
}

const JSON_EDGES = ['{}', '[]', '{"a":1}', '{"a": [1, 2.50, "x"], "b": {"c": null}}', '"text"', '"\\u00e9\\n"', '123', '-1.5e10', '0',
  'true', 'false', '[null]', '[[[[[]]]]]', '{"k":"日本語","e":"😀"}', '1e400', '""', '{ "spaced" : [ 1 , 2 ] }'];
function jsonGen(rng) {
  return {
    edges: JSON_EDGES.map(t => ({ json: t, value: t })),
    random: () => {
      const t = rng.pick([
        () => `{"id":${rng.int(1000)},"tag":"${rng.pick(WORDS)}"}`,
        () => `[${Array.from({ length: rng.int(4) }, () => rng.int(100)).join(',')}]`,
        () => String(rng.int(100000) - 50000),
        () => `"${rng.pick(WORDS)}"`,
        () => `{"nested": {"v": ${rng.float().toFixed(3)}, "ok": ${rng.chance(0.5)}}}`,
      ])();
      return { json: t, value: t };
    },
  };
}

const DAY_MIN = daysOfIsoDate('0001-01-01'), DAY_MAX = daysOfIsoDate('9999-12-31');
function dateGen(rng) {
  const edges = ['0001-01-01', '9999-12-31', '1970-01-01', '1969-12-31', '1900-02-28', '2000-02-29', '1582-10-10', '1600-02-29', '2024-02-29'];
  return {
    edges: edges.map(d => ({ json: `"${d}"`, value: d })),
    random: () => { const d = isoDate(rng.big(DAY_MIN, DAY_MAX)); return { json: `"${d}"`, value: d }; },
  };
}

function timeGen(rng) {
  const edges = [['00:00:00', 0n], ['23:59:59.999999', 86399999999n], ['23:59:59.999999999', 86399999999n], ['12:00:00.5', 43200500000n],
    ['00:00:00.000001', 1n], ['01:02:03.1234567', 3723123456n], ['00:00:00.0', 0n], ['13:14:15.123', 47655123000n]];
  return {
    edges: edges.map(([t, v]) => ({ json: `"${t}"`, value: v })),
    random: () => {
      const ns = rng.big(0n, 86_400n * NS_PER_SEC - 1n), digits = rng.int(10);
      const sec = ns / NS_PER_SEC, frac = pad(ns % NS_PER_SEC, 9).slice(0, digits);
      const t = `${pad(sec / 3600n, 2)}:${pad((sec % 3600n) / 60n, 2)}:${pad(sec % 60n, 2)}${digits ? '.' + frac : ''}`;
      const cutNs = sec * NS_PER_SEC + (digits ? BigInt(frac.padEnd(9, '0')) : 0n);
      return { json: `"${t}"`, value: cutNs / 1000n };
    },
  };
}

const OFFSETS = [0, 0, 60, -300, 330, -480, 345, 840, -720, 570];
const NS_MIN = -(2n ** 63n), NS_MAX = 2n ** 63n - 1n;
function timestampGen(unit, utc) {
  return rng => {
    const u = UNIT_NS[unit];
    // Instants an RFC 3339 text with a 4-digit year can hold (a day of margin for offsets); ns: the int64 range.
    const lo = unit === 'ns' ? NS_MIN + 2n * NS_PER_DAY : BigInt(DAY_MIN + 1n) * NS_PER_DAY;
    const hi = unit === 'ns' ? NS_MAX - 2n * NS_PER_DAY : BigInt(DAY_MAX) * NS_PER_DAY - 1n;
    const make = (ns, offMin, digits, sep = 'T') => {
      const r = rfc3339(ns, offMin, digits, sep);
      return { json: `"${r.text}"`, value: floorDiv(offMin === null ? r.wall : r.ns, u) };
    };
    const off = () => (utc || rng.chance(0.5) ? rng.pick(OFFSETS) : null); // utc=false: with or without an offset
    const edges = [
      make(0n, 0, 0), make(-1n, 0, 9), make(-1n, off(), 9), make(1n, 0, 9), make(-NS_PER_SEC, 0, 3),
      make(-2208988800n * NS_PER_SEC, 0, 0), // 1900-01-01
      make(1709208000n * NS_PER_SEC + 123456789n, 0, 9), // 2024-02-29T12:00:00.123456789Z
      make(1709208000n * NS_PER_SEC + 123456789n, 330, 7), make(1709208000n * NS_PER_SEC, -720, 0, ' '),
    ];
    if (unit === 'ns') {
      // a day inside the int64 ends: DuckDB reads INT64_MAX and INT64_MIN + 1 as +-infinity and its
      // parquet_metadata() fails on statistics near INT64_MIN ("Date out of range in timestamp_ns conversion");
      // the exact ends are checked apart (NS_ENDS)
      edges.push({ json: '"2262-04-10T23:47:16.854775807Z"', value: NS_MAX - NS_PER_DAY }, { json: '"1677-09-22T00:12:43.145224192Z"', value: NS_MIN + NS_PER_DAY });
    } else {
      const first = -62135596800n, last = 253402300799n; // 0001-01-01T00:00:00Z, 9999-12-31T23:59:59Z
      edges.push({ json: '"0001-01-01T00:00:00Z"', value: first * (NS_PER_SEC / u) },
        { json: '"9999-12-31T23:59:59.999999999Z"', value: floorDiv(last * NS_PER_SEC + 999999999n, u) });
    }
    if (!utc) edges.push({ json: '"2020-06-01T12:00:00"', value: floorDiv(1591012800n * NS_PER_SEC, u) },
      { json: '"2020-06-01T12:00:00+02:00"', value: floorDiv(1591005600n * NS_PER_SEC, u) });
    return {
      edges: edges.filter(e => utc ? /[Z+-]\d\d:\d\d"$|Z"$/.test(e.json) : true),
      random: () => make(rng.big(lo, hi), off(), rng.int(10), rng.pick(['T', 'T', 'T', 't', ' '])),
    };
  };
}

function uuidGen(rng) {
  const fmt = (b, style) => {
    const h = hex(b);
    const dashed = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    if (style === 0) return dashed;
    if (style === 1) return dashed.toUpperCase();
    if (style === 2) return h;
    return [...dashed].map((c, i) => (i % 2 ? c.toUpperCase() : c)).join('');
  };
  const canon = b => fmt(b, 0);
  const edges = [new Uint8Array(16), new Uint8Array(16).fill(255), Uint8Array.from({ length: 16 }, (_, i) => i * 17)];
  return {
    edges: [
      ...edges.map((b, i) => ({ json: `"${fmt(b, i === 1 ? 1 : 0)}"`, value: canon(b) })),
      { json: '"A0EEBC999C0B4EF8BB6D6BB9BD380A11"', value: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' },
    ],
    random: () => { const b = rng.bytes(16); return { json: `"${fmt(b, rng.int(4))}"`, value: canon(b) }; },
  };
}

/** Every column type of the matrix. */
export const TYPES = [
  { key: 'b', spec: { type: 'bool' }, norm: 'bool', alt: null, gen: rng => ({ edges: [{ json: 'true', value: true }, { json: 'false', value: false }], random: () => { const v = rng.chance(0.5); return { json: String(v), value: v }; } }) },
  ...[8, 16, 32, 64].map(bits => ({ key: `i${bits}`, spec: { type: `int${bits}` }, norm: `int${bits}`, alt: 'delta', gen: intGen(INT_RANGE(bits).lo, INT_RANGE(bits).hi) })),
  ...[8, 16, 32, 64].map(bits => ({ key: `u${bits}`, spec: { type: `uint${bits}` }, norm: `uint${bits}`, alt: 'delta', gen: intGen(UINT_RANGE(bits).lo, UINT_RANGE(bits).hi) })),
  { key: 'f32', spec: { type: 'float32' }, norm: 'float32', alt: 'byte_stream_split', gen: float32Gen },
  { key: 'f64', spec: { type: 'float64' }, norm: 'float64', alt: 'byte_stream_split', gen: float64Gen },
  ...[[4, 0], [9, 2], [18, 4], [20, 2], [38, 0], [38, 10]].map(([p, s]) => ({
    key: `d${p}_${s}`, spec: { type: 'decimal', precision: p, scale: s }, norm: `decimal(${p},${s})`, alt: p <= 18 ? 'delta' : null, gen: decimalGen(p, s),
  })),
  { key: 's', spec: { type: 'string' }, norm: 'string', alt: 'delta_length', gen: stringGen },
  { key: 'bin', spec: { type: 'binary' }, norm: 'binary', alt: 'delta_length', gen: binaryGen },
  { key: 'j', spec: { type: 'json' }, norm: 'json', alt: 'delta_length', gen: jsonGen },
  { key: 'dt', spec: { type: 'date' }, norm: 'date', alt: 'delta', gen: dateGen },
  { key: 'tm', spec: { type: 'time' }, norm: 'time', alt: 'delta', gen: timeGen },
  ...['ms', 'us', 'ns'].flatMap(unit => [true, false].map(utc => ({
    key: `ts_${unit}_${utc ? 'utc' : 'local'}`, spec: { type: 'timestamp', unit, utc }, norm: (utc ? 'timestamp' : 'timestamp_ntz') + (unit === 'us' ? '' : `_${unit}`),
    alt: 'delta', gen: timestampGen(unit, utc),
  }))),
  { key: 'uu', spec: { type: 'uuid' }, norm: 'uuid', alt: null, gen: uuidGen },
];

/** Encoding sets of the matrix: what "encoding" each column type gets (null: key left out, i.e. auto). */
export const ENCODING_SETS = {
  auto: () => null,
  plain: () => 'plain',
  dictionary: t => (t.spec.type === 'bool' ? null : 'dictionary'), // ursa refuses a dictionary for booleans
  alt: t => t.alt, // delta / delta_length / byte_stream_split where the type has one, else auto
};
export const CODECS = ['uncompressed', 'snappy', 'gzip', 'brotli', 'lz4_raw', 'zstd'];

// ============================================================ files
/**
 * One NDJSON file with one nullable and one non-null column of each of `types`:
 *   {schema, columns: [{name, type (normalized), nullable, spec, ursaType}], lines: [text], rows: [expected row]}
 * Options: rows, seed, nullRate (nullable columns), allNull (every nullable column null in every row),
 * encoding (a key of ENCODING_SETS), bloom (column type keys that get "bloom_filter": true).
 */
export function buildFile({ rows, seed, nullRate = 0.15, allNull = false, encoding = 'auto', bloom = [], types = TYPES }) {
  const rng = makeRng(seed);
  const columns = [];
  for (const t of types) {
    for (const nullable of [true, false]) {
      const col = { name: `${t.key}_${nullable ? 'n' : 'r'}`, type: t.norm, nullable, spec: t.spec, typeKey: t.key };
      const enc = ENCODING_SETS[encoding](t);
      col.schema = { name: col.name, ...t.spec, nullable, ...(enc ? { encoding: enc } : {}), ...(bloom.includes(t.key) ? { bloom_filter: true } : {}) };
      col.encoding = enc ?? 'auto';
      col.bloom = bloom.includes(t.key);
      col.gen = t.gen(makeRng(seed * 1009 + columns.length + 1));
      col.next = 0;
      columns.push(col);
    }
  }
  const lines = [], expected = [], texts = [];
  for (let r = 0; r < rows; r++) {
    const fields = [], row = {}, text = {};
    for (const c of columns) {
      if (c.nullable && (allNull || rng.chance(nullRate))) {
        row[c.name] = null;
        if (rng.chance(0.5)) fields.push(`"${c.name}":null`); // else the field is left out
        continue;
      }
      const v = c.next < c.gen.edges.length ? c.gen.edges[c.next++] : c.gen.random();
      row[c.name] = v.value;
      text[c.name] = v.json;
      fields.push(`"${c.name}":${rng.chance(0.2) ? ' ' : ''}${v.json}`);
    }
    if (rng.chance(0.3)) fields.reverse();
    lines.push(`{${fields.join(',')}}`);
    expected.push(row);
    texts.push(text);
  }
  const schema = { columns: columns.map(c => c.schema) };
  return { schema, columns: columns.map(({ gen, next, ...c }) => c), lines, rows: expected, texts };
}

/** The exact int64 ends of ns timestamps, and texts for them (utc and local columns). */
export const NS_ENDS = [
  { json: '"1677-09-21T00:12:43.145224192Z"', value: NS_MIN }, { json: '"1677-09-21T00:12:43.145224193Z"', value: NS_MIN + 1n },
  { json: '"2262-04-11T23:47:16.854775807Z"', value: NS_MAX }, { json: '"2262-04-11T23:47:16.854775806Z"', value: NS_MAX - 1n },
  { json: '"2262-04-12T01:47:16.854775807+02:00"', value: NS_MAX }, { json: '"1677-09-20T23:12:43.145224192-01:00"', value: NS_MIN },
];

// ============================================================ rejected records
// One file of valid rows with invalid ones in between. Each invalid line has exactly one fault; `column` is
// the column ursa convert must name ('-' for the record as a whole).
export const ERROR_SCHEMA = {
  columns: [
    { name: 'i8', type: 'int8' }, { name: 'u8', type: 'uint8' }, { name: 'i16', type: 'int16' }, { name: 'u16', type: 'uint16' },
    { name: 'i32', type: 'int32' }, { name: 'u32', type: 'uint32' }, { name: 'i64', type: 'int64' }, { name: 'u64', type: 'uint64' },
    { name: 'f32', type: 'float32' }, { name: 'f64', type: 'float64' },
    { name: 'd9', type: 'decimal', precision: 9, scale: 2 }, { name: 'd38', type: 'decimal', precision: 38, scale: 0 },
    { name: 'bin', type: 'binary' }, { name: 'uu', type: 'uuid' }, { name: 'dt', type: 'date' }, { name: 'tm', type: 'time' },
    { name: 'tsns', type: 'timestamp', unit: 'ns' }, { name: 'tsutc', type: 'timestamp', unit: 'us', utc: true },
    { name: 'js', type: 'json', nullable: false }, { name: 'req', type: 'int32', nullable: false }, { name: 'ok', type: 'bool' },
  ],
};
export const ERROR_CASES = [
  ['i8', '300', 'int8 above 127'], ['i8', '-129', 'int8 below -128'], ['u8', '-1', 'negative uint8'], ['u8', '256', 'uint8 above 255'],
  ['i16', '32768', 'int16 above 32767'], ['u16', '65536', 'uint16 above 65535'], ['i32', '2147483648', 'int32 above 2^31-1'],
  ['u32', '4294967296', 'uint32 above 2^32-1'], ['u32', '-1', 'negative uint32'], ['i64', '9223372036854775808', 'int64 above 2^63-1'],
  ['u64', '18446744073709551616', 'uint64 above 2^64-1'], ['u64', '-1', 'negative uint64'], ['i8', '1.5', 'fraction into int8'],
  ['i32', '"7"', 'string into int32'], ['u64', '1e3', 'exponent into uint64'],
  ['f32', '1e39', 'float32 out of range'], ['f32', '-3.5e38', 'float32 out of range (negative)'], ['f64', '1e400', 'float64 out of range'],
  ['d9', '12345678.9', 'decimal(9,2) with 8 integer digits'], ['d9', '1.234', 'decimal(9,2) with 3 fraction digits'],
  ['d9', '"0.001"', 'decimal(9,2) string with 3 fraction digits'], ['d9', '"abc"', 'decimal not a number'], ['d9', '"1.2.3"', 'decimal with two points'],
  ['d38', '100000000000000000000000000000000000000', 'decimal(38,0) with 39 digits'],
  ['d38', '"-100000000000000000000000000000000000000"', 'decimal(38,0) string with 39 digits'], ['d9', 'true', 'bool into decimal'],
  ['bin', '"!!!!"', 'base64 with bad characters'], ['bin', '"a"', 'base64 of 1 character'], ['bin', '"ab=c"', 'base64 padding inside'],
  ['bin', '"YW_i"', 'base64url alphabet'], ['bin', '12', 'number into binary'],
  ['uu', '"xyz"', 'uuid not hex'], ['uu', '"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1"', 'uuid one digit short'],
  ['uu', '"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g"', 'uuid with g'], ['uu', '"a0eebc999c0b4ef8bb6d6bb9bd380a1122"', 'uuid 34 digits'],
  ['dt', '"2023-02-29"', 'not a leap year'], ['dt', '"2023-13-01"', 'month 13'], ['dt', '"0000-01-01"', 'year 0'], ['dt', '"2023-1-01"', 'one-digit month'],
  ['dt', '"2023-04-31"', 'April 31'],
  ['tm', '"24:00:00"', 'hour 24'], ['tm', '"23:60:00"', 'minute 60'], ['tm', '"23:59:60"', 'second 60'], ['tm', '"12:00:00.1234567890"', '10 fraction digits'],
  ['tm', '"12:00"', 'no seconds'],
  ['tsns', '"3000-01-01T00:00:00Z"', 'ns timestamp in year 3000'], ['tsns', '"1600-01-01T00:00:00Z"', 'ns timestamp in 1600'],
  ['tsns', '"2262-04-11T23:47:16.854775808Z"', 'ns timestamp one past int64'],
  ['tsutc', '"2020-01-01T00:00:00"', 'utc timestamp without offset'], ['tsutc', '"2020-02-30T00:00:00Z"', 'February 30'],
  ['js', 'null', 'null into non-null json'], ['req', 'null', 'null into non-null int32'], ['ok', '1', 'number into bool'],
];
const GOOD = { i8: '1', u8: '2', i16: '3', u16: '4', i32: '5', u32: '6', i64: '7', u64: '8', f32: '1.5', f64: '2.5', d9: '"1.25"', d38: '12', bin: '"AAE="',
  uu: '"00112233-4455-6677-8899-aabbccddeeff"', dt: '"2020-01-01"', tm: '"01:02:03"', tsns: '"2020-01-01T00:00:00.000000001Z"', tsutc: '"2020-01-01T00:00:00Z"',
  js: '{"ok":true}', req: '9', ok: 'true' };
export const ERROR_GOOD_ROW = {
  i8: 1n, u8: 2n, i16: 3n, u16: 4n, i32: 5n, u32: 6n, i64: 7n, u64: 8n, f32: 1.5, f64: 2.5, d9: '1.25', d38: '12', bin: '0001',
  uu: '00112233-4455-6677-8899-aabbccddeeff', dt: '2020-01-01', tm: 3723000000n, tsns: 1577836800000000001n, tsutc: 1577836800000000n, js: '{"ok":true}', req: 9n, ok: true,
};
/** Lines: good records interleaved with one bad record per ERROR_CASES entry, plus whole-record faults. */
export function buildErrorFile() {
  const lines = [], bad = []; // bad: {line (1-based), column, what}
  const record = over => `{${Object.entries({ ...GOOD, ...over }).filter(([, v]) => v !== undefined).map(([k, v]) => `"${k}":${v}`).join(',')}}`;
  const good = () => lines.push(record({}));
  good();
  for (const [column, json, what] of ERROR_CASES) {
    lines.push(record({ [column]: json }));
    bad.push({ line: lines.length, column, what: `${what}: ${json}` });
    good();
  }
  lines.push(record({ req: undefined })); bad.push({ line: lines.length, column: 'req', what: 'non-null column missing' }); good();
  for (const [text, what] of [['[1,2]', 'an array, not an object'], ['{"i8":1 "u8":2}', 'no comma between fields'], ['42', 'a number, not an object']]) {
    lines.push(text); bad.push({ line: lines.length, column: '-', what }); good();
  }
  const goodCount = lines.length - bad.length;
  return { lines, bad, goodCount };
}
