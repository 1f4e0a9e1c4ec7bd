"""A plotly chart inside an Output widget, replaced whole on each redraw.

Static plotly output renders in JupyterLab and Voilà through plotly's mime renderer; setting the
Output's ``outputs`` works from any thread (training and retraining run in worker threads).
"""

from __future__ import annotations

import json

import ipywidgets as W


class PlotOutput(W.Output):
    """Shows one plotly figure; :meth:`show` replaces it."""

    def show(self, figure) -> None:
        spec = json.loads(figure.to_json())
        spec["config"] = {"displaylogo": False, "responsive": True}
        bundle = {"application/vnd.plotly.v1+json": spec, "text/plain": f"<plotly figure: {len(figure.data)} traces>"}
        self.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)
