import { h } from '../dom.js';
export async function exportsPage(page) { page.main.append(h('h1', 'exports')); }
