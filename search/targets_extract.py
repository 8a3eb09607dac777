"""Quantitative targets (chỉ tiêu) in plan clauses.

``extract_targets`` finds the number expressions a clause commits to ("Trên 98% hồ sơ …",
"đạt từ 90% trở lên", "ít nhất 01 cuộc đối thoại") with their comparator, the phrase the number
qualifies (*measure*), the period, and an indicator from ``data/indicators.json``.

What counts as a target:

* a percentage, or a number of a countable commitment noun (sáng kiến, cuộc, hội nghị, lớp …),
  of times (lần), days (ngày), hours (giờ), points (điểm), or a rank (xếp thứ N, top N);
* not document numbers, dates, years, list numbering, ISO codes, "Đề án 06", "02 cấp",
  "6 tháng": none has a unit, and a bare number never counts;
* not counts that describe a text rather than commit to something ("Cụ thể hóa 09 nhiệm vụ
  trọng tâm"): a count needs a commitment noun;
* not past results: "đã đạt 85%", or a value tied to a year before the plan's own ("đạt 85%
  năm 2024, phấn đấu năm 2026 …"); "so với năm 2024" is a baseline, neither target nor period;
* not "100% vốn" (ownership).

Matching runs on a folded copy of the text (lower case, no diacritics) that keeps a map back to
the input's offsets, so NFD input, old/new tone placement and unaccented text behave alike and
``raw == text[span[0]:span[1]]`` holds for the input as given. Folding merges words (từ/tử,
đạt/đất, tại/tài), so every function word found on the folded text is confirmed on the input:
it must be that word, or the input must carry no diacritics at all.
"""

from __future__ import annotations

import json
import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cchc.corpus.textnorm import canonical, nfc

INDICATORS_PATH = Path(__file__).with_name("data") / "indicators.json"

# "percent" (%), "count" (sáng kiến, cuộc …), "times" (lần), "days" (ngày [làm việc]),
# "hours" (giờ), "points" (điểm), "rank" (xếp thứ N, top N).
UNITS = ("percent", "count", "times", "days", "hours", "points", "rank")
COMPARATORS = (">=", ">", "<=", "<", "=")
OTHER, OTHER_LABEL = "other", "Khác"

MIN_SCORE = 3.0  # keyword score an indicator needs; a match outside the measure counts half
CONTEXT_WEIGHT = 0.5
MIN_SIMILARITY = 0.6  # the optional similarity scorer must reach this to name an indicator
MAX_MEASURE_WORDS = 20

Scorer = Callable[[str, Sequence[str]], Sequence[float]]


@dataclass
class TargetMention:
    value: float
    unit: str
    comparator: str
    measure: str
    span: tuple[int, int]
    raw: str
    period: str | None
    indicator: str
    indicator_label: str


@dataclass(frozen=True)
class Indicator:
    code: str
    label: str
    description: str
    keywords: tuple[tuple[str, float], ...]
    excludes: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()

    @property
    def profile(self) -> str:
        """What a similarity scorer compares a measure with."""
        return " ".join((self.label, *self.examples))


# --- folding with an offset map ---------------------------------------------------------------


@lru_cache(maxsize=8192)
def _fold_char(ch: str) -> str:
    if ch in "đĐ":
        return "d"
    return "".join(c for c in unicodedata.normalize("NFD", ch.lower()) if not unicodedata.combining(c))


def _fold(text: str) -> str:
    return "".join(_fold_char(ch) for ch in text)


class _Folded:
    """Folded text ``s`` plus, for every folded character, the index of its input character."""

    def __init__(self, text: str):
        chars: list[str] = []
        index: list[int] = []
        for i, ch in enumerate(text):
            for c in _fold_char(ch):
                chars.append(c)
                index.append(i)
        self.text, self.s, self.index = text, "".join(chars), index

    def span(self, a: int, b: int) -> tuple[int, int]:
        """Input offsets of folded [a, b), with the combining marks that trail its last char."""
        if a >= b:
            pos = self.index[a] if a < len(self.index) else len(self.text)
            return pos, pos
        start, end = self.index[a], self.index[b - 1] + 1
        while end < len(self.text) and not _fold_char(self.text[end]):
            end += 1
        return start, end

    def orig(self, a: int, b: int) -> str:
        s, e = self.span(a, b)
        return self.text[s:e]


