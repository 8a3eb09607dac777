"""Gap analysis: what a plan omits versus its template.

``gap(library, template, plan)`` takes every task and target clause of the template (an
*item*; other kinds only when ``GapOptions.kinds`` asks) and looks for it among the plan's
clauses of the same kinds. Each item ends up *covered*, *partial* or *missing*, with a score in
[0, 1] and the plan clauses that support it as evidence; numeric targets of an item and of its
evidence are compared (weaker / stronger / equal / no figure in the plan). The report also
summarises coverage by reform area, lists the plan's *extra* clauses (those that match no
item), and checks the draft itself (areas without any task, task-table rows without a
responsible unit, deadline or output).

Template and plan are each a stored plan id or a document (path or ``RawDocument``). A document
is analysed without being stored (no plan or clause rows; its vectors stay in an in-process
cache and never reach the library DB) unless ``GapOptions.store_plan`` is set.

Matching (item *i*, plan clause *j*)
    ``dense``     cosine of the two multilingual-e5 *passage* vectors, rescaled from
                  [``dense_lo``, ``dense_hi``] to [0, 1] (the bundled model puts even unrelated
                  clauses of a CCHC plan above 0.8). Passage-vs-passage, because the template's
                  vectors are already in the embedding cache; embedding items as queries was
                  measured too (bench/RESULTS.md) and is not better;
    ``coverage``  the share of the item's terms found in the clause, weighted by idf over the
                  clauses of both plans. Terms are the folded syllables of
                  ``lexical.tokenize_passage`` and their bigrams, abbreviations spelled out (TTHC
                  → thủ tục hành chính), numbers left out: a changed figure is the target
                  check's business, not a sign of a missing item;
    ``focus``     the share of the *clause's* terms that come from the item. A shortened rewrite
                  covers few of a long item's terms but is all about it;
    ``score``     ``w · dense + (1 − w) · lexical`` with ``lexical = coverage + f · max(0, focus −
                  coverage)``: focus only ever lifts a clause, so a clause that merges two items
                  (focus below coverage) is not held back by the other item it carries.

    A clause may cover several items (merged tasks): nothing stops two items from citing the
    same clause. An item may need two clauses (split tasks): pairs among its best candidates are
    scored as one passage (union of their terms, their mean vector) when each piece is mostly
    about the item and the second adds at least ``pair_min_gain`` of the item's term weight.

    *Explaining away* tells near-duplicate items apart: a clause that is another item's rewrite
    counts for an item only as far as it holds the item's own words (``_explain_away``). Framing
    words ("tiếp tục tăng cường", "thực hiện nghiêm", "bảo đảm kịp thời") are not own words: an
    item that adds only those to another says the same thing, and a draft that merged the two
    covers both.

Calibration
    ``bench/gap_calibrate.py`` fits the weights and both thresholds on hand-written drafts of
    sample plans (bench/gap_pairs, role calibration), never on the evaluation pairs: every template item
    is scored with its rewrite present in the draft (paraphrased, merged or split: positive; or
    covered in part: partial) and again with that rewrite removed (negative: its best match is
    then an unrelated clause of the same draft), and the items the drafts omit are negatives
    too. The weights are those whose best cut gives the best F1 of "missing" over the real
    decisions (carried vs. omitted items; ROC AUC with the leave-one-out negatives breaking
    ties); ``gap_partial`` is that cut, ``gap_covered`` the best cut between full and partial
    rewrites above it. Both thresholds are Settings (``CCHC_GAP_COVERED``, ``CCHC_GAP_PARTIAL``) and
    options.

Coverage
    The share of items covered, a partial item counting one half: ``(covered + partial / 2) /
    items``, per reform area and overall.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Union

import numpy as np

from cchc.corpus.models import AREAS, KINDS, Clause, PlanMeta, RawDocument
from cchc.corpus.textnorm import fold, text_hash
from cchc.errors import CCHCError
from cchc.indexing.abbreviations import GLOSSARY
from cchc.indexing.embeddings import Embedder, embed_passages_cached, get_embedder, truncate_for_embedding
from cchc.indexing.library import Library
from cchc.indexing.lexical import tokenize_passage

STATUSES = ("covered", "partial", "missing")
STATUS_LABELS = {"covered": "Đã có", "partial": "Có một phần", "missing": "Còn thiếu"}
COMPARISONS = ("weaker", "stronger", "equal", "no_figure")
COMPARISON_LABELS = {
    "weaker": "Thấp hơn mẫu",
    "stronger": "Cao hơn mẫu",
    "equal": "Bằng mẫu",
    "no_figure": "Dự thảo không nêu con số",
}
DEFAULT_KINDS = ("task", "target")
NO_AREA = "none"
NO_AREA_LABEL = "Chưa xác định lĩnh vực"

CANDIDATES = 5  # best single clauses per item among which split pairs are looked for
# A draft file's clauses are embedded cut to this many characters (about the first sentence, which
# says what the clause is about; the lexical evidence still reads all of it): embedding the draft
# is nearly all of a draft analysis. 160 → 128 saves a fifth of it; on the calibration pairs it
# changed no missing/weaker decision, the AUC by 0.001 and one covered/partial call of 179
# (bench/gap_calibrate.py, bench/gap_eval.py --role calibration --embed-chars N).
DRAFT_EMBED_CHARS = 128
EMBED_BATCH = 32
MEMORY_CACHE_SIZE = 50_000

PlanInput = Union[int, str, Path, RawDocument]


# --- options and results -----------------------------------------------------------------------


@dataclass
class GapOptions:
    kinds: tuple[str, ...] = DEFAULT_KINDS
    areas: tuple[str, ...] = ()
    covered: float | None = None  # default: settings.gap_covered
    partial: float | None = None  # default: settings.gap_partial
    store_plan: bool = False  # ingest a plan given as a document and analyse the stored copy
    allow_same: bool = False  # comparing a plan with itself is refused unless asked for
    max_matches: int = 3
    embed_chars: int = DRAFT_EMBED_CHARS
    embedder: Embedder | None = None


@dataclass
class PlanRef:
    id: int | None
    source: str
    unit: str | None
    title: str | None
    period: str | None
    province: str | None
    n_clauses: int

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Match:
    clause_id: int | None
    position: int
    text: str
    section: str
    score: float
    area: str | None = None
    kind: str | None = None
    label: str | None = None

    def to_json(self) -> dict:
        return {"clause_id": self.clause_id, "text": self.text, "section": self.section, "score": self.score}


@dataclass
class TargetPair:
    """One figure of the item and the plan's figure for the same indicator (if any)."""

    template_value: str
    plan_value: str | None
    comparison: str
    indicator: str
    indicator_label: str
    measure: str

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class TargetCheck:
    """The item's figures compared with the plan's; ``comparison`` is the worst pair's."""

    template_value: str
    plan_value: str | None
    comparison: str
    pairs: list[TargetPair] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "template_value": self.template_value,
            "plan_value": self.plan_value,
            "comparison": self.comparison,
            "pairs": [p.to_json() for p in self.pairs],
        }


