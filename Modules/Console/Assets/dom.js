// Small DOM helpers: elements built in code (never from HTML strings, so nothing the API returns is ever parsed as
// markup), dialogs, toasts and error display.
import { t } from './i18n.js';
import { ApiError } from './api.js';

const SVG = 'http://www.w3.org/2000/svg';

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'on') for (const [event, fn] of Object.entries(value)) element.addEventListener(event, fn);
    else if (name === 'class') element.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else if (name === 'value' && 'value' in element) element.value = value;
    else if (name === 'checked' || name === 'selected' || name === 'disabled') element[name] = !!value;
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** h('button', {class: 'x', on: {click}}, 'text', child…) */
export function h(tag, attrs, ...children) {
  if (attrs instanceof Node || typeof attrs !== 'object' || Array.isArray(attrs) || attrs === null) {
    children.unshift(attrs);
    attrs = {};
  }
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) { return build(document.createElementNS(SVG, tag), attrs, children); }

export function clear(element) { while (element.firstChild) element.firstChild.remove(); return element; }

/** A short message at the bottom of the screen. */
export function toast(message, kind = 'ok') {
  const box = document.getElementById('toasts');
  const item = h('div', { class: ['toast', kind] }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 3500);
}

/** The text of an error for people: the API's `detail` as it came (Chinese details unchanged), with field problems. */
export function errorText(error) {
  if (error instanceof ApiError) return error.status === 0 ? t('Cannot reach the server: {detail}', { detail: error.detail }) : error.describe();
  return String((error && error.message) || error);
}

/** Shows an error as a toast (and returns it, for an inline box). */
export function showError(error) { toast(errorText(error), 'error'); }

/** An inline error box, filled or emptied. */
export function errorBox() {
  const box = h('p', { class: 'error-box', role: 'alert', hidden: true });
  box.show = (error) => { box.textContent = errorText(error); box.hidden = false; };
  box.hide = () => { box.textContent = ''; box.hidden = true; };
  return box;
}

/** Runs an async action from a button: disables it meanwhile, shows an error toast on failure. */
export function action(button, fn) {
  button.addEventListener('click', async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    try { await fn(event); } catch (error) { showError(error); } finally { button.disabled = false; }
  });
  return button;
}

/** A modal dialog (the native <dialog>: focus trapped, Escape closes). `body(close)` returns its content. */
export function dialog(title, body) {
  const box = h('dialog', { class: 'dialog', 'aria-label': title });
  const close = (value) => { box.close(value); box.remove(); };
  box.addEventListener('cancel', () => setTimeout(() => box.remove(), 0));
  box.append(h('h2', title), body(close));
  document.body.append(box);
  box.showModal();
  const first = box.querySelector('input, select, textarea, button.primary, button');
  if (first) first.focus();
  return box;
}

/** Asks "are you sure?"; resolves true when confirmed. */
export function confirmAction(message, confirmLabel = t('Confirm'), danger = true) {
  return new Promise((resolve) => {
    dialog(t('Please confirm'), (close) => h('div', {},
      h('p', message),
      h('div', { class: 'actions' },
        h('button', { type: 'button', on: { click: () => { close(); resolve(false); } } }, t('Cancel')),
        h('button', { type: 'button', class: ['primary', danger && 'danger'], 'data-confirm': '1',
          on: { click: () => { close(); resolve(true); } } }, confirmLabel))));
  });
}

/**
 * A form in a dialog. `fields`: [{name, label, type, value, options, required, help}]. `submit(values)` may throw an
 * ApiError, shown in the dialog with each field's problem next to it; the dialog closes when it resolves.
 */
