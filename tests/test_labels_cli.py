"""``mlaas labels``, run as a user runs it: a real process on a real workspace."""

import pandas as pd
import pytest

from _cli import mlaas


@pytest.fixture
def pets(env, tmp_path):
    """A small image-folder dataset 'pets' (classes cat and dog, items 0..3) ingested in the workspace."""
    import numpy as np
    from PIL import Image

    root = tmp_path / "pets"
    for c, cls in enumerate(("cat", "dog")):
        (root / cls).mkdir(parents=True)
        for k in range(2):
            Image.fromarray(np.full((8, 8), 60 * k + 10 * c, np.uint8)).save(root / cls / f"{k}.png")
    out = mlaas("ingest", str(root), "--name", "pets", env=env)
    assert out.returncode == 0, out.stderr
    return root


def test_labels_import_stats_export(env, pets, tmp_path):
    good = tmp_path / "labels.csv"
    good.write_text("item,label,annotator,time\n1,cat,ana,2026-11-01T10:00:00Z\n1,dog,bob,\n2,cat,ana,\n2,cat,bob,\n")
    out = mlaas("labels", "import", "pets", str(good), env=env)
    assert out.returncode == 0 and "imported 4 labels into 'pets'" in out.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("item,label,annotator\n3,cat,ana\n3,cat,\n")
    out = mlaas("labels", "import", "pets", str(bad), env=env)
    assert out.returncode == 1 and "bad.csv: line 3: annotator is missing; nothing was imported" in out.stderr
    stats = mlaas("labels", "stats", "pets", env=env)
    assert stats.returncode == 0
    assert "Cohen's kappa 0.000 over 2 items shared by ana, bob; 1 disagreements" in stats.stdout
    assert "item 1: ana=cat, bob=dog" in stats.stdout
    for fmt in ("csv", "parquet", "jsonl"):
        target = tmp_path / f"out.{fmt}"
        res = mlaas("labels", "export", "pets", "--format", fmt, "-o", str(target), env=env)
        assert res.returncode == 0 and target.exists()
    frame = pd.read_parquet(tmp_path / "out.parquet")
    assert sorted(frame["annotator"]) == ["ana", "ana", "bob", "bob"]
    assert frame.loc[(frame["item"] == 1) & (frame["annotator"] == "ana"), "time"].iloc[0] == pd.Timestamp("2026-11-01T10:00:00Z").timestamp()
    assert mlaas("labels", "stats", "nolabels", env=env).returncode == 1


def test_import_refuses_unknown_items_and_classes_and_skip_invalid_imports_the_rest(env, pets, tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("item,label,annotator\n0,cat,ana\n99999,cat,ana\n1,banana,ana\n3,dog,ana\n")
    out = mlaas("labels", "import", "pets", str(path), env=env)
    assert out.returncode == 1 and out.stdout == ""
    assert "labels.csv: 2 bad rows; nothing was imported" in out.stderr
    assert "line 3: item 99999 is not an item of 'pets' (its items are the row positions 0..3)" in out.stderr
    assert "line 4: label 'banana' is not a class of 'pets' (cat, dog; from the dataset's manifest)" in out.stderr
    assert "no labels for dataset 'pets'" in mlaas("labels", "stats", "pets", env=env).stderr  # nothing went in
    out = mlaas("labels", "import", "pets", str(path), "--skip-invalid", env=env)
    assert out.returncode == 0, out.stderr
    assert "imported 2 labels into 'pets'" in out.stdout
    assert "skipped 2 invalid rows of" in out.stdout and "  line 3: item 99999" in out.stdout and "  line 4: label 'banana'" in out.stdout
    target = tmp_path / "out.csv"
    assert mlaas("labels", "export", "pets", "-o", str(target), env=env).returncode == 0
    assert sorted(pd.read_csv(target)["item"]) == [0, 3]


def test_import_into_a_dataset_not_ingested_is_a_clear_error(env, tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("item,label,annotator\n0,cat,ana\n")
    out = mlaas("labels", "import", "ghosts", str(path), env=env)
    assert out.returncode == 1
    assert "no dataset 'ghosts' in the workspace; ingested: (none) (ingest it first: mlaas ingest SOURCE)" in out.stderr


def test_import_with_classes_for_a_table_without_labels(env, tmp_path):
    table = tmp_path / "gpus.csv"
    table.write_text("gpuName,category\nA,Desktop\nB,Mobile\n")
    assert mlaas("ingest", str(table), "--name", "gpus", env=env).returncode == 0
    path = tmp_path / "labels.csv"
    path.write_text("item,label,annotator\n0,Desktop,ana\n1,Phone,ana\n")
    out = mlaas("labels", "import", "gpus", str(path), "--classes", "Desktop,Mobile", env=env)
    assert out.returncode == 1 and "line 3: label 'Phone' is not a class of 'gpus' (Desktop, Mobile; from --classes)" in out.stderr
    out = mlaas("labels", "import", "gpus", str(path), env=env)
    assert out.returncode == 0 and "labels not checked against classes" in out.stdout


def test_export_format_follows_the_suffix_and_a_conflict_is_an_error(env, pets, tmp_path):
    good = tmp_path / "labels.csv"
    good.write_text("item,label,annotator\n1,cat,ana\n")
    assert mlaas("labels", "import", "pets", str(good), env=env).returncode == 0
    target = tmp_path / "x.parquet"
    out = mlaas("labels", "export", "pets", "-o", str(target), env=env)
    assert out.returncode == 0, out.stderr
    assert pd.read_parquet(target).to_dict("records")[0]["label"] == "cat"  # Parquet, not CSV
    out = mlaas("labels", "export", "pets", "-o", str(tmp_path / "y.parquet"), "--format", "csv", env=env)
    assert out.returncode == 2 and "the suffix '.parquet' says parquet but the format asked for is csv" in out.stderr
    assert not (tmp_path / "y.parquet").exists()
    out = mlaas("labels", "export", "pets", "--format", "jsonl", env=env, cwd=tmp_path)
    assert out.returncode == 0 and (tmp_path / "pets-labels.jsonl").exists()
