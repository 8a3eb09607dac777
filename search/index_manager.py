"""Keeping the dense and lexical indexes in step with the store.

Both indexes are rebuilt together from the store (clause tokens are stored at ingest, vectors
come from the embedding cache, so a rebuild embeds only new text) and published as one
snapshot directory behind an atomically switched ``CURRENT`` pointer: a search running while
another process ingests sees the old snapshot or the new one, never a half-written file.
A snapshot records the store generation it was built from; readers treat a lagging snapshot as
valid-but-old and drop ids that no longer exist.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cchc.errors import CCHCError
from cchc.indexing import store
from cchc.indexing.abbreviations import learn_abbreviations
from cchc.indexing.dense import DenseIndex
from cchc.indexing.embeddings import Embedder, embed_passages_cached, get_embedder
from cchc.indexing.lexical import LexicalIndex, LexTokens, tokenize_passage
from cchc.indexing.library import Library
from cchc.indexing.snapshot import current_snapshot, load_current, publish_snapshot
from cchc.search.query import DiacriticRestorer

SNAPSHOT_FILE = "snapshot.json"


@dataclass
class IndexInfo:
    n_clauses: int
    embedded: int
    model_id: str
    dim: int
    kind: str
    generation: int
    snapshot: str

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Indexes:
    """A loaded snapshot: both indexes plus what they were built from."""

    dense: DenseIndex
    lexical: LexicalIndex
    generation: int
    model_id: str
    snapshot: Path
    abbreviations: dict
    restorer: DiacriticRestorer | None = None


class _CountingEmbedder:
    """Counts the passages actually sent to the model (the cache's misses)."""

    def __init__(self, inner: Embedder):
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.count = 0

    def embed_queries(self, texts):
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts):
        self.count += len(texts)
        return self.inner.embed_passages(texts)


_build_lock = threading.Lock()


def refresh_indexes(library: Library, *, embedder: Embedder | None = None, progress=None) -> IndexInfo:
    """Rebuild both indexes from the store and publish them as the current snapshot."""
    settings = library.settings
    embedder = embedder or get_embedder(settings.embedder)
    counting = _CountingEmbedder(embedder)
    with _build_lock:
        with library.lock:
            # One read transaction: the generation recorded must be that of the rows read,
            # even when another process commits an ingest in between.
            library.conn.execute("BEGIN")
            try:
                gen = store.generation(library.conn)
                rows = library.conn.execute("SELECT id, text, lex_tokens FROM clauses ORDER BY id").fetchall()
            finally:
                library.conn.execute("COMMIT")
        ids = np.array([r["id"] for r in rows], dtype=np.int64)
        texts = [r["text"] for r in rows]
        tokens = [LexTokens.from_json(r["lex_tokens"]) if r["lex_tokens"] else tokenize_passage(r["text"]) for r in rows]
        # No transaction around embedding: it can take minutes and must not hold the write lock
        # an ingest in another process needs; each cache insert commits on its own, and a
        # half-filled cache after a crash is merely a cache.
        # Its own connection, so server threads searching meanwhile are not held up.
        conn = store.connect(settings.db_path)
        try:
            vectors = embed_passages_cached(
                conn, counting, texts, max_chars=settings.max_embed_chars, on_progress=progress
            )
        finally:
            conn.close()
        pairs = learn_abbreviations(texts)
        dense = DenseIndex.build(ids, vectors.reshape(len(ids), embedder.dim), model_id=embedder.model_id, generation=gen)
        lexical = LexicalIndex.build(ids, tokens, abbreviations=pairs)
        restorer = DiacriticRestorer.train(texts)

        def write(directory: Path) -> None:
            dense.save(directory)
            lexical.save(directory)
            restorer.save(directory)
            (directory / SNAPSHOT_FILE).write_text(
                json.dumps(
                    {
                        "generation": gen,
                        "model_id": embedder.model_id,
                        "dim": int(embedder.dim),
                        "n": int(len(ids)),
                        "abbreviations": {k: sorted(v) for k, v in pairs.items()},
                    },
                    ensure_ascii=False,
                ),
                encoding="utf-8",
            )

        kept: dict = {}

        def newer_current(current: Path) -> bool:
            """Another process published from a later state of this store while we built."""
            try:
                meta = json.loads((current / SNAPSHOT_FILE).read_text(encoding="utf-8"))
                theirs = int(meta["generation"])
            except (OSError, ValueError, KeyError, TypeError):
                return False
            with library.lock:
                now = store.generation(library.conn)
            # theirs > now: a snapshot of some other store (the database was replaced); ours wins.
            if gen < theirs <= now and meta.get("model_id") == embedder.model_id:
                kept.update(meta)
                return True
            return False

        snap = publish_snapshot(settings.index_dir, write, generation=gen, keep_current=newer_current)
    library._indexes = None
    return IndexInfo(
        n_clauses=int(kept.get("n", len(ids))),
        embedded=counting.count,
        model_id=embedder.model_id,
        dim=int(embedder.dim),
        kind=dense.kind,
        generation=int(kept.get("generation", gen)),
        snapshot=snap.name,
    )


def load_indexes(library: Library, *, embedder: Embedder | None = None) -> Indexes:
    """The current snapshot, loaded once per process and reloaded when ``CURRENT`` moves.

    An empty library raises ``empty_library``; a library with clauses but no snapshot yet gets
    one built; a snapshot made with another model is refused (``index_model_mismatch``).
    """
    settings = library.settings
    snap = current_snapshot(settings.index_dir)
    cached = library._indexes
    if cached is not None and snap is not None and cached.snapshot == snap:
        return cached
    if snap is None:
        with library.lock:
            n = library.conn.execute("SELECT COUNT(*) FROM clauses").fetchone()[0]
        if n == 0:
            raise CCHCError(
                "empty_library",
                "Thư viện chưa có kế hoạch nào. Hãy nạp kế hoạch trước: cchc ingest TỆP… (hoặc cchc ingest --samples)",
                status=409,
            )
        refresh_indexes(library, embedder=embedder)
    model_id = (embedder.model_id if embedder else None) or _configured_model_id(settings.embedder)

    def load(snap: Path) -> Indexes:
        meta = json.loads((snap / SNAPSHOT_FILE).read_text(encoding="utf-8"))
        dense = DenseIndex.load(snap, expected_model_id=model_id, expected_dim=int(meta["dim"]))
        abbreviations = {k: set(v) for k, v in meta.get("abbreviations", {}).items()}
        return Indexes(
            dense=dense,
            lexical=LexicalIndex.load(snap, abbreviations=abbreviations),
            generation=int(meta["generation"]),
            model_id=meta["model_id"],
            snapshot=snap,
            abbreviations=abbreviations,
            restorer=DiacriticRestorer.load(snap),
        )

    # Retried on the new snapshot if this one is superseded (and deleted) while being read.
    loaded = load_current(settings.index_dir, load)
    if loaded is None:  # the pointer vanished meanwhile: nothing sensible to serve
        raise CCHCError("index_missing", "Chưa có chỉ mục tìm kiếm. Hãy chạy lệnh `cchc reindex`.", status=503)
    library._indexes = loaded
    return loaded


def _configured_model_id(spec: str) -> str:
    from cchc.indexing.embeddings import canonical_model_id

    return canonical_model_id(spec)


def indexes_fresh(library: Library) -> bool:
    snap = current_snapshot(library.settings.index_dir)
    if snap is None:
        return False
    try:
        meta = json.loads((snap / SNAPSHOT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # superseded and deleted while we looked: not fresh
        return False
    return int(meta["generation"]) == library.generation
