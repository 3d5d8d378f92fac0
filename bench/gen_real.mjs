#!/usr/bin/env node
// gen_real.mjs — writes the realistic event table (issue 18) as NDJSON, deterministically (same seed, same bytes):
// the seven columns and the schema of bench/gen_events.mjs's tidy table, with the variety real producers emit.
//
//   node bench/gen_real.mjs [--rows N] [--seed S] [--dir DIR] [--force] [--array]
//
//   --rows   rows to write (default 10000000)
//   --seed   PRNG seed (default 20261124)
//   --dir    output directory (default $BENCH_DIR, else /tmp/ursa-bench); never inside the repository
//   --force  rewrite even when a file with the same rows and seed is already there
//   --array  also write the same records as a JSON array (what bench/parse.mjs's json format reads)
//
// Writes DIR/real-<rows>.ndjson, DIR/events.schema.json (the tidy table's schema: the same file) and
// DIR/real-<rows>.json (a manifest: rows, seed, bytes, and the composition counted while writing); prints the
// manifest. deriveRealArray() writes DIR/real-<rows>.array.json: "[\n" + the lines (without their line ends)
// joined by ",\n" + "\n]\n", byte for byte. There is no CSV of this table: its variety is JSON's.
//
// The rows: the tidy table's columns, instants and value ranges (ts increasing over about one day, user_id, 50
// event names, 200 countries, value, ok, payload), written by seven kinds of producer, in bursts of 1–32 records
// from one producer (as a collector interleaves its clients' requests). Each producer writes the way its JSON
// library does (its weight; the measured shares of 1 M rows are within 0.2 points of it):
//
//   producer  share  field order            spacing               strings                timestamps                   floats                          nulls
//   js        25 %   schema order           none                  raw UTF-8              ms, Z                        shortest (42, 1e-7, 1e+21)      value null, others absent
//   python    18 %   event, ts, user_id, …  ", " and ": "         \uXXXX (ensure_ascii)  µs, ±HH:MM; "T" or " "       repr (42.0, 1e-07, -0.0)        null
//   go        15 %   sorted (map keys)      none                  raw, and \u003c        0–9 digits (zeros trimmed),  shortest (42, 1e-7)             null or absent (per burst)
//                                                                 \u003e \u0026          Z or ±HH:MM
//   java      14 %   event, user_id, ts, …  none                  raw UTF-8              0/3/6/9 digits, Z or ±HH:MM  Double.toString (42.0, 1.0E-7)  absent
//   php        8 %   ts, event, user_id, …  none                  \uXXXX and \/          ms, ±HH:MM                   42.0, 1.0e-7, 1.0e+25           null
//   hashmap   12 %   random per record      none, or ", " ": "    raw UTF-8              0/3/6/9 digits, ±HH:MM       ryu (42.0, 1e-7, 1e25)          null or absent (per burst)
//   shell      8 %   schema order or        spaces and tabs       raw, or \uXXXX with    0–9 digits (random), ±HH:MM; %.17g, %.2f or .NET "R"         null
//                    ts, event, user_id, …  around { } : , (a     upper-case hex         "T" or " "                   (0.10000000000000001, 12.50,
//                                           template per burst);  (per burst)                                         1E-07)
//                                           CRLF line ends in 40 % of its bursts
//
// In all (1 M rows, seed 20261124; bench/gen_real.mjs prints the exact counts in the manifest's "composition"):
//   field order   28.9 % schema order, 59.1 % one of five other fixed orders, 12.0 % random
//   spacing       70.3 % none at all, 21.7 % spaces, 8.0 % tabs (and spaces); 3.3 % CRLF line ends
//   nulls         7.7 % of the records lack a field, 9.2 % hold an explicit null (value null 5 %, user_id 1 %,
//                 event 2 %, ok 3 %, country 4 %, payload 3 %; ts never)
//   ts            fraction digits 0: 6.7 %, 1–2: 1.9 %, 3: 43.0 %, 4–5: 1.9 %, 6: 31.3 %, 7–8: 2.3 %, 9: 12.9 %; "Z" 41.0 %,
//                 +00:00 17.9 %, another offset 41.1 % (all 38 offsets in use, -12:00 to +14:00, with -09:30, +05:45,
//                 +08:45, +12:45); a space for "T" in 7.8 %. Every tool truncates past the microsecond (Ursa,
//                 DuckDB, Polars), so 7–9 digits compare exactly.
//   value         cents like the tidy table 65 %, full 53-bit ratios (15–17 significant digits) 15 %, integers 10 %,
//                 small (1e-3 to 1e-12) 6 %, large (1e6 to 1e22) 3 %, a tenth of those negative, and 1 % edge
//                 cases: 1e-300, -0.0, 2.2250738585072014e-308, 2.2250738585072011e-308, 5e-324, 1.7976931348623157e308,
//                 ±1e300, 1e23, 2^53, 9007199254740993, a 30-digit integer, 0.30000000000000004, the 55-digit
//                 expansion of 0.1, 1.00000000000000000000000000001, 1E5, 1e+5, 0e0 (half in the producer's style,
//                 half as these literals). As written: 5.7 % with an exponent (1.3 % with "E"), 5.7 % without a point
//                 or exponent, 8.2 % with 17 or more significant digits.
//   user_id       1..10^9 97 %, up to 10^12 2 %, 0 or -1 1 %
//   payload       empty 5 %, a token of 1–64 characters 36 %, text with quotes, backslashes, \n, \t, \r\n, slashes,
//                 <>&, ESC 25 %, a URL 10 %, an embedded JSON document (its quotes escaped) 10 %, words in a dozen
//                 scripts with emoji (astral, ZWJ sequences, flags, U+2028) 12 %, a stack trace 1 %, base64 of
//                 256 B–8 KiB 1 %; and one record in 100,000 (r mod 100000 = 50000) 100–700 KiB of base64, JSON,
//                 text or text in other scripts: the very long lines (10 in 1 M rows, the longest 0.70 MB).
//                 Of the records, 39.2 % have a payload with an escape, 14.7 % with a \uXXXX escape, 3.6 % with a
//                 surrogate pair, 13.8 % with raw multi-byte UTF-8. As written (bytes between the quotes): 0 B 4.8 %,
//                 1–63 40.8 %, 64–255 38.6 %, 256–1023 11.1 %, 1–4 KiB 1.1 %, 4–64 KiB 0.5 % (and null 3 %).
//   size          about 324 bytes a row (the tidy table: 171): 0.32 GB for 1 M rows, 3.2 GB for 10 M.
//
// Every record is valid for the schema and reads the same in all three tools: Ursa accepts every row, and DuckDB
// (read_json with the column types) and Polars (scanJson with the schema, ts parsed with '%+') read the same
// values, row by row (bench/convert.mjs compares their Parquet outputs with Ursa's; bench/parse.mjs the
// per-column checks). Valid JSON left out because a peer reads it differently or not at all: the number -0
// (Go, printf %g and .NET write negative zero so): DuckDB 1.5 and Polars 0.26 read it as +0.0 (they read "-0.0"
// as -0.0, as Ursa reads both), so those styles write 0 here; a lowercase "t" or "z" in a timestamp (RFC 3339
// allows both; DuckDB refuses them).
import { openSync, readSync, writeSync, closeSync, existsSync, writeFileSync, renameSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EVENTS, COUNTRIES, makeRng, defaultDir, generate, deriveFormats, dataPaths, prepareDir } from './gen_events.mjs';