@dataclass
class GapItem:
    item_id: int  # the template clause id, or its position when the template is not stored
    position: int
    label: str | None
    text: str
    section: str
    area: str | None
    kind: str
    status: str
    score: float
    matches: list[Match] = field(default_factory=list)
    target: TargetCheck | None = None

    def to_json(self) -> dict:
        return {
            "item_id": self.item_id,
            "text": self.text,
            "section": self.section,
            "area": self.area,
            "kind": self.kind,
            "status": self.status,
            "score": self.score,
            "matches": [m.to_json() for m in self.matches],
            "target": self.target.to_json() if self.target else None,
        }


@dataclass
class AreaCoverage:
    area: str
    label: str
    items: int
    covered: int
    partial: int
    missing: int

    @property
    def coverage(self) -> float:
        return round((self.covered + 0.5 * self.partial) / self.items, 4) if self.items else 1.0

    def to_json(self) -> dict:
        return {**asdict(self), "coverage": self.coverage}


@dataclass
class Check:
    """A problem of the draft itself, found without looking at the template."""

    code: str  # area_without_task | row_missing_fields
    message: str
    area: str | None = None
    clause_id: int | None = None
    position: int | None = None
    text: str | None = None
    fields: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class GapReport:
    template: PlanRef
    plan: PlanRef
    items: list[GapItem]
    by_area: list[AreaCoverage]
    extra: list[Match]
    checks: list[Check]
    covered_threshold: float
    partial_threshold: float
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(i.status for i in self.items)
        return {s: c.get(s, 0) for s in STATUSES}

    @property
    def coverage(self) -> float:
        n = len(self.items)
        c = self.counts
        return round((c["covered"] + 0.5 * c["partial"]) / n, 4) if n else 1.0

    def missing_by_area(self) -> dict[str, list[GapItem]]:
        out: dict[str, list[GapItem]] = {}
        for item in self.items:
            if item.status == "missing":
                out.setdefault(item.area or NO_AREA, []).append(item)
        return out

    def target_counts(self) -> dict[str, int]:
        c = Counter(i.target.comparison for i in self.items if i.target)
        return {k: c.get(k, 0) for k in COMPARISONS}

    def to_json(self) -> dict:
        return {
            "template": self.template.to_json(),
            "plan": self.plan.to_json(),
            "coverage": self.coverage,
            "counts": self.counts,
            "targets": self.target_counts(),
            "thresholds": {"covered": self.covered_threshold, "partial": self.partial_threshold},
            "by_area": [a.to_json() for a in self.by_area],
            "missing_by_area": {a: [i.item_id for i in items] for a, items in self.missing_by_area().items()},
            "items": [i.to_json() for i in self.items],
            "extra": [
                {**m.to_json(), "area": m.area, "kind": m.kind} for m in self.extra
            ],
            "checks": [c.to_json() for c in self.checks],
            "notes": list(self.notes),
        }


def area_label(area: str | None) -> str:
    return AREAS.get(area or "", NO_AREA_LABEL)


# --- loading both sides ------------------------------------------------------------------------


@dataclass
class _Side:
    ref: PlanRef
    clauses: list[Clause]
    stored: bool
    content_hash: str | None


_ROLE = {"template": "mẫu", "plan": "dự thảo"}


def _parse_id(spec) -> int | None:
    if isinstance(spec, bool):
        return None
    if isinstance(spec, (int, np.integer)):
        return int(spec)
    return None


def _load_stored(library: Library, plan_id: int, role: str) -> _Side:
    try:
        plan = library.plan(plan_id)
    except CCHCError as e:
        if e.code == "plan_not_found":
            raise CCHCError(
                "plan_not_found",
                f"không có kế hoạch mã {plan_id} trong thư viện (dùng làm {_ROLE[role]}); "
                "xem danh sách bằng: cchc plans",
                status=404,
            ) from None
        raise
    clauses = library.clauses(plan_id)
    return _Side(_ref(plan.id, plan.source, plan.meta, len(clauses)), clauses, True, plan.content_hash)


