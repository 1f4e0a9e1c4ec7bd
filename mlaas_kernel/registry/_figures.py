"""What two versions answer for the same items, side by side: each digit above its probabilities per version."""

from __future__ import annotations

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def answer_probabilities(answer: dict) -> tuple[list[str], np.ndarray]:
    """``(classes, probabilities [N, K])`` of an endpoint's /predict answer (``{"predictions": [{"probabilities": {c: p}}]}``)."""
    import numpy as np

    preds = answer["predictions"]
    classes = list(preds[0]["probabilities"]) if preds else []
    return classes, np.asarray([[p["probabilities"][c] for c in classes] for p in preds], dtype=float)


def versions_figure(images, answers: dict, *, truth=None, title: str | None = None):
    """A plotly figure: one column per item, its image on top and, below, each version's probabilities as bars.

    ``images``: ``[N, H, W]`` or ``[N, 1, H, W]`` (0..1 or 0..255); ``answers``: label -> the
    endpoint's answer for those items (see :func:`answer_probabilities`); ``truth``: the true
    classes, shown in the column titles.
    """
    import numpy as np
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    pics = np.asarray(images, dtype=float).reshape(len(images), *np.shape(images)[-2:])
    n = len(pics)
    heads = [f"true {truth[i]}" if truth is not None else f"item {i + 1}" for i in range(n)]
    fig = make_subplots(rows=2, cols=n, row_heights=[0.35, 0.65], vertical_spacing=0.08, horizontal_spacing=0.02,
                        subplot_titles=heads + [""] * n)
    for i, pic in enumerate(pics):
        fig.add_trace(go.Heatmap(z=pic[::-1], colorscale="gray", showscale=False, hoverinfo="skip"), row=1, col=i + 1)
        fig.update_xaxes(visible=False, row=1, col=i + 1)
        axes = fig.get_subplot(1, i + 1)
        fig.update_yaxes(visible=False, scaleanchor=axes.xaxis.plotly_name.replace("axis", ""), row=1, col=i + 1)
    for k, (label, answer) in enumerate(answers.items()):
        classes, proba = answer_probabilities(answer)
        for i in range(n):
            fig.add_trace(go.Bar(x=classes, y=proba[i], name=label, legendgroup=label, showlegend=i == 0,
                                 marker_color=PALETTE[k % len(PALETTE)],
                                 hovertemplate=f"{label}<br>class %{{x}}: %{{y:.3f}}<extra></extra>"), row=2, col=i + 1)
    fig.update_yaxes(range=[0, 1], row=2)
    fig.update_yaxes(showticklabels=False, row=2)
    fig.update_yaxes(showticklabels=True, row=2, col=1)
    fig.update_yaxes(title_text="probability", row=2, col=1)
    fig.update_xaxes(type="category", tickfont_size=9, row=2)
    fig.update_layout(barmode="group", bargap=0.15, height=420, margin=dict(l=50, r=10, t=70, b=40),
                      title=title or "Probabilities per class from each version", legend=dict(orientation="h", y=-0.12))
    return fig
