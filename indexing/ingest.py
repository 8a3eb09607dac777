"""``ingest``: read, segment and store plan documents, one transaction per file.

Re-ingesting identical content is a no-op; a changed file with the same name replaces its old
version only when asked (``replace=True``), keeping the plan id so links stay valid; a file
that fails for any reason leaves the library exactly as it was, and the rest of a batch goes on.
Embedding and index refresh are separate steps (``refresh_indexes``) so a batch is indexed once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from cchc.corpus.models import ParsedPlan, RawDocument
from cchc.corpus.reader import SUPPORTED, read_bytes, read_document
from cchc.corpus.segment import segment
from cchc.errors import CCHCError
from cchc.indexing import store
from cchc.indexing.library import Library


@dataclass
class IngestResult:
    source: str
    status: str  # added | replaced | unchanged | failed
    plan_id: int | None = None
    n_clauses: int = 0
    unit: str | None = None
    message: str | None = None
    notes: list[str] = field(default_factory=list)
    code: str | None = None  # a failed file's CCHCError code (too_large, zip_bomb, …)

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_json(self) -> dict:
        return asdict(self)


def collect_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders to the supported documents inside them (recursively, skipping hidden
    files); files named explicitly are kept whatever their suffix so they get a clear error."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts):
                    if f.suffix.lower() in SUPPORTED:
                        out.append(f)
        else:
            out.append(p)
    return out


def _lex_tokens(parsed: ParsedPlan) -> list[str | None]:
    try:
        from cchc.indexing.lexical import tokenize_passage
    except ImportError:  # pragma: no cover - the lexical module is part of the package
        return [None] * len(parsed.clauses)
    return [tokenize_passage(c.text).to_json() for c in parsed.clauses]


def _store_targets(conn, plan_id: int) -> None:
    from cchc.search.targets import clause_targets, store_clause_targets

    for clause in store.plan_clauses(conn, plan_id):
        store_clause_targets(conn, clause.id, plan_id, clause_targets(clause))


def store_parsed(library: Library, parsed: ParsedPlan, *, replace: bool = False) -> IngestResult:
    if not parsed.clauses:
        raise CCHCError("no_clauses", "không tìm thấy nội dung kế hoạch nào trong tệp", source=parsed.source)
    tokens = _lex_tokens(parsed)
    conn = library.conn
    with library.lock, store.transaction(conn):
        same = store.find_plan_by_hash(conn, parsed.content_hash)
        if same is not None:
            return _unchanged(parsed.source, same)
        old = store.find_plan_by_source(conn, parsed.source)
        if old is not None and not replace:
            raise CCHCError(
                "plan_exists",
                f"thư viện đã có một phiên bản khác của tệp này (kế hoạch {old['id']}); dùng --replace để thay thế",
                source=parsed.source,
                status=409,
            )
        if old is not None:
            store.delete_plan(conn, old["id"])
        pid = store.insert_plan(conn, parsed, plan_id=old["id"] if old is not None else None, lex_tokens=tokens)
        _store_targets(conn, pid)
        store.bump_generation(conn)
    return IngestResult(
        parsed.source,
        "replaced" if old is not None else "added",
        plan_id=pid,
        n_clauses=len(parsed.clauses),
        unit=parsed.meta.unit,
        notes=list(parsed.notes),
    )


def _unchanged(source: str, same) -> IngestResult:
    return IngestResult(
        source, "unchanged", plan_id=same["id"], unit=same["unit"],
        message=f"đã có trong thư viện (kế hoạch {same['id']}, tệp {same['source']})",
    )


def ingest_document(library: Library, raw: RawDocument, *, replace: bool = False) -> IngestResult:
    # Known content is answered before segmenting: re-running a batch after a crash or an
    # interruption then costs a read and a hash per file already stored, not a full parse.
    # store_parsed checks again inside its transaction, where it counts.
    with library.lock:
        same = store.find_plan_by_hash(library.conn, raw.content_hash)
    if same is not None:
        return _unchanged(raw.source, same)
    return store_parsed(library, segment(raw), replace=replace)


def ingest(
    library: Library,
    paths: Iterable[str | Path],
    *,
    replace: bool = False,
    progress: Callable[[IngestResult], None] | None = None,
) -> list[IngestResult]:
    max_bytes = int(library.settings.max_file_mb * 1024 * 1024)
    results = []
    for path in collect_paths(paths):
        try:
            raw = read_document(path, max_bytes=max_bytes)
            result = ingest_document(library, raw, replace=replace)
        except CCHCError as e:
            result = IngestResult(e.source or path.name, "failed", message=e.message, code=e.code)
        except Exception as e:  # a parser bug must not take the batch down
            result = IngestResult(
                path.name, "failed", message=f"lỗi không mong đợi khi xử lý tệp: {type(e).__name__}: {e}", code="internal_error"
            )
        results.append(result)
        if progress:
            progress(result)
    return results


def ingest_bytes(library: Library, data: bytes, name: str, *, replace: bool = False) -> IngestResult:
    max_bytes = int(library.settings.max_file_mb * 1024 * 1024)
    return ingest_document(library, read_bytes(data, name, max_bytes=max_bytes), replace=replace)


def remove_plan(library: Library, plan_id: int) -> None:
    with library.lock, store.transaction(library.conn):
        store.get_plan(library.conn, plan_id)
        store.delete_plan(library.conn, plan_id)
        store.bump_generation(library.conn)