def _ref(plan_id: int | None, source: str, meta: PlanMeta, n: int) -> PlanRef:
    return PlanRef(
        id=plan_id, source=source, unit=meta.unit, title=meta.title, period=meta.period,
        province=meta.province, n_clauses=n,
    )


def _read(library: Library, spec) -> RawDocument:
    from cchc.corpus.reader import read_document

    if isinstance(spec, RawDocument):
        return spec
    max_bytes = int(library.settings.max_file_mb * 1024 * 1024)
    return read_document(Path(spec), max_bytes=max_bytes)


def _load(library: Library, spec: PlanInput, role: str, options: GapOptions) -> _Side:
    plan_id = _parse_id(spec)
    if plan_id is not None:
        return _load_stored(library, plan_id, role)
    if not isinstance(spec, (str, Path, RawDocument)):
        raise CCHCError("bad_input", f"{_ROLE[role]} phải là mã kế hoạch hoặc đường dẫn tệp")
    raw = _read(library, spec)
    if not raw.text.strip():
        raise CCHCError("empty_file", "tệp rỗng, không có nội dung", source=raw.source)
    from cchc.corpus.segment import segment

    parsed = segment(raw)
    if not parsed.clauses:
        raise CCHCError(
            "no_clauses", f"không tìm thấy điều khoản nào trong tệp {_ROLE[role]}", source=raw.source
        )
    if role == "plan" and options.store_plan:
        from cchc.indexing.ingest import store_parsed

        result = store_parsed(library, parsed)
        return _load_stored(library, int(result.plan_id), role)
    return _Side(_ref(None, parsed.source, parsed.meta, len(parsed.clauses)), parsed.clauses, False, parsed.content_hash)


def _same(a: _Side, b: _Side) -> bool:
    if a.ref.id is not None and a.ref.id == b.ref.id:
        return True
    return a.content_hash is not None and a.content_hash == b.content_hash


# --- embeddings --------------------------------------------------------------------------------


class _MemoryCache:
    """Vectors of unstored documents, kept in this process only (bounded, LRU)."""

    def __init__(self, size: int):
        self.size = size
        self._d: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
            return v

    def put(self, key, value) -> None:
        with self._lock:
            self._d[key] = value
            self._d.move_to_end(key)
            while len(self._d) > self.size:
                self._d.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


_memory = _MemoryCache(MEMORY_CACHE_SIZE)


def _stored_vectors(library: Library, embedder: Embedder, texts: list[str]) -> np.ndarray:
    with library.lock:
        return embed_passages_cached(library.conn, embedder, texts, max_chars=library.settings.max_embed_chars)


def _lookup_cache(library: Library, embedder: Embedder, keys: list[str]) -> dict[str, np.ndarray]:
    """Read-only look-up in the library's embedding cache."""
    from cchc.indexing.embeddings import _lookup

    with library.lock:
        return _lookup(library.conn, embedder.model_id, list(dict.fromkeys(keys)), int(embedder.dim))


def _document_vectors(library: Library, embedder: Embedder, texts: list[str], max_chars: int) -> np.ndarray:
    """Vectors for clauses of an unstored document; nothing is written to the library.

    A text some stored plan has too reuses its cached vector; the rest is embedded cut to
    ``max_chars`` (longest first, so batches hold passages of similar length) and remembered
    in memory for the next analysis of the same draft.
    """
    dim = int(embedder.dim)
    out = np.zeros((len(texts), dim), dtype=np.float32)
    if not texts:
        return out
    stored_keys = [text_hash(truncate_for_embedding(t, library.settings.max_embed_chars)) for t in texts]
    found = _lookup_cache(library, embedder, stored_keys)
    local: dict[str, np.ndarray] = {}  # this call's vectors, whatever the LRU evicts meanwhile
    todo: dict[str, str] = {}
    keys: list[str | None] = []
    for i, (t, skey) in enumerate(zip(texts, stored_keys)):
        if skey in found:
            out[i] = found[skey]
            keys.append(None)
            continue
        cut = truncate_for_embedding(t, max_chars)
        key = text_hash(cut)
        keys.append(key)
        remembered = _memory.get((embedder.model_id, key))
        if remembered is not None:
            local[key] = remembered
        else:
            todo.setdefault(key, cut)
    pending = sorted(todo.items(), key=lambda kv: -len(kv[1]))
    for start in range(0, len(pending), EMBED_BATCH):
        batch = pending[start : start + EMBED_BATCH]
        vecs = np.asarray(embedder.embed_passages([t for _, t in batch]), dtype=np.float32)
        for (key, _), v in zip(batch, vecs):
            local[key] = v
            _memory.put((embedder.model_id, key), v)
    for i, key in enumerate(keys):
        if key is not None:
            out[i] = local[key]
    return out


# --- lexical terms ------------------------------------------------------------------------------

_WORD_TERM = re.compile(r"^[a-z]+$")


def _glossary() -> dict[tuple[str, ...], tuple[str, ...]]:
    out: dict[tuple[str, ...], tuple[str, ...]] = {}
    for abbr, longs in GLOSSARY.items():
        key = tuple(fold(abbr).replace("&", " ").split())
        if key and longs:
            out[key] = tuple(re.findall(r"\w+", fold(longs[0])))
    return out