def _is(original: str, word: str) -> bool:
    """Is this piece of input the (accented) ``word``, or an unaccented spelling of it?"""
    o = " ".join(original.split())
    if canonical(o) == canonical(word):
        return True
    return _fold(o) == o.lower() and o.lower() == _fold(word)


class _Vocab:
    """Accented function words: found on the folded text, confirmed on the input."""

    def __init__(self, words: Iterable[str]):
        self.by_fold: dict[str, list[str]] = {}
        for w in words:
            self.by_fold.setdefault(_fold(w), []).append(w)
        self.alt = "|".join(re.escape(k) for k in sorted(self.by_fold, key=len, reverse=True))
        self._at = re.compile(rf"(?:{self.alt})\b")
        self._before = re.compile(rf"\b(?:{self.alt})$")

    def confirm(self, folded: _Folded, a: int, b: int) -> str | None:
        """The accented word that folded [a, b) really is, if any."""
        original = folded.orig(a, b)
        return next((w for w in self.by_fold.get(folded.s[a:b], ()) if _is(original, w)), None)

    def at(self, folded: _Folded, a: int, b: int) -> int | None:
        """End of a confirmed word starting at folded ``a``."""
        m = self._at.match(folded.s, a, b)
        return m.end() if m and self.confirm(folded, a, m.end()) else None

    def before(self, folded: _Folded, a: int, b: int) -> int | None:
        """Start of a confirmed word ending at folded ``b``."""
        m = self._before.search(folded.s, a, b)
        return m.start() if m and self.confirm(folded, m.start(), b) else None


# --- vocabulary -------------------------------------------------------------------------------

_COMPARATOR_WORDS = {
    "không dưới": ">=", "không ít hơn": ">=", "tối thiểu": ">=", "ít nhất": ">=", "từ": ">=",
    "không vượt quá": "<=", "không quá": "<=", "tối đa": "<=",
    "trên": ">", "vượt": ">", "hơn": ">", "cao hơn": ">", "lớn hơn": ">", "nhiều hơn": ">",
    "dưới": "<", "ít hơn": "<", "thấp hơn": "<", "nhỏ hơn": "<",
}
_CMP = _Vocab(_COMPARATOR_WORDS)
_LINK = _Vocab(("là", "đạt", "bằng", "ở mức"))  # "tối thiểu là 95%"
_TAIL = _Vocab(("trở lên", "trở xuống"))

# A count is a target only for nouns that commit to something ("01 sáng kiến"); "nhiệm vụ",
# "cấp", "tháng" are left out on purpose: "09 nhiệm vụ trọng tâm", "02 cấp", "6 tháng" describe.
_COUNT_NOUNS = (
    "sáng kiến", "giải pháp", "cuộc", "buổi", "hội nghị", "lớp", "đợt", "lượt", "mô hình",
    "chuyên đề", "chuyên mục", "phóng sự", "sản phẩm", "đoàn", "thủ tục", "văn bản", "đề tài",
)
_UNIT_NOUNS = {"lần": "times", "ngày làm việc": "days", "ngày": "days", "giờ làm việc": "hours",
               "giờ": "hours", "điểm": "points"}
_NOUN = _Vocab((*_COUNT_NOUNS, *_UNIT_NOUNS))
_WORD_NUMBERS = {"một": 1, "hai": 2, "ba": 3, "bốn": 4, "năm": 5, "sáu": 6, "bảy": 7, "tám": 8,
                 "chín": 9, "mười": 10}
_WORD_NUMBER = _Vocab(_WORD_NUMBERS)
# A count right after these is a reference: "số 01", "Điều 9", "Phụ lục 02", "Đề án 06", "thứ 2".
_REFERENCE = _Vocab(("số", "điều", "khoản", "điểm", "mục", "chương", "lục", "án", "thứ"))

