// console.js — the Ursa console (/ and /console): one page, four sections chosen by the URL's hash:
//   #datasets[/NAME]    the datasets, each with its schema, buffer, files by day, snapshots, quarantine
//   #query              a SQL editor with history; results as a table and an SVG chart; "live" results
//                       pushed over the WebSocket at /v1/live (docs/internals/live.md)
//   #quarantine[/NAME]  a dataset's refused rows with their reasons
//   #metrics            /metrics polled every few seconds: rates from counter deltas, sparklines
// It speaks only to this node's documented API; every node is built with the DOM (ui.js), never from HTML
// text, so names and records from the server are never markup. A node started with --auth-keys answers
// 401 without an API key: the console then asks for one ("the API key", below) and sends it with every
// request and live connection.
import { h, replace, api, toJSON, fmtInt, fmtNum, fmtBytes, fmtMs, fmtTime, fmtAgo, parseTime, typingIn, apiKey, keyLooksValid, onUnauthorized, unauthorized } from './ui.js';
import { mount, lineChart, barChart, sparkline } from './chart.js';

const $ = id => document.getElementById(id);
const enc = encodeURIComponent;

const state = {
  route: '',
  datasets: [],          // GET /v1/datasets
  datasetsAt: 0,
  datasetsError: null,   // the 401 or 403 answer of the last GET /v1/datasets (then datasets is [])
  node: null,            // GET /v1/nodes
  current: '',           // the dataset looked at last
  shownHash: null,       // the location.hash the page shows
};

// ================================================================== shared bits
function errorBox(title, message, status) {
  return h('div', { class: 'error-box', role: 'alert' },
    h('span', { class: 'error-title' }, status ? `${status} ${title}` : title),
    h('pre', { class: 'error-message' }, message ?? ''),
    status === 401 ? h('button', { type: 'button', class: 'small key-open', onclick: () => keyPrompt.open() }, apiKey.get() ? 'Change the API key' : 'Enter an API key') : null);
}
/** The box for a dataset list that could not be read (401 or 403). */
const datasetsErrorBox = () => errorBox('Cannot list the datasets', state.datasetsError.error, state.datasetsError.status);

function statCard(label, value, sub, cls = '') {
  return h('div', { class: `stat ${cls}` }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value' }, value), sub ? h('div', { class: 'stat-sub' }, sub) : null);
}

function table(headers, rows, { cls = '', caption } = {}) {
  return h('div', { class: `table-wrap ${cls}` }, h('table', { class: 'data' },
    caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
    h('thead', h('tr', headers.map(hd => (typeof hd === 'string' ? h('th', { scope: 'col' }, hd) : h('th', { scope: 'col', class: hd.cls ?? '' }, hd.label))))),
    h('tbody', rows)));
}

function loading(text = 'Loading…') { return h('p', { class: 'empty loading' }, text); }

async function loadDatasets() {
  const r = await api('GET', '/v1/datasets');
  if (r.ok && r.json && Array.isArray(r.json.datasets)) {
    state.datasets = r.json.datasets;
    state.datasetsAt = Date.now();
    state.datasetsError = null;
  } else if (r.status === 401 || r.status === 403) {
    state.datasets = []; // what this key may not list is not shown any longer
    state.datasetsError = r;
  }
  return r;
}

/** The dataset the user looked at last (in any section), else the first one. */
function currentDataset() {
  return state.datasets.some(d => d.name === state.current) ? state.current : state.datasets[0]?.name ?? '';
}
const timeColumnOf = ds => ds?.schema?.time_column;
const columnsOf = ds => (Array.isArray(ds?.schema?.columns) ? ds.schema.columns : []);
const quoteIdent = name => (/^[a-z_][a-z0-9_]*$/.test(name) && !SQL_WORDS.has(name) ? name : `"${name.replace(/"/g, '""')}"`);
const SQL_WORDS = new Set(['all', 'and', 'any', 'array', 'as', 'asc', 'between', 'both', 'case', 'cast', 'check', 'collate', 'column', 'constraint', 'create',
  'current_date', 'current_time', 'current_timestamp', 'current_user', 'default', 'desc', 'distinct', 'do', 'else', 'end', 'except', 'false', 'fetch', 'for',
  'foreign', 'from', 'grant', 'group', 'having', 'in', 'initially', 'intersect', 'into', 'leading', 'limit', 'localtime', 'localtimestamp', 'not', 'null',
  'offset', 'on', 'only', 'or', 'order', 'placing', 'primary', 'references', 'returning', 'select', 'session_user', 'some', 'symmetric', 'table', 'then',
  'to', 'trailing', 'true', 'union', 'unique', 'user', 'using', 'variadic', 'when', 'where', 'window', 'with', 'row', 'rows', 'value', 'values', 'time', 'timestamp']);

// ================================================================== routing
const views = { datasets: $('view-datasets'), query: $('view-query'), quarantine: $('view-quarantine'), metrics: $('view-metrics') };

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [route, ...rest] = raw.split('/');
  return { route: views[route] ? route : 'datasets', arg: rest.length ? decodeURIComponent(rest.join('/')) : '' };
}

