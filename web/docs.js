// docs.js — the API reference at /docs, built in the browser from /openapi.json (any OpenAPI 3.x
// document; written for 3.1, whose schemas are JSON Schema 2020-12).
//
// The page lists the operations grouped by tag (a tagless one under "Other"), each with its method,
// path, summary, parameters, request body and answers; schemas are trees that open on demand, so a
// recursive schema costs nothing until someone opens it. Every $ref inside the document
// ("#/components/…") is followed; one elsewhere is shown as it is. Each operation has a "try it" form
// that sends the request to this server with fetch and shows the answer's status, headers and body. The
// sidebar's "API key" field (kept as the console keeps its key: ui.js, apiKey) goes with the requests of the
// operations whose `security` names a scheme, as `Authorization: Bearer`; "copy as curl" writes
// $URSA_KEY in its place, never the key.
import { h, append, replace, api, parseJSON, toJSON, markdown, inlineMarkdown, jsonView, typingIn, fmtBytes, fmtMs, copyText, apiKey, keyLooksValid } from './ui.js';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const main = document.getElementById('main');
const toc = document.getElementById('toc');
const filterInput = document.getElementById('filter');

let doc = {};
let ops = [];            // {method, path, op, item, anchor, tag, card, tocItem}
let baseUrl = '';        // what a request path is prefixed with (a server's path on this origin)
let sections = [];       // {section, tocGroup, list}: a tag's operations, for the filter
let schemaItems = [];    // {name, item}: the schemas' entries in the side list, for the filter
let schemaGroup = null;

// ------------------------------------------------------------------ references
/** The value a local JSON pointer ("#/components/schemas/X") names, or undefined. */
function pointer(ref) {
  if (typeof ref !== 'string' || !ref.startsWith('#')) return undefined;
  if (ref === '#') return doc;
  let cur = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object' || !(key in cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

/**
 * Follows $ref chains: {value, ref (the last $ref followed), missing (a $ref that names nothing here)}.
 * Keys beside a $ref (allowed in 3.1: description, summary, …) are kept over the target's.
 */
function deref(obj) {
  let ref = null, missing = false;
  const extra = {}, seen = new Set();
  while (obj && typeof obj === 'object' && typeof obj.$ref === 'string') {
    const { $ref, ...siblings } = obj;
    for (const [k, v] of Object.entries(siblings)) if (!(k in extra)) extra[k] = v;
    if (seen.has($ref)) { obj = {}; break; }
    seen.add($ref);
    ref = $ref;
    const target = pointer($ref);
    if (target === undefined) { missing = true; obj = {}; break; }
    obj = target;
  }
  const value = Object.keys(extra).length ? { ...(obj && typeof obj === 'object' ? obj : {}), ...extra } : obj;
  return { value: value ?? {}, ref, missing };
}
const refName = ref => (ref ? decodeURIComponent(ref.split('/').pop()).replace(/~1/g, '/').replace(/~0/g, '~') : '');
const isSchemaRef = ref => typeof ref === 'string' && ref.startsWith('#/components/schemas/');
/** A schema as an object: JSON Schema's true and false become {} (their labels come from typeLabel). */
const obj = x => (x && typeof x === 'object' ? x : {});
const slug = t => String(t).replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '') || 'x';

// ------------------------------------------------------------------ schemas
/** A schema with allOf folded in (properties and required joined; the outer keys win). */
function merged(sch) {
  if (!sch || typeof sch !== 'object' || !Array.isArray(sch.allOf)) return sch;
  const out = { ...sch }, parts = [];
  delete out.allOf;
  const props = { ...(sch.properties ?? {}) }, required = new Set(sch.required ?? []);
  for (const part of sch.allOf) {
    const { value, ref } = deref(part);
    const p = merged(value);
    if (ref) parts.push(refName(ref));
    Object.assign(props, Object.fromEntries(Object.entries(p.properties ?? {}).filter(([k]) => !(k in (sch.properties ?? {})))));
    for (const r of p.required ?? []) required.add(r);
    for (const [k, v] of Object.entries(p)) if (!(k in out) && k !== 'properties' && k !== 'required') out[k] = v;
  }
  if (Object.keys(props).length) out.properties = props;
  if (required.size) out.required = [...required];
  out['x-allOf'] = parts;
  return out;
}

function typesOf(sch) {
  if (sch === true || sch === undefined) return ['any'];
  if (sch === false) return ['never'];
  if (Array.isArray(sch.type)) return sch.type.slice();
  if (typeof sch.type === 'string') return [sch.type];
  if (sch.properties || sch.additionalProperties || sch.patternProperties) return ['object'];
  if (sch.items || sch.prefixItems) return ['array'];
  const vals = 'const' in sch ? [sch.const] : Array.isArray(sch.enum) ? sch.enum : null;
  if (vals) return [...new Set(vals.map(v => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'bigint' ? 'integer' : typeof v)))];
  return [];
}

/** "string<date-time>", "array of Dataset", "object", "one of 3", "integer | null". */
function typeLabel(raw, depth = 0) {
  const { value, ref } = deref(raw);
  if (ref && depth > 0) return refName(ref);
  const sch = merged(value);
  if (sch === true) return 'any';
  if (sch === false) return 'nothing';
  let types = typesOf(sch);
  const nullable = sch.nullable === true || types.includes('null');
  types = types.filter(t => t !== 'null');
  let label;
  if (!types.length) {
    if (Array.isArray(sch.oneOf)) label = `one of ${sch.oneOf.length}`;
    else if (Array.isArray(sch.anyOf)) label = `any of ${sch.anyOf.length}`;
    else if (sch['x-allOf']?.length) label = `all of ${sch['x-allOf'].join(', ')}`;
    else label = nullable ? '' : 'any';
  } else {
    label = types.map(t => {
      if (t === 'array') {
        if (sch.items && sch.items !== true) return `array of ${typeLabel(sch.items, depth + 1)}`;
        if (sch.prefixItems) return `tuple[${sch.prefixItems.length}]`;
        return 'array';
      }
      return sch.format ? `${t}<${sch.format}>` : t;
    }).join(' | ');
  }
  if (nullable) label = label ? `${label} | null` : 'null';
  return label;
}

