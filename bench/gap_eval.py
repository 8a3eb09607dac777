"""Evaluate gap analysis on the hand-made pairs in bench/gap_pairs/.

    python bench/gap_eval.py              # print the report, update bench/RESULTS.md
    python bench/gap_eval.py --no-write   # print only
    python bench/gap_eval.py --errors     # also list every wrong decision

Each pair is a folder with a draft document and ``key.json``: the template (a bundled sample,
``sample:<file name>``), and for every template item (found by the start of its text) the
status a careful reader gives it — covered / partial / missing —, how the draft rewrote it, the
draft clauses that carry it, and the expected target comparison (weaker / stronger / equal /
no_figure) where the item states a figure. ``eval`` pairs are reported; ``calibration`` pairs
were used to fit the thresholds (bench/gap_calibrate.py) and are shown for reference only.

Precision and recall are computed for two decisions: "missing" (predicted missing vs. key
missing) and "weaker" (predicted target comparison weaker vs. key weaker, over all items).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cchc.corpus.textnorm import fold

HERE = Path(__file__).resolve().parent
PAIRS = HERE / "gap_pairs"
SAMPLES = HERE.parent / "corpus" / "samples"
sys.path.insert(0, str(HERE))

GOALS = {"missing": 0.9, "weaker": 0.9}


@dataclass
class KeyItem:
    template: str
    status: str
    how: str
    draft: list[str] = field(default_factory=list)
    target: str | None = None
    nth: int | None = None  # which one, when the template says the same thing twice


@dataclass
class Pair:
    name: str
    role: str  # "eval" | "calibration"
    template_path: Path
    draft_path: Path
    items: list[KeyItem]
    extra: list[str]
    description: str = ""
    blind: bool = False  # written, keyed and frozen before the matcher ever ran on it


def load_pair(folder: Path) -> Pair:
    key = json.loads((folder / "key.json").read_text(encoding="utf-8"))
    spec = key["template"]
    template = SAMPLES / spec.split(":", 1)[1] if spec.startswith("sample:") else folder / spec
    return Pair(
        name=folder.name,
        role=key.get("role") or ("calibration" if folder.name.startswith("calib") else "eval"),
        template_path=template,
        draft_path=folder / key["draft"],
        items=[KeyItem(**it) for it in key["items"]],
        extra=list(key.get("extra", [])),
        description=key.get("description", ""),
        blind=bool(key.get("blind", False)),
    )


def load_pairs(role: str | None = None) -> list[Pair]:
    pairs = [load_pair(d) for d in sorted(PAIRS.iterdir()) if (d / "key.json").exists()]
    return [p for p in pairs if role is None or p.role == role]


def _norm(s: str) -> str:
    return " ".join(fold(s).split())


def find_clause(snippet: str, texts: list[str], nth: int | None = None) -> int:
    """Index of the one text that starts with (or else contains) ``snippet``."""
    s = _norm(snippet)
    normed = [_norm(t) for t in texts]
    hits = [i for i, t in enumerate(normed) if t.startswith(s)] or [i for i, t in enumerate(normed) if s in t]
    if nth is not None and len(hits) > nth:
        return hits[nth]
    if len(hits) != 1:
        raise ValueError(f"snippet {snippet!r} matches {len(hits)} clauses")
    return hits[0]


def align(pair: Pair, report) -> list[tuple[KeyItem, object]]:
    """Key items with the report items they describe; every report item must be keyed."""
    texts = [it.text for it in report.items]
    out, seen = [], set()
    for k in pair.items:
        try:
            i = find_clause(k.template, texts, k.nth)
        except ValueError:
            # the segmenter no longer makes this paragraph an item (e.g. it now files it under
            # "Tổ chức thực hiện"): nothing to score
            continue
        if i in seen:
            raise ValueError(f"two key items for report item {i}")
        seen.add(i)
        out.append((k, report.items[i]))
    unkeyed = [report.items[i].text[:60] for i in range(len(texts)) if i not in seen]
    if unkeyed:
        raise ValueError(f"{pair.name}: template items without a key entry: {unkeyed}")
    return out


def prf(pred: list[bool], gold: list[bool]) -> dict:
    tp = sum(p and g for p, g in zip(pred, gold))
    fp = sum(p and not g for p, g in zip(pred, gold))
    fn = sum(g and not p for p, g in zip(pred, gold))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {"precision": round(precision, 3), "recall": round(recall, 3), "tp": tp, "fp": fp, "fn": fn, "n_gold": tp + fn}


def pooled(results: list[dict], decision: str) -> dict:
    """Precision/recall of one decision over several pairs, from their summed counts."""
    tp = sum(r[decision]["tp"] for r in results)
    fp = sum(r[decision]["fp"] for r in results)
    fn = sum(r[decision]["fn"] for r in results)
    return {
        "precision": round(tp / (tp + fp), 3) if tp + fp else 1.0,
        "recall": round(tp / (tp + fn), 3) if tp + fn else 1.0,
        "tp": tp, "fp": fp, "fn": fn, "n_gold": tp + fn,
    }


def blind_summary(results: list[dict]) -> dict | None:
    """The figures the goals are judged on: every blind eval pair pooled."""
    blind = [r for r in results if r["role"] == "eval" and r.get("blind")]
    if not blind:
        return None
    return {"pairs": [r["pair"] for r in blind], "items": sum(r["items"] for r in blind),
            "missing": pooled(blind, "missing"), "weaker": pooled(blind, "weaker")}


def score_pair(pair: Pair, report) -> dict:
    aligned = align(pair, report)
    missing = prf([r.status == "missing" for _, r in aligned], [k.status == "missing" for k, _ in aligned])
    weaker = prf(
        [bool(r.target and r.target.comparison == "weaker") for _, r in aligned],
        [k.target == "weaker" for k, _ in aligned],
    )
    status_acc = sum(k.status == r.status for k, r in aligned) / len(aligned)
    keyed_targets = [(k, r) for k, r in aligned if k.target and k.status != "missing"]
    target_acc = (
        sum(bool(r.target) and r.target.comparison == k.target for k, r in keyed_targets) / len(keyed_targets)
        if keyed_targets else 1.0
    )
    extra_texts = [m.text for m in report.extra]
    found_extra = sum(any(_norm(e) in _norm(t) for t in extra_texts) for e in pair.extra)
    errors = [
        f"{k.status:>8} → {r.status:<8} {r.score:.3f} [{k.how}] {r.text[:90]}"
        for k, r in aligned if k.status != r.status
    ] + [
        f"target {k.target or '—'} → {r.target.comparison if r.target else '—'} [{k.how}] {r.text[:90]}"
        for k, r in aligned
        if (k.target or (r.target and r.target.comparison == "weaker")) and k.status != "missing"
        and (r.target.comparison if r.target else None) != k.target
    ]
    return {
        "pair": pair.name,
        "role": pair.role,
        "blind": pair.blind,
        "items": len(aligned),
        "missing": missing,
        "weaker": weaker,
        "status_accuracy": round(status_acc, 3),
        "target_accuracy": round(target_acc, 3),
        "extra_found": f"{found_extra}/{len(pair.extra)}",
        "extra_reported": len(report.extra),
        "errors": errors,
    }


def make_library(home: Path, templates: list[Path]):
    """A library holding the templates, with the vectors of the session cache when there is
    one (tests) or embedded here (scripts)."""
    from cchc.indexing.ingest import ingest
    from cchc.indexing.library import Library
    from cchc.settings import Settings

    lib = Library(Settings(home=home))
    ingest(lib, sorted(set(templates)))
    return lib


def run_pair(lib, pair: Pair, **options):
    from cchc.search.gap import GapOptions, gap

    ids = {p.source: p.id for p in lib.plans()}
    return gap(lib, ids[pair.template_path.name], pair.draft_path, GapOptions(**options))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--errors", action="store_true")
    ap.add_argument("--home", type=Path, help="library to use (default: a temporary one)")
    ap.add_argument("--role", choices=["eval", "calibration"], help="only these pairs (implies --no-write)")
    ap.add_argument("--embed-chars", type=int, help="cut of draft clauses before embedding (default: GapOptions)")
    args = ap.parse_args(argv)
    if args.role or args.embed_chars:
        args.no_write = True  # RESULTS.md reports every pair with the defaults

    pairs = load_pairs(args.role)
    options = {"embed_chars": args.embed_chars} if args.embed_chars else {}
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or Path(tmp) / "home"
        lib = make_library(home, [p.template_path for p in pairs])
        results = []
        for pair in pairs:
            t0 = time.perf_counter()
            report = run_pair(lib, pair, **options)
            res = score_pair(pair, report)
            res["seconds"] = round(time.perf_counter() - t0, 2)
            results.append(res)
        lib.close()

    lines = []
    for r in results:
        m, w = r["missing"], r["weaker"]
        lines.append(
            f"{r['pair']:<24} {r['role']:<12} items {r['items']:>3}  missing P {m['precision']:.3f} R {m['recall']:.3f} "
            f"(n={m['n_gold']})  weaker P {w['precision']:.3f} R {w['recall']:.3f} (n={w['n_gold']})  "
            f"status acc {r['status_accuracy']:.3f}  target acc {r['target_accuracy']:.3f}  extra {r['extra_found']} "
            f"(reported {r['extra_reported']})  {r['seconds']} s"
        )
        if args.errors:
            lines += [f"    {e}" for e in r["errors"]]
    summary = blind_summary(results)
    if summary:
        m, w = summary["missing"], summary["weaker"]
        lines.append(
            f"{'blind eval pairs pooled':<37} items {summary['items']:>3}  missing P {m['precision']:.3f} R {m['recall']:.3f} "
            f"(n={m['n_gold']})  weaker P {w['precision']:.3f} R {w['recall']:.3f} (n={w['n_gold']})  [{', '.join(summary['pairs'])}]"
        )
    print("\n".join(lines))

    if not args.no_write:
        from results_md import write_section

        write_section("gap-quality", "Gap analysis: wording robustness (bench/gap_eval.py)", _markdown(results, pairs))
    if summary is None:
        return 1
    ok = all(summary[k][m] >= GOALS[k] for k in GOALS for m in ("precision", "recall"))
    return 0 if ok else 1


def _role(r: dict) -> str:
    if r["role"] != "eval":
        return "calibration"
    return "eval, blind" if r.get("blind") else "eval, seen in development"


def _markdown(results: list[dict], pairs: list[Pair]) -> str:
    desc = {p.name: p.description for p in pairs}
    rows = [
        "| pair | role | items | missing P | missing R | weaker P | weaker R | status accuracy | target accuracy | extras found |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        m, w = r["missing"], r["weaker"]
        rows.append(
            f"| {r['pair']} | {_role(r)} | {r['items']} | {m['precision']:.3f} | {m['recall']:.3f} (of {m['n_gold']}) | "
            f"{w['precision']:.3f} | {w['recall']:.3f} (of {w['n_gold']}) | {r['status_accuracy']:.3f} | "
            f"{r['target_accuracy']:.3f} | {r['extra_found']} ({r['extra_reported']} reported) |"
        )
    summary = blind_summary(results)
    if summary:
        m, w = summary["missing"], summary["weaker"]
        rows.append(
            f"| **blind eval pairs pooled** | {len(summary['pairs'])} pairs | {summary['items']} | **{m['precision']:.3f}** | "
            f"**{m['recall']:.3f}** (of {m['n_gold']}) | **{w['precision']:.3f}** | **{w['recall']:.3f}** (of {w['n_gold']}) | | | |"
        )
    body = [
        "Hand-made template/draft pairs in `bench/gap_pairs/`: the draft rewrites each template item by "
        "paraphrase, merge, split, renumbering and reordering, omits some and changes some figures; the "
        "answer key (`key.json`) was written with the draft, before the matcher ran on it. Goals: precision "
        f"and recall of \"missing\" and of \"weaker\" ≥ {GOALS['missing']}, judged on the *blind* eval pairs "
        "pooled (counts summed over the pairs). Script: `python bench/gap_eval.py --errors`.",
        "",
        *rows,
        "",
    ]
    body += [f"* **{name}**: {text}" for name, text in desc.items() if text]
    for r in results:
        if r["role"] != "eval":
            continue
        errors = [e for e in r["errors"] if "missing" in e.split("[")[0]]
        if errors:
            body += ["", f"Decisions on \"missing\" the key of **{r['pair']}** disagrees with (key → matcher, score, how the draft rewrote the item):", ""]
            body += [f"* `{e.strip()}`" for e in errors]
    body += ["", NOTES]
    return "\n".join(body)


NOTES = """How these figures came about (five rounds, each matcher frozen before its blind pairs ran):

