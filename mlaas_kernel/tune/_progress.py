"""One progress bar for a study, fed by polling its storage, so it counts every worker's trials."""

from __future__ import annotations

from dataclasses import dataclass

from ._trials import INTERRUPTED_ATTR


@dataclass
class Counts:
    """Trials of this invocation by state, and the study's best value so far."""

    complete: int = 0
    pruned: int = 0
    failed: int = 0
    stopped: int = 0  # FAIL because Ctrl-C stopped them
    running: int = 0
    best: float | None = None

    @property
    def done(self) -> int:
        return self.complete + self.pruned + self.failed + self.stopped

    def text(self) -> str:
        best = f"{self.best:.4f}" if self.best is not None else "-"
        stopped = f", stopped {self.stopped}" if self.stopped else ""
        return f"complete {self.complete}, pruned {self.pruned}, failed {self.failed}{stopped}, running {self.running}, best {best}"


def count_trials(study, *, first_number: int = 0) -> Counts:
    """States of the trials numbered ``first_number`` and up; the best over all complete trials."""
    from optuna.trial import TrialState

    c = Counts()
    values = []
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.COMPLETE:
            values.append(t.value)
        if t.number < first_number:
            continue
        if t.state == TrialState.COMPLETE:
            c.complete += 1
        elif t.state == TrialState.PRUNED:
            c.pruned += 1
        elif t.state == TrialState.FAIL and t.user_attrs.get(INTERRUPTED_ATTR):
            c.stopped += 1
        elif t.state == TrialState.FAIL:
            c.failed += 1
        elif t.state == TrialState.RUNNING:
            c.running += 1
    c.best = max(values) if values else None
    return c


class StudyProgress:
    """A tqdm bar (a widget in notebooks, text in terminals): trials done of ``total``, by state, and the best so far."""

    def __init__(self, study, *, total: int, first_number: int = 0, show: bool = True):
        self.study, self.first_number = study, first_number
        self.counts = Counts()
        self.bar = None
        if show:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=f"study {study.study_name}", unit="trial", dynamic_ncols=True)

    def update(self) -> Counts:
        self.counts = count_trials(self.study, first_number=self.first_number)
        if self.bar is not None:
            self.bar.n = self.counts.done
            self.bar.set_postfix_str(self.counts.text(), refresh=False)
            self.bar.refresh()
        return self.counts

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
