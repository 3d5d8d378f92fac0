// ingest-data.mjs — the data side of ingest.test.mjs: a deterministic generator of NDJSON requests
// (valid rows, invalid rows of every rejection kind, blank lines) and the expected-value model
// (what the server must answer, what each Parquet file must contain). No I/O here.
//
// Every request line is built as raw text/bytes by this file, never with JSON.stringify, so that the
// exact JSON spelling (escapes, int64 extremes, -0, exponents, invalid UTF-8) is under test control.
// Expected values are tracked alongside: int64 and timestamps as BigInt (timestamps in UTC µs),
// doubles as JS numbers, strings as JS strings, null as null.

export const DATASET = 'events';
export const SCHEMA = {
  columns: [
    { name: 'ts', type: 'timestamp', nullable: false },
    { name: 'user_id', type: 'int64' },
    { name: 'value', type: 'float64' },
    { name: 'ok', type: 'bool' },
    { name: 'name', type: 'string' },
  ],
  time_column: 'ts',
};
export const COLUMNS = SCHEMA.columns.map(c => c.name);
/** Normalized column types as pqread.mjs reports them. */
export const PQ_SCHEMA = [
  { name: 'ts', type: 'timestamp' }, { name: 'user_id', type: 'int64' }, { name: 'value', type: 'float64' },
  { name: 'ok', type: 'bool' }, { name: 'name', type: 'string' },
];
export const MAX_LISTED_ERRORS = 100;

const US_PER_SEC = 1_000_000n;
const US_PER_DAY = 86_400n * US_PER_SEC;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

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
    int: n => Math.floor(next() * n),                // 0 .. n-1
    chance: p => next() < p,
    pick: arr => arr[Math.floor(next() * arr.length)],
    u32: () => Math.floor(next() * 4294967296) >>> 0,
    int64: () => BigInt.asIntN(64, (BigInt(rng.u32()) << 32n) | BigInt(rng.u32())),
    shuffle: arr => { for (let i = arr.length - 1; i > 0; i--) { const j = Math.floor(next() * (i + 1)); [arr[i], arr[j]] = [arr[j], arr[i]]; } return arr; },
  };
  return rng;
}

// ============================================================ small helpers
const floorDiv = (a, b) => { const q = a / b; return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q; };
/** UTC day (YYYY-MM-DD) of a µs instant. */
export function utcDay(us) {
  const days = floorDiv(us, US_PER_DAY);
  return new Date(Number(days) * 86_400_000).toISOString().slice(0, 10).replace(/^\+0*(\d{4})/, '$1');
}
const pad = (n, w) => String(n).padStart(w, '0');
/** µs since epoch of a UTC civil time (microsecond fraction as integer 0..999999). */
function civilToMicros(y, mo, d, h, mi, s, frac6 = 0) {
  const dt = new Date(0); dt.setUTCFullYear(y, mo - 1, d); dt.setUTCHours(h, mi, s, 0);
  return BigInt(dt.getTime()) * 1000n + BigInt(frac6);
}
/** 'YYYY-MM-DDTHH:MM:SS' of a µs instant (seconds floor), plus the µs remainder. */
function civilOf(us) {
  const sec = floorDiv(us, US_PER_SEC);
  const d = new Date(Number(sec) * 1000);
  const txt = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
  return { txt, frac6: us - sec * US_PER_SEC };
}
const offsetText = min => (min < 0 ? '-' : '+') + pad(Math.floor(Math.abs(min) / 60), 2) + ':' + pad(Math.abs(min) % 60, 2);

// ============================================================ value spellings
/**
 * RFC 3339 text for instant `us` written in local time at offset `offMin` minutes, with `digits` (0..9)
 * fractional digits. The caller guarantees `us` has no precision beyond `digits` (for digits <= 6);
 * digits 7..9 append `extra` digits below the microsecond, which the server must drop (floor).
 */
export function rfc3339(us, offMin, digits, { sep = 'T', z = true, extra = '' } = {}) {
  const { txt, frac6 } = civilOf(us + BigInt(offMin) * 60n * US_PER_SEC);
  const f6 = pad(frac6, 6);
  const frac = digits === 0 ? '' : '.' + (digits <= 6 ? f6.slice(0, digits) : f6 + extra.slice(0, digits - 6));
  return txt.replace('T', sep) + frac + (offMin === 0 && z ? 'Z' : offsetText(offMin));
}

