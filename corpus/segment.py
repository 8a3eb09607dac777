"""``segment``: cut a plan into clauses, each with its place in the outline, kind and area.

The walk over logical lines is a small state machine:

* **front** – header furniture (national motto, "Số:", place and date), the title after
  "KẾ HOẠCH"/"QUYẾT ĐỊNH", and the preamble ("Căn cứ …", "Thực hiện …");
* **body** – the numbered outline; a stack of open headings gives each clause its breadcrumb.
  A new marker closes every deeper heading and the previous one of its own style, so plans that
  skip numbers (III → V) or restart them still produce a sound tree;
* **boiler** – "Nơi nhận:" lists and signature blocks, kept apart from the clauses.

A wrapping Quyết định is handled as its own part: its articles ("Điều 1.") are clauses under
"Quyết định", and the plan it carries starts again at "KẾ HOẠCH".

No text is dropped: whatever is neither a clause, nor a heading on some clause's path, nor the
title goes to ``boilerplate`` (furniture, signatures, page numbers, repeated table headers,
headings with nothing under them, the other part's title). tests/test_properties.py states
this precisely and checks it on generated plans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cchc.corpus import areas as area_model
from cchc.corpus.cleaning import (
    Line,
    detect_hard_wrap,
    is_page_number,
    match_marker,
    should_join,
    strip_inline,
)
from cchc.corpus.metadata import extract_metadata
from cchc.corpus.models import Clause, ParsedPlan, RawDocument
from cchc.corpus.tables import is_header as is_table_header
from cchc.corpus.tables import parse_table
from cchc.corpus.textnorm import canonical, nfc

PREAMBLE_SECTION = "Phần mở đầu"
DECISION_SECTION = "Quyết định"
DEFAULT_ANNEX = "Phụ lục: Danh mục nhiệm vụ"

BULLET_STYLES = {"dash", "plus", "bullet"}
MAX_HEADING_WORDS = 20

_ACRONYMS = {
    "cchc", "tthc", "ubnd", "hđnd", "qppl", "vbqppl", "iso", "tcvn", "mttq", "sipas", "par", "index",
    "cntt", "cđs", "cds", "ttđt", "ai", "đmst", "dvc", "pci", "ddci", "kh", "cn", "ktxh", "ubmttq",
}

# --- furniture ---------------------------------------------------------------------------

_FURNITURE_RES = [
    re.compile(r"^(ủy|uỷ) ban nhân dân\b.*$"),
    re.compile(r"^ubnd\b"),
    re.compile(r"cộng hòa xã hội chủ nghĩa việt nam"),
    re.compile(r"độc lập\s*[-–]\s*tự do"),
    re.compile(r"^số\s*:"),
    re.compile(r"^[^,]{2,40},\s*ngày\s+[\d\s/.]*(tháng|/)"),
    re.compile(r"^\(?kèm theo\b"),
]
_SIGNATURE_RE = re.compile(r"^(t\.?m\.?|kt\.?|q\.|tl\.|tuq\.)\s*[a-zđ ]*|^(phó )?(chủ tịch|trưởng ban|giám đốc)$")
_NAME_RE = re.compile(r"^(?:[A-ZĐ][a-zà-ỹđ]*\s){1,4}[A-ZĐ][a-zà-ỹđ]*$")
_PREAMBLE_START = ("căn cứ", "thực hiện", "theo đề nghị", "xét đề nghị")


def _is_caps(s: str) -> bool:
    letters = [c for c in s if c.isalpha()]
    return len(letters) >= 3 and all(c.isupper() for c in letters)


def _is_furniture(s: str) -> bool:
    c = canonical(s)
    if _is_caps(s) and (c.startswith(("ủy ban", "uỷ ban", "ubnd")) or c.split()[0] in ("xã", "phường", "huyện", "tỉnh", "thành", "thị", "quận")):
        return True
    if _is_caps(s) and c.startswith(("chủ tịch ủy ban", "chủ tịch uỷ ban")):
        return True
    return any(rx.search(c) for rx in _FURNITURE_RES[2:]) or (
        _is_caps(s) and any(rx.search(c) for rx in _FURNITURE_RES[:2])
    )


def _is_signature(s: str) -> bool:
    return _is_caps(s) and bool(_SIGNATURE_RE.match(canonical(s)))


def _title_marker(s: str) -> str | None:
    c = canonical(s).strip(" :.")
    if _is_caps(s) and c in ("kế hoạch", "quyết định"):
        return c
    return None


def sentence_case(text: str) -> str:
    """ALL-CAPS headings read better in sentence case; known acronyms stay upper case."""
    if not _is_caps(text):
        return text
    out = []
    for i, w in enumerate(text.split()):
        core = w.strip(",.;:()").lower()
        if core in _ACRONYMS or re.fullmatch(r"[ivxl]+\.?", core) and i == 0:
            out.append(w)
        else:
            lw = w.lower()
            out.append(lw[:1].upper() + lw[1:] if i == 0 else lw)
    return " ".join(out)


def heading_label(label: str | None, text: str) -> str:
    # Never shortened: a heading-only line lives on only in the paths below it, so cutting
    # it here would lose its tail for good (displays may ellipsize a long breadcrumb).
    text = sentence_case(text.strip().rstrip(":").strip())
    return f"{label} {text}" if label and label not in ("-", "+", "•") else text


# --- logical lines -------------------------------------------------------------------------


@dataclass
class _Table:
    lines: list[str]


def logical_lines(text: str) -> tuple[list[Line | _Table], list[str]]:
    """Clean raw text into logical lines (and table blocks); also return dropped furniture."""
    dropped: list[str] = []
    raw = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n").split("\n")
    cleaned: list[tuple[str, bool, bool, bool]] = []  # text, md, bold, is_table
    for r in raw:
        if "\t" in r and r.count("\t") >= 2:
            cleaned.append((r.strip("\n"), False, False, True))
            continue
        s, md, bold = strip_inline(r)
        s = " ".join(s.split())
        if not s:
            cleaned.append(("", False, False, False))
            continue
        if is_page_number(s):
            dropped.append(s)
            continue
        cleaned.append((s, md, bold, False))

    wrap = detect_hard_wrap([c[0] for c in cleaned if c[0] and not c[3]])
    # In wrapped text whose lines mostly follow each other directly, a blank line is a
    # paragraph break (PDF layout extraction); where every line is followed by a blank one it
    # carries no information.
    nonblank = [i for i, c in enumerate(cleaned) if c[0]]
    adjacent = sum(1 for i in nonblank if i + 1 < len(cleaned) and cleaned[i + 1][0])
    blank_breaks = bool(wrap) and nonblank and adjacent / len(nonblank) >= 0.3
    out: list[Line | _Table] = []
    blank = False
    for s, md, bold, is_table in cleaned:
        if is_table:
            if out and isinstance(out[-1], _Table):
                out[-1].lines.append(s)
            else:
                out.append(_Table([s]))
            blank = False
            continue
        if not s:
            blank = True
            continue
        prev = out[-1] if out else None
        if blank_breaks:
            joins = isinstance(prev, Line) and (
                (not blank and (match_marker(s) is None or should_join(prev.tail, s, wrap)))
                or (blank and should_join(prev.tail, s, None))
            )
        else:
            joins = isinstance(prev, Line) and should_join(
                prev.tail, s, wrap, prev_marked=match_marker(prev.text) is not None
            )
        if joins and isinstance(prev, Line) and not prev.md_heading and not md:
            prev.text = f"{prev.text} {s}"
            prev.tail = s
        else:
            out.append(Line(text=s, md_heading=md, bold=bold, blank_before=blank, tail=s))
        blank = False
    for ln in out:
        if isinstance(ln, Line) and "*" in ln.text:
            # Emphasis that spanned a wrapped line only closes once the lines are joined.
            ln.text, _md, _bold = strip_inline(ln.text)
    return out, dropped


# --- outline -------------------------------------------------------------------------------


@dataclass
class _Node:
    style: str
    label: str | None
    text: str
    parent: int | None
    item: int | None = None  # index into items when the node is also a clause candidate
    children: int = 0


@dataclass
class _Item:
    text: str
    label: str | None
    style: str
    parent: int | None  # node index
    node: int | None = None
    fixed_path: list[str] | None = None
    fixed_kind: str | None = None
    table: dict | None = None


@dataclass
class _Outline:
    nodes: list[_Node] = field(default_factory=list)
    items: list[_Item] = field(default_factory=list)
    stack: list[int] = field(default_factory=list)
    used: set[int] = field(default_factory=set)  # nodes some clause's path goes through

    def use(self, node: int | None) -> None:
        while node is not None and node not in self.used:
            self.used.add(node)
            node = self.nodes[node].parent

    def reset(self) -> None:
        self.stack = []

    def push_heading(self, style: str, label: str | None, text: str) -> int:
        parent = self.stack[-1] if self.stack else None
        self.nodes.append(_Node(style, label, text, parent))
        idx = len(self.nodes) - 1
        if parent is not None:
            self.nodes[parent].children += 1
        self.stack.append(idx)
        return idx

    def add_marked(self, style: str, label: str, text: str) -> None:
        # Close the previous sibling of the same style and everything below it.
        for pos in range(len(self.stack) - 1, -1, -1):
            if self.nodes[self.stack[pos]].style == style:
                del self.stack[pos:]
                break
        node = self.push_heading(style, label, text)
        self.items.append(_Item(text=text, label=label, style=style, parent=self.nodes[node].parent, node=node))
        self.nodes[node].item = len(self.items) - 1

    def add_paragraph(self, text: str, *, top: bool = False) -> None:
        # A plain paragraph belongs to the heading above, not to a preceding bullet item.
        while self.stack and self.nodes[self.stack[-1]].style in BULLET_STYLES:
            self.stack.pop()
        if top:
            del self.stack[1:]
        parent = self.stack[-1] if self.stack else None
        if parent is not None:
            self.nodes[parent].children += 1
        self.items.append(_Item(text=text, label=None, style="para", parent=parent))

    def path(self, node: int | None) -> list[str]:
        out = []
        while node is not None:
            n = self.nodes[node]
            out.append(heading_label(n.label, n.text))
            node = n.parent
        return out[::-1]


def _is_heading_only(outline: _Outline, item: _Item) -> bool:
    node = outline.nodes[item.node] if item.node is not None else None
    if node is None:
        return False
    if item.style == "roman":
        return True
    return node.children > 0 and len(item.text.split()) <= MAX_HEADING_WORDS


# --- segment -------------------------------------------------------------------------------


def segment(doc: RawDocument, *, predict_areas: bool = True) -> ParsedPlan:
    """Cut ``doc`` into clauses with breadcrumb, kind and reform area, plus plan metadata."""
    lines, dropped = logical_lines(nfc(doc.text))
    outline = _Outline()
    boiler: list[str] = list(dropped)
    titles: list[list[str]] = []
    title_kinds: list[str] = []
    state = "front"
    expect_name = False
    annex: str | None = None
    annex_node: int | None = None

    for ln in lines:
        if isinstance(ln, _Table):
            if _add_table(outline, ln.lines, annex or DEFAULT_ANNEX, boiler) and annex_node is not None:
                outline.use(annex_node)
            state = "body"
            continue
        s = ln.text
        c = canonical(s)
        if c.startswith("nơi nhận"):
            state = "boiler"
            boiler.append(s)
            continue
        marker_title = _title_marker(s)
        if state == "boiler":
            if marker_title:
                state = "title"
                titles.append([])
                title_kinds.append(marker_title)
                boiler.append(s)
                continue
            m = match_marker(s)
            if not ((m and m.style == "roman") or (_is_caps(s) and c.startswith(("danh mục", "phụ lục")))):
                boiler.append(s)
                continue
            state = "body"
        if _is_signature(s):
            boiler.append(s)
            expect_name = True
            continue
        if expect_name and _NAME_RE.match(s):
            boiler.append(s)
            expect_name = False
            continue
        expect_name = False
        if marker_title and not s.rstrip().endswith(":"):
            state = "title"
            titles.append([])
            title_kinds.append(marker_title)
            boiler.append(s)
            continue
        if _is_furniture(s):
            boiler.append(s)
            if state == "title":
                state = "front"
            continue
        if state == "title":
            if (
                not c.startswith(_PREAMBLE_START)
                and match_marker(s) is None
                and len(titles[-1]) < 3
                and len(s) < 250
            ):
                titles[-1].append(s)
                continue
            state = "front"
        if canonical(s).strip() in ("quyết định:", "quyết định :"):
            state = "body"
            outline.reset()
            outline.push_heading("decision", None, DECISION_SECTION)
            boiler.append(s)
            continue
        marker = match_marker(s)
        if state == "front" and marker is None:
            outline.items.append(_Item(text=s, label=None, style="para", parent=None, fixed_path=[PREAMBLE_SECTION], fixed_kind="other"))
            continue
        if state == "front":
            state = "body"
            outline.reset()
        if marker is None and _is_caps(s) and c.startswith(("danh mục", "phụ lục")):
            annex = sentence_case(s)
            outline.reset()
            annex_node = outline.push_heading("annex", None, annex)
            continue
        if marker is None and annex and _is_caps(s) and outline.stack and outline.nodes[outline.stack[-1]].style == "annex":
            # An annex title wrapped onto a second caps line ("6 THÁNG CUỐI NĂM 2025").
            node = outline.nodes[outline.stack[-1]]
            node.text = f"{node.text} {s.lower()}"
            annex = node.text
            continue
        if marker is None:
            outline.add_paragraph(s, top=_is_closing(c) or (s.startswith("(") and s.rstrip(". ").endswith(")")))
            continue
        if marker.style == "roman":
            outline.reset()
        outline.add_marked(marker.style, marker.label, marker.text)

    clauses = _build_clauses(outline, boiler)
    title, unpicked = _pick_title(titles, title_kinds)
    # The title lines of the other document part (a wrapping Quyết định's "Về việc ban hành …")
    # name no clause and are not the plan's title: boilerplate, so they are not lost.
    boiler.extend(unpicked)
    meta = extract_metadata(nfc(doc.text), title=title, preamble=[cl.text for cl in clauses if cl.path == [PREAMBLE_SECTION]])
    if predict_areas:
        area_model.assign_predicted_areas(clauses)
    return ParsedPlan(
        source=doc.source,
        format=doc.format,
        content_hash=doc.content_hash,
        meta=meta,
        clauses=clauses,
        boilerplate=boiler,
        notes=list(doc.notes),
    )


def _is_closing(c: str) -> bool:
    """The closing paragraph ("Trên đây là Kế hoạch …") speaks for the whole section."""
    return c.startswith(("trên đây", "yêu cầu", "trong quá trình")) or "yêu cầu các" in c[:80]


def _pick_title(titles: list[list[str]], kinds: list[str]) -> tuple[str | None, list[str]]:
    """(the plan's title, the lines of the titles not chosen)."""
    pairs = [(k, " ".join(t)) for k, t in zip(kinds, titles) if t]
    chosen = next((i for i, (kind, _) in enumerate(pairs) if kind == "kế hoạch"), 0 if pairs else None)
    if chosen is None:
        return None, []
    kind, text = pairs[chosen]
    if kind == "kế hoạch" and not text.lower().startswith("kế hoạch"):
        text = f"Kế hoạch {text[:1].lower()}{text[1:]}"
    return text, [t for i, (_, t) in enumerate(pairs) if i != chosen]


def _add_table(outline: _Outline, lines: list[str], annex: str, boiler: list[str]) -> int:
    """Add the rows of a task table as clauses; returns how many."""
    table = parse_table(lines)
    boiler.extend(line for line in lines if is_table_header(line))
    boiler.extend(table.dropped)
    for row in table.rows:
        path = [annex] + ([heading_label(None, row.section)] if row.section else [])
        outline.items.append(
            _Item(
                text=row.task,
                label=f"{row.number}." if row.number else None,
                style="row",
                parent=None,
                fixed_path=path,
                fixed_kind="task",
                table={
                    "responsible": row.responsible,
                    "partners": row.partners,
                    "deadline": row.deadline,
                    "output": row.output,
                },
            )
        )
    return len(table.rows)


def _build_clauses(outline: _Outline, boiler: list[str]) -> list[Clause]:
    clauses: list[Clause] = []
    for item in outline.items:
        if _is_heading_only(outline, item):
            continue
        if item.fixed_path is not None:
            path = item.fixed_path
        else:
            path = outline.path(item.parent)
            outline.use(item.parent)
        if item.node is not None:
            outline.use(item.node)
        kind = item.fixed_kind or area_model.kind_from_path(path)
        area = area_model.area_from_path(path)
        cl = Clause(
            position=len(clauses),
            text=item.text,
            path=path,
            kind=kind,
            area=area,
            area_source="heading" if area else None,
            label=item.label,
        )
        if item.table:
            cl.responsible = item.table["responsible"]
            cl.partners = item.table["partners"]
            cl.deadline = item.table["deadline"]
            cl.output = item.table["output"]
        clauses.append(cl)
    # A heading nothing was filed under ("III. KINH PHÍ" straight before "IV.", an annex title
    # with no table) appears in no path: keep its text as boilerplate rather than lose it.
    for i, node in enumerate(outline.nodes):
        if i not in outline.used and node.style != "decision":
            boiler.append(f"{node.label} {node.text}" if node.label else node.text)
    return clauses