function onRoute() {
  if (location.hash === state.shownHash) return; // shown already (a key switched at once, then the event came)
  state.shownHash = location.hash;
  const { route, arg } = parseHash();
  const changed = route !== state.route;
  state.route = route;
  for (const [name, el] of Object.entries(views)) el.hidden = name !== route;
  for (const a of document.querySelectorAll('.tabs a')) {
    if (a.dataset.route === route) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  document.title = `${route[0].toUpperCase()}${route.slice(1)}${arg ? ' · ' + arg : ''} — Ursa console`;
  if (route !== 'metrics') metrics.stop();
  if (route === 'datasets') datasetsView.show(arg);
  else if (route === 'query') queryView.show(changed);
  else if (route === 'quarantine') quarantineView.show(arg);
  else if (route === 'metrics') metrics.start();
}

// ================================================================== node status (top bar)
const nodeState = {
  async check() {
    const el = $('node-state');
    const [health, nodes] = await Promise.all([api('GET', '/healthz'), api('GET', '/v1/nodes')]);
    const ok = health.ok;
    el.classList.toggle('ok', ok);
    el.classList.toggle('down', !ok);
    let text;
    if (!ok) text = health.status ? `unhealthy (${health.status})` : 'unreachable';
    else if (nodes.ok && nodes.json) {
      state.node = nodes.json;
      const n = Array.isArray(nodes.json.nodes) ? nodes.json.nodes.length : 1;
      const stale = (nodes.json.nodes ?? []).filter(x => x.stale).length;
      text = `${nodes.json.self ?? 'node'}${n > 1 ? ` · ${n} nodes` : ''}${stale ? ` · ${stale} stale` : ''}`;
    } else text = 'ok';
    el.querySelector('.node-text').textContent = text;
    el.title = ok ? 'GET /healthz answered 200' : 'GET /healthz did not answer 200';
  },
};

// ================================================================== datasets
const datasetsView = {
  selected: '',
  detailToken: 0,
  timer: null,

  async show(name) {
    if (!state.datasetsAt || Date.now() - state.datasetsAt > 1000) await loadDatasets();
    if (!name && state.datasets.length) {
      name = currentDataset();
      history.replaceState(null, '', `#datasets/${enc(name)}`);
      state.shownHash = location.hash;
    }
    this.selected = name;
    if (name) state.current = name;
    this.renderList();
    this.renderDetail();
    clearInterval(this.timer);
    this.timer = setInterval(() => { if (state.route === 'datasets' && !document.hidden) this.poll(); }, 5000);
  },

  /** The list again (and the buffered counts of the one shown) every few seconds. */
  async poll() {
    const before = toJSON(state.datasets.map(d => [d.name, d.schema]));
    const hadError = !!state.datasetsError;
    const r = await loadDatasets();
    if (!r.ok) { if (state.datasetsError && !hadError) { this.renderList(); this.renderDetail(); } return; }
    if (hadError) { this.renderList(); this.renderDetail(); return; }
    if (toJSON(state.datasets.map(d => [d.name, d.schema])) !== before) this.renderList();
    else this.updateCounts();
    if (!this.selected && state.datasets.length) location.hash = `#datasets/${enc(state.datasets[0].name)}`;
  },

  renderList() {
    const list = $('ds-items');
    const words = $('ds-filter').value.toLowerCase().split(/\s+/).filter(Boolean);
    $('ds-count').textContent = String(state.datasets.length);
    const items = state.datasets.filter(d => words.every(w => d.name.includes(w) || columnsOf(d).some(c => c.name.includes(w))));
    const focused = document.activeElement?.closest?.('#ds-items a')?.dataset.name;
    replace(list, items.map(d => h('li', h('a', {
      href: `#datasets/${enc(d.name)}`, class: d.name === this.selected ? 'active' : '', dataset: { name: d.name },
      'aria-current': d.name === this.selected ? 'true' : null,
    }, h('span', { class: 'ds-name' }, d.name),
    h('span', { class: 'ds-meta' }, h('span', { class: 'ds-rows', dataset: { count: d.name } }, `${fmtInt(d.buffered_rows)} buffered`), ` · ${columnsOf(d).length} columns`)))));
    if (state.datasetsError) list.append(h('li', { class: 'empty' }, `Cannot list them (${state.datasetsError.status}).`));
    else if (!state.datasets.length) list.append(h('li', { class: 'empty' }, 'No datasets yet.'));
    else if (!items.length) list.append(h('li', { class: 'empty' }, 'None matches.'));
    if (focused) list.querySelector(`a[data-name="${CSS.escape(focused)}"]`)?.focus();
  },

  updateCounts() {
    for (const d of state.datasets) {
      const el = document.querySelector(`.ds-rows[data-count="${CSS.escape(d.name)}"]`);
      if (el) el.textContent = `${fmtInt(d.buffered_rows)} buffered`;
    }
    const d = state.datasets.find(x => x.name === this.selected);
    if (d) {
      const rows = $('ds-detail').querySelector('[data-stat="buffered_rows"] .stat-value');
      const bytes = $('ds-detail').querySelector('[data-stat="buffered_bytes"] .stat-value');
      if (rows) rows.textContent = fmtInt(d.buffered_rows);
      if (bytes) bytes.textContent = fmtBytes(d.buffered_bytes);
    }
  },

  async renderDetail() {
    const box = $('ds-detail');
    const token = ++this.detailToken;
    const name = this.selected;
    if (state.datasetsError) { replace(box, datasetsErrorBox()); return; }
    if (!state.datasets.length) {
      replace(box, h('div', { class: 'panel welcome' },
        h('h2', 'No datasets yet'),
        h('p', 'Create one with its schema, then send it records:'),
        h('pre', { class: 'code-sample' }, `curl -X PUT ${location.origin}/v1/datasets/events -d '{
  "columns": [{"name": "ts", "type": "timestamp", "nullable": false},
              {"name": "event", "type": "string"}, {"name": "value", "type": "float64"}],
  "time_column": "ts"}'`),
        h('p', h('a', { href: '/docs' }, 'The API reference'), ' has every endpoint, with a form to try each.')));
      return;
    }
    const ds = state.datasets.find(d => d.name === name);
    if (!ds) { replace(box, errorBox('No such dataset', `There is no dataset named ${name}.`)); return; }
    replace(box, h('div', { class: 'panel' }, h('h2', name), loading()));
    const [files, snaps, quar] = await Promise.all([
      api('GET', `/v1/datasets/${enc(name)}/files`),
      api('GET', `/v1/datasets/${enc(name)}/snapshots`),
      api('GET', `/v1/datasets/${enc(name)}/quarantine?limit=0`),
    ]);
    if (token !== this.detailToken) return; // another dataset was chosen meanwhile
    replace(box, this.detail(ds, files, snaps, quar));
  },

  detail(ds, files, snaps, quar) {
    const name = ds.name;
    const schema = ds.schema ?? {};
    const f = files.ok ? files.json : null;
    const q = quar.ok ? quar.json : null;
    const sn = snaps.ok ? snaps.json : null;
    const days = new Map();
    for (const file of f?.files ?? []) {
      const d = days.get(file.date) ?? { date: file.date, files: [], rows: 0, bytes: 0 };
      d.files.push(file); d.rows += Number(file.rows ?? 0); d.bytes += Number(file.bytes ?? 0);
      days.set(file.date, d);
    }
    const dayList = [...days.values()].sort((a, b) => String(b.date).localeCompare(String(a.date)));
    const snapList = (sn?.snapshots ?? []).slice().reverse();

    const flushBtn = h('button', { type: 'button', class: 'small', title: 'Write the buffered rows as Parquet now (POST …/flush)' }, 'Flush now');
    flushBtn.addEventListener('click', async () => {
      flushBtn.disabled = true; flushBtn.textContent = 'Flushing…';
      const r = await api('POST', `/v1/datasets/${enc(name)}/flush`);
      if (!r.ok) { alertBox.replaceChildren(errorBox('Flush failed', r.error, r.status)); flushBtn.disabled = false; flushBtn.textContent = 'Flush now'; return; }
      await loadDatasets();
      this.renderList();
      this.renderDetail();
    });
    const alertBox = h('div');
    const tc = schema.time_column;
    const sortBy = Array.isArray(schema.sort_by) && schema.sort_by.length ? schema.sort_by : tc ? [tc] : [];

    const head = h('div', { class: 'detail-head' },
      h('h2', { id: 'ds-detail-h' }, name),
      h('div', { class: 'detail-actions' },
        h('a', { class: 'button small', href: '#query', dataset: { sql: sampleSql(ds, 'latest') }, onclick: e => openInEditor(e.currentTarget.dataset.sql) }, 'Query'),
        h('a', { class: 'button small', href: `#quarantine/${enc(name)}` }, 'Quarantine'),
        flushBtn));
    const stats = h('div', { class: 'stats' },
      h('div', { dataset: { stat: 'buffered_rows' }, class: 'stat-wrap' }, statCard('Buffered rows', fmtInt(ds.buffered_rows), 'in memory, not yet in files')),
      h('div', { dataset: { stat: 'buffered_bytes' }, class: 'stat-wrap' }, statCard('Buffer memory', fmtBytes(ds.buffered_bytes))),
      statCard('Stored rows', f ? fmtInt(f.rows) : '—', f ? `${fmtBytes(f.bytes)} in ${fmtInt(f.files?.length ?? 0)} files` : 'no table'),
      statCard('Days', f ? fmtInt(days.size) : '—', dayList.length > 1 ? `${dayList[dayList.length - 1].date} … ${dayList[0].date}` : dayList[0]?.date),
      statCard('Snapshots', sn ? fmtInt(sn.snapshots?.length ?? 0) : '—', sn && sn.metadata_version !== undefined ? `metadata v${sn.metadata_version}` : null),
      h('a', { class: 'stat-link', href: `#quarantine/${enc(name)}`, 'aria-label': `Quarantine of ${name}` },
        statCard('Quarantined', q ? fmtInt(q.totals?.rows ?? 0) : '—', q ? `${fmtInt(q.totals?.buffered_rows ?? 0)} buffered · ${fmtInt(q.totals?.file_rows ?? 0)} in files` : null, q && q.totals?.rows ? 'warn' : '')));

    const schemaRows = columnsOf(ds).map(c => {
      const extras = [];
      if (c.unit !== undefined && c.unit !== 'us') extras.push(`unit ${c.unit}`);
      for (const k of ['precision', 'scale', 'encoding']) if (c[k] !== undefined) extras.push(`${k} ${c[k]}`);
      if (c.utc === false) extras.push('wall clock');
      for (const k of ['aliases', 'default', 'coerce', 'trim', 'case', 'epoch', 'formats', 'enum', 'min', 'max', 'max_length', 'bloom_filter']) {
        if (c[k] === undefined || c[k] === false) continue;
        const v = c[k] === true ? '' : ` ${Array.isArray(c[k]) ? c[k].slice(0, 8).map(x => JSON.stringify(x)).join(', ') + (c[k].length > 8 ? ', …' : '') : JSON.stringify(c[k])}`;
        extras.push(`${k}${v}`);
      }
      return h('tr',
        h('td', h('code', { class: 'col-name' }, c.name),
          c.name === tc ? h('span', { class: 'badge accent', title: 'the time column: picks each row\'s day' }, 'time') : null,
          sortBy.includes(c.name) ? h('span', { class: 'badge', title: `sort key #${sortBy.indexOf(c.name) + 1}` }, `sort ${sortBy.indexOf(c.name) + 1}`) : null),
        h('td', h('span', { class: 'type' }, c.type)),
        h('td', c.nullable === false ? h('span', { class: 'badge' }, 'not null') : h('span', { class: 'muted' }, 'nullable')),
        h('td', { class: 'extras' }, extras.map(x => h('span', { class: 'chip' }, x))));
    });
    const settings = [];
    if (schema.unknown_fields) settings.push(`unknown fields: ${schema.unknown_fields}`);
    if (schema.flush) settings.push(`flush: ${toJSON(schema.flush)}`);
    if (sortBy.length) settings.push(`sort by: ${sortBy.join(', ')}`);

    const daysTable = !f ? errorBox('Files', files.error, files.status)
      : !dayList.length ? h('p', { class: 'muted' }, 'Nothing flushed yet: every row is in the buffer.')
      : table(['Day', { label: 'Files', cls: 'num' }, { label: 'Rows', cls: 'num' }, { label: 'Bytes', cls: 'num' }, 'Files'], dayList.map(d =>
        h('tr', h('td', h('code', d.date)), h('td', { class: 'num' }, fmtInt(d.files.length)), h('td', { class: 'num' }, fmtInt(d.rows)),
          h('td', { class: 'num' }, fmtBytes(d.bytes)),
          h('td', h('details', { class: 'file-list' }, h('summary', `${d.files.length} file${d.files.length === 1 ? '' : 's'}`),
            h('ul', d.files.map(file => h('li', h('code', file.path), h('span', { class: 'muted' }, ` ${fmtInt(file.rows)} rows, ${fmtBytes(file.bytes)}`)))))))),
      { caption: 'Stored files by day' });

    const snapsTable = !sn ? errorBox('Snapshots', snaps.error, snaps.status)
      : !snapList.length ? h('p', { class: 'muted' }, 'No snapshot yet: the table gets one at each flush.')
      : table(['Snapshot', 'Time', 'Operation', { label: 'Files added', cls: 'num' }, { label: 'Rows added', cls: 'num' }, { label: 'Bytes added', cls: 'num' }, 'Node'],
        snapList.slice(0, 50).map(x => {
          const s = x.summary ?? {};
          const current = String(x.snapshot_id) === String(sn.current_snapshot_id);
          return h('tr', { class: current ? 'current' : '' },
            h('td', h('code', String(x.snapshot_id)), current ? h('span', { class: 'badge ok' }, 'current') : null),
            h('td', { title: fmtTime(Number(x.timestamp_ms)) }, fmtTime(Number(x.timestamp_ms)), h('span', { class: 'muted' }, ` · ${fmtAgo(Number(x.timestamp_ms))}`)),
            h('td', s.operation ?? ''),
            h('td', { class: 'num' }, fmtInt(Number(s['added-data-files'] ?? 0))),
            h('td', { class: 'num' }, fmtInt(Number(s['added-records'] ?? 0))),
            h('td', { class: 'num' }, fmtBytes(Number(s['added-files-size'] ?? 0))),
            h('td', s['ursa.node'] ?? ''));
        }), { caption: 'Snapshots, newest first' });

    return h('article', { class: 'panel detail', 'aria-labelledby': 'ds-detail-h' }, head, alertBox, stats,
      h('section', { class: 'detail-section' }, h('h3', 'Schema'), settings.length ? h('p', { class: 'muted settings' }, settings.join(' · ')) : null,
        table(['Column', 'Type', 'Null', 'Rules'], schemaRows, { cls: 'schema-table', caption: `Schema of ${name}` })),
      h('div', { class: 'detail-cols' },
        h('section', { class: 'detail-section' }, h('h3', 'Files by day'), daysTable),
        h('section', { class: 'detail-section' }, h('h3', 'Snapshots', snapList.length > 50 ? h('span', { class: 'muted' }, ` (newest 50 of ${snapList.length})`) : null), snapsTable)));
  },
};
$('ds-filter').addEventListener('input', () => datasetsView.renderList());
$('ds-filter').addEventListener('keydown', e => {
  if (e.key === 'Escape') { e.target.value = ''; datasetsView.renderList(); }
  if (e.key === 'Enter' || e.key === 'ArrowDown') { const a = $('ds-items').querySelector('a'); if (a) { e.preventDefault(); a.focus(); if (e.key === 'Enter') a.click(); } }
});
$('ds-items').addEventListener('keydown', e => {
  if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
  const links = [...$('ds-items').querySelectorAll('a')];
  const i = links.indexOf(document.activeElement);
  if (i < 0) return;
  e.preventDefault();
  links[Math.max(0, Math.min(links.length - 1, i + (e.key === 'ArrowDown' ? 1 : -1)))].focus();
});
$('ds-refresh').addEventListener('click', async () => { await loadDatasets(); datasetsView.renderList(); datasetsView.renderDetail(); });

/** A ready query for a dataset: 'latest' rows, rows 'per_minute', or a 'count' by its first string column. */
function sampleSql(ds, kind) {
  const name = ds.name;
  const tc = timeColumnOf(ds);
  const cols = columnsOf(ds);
  if (kind === 'latest') return `SELECT *\nFROM ${name}${tc ? `\nORDER BY ${quoteIdent(tc)} DESC` : ''}\nLIMIT 100`;
  if (kind === 'per_minute' && tc) {
    const num = cols.find(c => /^(float\d+|decimal)$/.test(c.type)) ?? cols.find(c => /^u?int\d+$/.test(c.type) && !/(^|_)id$/.test(c.name));
    return `SELECT date_trunc('minute', ${quoteIdent(tc)}) AS minute, count(*) AS rows${num ? `, avg(${quoteIdent(num.name)}) AS avg_${num.name}` : ''}\nFROM ${name}\nGROUP BY 1\nORDER BY 1`;
  }
  const str = cols.find(c => c.type === 'string');
  if (kind === 'count' && str) return `SELECT ${quoteIdent(str.name)}, count(*) AS rows\nFROM ${name}\nGROUP BY 1\nORDER BY 2 DESC\nLIMIT 20`;
  return `SELECT count(*) FROM ${name}`;
}

function openInEditor(sql) {
  queryView.setSql(sql, true);
  if (location.hash !== '#query') location.hash = '#query';
  setTimeout(() => $('sql').focus(), 0);
}

// ================================================================== query: history
const HISTORY_KEY = 'ursa.console.history', DRAFT_KEY = 'ursa.console.draft', CHART_KEY = 'ursa.console.chart';
const HISTORY_MAX = 100;
const store = {
  get(k, d) { try { const v = localStorage.getItem(k); return v === null ? d : JSON.parse(v); } catch { return d; } },
  set(k, v) { try { localStorage.setItem(k, JSON.stringify(v)); } catch { /* full or disabled: the console works without */ } },
};

const historyNav = {
  list: store.get(HISTORY_KEY, []).filter(e => e && typeof e.sql === 'string'),
  pos: -1,        // -1: the draft; 0: the newest entry
  draft: '',

  push(sql) {
    const t = sql.trim();
    if (!t) return;
    this.list = [{ sql: t, at: Date.now() }, ...this.list.filter(e => e.sql !== t)].slice(0, HISTORY_MAX);
    store.set(HISTORY_KEY, this.list);
    this.pos = -1;
    this.render();
  },
  move(delta) {
    const next = Math.max(-1, Math.min(this.list.length - 1, this.pos + delta));
    if (next === this.pos) return;
    if (this.pos === -1) this.draft = $('sql').value;
    this.pos = next;
    $('sql').value = next === -1 ? this.draft : this.list[next].sql;
    store.set(DRAFT_KEY, $('sql').value);
    this.render();
  },
  render() {
    $('hist-pos').textContent = this.pos >= 0 ? `${this.pos + 1} / ${this.list.length}` : this.list.length ? `${this.list.length} in history` : '';
    $('hist-prev').disabled = this.pos >= this.list.length - 1;
    $('hist-next').disabled = this.pos < 0;
    replace($('history-list'), this.list.slice(0, 25).map((e, i) => h('li', { class: i === this.pos ? 'current' : '' },
      h('button', { type: 'button', class: 'hist-item', title: e.sql, onclick: () => {
        if (this.pos === -1) this.draft = $('sql').value;
        this.pos = i; $('sql').value = e.sql; store.set(DRAFT_KEY, e.sql); this.render(); $('sql').focus();
      } }, h('span', { class: 'hist-sql' }, e.sql.replace(/\s+/g, ' ')), h('span', { class: 'hist-at' }, fmtAgo(e.at))))));
    if (!this.list.length) $('history-list').append(h('li', { class: 'empty' }, 'Queries you run are kept here (in this browser).'));
  },
};

// ================================================================== query: results and charts
const NUMERIC = new Set(['bigint', 'double', 'integer', 'int', 'float', 'real', 'decimal', 'smallint', 'hugeint', 'numeric']);
const TIME = new Set(['timestamp', 'date', 'timestamptz', 'timestamp with time zone']);
const num = v => (v === null || v === undefined ? null : typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(+v) ? +v : null);

/** What chart a result makes: {kind: 'line'|'bar', spec} or {kind: null, why}. mode: auto, line, bar, off. */
function chartFor(result, mode) {
  const cols = result.columns ?? [], rows = result.rows ?? [];
  if (mode === 'off') return { kind: null, why: 'Charts are off.' };
  if (cols.length < 2) return { kind: null, why: 'A chart needs two columns or more: a time or a group first, then numbers.' };
  if (!rows.length) return { kind: null, why: 'No rows to draw.' };
  const t0 = String(cols[0].type).toLowerCase();
  const values = cols.map((c, i) => ({ c, i })).slice(1).filter(x => NUMERIC.has(String(x.c.type).toLowerCase()));
  if (!values.length) return { kind: null, why: 'No number column after the first: nothing to draw.' };
  const firstIsTime = TIME.has(t0), firstIsNum = NUMERIC.has(t0);
  let kind = mode;
  if (mode === 'auto') kind = firstIsTime ? 'line' : !firstIsNum ? 'bar' : rows.length > 60 ? 'line' : 'bar';
  if (kind === 'line') {
    if (!firstIsTime && !firstIsNum) return { kind: null, why: `A line needs a time or a number first; ${cols[0].name} is ${cols[0].type}.` };
    const xOf = v => (firstIsTime ? parseTime(v) : num(v));
    // A second column of text makes one line per value (time, group, numbers: GROUP BY 1, 2).
    const group = cols.length >= 3 && !NUMERIC.has(String(cols[1].type).toLowerCase()) && !TIME.has(String(cols[1].type).toLowerCase()) ? 1 : -1;
    const valueCols = values.filter(x => x.i !== group);
    const xs = [...new Set(rows.map(r => xOf(r[0])).filter(Number.isFinite))].sort((a, b) => a - b);
    if (!xs.length) return { kind: null, why: `No ${firstIsTime ? 'time' : 'number'} in the first column.` };
    const index = new Map(xs.map((x, i) => [x, i]));
    const seriesMap = new Map();
    for (const r of rows) {
      const xi = index.get(xOf(r[0]));
      if (xi === undefined) continue;
      for (const vc of valueCols) {
        const key = group >= 0 ? `${r[group] ?? 'null'}${valueCols.length > 1 ? ' · ' + vc.c.name : ''}` : vc.c.name;
        if (!seriesMap.has(key)) seriesMap.set(key, { name: key, values: new Array(xs.length).fill(null), total: 0 });
        const se = seriesMap.get(key);
        const v = num(r[vc.i]);
        se.values[xi] = v;
        se.total += Math.abs(v ?? 0);
      }
    }
    let series = [...seriesMap.values()];
    let note = '';
    if (series.length > 8) { note = `The 8 largest of ${series.length} series.`; series = series.sort((a, b) => b.total - a.total).slice(0, 8); }
    return { kind: 'line', spec: { x: xs, series, time: firstIsTime, xName: cols[0].name }, note };
  }
  const limit = 60;
  const shown = rows.slice(0, limit);
  return { kind: 'bar', note: rows.length > limit ? `The first ${limit} of ${rows.length} groups.` : '',
    spec: { categories: shown.map(r => (r[0] === null ? 'null' : String(r[0]))), xName: cols[0].name,
      series: values.map(x => ({ name: x.c.name, values: shown.map(r => num(r[x.i])) })) } };
}

function cellNode(v, type) {
  if (v === null || v === undefined) return h('td', { class: 'null' }, 'null');
  const t = String(type).toLowerCase();
  if (typeof v === 'object' && typeof v !== 'bigint') return h('td', { class: 'mono' }, toJSON(v));
  if (NUMERIC.has(t)) return h('td', { class: 'num' }, typeof v === 'number' && !Number.isInteger(v) ? String(+v.toPrecision(12)) : String(v));
  if (t === 'boolean') return h('td', { class: 'bool' }, String(v));
  if (TIME.has(t)) return h('td', { class: 'time' }, String(v));
  const text = String(v);
  return h('td', { title: text.length > 120 ? text : null }, text.length > 300 ? text.slice(0, 300) + '…' : text);
}

const resultView = {
  last: null,          // {result, ms, source}
  sort: null,          // {col, dir}
  showAll: false,
  chartMode: store.get(CHART_KEY, 'auto'),

  needsKey: false,     // the result shown is a 401: run the query again once a key is given

  /** Draws a result (a POST answer or a live push). A live push keeps the table's scroll and sort. */
  draw(result, { ms, source = 'query', seq, skipped } = {}) {
    this.needsKey = false;
    const keepScroll = $('result').querySelector('.result-table')?.scrollTop ?? 0;
    if (source === 'query') { this.sort = null; this.showAll = false; }
    this.last = { result, ms, source, seq, skipped, at: Date.now() };
    this.render(source === 'live' ? keepScroll : 0);
  },

  render(scrollTop = 0) {
    const box = $('result');
    const { result, ms, source, seq, skipped, at } = this.last;
    const cols = result.columns ?? [], rows = result.rows ?? [], st = result.stats ?? {};
    const meta = h('div', { class: 'result-meta' },
      h('span', { class: 'result-count' }, h('strong', fmtInt(rows.length)), ` row${rows.length === 1 ? '' : 's'}`),
      st.seconds !== undefined ? h('span', `${fmtMs(st.seconds * 1000)} on the server`) : null,
      ms !== undefined ? h('span', `${fmtMs(ms)} round trip`) : null,
      st.rows_scanned !== undefined ? h('span', `${fmtInt(st.rows_scanned)} scanned (${fmtInt(st.live_rows ?? 0)} buffered)`) : null,
      st.files !== undefined ? h('span', `files ${fmtInt((st.files ?? 0) - (st.files_pruned ?? 0))} of ${fmtInt(st.files)} read`) : null,
      st.partial ? h('span', { class: 'badge warn', title: `missing: ${(st.missing ?? []).join(', ')}` }, 'partial') : null,
      source === 'live' ? h('span', { class: 'badge accent live-badge' }, `live #${seq}${skipped ? ` (+${skipped} coalesced)` : ''} · ${new Date(at).toLocaleTimeString()}`) : null,
      h('span', { class: 'spacer' }),
      h('label', { for: 'chart-mode' }, 'Chart'),
      h('select', { id: 'chart-mode', onchange: e => { this.chartMode = e.target.value; store.set(CHART_KEY, this.chartMode); this.render(); } },
        [['auto', 'Auto'], ['line', 'Line'], ['bar', 'Bars'], ['off', 'Off']].map(([v, l]) => h('option', { value: v, selected: v === this.chartMode }, l))));

    const chart = chartFor(result, this.chartMode);
    const chartHost = h('div', { class: 'chart-host', dataset: { kind: chart.kind ?? 'none' } });
    const chartBox = chart.kind ? h('figure', { class: 'panel chart-panel' }, chartHost, chart.note ? h('figcaption', { class: 'muted' }, chart.note) : null)
      : h('p', { class: 'muted chart-none' }, chart.why);

    // the table, sortable by a column
    let order = rows.map((_, i) => i);
    if (this.sort) {
      const { col, dir } = this.sort;
      const t = String(cols[col]?.type).toLowerCase();
      const key = v => (v === null || v === undefined ? null : NUMERIC.has(t) ? num(v) : TIME.has(t) ? parseTime(v) : String(v));
      order.sort((a, b) => {
        const x = key(rows[a][col]), y = key(rows[b][col]);
        if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
        return (x < y ? -1 : x > y ? 1 : 0) * dir;
      });
    }
    const cap = this.showAll ? 10000 : 500;
    const shown = order.slice(0, cap);
    const thead = h('tr', h('th', { class: 'rownum', scope: 'col' }, '#'), cols.map((c, i) => {
      const sorted = this.sort?.col === i ? this.sort.dir : 0;
      return h('th', { scope: 'col', class: NUMERIC.has(String(c.type).toLowerCase()) ? 'num' : '', 'aria-sort': sorted ? (sorted > 0 ? 'ascending' : 'descending') : null },
        h('button', { type: 'button', class: 'th-sort', title: `Sort by ${c.name}`, onclick: () => {
          this.sort = sorted === 1 ? { col: i, dir: -1 } : sorted === -1 ? null : { col: i, dir: 1 };
          this.render(); document.querySelectorAll('.th-sort')[i]?.focus();
        } }, h('span', { class: 'th-name' }, c.name), h('span', { class: 'th-type' }, c.type), sorted ? h('span', { class: 'th-dir', 'aria-hidden': 'true' }, sorted > 0 ? '▲' : '▼') : null));
    }));
    const tbody = h('tbody', shown.map(ri => h('tr', h('td', { class: 'rownum' }, String(ri + 1)), cols.map((c, ci) => cellNode(rows[ri][ci], c.type)))));
    const tableBox = h('div', { class: 'table-wrap result-table' }, h('table', { class: 'data results' }, h('caption', { class: 'visually-hidden' }, 'Query result'), h('thead', thead), tbody));
    const more = rows.length > shown.length
      ? h('p', { class: 'muted more' }, `Showing ${fmtInt(shown.length)} of ${fmtInt(rows.length)} rows. `,
        !this.showAll ? h('button', { type: 'button', class: 'link', onclick: () => { this.showAll = true; this.render(); } }, `Show ${rows.length > 10000 ? 'the first 10,000' : 'all'}`) : null)
      : null;
    replace(box, meta, chartBox, cols.length ? tableBox : h('p', { class: 'muted' }, 'The query returned no columns.'), more);
    if (chart.kind) mount(chartHost, w => (chart.kind === 'line' ? lineChart(chart.spec, w, chartHeight()) : barChart(chart.spec, w, chartHeight())));
    tableBox.scrollTop = scrollTop;
  },

  error(r, { source = 'query' } = {}) {
    const title = r.status ? (r.statusText || STATUS_TEXT[r.status] || 'Error') : 'No answer';
    this.needsKey = r.status === 401;
    const box = $('result');
    replace(box, errorBox(source === 'live' ? `Live query failed: ${title}` : title, r.error ?? '', r.status || ''));
  },
};
const STATUS_TEXT = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 406: 'Not Acceptable', 408: 'Request Timeout', 413: 'Payload Too Large', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' };
const chartHeight = () => Math.max(220, Math.min(340, Math.round(window.innerHeight * 0.34)));

// ================================================================== query: live subscriptions
/**
 * A live query over the WebSocket at /v1/live: subscribe with SQL, a result pushed at each change.
 * The connection is opened again after a drop (1 s, 2 s, 4 s … up to 15 s apart) and the query
 * subscribed again; the state is shown beside the toggle. It offers the subprotocol "ursa.v1", and with an
 * API key "ursa.bearer.<key>" too (a browser cannot set Authorization on a WebSocket). A node that wants a
 * key refuses the upgrade with 401, which a page cannot see: a connection that never opened is followed by
 * GET /v1/nodes, and a 401 there waits for a key (keyChanged) instead of retrying.
 */
const live = {
  ws: null,
  want: false,
  sql: '',
  id: '',
  seq: 0,
  n: 0,
  retries: 0,
  timer: null,
  opened: false,

  setState(kind, text) {
    const el = $('live-state');
    el.hidden = kind === 'off';
    el.className = `live-state ${kind}`;
    el.dataset.state = kind;
    el.textContent = text;
  },

  start(sql) {
    this.sql = sql;
    this.want = true;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.subscribe();
    else if (!this.ws || this.ws.readyState === WebSocket.CLOSED || this.ws.readyState === WebSocket.CLOSING) this.connect();
  },

  stop() {
    this.want = false;
    clearTimeout(this.timer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      if (ws.readyState === WebSocket.OPEN) {
        if (this.id) ws.send(JSON.stringify({ type: 'unsubscribe', id: this.id }));
        ws.close(1000, 'live off');
      } else if (ws.readyState === WebSocket.CONNECTING) ws.onopen = () => ws.close(1000, 'live off');
    }
    this.id = '';
    this.setState('off', '');
  },

  connect() {
    clearTimeout(this.timer);
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/live`;
    this.setState('connecting', 'connecting…');
    const key = apiKey.get();
    let ws;
    // (e.name, not e.message: the message of a refused subprotocol would quote the key)
    try { ws = new WebSocket(url, key ? ['ursa.v1', `ursa.bearer.${key}`] : ['ursa.v1']); } catch (e) { this.dropped(`cannot open: ${e.name}`); return; }
    this.ws = ws;
    this.opened = false;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.opened = true;
      this.retries = 0;
      this.setState('subscribing', 'connected, subscribing…');
      this.subscribe();
    };
    ws.onmessage = ev => { if (ws === this.ws) this.message(ev.data); };
    ws.onclose = async ev => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.id = '';
      const why = this.opened ? `closed (${ev.code}${ev.reason ? ': ' + ev.reason : ''})` : 'cannot connect';
      if (!this.opened && this.want) {
        const r = await api('GET', '/v1/nodes'); // a 401 opens the key prompt too
        if (!this.want || this.ws) return;
        if (r.status === 401) { this.setState('needs-key', 'needs an API key'); return; }
      }
      this.dropped(why);
    };
    ws.onerror = () => { /* onclose follows and says what happened */ };
  },

  subscribe() {
    if (this.id && this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'unsubscribe', id: this.id }));
    this.id = `q${++this.n}`;
    this.seq = 0;
    this.ws.send(JSON.stringify({ type: 'subscribe', id: this.id, sql: this.sql, max_rate: 2 }));
    this.setState('subscribing', 'subscribed, waiting for the first result…');
  },

  message(text) {
    let m;
    try { m = JSON.parse(text); } catch { return; }
    if (!m || typeof m !== 'object') return;
    if (m.type === 'result' && m.id === this.id && m.result) {
      this.seq = m.seq;
      resultView.draw(m.result, { source: 'live', seq: m.seq, skipped: m.skipped });
      this.setState('live', `live · result ${m.seq}`);
    } else if (m.type === 'error' && (m.id === undefined || m.id === this.id)) {
      if (m.ended || m.id === undefined) {
        resultView.error({ status: m.status, error: m.error }, { source: 'live' });
        if (m.id !== undefined) {
          this.id = '';
          this.setState('error', `stopped: ${m.status ?? ''} error`);
        }
        if (m.status === 401) unauthorized({ status: 401, error: m.error }); // the key was removed from the node
      } else this.setState('warn', `live · last run failed (${m.status}): ${m.error}`);
    }
  },

  /** The API key changed: connect again with the new one (and subscribe again). */
  keyChanged() {
    if (!this.want) return;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    this.id = '';
    if (ws) { ws.onclose = null; ws.close(1000, 'key changed'); }
    this.retries = 0;
    this.connect();
  },

  dropped(why) {
    if (!this.want) { this.setState('off', ''); return; }
    const delay = Math.min(15, 2 ** Math.min(this.retries, 4));
    this.retries++;
    let left = delay;
    const tick = () => {
      if (!this.want) return;
      if (left <= 0) { this.connect(); return; }
      this.setState('reconnecting', `${why} · reconnecting in ${left} s`);
      left--;
      this.timer = setTimeout(tick, 1000);
    };
    tick();
  },
};

// ================================================================== query: the view
const queryView = {
  running: null,

  async show(entered) {
    historyNav.render();
    this.renderSide();
    if (Date.now() - state.datasetsAt > 5000) loadDatasets().then(() => this.renderSide());
    if (entered && !$('sql').value.trim()) {
      const first = state.datasets[0];
      if (first) $('sql').value = sampleSql(first, timeColumnOf(first) ? 'per_minute' : 'latest');
    }
    if (entered && document.activeElement === document.body) $('sql').focus();
  },

  setSql(sql, run = false) {
    if (historyNav.pos === -1 && $('sql').value.trim() && $('sql').value !== sql) historyNav.draft = $('sql').value;
    historyNav.pos = -1;
    $('sql').value = sql;
    store.set(DRAFT_KEY, sql);
    historyNav.render();
    if (run) this.run();
  },

  renderSide() {
    const box = $('side-datasets');
    if (state.datasetsError) { replace(box, h('p', { class: 'muted' }, `Cannot list them (${state.datasetsError.status}).`)); return; }
    if (!state.datasets.length) { replace(box, h('p', { class: 'muted' }, 'No datasets yet.')); return; }
    replace(box, state.datasets.map(ds => h('details', { class: 'side-ds', open: state.datasets.length <= 3 },
      h('summary', h('span', { class: 'ds-name' }, ds.name), h('span', { class: 'muted' }, ` ${fmtInt(ds.buffered_rows)} buffered`)),
      h('div', { class: 'side-samples' },
        [['latest', 'Latest rows'], ['per_minute', 'Rows per minute'], ['count', 'Count by group']]
          .filter(([k]) => k !== 'per_minute' || timeColumnOf(ds)).filter(([k]) => k !== 'count' || columnsOf(ds).some(c => c.type === 'string'))
          .map(([k, label]) => h('button', { type: 'button', class: 'small', onclick: () => { this.setSql(sampleSql(ds, k), true); $('sql').focus(); } }, label))),
      h('ul', { class: 'side-cols' }, columnsOf(ds).map(c => h('li',
        h('button', { type: 'button', class: 'col-insert', title: `Insert ${c.name}`, onclick: () => insertAtCursor(quoteIdent(c.name)) }, c.name),
        h('span', { class: 'type' }, c.type)))),
      h('button', { type: 'button', class: 'link small-link', onclick: () => insertAtCursor(`${ds.name}.quarantine`) }, `${ds.name}.quarantine`))));
  },

  async run() {
    const sql = $('sql').value.trim();
    if (!sql) { $('sql').focus(); return; }
    historyNav.push(sql);
    store.set(DRAFT_KEY, $('sql').value);
    if ($('live-toggle').checked) live.start(sql);
    this.running?.abort();
    const ctl = new AbortController();
    this.running = ctl;
    $('run').disabled = true;
    $('result').classList.add('busy');
    let r;
    try {
      r = await api('POST', '/v1/query', { body: { sql }, signal: ctl.signal });
    } catch { return; } finally {
      if (this.running === ctl) { this.running = null; $('run').disabled = false; $('result').classList.remove('busy'); }
    }
    if (ctl.signal.aborted) return;
    if (!r.ok) resultView.error(r);
    else if (!r.json || !Array.isArray(r.json.columns)) resultView.error({ status: r.status, error: 'the answer is not a query result' });
    else if (!$('live-toggle').checked || live.seq === 0) resultView.draw(r.json, { ms: r.ms });
  },
};

function insertAtCursor(text) {
  const ta = $('sql');
  const { selectionStart: a, selectionEnd: b, value } = ta;
  ta.value = value.slice(0, a) + text + value.slice(b);
  ta.selectionStart = ta.selectionEnd = a + text.length;
  ta.focus();
  store.set(DRAFT_KEY, ta.value);
}

$('sql').value = store.get(DRAFT_KEY, '');
$('sql').addEventListener('input', () => { store.set(DRAFT_KEY, $('sql').value); if (historyNav.pos !== -1) { historyNav.pos = -1; historyNav.render(); } });
$('sql').addEventListener('keydown', e => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); queryView.run(); }
  else if ((e.key === 'ArrowUp' || e.key === 'ArrowDown') && (e.ctrlKey || e.metaKey)) { e.preventDefault(); historyNav.move(e.key === 'ArrowUp' ? 1 : -1); }
  else if (e.key === 'Escape') { e.preventDefault(); $('run').focus(); }
});
$('run').addEventListener('click', () => queryView.run());
$('hist-prev').addEventListener('click', () => historyNav.move(1));
$('hist-next').addEventListener('click', () => historyNav.move(-1));
$('hist-clear').addEventListener('click', () => { historyNav.list = []; historyNav.pos = -1; store.set(HISTORY_KEY, []); historyNav.render(); });
$('live-toggle').addEventListener('change', e => {
  if (e.target.checked) {
    const sql = $('sql').value.trim();
    if (!sql) { e.target.checked = false; $('sql').focus(); return; }
    live.seq = 0;
    live.start(sql);
  } else live.stop();
});

// ================================================================== quarantine
const quarantineView = {
  name: '',
  token: 0,

  async show(name) {
    if (!state.datasetsAt || Date.now() - state.datasetsAt > 1000) await loadDatasets();
    const sel = $('qu-dataset');
    replace(sel, state.datasets.map(d => h('option', { value: d.name }, d.name)));
    if (!name && state.datasets.length) {
      name = currentDataset();
      history.replaceState(null, '', `#quarantine/${enc(name)}`);
      state.shownHash = location.hash;
    }
    this.name = name;
    if (name) state.current = name;
    sel.value = name;
    this.load();
  },

  async load() {
    const body = $('qu-body');
    const name = this.name;
    if (!name) { replace(body, state.datasetsError ? datasetsErrorBox() : h('p', { class: 'empty' }, 'No datasets yet.')); return; }
    const token = ++this.token;
    replace(body, loading());
    const limit = $('qu-limit').value;
    const rsql = `SELECT reason, rule, ${quoteIdent('column')}, count(*) AS rows, max(received_at) AS last_seen\nFROM ${name}.quarantine\nGROUP BY 1, 2, 3\nORDER BY 4 DESC\nLIMIT 50`;
    const [r, reasons] = await Promise.all([
      api('GET', `/v1/datasets/${enc(name)}/quarantine?limit=${enc(limit)}`),
      api('POST', '/v1/query', { body: { sql: rsql } }),
    ]);
    if (token !== this.token) return;
    if (!r.ok) { replace(body, errorBox('Cannot read the quarantine', r.error, r.status)); return; }
    const q = r.json, t = q.totals ?? {};
    const stats = h('div', { class: 'stats' },
      statCard('Refused rows', fmtInt(t.rows ?? 0), 'buffered and in files', t.rows ? 'warn' : ''),
      statCard('Buffered', fmtInt(t.buffered_rows ?? q.buffered ?? 0), 'not yet flushed'),
      statCard('In files', fmtInt(t.file_rows ?? 0), `${fmtBytes(t.file_bytes ?? 0)} in ${fmtInt(q.files_total ?? 0)} file${q.files_total === 1 ? '' : 's'}`));

    const reasonsBox = !reasons.ok ? errorBox('Reasons', reasons.error, reasons.status)
      : !(reasons.json?.rows ?? []).length ? h('p', { class: 'muted' }, 'No refused rows: every record sent was accepted.')
      : table(['Reason', 'Rule', 'Column', { label: 'Rows', cls: 'num' }, 'Last seen'], reasons.json.rows.map(([reason, rule, col, n, lastSeen]) =>
        h('tr', h('td', reason), h('td', rule === null ? h('span', { class: 'null' }, '—') : h('code', rule)),
          h('td', col === null ? h('span', { class: 'null' }, 'whole record') : h('code', col)),
          h('td', { class: 'num' }, fmtInt(n)), h('td', { class: 'time' }, lastSeen ?? ''))), { cls: 'reasons', caption: 'Refused rows by reason' });

    // The newest refused rows: the buffered ones this answer lists, or — when rows are in files too and
    // the buffer holds fewer than asked for — the newest of all, by SQL over NAME.quarantine.
    let rows = q.rows ?? [], source = 'buffer', sqlError = null;
    if ((t.file_rows ?? 0) > 0 && rows.length < Number(limit)) {
      const cols = ['received_at', 'request_id', 'row', 'line', 'column', 'reason', 'value', 'rule', 'raw', 'raw_truncated', 'raw_replaced'];
      const all = await api('POST', '/v1/query', { body: { sql: `SELECT ${cols.map(quoteIdent).join(', ')}\nFROM ${name}.quarantine\nORDER BY received_at DESC\nLIMIT ${Number(limit)}` } });
      if (token !== this.token) return;
      if (all.ok && Array.isArray(all.json?.rows)) {
        rows = all.json.rows.map(r => Object.fromEntries(cols.map((c, i) => [c, r[i]])));
        source = 'all';
      } else sqlError = all;
    }
    const rowsBox = rows.length ? table(['Received', 'Request', { label: 'Row', cls: 'num' }, { label: 'Line', cls: 'num' }, 'Column', 'Reason', 'Value', 'Rule', 'Record as sent'],
      rows.map(x => h('tr',
        h('td', { class: 'time' }, x.received_at ?? ''),
        h('td', h('code', { class: 'reqid' }, x.request_id ?? '')),
        h('td', { class: 'num' }, String(x.row ?? '')), h('td', { class: 'num' }, String(x.line ?? '')),
        h('td', x.column === null || x.column === undefined ? h('span', { class: 'null' }, 'record') : h('code', x.column)),
        h('td', { class: 'reason' }, x.reason ?? ''),
        h('td', x.value === null || x.value === undefined ? h('span', { class: 'null' }, '—') : h('code', { class: 'value' }, x.value)),
        h('td', x.rule ? h('code', x.rule) : h('span', { class: 'null' }, '—')),
        h('td', { class: 'raw-cell' }, rawNode(x)))), { cls: 'qrows', caption: 'Refused rows, newest first' })
      : h('p', { class: 'muted' }, 'No refused row.');
    const rowsTitle = source === 'all'
      ? ['Refused rows ', h('span', { class: 'muted' }, `(newest first: ${fmtInt(rows.length)} of ${fmtInt(t.rows ?? 0)}, buffered and stored)`)]
      : ['Buffered rows ', h('span', { class: 'muted' }, `(newest first: ${fmtInt(q.rows_listed ?? rows.length)} of ${fmtInt(q.buffered ?? 0)})`)];
    const sqlBtn = h('button', { type: 'button', class: 'small', title: 'Open this in the query editor' }, 'Query them');
    sqlBtn.addEventListener('click', () => openInEditor(`SELECT received_at, request_id, ${quoteIdent('row')}, line, ${quoteIdent('column')}, reason, ${quoteIdent('value')}, rule, raw\nFROM ${name}.quarantine\nORDER BY received_at DESC\nLIMIT ${limit}`));

    const files = q.files ?? [];
    const filesBox = files.length ? table(['File', 'Day', { label: 'Rows', cls: 'num' }, { label: 'Bytes', cls: 'num' }],
      files.slice(0, 200).map(f => h('tr', h('td', h('code', f.key)), h('td', f.date), h('td', { class: 'num' }, fmtInt(f.rows)), h('td', { class: 'num' }, fmtBytes(f.bytes)))),
      { caption: 'Quarantine files' }) : h('p', { class: 'muted' }, 'No quarantine file yet.');

    replace(body, stats,
      q.files_error ? errorBox('The store cannot be listed', q.files_error) : null,
      h('section', { class: 'panel section' }, h('h2', 'Reasons'), h('p', { class: 'muted small' }, 'Over every refused row, buffered and stored (SQL over ', h('code', `${name}.quarantine`), ').'), reasonsBox),
      h('section', { class: 'panel section' },
        h('div', { class: 'panel-head' }, h('h2', rowsTitle), sqlBtn),
        q.rows_truncated && source === 'buffer' ? h('p', { class: 'note-box' }, `The answer stopped at ${fmtBytes(q.rows_max_bytes)} of rows.`) : null,
        sqlError ? errorBox('The stored rows cannot be read', sqlError.error, sqlError.status) : null,
        rowsBox),
      h('section', { class: 'panel section' }, h('h2', 'Files ', h('span', { class: 'muted' }, `under ${q.prefix ?? ''} (${fmtInt(q.files_listed ?? files.length)} of ${fmtInt(q.files_total ?? files.length)})`)), filesBox));
  },
};

