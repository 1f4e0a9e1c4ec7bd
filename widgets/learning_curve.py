"""LearningCurve: held-out accuracy against the number of labels, redrawn after each retrain."""

from __future__ import annotations

import plotly.graph_objects as go

from ._plot import PlotOutput


class LearningCurve(PlotOutput):
    """A live chart of an :class:`~mlaas_kernel.active.ActiveLearner`'s ``history``.

    It subscribes to the learner and redraws when a retrain ends; :meth:`refresh` redraws now.
    """

    def __init__(self, learner, *, title: str = "Held-out accuracy as labels come in", **kwargs):
        super().__init__(**kwargs)
        self._learner = learner
        self.title = title
        self.figure = go.Figure()
        learner.on_update.append(lambda _l: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        points = [(h["labels"], h["accuracy"]) for h in self._learner.history if "accuracy" in h]
        fig = go.Figure(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name="held-out accuracy"))
        fig.update_layout(title=self.title, xaxis_title="labels", yaxis_title="accuracy", yaxis_tickformat=".0%", yaxis_range=[0, 1.02],
                          xaxis_rangemode="tozero", height=320,
                          margin={"l": 50, "r": 20, "t": 50, "b": 40})
        self.figure = fig
        self.show(fig)
