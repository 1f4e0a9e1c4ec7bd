"""RunsDashboard: the MLflow runs of an experiment, the active one followed live, runs compared."""

from __future__ import annotations

import threading
import time

import ipywidgets as W
from plotly.subplots import make_subplots

from mlaas_kernel import track

from ._plot import PlotOutput

METRICS = ("loss", "val_loss", "val_accuracy")


class RunsDashboard(W.VBox):
    """Lists runs; the selected ones are drawn side by side (loss, validation loss and accuracy
    per epoch). While a run is RUNNING the dashboard re-reads it every ``poll_seconds``.

    :meth:`refresh` and :meth:`select` are the public triggers.
    """

    def __init__(self, *, experiment: str = "mlaas", poll_seconds: float = 2.0, follow: bool = True):
        self.experiment, self.poll_seconds = experiment, poll_seconds
        self.picker = W.SelectMultiple(options=[], rows=8, description="runs", layout=W.Layout(width="70%"))
        self.refresh_button = W.Button(description="Refresh", icon="refresh")
        self.summary = W.HTML()
        fig = make_subplots(rows=1, cols=3, subplot_titles=("train loss", "validation loss", "validation accuracy"))
        fig.update_layout(height=340, margin={"l": 40, "r": 10, "t": 40, "b": 30}, legend={"orientation": "h", "y": -0.25})
        fig.update_xaxes(title_text="epoch")
        self._layout = fig.layout
        self.figure = fig
        self.plot = PlotOutput()
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.picker.observe(lambda _c: self._draw(), names="value")
        super().__init__([W.HBox([self.picker, self.refresh_button]), self.summary, self.plot])
        self._stop = threading.Event()
        self.refresh()
        if follow:
            threading.Thread(target=self._follow, name="mlaas-runs-follow", daemon=True).start()

    def refresh(self) -> None:
        """Re-read the runs; the running one (or the newest) is selected when nothing is."""
        self._runs = {r.info.run_id: r for r in track.runs(self.experiment)}
        options = [(self._label(r), r.info.run_id) for r in self._runs.values()]
        keep = [v for v in self.picker.value if v in self._runs]
        running = [r.info.run_id for r in self._runs.values() if r.info.status == "RUNNING"]
        self.picker.options = options
        self.picker.value = tuple(keep or running[:1] or [v for _, v in options[:1]])
        self._draw()

    def select(self, run_ids) -> None:
        """Compare these runs."""
        self.picker.value = tuple(run_ids)

    def close(self) -> None:
        self._stop.set()
        super().close()

    @staticmethod
    def _label(run) -> str:
        acc = run.data.metrics.get("val_accuracy") or run.data.metrics.get("accuracy")
        when = time.strftime("%m-%d %H:%M", time.localtime(run.info.start_time / 1000))
        return f"{run.info.run_name} ({run.info.run_id[:6]}) · {run.info.status.lower()} · {when}" + (f" · acc {acc:.3f}" if acc is not None else "")

    def _draw(self) -> None:
        chosen = [self._runs[i] for i in self.picker.value if i in self._runs]
        traces = []
        for run in chosen:
            for col, key in enumerate(METRICS, start=1):
                points = track.metric_history(run.info.run_id, key)
                if points:
                    traces.append((col, run, key, points))
        fig = make_subplots(rows=1, cols=3, subplot_titles=("train loss", "validation loss", "validation accuracy"))
        fig.update_layout(self._layout)
        for col, run, key, points in traces:
            fig.add_scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers",
                            name=f"{run.info.run_name} ({run.info.run_id[:6]}) {key}", row=1, col=col)
        self.figure = fig
        self.plot.show(fig)
        rows = "".join(
            f"<tr><td>{r.info.run_name}</td><td>{r.info.status}</td>"
            + "".join(f"<td>{r.data.metrics.get(k, float('nan')):.4f}</td>" for k in METRICS)
            + f"<td>{r.data.tags.get('mlaas.device', '')}</td></tr>"
            for r in chosen
        )
        self.summary.value = (
            "<table class='mlaas-runs'><tr><th>run</th><th>status</th>" + "".join(f"<th>{k}</th>" for k in METRICS)
            + f"<th>device</th></tr>{rows}</table>" if chosen else "No runs yet: train one (<code>mlaas train mnist</code>)."
        )

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            if any(r.info.status == "RUNNING" for r in self._runs.values()) or not self._runs:
                try:
                    self.refresh()
                except Exception:  # the store may be briefly locked or away; try again next tick
                    continue