function rawNode(x) {
  const raw = x.raw ?? '';
  const flags = [x.raw_truncated ? h('span', { class: 'badge warn', title: 'only the start of the record is kept' }, 'truncated') : null,
    x.raw_replaced ? h('span', { class: 'badge warn', title: 'bytes that were not UTF-8 were replaced by U+FFFD' }, 'not UTF-8') : null];
  if (raw.length <= 140) return [h('code', { class: 'raw' }, raw || '(empty)'), ...flags];
  return [h('details', { class: 'raw-more' }, h('summary', h('code', { class: 'raw' }, raw.slice(0, 120) + '…')), h('pre', { class: 'raw-full' }, raw)), ...flags];
}

$('qu-dataset').addEventListener('change', e => { location.hash = `#quarantine/${enc(e.target.value)}`; });
$('qu-limit').addEventListener('change', () => quarantineView.load());
$('qu-refresh').addEventListener('click', () => quarantineView.load());

// ================================================================== metrics
/** Prometheus text → {samples: Map(key → {name, labels, value}), help: Map, type: Map}. */
function parseMetrics(text) {
  const samples = new Map(), help = new Map(), type = new Map();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let m;
    if ((m = /^#\s*HELP\s+(\S+)\s+(.*)$/.exec(line))) { help.set(m[1], m[2]); continue; }
    if ((m = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line))) { type.set(m[1], m[2]); continue; }
    if (line.startsWith('#')) continue;
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?\s*$/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const lm of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"/g))
      labels[lm[1]] = lm[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    const v = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    const key = m[2] ? `${m[1]}{${Object.entries(labels).sort().map(([k, x]) => `${k}="${x}"`).join(',')}}` : m[1];
    samples.set(key, { name: m[1], labels, value: v });
  }
  return { samples, help, type };
}

const KEEP = 90; // samples kept per series (3 minutes at 2 s)
// A sparkline spans 30 samples at first, then grows to the whole window as samples come.
const sparkSlots = values => Math.min(KEEP, Math.max(30, values?.length ?? 0));
const metrics = {
  timer: null,
  paused: false,
  prev: null,       // {at, samples}
  last: null,
  hist: new Map(),  // series name → [values]
  errors: 0,

  start() {
    if (this.timer || this.paused) { this.render(); return; }
    this.tick();
  },
  stop() { clearTimeout(this.timer); this.timer = null; },
  every() { return Number($('m-every').value) || 2000; },

  push(key, v) {
    const a = this.hist.get(key) ?? [];
    a.push(v);
    if (a.length > KEEP) a.shift();
    this.hist.set(key, a);
  },

  async tick() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), this.every());
    const r = await api('GET', '/metrics');
    if (state.route !== 'metrics') return;
    if (!r.ok) {
      this.errors++;
      $('m-state').textContent = `GET /metrics failed (${r.status || 'no answer'}): ${r.error ?? ''}`;
      return;
    }
    const now = performance.now();
    const cur = { at: now, wall: Date.now(), ...parseMetrics(r.text) };
    const v = k => cur.samples.get(k)?.value;
    const prev = this.prev;
    const dt = prev ? (now - prev.at) / 1000 : 0;
    const rate = k => {
      if (!prev || dt <= 0) return null;
      const a = prev.samples.get(k)?.value, b = v(k);
      if (a === undefined || b === undefined || b < a) return null; // a restart resets counters
      return (b - a) / dt;
    };
    const sumBy = (name, pred = () => true) => [...cur.samples.values()].filter(s => s.name === name && pred(s.labels)).reduce((t, s) => t + s.value, 0);
    const rates = {
      rows: rate('ursa_rows_accepted_total'),
      requests: rate('ursa_ingest_requests_total'),
      bytes: rate('ursa_ingest_bytes_total'),
      rejected: rate('ursa_rows_rejected_total'),
      flushRows: rate('ursa_flush_rows_total'),
      queries: null,
    };
    for (const [k, x] of Object.entries(rates)) if (prev) this.push(`rate:${k}`, x);
    this.push('memory', v('ursa_memory_bytes') ?? null);
    this.push('buffered_total', sumBy('ursa_buffered_rows'));
    for (const s of cur.samples.values()) {
      if (s.name === 'ursa_buffered_rows' && s.labels.dataset !== undefined) this.push(`buffered:${s.labels.dataset}`, s.value);
    }
    this.prev = cur;
    this.last = { cur, rates, dt };
    $('m-state').textContent = `updated ${new Date().toLocaleTimeString()} · every ${this.every() / 1000} s`;
    this.render();
  },

  card(title, value, unit, sparkKey, sub, cls = 'c0') {
    return h('div', { class: 'metric-card panel', dataset: { metric: sparkKey ?? title } },
      h('div', { class: 'metric-title' }, title),
      h('div', { class: 'metric-value' }, value, unit ? h('span', { class: 'metric-unit' }, ` ${unit}`) : null),
      sparkKey ? sparkline(this.hist.get(sparkKey) ?? [], { width: 240, height: 36, cls, slots: sparkSlots(this.hist.get(sparkKey)) }) : null,
      sub ? h('div', { class: 'metric-sub muted' }, sub) : null);
  },

  render() {
    const body = $('m-body');
    if (!this.last) { replace(body, loading('Reading /metrics…')); return; }
    const { cur, rates } = this.last;
    const v = k => cur.samples.get(k)?.value ?? 0;
    const r = x => (x === null || x === undefined ? '—' : fmtNum(x, x < 10 ? 2 : 1));
    const datasets = [...cur.samples.values()].filter(s => s.name === 'ursa_buffered_rows').map(s => s.labels.dataset).filter(x => x !== undefined).sort();
    const memLimit = v('ursa_memory_limit_bytes'), mem = v('ursa_memory_bytes');
    const memBar = h('div', { class: 'bar-track', role: 'meter', 'aria-valuemin': '0', 'aria-valuemax': String(memLimit), 'aria-valuenow': String(mem), 'aria-label': 'memory in use' }, h('div', { class: 'bar-fill' }));
    memBar.firstChild.style.width = `${memLimit ? Math.min(100, (mem / memLimit) * 100).toFixed(2) : 0}%`;

    const ingest = h('section', { class: 'metric-group' }, h('h2', 'Ingest'), h('div', { class: 'metric-grid' },
      this.card('Rows accepted', r(rates.rows), 'rows/s', 'rate:rows', `${fmtInt(v('ursa_rows_accepted_total'))} in total`, 'c0'),
      this.card('Ingest requests', r(rates.requests), 'req/s', 'rate:requests', `${fmtInt(v('ursa_ingest_requests_total'))} in total`, 'c2'),
      this.card('Bytes received', rates.bytes === null ? '—' : fmtBytes(rates.bytes), '/s', 'rate:bytes', `${fmtBytes(v('ursa_ingest_bytes_total'))} in total`, 'c4'),
      this.card('Rows refused', r(rates.rejected), 'rows/s', 'rate:rejected',
        `${fmtInt(v('ursa_rows_rejected_total'))} in total · ${fmtInt(v('ursa_quarantined_rows_total'))} quarantined${v('ursa_quarantine_dropped_rows_total') ? ` · ${fmtInt(v('ursa_quarantine_dropped_rows_total'))} dropped` : ''}`, 'c1'),
      this.card('Backpressure', fmtInt(v('ursa_backpressure_total')), 'refused (429/503)', null, `${fmtInt(v('ursa_slow_bodies_cut_total'))} slow bodies cut`)));

    const flushErr = v('ursa_flushes_total{result="error"}');
    const storage = h('section', { class: 'metric-group' }, h('h2', 'Flushes, tables and compaction'), h('div', { class: 'metric-grid' },
      this.card('Flushes', fmtInt(v('ursa_flushes_total{result="ok"}')), flushErr ? `ok · ${fmtInt(flushErr)} failed` : 'ok', 'rate:flushRows',
        `${fmtInt(v('ursa_flush_rows_total'))} rows · ${fmtInt(v('ursa_flush_files_total'))} files · ${fmtBytes(v('ursa_flush_bytes_total'))}`, flushErr ? 'c1' : 'c2'),
      this.card('Table commits', fmtInt(v('ursa_table_commits_total')), v('ursa_table_commits_failed_total') ? `· ${fmtInt(v('ursa_table_commits_failed_total'))} failed` : '', null,
        `${fmtInt(v('ursa_table_snapshots_expired_total'))} snapshots expired · upkeep ${fmtInt(v('ursa_table_upkeeps_total{result="ok"}'))} ok, ${fmtInt(v('ursa_table_upkeeps_total{result="error"}'))} failed`),
      this.card('Compactions', fmtInt(v('ursa_compactions_total{result="ok"}')),
        `ok · ${fmtInt(v('ursa_compactions_total{result="conflict"}'))} lost · ${fmtInt(v('ursa_compactions_total{result="error"}'))} failed`, null,
        `${fmtInt(v('ursa_compaction_files_total{side="in"}'))} files → ${fmtInt(v('ursa_compaction_files_total{side="out"}'))} · ${fmtInt(v('ursa_compaction_rows_total'))} rows · ${fmtBytes(v('ursa_compaction_bytes_total{side="in"}'))} → ${fmtBytes(v('ursa_compaction_bytes_total{side="out"}'))} · ${fmtNum(v('ursa_compaction_seconds_total'))} s`),
      this.card('Memory', fmtBytes(mem), memLimit ? `of ${fmtBytes(memLimit)}` : '', 'memory', h('span', memBar, `peak ${fmtBytes(v('ursa_memory_peak_bytes'))}`), 'c3'),
      this.card('S3', fmtInt(v('ursa_s3_requests_total')), 'requests', null, `${fmtInt(v('ursa_s3_retries_total'))} retried · ${fmtInt(v('ursa_s3_failures_total'))} failed`)));

    const dsRows = datasets.map((name, i) => h('tr',
      h('td', h('a', { href: `#datasets/${enc(name)}` }, name)),
      h('td', { class: 'num' }, fmtInt(v(`ursa_buffered_rows{dataset="${name}"}`))),
      h('td', h('span', { class: 'spark-cell' }, sparkline(this.hist.get(`buffered:${name}`) ?? [], { width: 200, height: 24, cls: `c${i % 8}`, slots: sparkSlots(this.hist.get(`buffered:${name}`)) }))),
      h('td', { class: 'num' }, fmtBytes(v(`ursa_buffered_bytes{dataset="${name}"}`))),
      h('td', { class: 'num' }, v(`ursa_quarantine_buffered_rows{dataset="${name}"}`) ? h('a', { href: `#quarantine/${enc(name)}` }, fmtInt(v(`ursa_quarantine_buffered_rows{dataset="${name}"}`))) : '0')));
    const buffers = h('section', { class: 'metric-group' }, h('h2', 'Buffered rows per dataset'),
      datasets.length ? table(['Dataset', { label: 'Rows', cls: 'num' }, 'Last minutes', { label: 'Memory', cls: 'num' }, { label: 'Refused, buffered', cls: 'num' }], dsRows, { cls: 'buffers', caption: 'Buffered rows per dataset' })
        : h('p', { class: 'muted' }, 'No datasets.'));

    const all = h('details', { class: 'all-metrics' }, h('summary', `Every series (${cur.samples.size})`),
      table(['Series', { label: 'Value', cls: 'num' }, 'Help'], [...cur.samples.entries()].map(([k, s]) =>
        h('tr', h('td', h('code', k)), h('td', { class: 'num' }, Number.isInteger(s.value) ? fmtInt(s.value) : fmtNum(s.value)), h('td', { class: 'muted' }, cur.help.get(s.name) ?? '')))));
    const wasOpen = body.querySelector('.all-metrics')?.open;
    all.open = !!wasOpen;
    replace(body, ingest, storage, buffers, all);
  },
};
$('m-pause').addEventListener('click', e => {
  metrics.paused = !metrics.paused;
  e.target.setAttribute('aria-pressed', String(metrics.paused));
  e.target.textContent = metrics.paused ? 'Resume' : 'Pause';
  if (metrics.paused) { metrics.stop(); $('m-state').textContent = 'paused'; } else metrics.tick();
});
$('m-every').addEventListener('change', () => { if (!metrics.paused && state.route === 'metrics') metrics.tick(); });

