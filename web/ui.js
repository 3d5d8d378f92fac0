// ui.js — the small helpers the console (console.js) and the API reference (docs.js) share:
// building DOM nodes, calling the API, exact JSON, formatting, a little Markdown.
//
// Every page is served with a Content-Security-Policy that allows nothing but this origin and no
// inline code or style: so nodes are built with createElement and textContent (never innerHTML,
// which also keeps data from the server — dataset names, quarantined records — from becoming markup),
// and dynamic geometry is set through element.style from here.

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Appends children (nodes, strings, numbers, arrays of them; null/undefined/false skipped) to el. */
export function append(el, ...kids) {
  for (const k of kids) {
    if (k === null || k === undefined || k === false) continue;
    if (Array.isArray(k)) append(el, ...k);
    else if (k instanceof Node) el.appendChild(k);
    else el.appendChild(document.createTextNode(String(k)));
  }
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked' || k === 'selected' || k === 'disabled' || k === 'open') { el[k] = !!v; if (v) el.setAttribute(k, ''); }
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

/** h('div', {class: 'x', onclick: f}, 'text', child, [more]) — an HTML element. */
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) kids.unshift(attrs);
  else setAttrs(el, attrs);
  return append(el, ...kids);
}

/** s('path', {d: '…', class: 'line'}) — an SVG element (presentation attributes are not style attributes). */
export function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  return append(el, ...kids);
}

/** Empties el and appends kids. */
export function replace(el, ...kids) {
  el.replaceChildren();
  return append(el, ...kids);
}

// ------------------------------------------------------------------ exact JSON
// Ursa's int64 values (user ids, snapshot ids) may pass 2^53: JSON.parse would round them. The reviver's
// third argument (the source text, Chromium 114+) lets such integers become BigInt instead.
function reviver(key, value, ctx) {
  if (typeof value === 'number' && ctx && typeof ctx.source === 'string' &&
      !Number.isSafeInteger(value) && /^-?\d+$/.test(ctx.source)) return BigInt(ctx.source);
  return value;
}

/** JSON.parse keeping integers beyond 2^53 exact (as BigInt). */
export function parseJSON(text) { return JSON.parse(text, reviver); }

/** JSON.stringify that writes BigInt as a number. */
export function toJSON(value, indent) {
  const marks = [];
  const text = JSON.stringify(value, (k, v) => {
    if (typeof v !== 'bigint') return v;
    marks.push(v.toString());
    return `\u0000big${marks.length - 1}\u0000`;
  }, indent);
  return text === undefined ? text : text.replace(/"\\u0000big(\d+)\\u0000"/g, (m, i) => marks[Number(i)]);
}

// ------------------------------------------------------------------ the API key
// A node started with --auth-keys wants `Authorization: Bearer <key>` on every data request (the pages
// themselves are open). The console and the reference share one key, kept in this browser under
// "ursa.apiKey": in localStorage when the user asked to remember it, else in sessionStorage (gone with the
// tab). The key travels only in that header, or as the WebSocket subprotocol "ursa.bearer.<key>" (a
// browser cannot set headers on a WebSocket): never in a URL, never in the page's text.
export const KEY_STORAGE = 'ursa.apiKey';
const keyListeners = new Set();
const authListeners = new Set();
function storageOf(kind) { try { return kind === 'local' ? window.localStorage : window.sessionStorage; } catch { return null; } }
function readKey(kind) { try { return storageOf(kind)?.getItem(KEY_STORAGE) ?? ''; } catch { return ''; } }
function dropKey(kind) { try { storageOf(kind)?.removeItem(KEY_STORAGE); } catch { /* storage disabled */ } }

export const apiKey = {
  /** The key this browser holds ('' when none): this tab's first, else the remembered one. */
  get() { return readKey('session') || readKey('local'); },
  /** Is the key kept in localStorage (remembered on this browser)? */
  remembered() { return !readKey('session') && !!readKey('local'); },
  /**
   * Keeps key (trimmed; '' forgets) in localStorage when remember, else in sessionStorage; the other
   * storage is cleared so that one key is held, where the user asked. Resolves nothing; tells the
   * onChange listeners.
   */
  set(key, remember) {
    key = String(key ?? '').trim();
    dropKey('session');
    dropKey('local');
    if (key) {
      try { storageOf(remember ? 'local' : 'session')?.setItem(KEY_STORAGE, key); } catch { /* full or disabled */ }
    }
    for (const fn of keyListeners) fn();
  },
  forget() { this.set('', false); },
  /** fn() runs after the key changed, here or (for the remembered key) in another tab. */
  onChange(fn) { keyListeners.add(fn); },
};
window.addEventListener('storage', e => { if (e.key === KEY_STORAGE || e.key === null) for (const fn of keyListeners) fn(); });

/** A key can go in a header and a WebSocket subprotocol: printable ASCII without spaces or separators. */
export const keyLooksValid = key => /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(key);

/** fn(answer) runs when an api() call is answered 401 (no key, or a key the node refuses). */
export function onUnauthorized(fn) { authListeners.add(fn); }
/** Tells the onUnauthorized listeners about a 401 learnt otherwise (a live subscription ended by one). */
export function unauthorized(answer) { for (const fn of authListeners) fn(answer); }

