"""Lexical retrieval: Vietnamese tokenisation and a two-field BM25 index.

Tokens
    Every clause is stored as one stream of *accented* terms (``textnorm.canonical``: lower case,
    one tone placement) holding both the syllables ("thủ", "tục") and the pyvi compounds
    ("thủ_tục"), so a query segmented differently still matches the syllables while a query that
    has the compound gets the phrase bonus. The *folded* stream (no diacritics, đ → d) is the
    token-wise ``fold`` of the accented one; it is derived, never stored.

Scoring
    Okapi BM25 (Lucene idf, always positive; k1 = 1.2, b = 0.75), precomputed per (term,
    clause) into one sparse column-per-term matrix per field (CSC arrays, the "eager" layout of
    bm25s, built with scipy in a few vectorised passes). A query adds the weighted columns of its
    terms into one dense score vector in C (scipy's ``csc_matvec``), masks it with the allowed
    rows and takes the top k; no Python loop ever runs over documents.

    * query with diacritics:    bm25_accented + λ · bm25_folded   (exact spelling wins, a
      clause typed without diacritics is still found);
    * query without diacritics: bm25_folded only.

    Query compounds are the 2–4-word n-grams of the query that exist in the vocabulary (no pyvi
    at query time: it segments diacritic-less text poorly, and an n-gram can only match a clause
    that has the same words in a row anyway).

    No stopword list: dropping 20 common function words from queries cost 3–5% known-item MRR on
    the samples (they take part in phrases, "của xã"), and latency does not need it.

Abbreviations
    The index keeps its abbreviation pairs (glossary + learned). A query span that is an
    abbreviation also searches its long forms and vice versa; the added terms are weighted so the
    whole alternative is worth ``EXPANSION_WEIGHT`` of the span it replaces (by idf mass), so a
    six-term long form does not outweigh the one-term abbreviation the user typed. A multi-word
    alternative is searched through its phrases (compounds, n-grams) only.

Highlighting
    ``LexHit.matched`` lists the matched terms *as the clause spells them* (canonical lower case,
    compounds with spaces: ``["thanh toán", "trực tuyến"]``), longest first within query order,
    with terms covered by a longer matched term dropped. A UI highlights them by comparing
    ``textnorm.canonical`` (or ``fold``) forms of the clause words, i.e. case- and
    tone-placement-insensitively.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from cchc.corpus.textnorm import canonical, fold, has_diacritics, nfc
from cchc.errors import CCHCError
from cchc.indexing.abbreviations import (
    EXPANSION_WEIGHT,
    GLOSSARY,
    AbbreviationMatcher,
    expand_query,
    merge_pairs,
)

FORMAT = "cchc-lexical/1"
DEFAULT_K1 = 1.2
DEFAULT_B = 0.75
# Weight of the diacritic-free field for a query typed with diacritics. `python
# bench/lexical_bench.py --lambda-sweep` (known-item queries over the samples, 10% of the clauses
# stored without diacritics): MRR of normal clauses is flat for λ ≤ 0.5 (0.535–0.539, best at
# 0.3) and drops at λ = 1; MRR of the diacritic-less clauses grows with λ (0.035 at 0 → 0.049 at
# 0.3 → 0.090 at 1). 0.3 keeps the exact spelling in front and still finds the others.
DEFAULT_LAMBDA = 0.3
MAX_NGRAM = 4
_BUILD_CHUNK = 50_000
_TOPK_BLOCK = 1024

_WORD_RE = re.compile(r"\w+")
_PERCENT_RE = re.compile(r"(?<![\w.,])(\d+(?:[.,]\d+)?)\s?%")
_DECIMAL_RE = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)+(?![\w.,]\d|\w)")
_AMP_RE = re.compile(r"\w+(?:\s?&\s?\w+)+")
# List numbering at the start of a clause ("1.2.", "a)", "II.", "- ", "+ ") and markdown
# decoration: numbering would otherwise turn into the most frequent "numbers" of the corpus.
_LIST_MARKER_RE = re.compile(
    r"^[\s#>*|\-+•–—]*(?:(?:[IVXLC]+\.|\d+(?:\.\d+)*[.)]|[a-zđ][.)])(?=\s)[\s*]*)?", re.IGNORECASE
)


# --------------------------------------------------------------------------------------------
# Tokenisation
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1 << 16)
def _split_glued(word: str) -> tuple[str, ...]:
    """Undo PDF extraction glue: "mônUBND" → môn, UBND; "TTHCđể" → TTHC, để (but not "TTg")."""
    if word.islower() or word.isupper():
        return (word,)
    cuts = []
    for i in range(1, len(word)):
        prev, cur = word[i - 1], word[i]
        if prev.islower() and cur.isupper():
            cuts.append(i)
        elif (
            i >= 2
            and prev.isupper()
            and word[i - 2].isupper()
            and cur.islower()
            and i + 1 < len(word)
            and word[i + 1].islower()
        ):
            cuts.append(i)
    if not cuts:
        return (word,)
    bounds = [0, *cuts, len(word)]
    return tuple(word[a:b] for a, b in zip(bounds, bounds[1:]))


@lru_cache(maxsize=1 << 16)
def _term(word: str) -> str:
    """Canonical term of one word; "01" and "1" are the same number."""
    if word.isdigit():
        return word.lstrip("0") or "0"
    return canonical(word)


@lru_cache(maxsize=1 << 16)
def _fold_term(term: str) -> str:
    return fold(term)


def _surface_words(text: str) -> list[str]:
    return [part for w in _WORD_RE.findall(text) for part in _split_glued(w)]


def _extras(text: str) -> list[str]:
    """Terms that span punctuation: "95%", "2,5", "1.000.000", "kh&cn"."""
    out = [_term(m.group(1)) + "%" for m in _PERCENT_RE.finditer(text)]
    out += [m.group(0) for m in _DECIMAL_RE.finditer(text)]
    out += [canonical(re.sub(r"\s", "", m.group(0))) for m in _AMP_RE.finditer(text)]
    return out


def _prepare(text: str) -> str:
    # "_" joins pyvi compounds, so it must not come from the text itself.
    return nfc(text).replace("_", " ")


_vi_tokenizer = None


def _segment(text: str) -> str:
    global _vi_tokenizer
    if _vi_tokenizer is None:
        from pyvi import ViTokenizer  # loads a CRF model: only when segmentation is asked for

        _vi_tokenizer = ViTokenizer
    return _vi_tokenizer.tokenize(text)


class LexTokens:
    """The terms one clause contributes to the index.

    ``accented`` is what gets persisted (``to_json``); ``folded`` is the token-wise ``fold`` of
    it, computed on first access. The index derives its folded field from ``accented`` alone
    (one ``fold`` per distinct term), so a ``folded`` passed in is only returned, never indexed.
    """

    __slots__ = ("accented", "_folded")

    def __init__(self, accented: Sequence[str], folded: Sequence[str] | None = None):
        self.accented = list(accented)
        self._folded = list(folded) if folded is not None else None

    @property
    def folded(self) -> list[str]:
        if self._folded is None:
            self._folded = [_fold_term(t) for t in self.accented]
        return self._folded

    def to_json(self) -> str:
        return json.dumps({"a": self.accented}, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str | bytes) -> LexTokens:
        return cls(json.loads(data)["a"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LexTokens) and self.accented == other.accented

    def __len__(self) -> int:
        return len(self.accented)

    def __repr__(self) -> str:
        return f"LexTokens({self.accented!r})"


def tokenize_passage(text: str, *, segment: bool = True) -> LexTokens:
    """Terms of one clause: canonical syllables, pyvi compounds (``segment=True``) and the
    punctuation-spanning extras. Deterministic; list numbering and punctuation are dropped."""
    text = _LIST_MARKER_RE.sub("", _prepare(text), count=1)
    terms = [_term(w) for w in _surface_words(text)]
    if segment and terms:
        for word in _segment(text).split():
            if "_" in word:
                parts = [p for w in word.split("_") for p in _split_glued(w)]
                if all(_WORD_RE.fullmatch(p) for p in parts):
                    terms.append("_".join(_term(p) for p in parts))
    terms += _extras(text)
    return LexTokens(terms)


@dataclass(frozen=True, slots=True)
class LexQuery:
    """A tokenised query: words in order (for n-grams and abbreviation spans) plus extras."""

    text: str
    words: tuple[str, ...]
    accented: tuple[str, ...]
    folded: tuple[str, ...]
    extras: tuple[str, ...]
    has_diacritics: bool

    def __bool__(self) -> bool:
        return bool(self.words or self.extras)

    def terms(self, folded: bool, start: int = 0, end: int | None = None) -> list[str]:
        """Words ``start:end`` with their n-grams (extras only for the whole query)."""
        words = (self.folded if folded else self.accented)[start:end]
        out = list(words)
        for n in range(2, min(MAX_NGRAM, len(words)) + 1):
            out += ["_".join(words[i : i + n]) for i in range(len(words) - n + 1)]
        if start == 0 and end is None:
            out += [_fold_term(t) for t in self.extras] if folded else list(self.extras)
        return out


def tokenize_query(text: str) -> LexQuery:
    text = _prepare(text)
    words = _surface_words(text)
    accented = tuple(_term(w) for w in words)
    return LexQuery(
        text=text,
        words=tuple(words),
        accented=accented,
        folded=tuple(_fold_term(t) for t in accented),
        extras=tuple(_extras(text)),
        has_diacritics=has_diacritics(text),
    )


# --------------------------------------------------------------------------------------------
# Index
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LexHit:
    id: int
    score: float
    matched: list[str]


@dataclass
class _Field:
    """BM25 weights of one field: column t of the (clauses × terms) matrix in CSC arrays."""

    terms: list[str]
    indptr: np.ndarray  # int64, len(terms) + 1
    indices: np.ndarray  # int32 row numbers, sorted within each column
    data: np.ndarray  # float32 BM25 weight of (term, row)
    idf: np.ndarray  # float32 per term
    vocab: dict[str, int]

    @classmethod
    def from_arrays(cls, terms, indptr, indices, data, idf) -> _Field:
        return cls(list(terms), indptr, indices, data, idf, {t: i for i, t in enumerate(terms)})

    def postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.indptr[term_id], self.indptr[term_id + 1]
        return self.indices[a:b], self.data[a:b]


def _term_ids(lists: Sequence[Sequence[str]], total: int) -> tuple[list[str], np.ndarray]:
    """Vocabulary (first-seen order) and the term id of every token, chunk by chunk so that no
    flat list of all tokens has to exist at once."""
    vocab: dict[str, int] = {}
    out = np.empty(total, dtype=np.int32)
    pos = 0
    for start in range(0, len(lists), _BUILD_CHUNK):
        flat = list(chain.from_iterable(lists[start : start + _BUILD_CHUNK]))
        new = [t for t in dict.fromkeys(flat) if t not in vocab]
        vocab.update(zip(new, range(len(vocab), len(vocab) + len(new))))
        out[pos : pos + len(flat)] = np.fromiter(map(vocab.__getitem__, flat), dtype=np.int32, count=len(flat))
        pos += len(flat)
    return list(vocab), out


def _bm25_field(terms, rows, term_ids, doc_len, k1, b) -> _Field:
    n_docs, n_terms = len(doc_len), len(terms)
    tf = sp.csc_matrix(
        (np.ones(len(term_ids), dtype=np.float32), (rows, term_ids)), shape=(n_docs, n_terms)
    )
    tf.sum_duplicates()
    df = np.diff(tf.indptr)
    idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
    avgdl = max(float(doc_len.mean()), 1.0) if n_docs else 1.0
    norm = k1 * (1.0 - b + b * doc_len[tf.indices] / avgdl)
    col_idf = np.repeat(idf, df)
    data = (col_idf * tf.data * (k1 + 1.0) / (tf.data + norm)).astype(np.float32)
    return _Field.from_arrays(
        terms, tf.indptr.astype(np.int64), tf.indices.astype(np.int32), data, idf.astype(np.float32)
    )


class LexicalIndex:
    """BM25 over an accented and a folded field, with abbreviation expansion.

    Build with ``LexicalIndex.build(ids, tokens)``; ``search`` is read-only and thread-safe.
    """

    def __init__(
        self,
        ids: np.ndarray,
        accented: _Field,
        folded: _Field,
        acc2fold: np.ndarray,
        *,
        abbreviations: Mapping[str, Iterable[str]] | None = None,
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
        lam: float = DEFAULT_LAMBDA,
    ):
        self.ids = np.asarray(ids, dtype=np.int64)
        self.k1, self.b, self.lam = k1, b, lam
        self._acc, self._fold = accented, folded
        self._acc2fold = acc2fold
        # Folded term -> accented variants, for reporting the clause's own spelling.
        self._variant_order = np.argsort(acc2fold, kind="stable").astype(np.int32)
        self._variant_start = np.searchsorted(acc2fold[self._variant_order], np.arange(len(folded.terms) + 1))
        self._id_order = np.argsort(self.ids, kind="stable")
        self._sorted_ids = self.ids[self._id_order]
        # Clause ids are database row ids, usually dense: then id -> row is one array lookup,
        # much cheaper than a binary search per allowed id.
        self._id_table = None
        if len(self.ids) and self._sorted_ids[0] >= 0 and self._sorted_ids[-1] < 4 * len(self.ids) + 1024:
            self._id_table = np.full(int(self._sorted_ids[-1]) + 1, -1, dtype=np.int64)
            self._id_table[self.ids] = np.arange(len(self.ids))
        self.abbreviations = merge_pairs(abbreviations)
        self._matcher = AbbreviationMatcher(self.abbreviations)
        self._alt_queries: dict[str, LexQuery] = {}  # bounded by the number of long forms

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        ids: Sequence[int] | np.ndarray,
        tokens: Sequence[LexTokens | Sequence[str]],
        *,
        abbreviations: Mapping[str, Iterable[str]] | None = None,
        glossary: bool = True,
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
        lam: float = DEFAULT_LAMBDA,
    ) -> LexicalIndex:
        """Index clause ``ids[i]`` with ``tokens[i]`` (``LexTokens`` or its accented list).

        ``abbreviations`` (e.g. ``learn_abbreviations`` over the library) are added to the
        built-in glossary unless ``glossary=False``.
        """
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) != len(tokens):
            raise ValueError(f"{len(ids)} ids but {len(tokens)} token lists")
        if len(np.unique(ids)) != len(ids):
            raise ValueError("clause ids must be unique")
        lists = [t.accented if isinstance(t, LexTokens) else t for t in tokens]
        lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        acc_terms, acc_ids = _term_ids(lists, int(lengths.sum()))
        rows = np.repeat(np.arange(len(lists), dtype=np.int32), lengths)
        doc_len = lengths.astype(np.float32)
        # The folded field is the accented one seen through fold(): fold each distinct term once.
        fold_strings = [_fold_term(t) for t in acc_terms]
        fold_terms = list(dict.fromkeys(fold_strings))
        fold_vocab = {t: i for i, t in enumerate(fold_terms)}
        acc2fold = np.fromiter(map(fold_vocab.__getitem__, fold_strings), dtype=np.int32, count=len(acc_terms))
        accented = _bm25_field(acc_terms, rows, acc_ids, doc_len, k1, b)
        folded = _bm25_field(fold_terms, rows, acc2fold[acc_ids], doc_len, k1, b)
        pairs = merge_pairs(GLOSSARY if glossary else None, abbreviations)
        return cls(ids, accented, folded, acc2fold, abbreviations=pairs, k1=k1, b=b, lam=lam)

    def __len__(self) -> int:
        return len(self.ids)

    # -- query -------------------------------------------------------------------------------

    def expand(self, query: str) -> list[tuple[str, float]]:
        """The abbreviation variants this index searches for ``query`` (for display/debugging)."""
        return expand_query(query, self._matcher)

    def _alt_terms(self, text: str, field: _Field, folded: bool) -> list[tuple[int, float]]:
        """(term id, order) searched for an abbreviation alternative. A multi-word alternative
        contributes its phrases only (compounds, n-grams, "kh&cn"): its single syllables ("của",
        "người", "dân" of the SIPAS long form) would cost the longest posting lists, add noise to
        the ranking and highlight nothing useful."""
        q = self._alt_queries.get(text)
        if q is None:
            q = self._alt_queries[text] = tokenize_query(text)
        n_words = len(q.words)
        known = [
            (tid, _term_order(pos, n_words), term)
            for pos, term in enumerate(q.terms(folded))
            if (tid := field.vocab.get(term)) is not None
        ]
        if n_words > 1:
            phrases = [x for x in known if not x[2].isalnum()]
            known = phrases or known
        return [(tid, order) for tid, order, _ in known]

    def _unseen_idf(self) -> float:
        n = len(self.ids)
        return math.log1p((n - 1 + 0.5) / 1.5)

    def _weighted_terms(self, q: LexQuery) -> list[tuple[_Field, dict[int, tuple[float, float]]]]:
        """Per field: term id -> (weight, order), ``order`` being where the term sits in the
        query (it orders ``LexHit.matched``)."""
        if q.has_diacritics:
            plan = [(self._acc, False, 1.0), (self._fold, True, self.lam)]
        else:
            plan = [(self._fold, True, 1.0)]
        expansions = self._matcher.find(list(q.words)) if self._matcher else []
        out = []
        for field, folded, field_weight in plan:
            if field_weight <= 0:
                continue
            bag: dict[int, list] = {}
            n_words = len(q.words)
            for pos, term in enumerate(q.terms(folded)):
                tid = field.vocab.get(term)
                if tid is not None:
                    entry = bag.setdefault(tid, [0.0, _term_order(pos, n_words)])
                    entry[0] += 1.0
            for exp in expansions:
                span = [field.vocab.get(t) for t in q.terms(folded, exp.start, exp.end)]
                span_idf = float(sum(field.idf[t] for t in span if t is not None))
                if span_idf == 0.0:
                    # The user's spelling never occurs: the other spelling carries the query.
                    span_idf = self._unseen_idf()
                for alt in exp.alternatives:
                    alt_terms = self._alt_terms(alt, field, folded)
                    alt_idf = float(sum(field.idf[tid] for tid, _ in alt_terms))
                    if alt_idf == 0.0:
                        continue
                    alpha = EXPANSION_WEIGHT * span_idf / alt_idf
                    for tid, order in alt_terms:
                        entry = bag.setdefault(tid, [0.0, exp.start + 0.5 + order / 1000])
                        entry[0] = max(entry[0], alpha)
            if bag:
                out.append((field, {t: (w * field_weight, o) for t, (w, o) in bag.items()}))
        return out

    def _allowed_rows(self, allowed_ids) -> np.ndarray:
        """Distinct rows of the allowed ids that are in the index (unknown ids are ignored)."""
        allowed = np.asarray(allowed_ids, dtype=np.int64).reshape(-1)
        if len(allowed) > 1 and not np.all(allowed[1:] > allowed[:-1]):
            allowed = np.unique(allowed)
        if self._id_table is not None:
            allowed = allowed[(allowed >= 0) & (allowed < len(self._id_table))]
            rows = self._id_table[allowed]
            return rows[rows >= 0]
        pos = np.minimum(np.searchsorted(self._sorted_ids, allowed), len(self._sorted_ids) - 1)
        return self._id_order[pos[self._sorted_ids[pos] == allowed]]

    def scores(self, query: str | LexQuery) -> np.ndarray:
        """BM25 score of every clause (row order = build order); zeros for no match."""
        q = tokenize_query(query) if isinstance(query, str) else query
        return self._scores(self._weighted_terms(q))

    def _scores(self, weighted) -> np.ndarray:
        scores = np.zeros(len(self.ids), dtype=np.float32)
        for field, bag in weighted:
            for tid, (weight, _) in bag.items():
                rows, data = field.postings(tid)
                _add_column(scores, rows, data, weight)
        return scores

    def search(self, query: str, k: int = 10, allowed_ids: np.ndarray | Sequence[int] | None = None) -> list[LexHit]:
        """Top ``k`` clauses for ``query``; only clauses in ``allowed_ids`` when given (the mask is
        applied before ranking, so a selective filter still yields up to ``k`` hits)."""
        if k <= 0 or len(self.ids) == 0:
            return []
        q = tokenize_query(query)
        if not q:
            return []
        weighted = self._weighted_terms(q)
        if not weighted:
            return []
        scores = self._scores(weighted)
        if allowed_ids is None:
            cand = _top_k(scores, self.ids, k)
        else:
            rows = self._allowed_rows(allowed_ids)
            cand = rows[_top_k(scores[rows], self.ids[rows], k)]
        matched = self._matched(cand, weighted, q.has_diacritics)
        return [LexHit(int(self.ids[r]), float(scores[r]), m) for r, m in zip(cand, matched)]

    def _matched(self, rows: np.ndarray, weighted, has_diacritics: bool) -> list[list[str]]:
        if len(rows) == 0:
            return []
        acc = self._acc
        found: list[dict[str, float]] = [{} for _ in rows]
        # Folded ids of each row's exact (accented) matches: for a query typed with diacritics a
        # folded match on the same word is only the shadow of the exact one ("ban" of "bản").
        exact_folds: list[set[int]] = [set() for _ in rows]
        for field, bag in weighted:  # the accented field, when present, comes first
            for tid, (_, order) in bag.items():
                todo = np.arange(len(rows))
                if field is acc:
                    variants = (tid,)
                else:
                    if has_diacritics:
                        todo = todo[[tid not in exact_folds[i] for i in todo]]
                        if len(todo) == 0:
                            continue
                    variants = self._variant_order[self._variant_start[tid] : self._variant_start[tid + 1]]
                for a in variants:
                    col, _ = acc.postings(int(a))
                    if len(col) == 0:
                        continue
                    r = rows[todo]
                    pos = np.minimum(np.searchsorted(col, r), len(col) - 1)
                    present = todo[col[pos] == r]
                    if len(present) == 0:
                        continue
                    term = acc.terms[a].replace("_", " ")
                    for i in present:
                        if field is acc:
                            exact_folds[i].add(int(self._acc2fold[a]))
                        if order < found[i].get(term, math.inf):
                            found[i][term] = order
        return [_display_terms(f) for f in found]

    # -- persistence -------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike) -> None:
        """Write ``lexical.npz`` (arrays) and ``lexical.json`` (vocabularies, parameters, pairs)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {"ids": self.ids, "acc2fold": self._acc2fold}
        for name, field in (("acc", self._acc), ("fold", self._fold)):
            arrays.update(
                {
                    f"{name}_indptr": field.indptr,
                    f"{name}_indices": field.indices,
                    f"{name}_data": field.data,
                    f"{name}_idf": field.idf,
                }
            )
        meta = {
            "format": FORMAT,
            "n_docs": len(self.ids),
            "params": {"k1": self.k1, "b": self.b, "lam": self.lam},
            "acc_terms": self._acc.terms,
            "fold_terms": self._fold.terms,
            "abbreviations": {k: sorted(v) for k, v in sorted(self.abbreviations.items())},
        }
        tmp_npz = directory / "lexical.npz.tmp"
        with open(tmp_npz, "wb") as fh:
            np.savez(fh, **arrays)
        tmp_json = directory / "lexical.json.tmp"
        tmp_json.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp_npz, directory / "lexical.npz")
        os.replace(tmp_json, directory / "lexical.json")

    @classmethod
    def load(
        cls, directory: str | os.PathLike, *, abbreviations: Mapping[str, Iterable[str]] | None = None
    ) -> LexicalIndex:
        """Read an index written by ``save``; ``abbreviations``, when given, replace the stored
        pairs (the glossary is added back)."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / "lexical.json").read_text(encoding="utf-8"))
            with np.load(directory / "lexical.npz", allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except FileNotFoundError as exc:
            raise CCHCError(
                "lexical_index_missing",
                "chưa có chỉ mục từ khoá; hãy xây dựng lại chỉ mục",
                source=str(directory),
                status=500,
            ) from exc
        except (ValueError, OSError, KeyError) as exc:
            raise _corrupt(directory) from exc
        if meta.get("format") != FORMAT or meta.get("n_docs") != len(arrays["ids"]):
            raise _corrupt(directory)
        fields = []
        for name in ("acc", "fold"):
            terms = meta[f"{name}_terms"]
            if len(arrays[f"{name}_indptr"]) != len(terms) + 1:
                raise _corrupt(directory)
            fields.append(
                _Field.from_arrays(
                    terms,
                    arrays[f"{name}_indptr"],
                    arrays[f"{name}_indices"],
                    arrays[f"{name}_data"],
                    arrays[f"{name}_idf"],
                )
            )
        pairs = meta.get("abbreviations") or {}
        if abbreviations is not None:
            pairs = merge_pairs(GLOSSARY, abbreviations)
        return cls(arrays["ids"], fields[0], fields[1], arrays["acc2fold"], abbreviations=pairs, **meta["params"])


def _corrupt(directory) -> CCHCError:
    return CCHCError(
        "lexical_index_corrupt",
        "chỉ mục từ khoá bị hỏng hoặc khác phiên bản; hãy xây dựng lại chỉ mục",
        source=str(directory),
        status=500,
    )


try:  # one C loop per posting list, no copies; ~10x faster than concatenate + bincount
    from scipy.sparse._sparsetools import csc_matvec as _csc_matvec
except ImportError:  # pragma: no cover - private scipy module moved
    _csc_matvec = None


def _add_column(scores: np.ndarray, rows: np.ndarray, data: np.ndarray, weight: float) -> None:
    """scores[rows] += weight * data (rows are distinct within one posting list)."""
    if len(rows) == 0:
        return
    if _csc_matvec is not None:
        _csc_matvec(len(scores), 1, np.array([0, len(rows)], dtype=rows.dtype), rows, data,
                    np.array([weight], dtype=scores.dtype), scores)
    else:
        scores[rows] += data * np.float32(weight)


def _top_k(scores: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` best positive scores, best first, ties by smaller id (so results
    do not depend on how argpartition breaks ties)."""
    cand = None
    if len(scores) > 8 * _TOPK_BLOCK and k * 4 < len(scores) // _TOPK_BLOCK:
        # The k-th best block maximum is a lower bound of the k-th best score: only clauses at or
        # above it can be in the top k, and there are usually few of them.
        m = len(scores) // _TOPK_BLOCK * _TOPK_BLOCK
        block_max = scores[:m].reshape(-1, _TOPK_BLOCK).max(axis=1)
        bound = np.partition(block_max, len(block_max) - k)[len(block_max) - k]
        if bound > 0:
            cand = np.flatnonzero(scores >= bound)
    if cand is None:
        cand = np.flatnonzero(scores > 0)
    if len(cand) > k:
        vals = scores[cand]
        kth = np.partition(vals, len(vals) - k)[len(vals) - k]
        above, tied = cand[vals > kth], cand[vals == kth]
        tied = tied[np.argsort(ids[tied], kind="stable")[: k - len(above)]]
        cand = np.concatenate([above, tied])
    return cand[np.lexsort((ids[cand], -scores[cand]))]


def _term_order(pos: int, n_words: int) -> float:
    """Position in the query of the ``pos``-th term of ``LexQuery.terms``: unigrams first, then
    n-grams by their first word, extras last."""
    if pos < n_words:
        return float(pos)
    offset = pos - n_words
    for n in range(2, MAX_NGRAM + 1):
        count = max(n_words - n + 1, 0)
        if offset < count:
            return float(offset) - 0.1 * n  # a phrase sorts before its first word
        offset -= count
    return float(n_words)


def _display_terms(found: Mapping[str, float]) -> list[str]:
    """Longest terms first (within query order); drop terms inside a longer matched term."""
    ordered = sorted(found, key=lambda t: (found[t], -len(t), t))
    kept: list[str] = []
    for term in sorted(ordered, key=len, reverse=True):
        if not any(f" {term} " in f" {longer} " for longer in kept):
            kept.append(term)
    keep = set(kept)
    return [t for t in ordered if t in keep]
