import { get, post, seg, all } from '../api.js';
import { h, clear, table, empty, badge, pager, debounce, formDialog, confirmAction, action, toast, showError } from '../dom.js';
import { t, fmtTime, fmtAgo, fmtValue, fmtNumber } from '../i18n.js';
import { loadProject, projectHead, factorsByAgri, latestValue } from './common.js';

const PAGE_SIZE = 25;

/** A project's devices: online state, last contact, latest value of each factor; bind, unbind, move. */
export async function devicesPage(page) {
  const [projectID] = page.params;
  const project = await loadProject(projectID, true);
  const base = `projects/${seg(projectID)}/devices/`;
  let current = 1;
  let search = '';
  let shown = [];
  const list = h('div', { class: 'list' });

  const bind = h('button', { type: 'button', class: 'primary', id: 'device-bind' }, '+ ' + t('Bind device'));
  bind.addEventListener('click', () => formDialog(t('Bind device'), [
    { name: 'device_id', label: t('Device ID'), required: true, placeholder: '868686000123456', help: t('Printed on the device label') },
    { name: 'safe_code', label: t('Safe code'), required: true, placeholder: '8K2P', help: t('The 4-character code on the same label') },
  ], async (values) => {
    const device = await post(base + 'bind/', values);
    toast(t('Device {name} bound', { name: device.device_name || device.device_id }));
    load();
  }, t('Bind')));
  const searchBox = h('input', { type: 'search', placeholder: t('Search devices'), 'aria-label': t('Search devices'),
    on: { input: debounce((e) => { search = e.target.value.trim(); current = 1; load(); }) } });

  page.main.append(projectHead(project, 'devices', searchBox, bind),
    h('p', { class: 'muted' }, t('{n} devices, {m} offline', { n: fmtNumber(project.device_count), m: fmtNumber(project.offline_device_count) })),
    list);

  async function load() {
    const params = new URLSearchParams({ page: current, page_size: PAGE_SIZE });
    if (search) params.set('search', search);
    let result;
    try { result = await get(base + '?' + params); } catch (error) { showError(error); return; }
    if (!page.alive) return;
    shown = result.results;
    clear(list);
    if (!shown.length) {
      list.append(search ? empty(t('No device matches. Try another search.'))
        : empty(t('No devices in this project yet. Bind one with the device ID and safe code printed on its label.')));
      return;
    }
    const rows = shown.map(deviceRow);
    list.append(table([t('Device'), t('State'), t('Last contact'), t('Latest values'), t('Actions')], rows, { class: 'devices' }),
      pager(result, current, PAGE_SIZE, (n) => { current = n; load(); }));
    refreshValues();
  }

  function deviceRow(d) {
    const unbind = action(h('button', { type: 'button', class: 'danger' }, t('Unbind')), async () => {
      if (!await confirmAction(t('Unbind {name}? It returns to the unassigned pool; its data stays.', { name: d.device_name || d.device_id }), t('Unbind'))) return;
      await post(`${base}${d.id}/unbind/`);
      toast(t('Unbound'));
      load();
    });
    const move = action(h('button', { type: 'button' }, t('Move')), async () => {
      const projects = (await all('projects/')).filter((p) => p.project_id !== projectID);
      if (!projects.length) { toast(t('There is no other project to move it to.'), 'error'); return; }
      formDialog(t('Move {name} to another project', { name: d.device_name || d.device_id }), [
        { name: 'project_id', label: t('Project'), type: 'select', options: projects.map((p) => [p.project_id, p.name]) },
      ], async (values) => {
        await post(`${base}${d.id}/set-project/`, values);
        toast(t('Moved'));
        load();
      }, t('Move'));
    });
    return h('tr', { dataset: { device: d.id } },
      h('td', h('a', { href: `#/p/${seg(projectID)}/d/${d.id}`, class: 'strong' }, d.device_name || d.device_id),
        h('div', { class: 'muted small' }, d.device_id, ' · ', d.agri_id)),
      h('td', d.online ? badge(t('Online'), 'ok') : badge(t('Offline'), 'warn'), d.allow ? null : badge(t('Blocked'), 'bad')),
      h('td', { class: 'small', title: fmtTime(d.connect_time) }, d.connect_time ? fmtAgo(d.connect_time) : t('never')),
      h('td', { class: 'values', dataset: { values: d.id } }, h('span', { class: 'muted' }, '…')),
      h('td', { class: 'actions-cell' }, move, unbind));
  }

  // Latest values of the devices on screen (one page at a time, so a fleet of 1 000 costs 25 small requests).
  const factors = new Map();
  async function refreshValues() {
    await Promise.all(shown.map(async (d) => {
      try {
        if (!factors.has(d.id)) factors.set(d.id, await factorsByAgri(projectID, d.id));
        const latest = await get(`${base}${d.id}/data/`);
        const cell = list.querySelector(`[data-values="${d.id}"]`);
        if (!cell) return;
        const known = factors.get(d.id);
        clear(cell).append(...(latest.length ? latest.map((entry) => {
          const f = known.get(entry.agri_id);
          return h('span', { class: 'value', title: `${entry.agri_id} · ${fmtTime(entry.t)}` },
            h('span', { class: 'muted' }, (f ? f.name : entry.agri_id) + ' '), fmtValue(latestValue(entry), f?.decimals, f?.unit));
        }) : [h('span', { class: 'muted' }, t('No data yet'))]));
      } catch (error) { /* a device unbound meanwhile: the next load redraws */ }
    }));
  }

  await load();
  page.every(5000, refreshValues);
}
