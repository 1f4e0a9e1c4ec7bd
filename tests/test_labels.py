"""The label store on a real SQLite file: events, undo, agreement, files, snapshots, concurrency."""

import json
import subprocess
import sys

import pytest
from sklearn.metrics import cohen_kappa_score

from mlaas_kernel.labels import LabelImportError, LabelStore, cohen_kappa, consensus, fleiss_kappa, load_snapshot


@pytest.fixture
def store(workspace):
    s = LabelStore()
    yield s
    s.close()


def test_undo_also_undoes_a_skip_and_skipped_items_come_back(store):
    store.label("d", 1, "a", annotator="ana")
    store.skip("d", 2, annotator="ana")
    store.skip("d", 3, annotator="ana")
    assert store.skipped_items("d", annotator="ana") == {2, 3}
    undone = store.undo("d", annotator="ana")
    assert (undone["kind"], undone["item"]) == ("skip", 3)
    assert store.skipped_items("d", annotator="ana") == {2} and store.done_items("d", annotator="ana") == {1, 2}
    assert store.unskip("d", annotator="ana") == [2]
    assert store.skipped_items("d", annotator="ana") == set() and store.done_items("d", annotator="ana") == {1}
    store.skip("d", 4, annotator="ana")
    store.label("d", 4, "b", annotator="ana")  # labeled after a skip: labeled, not skipped
    assert store.skipped_items("d", annotator="ana") == set() and store.labels("d", annotator="ana") == {1: "a", 4: "b"}
    assert store.unskip("d", annotator="bob") == []


def test_label_is_committed_and_undo_is_an_event(store, workspace):
    store.label("mnist", 5, 3, annotator="ana", seconds=1.5)
    store.label("mnist", 5, 8, annotator="ana", seconds=0.7)  # relabel
    store.label("mnist", 6, 1, annotator="ana")
    # another connection (another process would see the same) reads what was committed
    other = LabelStore(workspace / "labels.db")
    assert other.labels("mnist", annotator="ana") == {5: "8", 6: "1"}
    undone = store.undo("mnist", annotator="ana")
    assert undone["item"] == 6
    undone = store.undo("mnist", annotator="ana")
    assert undone["item"] == 5 and undone["label"] == "8"
    assert other.labels("mnist", annotator="ana") == {5: "3"}  # back to the earlier label
    kinds = [e["kind"] for e in store.events("mnist")]
    assert kinds == ["label", "label", "label", "undo", "undo"]
    [row] = store.current("mnist")
    assert (row["item"], row["label"], row["seconds"], row["source"]) == (5, "3", 1.5, "human")
    assert store.undo("other", annotator="ana") is None


def test_annotators_are_kept_apart(store):
    store.label("d", 1, "a", annotator="ana")
    store.label("d", 1, "b", annotator="bob")
    store.undo("d", annotator="bob")
    assert store.labels("d", annotator="ana") == {1: "a"} and store.labels("d", annotator="bob") == {}
    store.skip("d", 2, annotator="ana")
    assert store.done_items("d", annotator="ana") == {1, 2}
    with pytest.raises(ValueError, match="annotator is empty"):
        store.label("d", 3, "a", annotator=" ")
    with pytest.raises(ValueError, match="source 'robot' is not one of"):
        store.label("d", 3, "a", annotator="ana", source="robot")


def test_cohen_kappa_worked_example():
    # Wikipedia's example: 50 proposals, both yes 20, both no 15, A yes/B no 5, A no/B yes 10 -> kappa 0.4
    a = ["yes"] * 20 + ["no"] * 15 + ["yes"] * 5 + ["no"] * 10
    b = ["yes"] * 20 + ["no"] * 15 + ["no"] * 5 + ["yes"] * 10
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert cohen_kappa(["x", "x"], ["x", "x"]) == 1.0


