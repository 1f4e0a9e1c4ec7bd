"""What a pipeline run prints: one line per step state change, the failing cell and its error, a summary table."""

from __future__ import annotations

import sys

SOURCE_LINES = 15
TRACEBACK_LINES = 12


def _seconds(value) -> str:
    return f"{value:.1f} s" if isinstance(value, (int, float)) else ""


def note(step: dict) -> str:
    """The short reason beside a step's status: cached from, the error, why it was skipped."""
    if step.get("cached_from"):
        return f"cached from {step['cached_from']}"
    error = step.get("error") or {}
    if step.get("status") == "failed" and error:
        cell = f"{_where(error)[1:]}: " if error.get("cell") is not None else ""
        return f"{cell}{error.get('ename', '')}: {error.get('evalue', '')}".splitlines()[0][:160]
    return step.get("reason") or ""


def _where(error: dict) -> str:
    """`` in cell 7 (In [5])``: the index in the saved notebook, and the execution count a notebook shows."""
    if error.get("cell") is None:
        return ""
    count = f" (In [{error['exec_count']}])" if error.get("exec_count") is not None else ""
    return f" in cell {error['cell']}{count}"


def failure_text(name: str, step: dict) -> str:
    """The failing cell's source (first lines) and the end of its traceback."""
    error = step.get("error") or {}
    where = _where(error)
    lines = [f"step {name!r} failed{where}: {error.get('ename', '?')}: {error.get('evalue', '')}"]
    source = (error.get("source") or "").splitlines()
    if source:
        lines.append("--- the failing cell ---")
        lines += source[:SOURCE_LINES] + ([f"... ({len(source) - SOURCE_LINES} more lines)"] if len(source) > SOURCE_LINES else [])
    tb = [t for t in (error.get("traceback") or "").splitlines() if t.strip()]
    if tb:
        lines.append("--- error ---")
        lines += tb[-TRACEBACK_LINES:]
    if step.get("output_notebook"):
        lines.append(f"(the partly executed notebook: {step['output_notebook']})")
    return "\n".join(lines)


def silence(stream) -> None:
    """Point a closed pipe's file descriptor at /dev/null, so later writes and the final flush do not raise."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


class Progress:
    def __init__(self, steps: list[str], *, quiet: bool = False, out=None, err=None):
        self.total = len(steps)
        self.width = max(map(len, steps)) if steps else 0
        self.quiet = quiet
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def line(self, text: str) -> None:
        if self.quiet:
            return
        try:
            print(text, file=self.out, flush=True)
        except BrokenPipeError:  # `mlaas pipeline run ... | head`: the run goes on, silently
            self.quiet = True
            silence(self.out)

    def changed(self, name: str, step: dict, done: int) -> None:
        status = step["status"]
        seconds = _seconds(step.get("seconds")) if status not in ("running", "pending") else ""
        text = f"[{done}/{self.total}] {name:<{self.width}}  {status:<11} {seconds:>8}  {note(step)}".rstrip()
        self.line(text)
        for warning in step.get("warnings") or []:
            self.line(f"  ! {warning}")
        if status == "failed":
            print(failure_text(name, step), file=self.err, flush=True)

    def summary(self, record: dict, folder) -> None:
        self.line(summary_table(record))
        self.line(f"notebooks and logs: {folder}")


def summary_table(record: dict) -> str:
    steps = record.get("steps", {})
    width = max([len(s) for s in steps] + [4])
    rows = [f"  {'step':<{width}}  {'status':<11} {'seconds':>8}  note"]
    for name, step in steps.items():
        rows.append(f"  {name:<{width}}  {step['status']:<11} {_seconds(step.get('seconds')):>8}  {note(step)}".rstrip())
    head = f"pipeline {record['pipeline']} run {record['run']}: {record['status']}"
    if record.get("status_note"):
        head += f" ({record['status_note']})"
    if record.get("seconds") is not None:
        head += f" in {record['seconds']:.1f} s"
    return "\n".join([head, *rows])
