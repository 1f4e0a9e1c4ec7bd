"""The run record mlaas run reads its summary from."""

import math

from mlaas_kernel import _runrecord


def test_records_append_only_when_asked(tmp_path, monkeypatch):
    path = tmp_path / "runs.jsonl"
    monkeypatch.delenv(_runrecord.ENV, raising=False)
    _runrecord.record("r0", status="FINISHED", metrics={"a": 1})
    assert not path.exists()
    monkeypatch.setenv(_runrecord.ENV, str(path))
    _runrecord.record("r1", status="FINISHED", metrics={"accuracy": 0.9, "loss": math.nan, "step": 3}, experiment="mnist")
    _runrecord.record("r2", status="FAILED", metrics=None)
    with open(path, "a") as f:
        f.write('{"run_id": "torn", "sta')  # a writer killed mid-line
    records = _runrecord.read(path)
    assert [r["run_id"] for r in records] == ["r1", "r2"]
    assert records[0]["metrics"] == {"accuracy": 0.9, "loss": None, "step": 3.0} and records[0]["experiment"] == "mnist"
    assert records[1]["status"] == "FAILED" and records[1]["metrics"] == {}


def test_record_never_raises(tmp_path, monkeypatch):
    monkeypatch.setenv(_runrecord.ENV, str(tmp_path / "no" / "such" / "folder" / "runs.jsonl"))
    _runrecord.record("r1", status="FINISHED", metrics={"x": object()})
    assert _runrecord.read(tmp_path / "missing.jsonl") == []