def test_fleiss_kappa_worked_example():
    # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories -> kappa 0.210
    table = [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(table) == pytest.approx(0.2099, abs=5e-4)
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([[1, 1], [2, 1]])


def test_agreement_consensus_and_disagreements(store):
    for item, labels in {1: "aab", 2: "bbb", 3: "abc", 4: "aaa"}.items():
        for annotator, label in zip(["ana", "bob", "cy"], labels):
            store.label("d", item, label, annotator=annotator)
    agreement = store.agreement("d")
    assert agreement.method == "Fleiss'" and agreement.shared_items == 4
    assert set(agreement.disagreements) == {1, 3}
    assert store.labels("d") == {1: "a", 2: "b", 4: "a"}  # item 3 ties: no consensus
    assert consensus({9: {"x": "1", "y": "2"}}) == {9: None}
    counts, _ = store.stats("d")
    assert counts.loc["a", "total"] == 6 and counts.loc["b", "bob"] == 2
    two = LabelStore(store.path)
    for item, (x, y) in {1: "aa", 2: "ab", 3: "bb"}.items():
        two.label("e", item, x, annotator="ana")
        two.label("e", item, y, annotator="bob")
    ag = two.agreement("e")
    assert ag.method == "Cohen's" and ag.kappa == pytest.approx(cohen_kappa_score(list("aab"), list("abb")))


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_export_import_round_trip(store, tmp_path, fmt):
    store.label("d", 1, "cat", annotator="ana", seconds=2.0)
    store.label("d", 2, "dog", annotator="bob")
    path = store.export("d", tmp_path / f"labels.{fmt}")
    fresh = LabelStore(tmp_path / "other.db")
    assert fresh.import_file("d", path, check=False).imported == 2
    assert fresh.labels_by_item("d") == {1: {"ana": "cat"}, 2: {"bob": "dog"}}
    assert {e["source"] for e in fresh.events("d")} == {"import"}
    times = sorted(r["time"] for r in fresh.current("d"))
    assert times == pytest.approx(sorted(r["time"] for r in store.current("d")))


@pytest.mark.parametrize(
    "text, message",
    [
        ("item,label,annotator\n1,a,ana\n2,,ana\n", "line 3: label is missing"),
        ("item,label,annotator\n1,a,ana\nx,b,ana\n", "line 3: item 'x' is not an integer"),
        ("item,label,annotator,time\n1,a,ana,yesterday-ish\n", "bad.csv: line 2: "),
        ("item,label\n1,a\n", "missing column\\(s\\) annotator"),
    ],
)
def test_bad_rows_name_their_line_and_import_nothing(store, tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(LabelImportError, match=message):
        store.import_file("d", path, check=False)
    assert store.events("d") == []


def test_jsonl_bad_line_number(store, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [{"item": 1, "label": "a", "annotator": "x"}, {"item": 2, "label": "b", "annotator": ""}]) + "\n")
    with pytest.raises(LabelImportError, match="bad.jsonl: line 2: annotator is empty; nothing was imported"):
        store.import_file("d", path, check=False)


def test_snapshot_hash_depends_only_on_the_labels(store, workspace, tmp_path):
    store.label("d", 2, "b", annotator="ana")
    store.label("d", 1, "a", annotator="ana")
    snap = store.snapshot("d")
    other = LabelStore(tmp_path / "x.db", workspace_dir=workspace)
    other.label("d", 1, "a", annotator="zed")
    other.label("d", 2, "b", annotator="zed")
    assert other.snapshot("d").hash == snap.hash  # same labels, other order and annotator
    frame = load_snapshot(snap.ref)
    assert frame.to_dict("list") == {"item": [1, 2], "label": ["a", "b"]}
    store.label("d", 3, "c", annotator="ana")
    assert store.snapshot("d").hash != snap.hash
    assert snap.path.exists() and snap.ref.startswith("d@sha256:")


WRITER = """
import sys
from mlaas_kernel.labels import LabelStore
s = LabelStore(sys.argv[1])
for i in range(int(sys.argv[3])):
    s.label("d", i, "x", annotator=sys.argv[2])
"""


def test_two_processes_write_at_once(workspace):
    path = workspace / "labels.db"
    LabelStore(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, "300"]) for name in ("ana", "bob")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    store = LabelStore(path)
    assert len(store.events("d")) == 600
    assert len(store.labels("d", annotator="ana")) == 300 and len(store.labels("d", annotator="bob")) == 300


