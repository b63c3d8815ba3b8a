// The console's entry: the header (navigation, language switch, sign-out), a hash router (#/projects, #/p/ID, …) and
// the life cycle of a page (its timers stop when the user leaves it).
import { api, get, del, session, setUnauthorizedHandler } from './api.js';
import { h, clear, showError, toast } from './dom.js';
import { t, lang, setLang } from './i18n.js';
import { loginPage } from './pages/login.js';
import { projectsPage } from './pages/projects.js';
import { devicesPage } from './pages/devices.js';
import { devicePage } from './pages/device.js';
import { alertsPage } from './pages/alerts.js';
import { exportsPage } from './pages/exports.js';
import { tokensPage } from './pages/tokens.js';

/** What a page gets: where to draw, timers that stop on leaving, and the route parameters. */
class PageContext {
  constructor(main, params, query) {
    this.main = main;
    this.params = params;
    this.query = query;
    this.timers = [];
    this.alive = true;
  }
  /** setInterval that ends with the page (and skips ticks while the tab is hidden). */
  every(ms, fn) {
    const id = setInterval(() => { if (this.alive && !document.hidden) fn(); }, ms);
    this.timers.push(id);
    return id;
  }
  leave() {
    this.alive = false;
    this.timers.forEach(clearInterval);
    if (this.onLeave) this.onLeave();
  }
}

const routes = [
  [/^#\/login$/, loginPage, { public: true }],
  [/^#\/projects$/, projectsPage],
  [/^#\/tokens$/, tokensPage],
  [/^#\/p\/([^/]+)$/, devicesPage],
  [/^#\/p\/([^/]+)\/d\/(\d+)$/, devicePage],
  [/^#\/p\/([^/]+)\/alerts$/, alertsPage],
  [/^#\/p\/([^/]+)\/exports$/, exportsPage],
];

let current = null;

async function render() {
  const [path, search] = (location.hash || '#/projects').split('?');
  const query = new URLSearchParams(search || '');
  const main = document.getElementById('main');
  if (current) current.leave();
  let match = null;
  for (const [pattern, page, options] of routes) {
    const m = path.match(pattern);
    if (m) { match = { page, options: options || {}, params: m.slice(1).map(decodeURIComponent) }; break; }
  }
  if (!match) { location.replace('#/projects'); return; }
  if (!match.options.public && !session.token) { location.replace('#/login'); return; }
  if (!match.options.public && !session.me) {
    try { session.me = await get('me/'); } catch (error) { if (session.token) showError(error); return; }
  }
  drawHeader(path);
  clear(main);
  const context = new PageContext(main, match.params, query);
  context.me = session.me;
  current = context;
  try {
    await match.page(context);
  } catch (error) {
    if (context.alive) { showError(error); }
  }
  if (context.alive) document.title = (main.querySelector('h1')?.textContent || 'IoT') + ' · IoT Console';
}

function drawHeader(path) {
  const top = clear(document.getElementById('top'));
  const switcher = h('button', { type: 'button', class: 'lang', 'aria-label': t('Language'), title: t('Language'),
    on: { click: () => { setLang(lang === 'zh' ? 'en' : 'zh'); render(); } } }, lang === 'zh' ? 'English' : '中文');
  const brand = h('a', { class: 'brand', href: '#/projects' }, h('img', { src: '/console/favicon.svg', alt: '', width: 22, height: 22 }), ' ', t('IoT Console'));
  if (!session.token) { top.append(h('nav', { class: 'bar' }, brand, h('span', { class: 'spacer' }), switcher)); return; }
  const link = (href, label) => h('a', { href, 'aria-current': path.startsWith(href) ? 'page' : null }, label);
  const me = session.me;
  top.append(h('nav', { class: 'bar', 'aria-label': t('Main') }, brand,
    link('#/projects', t('Projects')), link('#/tokens', t('Tokens')),
    h('span', { class: 'spacer' }),
    me ? h('span', { class: 'who', title: me.organization.name }, `${me.user.username} · ${me.organization.slug}`) : null,
    switcher,
    h('button', { type: 'button', class: 'signout', on: { click: signOut } }, t('Sign out'))));
}

async function signOut() {
  // A token minted by the password login is revoked, not only forgotten; a pasted API token stays valid.
  try { if (session.minted && session.me?.token?.id) await del(`tokens/${session.me.token.id}/`); } catch { /* already invalid */ }
  session.token = null;
  session.minted = false;
  session.me = null;
  location.hash = '#/login';
}

setUnauthorizedHandler(() => {
  session.token = null;
  session.me = null;
  toast(t('Your session ended; please sign in again.'), 'error');
  location.hash = '#/login';
});

window.addEventListener('hashchange', render);
render();

export { render };
