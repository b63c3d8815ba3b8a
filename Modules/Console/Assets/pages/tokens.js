import { get, post, del, all } from '../api.js';
import { h, clear, table, empty, badge, pager, formDialog, confirmAction, action, toast, showError, dialog } from '../dom.js';
import { t, tv, fmtTime } from '../i18n.js';

/** API tokens: mint one scoped to some projects (its secret shown once), list, revoke. */
export async function tokensPage(page) {
  const list = h('div');
  let current = 1;
  const mint = h('button', { type: 'button', class: 'primary', id: 'token-create' }, '+ ' + t('New token'));
  mint.addEventListener('click', async () => {
    let projects;
    try { projects = await all('projects/'); } catch (error) { showError(error); return; }
    const role = page.me.user.role;
    const roles = ['viewer', 'manager', 'owner'].slice(0, ['viewer', 'manager', 'owner'].indexOf(role) + 1);
    formDialog(t('New token'), [
      { name: 'name', label: t('Name'), required: true, placeholder: t('e.g. greenhouse dashboard') },
      { name: 'role', label: t('Role'), type: 'select', value: 'viewer', options: roles.map((r) => [r, tv(r)]) },
      { name: 'projects', label: t('Projects it may see'), type: 'checks', options: projects.map((p) => [p.project_id, p.name]),
        help: t('Check none for every project of the organization.') },
      { name: 'expires_in', label: t('Expires in'), type: 'select', value: '30d', options: [['7d', t('7 days')], ['30d', t('30 days')], ['90d', t('90 days')], ['365d', t('1 year')], ['', t('Never')]] },
    ], async (values) => {
      const body = { name: values.name, role: values.role };
      if (values.projects.length) body.projects = values.projects; else body.all_projects = true;
      if (values.expires_in) body.expires_in = values.expires_in;
      const created = await post('tokens/', body);
      load();
      showSecret(created);
    }, t('Create'));
  });

  function showSecret(created) {
    dialog(t('Your new token'), (close) => h('div', {},
      h('p', t('Copy it now: it is shown only this once. Use it as "Authorization: Bearer <token>".')),
      h('p', { class: 'secret', id: 'token-secret' }, created.token),
      h('div', { class: 'actions' },
        h('button', { type: 'button', on: { click: async (e) => {
          try { await navigator.clipboard.writeText(created.token); e.target.textContent = t('Copied'); } catch { toast(t('Select the text and copy it.'), 'error'); }
        } } }, t('Copy')),
        h('button', { type: 'button', class: 'primary', on: { click: () => close() } }, t('Done')))));
  }

  page.main.append(h('div', { class: 'page-head' }, h('h1', t('API tokens')), h('div', { class: 'tools' }, mint)),
    h('p', { class: 'muted' }, t('Tokens let scripts and integrations use the REST API. Scope each to the projects it needs; revoke it when it is no longer used.')),
    list);

  async function load() {
    let result;
    try { result = await get(`tokens/?page=${current}&page_size=20`); } catch (error) { showError(error); return; }
    if (!page.alive) return;
    clear(list);
    if (!result.results.length) { list.append(empty(t('No tokens yet.'))); return; }
    const mine = page.me.token?.id;
    list.append(table([t('Name'), t('User'), t('Role'), t('Projects'), t('Created'), t('Expires'), t('State'), ''], result.results.map((x) => {
      const revoke = x.revoked || x.id === mine ? null : action(h('button', { type: 'button', class: 'danger', dataset: { revoke: x.id } }, t('Revoke')), async () => {
        if (!await confirmAction(t('Revoke token {name}? Programs using it stop working at once.', { name: x.name }), t('Revoke'))) return;
        await del(`tokens/${x.id}/`);
        toast(t('Token revoked'));
        load();
      });
      return h('tr', { dataset: { token: x.id } }, h('td', x.name, x.id === mine ? h('div', { class: 'small muted' }, t('this session')) : null),
        h('td', x.user?.username), h('td', tv(x.role)),
        h('td', x.all_projects ? t('All projects') : (x.projects || []).join(', ')),
        h('td', { class: 'small' }, fmtTime(x.created_at, 'short')), h('td', { class: 'small' }, x.expires_at ? fmtTime(x.expires_at, 'short') : t('Never')),
        h('td', x.revoked ? badge(t('Revoked'), 'bad') : badge(t('Active'), 'ok')), h('td', revoke));
    })), pager(result, current, 20, (n) => { current = n; load(); }));
  }
  await load();
}