/** JSON spellings of a double that all parse back to exactly x (JS shortest round-trip repr). */
function doubleText(rng, x) {
  if (Object.is(x, -0)) return rng.pick(['-0', '-0.0', '-0e0', '-0.0E+00']);
  const s = String(x);
  const variants = [s, s, x.toExponential(), x.toExponential().toUpperCase()];
  if (/^-?\d+$/.test(s)) variants.push(s + '.0', s + 'e0');
  return rng.pick(variants);
}

// String tokens: [JSON text inside the quotes, decoded value]. Raw non-ASCII is written as UTF-8.
const STRING_TOKENS = [
  ['alpha', 'alpha'], ['beta', 'beta'], ['Hello, World!', 'Hello, World!'], ['x', 'x'], [' ', ' '], ['0123456789', '0123456789'],
  ["it's", "it's"], ['{\\"not\\": \\"json\\"}', '{"not": "json"}'],
  ['日本語', '日本語'], ['中文字符', '中文字符'], ['한국어', '한국어'],                      // CJK
  ['😀', '😀'], ['👩‍👩‍👧', '👩‍👩‍👧'], ['🇯🇵', '🇯🇵'],                                      // emoji (4-byte, ZWJ sequence, flag)
  ['e\u0301', 'e\u0301'], ['n\u0303a', 'n\u0303a'], ['Å', 'Å'],                          // combining marks (not normalized)
  ['مرحبا', 'مرحبا'], ['\u00a0', '\u00a0'], ['\ufeff', '\ufeff'], ['\u2028', '\u2028'], ['\x7f', '\x7f'], ['/', '/'],
  ['\\n', '\n'], ['\\t', '\t'], ['\\"', '"'], ['\\\\', '\\'], ['\\/', '/'], ['\\r', '\r'], ['\\b', '\b'], ['\\f', '\f'],
  ['\\u00e9', 'é'], ['\\u00E9', 'é'], ['\\u4e2d', '中'], ['\\u2028', '\u2028'], ['\\u0001', '\u0001'], ['\\u001F', '\u001f'],
  ['\\uD83D\\uDE00', '😀'], ['\\ud83d\\ude00', '😀'], ['\\uDBFF\\uDFFF', '\u{10FFFF}'],   // surrogate pairs as escapes
];

function stringValue(rng) {
  if (rng.chance(0.05)) return ['', ''];
  let text = '', value = '';
  const n = 1 + rng.int(6);
  for (let i = 0; i < n; i++) { const [t, v] = rng.pick(STRING_TOKENS); text += t; value += v; }
  return [text, value];
}

// Unknown fields the server must ignore: [key text, value text].
const UNKNOWN_FIELDS = [
  ['"extra"', '{"nested":[1,2,{"a":null,"b":[true,false]}],"s":"x"}'],
  ['"Ts"', '"not a timestamp"'],
  ['"USER_ID"', '"not an int"'],
  ['"tags"', '["a","b","\\u00e9"]'],
  ['"n"', '-12.5e-3'],
  ['"e"', '{}'],
  ['"z"', 'null'],
  ['"emoji_\\uD83D\\uDE00"', '"\\uD83D\\uDE00"'],
];

// ============================================================ valid records
const WINDOW_START = civilToMicros(2024, 2, 28, 0, 0, 0); // three UTC days: 2024-02-28, the leap day, 2024-03-01
const WINDOW_US = 3 * 86_400 * 1_000_000;
const OFFSETS = [0, 0, 0, 330, -480, 60, -300, 540, 345, -210, 840, -720, -30];
const FRACTION_DIGITS = [0, 0, 1, 2, 3, 3, 4, 5, 6, 6, 6, 7, 8, 9];

function randomTimestamp(rng) {
  const digits = rng.pick(FRACTION_DIGITS);
  let us = WINDOW_START + BigInt(Math.floor(rng.float() * WINDOW_US));
  const gran = 10n ** BigInt(6 - Math.min(digits, 6));
  us -= us % gran; // positive instants: truncation == floor
  let extra = '';
  for (let i = 6; i < digits; i++) extra += String(rng.int(10));
  const off = rng.pick(OFFSETS);
  const text = rfc3339(us, off, digits, { sep: rng.pick(['T', 'T', 'T', 't', ' ']), z: rng.chance(0.8), extra });
  return { text, us, offMin: off };
}

