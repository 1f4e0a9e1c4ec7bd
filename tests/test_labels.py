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
    assert fresh.import_file("d", path) == 2
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
        store.import_file("d", path)
    assert store.events("d") == []


def test_jsonl_bad_line_number(store, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [{"item": 1, "label": "a", "annotator": "x"}, {"item": 2, "label": "b", "annotator": ""}]) + "\n")
    with pytest.raises(LabelImportError, match="bad.jsonl: line 2: annotator is empty; nothing was imported"):
        store.import_file("d", path)


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