// ================================================================== the API key
/**
 * A node started with --auth-keys answers 401 to a request without a valid key. The console then asks for
 * one in a modal dialog (once: after Cancel, the 401 error boxes and the top bar have a button for it),
 * checks it with GET /v1/datasets (which any valid key may call), keeps it (ui.js: apiKey, in localStorage
 * when "remember" is ticked, else sessionStorage) and shows the section again with it. A refused key keeps
 * the dialog open with the node's reason. A 403 (a valid key without the scope) never opens the dialog:
 * it is shown where the answer would have been. The key is never put in a URL or in the page's text; the
 * input is emptied once the key is kept.
 */
const keyPrompt = {
  dialog: $('key-dialog'),
  needed: false,     // a 401 was seen: the top bar offers a key even when none is held
  dismissed: false,  // the user closed the dialog: 401s no longer open it on their own
  checking: null,    // the AbortController of the key being checked
  returnFocus: null,

  /** A 401 (an api() call, or a live subscription ended by one). */
  unauthorized(r) {
    this.needed = true;
    renderKeyState();
    if (this.dialog.open) { if (!this.checking) this.reason(r); return; }
    if (!this.dismissed) this.open(r);
  },

  reason(r) {
    const el = $('key-reason');
    const held = apiKey.get();
    el.textContent = r?.error ? `${held ? 'The key this browser holds was refused' : 'The node answered 401'}: ${r.error}` : '';
    el.hidden = !el.textContent;
  },

  open(r) {
    if (this.dialog.open) return;
    this.reason(r);
    this.error('');
    $('key-input').value = '';
    $('key-remember').checked = apiKey.remembered();
    this.returnFocus = document.activeElement;
    this.dialog.showModal();
    $('key-input').focus();
  },

  close() {
    this.checking?.abort();
    this.checking = null;
    $('key-input').value = '';
    if (this.dialog.open) this.dialog.close();
    const back = this.returnFocus;
    this.returnFocus = null;
    if (back && back.isConnected && back !== document.body && back.checkVisibility?.() !== false) back.focus({ preventScroll: true });
    else $('view').focus({ preventScroll: true }); // (so that the section keys work at once)
  },

  error(text) {
    const el = $('key-error');
    el.textContent = text;
    el.hidden = !text;
  },

  async submit() {
    const input = $('key-input');
    const key = input.value.trim();
    if (!key) { this.error('Enter the key (it starts with ursa_).'); input.focus(); return; }
    if (!keyLooksValid(key)) { this.error('That is not an API key: keys are letters, digits and - _ . only (ursa_…).'); input.select(); return; }
    this.checking?.abort();
    const ctl = new AbortController();
    this.checking = ctl;
    const btn = $('key-submit');
    btn.disabled = true;
    btn.textContent = 'Checking…';
    this.error('');
    let r;
    try {
      r = await api('GET', '/v1/datasets', { headers: { authorization: `Bearer ${key}` }, quiet: true, signal: ctl.signal });
    } catch { return; } finally {
      if (this.checking === ctl) this.checking = null;
      btn.disabled = false;
      btn.textContent = 'Use this key';
    }
    if (ctl.signal.aborted) return;
    if (r.ok) {
      this.needed = true;
      const remember = $('key-remember').checked;
      input.value = '';
      this.close();
      apiKey.set(key, remember); // → keyChanged()
      return;
    }
    if (r.status === 401) this.error(`The node refused this key: ${r.error}`);
    else if (r.status === 429) this.error(`Too many refused keys from this address: try again in ${r.headers.get('retry-after') ?? 'a few'} s. (${r.error})`);
    else if (r.status === 0) this.error(r.error);
    else this.error(`${r.status} ${r.statusText || STATUS_TEXT[r.status] || ''}: ${r.error}`);
    input.select();
  },
};
onUnauthorized(r => keyPrompt.unauthorized(r));
$('key-form').addEventListener('submit', e => { e.preventDefault(); keyPrompt.submit(); });
$('key-cancel').addEventListener('click', () => { keyPrompt.dismissed = true; keyPrompt.close(); });
keyPrompt.dialog.addEventListener('cancel', e => { e.preventDefault(); keyPrompt.dismissed = true; keyPrompt.close(); }); // Esc
$('key-change').addEventListener('click', () => keyPrompt.open());
$('key-forget').addEventListener('click', () => { $('key-change').focus(); apiKey.forget(); }); // (the focus leaves the button that hides)

