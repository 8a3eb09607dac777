"""The sample corpus shipped inside the package: five real plans of communes and wards."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def sample_paths() -> list[Path]:
    root = resources.files("cchc.corpus") / "samples"
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith((".txt", ".md")))
