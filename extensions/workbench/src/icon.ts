import { LabIcon } from '@jupyterlab/ui-components';

import svg from '../style/icons/workbench.svg';

export const workbenchIcon = new LabIcon({ name: 'mlaas-workbench:icon', svgstr: svg });
