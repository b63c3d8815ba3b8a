import { api, session } from '../api.js';
import { h, errorBox } from '../dom.js';
import { t } from '../i18n.js';

/** Username + password → POST /auth/login/ → the token in sessionStorage. */
export async function loginPage(page) {
  if (session.token) { location.replace('#/projects'); return; }
  const errors = errorBox();
  const username = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true });
  const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const button = h('button', { type: 'submit', class: 'primary', id: 'login-submit' }, t('Sign in'));
  const form = h('form', { class: 'form login' },
    h('h1', t('Sign in')),
    h('label', { class: 'row', for: 'login-username' }, h('span', { class: 'label' }, t('Username')), username),
    h('label', { class: 'row', for: 'login-password' }, h('span', { class: 'label' }, t('Password')), password),
    errors, h('div', { class: 'actions' }, button),
    h('p', { class: 'muted' }, t('Integrators can use the REST API at /api/v2/ with a token from the Tokens page.')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    errors.hide();
    button.disabled = true;
    try {
      const answer = await api('POST', 'auth/login/', { username: username.value.trim(), password: password.value }, { auth: false });
      session.token = answer.token;
      session.minted = true;
      session.me = null;
      location.hash = '#/projects';
    } catch (error) {
      errors.show(error);
      password.select();
    } finally { button.disabled = false; }
  });
  // An API token works too: the owner token `api-server` prints on its first start has no password behind it.
  const tokenErrors = errorBox();
  const tokenInput = h('input', { id: 'login-token', name: 'token', type: 'password', autocomplete: 'off', placeholder: 'iot_…' });
  const tokenForm = h('form', { class: 'form' },
    h('label', { class: 'row', for: 'login-token' }, h('span', { class: 'label' }, t('API token')), tokenInput),
    tokenErrors, h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('Sign in with the token'))));
  tokenForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    tokenErrors.hide();
    const token = tokenInput.value.trim();
    if (!token) return;
    try {
      session.me = await api('GET', 'me/', undefined, { token });
      session.token = token;
      session.minted = false;
      location.hash = '#/projects';
    } catch (error) { tokenErrors.show(error); }
  });
  page.main.append(h('section', { class: 'card narrow' }, form,
    h('details', { class: 'token-login' }, h('summary', t('Sign in with an API token instead')), tokenForm)));
  username.focus();
}
