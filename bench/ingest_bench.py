"""Ingest and indexing throughput.

    python bench/ingest_bench.py [--plans 500] [--no-embed] [--write]

* ingest (read + segment + tokenise + store; embedding excluded) of the five samples and of a
  corpus of N synthetic plans made by recombining the samples' top-level sections under other
  unit names;
* indexing of the sample corpus with the default embedder: cold (empty embedding cache) and
  warm (everything cached: what re-ingesting or adding a plan costs for the old clauses).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cchc.corpus.bundled import sample_paths  # noqa: E402
from cchc.indexing.ingest import ingest  # noqa: E402
from cchc.indexing.library import Library  # noqa: E402
from cchc.settings import Settings  # noqa: E402

_ROMAN = re.compile(r"^\W*(?:#+\s*)?\**\s*[IVX]+\.\s", re.M)
UNITS = ["Hải Hậu", "Định Hưng", "Hà Đông", "Bắc Hồng Lĩnh", "Gia Phúc"]


def synth_plans(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Plans made of one sample's front matter and top-level sections drawn from all samples."""
    rng = random.Random(seed)
    parts = []
    for p in sample_paths():
        text = p.read_text(encoding="utf-8")
        cuts = [m.start() for m in _ROMAN.finditer(text)]
        parts.append((p.suffix, text[: cuts[0]], [text[a:b] for a, b in zip(cuts, cuts[1:] + [len(text)])]))
    out = []
    for i in range(n):
        suffix, front, sections = parts[rng.randrange(len(parts))]
        body = []
        for k in range(rng.randint(4, 7)):
            src = parts[rng.randrange(len(parts))][2]
            body.append(src[min(k, len(src) - 1)])
        text = front + "".join(body)
        name = f"Mẫu {i}"
        for u in UNITS:
            text = text.replace(u, name).replace(u.upper(), name.upper())
        text = re.sub(r"\b(\d{2})%", lambda m: f"{min(100, int(m.group(1)) + rng.randint(-5, 5))}%", text)
        out.append((f"synth-{i:04d}{suffix}", text))
    return out


def time_ingest(paths: list[Path]) -> dict:
    home = Path(tempfile.mkdtemp(prefix="cchc-ingest-"))
    try:
        lib = Library(Settings(home=home))
        t = time.perf_counter()
        results = ingest(lib, paths)
        dt = time.perf_counter() - t
        clauses = sum(r.n_clauses for r in results)
        failed = [r for r in results if not r.ok]
        lib.close()
        return {
            "plans": len(paths), "clauses": clauses, "seconds": round(dt, 2), "failed": len(failed),
            "plans_per_s": round(len(paths) / dt, 1), "clauses_per_s": round(clauses / dt, 0),
        }
    finally:
        shutil.rmtree(home, ignore_errors=True)


def time_indexing() -> dict:
    from cchc.search.index_manager import refresh_indexes

    home = Path(tempfile.mkdtemp(prefix="cchc-index-"))
    try:
        lib = Library(Settings(home=home))
        ingest(lib, sample_paths())
        t = time.perf_counter()
        cold = refresh_indexes(lib)
        cold_s = time.perf_counter() - t
        t = time.perf_counter()
        warm = refresh_indexes(lib)
        warm_s = time.perf_counter() - t
        lib.close()
        return {
            "clauses": cold.n_clauses,
            "cold_embedded": cold.embedded, "cold_s": round(cold_s, 1), "cold_clauses_per_s": round(cold.n_clauses / cold_s, 1),
            "warm_embedded": warm.embedded, "warm_s": round(warm_s, 2), "warm_clauses_per_s": round(warm.n_clauses / warm_s, 0),
        }
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plans", type=int, default=500)
    ap.add_argument("--no-embed", action="store_true", help="skip the (slow) cold indexing measurement")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    report = {"samples": time_ingest(sample_paths())}
    tmp = Path(tempfile.mkdtemp(prefix="cchc-synth-"))
    try:
        files = []
        for name, text in synth_plans(args.plans):
            f = tmp / name
            f.write_text(text, encoding="utf-8")
            files.append(f)
        report["synthetic"] = time_ingest(files)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not args.no_embed:
        report["indexing"] = time_indexing()
    print(json.dumps(report, ensure_ascii=False, indent=1))
    if args.write:
        from results_md import write_section

        s, y = report["samples"], report["synthetic"]
        lines = [
            "Script: `python bench/ingest_bench.py --plans 500 --write`. Ingest = read + segment (incl. the area model) + "
            "lexical tokenisation (pyvi) + SQLite, one transaction per file; embedding excluded.",
            "",
            "| corpus | plans | clauses | seconds | plans/s | clauses/s | failed |",
            "|---|---|---|---|---|---|---|",
            f"| five samples | {s['plans']} | {s['clauses']} | {s['seconds']} | {s['plans_per_s']} | {s['clauses_per_s']:.0f} | {s['failed']} |",
            f"| synthetic (recombined sample sections) | {y['plans']} | {y['clauses']} | {y['seconds']} | {y['plans_per_s']} | {y['clauses_per_s']:.0f} | {y['failed']} |",
        ]
        if "indexing" in report:
            ix = report["indexing"]
            lines += [
                "",
                "Indexing the samples with the default embedder (bundled 4-bit multilingual-e5-small, 2 cores):",
                "",
                "| cache | clauses | embedded | seconds | clauses/s |",
                "|---|---|---|---|---|",
                f"| cold | {ix['clauses']} | {ix['cold_embedded']} | {ix['cold_s']} | {ix['cold_clauses_per_s']} |",
                f"| warm | {ix['clauses']} | {ix['warm_embedded']} | {ix['warm_s']} | {ix['warm_clauses_per_s']:.0f} |",
            ]
        write_section("ingest", "Ingest and indexing throughput", "\n".join(lines))


if __name__ == "__main__":
    main()
