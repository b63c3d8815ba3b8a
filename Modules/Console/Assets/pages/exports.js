import { get, post, patch, del, seg, all } from '../api.js';
import { h, clear, table, empty, badge, pager, formDialog, confirmAction, action, toast, showError, fieldRow, readInputs, errorBox } from '../dom.js';
import { t, tv, fmtTime, fmtNumber, fmtBytes } from '../i18n.js';
import { loadProject, projectHead } from './common.js';

const STATUS = { pending: 'info', running: 'info', succeeded: 'ok', failed: 'bad', cancelled: '', expired: 'warn' };

function localInput(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** Data exports: create a task (device, factors, range, format), its progress, the download; recurring schedules. */
export async function exportsPage(page) {
  const [projectID] = page.params;
  const project = await loadProject(projectID);
  const base = `projects/${seg(projectID)}/`;
  const devices = await all(base + 'devices/', 1000);
  const deviceName = (pk) => { const d = devices.find((x) => x.id === pk); return d ? d.device_name || d.device_id : pk === null ? t('All devices') : '#' + pk; };

  // The form of a new task; the factor list follows the chosen device.
  const inputs = {};
  const errors = errorBox();
  const factorHolder = h('div');
  const now = new Date();
  const deviceRow = fieldRow({ name: 'device_id', label: t('Device'), type: 'select', value: devices[0]?.id ?? '',
    options: [['', t('All devices')], ...devices.map((d) => [d.id, d.device_name || d.device_id])] }, inputs);
  const form = h('form', { class: 'form', id: 'export-form' },
    h('h2', t('New export')),
    fieldRow({ name: 'name', label: t('Name'), placeholder: t('Generated when empty') }, inputs),
    deviceRow, factorHolder,
    fieldRow({ name: 'start_time', label: t('From'), type: 'datetime-local', value: localInput(new Date(now - 86400000)), required: true }, inputs),
    fieldRow({ name: 'end_time', label: t('To'), type: 'datetime-local', value: localInput(new Date(now.getTime() + 60000)), required: true }, inputs),
    fieldRow({ name: 'format', label: t('Format'), type: 'select', value: 'csv', options: [['csv', 'CSV'], ['xlsx', 'Excel (XLSX)'], ['ndjson', 'NDJSON']] }, inputs),
    errors, h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'export-create' }, t('Create export'))));
  async function loadFactorChoices() {
    const pk = inputs.device_id.value;
    delete inputs.factors;
    clear(factorHolder);
    if (!pk) { factorHolder.append(h('p', { class: 'muted small' }, t('Every series of every device of the project.'))); return; }
    const factors = await get(`${base}devices/${pk}/factors/`);
    factorHolder.append(fieldRow({ name: 'factors', label: t('Factors (none checked = all)'), type: 'checks',
      options: factors.map((f) => [f.agri_id, `${f.name} (${f.agri_id})`]) }, inputs));
  }
  inputs.device_id.addEventListener('change', () => loadFactorChoices().catch(showError));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    errors.hide();
    const values = readInputs(inputs);
    const body = { format: values.format,
      start_time: new Date(values.start_time).toISOString().replace(/\.\d+Z$/, 'Z'),
      end_time: new Date(values.end_time).toISOString().replace(/\.\d+Z$/, 'Z') };
    if (values.name) body.name = values.name;
    if (values.device_id) body.device_id = Number(values.device_id);
    if (values.factors && values.factors.length) body.factors = values.factors;
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      await post(base + 'data-download-tasks/', body);
      toast(t('Export created; the scheduler writes the file.'));
      taskPage = 1;
      loadTasks();
    } catch (error) { errors.show(error); } finally { button.disabled = false; }
  });

  const tasksBox = h('section', { id: 'export-tasks' });
  const schedulesBox = h('section', { id: 'export-schedules' });
  page.main.append(projectHead(project, 'exports'),
    devices.length ? h('div', { class: 'card' }, form) : empty(t('Bind a device first: exports are made of its data.')),
    tasksBox, schedulesBox);
  if (devices.length) await loadFactorChoices();

  let taskPage = 1;
  let unfinished = false;
  async function loadTasks() {
    let result;
    try { result = await get(`${base}data-download-tasks/?page=${taskPage}&page_size=10`); } catch (error) { showError(error); return; }
    if (!page.alive) return;
    unfinished = result.results.some((x) => x.status === 'pending' || x.status === 'running');
    clear(tasksBox).append(h('h2', t('Exports')));
    if (!result.results.length) { tasksBox.append(empty(t('No exports yet. Pick a device and a time range above.'))); return; }
    tasksBox.append(table([t('Name'), t('Status'), t('Rows'), t('Size'), t('Created'), t('Actions')], result.results.map((task) => {
      const running = task.status === 'pending' || task.status === 'running';
      const buttons = [];
      if (task.status === 'succeeded') {
        buttons.push(action(h('button', { type: 'button', class: 'primary', dataset: { download: task.id } }, t('Download')), async () => {
          const link = await get(`${base}data-download-tasks/${task.id}/download/?redirect=false`);
          const anchor = h('a', { href: link.url, download: '' });
          document.body.append(anchor);
          anchor.click();
          anchor.remove();
        }));
      }
      if (running) {
        buttons.push(action(h('button', { type: 'button' }, t('Cancel')), async () => {
          await post(`${base}data-download-tasks/${task.id}/cancel/`);
          loadTasks();
        }));
      }
      buttons.push(action(h('button', { type: 'button', class: 'danger' }, t('Delete')), async () => {
        if (!await confirmAction(t('Delete export {name} and its file?', { name: task.name }), t('Delete'))) return;
        await del(`${base}data-download-tasks/${task.id}/`);
        loadTasks();
      }));
      return h('tr', { dataset: { task: task.id, status: task.status } },
        h('td', h('span', { class: 'strong' }, task.name), h('div', { class: 'small muted' },
          `${deviceName(task.device_id)} · ${task.format.toUpperCase()} · ${fmtTime(task.start_time, 'short')} – ${fmtTime(task.end_time, 'short')}`)),
        h('td', badge(tv(task.status), STATUS[task.status]),
          running ? h('div', h('progress', { max: 100, value: task.progress, 'aria-label': t('Progress') }), ` ${task.progress}%`) : null,
          task.error ? h('div', { class: 'small muted' }, task.error) : null),
        h('td', { class: 'num' }, task.row_count === null || task.row_count === undefined ? '—' : fmtNumber(task.row_count)),
        h('td', { class: 'num' }, fmtBytes(task.file_size)),
        h('td', { class: 'small' }, fmtTime(task.create_time, 'short')),
        h('td', { class: 'actions-cell' }, buttons));
    })), pager(result, taskPage, 10, (n) => { taskPage = n; loadTasks(); }));
  }

  const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
  async function loadSchedules() {
    const schedules = await get(base + 'data-download-schedules/');
    if (!page.alive) return;
    const add = h('button', { type: 'button', id: 'schedule-create' }, '+ ' + t('New schedule'));
    add.addEventListener('click', () => formDialog(t('New schedule'), [
      { name: 'name', label: t('Name'), required: true },
      { name: 'device_id', label: t('Device'), type: 'select', value: '', options: [['', t('All devices')], ...devices.map((d) => [d.id, d.device_name || d.device_id])] },
      { name: 'format', label: t('Format'), type: 'select', value: 'csv', options: [['csv', 'CSV'], ['xlsx', 'Excel (XLSX)'], ['ndjson', 'NDJSON']] },
      { name: 'period', label: t('Every'), type: 'select', value: 'daily', options: [['daily', t('Day')], ['weekly', t('Week')]] },
      { name: 'hour', label: t('At hour (UTC)'), type: 'number', value: 1, min: 0, max: 23 },
      { name: 'weekday', label: t('On (weekly)'), type: 'select', value: 1, options: WEEKDAYS.map((d, i) => [i + 1, t(d)]) },
      { name: 'enabled', label: t('Enabled'), type: 'checkbox', value: true },
    ], async (values) => {
      const body = { ...values, weekday: Number(values.weekday), device_id: values.device_id ? Number(values.device_id) : null };
      await post(base + 'data-download-schedules/', body);
      toast(t('Schedule created'));
      loadSchedules();
    }, t('Create')));
    clear(schedulesBox).append(h('div', { class: 'page-head' }, h('h2', t('Schedules')), add));
    if (!schedules.length) { schedulesBox.append(empty(t('No schedules. A schedule exports the last whole day or week by itself.'))); return; }
    schedulesBox.append(table([t('Name'), t('Device'), t('When'), t('Next run'), t('Last run'), t('State'), t('Actions')], schedules.map((x) => {
      const toggle = action(h('button', { type: 'button' }, x.enabled ? t('Disable') : t('Enable')), async () => {
        await patch(`${base}data-download-schedules/${x.id}/`, { enabled: !x.enabled });
        loadSchedules();
      });
      const remove = action(h('button', { type: 'button', class: 'danger' }, t('Delete')), async () => {
        if (!await confirmAction(t('Delete schedule {name}?', { name: x.name }), t('Delete'))) return;
        await del(`${base}data-download-schedules/${x.id}/`);
        loadSchedules();
      });
      const when = x.period === 'daily' ? t('Daily at {h}:00 UTC', { h: x.hour }) : t('{day} at {h}:00 UTC', { day: t(WEEKDAYS[x.weekday - 1]), h: x.hour });
      return h('tr', h('td', x.name, h('div', { class: 'small muted' }, x.format.toUpperCase())), h('td', deviceName(x.device_id)), h('td', when),
        h('td', { class: 'small' }, fmtTime(x.next_run_at, 'short')), h('td', { class: 'small' }, fmtTime(x.last_run_at, 'short')),
        h('td', x.enabled ? badge(t('On'), 'ok') : badge(t('Off'))), h('td', { class: 'actions-cell' }, toggle, remove));
    })));
  }

  await Promise.all([loadTasks(), loadSchedules()]);
  let tick = 0;
  page.every(1500, () => { tick++; if (unfinished || tick % 7 === 0) loadTasks(); });
}
