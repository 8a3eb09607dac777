"""Check a hand-written gap pair's answer key without running the matcher.

    python bench/gap_pair_check.py bench/gap_pairs/<pair> --items    # list the template's items
    python bench/gap_pair_check.py bench/gap_pairs/<pair>            # check key.json

Writing a pair must not depend on what the matcher would say (an evaluation pair is only blind
if nobody looked at the matcher's answers while writing it), so this tool uses the segmenter
alone: it lists the template items (task and target clauses, the way ``gap`` picks them) and the
draft's task/target clauses, and checks that the key gives every template item exactly one
entry, that each ``draft`` snippet starts (or is contained in) exactly one draft clause of kind
task/target, and that statuses and target comparisons use the known values.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gap_eval import find_clause, load_pair  # noqa: E402

STATUSES = {"covered", "partial", "missing"}
TARGETS = {None, "weaker", "stronger", "equal", "no_figure"}
ITEM_KINDS = ("task", "target")


def clauses(path: Path):
    from cchc.corpus.reader import read_document
    from cchc.corpus.segment import segment

    return [c for c in segment(read_document(path)).clauses if c.kind in ITEM_KINDS]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pair", type=Path)
    ap.add_argument("--items", action="store_true", help="list the template items and the draft clauses")
    args = ap.parse_args(argv)

    pair = load_pair(args.pair)
    items = clauses(pair.template_path)
    if args.items:
        print(f"# {len(items)} template items of {pair.template_path.name}")
        for n, c in enumerate(items):
            print(f"[{n}] ({c.kind}, {c.area}) {c.section} :: {c.text}")
        if pair.draft_path.exists():
            draft = clauses(pair.draft_path)
            print(f"\n# {len(draft)} task/target clauses of the draft {pair.draft_path.name}")
            for n, c in enumerate(draft):
                print(f"[{n}] ({c.kind}, {c.area}) {c.section} :: {c.text}")
        return 0

    problems: list[str] = []
    texts = [c.text for c in items]
    seen: dict[int, str] = {}
    for k in pair.items:
        if k.status not in STATUSES:
            problems.append(f"unknown status {k.status!r}: {k.template}")
        if k.target not in TARGETS:
            problems.append(f"unknown target comparison {k.target!r}: {k.template}")
        if k.status == "missing" and k.draft:
            problems.append(f"missing item with draft clauses: {k.template}")
        if k.status != "missing" and not k.draft:
            problems.append(f"{k.status} item without draft clauses: {k.template}")
        try:
            i = find_clause(k.template, texts, k.nth)
        except ValueError as exc:
            problems.append(f"template: {exc}")
            continue
        if i in seen:
            problems.append(f"two key entries for item [{i}]: {seen[i]!r} and {k.template!r}")
        seen[i] = k.template
    for i, t in enumerate(texts):
        if i not in seen:
            problems.append(f"template item [{i}] has no key entry: {t[:80]}")

    draft_texts = [c.text for c in clauses(pair.draft_path)]
    snippets = {s for k in pair.items for s in k.draft} | set(pair.extra)
    for s in sorted(snippets):
        try:
            find_clause(s, draft_texts)
        except ValueError as exc:
            problems.append(f"draft: {exc}")

    n_missing = sum(k.status == "missing" for k in pair.items)
    n_weaker = sum(k.target == "weaker" for k in pair.items)
    print(f"{pair.name}: {len(pair.items)} key entries for {len(items)} template items, "
          f"{len(draft_texts)} draft task/target clauses; {n_missing} missing, {n_weaker} weaker, "
          f"{len(pair.extra)} extra")
    for p in problems:
        print("  PROBLEM:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
