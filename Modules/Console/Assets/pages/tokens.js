import { h } from '../dom.js';
export async function tokensPage(page) { page.main.append(h('h1', 'tokens')); }
