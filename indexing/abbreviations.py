"""Abbreviations of Vietnamese administrative texts and query expansion with them.

Plans write the same notion two ways: *thủ tục hành chính* and *TTHC*, *văn bản quy phạm pháp
luật* and *văn bản QPPL*. A lexical search for one must find the other. Three pieces:

* ``GLOSSARY`` – built-in pairs for the abbreviations every CCHC plan uses;
* ``learn_abbreviations`` – the inline definitions a corpus makes itself, "long form (ABBR)";
* ``AbbreviationMatcher`` / ``expand_query`` – find abbreviations and long forms in a query and
  say what else to search for.

Pairs are ``dict[str, set[str]]``: abbreviation key (upper case, single spaces: ``"PAR INDEX"``)
→ long forms (lower case, NFC). All matching is case- and diacritic-insensitive: it compares
folded word sequences (``textnorm.fold``), so *tthc*, *thu tuc hanh chinh* and *thủ tục hành
chính* all match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cchc.corpus.textnorm import canonical, fold, nfc, words

# Weight of an expansion relative to what the user typed: the other spelling is found, but a
# clause that uses the user's own spelling ranks a little higher.
EXPANSION_WEIGHT = 0.8

GLOSSARY: dict[str, tuple[str, ...]] = {
    "CCHC": ("cải cách hành chính",),
    "TTHC": ("thủ tục hành chính",),
    "KSTTHC": ("kiểm soát thủ tục hành chính",),
    "DVC": ("dịch vụ công",),
    "DVCTT": ("dịch vụ công trực tuyến",),
    "HCC": ("hành chính công",),
    "QPPL": ("quy phạm pháp luật",),
    "VBQPPL": ("văn bản quy phạm pháp luật",),
    "CBCCVC": ("cán bộ, công chức, viên chức",),
    "CBCC": ("cán bộ, công chức",),
    "CCVC": ("công chức, viên chức",),
    "HĐND": ("hội đồng nhân dân",),
    "UBND": ("ủy ban nhân dân",),
    "MTTQ": ("mặt trận tổ quốc",),
    "UBMTTQ": ("ủy ban mặt trận tổ quốc",),
    "SIPAS": (
        "chỉ số hài lòng của người dân, tổ chức đối với sự phục vụ của cơ quan hành chính nhà nước",
        "chỉ số hài lòng về sự phục vụ hành chính",
    ),
    "PAR INDEX": ("chỉ số cải cách hành chính",),
    "PCI": ("chỉ số năng lực cạnh tranh cấp tỉnh",),
    "DDCI": ("chỉ số năng lực cạnh tranh cấp sở, ban, ngành và địa phương",),
    "CĐS": ("chuyển đổi số",),
    "CSDL": ("cơ sở dữ liệu",),
    "CNTT": ("công nghệ thông tin",),
    "TTĐT": ("thông tin điện tử",),
    "TCVN": ("tiêu chuẩn việt nam", "tiêu chuẩn quốc gia"),
    "ĐMST": ("đổi mới sáng tạo",),
    "KH&CN": ("khoa học và công nghệ",),
    "KHCN": ("khoa học công nghệ",),
    "TN&MT": ("tài nguyên và môi trường",),
    "KT-XH": ("kinh tế - xã hội",),
    "BCĐ": ("ban chỉ đạo",),
    "ĐA06": ("đề án 06",),
    "NDXP": ("nền tảng tích hợp, chia sẻ dữ liệu quốc gia",),
    "LGSP": ("nền tảng tích hợp, chia sẻ dữ liệu cấp tỉnh",),
    "AI": ("trí tuệ nhân tạo",),
}

# Keys this short are ordinary syllables when typed in lower case ("ai" = who), so a query only
# triggers them written in capitals.
_CASE_SENSITIVE_MAX = 2


def abbr_key(abbr: str) -> str:
    """Canonical dictionary key of an abbreviation: NFC, upper case, single spaces."""
    return " ".join(nfc(abbr).upper().split())


def _folded_words(text: str) -> tuple[str, ...]:
    return tuple(fold(w) for w in words(text))


def _clean_long_form(text: str) -> str:
    return " ".join(nfc(text).lower().split()).strip(" ,;:-")


def merge_pairs(*sources: Mapping[str, Iterable[str]] | None) -> dict[str, set[str]]:
    """Union of several pair dictionaries; long forms equal up to tone placement are kept once."""
    merged: dict[str, set[str]] = {}
    seen: dict[str, set[str]] = {}
    for source in sources:
        for abbr, longs in (source or {}).items():
            key = abbr_key(abbr)
            if isinstance(longs, str):
                longs = (longs,)
            for long in longs:
                long = _clean_long_form(long)
                canon = canonical(long)
                if long and canon not in seen.setdefault(key, set()):
                    seen[key].add(canon)
                    merged.setdefault(key, set()).add(long)
    return merged


def default_pairs() -> dict[str, set[str]]:
    return merge_pairs(GLOSSARY)


# --------------------------------------------------------------------------------------------
# Learning "long form (ABBR)" definitions
# --------------------------------------------------------------------------------------------

_PAREN_RE = re.compile(r"\(\s*([^()\n]{2,24}?)\s*\)")
# First chunk all capitals (Đ included, & and - allowed inside: KH&CN, KT-XH); at most two more
# chunks, capitals or a capitalised Latin word, for "PAR INDEX" / "PAR Index".
_ABBR_RE = re.compile(r"^[A-ZĐ][A-ZĐ0-9&\-]*[A-ZĐ0-9](?: (?:[A-ZĐ0-9]{2,}|[A-Z][a-z]{2,})){0,2}$")
# A definition never reaches across these; commas stay inside ("cán bộ, công chức, viên chức").
_CLAUSE_BREAK_RE = re.compile(r"[.;:!?()\[\]“”\"{}]")
_CONTEXT_CHARS = 400
_LEFT_WORD_RE = re.compile(r"\w+|&")
# "và" may appear in the long form without a letter in the abbreviation (KHCN = khoa học và
# công nghệ) or stand for its "&" (KH&CN).
_CONJUNCTIONS = {"va", "&"}


def _abbr_letters(key: str) -> list[str] | None:
    """Letters to align with word initials; None when the key has digits (ĐA06): no alignment."""
    letters: list[str] = []
    for ch in fold(key.replace(" ", "").replace("-", "")):
        if ch == "&" or ch.isalpha():
            letters.append(ch)
        else:
            return None
    if sum(ch != "&" for ch in letters) < 2:
        return None
    return letters


def _align(letters: list[str], left_words: list[str]) -> int | None:
    """Number of trailing words whose initials spell ``letters`` (right to left), or None.

    Strict on purpose: every letter takes exactly one word, in order, and only a conjunction may
    be skipped. Anything looser pairs an abbreviation with whatever happens to precede it.
    """
    i, j = len(letters) - 1, len(left_words) - 1
    while i >= 0:
        if j < 0:
            return None
        word = fold(left_words[j])
        letter = letters[i]
        if letter == "&":
            i -= 1
            if word in _CONJUNCTIONS:
                j -= 1
            continue
        if word and word[0] == letter and not word.isdigit():
            i -= 1
            j -= 1
        elif word in _CONJUNCTIONS and i < len(letters) - 1 and j < len(left_words) - 1:
            j -= 1
        else:
            return None
    return len(left_words) - 1 - j


def _anchored(key: str, left_words: list[str]) -> int | None:
    """For a glossary abbreviation whose letters do not spell the Vietnamese words (SIPAS, PAR
    INDEX come from English): the nearest start of one of its known long forms."""
    best = None
    for long in GLOSSARY.get(key, ()):
        known = _folded_words(long)
        anchor = known[:2]
        limit = len(known) + 6
        folded = [fold(w) for w in left_words]
        for start in range(len(folded) - len(anchor), max(-1, len(folded) - limit - 1), -1):
            if tuple(folded[start : start + len(anchor)]) == anchor:
                n = len(folded) - start
                if best is None or n < best:
                    best = n
                break
    return best


def learn_abbreviations(texts: Iterable[str]) -> dict[str, set[str]]:
    """Every inline definition "long form (ABBR)" in ``texts``.

    The long form is the run of words right before the parenthesis whose initials spell the
    abbreviation (đ and d are the same letter, "và" may stand for "&"); for glossary abbreviations
    of foreign origin (SIPAS, PAR INDEX, PCI …) it is the nearest start of a known long form
    instead. Parentheses that are not abbreviations, and abbreviations whose preceding words do
    not fit, are ignored.
    """
    found: dict[str, set[str]] = {}
    for text in texts:
        text = nfc(text)
        for m in _PAREN_RE.finditer(text):
            inner = " ".join(m.group(1).split())
            if not _ABBR_RE.match(inner):
                continue
            key = abbr_key(inner)
            left = text[max(0, m.start() - _CONTEXT_CHARS) : m.start()]
            breaks = list(_CLAUSE_BREAK_RE.finditer(left))
            if breaks:
                left = left[breaks[-1].end() :]
            spans = list(_LEFT_WORD_RE.finditer(left))
            left_words = [s.group(0) for s in spans]
            n = None
            letters = _abbr_letters(key)
            if letters is not None:
                n = _align(letters, left_words)
            if n is None and key in GLOSSARY:
                n = _anchored(key, left_words)
            if n is None or n < 2:
                continue
            first = spans[len(spans) - n]
            long = _clean_long_form(left[first.start() :])
            if any(ch.isdigit() for ch in long):
                continue
            found.setdefault(key, set()).add(long)
    return merge_pairs(found)


# --------------------------------------------------------------------------------------------
# Matching abbreviations and long forms in queries
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expansion:
    """Words ``start:end`` of the query (``textnorm.words`` positions) may also be searched as
    any of ``alternatives``."""

    start: int
    end: int
    alternatives: tuple[str, ...]


class AbbreviationMatcher:
    """Finds abbreviations and their long forms in a word sequence, in both directions."""

    def __init__(self, pairs: Mapping[str, Iterable[str]] | None):
        self.pairs = merge_pairs(pairs)
        # folded word tuple -> (alternatives, case-sensitive?)
        table: dict[tuple[str, ...], tuple[set[str], bool]] = {}
        for abbr, longs in self.pairs.items():
            abbr_words = _folded_words(abbr)
            if not abbr_words:
                continue
            short = len(abbr_words) == 1 and len(abbr_words[0]) <= _CASE_SENSITIVE_MAX
            alts, _ = table.setdefault(abbr_words, (set(), short))
            alts.update(longs)
            for long in longs:
                long_words = _folded_words(long)
                if len(long_words) >= 2 and long_words != abbr_words:
                    table.setdefault(long_words, (set(), False))[0].add(abbr)
        self._table = {k: (tuple(sorted(v)), cs) for k, (v, cs) in table.items()}
        self._max_len = max((len(k) for k in self._table), default=0)

    def __bool__(self) -> bool:
        return bool(self._table)

    def find(self, surface_words: list[str]) -> list[Expansion]:
        """All spans (overlapping allowed, so "kiểm soát thủ tục hành chính" yields KSTTHC and
        TTHC) that are a known abbreviation or long form."""
        folded = [fold(w) for w in surface_words]
        out: list[Expansion] = []
        for start in range(len(folded)):
            for end in range(start + 1, min(len(folded), start + self._max_len) + 1):
                hit = self._table.get(tuple(folded[start:end]))
                if hit is None:
                    continue
                alternatives, case_sensitive = hit
                if case_sensitive and not surface_words[start].isupper():
                    continue
                out.append(Expansion(start, end, alternatives))
        return out


_QUERY_WORD_RE = re.compile(r"\w+")


def expand_query(query: str, pairs: Mapping[str, Iterable[str]] | AbbreviationMatcher | None) -> list[tuple[str, float]]:
    """The query itself (weight 1) and every variant with one abbreviation or long form swapped
    for another spelling (weight ``EXPANSION_WEIGHT``).

    >>> expand_query("giải quyết TTHC", {"TTHC": {"thủ tục hành chính"}})
    [('giải quyết TTHC', 1.0), ('giải quyết thủ tục hành chính', 0.8)]
    """
    query = nfc(query)
    matcher = pairs if isinstance(pairs, AbbreviationMatcher) else AbbreviationMatcher(pairs)
    spans = [m.span() for m in _QUERY_WORD_RE.finditer(query)]
    out = [(query, 1.0)]
    seen = {query}
    for exp in matcher.find([query[a:b] for a, b in spans]):
        a, b = spans[exp.start][0], spans[exp.end - 1][1]
        for alt in exp.alternatives:
            variant = query[:a] + alt + query[b:]
            if variant not in seen:
                seen.add(variant)
                out.append((variant, EXPANSION_WEIGHT))
    return out
