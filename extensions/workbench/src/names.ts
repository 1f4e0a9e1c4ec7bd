// What tells rows apart at the sidebar's width: names end in time stamps (`mnist-cnn-20261201-153000`, a study; `-3`, its
// trial 3) that share their first 20 characters, so the row shows the stamp as a time of day and the trial's number
// (never cut), and the name before it (cut first); the full name stays in the tooltip.
import { IRun } from './api';

/** A stamped name in parts: 'mnist-cnn-20261201-153000-3' -> {base: 'mnist-cnn', time: '15:30', rest: '3'}. */
export interface IStamped {
  base: string;
  time: string | null;
  rest: string;
}

const STAMP = /^(.*?)[-_ ]?\d{8}[-_T](\d{2})(\d{2})\d{2}(?:[-_ ](.+))?$/;

export function splitStamp(name: string): IStamped {
  const m = STAMP.exec(name);
  return m && m[1] ? { base: m[1], time: `${m[2]}:${m[3]}`, rest: m[4] || '' } : { base: name, time: null, rest: '' };
}

/** A pipeline run id's time of day: '20261201-165612-a1b2' -> '16:56' (the id itself when it has another form). */
export function runTime(run: string): string {
  const m = /^\d{8}-(\d{2})(\d{2})\d{2}(-|$)/.exec(run);
  return m ? `${m[1]}:${m[2]}` : run;
}

/** A run row's name in two parts: `base` (cut when too long) and `tag` (what tells it from its neighbours, kept whole).
 *  A trial: its study's name and '15:30 · trial 3'; a stamped name: 'mnist-cnn' and '15:30'; any other name whole. */
export function runLabel(r: IRun): { base: string; tag: string } {
  const name = r.name || r.run_id.slice(0, 8);
  if (typeof r.trial === 'number') {
    const study = splitStamp(r.study || name); // a trial's name is its study's and its number
    return { base: study.base, tag: [study.time, `trial ${r.trial}`].filter(Boolean).join(' · ') };
  }
  const parts = splitStamp(name);
  return { base: parts.base, tag: [parts.time, parts.rest].filter(Boolean).join(' ') };
}
