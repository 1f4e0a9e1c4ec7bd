// One collapsible section of the panel: a header with a count, an inline error, and its rows.
import { SectionName } from './api';
import { h } from './dom';
import { EMPTY, ROWS, TITLES } from './sections';

export class SectionView {
  readonly node: HTMLElement;

  constructor(readonly name: SectionName) {
    this._count = h('span', { class: 'mlaas-count' });
    const toggle = h(
      'button',
      { class: 'mlaas-section-head', 'aria-expanded': 'true' },
      h('span', { class: 'mlaas-caret' }),
      h('span', { class: 'mlaas-section-title' }, TITLES[name]),
      this._count
    );
    this._error = h('div', { class: 'mlaas-error mlaas-section-error', role: 'alert', hidden: '' });
    this._body = h('div', { class: 'mlaas-section-body' }, h('div', { class: 'mlaas-empty' }, 'loading…'));
    this.node = h('section', { class: 'mlaas-section', 'data-section': name }, toggle, this._error, this._body);
    toggle.addEventListener('click', () => {
      const collapsed = this.node.classList.toggle('mlaas-collapsed');
      toggle.setAttribute('aria-expanded', String(!collapsed));
    });
  }

  /** Show `items` (rows rebuilt only when they changed) and the section's error, if any. */
  render(items: unknown[], error: string | null): void {
    showError(this._error, error);
    this._count.textContent = String(items.length);
    const text = JSON.stringify(items);
    if (text === this._rendered) {
      return; // unchanged: leave the rows (and any focus on them) alone
    }
    this._rendered = text;
    const rows = items.map(item => ROWS[this.name](item));
    const empty = error ? [] : [h('div', { class: 'mlaas-empty' }, ...withCode(EMPTY[this.name]))];
    this._body.replaceChildren(...(rows.length ? rows : empty));
  }

  private _count: HTMLElement;
  private _error: HTMLElement;
  private _body: HTMLElement;
  private _rendered: string | null = null;
}

/** `text` with its `backticked` parts as <code>. */
function withCode(text: string): (string | HTMLElement)[] {
  return text.split('`').map((part, i) => (i % 2 ? h('code', {}, part) : part));
}

export function showError(el: HTMLElement, message: string | null): void {
  el.textContent = message || '';
  el.hidden = !message;
}
