"""A study's figures as plotly: optimisation history, parameter importances, parallel coordinates, pruned trials' curves."""

from __future__ import annotations

MIN_FOR_IMPORTANCE = 2


def _complete(study):
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def _placeholder(title: str, why: str):
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.update_layout(title=f"{title}: {why}", xaxis={"visible": False}, yaxis={"visible": False})
    return fig


def importance_figure(study):
    """fANOVA importances of the parameters, or a figure that says why there are none yet."""
    import optuna

    done = _complete(study)
    if len(done) < MIN_FOR_IMPORTANCE:
        return _placeholder("Parameter importances", f"needs at least {MIN_FOR_IMPORTANCE} complete trials (this study has {len(done)})")
    varied = {k for k in done[0].params if len({str(t.params.get(k)) for t in done}) > 1}
    if not varied:
        return _placeholder("Parameter importances", "the complete trials all have the same parameters")
    return optuna.visualization.plot_param_importances(study, params=sorted(varied))


def intermediate_figure(study):
    """Validation accuracy per epoch of every trial: pruned ones in red, where the pruner stopped them."""
    import plotly.graph_objects as go
    from optuna.trial import TrialState

    fig = go.Figure()
    colours = {TrialState.PRUNED: "#d62728", TrialState.COMPLETE: "#7f7f7f", TrialState.FAIL: "#ff7f0e", TrialState.RUNNING: "#1f77b4"}
    for t in study.get_trials(deepcopy=False):
        if not t.intermediate_values:
            continue
        steps = sorted(t.intermediate_values)
        fig.add_trace(go.Scatter(x=steps, y=[t.intermediate_values[s] for s in steps], mode="lines+markers",
                                 name=f"trial {t.number} ({t.state.name.lower()})", line={"color": colours.get(t.state, "#1f77b4")},
                                 opacity=1.0 if t.state == TrialState.PRUNED else 0.5))
    n_pruned = sum(t.state == TrialState.PRUNED for t in study.trials)
    fig.update_layout(title=f"Validation accuracy per epoch ({n_pruned} pruned trial(s) in red)", xaxis_title="epoch",
                      yaxis_title="validation accuracy")
    last = max((max(t.intermediate_values) for t in study.trials if t.intermediate_values), default=1)
    fig.update_xaxes(tick0=1, dtick=1, range=[0.5, last + 0.5])  # whole epochs from 1, even with one-epoch trials
    return fig


def metric_name(study) -> str:
    """The name of the study's objective (``val_accuracy``, ``val_r2``), as set when it was created."""
    names = getattr(study, "metric_names", None)
    return names[0] if names else "Objective Value"


def history_figure(study):
    """Optuna's optimisation history, with the metric's name and whole-number trial ticks."""
    import optuna

    fig = optuna.visualization.plot_optimization_history(study, target_name=metric_name(study))
    fig.update_xaxes(tickformat="d", dtick=max(1, len(study.trials) // 10))
    return fig


def study_figures(study) -> dict:
    """``history``, ``importances``, ``parallel`` and ``intermediate`` plotly figures of ``study``."""
    import optuna

    done = _complete(study)
    if not done:
        empty = _placeholder("Study", "no complete trial yet")
        return {"history": empty, "importances": importance_figure(study), "parallel": empty, "intermediate": intermediate_figure(study)}
    return {"history": history_figure(study),
            "importances": importance_figure(study),
            "parallel": optuna.visualization.plot_parallel_coordinate(study),
            "intermediate": intermediate_figure(study)}
