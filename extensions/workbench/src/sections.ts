// One row builder per section of the overview, and what each section says when it is empty.
import { IDataset, IModel, IModelVersion, IPipelineRun, IRun, SectionName } from './api';
import { bar, h } from './dom';
import { count, metric, toMillis, tone } from './format';

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

/** A URL path under Lab's base URL ('/mlflow/#/...') or a tracking server's own URL: opened in a new browser tab. */
export function isUrl(open: string): boolean {
  return open.startsWith('/') || /^https?:\/\//.test(open);
}

/** A pipeline run id's time of day: '20261201-165612-a1b2' -> '16:56' (the id itself when it has another form). */
export function runTime(run: string): string {
  const m = /^\d{8}-(\d{2})(\d{2})\d{2}(-|$)/.exec(run);
  return m ? `${m[1]}:${m[2]}` : run;
}

/** The outer element of every row: its key for tests and the thing it opens. */
function row(section: SectionName, key: string, open: string | null | undefined, ...lines: HTMLElement[]): HTMLElement {
  const el = h('div', { class: 'mlaas-row', 'data-key': key, 'data-section-row': section }, ...lines);
  if (open) {
    el.dataset.open = open;
    el.tabIndex = 0;
    el.setAttribute('role', 'button');
    el.title = isUrl(open) ? `Open ${open} in a new tab` : `Open ${open}`;
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
  const details = [r.dataset, r.kind].filter(Boolean).join(' · ');
  const m = metric(r.metric);
  return row(
    'runs',
    r.run_id,
    r.open,
    line([h('span', { class: 'mlaas-name', title: `${name}\nrun ${r.run_id}` }, name)], [when(r.started)]),
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

export function pipelineRow(p: IPipelineRun): HTMLElement {
  const done = p.steps_done ?? 0;
  const total = p.steps_total ?? 0;
  const failed = p.failed_step
    ? h('span', { class: 'mlaas-failed-step', title: `step ${p.failed_step} failed` }, `failed at ${p.failed_step}`)
    : p.running_step
      ? h('span', { class: 'mlaas-muted', title: `step ${p.running_step} is running` }, `at ${p.running_step}`)
      : null;
  const el = row(
    'pipelines',
    `${p.pipeline}/${p.run}`,
    p.open,
    line(
      [h('span', { class: 'mlaas-name', title: `${p.pipeline}/${p.run}` }, p.pipeline), h('span', { class: 'mlaas-muted mlaas-runid', title: `run ${p.run}` }, runTime(p.run))],
      [when(p.started)]
    ),
    line(
      [bar(done, total, `${done} of ${total} steps done`, tone(p.status) === 'bad' ? 'bad' : 'ok'), h('span', { class: 'mlaas-muted mlaas-steps' }, `${done}/${total}`), failed],
      [status(p.status)]
    )
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