// ------------------------------------------------------------------ the API
/**
 * One request to this origin. Never throws for an HTTP status: resolves
 * {ok, status, statusText, headers, text, json, ms, error}. `error` is the server's {"error"} message,
 * or the network failure (status 0). body: an object is sent as JSON, a string as is. The API key, when
 * this browser holds one, goes as `Authorization: Bearer` unless headers has an Authorization of its own;
 * a 401 is told to the onUnauthorized listeners unless quiet.
 */
export async function api(method, path, { body, headers = {}, signal, quiet = false } = {}) {
  const init = { method, headers: { ...headers }, signal };
  const key = apiKey.get();
  if (key && !Object.keys(init.headers).some(k => k.toLowerCase() === 'authorization')) init.headers.authorization = `Bearer ${key}`;
  if (body !== undefined && body !== null) {
    if (typeof body === 'string') init.body = body;
    else { init.body = toJSON(body); init.headers['content-type'] ??= 'application/json'; }
  }
  const t0 = performance.now();
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    return { ok: false, status: 0, statusText: '', headers: new Headers(), text: '', json: undefined, ms: performance.now() - t0,
             error: `the server cannot be reached (${e.message})` };
  }
  const text = await res.text();
  const ms = performance.now() - t0;
  let json;
  try { json = text ? parseJSON(text) : undefined; } catch { json = undefined; }
  const error = res.ok ? undefined : (json && typeof json.error === 'string' ? json.error : text.slice(0, 500) || res.statusText);
  const answer = { ok: res.ok, status: res.status, statusText: res.statusText, headers: res.headers, text, json, ms, error };
  if (res.status === 401 && !quiet) unauthorized(answer);
  return answer;
}

// ------------------------------------------------------------------ formatting
const intFmt = new Intl.NumberFormat('en-US');
/** 1234567 → "1,234,567"; BigInt too; null → "". */
export function fmtInt(n) {
  if (n === null || n === undefined || n === '') return '';
  if (typeof n === 'bigint') return n.toLocaleString('en-US');
  return Number.isFinite(n) ? intFmt.format(Math.round(n)) : String(n);
}

/** A number for people: at most 3 significant decimals, thousands separated. */
export function fmtNum(n, digits = 3) {
  if (n === null || n === undefined) return '';
  if (typeof n === 'bigint') return n.toLocaleString('en-US');
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a !== 0 && (a < 1e-3 || a >= 1e15)) return n.toExponential(2);
  return n.toLocaleString('en-US', { maximumFractionDigits: a >= 100 ? 1 : digits });
}

