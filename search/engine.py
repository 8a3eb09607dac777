"""``search``: hybrid semantic + lexical search over every clause of every plan.

Dense retrieval (multilingual-e5 embeddings in FAISS) finds paraphrases; BM25 over Vietnamese
word tokens finds exact terms, abbreviations and text typed without diacritics. Hybrid mode
fuses the two with min-max normalised, weighted score fusion; it beat reciprocal rank fusion
on the dev set and its weight was chosen by leave-one-out (``bench/search_eval.py``,
bench/RESULTS.md). Filters are resolved to clause ids
in SQL and applied inside both indexes, so a narrow filter still fills ``top_k``.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field

import numpy as np

from cchc.corpus.models import AREAS, KINDS
from cchc.corpus.textnorm import canonical, fold
from cchc.errors import CCHCError
from cchc.indexing import store
from cchc.indexing.embeddings import Embedder, get_embedder
from cchc.indexing.library import Library
from cchc.search.index_manager import load_indexes
from cchc.search.query import dense_query

MODES = ("hybrid", "dense", "lexical")


@dataclass
class SearchFilters:
    province: list[str] = field(default_factory=list)
    unit: list[str] = field(default_factory=list)
    level: list[str] = field(default_factory=list)
    year: int | None = None
    area: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    plan_ids: list[int] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.province or self.unit or self.level or self.year or self.area or self.kind or self.plan_ids)


@dataclass
class SearchHit:
    clause_id: int
    plan_id: int
    unit: str | None
    province: str | None
    period: str | None
    source: str
    section: str
    kind: str
    area: str | None
    text: str
    score: float
    matched: list[str]
    label: str | None = None
    dense_rank: int | None = None
    lexical_rank: int | None = None

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("dense_rank")
        d.pop("lexical_rank")
        d.pop("label")
        return d


# --- input checking -------------------------------------------------------------------------


def _resolve_code(value: str, table: dict[str, str], what: str) -> str:
    v = fold(value.strip()).replace("_", " ")
    for code, label in table.items():
        if v in (fold(code).replace("_", " "), fold(label)) or fold(label).endswith(v) and len(v) > 3:
            return code
    choices = ", ".join(table)
    raise CCHCError("bad_filter", f"{what} '{value}' không hợp lệ; chọn một trong: {choices}", status=422)


def normalise_filters(filters: SearchFilters | None) -> SearchFilters:
    f = filters or SearchFilters()
    return SearchFilters(
        province=[p for p in f.province if p],
        unit=[u for u in f.unit if u],
        level=[lv for lv in f.level if lv],
        year=f.year,
        area=[_resolve_code(a, AREAS, "Lĩnh vực") for a in f.area if a],
        kind=[_resolve_code(k, KINDS, "Loại điều khoản") for k in f.kind if k],
        plan_ids=[int(p) for p in f.plan_ids],
    )


def allowed_clause_ids(library: Library, f: SearchFilters) -> np.ndarray | None:
    """Clause ids passing the filters (None when there are no filters)."""
    if f.is_empty():
        return None
    where, args = [], []
    if f.area:
        where.append(f"c.area IN ({','.join('?' * len(f.area))})")
        args += f.area
    if f.kind:
        where.append(f"c.kind IN ({','.join('?' * len(f.kind))})")
        args += f.kind
    if f.plan_ids:
        where.append(f"c.plan_id IN ({','.join('?' * len(f.plan_ids))})")
        args += f.plan_ids
    if f.year:
        where.append("p.year IS NOT NULL AND p.year <= ? AND COALESCE(p.year_end, p.year) >= ?")
        args += [f.year, f.year]
    sql = "SELECT c.id, p.province, p.unit, p.level FROM clauses c JOIN plans p ON p.id = c.plan_id"
    if where:
        sql += " WHERE " + " AND ".join(where)
    provinces = {fold(p) for p in f.province}
    units = [fold(u) for u in f.unit]
    levels = {fold(lv) for lv in f.level}
    with library.lock:
        rows = library.conn.execute(sql, args).fetchall()
    keep = []
    for r in rows:
        # Compared folded so "Thanh Hoá", "thanh hoa" and "Thanh Hóa" all match.
        if provinces and fold(r["province"] or "") not in provinces:
            continue
        if units and not any(u == fold(r["unit"] or "") or u in fold(r["unit"] or "") for u in units):
            continue
        if levels and fold(r["level"] or "") not in levels:
            continue
        keep.append(r["id"])
    return np.array(keep, dtype=np.int64)


# --- fusion -----------------------------------------------------------------------------------


def rrf(rankings: list[list[int]], k: int = 60, weights: list[float] | None = None) -> dict[int, float]:
    scores: dict[int, float] = {}
    for m, ranking in enumerate(rankings):
        w = weights[m] if weights else 1.0
        for rank, cid in enumerate(ranking):
            scores[cid] = scores.get(cid, 0.0) + w / (k + rank + 1)
    return scores


def score_fusion(dense: list[tuple[int, float]], lexical: list[tuple[int, float]], alpha: float = 0.5) -> dict[int, float]:
    """Min-max normalised scores, weighted: the alternative to RRF measured in bench."""
    def norm(pairs):
        if not pairs:
            return {}
        s = np.array([p[1] for p in pairs], dtype=np.float64)
        lo, hi = float(s.min()), float(s.max())
        span = hi - lo or 1.0
        return {cid: (v - lo) / span for cid, v in pairs}

    d, lx = norm(dense), norm(lexical)
    return {cid: alpha * d.get(cid, 0.0) + (1 - alpha) * lx.get(cid, 0.0) for cid in set(d) | set(lx)}


_WORD_RE = re.compile(r"\w+")


def surface_matches(query: str, text: str, extra: list[str] | None = None) -> list[str]:
    """Words of ``text`` that match a query word, case- and diacritic-insensitively."""
    qwords = {fold(w) for w in _WORD_RE.findall(query) if len(w) > 1}
    for e in extra or []:
        qwords |= {fold(w) for w in _WORD_RE.findall(e) if len(w) > 1}
    out: list[str] = []
    for w in _WORD_RE.findall(text):
        if fold(w) in qwords and w not in out:
            out.append(w)
    return out


# --- search -----------------------------------------------------------------------------------


_QUERY_CACHE: "OrderedDict[tuple[str, str], np.ndarray]" = OrderedDict()
_QUERY_CACHE_SIZE = 2048
_query_cache_lock = threading.Lock()


def _query_vector(embedder: Embedder, text: str) -> np.ndarray:
    """Officials repeat searches (and share them as links): embedding a query is most of a
    search's time, so recent query vectors are kept, per model."""
    key = (embedder.model_id, text)
    with _query_cache_lock:
        hit = _QUERY_CACHE.get(key)
        if hit is not None:
            _QUERY_CACHE.move_to_end(key)
            return hit
    vec = np.asarray(embedder.embed_queries([text]), dtype=np.float32)
    with _query_cache_lock:
        _QUERY_CACHE[key] = vec
        if len(_QUERY_CACHE) > _QUERY_CACHE_SIZE:
            _QUERY_CACHE.popitem(last=False)
    return vec


