"""Search latency and memory at scale.

    python bench/search_bench.py --clauses 100000 --json
    python bench/search_bench.py --clauses 1000 --clauses 100000 --clauses 1000000 --write

One scale point builds a synthetic library of N clauses and measures the real serving path
(``Library`` + ``load_indexes`` + ``search``) in a fresh child process: p50/p95 per mode, the
child's peak RSS, and — in the builder — rank_bm25 on the same tokens and recall@10 of the
approximate dense index against exact search.

Synthetic clauses are variants of the 482 real sample clauses (a clause, sometimes with a
sentence of another clause appended); their **vectors are perturbed copies of the real
clauses' e5 vectors**, and their lexical tokens are the real clauses' stored tokens recombined,
so no embedding or pyvi run is needed at 1M. Queries are the dev set's 35 real queries.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cchc.indexing import store  # noqa: E402
from cchc.indexing.abbreviations import learn_abbreviations  # noqa: E402
from cchc.indexing.dense import DenseIndex  # noqa: E402
from cchc.indexing.embeddings import embed_passages_cached, get_embedder  # noqa: E402
from cchc.indexing.lexical import LexicalIndex, LexTokens, tokenize_passage  # noqa: E402
from cchc.indexing.library import Library  # noqa: E402
from cchc.indexing.snapshot import publish_snapshot  # noqa: E402
from cchc.search.index_manager import SNAPSHOT_FILE  # noqa: E402
from cchc.search.query import DiacriticRestorer  # noqa: E402
from cchc.settings import Settings  # noqa: E402

PROVINCES = ["Hà Nội", "Hải Phòng", "Ninh Bình", "Thanh Hóa", "Hà Tĩnh", "Nghệ An", "Quảng Ninh", "Đà Nẵng", "Cần Thơ", "Lâm Đồng"]
CLAUSES_PER_PLAN = 150


def peak_rss_mb() -> float:
    """This process's own peak RSS. ru_maxrss would do, except that Linux carries it over
    from the parent through fork+exec, so a child would report its builder's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def base_pool():
    """The real sample clauses with their stored tokens and cached e5 vectors."""
    from search_eval import build_library

    lib = build_library()
    rows = lib.conn.execute("SELECT id, text, lex_tokens, kind, area, path, section FROM clauses ORDER BY id").fetchall()
    texts = [r["text"] for r in rows]
    vecs = embed_passages_cached(lib.conn, get_embedder(lib.settings.embedder), texts, max_chars=lib.settings.max_embed_chars)
    tokens = [LexTokens.from_json(r["lex_tokens"]).accented if r["lex_tokens"] else tokenize_passage(r["text"]).accented for r in rows]
    return rows, texts, np.asarray(vecs, dtype=np.float32), tokens, lib.settings.embedder


