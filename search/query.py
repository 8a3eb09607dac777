"""Query understanding for the dense side: restore diacritics, spell out abbreviations.

BM25 copes with "thanh toan truc tuyen" through its folded field, but an embedding model reads
unaccented Vietnamese as a different (often meaningless) string, and reads "DVC" as three
letters. Before embedding, a query typed without any diacritic gets them back from the corpus
itself (the likeliest accented word sequence under a smoothed bigram model of the library's
clauses), and abbreviations are replaced by their long form.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Iterable

from cchc.corpus.textnorm import canonical, fold, has_diacritics

RESTORE_FILE = "restore.json"
_WORD_RE = re.compile(r"\w+", re.UNICODE)
MAX_CANDIDATES = 6
MAX_BIGRAMS = 400_000


class DiacriticRestorer:
    """A bigram language model over canonical words, keyed by their folded form."""

    def __init__(self, unigrams: dict[str, int], bigrams: dict[str, int]):
        self.unigrams = unigrams
        self.bigrams = bigrams
        self.total = sum(unigrams.values()) or 1
        self.by_fold: dict[str, list[str]] = {}
        for w, _n in sorted(unigrams.items(), key=lambda kv: -kv[1]):
            lst = self.by_fold.setdefault(fold(w), [])
            if len(lst) < MAX_CANDIDATES:
                lst.append(w)

    @classmethod
    def train(cls, texts: Iterable[str]) -> "DiacriticRestorer":
        uni: Counter[str] = Counter()
        bi: Counter[str] = Counter()
        for text in texts:
            words = _WORD_RE.findall(canonical(text))
            uni.update(words)
            bi.update(f"{a} {b}" for a, b in zip(words, words[1:]))
        if len(bi) > MAX_BIGRAMS:
            bi = Counter(dict(bi.most_common(MAX_BIGRAMS)))
        return cls(dict(uni), dict(bi))

    def save(self, directory: Path) -> None:
        (directory / RESTORE_FILE).write_text(
            json.dumps({"unigrams": self.unigrams, "bigrams": self.bigrams}, ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: Path) -> "DiacriticRestorer | None":
        path = directory / RESTORE_FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["unigrams"], data["bigrams"])

    def _logp_uni(self, w: str) -> float:
        return math.log((self.unigrams.get(w, 0) + 0.1) / (self.total + 0.1 * (len(self.unigrams) + 1)))

    def _logp_bi(self, a: str, b: str) -> float:
        # Interpolated: mostly the bigram, with the unigram as a floor for unseen pairs.
        pa = self.unigrams.get(a, 0)
        pab = self.bigrams.get(f"{a} {b}", 0)
        p_bi = pab / pa if pa else 0.0
        return math.log(0.8 * p_bi + 0.2 * math.exp(self._logp_uni(b)))

    def restore(self, query: str) -> str:
        """The query with diacritics restored word by word (Viterbi); words the library never
        uses, and queries that already carry diacritics, are left as typed."""
        if has_diacritics(query):
            return query
        tokens = list(_WORD_RE.finditer(query))
        if not tokens:
            return query
        lattice: list[list[str]] = []
        for m in tokens:
            w = m.group(0)
            cands = self.by_fold.get(fold(w))
            lattice.append(cands if cands and not w.isupper() else [w.lower()])
        # Viterbi over the candidate lattice.
        best = [(self._logp_uni(c), [c]) for c in lattice[0]]
        for cands in lattice[1:]:
            step = []
            for c in cands:
                score, path = max(((s + self._logp_bi(p[-1], c), p) for s, p in best), key=lambda x: x[0])
                step.append((score, path + [c]))
            best = step
        words = max(best, key=lambda x: x[0])[1]
        out, pos = [], 0
        for m, w in zip(tokens, words):
            typed = m.group(0)
            # Keep abbreviations and proper-case words as typed when nothing was restored.
            restored = typed if fold(w) == w and typed.isupper() else (w.capitalize() if typed[:1].isupper() and not typed.isupper() else w)
            out.append(query[pos : m.start()])
            out.append(restored)
            pos = m.end()
        out.append(query[pos:])
        return "".join(out)


def dense_query(query: str, expand, restorer: DiacriticRestorer | None) -> str:
    """The text to embed for ``query``: diacritics restored, then abbreviations spelled out
    (``expand`` gives the abbreviation variants of a text, as the lexical index does)."""
    text = restorer.restore(query) if restorer is not None else query
    longer = [t for t, _w in expand(text) if len(t) > len(text)]
    return max(longer, key=len) if longer else text
