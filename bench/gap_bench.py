"""Speed of gap analysis and of the consensus template.

    python bench/gap_bench.py                 # all three measurements, update bench/RESULTS.md
    python bench/gap_bench.py --only draft    # one of: draft, indexed, consensus
    python bench/gap_bench.py --plans 100     # a smaller consensus corpus

1. **draft**: a 300-clause draft *file* against a stored 300-item template, cold (the draft's
   vectors are in no cache), including reading, segmenting and embedding the draft;
2. **indexed**: the same comparison between two stored, indexed plans;
3. **consensus**: ``build_consensus`` over 500 synthetic plans (bench/synth.py, ≈ 44 000 clauses)
   whose vectors are already cached.

Only the draft's vectors come from the model. Every other vector is *synthesised*: a synthetic
clause copies the wording of a sample clause (bench/synth.py keeps the provenance), so it gets the
real cached vector of that sample clause plus Gaussian noise (cosine ≈ 0.97 to its source, about
what two plans' wordings of one task reach). The sample vectors are embedded once and kept in
bench/out/gap-cache/.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from synth import AREA_HEADINGS, AREA_ORDER, synth_plans  # noqa: E402

CACHE_HOME = HERE / "out" / "gap-cache"
NOISE = 0.25  # per-vector Gaussian noise (relative): cosine to the source ≈ 1/sqrt(1 + 0.25²) ≈ 0.97
GOALS = {"draft": 10.0, "indexed": 1.0, "consensus": 60.0}
OLD_EMBED_CHARS = 160  # the draft cut before the second round, measured for comparison


# --- vectors -----------------------------------------------------------------------------------


def sample_vectors() -> dict[str, np.ndarray]:
    """Real vectors of every sample clause, keyed by text (embedded once, then cached)."""
    from cchc.corpus.bundled import sample_paths
    from cchc.indexing.embeddings import embed_passages_cached, get_embedder
    from cchc.indexing.ingest import ingest
    from cchc.indexing.library import Library
    from cchc.settings import Settings

    lib = Library(Settings(home=CACHE_HOME))
    if not lib.plans():
        ingest(lib, sample_paths())
    texts = [r[0] for r in lib.conn.execute("SELECT text FROM clauses")]
    with lib.lock:
        vecs = embed_passages_cached(lib.conn, get_embedder(), texts, max_chars=lib.settings.max_embed_chars)
    lib.close()
    return dict(zip(texts, vecs))


def perturbed(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    w = v + rng.normal(scale=NOISE / np.sqrt(len(v)), size=len(v)).astype(np.float32)
    return (w / np.linalg.norm(w)).astype(np.float32)


def seed_vectors(lib, provenance: dict[str, str], source_vecs: dict[str, np.ndarray], seed: int = 0) -> int:
    """Give every stored clause a synthesised cached vector; returns how many had no source."""
    from cchc.corpus.textnorm import text_hash
    from cchc.indexing.embeddings import get_embedder, truncate_for_embedding

    rng = np.random.default_rng(seed)
    model = get_embedder()
    fallback = list(source_vecs.values())
    rows, orphans = [], 0
    max_chars = lib.settings.max_embed_chars
    for (text,) in lib.conn.execute("SELECT text FROM clauses"):
        src = source_vecs.get(provenance.get(text, text))
        if src is None:
            orphans += 1
            src = fallback[rng.integers(len(fallback))]
        key = text_hash(truncate_for_embedding(text, max_chars))
        rows.append((model.model_id, key, int(model.dim), perturbed(src, rng).tobytes()))
    with lib.lock:
        lib.conn.execute("BEGIN")
        lib.conn.executemany("INSERT OR REPLACE INTO embeddings (model_id, text_hash, dim, vector) VALUES (?,?,?,?)", rows)
        lib.conn.execute("COMMIT")
    return orphans


# --- documents ---------------------------------------------------------------------------------


def plan_document(unit: str, year: int, clauses: list) -> str:
    """A plan whose target and task lists are ``clauses`` (SynthClause), grouped by area."""
    lines = ["ỦY BAN NHÂN DÂN", unit.upper(), "KẾ HOẠCH", f"Cải cách hành chính {unit} năm {year}",
             f"UBND {unit} ban hành Kế hoạch cải cách hành chính năm {year} như sau:", "I. CHỈ TIÊU CHỦ YẾU"]
    for part, kind in (("I. CHỈ TIÊU CHỦ YẾU", "target"), ("II. NHIỆM VỤ, GIẢI PHÁP", "task")):
        lines.append(part)
        for number, area in enumerate(AREA_ORDER, 1):
            lines.append(f"{number}. {AREA_HEADINGS[area][0]}")
            lines += [f"- {c.text}" for c in clauses if c.kind == kind and c.area == area]
        lines.append(f"{len(AREA_ORDER) + 1}. Nội dung khác")
        lines += [f"- {c.text}" for c in clauses if c.kind == kind and c.area not in AREA_ORDER]
    lines += ["III. TỔ CHỨC THỰC HIỆN", "1. Các bộ phận chuyên môn tổ chức thực hiện Kế hoạch này."]
    return "\n".join(lines) + "\n"


def distinct_clauses(plans, n: int, seen: set[str], rng: random.Random, reword: bool) -> list:
    """``n`` task/target clauses of the synthetic plans, none already in ``seen``."""
    from synth import SynthClause

    pool = [c for p in plans for c in p.clauses if c.kind in ("task", "target")]
    rng.shuffle(pool)
    out = []
    for c in pool:
        text = c.text
        if reword:
            # a draft's own wording: no clause of it is in any cache
            text = f"{rng.choice(('Tiếp tục', 'Tập trung', 'Chủ động', 'Kịp thời'))} {text[:1].lower()}{text[1:]}"
        if text in seen:
            continue
        seen.add(text)
        out.append(SynthClause(text, c.source, c.kind, c.area))
        if len(out) == n:
            break
    return out


# --- measurements ------------------------------------------------------------------------------


def bench_gap(n_items: int, workdir: Path, source_vecs) -> dict:
    from cchc.indexing.ingest import ingest
    from cchc.indexing.library import Library
    from cchc.search import gap as gapmod
    from cchc.search.gap import GapOptions, gap
    from cchc.search.index_manager import refresh_indexes
    from cchc.settings import Settings

    rng = random.Random(7)
    plans = synth_plans(40, seed=11)
    seen: set[str] = set()
    template_clauses = distinct_clauses(plans, n_items, seen, rng, reword=False)
    other_clauses = distinct_clauses(plans, n_items, seen, rng, reword=False)
    draft_clauses = distinct_clauses(plans, n_items, seen, rng, reword=True)
    docs = workdir / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "mau-300.txt").write_text(plan_document("xã Mẫu Thử", 2026, template_clauses), encoding="utf-8")
    (docs / "ke-hoach-300.txt").write_text(plan_document("xã Đối Chiếu", 2026, other_clauses), encoding="utf-8")
    draft = workdir / "du-thao-300.txt"
    draft.write_text(plan_document("xã Dự Thảo", 2027, draft_clauses), encoding="utf-8")

    lib = Library(Settings(home=workdir / "home"))
    ingest(lib, [docs / "mau-300.txt", docs / "ke-hoach-300.txt"])
    provenance = {c.text: c.source for c in template_clauses + other_clauses}
    seed_vectors(lib, provenance, source_vecs)
    refresh_indexes(lib)
    ids = {p.source: p.id for p in lib.plans()}
    tid, pid = ids["mau-300.txt"], ids["ke-hoach-300.txt"]

    gapmod._memory.clear()
    c0, t0 = time.process_time(), time.perf_counter()
    report = gap(lib, tid, draft)
    draft_wall, draft_cpu = time.perf_counter() - t0, time.process_time() - c0
    n_draft = report.plan.n_clauses
    # the same again with the draft's vectors in the in-memory cache: what is not embedding
    t0 = time.perf_counter()
    gap(lib, tid, draft)
    warm = time.perf_counter() - t0
    # the previous default cut, cold again, minutes apart on the same machine
    gapmod._memory.clear()
    t0 = time.perf_counter()
    gap(lib, tid, draft, GapOptions(embed_chars=OLD_EMBED_CHARS))
    old_cut = time.perf_counter() - t0

    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        r2 = gap(lib, tid, pid)
        times.append(time.perf_counter() - t0)
    written = lib.conn.execute("SELECT COUNT(*) FROM plans").fetchone()[0]
    lib.close()
    return {
        "items": len(report.items),
        "draft_clauses": n_draft,
        "draft_wall": draft_wall,
        "draft_cpu": draft_cpu,
        "draft_warm": warm,
        "draft_old_cut": old_cut,
        "indexed_median": statistics.median(times),
        "indexed_max": max(times),
        "indexed_items": len(r2.items),
        "plans_after": written,
        "embed_chars": GapOptions().embed_chars,
    }


def sample_cosines() -> dict:
    """How close the same task in two plans' wordings is: each sample task/target clause's
    nearest clause of another sample plan (the basis of consensus.MIN_COSINE)."""
    from cchc.indexing.embeddings import embed_passages_cached, get_embedder
    from cchc.indexing.library import Library
    from cchc.settings import Settings

    lib = Library(Settings(home=CACHE_HOME))
    rows = lib.conn.execute("SELECT plan_id, text FROM clauses WHERE kind IN ('task', 'target')").fetchall()
    with lib.lock:
        vecs = embed_passages_cached(lib.conn, get_embedder(), [r[1] for r in rows], max_chars=lib.settings.max_embed_chars)
    lib.close()
    plan = np.array([r[0] for r in rows])
    sims = vecs @ vecs.T
    sims[plan[:, None] == plan[None, :]] = -1.0
    nearest = sims.max(axis=1)
    return {f"p{q}": round(float(np.percentile(nearest, q)), 3) for q in (10, 25, 50, 75, 90)}


def bench_embed_throughput(source_vecs) -> dict:
    """Passages per second of the bundled model at several cut lengths (wall and CPU)."""
    from cchc.indexing.embeddings import get_embedder, truncate_for_embedding

    model = get_embedder()
    texts = sorted(source_vecs, key=len, reverse=True)[:64]
    out = {}
    for chars in (600, 240, 160, 128):
        batch = [truncate_for_embedding(t, chars) + " ." for t in texts]
        c0, t0 = time.process_time(), time.perf_counter()
        for s in range(0, len(batch), 32):
            model.embed_passages(batch[s : s + 32])
        out[chars] = (len(batch) / (time.perf_counter() - t0), len(batch) / (time.process_time() - c0))
    return out


def bench_consensus(n_plans: int, workdir: Path, source_vecs) -> dict:
    from cchc.corpus.models import RawDocument
    from cchc.corpus.textnorm import content_hash
    from cchc.indexing.ingest import ingest_document
    from cchc.indexing.library import Library
    from cchc.search.consensus import build_consensus
    from cchc.settings import Settings

    plans = synth_plans(n_plans, seed=0)
    lib = Library(Settings(home=workdir / "home500"))
    t0 = time.perf_counter()
    for p in plans:
        ingest_document(lib, RawDocument(p.name, p.text, "txt", content_hash(p.text.encode("utf-8"))))
    ingest_s = time.perf_counter() - t0
    provenance = {c.text: c.source for p in plans for c in p.clauses}
    orphans = seed_vectors(lib, provenance, source_vecs)
    n_clauses = lib.conn.execute("SELECT COUNT(*) FROM clauses").fetchone()[0]
    n_tt = lib.conn.execute("SELECT COUNT(*) FROM clauses WHERE kind IN ('task', 'target')").fetchone()[0]

    res = build_consensus(lib, min_share=0.6, refresh=False)
    low = build_consensus(lib, min_share=0.15, refresh=False)
    rebuild = build_consensus(lib, min_share=0.6, refresh=True)
    province = plans[0].province
    prov = build_consensus(lib, min_share=0.6, province=province, refresh=False)
    n_plans_stored = lib.conn.execute("SELECT COUNT(*) FROM plans").fetchone()[0]
    lib.close()
    return {
        "plans": n_plans,
        "clauses": n_clauses,
        "task_target": n_tt,
        "orphans": orphans,
        "ingest_s": ingest_s,
        "first": res.to_json() | {"groups": len(res.groups)},
        "low_share": low.to_json() | {"groups": len(low.groups)},
        "rebuild": rebuild.to_json() | {"groups": len(rebuild.groups)},
        "province": province,
        "province_run": prov.to_json() | {"groups": len(prov.groups)},
        "plans_stored": n_plans_stored,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["draft", "indexed", "consensus"])
    ap.add_argument("--plans", type=int, default=500)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)

    source_vecs = sample_vectors()
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.only in (None, "draft", "indexed"):
            results["throughput"] = bench_embed_throughput(source_vecs)
            for chars, (wall, cpu) in results["throughput"].items():
                print(f"model: {chars:>3}-char passages: {wall:5.1f}/s wall, {cpu:5.1f}/s per CPU-second")
            g = results["gap"] = bench_gap(300, work / "gap", source_vecs)
            print(
                f"draft file: {g['draft_clauses']} clauses vs {g['items']} items: {g['draft_wall']:.2f} s wall "
                f"({g['draft_cpu']:.2f} s CPU), {g['draft_warm']:.2f} s with the draft's vectors in memory; "
                f"cut to {OLD_EMBED_CHARS} chars: {g['draft_old_cut']:.2f} s"
            )
            print(f"two indexed plans ({g['indexed_items']} items): median {g['indexed_median']:.3f} s, max {g['indexed_max']:.3f} s")
        if args.only in (None, "consensus"):
            results["sample_cosines"] = sample_cosines()
            print(f"samples: nearest cross-plan cosine of a task/target, percentiles {results['sample_cosines']}")
            c = results["consensus"] = bench_consensus(args.plans, work / "consensus", source_vecs)
            f, r = c["first"], c["rebuild"]
            print(
                f"consensus over {c['plans']} plans ({c['clauses']} clauses, {c['task_target']} tasks/targets; "
                f"ingest {c['ingest_s']:.0f} s): {f['seconds']:.1f} s → {f['groups']} groups {f['timings']}"
            )
            print(f"  min share 0.15: {c['low_share']['seconds']:.1f} s → {c['low_share']['groups']} groups")
            print(f"  rebuild with index refresh: {r['seconds']:.1f} s {r['timings']} (replaced {r['replaced']})")
            p = c["province_run"]
            print(f"  province {c['province']}: {p['n_plans']} plans, {p['seconds']:.2f} s, {p['groups']} groups")

    if not args.no_write and len(results) >= 2:
        from results_md import write_section

        write_section("gap-speed", "Gap analysis and consensus template: speed (bench/gap_bench.py)", _markdown(results))
    return 0


def _markdown(res: dict) -> str:
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = ["| measurement | goal | result |", "|---|---|---|"]
    g = res.get("gap")
    if g:
        rows.append(
            f"| {g['draft_clauses']}-clause draft file vs {g['items']}-item stored template, cold, incl. embedding "
            f"(cut to {g['embed_chars']} chars) | ≤ {GOALS['draft']:.0f} s | {g['draft_wall']:.2f} s wall, "
            f"{g['draft_cpu']:.2f} s CPU; {g['draft_warm']:.2f} s without the embedding |"
        )
        rows.append(f"| … the same, draft cut to {OLD_EMBED_CHARS} chars (the previous default) | — | {g['draft_old_cut']:.2f} s wall |")
        rows.append(
            f"| two stored, indexed plans ({g['indexed_items']} items) | ≤ {GOALS['indexed']:.0f} s | "
            f"median {g['indexed_median']:.3f} s (max {g['indexed_max']:.3f} s of 5) |"
        )
    c = res.get("consensus")
    if c:
        f, r = c["first"], c["rebuild"]
        rows.append(
            f"| consensus template, {c['plans']} plans ({c['clauses']} clauses, {c['task_target']} tasks/targets), cached vectors | "
            f"≤ {GOALS['consensus']:.0f} s | {f['seconds']:.1f} s to {f['groups']} group(s) "
            f"(load {f['timings'].get('load', 0):.1f}, vectors {f['timings'].get('vectors', 0):.1f}, "
            f"clustering {f['timings'].get('cluster', 0):.1f}, store {f['timings'].get('store', 0):.1f} s) |"
        )
        rows.append(
            f"| … with min share 0.15 | — | {c['low_share']['seconds']:.1f} s to {c['low_share']['groups']} groups |"
        )
        rows.append(
            f"| … rebuilt, replacing the previous one, plus `refresh_indexes` | — | {r['seconds']:.1f} s "
            f"(of which index refresh {r['timings'].get('refresh_indexes', 0):.1f} s) |"
        )
    lines = [
        f"Script: `python bench/gap_bench.py`. Load average when run: {load:.1f} on 2 cores shared with other jobs, "
        "so wall times are pessimistic; CPU times are given where the model runs.",
        "",
        *rows,
        "",
    ]
    t = res.get("throughput")
    if t:
        lines.append(
            "Bundled model throughput (64 of the longest sample clauses, batches of 32): "
            + "; ".join(f"cut to {k} chars {w:.1f}/s wall, {c:.1f}/s per CPU-second" for k, (w, c) in t.items())
            + ". A draft's clauses are cut to `DRAFT_EMBED_CHARS` before embedding (the lexical evidence "
            "still reads the whole clause), its vectors stay in process memory, and a clause whose text "
            "some stored plan has reuses the cached vector."
        )
        lines.append("")
        met = g and g["draft_wall"] <= GOALS["draft"]
        lines.append(
            "Wall time depends on how much of the 2 cores other jobs leave: the model runs on both when it "
            "can (wall below CPU time) and on one when it cannot (wall ≈ CPU). An idle machine needs about "
            "half the CPU time for the embedding plus under a second for the rest, which puts the draft "
            f"case under the 10 s goal; in this run it was {'met' if met else 'missed'}. Draft clauses are cut "
            "to 128 characters (`GapOptions.embed_chars`, 160 until this round): a fifth less embedding; on the "
            "calibration pairs the shorter cut changed no missing/weaker decision and one covered/partial call "
            "of 179."
        )
    lines.append("")
    sc = res.get("sample_cosines")
    if sc:
        lines.append(
            "Consensus grouping threshold: the nearest clause of *another* sample plan to each sample task/target "
            f"sits at cosine {sc['p10']}–{sc['p90']} (10th–90th percentile, median {sc['p50']}). Reading pairs "
            "across that range: the same task in two wordings is at 0.93–0.97, clearly different tasks below "
            "0.90, and 0.90–0.94 mixes both; `consensus.MIN_COSINE` = 0.93 (average linkage). In the synthetic "
            "corpus each sample's task list for an area is picked by about one plan in five, so few groups "
            "reach a 60 % share there; the figures measure speed, not the groups."
        )
        lines.append("")
    lines.append(
        "Vectors other than the draft's are synthesised: each synthetic clause gets its source sample "
        f"clause's real vector plus Gaussian noise (relative norm {NOISE}, cosine ≈ 0.97 to the source). "
        "The consensus corpus is `bench/synth.py` (the samples recombined section by section)."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