const INT64_SPECIAL = [INT64_MIN, INT64_MAX, 0n, -1n, 1n, 2n ** 53n + 1n, -(2n ** 53n + 1n), INT64_MAX - 1n, INT64_MIN + 1n, 1234567890123456789n];
const DOUBLE_SPECIAL = [0, -0, 5e-324, -5e-324, 2.2250738585072014e-308, Number.MAX_VALUE, -Number.MAX_VALUE, 0.1, -0.1, 1 / 3,
  1e21, 1e-7, 123456789.123, 2 ** 53, 2 ** 53 + 2, -1.5, 100, Math.PI, -Math.E, 1e300, -1e-300];

function randomDouble(rng) {
  const r = rng.float();
  if (r < 0.25) return rng.pick(DOUBLE_SPECIAL);
  if (r < 0.55) { // any finite bit pattern: exercises the server's float parsing over the whole exponent range
    const b = Buffer.alloc(8);
    for (;;) { b.writeUInt32LE(rng.u32(), 0); b.writeUInt32LE(rng.u32(), 4); const x = b.readDoubleLE(0); if (Number.isFinite(x)) return x; }
  }
  return (rng.int(2_000_001) - 1_000_000) / rng.pick([1, 8, 1000, 3]);
}

/**
 * One valid record: {line, row, what}. Field presence: a nullable column is written with a value, as
 * explicit null or left out (both mean null); fields appear in random order with random whitespace,
 * sometimes with unknown fields.
 */
function validRecord(rng, overrides = {}) {
  const ts = overrides.ts ?? randomTimestamp(rng);
  const row = { ts: ts.us, user_id: null, value: null, ok: null, name: null };
  const fields = [['"ts"', ts.jsonText ?? `"${ts.text}"`]];
  const nullOrMissing = (key) => { const r = rng.float(); if (r < 0.06) { fields.push([`"${key}"`, 'null']); return true; } return r < 0.12; };

  if (!nullOrMissing('user_id')) {
    const r = rng.float();
    row.user_id = r < 0.15 ? rng.pick(INT64_SPECIAL) : r < 0.6 ? rng.int64() : BigInt(rng.int(2001) - 1000);
    fields.push(['"user_id"', String(row.user_id)]);
  }
  if (!nullOrMissing('value')) { row.value = randomDouble(rng); fields.push(['"value"', doubleText(rng, row.value)]); }
  if (!nullOrMissing('ok')) { row.ok = rng.chance(0.5); fields.push(['"ok"', String(row.ok)]); }
  if (!nullOrMissing('name')) { const [t, v] = stringValue(rng); row.name = v; fields.push(['"name"', `"${t}"`]); }
  if (rng.chance(0.1)) fields.push(rng.pick(UNKNOWN_FIELDS));

  for (const [k, v] of Object.entries(overrides.fields ?? {})) { // forced field texts, e.g. for edge cases
    const i = fields.findIndex(f => f[0] === `"${k}"`);
    if (i >= 0) fields.splice(i, 1);
    if (v.text !== undefined) fields.push([v.key ?? `"${k}"`, v.text]);
    row[k] = v.value;
  }
  for (const extra of overrides.extraFields ?? []) fields.push(extra);
  rng.shuffle(fields);
  return { kind: 'valid', line: Buffer.from(objectText(rng, fields), 'utf8'), row, what: overrides.what ?? 'random valid row' };
}

function objectText(rng, fields) {
  const ws = () => rng.pick(['', '', '', ' ', '  ', '\t']);
  return ws() + '{' + fields.map(([k, v]) => `${ws()}${k}${ws()}:${ws()}${v}${ws()}`).join(',') + '}' + ws();
}