def test_concurrent_undos_by_one_annotator_undo_different_labels(workspace):
    """Two threads (each with its own SQLite connection) undo at the same moment, many times."""
    import threading

    path = workspace / "labels.db"
    trials, clashes = 200, 0
    for trial in range(trials):
        dataset = f"race{trial}"
        LabelStore(path).label(dataset, 1, "a", annotator="ana")
        LabelStore(path).label(dataset, 2, "b", annotator="ana")
        stores = [LabelStore(path), LabelStore(path)]
        barrier = threading.Barrier(2)
        undone = [None, None]

        def undo(k):
            barrier.wait()
            undone[k] = stores[k].undo(dataset, annotator="ana")["id"]

        threads = [threading.Thread(target=undo, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        clashes += undone[0] == undone[1]
        assert stores[0].labels(dataset, annotator="ana") == {} or undone[0] == undone[1]
    assert clashes == 0, f"{clashes} of {trials} trials undid the same label twice"


UNDOER = """
import sys
from mlaas_kernel.labels import LabelStore
s = LabelStore(sys.argv[1])
for _ in range(int(sys.argv[2])):
    s.undo("d", annotator="ana")
"""


def test_two_processes_undo_at_once_never_undo_one_label_twice(workspace):
    path = workspace / "labels.db"
    store = LabelStore(path)
    for i in range(200):
        store.label("d", i, "x", annotator="ana")
    procs = [subprocess.Popen([sys.executable, "-c", UNDOER, str(path), "100"]) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    undoes = [e["undoes"] for e in store.events("d") if e["kind"] == "undo"]
    assert len(undoes) == 200 and len(set(undoes)) == 200  # each label undone once
    assert store.labels("d", annotator="ana") == {}


@pytest.fixture
def digits(workspace):
    """The bundled MNIST test set ingested in the workspace: items 0..9999, classes 0..9."""
    from mlaas_kernel import data

    return data.ingest("mnist", workspace_dir=workspace, progress=False)


def test_import_refuses_unknown_items_and_classes_naming_every_bad_row(store, digits, tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("item,label,annotator\n1,3,ana\n99999,3,ana\n2,banana,ana\n-1,4,ana\n9999,9,ana\n")
    with pytest.raises(LabelImportError) as info:
        store.import_file("mnist", path)
    message = str(info.value)
    assert "labels.csv: 3 bad rows; nothing was imported" in message
    assert "line 3: item 99999 is not an item of 'mnist' (its items are the row positions 0..9999)" in message
    assert "line 4: label 'banana' is not a class of 'mnist' (0, 1, 2, 3, 4, 5, 6, 7, 8, 9; from the dataset's manifest)" in message
    assert "line 5: item -1 is not an item" in message
    assert store.events("mnist") == []
    report = store.import_file("mnist", path, skip_invalid=True)
    assert report.imported == 2 and len(report.skipped) == 3 and report.skipped[0].startswith("line 3: item 99999")
    assert store.labels("mnist", annotator="ana") == {1: "3", 9999: "9"}


def test_import_classes_of_a_dataset_without_labels(store, workspace, tmp_path):
    from mlaas_kernel import data
    from mlaas_kernel.data import DataError

    table = tmp_path / "gpus.csv"
    table.write_text("gpuName,category\nA,Desktop\nB,Mobile\nC,Unknown\n")
    data.ingest(str(table), name="gpus", workspace_dir=workspace, progress=False)
    labels = tmp_path / "labels.csv"
    labels.write_text("item,label,annotator\n0,Desktop,ana\n1,Laptop,ana\n")
    assert store.import_file("gpus", labels).imported == 2  # nothing says what the classes are: unchecked
    more = tmp_path / "more.csv"
    more.write_text("item,label,annotator\n2,Phone,bob\n")
    with pytest.raises(LabelImportError, match="line 2: label 'Phone' is not a class of 'gpus' \\(Desktop, Laptop; from the labels already in the store\\)"):
        store.import_file("gpus", more)  # now the classes in the store say
    with pytest.raises(LabelImportError, match="from --classes"):
        store.import_file("gpus", more, classes=["Desktop", "Mobile"])
    assert store.import_file("gpus", more, classes=["Desktop", "Mobile", "Phone"]).imported == 1
    with pytest.raises(DataError, match="no dataset 'nothere' in the workspace; ingested: gpus"):
        store.import_file("nothere", more)


@pytest.mark.parametrize("name, fmt, written", [("x.parquet", None, "parquet"), ("x.jsonl", None, "jsonl"), ("x.csv", "csv", "csv"), ("x.txt", "jsonl", "jsonl")])
def test_export_format_follows_the_suffix(store, tmp_path, name, fmt, written):
    import pandas as pd

    store.label("d", 1, "cat", annotator="ana")
    path = store.export("d", tmp_path / name, format=fmt)
    reader = {"csv": pd.read_csv, "parquet": pd.read_parquet, "jsonl": lambda p: pd.read_json(p, lines=True)}[written]
    assert reader(path).to_dict("records")[0]["label"] == "cat"


def test_export_refuses_a_suffix_that_names_another_format(store, tmp_path):
    from mlaas_kernel.data import DataError

    store.label("d", 1, "cat", annotator="ana")
    with pytest.raises(DataError, match="x.parquet: the suffix '.parquet' says parquet but the format asked for is csv"):
        store.export("d", tmp_path / "x.parquet", format="csv")
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_exports_and_snapshots_respect_the_umask(store, tmp_path, umask, mode):
    import os
    import stat

    store.label("d", 1, "cat", annotator="ana")
    old = os.umask(umask)
    try:
        export = store.export("d", tmp_path / "x.csv")
        snap = store.snapshot("d").path
    finally:
        os.umask(old)
    assert stat.S_IMODE(export.stat().st_mode) == mode
    assert stat.S_IMODE(snap.stat().st_mode) == mode
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_agreement_with_each_other_annotator(store):
    for item, (x, y) in {1: "aa", 2: "ab", 3: "bb"}.items():
        store.label("e", item, x, annotator="ana")
        store.label("e", item, y, annotator="bob")
    store.label("e", 4, "a", annotator="cy")
    assert store.agreement_with("e", "ana") == {"bob": (pytest.approx(cohen_kappa_score(list("aab"), list("abb"))), 3)}
    assert store.agreement_with("e", "cy") == {}
