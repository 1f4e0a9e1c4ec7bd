"""The dataset embedding: computed in a child process that never blocks the learner, cached and invalidated."""

import os
import signal

import numpy as np
import pytest

from mlaas_kernel import active, data
from mlaas_kernel.embedding import BackgroundEmbedding, UMAPParams

SMALL = UMAPParams(n_components=3, n_neighbors=10, pca_components=8)


def _blobs(seed=0, per=60):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (4, 16))
    x = np.vstack([rng.normal(c, 1.0, (per, 16)) for c in centres]).astype(np.float32)
    return x, np.repeat(np.arange(4), per).astype(str)


def test_a_computing_embedding_never_blocks_the_queue_and_is_cached(tmp_path, compute_state):
    x, y = _blobs()
    emb = BackgroundEmbedding.for_array(x, cache_dir=tmp_path, params=SMALL).start()
    assert emb.state == "computing" and emb.pid is not None
    os.kill(emb.pid, signal.SIGSTOP)  # the child is frozen until the test lets it go: a stand-in for a long UMAP
    try:
        learner = active.ActiveLearner(x, embedding=emb, retrain_every=4, batch=4, features_name="raw features")
        assert learner.status == "embedding not ready yet: random order"
        first = learner.next_items(3)
        assert len(first) == 3 and learner.reason(first[0]) == "random order: no model yet"
        for item in [0, 1, 60, 61]:
            learner.teach(item, y[item])
        learner.wait(30)  # the retrain on the features does not wait for the embedding either
        assert learner.retrains == 1 and learner.status == "embedding not ready yet: margin on raw features"
        assert emb.state == "computing" and emb.rows([0]) is None
    finally:
        os.kill(emb.pid, signal.SIGCONT)
    assert emb.wait(300), emb.error
    learner.wait(60)
    assert emb.rows([0, 1]).shape == (2, 3) and emb.path.is_file() and emb.info["backend"]
    if not compute_state.detect().is_gpu:  # the child's fallbacks are recorded here, where the user looks
        assert {"PCA (embedding process)", "UMAP (embedding process)"} <= {f.operation for f in compute_state.fallbacks()}
    assert emb.path.parent == tmp_path and emb.path.name.startswith("embedding-umap-") and not list(tmp_path.glob(".embedding-input-*"))
    assert learner.status.startswith("UMAP embedding ready: typical points of 8 clusters")
    assert learner.reason(learner.next_items(1)[0]).startswith("typical point of cluster ")
    learner.close()

    # the same data and parameters: this process shares the instance; another (a new kernel) reads the file back
    assert BackgroundEmbedding.for_array(x, cache_dir=tmp_path, params=SMALL) is emb
    again = BackgroundEmbedding(emb.source, content=emb.content, cache_dir=tmp_path, params=SMALL).start()
    assert again.ready and again.pid is None and np.array_equal(again.value, emb.value)
    # other parameters, or changed data: another key, computed anew
    other = BackgroundEmbedding.for_array(x, cache_dir=tmp_path, params=UMAPParams(n_components=2, n_neighbors=10, pca_components=8))
    changed = x.copy()
    changed[0, 0] += 1
    moved = BackgroundEmbedding.for_array(changed, cache_dir=tmp_path, params=SMALL)
    assert len({emb.path, other.path, moved.path}) == 3 and not other.path.exists() and not moved.path.exists()


def test_a_dataset_embedding_lives_in_its_folder_keyed_by_its_content(workspace):
    ds = data.ingest("mnist", progress=False)
    emb = BackgroundEmbedding.for_dataset(ds)
    assert emb.params == UMAPParams(deskew=True)  # single-channel images are deskewed by default
    assert emb.path.parent == ds.path and emb.path.name == f"embedding-umap-{emb.params.key(emb.content)}.npy"
    assert ds.manifest["outputs"]["images.npy"] in emb.content
    assert UMAPParams.for_images((5, 32, 32, 3)) == UMAPParams() and UMAPParams.for_images((5, 8, 8, 1)).deskew
    assert BackgroundEmbedding.for_dataset(ds, params=UMAPParams(n_components=5)).path != emb.path