_GLOSSARY = _glossary()
_GLOSSARY_MAX = max(len(k) for k in _GLOSSARY)


def _words(text: str) -> list[str]:
    """Folded alphabetic syllables in order, abbreviations spelled out, numbers dropped."""
    toks = [t for t in tokenize_passage(text, segment=False).folded if _WORD_TERM.match(t)]
    out: list[str] = []
    i = 0
    while i < len(toks):
        for n in range(min(_GLOSSARY_MAX, len(toks) - i), 0, -1):
            long = _GLOSSARY.get(tuple(toks[i : i + n]))
            # one- and two-letter keys ("ai", "cn") are ordinary syllables too often
            if long and (n > 1 or len(toks[i]) > 2):
                out.extend(long)
                i += n
                break
        else:
            out.append(toks[i])
            i += 1
    return out


def terms(text: str) -> set[str]:
    """The term set coverage is computed on: syllables and syllable bigrams."""
    w = _words(text)
    return set(w) | {f"{a}_{b}" for a, b in zip(w, w[1:])}


# Words that frame a commitment in Vietnamese administrative prose without saying what it is
# about ("*Tiếp tục tăng cường* cải thiện ...", "*thực hiện nghiêm* ... *bảo đảm kịp thời*").
# Two items that differ only by such words are one commitment said twice, not near-duplicates
# to tell apart. Multi-syllable phrases only (folded): a lone "tang" is also "tầng" of "hạ tầng".
GENERIC_PHRASES: tuple[tuple[str, ...], ...] = tuple(
    tuple(p.split())
    for p in (
        "tiep tuc", "tang cuong", "day manh", "nang cao", "cai thien", "thuc hien", "trien khai",
        "phan dau", "bao dam", "dam bao", "hieu qua", "nghiem tuc", "kip thoi", "day du", "chu dong",
        "thuong xuyen", "cong tac", "phuc vu", "dap ung", "yeu cau", "nhu cau", "phu hop",
        "theo quy dinh", "quy dinh", "tot hon", "nham", "viec", "cac", "nhung", "nghiem",
    )
)
_GENERIC_MAX = max(len(g) for g in GENERIC_PHRASES)
_GENERIC = set(GENERIC_PHRASES)


def content_terms(text: str) -> set[str]:
    """:func:`terms` of the words left once framing phrases (:data:`GENERIC_PHRASES`) are
    taken out; no bigram bridges a phrase that was taken out."""
    w = _words(text)
    keep = [True] * len(w)
    i = 0
    while i < len(w):
        for n in range(min(_GENERIC_MAX, len(w) - i), 0, -1):
            if tuple(w[i : i + n]) in _GENERIC:
                keep[i : i + n] = [False] * n
                i += n
                break
        else:
            i += 1
    out = {t for t, k in zip(w, keep) if k}
    out |= {f"{a}_{b}" for a, b, ka, kb in zip(w, w[1:], keep, keep[1:]) if ka and kb}
    return out


@dataclass
class _Lexicon:
    """Term ids and idf over every clause of both plans."""

    vocab: dict[str, int]
    idf: np.ndarray

    @classmethod
    def build(cls, docs: list[set[str]]) -> "_Lexicon":
        df: Counter[str] = Counter()
        for d in docs:
            df.update(d)
        vocab = {t: k for k, t in enumerate(df)}
        n = max(len(docs), 1)
        counts = np.array([df[t] for t in vocab], dtype=np.float64)
        idf = np.log1p((n - counts + 0.5) / (counts + 0.5))
        return cls(vocab, idf)

    def ids(self, doc: set[str]) -> np.ndarray:
        return np.array(sorted(self.vocab[t] for t in doc if t in self.vocab), dtype=np.int64)

    def presence(self, docs: list[set[str]]) -> np.ndarray:
        """Dense (docs × vocabulary) boolean matrix: two plans' worth fits easily."""
        out = np.zeros((len(docs), len(self.vocab)), dtype=bool)
        for r, d in enumerate(docs):
            out[r, self.ids(d)] = True
        return out


# --- scoring -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scoring:
    """How evidence is weighed; the defaults are fitted by bench/gap_calibrate.py."""

    dense_weight: float = 0.3
    # how far a clause that is all about the item but covers only part of its terms (a summary,
    # a shortened rewrite) is lifted towards its focus; a merged clause (focus < coverage) is not
    # held back by the other item it also carries
    focus_weight: float = 0.75
    dense_lo: float = 0.80
    dense_hi: float = 0.97
    pair_min_gain: float = 0.15  # share of the item's term weight the second clause of a split must add
    # share of each split piece's own term weight that must come from the item: the pieces of
    # a split task are made of the task, two unrelated clauses merely share a few of its words
    pair_min_focus: float = 0.4
    explain_away: bool = True
    ea_share: float = 0.3  # own-term share of an item at which explaining away takes full effect
    ea_cross_kind: bool = True  # also explain a target away by a task's rewrite and vice versa
    ea_own_coverage: float = 0.4  # share of its own terms a clause must hold to count as covering it
    # explain away only by an item for which the clause is (within this margin of) its best
    # evidence: an item whose own rewrite is elsewhere in the draft does not own a clause that
    # merely resembles it. None: any item that matches the clause best owns it.
    ea_owner_margin: float | None = None
    # own terms leave out framing words (GENERIC_PHRASES): an item whose only own words are
    # "tiếp tục tăng cường" says nothing its near-twin does not
    ea_content_only: bool = True
    # a clause holding more of item i's distinguishing words than of item k's is not k's to
    # explain i away with, however much better k matches it as a whole (k may just be shorter)
    ea_symmetric: bool = True

    def combine(self, cos, coverage, focus=0.0) -> np.ndarray:
        dense = np.clip((np.asarray(cos, dtype=np.float64) - self.dense_lo) / (self.dense_hi - self.dense_lo), 0.0, 1.0)
        coverage = np.asarray(coverage, dtype=np.float64)
        lexical = coverage + self.focus_weight * np.maximum(0.0, np.asarray(focus, dtype=np.float64) - coverage)
        return self.dense_weight * dense + (1.0 - self.dense_weight) * lexical


