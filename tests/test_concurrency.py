"""Concurrency: readers while another process writes, and two writers at once.

(a) Searches (lexical, dense, hybrid) and gap analyses between two stored plans run in
threads sharing one ``Library`` (as the server does) and in a separate process, while the CLI
ingests two batches (each followed by an index refresh) and then re-indexes. No search may
fail, every index a reader loads must be a complete snapshot (dense and lexical halves hold
the same ids, all of them clauses the store has), and every hit must be a stored clause shown
with its stored text.

(b) Two ``cchc ingest`` processes start together on overlapping sets of files: both must
succeed (SQLite's busy timeout makes one wait for the other's transaction), every plan must
be stored once, and the index published last must be the complete one (a refresh that read
the store earlier may not overwrite a later one). Also two processes creating the same new
library at once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hardening_support import (
    CCHC,
    Stopwatch,
    check_store,
    cli_env,
    expected_plans,
    gap_once,
    index_ids,
    leftover_index_files,
    make_corpus,
    run_cli,
    search_once,
    seed_cache,
    settings_for,
    ReaderStats,
)

HERE = Path(__file__).resolve().parent


def _split(corpus: list[Path], root: Path, parts: dict[str, slice]) -> dict[str, Path]:
    out = {}
    for name, part in parts.items():
        folder = root / name
        folder.mkdir(parents=True)
        for path in corpus[part]:
            shutil.copy(path, folder / path.name)
        out[name] = folder
    return out


@pytest.mark.slow

def communicate_all(procs: list[subprocess.Popen], timeout: float = 300) -> list[tuple[str, str]]:
    """Wait for every process; whatever happens, leave none running."""
    try:
        return [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

def test_searches_and_gap_analyses_while_another_process_ingests_and_reindexes(tmp_path, embedding_cache_db):
    from cchc.indexing.ingest import ingest
    from cchc.indexing.library import Library
    from cchc.search.index_manager import refresh_indexes

    corpus = make_corpus(tmp_path / "corpus", copies=3)
    batches = _split(corpus, tmp_path, {"b1": slice(0, 5), "b2": slice(5, 10), "b3": slice(10, 15)})
    home = tmp_path / "home"
    seed_cache(home, embedding_cache_db)
    lib = Library(settings_for(home))
    assert all(r.status == "added" for r in ingest(lib, [batches["b1"]]))
    refresh_indexes(lib)
    ids = {p.source: p.id for p in lib.plans()}
    gap_pair = (ids["00-xa-hai-hau-2026.txt"], ids["00-xa-dinh-hung-2025.txt"])

    stop = threading.Event()
    stop_file = tmp_path / "stop"
    thread_stats = [ReaderStats() for _ in range(3)]
    seen: set = set()

    def searcher(k: int) -> None:
        import random

        rng = random.Random(k)
        from hardening_support import QUERIES

        # A short pause between searches leaves the writer its share of the two cores.
        while not stop.wait(0.05):
            search_once(lib, rng.choice(QUERIES), rng.choice(["lexical", "hybrid", "dense"]), thread_stats[k], seen)

    def gapper() -> None:
        while not stop.wait(0.2):
            gap_once(lib, *gap_pair, thread_stats[2])

    reader_proc = subprocess.Popen(
        [sys.executable, str(HERE / "hardening_support.py"), "reader", str(home), str(stop_file), "7", *map(str, gap_pair)],
        env=cli_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=HERE,
    )
    threads = [threading.Thread(target=searcher, args=(k,)) for k in range(2)] + [threading.Thread(target=gapper)]
    try:
        for t in threads:
            t.start()
        clock = Stopwatch()
        writes = [
            run_cli(["ingest", str(batches["b2"])], home),
            run_cli(["ingest", str(batches["b3"])], home),
            run_cli(["reindex"], home),
        ]
        write_seconds = clock.elapsed
    finally:
        stop.set()
        stop_file.touch()
        for t in threads:
            t.join(timeout=120)
        try:
            out, err = reader_proc.communicate(timeout=120)
        finally:
            if reader_proc.poll() is None:
                reader_proc.kill()
                reader_proc.wait()
        lib.close()

    for w in writes:
        assert w.returncode == 0, w.stdout + w.stderr
    assert reader_proc.returncode == 0, err
    proc_stats = ReaderStats(**json.loads(out.strip().splitlines()[-1]))
    errors = [e for s in thread_stats + [proc_stats] for e in s.errors]
    assert errors == []
    searches = sum(s.searches for s in thread_stats) + proc_stats.searches
    # The readers really overlapped the writes: they ran all along and saw the index move.
    print(f"searches {searches} (process {proc_stats.searches}), gaps {thread_stats[2].gaps + proc_stats.gaps}, "
          f"snapshots seen {len(seen)}, writes {write_seconds:.1f}s")
    assert searches >= 20 and proc_stats.searches >= 3, (searches, proc_stats, write_seconds)
    assert thread_stats[2].gaps >= 1 and sum(s.hits_checked for s in thread_stats) > 0
    assert len(seen) >= 2, "the readers never saw a new snapshot"

    dense, lexical, clauses = index_ids(home)
    assert dense == lexical == clauses


@pytest.mark.slow
def test_two_ingests_at_once_on_overlapping_files(tmp_path, embedding_cache_db):
    corpus = make_corpus(tmp_path / "corpus", copies=4)
    expected = expected_plans(corpus)
    folders = _split(corpus, tmp_path, {"a": slice(0, 13), "b": slice(7, 20)})
    home = tmp_path / "home"
    seed_cache(home, embedding_cache_db)

    procs = [
        subprocess.Popen([CCHC, "ingest", "--json", str(folders[k])], env=cli_env(home),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for k in ("a", "b")
    ]
    outputs = communicate_all(procs)
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    results = [r for out, _ in outputs for r in json.loads(out)["results"]]
    added = [r["source"] for r in results if r["status"] == "added"]
    # Each file added exactly once; the other process found the overlap already stored.
    assert sorted(added) == sorted(expected)
    assert sum(r["status"] == "unchanged" for r in results) == 6

    assert check_store(home, expected) == set(expected)
    dense, lexical, clauses = index_ids(home)
    assert dense == lexical == clauses  # the last publication is the complete one
    assert leftover_index_files(home) == []


def test_two_processes_create_the_same_new_library(tmp_path):
    from cchc.corpus.bundled import sample_paths

    home = tmp_path / "new-home"  # does not exist yet: both processes create and migrate it
    one = sorted(sample_paths())[:2]
    procs = [
        subprocess.Popen([CCHC, "ingest", "--no-index", *map(str, one)], env=cli_env(home),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = communicate_all(procs)
    for p, (_out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    expected = expected_plans(one)
    assert check_store(home, expected) == set(expected)


@pytest.mark.parametrize("store_moved_on", [True, False])
def test_a_refresh_that_read_the_store_earlier_does_not_replace_a_newer_snapshot(sample_library, monkeypatch, store_moved_on):
    """Two processes refreshing at once: the one that read the store first must not publish
    last. Staged in one process: a snapshot of generation G+1 is current (another process's),
    while this refresh read the store at G. If the store really is at G+1 by now, the newer
    snapshot stays; if it is not (the database was replaced meanwhile), ours is published."""
    import cchc.search.index_manager as im
    from cchc.indexing import snapshot as snap_module
    from cchc.indexing.store import generation

    root = sample_library.settings.index_dir
    current = snap_module.current_snapshot(root)
    g = generation(sample_library.conn)
    meta = json.loads((current / "snapshot.json").read_text(encoding="utf-8"))
    meta["generation"] = g + 1

    def theirs(d):
        for f in current.iterdir():
            shutil.copy(f, d / f.name)
        (d / "snapshot.json").write_text(json.dumps(meta), encoding="utf-8")

    newer = snap_module.publish_snapshot(root, theirs, generation=g + 1)
    real_generation = im.store.generation
    reads = []

    def generation_seen(conn):
        reads.append(1)
        # The build reads G; by the time it publishes, the store has (or has not) moved on.
        return real_generation(conn) + (1 if store_moved_on and len(reads) > 1 else 0)

    monkeypatch.setattr(im.store, "generation", generation_seen)
    info = im.refresh_indexes(sample_library)
    after = snap_module.current_snapshot(root)
    if store_moved_on:
        assert after == newer and info.generation == g + 1
    else:
        assert after != newer and info.generation == g
        assert json.loads((after / "snapshot.json").read_text(encoding="utf-8"))["generation"] == g