/** The children a schema node opens to: [{name, schema, required, kind}]. */
function childrenOf(sch) {
  if (!sch || typeof sch !== 'object') return [];
  const out = [];
  const req = new Set(Array.isArray(sch.required) ? sch.required : []);
  for (const [k, v] of Object.entries(sch.properties ?? {})) out.push({ name: k, schema: v, required: req.has(k), kind: 'prop' });
  for (const [k, v] of Object.entries(sch.patternProperties ?? {})) out.push({ name: `/${k}/`, schema: v, kind: 'pattern' });
  if (sch.additionalProperties && typeof sch.additionalProperties === 'object')
    out.push({ name: '(any other key)', schema: sch.additionalProperties, kind: 'extra' });
  (sch.prefixItems ?? []).forEach((v, i) => out.push({ name: `[${i}]`, schema: v, kind: 'item' }));
  if (sch.items && typeof sch.items === 'object' && expandable(sch.items)) out.push({ name: '[item]', schema: sch.items, kind: 'item' });
  for (const [key, word] of [['oneOf', 'one of'], ['anyOf', 'any of']])
    (Array.isArray(sch[key]) ? sch[key] : []).forEach((v, i) => out.push({ name: `${word} #${i + 1}`, schema: v, kind: 'variant' }));
  if (sch.not && typeof sch.not === 'object') out.push({ name: 'not', schema: sch.not, kind: 'variant' });
  return out;
}

function expandable(raw) {
  const sch = merged(deref(raw).value);
  return childrenOf(sch).length > 0;
}

const show = v => (typeof v === 'string' ? JSON.stringify(v) : toJSON(v));

/** The small facts of a schema: format-free constraints, default, flags, as chips. */
function facets(sch) {
  const out = [];
  const chip = (label, value, cls = '') => out.push(h('span', { class: `facet ${cls}` }, label, value !== undefined ? h('code', value) : null));
  if ('const' in sch) chip('const ', show(sch.const));
  if (sch.default !== undefined) chip('default ', show(sch.default));
  const bound = (k, word) => { if (sch[k] !== undefined && typeof sch[k] !== 'boolean') chip(`${word} `, String(sch[k])); };
  bound('minimum', '≥'); bound('exclusiveMinimum', '>'); bound('maximum', '≤'); bound('exclusiveMaximum', '<');
  if (sch.exclusiveMinimum === true && sch.minimum !== undefined) out.push(h('span', { class: 'facet' }, '(exclusive min)'));
  if (sch.exclusiveMaximum === true && sch.maximum !== undefined) out.push(h('span', { class: 'facet' }, '(exclusive max)'));
  bound('multipleOf', 'multiple of'); bound('minLength', 'min length'); bound('maxLength', 'max length');
  bound('minItems', 'min items'); bound('maxItems', 'max items'); bound('minProperties', 'min keys'); bound('maxProperties', 'max keys');
  if (sch.pattern) chip('pattern ', sch.pattern);
  if (sch.uniqueItems) chip('unique items');
  if (sch.readOnly) chip('read only', undefined, 'flag');
  if (sch.writeOnly) chip('write only', undefined, 'flag');
  if (sch.deprecated) chip('deprecated', undefined, 'flag warn');
  if (sch.additionalProperties === false || sch.unevaluatedProperties === false) chip('no other keys', undefined, 'flag');
  if (sch.contentMediaType) chip('content ', sch.contentMediaType);
  if (sch.contentEncoding) chip('encoding ', sch.contentEncoding);
  return out;
}

function enumChips(sch) {
  if (!Array.isArray(sch.enum)) return null;
  const shown = sch.enum.slice(0, 40);
  return h('div', { class: 'sch-enum' }, h('span', { class: 'muted' }, 'one of: '),
    shown.map(v => h('code', { class: 'enum' }, show(v))), sch.enum.length > shown.length ? h('span', { class: 'muted' }, ` … ${sch.enum.length - shown.length} more`) : null);
}

function examplesOf(sch) {
  const list = [];
  if (sch.example !== undefined) list.push(sch.example);
  if (Array.isArray(sch.examples)) list.push(...sch.examples);
  return list;
}

function exampleBlock(values, label = 'example') {
  if (!values.length) return null;
  return h('div', { class: 'sch-examples' }, values.slice(0, 3).map(v => {
    const text = show(v);
    return text.length <= 70 && !text.includes('\n')
      ? h('div', { class: 'sch-example' }, h('span', { class: 'muted' }, `${label}: `), h('code', text))
      : h('div', { class: 'sch-example' }, h('span', { class: 'muted' }, `${label}:`), jsonView(v));
  }));
}

/**
 * A schema as a tree node: one line (name, type, $ref, facets), its description, enum values and
 * examples, and — for objects, arrays of objects, variants — a button that opens its children.
 * ancestors holds the $refs above, to mark a recursive schema.
 */
