import { get, post, patch, del, seg } from '../api.js';
import { h, clear, table, empty, badge, pager, debounce, formDialog, confirmAction, action, toast, showError } from '../dom.js';
import { t, fmtTime, fmtNumber } from '../i18n.js';

const PAGE_SIZE = 25;

function projectFields(project = {}) {
  return [
    { name: 'name', label: t('Name'), required: true, value: project.name || '' },
    ...(project.project_id ? [] : [{ name: 'project_id', label: t('Project ID'), placeholder: 'cold-chain-east',
      help: t('Lowercase letters, digits, - and _; leave empty for a generated one. It cannot change later.') }]),
    { name: 'description', label: t('Description'), type: 'textarea', value: project.description || '' },
    { name: 'tags', label: t('Tags'), value: (project.tags || []).join(', '), help: t('Separated by commas') },
  ];
}

function projectBody(values) {
  const body = { name: values.name, description: values.description,
    tags: values.tags.split(/[,，]/).map((x) => x.trim()).filter(Boolean) };
  if (values.project_id) body.project_id = values.project_id;
  return body;
}

/** Projects: counts, offline counts, favorite, search, create / edit / trash, and the trash with restore. */
export async function projectsPage(page) {
  const trash = page.query.get('trash') === '1';
  let current = 1;
  let search = '';
  let onlyFavorites = false;
  const list = h('div', { class: 'list' });

  const searchBox = h('input', { type: 'search', id: 'project-search', placeholder: t('Search by name'), 'aria-label': t('Search by name'),
    on: { input: debounce((e) => { search = e.target.value.trim(); current = 1; load(); }) } });
  const favoriteToggle = h('label', { class: 'check' }, h('input', { type: 'checkbox', on: { change: (e) => { onlyFavorites = e.target.checked; current = 1; load(); } } }),
    ' ', t('Favorites only'));
  const create = h('button', { type: 'button', class: 'primary', id: 'project-create' }, '+ ' + t('New project'));
  create.addEventListener('click', () => formDialog(t('New project'), projectFields(), async (values) => {
    const project = await post('projects/', projectBody(values));
    toast(t('Project {name} created', { name: project.name }));
    location.hash = '#/p/' + seg(project.project_id);
  }, t('Create')));

  page.main.append(
    h('div', { class: 'page-head' },
      h('h1', trash ? t('Trash') : t('Projects')),
      h('div', { class: 'tools' },
        trash ? h('a', { href: '#/projects', class: 'button' }, '‹ ' + t('Projects')) : [searchBox, favoriteToggle,
          h('a', { href: '#/projects?trash=1', class: 'button' }, t('Trash')), create])),
    list);

  async function load() {
    const params = new URLSearchParams({ page: current, page_size: PAGE_SIZE });
    if (search) params.set('search', search);
    if (onlyFavorites) params.set('favorite', 'true');
    let result;
    try { result = await get((trash ? 'projects/trash/?' : 'projects/?') + params); } catch (error) { showError(error); return; }
    if (!page.alive) return;
    clear(list);
    if (!result.results.length) {
      list.append(trash ? empty(t('The trash is empty. Deleted projects stay here for 30 days and can be restored.'))
        : search || onlyFavorites ? empty(t('No project matches. Try another search.'))
        : empty(t('No projects yet. Create one, then bind your devices with their device ID and safe code.'), create.cloneNode(true)));
      const again = list.querySelector('#project-create');
      if (again) { again.removeAttribute('id'); again.addEventListener('click', () => create.click()); }
      return;
    }
    const rows = result.results.map((p) => trash ? trashRow(p) : projectRow(p));
    list.append(
      h('p', { class: 'muted' }, t('{n} projects', { n: fmtNumber(result.count) })),
      table(trash ? [t('Name'), t('Project ID'), t('Deleted'), ''] :
        ['', t('Name'), t('Devices'), t('Offline'), t('Tags'), t('Updated'), t('Actions')], rows, { class: 'projects' }),
      pager(result, current, PAGE_SIZE, (n) => { current = n; load(); }));
  }

  function projectRow(p) {
    const star = h('button', { type: 'button', class: ['star', p.favorite && 'on'], 'aria-pressed': String(!!p.favorite),
      'aria-label': p.favorite ? t('Remove from favorites') : t('Add to favorites'), title: p.favorite ? t('Remove from favorites') : t('Add to favorites') },
    p.favorite ? '★' : '☆');
    action(star, async () => { await patch(`projects/${seg(p.project_id)}/`, { favorite: !p.favorite }); load(); });
    const edit = action(h('button', { type: 'button' }, t('Edit')), async () => formDialog(t('Edit project'), projectFields(p), async (values) => {
      await patch(`projects/${seg(p.project_id)}/`, projectBody(values));
      toast(t('Saved'));
      load();
    }));
    const remove = action(h('button', { type: 'button', class: 'danger' }, t('Delete')), async () => {
      if (!await confirmAction(t('Move project {name} to the trash? Its devices are unbound.', { name: p.name }), t('Delete'))) return;
      await del(`projects/${seg(p.project_id)}/`);
      toast(t('Moved to the trash'));
      load();
    });
    return h('tr', { dataset: { project: p.project_id } },
      h('td', star),
      h('td', h('a', { href: '#/p/' + seg(p.project_id), class: 'strong' }, p.name), h('div', { class: 'muted small' }, p.project_id)),
      h('td', { class: 'num' }, fmtNumber(p.device_count)),
      h('td', { class: 'num' }, p.offline_device_count ? badge(fmtNumber(p.offline_device_count), 'warn') : '0'),
      h('td', (p.tags || []).map((tag) => badge(tag, 'tag'))),
      h('td', { class: 'small' }, fmtTime(p.updated_at, 'short')),
      h('td', { class: 'actions-cell' }, edit, remove));
  }

  function trashRow(p) {
    const restore = action(h('button', { type: 'button', class: 'primary' }, t('Restore')), async () => {
      await post(`projects/${seg(p.project_id)}/restore/`);
      toast(t('Restored'));
      load();
    });
    return h('tr', h('td', p.name), h('td', p.project_id), h('td', fmtTime(p.deleted_at, 'short')), h('td', restore));
  }

  await load();
  if (!trash) searchBox.focus();
}
