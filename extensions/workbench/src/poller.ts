// Runs a task at once and then every `interval` ms after the previous run ends, between start() and stop().

export class Poller {
  constructor(
    private _task: () => Promise<void>,
    private _interval: number,
    private _whileHidden: () => void = () => undefined
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
        await this._task();
      }
      // A stop() (or a stop() then start()) during the task ends this loop; the new one goes on.
      if (this._running && generation === this._generation) {
        this._timer = window.setTimeout(loop, this._interval);
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
  private _generation = 0;
  private _timer: number | null = null;
}
