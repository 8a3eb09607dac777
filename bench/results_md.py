"""Write one named section of bench/RESULTS.md, leaving the other scripts' sections alone."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = "# Benchmark results\n\nFigures measured on a 2-core, 24 GiB machine without GPU; each section is rewritten by the script named in it.\n"


def write_section(key: str, title: str, body: str) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else HEADER
    block = f"<!-- {key}:start -->\n## {title}\n\n_Updated {date.today().isoformat()}._\n\n{body.strip()}\n<!-- {key}:end -->"
    pattern = re.compile(rf"<!-- {re.escape(key)}:start -->.*?<!-- {re.escape(key)}:end -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text, encoding="utf-8")
