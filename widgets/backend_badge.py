"""BackendBadge: shows whether work runs on the GPU or the CPU, and every fallback with its reason."""

from __future__ import annotations

from pathlib import Path

import anywidget
import traitlets

from mlaas_kernel import compute


class BackendBadge(anywidget.AnyWidget):
    """A badge: ``GPU`` (with device names) or ``CPU`` (with why), and the list of fallbacks.

    It follows :func:`mlaas_kernel.compute.fallbacks` live: an operation that falls back to
    the CPU after the badge is shown appears in it. ``refresh()`` re-reads everything.
    """

    _esm = Path(__file__).with_name("backend_badge.js")

    device = traitlets.Unicode("cpu", help="'gpu' or 'cpu': where work runs").tag(sync=True)
    detail = traitlets.Unicode("", help="GPU names, or why the CPU is used").tag(sync=True)
    fallbacks = traitlets.List(traitlets.Unicode(), help="one line per CPU fallback: operation, reason, count").tag(sync=True)
    expanded = traitlets.Bool(False, help="whether the fallback list is open").tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.refresh()
        self._unsubscribe = compute.LOG.subscribe(lambda _entry: self._read_fallbacks())

    def refresh(self) -> None:
        """Re-detect the device and re-read the fallback list."""
        info = compute.detect()
        self.device = info.kind
        self.detail = ", ".join(info.gpus) if info.is_gpu else info.reason
        self._read_fallbacks()

    def toggle(self) -> None:
        """Open or close the fallback list (what a click on the badge does)."""
        self.expanded = not self.expanded

    def _read_fallbacks(self) -> None:
        self.fallbacks = [str(f) for f in compute.fallbacks()]

    def close(self) -> None:
        unsubscribe = getattr(self, "_unsubscribe", None)
        if unsubscribe is not None:
            unsubscribe()
        super().close()
