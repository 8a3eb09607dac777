"""Search quality on the dev evaluation set (bench/eval_queries.json).

Builds (or reuses) an indexed library of the five sample plans under bench/out/eval-home,
runs every query in each mode and fusion variant, and reports nDCG@10, Recall@10 and MRR.
Relevant clauses are named by plan file and text substring, so the set survives re-ingest.

    python bench/search_eval.py            # table + bench/RESULTS.md section
    python bench/search_eval.py --json     # one JSON object
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from results_md import write_section  # noqa: E402

from cchc.corpus.bundled import sample_paths  # noqa: E402
from cchc.corpus.textnorm import canonical  # noqa: E402
from cchc.indexing.ingest import ingest  # noqa: E402
from cchc.indexing.library import Library  # noqa: E402
from cchc.search.engine import search  # noqa: E402
from cchc.search.index_manager import indexes_fresh, refresh_indexes  # noqa: E402
from cchc.settings import Settings  # noqa: E402

K = 10


def load_eval(path: Path = HERE / "eval_queries.json") -> list[dict]:
    queries = json.loads(path.read_text(encoding="utf-8"))["queries"]
    for q in queries:
        if "same_as" in q:
            q["rel"] = queries[q["same_as"]]["rel"]
    return queries


def resolve(library: Library, queries: list[dict]) -> list[dict[int, int]]:
    """Map each query's relevant (plan file, substring) to clause ids with their grade."""
    plans = library.plans()
    clauses = {p.id: library.clauses(p.id) for p in plans}
    out = []
    for q in queries:
        grades: dict[int, int] = {}
        for key, sub, grade in q["rel"]:
            (plan,) = [p for p in plans if key in p.source]
            hits = [c for c in clauses[plan.id] if canonical(sub) in canonical(" ".join(c.text.split()))]
            if not hits:
                raise SystemExit(f"eval set: no clause of {plan.source} contains {sub!r}")
            for c in hits:
                grades[c.id] = max(grades.get(c.id, 0), grade)
        out.append(grades)
    return out


def ndcg(ranked: list[int], grades: dict[int, int], k: int = K) -> float:
    dcg = sum((2 ** grades.get(c, 0) - 1) / math.log2(i + 2) for i, c in enumerate(ranked[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall(ranked: list[int], grades: dict[int, int], k: int = K) -> float:
    rel = {c for c, g in grades.items() if g > 0}
    return len(rel & set(ranked[:k])) / len(rel) if rel else 0.0


def mrr(ranked: list[int], grades: dict[int, int]) -> float:
    for i, c in enumerate(ranked):
        if grades.get(c, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def eval_home() -> Path:
    return HERE / "out" / "eval-home"


def build_library(home: Path | None = None) -> Library:
    lib = Library(Settings(home=home or eval_home()))
    if not lib.plans():
        ingest(lib, sample_paths())
    if not indexes_fresh(lib):
        refresh_indexes(lib)
    return lib


VARIANTS = [
    ("dense", {"mode": "dense"}),
    ("lexical", {"mode": "lexical"}),
    ("hybrid: RRF k=60 (alternative)", {"mode": "hybrid", "fusion": "rrf"}),
    ("hybrid: score fusion (default)", {"mode": "hybrid", "fusion": "score"}),
]


def evaluate(lib: Library) -> dict:
    queries = load_eval()
    grades = resolve(lib, queries)
    report = {"n_queries": len(queries), "k": K, "modes": {}, "per_query": []}
    per_query = {q["q"]: {} for q in queries}
    for name, kw in VARIANTS:
        nd, rc, rr = [], [], []
        for q, g in zip(queries, grades):
            ranked = [h.clause_id for h in search(lib, q["q"], top_k=K, **kw)]
            nd.append(ndcg(ranked, g))
            rc.append(recall(ranked, g))
            rr.append(mrr(ranked, g))
            per_query[q["q"]][name] = round(nd[-1], 3)
        report["modes"][name] = {
            "ndcg@10": round(sum(nd) / len(nd), 4),
            "recall@10": round(sum(rc) / len(rc), 4),
            "mrr": round(sum(rr) / len(rr), 4),
        }
    report["per_query"] = per_query
    return report


def markdown(report: dict) -> str:
    lines = [
        f"Dev set: {report['n_queries']} queries over the five sample plans (graded 0/1/2; "
        "includes queries typed without diacritics and with abbreviations: SIPAS, PAR INDEX, QPPL, DVC, AI, CCHC, TTHC). "
        "Script: `python bench/search_eval.py`.",
        "",
        "| mode | nDCG@10 | Recall@10 | MRR |",
        "|---|---|---|---|",
    ]
    for name, m in report["modes"].items():
        lines.append(f"| {name} | {m['ndcg@10']:.3f} | {m['recall@10']:.3f} | {m['mrr']:.3f} |")
    lines += [
        "",
        "Fusion was chosen by measurement: a sweep over RRF (k ∈ {10, 20, 30, 60}, dense weight ∈ {1, 0.7, 0.5, 0.3}) "
        "and min-max score fusion (dense weight α ∈ {0.1 … 0.6}) picked score fusion with α = 0.1; choosing the variant "
        "by leave-one-query-out gives the same mean nDCG@10, so the choice is not an artefact of fitting all 35 queries. "
        "The 4-bit multilingual-e5-small model is much weaker than BM25 on these short keyword queries, so dense retrieval "
        "mostly breaks ties and adds paraphrase matches; queries typed without diacritics get them restored from the "
        "corpus (bigram model) and abbreviations are spelled out before embedding, which lifted dense nDCG@10 from 0.654 to 0.73.",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="don't update bench/RESULTS.md")
    args = ap.parse_args()
    lib = build_library()
    report = evaluate(lib)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(markdown(report))
        worst = sorted(report["per_query"].items(), key=lambda kv: kv[1]["hybrid: score fusion (default)"])[:8]
        print("\nweakest queries (hybrid nDCG@10):")
        for q, s in worst:
            print(f"  {s['hybrid: score fusion (default)']:.3f}  dense {s['dense']:.3f}  lexical {s['lexical']:.3f}  {q}")
    if not args.no_write:
        write_section("search-quality", "Search quality (dev set)", markdown(report))


if __name__ == "__main__":
    main()