| round | matcher | calibrated on | judged on | missing P | missing R | weaker P / R |
|---|---|---|---|---|---|---|
| 1 | first session | calib-dinh-hung, calib-hai-hau | bac-hong-linh (seen while designing) | 0.769 | 1.000 (of 10) | 1.0 / 1.0 (of 7) |
| 2 | commit 2e7f960: framing words are not own words | + calib-gia-phuc (merge-heavy) | blind: ha-dong, ha-dong-2, bac-hong-linh-2 | 0.806 | 0.967 (of 30) | 1.0 / 1.0 (of 15) |
| 3 | commit 8f4652c: symmetric explaining away, missing-F1 cut | + the four earlier eval pairs | blind: gia-phuc-2, dinh-hung-2, hai-hau-2 | 0.833 | 0.909 (of 22) | 1.0 / 1.0 (of 8) |
| 4 | refit on all ten pairs: the same setting and cuts as round 3 | + the round-3 pairs | blind: ha-dong-3, bac-hong-linh-3, gia-phuc-3 | 0.844 | 0.900 (of 30) | 1.0 / 1.0 (of 11) |
| 5 | unchanged since 8f4652c (two explaining-away variants tried on the 13 calibration pairs lost F1 there and were dropped) | + the round-4 pairs | blind: bac-hong-linh-4 (Markdown), dinh-hung-3 (PDF text), gia-phuc-4, ha-dong-4 (TAB table), hai-hau-3 (NFD, old tone marks) | 0.902 | 0.979 (of 47) | 1.0 / 1.0 (of 17) |