_NUM = r"(?<![\w.,/:\-])(?P<num>[0-9]{1,7}(?:[.,][0-9]+)*)(?![0-9/]|[.,][0-9])"
_COMPARED = rf"\b(?P<cmp>{_CMP.alt})\s+(?:(?P<link>{_LINK.alt})\s+)?"
_TAIL_RE = rf"(?:\s+(?P<tail>{_TAIL.alt})\b)?"
_EXPR = re.compile(
    rf"(?:{_COMPARED})?{_NUM}(?:\s*(?P<pct>%|％|phan tram\b)|[ \u00a0]+(?P<noun>(?:{_NOUN.alt})\b)){_TAIL_RE}"
)
# Spelled-out numbers only after a comparator ("ít nhất một cuộc"): "một lần" alone is prose.
_WORD_EXPR = re.compile(rf"{_COMPARED}(?P<word>{_WORD_NUMBER.alt})[ \u00a0]+(?P<noun>(?:{_NOUN.alt})\b){_TAIL_RE}")
_RANK = re.compile(
    r"\b(?P<kind>xep\s+(?:thu|hang)(?:\s+thu)?|(?:nam\s+)?trong\s+top|top)\s+"
    r"(?P<num>[0-9]{1,3})(?![0-9])(?:\s*/\s*[0-9]{1,3})?"
)
_PREV_WORD = re.compile(r"(\w+)\W*$")
_VON, _THU = re.compile(r"\s*von\b"), re.compile(r"\s+thu\b")
_LATER_TAIL = re.compile(r"(?:\s+[^\W\d]+){1,3}?\s+tro len\b")  # "từ 02 mô hình mới trở lên"


@dataclass
class _Hit:
    start: int  # folded offsets of the whole expression: comparator … number … unit … trở lên
    end: int
    value: float
    unit: str
    comparator: str
    noun: tuple[int, int] | None = None  # a count's noun heads its measure ("cuộc đối thoại")
    from_tu: bool = False  # opened by "từ": "từ 90% đến 95%" makes 95% an upper bound


def _parse_number(s: str, unit: str) -> float | None:
    """99 / 99,5 / 99.5; for counts also 1.000 (thousands). "0.0.1" is no value at all."""
    if unit != "percent" and re.fullmatch(r"[0-9]{1,3}(?:\.[0-9]{3})+", s):
        return float(s.replace(".", ""))
    if re.fullmatch(r"[0-9]+(?:[.,][0-9]+)?", s):
        return float(s.replace(",", "."))
    return None


def _number_hits(folded: _Folded) -> list[_Hit]:
    f = folded.s
    hits: list[_Hit] = []
    for m in [*_EXPR.finditer(f), *_WORD_EXPR.finditer(f)]:
        groups = m.groupdict()
        number_start = m.start("num") if groups.get("num") else m.start("word")
        noun = _NOUN.confirm(folded, *m.span("noun")) if m.group("noun") else None
        if m.group("noun") and not noun:
            continue  # folded look-alikes: "2 làn" is not "2 lần"
        unit = _UNIT_NOUNS.get(noun, "count") if noun else "percent"
        cmp_word = m.group("cmp") and _CMP.confirm(folded, *m.span("cmp"))
        if cmp_word and m.group("link") and not _LINK.confirm(folded, *m.span("link")):
            cmp_word = None
        start = m.start("cmp") if cmp_word else number_start  # "điện tử 100%" has no "từ"
        if groups.get("word"):
            word = _WORD_NUMBER.confirm(folded, *m.span("word"))
            if not (cmp_word and word):
                continue
            value = float(_WORD_NUMBERS[word])
        else:
            value = _parse_number(m.group("num"), unit)
            if value is None:
                continue

        prev = _PREV_WORD.search(f, max(0, start - 30), start)
        prev_span = prev.span(1) if prev else (start, start)
        prev_word = folded.orig(*prev_span)
        if unit == "percent":
            if _VON.match(f, m.end()):
                continue  # "doanh nghiệp 100% vốn nhà nước" describes ownership
        elif not cmp_word:
            if _REFERENCE.confirm(folded, *prev_span):
                continue  # "Phụ lục số 01", "Điều 9", "thứ 2"
            if unit == "points" and not _is(prev_word, "đạt"):
                continue  # "02 điểm giao dịch" are places; "đạt 90 điểm" is a score
            if unit == "hours" and _is(prev_word, "lúc"):
                continue  # "lúc 8 giờ" is a time of day
        if unit == "times" and _THU.match(f, m.end("noun")):
            continue  # "lần thứ 2"

        comparator = _COMPARATOR_WORDS[cmp_word] if cmp_word else "="
        tail = m.group("tail") and _TAIL.confirm(folded, *m.span("tail"))
        end = m.end() if tail else m.end("noun") if m.group("noun") else m.end("pct")
        if tail:
            comparator = ">=" if tail == "trở lên" else "<="
        elif cmp_word == "từ":
            later = _LATER_TAIL.match(f, end, min(len(f), end + 60))
            if later and _TAIL.confirm(folded, later.end() - len("tro len"), later.end()):
                end = later.end()
        hits.append(_Hit(start, end, value, unit, comparator,
                         m.span("noun") if unit == "count" else None, cmp_word == "từ"))
    for m in _RANK.finditer(f):
        comparator = "=" if m.group("kind").startswith("xep") else "<="
        hits.append(_Hit(m.start(), m.end(), float(m.group("num")), "rank", comparator))
    hits.sort(key=lambda h: (h.start, -h.end))
    kept: list[_Hit] = []
    for h in hits:
        if not kept or h.start >= kept[-1].end:
            kept.append(h)
    for a, b in zip(kept, kept[1:]):
        if a.from_tu and re.fullmatch(r"\s*(?:den|toi|-|–)\s*", f[a.end:b.start]):
            b.comparator = "<="  # "từ 90% đến 95%"
    return kept