function schemaNode(raw, { name, required, kind, open = false, ancestors = [] } = {}) {
  const { value, ref, missing } = deref(raw ?? {});
  const sch = obj(merged(value));
  const kids = childrenOf(sch);
  const recursive = ref && ancestors.includes(ref);
  const node = h('div', { class: `sch-node${kids.length ? '' : ' leaf'}`, role: 'treeitem' });
  const line = h('div', { class: 'sch-line' });
  let toggle = null, box = null;
  if (kids.length) {
    toggle = h('button', { type: 'button', class: 'sch-toggle', 'aria-expanded': 'false', title: 'open or close' },
      h('span', { class: 'caret', 'aria-hidden': 'true' }), h('span', { class: 'visually-hidden' }, `${name ?? typeLabel(raw)}: open or close`));
    line.append(toggle);
  } else line.append(h('span', { class: 'caret-space', 'aria-hidden': 'true' }));
  if (name !== undefined) line.append(h('span', { class: `sch-name ${kind ?? ''}` }, name));
  if (required) line.append(h('span', { class: 'sch-req', title: 'required' }, 'required'));
  line.append(h('span', { class: 'sch-type' }, typeLabel(raw)));
  if (ref && refName(ref) !== name) {
    line.append(isSchemaRef(ref) && !missing
      ? h('a', { class: 'sch-ref', href: `#schema-${slug(refName(ref))}`, title: ref }, refName(ref))
      : h('span', { class: `sch-ref${missing ? ' missing' : ''}`, title: missing ? 'this $ref names nothing in the document' : ref }, ref));
  }
  if (sch['x-allOf']?.length && ref) line.append(h('span', { class: 'facet' }, `all of ${sch['x-allOf'].join(', ')}`));
  if (recursive) line.append(h('span', { class: 'facet flag' }, 'recursive'));
  line.append(...facets(sch));
  node.append(line);
  if (sch.title && sch.title !== name && sch.title !== refName(ref)) node.append(h('div', { class: 'sch-title' }, sch.title));
  if (sch.description) node.append(h('div', { class: 'sch-desc md' }, markdown(sch.description)));
  node.append(enumChips(sch) ?? '', exampleBlock(examplesOf(sch)) ?? '');
  if (kids.length) {
    box = h('div', { class: 'sch-children', role: 'group', hidden: true });
    node.append(box);
    let built = false;
    const set = want => {
      if (want && !built) {
        built = true;
        const up = ref ? [...ancestors, ref] : ancestors;
        for (const k of kids) box.append(schemaNode(k.schema, { name: k.name, required: k.required, kind: k.kind, ancestors: up }));
      }
      box.hidden = !want;
      toggle.setAttribute('aria-expanded', String(want));
      node.classList.toggle('open', want);
    };
    toggle.addEventListener('click', () => set(box.hidden));
    node.setOpen = set;
    if (open && !recursive) set(true);
  }
  return node;
}

/** A schema's tree, its first level open. */
function schemaTree(raw) {
  return h('div', { class: 'schema', role: 'tree' }, schemaNode(raw, { open: true }));
}

// ------------------------------------------------------------------ examples
/** A value that fits the schema, for a request body: its example, default, first enum value, or made up. */
function exampleFor(raw, depth = 0, refs = []) {
  const { value, ref } = deref(raw ?? {});
  if (ref && refs.includes(ref)) return undefined;
  const up = ref ? [...refs, ref] : refs;
  const sch = merged(value);
  if (!sch || typeof sch !== 'object') return null;
  if (sch.example !== undefined) return sch.example;
  if (Array.isArray(sch.examples) && sch.examples.length) return sch.examples[0];
  if ('const' in sch) return sch.const;
  if (sch.default !== undefined) return sch.default;
  if (Array.isArray(sch.enum) && sch.enum.length) return sch.enum[0];
  for (const k of ['oneOf', 'anyOf']) if (Array.isArray(sch[k]) && sch[k].length) return exampleFor(sch[k][0], depth, up);
  const types = typesOf(sch).filter(t => t !== 'null');
  const t = types[0];
  if (t === 'object' || (!t && sch.properties)) {
    if (depth > 5) return {};
    const o = {};
    const req = new Set(sch.required ?? []);
    const keys = Object.keys(sch.properties ?? {});
    for (const k of keys.filter(k => req.has(k)).concat(keys.filter(k => !req.has(k)))) {
      const v = exampleFor(sch.properties[k], depth + 1, up);
      if (v !== undefined) o[k] = v;
    }
    return o;
  }
  if (t === 'array') {
    if (depth > 5) return [];
    const v = exampleFor(sch.items, depth + 1, up);
    return v === undefined ? [] : [v];
  }
  if (t === 'string') {
    const f = sch.format;
    if (f === 'date-time') return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    if (f === 'date') return new Date().toISOString().slice(0, 10);
    if (f === 'uuid') return '123e4567-e89b-12d3-a456-426614174000';
    return 'string';
  }
  if (t === 'integer' || t === 'number') return sch.minimum ?? 0;
  if (t === 'boolean') return true;
  return null;
}

/** The example of a media type object: example, the first of examples, the schema's, or made up. */
function mediaExample(media, type) {
  if (!media) return undefined;
  if (media.example !== undefined) return media.example;
  const ex = media.examples && Object.values(media.examples)[0];
  if (ex) {
    const v = deref(ex).value;
    if (v && v.value !== undefined) return v.value;
  }
  return media.schema ? exampleFor(media.schema) : undefined;
}

/** A body's text for the try-it form: JSON pretty-printed; a string as is (NDJSON, CSV). */
function bodyText(value, type) {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  if (/ndjson|jsonl/.test(type ?? '') && Array.isArray(value)) return value.map(v => toJSON(v)).join('\n') + '\n';
  return toJSON(value, 2);
}

function namedExamples(media) {
  const out = [];
  if (media.example !== undefined) out.push({ title: 'Example', value: media.example });
  for (const [k, ex] of Object.entries(media.examples ?? {})) {
    const v = deref(ex).value ?? {};
    out.push({ title: v.summary || k, description: v.description, value: v.value, external: v.externalValue });
  }
  return out;
}

function mediaBlock(type, media) {
  const m = deref(media).value ?? {};
  const block = h('div', { class: 'media' }, h('div', { class: 'media-type' }, h('code', type)));
  if (m.schema) block.append(schemaTree(m.schema));
  namedExamples(m).forEach((ex, i) => {
    block.append(h('details', { class: 'example', open: i === 0 },
      h('summary', { class: 'example-title' }, ex.title),
      ex.description ? h('div', { class: 'md' }, markdown(ex.description)) : null,
      ex.external ? h('div', {}, 'at ', h('code', ex.external))
        : ex.value === undefined ? (ex.description ? null : h('p', { class: 'muted' }, '(no value given)'))
        : typeof ex.value === 'string' ? h('pre', { class: 'json' }, ex.value) : jsonView(ex.value)));
  });
  return block;
}

// ------------------------------------------------------------------ operations
/** The parameters of an operation: the path item's, replaced by the operation's of the same name and place. */
function parametersOf(o) {
  const byKey = new Map();
  for (const p of [...(o.item.parameters ?? []), ...(o.op.parameters ?? [])]) {
    const v = deref(p).value;
    if (v && v.name && v.in) byKey.set(`${v.in}:${v.name}`, v);
  }
  const order = { path: 0, query: 1, header: 2, cookie: 3 };
  return [...byKey.values()].sort((a, b) => (order[a.in] ?? 9) - (order[b.in] ?? 9));
}
const paramSchema = p => p.schema ?? (p.content ? Object.values(p.content)[0]?.schema : undefined) ?? {};

