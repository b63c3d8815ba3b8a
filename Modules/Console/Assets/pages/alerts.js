import { get, post, patch, del, seg, all } from '../api.js';
import { h, clear, table, empty, badge, pager, formDialog, confirmAction, action, toast, showError, fieldRow, readInputs, errorBox } from '../dom.js';
import { t, tv, fmtTime, fmtNumber } from '../i18n.js';
import { loadProject, projectHead } from './common.js';

const SEVERITY = { info: 'info', warning: 'warn', critical: 'bad' };
const STATUS = { active: 'bad', cancelled: '', resolved: 'ok' };
const NOTIFY = { pending: 'info', sent: 'ok', failed: 'bad', suppressed: 'warn' };
const CHANNELS = [
  { key: 'sms', title: 'SMS', target: 'phone_number', label: 'Phone number (E.164)', placeholder: '+8613800000000', type: 'tel' },
  { key: 'email', title: 'E-mail', target: 'email', label: 'E-mail address', placeholder: 'ops@example.com', type: 'email' },
  { key: 'webhook', title: 'Webhook', target: 'url', label: 'URL', placeholder: 'https://example.com/hooks/alerts', type: 'url' },
];

/** Alerts of a project: current ones (cancel), history with filters, configuration, receivers, trigger-test. */
export async function alertsPage(page) {
  const [projectID] = page.params;
  const project = await loadProject(projectID);
  const base = `projects/${seg(projectID)}/alert/`;
  const devices = await all(`projects/${seg(projectID)}/devices/`, 1000);
  const currentBox = h('section', { id: 'alerts-current' });
  const historyBox = h('section', { id: 'alerts-history' });
  const configBox = h('section', { class: 'card', id: 'alerts-config' });
  const receiversBox = h('section', { id: 'alerts-receivers' });

  const trigger = action(h('button', { type: 'button', id: 'alert-test' }, t('Send a test alert')), async () => {
    if (!await confirmAction(t('Create a test alert on the first device and notify every enabled receiver?'), t('Send'), false)) return;
    await post(base + 'items/trigger-test/');
    toast(t('Test alert created; receivers are being notified.'));
    loadCurrent();
    loadHistory();
  });
  page.main.append(projectHead(project, 'alerts', trigger), currentBox, historyBox,
    h('div', { class: 'grid' }, configBox, receiversBox));

  const notifications = (item) => (item.notifications || []).map((n) =>
    badge(`${n.channel} ${tv(n.status)}`, NOTIFY[n.status]));
  const deviceName = (d) => (d ? d.device_name || d.device_id : '—');

  async function loadCurrent() {
    let items;
    try { items = await get(base + 'items/current/'); } catch (error) { showError(error); return; }
    if (!page.alive) return;
    clear(currentBox).append(h('h2', t('Current alerts'), ' ', items.length ? badge(fmtNumber(items.length), 'bad') : null));
    if (!items.length) {
      currentBox.append(empty(t('No active alerts. Set thresholds on a device’s factors to be alerted when a value leaves them.')));
      return;
    }
    currentBox.append(table([t('Level'), t('Device'), t('Description'), t('Since'), t('Notifications'), ''], items.map((item) => {
      const cancel = action(h('button', { type: 'button', class: 'danger', dataset: { cancelAlert: item.id } }, t('Cancel alert')), async () => {
        if (!await confirmAction(t('Cancel this alert? It will not be resolved by the next good value.'), t('Cancel alert'))) return;
        await post(`${base}items/${item.id}/cancel/`);
        toast(t('Alert cancelled'));
        loadCurrent();
        loadHistory();
      });
      return h('tr', { dataset: { alert: item.id } },
        h('td', badge(item.level?.name || item.the_type, SEVERITY[item.level?.severity])),
        h('td', h('a', { href: `#/p/${seg(projectID)}/d/${item.device?.id}` }, deviceName(item.device))),
        h('td', item.description), h('td', { class: 'small' }, fmtTime(item.created_at)),
        h('td', notifications(item)), h('td', cancel));
    })));
  }

  // History with filters.
  const filterInputs = {};
  let historyPage = 1;
  const filters = h('form', { class: 'tools filters', 'aria-label': t('Filters') },
    fieldRow({ name: 'status', label: t('Status'), type: 'select', value: '', options: [['', t('Any')], ['active', t('status:active')], ['resolved', t('status:resolved')], ['cancelled', t('status:cancelled')]] }, filterInputs),
    fieldRow({ name: 'the_type', label: t('Type'), type: 'select', value: '', options: [['', t('Any')], ...['threshold', 'offline', 'test', 'manual'].map((x) => [x, tv(x)])] }, filterInputs),
    fieldRow({ name: 'device', label: t('Device'), type: 'select', value: '', options: [['', t('Any')], ...devices.map((d) => [d.id, d.device_name || d.device_id])] }, filterInputs),
    fieldRow({ name: 'start', label: t('From'), type: 'datetime-local' }, filterInputs),
    fieldRow({ name: 'end', label: t('To'), type: 'datetime-local' }, filterInputs));
  filters.addEventListener('change', () => { historyPage = 1; loadHistory(); });
  const historyList = h('div');
  clear(historyBox).append(h('h2', t('History')), filters, historyList);

  async function loadHistory() {
    const values = readInputs(filterInputs);
    const params = new URLSearchParams({ page: historyPage, page_size: 20 });
    for (const key of ['status', 'the_type', 'device']) if (values[key]) params.set(key, values[key]);
    for (const key of ['start', 'end']) if (values[key]) params.set(key, new Date(values[key]).toISOString().replace(/\.\d+Z$/, 'Z'));
    let result;
    try { result = await get(base + 'items/?' + params); } catch (error) { showError(error); return; }
    if (!page.alive) return;
    clear(historyList);
    if (!result.results.length) { historyList.append(empty(t('No alerts match these filters.'))); return; }
    historyList.append(table([t('Status'), t('Type'), t('Device'), t('Description'), t('Opened'), t('Closed'), t('Notifications')], result.results.map((item) => h('tr',
      h('td', badge(tv(item.status), STATUS[item.status])), h('td', tv(item.the_type)), h('td', deviceName(item.device)),
      h('td', item.description), h('td', { class: 'small' }, fmtTime(item.created_at)),
      h('td', { class: 'small' }, fmtTime(item.resolved_at || item.cancelled_at)), h('td', notifications(item))))),
    pager(result, historyPage, 20, (n) => { historyPage = n; loadHistory(); }));
  }

  // Configuration.
  async function loadConfig() {
    const config = await get(base + 'config/');
    const inputs = {};
    const errors = errorBox();
    const form = h('form', { class: 'form' },
      h('h2', t('Alert settings')),
      fieldRow({ name: 'enabled', label: t('Alerts enabled'), type: 'checkbox', value: config.enabled }, inputs),
      fieldRow({ name: 'sms_enabled', label: t('Send SMS'), type: 'checkbox', value: config.sms_enabled }, inputs),
      fieldRow({ name: 'email_enabled', label: t('Send e-mail'), type: 'checkbox', value: config.email_enabled }, inputs),
      fieldRow({ name: 'webhook_enabled', label: t('Call webhooks'), type: 'checkbox', value: config.webhook_enabled }, inputs),
      fieldRow({ name: 'offline_alerts_enabled', label: t('Alert when a device goes offline'), type: 'checkbox', value: config.offline_alerts_enabled }, inputs),
      fieldRow({ name: 'offline_after_minutes', label: t('Offline after (minutes)'), type: 'number', value: config.offline_after_minutes, min: 1, max: 10080 }, inputs),
      fieldRow({ name: 'cooldown_minutes', label: t('Quiet time after an alert closes (minutes)'), type: 'number', value: config.cooldown_minutes, min: 0, max: 1440 }, inputs),
      fieldRow({ name: 'locale', label: t('Language of alert texts'), type: 'select', value: config.locale, options: [['zh-CN', '中文'], ['en', 'English']] }, inputs),
      errors, h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, t('Save settings'))));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      errors.hide();
      try { await patch(base + 'config/', readInputs(inputs)); toast(t('Saved')); } catch (error) { errors.show(error); }
    });
    clear(configBox).append(form);
  }

  // Receivers of every channel.
  async function loadReceivers() {
    const lists = await Promise.all(CHANNELS.map((c) => get(`${base}${c.key}-notifications/`)));
    if (!page.alive) return;
    clear(receiversBox).append(h('h2', t('Receivers')));
    CHANNELS.forEach((channel, index) => {
      const path = `${base}${channel.key}-notifications/`;
      const add = h('button', { type: 'button', dataset: { addReceiver: channel.key } }, '+ ' + t('Add'));
      add.addEventListener('click', () => formDialog(t('New {channel} receiver', { channel: t(channel.title) }), [
        { name: 'name', label: t('Name'), required: true },
        { name: channel.target, label: t(channel.label), type: channel.type, required: true, placeholder: channel.placeholder },
        ...(channel.key === 'webhook' ? [{ name: 'secret', label: t('Signing secret'), help: t('Each call carries X-Signature: sha256=<HMAC of the body>') }] : []),
        { name: 'enabled', label: t('Enabled'), type: 'checkbox', value: true },
      ], async (values) => {
        if (values.secret === '') delete values.secret;
        await post(path, values);
        toast(t('Receiver added'));
        loadReceivers();
      }, t('Add')));
      const rows = lists[index].map((r) => {
        const toggle = action(h('button', { type: 'button' }, r.enabled ? t('Disable') : t('Enable')), async () => {
          await patch(`${path}${r.id}/`, { enabled: !r.enabled });
          loadReceivers();
        });
        const remove = action(h('button', { type: 'button', class: 'danger' }, t('Delete')), async () => {
          if (!await confirmAction(t('Delete receiver {name}?', { name: r.name }), t('Delete'))) return;
          await del(`${path}${r.id}/`);
          loadReceivers();
        });
        return h('tr', h('td', r.name, h('div', { class: 'small muted' }, r[channel.target])),
          h('td', r.enabled ? badge(t('On'), 'ok') : badge(t('Off'))), h('td', { class: 'actions-cell' }, toggle, remove));
      });
      receiversBox.append(h('div', { class: 'page-head' }, h('h3', t(channel.title)), add),
        rows.length ? table([t('Name'), t('State'), ''], rows) : h('p', { class: 'muted small' }, t('No {channel} receivers yet.', { channel: t(channel.title) })));
    });
  }

  await Promise.all([loadCurrent(), loadHistory(), loadConfig(), loadReceivers()]);
  page.every(10000, loadCurrent);
}
