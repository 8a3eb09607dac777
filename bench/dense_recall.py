"""Recall, build time, latency and memory of the dense index kinds.

    python bench/dense_recall.py --n 200000
    python bench/dense_recall.py --n 1000000 --kinds flat,hnsw_sq8,hnsw_fp16,hnsw

Data are random but clustered normalised vectors (a shared direction, like the anisotropy of
real sentence embeddings, plus one of ``n / 500`` topic centroids plus noise), generated in
chunks from a seed so the whole matrix never has to be in memory. Exact top-10 ground truth is
computed by streaming brute force. Each kind prints one JSON line::

    {"n", "kind", "recall_at_10_vs_exact", "build_s", "p50_ms", "p95_ms", "rss_mb",
     "index_mb", "file_mb", ...}

``rss_mb`` is the process RSS once the index is built (the data chunks are gone by then, so
it is the index plus Python, NumPy and FAISS); ``index_mb`` is the RSS growth of the build;
``p50_ms``/``p95_ms`` time one query at a time (``load_avg_1m`` is recorded because other work
on the machine inflates them). ``--ef-search 64,96,128`` measures several beams on one build.

Other benchmarks import :func:`recall_at_k`, :func:`clustered_vectors` and :func:`exact_topk`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator

import numpy as np

CHUNK = 50_000


def recall_at_k(exact_ids: np.ndarray, approx_ids: np.ndarray, k: int) -> float:
    """Mean over queries of |exact top-k ∩ approx top-k| / |exact top-k| (ignoring -1 slots)."""
    exact_ids = np.asarray(exact_ids)[:, :k]
    approx_ids = np.asarray(approx_ids)[:, :k]
    total = 0.0
    for e, a in zip(exact_ids, approx_ids):
        truth = set(e[e >= 0].tolist())
        if truth:
            total += len(truth & set(a[a >= 0].tolist())) / len(truth)
        else:
            total += 1.0
    return total / max(len(exact_ids), 1)


def _normalise(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def clustered_vectors(
    n: int, dim: int = 384, *, seed: int = 0, chunk: int = CHUNK, n_clusters: int | None = None, stream: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(ids, vectors)`` chunks of ``n`` clustered unit vectors.

    The centroids depend only on ``seed``; ``stream`` selects an independent sample from the
    same distribution (use ``stream=1`` for queries).
    """
    base = np.random.default_rng(seed)
    n_clusters = n_clusters or max(16, n // 500)
    shared = _normalise(base.standard_normal((1, dim)).astype(np.float32))[0]
    centroids = _normalise(base.standard_normal((n_clusters, dim)).astype(np.float32))
    rng = np.random.default_rng([seed, stream + 1])
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        labels = rng.integers(0, n_clusters, m)
        noise = rng.standard_normal((m, dim)).astype(np.float32) * np.float32(0.9 / np.sqrt(dim))
        x = 1.2 * shared + 0.8 * centroids[labels] + noise
        yield np.arange(start, start + m, dtype=np.int64), _normalise(x.astype(np.float32))


def exact_topk(queries: np.ndarray, chunks, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-k of ``queries`` over streamed ``(ids, vectors)`` chunks."""
    import faiss

    nq = len(queries)
    best_s = np.full((nq, k), -np.inf, dtype=np.float32)
    best_i = np.full((nq, k), -1, dtype=np.int64)
    for ids, xb in chunks:
        s, pos = faiss.knn(queries, xb, min(k, len(xb)), metric=faiss.METRIC_INNER_PRODUCT)
        cand_s = np.concatenate([best_s, s], axis=1)
        cand_i = np.concatenate([best_i, ids[pos]], axis=1)
        order = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
        best_s = np.take_along_axis(cand_s, order, axis=1)
        best_i = np.take_along_axis(cand_i, order, axis=1)
    return best_s, best_i


def rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:  # Linux fallback
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_kind(kind: str, args, queries: np.ndarray, truth: np.ndarray) -> list[dict]:
    """Build one index kind and measure it (once per efSearch value for HNSW kinds)."""
    from cchc.indexing.dense import DenseIndex

    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    index = DenseIndex.build_batches(
        clustered_vectors(args.n, args.dim, seed=args.seed),
        dim=args.dim,
        n=args.n,
        model_id="bench",
        kind=kind,
        hnsw_m=args.m,
        ef_search=args.ef_search[0],
        ef_construction=args.ef_construction,
    )
    build_s = time.perf_counter() - t0
    gc.collect()
    after = rss_mb()

    results = []
    for ef in args.ef_search if kind != "flat" else [None]:
        if ef is not None:
            index.ef_search = ef
        _, ids = index.search(queries, 10)
        recall = recall_at_k(truth, ids, 10)
        lat = []
        for q in queries[: args.timed_queries]:
            t = time.perf_counter()
            index.search(q[None, :], 10)
            lat.append((time.perf_counter() - t) * 1000)
        out = {
            "n": args.n,
            "kind": kind,
            "recall_at_10_vs_exact": round(recall, 4),
            "build_s": round(build_s, 2),
            "p50_ms": round(float(np.percentile(lat, 50)), 3),
            "p95_ms": round(float(np.percentile(lat, 95)), 3),
            "rss_mb": round(after, 1),
            "index_mb": round(after - before, 1),
            "dim": args.dim,
            "hnsw_m": args.m if kind != "flat" else None,
            "ef_search": ef,
            "ef_construction": args.ef_construction if kind != "flat" else None,
            "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        }
        if args.filter_frac:
            rng = np.random.default_rng(args.seed + 7)
            allowed = np.flatnonzero(rng.random(args.n) < args.filter_frac).astype(np.int64)
            t = time.perf_counter()
            _, fids = index.search(queries[: args.timed_queries], 10, allowed)
            out["filter_frac"] = args.filter_frac
            out["filtered_ms_per_query"] = round((time.perf_counter() - t) * 1000 / len(fids), 3)
            out["filtered_full_rows"] = bool((fids >= 0).all())
        results.append(out)
    if not args.no_save:
        with tempfile.TemporaryDirectory() as tmp:
            index.save(tmp)
            size = round(os.path.getsize(os.path.join(tmp, "dense.faiss")) / 2**20, 1)
        for out in results:
            out["file_mb"] = size
    del index
    gc.collect()
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--kinds", default="flat,hnsw_sq8", help="comma-separated: flat,hnsw_sq8,hnsw_fp16,hnsw")
    p.add_argument("--queries", type=int, default=1000, help="queries for recall")
    p.add_argument("--timed-queries", type=int, default=300, help="single queries timed for latency")
    p.add_argument("--m", type=int, default=32)
    p.add_argument("--ef-search", default="96", help="efSearch value(s), comma-separated: 64,96,128")
    p.add_argument("--ef-construction", type=int, default=80)
    p.add_argument("--filter-frac", type=float, default=0.0, help="also time searches filtered to this fraction of ids")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-save", action="store_true", help="skip measuring the saved file size")
    args = p.parse_args(argv)
    args.ef_search = [int(v) for v in str(args.ef_search).split(",") if v.strip()]

    queries = np.concatenate([v for _, v in clustered_vectors(args.queries, args.dim, seed=args.seed, stream=1)])
    _, truth = exact_topk(queries, clustered_vectors(args.n, args.dim, seed=args.seed), 10)
    for kind in [k.strip() for k in args.kinds.split(",") if k.strip()]:
        for result in bench_kind(kind, args, queries, truth):
            print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
