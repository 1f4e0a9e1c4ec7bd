// The "Workbench" left-sidebar panel of MLaaS Workbench.
import { ILabShell, ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';

import { PANEL_ID, WorkbenchPanel } from './panel';
import { isUrl } from './sections';

const COMMANDS = { show: 'mlaas-workbench:show', refresh: 'mlaas-workbench:refresh' };

/** Open a row's target: a URL path ('/mlflow/#/...') or a server's URL in a new tab, anything else as a document in Lab. */
function opener(app: JupyterFrontEnd): (target: string, record: boolean) => Promise<unknown> | void {
  return (target: string, record: boolean) => {
    if (isUrl(target)) {
      window.open(target.startsWith('/') ? PageConfig.getBaseUrl() + target.slice(1) : target, '_blank', 'noopener');
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
