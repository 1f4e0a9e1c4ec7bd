"""A plotly chart inside an Output widget, replaced whole on each redraw.

Static plotly output renders in JupyterLab and Voilà through plotly's mime renderer; setting the
Output's ``outputs`` works from any thread (training and retraining run in worker threads).
Inside an Output widget the renderer gets a real output model: shown as a plain cell output,
Voilà 0.5 hands plotly's renderer a bare JSON object and the renderer's ``setData`` call (it
stores a PNG of the chart) fails in the browser console, so dashboards show figures this way.

Show several charts of one page with :func:`chart_column` (one widget): in Voilà every widget on
the page waits for its model at most 2 s of wall-clock time, and the ~2 s plotly.js takes to load
on a busy 2-core machine made the second and later chart widgets give up ("widget model not
found"); the children of one widget are created with it, so they never wait.

A subplot with no data gets "no data yet" instead of plotly's made-up axes (-1..6, or
-100 %..400 % with a percent tick format).
"""

from __future__ import annotations

import json

import ipywidgets as W

__all__ = ["PlotOutput", "chart_column", "mark_empty_subplots"]

NO_DATA = "no data yet"
_DATA_KEYS = ("x", "y", "z", "values", "lat", "lon", "r", "a", "b", "source")


def _has_points(values) -> bool:
    if values is None:
        return False
    if isinstance(values, dict):  # plotly's typed-array encoding: {"dtype": ..., "bdata": ...}
        return bool(values.get("bdata"))
    if isinstance(values, (list, tuple, str)):
        return len(values) > 0
    return True


def _axis_ids(spec: dict) -> list[tuple[str, str]]:
    """The (x, y) axis pairs of the figure's subplots: ("x", "y"), ("x2", "y2"), ..."""
    layout = spec.get("layout", {})
    xs = sorted((k for k in layout if k.startswith("xaxis")), key=lambda k: int(k[5:] or 1))
    pairs = []
    for key in xs or ["xaxis"]:
        x = "x" + key[5:]
        anchor = layout.get(key, {}).get("anchor", "y" + key[5:])
        pairs.append((x, anchor if anchor and anchor != "free" else "y" + key[5:]))
    return pairs


def mark_empty_subplots(spec: dict, text: str = NO_DATA) -> dict:
    """Write ``text`` in each subplot of a plotly figure spec (``fig.to_plotly_json()``-like
    dict) that has no points, and hide that subplot's axes. Returns ``spec``, changed in place."""
    layout = spec.setdefault("layout", {})
    filled = set()
    for trace in spec.get("data", []):
        if any(_has_points(trace.get(k)) for k in _DATA_KEYS if k in trace):
            filled.add((trace.get("xaxis", "x"), trace.get("yaxis", "y")))
    annotations = list(layout.get("annotations", []))
    for x, y in _axis_ids(spec):
        if (x, y) in filled:
            continue
        for axis in ("xaxis" + x[1:], "yaxis" + y[1:]):
            layout.setdefault(axis, {}).update(visible=False)
        annotations.append({"text": text, "xref": f"{x} domain", "yref": f"{y} domain", "x": 0.5, "y": 0.5,
                            "showarrow": False, "font": {"size": 14, "color": "#888"}, "name": "mlaas-no-data"})
    layout["annotations"] = annotations
    return spec


class PlotOutput(W.Output):
    """Shows one plotly figure; :meth:`show` replaces it.

    ``PlotOutput(fig)`` shows ``fig`` at once (the way notebooks show a chart in a dashboard).
    ``empty_text`` is written in subplots that have no data.
    """

    def __init__(self, figure=None, *, empty_text: str = NO_DATA, **kwargs):
        super().__init__(**kwargs)
        self.empty_text = empty_text
        if figure is not None:
            self.show(figure)

    def show(self, figure) -> None:
        spec = mark_empty_subplots(json.loads(figure.to_json()), self.empty_text)
        spec["config"] = {"displaylogo": False, "responsive": True}
        bundle = {"application/vnd.plotly.v1+json": spec, "text/plain": f"<plotly figure: {len(figure.data)} traces>"}
        self.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)


def chart_column(*figures, empty_text: str = NO_DATA) -> W.VBox:
    """The figures one under the other, each in a :class:`PlotOutput`, as one widget."""
    return W.VBox([PlotOutput(f, empty_text=empty_text) for f in figures])