SCORING = Scoring()


@dataclass
class _Best:
    score: float
    clauses: list[int]  # indexes into the candidate list, best first
    cos: float
    coverage: float


@dataclass
class Problem:
    """Everything matching needs, computed once: the items and candidate clauses with their
    vectors and term sets, and the idf over both plans."""

    items: list[Clause]
    cands: list[Clause]
    item_vecs: np.ndarray
    cand_vecs: np.ndarray
    item_terms: list[set[str]]
    cand_terms: list[set[str]]
    lex: _Lexicon

    def __post_init__(self) -> None:
        self.item_ids = [self.lex.ids(t) for t in self.item_terms]
        self.item_content_ids = [self.lex.ids(content_terms(c.text) & t) for c, t in zip(self.items, self.item_terms)]
        self.cand_presence = self.lex.presence(self.cand_terms)
        self.cand_mass = self.cand_presence.astype(np.float64) @ self.lex.idf
        self.cand_mass[self.cand_mass == 0] = 1.0

    def subset(self, keep: list[int]) -> "Problem":
        """The same problem with only the candidates ``keep`` (calibration removes an item's
        rewrite from the draft this way)."""
        return Problem(
            self.items, [self.cands[j] for j in keep], self.item_vecs, self.cand_vecs[keep],
            self.item_terms, [self.cand_terms[j] for j in keep], self.lex,
        )


def match_items(problem: Problem, scoring: Scoring = SCORING) -> tuple[list[_Best], np.ndarray]:
    """Best evidence (one clause or a split pair) for every item, plus the single-clause score
    matrix (items × candidates) used for extras."""
    p = problem
    n_items, n_cands = len(p.items), len(p.cands)
    if n_cands == 0:
        return [_Best(0.0, [], 0.0, 0.0) for _ in range(n_items)], np.zeros((n_items, 0))
    idf = p.lex.idf
    cos = p.item_vecs @ p.cand_vecs.T
    weights = [idf[ids] for ids in p.item_ids]
    mass = np.array([w.sum() or 1.0 for w in weights])
    # idf mass of the terms item i and clause j share: over the item's mass it is how much of
    # the item the clause covers, over the clause's mass how much of the clause is about the item
    overlap = np.vstack([p.cand_presence[:, ids].astype(np.float64) @ w for ids, w in zip(p.item_ids, weights)])
    coverage = overlap / mass[:, None]
    focus = overlap / p.cand_mass[None, :]
    single = scoring.combine(cos, coverage, focus)
    if scoring.explain_away and n_items > 1:
        single = single * _explain_away(p, single, scoring)

    # the item each clause is most about: a piece of a split task is about that task
    piece_owner = focus.argmax(axis=0)
    best: list[_Best] = []
    for i in range(n_items):
        order = np.argsort(-single[i])[:CANDIDATES]
        j0 = int(order[0])
        b = _Best(float(single[i, j0]), [j0], float(cos[i, j0]), float(coverage[i, j0]))
        # split tasks: the item's terms the two clauses hold together
        present = p.cand_presence[np.ix_(order, p.item_ids[i])]
        raw = scoring.combine(cos[i, order], coverage[i, order], focus[i, order])
        kept = np.divide(single[i, order], raw, out=np.ones(len(order)), where=raw > 0)
        for x, y in combinations(range(len(order)), 2):
            a, c = int(order[x]), int(order[y])
            if min(focus[i, a], focus[i, c]) < scoring.pair_min_focus:
                continue
            if any(piece_owner[j] != i and focus[i, j] < 0.9 * focus[piece_owner[j], j] for j in (a, c)):
                continue  # a piece that is mostly another item's rewrite
            cov_u = float((present[x] | present[y]) @ weights[i]) / mass[i]
            if cov_u - max(coverage[i, a], coverage[i, c]) < scoring.pair_min_gain:
                continue
            mean = p.cand_vecs[a] + p.cand_vecs[c]
            cos_u = float(p.item_vecs[i] @ mean) / (float(np.linalg.norm(mean)) or 1.0)
            focus_u = (overlap[i, a] + overlap[i, c]) / (p.cand_mass[a] + p.cand_mass[c])
            # a piece explained away by another item weakens the pair as much
            s = float(scoring.combine(cos_u, cov_u, focus_u)) * min(kept[x], kept[y])
            if s > b.score:
                b = _Best(s, [a, c] if single[i, a] >= single[i, c] else [c, a], cos_u, cov_u)
        best.append(b)
    return best, single


