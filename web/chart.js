// chart.js — the console's charts, drawn as SVG: a time-series line chart, grouped bars, sparklines.
//
// Each chart is drawn for the width its host has now and drawn again when that width changes
// (mount). Colours come from CSS classes (c0 … c7 set --c; console.css and base.css give the palette),
// so the charts follow the page's light or dark theme. The hover read-out is an HTML element placed
// with element.style, which the page's Content-Security-Policy allows (style attributes it does not).
import { h, s, fmtShort, fmtNum, replace } from './ui.js';

const COLORS = 8;

// ------------------------------------------------------------------ scales and ticks
/** Round ticks covering [min, max]: {lo, hi, ticks}. */
export function niceTicks(min, max, count = 5) {
  if (!Number.isFinite(min) || !Number.isFinite(max)) { min = 0; max = 1; }
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad; max += pad;
  }
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
  const lo = Math.floor(min / step + 1e-9) * step, hi = Math.ceil(max / step - 1e-9) * step;
  const ticks = [];
  for (let v = lo, i = 0; v <= hi + step * 1e-6 && i < 50; v = lo + step * ++i) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return { lo, hi, ticks };
}

const SEC = 1000, MIN = 60 * SEC, HOUR = 60 * MIN, DAY = 24 * HOUR;
const TIME_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, SEC, 2 * SEC, 5 * SEC, 10 * SEC, 15 * SEC, 30 * SEC,
  MIN, 2 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR,
  DAY, 2 * DAY, 7 * DAY, 14 * DAY];
const MONTH_STEPS = [1, 2, 3, 6, 12, 24, 60, 120];
const p2 = n => String(n).padStart(2, '0');

/** Ticks for a UTC time axis from t0 to t1 (epoch ms), at most maxTicks: [{t, label}]. */
export function timeTicks(t0, t1, maxTicks) {
  const span = Math.max(1, t1 - t0);
  const step = TIME_STEPS.find(st => span / st <= maxTicks);
  const out = [];
  if (step) {
    let prevDay = null;
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      const d = new Date(t);
      const day = `${d.getUTCFullYear()}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}`;
      let label;
      if (step >= DAY) label = day;
      else {
        const hm = `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}`;
        const sec = step < MIN ? `:${p2(d.getUTCSeconds())}` : '';
        const ms = step < SEC ? `.${String(d.getUTCMilliseconds()).padStart(3, '0')}` : '';
        label = hm + sec + ms;
        if (day !== prevDay && (prevDay !== null || span > DAY)) label = `${day.slice(5)} ${label}`;
      }
      prevDay = day;
      out.push({ t, label });
    }
    return out;
  }
  // months and years, on calendar boundaries
  const months = span / (30 * DAY);
  const mstep = MONTH_STEPS.find(m => months / m <= maxTicks) ?? 120;
  const d0 = new Date(t0);
  let y = d0.getUTCFullYear(), m = d0.getUTCMonth();
  m = Math.ceil((y * 12 + m + (d0.getUTCDate() > 1 || t0 % DAY ? 1 : 0)) / mstep) * mstep;
  for (let t = Date.UTC(Math.floor(m / 12), m % 12, 1); t <= t1; m += mstep, t = Date.UTC(Math.floor(m / 12), m % 12, 1))
    out.push({ t, label: mstep >= 12 ? String(Math.floor(m / 12)) : `${Math.floor(m / 12)}-${p2((m % 12) + 1)}` });
  return out;
}

/** The full label of a time value for read-outs. */
export function timeLabel(t) {
  const d = new Date(t);
  const ms = d.getUTCMilliseconds();
  return `${d.getUTCFullYear()}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}${ms ? '.' + String(ms).padStart(3, '0') : ''}`;
}

// ------------------------------------------------------------------ mounting
/**
 * Draws into host now and again when its width changes: draw(width) returns the chart's node.
 * A later mount on the same host replaces the earlier one.
 */