# --- periods ----------------------------------------------------------------------------------

_YEAR = r"((?:19|20)[0-9]{2})(?![0-9])"
_ROMAN = r"(?:iv|i{1,3})"
_PERIOD_PATTERNS: list[tuple[re.Pattern, Callable[[re.Match], str]]] = [
    (re.compile(rf"\bgiai doan\s+{_YEAR}\s*[-–—‐‑−]+\s*{_YEAR}"),
     lambda m: f"giai đoạn {m[1]} - {m[2]}"),
    (re.compile(rf"\b0?([1-9][0-9]?)\s+thang\s+(dau|cuoi)\s+nam\s+{_YEAR}"),
     lambda m: f"{int(m[1])} tháng {'đầu' if m[2] == 'dau' else 'cuối'} năm {m[3]}"),
    (re.compile(rf"\bquy\s+({_ROMAN}(?:\s*(?:,|&|va)\s*{_ROMAN})*)\b\s*(?:/|nam\b)\s*{_YEAR}"),
     lambda m: "Quý " + ", ".join(p.upper() for p in re.findall(_ROMAN, m[1])) + f"/{m[2]}"),
    (re.compile(rf"\b(?:den|toi)\s+nam\s+{_YEAR}"), lambda m: f"đến năm {m[1]}"),
    (re.compile(rf"\bnam\s+{_YEAR}(?!\s*[-–—]\s*[0-9])"), lambda m: f"năm {m[1]}"),
]
_PLAIN_YEAR = _PERIOD_PATTERNS[-1][0]


def _not_a_period_year(folded: _Folded, pos: int) -> bool:
    before = folded.s[max(0, pos - 80):pos]
    if re.search(r"(?:cung ky|thang\s+[0-9]{1,2}|nhiem ky)\s*$|\bso voi\b(?:\s+[^\W\d]+){0,5}\s*$", before):
        return True  # a baseline ("so với [biên chế được giao] năm 2022"), a date, a term of office
    # "Luật Ban hành văn bản QPPL năm 2025", "Luật Cán bộ, công chức năm 2025": a law's name,
    # which only a capitalised "Luật" starts.
    tail = re.split(r"[;.\n\t]", before)[-1]
    words = list(re.finditer(r"\w+", tail))[-10:]
    return any(w.group() == "luat" and folded.orig(pos - len(tail) + w.start(), pos - len(tail) + w.end()) == "Luật"
               for w in words)


def _periods(folded: _Folded) -> list[tuple[int, int, str]]:
    """(start, end, normalised period) in folded offsets, non-overlapping, in text order."""
    found = [
        (m.start(), m.end(), render(m))
        for pattern, render in _PERIOD_PATTERNS
        for m in pattern.finditer(folded.s)
        if pattern is not _PLAIN_YEAR or not _not_a_period_year(folded, m.start())
    ]
    found.sort(key=lambda p: (p[0], -(p[1] - p[0])))
    kept: list[tuple[int, int, str]] = []
    for p in found:
        if not kept or p[0] >= kept[-1][1]:
            kept.append(p)
    return kept


def find_period(text: str) -> str | None:
    """First period stated in ``text`` ("giai đoạn 2026 - 2027", "năm 2026", "Quý IV/2025" …)."""
    periods = _periods(_Folded(text))
    return periods[0][2] if periods else None


def _years(period: str | None) -> list[int]:
    return [int(y) for y in re.findall(r"(?:19|20)[0-9]{2}", period or "")]