def build(n: int, home: Path, seed: int = 0) -> dict:
    t0 = time.perf_counter()
    rows, texts, vecs, tokens, model_spec = base_pool()
    rng = np.random.default_rng(seed)
    m = len(rows)
    base = rng.integers(0, m, n)
    other = rng.integers(0, m, n)
    append = rng.random(n) < 0.5

    home.mkdir(parents=True, exist_ok=True)
    settings = Settings(home=home)
    lib = Library(settings)
    conn = lib.conn
    n_plans = max(5, n // CLAUSES_PER_PLAN)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO plans (id, source, format, content_hash, title, unit, level, province, period, year, year_end, ingested_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (j + 1, f"synth-{j}.txt", "txt", f"h{j}", f"Kế hoạch CCHC xã Mẫu {j}", f"xã Mẫu {j}", "xã",
             PROVINCES[j % len(PROVINCES)], f"năm {2025 + j % 2}", 2025 + j % 2, 2025 + j % 2, "2026-01-01")
            for j in range(n_plans)
        ],
    )
    batch = []
    for i in range(n):
        b, o = int(base[i]), int(other[i])
        text = rows[b]["text"]
        if append[i]:
            text = f"{text} {texts[o].split('. ')[0]}"
        r = rows[b]
        batch.append((i + 1, i // CLAUSES_PER_PLAN % n_plans + 1, i, None, r["section"], r["path"], r["kind"], r["area"], None, text, f"s{i}"))
        if len(batch) == 50_000:
            conn.executemany("INSERT INTO clauses (id, plan_id, position, label, section, path, kind, area, area_source, text, text_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)", batch)
            batch = []
    if batch:
        conn.executemany("INSERT INTO clauses (id, plan_id, position, label, section, path, kind, area, area_source, text, text_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)", batch)
    store.bump_generation(conn)
    conn.execute("COMMIT")
    gen = store.generation(conn)
    t_db = time.perf_counter() - t0

    ids = np.arange(1, n + 1, dtype=np.int64)
    t1 = time.perf_counter()
    embedder_id = get_embedder(model_spec).model_id
    chunks = synth_vectors(vecs, base, other, append, seed + 1)
    dense = DenseIndex.build_batches(chunks, dim=vecs.shape[1], n=n, model_id=embedder_id, generation=gen)
    t_dense = time.perf_counter() - t1
    t2 = time.perf_counter()
    tok = [tokens[int(base[i])] + (tokens[int(other[i])][:12] if append[i] else []) for i in range(n)]
    pairs = learn_abbreviations(texts)
    lexical = LexicalIndex.build(ids, tok, abbreviations=pairs)
    t_lex = time.perf_counter() - t2
    restorer = DiacriticRestorer.train(texts)

    def write(directory: Path) -> None:
        dense.save(directory)
        lexical.save(directory)
        restorer.save(directory)
        (directory / SNAPSHOT_FILE).write_text(json.dumps({
            "generation": gen, "model_id": embedder_id, "dim": int(vecs.shape[1]), "n": n,
            "abbreviations": {k: sorted(v) for k, v in pairs.items()},
        }, ensure_ascii=False), encoding="utf-8")

    publish_snapshot(settings.index_dir, write)

    # rank_bm25 on the same tokens (it is a Python loop over documents: keep it to ≤ 100k).
    queries = _queries()
    rank_p50 = None
    if n <= 100_000:
        from rank_bm25 import BM25Okapi

        bm = BM25Okapi(tok)
        lat = []
        for q in queries[:8]:
            qt = tokenize_passage(q).accented
            s = time.perf_counter()
            scores = bm.get_scores(qt)
            np.argpartition(-scores, 10)[:10]
            lat.append((time.perf_counter() - s) * 1000)
        rank_p50 = statistics.median(lat)
    del tok

    # Recall@10 of the dense index against exact search, on the real query vectors.
    emb = get_embedder(model_spec)
    qv = np.asarray(emb.embed_queries(queries), dtype=np.float32)
    if dense.kind == "flat":
        recall = 1.0
    else:
        import faiss

        exact = faiss.IndexFlatIP(vecs.shape[1])
        for _ids, v in synth_vectors(vecs, base, other, append, seed + 1):
            exact.add(v)
        _, truth = exact.search(qv, 10)
        _, approx = dense.search(qv, 10)
        truth_ids = truth + 1
        recall = float(np.mean([len(set(a[a > 0]) & set(t)) / 10 for a, t in zip(approx, truth_ids)]))
    lib.close()
    return {
        "clauses": n,
        "plans": n_plans,
        "dense_kind": dense.kind,
        "build_db_s": round(t_db, 1),
        "build_dense_s": round(t_dense, 1),
        "build_lexical_s": round(t_lex, 1),
        "rank_bm25_p50_ms": None if rank_p50 is None else round(rank_p50, 2),
        "recall_at_10_vs_exact": round(recall, 4),
        "build_peak_rss_mb": round(peak_rss_mb(), 1),
    }


def synth_vectors(vecs, base, other, append, seed, chunk=100_000):
    """Perturbed copies of real clause vectors, in id order; the same seed replays the same
    vectors (the exact-search ground truth needs them a second time)."""
    rng = np.random.default_rng(seed)
    n = len(base)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        v = vecs[base[s:e]].copy()
        mix = append[s:e]
        v[mix] += 0.5 * vecs[other[s:e][mix]]
        v += rng.normal(0, 0.02, v.shape).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        yield np.arange(s + 1, e + 1, dtype=np.int64), v.astype(np.float32)


def _queries() -> list[str]:
    data = json.loads((HERE / "eval_queries.json").read_text(encoding="utf-8"))
    return [q["q"] for q in data["queries"]]


def measure(home: Path, rounds: int = 3) -> dict:
    """Runs in a fresh process: the serving path only."""
    from cchc.search import engine
    from cchc.search.engine import search
    from cchc.search.index_manager import load_indexes

    t0 = time.perf_counter()
    lib = Library(Settings(home=home))
    load_indexes(lib)
    load_s = time.perf_counter() - t0
    queries = _queries()
    out = {"p50_ms": {}, "p95_ms": {}}
    for mode in ("lexical", "dense", "hybrid"):
        for q in queries[:3]:  # warm-up
            search(lib, q, mode=mode, top_k=10)
        lat = []
        for _ in range(rounds):
            for q in queries:
                engine._QUERY_CACHE.clear()  # measure the uncached path: every query embedded
                s = time.perf_counter()
                search(lib, q, mode=mode, top_k=10)
                lat.append((time.perf_counter() - s) * 1000)
        lat.sort()
        out["p50_ms"][mode] = round(statistics.median(lat), 2)
        out["p95_ms"][mode] = round(lat[int(0.95 * (len(lat) - 1))], 2)
    out["load_s"] = round(load_s, 2)
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return out


def run(n: int, keep: bool = False) -> dict:
    home = HERE / "out" / f"scale-{n}"
    if home.exists():
        import shutil

        shutil.rmtree(home)
    result = build(n, home)
    child = subprocess.run(
        [sys.executable, __file__, "--measure", str(home)], capture_output=True, text=True, check=True
    )
    result.update(json.loads(child.stdout.strip().splitlines()[-1]))
    if result.get("rank_bm25_p50_ms"):
        result["lexical_speedup_vs_rank_bm25"] = round(result["rank_bm25_p50_ms"] / max(result["p50_ms"]["lexical"], 1e-6), 1)
    result["vectors"] = "perturbed copies of real sample-clause e5 vectors"
    if not keep:
        import shutil

        shutil.rmtree(home, ignore_errors=True)
    return result


def write_results(results: list[dict]) -> None:
    from results_md import write_section

    saved_path = HERE / "out" / "search_scale.json"
    saved = json.loads(saved_path.read_text()) if saved_path.exists() else {}
    for r in results:
        saved[str(r["clauses"])] = r
    saved_path.parent.mkdir(parents=True, exist_ok=True)
    saved_path.write_text(json.dumps(saved, ensure_ascii=False, indent=1))
    lines = [
        "Script: `python bench/search_bench.py --clauses N [--write]` (one JSON object per scale point). Synthetic clauses "
        "recombine the real sample clauses; their vectors are perturbed copies of the real clauses' e5 vectors and their "
        "tokens the real stored tokens, so nothing is embedded at scale. Latencies are measured in a fresh process over the "
        "35 dev-set queries × 3 rounds through the full path (query embedding with the bundled 4-bit e5, diacritic "
        "restoration, both indexes, fusion, SQLite hydration). Peak RSS is that serving process's.",
        "",
        "| clauses | dense index | hybrid p50 / p95 ms | dense p50 / p95 ms | lexical p50 / p95 ms | rank_bm25 p50 ms | lexical speed-up | recall@10 vs exact | serving peak RSS MB | build peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(saved, key=int):
        r = saved[key]
        p50, p95 = r["p50_ms"], r["p95_ms"]
        lines.append(
            f"| {int(key):,} | {r['dense_kind']} | {p50['hybrid']} / {p95['hybrid']} | {p50['dense']} / {p95['dense']} | "
            f"{p50['lexical']} / {p95['lexical']} | {r.get('rank_bm25_p50_ms') or '—'} | "
            f"{str(r.get('lexical_speedup_vs_rank_bm25', '—')) + '×' if r.get('lexical_speedup_vs_rank_bm25') else '—'} | "
            f"{r['recall_at_10_vs_exact']} | {r['peak_rss_mb']} | {r['build_peak_rss_mb']} |"
        )
    lines += ["", "Goals: hybrid p50 ≤ 50 ms at 100k and ≤ 150 ms at 1M; memory ≤ 2.5 GB at 1M; lexical ≥ 10× faster than rank_bm25 at 100k."]
    write_section("search-scale", "Search latency and memory at scale", "\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clauses", type=int, action="append", help="scale point(s)")
    ap.add_argument("--json", action="store_true", help="print one JSON object per scale point")
    ap.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    ap.add_argument("--keep", action="store_true", help="keep the synthetic library under bench/out")
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    results = []
    for n in args.clauses or [1000]:
        r = run(n, keep=args.keep)
        results.append(r)
        print(json.dumps(r, ensure_ascii=False) if args.json else json.dumps(r, ensure_ascii=False, indent=1), flush=True)
    if args.write:
        write_results(results)


if __name__ == "__main__":
    main()