function pathNodes(path) {
  return path.split(/(\{[^}]+\})/).filter(Boolean).map(part => (part.startsWith('{') ? h('span', { class: 'path-param' }, part) : part));
}

function statusClass(code) {
  const c = String(code);
  return c.startsWith('2') ? 'ok' : c.startsWith('3') ? 'accent' : c.startsWith('4') ? 'warn' : c.startsWith('5') ? 'danger' : '';
}

function paramsTable(params) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data params' },
    h('thead', h('tr', h('th', 'Name'), h('th', 'In'), h('th', 'Type'), h('th', 'Description'))),
    h('tbody', params.map(p => {
      const sch = paramSchema(p);
      const sv = obj(merged(deref(sch).value));
      return h('tr',
        h('td', h('code', { class: 'param-name' }, p.name), p.required ? h('span', { class: 'sch-req' }, 'required') : null,
          p.deprecated ? h('span', { class: 'facet flag warn' }, 'deprecated') : null),
        h('td', h('span', { class: 'badge' }, p.in)),
        h('td', expandable(sch) ? schemaTree(sch) : h('span', { class: 'sch-type' }, typeLabel(sch)), h('div', facets(sv))),
        h('td', { class: 'md' }, markdown(p.description ?? ''), enumChips(sv),
          exampleBlock([...(p.example !== undefined ? [p.example] : []), ...examplesOf(sv)])));
    }))));
}

function headersTable(headers) {
  const rows = Object.entries(headers ?? {});
  if (!rows.length) return null;
  return h('div', { class: 'resp-headers' }, h('h5', 'Headers'), h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
    h('thead', h('tr', h('th', 'Header'), h('th', 'Type'), h('th', 'Description'))),
    h('tbody', rows.map(([name, hd]) => {
      const v = deref(hd).value ?? {};
      return h('tr', h('td', h('code', name)), h('td', h('span', { class: 'sch-type' }, typeLabel(paramSchema(v)))), h('td', { class: 'md' }, markdown(v.description ?? '')));
    })))));
}

function responsesBlock(responses) {
  const entries = Object.entries(responses ?? {});
  if (!entries.length) return null;
  let opened = false;
  return h('section', { class: 'op-section' }, h('h4', 'Answers'), entries.map(([code, r0]) => {
    const { value: r } = deref(r0);
    const first = !opened && /^2/.test(code);
    if (first) opened = true;
    const det = h('details', { class: `resp ${statusClass(code)}`, open: first });
    const desc = (r.description ?? '').split('\n')[0];
    det.append(h('summary', h('span', { class: `badge code ${statusClass(code)}` }, code), h('span', { class: 'resp-desc' }, inlineMarkdown(desc))));
    const body = h('div', { class: 'resp-body' });
    if ((r.description ?? '').includes('\n')) body.append(h('div', { class: 'md' }, markdown(r.description)));
    append(body, headersTable(r.headers));
    for (const [type, media] of Object.entries(r.content ?? {})) body.append(mediaBlock(type, media));
    if (!body.childNodes.length) body.append(h('p', { class: 'muted' }, 'No body.'));
    det.append(body);
    return det;
  }));
}

function opBody(o) {
  const { op } = o;
  const box = h('div', { class: 'op-body' });
  if (op.deprecated) box.append(h('p', { class: 'note-box' }, 'This operation is deprecated.'));
  if (op.description) box.append(h('div', { class: 'md op-desc' }, markdown(op.description)));
  else if (o.item.description) box.append(h('div', { class: 'md op-desc' }, markdown(o.item.description)));
  if (op.operationId) box.append(h('p', { class: 'faint op-id' }, 'operationId ', h('code', op.operationId)));
  append(box, authSection(o));
  const params = parametersOf(o);
  if (params.length) box.append(h('section', { class: 'op-section' }, h('h4', 'Parameters'), paramsTable(params)));
  const rb = op.requestBody ? deref(op.requestBody).value : null;
  if (rb) {
    box.append(h('section', { class: 'op-section' },
      h('h4', 'Request body', rb.required ? h('span', { class: 'sch-req' }, 'required') : null),
      rb.description ? h('div', { class: 'md' }, markdown(rb.description)) : null,
      Object.entries(rb.content ?? {}).map(([type, media]) => mediaBlock(type, media))));
  }
  append(box, responsesBlock(op.responses));
  box.append(tryPanel(o, params, rb));
  return box;
}

// ------------------------------------------------------------------ the API key
const keyInput = document.getElementById('api-key');
const keyRemember = document.getElementById('api-key-remember');
const authLines = new Set(); // {line, o}: each try form's line saying whether a key goes with it
const currentKey = () => keyInput.value.trim();

/** An operation's security requirements: its own `security`, else the document's. */
const securityOf = o => (Array.isArray(o.op.security) ? o.op.security : Array.isArray(doc.security) ? doc.security : []);
/** Does some requirement of the operation name a scheme (so a key goes with its requests)? */
const takesKey = o => securityOf(o).some(r => r && typeof r === 'object' && Object.keys(r).length > 0);
/** Is the operation open (no requirement, or an empty one among them)? */
const openOp = o => !securityOf(o).length || securityOf(o).some(r => r && typeof r === 'object' && !Object.keys(r).length);

function renderAuthLine({ line, o }) {
  const key = currentKey();
  const missing = !key && !openOp(o);
  line.classList.toggle('missing', missing);
  line.textContent = !key ? (missing ? 'No API key: a node run with --auth-keys answers 401. Enter one in the sidebar.' : 'No API key (open unless the node asks for one).')
    : keyLooksValid(key) ? 'With Authorization: Bearer and the API key from the sidebar.'
    : 'The API key field holds no valid key (letters, digits, - _ . …): it is not sent.';
}
const renderAuthLines = () => { for (const x of authLines) if (x.line.isConnected) renderAuthLine(x); else authLines.delete(x); };

