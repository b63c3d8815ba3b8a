import { h } from '../dom.js';
export async function devicePage(page) { page.main.append(h('h1', 'device')); }
