"""Properties of the text pipeline: the cleaner, the segmenter and the target extractor.

What "never lose text" means here, precisely. Both sides are compared on a normalised form:
``canonical`` (NFC, lower case, one tone placement), case-folded, with the Markdown markup
characters ``* # _`` deleted (Markdown renders ``**a**b`` as "ab"), then split into word tokens (``\\w+``); so whitespace,
line breaks, punctuation and Unicode form never matter, word order within a line does.

The segmenter may *move* text but not drop it. Every non-blank input line (every cell of a
tab-separated table row) must reappear, as the same contiguous run of word tokens, in one
of these places:

* a clause: its label followed by its text ("1.1." + "Rà soát …"), or one of its table fields;
* an element of a clause's section path (a heading, with its numbering);
* the plan title (which may get "Kế hoạch" put in front);
* the boilerplate list.

Lines joined by hard-wrap repair are still contiguous runs inside the joined clause. What
the segmenter is allowed to drop from the clauses is therefore exactly what it files under
``boilerplate``: page numbers, repeated task-table headers and column-number rows, headers and
furniture (motto, "Số:", place and date), "Nơi nhận:" lists and signatures, title lines of a
document part that is not the plan, and headings with no clause under them. Only markup and
spacing disappear: ``#`` heading marks, ``**``/``*``/``__`` emphasis, list-marker punctuation,
tabs, blank lines.

For arbitrary text (any Unicode) the property is stated per word: every word token of the
input appears among the output's word tokens.
"""

from __future__ import annotations

import os
import re
import textwrap
import unicodedata
from dataclasses import asdict

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cchc.corpus.models import ParsedPlan, RawDocument
from cchc.corpus.segment import logical_lines, segment
from cchc.corpus.textnorm import canonical, fold, nfc
from cchc.search.targets_extract import COMPARATORS, UNITS, extract_targets