export const REAL_SEED = 20261124;
export function realPaths(dir, rows) {
  return { ndjson: join(dir, `real-${rows}.ndjson`), manifest: join(dir, `real-${rows}.json`), array: join(dir, `real-${rows}.array.json`), schema: join(dir, 'events.schema.json') };
}

const NAMES = ['ts', 'user_id', 'event', 'value', 'ok', 'country', 'payload'];
const [TS, USER, EVENT, VALUE, OK, COUNTRY, PAYLOAD] = [0, 1, 2, 3, 4, 5, 6];
const NULL_RATE = [0, 0.01, 0.02, 0.05, 0.03, 0.04, 0.03];
const SCHEMA_ORDER = [TS, USER, EVENT, VALUE, OK, COUNTRY, PAYLOAD];
const OFFSETS = [-720, -660, -600, -570, -540, -480, -420, -360, -300, -240, -210, -180, -120, -60, 60, 120, 180, 210, 240, 270, 300, 330,
  345, 360, 390, 420, 480, 525, 540, 570, 600, 630, 660, 720, 765, 780, 840]; // minutes, besides 0

// ------------------------------------------------------------------ numbers in each producer's style
/** Digits and decimal exponent of |x| (x finite, not 0): |x| = d.ddd × 10^exp, as few digits as round-trip. */
function parts(x, precision) {
  const s = precision ? Math.abs(x).toExponential(precision - 1) : Math.abs(x).toExponential();
  const e = s.indexOf('e');
  return { digits: s.slice(0, e).replace('.', ''), exp: Number(s.slice(e + 1)) };
}
function fixed(digits, exp, dot0) {
  let s;
  if (exp >= digits.length - 1) s = digits + '0'.repeat(exp - digits.length + 1) + (dot0 ? '.0' : '');
  else if (exp >= 0) s = digits.slice(0, exp + 1) + '.' + digits.slice(exp + 1);
  else s = '0.' + '0'.repeat(-exp - 1) + digits;
  return s;
}
function sci(digits, exp, { dot0, E = 'e', plus, pad2 }) {
  const m = digits.length > 1 ? digits[0] + '.' + digits.slice(1) : digits + (dot0 ? '.0' : '');
  const a = String(Math.abs(exp));
  return m + E + (exp < 0 ? '-' : plus ? '+' : '') + (pad2 ? a.padStart(2, '0') : a);
}
const FLOAT = {
  js: x => String(x), // JSON.stringify: -0 is written 0
  go: x => String(x), // Go writes -0 as "-0": left out (see the header), written 0
  python: x => {
    if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
    const { digits, exp } = parts(x), sign = x < 0 ? '-' : '';
    return sign + (exp < -4 || exp >= 16 ? sci(digits, exp, { plus: true, pad2: true }) : fixed(digits, exp, true));
  },
  java: x => {
    if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
    const { digits, exp } = parts(x), sign = x < 0 ? '-' : '';
    return sign + (exp >= -3 && exp < 7 ? fixed(digits, exp, true) : sci(digits, exp, { dot0: true, E: 'E' }));
  },
  php: x => {
    if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
    const { digits, exp } = parts(x), sign = x < 0 ? '-' : '';
    return sign + (exp < -4 || exp >= 15 ? sci(digits, exp, { dot0: true, plus: true }) : fixed(digits, exp, true));
  },
  ryu: x => {
    if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
    const { digits, exp } = parts(x), sign = x < 0 ? '-' : '';
    return sign + (exp >= -5 && exp <= 15 ? fixed(digits, exp, true) : sci(digits, exp, {}));
  },
  c17g: x => { // printf("%.17g"); -0 written 0 (see the header)
    if (x === 0) return '0';
    let { digits, exp } = parts(x, 17);
    digits = digits.replace(/0+$/, '') || '0';
    return (x < 0 ? '-' : '') + (exp < -4 || exp >= 17 ? sci(digits, exp, { plus: true, pad2: true }) : fixed(digits, exp, false));
  },
  c2f: x => (Object.is(x, -0) ? '-0.00' : Math.abs(x) < 1e21 ? x.toFixed(2) : String(x)), // printf("%.2f"), shortened past 1e21
  dotnet: x => { // double.ToString("R"); -0 written 0 (see the header)
    if (x === 0) return '0';
    const { digits, exp } = parts(x), sign = x < 0 ? '-' : '';
    return sign + (exp < -5 || exp >= 15 ? sci(digits, exp, { E: 'E', plus: true, pad2: true }) : fixed(digits, exp, false));
  },
};
// Edge cases: a number (written in the producer's style) or a literal (written as is, whatever the producer).
const EDGES = [{ x: 1e-300 }, { x: -0 }, { x: 2.2250738585072014e-308 }, { x: 5e-324 }, { x: 1.7976931348623157e308 }, { x: 1e300 }, { x: -1e300 },
  { x: 1e23 }, { x: 0.30000000000000004 }, { x: 8.98846567431158e307 }, { x: -1.5e-310 }, { x: 0 }, { x: 2 ** 53 },
  { t: '1e-300' }, { t: '-0.0' }, { t: '2.2250738585072014e-308' }, { t: '2.2250738585072011e-308' }, { t: '4.9406564584124654e-324' },
  { t: '9007199254740993' }, { t: '123456789012345678901234567890' }, { t: '0.1000000000000000055511151231257827021181583404541015625' },
  { t: '1E5' }, { t: '1e+5' }, { t: '0e0' }, { t: '1.00000000000000000000000000001' }];