def _own_terms_held(p: Problem, i: int, k: int, j: int, scoring: Scoring) -> tuple[float, float]:
    """idf mass of the terms item i has and item k lacks, and the share of it clause j holds."""
    mine = p.item_content_ids[i] if scoring.ea_content_only else p.item_ids[i]
    own = np.setdiff1d(mine, p.item_ids[k], assume_unique=True)
    idf = p.lex.idf[own]
    mass = float(idf.sum())
    if mass == 0:
        return 0.0, 0.0
    return mass, float(idf[p.cand_presence[j, own]].sum()) / mass


def _explain_away(p: Problem, single: np.ndarray, scoring: Scoring) -> np.ndarray:
    """Factors (items × candidates) that discount a clause which is another item's rewrite.

    Two items of a plan are different commitments, however alike their wording ("Kế hoạch
    *kiểm tra* văn bản QPPL" / "Kế hoạch *rà soát* văn bản QPPL"). When clause j matches item k
    best of all items, and better than item i, j speaks for item i only as far as it holds i's
    *own* terms, those k lacks: the score of (i, j) is scaled down by the share of those terms j
    misses (holding ``ea_own_coverage`` of them counts as holding them all), in proportion to how
    much of i they make up (fully from ``ea_share``). A clause that merges both items holds both
    items' own terms and keeps covering both. With ``ea_cross_kind`` a target is explained away
    by a task's rewrite too. With ``ea_content_only`` framing words (:data:`GENERIC_PHRASES`)
    are not own terms, so an item that differs from its near-twin only by them keeps the twin's
    rewrite: merged drafts lost such items otherwise (calibration: bench/RESULTS.md).
    """
    factor = np.ones_like(single)
    owner = single.argmax(axis=0)
    best_of = single.max(axis=1)
    idf = p.lex.idf
    for i in range(single.shape[0]):
        mass_i = float(idf[p.item_ids[i]].sum()) or 1.0
        for j in np.argsort(-single[i])[:CANDIDATES]:
            k = int(owner[j])
            if k == i or single[k, j] <= single[i, j]:
                continue
            if p.items[k].kind != p.items[i].kind and not scoring.ea_cross_kind:
                continue
            if scoring.ea_owner_margin is not None and single[k, j] < best_of[k] - scoring.ea_owner_margin:
                continue
            own_mass, own_cov = _own_terms_held(p, i, k, j, scoring)
            if own_mass == 0:
                continue  # item i says nothing item k does not: k's rewrite covers i as well
            if scoring.ea_symmetric:
                their_mass, their_cov = _own_terms_held(p, k, i, j, scoring)
                if their_mass > 0 and their_cov < own_cov:
                    continue
            strength = min(1.0, own_mass / mass_i / scoring.ea_share)
            evidence = min(1.0, own_cov / scoring.ea_own_coverage)
            factor[i, j] = 1.0 - strength * (1.0 - evidence)
    return factor


# --- numeric targets ---------------------------------------------------------------------------

_UP, _DOWN = 1, -1
_LOWER_IS_BETTER_UNITS = {"days", "hours", "rank"}
_LOWER_IS_BETTER_WORDS = ("tre han", "qua han", "cham tra", "sai sot", "vi pham")


def _direction(a, b) -> int:
    """+1 when a higher value is the stronger commitment, −1 when a lower one is."""
    for m in (a, b):
        if m.comparator in (">=", ">"):
            return _UP
        if m.comparator in ("<=", "<"):
            return _DOWN
    if a.unit in _LOWER_IS_BETTER_UNITS:
        return _DOWN
    measure = fold(f"{a.measure} {b.measure}")
    if any(w in measure for w in _LOWER_IS_BETTER_WORDS) and "giam" not in measure:
        return _DOWN
    return _UP


def compare_targets(template, plan) -> str:
    """``weaker`` / ``stronger`` / ``equal``: how the plan's mention compares with the
    template's. A strict bound beats an inclusive one at the same value ("trên 98 %" is
    stronger than "tối thiểu 98 %"; "dưới 5 ngày" than "không quá 5 ngày"); "=" counts as
    an inclusive bound."""
    d = _direction(template, plan)
    tv, pv = template.value * d, plan.value * d
    if not math.isclose(tv, pv, rel_tol=1e-9, abs_tol=1e-9):
        return "stronger" if pv > tv else "weaker"
    strict_t = template.comparator in (">", "<")
    strict_p = plan.comparator in (">", "<")
    if strict_p == strict_t:
        return "equal"
    return "stronger" if strict_p else "weaker"


_SEVERITY = {"weaker": 3, "no_figure": 2, "stronger": 1, "equal": 0}


def _measure_overlap(a: str, b: str) -> float:
    wa, wb = set(_words(a)), set(_words(b))
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / min(len(wa), len(wb))


def _pair_mentions(t_mentions, p_mentions) -> list[tuple[object, object | None]]:
    """Each template mention with the plan mention of the same indicator (or, failing that,
    the most similar measure) and the same unit; greedy, best pairs first."""
    scored = []
    for a, tm in enumerate(t_mentions):
        for b, (pm, rank) in enumerate(p_mentions):
            if tm.unit != pm.unit:
                continue
            same_indicator = tm.indicator == pm.indicator and tm.indicator != "other"
            overlap = _measure_overlap(tm.measure, pm.measure)
            if not same_indicator and overlap < 0.4:
                continue
            scored.append((2.0 * same_indicator + overlap, -rank, -abs(a - b), a, b))
    scored.sort(reverse=True)
    taken_t: dict[int, int] = {}
    taken_p: set[int] = set()
    for *_key, a, b in scored:
        if a in taken_t or b in taken_p:
            continue
        taken_t[a] = b
        taken_p.add(b)
    return [(tm, p_mentions[taken_t[a]][0] if a in taken_t else None) for a, tm in enumerate(t_mentions)]