# Bounded and derandomised so the file runs the same examples in well under a minute;
# CCHC_PROPERTY_EXAMPLES=5000 makes a deep, randomised exploration run.
_DEEP = os.environ.get("CCHC_PROPERTY_EXAMPLES")
_N = int(_DEEP or 150)
_COMMON = dict(deadline=None, derandomize=not _DEEP, suppress_health_check=[HealthCheck.too_slow])
PROPS = settings(max_examples=_N, **_COMMON)
FEW = settings(max_examples=max(1, _N // 3), **_COMMON)

# --- normalised comparison -------------------------------------------------------------------

_WORD_RE = re.compile(r"\w+")
_MARKUP = str.maketrans("", "", "*#_")  # deleted, as Markdown renders "**a**b" as "ab"


def tokens(text: str) -> list[str]:
    return _WORD_RE.findall(canonical(text).casefold().translate(_MARKUP))


def output_pieces(plan: ParsedPlan) -> list[str]:
    """Every place a piece of input may legitimately end up (see the module docstring)."""
    out: list[str] = []
    for c in plan.clauses:
        out.append(f"{c.label or ''} {c.text}")
        out.extend(c.path)
        out.extend(x for x in (c.responsible, c.partners, c.deadline, c.output) if x)
    if plan.meta.title:
        out.append(plan.meta.title)
    out.extend(plan.boilerplate)
    return out


def input_units(text: str) -> list[str]:
    """The pieces of input that must each survive whole: lines, and the cells of table rows."""
    units = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n").split("\n"):
        units.extend(line.split("\t") if line.count("\t") >= 2 else [line])
    return [u for u in units if tokens(u)]


def lost_units(text: str, plan: ParsedPlan) -> list[str]:
    haystack = {f" {' '.join(tokens(p))} " for p in output_pieces(plan)}
    lost = []
    for unit in input_units(text):
        needle = f" {' '.join(tokens(unit))} "
        if not any(needle in h for h in haystack):
            lost.append(unit)
    return lost


def lost_words(text: str, plan: ParsedPlan) -> set[str]:
    seen = {w for p in output_pieces(plan) for w in tokens(p)}
    return {w for w in tokens(text) if w not in seen}


def seg(text: str, name: str = "p.txt") -> ParsedPlan:
    # Area prediction is a classifier over finished clauses; it moves no text and would only
    # slow the properties down (it is exercised by the determinism property below).
    return segment(RawDocument(name, text, "txt", "h"), predict_areas=False)


# --- realistic plan text ----------------------------------------------------------------------

_WORDS = (
    "cải cách hành chính thủ tục nâng cao chất lượng hiệu quả công tác chỉ đạo điều hành "
    "ủy ban nhân dân xã phường tỉnh kế hoạch nhiệm vụ giải pháp mục đích yêu cầu chỉ tiêu "
    "thể chế tổ chức bộ máy chế độ công vụ tài chính công chính quyền điện tử số chuyển đổi "
    "người dân doanh nghiệp hồ sơ trực tuyến toàn trình dịch vụ kiểm soát rà soát văn bản "
    "quy phạm pháp luật đào tạo bồi dưỡng cán bộ công chức viên chức kinh phí thực hiện "
    "trách nhiệm phòng văn hóa xã hội kinh tế hạ tầng đô thị hoá thuỷ lợi khỏe ứng dụng "
    "năm giai đoạn đạt trên dưới tối thiểu ít nhất hài lòng đúng hạn trước thanh toán"
).split()
_CAPS_WORDS = [w.upper() for w in _WORDS]
_MARKERS = [
    "I.", "II.", "III.", "IV.", "V.", "VI.", "1.", "2.", "3.", "12.", "1.1.", "2.3.", "7.1.2.", "1.2",
    "a)", "b)", "đ)", "- a)", "-", "–", "+", "•", "Điều 1.", "Điều 2:", "1)",
]
_FURNITURE = [
    "ỦY BAN NHÂN DÂN", "UBND XÃ HẢI HẬU", "XÃ ĐỊNH HƯNG", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc", "Số: 12/KH-UBND", "Số: /KH-UBND", "Hải Hậu, ngày 05 tháng 01 năm 2026",
    "(Kèm theo Quyết định số 692/QĐ-UBND ngày 31/7/2025)", "KẾ HOẠCH", "QUYẾT ĐỊNH", "Quyết định:",
    "TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH", "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH", "Nguyễn Văn An", "Trần Thị Bình",
    "Nơi nhận:", "Nơi nhận :", "- Như trên;", "- Lưu: VT.", "Căn cứ Luật Tổ chức chính quyền địa phương;",
    "Thực hiện Kế hoạch số 148/KH-UBND ngày 3/12/2025 của UBND tỉnh Ninh Bình;",
    "DANH MỤC NHIỆM VỤ", "PHỤ LỤC", "6 THÁNG CUỐI NĂM 2025", "Trên đây là Kế hoạch cải cách hành chính.",
]
_PAGE_NUMBERS = ["1", "12", "- 3 -", "– 14 –", "Trang 4", "trang 7", "5/12", "100"]
_TABLE_HEADERS = [
    "TT\tNội dung nhiệm vụ\tChủ trì\tPhối hợp\tThời gian hoàn thành\tSản phẩm",
    "STT\tNhiệm vụ\tCơ quan chủ trì\tThời hạn",
    "TT\tNội dung\tChủ trì\tPhối hợp\tTiến độ\tKết quả\tGhi chú",
]
_COLUMN_NUMBERS = ["1\t2\t3\t4\t5\t6", "(1)\t(2)\t(3)\t(4)"]

words = st.sampled_from(_WORDS)
sentence = st.lists(words, min_size=1, max_size=14).map(" ".join)
caps_sentence = st.lists(st.sampled_from(_CAPS_WORDS), min_size=1, max_size=8).map(" ".join)
number_phrase = st.builds(
    lambda pre, n, unit, tail: f"{pre}{n}{unit} {tail}",
    st.sampled_from(["", "đạt ", "trên ", "tối thiểu ", "từ ", "Phấn đấu ", "năm 2026 đạt "]),
    st.sampled_from(["100", "95", "99,5", "01", "1.000", "2026", "12"]),
    st.sampled_from(["%", " %", " cuộc", " sáng kiến", " lần", " ngày", ""]),
    sentence,
)
control = st.sampled_from(["\x00", "\x07", "\x0b", "\x1b", "\x1f", "\x7f", "\x85", "\u200b", "\ufeff", "\u2028"])


@st.composite
def content_line(draw) -> str:
    body = draw(st.one_of(sentence, number_phrase))
    style = draw(st.sampled_from(["plain", "cap", "end", "colon", "caps"]))
    if style == "cap":
        body = body[:1].upper() + body[1:]
    elif style == "end":
        body = body[:1].upper() + body[1:] + draw(st.sampled_from([".", ";", "./."]))
    elif style == "colon":
        body += ":"
    elif style == "caps":
        body = draw(caps_sentence)
    return body


@st.composite
def plan_line(draw) -> str:
    kind = draw(st.sampled_from(
        ["text", "text", "marked", "marked", "marked", "blank", "page", "furniture", "table", "md", "noise"]
    ))
    if kind == "text":
        line = draw(content_line())
    elif kind == "marked":
        line = f"{draw(st.sampled_from(_MARKERS))}{draw(st.sampled_from([' ', '', '  ', chr(9)]))}{draw(content_line())}"
    elif kind == "blank":
        line = draw(st.sampled_from(["", " ", "\t", "   "]))
    elif kind == "page":
        line = draw(st.sampled_from(_PAGE_NUMBERS))
    elif kind == "furniture":
        line = draw(st.sampled_from(_FURNITURE))
    elif kind == "table":
        row = st.lists(st.one_of(st.just(""), sentence, st.sampled_from(["1", "2.", "I", "II.", "Quý III/2025"])),
                       min_size=3, max_size=8).map("\t".join)
        line = draw(st.one_of(st.sampled_from(_TABLE_HEADERS), st.sampled_from(_COLUMN_NUMBERS), row))
    elif kind == "md":
        line = draw(st.sampled_from(["# ", "## ", "#### ", "**", ""])) + draw(content_line())
        if line.startswith("**"):
            line += "**"
    else:  # a content line with control characters or a stray tab in it
        text = draw(content_line())
        pos = draw(st.integers(0, len(text)))
        line = text[:pos] + draw(control | st.just("\t")) + text[pos:]
    if draw(st.integers(0, 9)) == 0:
        line = draw(st.sampled_from(["  ", "\t", " "])) + line  # indentation
    return line


def _wrapped_lines(rng) -> list[str]:
    """A document as PDF text extraction gives it: paragraphs and list items hard-wrapped at
    one width, with page numbers (and blank lines) between some lines. Built from a seeded
    ``random.Random`` because drawing thousands of words one by one would exhaust Hypothesis's
    example budget."""
    width = rng.randint(50, 95)
    lines: list[str] = []
    wanted = rng.randint(30, 80)  # below ~30 lines the cleaner looks for no wrap width at all
    while len(lines) < wanted:
        marker = rng.choice(["", "", "", "- ", "+ ", "1. ", "2.1. ", "a) ", "II. "])
        body = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 70)))
        body = body[:1].upper() + body[1:] + rng.choice([".", ";", ":", ""])
        block = textwrap.wrap(marker + body, width=width)
        if len(block) > 1 and rng.random() < 0.3:
            block.insert(rng.randint(1, len(block) - 1), rng.choice(_PAGE_NUMBERS + [""]))
        lines.extend(block)
        if rng.random() < 0.2:
            lines.append("")
    return lines