// ------------------------------------------------------------------ strings in each producer's style
const hex4 = (c, upper) => { const h = c.charCodeAt(0).toString(16).padStart(4, '0'); return '\\u' + (upper ? h.toUpperCase() : h); };
const ESCAPE = {
  raw: s => JSON.stringify(s),
  ascii: s => JSON.stringify(s).replace(/[\u0080-\uffff]/g, c => hex4(c, false)), // Python ensure_ascii (astral: a surrogate pair)
  asciiUpper: s => JSON.stringify(s).replace(/[\u0080-\uffff]/g, c => hex4(c, true)),
  go: s => JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, c => hex4(c, false)),
  php: s => JSON.stringify(s).replace(/[\u0080-\uffff]/g, c => hex4(c, false)).replaceAll('/', '\\/'),
};

const WORDS = ('the of and to in is was for on that with as by at from this have not are but had his they you were her all she ' +
  'there would their we him been has when who will more no if out so said what up its about into than them can only other new ' +
  'some could time these two may then do first any my now such like our over man me even most made after also did many before ' +
  'must through back years where much your way well down should because each just those people how too little state good very ' +
  'make world still own see men work long get here between both life being under never day same another know while last might ' +
  'us great old year off come since against go came right used take three request user session timeout retry cache miss hit ' +
  'error warning failed connection refused upstream payload order cart checkout token expired').split(' ');