Rounds 3 and 4 test the same matcher, so their six blind pairs pool too: missing P 0.839, R 0.904
(47 found, 9 false alarms, 5 let through, of 52 omissions); weaker P 1.0, R 1.0 (of 19).

* A *blind* pair was written and keyed by someone who had not seen the matcher or its answers,
  committed, and run once on a matcher committed before it. Its figures are the estimate for
  new drafts; after that run it may become calibration data for the next round, never again
  evaluation data. The table above is the current round; earlier rounds' pairs appear in it as
  calibration pairs (their figures there are on data the matcher was fitted to).
* **Goal met on round 5**: missing P 0.902, R 0.979 (46 found, 5 false alarms, 1 let through) and weaker 1.0 / 1.0
  on five fresh blind pairs pooled, with the matcher of rounds 3–4 unchanged. Pooled over rounds
  3–5 (same matcher, eleven blind pairs, 99 omissions) P 0.869, R 0.939 (93 found, 14 false alarms, 6 let through): the estimate
  sits near the goal, not safely above it. The false alarms are covered items scoring under
  the partial cut (0.27–0.37 against 0.37): an item a draft merged into a clause that mostly
  restates another item, or kept only as a terse paraphrase. A user who prefers fewer false
  alarms can lower `CCHC_GAP_PARTIAL` (or `--partial`) at the cost of letting more omissions
  through.
* Covered vs. partial is the weakest decision (status accuracy 0.77–0.94 on the round-5 blind pairs):
  the calibration pairs hold 27 partial rewrites against 559 full ones, so `gap_covered` rests on
  little data.
* "Extra" clauses are conservative: a draft clause is extra only if it matches no item even at
  the partial bar, seen from either side; new tasks that share their topic with a template item
  are taken as related."""


if __name__ == "__main__":
    sys.exit(main())