# Years the plan commits to: "phấn đấu năm 2026", "năm 2026 phấn đấu", "đến năm 2030".
_FUTURE_YEAR = re.compile(
    rf"\bphan dau\s+(?:\w+\s+)?nam\s+{_YEAR}|\bnam\s+{_YEAR}(?=\s+phan dau)|\b(?:den|toi)\s+nam\s+{_YEAR}"
)
_ALREADY = re.compile(r"\bda\s+(?:dat\s+)?(?:duoc\s+)?$")
_YEAR_AFTER = re.compile(rf"\s*,?\s*(?:trong |cua |vao )?nam\s+{_YEAR}")
_YEAR_BEFORE = re.compile(rf"\bnam\s+{_YEAR}\s*,?\s*(?:da\s+)?dat\s*$")
_YEAR_OPENING = re.compile(rf"\W*(?:trong\s+)?nam\s+{_YEAR}\b")


def _is_past_result(folded: _Folded, hit: _Hit, sent_start: int, reference_years: list[int]) -> bool:
    """"đã đạt 85%", or a value tied to a year before the plan's own (``reference_years``)."""
    f = folded.s
    window = max(sent_start, hit.start - 40)
    already = _ALREADY.search(f, window, hit.start)
    if already and _is(folded.orig(already.start(), already.start() + 2), "đã"):
        return True
    if not reference_years:
        return False
    # The year a value belongs to: "đạt 85% năm 2024", "năm 2024 đạt 85%", "Năm 2024, … đạt 85%".
    m = (_YEAR_AFTER.match(f, hit.end, hit.end + 20)
         or _YEAR_BEFORE.search(f, window, hit.start)
         or _YEAR_OPENING.match(f, sent_start, min(hit.start, sent_start + 30)))
    return bool(m) and any(y > int(m[1]) for y in reference_years)



# --- clause layout: sentences and measures ----------------------------------------------------

# A single dot ends a sentence; "..." is an elision inside one ("đã có..., gắn").
_SENTENCE_END = re.compile(r"[;\n\t]|(?<!\.)\.(?!\.)(?=\s|$)")
_CUT = _Vocab(("so với", "đối với", "liên quan đến", "nhằm", "để", "trên tổng số"))
_CUT_AFTER_COMMA = _Vocab(("bảo đảm", "đảm bảo", "góp phần"))
_CUT_RE = re.compile(rf"\s(?P<word>{_CUT.alt})\s|,\s*(?P<comma>{_CUT_AFTER_COMMA.alt})\b|(?P<close>\))")
_LEAD_FILLER = _Vocab(("phấn đấu", "phân đầu", "đảm bảo", "bảo đảm", "thực hiện", "yêu cầu",
                       "trong số đó", "trong đó", "tiếp tục", "và", "đạt"))
_TRAIL_FILLER = _Vocab(("đạt", "là", "ở mức", "lên", "còn", "bằng", "của"))
_PRE_LINK = _Vocab(("đạt", "là", "ở mức"))  # "Tỷ lệ X đạt 95%": the measure precedes
_RATE = _Vocab(("tỷ lệ", "tỉ lệ", "mức độ", "chỉ số"))
_RATE_RE = re.compile(rf"\b(?:{_RATE.alt})\b")
# After the number these start no noun phrase: "đạt 70% trên tổng số …", "95% trong năm 2026".
_NOT_A_NOUN = _Vocab(("trong", "so với", "trên", "của", "vào", "năm", "đến", "tại", "theo",
                      "và", "hoặc", "với", "đối với", "mỗi", "hằng năm", "hàng năm"))
_MARKER = re.compile(r"[\s\-+•*:,;.()]+|\d+(?:\.\d+)*\.(?=\s)|[a-z]\)(?=\s)")


def _depth(f: str, a: int, b: int) -> int:
    return f.count("(", a, b) - f.count(")", a, b)


def _sentences(f: str) -> list[tuple[int, int]]:
    bounds, start = [], 0
    for m in _SENTENCE_END.finditer(f):
        bounds.append((start, m.start()))
        start = m.end()
    bounds.append((start, len(f)))
    return bounds


def _cut(folded: _Folded, a: int, b: int) -> int:
    """Where a measure after its number ends: "so với", "để", ", bảo đảm", an unbalanced ")"."""
    for m in _CUT_RE.finditer(folded.s, a, b):
        if m.group("close"):
            if _depth(folded.s, a, m.start()) <= 0:
                return m.start()
        elif m.group("word") and _CUT.confirm(folded, *m.span("word")):
            return m.start()
        elif m.group("comma") and _CUT_AFTER_COMMA.confirm(folded, *m.span("comma")):
            return m.start()
    return b