export function mount(host, draw) {
  host._chartObserver?.disconnect();
  let lastWidth = -1;
  const redraw = () => {
    const width = Math.floor(host.clientWidth);
    if (width <= 0 || width === lastWidth) return;
    lastWidth = width;
    replace(host, draw(width));
  };
  redraw();
  if (lastWidth < 0) replace(host, draw(640)); // not laid out yet (hidden): a default size until it is
  const ro = new ResizeObserver(() => requestAnimationFrame(redraw));
  ro.observe(host);
  host._chartObserver = ro;
}

function legend(series) {
  if (series.length < 2) return null;
  return h('ul', { class: 'legend', 'aria-label': 'series' },
    series.map((se, i) => h('li', { class: `c${i % COLORS}` }, h('span', { class: 'swatch', 'aria-hidden': 'true' }), se.name)));
}

const textWidth = str => 7 * String(str).length; // ~12px UI font; enough to size margins

// A hover/keyboard read-out shared by both charts: a box inside the chart's wrapper.
function readout(wrap) {
  const box = h('div', { class: 'chart-tip', role: 'status', hidden: true });
  wrap.append(box);
  return {
    show(x, y, title, lines, plotWidth) {
      replace(box, h('div', { class: 'tip-title' }, title),
        lines.map(l => h('div', { class: `tip-line c${l.i % COLORS}` }, h('span', { class: 'swatch' }), `${l.name}: `, h('b', l.value))));
      box.hidden = false;
      const w = box.offsetWidth || 160;
      const left = x + 14 + w > plotWidth ? Math.max(0, x - 14 - w) : x + 14;
      box.style.left = `${left}px`;
      box.style.top = `${Math.max(0, y)}px`;
    },
    hide() { box.hidden = true; },
  };
}

// ------------------------------------------------------------------ line chart
/**
 * A line chart of series over x (epoch ms when time is true, else numbers), x ascending.
 * spec: {x: number[], series: [{name, values: (number|null)[]}], time: bool, xName}
 */
