// Labels in English and Chinese. The English text is the key; `zh` maps it to Chinese. The language comes from the
// browser (navigator.languages) until the user picks one with the switch (kept in localStorage). Times are shown in
// the browser's time zone, numbers with a factor's decimals and unit.
import { zh } from './i18n-zh.js';

const LANG_KEY = 'iot.lang';

function detect() {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved === 'en' || saved === 'zh') return saved;
  const first = (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
  return first.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

export let lang = detect();
/** Keys asked for in Chinese that have no translation (the browser test requires it to stay empty). */
export const missing = new Set();
globalThis.__i18nMissing = missing;

export function setLang(value) {
  lang = value === 'zh' ? 'zh' : 'en';
  localStorage.setItem(LANG_KEY, lang);
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
}
document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';

/** The label for `key` in the current language, `{name}` placeholders filled from `params`. */
export function t(key, params) {
  // Enumerated API values (`status:acked`) read as the value itself in English.
  let text = key.startsWith('status:') ? key.slice(7) : key;
  if (lang === 'zh') {
    if (Object.prototype.hasOwnProperty.call(zh, key)) text = zh[key];
    else missing.add(key);
  }
  if (params) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
  return text;
}

/** An enumerated API value (a status, a role, an alert type) as a label: the value itself in English. */
export const tv = (value) => t(`status:${value}`);

const locale = () => (lang === 'zh' ? 'zh-CN' : 'en-GB');
const timeFormats = new Map();
function formatter(kind) {
  const key = lang + kind;
  if (!timeFormats.has(key)) {
    const options = kind === 'short'
      ? { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }
      : kind === 'time' ? { hour: '2-digit', minute: '2-digit', second: '2-digit' }
      : { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' };
    timeFormats.set(key, new Intl.DateTimeFormat(locale(), { ...options, hour12: false }));
  }
  return timeFormats.get(key);
}

/** A time (RFC 3339 text, Unix seconds or a Date) in the browser's time zone; '—' when absent. */
export function fmtTime(value, kind = 'long') {
  if (value === null || value === undefined || value === '') return '—';
  const date = value instanceof Date ? value : typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  if (isNaN(date.getTime())) return String(value);
  return formatter(kind).format(date);
}

/** "3 min ago" / "3 分钟前". */
export function fmtAgo(value) {
  if (!value) return t('never');
  const date = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  const seconds = Math.round((Date.now() - date.getTime()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(locale(), { numeric: 'auto' });
  const abs = Math.abs(seconds);
  if (abs < 60) return rtf.format(-seconds, 'second');
  if (abs < 3600) return rtf.format(-Math.round(seconds / 60), 'minute');
  if (abs < 86400) return rtf.format(-Math.round(seconds / 3600), 'hour');
  return rtf.format(-Math.round(seconds / 86400), 'day');
}

/** A number with `decimals` (a factor's) and its unit: "-9.5 °C". */
export function fmtValue(value, decimals, unit) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  const digits = Number.isInteger(decimals) ? Math.max(0, Math.min(6, decimals)) : undefined;
  const text = new Intl.NumberFormat(locale(), digits === undefined ? { maximumFractionDigits: 3 }
    : { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
  return unit ? `${text} ${unit}` : text;
}

export function fmtNumber(value) { return new Intl.NumberFormat(locale()).format(value); }

export function fmtBytes(bytes) {
  if (bytes === null || bytes === undefined) return '—';
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = bytes, i = 0;
  while (value >= 1024 && i < units.length - 1) { value /= 1024; i++; }
  return `${fmtNumber(Math.round(value * 10) / 10)} ${units[i]}`;
}
