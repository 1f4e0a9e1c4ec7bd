// The "Workbench" left-sidebar panel of MLaaS Workbench.
import { ILabShell, ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';

import { PANEL_ID, WorkbenchPanel } from './panel';
import { isUrl } from './sections';

const COMMANDS = { show: 'mlaas-workbench:show', refresh: 'mlaas-workbench:refresh' };

// jupyter-server-proxy's command that opens a program's page in a Lab tab (its iframe), as the MLflow launcher does; the
// id names its tab, so the launcher's MLflow tab and the rows' are one tab, navigated to the row's page.
const PROXY_OPEN = 'server-proxy:open';
const MLFLOW_TAB = 'server-proxy:mlflow';

/** Open MLflow's page `url` in Lab's MLflow tab (created, or shown and navigated there); false without the proxy's command. */
async function inLab(app: JupyterFrontEnd, url: string): Promise<boolean> {
  if (!app.commands.hasCommand(PROXY_OPEN)) {
    return false;
  }
  type Tab = { content?: { id?: string; url?: string } };
  const open = Array.from(app.shell.widgets('main')).some(w => (w as Tab).content?.id === MLFLOW_TAB);
  const tab = (await app.commands.execute(PROXY_OPEN, { id: MLFLOW_TAB, title: 'MLflow', url, newBrowserTab: false })) as Tab | undefined;
  if (open && tab?.content) {
    // The command only shows a tab that is open: set its page, even where it was (the person may have moved on in
    // MLflow). Only the URL's fragment differs, so MLflow's router follows without reloading the page.
    tab.content.url = url;
  }
  return true;
}

/** Open a row's target: MLflow through Lab's proxy ('/mlflow/#/...') in a Lab tab (`newTab`: a browser tab), another URL
 *  path or a tracking server's URL in a new browser tab, anything else as a document in Lab. */
function opener(app: JupyterFrontEnd): (target: string, record: boolean, newTab: boolean) => Promise<unknown> | void {
  return async (target: string, record: boolean, newTab: boolean) => {
    if (isUrl(target)) {
      const url = target.startsWith('/') ? PageConfig.getBaseUrl() + target.slice(1) : target;
      if (newTab || !target.startsWith('/mlflow/') || !(await inLab(app, url))) {
        window.open(url, '_blank', 'noopener');
      }
      return;
    }
    // A record (an executed step notebook) opens without starting a kernel: Lab 4.6's `docmanager:open` takes a
    // `kernelPreference` that overrides the file's own; the kernel selector still lets a person start one.
    return app.commands.execute('docmanager:open', record ? { path: target, kernelPreference: { shouldStart: false } } : { path: target });
  };
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'mlaas-workbench:sidebar',
  description: 'The Workbench sidebar: datasets, labelling progress, runs, models and pipeline runs of the workspace.',
  autoStart: true,
  requires: [ILabShell],
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (app: JupyterFrontEnd, shell: ILabShell, restorer: ILayoutRestorer | null, palette: ICommandPalette | null) => {
    const panel = new WorkbenchPanel({ open: opener(app) });
    shell.add(panel, 'left', { rank: 150 });
    restorer?.add(panel, PANEL_ID);
    app.commands.addCommand(COMMANDS.show, {
      label: 'Show the Workbench sidebar',
      execute: () => shell.activateById(PANEL_ID)
    });
    app.commands.addCommand(COMMANDS.refresh, {
      label: 'Refresh the Workbench sidebar',
      execute: () => panel.refresh()
    });
    palette?.addItem({ command: COMMANDS.show, category: 'MLaaS Workbench' });
    palette?.addItem({ command: COMMANDS.refresh, category: 'MLaaS Workbench' });
  }
};

export default plugin;