def _mentions(text: str, period: str | None):
    from cchc.search.targets_extract import extract_targets

    return extract_targets(text, context_period=period)


def check_targets(item_text: str, plan_texts: list[str], item_period: str | None, plan_period: str | None) -> TargetCheck | None:
    """Compare the figures of an item with those of its supporting plan clauses (best first)."""
    t_mentions = _mentions(item_text, item_period)
    if not t_mentions:
        return None
    p_mentions = [(m, rank) for rank, t in enumerate(plan_texts) for m in _mentions(t, plan_period)]
    pairs = []
    for tm, pm in _pair_mentions(t_mentions, p_mentions):
        comparison = compare_targets(tm, pm) if pm is not None else "no_figure"
        pairs.append(
            TargetPair(
                template_value=tm.raw, plan_value=pm.raw if pm else None, comparison=comparison,
                indicator=tm.indicator, indicator_label=tm.indicator_label, measure=tm.measure,
            )
        )
    worst = max(pairs, key=lambda p: _SEVERITY[p.comparison])
    return TargetCheck(worst.template_value, worst.plan_value, worst.comparison, pairs)


# --- draft checks ------------------------------------------------------------------------------

_ROW_FIELDS = {"responsible": "đơn vị chủ trì", "deadline": "thời hạn", "output": "sản phẩm"}


def draft_checks(clauses: list[Clause]) -> list[Check]:
    checks: list[Check] = []
    task_areas = {c.area for c in clauses if c.kind == "task" and c.area}
    for area, label in AREAS.items():
        if area not in task_areas:
            checks.append(Check("area_without_task", f"Dự thảo không có nhiệm vụ nào thuộc lĩnh vực «{label}».", area=area))
    # A task table's rows sit under the annex heading the table belongs to; a row with every
    # field empty is still a row of that table.
    annexes = {c.path[0] for c in clauses if c.is_table_row and c.path}
    for c in clauses:
        if c.kind != "task" or not (c.is_table_row or (c.path and c.path[0] in annexes)):
            continue
        missing = [name for name in _ROW_FIELDS if not (getattr(c, name) or "").strip()]
        if missing:
            what = ", ".join(_ROW_FIELDS[m] for m in missing)
            checks.append(
                Check(
                    "row_missing_fields", f"Nhiệm vụ trong bảng thiếu {what}.", area=c.area, clause_id=c.id,
                    position=c.position, text=c.text, fields=missing,
                )
            )
    return checks


# --- gap ---------------------------------------------------------------------------------------


def _resolve_areas(areas) -> set[str]:
    from cchc.search.engine import _resolve_code

    return {_resolve_code(a, AREAS, "Lĩnh vực") for a in areas if a}


def _resolve_kinds(kinds) -> set[str]:
    from cchc.search.engine import _resolve_code

    out = {_resolve_code(k, KINDS, "Loại điều khoản") for k in kinds if k}
    return out or set(DEFAULT_KINDS)


def _thresholds(library: Library, options: GapOptions) -> tuple[float, float]:
    s = library.settings
    covered = s.gap_covered if options.covered is None else float(options.covered)
    partial = s.gap_partial if options.partial is None else float(options.partial)
    if not 0.0 <= partial <= covered <= 1.0:
        raise CCHCError(
            "bad_threshold",
            f"ngưỡng không hợp lệ: cần 0 ≤ ngưỡng «có một phần» ({partial}) ≤ ngưỡng «đã có» ({covered}) ≤ 1",
            status=422,
        )
    return covered, partial


def _vectors(library: Library, embedder: Embedder, side: _Side, clauses: list[Clause], options: GapOptions) -> np.ndarray:
    texts = [c.text for c in clauses]
    if side.stored:
        return _stored_vectors(library, embedder, texts)
    return _document_vectors(library, embedder, texts, options.embed_chars)


def _match(clause: Clause, score: float) -> Match:
    return Match(
        clause_id=clause.id, position=clause.position, text=clause.text, section=clause.section,
        score=round(float(score), 4), area=clause.area, kind=clause.kind, label=clause.label,
    )


def _period_of(clause: Clause, side: _Side) -> str | None:
    from cchc.search.targets_extract import find_period

    return find_period(clause.section) or side.ref.period


