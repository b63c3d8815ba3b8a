import { get, seg } from '../api.js';
import { h } from '../dom.js';
import { t } from '../i18n.js';

const projectCache = new Map();

/** The project (cached for the session; refreshed by `fresh`). */
export async function loadProject(projectID, fresh = false) {
  if (fresh || !projectCache.has(projectID)) projectCache.set(projectID, await get(`projects/${seg(projectID)}/`));
  return projectCache.get(projectID);
}

/** The project's title and its tabs: devices, alerts, exports. */
export function projectHead(project, active, ...tools) {
  const base = '#/p/' + seg(project.project_id);
  const tab = (href, label, key) => h('a', { href, class: 'tab', 'aria-current': key === active ? 'page' : null }, label);
  return h('div', { class: 'project-head' },
    h('nav', { class: 'crumbs', 'aria-label': t('Breadcrumb') }, h('a', { href: '#/projects' }, t('Projects')), ' / ', project.name),
    h('div', { class: 'page-head' }, h('h1', project.name), h('div', { class: 'tools' }, tools)),
    h('nav', { class: 'tabs', 'aria-label': t('Project sections') },
      tab(base, t('Devices'), 'devices'), tab(base + '/alerts', t('Alerts'), 'alerts'), tab(base + '/exports', t('Exports'), 'exports')));
}

/** Factors of a device by agri_id (decimals and unit for formatting). */
export async function factorsByAgri(projectID, pk) {
  const factors = await get(`projects/${seg(projectID)}/devices/${pk}/factors/`);
  return new Map(factors.map((f) => [f.agri_id, f]));
}

/** The value of a latest-data entry: the factor's name is the key when known, else `value`. */
export function latestValue(entry) {
  if ('value' in entry && typeof entry.value === 'number') return entry.value;
  for (const [key, value] of Object.entries(entry)) if (key !== 'agri_id' && key !== 't' && typeof value === 'number') return value;
  return null;
}