def _trim(folded: _Folded, a: int, b: int, *, trailing: bool) -> tuple[int, int]:
    """Drop list markers and fillers ("Phấn đấu", "Thực hiện") at the start and, for a measure
    that precedes its number, "đạt", "là", "lên" at the end."""
    while a < b:
        m = _MARKER.match(folded.s, a, b)
        end = m.end() if m and m.end() > a else _LEAD_FILLER.at(folded, a, b)
        if not end:
            break
        a = end
    while trailing and a < b:
        b = a + len(folded.s[a:b].rstrip(" ,:;("))
        start = _TRAIL_FILLER.before(folded, a, b)
        if start is None:
            break
        b = start
    return a, b


def _starts_noun_phrase(folded: _Folded, a: int, b: int) -> bool:
    f = folded.s
    if a >= b:
        return False
    if f[a] == "(":
        return f[a + 1:a + 2].isalnum()
    return f[a].isalnum() and _NOT_A_NOUN.at(folded, a, b) is None


def _measure_text(folded: _Folded, a: int, b: int, *, display: bool) -> str:
    text = " ".join(folded.orig(a, b).split()) if a < b else ""
    if display:
        text = re.sub(r"\s*\([^()]*\)", "", text)  # "(trừ văn bản mật)", "(QPPL)"
        text = " ".join(text.strip(" ,;:-–+*").split()[:MAX_MEASURE_WORDS])
    return nfc(text.strip(" ,;:-–+*"))


# --- indicator mapping ------------------------------------------------------------------------

_ABBREVIATIONS = {
    "tthc": "thu tuc hanh chinh",
    "qppl": "quy pham phap luat",
    "cchc": "cai cach hanh chinh",
    "dvc": "dich vu cong",
    "dvctt": "dich vu cong truc tuyen",
    "cbcc": "can bo cong chuc",
    "cbccvc": "can bo cong chuc vien chuc",
    "hcc": "hanh chinh cong",
}


def _words(text: str) -> str:
    """Folded words, space-padded, abbreviations expanded: ready for phrase look-ups.

    Keywords are multi-word phrases, so folding collisions do not matter here."""
    tokens = re.findall(r"[a-z0-9]+", _fold(text))
    return " " + " ".join(_ABBREVIATIONS.get(t, t) for t in tokens) + " "


@lru_cache(maxsize=1)
def _load() -> tuple[Indicator, ...]:
    data = json.loads(INDICATORS_PATH.read_text(encoding="utf-8"))
    return tuple(
        Indicator(
            code=d["code"],
            label=d["label"],
            description=d.get("description", ""),
            keywords=tuple((k, float(w)) for k, w in d.get("keywords", {}).items()),
            excludes=tuple(d.get("excludes", ())),
            examples=tuple(d.get("examples", ())),
        )
        for d in data["indicators"]
    )


def load_indicators() -> list[Indicator]:
    return list(_load())


_Rule = tuple[tuple[str, ...], float, frozenset[str]]  # folded parts, weight, all their words


@lru_cache(maxsize=1)
def _rules() -> tuple[tuple[str, tuple[_Rule, ...], tuple[str, ...]], ...]:
    """Per indicator: its code, keyword rules, folded excludes."""
    def rule(keyword: str, weight: float) -> _Rule:
        parts = tuple(_words(p) for p in keyword.split(" + "))
        return parts, weight, frozenset(w for p in parts for w in p.split())

    return tuple(
        (ind.code, tuple(rule(k, w) for k, w in ind.keywords), tuple(_words(e) for e in ind.excludes))
        for ind in _load()
    )


@lru_cache(maxsize=1)
def _labels() -> dict[str, str]:
    return {ind.code: ind.label for ind in _load()} | {OTHER: OTHER_LABEL}


def _strongest(rules: tuple[_Rule, ...], words: str, vocabulary: set[str]) -> float:
    # the word-set test is a cheap filter before the phrase test
    return max((w for parts, w, need in rules if need <= vocabulary and all(p in words for p in parts)),
               default=0.0)


def _context_scores(text: str) -> dict[str, float]:
    """What the clause around a measure contributes to each indicator (half weight)."""
    words = _words(text)
    vocabulary = set(words.split())
    return {code: CONTEXT_WEIGHT * _strongest(rules, words, vocabulary) for code, rules, _ in _rules()}


