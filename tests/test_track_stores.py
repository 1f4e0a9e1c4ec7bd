"""Two copies of a workspace in one process: each run's artifacts are read and written in the store the
tracking URI names now, not in the one MLflow first met the run id in (its process-wide cache)."""

from __future__ import annotations

from pathlib import Path

from _workspace import copy_workspace

from mlaas_kernel import track


def _note(root: Path, run_id: str) -> Path:
    [path] = (root / "mlartifacts").rglob(f"{run_id}/artifacts/note.txt")
    return path


def test_a_copied_workspace_keeps_its_own_artifacts(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first, second = tmp_path / "first", tmp_path / "second"
    monkeypatch.setenv("MLAAS_WORKSPACE", str(first))
    client, exp_id = track.setup("copies")
    run_id = client.create_run(exp_id).info.run_id
    client.log_text(run_id, "first", "note.txt")  # MLflow now caches this run id's artifact location (first's)
    assert _note(first, run_id).read_text() == "first"

    copy_workspace(first, second)  # the same run id, its artifact location rewritten to second's folder
    monkeypatch.setenv("MLAAS_WORKSPACE", str(second))
    copy, _ = track.setup("copies")
    assert copy.get_run(run_id).info.artifact_uri.startswith(second.as_uri())
    copy.log_text(run_id, "second", "note.txt")
    assert _note(second, run_id).read_text() == "second" and _note(first, run_id).read_text() == "first"
    assert Path(copy.download_artifacts(run_id, "note.txt", str(tmp_path / "got-second"))).read_text() == "second"

    monkeypatch.setenv("MLAAS_WORKSPACE", str(first))  # and back: the first copy's own file again
    again, _ = track.setup("copies")
    assert Path(again.download_artifacts(run_id, "note.txt", str(tmp_path / "got-first"))).read_text() == "first"
