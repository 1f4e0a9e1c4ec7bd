// One row builder per section of the overview, and what each section says when it is empty.
import { IDataset, IModel, IModelVersion, IPipelineRun, IRun, SectionName } from './api';
import { bar, h } from './dom';
import { count, metric, toMillis, tone } from './format';
import { runLabel, runTime } from './names';

export const TITLES: Record<SectionName, string> = {
  datasets: 'Datasets',
  runs: 'Runs',
  models: 'Models',
  pipelines: 'Pipelines'
};

export const EMPTY: Record<SectionName, string> = {
  datasets: 'No datasets yet: run notebooks/01_ingest.ipynb or `mlaas ingest mnist`.',
  runs: 'No runs yet: run notebooks/04_train.ipynb or `mlaas train mnist`.',
  models: 'No registered models yet: run notebooks/09_register_serve.ipynb or `mlaas models register RUN`.',
  pipelines: 'No pipeline runs yet: `mlaas pipeline run digits`.'
};

/** A URL path under Lab's base URL ('/mlflow/#/...': opened in a Lab tab) or a tracking server's own URL (a new browser tab). */
export function isUrl(open: string): boolean {
  return open.startsWith('/') || /^https?:\/\//.test(open);
}

/** What a row's tooltip says it opens. */
function opens(open: string): string {
  if (open.startsWith('/mlflow/')) {
    return 'Open in MLflow, in a Lab tab (Ctrl- or ⌘-click: in a new browser tab)';
  }
  return isUrl(open) ? `Open ${open} in a new tab` : `Open ${open}`;
}

/** The outer element of every row: its key for tests and the thing it opens. */
function row(section: SectionName, key: string, open: string | null | undefined, ...lines: HTMLElement[]): HTMLElement {
  const el = h('div', { class: 'mlaas-row', 'data-key': key, 'data-section-row': section }, ...lines);
  if (open) {
    el.dataset.open = open;
    el.tabIndex = 0;
    el.setAttribute('role', 'button');
    el.title = opens(open);
  } else {
    el.classList.add('mlaas-row-inert');
  }
  return el;
}

function line(left: (Node | string | null)[], right: (Node | string | null)[] = []): HTMLElement {
  return h('div', { class: 'mlaas-line' }, h('span', { class: 'mlaas-left' }, ...left), h('span', { class: 'mlaas-right' }, ...right));
}

function status(text: string | null | undefined): HTMLElement {
  const label = (text || 'unknown').toLowerCase();
  return h('span', { class: `mlaas-status mlaas-tone-${tone(text)}`, 'data-status': label }, label);
}

/** A relative time that the panel keeps current between refreshes (data-time). */
function when(t: number | string | null | undefined): HTMLElement | null {
  const ms = toMillis(t);
  if (ms === null) {
    return null;
  }
  return h('span', { class: 'mlaas-when', 'data-time': String(ms), title: new Date(ms).toLocaleString() });
}

export function datasetRow(d: IDataset): HTMLElement {
  const items = d.n_items ?? 0;
  const labelled = d.labelled ?? 0;
  const pct = items > 0 ? ` (${((100 * labelled) / items).toFixed(labelled * 1000 < items ? 2 : 1)} %)` : '';
  const annotators = d.annotators ? `${d.annotators} annotator${d.annotators === 1 ? '' : 's'}` : 'no annotators';
  const el = row(
    'datasets',
    d.name,
    d.open,
    line(
      [h('span', { class: 'mlaas-name', title: d.name }, d.name), d.kind ? h('span', { class: 'mlaas-chip' }, d.kind) : null],
      [h('span', { class: 'mlaas-labelled', title: `${count(labelled)} of ${count(d.n_items)} items labelled` }, `${count(labelled)} / ${count(d.n_items)}`)]
    ),
    line([bar(labelled, items, `${count(labelled)} of ${count(d.n_items)} labelled${pct}`)], [h('span', { class: 'mlaas-muted' }, annotators)])
  );
  if (d.open && d.open_note) {
    el.title = d.open_note;
  }
  return el;
}

export function runRow(r: IRun): HTMLElement {
  const name = r.name || r.run_id.slice(0, 8);
  const label = runLabel(r);
  const details = [r.dataset, r.kind].filter(Boolean).join(' · ');
  const m = metric(r.metric);
  const title = `${name}\nrun ${r.run_id}`;
  return row(
    'runs',
    r.run_id,
    r.open,
    line(
      [h('span', { class: 'mlaas-name mlaas-cut', title }, label.base), label.tag ? h('span', { class: 'mlaas-muted mlaas-tag', title }, label.tag) : null],
      [when(r.started)]
    ),
    line([m ? h('span', { class: 'mlaas-metric' }, m) : h('span', { class: 'mlaas-muted' }, 'no metric yet'), details ? h('span', { class: 'mlaas-muted' }, details) : null], [status(r.status)])
  );
}