keyInput.value = apiKey.get();
keyRemember.checked = apiKey.remembered();
keyInput.addEventListener('input', () => { apiKey.set(currentKey(), keyRemember.checked); renderAuthLines(); });
keyRemember.addEventListener('change', () => apiKey.set(currentKey(), keyRemember.checked));
apiKey.onChange(() => { // (another tab: the console, or this page elsewhere)
  if (document.activeElement !== keyInput && currentKey() !== apiKey.get()) {
    keyInput.value = apiKey.get();
    keyRemember.checked = apiKey.remembered();
  }
  renderAuthLines();
});

/** What an operation needs of the caller, from its security requirements and the document's schemes. */
function authSection(o) {
  const schemes = doc.components?.securitySchemes ?? {};
  const reqs = securityOf(o);
  if (!Object.keys(schemes).length && !reqs.length) return null;
  const alternatives = reqs.filter(r => r && typeof r === 'object' && Object.keys(r).length).map(r => Object.entries(r).map(([name, roles], i) => {
    const sch = deref(schemes[name]).value ?? {};
    const what = sch.type === 'http' && String(sch.scheme).toLowerCase() === 'bearer' ? ['an API key (', h('code', 'Authorization: Bearer'), ')'] : h('code', name);
    const scopes = Array.isArray(roles) && roles.length ? [' with the scope ', roles.map((x, j) => [j ? ' and ' : '', h('code', x)])] : ', any scope';
    return [i ? ' and ' : '', what, scopes];
  }));
  const open = openOp(o);
  return h('section', { class: 'op-section op-auth' }, h('h4', 'Authorization'),
    !alternatives.length ? h('p', 'Open: no API key, also on a node run with ', h('code', '--auth-keys'), '.')
      : [h('p', open ? 'Open unless the node asks for a key; then one of:' : alternatives.length > 1 ? 'On a node run with --auth-keys, one of:' : 'On a node run with --auth-keys:'),
        h('ul', alternatives.map(a => h('li', a)))]);
}

// ------------------------------------------------------------------ try it
function fieldFor(p, id) {
  const sch = obj(merged(deref(paramSchema(p)).value));
  const types = typesOf(sch);
  const values = Array.isArray(sch.enum) ? sch.enum : types.includes('boolean') ? [true, false] : null;
  const ex = p.example ?? examplesOf(sch)[0];
  if (values) {
    const sel = h('select', { id, name: p.name },
      h('option', { value: '' }, p.required ? '— choose —' : '(not sent)'),
      values.map(v => h('option', { value: String(v) }, String(v))));
    if (p.required && ex !== undefined) sel.value = String(ex);
    return sel;
  }
  const input = h('input', { type: 'text', id, name: p.name, spellcheck: 'false', autocomplete: 'off',
    placeholder: ex !== undefined ? `e.g. ${typeof ex === 'string' ? ex : toJSON(ex)}` : sch.default !== undefined ? `default ${show(sch.default)}` : types.includes('array') ? 'a,b,c' : '' });
  if (p.required && ex !== undefined) input.value = typeof ex === 'string' ? ex : toJSON(ex);
  return input;
}

/** The server part of request URLs: a server on this origin (its path), else this origin. */
function serverBase() {
  const sv = Array.isArray(doc.servers) ? doc.servers[0] : null;
  if (!sv || typeof sv.url !== 'string') return { base: '', note: null };
  let url = sv.url;
  for (const [k, v] of Object.entries(sv.variables ?? {})) url = url.split(`{${k}}`).join(String(v.default ?? ''));
  try {
    const u = new URL(url, location.href);
    if (u.origin === location.origin) return { base: u.pathname.replace(/\/+$/, ''), note: null };
    return { base: '', note: `The document names the server ${sv.url}; this page sends requests to the server it came from (${location.origin}).` };
  } catch {
    return { base: '', note: null };
  }
}