@st.composite
def plan_text(draw) -> str:
    if draw(st.integers(0, 3)) == 0:
        lines = _wrapped_lines(draw(st.randoms(use_true_random=False)))
        # … with a few realistic odd lines mixed in
        for line in draw(st.lists(plan_line(), max_size=5)):
            lines.insert(draw(st.integers(0, len(lines))), line)
    else:
        lines = draw(st.lists(plan_line(), min_size=1, max_size=60))
    text = draw(st.sampled_from(["\n", "\r\n", "\n\n"])).join(lines)
    if draw(st.booleans()):
        text = unicodedata.normalize("NFD", text)
    return text


# Structures the segmenter must keep, written out so that they always run.
_KNOWN_DOCS = [
    "KẾ HOẠCH\nCải cách hành chính năm 2026\nI. MỤC ĐÍCH\nII. NHIỆM VỤ\nIII. KINH PHÍ",
    "DANH MỤC NHIỆM VỤ\nPHỤ LỤC\nNơi nhận:\n- Như trên;",
    "QUYẾT ĐỊNH\nVề việc ban hành Kế hoạch cải cách hành chính\nKẾ HOẠCH\nCải cách hành chính xã Thử",
    "TT\tNội dung\tChủ trì\tPhối hợp\tTiến độ\tKết quả\tGhi chú\n1\t2\t3\t4\t5\t6\t7\n"
    "1\tRà soát văn bản\tVăn phòng\t\tQuý I\tBáo cáo\tghi chú riêng\n\t\tPhòng Kinh tế\t\t\t\t\nII\tChỉ đạo điều hành",
    "I. " + "RẤT DÀI " * 30 + "\n- nội dung",
]


