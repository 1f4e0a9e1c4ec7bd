// The "Workbench" left-sidebar panel of MLaaS Workbench.
import { ILabShell, ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';

import { PANEL_ID, WorkbenchPanel } from './panel';

const COMMANDS = { show: 'mlaas-workbench:show', refresh: 'mlaas-workbench:refresh' };

/** Open a row's target: a URL path ('/mlflow/#/...') in a new tab, anything else as a document in Lab. */
function opener(app: JupyterFrontEnd): (target: string) => Promise<unknown> | void {
  return (target: string) => {
    if (target.startsWith('/')) {
      window.open(PageConfig.getBaseUrl() + target.slice(1), '_blank', 'noopener');
      return;
    }
    return app.commands.execute('docmanager:open', { path: target });
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