def _hydrate(library: Library, ids: list[int]):
    with library.lock:
        clauses = store.clauses_by_ids(library.conn, ids)
        plans = store.plan_cards(library.conn, sorted({c.plan_id for c in clauses.values()}))
    return clauses, plans


def check_query(query: str, top_k: int, mode: str, settings) -> str:
    q = " ".join((query or "").split())
    if not q:
        raise CCHCError("empty_query", "câu tìm kiếm rỗng", status=422)
    if len(q) > settings.max_query_chars:
        raise CCHCError("query_too_long", f"câu tìm kiếm dài quá {settings.max_query_chars} ký tự", status=422)
    if not 1 <= top_k <= settings.max_top_k:
        raise CCHCError("bad_top_k", f"top_k phải từ 1 đến {settings.max_top_k}", status=422)
    if mode not in MODES:
        raise CCHCError("bad_mode", f"chế độ '{mode}' không hợp lệ; chọn hybrid, dense hoặc lexical", status=422)
    return q


def search(
    library: Library,
    query: str,
    *,
    mode: str = "hybrid",
    filters: SearchFilters | None = None,
    top_k: int = 10,
    per_plan: int | None = None,
    embedder: Embedder | None = None,
    fusion: str | None = None,
) -> list[SearchHit]:
    settings = library.settings
    q = check_query(query, top_k, mode, settings)
    f = normalise_filters(filters)
    idx = load_indexes(library, embedder=embedder)
    allowed = allowed_clause_ids(library, f)
    if allowed is not None and len(allowed) == 0:
        return []
    depth = max(100, top_k * 10 if per_plan is None else top_k * 30)

    dense_pairs: list[tuple[int, float]] = []
    lex_hits = []
    if mode in ("hybrid", "dense"):
        emb = embedder or get_embedder(settings.embedder)
        qv = _query_vector(emb, dense_query(q, idx.lexical.expand, idx.restorer))
        scores, ids = idx.dense.search(qv, depth, allowed_ids=allowed)
        dense_pairs = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
    if mode in ("hybrid", "lexical"):
        lex_hits = [h for h in idx.lexical.search(q, depth, allowed_ids=allowed) if h.score > 0]
    lex_pairs = [(int(h.id), float(h.score)) for h in lex_hits]
    matched_by_id = {int(h.id): list(h.matched) for h in lex_hits}

    if mode == "dense":
        fused = dict(dense_pairs)
    elif mode == "lexical":
        fused = dict(lex_pairs)
    elif (fusion or settings.fusion) == "score":
        fused = score_fusion(dense_pairs, lex_pairs, alpha=settings.dense_weight)
    else:
        fused = rrf([[c for c, _ in dense_pairs], [c for c, _ in lex_pairs]], k=settings.rrf_k)
    dense_rank = {c: r for r, (c, _) in enumerate(dense_pairs)}
    lex_rank = {c: r for r, (c, _) in enumerate(lex_pairs)}

    ordered = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
    # Hydrate only what the page needs; more only when per-plan caps or deleted ids thin it out.
    first = top_k * 3 if per_plan is None else len(ordered)
    clauses, plans = _hydrate(library, [cid for cid, _ in ordered[:first]])
    hits: list[SearchHit] = []
    per: dict[int, int] = {}
    expansions: list[str] | None = None
    for pos, (cid, score) in enumerate(ordered):
        if pos == first and len(hits) < top_k:
            more_c, more_p = _hydrate(library, [c for c, _ in ordered[first:]])
            clauses.update(more_c)
            plans.update(more_p)
        c = clauses.get(cid)
        if c is None:  # deleted since the snapshot was built
            continue
        if per_plan is not None:
            if per.get(c.plan_id, 0) >= per_plan:
                continue
            per[c.plan_id] = per.get(c.plan_id, 0) + 1
        p = plans.get(c.plan_id)
        matched = matched_by_id.get(cid)
        if not matched:
            if expansions is None:
                expansions = [text for text, _w in idx.lexical.expand(q)]
            matched = surface_matches(q, c.text, expansions)
        hits.append(
            SearchHit(
                clause_id=cid,
                plan_id=c.plan_id,
                unit=p["unit"] if p else None,
                province=p["province"] if p else None,
                period=p["period"] if p else None,
                source=p["source"] if p else "",
                section=c.section,
                kind=c.kind,
                area=c.area,
                text=c.text,
                score=round(float(score), 6),
                matched=matched,
                label=c.label,
                dense_rank=dense_rank.get(cid),
                lexical_rank=lex_rank.get(cid),
            )
        )
        if len(hits) >= top_k:
            break
    return hits
