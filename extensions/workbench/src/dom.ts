// A tiny element builder: the panel is plain DOM, re-rendered only when its data changes.

type Child = Node | string | null | undefined | false;

export function h(
  tag: string,
  attrs: Record<string, string | undefined> = {},
  ...children: Child[]
): HTMLElement {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined) {
      el.setAttribute(key, value);
    }
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) {
      el.append(child);
    }
  }
  return el;
}

/** A thin bar filled to done/total, with the figures in its tooltip. */
export function bar(done: number, total: number, title: string, tone = 'ok'): HTMLElement {
  const ratio = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const fill = h('div', { class: `mlaas-bar-fill mlaas-tone-${tone}` });
  // A few labels out of thousands still show as a sliver, not as nothing.
  fill.style.width = ratio > 0 ? `max(2px, ${(ratio * 100).toFixed(2)}%)` : '0';
  return h('div', { class: 'mlaas-bar', role: 'progressbar', title, 'aria-valuenow': String(done), 'aria-valuemax': String(total) }, fill);
}