def prepare(library: Library, template: PlanInput, plan: PlanInput, options: GapOptions) -> tuple[_Side, _Side, Problem]:
    """Load both sides, pick the items and candidates, embed and tokenise them."""
    kinds = _resolve_kinds(options.kinds)
    areas = _resolve_areas(options.areas)
    t_side = _load(library, template, "template", options)
    p_side = _load(library, plan, "plan", options)
    if _same(t_side, p_side) and not options.allow_same:
        raise CCHCError(
            "same_plan",
            "mẫu và dự thảo là cùng một kế hoạch; hãy chọn hai kế hoạch khác nhau",
            status=422,
        )
    items = [c for c in t_side.clauses if c.kind in kinds and (not areas or c.area in areas)]
    if not items:
        scope = ", ".join(KINDS[k] for k in sorted(kinds))
        where = f" thuộc lĩnh vực {', '.join(AREAS[a] for a in sorted(areas))}" if areas else ""
        raise CCHCError(
            "template_no_items",
            f"mẫu không có điều khoản nào để đối chiếu (loại: {scope}{where})",
            source=t_side.ref.source,
            status=422,
        )
    cands = [c for c in p_side.clauses if c.kind in kinds]

    embedder = options.embedder or get_embedder(library.settings.embedder)
    item_vecs = _vectors(library, embedder, t_side, items, options)
    cand_vecs = _vectors(library, embedder, p_side, cands, options)
    item_terms = [terms(c.text) for c in items]
    cand_terms = [terms(c.text) for c in cands]
    # idf over every clause of both plans, so words all plans repeat ("thực hiện", "xã")
    # weigh little whichever kinds are compared
    others = [terms(c.text) for side in (t_side, p_side) for c in side.clauses if c.kind not in kinds]
    lex = _Lexicon.build(item_terms + cand_terms + others)
    return t_side, p_side, Problem(items, cands, item_vecs, cand_vecs, item_terms, cand_terms, lex)


def _status(score: float, covered: float, partial: float) -> str:
    return "covered" if score >= covered else "partial" if score >= partial else "missing"


def gap(library: Library, template: PlanInput, plan: PlanInput, options: GapOptions | None = None) -> GapReport:
    """Compare ``plan`` (usually a draft) with ``template``: which items it covers, partly
    covers or misses, how its figures compare, what it adds, and what is wrong with it."""
    options = options or GapOptions()
    covered_t, partial_t = _thresholds(library, options)
    t_side, p_side, problem = prepare(library, template, plan, options)
    best, single = match_items(problem)
    cands = problem.cands

    gap_items: list[GapItem] = []
    used: set[int] = set()
    for k, (item, b) in enumerate(zip(problem.items, best)):
        score = round(float(b.score), 4)
        status = _status(score, covered_t, partial_t)
        evidence = list(b.clauses)
        # further supporting clauses for the reader: the next best ones above the partial bar
        for j in map(int, np.argsort(-single[k]) if len(cands) else []):
            if len(evidence) >= max(options.max_matches, len(b.clauses)):
                break
            if j not in evidence and single[k, j] >= partial_t:
                evidence.append(j)
        matches = [_match(cands[j], b.score if j in b.clauses else single[k, j]) for j in evidence]
        target = None
        if status != "missing":
            used.update(b.clauses)
            # the item's figures may sit in any clause that supports it (a split target, or a
            # task whose figure the draft moved to its target list): best evidence first
            supporting = [j for j in evidence if j in b.clauses or single[k, j] >= partial_t]
            target = check_targets(
                item.text, [cands[j].text for j in supporting], _period_of(item, t_side),
                _period_of(cands[b.clauses[0]], p_side),
            )
        gap_items.append(
            GapItem(
                item_id=item.id if item.id is not None else item.position,
                position=item.position, label=item.label, text=item.text, section=item.section,
                area=item.area, kind=item.kind, status=status, score=score, matches=matches, target=target,
            )
        )

    report = GapReport(
        template=t_side.ref,
        plan=p_side.ref,
        items=gap_items,
        by_area=_by_area(gap_items),
        extra=_extras(problem, single, used, partial_t),
        checks=draft_checks(p_side.clauses),
        covered_threshold=covered_t,
        partial_threshold=partial_t,
    )
    if _same(t_side, p_side):
        report.notes.append("Mẫu và dự thảo là cùng một kế hoạch.")
    return report


def _extras(problem: Problem, single: np.ndarray, used: set[int], partial_t: float, scoring: Scoring = SCORING) -> list[Match]:
    """Plan clauses that no item cites and that match no item either way round: seen from the
    clause too, so a long clause an item covers only a corner of is not called extra."""
    p = problem
    if not p.cands:
        return []
    cos = p.cand_vecs @ p.item_vecs.T
    item_presence = p.lex.presence(p.item_terms).astype(np.float64)
    reverse_cov = np.vstack([
        item_presence[:, ids] @ p.lex.idf[ids] / (p.lex.idf[ids].sum() or 1.0)
        for ids in (p.lex.ids(t) for t in p.cand_terms)
    ])
    reverse = scoring.combine(cos, reverse_cov).max(axis=1)
    forward = single.max(axis=0)
    out = []
    for j, c in enumerate(p.cands):
        score = max(float(forward[j]), float(reverse[j]))
        if j not in used and score < partial_t:
            out.append(_match(c, score))
    return out


def _by_area(items: list[GapItem]) -> list[AreaCoverage]:
    rows: dict[str, AreaCoverage] = {}
    for area in list(AREAS) + [NO_AREA]:
        rows[area] = AreaCoverage(area, area_label(None if area == NO_AREA else area), 0, 0, 0, 0)
    for it in items:
        row = rows[it.area or NO_AREA]
        row.items += 1
        setattr(row, it.status, getattr(row, it.status) + 1)
    return [r for r in rows.values() if r.items]


__all__ = [
    "AreaCoverage",
    "Check",
    "GapItem",
    "GapOptions",
    "GapReport",
    "Match",
    "PlanRef",
    "STATUSES",
    "TargetCheck",
    "TargetPair",
    "check_targets",
    "Problem",
    "Scoring",
    "match_items",
    "prepare",
    "compare_targets",
    "draft_checks",
    "gap",
    "terms",
]