/** A short number for axes and rates: 1.2k, 3.4M. */
export function fmtShort(n) {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  for (const [v, u] of [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']])
    if (a >= v) return `${+(n / v).toFixed(a / v >= 100 ? 0 : a / v >= 10 ? 1 : 2)}${u}`;
  if (a === 0) return '0';
  if (a < 0.01) return n.toExponential(0);
  return String(+n.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : 2));
}

/** 1536 → "1.5 KiB". */
export function fmtBytes(n) {
  if (n === null || n === undefined) return '';
  n = Number(n);
  if (!Number.isFinite(n)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(n >= 100 ? 0 : 1)} ${units[i]}`;
}

/** Milliseconds → "12 ms", "1.4 s". */
export function fmtMs(ms) {
  if (!Number.isFinite(ms)) return '';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

const pad2 = n => String(n).padStart(2, '0');
/** A time as "2026-11-23 10:00:02 UTC" (Ursa's times are UTC). */
export function fmtTime(t) {
  const d = t instanceof Date ? t : new Date(typeof t === 'bigint' ? Number(t) : t);
  if (Number.isNaN(d.getTime())) return String(t);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} UTC`;
}

/** "3 s ago", "5 min ago", "2 h ago", "4 d ago". */
export function fmtAgo(ms) {
  const s = Math.max(0, Math.round((Date.now() - Number(ms)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/**
 * RFC 3339 text (any number of fraction digits, Z or an offset) or a YYYY-MM-DD date → epoch ms
 * (fractions below the millisecond kept as a fraction); NaN when it is not one.
 */
export function parseTime(v) {
  if (v instanceof Date) return v.getTime();
  if (typeof v !== 'string') return NaN;
  const m = /^(\d{4})-(\d\d)-(\d\d)(?:[Tt ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?)?\s*(Z|z|[+-]\d\d:?\d\d)?$/.exec(v.trim());
  if (!m) return NaN;
  let ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0));
  if (m[7]) ms += Number(`0.${m[7]}`) * 1000;
  if (m[8] && m[8] !== 'Z' && m[8] !== 'z') {
    const o = /([+-])(\d\d):?(\d\d)/.exec(m[8]);
    ms -= (o[1] === '-' ? -1 : 1) * (+o[2] * 60 + +o[3]) * 60000;
  }
  return ms;
}

// ------------------------------------------------------------------ a little Markdown
// Enough for the descriptions of an OpenAPI document: paragraphs, headings, lists, fenced code, pipe
// tables, and inline `code`, **bold**, *emphasis*, [links](url). Built as DOM nodes, never as HTML.
function inline(text) {
  const out = [];
  const re = /`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|_([^_\s][^_]*)_|\[([^\]]+)\]\(([^)\s]+)\)/g;
  let last = 0, m;
  while ((m = re.exec(text))) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(h('code', m[1]));
    else if (m[2] !== undefined) out.push(h('strong', inline(m[2])));
    else if (m[3] !== undefined || m[4] !== undefined) out.push(h('em', inline(m[3] ?? m[4])));
    else {
      const href = m[6];
      // Only links within this origin or to a web page; anything else stays text.
      const safe = /^(#|\/(?!\/)|https?:\/\/)/.test(href);
      out.push(safe ? h('a', { href, rel: 'noopener noreferrer' }, inline(m[5])) : m[0]);
    }
    last = re.lastIndex;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** One line of Markdown (code, emphasis, links) → nodes to put inside an inline element. */
export function inlineMarkdown(text) { return inline(String(text ?? '')); }

const cells = line => line.trim().replace(/^\||\|$/g, '').split('|').map(c => c.trim());

/** Markdown text → a fragment of block elements. */
export function markdown(text) {
  const frag = document.createDocumentFragment();
  if (typeof text !== 'string' || !text.trim()) return frag;
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) { i++; continue; }
    let m;
    if ((m = /^\s*(```|~~~)/.exec(line))) {
      const fence = m[1], body = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(fence); i++) body.push(lines[i]);
      i++;
      frag.append(h('pre', { class: 'md-code' }, h('code', body.join('\n'))));
    } else if ((m = /^(#{1,6})\s+(.*)$/.exec(line))) {
      frag.append(h(`h${Math.min(6, m[1].length + 3)}`, { class: 'md-h' }, inline(m[2])));
      i++;
    } else if (/^\s*\|.*\|\s*$/.test(line) && i + 1 < lines.length && /^\s*\|?\s*:?-{2,}/.test(lines[i + 1])) {
      const head = cells(line), rows = [];
      for (i += 2; i < lines.length && /^\s*\|/.test(lines[i]); i++) rows.push(cells(lines[i]));
      frag.append(h('div', { class: 'md-table-wrap' }, h('table', { class: 'md-table' },
        h('thead', h('tr', head.map(c => h('th', inline(c))))),
        h('tbody', rows.map(r => h('tr', r.map(c => h('td', inline(c)))))))));
    } else if (/^\s*([-*+]|\d+[.)])\s+/.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const list = h(ordered ? 'ol' : 'ul', { class: 'md-list' });
      let item = null;
      for (; i < lines.length && lines[i].trim(); i++) {
        const lm = /^\s*([-*+]|\d+[.)])\s+(.*)$/.exec(lines[i]);
        if (lm) { item = h('li', inline(lm[2])); list.append(item); }
        else if (item) append(item, ' ', inline(lines[i].trim()));
      }
      frag.append(list);
    } else {
      const para = [];
      for (; i < lines.length && lines[i].trim() && !/^\s*(```|~~~|#{1,6}\s|[-*+]\s|\d+[.)]\s)/.test(lines[i]) &&
             !(/^\s*\|.*\|\s*$/.test(lines[i]) && /^\s*\|?\s*:?-{2,}/.test(lines[i + 1] ?? '')); i++) para.push(lines[i].trim());
      if (!para.length) { para.push(lines[i].trim()); i++; }
      frag.append(h('p', inline(para.join(' '))));
    }
  }
  return frag;
}

// ------------------------------------------------------------------ JSON display
/** Pretty JSON as a <pre> whose keys, strings, numbers and literals carry classes for colouring. */
export function jsonView(value, cls = 'json') {
  const text = typeof value === 'string' ? value : value === undefined ? '' : toJSON(value, 2);
  const pre = h('pre', { class: cls });
  const re = /("(?:[^"\\]|\\.)*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)/g;
  let last = 0, m;
  while ((m = re.exec(text))) {
    if (m.index > last) pre.append(text.slice(last, m.index));
    if (m[1] !== undefined) {
      pre.append(h('span', { class: m[2] ? 'j-key' : 'j-str' }, m[1]));
      if (m[2]) pre.append(m[2]);
    } else if (m[3] !== undefined) pre.append(h('span', { class: 'j-lit' }, m[3]));
    else pre.append(h('span', { class: 'j-num' }, m[4]));
    last = re.lastIndex;
  }
  if (last < text.length) pre.append(text.slice(last));
  return pre;
}

// ------------------------------------------------------------------ keyboard
/** Is the event's target a place where typing goes (so single-key shortcuts must not fire)? */
export function typingIn(e) {
  const t = e.target;
  if (!t || !t.tagName) return false;
  if (t.isContentEditable || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT') return true;
  return t.tagName === 'INPUT' && !/^(checkbox|radio|button|submit|reset|range|color|file)$/i.test(t.type);
}

/** Copies text to the clipboard; resolves true when it worked. */
export async function copyText(text) {
  try { await navigator.clipboard.writeText(text); return true; } catch { return false; }
}