def _by_keywords(measure: str, context: dict[str, float]) -> tuple[str, float]:
    focus = _words(measure)
    vocabulary = set(focus.split())
    scored = []
    for code, rules, excludes in _rules():
        if any(e in focus for e in excludes):
            continue
        score = max(_strongest(rules, focus, vocabulary), context.get(code, 0.0))
        if score > 0:
            scored.append((score, code))
    scored.sort(key=lambda s: -s[0])  # stable: file order breaks ties
    if not scored or scored[0][0] < MIN_SCORE:
        return OTHER, 0.0
    best, code = scored[0]
    second = scored[1][0] if len(scored) > 1 else 0.0
    return code, round(best / (best + 2.0) * (1.0 - 0.5 * second / best), 3)


def _by_similarity(measure: str, scorer: Scorer, min_similarity: float) -> tuple[str, float]:
    indicators = _load()
    similarities = list(scorer(measure, [ind.profile for ind in indicators]))
    if similarities:
        i = max(range(len(similarities)), key=similarities.__getitem__)
        if similarities[i] >= min_similarity:
            return indicators[i].code, round(float(similarities[i]), 3)
    return OTHER, 0.0


def map_indicator(
    measure: str,
    text: str = "",
    *,
    scorer: Scorer | None = None,
    min_similarity: float = MIN_SIMILARITY,
) -> tuple[str, float]:
    """Indicator code for a target's ``measure`` (``text``: its clause, as context), with a
    confidence in [0, 1].

    Keyword rules decide first: the strongest rule found in ``measure`` wins; a rule found only in
    ``text`` counts half. When no indicator reaches MIN_SCORE and a ``scorer`` is given,
    ``scorer(measure, profiles)`` — e.g. embedding cosine similarity against each indicator's label
    and examples — may pick the closest one if it reaches ``min_similarity``. Otherwise the target
    stays ("other", 0.0): an unmapped target is better than a wrong label.
    """
    result = _by_keywords(measure, _context_scores(text))
    if result[0] == OTHER and scorer is not None and measure.strip():
        result = _by_similarity(measure, scorer, min_similarity)
    return result


# --- extraction -------------------------------------------------------------------------------


