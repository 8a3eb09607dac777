"""Crash safety: ``cchc ingest`` and ``cchc reindex`` SIGKILLed at random moments, many times.

After every kill the library must open cleanly, pass SQLite's integrity check, hold no orphan
rows, and hold every plan whole or not at all (its clauses, task-table rows, targets and
boilerplate exactly as segmenting its file gives). Kills are aimed at four phases: start-up
(imports, opening and migrating the library), the batch of per-file transactions, and the
building and publication of the index snapshot (after ``ingest`` and by ``reindex``; the
embeddings are seeded from the session cache so nothing is embedded). After each kill the
published snapshot, if any, must be complete. At the end running the same ingest again and
``cchc reindex`` must bring back every plan exactly once, with both indexes holding exactly
the store's clause ids, and nothing half-written left in the index directory.

Two data directories are driven side by side (different seeds): the CLI spends most of a
run starting up, and this keeps the test near a minute on a loaded two-core machine.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from hardening_support import (
    check_store,
    crash_scenario,
    expected_plans,
    index_ids,
    leftover_index_files,
    make_corpus,
    run_cli,
)

SEEDS = (20260415, 20260416)
KILLS = {"startup": 2, "batch": 3, "refresh": 1, "reindex": 2}  # per data directory


@pytest.mark.slow
def test_sigkill_during_ingest_and_indexing_never_damages_the_library(tmp_path, embedding_cache_db):
    corpus = tmp_path / "corpus"
    expected = expected_plans(make_corpus(corpus, copies=8))
    assert len(expected) == 40

    def scenario(seed):
        report, home = crash_scenario(
            tmp_path / str(seed), corpus, expected, embedding_cache_db, seed=seed, kills=KILLS, log=lambda _m: None
        )
        # Recovery is running the same commands again.
        done = run_cli(["ingest", "--no-index", str(corpus)], home)
        reindex = run_cli(["reindex"], home)
        return report, home, done, reindex

    with ThreadPoolExecutor(len(SEEDS)) as pool:
        outcomes = list(pool.map(scenario, SEEDS))

    for report, home, done, reindex in outcomes:
        assert dict(report.kills) == KILLS, report
        # Some kills must have landed among the writes, not only before or after them.
        assert report.plans_written_then_killed >= 1, report
        assert done.returncode == 0, done.stdout + done.stderr
        assert reindex.returncode == 0, reindex.stdout + reindex.stderr

        assert check_store(home, expected) == set(expected)
        dense, lexical, clauses = index_ids(home)
        assert dense == lexical == clauses
        assert len(clauses) == sum(e.clauses for e in expected.values())
        # Publications killed half-way left nothing once a later one finished.
        assert leftover_index_files(home) == []


# --- the oracle and the pieces, deterministically ---------------------------------------------


def _small_library(tmp_path):
    from cchc.corpus.bundled import sample_paths
    from cchc.indexing.ingest import ingest
    from cchc.indexing.library import Library
    from hardening_support import settings_for

    paths = [p for p in sample_paths() if "hai-hau" in p.name or "gia-phuc" in p.name]
    home = tmp_path / "home"
    lib = Library(settings_for(home))
    assert [r.status for r in ingest(lib, paths)] == ["added", "added"]
    lib.close()
    return home, expected_plans(paths)


@pytest.mark.parametrize(
    "damage",
    [
        "DELETE FROM clauses WHERE id = (SELECT MAX(id) FROM clauses)",
        "DELETE FROM targets WHERE plan_id = 1",
        "DELETE FROM table_fields WHERE clause_id = (SELECT MIN(clause_id) FROM table_fields)",
        "INSERT INTO boilerplate (plan_id, position, text) VALUES (99, 0, 'mồ côi')",
        "UPDATE clauses SET text = text || ' (sửa)' WHERE id = 5",
        "UPDATE plans SET source = 'xa-hai-hau-2026.txt'",
    ],
)
def test_the_library_check_catches_damage(tmp_path, damage):
    """The crash test's oracle: a partly stored plan, an orphan row or a duplicate must fail it."""
    import sqlite3

    home, expected = _small_library(tmp_path)
    assert check_store(home, expected) == set(expected)
    conn = sqlite3.connect(home / "library.sqlite3")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute(damage)
    conn.commit()
    conn.close()
    with pytest.raises(AssertionError):
        check_store(home, expected)


def test_a_publisher_killed_mid_write_leaves_the_old_snapshot_current(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from cchc.indexing.snapshot import CURRENT, current_snapshot, publish_snapshot

    root = tmp_path / "indexes"
    old = publish_snapshot(root, lambda d: (d / "snapshot.json").write_text("{}"), generation=1)
    started = tmp_path / "started"
    script = (
        "import sys, time, pathlib\n"
        "from cchc.indexing.snapshot import publish_snapshot\n"
        "def write(d):\n"
        "    (d / 'dense.faiss').write_bytes(b'x' * 1000)\n"
        f"    pathlib.Path({str(started)!r}).touch()\n"
        "    time.sleep(60)\n"
        f"publish_snapshot(pathlib.Path({str(root)!r}), write, generation=2)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert started.exists()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Readers still get the old, complete snapshot; the half-written one is not a snapshot.
    assert current_snapshot(root) == old
    half = [p.name for p in root.iterdir() if p.name not in (CURRENT, ".publish.lock", old.name)]
    assert half and all(not name.startswith("snap-") for name in half), half
    # The next publication (the lock the killed process held is free again) sweeps it away.
    new = publish_snapshot(root, lambda d: (d / "snapshot.json").write_text("{}"), generation=3)
    assert sorted(p.name for p in root.iterdir()) == sorted([CURRENT, ".publish.lock", old.name, new.name])
