"""The structure a reader sees in each real sample plan.

Counts and breadcrumbs below were read off the documents by hand; they pin what the segmenter
must produce, so a change that merges, splits or mislabels clauses fails here.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import pytest

from cchc.corpus.bundled import sample_paths
from cchc.corpus.models import RawDocument
from cchc.corpus.reader import read_document
from cchc.corpus.segment import segment


def _plan(fragment: str):
    (path,) = [p for p in sample_paths() if fragment in p.name]
    return segment(read_document(path))


@pytest.fixture(scope="module")
def plans():
    return {k: _plan(k) for k in ("hai-hau", "dinh-hung", "ha-dong", "bac-hong-linh", "gia-phuc")}


def _find(plan, needle):
    hits = [c for c in plan.clauses if needle in c.text]
    assert hits, f"no clause contains {needle!r}"
    return hits[0]


# --- metadata (issue acceptance: unit, level, province, period) ---------------------------

EXPECTED_META = {
    "hai-hau": ("xã Hải Hậu", "xã", "Ninh Bình", "năm 2026", 2026),
    "dinh-hung": ("xã Định Hưng", "xã", "Thanh Hóa", "năm 2025", 2025),
    "ha-dong": ("xã Hà Đông", "xã", "Hải Phòng", "giai đoạn 2026 – 2030", 2026),
    "bac-hong-linh": ("phường Bắc Hồng Lĩnh", "phường", "Hà Tĩnh", "năm 2026", 2026),
    "gia-phuc": ("xã Gia Phúc", "xã", "Hải Phòng", "6 tháng cuối năm 2025", 2025),
}


@pytest.mark.parametrize("key", sorted(EXPECTED_META))
def test_metadata(plans, key):
    m = plans[key].meta
    assert (m.unit, m.level, m.province, m.period, m.year) == EXPECTED_META[key]


def test_metadata_numbers_dates_and_parents(plans):
    assert plans["dinh-hung"].meta.doc_number == "01/KH-UBND"
    assert plans["dinh-hung"].meta.issued == "2025-01-03"
    # "Số: /KH-UBND" states no number: it must stay empty, not be guessed.
    assert plans["hai-hau"].meta.doc_number is None
    assert plans["hai-hau"].meta.issued == "2025-12-25"
    # "ngày /04/2026" has no day.
    assert plans["ha-dong"].meta.issued is None
    assert plans["ha-dong"].meta.year_end == 2030
    assert plans["gia-phuc"].meta.doc_number == "692/QĐ-UBND"
    assert plans["gia-phuc"].meta.issued == "2025-07-31"
    assert plans["hai-hau"].meta.parents == ["Kế hoạch số 148/KH-UBND ngày 3/12/2025 của UBND tỉnh Ninh Bình"]
    assert any("3369/QĐ-UBND" in p and "Hà Tĩnh" in p for p in plans["bac-hong-linh"].meta.parents)
    assert not any("3083" in p for p in plans["bac-hong-linh"].meta.parents)  # a Quy chế, not a plan
    assert any("1478/QĐ-UBND" in p for p in plans["ha-dong"].meta.parents)
    assert plans["hai-hau"].meta.title == "Kế hoạch cải cách hành chính xã Hải Hậu năm 2026"


# --- clause counts per area and kind ---------------------------------------------------------


def test_clause_counts_by_heading_area(plans):
    """Areas the plans state in their headings (not the model's guesses)."""
    def heading_areas(p):
        return dict(Counter(c.area for c in p.clauses if c.area_source == "heading"))

    assert heading_areas(plans["hai-hau"]) == {
        "direction": 6, "institutions": 5, "procedures": 6, "organisation": 4,
        "civil_service": 5, "public_finance": 3, "digital_government": 4,
    }
    assert heading_areas(plans["bac-hong-linh"]) == {
        "direction": 11, "institutions": 14, "procedures": 17, "organisation": 9,
        "civil_service": 6, "public_finance": 7, "digital_government": 15,
    }
    assert heading_areas(plans["gia-phuc"]) == {
        "direction": 15, "institutions": 11, "procedures": 13, "organisation": 7,
        "civil_service": 10, "public_finance": 13, "digital_government": 17,
    }


def test_clause_totals_and_kinds(plans):
    assert len(plans["hai-hau"].clauses) == 63
    assert Counter(c.kind for c in plans["hai-hau"].clauses) == Counter(
        {"task": 33, "assignment": 15, "target": 8, "purpose": 6, "other": 1}
    )
    assert Counter(c.kind for c in plans["bac-hong-linh"].clauses)["target"] == 37
    assert Counter(c.kind for c in plans["ha-dong"].clauses)["target"] == 11
    assert Counter(c.kind for c in plans["dinh-hung"].clauses)["budget"] == 2


def test_every_listed_target_is_a_target(plans):
    targets = [c.text for c in plans["hai-hau"].clauses if c.kind == "target"]
    assert len(targets) == 8
    assert targets[5].startswith("Thực hiện cắt giảm 50% thời gian giải quyết")


def test_predicted_areas_fill_target_lists(plans):
    # Hải Hậu's target list has no area headings: the model must label most of it sensibly.
    assert _find(plans["hai-hau"], "Phân đầu 100% hồ sơ TTHC").area == "procedures"
    assert _find(plans["hai-hau"], "Hoàn thành 100% kế hoạch đào tạo").area == "civil_service"
    assert all(c.area_source == "model" for c in plans["hai-hau"].clauses if c.kind == "target" and c.area)


# --- breadcrumbs ---------------------------------------------------------------------------


def test_breadcrumbs(plans):
    assert _find(plans["hai-hau"], "Niêm yết công khai").section == "III. Nhiệm vụ và giải pháp › 3. Cải cách thủ tục hành chính"
    assert _find(plans["bac-hong-linh"], "thanh toán trực tuyến đạt tối thiểu 95%").section == (
        "II. Các chỉ tiêu chủ yếu › 3. Cải cách thủ tục hành chính"
    )
    c = _find(plans["bac-hong-linh"], "Phấn đấu trên 95% văn bản")
    assert c.section == (
        "II. Các chỉ tiêu chủ yếu › 7. Xây dựng và phát triển chính quyền điện tử, chính quyền số › 7.1. Chính quyền số"
    )
    assert c.label == "7.1.2."
    assert _find(plans["ha-dong"], "95% người dân, doanh nghiệp đánh giá hài lòng").section == (
        "I. Mục tiêu, chỉ tiêu, yêu cầu › 2. Một số chỉ tiêu cụ thể › Giai đoạn 2026 - 2027"
    )
    assert _find(plans["dinh-hung"], "thanh toán phí, lệ phí giải quyết TTHC trực tuyến").section == (
        "II. Nhiệm vụ và giải pháp › 2. Nội dung, nhiệm vụ và giải pháp › 2.2. Cải cách thủ tục hành chính"
    )
    # Gia Phúc's decision articles sit under "Quyết định", its plan under the plan's own outline.
    assert _find(plans["gia-phuc"], "Quyết định có hiệu lực thi hành").section == "Quyết định"
    assert _find(plans["gia-phuc"], "Duy trì, phát triển Cổng thông tin điện tử liên thông").section.endswith(
        "7. Xây dựng và phát triển chính quyền điện tử, chính quyền số › d) Phát triển các ứng dụng, dịch vụ"
    )


def test_skipped_roman_numbers_keep_the_tree(plans):
    # Hải Hậu goes III → V and Hà Đông repeats "I." then jumps to VI.
    c = _find(plans["hai-hau"], "Là cơ quan thường trực Ban Chỉ đạo CCHC xã")
    assert c.section == "V. Tổ chức thực hiện › 1. Phòng Văn hóa – Xã hội"
    assert c.kind == "assignment"
    c = _find(plans["ha-dong"], "Là cơ quan thường trực của Ủy ban nhân dân xã")
    assert c.section == "VI. Tổ chức thực hiện › 2. Trách nhiệm cụ thể của một số đơn vị › 2.1. Phòng Văn hóa - Xã hội"


def test_synthetic_skipped_and_restarted_numbering():
    text = "\n".join([
        "KẾ HOẠCH", "Cải cách hành chính xã Thử năm 2026",
        "I. MỤC ĐÍCH", "Nâng cao hiệu quả.",
        "III. NHIỆM VỤ", "2. Cải cách thể chế", "a) Rà soát văn bản.", "c) Kiểm tra văn bản.",
        "5. Cải cách tài chính công", "- Công khai ngân sách.",
        "V. TỔ CHỨC THỰC HIỆN", "1. Phòng Kinh tế", "Chủ trì thực hiện.",
    ])
    plan = segment(RawDocument("x.txt", text, "txt", "h"))
    sections = [c.section for c in plan.clauses]
    assert sections == [
        "I. Mục đích",
        "III. Nhiệm vụ › 2. Cải cách thể chế",
        "III. Nhiệm vụ › 2. Cải cách thể chế",
        "III. Nhiệm vụ › 5. Cải cách tài chính công",
        "V. Tổ chức thực hiện › 1. Phòng Kinh tế",
    ]
    assert [c.area for c in plan.clauses[1:4]] == ["institutions", "institutions", "public_finance"]


# --- cleaning: page numbers, hard wraps, boilerplate -----------------------------------------


def test_no_clause_is_a_page_number_or_a_wrap_fragment(plans):
    for key, plan in plans.items():
        for c in plan.clauses:
            assert not re.fullmatch(r"\s*\d{1,3}\s*", c.text), (key, c.text)
            first = c.text.lstrip("(“\"'")[:1]
            assert not first.islower(), (key, c.text[:80])
    bhl = plans["bac-hong-linh"]
    # Sentences the PDF wrapped (one across a page number) come back whole.
    assert _find(bhl, "UBND tỉnh Hà Tĩnh về việc ban hành Kế hoạch cải cách hành chính tỉnh Hà Tĩnh năm 2026")
    assert _find(bhl, "Thông tư của Bộ trưởng các bộ, ngành Trung ương, Nghị quyết của HĐND tỉnh")
    assert _find(bhl, "Tổ chức tập huấn, bồi dưỡng, trang bị các kiến thức, kinh nghiệm về CCHC; giới thiệu, mạnh dạn")
    assert len(bhl.clauses) == 115


def test_boilerplate_is_not_a_clause(plans):
    signers = ["Nguyễn Xuân Tinh", "Trần Xuân Đức", "Lê Văn Cường", "Nguyễn Chính Thống"]
    for key, plan in plans.items():
        for c in plan.clauses:
            assert "Nơi nhận" not in c.text
            assert not c.text.startswith(("Lưu: VT", "Lưu VT", "TM. ỦY BAN", "CỘNG HÒA XÃ HỘI"))
            assert not any(s in c.text for s in signers)
    assert "Nơi nhận:" in plans["hai-hau"].boilerplate
    assert "Trần Xuân Đức" in plans["bac-hong-linh"].boilerplate
    assert "Nguyễn Chính Thống" in plans["gia-phuc"].boilerplate
    assert any("Lê Văn Cường" in b for b in plans["dinh-hung"].boilerplate)


# --- the Gia Phúc task table ---------------------------------------------------------------


def test_gia_phuc_task_rows(plans):
    rows = [c for c in plans["gia-phuc"].clauses if c.is_table_row]
    assert len(rows) == 43
    assert all(c.kind == "task" for c in rows)
    by_label = {c.label: c for c in rows if c.label}
    r5 = by_label["5."]
    # Row 5 breaks across a page: "…thành phố năm" | header | "2025".
    assert r5.text.endswith("phục vụ hành chính nhà nước thành phố năm 2025")
    assert (r5.responsible, r5.deadline, r5.output) == ("Phòng Văn hóa-Xã hội", "Quý III/2025", "Văn bản của UBND xã")
    r14 = by_label["14."]
    assert r14.text == (
        "Tổ chức triển khai Luật Ban hành văn bản QPPL năm 2025 và các Nghị định quy định chi tiết "
        "và hướng dẫn thi hành Luật Ban hành văn bản QPPL"
    )
    assert r14.responsible == "Văn phòng HĐND - UBND xã"
    assert r14.partners == "Các phòng, cơ quan, đơn vị có liên quan"
    assert r14.output == "Ban hành các văn bản hướng dẫn thực hiện"
    r38 = by_label["38."]
    assert r38.responsible == "Phòng Văn hoá - Xã hội"
    assert r38.output == "Báo cáo chuyển đổi số"
    assert by_label["21."].partners is None
    assert by_label["37."].text.startswith("Thực hiện giải ngân kế hoạch đầu tư công")
    assert by_label["37."].area == "public_finance"
    assert by_label["38."].area == "digital_government"
    assert "24." not in by_label  # the plan skips 24
    unnumbered = [c for c in rows if not c.label]
    assert len(unnumbered) == 2
    assert rows[0].section.startswith("Danh mục nhiệm vụ cụ thể") and rows[0].section.endswith("I. Chỉ đạo điều hành")


# --- Unicode ---------------------------------------------------------------------------------


def test_nfd_and_old_tone_placement_give_the_same_clauses():
    (path,) = [p for p in sample_paths() if "hai-hau" in p.name]
    text = read_document(path).text
    base = segment(RawDocument("a.txt", text, "txt", "h1"))
    nfd = segment(RawDocument("a.txt", unicodedata.normalize("NFD", text), "txt", "h2"))
    assert [c.text for c in nfd.clauses] == [c.text for c in base.clauses]
    assert [c.section for c in nfd.clauses] == [c.section for c in base.clauses]
    old = text.replace("hóa", "hoá").replace("Hóa", "Hoá")
    old_plan = segment(RawDocument("a.txt", old, "txt", "h3"))
    assert [c.area for c in old_plan.clauses] == [c.area for c in base.clauses]
    assert [c.kind for c in old_plan.clauses] == [c.kind for c in base.clauses]


def test_paragraphs_under_a_long_item_keep_the_section_kind(plans):
    # "3. Văn phòng –Thống kê: Chủ trì … nhiệm vụ tại Phụ lục số 02 …" is a clause that heads the
    # paragraphs after it; its words must not turn them into tasks.
    c = _find(plans["dinh-hung"], "Tổng hợp tình hình thực hiện công tác CCHC của xã")
    assert c.kind == "assignment"
    assert c.section.startswith("IV. Tổ chức thực hiện › 3. Văn phòng")
