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
      session.me = null;
      location.hash = '#/projects';
    } catch (error) {
      errors.show(error);
      password.select();
    } finally { button.disabled = false; }
  });
  page.main.append(h('section', { class: 'card narrow' }, form));
  username.focus();
}