export function lineChart(spec, width, height = 300) {
  const { x, series, time = true } = spec;
  const all = series.flatMap(se => se.values.filter(v => v !== null && Number.isFinite(v)));
  let ymin = Math.min(...all), ymax = Math.max(...all);
  if (!all.length) { ymin = 0; ymax = 1; }
  if (ymin > 0 && ymin <= ymax * 0.6) ymin = 0;
  const ny = niceTicks(ymin, ymax, Math.max(2, Math.floor(height / 60)));
  const ylabels = ny.ticks.map(fmtShort);
  const m = { top: 14, right: 18, bottom: 30, left: Math.max(36, 12 + Math.max(...ylabels.map(textWidth))) };
  const pw = Math.max(40, width - m.left - m.right), ph = Math.max(40, height - m.top - m.bottom);
  let x0 = x[0], x1 = x[x.length - 1];
  if (x0 === x1) { const pad = time ? 30 * SEC : Math.abs(x0 || 1) * 0.1; x0 -= pad; x1 += pad; }
  const sx = v => m.left + ((v - x0) / (x1 - x0)) * pw;
  const sy = v => m.top + ph - ((v - ny.lo) / (ny.hi - ny.lo)) * ph;

  const svg = s('svg', { class: 'chart-svg', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `line chart of ${series.map(se => se.name).join(', ')} over ${spec.xName ?? 'time'}, ${x.length} points` });
  const grid = s('g', { class: 'grid' }), axes = s('g', { class: 'axis' });
  ny.ticks.forEach((v, i) => {
    grid.append(s('line', { x1: m.left, x2: m.left + pw, y1: sy(v), y2: sy(v) }));
    axes.append(s('text', { x: m.left - 6, y: sy(v), 'text-anchor': 'end', 'dominant-baseline': 'middle' }, ylabels[i]));
  });
  const xt = time ? timeTicks(x0, x1, Math.max(2, Math.floor(pw / 110)))
    : niceTicks(x0, x1, Math.max(2, Math.floor(pw / 90))).ticks.filter(v => v >= x0 && v <= x1).map(t => ({ t, label: fmtShort(t) }));
  for (const { t, label } of xt) {
    grid.append(s('line', { x1: sx(t), x2: sx(t), y1: m.top, y2: m.top + ph, class: 'vgrid' }));
    axes.append(s('text', { x: sx(t), y: m.top + ph + 18, 'text-anchor': 'middle' }, label));
  }
  axes.append(s('line', { class: 'baseline', x1: m.left, x2: m.left + pw, y1: m.top + ph, y2: m.top + ph }));
  svg.append(grid, axes);

  const plot = s('g', { class: 'plot' });
  series.forEach((se, k) => {
    let d = '', pen = false, area = '', segStart = null;
    const areas = [];
    se.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        if (pen && segStart !== null) areas.push(area + `L${sx(x[i - 1])},${sy(Math.max(ny.lo, 0))}Z`);
        pen = false; segStart = null; return;
      }
      const px = sx(x[i]).toFixed(1), py = sy(v).toFixed(1);
      d += `${pen ? 'L' : 'M'}${px},${py}`;
      if (!pen) { segStart = i; area = `M${px},${sy(Math.max(ny.lo, 0)).toFixed(1)}L${px},${py}`; } else area += `L${px},${py}`;
      pen = true;
    });
    if (pen) areas.push(area + `L${sx(x[x.length - 1]).toFixed(1)},${sy(Math.max(ny.lo, 0)).toFixed(1)}Z`);
    const g = s('g', { class: `series c${k % COLORS}` });
    if (series.length === 1) for (const a of areas) g.append(s('path', { class: 'area', d: a }));
    g.append(s('path', { class: 'line', d }));
    if (x.length <= 120) se.values.forEach((v, i) => {
      if (v !== null && Number.isFinite(v)) g.append(s('circle', { class: 'dot', cx: sx(x[i]), cy: sy(v), r: x.length <= 30 ? 3 : 2 }));
    });
    plot.append(g);
  });
  svg.append(plot);

  // hover and keyboard read-out
  const guide = s('line', { class: 'guide', y1: m.top, y2: m.top + ph, visibility: 'hidden' });
  const marks = s('g', { class: 'marks' });
  const overlay = s('rect', { class: 'overlay', x: m.left, y: m.top, width: pw, height: ph });
  svg.append(guide, marks, overlay);
  const wrap = h('div', { class: 'chart', tabindex: '0', 'aria-label': 'chart: arrow keys read the points' }, svg);
  const tip = readout(wrap);
  let cur = -1;
  const showAt = i => {
    cur = Math.max(0, Math.min(x.length - 1, i));
    const px = sx(x[cur]);
    guide.setAttribute('x1', px); guide.setAttribute('x2', px); guide.setAttribute('visibility', 'visible');
    marks.replaceChildren();
    const lines = [];
    series.forEach((se, k) => {
      const v = se.values[cur];
      if (v !== null && Number.isFinite(v)) marks.append(s('circle', { class: `mark c${k % COLORS}`, cx: px, cy: sy(v), r: 4.5 }));
      lines.push({ i: k, name: se.name, value: v === null || v === undefined ? 'null' : fmtNum(v) });
    });
    tip.show(px, m.top, time ? timeLabel(x[cur]) : fmtNum(x[cur]), lines, width);
  };
  const hide = () => { guide.setAttribute('visibility', 'hidden'); marks.replaceChildren(); tip.hide(); };
  overlay.addEventListener('mousemove', e => {
    const r = svg.getBoundingClientRect();
    const v = x0 + ((e.clientX - r.left - m.left) / pw) * (x1 - x0);
    let lo = 0, hi = x.length - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (x[mid] < v) lo = mid + 1; else hi = mid; }
    if (lo > 0 && Math.abs(x[lo - 1] - v) < Math.abs(x[lo] - v)) lo--;
    showAt(lo);
  });
  overlay.addEventListener('mouseleave', hide);
  wrap.addEventListener('keydown', e => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') { e.preventDefault(); showAt(cur < 0 ? 0 : cur + (e.key === 'ArrowRight' ? 1 : -1)); }
    else if (e.key === 'Home') { e.preventDefault(); showAt(0); }
    else if (e.key === 'End') { e.preventDefault(); showAt(x.length - 1); }
    else if (e.key === 'Escape') hide();
  });
  wrap.addEventListener('blur', hide);
  return h('div', { class: 'chart-box' }, wrap, legend(series));
}

