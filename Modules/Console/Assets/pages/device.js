import { get, post, patch, del, seg } from '../api.js';
import { h, clear, table, empty, badge, formDialog, confirmAction, action, toast, showError, debounce } from '../dom.js';
import { t, tv, fmtTime, fmtAgo, fmtValue, fmtNumber } from '../i18n.js';
import { drawChart, statsLine } from '../chart.js';
import { loadProject, latestValue } from './common.js';

const RANGES = [['1h', 3600], ['6h', 6 * 3600], ['24h', 86400], ['7d', 7 * 86400], ['30d', 30 * 86400], ['1y', 365 * 86400]];
// Ranges longer than a day ask the server for min/max/avg per pixel column (the aggregation API) instead of raw points.
const AGGREGATE_ABOVE = 86400;
const MAX_POINTS = 500000;
const COMMAND_STATUS = { pending: 'info', delivered: 'info', acked: 'ok', failed: 'bad', expired: 'warn' };

/** Seconds → the value of a datetime-local input (browser time zone). */
function toLocalInput(seconds) {
  const d = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A device: latest values, history chart, factors (edit, add-module), control with confirmation, command history. */
export async function devicePage(page) {
  const [projectID, pkText] = page.params;
  const pk = Number(pkText);
  const base = `projects/${seg(projectID)}/devices/${pk}/`;
  const [project, device] = await Promise.all([loadProject(projectID), get(base)]);
  let factors = await get(base + 'factors/');
  const factorOf = (agri) => factors.find((f) => f.agri_id === agri);

  const head = h('div');
  const tiles = h('div', { class: 'latest', id: 'latest' });
  const chartHolder = h('div', { class: 'chart-holder', id: 'chart' });
  const statsHolder = h('div');
  const chartStatus = h('span', { class: 'muted small', role: 'status' });
  const factorSelect = h('select', { id: 'chart-factor', 'aria-label': t('Factor') });
  const rangeButtons = h('div', { class: 'tools', role: 'group', 'aria-label': t('Time range') });
  const customStart = h('input', { type: 'datetime-local', 'aria-label': t('From') });
  const customEnd = h('input', { type: 'datetime-local', 'aria-label': t('To') });
  const customBox = h('span', { class: 'tools', hidden: true }, customStart, customEnd,
    h('button', { type: 'button', on: { click: () => { range = 'custom'; loadChart(); } } }, t('Apply')));
  const factorsBox = h('div');
  const commandsBox = h('div');

  function drawHead() {
    const caps = device.capabilities || [];
    const control = (label, fn, id) => action(h('button', { type: 'button', id }, label), fn);
    clear(head).append(
      h('nav', { class: 'crumbs', 'aria-label': t('Breadcrumb') }, h('a', { href: '#/projects' }, t('Projects')), ' / ',
        h('a', { href: '#/p/' + seg(projectID) }, project.name), ' / ', device.device_name || device.device_id),
      h('div', { class: 'page-head' },
        h('h1', device.device_name || device.device_id, ' ', device.online ? badge(t('Online'), 'ok') : badge(t('Offline'), 'warn')),
        h('div', { class: 'tools' },
          control(t('Edit'), editDevice),
          caps.includes('SUPPORTS_REBOOT') ? control(t('Reboot'), reboot, 'control-reboot') : null,
          control(t('Serial port'), serial, 'control-serial'),
          control(t('TCP server'), tcp, 'control-tcp'))),
      h('p', { class: 'muted small' },
        `${t('Device ID')} ${device.device_id} · agri_id ${device.agri_id} · ${device.model || ''} · `,
        t('Last contact'), ' ', device.connect_time ? `${fmtAgo(device.connect_time)} (${fmtTime(device.connect_time)})` : t('never'),
        device.mqtt_connected_since ? ` · ${t('Connected over MQTT since')} ${fmtTime(device.mqtt_connected_since)}` : '',
        device.info ? ` · ${device.info}` : ''));
  }

  async function editDevice() {
    formDialog(t('Edit device'), [
      { name: 'device_name', label: t('Name'), value: device.device_name || '' },
      { name: 'info', label: t('Notes'), type: 'textarea', value: device.info || '' },
      { name: 'allow', label: t('Accept data from this device'), type: 'checkbox', value: device.allow },
    ], async (values) => {
      Object.assign(device, await patch(base, values));
      drawHead();
      toast(t('Saved'));
    });
  }

  async function queued(path, body, what) {
    await post(base + path, body);
    toast(t('{what} queued; the device picks it up on its next contact.', { what }));
    loadCommands();
  }
  async function reboot() {
    if (!await confirmAction(t('Reboot {name} now? It stops sending data while it restarts.', { name: device.device_name || device.device_id }), t('Reboot'))) return;
    await queued('reboot/', {}, t('Reboot'));
  }
  function serial() {
    formDialog(t('Serial port'), [
      { name: 'baud_rate', label: t('Baud rate'), type: 'select', value: 9600, options: [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200].map((b) => [b, String(b)]) },
      { name: 'data_bits', label: t('Data bits'), type: 'select', value: 8, options: [[7, '7'], [8, '8']] },
      { name: 'stop_bits', label: t('Stop bits'), type: 'select', value: 1, options: [[1, '1'], [2, '2']] },
      { name: 'parity', label: t('Parity'), type: 'select', value: 'NONE', options: [['NONE', t('None')], ['ODD', t('Odd')], ['EVEN', t('Even')]] },
    ], async (values) => {
      if (!await confirmAction(t('Send the new serial settings? The device reboots to apply them.'), t('Send'))) return;
      await queued('set-serial/', { baud_rate: Number(values.baud_rate), data_bits: Number(values.data_bits), stop_bits: Number(values.stop_bits), parity: values.parity }, t('Serial port'));
    }, t('Send'));
  }
  function tcp() {
    formDialog(t('TCP server'), [
      { name: 'host', label: t('Host'), required: true, placeholder: 'iot.example.com' },
      { name: 'port', label: t('Port'), type: 'number', required: true, min: 1, max: 65535, placeholder: '8883' },
    ], async (values) => {
      if (!await confirmAction(t('Point the device at {host}:{port}? If the address is wrong it loses contact with this platform.', values), t('Send'))) return;
      await queued('set-tcp/', values, t('TCP server'));
    }, t('Send'));
  }

  // Latest values, refreshed every few seconds.
  async function loadLatest() {
    let latest;
    try { latest = await get(base + 'data/'); } catch (error) { return; }
    if (!page.alive) return;
    clear(tiles);
    if (!latest.length) { tiles.append(empty(t('No data yet. Values appear here as soon as the device sends them.'))); return; }
    for (const entry of latest) {
      const f = factorOf(entry.agri_id);
      const value = latestValue(entry);
      const outside = f && f.alarm_enabled && value !== null &&
        ((typeof f.threshold_max === 'number' && value > f.threshold_max) || (typeof f.threshold_min === 'number' && value < f.threshold_min));
      tiles.append(h('div', { class: ['tile', outside && 'alarm'], dataset: { agri: entry.agri_id } },
        h('div', { class: 'muted small' }, f ? f.name : entry.agri_id),
        h('div', { class: 'big' }, fmtValue(value, f?.decimals, f?.unit)),
        h('div', { class: 'muted small', title: fmtTime(entry.t) }, fmtTime(entry.t, 'time'), ' · ', entry.agri_id)));
    }
    syncFactorOptions(latest.map((e) => e.agri_id));
  }

  // The chart: the chosen series over the chosen range, downsampled in the page.
  let range = '24h';
  let points = [];
  let view = null;
  function syncFactorOptions(extra = []) {
    const agris = [...new Set([...factors.map((f) => f.agri_id), ...extra])];
    const current = factorSelect.value;
    if (agris.length === factorSelect.options.length && [...factorSelect.options].every((o, i) => o.value === agris[i])) return;
    clear(factorSelect).append(...agris.map((a) => {
      const f = factorOf(a);
      return h('option', { value: a, selected: a === current }, f ? `${f.name} (${a})` : a);
    }));
    if (!current && agris.length) loadChart();
  }
  function currentWindow() {
    if (range === 'custom') {
      const start = Math.floor(new Date(customStart.value).getTime() / 1000);
      const end = Math.floor(new Date(customEnd.value).getTime() / 1000);
      if (!(end > start)) throw new Error(t('Pick a start before the end.'));
      return { start, end, live: false };
    }
    const seconds = RANGES.find(([key]) => key === range)[1];
    const end = Math.floor(Date.now() / 1000) + 1;
    return { start: end - seconds, end, live: true };
  }
  async function fetchRange(agri, start, end, onProgress) {
    const out = [];
    let path = `${base}data/?` + new URLSearchParams({ agri_id: agri, start, end, limit: 10000 });
    while (path && out.length < MAX_POINTS) {
      const answer = await get(path);
      for (const p of answer.results) out.push({ t: p.t, value: p.value });
      if (onProgress) onProgress(out.length);
      if (!answer.next) break;
      const next = new URL(answer.next, location.origin);
      path = next.pathname + next.search;
    }
    return out;
  }
  /** The range in buckets of about one pixel column each: min, max and avg per bucket, and the whole range's stats. */
  async function fetchBuckets(agri, start, end) {
    const columns = Math.max(100, Math.round((chartHolder.clientWidth || 800) - 70));
    const interval = Math.max(1, Math.ceil((end - start) / columns));
    const answer = await get(`${base}data/?` + new URLSearchParams({ agri_id: agri, start, end, interval, agg: 'min,max,avg' }));
    const drawn = [];
    let count = 0, min = Infinity, max = -Infinity, weighted = 0;
    for (const b of answer.results) {
      drawn.push({ t: b.t, value: b.min }, { t: b.t, value: b.max });
      count += b.count; weighted += b.avg * b.count;
      if (b.min < min) min = b.min;
      if (b.max > max) max = b.max;
    }
    return { drawn, stats: count ? { min, max, avg: weighted / count, count } : null };
  }
  let loading = 0;
  async function loadChart() {
    const agri = factorSelect.value;
    if (!agri) { clear(chartHolder).append(empty(t('No series yet: add factors or wait for the device to send data.'))); return; }
    let w;
    try { w = currentWindow(); } catch (error) { showError(error); return; }
    const ticket = ++loading;
    chartStatus.textContent = t('Loading…');
    const started = performance.now();
    try {
      if (w.end - w.start > AGGREGATE_ABOVE) {
        const { drawn, stats } = await fetchBuckets(agri, w.start, w.end);
        if (ticket !== loading || !page.alive) return;
        points = drawn;
        view = { ...w, live: false, stats };
        const vertices = drawChart(chartHolder, drawn, { start: w.start, end: w.end, factor: factorOf(agri), represented: stats ? stats.count : 0 });
        clear(statsHolder).append(statsLine(drawn, factorOf(agri), stats));
        chartStatus.textContent = t('{n} points drawn as {v} in {ms} ms', { n: fmtNumber(stats ? stats.count : 0), v: fmtNumber(vertices),
          ms: Math.round(performance.now() - started) });
        return;
      }
      const fetched = await fetchRange(agri, w.start, w.end, (n) => { if (ticket === loading) chartStatus.textContent = t('Loading… {n} points', { n: fmtNumber(n) }); });
      if (ticket !== loading || !page.alive) return;
      points = fetched;
      view = w;
      const vertices = drawChart(chartHolder, points, { start: w.start, end: w.end, factor: factorOf(agri) });
      clear(statsHolder).append(statsLine(points, factorOf(agri)));
      chartStatus.textContent = points.length >= MAX_POINTS ? t('Showing the first {n} points; pick a shorter range.', { n: fmtNumber(MAX_POINTS) })
        : t('{n} points drawn as {v} in {ms} ms', { n: fmtNumber(points.length), v: fmtNumber(vertices), ms: Math.round(performance.now() - started) });
    } catch (error) {
      if (ticket === loading) { chartStatus.textContent = ''; showError(error); }
    }
  }
  // A live range moves: new points are appended, old ones drop out of the window.
  async function advanceChart() {
    if (!view || !view.live || !factorSelect.value) return;
    const agri = factorSelect.value;
    const w = currentWindow();
    const since = points.length ? points[points.length - 1].t + 1 : w.start;
    try {
      const fresh = await fetchRange(agri, since, w.end);
      if (!page.alive || agri !== factorSelect.value) return;
      points = points.filter((p) => p.t >= w.start).concat(fresh);
      view = w;
      drawChart(chartHolder, points, { start: w.start, end: w.end, factor: factorOf(agri) });
      clear(statsHolder).append(statsLine(points, factorOf(agri)));
    } catch (error) { /* the next tick retries */ }
  }
  for (const [key] of RANGES.concat([['custom']])) {
    const button = h('button', { type: 'button', 'aria-pressed': String(key === range), dataset: { range: key } }, key === 'custom' ? t('Custom') : key);
    button.addEventListener('click', () => {
      range = key;
      rangeButtons.querySelectorAll('button').forEach((b) => b.setAttribute('aria-pressed', String(b === button)));
      customBox.hidden = key !== 'custom';
      if (key === 'custom') {
        if (!customStart.value) { const now = Date.now() / 1000; customStart.value = toLocalInput(now - 86400); customEnd.value = toLocalInput(now + 60); }
        customStart.focus();
        return;
      }
      loadChart();
    });
    rangeButtons.append(button);
  }
  factorSelect.addEventListener('change', loadChart);

  // Factors: the device's sensor channels.
  function drawFactors() {
    const addModule = action(h('button', { type: 'button', id: 'add-module' }, '+ ' + t('Add module')), async () => {
      const modules = await get('modules/');
      if (!modules.length) { toast(t('The module catalog is empty: import one with admin-cli modules import Configs/modules.json.'), 'error'); return; }
      formDialog(t('Add module'), [
        { name: 'module_id', label: t('Module'), type: 'select', options: modules.map((m) => [m.id, `${m.model} — ${m.name}`]) },
        { name: 'slave_id', label: t('Modbus slave ID'), type: 'number', value: 1, min: 1, max: 247, required: true },
      ], async (values) => {
        const created = await post(base + 'add-module/', { module_id: Number(values.module_id), slave_id: values.slave_id });
        factors = await get(base + 'factors/');
        toast(t('{n} factors added', { n: Array.isArray(created) ? created.length : (created?.factors?.length ?? '') }));
        drawFactors();
        syncFactorOptions();
        loadLatest();
      }, t('Add'));
    });
    clear(factorsBox).append(h('div', { class: 'page-head' }, h('h2', t('Factors')), h('div', { class: 'tools' }, addModule)));
    if (!factors.length) {
      factorsBox.append(empty(t('No factors yet. Add a sensor module to describe what the device measures.')));
      return;
    }
    const rows = factors.map((f) => {
      const edit = h('button', { type: 'button', dataset: { editFactor: f.agri_id } }, t('Edit'));
      edit.addEventListener('click', () => formDialog(t('Edit factor {name}', { name: f.name }), [
        { name: 'name', label: t('Name'), value: f.name, required: true },
        { name: 'unit', label: t('Unit'), value: f.unit },
        { name: 'decimals', label: t('Decimals'), type: 'number', value: f.decimals, min: 0, max: 6 },
        { name: 'threshold_min', label: t('Lower threshold'), type: 'number', value: f.threshold_min ?? '', step: 'any' },
        { name: 'threshold_max', label: t('Upper threshold'), type: 'number', value: f.threshold_max ?? '', step: 'any' },
        { name: 'alarm_enabled', label: t('Alert when outside the thresholds'), type: 'checkbox', value: f.alarm_enabled },
      ], async (values) => {
        const updated = await patch(`${base}factors/${f.id}/`, values);
        factors = factors.map((x) => (x.id === f.id ? updated : x));
        drawFactors();
        loadLatest();
        toast(t('Saved'));
      }));
      const remove = action(h('button', { type: 'button', class: 'danger' }, t('Delete')), async () => {
        if (!await confirmAction(t('Delete factor {name}? Its data stays stored.', { name: f.name }), t('Delete'))) return;
        await del(`${base}factors/${f.id}/`);
        factors = factors.filter((x) => x.id !== f.id);
        drawFactors();
      });
      const limits = [f.threshold_min, f.threshold_max].map((v) => (typeof v === 'number' ? fmtValue(v, f.decimals, f.unit) : '—')).join(' … ');
      return h('tr', h('td', h('span', { class: 'strong' }, f.name)), h('td', { class: 'small' }, f.agri_id), h('td', f.unit || '—'),
        h('td', { class: 'num' }, f.decimals), h('td', limits), h('td', f.alarm_enabled ? badge(t('On'), 'ok') : badge(t('Off'))),
        h('td', { class: 'small hide-narrow' }, `${t('slave')} ${f.slave_id} · FC${f.function_code} · ${t('register')} ${f.register} · ${f.data_type}`),
        h('td', { class: 'actions-cell' }, edit, remove));
    });
    factorsBox.append(table([t('Name'), 'agri_id', t('Unit'), t('Decimals'), t('Thresholds'), t('Alerts'), h('span', { class: 'hide-narrow' }, t('Register')), t('Actions')], rows));
  }

  // Control commands and their statuses.
  async function loadCommands() {
    let page1;
    try { page1 = await get(base + 'commands/?page_size=10'); } catch (error) { return; }
    if (!page.alive) return;
    clear(commandsBox).append(h('h2', t('Commands')));
    if (!page1.results.length) { commandsBox.append(empty(t('No commands sent yet. Reboot, serial and TCP settings appear here with their status.'))); return; }
    commandsBox.append(table([t('Command'), t('Status'), t('Sent'), t('Finished'), t('By')], page1.results.map((c) => h('tr',
      h('td', h('code', c.command)), h('td', badge(tv(c.status), COMMAND_STATUS[c.status]), c.output ? h('div', { class: 'small muted' }, c.output) : null,
        c.delivered_via === 'mqtt' ? h('div', { class: 'small muted' }, t('Delivered over MQTT')) : null),
      h('td', { class: 'small' }, fmtTime(c.created_at)), h('td', { class: 'small' }, fmtTime(c.finished_at)), h('td', { class: 'small' }, c.created_by)))));
  }

  drawHead();
  page.main.append(head, tiles,
    h('section', { class: 'card chart-card' },
      h('div', { class: 'page-head' }, h('h2', t('History')), chartStatus),
      h('div', { class: 'controls' }, factorSelect, rangeButtons, customBox),
      chartHolder, statsHolder),
    factorsBox, commandsBox);
  drawFactors();
  syncFactorOptions();
  await Promise.all([loadLatest(), loadCommands()]);
  page.every(5000, loadLatest);
  page.every(5000, loadCommands);
  page.every(10000, advanceChart);
  const redraw = debounce(() => {
    if (page.alive && view) {
      drawChart(chartHolder, points, { start: view.start, end: view.end, factor: factorOf(factorSelect.value), represented: view.stats ? view.stats.count : undefined });
    }
  }, 200);
  addEventListener('resize', redraw);
  page.onLeave = () => removeEventListener('resize', redraw);
}