/** The request as a curl command line; with auth, the key as the shell's $URSA_KEY (never the key itself). */
function curlLine(method, url, headers, body, auth) {
  const q = v => `'${String(v).replace(/'/g, `'\\''`)}'`;
  const parts = ['curl', '-i'];
  if (method !== 'GET') parts.push('-X', method);
  parts.push(q(new URL(url, location.href).href));
  if (auth) parts.push('-H', '"Authorization: Bearer $URSA_KEY"');
  for (const [k, v] of headers) parts.push('-H', q(`${k}: ${v}`));
  if (body !== undefined) parts.push('--data-binary', q(body));
  return parts.join(' ');
}

function parseHeaderLines(text) {
  const out = [], bad = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const i = line.indexOf(':');
    if (i <= 0) { bad.push(line); continue; }
    out.push([line.slice(0, i).trim(), line.slice(i + 1).trim()]);
  }
  return { out, bad };
}

const TEXT_TYPE = /^(text\/|application\/([\w.+-]*\+)?(json|x-ndjson|ndjson|jsonl|xml|javascript|x-www-form-urlencoded|yaml|csv))/i;

async function showAnswer(out, res, ms, bytes) {
  const type = res.headers.get('content-type') ?? '';
  const status = h('div', { class: 'answer-status' },
    h('span', { class: `badge code ${statusClass(res.status)}` }, String(res.status)),
    h('span', { class: 'answer-text' }, res.statusText),
    h('span', { class: 'muted' }, `${fmtMs(ms)} · ${fmtBytes(bytes.byteLength)}${type ? ' · ' + type : ''}`));
  const hdrs = h('details', { class: 'answer-headers' }, h('summary', `Headers (${[...res.headers.keys()].length})`),
    h('div', { class: 'table-wrap' }, h('table', { class: 'data' }, h('tbody',
      [...res.headers.entries()].map(([k, v]) => h('tr', h('th', { scope: 'row' }, k), h('td', { class: 'mono' }, v)))))));
  let body;
  if (!bytes.byteLength) body = h('p', { class: 'muted' }, '(empty body)');
  else if (TEXT_TYPE.test(type) || !type) {
    const text = new TextDecoder().decode(bytes);
    let parsed;
    if (/json/i.test(type) && !/ndjson|jsonl/i.test(type)) { try { parsed = parseJSON(text); } catch { parsed = undefined; } }
    body = parsed !== undefined ? jsonView(parsed, 'json answer-body') : h('pre', { class: 'json answer-body' }, text.length > 500000 ? text.slice(0, 500000) + '\n…' : text);
  } else {
    const view = new Uint8Array(bytes, 0, Math.min(256, bytes.byteLength));
    const lines = [];
    for (let i = 0; i < view.length; i += 16) {
      const row = [...view.slice(i, i + 16)];
      lines.push(`${i.toString(16).padStart(6, '0')}  ${row.map(b => b.toString(16).padStart(2, '0')).join(' ').padEnd(48)}  ${row.map(b => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('')}`);
    }
    body = h('div', h('p', { class: 'muted' }, `${fmtBytes(bytes.byteLength)} of binary data${bytes.byteLength > 256 ? '; the first 256 bytes' : ''}:`),
      h('pre', { class: 'hexdump answer-body' }, lines.join('\n')));
  }
  replace(out, status, hdrs, h('div', { class: 'answer-body-box' }, body));
}

function tryPanel(o, params, rb) {
  const method = o.method.toUpperCase();
  const uid = o.anchor;
  const form = h('form', { class: 'try-form', novalidate: true });
  const fields = [];
  for (const where of ['path', 'query', 'header', 'cookie']) {
    const list = params.filter(p => p.in === where);
    if (!list.length) continue;
    if (where === 'cookie') { form.append(h('p', { class: 'muted' }, `Cookie parameters (${list.map(p => p.name).join(', ')}) are sent by the browser itself.`)); continue; }
    const group = h('fieldset', { class: 'try-group' }, h('legend', { path: 'Path', query: 'Query', header: 'Headers' }[where]));
    for (const p of list) {
      const id = `${uid}-${where}-${slug(p.name)}`;
      const control = fieldFor(p, id);
      fields.push({ p, control });
      group.append(h('div', { class: 'try-field' },
        h('label', { for: id }, h('code', p.name), p.required ? h('span', { class: 'sch-req' }, 'required') : null),
        control));
    }
    form.append(group);
  }
  const extra = h('textarea', { id: `${uid}-extra`, rows: 2, spellcheck: 'false', placeholder: 'X-Request-Id: my-request-1', class: 'try-extra' });
  form.append(h('details', { class: 'try-group extra-headers' }, h('summary', 'More headers'),
    h('label', { for: `${uid}-extra`, class: 'muted' }, 'One "Name: value" a line:'), extra));

  let bodyArea = null, typeSelect = null;
  const types = rb ? Object.keys(rb.content ?? {}) : [];
  if (rb) {
    bodyArea = h('textarea', { id: `${uid}-body`, class: 'try-body', rows: 8, spellcheck: 'false', wrap: 'off' });
    let edited = false;
    bodyArea.addEventListener('input', () => { edited = true; });
    const curType = () => (typeSelect ? typeSelect.value : types[0]);
    // the media type's named examples (those with a value), to choose from when there are several
    const exSelect = h('select', { id: `${uid}-example` });
    const exField = h('div', { class: 'try-field' }, h('label', { for: `${uid}-example` }, 'Example'), exSelect);
    const examplesFor = t => namedExamples(deref(rb.content?.[t]).value ?? {}).filter(e => e.value !== undefined);
    const fillExamples = () => {
      const list = examplesFor(curType());
      replace(exSelect, list.map((e, i) => h('option', { value: String(i) }, e.title)));
      exField.hidden = list.length < 2;
    };
    const fill = () => {
      const t = curType();
      const list = examplesFor(t);
      const chosen = list[Number(exSelect.value) || 0];
      bodyArea.value = bodyText(chosen ? chosen.value : mediaExample(deref(rb.content?.[t]).value, t), t);
      bodyArea.rows = Math.min(18, Math.max(4, bodyArea.value.split('\n').length + 1));
      edited = false;
    };
    const group = h('fieldset', { class: 'try-group' }, h('legend', 'Body'));
    if (types.length > 1) {
      typeSelect = h('select', { id: `${uid}-ctype` }, types.map(t => h('option', { value: t }, t)));
      typeSelect.addEventListener('change', () => { fillExamples(); if (!edited || !bodyArea.value.trim()) fill(); });
      group.append(h('div', { class: 'try-field' }, h('label', { for: `${uid}-ctype` }, 'Content-Type'), typeSelect));
    } else if (types.length === 1) group.append(h('div', { class: 'try-field' }, h('span', { class: 'label' }, 'Content-Type'), h('code', types[0])));
    exSelect.addEventListener('change', () => { fill(); });
    group.append(exField, h('label', { for: `${uid}-body`, class: 'visually-hidden' }, 'Request body'), bodyArea,
      h('div', { class: 'try-body-tools' }, h('button', { type: 'button', class: 'small', onclick: () => { fill(); bodyArea.focus(); } }, 'Reset to the example')));
    form.append(group);
    fillExamples();
    fill();
  }

  if (takesKey(o)) {
    const auth = { line: h('p', { class: 'try-auth' }), o };
    authLines.add(auth);
    renderAuthLine(auth);
    form.append(auth.line);
  }
  const sendBtn = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const curlBtn = h('button', { type: 'button', title: 'The API key is written as $URSA_KEY: set it in your shell' }, 'Copy as curl');
  const problems = h('div', { class: 'try-problems', role: 'alert' });
  const out = h('div', { class: 'try-answer', 'aria-live': 'polite' });
  const urlLine = h('code', { class: 'try-url' });
  form.append(h('div', { class: 'try-actions' }, sendBtn, curlBtn, h('span', { class: 'try-url-line' }, h('span', { class: `method ${o.method}` }, method), urlLine)), problems, out);

  /** The request the form describes: {url, headers, body, errors, auth (the API key goes with it)}. */
  const build = () => {
    const errors = [];
    let path = o.path;
    const query = new URLSearchParams();
    const headers = [];
    for (const { p, control } of fields) {
      const v = control.value.trim();
      if (!v) { if (p.required) errors.push(`${p.name} (${p.in}) is required`); continue; }
      const sch = obj(merged(deref(paramSchema(p)).value));
      if (p.in === 'path') path = path.split(`{${p.name}}`).join(encodeURIComponent(v));
      else if (p.in === 'query') {
        if (typesOf(sch).includes('array') && p.explode !== false) for (const part of v.split(',')) query.append(p.name, part.trim());
        else query.append(p.name, v);
      } else if (p.in === 'header') headers.push([p.name, v]);
    }
    const more = parseHeaderLines(extra.value);
    for (const b of more.bad) errors.push(`not a header line: ${b}`);
    headers.push(...more.out);
    let body;
    if (bodyArea && bodyArea.value.length && !['GET', 'HEAD'].includes(method)) {
      body = bodyArea.value;
      const t = typeSelect ? typeSelect.value : types[0];
      if (t && !headers.some(([k]) => k.toLowerCase() === 'content-type')) headers.push(['Content-Type', t]);
    } else if (rb?.required && !['GET', 'HEAD'].includes(method)) errors.push('the body is required');
    const qs = query.toString();
    const key = currentKey();
    const auth = takesKey(o) && !!key && keyLooksValid(key) && !headers.some(([k]) => k.toLowerCase() === 'authorization');
    return { url: `${baseUrl}${path}${qs ? '?' + qs : ''}`, headers, body, errors, auth };
  };
  const refreshUrl = () => { urlLine.textContent = build().url; };
  form.addEventListener('input', refreshUrl);
  form.addEventListener('change', refreshUrl);
  refreshUrl();

  let inflight = null;
  form.addEventListener('submit', async e => {
    e.preventDefault();
    if (inflight) { inflight.abort(); return; }
    const req = build();
    replace(problems, req.errors.length ? h('div', { class: 'error-box' }, h('span', { class: 'error-title' }, 'Cannot send:'), req.errors.join('; ')) : '');
    if (req.errors.length) return;
    inflight = new AbortController();
    sendBtn.textContent = 'Cancel';
    out.classList.add('busy');
    replace(out, h('p', { class: 'muted' }, `Sending ${method} ${req.url} …`));
    const t0 = performance.now();
    try {
      const headers = req.auth ? [...req.headers, ['Authorization', `Bearer ${currentKey()}`]] : req.headers;
      const res = await fetch(req.url, { method, headers, body: req.body, signal: inflight.signal, cache: 'no-store' });
      const bytes = await res.arrayBuffer();
      await showAnswer(out, res, performance.now() - t0, bytes);
    } catch (err) {
      replace(out, h('div', { class: 'error-box' }, h('span', { class: 'error-title' }, err.name === 'AbortError' ? 'Cancelled.' : 'No answer:'),
        err.name === 'AbortError' ? '' : err.message));
    } finally {
      inflight = null;
      sendBtn.textContent = 'Send';
      out.classList.remove('busy');
    }
  });
  form.addEventListener('keydown', e => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
  });
  curlBtn.addEventListener('click', async () => {
    const req = build();
    const ok = await copyText(curlLine(method, req.url, req.headers, req.body, req.auth));
    curlBtn.textContent = ok ? 'Copied' : 'Copy failed';
    setTimeout(() => { curlBtn.textContent = 'Copy as curl'; }, 1500);
  });

  return h('section', { class: 'op-section try' }, h('h4', 'Try it'), form);
}

// ------------------------------------------------------------------ the page
function opCard(o) {
  const card = h('details', { class: 'op', id: o.anchor, dataset: { method: o.method, path: o.path } });
  const sum = h('summary', { class: 'op-sum' },
    h('span', { class: `method ${o.method}` }, o.method.toUpperCase()),
    h('code', { class: 'op-path' }, pathNodes(o.path)),
    h('span', { class: 'op-summary' }, o.op.summary ?? ''),
    o.op.deprecated ? h('span', { class: 'badge warn' }, 'deprecated') : null);
  card.append(sum);
  let built = false;
  card.addEventListener('toggle', () => {
    if (card.open && !built) { built = true; card.append(opBody(o)); }
    if (card.open && location.hash !== `#${o.anchor}`) history.replaceState(null, '', `#${o.anchor}`);
  });
  return card;
}