# --- the cleaner ------------------------------------------------------------------------------


@PROPS
@given(st.text())
@example("\x00\x1c\x1d\x1e\x85\u2028\u2029\f\v\r")
@example("**a**b**\n# \n##\n*")
def test_logical_lines_never_raise_and_keep_every_word(text):
    lines, dropped = logical_lines(text)
    kept = [ln.text if hasattr(ln, "text") else "\n".join(ln.lines) for ln in lines] + dropped
    seen = {w for piece in kept for w in tokens(piece)}
    assert {w for w in tokens(text) if w not in seen} == set()


@PROPS
@given(plan_text())
def test_logical_lines_keep_every_line_on_plan_text(text):
    lines, dropped = logical_lines(text)
    pieces = [ln.text if hasattr(ln, "text") else "\n".join(ln.lines) for ln in lines] + dropped
    haystack = [f" {' '.join(tokens(p))} " for p in pieces]
    for unit in input_units(text):
        needle = f" {' '.join(tokens(unit))} "
        assert any(needle in h for h in haystack), unit


# --- the segmenter ----------------------------------------------------------------------------


@PROPS
@given(st.text())
@example("I.\nII. x\n1.\nĐiều 1.\nKẾ HOẠCH\n\t\t\n")
def test_segment_never_raises_and_loses_no_word_on_arbitrary_text(text):
    plan = seg(text)
    assert lost_words(text, plan) == set()
    for c in plan.clauses:
        assert isinstance(c.text, str) and isinstance(c.path, list)


@PROPS
@given(plan_text())
def test_segment_loses_no_line_of_a_plan(text):
    plan = seg(text)
    assert lost_units(text, plan) == []


def test_segment_loses_nothing_in_known_tricky_documents():
    for text in _KNOWN_DOCS:
        assert lost_units(text, seg(text)) == [], text


@PROPS
@given(plan_text())
def test_page_numbers_and_table_furniture_go_to_boilerplate(text):
    """What the segmenter drops from the clauses is filed, verbatim, as boilerplate."""
    plan = seg(text)
    for line in text.replace("\r", "").split("\n"):
        if " ".join(line.split()) in _PAGE_NUMBERS:
            assert " ".join(line.split()) in plan.boilerplate, line
        if line in _TABLE_HEADERS or line in _COLUMN_NUMBERS:
            assert line in plan.boilerplate, line


def _plan_fields(plan: ParsedPlan) -> dict:
    return asdict(plan)


