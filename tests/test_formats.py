"""The same plan saved as .docx and as .pdf yields the same clauses as its text version.

The documents are generated here (python-docx; fpdf2 with the DejaVu font matplotlib ships),
so the PDF path goes through real hard-wrapping, page breaks and pypdf extraction.
"""

from __future__ import annotations

import pytest

from cchc.corpus.bundled import sample_paths
from cchc.corpus.reader import read_document
from cchc.corpus.segment import segment
from tests.docgen import write_docx, write_pdf


def _sample(key):
    (path,) = [p for p in sample_paths() if key in p.name]
    return path


def _clauses(plan):
    return [(c.section, c.kind, c.area, c.text, c.responsible, c.partners, c.deadline, c.output) for c in plan.clauses]


@pytest.mark.parametrize("key", ["hai-hau", "dinh-hung", "ha-dong", "bac-hong-linh", "gia-phuc"])
def test_docx_gives_the_same_clauses(tmp_path, key):
    src = _sample(key)
    text_plan = segment(read_document(src))
    out = tmp_path / (src.stem + ".docx")
    write_docx(read_document(src).text, out)
    docx_plan = segment(read_document(out))
    assert _clauses(docx_plan) == _clauses(text_plan)
    assert docx_plan.meta.unit == text_plan.meta.unit
    assert docx_plan.meta.province == text_plan.meta.province


# PDFs of the plain-text plans. (The Markdown sample would print its "##" marks literally, and
# a table drawn in a PDF comes back from pypdf as interleaved cell text, so Gia Phúc's task
# table is checked through .docx above.)
@pytest.mark.parametrize("key", ["hai-hau", "dinh-hung", "bac-hong-linh"])
def test_pdf_gives_the_same_clauses(tmp_path, key):
    src = _sample(key)
    text_plan = segment(read_document(src))
    out = tmp_path / (src.stem + ".pdf")
    write_pdf(read_document(src).text, out)
    raw = read_document(out)
    assert raw.format == "pdf"
    pdf_plan = segment(raw)
    assert _clauses(pdf_plan) == _clauses(text_plan)
    assert (pdf_plan.meta.unit, pdf_plan.meta.province, pdf_plan.meta.period) == (
        text_plan.meta.unit, text_plan.meta.province, text_plan.meta.period,
    )
