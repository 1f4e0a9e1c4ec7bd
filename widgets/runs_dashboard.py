"""RunsDashboard: the MLflow runs of an experiment, followed live, runs compared."""

from __future__ import annotations

import html
import os
import threading
import time

import ipywidgets as W

from mlaas_kernel.run_feed import DEFAULT_METRICS, RunFeed

from ._plot import PlotOutput

METRICS = DEFAULT_METRICS
TITLES = ("train loss", "validation loss", "validation accuracy")
# plotly's default colour sequence: run i of the experiment (oldest first) keeps colour i
PALETTE = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880", "#ff97ff", "#fecb52")
TABLE_CSS = (
    "<style>.mlaas-runs-scroll{overflow-x:auto;max-width:100%}"
    ".mlaas-runs{border-collapse:collapse;font-size:13px;white-space:nowrap}"
    ".mlaas-runs td,.mlaas-runs th{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}"
    ".mlaas-runs .swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}</style>"
)


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.4f}"


class RunsDashboard(W.VBox):
    """Lists the runs of ``experiment``; the selected ones are drawn side by side (train loss,
    validation loss and accuracy per epoch), one colour per run in every chart.

    It follows the tracking store by itself through the store's shared
    :class:`~mlaas_kernel.run_feed.RunFeed`: new runs appear, running ones update, finished ones
    are not read again. Until a run is picked, the newest run with curves is shown. A store
    that cannot be read is said so in the widget.

    :meth:`refresh` and :meth:`select` are the public triggers; :meth:`close` leaves the feed
    (its thread stops when the last dashboard of that store closes).

    Parameters
    ----------
    experiment:
        The MLflow experiment shown.
    poll_seconds:
        How often the store is read (the shared feed reads as often as its most eager dashboard).
    follow:
        ``False`` reads once and then only on :meth:`refresh`.
    workspace_dir, feed:
        Which store (the workspace's, unless ``$MLFLOW_TRACKING_URI`` says otherwise), or a feed
        to use instead of the store's shared one.
    """

    def __init__(self, *, experiment: str = "mlaas", poll_seconds: float = 2.0, follow: bool = True,
                 workspace_dir: str | os.PathLike | None = None, feed: RunFeed | None = None):
        self.experiment = experiment
        self.feed = feed or RunFeed.shared(experiment, workspace_dir=workspace_dir, poll_seconds=poll_seconds)
        self.picker = W.SelectMultiple(options=[], rows=8, description="runs", layout=W.Layout(width="70%"))
        self.refresh_button = W.Button(description="Refresh", icon="refresh")
        self.status = W.HTML(f"reading runs from <code>{html.escape(self.feed.store_name)}</code>…")
        self.summary = W.HTML()
        self.plot = PlotOutput()
        self.figure = None
        self.colors: dict[str, str] = {}
        self._auto = True  # the selection follows the newest plottable run until someone picks
        self._setting = False
        self._drawn = None
        self._draw_lock = threading.RLock()
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.picker.observe(self._on_pick, names="value")
        super().__init__([W.HBox([self.picker, self.refresh_button]), self.status, self.summary, self.plot])
        self._unsubscribe = None
        if follow:
            self._unsubscribe = self.feed.subscribe(self._on_feed)
            if self.feed.ready.is_set():  # a shared feed that has read already: draw what it has
                self._on_feed(self.feed)
        else:
            self.refresh()

    # ------------------------------------------------------------ public triggers
    def refresh(self) -> None:
        """Read the store now and redraw."""
        self.feed.poll()
        self._on_feed(self.feed)

    def select(self, run_ids) -> None:
        """Compare these runs (the selection stops following the newest run)."""
        self.picker.value = tuple(run_ids)

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Wait until the first read of the store is drawn; True when it was."""
        return self.feed.ready.wait(timeout) and self._drawn is not None

    def wait_first_read(self, timeout: float = 60.0) -> None:
        """Wait for the first read of the store, so that the cell's output is complete
        (JupyterLab, papermill). In a Voilà kernel it returns at once: the page is sent without
        waiting and the feed fills the widget as soon as it has read. A preheated Voilà kernel
        (it ran the notebook before anyone asked for the page) keeps following the store, so the
        page shows what the store holds when it is opened, and follows it from then on."""
        if not os.environ.get("VOILA_KERNEL_ID"):
            self.wait_ready(timeout)

    def close(self) -> None:
        """Leave the feed and close the dashboard's widgets."""
        if getattr(self, "_unsubscribe", None) is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for child in (self.picker, self.refresh_button, self.status, self.summary, self.plot, *self.children):
            child.close()
        super().close()

    # ------------------------------------------------------------ state
    @property
    def runs(self):
        return self.feed.runs

    def _on_pick(self, _change) -> None:
        if not self._setting:
            self._auto = False
        self._redraw()

    def _on_feed(self, feed: RunFeed) -> None:
        try:
            with self._draw_lock:
                self._update_picker()
                self._redraw()
                self.status.value = self._status_text()
        except Exception as exc:  # drawing runs in the feed's thread: say what went wrong instead of dying there
            self.status.value = f"<span style='color:#b00020'>could not draw the runs: {html.escape(f'{type(exc).__name__}: {exc}')}</span>"

    def _status_text(self) -> str:
        if self.feed.error:
            return f"<span class='mlaas-runs-error' style='color:#b00020'>{html.escape(self.feed.error)}</span>"
        if not self.runs:
            return "no runs yet: train one (`mlaas train mnist`, or notebook 04_train) and it appears here by itself"
        running = sum(r.running for r in self.runs)
        count = f"{len(self.runs)} run" + ("s" if len(self.runs) != 1 else "")
        # the store is read every poll_seconds; the page changes only when the runs do
        return (count + (f", {running} running (followed live)" if running else "")
                + f" · checked every {self.feed.poll_seconds:g} s, last change {time.strftime('%H:%M:%S')}")

    def _update_picker(self) -> None:
        runs = self.runs
        for run in sorted(runs, key=lambda r: r.start_time):
            self.colors.setdefault(run.run_id, PALETTE[len(self.colors) % len(PALETTE)])
        options = [(self._label(r), r.run_id) for r in runs]
        known = {r.run_id for r in runs}
        keep = tuple(v for v in self.picker.value if v in known)
        if self._auto or not keep:
            newest = next((r for r in runs if r.plottable), runs[0] if runs else None)
            keep = (newest.run_id,) if newest else ()
        self._setting = True
        try:
            if list(self.picker.options) != options:
                self.picker.options = options
            if tuple(self.picker.value) != keep:
                self.picker.value = keep
        finally:
            self._setting = False

    @staticmethod
    def _label(run) -> str:
        acc = run.metrics.get("val_accuracy", run.metrics.get("accuracy"))
        when = time.strftime("%m-%d %H:%M", time.localtime(run.start_time / 1000))
        return f"{run.name} ({run.run_id[:6]}) · {run.status.lower()} · {when}" + (f" · acc {acc:.3f}" if acc is not None else "")

    # ------------------------------------------------------------ drawing
    def _chosen(self):
        by_id = {r.run_id: r for r in self.runs}
        return [by_id[i] for i in self.picker.value if i in by_id]

    def _redraw(self) -> None:
        with self._draw_lock:
            chosen = self._chosen()
            key = tuple((r.run_id, r.status, tuple(sorted(r.metrics.items()))) for r in chosen)
            if key == self._drawn:
                return
            self.figure = self._figure(chosen)
            self.plot.show(self.figure)
            self.summary.value = self._table(chosen)
            self._drawn = key

    def _figure(self, chosen):
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=1, cols=len(METRICS), subplot_titles=TITLES)
        fig.update_layout(height=340, margin={"l": 40, "r": 10, "t": 40, "b": 30}, legend={"orientation": "h", "y": -0.25},
                          showlegend=True)
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=len(METRICS))  # accuracy is a share
        fig.update_xaxes(title_text="epoch")
        for run in chosen:
            name = html.escape(f"{run.name} ({run.run_id[:6]})")  # plotly renders tags and entities in names
            first = True
            for col, key in enumerate(METRICS, start=1):
                points = run.history.get(key)
                if points:
                    fig.add_scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name=name,
                                    legendgroup=run.run_id, showlegend=first, line={"color": self.colors.get(run.run_id)},
                                    hovertemplate=f"%{{fullData.name}}<br>{key}: %{{y:.4f}} at epoch %{{x}}<extra></extra>",
                                    row=1, col=col)
                    first = False
        return fig

    def _table(self, chosen) -> str:
        if not chosen:
            if self.feed.error or not self.feed.ready.is_set():
                return ""
            return "No runs yet: train one (<code>mlaas train mnist</code>)."
        head = "".join(f"<th>{k}</th>" for k in ("run", "run id", "status", *METRICS, "other metrics", "device"))
        rows = []
        for r in chosen:
            other = ", ".join(f"{html.escape(k)} {v:.4f}" for k, v in sorted(r.metrics.items()) if k not in METRICS and not k.endswith("_step"))
            swatch = f"<span class='swatch' style='background:{self.colors.get(r.run_id, '#888')}'></span>"
            cells = [swatch + html.escape(r.name), f"<code>{html.escape(r.run_id)}</code>", html.escape(r.status),
                     *(_fmt(r.metrics.get(k)) for k in METRICS), other or "–", html.escape(r.tags.get("mlaas.device", ""))]
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        return f"{TABLE_CSS}<div class='mlaas-runs-scroll'><table class='mlaas-runs'><tr>{head}</tr>{''.join(rows)}</table></div>"