// ------------------------------------------------------------------ bar chart
/**
 * Grouped vertical bars: one group per category, one bar per series.
 * spec: {categories: string[], series: [{name, values: (number|null)[]}], xName}
 */
export function barChart(spec, width, height = 300) {
  const { categories, series } = spec;
  const all = series.flatMap(se => se.values.filter(v => v !== null && Number.isFinite(v)));
  const ny = niceTicks(Math.min(0, ...all), Math.max(0, ...all, all.length ? -Infinity : 1), Math.max(2, Math.floor(height / 60)));
  const ylabels = ny.ticks.map(fmtShort);
  const n = categories.length;
  const longest = Math.max(...categories.map(c => Math.min(24, String(c).length)));
  const m = { top: 14, right: 18, bottom: 30, left: Math.max(36, 12 + Math.max(...ylabels.map(textWidth))) };
  let pw = Math.max(40, width - m.left - m.right);
  const slot = pw / n;
  const rotate = longest * 7 + 8 > slot;
  if (rotate) m.bottom = Math.min(130, 24 + Math.min(24, longest) * 5);
  const ph = Math.max(40, height - m.top - m.bottom);
  pw = Math.max(40, width - m.left - m.right);
  const sy = v => m.top + ph - ((v - ny.lo) / (ny.hi - ny.lo)) * ph;
  const svg = s('svg', { class: 'chart-svg', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `bar chart of ${series.map(se => se.name).join(', ')} by ${spec.xName ?? 'category'}, ${n} groups` });
  const grid = s('g', { class: 'grid' }), axes = s('g', { class: 'axis' });
  ny.ticks.forEach((v, i) => {
    grid.append(s('line', { x1: m.left, x2: m.left + pw, y1: sy(v), y2: sy(v) }));
    axes.append(s('text', { x: m.left - 6, y: sy(v), 'text-anchor': 'end', 'dominant-baseline': 'middle' }, ylabels[i]));
  });
  svg.append(grid, axes);
  const gap = Math.min(12, slot * 0.2);
  const bw = Math.max(1, Math.min(56, (slot - gap) / series.length));
  const inset = (slot - gap - bw * series.length) / 2; // bars of a group centred in its slot
  const plot = s('g', { class: 'plot' });
  const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(pw / (rotate ? 16 : 30)))));
  categories.forEach((c, ci) => {
    const gx = m.left + ci * slot + gap / 2 + inset;
    series.forEach((se, k) => {
      const v = se.values[ci];
      if (v === null || !Number.isFinite(v)) return;
      const y0 = sy(Math.max(0, ny.lo)), y1 = sy(v);
      const rect = s('rect', { class: `bar c${k % COLORS}`, x: gx + k * bw, y: Math.min(y0, y1), width: Math.max(1, bw - (series.length > 1 ? 1 : 0)),
        height: Math.max(v === 0 ? 0 : 1, Math.abs(y1 - y0)) });
      rect.append(s('title', `${c}\n${se.name}: ${fmtNum(v)}`));
      plot.append(rect);
    });
    if (ci % every === 0) {
      const label = String(c).length > 24 ? String(c).slice(0, 23) + '…' : String(c);
      const tx = m.left + (ci + 0.5) * slot, ty = m.top + ph + (rotate ? 12 : 18);
      axes.append(s('text', rotate ? { x: tx, y: ty, 'text-anchor': 'end', transform: `rotate(-40 ${tx} ${ty})` }
        : { x: tx, y: ty, 'text-anchor': 'middle' }, label));
    }
  });
  axes.append(s('line', { class: 'baseline', x1: m.left, x2: m.left + pw, y1: sy(Math.max(0, ny.lo)), y2: sy(Math.max(0, ny.lo)) }));
  svg.append(plot);

  const wrap = h('div', { class: 'chart', tabindex: '0', 'aria-label': 'chart: arrow keys read the bars' }, svg);
  const tip = readout(wrap);
  const hl = s('rect', { class: 'bar-hl', y: m.top, height: ph, width: slot, visibility: 'hidden' });
  svg.insertBefore(hl, plot);
  let cur = -1;
  const showAt = i => {
    cur = Math.max(0, Math.min(n - 1, i));
    hl.setAttribute('x', m.left + cur * slot); hl.setAttribute('visibility', 'visible');
    tip.show(m.left + (cur + 0.5) * slot, m.top, String(categories[cur]),
      series.map((se, k) => ({ i: k, name: se.name, value: se.values[cur] === null ? 'null' : fmtNum(se.values[cur]) })), width);
  };
  const hide = () => { hl.setAttribute('visibility', 'hidden'); tip.hide(); };
  svg.addEventListener('mousemove', e => {
    const r = svg.getBoundingClientRect();
    const i = Math.floor((e.clientX - r.left - m.left) / slot);
    if (i >= 0 && i < n && e.clientY - r.top <= m.top + ph) showAt(i); else hide();
  });
  svg.addEventListener('mouseleave', hide);
  wrap.addEventListener('keydown', e => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') { e.preventDefault(); showAt(cur < 0 ? 0 : cur + (e.key === 'ArrowRight' ? 1 : -1)); }
    else if (e.key === 'Home') { e.preventDefault(); showAt(0); }
    else if (e.key === 'End') { e.preventDefault(); showAt(n - 1); }
    else if (e.key === 'Escape') hide();
  });
  wrap.addEventListener('blur', hide);
  return h('div', { class: 'chart-box' }, wrap, legend(series));
}