/** Hand-picked valid records: day/epoch boundaries, precision, escapes, unusual but valid JSON. */
function edgeRecords(rng) {
  const T = (text, us, what) => ({ ts: { text, us }, what });
  const out = [
    T('1969-12-31T23:59:59.9999999Z', -1n, 'pre-epoch, 7 fractional digits floor to -1 µs'),
    T('1970-01-01T05:29:59.999999+05:30', -1n, 'pre-epoch via +05:30 offset'),
    T('1970-01-01T00:00:00Z', 0n, 'the epoch'),
    T('1969-12-31T16:00:00.000001-08:00', 1n, 'epoch + 1 µs written at -08:00 on the previous local day'),
    T('0001-01-01T00:00:00Z', civilToMicros(1, 1, 1, 0, 0, 0), 'year 1'),
    T('9999-12-31T23:59:59.999999Z', civilToMicros(9999, 12, 31, 23, 59, 59, 999999), 'year 9999, last µs'),
    T('2024-02-29T23:59:59.999999999+00:00', civilToMicros(2024, 2, 29, 23, 59, 59, 999999), 'last ns of the leap day, +00:00'),
    T('2024-03-01T05:29:59.999999+05:30', civilToMicros(2024, 2, 29, 23, 59, 59, 999999), 'local 1 March, UTC leap day'),
    T('2024-02-29T16:00:00-08:00', civilToMicros(2024, 3, 1, 0, 0, 0), 'local leap day, UTC 1 March 00:00'),
    T('2024-02-28 23:30:00-00:30', civilToMicros(2024, 2, 29, 0, 0, 0), 'space separator, -00:30'),
    T('2024-02-28t12:00:00.5Z', civilToMicros(2024, 2, 28, 12, 0, 0, 500000), 'lower-case t, 1 digit'),
    T('2024-02-28T12:00:00.123456789Z', civilToMicros(2024, 2, 28, 12, 0, 0, 123456), '9 digits truncated'),
    T('2024-02-29T00:00:00+14:00', civilToMicros(2024, 2, 28, 10, 0, 0), '+14:00'),
    T('2024-02-28T23:59:59-12:00', civilToMicros(2024, 2, 29, 11, 59, 59), '-12:00'),
  ].map(o => validRecord(rng, o));
  const base = { ts: { text: '2024-03-01T12:00:00Z', us: civilToMicros(2024, 3, 1, 12, 0, 0) } };
  const F = (what, fields, extraFields) => validRecord(rng, { ...base, what, fields, extraFields });
  out.push(
    validRecord(rng, { ts: { jsonText: '"2024\\u002d02\\u002d28T12:00:00Z"', us: civilToMicros(2024, 2, 28, 12, 0, 0) }, what: 'timestamp written with \\u escapes' }),
    F('int64 min', { user_id: { text: '-9223372036854775808', value: INT64_MIN } }),
    F('int64 max', { user_id: { text: '9223372036854775807', value: INT64_MAX } }),
    F('int64 -0', { user_id: { text: '-0', value: 0n } }),
    F('int64 2^53+1 (not a double)', { user_id: { text: '9007199254740993', value: 9007199254740993n } }),
    F('double -0', { value: { text: '-0.0', value: -0 } }),
    F('double smallest subnormal', { value: { text: '5e-324', value: 5e-324 } }),
    F('double max', { value: { text: '1.7976931348623157e308', value: Number.MAX_VALUE } }),
    F('double integer literal', { value: { text: '42', value: 42 } }),
    F('key written with a \\u escape ("us\\u0065r_id")', { user_id: { key: '"us\\u0065r_id"', text: '77', value: 77n } }),
    F('string with NUL escapes', { name: { text: '"a\\u0000b\\u0000"', value: 'a\u0000b\u0000' } }),
    F('empty string', { name: { text: '""', value: '' } }),
    F('all simple escapes', { name: { text: '"\\"\\\\\\/\\b\\f\\n\\r\\t"', value: '"\\/\b\f\n\r\t' } }),
    F('long string (70 KB, many multi-byte)', { name: { text: '"' + 'é中😀\\n'.repeat(7000) + '"', value: 'é中😀\n'.repeat(7000) } }),
    F('all nullable columns explicit null', { user_id: { text: 'null', value: null }, value: { text: 'null', value: null }, ok: { text: 'null', value: null }, name: { text: 'null', value: null } }),
    F('all nullable columns missing', { user_id: { value: null }, value: { value: null }, ok: { value: null }, name: { value: null } }),
    ...[ // decimal -> double must round correctly (expected value: JavaScript's correctly rounded Number())
      '2.2250738585072011e-308', '2.2250738585072012e-308', '9007199254740993', '9007199254740995',
      '0.1000000000000000055511151231257827021181583404541015625', '1.7976931348623158e308', '4.9406564584124654e-324',
      '123456789012345678901234567890', '10000000000000000000000', '0.000000000000000000000000000000000001', '-1.5e-10',
    ].map(t => F(`float64 rounding of ${t}`, { value: { text: t, value: Number(t) } })),
    F('unknown field with an empty key', {}, [['""', '1']]),
    F('unknown field holding 1e400 (valid JSON, not a double)', {}, [['"big"', '1e400']]),
    F('unknown field holding a 30-digit integer', {}, [['"huge"', '123456789012345678901234567890']]),
    F('unknown field nested 64 levels deep', {}, [['"deep"', '['.repeat(64) + ']'.repeat(64)]]),
    F('unknown field with a 2 KB string and escapes', {}, [['"blob"', '"' + 'ab\\"\\\\\\u00e9'.repeat(200) + '"']]),
  );
  return out;
}

