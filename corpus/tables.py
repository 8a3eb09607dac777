"""Task tables ("Danh mục nhiệm vụ"): one task clause per row with its fields.

They arrive as real Word tables (the reader emits one tab-separated line per row) or as PDF
text flattened to tab-separated rows whose header repeats on every page and whose rows break
across pages. A row that continues after a repeated header is merged back into the row it
belongs to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cchc.corpus.textnorm import fold

_COLUMN_KEYS = (
    # (field, folded keywords that name the column)
    ("number", ("tt", "stt", "so tt")),
    ("responsible", ("chu tri",)),
    ("partners", ("phoi hop",)),
    ("deadline", ("thoi gian", "thoi han", "tien do")),
    ("output", ("san pham", "ket qua")),
    ("task", ("nhiem vu", "noi dung", "ten nhiem vu", "cong viec")),
)
_ROMAN_CELL_RE = re.compile(r"^(?=[IVXL])(?:XL|L?X{0,3})(?:IX|IV|V?I{0,3})\.?$")
_ROMAN_PREFIX_RE = re.compile(r"^(?P<label>(?=[IVXL])(?:XL|L?X{0,3})(?:IX|IV|V?I{0,3}))[.)]\s+(?P<text>\S.*)$")


@dataclass
class TableRow:
    number: str | None
    task: str
    responsible: str | None = None
    partners: str | None = None
    deadline: str | None = None
    output: str | None = None
    section: str | None = None  # the row group heading, e.g. "I. Chỉ đạo điều hành"

    def cells(self) -> list[str]:
        return [self.task, self.responsible or "", self.partners or "", self.deadline or "", self.output or ""]


@dataclass
class ParsedTable:
    rows: list[TableRow] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    # Text the rows do not carry: column-number rows, cells of columns no field maps to
    # ("Ghi chú"), rows without a task, group headings with no row under them. The segmenter
    # files it as boilerplate so that no text of a table silently disappears.
    dropped: list[str] = field(default_factory=list)


def _split(line: str) -> list[str]:
    return [" ".join(c.split()) for c in line.split("\t")]


def header_columns(cells: list[str]) -> dict[str, int] | None:
    """Map field → column index when ``cells`` is a task-table header row."""
    found: dict[str, int] = {}
    for i, cell in enumerate(cells):
        f = fold(cell)
        for name, keys in _COLUMN_KEYS:
            if name in found:
                continue
            if any(f == k or f.startswith(k + " ") or (len(k) > 3 and k in f) for k in keys):
                found[name] = i
                break
    if "task" in found and ("responsible" in found or "deadline" in found):
        return found
    return None


def is_header(line: str) -> bool:
    return header_columns(_split(line)) is not None


def _is_column_numbers(cells: list[str]) -> bool:
    filled = [c for c in cells if c]
    # "1 2 3 …" or "(1) (2) (3) …" under the header: the columns' numbers, not a task.
    return len(filled) >= 3 and all(c.strip("()").isdigit() for c in filled)


def _starts_lower(s: str) -> bool:
    return bool(s) and s[0].isalpha() and s[0].islower()


def parse_table(lines: list[str], page_breaks: set[int] | None = None) -> ParsedTable:
    """Parse tab-separated rows. ``page_breaks`` holds indexes of lines that directly follow a
    repeated header (a page break), where a row cut by the page may continue."""
    table = ParsedTable()
    cols: dict[str, int] | None = None
    section: str | None = None
    section_used = True
    after_header = False

    def set_section(new: str) -> None:
        nonlocal section, section_used
        if not section_used and section:
            table.dropped.append(section)
        section, section_used = new, False
        table.sections.append(new)

    def leftovers(cells: list[str], used: set[int]) -> None:
        rest = [c for i, c in enumerate(cells) if c and i not in used]
        if rest:
            table.dropped.append(" ".join(rest))

    for line in lines:
        cells = _split(line)
        if not any(cells):
            continue
        hdr = header_columns(cells)
        if hdr is not None:
            if cols is None:
                cols = hdr
            after_header = True
            continue
        if cols is None:
            cols = {"number": 0, "task": 1, "responsible": 2, "partners": 3, "deadline": 4, "output": 5}
        if _is_column_numbers(cells):
            table.dropped.append(line)
            continue
        mapped = set(cols.values())

        def get(name: str) -> str:
            i = cols.get(name)
            return cells[i] if i is not None and i < len(cells) else ""

        number, task = get("number"), get("task")
        others = [get("responsible"), get("partners"), get("deadline"), get("output")]
        # Group heading rows: "I. Chỉ đạo điều hành" alone, or "IV | Cải cách tổ chức bộ máy".
        first = cells[0] if cells else ""
        if not any(others):
            m = _ROMAN_PREFIX_RE.match(first)
            if m and not task:
                set_section(f"{m.group('label')}. {m.group('text').strip()}")
                leftovers(cells, {0})
                after_header = False
                continue
            if _ROMAN_CELL_RE.match(number) and task:
                set_section(f"{number.rstrip('.')}. {task}")
                leftovers(cells, {cols["number"], cols["task"]})
                after_header = False
                continue
        continues = (
            after_header
            and not number
            and table.rows
            and (not get("deadline") or _starts_lower(task) or sum(1 for c in others if c) <= 1)
        )
        if continues:
            prev = table.rows[-1]
            prev.task = _join(prev.task, task)
            prev.responsible = _join(prev.responsible, get("responsible")) or None
            prev.partners = _join(prev.partners, get("partners")) or None
            prev.deadline = _join(prev.deadline, get("deadline")) or None
            prev.output = _join(prev.output, get("output")) or None
            leftovers(cells, mapped)
        elif task:
            table.rows.append(
                TableRow(
                    number=number or None,
                    task=task,
                    responsible=get("responsible") or None,
                    partners=get("partners") or None,
                    deadline=get("deadline") or None,
                    output=get("output") or None,
                    section=section,
                )
            )
            section_used = True
            leftovers(cells, mapped)
        else:
            leftovers(cells, set())
        after_header = False
    if not section_used and section:
        table.dropped.append(section)
    return table


def _join(a: str | None, b: str) -> str:
    a = (a or "").strip()
    b = (b or "").strip()
    if not a:
        return b
    if not b:
        return a
    return f"{a} {b}"
