"""Line-level cleaning: what real plan text needs before it can be structured.

Real input comes as one paragraph per line, as Markdown, or as PDF text hard-wrapped at ~80
characters with page numbers in between. This module turns any of them into *logical lines*:
one paragraph, list item or table row each, with page furniture removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from statistics import median

# --- list markers -------------------------------------------------------------------------

ROMAN_RE = re.compile(r"^(?P<label>(?=[IVXL])(?:XL|L?X{0,3})(?:IX|IV|V?I{0,3}))[.)]\s*(?P<text>\S.*)$")
DIEU_RE = re.compile(r"^(?P<label>Điều\s+\d{1,3})\s*[.:]\s*(?P<text>.*)$")
MULTI_RE = re.compile(r"^(?P<label>\d{1,2}(?:\.\d{1,2}){1,3})\.?\s+(?P<text>\S.*)$")
ARABIC_RE = re.compile(r"^(?P<label>\d{1,2})[.)]\s*(?P<text>\D.*)$")
LETTER_RE = re.compile(r"^(?:[-–]\s*)?(?P<label>[a-zđ])\)\s*(?P<text>\S.*)$")
DASH_RE = re.compile(r"^[-–—‐]\s*(?P<text>\S.*)$")
PLUS_RE = re.compile(r"^\+\s*(?P<text>\S.*)$")
BULLET_RE = re.compile(r"^[•●▪◦∙·➢✓]\s*(?P<text>\S.*)$")

MARKER_STYLES = (
    ("roman", ROMAN_RE),
    ("dieu", DIEU_RE),
    ("multi", MULTI_RE),
    ("arabic", ARABIC_RE),
    ("letter", LETTER_RE),
    ("dash", DASH_RE),
    ("plus", PLUS_RE),
    ("bullet", BULLET_RE),
)


@dataclass
class Marker:
    style: str  # roman, dieu, multi1..multi3, arabic, letter, dash, plus, bullet
    label: str
    text: str


def match_marker(line: str) -> Marker | None:
    for style, rx in MARKER_STYLES:
        m = rx.match(line)
        if not m:
            continue
        label = m.group("label") if "label" in rx.groupindex else ("-" if style == "dash" else "+" if style == "plus" else "•")
        text = m.group("text").strip()
        if style == "arabic" and int(label) > 40:
            continue
        if style == "multi":
            # "1.1." and "7.1.2." are different levels of the same outline.
            depth = label.count(".")
            style = f"multi{depth}"
            label = label + "."
        elif style == "arabic":
            label = label + "."
        elif style == "roman":
            label = label + "."
        elif style == "letter":
            label = label + ")"
        elif style == "dieu":
            label = " ".join(label.split()) + "."
        return Marker(style=style, label=label, text=text)
    return None


# --- inline formatting ----------------------------------------------------------------------

_MD_HEADING_RE = re.compile(r"^\s{0,3}(#{1,6})\s+")
_EMPH_RE = re.compile(r"(\*\*|__)(.+?)\1")
_EMPH1_RE = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
_SPACE_RE = re.compile(r"[ \u00a0\u2000-\u200b\u202f\u3000]+")


@dataclass
class Line:
    text: str
    md_heading: bool = False  # was a Markdown '#' heading
    bold: bool = False  # the whole line was bold: a heading in Markdown exports
    blank_before: bool = False
    is_table: bool = False
    page_break_before: bool = False
    tail: str = ""  # the last physical line joined into this one: what wrap decisions look at


def strip_inline(raw: str) -> tuple[str, bool, bool]:
    """Remove Markdown heading marks and emphasis; report whether the line was a heading/bold."""
    md = False
    m = _MD_HEADING_RE.match(raw)
    if m:
        md = True
        raw = raw[m.end():]
    s = raw.strip()
    bold = bool(s) and (s.startswith("**") and s.rstrip(" :.").endswith("**"))
    s = _EMPH_RE.sub(r"\2", s)
    s = _EMPH1_RE.sub(r"\1", s)
    s = s.replace("**", "")
    return s, md, bold


# --- page furniture -----------------------------------------------------------------------

_PAGE_NUM_RE = re.compile(r"^(?:trang\s+)?[-–]?\s*\d{1,3}\s*[-–]?(?:\s*/\s*\d{1,3})?$", re.IGNORECASE)


def is_page_number(s: str) -> bool:
    return bool(_PAGE_NUM_RE.match(s))


# --- hard-wrap re-joining -------------------------------------------------------------------

_TERMINAL = (".", ";", ":", "!", "?", "…", "./.", ".)", ".”", '."', ";)")
# Words after which a sentence cannot end: a line ending in one was cut mid-sentence.
_DANGLING = {
    "của", "và", "các", "với", "theo", "về", "cho", "trong", "tại", "để", "số", "ngày", "là", "những",
    "được", "có", "đến", "từ", "trên", "dưới", "hoặc", "như", "nhằm", "do", "bằng", "vào", "ra",
    "phòng", "sở", "ban", "trung", "ủy", "uỷ", "bộ", "cơ", "đơn", "nhà", "người", "việc", "công", "hành",
    "thủ", "cải", "thành", "tổ", "cán", "hội", "đội", "kế",
}


def ends_sentence(s: str) -> bool:
    s = s.rstrip()
    return s.endswith(_TERMINAL) or s.endswith(("”", '"', ")")) and len(s) > 1 and s[-2] in ".;:!?"


def _starts_lower(s: str) -> bool:
    for ch in s:
        if ch.isalpha():
            return ch.islower()
        if ch.isdigit():
            return False
        if ch in "(“\"'":
            continue
        return False
    return False


def _last_word(s: str) -> str:
    parts = re.findall(r"\w+", s.lower())
    return parts[-1] if parts else ""


def detect_hard_wrap(lines: list[str]) -> int | None:
    """If the text looks like PDF output wrapped at a fixed width, return that width."""
    lengths = [len(s) for s in lines if len(s) > 3 and "\t" not in s]
    if len(lengths) < 30:
        return None
    unterminated = sum(1 for s in lines if len(s) > 3 and not ends_sentence(s)) / len(lengths)
    lengths.sort()
    p90 = lengths[int(len(lengths) * 0.9)]
    if p90 <= 110 and median(lengths) >= 35 and unterminated >= 0.5:
        return p90
    return None


def should_join(prev: str, nxt: str, wrap_width: int | None, *, prev_marked: bool = False) -> bool:
    """Is ``nxt`` the continuation of ``prev`` (a line broken mid-sentence)?

    ``prev`` is the last physical line of the current logical line; ``prev_marked`` says
    whether that logical line started with a list marker ("1.2.", "-", "a)").
    """
    if not prev or nxt.lower().startswith("nơi nhận"):
        return False
    marker = match_marker(nxt)
    if marker is not None:
        # "- xã hội" after "kinh tế" is a wrapped hyphenated phrase, and "- 2030" after
        # "giai đoạn 2026" a wrapped range, not bullets.
        if marker.style not in ("dash", "plus") or prev.rstrip().endswith(":"):
            return False
        return _starts_lower(marker.text) or (marker.text[:1].isdigit() and not ends_sentence(prev))
    if _starts_lower(nxt):
        return not prev.rstrip().endswith(":")
    full_line = bool(wrap_width) and len(prev) >= wrap_width - 15
    if ends_sentence(prev):
        # In wrapped PDF text a numbered item may end a sentence exactly at a full line and go
        # on; for plain paragraphs that is indistinguishable from a paragraph break, which is
        # the likelier reading.
        return full_line and prev_marked and not prev.rstrip().endswith(":")
    if prev.rstrip().endswith((" -", " –")):
        return True  # "giai đoạn 2026 -" / "2030": a range cut at the line end
    if len(prev) >= 40 and _last_word(prev) in _DANGLING:
        return True
    return full_line
