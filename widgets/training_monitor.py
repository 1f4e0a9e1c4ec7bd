"""TrainingMonitor: live curves, speed, ETA, device and memory, and a Stop button."""

from __future__ import annotations

import concurrent.futures
import html
import math
import threading
import time
import warnings
from typing import Any, Callable

import ipywidgets as W
from plotly.subplots import make_subplots

from ._plot import PlotOutput


def _memory(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        used = torch.cuda.max_memory_allocated() / 2**20
        return f"{used:,.0f} MiB GPU memory (peak)"
    try:
        import resource

        return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB RSS (peak)"
    except ImportError:  # not on POSIX
        return ""


def _stats_line(progress, eta: float | None) -> str:
    """Epoch, step, speed, time left, loss, device and memory, the empty ones left out (no ``· ·``)."""
    loss = progress.metrics.get("loss")
    fields = [
        f"epoch {progress.epoch}/{progress.epochs}", f"step {progress.step}/{progress.steps_per_epoch}",
        f"<b>{progress.images_per_second:,.0f} images/s</b>", f"{eta:,.0f} s left" if eta is not None else "",
        f"loss {loss:.4f}" if loss is not None else "", progress.device, _memory(progress.device),
    ]
    return " · ".join(f for f in fields if f)


class TrainingMonitor(W.VBox):
    """A training callback that draws itself: loss and accuracy per epoch, images per second,
    a progress bar with the time left, the device and its memory, and a Stop button that ends
    training cleanly after the current step (the run is marked as stopped, the checkpoint kept).

    Use it as a callback, and run training with :meth:`run` so the kernel stays free to hear
    the Stop button. In a notebook, wait for the result with ``await monitor.finished()``: the
    kernel keeps handling widget messages while it waits, so Stop works under Run All too (a
    plain :meth:`wait` blocks the kernel: scripts only). :meth:`stop` is the button's public trigger.
    Notes from training and tracking (small data, a tracking store away) are listed under the bar.

    The accuracy chart is named by the estimator's ``metric_label`` (``EmbeddingNet``: "kNN
    accuracy"), "validation accuracy" when it has none. Once training ends the Stop button is
    disabled and says how it ended (Finished, Stopped, Failed).
    """

    METRIC_LABEL = "validation accuracy"
    STOP_TOOLTIP = "end after the current step"

    def __init__(self, *, title: str = "Training", refresh_seconds: float = 0.5):
        self.stop_requested = False
        self.refresh_seconds = refresh_seconds
        self._last_draw = 0.0
        self._thread: threading.Thread | None = None
        self._future: concurrent.futures.Future | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.bar = W.FloatProgress(value=0.0, min=0.0, max=1.0, description="", layout=W.Layout(width="60%"))
        self.stats = W.HTML()
        self.notes = W.HTML()
        self.status = W.HTML(f"<b>{html.escape(title)}</b>: waiting to start")
        self.stop_button = W.Button(description="Stop", icon="stop", button_style="danger", tooltip=self.STOP_TOOLTIP)
        self.stop_button.on_click(lambda _b: self.stop())
        self.metric_label = self.METRIC_LABEL
        fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", self.metric_label))
        fig.add_scatter(x=[], y=[], name="train loss", mode="lines+markers", row=1, col=1)
        fig.add_scatter(x=[], y=[], name="validation loss", mode="lines+markers", row=1, col=1)
        fig.add_scatter(x=[], y=[], name=self.metric_label, mode="lines+markers", row=1, col=2)
        fig.update_layout(height=300, margin={"l": 40, "r": 10, "t": 40, "b": 30}, legend={"orientation": "h", "y": -0.2})
        fig.update_xaxes(title_text="epoch", tickmode="linear", tick0=0, dtick=1)  # whole epochs only
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=2)  # accuracy is a share: never -50 %..150 %
        self.figure = fig
        self.plot = PlotOutput()
        self.plot.show(fig)
        self.title = title
        super().__init__([self.status, W.HBox([self.bar, self.stop_button]), self.stats, self.notes, self.plot])

    # ---------------------------------------------------------- public triggers
    def stop(self) -> None:
        """Ask training to end after the current step."""
        self.stop_requested = True
        self.stop_button.disabled = True
        self.status.value = f"<b>{html.escape(self.title)}</b>: stopping after the current step…"

    def run(self, fn: Callable[[], Any]) -> "TrainingMonitor":
        """Run ``fn`` (e.g. ``lambda: clf.fit(X, y)``) in a thread, so the kernel stays free for the Stop button."""
        self._future = concurrent.futures.Future()
        self.result, self.error = None, None

        def target() -> None:
            try:
                self.result = fn()
            except BaseException as exc:  # shown in the widget and re-raised by wait() / finished()
                self.error = exc
                self._end_button("Failed", "times")  # also when it failed before training began
                self.status.value = f"<b>{html.escape(self.title)}</b>: failed: {html.escape(f'{type(exc).__name__}: {exc}')}"
            self._future.set_result(None)

        self._thread = threading.Thread(target=target, name="mlaas-training", daemon=True)
        self._thread.start()
        return self

    async def finished(self) -> Any:
        """Wait for :meth:`run`'s training to end without blocking the kernel; returns its result or raises its error.

        ``result = await monitor.finished()`` in a notebook cell: the Stop button stays live, also
        under Run All, and the cells after it run once training has ended.
        """
        import asyncio

        if self._thread is not None:
            await asyncio.wrap_future(self._future)
        return self._outcome()

    def wait(self, timeout: float | None = None) -> Any:
        """Wait for :meth:`run`'s training to end, blocking (scripts); returns its result or raises its error.

        In a notebook this blocks the kernel, so the Stop button is not heard: use ``await monitor.finished()``.
        """
        if self._thread is not None and self._in_kernel_cell():
            warnings.warn("monitor.wait() blocks the kernel, so the Stop button cannot be heard until training ends: "
                          "use `await monitor.finished()` in notebooks", RuntimeWarning, stacklevel=2)
        if self._thread is not None:
            self._thread.join(timeout)
        return self._outcome()

    def _outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result

    @staticmethod
    def _in_kernel_cell() -> bool:
        """True on a kernel's main thread while a cell runs (its event loop is busy with the cell)."""
        import asyncio

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return threading.current_thread() is threading.main_thread()

    # ---------------------------------------------------------- callback hooks
    def on_train_begin(self, progress, estimator) -> None:
        # a Stop pressed before training began still counts; on_train_end clears it for the next run
        self.stop_button.disabled = self.stop_requested
        b = self.stop_button
        b.description, b.icon, b.button_style, b.tooltip = "Stop", "stop", "danger", self.STOP_TOOLTIP
        self._name_metric(getattr(estimator, "metric_label", None) or self.METRIC_LABEL)
        self.status.value = f"<b>{html.escape(self.title)}</b>: training on <code>{progress.device}</code>"
        self._draw_epochs(progress)

    def on_step_end(self, progress) -> None:
        if time.perf_counter() - self._last_draw >= self.refresh_seconds:
            self._draw_stats(progress)
            self._draw_notes(progress)

    def on_epoch_end(self, progress) -> None:
        self._draw_stats(progress)
        self._draw_notes(progress)
        self._draw_epochs(progress)

    def on_train_end(self, progress) -> None:
        self._draw_stats(progress, ended=True)
        self._draw_notes(progress)
        self.stop_requested = False
        last = progress.history[-1] if progress.history else {}
        acc = f", {self.metric_label} {last['val_accuracy']:.2%}" if "val_accuracy" in last else ""
        if getattr(progress, "error", None):
            word = f"failed during epoch {progress.epoch} of {progress.epochs}"
            self._end_button("Failed", "times")
        elif progress.stopped:
            mid_epoch = 0 < progress.step < progress.steps_per_epoch
            where = (f"during epoch {progress.epoch} of {progress.epochs} (step {progress.step} of {progress.steps_per_epoch})"
                     if mid_epoch else f"after epoch {progress.epoch} of {progress.epochs}")
            word = f"stopped by you {where}"
            self._end_button("Stopped", "stop")
        else:
            word = f"done: {progress.epochs} epochs"
            self._end_button("Finished", "check")
        self.status.value = f"<b>{html.escape(self.title)}</b>: {word}{acc}"

    def _end_button(self, text: str, icon: str) -> None:
        """Training has ended: the button is grey, disabled, and says how it ended."""
        b = self.stop_button
        b.disabled, b.description, b.icon, b.button_style, b.tooltip = True, text, icon, "", f"training {text.lower()}"

    def _name_metric(self, label: str) -> None:
        """Call the accuracy chart (its subplot title and trace) ``label``."""
        self.metric_label = label
        self.figure.layout.annotations[1].text = label
        self.figure.data[2].name = label

    # ---------------------------------------------------------- drawing
    def _draw_notes(self, progress) -> None:
        messages = getattr(progress, "messages", [])
        if messages:
            items = "".join(f"<li>{html.escape(m)}</li>" for m in messages[-8:])
            self.notes.value = f"<ul class='mlaas-monitor-notes' style='margin:2px 0'>{items}</ul>"

    def _draw_stats(self, progress, *, ended: bool = False) -> None:
        self._last_draw = time.perf_counter()
        eta = None if ended else progress.eta_seconds  # nothing is left once training has ended
        self.bar.value = progress.fraction
        self.bar.description = f"{progress.fraction:.0%}"
        self.stats.value = _stats_line(progress, eta)

    def _draw_epochs(self, progress) -> None:
        h = progress.history
        epochs = [r["epoch"] for r in h]
        self.figure.data[0].x, self.figure.data[0].y = epochs, [r["loss"] for r in h]
        self.figure.data[1].x = [r["epoch"] for r in h if "val_loss" in r]
        self.figure.data[1].y = [r["val_loss"] for r in h if "val_loss" in r]
        self.figure.data[2].x = [r["epoch"] for r in h if "val_accuracy" in r]
        self.figure.data[2].y = [r["val_accuracy"] for r in h if "val_accuracy" in r]
        # whole epochs, about 8 ticks at most however long the run (a tick per epoch of 500 would be a smear)
        span = (max(epochs) - min(epochs) + 1) if epochs else 1
        self.figure.update_xaxes(dtick=max(1, math.ceil(span / 8)))
        self.plot.show(self.figure)
