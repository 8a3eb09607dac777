"""Write a plan's text as a real .docx or .pdf, so tests can check that every format of the
same plan reads (and segments) the same. Helpers only; no tests here."""

from __future__ import annotations

from pathlib import Path

import matplotlib

FONT = Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans.ttf"


def _groups(text: str):
    """Yield ("p", line) for each non-blank line and ("table", rows) for each run of
    consecutive lines that contain a tab."""
    table: list[list[str]] = []
    for line in text.splitlines():
        if "\t" in line:
            table.append(line.split("\t"))
            continue
        if table:
            yield "table", table
            table = []
        if line.strip():
            yield "p", line
    if table:
        yield "table", table


def _rectangular(rows: list[list[str]]) -> list[list[str]]:
    width = max(len(r) for r in rows)
    return [r + [""] * (width - len(r)) for r in rows]


def write_docx(text: str, path) -> Path:
    """Each non-blank line a paragraph; consecutive tab-separated lines one Word table."""
    import docx

    document = docx.Document()
    for kind, value in _groups(text):
        if kind == "p":
            document.add_paragraph(value)
            continue
        rows = _rectangular(value)
        table = document.add_table(rows=len(rows), cols=len(rows[0]))
        table.style = "Table Grid"
        for row, cells in zip(table.rows, rows):
            for cell, cell_text in zip(row.cells, cells):
                cell.text = cell_text
    path = Path(path)
    document.save(path)
    return path


def write_pdf(text: str, path, *, tables: str = "grid") -> Path:
    """Write ``text`` on A4 pages in DejaVu Sans: long lines wrap and pages break the way a
    word processor's PDF export does.

    ``tables="grid"`` draws tab-separated lines as a real table (what a plan's PDF looks
    like; text extraction then interleaves wrapped cells); ``tables="lines"`` writes each such
    line as text with its cells separated by spaces.
    """
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.set_font("DejaVu", size=11)
    pdf.add_page()
    for kind, value in _groups(text):
        if kind == "p":
            pdf.multi_cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        elif tables == "lines":
            for cells in value:
                pdf.multi_cell(0, 6, "   ".join(c for c in cells if c), new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.set_font("DejaVu", size=8)
            with pdf.table(first_row_as_headings=False) as grid:
                for cells in _rectangular(value):
                    row = grid.row()
                    for cell in cells:
                        row.cell(cell)
            pdf.set_font("DejaVu", size=11)
    path = Path(path)
    pdf.output(str(path))
    return path