// ------------------------------------------------------------------ sparkline
/**
 * A small line of the last values (nulls skipped), the newest at the right. slots is how many values a
 * full line holds (fewer are drawn at the right end). It stretches to its box's width (CSS), the
 * strokes keeping their width.
 */
export function sparkline(values, { width = 120, height = 28, cls = 'c0', slots = values.length, max } = {}) {
  const svg = s('svg', { class: `spark ${cls}`, width, height, viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', 'aria-hidden': 'true' });
  const pts = values.map((v, i) => [i, v]).filter(([, v]) => v !== null && Number.isFinite(v));
  if (pts.length < 2) {
    svg.append(s('line', { class: 'spark-empty', x1: 0, x2: width, y1: height - 1.5, y2: height - 1.5, 'vector-effect': 'non-scaling-stroke' }));
    return svg;
  }
  const n = Math.max(slots, values.length) - 1, off = n + 1 - values.length;
  const lo = Math.min(0, ...pts.map(p => p[1])), hi = Math.max(max ?? 0, ...pts.map(p => p[1]));
  const sx = i => ((i + off) / n) * width, sy = v => height - 1.5 - (hi === lo ? 0 : ((v - lo) / (hi - lo)) * (height - 4));
  const d = pts.map(([i, v], k) => `${k ? 'L' : 'M'}${sx(i).toFixed(1)},${sy(v).toFixed(1)}`).join('');
  svg.append(s('path', { class: 'spark-area', d: `${d}L${sx(pts[pts.length - 1][0]).toFixed(1)},${height}L${sx(pts[0][0]).toFixed(1)},${height}Z` }),
    s('path', { class: 'spark-line', d, 'vector-effect': 'non-scaling-stroke' }));
  return svg;
}