const INTL = ['café', 'crème', 'brûlée', 'naïve', 'élève', 'Größe', 'übermäßig', 'Straße', 'niño', 'año', 'señal', 'João', 'ação',
  'Zürich', 'København', 'łódź', 'Kraków', 'čeština', 'İstanbul', 'ağaç', 'привет', 'мир', 'пользователь', 'ошибка', 'καλημέρα',
  'κόσμε', 'שלום', 'مرحبا', 'مستخدم', 'नमस्ते', 'उपयोगकर्ता', 'ภาษาไทย', '你好', '世界', '用户', '错误', 'こんにちは', '東京', 'ユーザー',
  '안녕하세요', '사용자', '€', '£', '¥', '™', '©', '→', '…', '“quoted”', '‘single’', '—', '½', 'µs', '°C', '😀', '🎉', '👍', '👍🏽',
  '🚀', '🇫🇷', '🇯🇵', '👨‍👩‍👧', '❤️', '🙂', '𝔘𝔯𝔰𝔞', '𠜎', 'e\u0301', 'line\u2028sep'];
const TLDS = ['com', 'org', 'io', 'de', 'fr', 'co.uk', 'jp'];
const ALPHA = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';

// ------------------------------------------------------------------ producers
// order: field indices (null: random per record); ws: per-burst spacing; esc: string style; ts: timestamp style;
// float: number style(s); nulls: 'explicit' | 'omit' | 'js' | 'either' (per burst).
const PRODUCERS = [
  { name: 'js', weight: 25, order: SCHEMA_ORDER, ws: 'none', esc: ['raw'], ts: 'js', float: ['js'], nulls: 'js' },
  { name: 'python', weight: 18, order: [EVENT, TS, USER, COUNTRY, VALUE, OK, PAYLOAD], ws: 'python', esc: ['ascii'], ts: 'python', float: ['python'], nulls: 'explicit' },
  { name: 'go', weight: 15, order: [COUNTRY, EVENT, OK, PAYLOAD, TS, USER, VALUE], ws: 'none', esc: ['go'], ts: 'go', float: ['go'], nulls: 'either' },
  { name: 'java', weight: 14, order: [EVENT, USER, TS, OK, VALUE, PAYLOAD, COUNTRY], ws: 'none', esc: ['raw'], ts: 'java', float: ['java'], nulls: 'omit' },
  { name: 'php', weight: 8, order: [TS, EVENT, USER, VALUE, COUNTRY, OK, PAYLOAD], ws: 'none', esc: ['php'], ts: 'php', float: ['php'], nulls: 'explicit' },
  { name: 'hashmap', weight: 12, order: null, ws: 'either', esc: ['raw'], ts: 'chrono', float: ['ryu'], nulls: 'either' },
  { name: 'shell', weight: 8, order: 'shell', ws: 'template', esc: ['raw', 'asciiUpper'], ts: 'shell', float: ['c17g', 'c17g', 'c2f', 'dotnet'], nulls: 'explicit' },
];
const SHELL_ORDERS = [SCHEMA_ORDER, [TS, EVENT, USER, VALUE, OK, COUNTRY, PAYLOAD]];
const WS = ['', ' ', ' ', '\t', '  ', ' \t', '\t '];