@FEW
@given(plan_text())
def test_segmenting_is_deterministic(text):
    doc = RawDocument("p.txt", text, "txt", "h")
    first, second = segment(doc), segment(doc)
    assert _plan_fields(first) == _plan_fields(second)


@PROPS
@given(plan_text())
def test_resegmenting_the_clause_texts_does_not_crash(text):
    plan = seg(text)
    again = seg("\n".join(c.text for c in plan.clauses))
    # The clauses of a plan are text too: nothing of them may be lost the second time.
    assert lost_words("\n".join(c.text for c in plan.clauses), again) == set()


@PROPS
@given(plan_text())
def test_nfd_input_segments_like_nfc(text):
    nfc_plan = seg(unicodedata.normalize("NFC", text))
    nfd_plan = seg(unicodedata.normalize("NFD", text))
    assert [(c.text, c.path, c.label) for c in nfd_plan.clauses] == [(c.text, c.path, c.label) for c in nfc_plan.clauses]
    assert nfd_plan.boilerplate == nfc_plan.boilerplate


# --- normalisation ----------------------------------------------------------------------------

vietnamese_text = st.lists(
    st.one_of(words, st.sampled_from(_CAPS_WORDS), st.sampled_from(["hoá", "hóa", "thuỷ", "thủy", "khoẻ", "QUÝ", "ĐỊNH"]),
              st.text(alphabet="aăâeêioôơuưyđ\u0300\u0301\u0303\u0309\u0323 ", max_size=6)),
    max_size=20,
).map(" ".join)


@PROPS
@given(st.one_of(st.text(), vietnamese_text))
def test_normalisation_is_idempotent(text):
    assert nfc(nfc(text)) == nfc(text)
    assert canonical(canonical(text)) == canonical(text)
    assert fold(fold(text)) == fold(text)
    # Unicode form never matters to any of them.
    nfd = unicodedata.normalize("NFD", text)
    assert canonical(nfd) == canonical(text)
    assert fold(nfd) == fold(text)


@PROPS
@given(vietnamese_text)
def test_canonical_and_fold_keep_words(text):
    # Neither merges nor splits words, so word-level comparisons can be made on either form.
    assert len(canonical(text).split()) == len(nfc(text).split())
    # fold drops every combining mark, so a "word" made of marks alone is gone; nothing else.
    letters = [w for w in nfc(text).split() if not all(unicodedata.combining(ch) for ch in w)]
    assert len(fold(text).split()) == len(letters)


# --- target extraction ------------------------------------------------------------------------


def _check_mentions(text: str, mentions) -> None:
    for m in mentions:
        assert 0 <= m.span[0] <= m.span[1] <= len(text)
        assert m.raw == text[m.span[0]:m.span[1]]
        assert m.unit in UNITS and m.comparator in COMPARATORS
        assert m.value == m.value and abs(m.value) != float("inf")


@PROPS
@given(plan_text())
def test_targets_from_every_clause_of_a_plan(text):
    plan = seg(text)
    for c in plan.clauses:
        context = c.path[-1] if c.path else None
        _check_mentions(c.text, extract_targets(c.text, context_period=context))


@PROPS
@given(st.lists(st.one_of(number_phrase, sentence, control), min_size=1, max_size=8).map(" ".join))
def test_targets_do_not_depend_on_unicode_form(text):
    nfc_text = unicodedata.normalize("NFC", text)
    nfd_text = unicodedata.normalize("NFD", text)
    a, b = extract_targets(nfc_text), extract_targets(nfd_text)
    _check_mentions(nfc_text, a)
    _check_mentions(nfd_text, b)
    assert [(m.value, m.unit, m.comparator, m.indicator) for m in a] == [
        (m.value, m.unit, m.comparator, m.indicator) for m in b
    ]
    assert [nfc(m.raw) for m in a] == [nfc(m.raw) for m in b]


@PROPS
@given(st.text())
def test_targets_never_raise_on_arbitrary_text_with_a_context(text):
    _check_mentions(text, extract_targets(text, context_period=text[:40] or None))
