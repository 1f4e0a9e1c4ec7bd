"""One step in its own process: ``python -m mlaas_kernel.pipelines._worker``, its job as one JSON line on stdin.

Each step gets its own process because papermill takes the kernel's environment from the
process's (there is no per-call environment) and each step needs its own ``MLAAS_PIPELINE_*``
values; a process also gives each kernel its own event loop and ZeroMQ context, and a stuck or
interrupted step can be stopped, kernel and all, without touching the others.
The runner starts workers ahead of need: a worker imports papermill (seconds) while earlier steps
run, then waits for its job. The result (``ok``, or the failing cell and its error) goes to the
job's ``result`` file; stdout and stderr (papermill's log of the cells' outputs) to its ``log``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import traceback
from pathlib import Path

from .._kernel_args import KERNEL_ARGS

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _stop_children() -> None:
    """End the kernels this process started (jupyter_client puts them in their own session, so
    they outlive us otherwise) and anything they started."""
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(children, timeout=3)
    for child in alive:
        try:
            child.kill()
        except psutil.Error:
            pass


def _skip_slow_format_checker() -> None:
    """papermill imports nbformat, which imports jsonschema, which imports ``rfc3987_syntax`` when it
    is installed (jsonschema's ``format-nongpl`` extra, pulled in by Jupyter): that module builds a
    parser grammar at import, 2-6 s here, for a check ("iri" formats) nbformat's schema never uses.
    Hiding it makes jsonschema skip that one format checker, as it does when the package is absent."""
    sys.modules.setdefault("rfc3987_syntax", None)


def execute(job: dict, pm) -> dict:
    """Run the job's notebook with papermill; the result to write."""
    from papermill.exceptions import PapermillExecutionError

    extra = {"execution_timeout": job["timeout"]} if job.get("timeout") else {}
    try:
        pm.execute_notebook(job["input"], job["output"], parameters=job["parameters"], kernel_name="python3", cwd=job["cwd"],
                            log_output=True, progress_bar=False, extra_arguments=list(KERNEL_ARGS), **extra)
    except PapermillExecutionError as exc:
        return {"status": "failed", "error": {
            "cell": _saved_index(job["output"], exc.cell_index), "exec_count": exc.exec_count, "ename": exc.ename, "evalue": strip_ansi(str(exc.evalue)),
            "source": exc.source, "traceback": strip_ansi("\n".join(exc.traceback))}}
    except KeyboardInterrupt:
        return {"status": "interrupted", "error": {"ename": "Interrupted", "evalue": "the pipeline run was stopped"}}
    except Exception as exc:  # noqa: BLE001 - a kernel that would not start, a bad notebook: the step failed, say why
        return _crash(exc)
    return {"status": "succeeded", "error": None}


def _saved_index(output: str, index: int) -> int:
    """The failing cell's index in the saved notebook, where papermill added its error banner cells above it."""
    try:
        cells = json.loads(Path(output).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return index
    for i, cell in enumerate(cells):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return i
    return index


def _crash(exc: BaseException) -> dict:
    return {"status": "failed", "error": {"cell": None, "ename": type(exc).__name__, "evalue": strip_ansi(str(exc)), "source": "",
                                          "traceback": strip_ansi("".join(traceback.format_exception(exc)))}}


def _take_job(job: dict) -> None:
    """The step's environment (the kernel inherits it) and its log as this process's stdout and stderr."""
    for name, value in job["env"].items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr, force=True)


def _die_with_parent() -> None:
    """SIGTERM when the runner dies, even by SIGKILL (Linux ``PR_SET_PDEATHSIG``), so no step outlives its run."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: the runner's own Ctrl-C handling still stops each step
    if os.getppid() == 1:
        raise KeyboardInterrupt("the runner ended before this worker started")


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        _die_with_parent()
    except KeyboardInterrupt:
        return 130
    pm, broken = None, None
    try:
        _skip_slow_format_checker()
        import papermill as pm
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - said in the step's result once there is a step
        broken = exc
    try:
        line = sys.stdin.readline()
    except KeyboardInterrupt:
        return 130
    if not line.strip():
        return 0  # a spare worker the run did not need
    job = json.loads(line)
    result = {"status": "interrupted", "error": {"ename": "Interrupted", "evalue": "stopped before the notebook started"}}
    try:
        _take_job(job)
        result = _crash(broken) if broken else execute(job, pm)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _stop_children()
        Path(job["result"]).write_text(json.dumps(result), encoding="utf-8")
    return {"succeeded": 0, "failed": 1}.get(result["status"], 130)


if __name__ == "__main__":
    sys.exit(main())
