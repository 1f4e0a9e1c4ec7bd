"""The session's trained workspace and its copies (tests/_workspace.py): a copy is a workspace of its own."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from _workspace import copy_workspace, module_workspace


def _mentions(root, text: str) -> list[str]:
    """Files under ``root`` whose bytes hold ``text`` (SQLite files read through SQLite, WAL included)."""
    found = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        if path.read_bytes()[:16] == b"SQLite format 3\x00":
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
                if any(text in line for line in con.iterdump()):
                    found.append(str(path))
        elif text.encode() in path.read_bytes():
            found.append(str(path))
    return found


def test_a_copy_names_only_itself_and_what_it_writes_stays_in_it(registered_workspace, tmp_path_factory):
    from mlaas_kernel import export, registry, track
    from mlaas_kernel.models import load_run_model

    source = registered_workspace["root"]
    assert _mentions(source, str(source)), "the source's store names its own folder (what the copy must rewrite)"
    before = sorted(str(p.relative_to(source)) for p in source.rglob("*"))
    with module_workspace(tmp_path_factory, "copy", copy_of=source) as root:
        assert _mentions(root, str(source)) == []
        run_id = registered_workspace["cnn"].run_id
        client, _ = track.setup(workspace_dir=root)
        assert client.get_run(run_id).info.artifact_uri.startswith((root / "mlartifacts").as_uri())
        assert load_run_model(run_id).model.predict_proba(np.zeros((1, 28, 28), np.uint8)).shape == (1, 10)  # the model file, read here
        assert registry.resolve("mnist-cnn@champion").version == 1
        bundle = export.bundle("mnist-cnn@champion")
        assert bundle.is_relative_to(root) and (bundle / "model.onnx").is_file()
        registry.promote("mnist-cnn", 1, "challenger")
        assert registry.resolve("mnist-cnn@challenger").version == 1
    client, _ = track.setup(workspace_dir=source)
    assert set(client.get_registered_model("mnist-cnn").aliases) == {"champion"}  # the copy's alias is not here
    assert sorted(str(p.relative_to(source)) for p in source.rglob("*")) == before  # no file added to the source


def test_a_binary_file_naming_the_source_is_refused_and_an_existing_folder_too(tmp_path):
    src = tmp_path / "ws"
    src.mkdir()
    (src / "blob.bin").write_bytes(b"\xff\xfe" + str(src).encode())
    with pytest.raises(RuntimeError, match=r"blob.bin: a binary file holds the workspace's path"):
        copy_workspace(src, tmp_path / "copy")
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match="the copy's folder exists already"):
        copy_workspace(src, tmp_path / "taken")
