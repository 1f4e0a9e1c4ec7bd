// Small text formatters for the rows: counts, metrics, relative times, status colours.
import { IMetric } from './api';

export function count(n: number | null | undefined): string {
  return typeof n === 'number' && isFinite(n) ? n.toLocaleString('en-US') : '?';
}

export function metric(m: IMetric | null | undefined): string {
  if (!m || typeof m.value !== 'number' || !isFinite(m.value)) {
    return '';
  }
  const v = m.value;
  const text = Math.abs(v) < 1 ? v.toFixed(3) : Math.abs(v) < 1000 ? v.toPrecision(4) : v.toExponential(2);
  return `${m.name} ${text}`;
}

/** Milliseconds since the epoch from a number (ms) or an ISO string; null when unknown. */
export function toMillis(t: number | string | null | undefined): number | null {
  if (typeof t === 'number') {
    return isFinite(t) ? t : null;
  }
  if (typeof t === 'string' && t) {
    const ms = Date.parse(t);
    return isNaN(ms) ? null : ms;
  }
  return null;
}

/** "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function ago(ms: number | null, now: number = Date.now()): string {
  if (ms === null) {
    return '';
  }
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 5) {
    return 'just now';
  }
  if (s < 60) {
    return `${s} s ago`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)} min ago`;
  }
  if (s < 86400) {
    return `${Math.floor(s / 3600)} h ago`;
  }
  return `${Math.floor(s / 86400)} d ago`;
}

const STATUS_TONE: Record<string, string> = {
  finished: 'ok',
  succeeded: 'ok',
  cached: 'ok',
  running: 'busy',
  scheduled: 'busy',
  pending: 'busy',
  failed: 'bad',
  killed: 'warn',
  interrupted: 'warn',
  skipped: 'muted',
  unavailable: 'muted'
};

/** The colour family of a run or pipeline status (MLflow's upper-case ones too). */
export function tone(status: string | null | undefined): string {
  return STATUS_TONE[(status || '').toLowerCase()] || 'muted';
}