def test_a_failed_embedding_says_why_and_the_learner_carries_on(tmp_path):
    x = np.zeros((2, 4), dtype=np.float32)  # too few rows to embed
    emb = BackgroundEmbedding.for_array(x, cache_dir=tmp_path)
    learner = active.ActiveLearner(x, embedding=emb)
    assert not emb.wait(120) and emb.state == "failed"
    assert "at least 3 rows" in emb.error and emb.error in learner.status and learner.status.startswith("embedding failed")
    assert learner.next_items(2) != []
    learner.close()


def test_bad_parameters_are_refused_by_name():
    with pytest.raises(ValueError, match="UMAPParams.n_components must be a positive integer, got 0"):
        UMAPParams(n_components=0)
    with pytest.raises(ValueError, match=r"UMAPParams.min_dist must lie in \[0, 1\], got 2"):
        UMAPParams(min_dist=2)
    with pytest.raises(ValueError, match="UMAPParams.metric must be one of euclidean, cosine, manhattan, correlation, got 'cosin'"):
        UMAPParams(metric="cosin")


def test_deskew_stands_a_slanted_stroke_upright():
    from mlaas_kernel.embedding import deskew

    img = np.zeros((1, 28, 28), dtype=np.uint8)
    for r in range(4, 24):  # a stroke leaning right: one column further per two rows
        img[0, r, 8 + r // 2 : 11 + r // 2] = 255
    out = deskew(img)[0]
    rows, cols = np.nonzero(out > 100)
    before_rows, before_cols = np.nonzero(img[0])
    assert abs(np.corrcoef(before_rows, before_cols)[0, 1]) > 0.9 and abs(np.corrcoef(rows, cols)[0, 1]) < 0.2
    assert abs(cols.mean() - 13.5) < 1.5  # and centred
    with pytest.raises(ValueError, match=r"single-channel images \(N, H, W\), got shape \(2, 4\)"):
        deskew(np.zeros((2, 4)))


def test_a_learner_for_a_dataset_starts_its_embedding_and_works_before_it(workspace):
    ds = data.ingest("mnist", progress=False)
    learner = active.for_dataset(ds, items=range(200, 500), retrain_every=5)
    os.kill(learner.embedding.pid, signal.SIGSTOP)  # held while the test runs, even where a GPU makes UMAP quick
    try:
        assert learner.embedding.state == "computing" and learner.status == "embedding not ready yet: random order"
        assert learner.features.shape == (300, 50) and set(learner.next_items(5)) <= set(range(200, 500))
        truth = ds.labels().astype(str)
        for item in learner.next_items(5):
            learner.teach(item, truth[item])
        learner.wait(60)
        assert learner.status.startswith("embedding not ready yet: margin on PCA features")
    finally:
        learner.embedding.close()
        os.kill(learner.embedding.pid, signal.SIGCONT)
        learner.close()
    assert learner.embedding.wait(30) is False and learner.embedding.error == "stopped"


def test_two_learners_on_one_dataset_share_one_embedding(workspace):
    ds = data.ingest("mnist", progress=False)
    first = BackgroundEmbedding.for_dataset(ds)
    assert BackgroundEmbedding.for_dataset(ds) is first  # not started yet: still one
    assert BackgroundEmbedding.for_dataset(ds, params=UMAPParams(n_components=4)) is not first
    first.close()  # a closed one is not handed out again
    assert BackgroundEmbedding.for_dataset(ds) is not first


def test_the_embedding_process_ends_with_the_process_that_started_it(tmp_path):
    """A kernel killed with SIGKILL leaves no UMAP child running at full CPU."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, time, numpy as np\n"
        "from mlaas_kernel.embedding import BackgroundEmbedding\n"
        f"x = np.random.default_rng(0).integers(0, 255, size=(3000, 28, 28), dtype=np.uint8)\n"
        f"bg = BackgroundEmbedding.for_array(x, cache_dir={str(tmp_path / 'cache')!r}).start()\n"
        "print(bg.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    os.kill(child, 0)  # running
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            state = open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state in ("Z", "X"):  # exited; whoever adopted it has not reaped it yet
            break
        time.sleep(0.1)  # polling a process table, not a UI
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the embedding child outlived its parent by 30 s")