// ============================================================ invalid records (every rejection kind)
const OKTS = '"2024-02-28T12:00:00Z"';
const obj = (...pairs) => '{' + pairs.map(([k, v]) => `"${k}":${v}`).join(',') + '}';
const bad = (kind, column, line, what) => ({ kind: 'invalid', rejection: kind, column, line: Buffer.isBuffer(line) ? line : Buffer.from(line, 'utf8'), what });
const withName = bytes => Buffer.concat([Buffer.from(`{"ts":${OKTS},"name":"`), Buffer.from(bytes), Buffer.from('"}')]);

export const INVALID_CASES = [
  // malformed JSON: column null when the record's structure is at fault, the field when its value is
  bad('malformed', null, `{"ts":${OKTS},"user_id":1`, 'unterminated object'),
  bad('malformed', null, `{"ts":${OKTS},}`, 'trailing comma'),
  bad('malformed', null, `{'ts':'2024-02-28T12:00:00Z'}`, 'single quotes'),
  bad('malformed', null, `{"ts":${OKTS}} {"ts":${OKTS}}`, 'two objects on one line'),
  bad('malformed', 'value', `{"ts":${OKTS},"value":NaN}`, 'NaN literal'),
  bad('malformed', 'value', `{"ts":${OKTS},"value":Infinity}`, 'Infinity literal'),
  bad('malformed', 'value', `{"ts":${OKTS},"value":-Infinity}`, '-Infinity literal'),
  bad('malformed', 'name', `{"ts":${OKTS},"name":"raw\ttab"}`, 'raw control character in a string'),
  bad('malformed', 'user_id', `{"ts":${OKTS},"user_id":01}`, 'leading zero'),
  bad('malformed', 'value', `{"ts":${OKTS},"value":.5}`, 'number without integer part'),
  bad('malformed', 'ok', `{"ts":${OKTS},"ok":True}`, 'True'),
  bad('malformed', null, 'hello', 'bare word'),
  bad('malformed', 'name', `{"ts":${OKTS},"name":"unterminated}`, 'unterminated string'),
  bad('malformed', 'name', `{"ts":${OKTS},"name":"bad \\x escape"}`, 'invalid escape \\x'),
  bad('malformed', 'name', `{"ts":${OKTS},"name":"\\u12"}`, 'short \\u escape'),
  // not an object -> column null
  bad('not-object', null, '[1,2,3]', 'array'),
  bad('not-object', null, OKTS, 'string'),
  bad('not-object', null, '42', 'number'),
  bad('not-object', null, 'null', 'null'),
  bad('not-object', null, 'true', 'true'),
  bad('not-object', null, '[]', 'empty array'),
  // wrong JSON type for the column
  bad('wrong-type', 'user_id', obj(['ts', OKTS], ['user_id', '"12"']), 'int64 as string'),
  bad('wrong-type', 'user_id', obj(['ts', OKTS], ['user_id', '1.5']), 'int64 as 1.5'),
  bad('wrong-type', 'user_id', obj(['ts', OKTS], ['user_id', '1e3']), 'int64 as 1e3'),
  bad('wrong-type', 'user_id', obj(['ts', OKTS], ['user_id', 'true']), 'int64 as bool'),
  bad('wrong-type', 'user_id', obj(['ts', OKTS], ['user_id', '[1]']), 'int64 as array'),
  bad('wrong-type', 'user_id', obj(['ts', OKTS], ['user_id', '{}']), 'int64 as object'),
  bad('wrong-type', 'value', obj(['ts', OKTS], ['value', '"1.5"']), 'float64 as string'),
  bad('wrong-type', 'value', obj(['ts', OKTS], ['value', 'true']), 'float64 as bool'),
  bad('wrong-type', 'value', obj(['ts', OKTS], ['value', '[1.5]']), 'float64 as array'),
  bad('wrong-type', 'ok', obj(['ts', OKTS], ['ok', '"true"']), 'bool as string'),
  bad('wrong-type', 'ok', obj(['ts', OKTS], ['ok', '1']), 'bool as 1'),
  bad('wrong-type', 'ok', obj(['ts', OKTS], ['ok', '0']), 'bool as 0'),
  bad('wrong-type', 'name', obj(['ts', OKTS], ['name', '42']), 'string as number'),
  bad('wrong-type', 'name', obj(['ts', OKTS], ['name', 'true']), 'string as bool'),
  bad('wrong-type', 'name', obj(['ts', OKTS], ['name', '["a"]']), 'string as array'),
  bad('wrong-type', 'name', obj(['ts', OKTS], ['name', '{"a":"b"}']), 'string as object'),
  bad('wrong-type', 'ts', obj(['ts', '1709121600']), 'timestamp as number'),
  bad('wrong-type', 'ts', obj(['ts', 'true']), 'timestamp as bool'),
  bad('wrong-type', 'ts', obj(['ts', `[${OKTS}]`]), 'timestamp as array'),
  // int64 out of range
  bad('int64-range', 'user_id', obj(['ts', OKTS], ['user_id', '9223372036854775808']), 'INT64_MAX + 1'),
  bad('int64-range', 'user_id', obj(['ts', OKTS], ['user_id', '-9223372036854775809']), 'INT64_MIN - 1'),
  bad('int64-range', 'user_id', obj(['ts', OKTS], ['user_id', '18446744073709551615']), 'UINT64_MAX'),
  bad('int64-range', 'user_id', obj(['ts', OKTS], ['user_id', '99999999999999999999999']), '23 digits'),
  // null or missing in the non-null column
  bad('null-not-null', 'ts', obj(['ts', 'null'], ['user_id', '1']), 'ts null'),
  bad('null-not-null', 'ts', obj(['user_id', '1'], ['name', '"x"']), 'ts missing'),
  bad('null-not-null', 'ts', '{}', 'empty object'),
  // impossible / malformed timestamps
  ...[
    ['2023-02-29T00:00:00Z', '29 Feb in a non-leap year'], ['2024-02-30T00:00:00Z', '30 Feb'], ['2024-04-31T00:00:00Z', '31 April'],
    ['2024-02-28T24:00:00Z', 'hour 24'], ['2024-02-28T23:60:00Z', 'minute 60'], ['2024-13-01T00:00:00Z', 'month 13'],
    ['2024-00-10T00:00:00Z', 'month 0'], ['2024-02-00T00:00:00Z', 'day 0'], ['2024-02-28T12:00:00+24:00', 'offset hour 24'],
    ['2024-02-28T12:00:00+05:60', 'offset minute 60'], ['2024-02-28T12:00:00+0530', 'offset without colon'],
    ['2024-02-28T12:00:00', 'no offset'], ['2024-02-28', 'date only'], ['2024-02-28T12:00:00.1234567890Z', '10 fractional digits'],
    ['2024-02-28T12:00:00.Z', 'empty fraction'], ['2024-02-28X12:00:00Z', 'bad separator'], ['', 'empty string'],
    [' 2024-02-28T12:00:00Z', 'leading space'], ['2024-02-28T12:00:00Z ', 'trailing space'], ['2024-2-28T12:00:00Z', 'one-digit month'],
    ['2024-02-28T12:00Z', 'no seconds'], ['not a time', 'text'],
  ].map(([t, what]) => bad('bad-timestamp', 'ts', obj(['ts', `"${t}"`], ['user_id', '5']), `timestamp: ${what}`)),
  // duplicate keys
  bad('duplicate-key', 'user_id', obj(['ts', OKTS], ['user_id', '1'], ['user_id', '2']), 'user_id twice'),
  bad('duplicate-key', 'ts', obj(['ts', OKTS], ['user_id', '1'], ['ts', '"2024-02-29T12:00:00Z"']), 'ts twice'),
  bad('duplicate-key', 'name', obj(['name', '"a"'], ['ts', OKTS], ['name', '"a"']), 'name twice, same value'),
  bad('duplicate-key', 'ok', obj(['ts', OKTS], ['ok', 'true'], ['ok', 'false']), 'ok twice'),
  bad('duplicate-key', 'user_id', `{"ts":${OKTS},"user_id":1,"us\\u0065r_id":2}`, 'user_id twice, once spelled with a \\u escape'),
  // invalid UTF-8 / lone surrogates in a string
  bad('bad-utf8', 'name', withName([0xff]), 'byte 0xFF'),
  bad('bad-utf8', 'name', withName([0x61, 0xc0, 0xaf]), 'overlong encoding of /'),
  bad('bad-utf8', 'name', withName([0xe6, 0x97]), 'truncated 3-byte sequence'),
  bad('bad-utf8', 'name', withName([0xed, 0xa0, 0x80]), 'UTF-8-encoded surrogate U+D800'),
  bad('bad-utf8', 'name', withName([0xf4, 0x90, 0x80, 0x80]), 'code point above U+10FFFF'),
  bad('bad-utf8', 'name', withName([0x80]), 'lone continuation byte'),
  bad('bad-utf8', 'name', withName([0xf0, 0x9f, 0x98]), 'truncated 4-byte sequence'),
  bad('lone-surrogate', 'name', obj(['ts', OKTS], ['name', '"\\uD800"']), 'lone high surrogate escape'),
  bad('lone-surrogate', 'name', obj(['ts', OKTS], ['name', '"\\uDC00"']), 'lone low surrogate escape'),
  bad('lone-surrogate', 'name', obj(['ts', OKTS], ['name', '"\\uD83Dx"']), 'high surrogate followed by a letter'),
  bad('lone-surrogate', 'name', obj(['ts', OKTS], ['name', '"\\uD83D\\u0041"']), 'high surrogate followed by \\u0041'),
  bad('lone-surrogate', 'name', obj(['ts', OKTS], ['name', '"abc\\uDBFF"']), 'high surrogate at the end'),
  bad('lone-surrogate', 'name', obj(['ts', OKTS], ['name', '"\\uDE00\\uD83D"']), 'reversed pair'),
];

