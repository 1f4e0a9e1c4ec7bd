// The JSON that the server extension serves at /mlaas/api/overview (interfaces11.md, "REST").
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface IMetric {
  name: string;
  value: number | null;
}

export interface IDataset {
  name: string;
  kind?: string | null;
  n_items?: number | null;
  labelled?: number | null;
  annotators?: number | null;
  open?: string | null;
  /** What the row opens, said when its notebook does not start on this dataset. */
  open_note?: string | null;
}

export interface IRun {
  run_id: string;
  name?: string | null;
  status?: string | null;
  dataset?: string | null;
  kind?: string | null;
  /** The Optuna study a trial or study parent run belongs to (`mlaas.study`), and a trial's number. */
  study?: string | null;
  trial?: number | null;
  metric?: IMetric | null;
  started?: number | string | null;
  open?: string | null;
}

export interface IModelVersion {
  version: number | string;
  aliases?: string[];
  metric?: IMetric | null;
}

export interface IModel {
  name: string;
  versions?: IModelVersion[];
  open?: string | null;
}

export interface IPipelineRun {
  pipeline: string;
  run: string;
  status?: string | null;
  failed_step?: string | null;
  running_step?: string | null;
  /** Every step running now (parallel workers run several). */
  running_steps?: string[] | null;
  /** The steps this machine cannot run, with why (e.g. TensorRT without a GPU). */
  unavailable?: Record<string, string | null> | null;
  steps_unavailable?: number | null;
  steps_done?: number | null;
  steps_total?: number | null;
  started?: number | string | null;
  open?: string | null;
}

export type SectionName = 'datasets' | 'runs' | 'models' | 'pipelines';

export const SECTIONS: SectionName[] = ['datasets', 'runs', 'models', 'pipelines'];

export interface IOverview {
  workspace?: string;
  generated?: string;
  datasets: IDataset[];
  runs: IRun[];
  models: IModel[];
  pipelines: IPipelineRun[];
  errors?: Partial<Record<SectionName, string | null>>;
}

export const OVERVIEW_PATH = 'mlaas/api/overview';

/** GET the overview through Jupyter's connection settings, so the token and XSRF cookie go along. */
export async function fetchOverview(
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<IOverview> {
  const url = URLExt.join(settings.baseUrl, OVERVIEW_PATH);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, { method: 'GET' }, settings);
  } catch (error) {
    throw new Error(`cannot reach ${OVERVIEW_PATH}: ${(error as Error).message}`);
  }
  const text = await response.text();
  if (response.status === 404) {
    throw new Error(`${OVERVIEW_PATH} is not served here: the workbench's server extension is off (start JupyterLab with \`mlaas lab\`)`);
  }
  if (!response.ok) {
    throw new Error(`${OVERVIEW_PATH} answered ${response.status} ${response.statusText}${detail(text)}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(`${OVERVIEW_PATH} did not answer JSON: ${text.slice(0, 120)}`);
  }
  return normalise(data);
}

/** The message of a Jupyter error body ({"message": ...}), if any. */
function detail(text: string): string {
  try {
    const body = JSON.parse(text);
    const message = body?.message || body?.reason;
    return message ? `: ${message}` : '';
  } catch {
    return text ? `: ${text.slice(0, 120)}` : '';
  }
}

function normalise(data: unknown): IOverview {
  if (typeof data !== 'object' || data === null) {
    throw new Error(`${OVERVIEW_PATH} answered ${JSON.stringify(data)}, not an object`);
  }
  const raw = data as Record<string, unknown>;
  const list = <T>(key: SectionName): T[] => (Array.isArray(raw[key]) ? (raw[key] as T[]) : []);
  return {
    workspace: typeof raw.workspace === 'string' ? raw.workspace : undefined,
    generated: typeof raw.generated === 'string' ? raw.generated : undefined,
    datasets: list<IDataset>('datasets'),
    runs: list<IRun>('runs'),
    models: list<IModel>('models'),
    pipelines: list<IPipelineRun>('pipelines'),
    errors: (raw.errors as IOverview['errors']) || {}
  };
}
