import { h } from '../dom.js';
export async function alertsPage(page) { page.main.append(h('h1', 'alerts')); }