// ============================================================ requests
/**
 * A request: {label, contentType, eol, trailingNewline, chunked, items}. items: valid | invalid | blank lines
 * in order. chunked: sent with Transfer-Encoding: chunked in small pieces that split lines and characters.
 * body(req) -> Buffer exactly as sent.
 */
export function body(req) {
  const eol = Buffer.from(req.eol);
  const parts = [];
  req.items.forEach((it, i) => { if (i) parts.push(eol); parts.push(it.line); });
  if (req.trailingNewline && req.items.length) parts.push(eol);
  return Buffer.concat(parts);
}

/** Splits a body into pieces of 1..4096 bytes (deterministic), for chunked sending. */
export function pieces(buf, seed = 7) {
  const rng = makeRng(seed), out = [];
  for (let i = 0; i < buf.length;) { const n = 1 + rng.int(rng.chance(0.3) ? 16 : 4096); out.push(buf.subarray(i, i + n)); i += n; }
  return out;
}

const blank = () => ({ kind: 'blank', line: Buffer.alloc(0), what: 'blank line' });

/** Places `extras` at random positions among `base` (order of each list kept). */
function interleave(rng, base, extras) {
  const out = base.slice();
  for (const e of extras) out.splice(rng.int(out.length + 1), 0, e);
  return out;
}