export function formDialog(title, fields, submit, submitLabel = t('Save')) {
  return dialog(title, (close) => {
    const errors = errorBox();
    const form = h('form', { class: 'form', novalidate: false });
    const inputs = {};
    for (const field of fields) form.append(field.type === 'section' ? h('h3', field.label) : fieldRow(field, inputs));
    const submitButton = h('button', { type: 'submit', class: 'primary' }, submitLabel);
    form.append(errors, h('div', { class: 'actions' },
      h('button', { type: 'button', on: { click: () => close() } }, t('Cancel')), submitButton));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      errors.hide();
      form.querySelectorAll('.field-error').forEach((e) => e.remove());
      submitButton.disabled = true;
      try {
        await submit(readInputs(inputs), close);
        close();
      } catch (error) {
        errors.show(error);
        if (error instanceof ApiError && error.fields) {
          for (const [name, message] of Object.entries(error.fields)) {
            const input = inputs[name];
            if (input) input.closest('label').append(h('span', { class: 'field-error' }, message));
          }
        }
      } finally { submitButton.disabled = false; }
    });
    return form;
  });
}

/** One labelled input of a form; registers it in `inputs`. */
export function fieldRow(field, inputs) {
  let input;
  const id = 'f-' + field.name + '-' + Math.random().toString(36).slice(2, 7);
  if (field.type === 'select') {
    input = h('select', { id, name: field.name, required: field.required },
      field.options.map(([value, label]) => h('option', { value, selected: String(field.value) === String(value) }, label)));
  } else if (field.type === 'checkbox') {
    input = h('input', { id, type: 'checkbox', name: field.name, checked: !!field.value });
  } else if (field.type === 'textarea') {
    input = h('textarea', { id, name: field.name, rows: 3 }, field.value || '');
  } else if (field.type === 'checks') {
    input = h('fieldset', { class: 'checks', id, name: field.name },
      field.options.length ? field.options.map(([value, label]) => h('label', { class: 'check' },
        h('input', { type: 'checkbox', value, checked: (field.value || []).includes(value) }), ' ', label)) : h('span', { class: 'muted' }, t('None')));
    input.readValue = () => [...input.querySelectorAll('input:checked')].map((c) => c.value);
  } else {
    input = h('input', { id, name: field.name, type: field.type || 'text', value: field.value ?? '', required: field.required,
      placeholder: field.placeholder, step: field.step, min: field.min, max: field.max, autocomplete: field.autocomplete || 'off' });
  }
  input.fieldType = field.type || 'text';
  inputs[field.name] = input;
  const label = h('label', { class: ['row', field.type === 'checkbox' && 'inline'], for: field.type === 'checks' ? null : id },
    h('span', { class: 'label' }, field.label), input, field.help ? h('small', { class: 'muted' }, field.help) : null);
  return label;
}

/** Values of inputs: numbers as numbers (empty → null), checkboxes as booleans, checks as arrays. */
export function readInputs(inputs) {
  const values = {};
  for (const [name, input] of Object.entries(inputs)) {
    if (input.readValue) values[name] = input.readValue();
    else if (input.fieldType === 'checkbox') values[name] = input.checked;
    else if (input.fieldType === 'number') values[name] = input.value === '' ? null : Number(input.value);
    else values[name] = input.value.trim();
  }
  return values;
}

/** An empty state: what is missing and what to do next. */
export function empty(message, ...actions) {
  return h('div', { class: 'empty' }, h('p', message), actions.length ? h('div', { class: 'actions' }, actions) : null);
}

/** A table: headers and rows of cells. */
export function table(headers, rows, attrs = {}) {
  return h('div', { class: 'table-wrap' }, h('table', attrs,
    h('thead', h('tr', headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', rows)));
}

/** A status badge. */
export function badge(text, kind) { return h('span', { class: ['badge', kind] }, text); }

/** Pagination controls for a {count, next, previous} page. */
export function pager(page, current, size, go) {
  const pages = Math.max(1, Math.ceil(page.count / size));
  if (pages <= 1) return document.createTextNode('');   // callers hand it to append(), which prints a null
  return h('nav', { class: 'pager', 'aria-label': t('Pages') },
    h('button', { type: 'button', disabled: current <= 1, on: { click: () => go(current - 1) } }, '‹ ' + t('Previous')),
    h('span', t('Page {n} of {m}', { n: current, m: pages })),
    h('button', { type: 'button', disabled: current >= pages, on: { click: () => go(current + 1) } }, t('Next') + ' ›'));
}

/** Calls fn after `ms` of quiet (search boxes). */
export function debounce(fn, ms = 300) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}