/** The top bar: whether a key is held (and where), with buttons to change or forget it; hidden when the node never asked. */
function renderKeyState() {
  const key = apiKey.get();
  $('key-state').hidden = !key && !keyPrompt.needed;
  $('key-text').textContent = key ? (apiKey.remembered() ? 'API key: remembered' : 'API key: this tab') : 'API key needed';
  $('key-change').textContent = key ? 'Change key' : 'Enter key';
  $('key-forget').hidden = !key;
}

/** The key changed (here, or in another tab): everything shown again with it. */
function keyChanged() {
  keyPrompt.dismissed = false;
  renderKeyState();
  state.datasetsAt = 0;
  nodeState.check();
  const rerun = state.route === 'query' && resultView.needsKey;
  state.shownHash = null;
  onRoute();
  live.keyChanged();
  if (rerun) queryView.run();
}
apiKey.onChange(keyChanged);

// ================================================================== keys and start
const help = $('help');
$('help-button').addEventListener('click', () => help.showModal());
document.addEventListener('keydown', e => {
  if (e.ctrlKey || e.metaKey || e.altKey || typingIn(e) || help.open || keyPrompt.dialog.open) return;
  const go = { 1: 'datasets', 2: 'query', 3: 'quarantine', 4: 'metrics' }[e.key];
  if (go) { e.preventDefault(); location.hash = `#${go}`; onRoute(); $('view').focus({ preventScroll: true }); return; }
  // (the route from the URL, not state.route: a key pressed just after 1–4 comes before the hashchange event)
  const route = parseHash().route;
  if (e.key === '?') { e.preventDefault(); help.showModal(); }
  else if (e.key === '/') {
    e.preventDefault();
    if (route === 'query') $('sql').focus();
    else if (route === 'datasets') $('ds-filter').focus();
    else if (route === 'quarantine') $('qu-dataset').focus();
  } else if (e.key === 'r') {
    e.preventDefault();
    if (route === 'datasets') $('ds-refresh').click();
    else if (route === 'quarantine') quarantineView.load();
    else if (route === 'metrics') metrics.tick();
    else if (route === 'query') queryView.run();
  }
});
window.addEventListener('hashchange', onRoute);

async function start() {
  renderKeyState();
  nodeState.check();
  setInterval(() => { if (!document.hidden) nodeState.check(); }, 15000);
  await loadDatasets();
  onRoute();
  historyNav.render();
  document.body.dataset.ready = 'true';
}
start();