/** All requests of the test, deterministically from `seed`. */
export function buildRequests(seed = 20240229) {
  const rng = makeRng(seed);
  const valid = n => Array.from({ length: n }, () => validRecord(rng));
  const cases = rng.shuffle(INVALID_CASES.slice());
  const share = k => cases.filter((_, i) => i % 5 === k || (k === 0 && (i % 5 === 1 || i % 5 === 2)));
  const [inv1, inv2, inv3] = [share(0), share(3), share(4)]; // 3/5, 1/5, 1/5 of the catalogue
  const edges = edgeRecords(rng);

  // R1: large, LF, every line ends with \n, blank lines sprinkled in; its last record is invalid.
  const last1 = inv1.pop();
  const r1 = [...interleave(rng, [...valid(2400), ...edges.slice(0, -6)], [...inv1, blank(), blank(), blank()]), last1];
  // R2: CRLF line endings; its first record is invalid.
  const first2 = inv2.shift();
  const r2 = [first2, ...interleave(rng, [...valid(1200), ...edges.slice(-6, -3)], [...inv2, blank(), blank()])];
  // R3: no newline after the last line (which is a valid record).
  const r3 = [...interleave(rng, [...valid(400), ...edges.slice(-3)], [...inv3, blank()]), validRecord(rng, { what: 'last line, no trailing newline' })];
  // R4: nothing valid -> 400 with the same answer shape.
  const r4 = [cases[0], cases[1], blank(), cases[2]];
  // R5: more than 100 invalid records -> only the first 100 listed, errors_truncated.
  const r5 = interleave(rng, valid(60), Array.from({ length: 130 }, (_, i) => INVALID_CASES[i % INVALID_CASES.length]));

  return [
    { label: 'R1 large LF', contentType: 'application/x-ndjson', eol: '\n', trailingNewline: true, items: r1 },
    { label: 'R2 CRLF', contentType: 'application/ndjson', eol: '\r\n', trailingNewline: true, items: r2 },
    { label: 'R3 no final newline, chunked', contentType: 'application/jsonl', eol: '\n', trailingNewline: false, items: r3, chunked: true },
    { label: 'R4 all invalid', contentType: 'application/x-ndjson', eol: '\n', trailingNewline: true, items: r4 },
    { label: 'R5 >100 errors', contentType: 'application/x-ndjson; charset=utf-8', eol: '\n', trailingNewline: true, items: r5 },
    { label: 'R6 empty body', contentType: 'application/x-ndjson', eol: '\n', trailingNewline: false, items: [] },
    { label: 'R7 only blank lines', contentType: 'application/x-ndjson', eol: '\n', trailingNewline: true, items: [blank(), blank(), blank()] },
  ];
}

