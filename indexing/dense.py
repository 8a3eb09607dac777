"""The FAISS vector index over clause embeddings.

Vectors are L2-normalised, so the metric is inner product (= cosine). Clause ids are the
store's int64 ids, kept by the ``IndexIDMap2`` that wraps the index on disk. Searches call the
wrapped index directly and map positions to ids with NumPy: ``IndexIDMap2.search`` opens an
OpenMP parallel region even for one query, which cost 7–11 ms per query (instead of 0.1 ms)
whenever the two cores were busy with something else.

Kinds
-----
``flat`` (n ≤ ``settings.ann_threshold``, 50 000 by default)
    ``IndexFlatIP``: exact. A query scans every vector, so it is memory-bandwidth bound:
    measured p50 ≈ 1.4 ms at 20k, ≈ 75 ms at 200k and ≈ 460 ms at 1M (× 384, one query, 2-core
    VM); 1.47 GB at 1M.
``hnsw_sq8`` (the approximate default above the threshold)
    ``IndexHNSWSQ`` with 8-bit scalar quantisation, M = ``settings.hnsw_m``, efConstruction 80,
    efSearch = ``settings.hnsw_ef_search``.

Why SQ8: measured with ``bench/dense_recall.py`` at 1M × 384 (clustered synthetic vectors,
M = 32, efSearch 96 → 192):

=============  =====================  ==========  ===========  ==============
kind           recall@10 vs exact     p50 query   index RSS    file on disk
=============  =====================  ==========  ===========  ==============
hnsw_sq8       0.933 → 0.952          0.6–0.8 ms  0.73 GB      0.63 GB
hnsw_fp16      0.958 → 0.985          0.6–0.7 ms  0.98 GB      1.00 GB
hnsw (float)   ≈ fp16                 –           ≈ 1.8 GB     (0.37 GB at 200k)
flat           1.0                    460 ms      1.47 GB      1.47 GB
=============  =====================  ==========  ===========  ==============

The app must stay within 2.5 GB at 1M clauses *including* the lexical index, the store, the
encoder and, during a re-index, the old index still loaded next to the new one; only SQ8 leaves
room for that. Its recall loss is a quantisation floor (≈ 0.98 even with exhaustive search),
made of near-ties, and efSearch 192 brings it back to 0.95 for 0.2 ms more per query. At 200k
SQ8 reaches 0.972 at efSearch 96. The synthetic data (isotropic noise around 2 000 centroids)
are harder than real sentence embeddings, so these are lower bounds. Building 1M vectors took
12–20 min on a loaded 2-core VM.
``hnsw`` / ``hnsw_fp16``
    Same graph with float32 / float16 storage: pass ``kind=`` for machines with memory to
    spare; never chosen automatically.

Filtering
---------
``search(..., allowed_ids=...)`` filters inside FAISS with an ``IDSelectorBatch`` (over the
internal positions of the allowed ids; unknown ids are ignored), so k hits
come back whenever k allowed vectors exist. For ``flat`` that is exact by construction. An HNSW
walk only visits ~efSearch nodes and a selective filter leaves few of them eligible, so for
HNSW: small allowed sets (≤ ``exact_filter_limit``) are searched exactly by brute force over
their reconstructed vectors (``faiss.knn``), larger ones run the filtered graph
search with efSearch scaled by the inverse selectivity, and any query that still comes back
short is redone by brute force.

Results have a fixed shape ``(q, k)``; slots with no hit have id ``-1`` and score ``-inf``.
:func:`hits` turns them into per-query lists without the empty slots.

Files
-----
``save(directory)`` writes ``dense.faiss`` and ``dense.json`` (``model_id``, ``dim``,
``metric``, ``kind``, ``n``, ``generation`` …). Both go through Python file objects rather than
FAISS's ``fopen`` so paths with Vietnamese characters work on every OS. Publishing a directory
atomically is :mod:`cchc.indexing.snapshot`'s job.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

# FAISS's bundled libgomp reads this when it loads (only if faiss was not imported before):
# spinning OpenMP threads make every parallel region stall on a busy 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import faiss  # noqa: E402

from cchc.errors import CCHCError

INDEX_FILE = "dense.faiss"
CONFIG_FILE = "dense.json"
FORMAT_VERSION = 1

KINDS = ("flat", "hnsw", "hnsw_sq8", "hnsw_fp16")
ANN_KIND = "hnsw_sq8"
EF_CONSTRUCTION = 80
# HNSW filtered searches never use a larger beam than this; beyond it brute force is cheaper.
MAX_FILTER_EF = 4096
# Allowed sets up to this size are searched exactly; 65 536 × 384 floats is ≈ 100 MB at most
# per chunk and takes a few ms.
EXACT_FILTER_LIMIT = 65_536
# SQ ranges are trained on at most this many vectors (the first ones added).
TRAIN_SIZE = 65_536

_SQ_TYPES = {
    "hnsw_sq8": faiss.ScalarQuantizer.QT_8bit,
    "hnsw_fp16": faiss.ScalarQuantizer.QT_fp16,
}


def _settings():
    from cchc.settings import get_settings

    return get_settings()


def _new_faiss_index(kind: str, dim: int, m: int, ef_construction: int) -> faiss.Index:
    if kind == "flat":
        inner = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
    elif kind in _SQ_TYPES:
        inner = faiss.IndexHNSWSQ(dim, _SQ_TYPES[kind], m, faiss.METRIC_INNER_PRODUCT)
    else:
        raise ValueError(f"unknown dense index kind {kind!r}; expected one of {KINDS}")
    if kind != "flat":
        inner.hnsw.efConstruction = ef_construction
    return faiss.IndexIDMap2(inner)


def _as_matrix(x: np.ndarray, dim: int | None = None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2 or (dim is not None and x.shape[1] != dim):
        raise ValueError(f"expected vectors of shape (n, {dim}), got {x.shape}")
    return np.ascontiguousarray(x)


def _as_ids(ids: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(ids).reshape(-1), dtype=np.int64)


def _empty_result(nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((nq, k), -np.inf, dtype=np.float32), np.full((nq, k), -1, dtype=np.int64)


def _clean(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = scores.astype(np.float32, copy=False)
    scores[ids < 0] = -np.inf
    return scores, ids


def hits(scores: np.ndarray, ids: np.ndarray) -> list[list[tuple[int, float]]]:
    """Per-query ``[(id, score), …]`` best first, without the ``-1`` slots."""
    return [
        [(int(i), float(s)) for s, i in zip(row_s, row_i) if i >= 0]
        for row_s, row_i in zip(scores, ids)
    ]


class DenseIndex:
    """An inner-product index from clause id to embedding, exact or HNSW."""

    def __init__(
        self,
        index: faiss.Index,
        *,
        model_id: str,
        kind: str,
        generation: int = 0,
        ef_search: int | None = None,
        exact_filter_limit: int = EXACT_FILTER_LIMIT,
    ):
        self._index = index  # the IndexIDMap2 that is saved
        # Searches bypass the wrapper (see the module docstring: OpenMP stalls).
        self._inner = faiss.downcast_index(index.index)
        self.model_id = model_id
        self.kind = kind
        self.generation = int(generation)
        self.ef_search = int(ef_search if ef_search is not None else _settings().hnsw_ef_search)
        self.exact_filter_limit = exact_filter_limit
        self._set_id_map(faiss.vector_to_array(index.id_map).astype(np.int64))
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []  # vectors waiting for SQ training

    # ------------------------------------------------------------------ construction

    @classmethod
    def create(
        cls,
        dim: int,
        *,
        model_id: str,
        n_expected: int,
        generation: int = 0,
        kind: str = "auto",
        ann_threshold: int | None = None,
        hnsw_m: int | None = None,
        ef_search: int | None = None,
        ef_construction: int = EF_CONSTRUCTION,
    ) -> DenseIndex:
        """An empty index of the kind suited to ``n_expected`` vectors; fill it with :meth:`add`."""
        if kind == "auto":
            threshold = ann_threshold if ann_threshold is not None else _settings().ann_threshold
            kind = "flat" if n_expected <= threshold else ANN_KIND
        m = hnsw_m if hnsw_m is not None else _settings().hnsw_m
        index = _new_faiss_index(kind, int(dim), int(m), int(ef_construction))
        return cls(index, model_id=model_id, kind=kind, generation=generation, ef_search=ef_search)

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, *, model_id: str, generation: int = 0, **options) -> DenseIndex:
        """Index ``vectors`` (float32 ``(n, d)``, normalised) under ``ids`` (unique int64).

        ``options`` are those of :meth:`create` (``kind``, ``ann_threshold``, ``hnsw_m``,
        ``ef_search``, ``ef_construction``); unset ones come from the settings.
        """
        vectors = _as_matrix(vectors)
        return cls.build_batches([(ids, vectors)], dim=vectors.shape[1], n=len(vectors), model_id=model_id, generation=generation, **options)

    @classmethod
    def build_batches(
        cls,
        batches: Iterable[tuple[np.ndarray, np.ndarray]],
        *,
        dim: int,
        n: int,
        model_id: str,
        generation: int = 0,
        **options,
    ) -> DenseIndex:
        """Like :meth:`build` from an iterator of ``(ids, vectors)`` chunks.

        Peak memory is the index plus one chunk rather than the whole float32 matrix (1.5 GB at
        1M × 384), which is what keeps a large rebuild inside the memory budget. ``n`` is the
        total, used to choose the kind.
        """
        index = cls.create(dim, model_id=model_id, n_expected=n, generation=generation, **options)
        for ids, vectors in batches:
            index.add(ids, vectors)
        index.flush()
        return index

    @property
    def _needs_training(self) -> bool:
        return not self._index.is_trained

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under new, unused ids.

        HNSW kinds cannot remove vectors: rebuild to drop clauses. Scalar-quantised kinds learn
        their value ranges from the first ``TRAIN_SIZE`` vectors, so vectors are held back until
        that many have arrived or :meth:`flush` is called (``build*`` do both).
        """
        ids = _as_ids(ids)
        vectors = _as_matrix(vectors, self.dim)
        if len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors")
        if self._needs_training:
            self._pending.append((ids, vectors))
            if sum(len(i) for i, _ in self._pending) >= TRAIN_SIZE:
                self.flush()
            return
        self._add_trained(ids, vectors)

    def flush(self) -> None:
        """Train on the held-back vectors (if any) and add them."""
        if not self._pending:
            return
        ids = np.concatenate([i for i, _ in self._pending])
        vectors = np.concatenate([v for _, v in self._pending])
        self._pending = []
        if self._needs_training:
            self._index.train(vectors[:TRAIN_SIZE])
        self._add_trained(ids, vectors)

    def _set_id_map(self, id_map: np.ndarray) -> None:
        # position → id (what IndexIDMap2 stores), and its sorted view for id → position.
        order = np.argsort(id_map, kind="stable")
        sorted_ids = id_map[order]
        if np.any(sorted_ids[1:] == sorted_ids[:-1]):
            raise ValueError("dense index ids must be unique")
        self._id_map, self._order, self._sorted_ids = id_map, order, sorted_ids

    def _add_trained(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        old = self._id_map
        self._set_id_map(np.concatenate([old, ids]))  # raises on a duplicate before FAISS sees it
        try:
            self._index.add_with_ids(vectors, ids)
        except Exception:
            self._set_id_map(old)
            raise

    # ------------------------------------------------------------------ properties

    @property
    def dim(self) -> int:
        return int(self._index.d)

    @property
    def n(self) -> int:
        return int(self._index.ntotal)

    def __len__(self) -> int:
        return self.n

    @property
    def ids(self) -> np.ndarray:
        """All indexed ids, sorted (a read-only view)."""
        view = self._sorted_ids.view()
        view.flags.writeable = False
        return view

    def __repr__(self) -> str:
        return f"DenseIndex(kind={self.kind!r}, n={self.n}, dim={self.dim}, model_id={self.model_id!r})"

    # ------------------------------------------------------------------ search

    def search(
        self, query_vecs: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` inner products for each query row: ``(scores, ids)``, both ``(q, k)``.

        ``allowed_ids`` restricts the hits to those ids (unknown ids are ignored). Empty slots
        (fewer than ``k`` candidates) have id ``-1`` and score ``-inf``; see :func:`hits`.
        Safe to call from several threads at once.
        """
        if self._pending:
            raise RuntimeError("DenseIndex has vectors waiting for training; call flush() first")
        q = _as_matrix(query_vecs, self.dim)
        k = int(k)
        if k <= 0:
            raise ValueError("k must be positive")
        if self.n == 0 or len(q) == 0:
            return _empty_result(len(q), k)
        if allowed_ids is None:
            params = None if self.kind == "flat" else faiss.SearchParametersHNSW(efSearch=max(self.ef_search, k))
            return self._search_inner(q, k, params)

        allowed = self._positions(allowed_ids)
        if allowed.size == 0:
            return _empty_result(len(q), k)
        sel = faiss.IDSelectorBatch(allowed)  # kept referenced until FAISS returns
        if self.kind == "flat":
            return self._search_inner(q, k, faiss.SearchParameters(sel=sel))
        if allowed.size <= self.exact_filter_limit:
            return self._exact_among(q, k, allowed)

        # Roughly k / selectivity nodes must be visited to meet k allowed ones.
        ef = max(self.ef_search, k) * self.n / allowed.size
        params = faiss.SearchParametersHNSW(sel=sel, efSearch=int(min(max(ef, k), MAX_FILTER_EF)))
        scores, ids = self._search_inner(q, k, params)
        short = (ids >= 0).sum(axis=1) < min(k, allowed.size)
        if short.any():
            scores[short], ids[short] = self._exact_among(q[short], k, allowed)
        return scores, ids

    def _search_inner(self, q: np.ndarray, k: int, params) -> tuple[np.ndarray, np.ndarray]:
        scores, pos = self._inner.search(q, k, params=params)
        return _clean(scores, self._to_ids(pos))

    def _to_ids(self, pos: np.ndarray) -> np.ndarray:
        return np.where(pos >= 0, self._id_map[np.maximum(pos, 0)], -1)

    def _positions(self, allowed_ids: np.ndarray) -> np.ndarray:
        """Internal positions of the allowed ids that are in the index (unknown ids dropped)."""
        allowed = np.unique(_as_ids(allowed_ids))
        if self._sorted_ids.size == 0 or allowed.size == 0:
            return allowed[:0]
        at = np.searchsorted(self._sorted_ids, allowed)
        at[at >= self._sorted_ids.size] = 0
        found = at[self._sorted_ids[at] == allowed]
        return np.sort(self._order[found])  # sorted: reconstruct reads memory in order

    def _exact_among(self, q: np.ndarray, k: int, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Brute-force top-k among the vectors at ``positions``, chunk by chunk."""
        best_s, best_p = _empty_result(len(q), k)
        for start in range(0, positions.size, EXACT_FILTER_LIMIT):
            chunk = positions[start : start + EXACT_FILTER_LIMIT]
            xb = self._inner.reconstruct_batch(chunk)
            s, at = faiss.knn(q, xb, min(k, chunk.size), metric=faiss.METRIC_INNER_PRODUCT)
            cand_s = np.concatenate([best_s, s], axis=1)
            cand_p = np.concatenate([best_p, np.where(at >= 0, chunk[np.maximum(at, 0)], -1)], axis=1)
            order = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
            best_s = np.take_along_axis(cand_s, order, axis=1)
            best_p = np.take_along_axis(cand_p, order, axis=1)
        return _clean(best_s, self._to_ids(best_p))

    # ------------------------------------------------------------------ persistence

    def config(self) -> dict:
        cfg = {
            "format": FORMAT_VERSION,
            "model_id": self.model_id,
            "dim": self.dim,
            "metric": "ip",
            "kind": self.kind,
            "n": self.n,
            "generation": self.generation,
            "faiss_version": faiss.__version__,
        }
        if self.kind != "flat":
            hnsw = self._inner.hnsw
            cfg["hnsw_m"] = int(hnsw.nb_neighbors(1))
            cfg["ef_construction"] = int(hnsw.efConstruction)
        return cfg

    def save(self, directory: str | os.PathLike) -> None:
        """Write ``dense.faiss`` and ``dense.json`` into ``directory`` (created if needed)."""
        self.flush()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / (INDEX_FILE + ".tmp")
        with open(tmp, "wb") as f:
            faiss.write_index(self._index, faiss.PyCallbackIOWriter(f.write))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / INDEX_FILE)
        # The config goes last: a directory with a config always has its index file.
        tmp = directory / (CONFIG_FILE + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.config(), f, ensure_ascii=False, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / CONFIG_FILE)

    @staticmethod
    def read_config(directory: str | os.PathLike) -> dict:
        path = Path(directory) / CONFIG_FILE
        if not path.is_file():
            raise CCHCError(
                "index_missing",
                "Chưa có chỉ mục vector (không thấy dense.json). Hãy chạy lệnh `cchc reindex` để tạo chỉ mục.",
                source=str(path.parent),
                status=503,
            )
        try:
            cfg = json.loads(path.read_text(encoding="utf-8"))
            for key in ("model_id", "dim", "kind", "n"):
                cfg[key]
        except (ValueError, KeyError, TypeError) as exc:
            raise _corrupt(path.parent, f"tệp cấu hình dense.json hỏng ({exc})") from exc
        return cfg

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike,
        *,
        expected_model_id: str,
        expected_dim: int,
        expected_generation: int | None = None,
        ef_search: int | None = None,
    ) -> DenseIndex:
        """Read an index written by :meth:`save`, refusing one built for another model."""
        directory = Path(directory)
        cfg = cls.read_config(directory)
        if cfg["model_id"] != expected_model_id or int(cfg["dim"]) != int(expected_dim):
            raise CCHCError(
                "index_model_mismatch",
                f"Chỉ mục vector được tạo bằng mô hình «{cfg['model_id']}» ({cfg['dim']} chiều) "
                f"nhưng cấu hình hiện tại dùng mô hình «{expected_model_id}» ({expected_dim} chiều). "
                "Hãy chạy lệnh `cchc reindex` để tạo lại chỉ mục với mô hình hiện tại.",
                source=str(directory),
                status=409,
            )
        if expected_generation is not None and int(cfg.get("generation", -1)) != int(expected_generation):
            raise CCHCError(
                "index_stale",
                f"Chỉ mục vector (thế hệ {cfg.get('generation')}) không khớp với thư viện "
                f"(thế hệ {expected_generation}). Hãy chạy lệnh `cchc reindex`.",
                source=str(directory),
                status=503,
            )
        if cfg["kind"] not in KINDS:
            raise _corrupt(directory, f"loại chỉ mục không biết: {cfg['kind']!r}")
        path = directory / INDEX_FILE
        try:
            with open(path, "rb") as f:
                index = faiss.read_index(faiss.PyCallbackIOReader(f.read))
        except FileNotFoundError as exc:
            raise _corrupt(directory, "thiếu tệp dense.faiss") from exc
        except Exception as exc:  # FAISS reports truncated/garbled files as RuntimeError
            raise _corrupt(directory, f"không đọc được dense.faiss ({type(exc).__name__})") from exc
        if not isinstance(index, faiss.IndexIDMap2) or index.d != int(cfg["dim"]) or index.ntotal != int(cfg["n"]):
            raise _corrupt(directory, "dense.faiss không khớp với dense.json")
        return cls(index, model_id=cfg["model_id"], kind=cfg["kind"], generation=int(cfg.get("generation", 0)), ef_search=ef_search)


def _corrupt(directory: Path, detail: str) -> CCHCError:
    return CCHCError(
        "index_corrupt",
        f"Chỉ mục vector bị hỏng: {detail}. Hãy chạy lệnh `cchc reindex` để tạo lại chỉ mục.",
        source=str(directory),
        status=503,
    )


__all__ = ["ANN_KIND", "CONFIG_FILE", "INDEX_FILE", "KINDS", "DenseIndex", "hits"]
