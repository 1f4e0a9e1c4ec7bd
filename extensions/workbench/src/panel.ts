// The Workbench sidebar: four sections over /mlaas/api/overview, polled while the panel is visible.
import { refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { fetchOverview, IOverview, SECTIONS } from './api';
import { h } from './dom';
import { ago } from './format';
import { workbenchIcon } from './icon';
import { Poller } from './poller';
import { SectionView, showError } from './sectionview';

export const PANEL_ID = 'mlaas-workbench';

export interface IPanelOptions {
  /** Open a row's target (a path relative to the server's root, or a URL path starting with '/'); `record`: a notebook to
   *  read (an executed pipeline step), opened without a kernel; `newTab`: a modifier- or middle-click (a browser tab). */
  open: (target: string, record: boolean, newTab: boolean) => Promise<unknown> | void;
  /** Fetches the overview (default: GET /mlaas/api/overview with the page's settings). */
  fetch?: () => Promise<IOverview>;
  /** Milliseconds between refreshes while visible (default 5000). */
  interval?: number;
}

export class WorkbenchPanel extends Widget {
  constructor(options: IPanelOptions) {
    super();
    this.id = PANEL_ID;
    this.addClass('mlaas-Workbench');
    this.title.icon = workbenchIcon;
    // Icon only in the tab bar, as Lab's own sidebars; the name shows as the tab's tooltip.
    this.title.caption = 'Workbench: datasets, runs, models and pipeline runs of the workspace';
    this._open = options.open;
    this._fetch = options.fetch || (() => fetchOverview());
    this._poller = new Poller(() => this.refresh(), options.interval ?? 5000, () => this._tick());
    this._sections = SECTIONS.map(name => new SectionView(name));
    this._button = h('button', { class: 'mlaas-refresh jp-ToolbarButtonComponent', title: 'Refresh now', 'aria-label': 'Refresh' });
    refreshIcon.element({ container: this._button, elementPosition: 'center', height: '16px', width: '16px' });
    this._button.addEventListener('click', () => void this.refresh());
    const header = h('div', { class: 'mlaas-header' }, this._title, h('span', { class: 'mlaas-spacer' }), this._updated, this._button);
    const scroller = h('div', { class: 'mlaas-sections' }, ...this._sections.map(s => s.node));
    scroller.addEventListener('click', event => this._activate(event));
    scroller.addEventListener('auxclick', event => event.button === 1 && this._activate(event));
    scroller.addEventListener('keydown', event => (event.key === 'Enter' || event.key === ' ') && this._activate(event));
    this.node.append(header, this._banner, scroller);
  }

  /** The last overview shown (kept while requests fail). */
  get data(): IOverview | null {
    return this._data;
  }

  /** Fetch the overview now and render it; a failure shows inline and keeps the last data. True when it worked. */
  refresh(): Promise<boolean> {
    if (!this._inflight) {
      this._inflight = this._refresh().finally(() => (this._inflight = null));
    }
    return this._inflight;
  }

  dispose(): void {
    this._poller.stop();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    this._poller.start();
  }

  protected onAfterAttach(msg: Message): void {
    if (this.isVisible) {
      this._poller.start(); // restored open with the layout: no after-show comes
    }
  }

  protected onAfterHide(msg: Message): void {
    this._poller.stop();
  }

  protected onBeforeDetach(msg: Message): void {
    this._poller.stop();
  }

  private async _refresh(): Promise<boolean> {
    this._button.classList.add('mlaas-busy');
    try {
      const data = await this._fetch();
      this._data = data;
      this._fetched = Date.now();
      showError(this._banner, null);
      this._title.title = data.workspace ? `workspace: ${data.workspace}` : '';
      for (const section of this._sections) {
        section.render(data[section.name] as unknown[], data.errors?.[section.name] || null);
      }
      return true;
    } catch (error) {
      // Keep the last rows: a server restart or a dropped connection should not blank the panel.
      showError(this._banner, `Could not refresh: ${(error as Error).message || error}`);
      return false;
    } finally {
      this._button.classList.remove('mlaas-busy');
      this._tick();
    }
  }

  /** Relative times follow the clock between refreshes. */
  private _tick(): void {
    const now = Date.now();
    this._updated.textContent = this._fetched ? `updated ${ago(this._fetched, now)}` : 'loading…';
    this.node.querySelectorAll<HTMLElement>('.mlaas-when[data-time]').forEach(el => {
      el.textContent = ago(Number(el.dataset.time), now);
    });
  }

  private _activate(event: MouseEvent | KeyboardEvent): void {
    const row = (event.target as HTMLElement).closest<HTMLElement>('.mlaas-row[data-open]');
    if (!row) {
      return;
    }
    event.preventDefault();
    const target = row.dataset.open!;
    const newTab = event.ctrlKey || event.metaKey || event.shiftKey || (event instanceof MouseEvent && event.button === 1);
    Promise.resolve(this._open(target, row.dataset.record === 'true', newTab)).catch(error => showError(this._banner, `Could not open ${target}: ${(error as Error).message || error}`));
  }

  private _open: IPanelOptions['open'];
  private _fetch: () => Promise<IOverview>;
  private _poller: Poller;
  private _sections: SectionView[];
  private _data: IOverview | null = null;
  private _fetched = 0;
  private _inflight: Promise<boolean> | null = null;
  private _button: HTMLElement;
  private _updated = h('span', { class: 'mlaas-updated' }, 'loading…');
  private _title = h('span', { class: 'mlaas-title' }, 'Workbench');
  private _banner = h('div', { class: 'mlaas-error mlaas-banner', role: 'alert', hidden: '' });
}