function renderHeader() {
  const info = doc.info ?? {};
  if (info.title) document.title = `${info.title} — API reference`;
  const v = document.getElementById('api-version');
  if (info.version) { v.textContent = `v${info.version}`; v.hidden = false; }
  const head = h('header', { class: 'doc-head' },
    h('h1', info.title ?? 'API reference'),
    h('p', { class: 'muted doc-meta' },
      doc.openapi ? `OpenAPI ${doc.openapi}` : 'no "openapi" version',
      info.version ? ` · version ${info.version}` : '',
      ` · ${ops.length} operation${ops.length === 1 ? '' : 's'}`,
      info.license?.name ? ` · ${info.license.name}` : ''),
    info.summary ? h('p', { class: 'doc-summary' }, info.summary) : null,
    info.description ? h('div', { class: 'md doc-desc' }, markdown(info.description)) : null);
  const { note } = serverBase();
  if (note) head.append(h('p', { class: 'note-box' }, note));
  head.append(h('div', { class: 'doc-tools' },
    h('button', { type: 'button', class: 'small', onclick: () => setAll(true) }, 'Open all'),
    h('button', { type: 'button', class: 'small', onclick: () => setAll(false) }, 'Close all')));
  return head;
}

function setAll(open) {
  for (const o of ops) if (!o.card.hidden) o.card.open = open;
}