function versionChip(v: IModelVersion): HTMLElement {
  const aliases = v.aliases || [];
  const title = [`version ${v.version}`, metric(v.metric)].filter(Boolean).join(': ');
  return h(
    'span',
    { class: 'mlaas-version', title },
    `v${v.version}`,
    ...aliases.map(a => h('span', { class: `mlaas-alias mlaas-alias-${a === 'champion' || a === 'challenger' ? a : 'other'}` }, a))
  );
}

export function modelRow(m: IModel): HTMLElement {
  const versions = m.versions || [];
  // Versions holding an alias, then the newest of the rest: the ones a person acts on.
  const aliased = versions.filter(v => (v.aliases || []).length > 0);
  const newest = versions.filter(v => !(v.aliases || []).length).sort((a, b) => Number(b.version) - Number(a.version))[0];
  const shown = newest ? [...aliased, newest] : aliased;
  return row(
    'models',
    m.name,
    m.open,
    line([h('span', { class: 'mlaas-name' }, m.name)], [h('span', { class: 'mlaas-muted' }, `${versions.length} version${versions.length === 1 ? '' : 's'}`)]),
    h('div', { class: 'mlaas-line mlaas-chips' }, ...shown.map(versionChip))
  );
}

/** '7/8 steps' beside the bar, and a tooltip that names the steps this machine cannot run and why. */
function steps(p: IPipelineRun): { text: string; title: string } {
  const done = p.steps_done ?? 0;
  const total = p.steps_total ?? 0;
  const missing = Object.entries(p.unavailable || {});
  const why = missing.map(([step, reason]) => `\n${step} unavailable here${reason ? `: ${reason}` : ''}`).join('');
  return { text: `${done}/${total} steps`, title: `${done} of ${total} steps done${why}` };
}

/** '1 unavailable: tensorrt' (what `mlaas pipeline status` counts as '(1 unavailable)'), on a line of its own that
 *  wraps: beside the bar it squeezed the bar to a sliver and was cut at the sidebar's width. */
function unavailable(p: IPipelineRun, title: string): HTMLElement | null {
  const names = Object.keys(p.unavailable || {});
  const n = p.steps_unavailable ?? names.length;
  if (!n) {
    return null;
  }
  const text = `${n} unavailable${names.length ? `: ${names.join(', ')}` : ''}`;
  return h('div', { class: 'mlaas-line mlaas-where mlaas-running mlaas-unavailable', title }, text);
}

/** The failed step (red), or every running step (parallel workers run several): a line of its own that wraps, so that
 *  neither is cut at the sidebar's width. */
function where(p: IPipelineRun): HTMLElement | null {
  if (p.failed_step) {
    return h('div', { class: 'mlaas-line mlaas-where' }, h('span', { class: 'mlaas-failed-step', title: `step ${p.failed_step} failed` }, `failed at ${p.failed_step}`));
  }
  const running = p.running_steps?.length ? p.running_steps : p.running_step ? [p.running_step] : [];
  if (!running.length) {
    return null;
  }
  const title = `step${running.length === 1 ? '' : 's'} ${running.join(', ')} running`;
  return h('div', { class: 'mlaas-line mlaas-where mlaas-running', title }, `running: ${running.join(', ')}`);
}

export function pipelineRow(p: IPipelineRun): HTMLElement {
  const done = p.steps_done ?? 0;
  const total = p.steps_total ?? 0;
  const counted = steps(p);
  const at = where(p);
  const gaps = unavailable(p, counted.title);
  const el = row(
    'pipelines',
    `${p.pipeline}/${p.run}`,
    p.open,
    line(
      [h('span', { class: 'mlaas-name mlaas-cut', title: `${p.pipeline}/${p.run}` }, p.pipeline), h('span', { class: 'mlaas-muted mlaas-tag mlaas-runid', title: `run ${p.run}` }, runTime(p.run))],
      [when(p.started)]
    ),
    line(
      [bar(done, total, counted.title, tone(p.status) === 'bad' ? 'bad' : 'ok'), h('span', { class: 'mlaas-muted mlaas-steps', title: counted.title }, counted.text)],
      [status(p.status)]
    ),
    ...(gaps ? [gaps] : []),
    ...(at ? [at] : [])
  );
  // An executed step notebook is a record to read: opened without starting a kernel.
  el.dataset.record = 'true';
  return el;
}

export const ROWS: { [K in SectionName]: (item: any) => HTMLElement } = {
  datasets: datasetRow,
  runs: runRow,
  models: modelRow,
  pipelines: pipelineRow
};