/** Generates the file; returns the manifest. */
export function generateReal({ rows = 10_000_000, seed = REAL_SEED, dir = defaultDir(), force = false, log = () => {} } = {}) {
  const paths = realPaths(dir, rows);
  const reused = prepareDir({ dir, paths, rows, seed, force, log });
  if (reused) return reused;
  const u32 = makeRng(seed);
  const unit = () => u32() / 4294967296;
  const chance = p => u32() < p * 4294967296;
  const pick = a => a[u32() % a.length];
  const between = (lo, hi) => lo + (u32() % (hi - lo + 1));
  const totalWeight = PRODUCERS.reduce((a, p) => a + p.weight, 0);

  // ---- composition, counted while writing
  const C = {
    producer: Object.fromEntries(PRODUCERS.map(p => [p.name, 0])), order: { schema: 0, fixed_other: 0, random: 0 },
    spacing: { none: 0, spaces: 0, tabs: 0 }, crlf: 0, records_with_absent: 0, records_with_null: 0,
    absent: Object.fromEntries(NAMES.map(n => [n, 0])), explicit_null: Object.fromEntries(NAMES.map(n => [n, 0])),
    value: { cents: 0, ratio: 0, integer: 0, small: 0, large: 0, edge: 0, negative: 0, with_exponent: 0, with_E: 0, no_point: 0, digits_17_plus: 0 },
    ts: { digits: Array(10).fill(0), Z: 0, offset_zero: 0, offset_other: 0, space_separator: 0, offsets_used: new Set() },
    payload: { empty: 0, token: 0, text: 0, url: 0, json: 0, intl: 0, stack: 0, base64: 0, long: 0, with_escape: 0, with_u_escape: 0, with_surrogate_pair_escape: 0, with_raw_multibyte: 0 },
    payload_literal_bytes: { '0': 0, '1-63': 0, '64-255': 0, '256-1023': 0, '1-4KiB': 0, '4-64KiB': 0, '64KiB+': 0 },
    lines_over_64KiB: 0, longest_line: 0,
  };

  // ---- string content
  const words = (L, intlShare) => {
    let s = '';
    while (s.length < L) s += (intlShare && chance(intlShare) ? pick(INTL) : pick(WORDS)) + ' ';
    return s.slice(0, -1);
  };
  const text = L => {
    let s = '';
    while (s.length < L) {
      const r = u32() % 100;
      if (r < 78) s += pick(WORDS);
      else if (r < 82) s += '"' + pick(WORDS) + '"';
      else if (r < 85) s += 'C:\\Users\\' + pick(WORDS) + '\\AppData\\' + pick(WORDS) + '.log';
      else if (r < 88) s += '\n';
      else if (r < 90) s += '\t';
      else if (r < 93) s += pick(['/', 'a/b', '<b>', '</b>', '&', '&amp;', '->', '=>', '(', ')', ':', '{}', '[]', "'"]);
      else if (r < 96) s += String(u32() % 100000);
      else if (r < 97) s += '\u001b[31m' + pick(WORDS) + '\u001b[0m';
      else if (r < 98) s += '\r\n';
      else s += pick(['.', ',', ';', '!', '?', '%', '#', '@', '~', '^', '|', '`']);
      s += ' ';
    }
    return s;
  };
  const url = L => {
    let s = `https://${pick(WORDS)}.${pick(['example', 'cdn', 'api', 'shop'])}.${pick(TLDS)}/`;
    while (s.length < L - 20) s += pick(WORDS) + '/';
    return s + `?q=${pick(WORDS)}&page=${u32() % 100}&lang=${pick(['en', 'fr', 'de', 'ja'])}&ref=%2F${pick(WORDS)}`;
  };
  const jsonDoc = L => { // an embedded JSON document (a string value full of \" once written)
    const items = [];
    let n = 2;
    while (n < L) {
      const k = JSON.stringify(pick(WORDS) + (u32() % 10));
      let v;
      switch (u32() % 8) {
        case 0: v = String(u32() % 100000); break;
        case 1: v = String((u32() % 1000000) / 1000); break;
        case 2: v = JSON.stringify(words(between(3, 40), 0.1)); break;
        case 3: v = `[${u32() % 10},${u32() % 10},${u32() % 10}]`; break;
        case 4: v = `{"id":${u32() % 1000},"name":${JSON.stringify(pick(WORDS))},"tags":["${pick(WORDS)}","${pick(WORDS)}"]}`; break;
        case 5: v = pick(['true', 'false', 'null']); break;
        case 6: v = JSON.stringify(`said "${pick(WORDS)}" at C:\\tmp\\${pick(WORDS)}`); break;
        default: v = JSON.stringify(pick(INTL) + ' ' + pick(WORDS));
      }
      items.push(k + ':' + v);
      n += k.length + v.length + 2;
    }
    return '{' + items.join(',') + '}';
  };
  const intl = L => words(L, 0.6);
  const stack = L => {
    let s = `${pick(['java.lang.IllegalStateException', 'TypeError', 'RuntimeError', 'panic'])}: ${words(between(3, 12), 0)}\n`;
    while (s.length < L) {
      s += chance(0.5) ? `\tat com.example.${pick(WORDS)}.${pick(WORDS)}(${pick(WORDS)}.java:${u32() % 2000})\n`
        : `  File "/srv/app/${pick(WORDS)}.py", line ${u32() % 900}, in ${pick(WORDS)}\n    ${pick(WORDS)}(${pick(WORDS)}=${u32() % 100})\n`;
    }
    return s;
  };
  const b64buf = Buffer.allocUnsafe(1 << 20);
  const base64 = L => {
    const nb = Math.ceil(L * 3 / 4 / 4) * 4;
    const b = nb <= b64buf.length ? b64buf : Buffer.allocUnsafe(nb);
    for (let i = 0; i < nb; i += 4) b.writeUInt32LE(u32(), i);
    return b.toString('base64', 0, nb).slice(0, L);
  };
  const token = L => {
    let s = '';
    for (let k = 0; k < L; k += 5) { let x = u32(); for (let j = 0; j < 5 && k + j < L; j++) { s += ALPHA[x & 63]; x >>>= 6; } }
    return s;
  };
  const payloadOf = r => {
    if (r % 100_000 === 50_000) {
      C.payload.long++;
      // lengths in characters chosen so that every such line is 100-900 KiB once escaped
      const k = u32() % 10;
      return k < 4 ? base64(between(100_000, 800_000)) : k < 7 ? jsonDoc(between(100_000, 600_000)) : k < 9 ? text(between(100_000, 700_000)) : intl(between(30_000, 140_000));
    }
    const k = u32() % 1000;
    if (k < 50) { C.payload.empty++; return ''; }
    if (k < 380) { C.payload.token++; return token(between(1, 64)); }
    if (k < 630) { C.payload.text++; return text(between(20, 240)); }
    if (k < 730) { C.payload.url++; return url(between(30, 200)); }
    if (k < 830) { C.payload.json++; return jsonDoc(between(40, 600)); }
    if (k < 950) { C.payload.intl++; return intl(between(10, 200)); }
    if (k < 960) { C.payload.stack++; return stack(between(200, 3000)); }
    if (k < 970) { C.payload.base64++; return base64(between(256, 8192)); }
    C.payload.token++;
    return token(between(1, 64));
  };

  // ---- the value column: a number to format, or a literal
  const valueOf = () => {
    const k = u32() % 100;
    let x;
    if (k < 55) { C.value.cents++; x = (u32() % 10000000) / 100; }
    else if (k < 70) { C.value.ratio++; x = (u32() * 2097152 + (u32() >>> 11)) / 9007199254740992 * 1000; }
    else if (k < 80) { C.value.integer++; x = u32() % 1000000; }
    else if (k < 86) { C.value.small++; x = (1 + u32() % 99999) / 10000 * 10 ** -between(3, 12); }
    else if (k < 89) { C.value.large++; x = (1 + u32() % 99999999) / 10000000 * 10 ** between(6, 22); }
    else if (k < 90) {
      C.value.edge++;
      const e = pick(EDGES);
      if (e.t) return { t: e.t };
      return { x: e.x };
    } else { C.value.cents++; x = (u32() % 10000000) / 100; }
    if (chance(0.1)) { x = -x; C.value.negative++; }
    return { x };
  };

  // ---- timestamps
  const secCache = { key: NaN, s: '' };
  const localSeconds = sec => {
    if (sec !== secCache.key) { secCache.key = sec; secCache.s = new Date(sec * 1000).toISOString().slice(0, 19); }
    return secCache.s;
  };
  const offStr = m => (m < 0 ? '-' : '+') + String(Math.floor(Math.abs(m) / 60)).padStart(2, '0') + ':' + String(Math.abs(m) % 60).padStart(2, '0');
  const fraction = (ns, digits) => (digits ? '.' + String(ns).padStart(9, '0').slice(0, digits) : '');
  const tsText = (us, B) => {
    // ns within the second at the burst's source precision
    const s = Math.floor(us / 1e6);
    let ns = (us - s * 1e6) * 1000;
    if (B.precision === 'ns') ns += u32() % 1000;
    else if (B.precision === 'ms') ns -= ns % 1e6;
    else if (B.precision === 's') ns = 0;
    let digits;
    switch (B.digits) {
      case 'trim': { const t = String(ns).padStart(9, '0').replace(/0+$/, ''); digits = t.length; break; }
      case 'group': digits = ns === 0 ? 0 : ns % 1e6 === 0 ? 3 : ns % 1e3 === 0 ? 6 : 9; break;
      case 'py': digits = ns === 0 ? 0 : 6; break;
      case 'any': digits = u32() % 10; break;
      default: digits = B.digits;
    }
    C.ts.digits[digits]++;
    const off = B.offset;
    let zone;
    if (off === null) { zone = 'Z'; C.ts.Z++; }
    else { zone = offStr(off); if (off === 0) C.ts.offset_zero++; else C.ts.offset_other++; C.ts.offsets_used.add(zone); }
    let date = localSeconds(s + (off ?? 0) * 60);
    if (B.space) { date = date.slice(0, 10) + ' ' + date.slice(11); C.ts.space_separator++; }
    return '"' + date + fraction(ns, digits) + zone + '"';
  };

  // ---- a burst: one producer's settings for 1-32 records
  const newBurst = () => {
    let w = u32() % totalWeight, P = PRODUCERS[0];
    for (const p of PRODUCERS) { if (w < p.weight) { P = p; break; } w -= p.weight; }
    const B = { P, left: between(1, 32), eol: '\n', esc: ESCAPE[pick(P.esc)], float: FLOAT[pick(P.float)] };
    B.nulls = P.nulls === 'either' ? (chance(0.5) ? 'explicit' : 'omit') : P.nulls;
    const anyOffset = () => (chance(0.3) ? 0 : pick(OFFSETS));
    switch (P.ts) {
      case 'js': Object.assign(B, { precision: 'ms', digits: 3, offset: null }); break;
      case 'python': Object.assign(B, { precision: 'us', digits: 'py', offset: anyOffset(), space: chance(0.3) }); break; // isoformat() or str()
      case 'go': Object.assign(B, { precision: pick(['ns', 'ns', 'us', 'ms', 's']), digits: 'trim', offset: chance(0.5) ? null : anyOffset() }); break;
      case 'java': Object.assign(B, { precision: pick(['ns', 'us', 'us', 'ms']), digits: 'group', offset: chance(0.6) ? null : anyOffset() }); break;
      case 'php': Object.assign(B, { precision: 'ms', digits: 3, offset: anyOffset() }); break;
      case 'chrono': Object.assign(B, { precision: pick(['ns', 'us', 'ms', 's']), digits: 'group', offset: anyOffset() }); break;
      default: Object.assign(B, { precision: 'ns', digits: 'any', offset: anyOffset(), space: chance(0.3) }); // date '+%F %T…'
    }
    if (P.order === 'shell') B.order = pick(SHELL_ORDERS);
    else B.order = P.order;
    let ws = P.ws;
    if (ws === 'either') ws = chance(0.7) ? 'none' : 'python';
    if (ws === 'none') Object.assign(B, { open: '{', colon: ':', comma: ',', close: '}', spacing: 'none' });
    else if (ws === 'python') Object.assign(B, { open: '{', colon: ': ', comma: ', ', close: '}', spacing: 'spaces' });
    else { // a printf template: whitespace around each token, tabs included
      const sp = () => pick(WS);
      B.open = sp() + '{' + sp();
      B.colon = sp() + ':' + sp();
      B.comma = sp() + ',' + sp();
      B.close = sp() + '}' + (chance(0.2) ? pick([' ', '\t', '  ']) : '');
      const all = B.open + B.colon + B.comma + B.close;
      B.spacing = all.includes('\t') ? 'tabs' : /[ ]/.test(all) ? 'spaces' : 'none';
      if (chance(0.4)) B.eol = '\r\n';
    }
    return B;
  };

  // ---- writing
  const tmp = paths.ndjson + '.tmp';
  const fd = openSync(tmp, 'w');
  const CHUNK = 8 << 20;
  const buf = Buffer.allocUnsafe(CHUNK + (4 << 20));
  let pos = 0, bytes = 0;
  let us = Date.UTC(2026, 10, 23) * 1000;
  let B = null;
  const t0 = Date.now();
  const vals = new Array(7);
  const randomOrder = [0, 1, 2, 3, 4, 5, 6];
  for (let r = 0; r < rows; r++) {
    if (!B || B.left === 0) B = newBurst();
    B.left--;
    const P = B.P;
    C.producer[P.name]++;
    // the row's values, drawn in one fixed order whatever the producer
    us += u32() % 17280;
    vals[TS] = tsText(us, B);
    const nul = NULL_RATE.map(p => p > 0 && chance(p));
    if (r % 100_000 === 50_000) nul[PAYLOAD] = false; // the very long lines are always there
    const uk = u32() % 100;
    vals[USER] = String(uk < 97 ? 1 + Math.floor(unit() * 1e9) : uk < 99 ? 1 + Math.floor(unit() * 1e12) : pick(['0', '-1']));
    const e1 = unit();
    vals[EVENT] = '"' + EVENTS[Math.floor(50 * e1 * e1)] + '"'; // plain ASCII: the same in every style
    const v = valueOf();
    const vt = v.t ?? B.float(v.x);
    vals[VALUE] = vt;
    vals[OK] = u32() % 10 < 9 ? 'true' : 'false';
    const c1 = unit();
    vals[COUNTRY] = '"' + COUNTRIES[Math.floor(200 * c1 * c1 * c1)] + '"';
    const pay = payloadOf(r);
    const pl = B.esc(pay);
    vals[PAYLOAD] = pl;
    // value forms and payload features (nulls included: the value is drawn either way)
    if (!nul[VALUE]) {
      if (/[eE]/.test(vt)) C.value.with_exponent++;
      if (vt.includes('E')) C.value.with_E++;
      if (!/[.eE]/.test(vt)) C.value.no_point++;
      if (vt.replace(/^-?0*\.?0*|[eE].*$|\./g, '').length >= 17) C.value.digits_17_plus++;
    }
    if (!nul[PAYLOAD]) {
      const pb = Buffer.byteLength(pl) - 2;
      C.payload_literal_bytes[pb === 0 ? '0' : pb < 64 ? '1-63' : pb < 256 ? '64-255' : pb < 1024 ? '256-1023' : pb < 4096 ? '1-4KiB' : pb < 65536 ? '4-64KiB' : '64KiB+']++;
      if (pl.includes('\\')) C.payload.with_escape++;
      if (pl.includes('\\u')) C.payload.with_u_escape++;
      if (/\\ud[89ab]/i.test(pl)) C.payload.with_surrogate_pair_escape++;
      if (/[^\x00-\x7f]/.test(pl)) C.payload.with_raw_multibyte++;
    }
    // the record
    let order = B.order;
    if (!order) {
      order = randomOrder;
      for (let i = 6; i > 0; i--) { const j = u32() % (i + 1); const t = order[i]; order[i] = order[j]; order[j] = t; }
      C.order.random++;
    } else if (order === SCHEMA_ORDER) C.order.schema++;
    else C.order.fixed_other++;
    let line = B.open, first = true, absent = false, explicit = false;
    for (const f of order) {
      let val = vals[f];
      if (nul[f]) {
        const omit = B.nulls === 'omit' || (B.nulls === 'js' && f !== VALUE);
        if (omit) { C.absent[NAMES[f]]++; absent = true; continue; }
        C.explicit_null[NAMES[f]]++;
        explicit = true;
        val = 'null';
      }
      line += (first ? '"' : B.comma + '"') + NAMES[f] + '"' + B.colon + val;
      first = false;
    }
    line += B.close + B.eol;
    if (absent) C.records_with_absent++;
    if (explicit) C.records_with_null++;
    C.spacing[B.spacing]++;
    if (B.eol === '\r\n') C.crlf++;
    // out
    if (pos + line.length * 3 > buf.length) { writeSync(fd, buf, 0, pos); bytes += pos; pos = 0; }
    let n;
    if (line.length * 3 > buf.length) { const b = Buffer.from(line, 'utf8'); writeSync(fd, b); bytes += b.length; n = b.length; }
    else { n = buf.utf8Write(line, pos); pos += n; }
    if (n > C.longest_line) C.longest_line = n;
    if (n > 65536) C.lines_over_64KiB++;
    if (pos >= CHUNK) { writeSync(fd, buf, 0, pos); bytes += pos; pos = 0; }
    if ((r + 1) % 1_000_000 === 0) log(`${r + 1} rows, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (pos) { writeSync(fd, buf, 0, pos); bytes += pos; }
  closeSync(fd);
  renameSync(tmp, paths.ndjson);
  C.ts.offsets_used = [...C.ts.offsets_used].sort();
  const manifest = { corpus: 'real', rows, seed, bytes, file: paths.ndjson, schema: paths.schema, composition: C, generated: new Date().toISOString(), seconds: (Date.now() - t0) / 1000 };
  writeFileSync(paths.manifest, JSON.stringify(manifest, null, 1) + '\n');
  return manifest;
}

/** Writes the records again as a JSON array ("[\n" + lines without their line ends joined by ",\n" + "\n]\n");
 *  skipped when it is newer than the NDJSON. */
export function deriveRealArray({ rows = 10_000_000, dir = defaultDir(), log = () => {} } = {}) {
  const paths = realPaths(dir, rows);
  if (existsSync(paths.array) && statSync(paths.array).mtimeMs >= statSync(paths.ndjson).mtimeMs) { log(`reusing ${paths.array}`); return paths; }
  const fdIn = openSync(paths.ndjson, 'r'), fa = openSync(paths.array + '.tmp', 'w');
  writeSync(fa, '[\n');
  const inBuf = Buffer.allocUnsafe(16 << 20);
  let rest = Buffer.alloc(0), first = true, n = 0;
  for (;;) {
    const k = readSync(fdIn, inBuf, 0, inBuf.length, null);
    const data = rest.length ? Buffer.concat([rest, inBuf.subarray(0, k)]) : inBuf.subarray(0, k);
    const out = [];
    let start = 0;
    for (let nl; (nl = data.indexOf(10, start)) >= 0; start = nl + 1) {
      let end = nl;
      if (end > start && data[end - 1] === 13) end--;
      if (!first) out.push(Buffer.from(',\n'));
      out.push(data.subarray(start, end));
      first = false;
      n++;
    }
    if (out.length) writeSync(fa, Buffer.concat(out));
    rest = Buffer.from(data.subarray(start));
    if (!k) break;
  }
  writeSync(fa, '\n]\n');
  closeSync(fdIn); closeSync(fa);
  if (n !== rows || rest.length) throw new Error(`${paths.ndjson} holds ${n} lines (+${rest.length} bytes), expected ${rows}`);
  renameSync(paths.array + '.tmp', paths.array);
  return paths;
}

/**
 * The files of one corpus for the benchmarks, made when missing: 'tidy' (bench/gen_events.mjs: NDJSON, and with
 * derive the JSON array and CSV) or 'real' (this file: NDJSON, and with derive the JSON array). Returns
 * { corpus, ndjson, json, csv (tidy only), schema, bytes (of the NDJSON), manifest }.
 */
export function corpusFiles(corpus, { rows, dir = defaultDir(), derive = false, log = () => {} }) {
  if (corpus === 'tidy') {
    const manifest = generate({ rows, dir, log });
    const p = derive ? deriveFormats({ rows, dir, log }) : dataPaths(dir, rows);
    return { corpus, ndjson: p.ndjson, json: derive ? p.array : undefined, csv: derive ? p.csv : undefined, schema: p.schema, bytes: manifest.bytes, manifest };
  }
  if (corpus === 'real') {
    const manifest = generateReal({ rows, dir, log });
    const p = derive ? deriveRealArray({ rows, dir, log }) : realPaths(dir, rows);
    return { corpus, ndjson: p.ndjson, json: derive ? p.array : undefined, schema: p.schema, bytes: manifest.bytes, manifest };
  }
  throw new Error(`unknown corpus ${corpus} (tidy or real)`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
  if (args.includes('--help')) { console.log('usage: node bench/gen_real.mjs [--rows N] [--seed S] [--dir DIR] [--force] [--array]'); process.exit(0); }
  const rows = Number(opt('--rows', 10_000_000)), dir = opt('--dir', defaultDir());
  const m = generateReal({ rows, seed: Number(opt('--seed', REAL_SEED)), dir, force: args.includes('--force'), log: s => console.error(s) });
  if (args.includes('--array')) deriveRealArray({ rows, dir, log: s => console.error(s) });
  console.log(JSON.stringify(m));
}