// ============================================================ expected-value model
/**
 * What the server must answer to `req`, per the contract: records are the non-blank lines, numbered from 1;
 * status 200 unless there were records and none was accepted (400); first 100 errors listed.
 * Also returns the accepted rows in order, each with its origin for messages.
 */
export function expectedAnswer(req) {
  let record = 0;
  const errors = [], accepted = [];
  for (const it of req.items) {
    if (it.kind === 'blank') continue;
    record++;
    if (it.kind === 'valid') accepted.push({ row: it.row, origin: `${req.label} record ${record} (${it.what})` });
    else errors.push({ row: record, column: it.column, item: it });
  }
  return {
    status: accepted.length > 0 || record === 0 ? 200 : 400,
    records: record,
    accepted: accepted.length,
    rejected: errors.length,
    listedErrors: errors.slice(0, MAX_LISTED_ERRORS),
    truncated: errors.length > MAX_LISTED_ERRORS,
    acceptedRows: accepted,
  };
}

/** Accepted rows grouped by UTC day of ts: Map date -> [{row, origin}] in ts order (ties in acceptance order), dates sorted. */
export function expectedDays(acceptedRows) {
  const byDay = new Map();
  for (const a of acceptedRows) {
    const d = utcDay(a.row.ts);
    if (!byDay.has(d)) byDay.set(d, []);
    byDay.get(d).push(a);
  }
  // A flushed file holds its day sorted by the dataset's sort key, by default the time column; rows with
  // equal times stay in arrival order (Array.prototype.sort is stable).
  for (const rows of byDay.values()) rows.sort((x, y) => (x.row.ts < y.row.ts ? -1 : x.row.ts > y.row.ts ? 1 : 0));
  return new Map([...byDay.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
}
