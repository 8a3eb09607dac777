"""Shared fixtures: real SQLite libraries in temp dirs, the real default embedder with its
vectors cached once per test session (it embeds ~25 passages/s, the suite must stay fast)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cchc.corpus.bundled import sample_paths
from cchc.settings import Settings


def make_settings(home: Path, **kw) -> Settings:
    return Settings(home=home, **kw)


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "cchc-home"


@pytest.fixture
def library(home):
    from cchc.indexing.library import Library

    lib = Library(make_settings(home))
    yield lib
    lib.close()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """No test may touch the user's real data directory."""
    monkeypatch.setenv("CCHC_HOME", str(tmp_path / "env-home"))
    from cchc.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def embedding_cache_db(tmp_path_factory) -> Path:
    """A library DB holding the default embedder's vectors for every sample clause, built once
    per session; tests copy its embeddings into their own libraries."""
    from cchc.indexing.ingest import ingest
    from cchc.indexing.library import Library
    from cchc.search.index_manager import refresh_indexes

    home = tmp_path_factory.mktemp("embedding-cache")
    lib = Library(make_settings(home))
    ingest(lib, sample_paths())
    refresh_indexes(lib)
    lib.close()
    return home / "library.sqlite3"


def seed_embeddings(library, cache_db: Path) -> None:
    """Copy cached vectors into ``library`` so building its index embeds nothing known."""
    conn = library.conn
    conn.execute("ATTACH DATABASE ? AS cache", (str(cache_db),))
    try:
        conn.execute("INSERT OR IGNORE INTO embeddings SELECT * FROM cache.embeddings")
    finally:
        conn.execute("DETACH DATABASE cache")


@pytest.fixture(scope="session")
def sample_home(tmp_path_factory, embedding_cache_db) -> Path:
    """A data directory with the five samples ingested and indexed (read-only for tests)."""
    src = embedding_cache_db.parent
    dst = tmp_path_factory.mktemp("samples") / "home"
    shutil.copytree(src, dst)
    return dst


@pytest.fixture
def sample_library(sample_home, tmp_path):
    """A private copy of the indexed sample library (tests may write to it)."""
    from cchc.indexing.library import Library

    home = tmp_path / "home"
    shutil.copytree(sample_home, home)
    lib = Library(make_settings(home))
    yield lib
    lib.close()


@pytest.fixture
def samples_dir(tmp_path) -> Path:
    d = tmp_path / "samples"
    d.mkdir()
    for p in sample_paths():
        shutil.copy(p, d / p.name)
    return d


def pytest_configure(config):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