def extract_targets(
    text: str,
    *,
    context_period: str | None = None,
    scorer: Scorer | None = None,
) -> list[TargetMention]:
    """Quantitative targets stated in one clause, in text order.

    ``context_period`` is the period of the section the clause sits in (e.g. the heading
    "- Giai đoạn 2026 - 2027:" of a list); it applies when the clause states none itself.
    ``scorer`` is passed on to ``map_indicator``.
    """
    if not isinstance(text, str) or not text:
        return []
    folded = _Folded(text)
    f = folded.s
    hits = _number_hits(folded)
    if not hits:
        return []
    clause_periods = _periods(folded)
    context = (find_period(context_period) or nfc(context_period).strip() or None) if context_period else None
    # A value tied to a year is a past result when the plan's own period starts later: the
    # section's period, or a year the clause commits to ("đạt 85% năm 2024, phấn đấu năm 2026
    # đạt 90%"). Year ladders ("năm 2026 đạt 90%, năm 2027 đạt 95%") stay targets.
    reference_years = _years(context)[:1] + [int(y) for m in _FUTURE_YEAR.finditer(f) for y in m.groups() if y]

    sentences = _sentences(f)
    clause_context: dict[str, float] | None = None
    results: list[TargetMention] = []
    h_i = p_i = 0
    for s_start, s_end in sentences:
        # hits and periods are sorted, sentences are consecutive: walk them once
        group = []
        while h_i < len(hits) and hits[h_i].start < s_end:
            if hits[h_i].start >= s_start and not _is_past_result(folded, hits[h_i], s_start, reference_years):
                group.append(hits[h_i])
            h_i += 1
        sentence_periods = []
        while p_i < len(clause_periods) and clause_periods[p_i][0] < s_end:
            if clause_periods[p_i][0] >= s_start:
                sentence_periods.append(clause_periods[p_i])
            p_i += 1
        if not group:
            continue
        sentence_context = _context_scores(folded.orig(s_start, s_end))
        layout = _layout(folded, group, s_start, s_end)
        period_starts = [p[0] for p in sentence_periods]
        for i, (h, frag_start, pre_measured, m_start) in enumerate(layout):
            nxt = layout[i + 1] if i + 1 < len(layout) else None
            if pre_measured:
                a, b = _trim(folded, m_start, h.start, trailing=True)
                measure = _measure_text(folded, a, b, display=True)
                focus = _measure_text(folded, a, b, display=False)
            else:
                post_end = (nxt[3] if nxt[2] else nxt[0].start) if nxt else s_end
                a, b = _trim(folded, h.end, _cut(folded, h.end, post_end), trailing=False)
                noun = folded.orig(*h.noun) if h.noun else ""  # "cuộc", "sáng kiến" head the measure
                measure = f"{noun} {_measure_text(folded, a, b, display=True)}".strip()
                lead_from = frag_start if i == 0 else max(frag_start, f.rfind(",", frag_start, h.start) + 1)
                la, lb = _trim(folded, lead_from, h.start, trailing=True)
                focus = f"{_measure_text(folded, la, lb, display=False)} {noun} {_measure_text(folded, a, b, display=False)}"

            code, _ = _by_keywords(focus, sentence_context)
            if code == OTHER and len(sentences) > 1:  # "năm 2026 phấn đấu đạt trên 98%": look wider
                if clause_context is None:
                    clause_context = _context_scores(text)
                code, _ = _by_keywords(focus, clause_context)
            if code == OTHER and scorer is not None and focus.strip():
                code, _ = _by_similarity(focus, scorer, MIN_SIMILARITY)

            # The period stated just before the number ("năm 2026 đạt 90%"), else just after it
            # ("… trong năm 2026"), else anywhere in the sentence, the clause, the section.
            next_start = nxt[0].start if nxt else s_end
            j = bisect_left(period_starts, h.start)
            k = bisect_left(period_starts, h.end)
            if j and frag_start <= sentence_periods[j - 1][0] and sentence_periods[j - 1][1] <= h.start:
                period = sentence_periods[j - 1][2]
            elif k < len(sentence_periods) and sentence_periods[k][0] < next_start:
                period = sentence_periods[k][2]
            else:
                period = (sentence_periods or clause_periods or [(0, 0, context)])[0][2]

            start, end = folded.span(h.start, h.end)
            results.append(TargetMention(
                value=h.value, unit=h.unit, comparator=h.comparator, measure=measure,
                span=(start, end), raw=text[start:end], period=period,
                indicator=code, indicator_label=_labels().get(code, OTHER_LABEL),
            ))
    return results


def _layout(folded: _Folded, group: list[_Hit], s_start: int, s_end: int) -> list[tuple[_Hit, int, bool, int]]:
    """For each number of a sentence: (hit, start of its fragment, measure precedes?, where the
    measure starts). A number qualifies what precedes it ("Tỷ lệ X đạt 95%") or what follows
    ("95% hồ sơ …"); a number whose measure precedes it owns the text back to its rate word."""
    f = folded.s
    layout = []
    for i, h in enumerate(group):
        frag_start = group[i - 1].end if i else s_start
        next_start = group[i + 1].start if i + 1 < len(group) else s_end
        post_start = h.end
        while post_start < next_start and f[post_start].isspace():
            post_start += 1
        pre_end = h.start
        while pre_end > frag_start and f[pre_end - 1].isspace():
            pre_end -= 1
        pre_measured = h.noun is None and (
            _PRE_LINK.before(folded, max(frag_start, pre_end - 10), pre_end) is not None
            or not _starts_noun_phrase(folded, post_start, next_start)
        )
        m_start = frag_start
        if pre_measured:
            # the last rate word, unless it sits in a parenthesis closed before the number
            # ("(Chỉ số SIPAS) đạt")
            rates = [r.start() for r in _RATE_RE.finditer(f, frag_start, h.start)]
            for r in reversed(rates):
                closed_before = _depth(f, frag_start, r) > 0 and _depth(f, r, h.start) < 0
                if _RATE.confirm(folded, r, _RATE_RE.match(f, r).end()) and not closed_before:
                    m_start = r
                    break
            else:
                if i:
                    m_start = max(frag_start, f.rfind(",", frag_start, h.start) + 1)
        layout.append((h, frag_start, pre_measured, m_start))
    return layout


__all__ = [
    "COMPARATORS",
    "Indicator",
    "TargetMention",
    "UNITS",
    "extract_targets",
    "find_period",
    "load_indicators",
    "map_indicator",
]
