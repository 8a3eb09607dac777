"""The short CI variant of the service load test: `cchc serve` on loopback with mixed
searches, gap checks and uploads from concurrent clients, zero errors allowed."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_mixed_load_has_no_errors(sample_home, tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    import load_bench

    home = tmp_path / "serve-home"
    shutil.copytree(sample_home, home)
    code = load_bench.main(["--mix", "--seconds", "6", "--clients", "4", "--no-results", "--home", str(home), "--ready-timeout", "300"])
    assert code == 0
