// The "Gate inbox" command of gatewidgets, in JupyterLab and Jupyter Notebook 7: opens the approvers'
// inbox that the gatewidgets server extension serves at <base_url>/gatewidgets/inbox in a new browser tab.
// From the command palette, the launcher (JupyterLab) and the File menu (both).
import { ICommandPalette } from '@jupyterlab/apputils';
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ILauncher } from '@jupyterlab/launcher';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { LabIcon } from '@jupyterlab/ui-components';

const COMMAND = 'gatewidgets:open-inbox';
const INBOX_PATH = 'gatewidgets/inbox';

const inboxIcon = new LabIcon({
  name: 'gatewidgets:inbox',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">' +
    '<path class="jp-icon3" fill="#616161" d="M19 3H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2V5a2 2 0 0 0-2-2zm0 ' +
    '12h-4a3 3 0 0 1-6 0H5V5h14v10zm-8.5-2.6L7.6 9.5 9 8.1l1.5 1.5L15 5.1l1.4 1.4-5.9 5.9z"/></svg>'
});

/** The inbox of the Jupyter server this page came from (its base URL, on the page's own origin). */
function inboxUrl() {
  return URLExt.join(PageConfig.getBaseUrl(), INBOX_PATH);
}

const plugin = {
  id: 'gatewidgets:inbox',
  description: "The \"Gate inbox\" command: opens the approvers' inbox of this Jupyter server in a new tab.",
  autoStart: true,
  optional: [ICommandPalette, ILauncher, IMainMenu],
  activate: (app, palette, launcher, mainMenu) => {
    app.commands.addCommand(COMMAND, {
      label: 'Gate inbox',
      caption: "Open the approvers' inbox of gatewidgets (pending decisions) in a new browser tab",
      icon: args => (args.isPalette ? undefined : inboxIcon),
      execute: () => {
        window.open(inboxUrl(), '_blank', 'noopener');
      }
    });
    if (palette) {
      palette.addItem({ command: COMMAND, category: 'gatewidgets' });
    }
    if (launcher) {
      launcher.add({ command: COMMAND, category: 'Other', rank: 90 });
    }
    if (mainMenu) {
      mainMenu.fileMenu.addGroup([{ command: COMMAND }], 90);
    }
  }
};

export default plugin;
