// Runs a task at once and then every `interval` ms after the previous run ends, between start() and stop().
// After failures the wait doubles (up to `maxInterval`), so a server that is away is not asked every 5 s.

export class Poller {
  constructor(
    private _task: () => Promise<boolean>,
    private _interval: number,
    private _whileHidden: () => void = () => undefined,
    private _maxInterval = 30000
  ) {}

  get running(): boolean {
    return this._running;
  }

  start(): void {
    if (this._running) {
      return;
    }
    this._running = true;
    const generation = ++this._generation;
    const loop = async () => {
      if (document.hidden) {
        this._whileHidden(); // the browser tab is in the background: no requests, clocks only
      } else {
        this._failures = (await this._task()) ? 0 : this._failures + 1;
      }
      // A stop() (or a stop() then start()) during the task ends this loop; the new one goes on.
      if (this._running && generation === this._generation) {
        const wait = Math.min(this._maxInterval, this._interval * 2 ** Math.min(this._failures, 10));
        this._timer = window.setTimeout(loop, wait);
      }
    };
    void loop();
  }

  stop(): void {
    this._running = false;
    this._generation++;
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _running = false;
  private _failures = 0;
  private _generation = 0;
  private _timer: number | null = null;
}
