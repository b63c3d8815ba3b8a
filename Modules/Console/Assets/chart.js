// A time-series chart drawn by us in SVG. Ranges up to a day are fetched as raw points (pages of 10 000) and
// downsampled here: for every pixel column the first, minimum, maximum and last point of that column, so 100 000 points
// become at most four per column with every spike still visible. Longer ranges ask the server for min/max/avg buckets of
// about a column each (the aggregation API), drawn as each bucket's minimum then maximum; their stats come from the buckets.
import { s, h, clear } from './dom.js';
import { t, fmtValue, fmtTime, fmtNumber } from './i18n.js';

const PAD = { left: 56, right: 14, top: 12, bottom: 26 };

/** Statistics over every point (not the downsampled ones). */
export function stats(points) {
  if (!points.length) return null;
  let min = Infinity, max = -Infinity, sum = 0;
  for (const p of points) { if (p.value < min) min = p.value; if (p.value > max) max = p.value; sum += p.value; }
  return { min, max, avg: sum / points.length, count: points.length };
}

/** Per pixel column: first, min, max, last (in time order, duplicates removed). Points must be sorted by t. */
export function downsample(points, start, end, columns) {
  if (points.length <= columns * 4) return points;
  const span = Math.max(1, end - start);
  const out = [];
  let column = -1, first, low, high, last;
  const flush = () => {
    if (column < 0) return;
    const chosen = [first, low, high, last].sort((a, b) => a.t - b.t);
    for (let i = 0; i < chosen.length; i++) if (i === 0 || chosen[i] !== chosen[i - 1]) out.push(chosen[i]);
  };
  for (const p of points) {
    const c = Math.floor(((p.t - start) / span) * columns);
    if (c !== column) { flush(); column = c; first = low = high = last = p; continue; }
    if (p.value < low.value) low = p;
    if (p.value > high.value) high = p;
    last = p;
  }
  flush();
  return out;
}

/** Round tick values for the range [min, max]. */
function niceTicks(min, max, count = 5) {
  if (min === max) { min -= 1; max += 1; }
  const raw = (max - min) / count;
  const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((x) => x >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Math.round(v / step) * step);
  return { ticks, step };
}

/**
 * Draws `points` ({t, value}, t in Unix seconds, sorted) between `start` and `end` into `holder`.
 * `factor` gives decimals, unit and thresholds. Returns the drawn vertex count.
 */
export function drawChart(holder, points, { start, end, factor, represented }) {
  clear(holder);
  const width = Math.max(300, Math.round(holder.clientWidth || 800));
  const height = Math.round(holder.clientHeight || 300) || 300;
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': t('History chart'), preserveAspectRatio: 'none' });
  holder.append(svg);
  if (!points.length) {
    svg.append(s('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle', class: 'axis' }, t('No data in this time range')));
    return 0;
  }
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const drawn = downsample(points, start, end, plotW);
  const st = stats(points);
  let low = st.min, high = st.max;
  for (const limit of [factor?.threshold_min, factor?.threshold_max]) {
    if (typeof limit === 'number' && limit >= low - (high - low) && limit <= high + (high - low)) { low = Math.min(low, limit); high = Math.max(high, limit); }
  }
  const { ticks } = niceTicks(low, high);
  const yMin = Math.min(low, ticks[0]), yMax = Math.max(high, ticks[ticks.length - 1]);
  const x = (tt) => PAD.left + ((tt - start) / Math.max(1, end - start)) * plotW;
  const y = (v) => PAD.top + (1 - (v - yMin) / Math.max(1e-12, yMax - yMin)) * plotH;
  const decimals = factor?.decimals;

  for (const v of ticks) {
    svg.append(s('line', { x1: PAD.left, x2: width - PAD.right, y1: y(v), y2: y(v), class: 'grid-line' }),
      s('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, fmtValue(v, decimals)));
  }
  const span = end - start;
  const kind = span <= 86400 ? 'time' : 'short';
  const xTicks = Math.max(2, Math.min(7, Math.floor(plotW / 120)));
  for (let i = 0; i <= xTicks; i++) {
    const tt = start + (span * i) / xTicks;
    const label = kind === 'time' ? fmtTime(tt, 'time').slice(0, 5) : fmtTime(tt, 'short');
    svg.append(s('line', { x1: x(tt), x2: x(tt), y1: PAD.top, y2: PAD.top + plotH, class: 'grid-line' }),
      s('text', { x: x(tt), y: height - 8, 'text-anchor': i === 0 ? 'start' : i === xTicks ? 'end' : 'middle', class: 'axis' }, label));
  }
  for (const limit of [factor?.threshold_min, factor?.threshold_max]) {
    if (typeof limit === 'number' && limit >= yMin && limit <= yMax) {
      svg.append(s('line', { x1: PAD.left, x2: width - PAD.right, y1: y(limit), y2: y(limit), class: 'threshold' },
        s('title', t('Threshold {v}', { v: fmtValue(limit, decimals, factor?.unit) }))));
    }
  }
  let d = '';
  for (let i = 0; i < drawn.length; i++) d += (i ? 'L' : 'M') + x(drawn[i].t).toFixed(1) + ' ' + y(drawn[i].value).toFixed(1);
  svg.append(s('path', { d, class: 'series', 'data-vertices': drawn.length, 'data-points': represented ?? points.length,
    'data-aggregated': represented === undefined ? '0' : '1' }));

  // A cursor showing the nearest drawn point's value and time.
  const cursor = s('line', { class: 'cursor', y1: PAD.top, y2: PAD.top + plotH, visibility: 'hidden' });
  const label = s('text', { class: 'axis', y: PAD.top + 12, visibility: 'hidden' });
  svg.append(cursor, label);
  svg.addEventListener('pointermove', (event) => {
    const box = svg.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * width;
    const tt = start + ((px - PAD.left) / plotW) * span;
    let lo = 0, hi = drawn.length - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (drawn[mid].t < tt) lo = mid + 1; else hi = mid; }
    const p = drawn[lo];
    if (!p) return;
    cursor.setAttribute('x1', x(p.t)); cursor.setAttribute('x2', x(p.t)); cursor.setAttribute('visibility', 'visible');
    label.textContent = `${fmtValue(p.value, decimals, factor?.unit)} · ${fmtTime(p.t)}`;
    const right = x(p.t) > width / 2;
    label.setAttribute('x', right ? x(p.t) - 6 : x(p.t) + 6);
    label.setAttribute('text-anchor', right ? 'end' : 'start');
    label.setAttribute('visibility', 'visible');
  });
  svg.addEventListener('pointerleave', () => { cursor.setAttribute('visibility', 'hidden'); label.setAttribute('visibility', 'hidden'); });
  return drawn.length;
}

/** The statistics line under a chart. */
export function statsLine(points, factor, precomputed) {
  const st = precomputed === undefined ? stats(points) : precomputed;
  if (!st) return h('div', { class: 'stats muted' }, t('No data in this time range'));
  const f = (v) => fmtValue(v, factor?.decimals, factor?.unit);
  return h('div', { class: 'stats', id: 'chart-stats' },
    h('span', t('Min'), ' ', h('b', f(st.min))), h('span', t('Max'), ' ', h('b', f(st.max))),
    h('span', t('Average'), ' ', h('b', f(st.avg))), h('span', { class: 'muted' }, t('{n} points', { n: fmtNumber(st.count) })));
}