function render() {
  ops = [];
  sections = [];
  schemaItems = [];
  schemaGroup = null;
  const paths = doc.paths && typeof doc.paths === 'object' ? doc.paths : {};
  for (const [path, raw] of Object.entries(paths)) {
    const item = deref(raw).value ?? {};
    for (const method of METHODS) {
      const op = item[method];
      if (!op || typeof op !== 'object') continue;
      const tag = Array.isArray(op.tags) && op.tags.length ? String(op.tags[0]) : null;
      ops.push({ method, path, op, item, tag, anchor: `op-${slug(op.operationId ?? `${method}-${path}`)}` });
    }
  }
  // unique anchors
  const seen = new Map();
  for (const o of ops) { const n = seen.get(o.anchor) ?? 0; seen.set(o.anchor, n + 1); if (n) o.anchor += `-${n + 1}`; }

  // tags in the document's order, then the others as they come, then the untagged
  const tagMeta = new Map();
  for (const t of Array.isArray(doc.tags) ? doc.tags : []) if (t?.name) tagMeta.set(String(t.name), t);
  const groups = new Map([...tagMeta.keys()].map(k => [k, []]));
  for (const o of ops) {
    const k = o.tag ?? '\u0000other';
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(o);
  }
  const content = [renderHeader()];
  const tocList = h('ul', { class: 'toc' });
  for (const [tag, list] of groups) {
    if (!list.length) continue;
    const name = tag === '\u0000other' ? 'Other' : tag;
    const meta = tagMeta.get(tag) ?? {};
    const id = `tag-${slug(name)}`;
    const section = h('section', { class: 'tag-section', id, 'aria-labelledby': `${id}-h` },
      h('h2', { id: `${id}-h` }, name),
      meta.description ? h('div', { class: 'md tag-desc' }, markdown(meta.description)) : null);
    const tocGroup = h('li', { class: 'toc-group' }, h('a', { class: 'toc-tag', href: `#${id}` }, name));
    const tocOps = h('ul');
    for (const o of list) {
      o.card = opCard(o);
      section.append(o.card);
      o.tocItem = h('li', h('a', { href: `#${o.anchor}`, title: o.op.summary ?? '' },
        h('span', { class: `method ${o.method}` }, o.method.toUpperCase()), h('span', { class: 'toc-path' }, o.path)));
      tocOps.append(o.tocItem);
    }
    tocGroup.append(tocOps);
    tocList.append(tocGroup);
    sections.push({ section, tocGroup, list });
    content.push(section);
  }
  const schemas = doc.components?.schemas && typeof doc.components.schemas === 'object' ? Object.entries(doc.components.schemas) : [];
  if (schemas.length) {
    const section = h('section', { class: 'tag-section schemas', id: 'schemas', 'aria-labelledby': 'schemas-h' }, h('h2', { id: 'schemas-h' }, 'Schemas'));
    const tocOps = h('ul');
    for (const [name, sch] of schemas) {
      const id = `schema-${slug(name)}`;
      const tree = h('div', { class: 'schema' }, schemaNode({ $ref: `#/components/schemas/${name.replace(/~/g, '~0').replace(/\//g, '~1')}` }, { name }));
      section.append(h('div', { class: 'schema-card', id }, tree));
      const item = h('li', h('a', { href: `#${id}` }, h('span', { class: 'toc-path' }, name)));
      tocOps.append(item);
      schemaItems.push({ name: name.toLowerCase(), item });
    }
    content.push(section);
    schemaGroup = h('li', { class: 'toc-group' }, h('a', { class: 'toc-tag', href: '#schemas' }, 'Schemas'), tocOps);
    tocList.append(schemaGroup);
  }
  if (!ops.length) {
    const empty = !Object.keys(doc).length;
    content.push(h('div', { class: 'note-box empty-doc' },
      h('p', h('strong', empty ? 'The API description is empty.' : 'The API description lists no operations.')),
      h('p', { class: 'muted' }, empty ? 'This server sent /openapi.json as {}: there is nothing to show yet.'
        : 'There is no "paths" object with operations in /openapi.json.')));
  }
  replace(main, content);
  replace(toc, tocList);
  applyFilter();
  openFromHash();
}
function applyFilter() {
  const words = filterInput.value.toLowerCase().split(/\s+/).filter(Boolean);
  for (const o of ops) {
    const hay = `${o.method} ${o.path} ${o.op.summary ?? ''} ${o.op.operationId ?? ''} ${o.tag ?? ''}`.toLowerCase();
    const hit = words.every(w => hay.includes(w));
    o.card.hidden = !hit;
    o.tocItem.hidden = !hit;
  }
  for (const g of sections) {
    const any = g.list.some(o => !o.card.hidden);
    g.section.hidden = !any;
    g.tocGroup.hidden = !any;
  }
  for (const sc of schemaItems) sc.item.hidden = !words.every(w => sc.name.includes(w));
  if (schemaGroup) schemaGroup.hidden = schemaItems.every(sc => sc.item.hidden);
}

function openFromHash() {
  const id = decodeURIComponent(location.hash.slice(1));
  if (!id) return;
  const el = document.getElementById(id);
  if (!el) return;
  if (el.tagName === 'DETAILS') el.open = true;
  const node = el.querySelector('.sch-node');
  if (el.classList.contains('schema-card') && node?.setOpen) node.setOpen(true);
  el.scrollIntoView({ block: 'start' });
  (el.querySelector('summary, .sch-toggle') ?? el).focus({ preventScroll: true });
}

// ------------------------------------------------------------------ keys and start
filterInput.addEventListener('input', applyFilter);
filterInput.addEventListener('keydown', e => {
  if (e.key === 'Escape') { filterInput.value = ''; applyFilter(); }
  if (e.key === 'Enter') { const first = ops.find(o => !o.card.hidden); if (first) { first.card.open = true; first.card.querySelector('summary').focus(); first.card.scrollIntoView({ block: 'start' }); } }
});
const help = document.getElementById('help');
document.getElementById('help-button').addEventListener('click', () => help.showModal());
document.addEventListener('keydown', e => {
  if (e.ctrlKey || e.metaKey || e.altKey || typingIn(e)) return;
  if (e.key === '/') { e.preventDefault(); filterInput.focus(); filterInput.select(); }
  else if (e.key === '?') { e.preventDefault(); if (!help.open) help.showModal(); }
});
window.addEventListener('hashchange', openFromHash);

async function load() {
  const r = await api('GET', '/openapi.json');
  if (!r.ok || !r.json || typeof r.json !== 'object' || Array.isArray(r.json)) {
    replace(main, h('div', { class: 'error-box' }, h('span', { class: 'error-title' }, 'The API description cannot be read.'),
      r.ok ? '/openapi.json is not a JSON object.' : `GET /openapi.json answered ${r.status || 'nothing'}: ${r.error ?? ''}`));
    return;
  }
  doc = r.json;
  ({ base: baseUrl } = serverBase());
  render();
  document.body.dataset.ready = 'true';
}
load();
