"""Gap analysis, its reports and CLI, and the consensus template.

Real SQLite libraries in temp dirs, real FAISS, the real default embedder with the session's
cached sample vectors (tests/conftest.py); the hand-made pairs of bench/gap_pairs/ give the
wording-robustness goals.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cchc.corpus.models import RawDocument
from cchc.corpus.textnorm import content_hash
from cchc.errors import CCHCError

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))


def _doc(text: str, name: str = "du-thao.txt") -> RawDocument:
    return RawDocument(name, text, "txt", content_hash(text.encode("utf-8")))


def _ids(lib) -> dict[str, int]:
    return {p.source: p.id for p in lib.plans()}


SMALL_DRAFT = """KẾ HOẠCH
Cải cách hành chính xã Thử Nghiệm năm 2027
I. CHỈ TIÊU
1. Tỷ lệ hồ sơ thủ tục hành chính giải quyết đúng hạn đạt từ 98% trở lên.
II. NHIỆM VỤ, GIẢI PHÁP
1. Cải cách thủ tục hành chính
a) Niêm yết công khai đầy đủ thủ tục hành chính tại Bộ phận Một cửa <script>alert("x")</script>.
b) Số hóa hồ sơ, kết quả giải quyết thủ tục hành chính.
2. Cải cách thể chế
a) Rà soát, tự kiểm tra văn bản quy phạm pháp luật của xã.
III. TỔ CHỨC THỰC HIỆN
1. Văn phòng chủ trì theo dõi, tổng hợp.
PHỤ LỤC: DANH MỤC NHIỆM VỤ
TT\tNhiệm vụ\tCơ quan chủ trì\tCơ quan phối hợp\tThời gian hoàn thành\tSản phẩm
1\tBan hành Kế hoạch cải cách hành chính năm 2027\tVăn phòng\tCác bộ phận\tTháng 01/2027\tKế hoạch
2\tTổ chức đối thoại với doanh nghiệp\t\tCác bộ phận\t\tBáo cáo
"""


# --- sanity ------------------------------------------------------------------------------------


def test_plan_against_itself_has_no_missing_item(sample_library):
    from cchc.search.gap import GapOptions, gap

    for plan in sample_library.plans():
        report = gap(sample_library, plan.id, plan.id, GapOptions(allow_same=True))
        assert report.items, plan.source
        assert report.counts["missing"] == 0, (plan.source, [i.text[:60] for i in report.items if i.status == "missing"])
        assert report.notes  # says it compared a plan with itself


def test_same_plan_is_refused_unless_asked(sample_library):
    from cchc.search.gap import gap

    pid = sample_library.plans()[0].id
    with pytest.raises(CCHCError) as e:
        gap(sample_library, pid, pid)
    assert e.value.code == "same_plan"


def _stated_once(lib, plan_id: int) -> list[int]:
    """Positions of the plan's items that no *other* clause of the plan restates: deleting one
    of those must make it missing. (A target that repeats a task word for word stays covered
    when one of the two is deleted, and rightly so.)"""
    from cchc.search.gap import GapOptions, match_items, prepare

    _, _, problem = prepare(lib, plan_id, plan_id, GapOptions(allow_same=True))
    partial = lib.settings.gap_partial
    pos = [c.position for c in problem.cands]
    out = []
    for i, item in enumerate(problem.items):
        keep = [j for j, p in enumerate(pos) if p != item.position]
        best, _ = match_items(problem.subset(keep))
        if best[i].score < partial:
            out.append(item.position)
    return out


@pytest.mark.parametrize("source", ["xa-hai-hau-2026.txt", "xa-dinh-hung-2025.txt", "phuong-bac-hong-linh-2026.txt"])
def test_deleted_tasks_are_exactly_the_missing_ones(sample_library, source):
    from cchc.corpus.models import ParsedPlan
    from cchc.indexing.ingest import store_parsed
    from cchc.search.gap import gap

    lib = sample_library
    pid = _ids(lib)[source]
    plan, clauses = lib.plan(pid), lib.clauses(pid)
    pool = _stated_once(lib, pid)
    items = [c for c in clauses if c.kind in ("task", "target")]
    # the pool must be most of the plan, or the test would prove little
    assert len(pool) >= 0.75 * len(items), (len(pool), len(items))
    for seed in range(3):
        gone = set(random.Random(seed).sample(pool, 4))
        kept = [replace(c, id=None, plan_id=None) for c in clauses if c.position not in gone]
        parsed = ParsedPlan(
            source=f"bot-{seed}-{source}", format="txt", content_hash=f"deleted-{seed}-{plan.content_hash}",
            meta=plan.meta, clauses=kept,
        )
        new_id = store_parsed(lib, parsed).plan_id
        report = gap(lib, pid, new_id)
        missing = {i.position for i in report.items if i.status == "missing"}
        assert missing == gone, (seed, sorted(missing - gone), sorted(gone - missing))


# --- robustness to wording -----------------------------------------------------------------------


def test_content_terms_leave_out_framing_words_only():
    from cchc.search.gap import content_terms, terms

    text = "Tiếp tục tăng cường cải thiện môi trường đầu tư kinh doanh"
    dropped = terms(text) - content_terms(text)
    assert {"tang_cuong", "tiep_tuc", "cai_thien"} <= dropped
    assert {"moi_truong", "dau_tu", "kinh_doanh"} <= content_terms(text)
    # no bigram bridges a phrase that was taken out, and nothing new appears
    assert "tuc_moi" not in content_terms(text) and content_terms(text) <= terms(text)
    # "tầng" folds to "tang" like "tăng": only the two-syllable phrase is framing
    assert {"ha_tang", "tang"} <= content_terms("Nâng cấp hạ tầng công nghệ thông tin")
    # verbs that tell near-duplicate items apart stay
    assert {"kiem_tra", "ra_soat"} <= content_terms("Thực hiện kiểm tra, rà soát văn bản")


MERGE_TEMPLATE = """KẾ HOẠCH
Cải cách hành chính xã Mẫu năm 2026
I. NHIỆM VỤ, GIẢI PHÁP
1. Cải cách thể chế
a) Tổ chức thi hành tốt pháp luật, tạo lập môi trường đầu tư kinh doanh thuận lợi, lành mạnh, công bằng cho mọi thành phần kinh tế.
b) Tăng cường cải thiện môi trường đầu tư kinh doanh.
c) Xây dựng Kế hoạch kiểm tra văn bản quy phạm pháp luật của xã năm 2026.
d) Xây dựng Kế hoạch rà soát văn bản quy phạm pháp luật của xã năm 2026.
2. Cải cách thủ tục hành chính
a) Số hóa hồ sơ, kết quả giải quyết thủ tục hành chính theo quy định.
b) Công khai đầy đủ thủ tục hành chính tại Bộ phận Một cửa.
II. TỔ CHỨC THỰC HIỆN
1. Văn phòng theo dõi, tổng hợp.
"""

MERGE_DRAFT = """KẾ HOẠCH
Cải cách hành chính xã Dự Thảo năm 2027
I. NHIỆM VỤ, GIẢI PHÁP
1. Cải cách thủ tục hành chính
a) Công khai đầy đủ, kịp thời thủ tục hành chính tại Bộ phận Một cửa của xã.
b) Số hóa hồ sơ và kết quả giải quyết thủ tục hành chính.
2. Cải cách thể chế
a) Thi hành nghiêm pháp luật, xây dựng môi trường đầu tư, kinh doanh thuận lợi, lành mạnh, công bằng cho các thành phần kinh tế.
b) Ban hành Kế hoạch rà soát văn bản quy phạm pháp luật của xã năm 2027.
II. TỔ CHỨC THỰC HIỆN
1. Văn phòng theo dõi, tổng hợp.
"""


def test_merged_near_twin_is_covered_but_an_omitted_one_is_missing(sample_library):
    """b) adds only framing words to a): the draft's rewrite of a) carries it too. c) and d)
    differ by what is done (kiểm tra / rà soát): the draft keeps d) only, so c) is missing."""
    from cchc.search.gap import gap

    report = gap(sample_library, _doc(MERGE_TEMPLATE, "mau-hop-nhat.txt"), _doc(MERGE_DRAFT))
    by_text = {it.text: it for it in report.items}
    twin = next(it for t, it in by_text.items() if t.startswith("Tăng cường cải thiện"))
    assert twin.status != "missing", (twin.score, [m.text for m in twin.matches])
    kiem_tra = next(it for t, it in by_text.items() if "kiểm tra văn bản" in t)
    ra_soat = next(it for t, it in by_text.items() if "rà soát văn bản" in t)
    assert kiem_tra.status == "missing", (kiem_tra.score, [m.text for m in kiem_tra.matches])
    assert ra_soat.status != "missing", ra_soat.score
    assert sum(it.status == "missing" for it in report.items) == 1, [(it.text[:40], it.status) for it in report.items]


@pytest.fixture(scope="module")
def pair_library(tmp_path_factory, embedding_cache_db):
    """The eval pairs' templates (samples) with the session's cached vectors."""
    from conftest import make_settings, seed_embeddings
    from gap_eval import load_pairs

    from cchc.indexing.ingest import ingest
    from cchc.indexing.library import Library

    pairs = load_pairs("eval")
    lib = Library(make_settings(tmp_path_factory.mktemp("pairs")))
    seed_embeddings(lib, embedding_cache_db)
    ingest(lib, sorted({p.template_path for p in pairs}))
    yield lib, pairs
    lib.close()


@pytest.fixture(scope="module")
def eval_results(pair_library) -> list[dict]:
    """Every eval pair analysed once; the floor and the goal tests read the same results."""
    from gap_eval import run_pair, score_pair

    lib, pairs = pair_library
    assert pairs
    return [score_pair(pair, run_pair(lib, pair)) for pair in pairs]


def test_wording_robustness_on_the_eval_pairs(eval_results):
    """Floors just under what the blind eval pairs measured when they were first run (bench/
    RESULTS.md): a regression fails here; the 0.9 goal itself is the next test."""
    from gap_eval import GOALS, blind_summary

    results = eval_results
    assert len(results) >= 3
    for r in results:
        for metric in ("precision", "recall"):
            assert r["weaker"][metric] >= GOALS["weaker"], (r["pair"], r["weaker"], r["errors"])
        # fifth round, measured 0.8-1.0 and 0.909-1.0 per pair
        assert r["missing"]["precision"] >= 0.75, (r["pair"], r["missing"], r["errors"])
        assert r["missing"]["recall"] >= 0.85, (r["pair"], r["missing"], r["errors"])
    pooled = blind_summary(results)
    assert pooled["weaker"]["precision"] >= GOALS["weaker"] and pooled["weaker"]["recall"] >= GOALS["weaker"]
    # measured P 0.902, R 0.979 pooled over 47 omissions
    assert pooled["missing"]["precision"] >= 0.88, pooled
    assert pooled["missing"]["recall"] >= 0.95, pooled


def test_missing_goal_on_the_blind_eval_pairs(eval_results):
    from gap_eval import GOALS, blind_summary

    pooled = blind_summary(eval_results)
    assert pooled["missing"]["precision"] >= GOALS["missing"], pooled
    assert pooled["missing"]["recall"] >= GOALS["missing"], pooled


def test_a_draft_file_is_not_stored(pair_library):
    from gap_eval import run_pair

    lib, pairs = pair_library
    counts = lambda: [lib.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("plans", "clauses", "embeddings")]  # noqa: E731
    before = counts()
    report = run_pair(lib, pairs[0])
    assert counts() == before
    assert report.plan.id is None
    assert all(m.clause_id is None for it in report.items for m in it.matches)
    assert report.extra  # the eval draft adds tasks of its own


# --- targets, checks, summary ------------------------------------------------------------------


def _mention(text: str):
    from cchc.search.targets_extract import extract_targets

    (m,) = extract_targets(text)
    return m


@pytest.mark.parametrize(
    "template, plan, expected",
    [
        ("Tỷ lệ hồ sơ giải quyết đúng hạn trên 98%.", "Tỷ lệ hồ sơ giải quyết đúng hạn đạt tối thiểu 98%.", "weaker"),
        ("Tỷ lệ hồ sơ giải quyết đúng hạn đạt tối thiểu 98%.", "Tỷ lệ hồ sơ giải quyết đúng hạn trên 98%.", "stronger"),
        ("Tỷ lệ thanh toán trực tuyến đạt từ 95% trở lên.", "Tỷ lệ thanh toán trực tuyến đạt từ 90% trở lên.", "weaker"),
        ("Tỷ lệ thanh toán trực tuyến đạt 95%.", "Tỷ lệ thanh toán trực tuyến đạt 95%.", "equal"),
        ("Giải quyết hồ sơ trong thời gian không quá 5 ngày làm việc.", "Giải quyết hồ sơ trong thời gian không quá 3 ngày làm việc.", "stronger"),
        ("Giải quyết hồ sơ trong thời gian không quá 3 ngày làm việc.", "Giải quyết hồ sơ trong thời gian không quá 5 ngày làm việc.", "weaker"),
    ],
)
def test_target_comparison_respects_comparators(template, plan, expected):
    from cchc.search.gap import compare_targets

    assert compare_targets(_mention(template), _mention(plan)) == expected


def test_target_without_figure_in_plan():
    from cchc.search.gap import check_targets

    check = check_targets("Số hóa 100% hồ sơ thủ tục hành chính.", ["Số hóa hồ sơ thủ tục hành chính."], None, None)
    assert check.comparison == "no_figure" and check.plan_value is None


def test_draft_checks_and_report_summary(sample_library):
    from cchc.search.gap import gap

    pid = _ids(sample_library)["xa-hai-hau-2026.txt"]
    report = gap(sample_library, pid, _doc(SMALL_DRAFT))
    codes = [c.code for c in report.checks]
    no_task_areas = {c.area for c in report.checks if c.code == "area_without_task"}
    assert {"organisation", "civil_service", "public_finance", "digital_government"} <= no_task_areas
    assert "procedures" not in no_task_areas
    rows = [c for c in report.checks if c.code == "row_missing_fields"]
    assert len(rows) == 1 and set(rows[0].fields) == {"responsible", "deadline"}
    assert codes.count("row_missing_fields") == 1
    # summary: coverage counts partial items half, per area and overall
    c = report.counts
    assert sum(c.values()) == len(report.items)
    assert report.coverage == pytest.approx((c["covered"] + 0.5 * c["partial"]) / len(report.items), abs=1e-4)
    assert sum(a.items for a in report.by_area) == len(report.items)
    assert sum(len(v) for v in report.missing_by_area().values()) == c["missing"]
    data = report.to_json()
    assert set(data) >= {"template", "plan", "coverage", "by_area", "items", "extra", "checks"}
    item = data["items"][0]
    assert set(item) >= {"item_id", "text", "section", "area", "kind", "status", "score", "matches", "target"}
    json.dumps(data, ensure_ascii=False)


def test_store_plan_option_ingests_the_draft(sample_library):
    from cchc.search.gap import GapOptions, gap

    before = len(sample_library.plans())
    pid = _ids(sample_library)["xa-hai-hau-2026.txt"]
    report = gap(sample_library, pid, _doc(SMALL_DRAFT, "luu-du-thao.txt"), GapOptions(store_plan=True))
    assert len(sample_library.plans()) == before + 1
    assert report.plan.id is not None
    assert any(m.clause_id for it in report.items for m in it.matches)


# --- reports -----------------------------------------------------------------------------------


def test_reports_in_every_format_escape_document_text(sample_library):
    from openpyxl import load_workbook

    from cchc.search.gap import gap
    from cchc.search.reports import render_report

    pid = _ids(sample_library)["xa-hai-hau-2026.txt"]
    report = gap(sample_library, pid, _doc(SMALL_DRAFT))
    assert any("<script>" in m.text for m in report.extra) or any("<script>" in m.text for i in report.items for m in i.matches)

    page = render_report(report, "html").decode("utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert 'lang="vi"' in page and "Các mục còn thiếu" in page and "<link" not in page

    md = render_report(report, "md").decode("utf-8")
    assert md.startswith("# Báo cáo đối chiếu") and "## Bao phủ theo lĩnh vực" in md

    raw = render_report(report, "csv")
    assert raw.startswith("\ufeff".encode("utf-8"))
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][0] == "Mã mục" and len(rows) == len(report.items) + 1

    wb = load_workbook(io.BytesIO(render_report(report, "xlsx")))
    assert wb.sheetnames == ["Tổng hợp", "Chi tiết", "Nội dung thêm", "Kiểm tra dự thảo"]
    assert wb["Chi tiết"].max_row == len(report.items) + 1

    with pytest.raises(CCHCError):
        render_report(report, "pdf")


# --- bad input -----------------------------------------------------------------------------------


def test_bad_input_errors(sample_library, tmp_path):
    from cchc.search.gap import GapOptions, gap

    pid = _ids(sample_library)["xa-hai-hau-2026.txt"]
    with pytest.raises(CCHCError) as e:
        gap(sample_library, 9999, pid)
    assert e.value.code == "plan_not_found" and e.value.status == 404 and "9999" in e.value.message

    empty = tmp_path / "rong.txt"
    empty.write_text("   \n", encoding="utf-8")
    with pytest.raises(CCHCError) as e:
        gap(sample_library, pid, empty)
    assert e.value.code == "empty_file"

    with pytest.raises(CCHCError) as e:
        gap(sample_library, pid, _doc("Nơi nhận:\n- Lưu: VT.\n"))
    assert e.value.code == "no_clauses"

    only_purpose = "KẾ HOẠCH\nCải cách hành chính\nI. MỤC ĐÍCH, YÊU CẦU\n1. Nâng cao chất lượng phục vụ người dân.\n"
    with pytest.raises(CCHCError) as e:
        gap(sample_library, _doc(only_purpose, "mau.txt"), pid)
    assert e.value.code == "template_no_items" and "mẫu" in e.value.message

    with pytest.raises(CCHCError) as e:
        gap(sample_library, pid, _doc(SMALL_DRAFT), GapOptions(covered=0.2, partial=0.5))
    assert e.value.code == "bad_threshold"


@pytest.fixture
def cli_home(sample_library, monkeypatch):
    from cchc.settings import get_settings

    monkeypatch.setenv("CCHC_HOME", str(sample_library.home))
    get_settings.cache_clear()
    yield sample_library
    get_settings.cache_clear()


def _run(*args):
    from cchc.api import cli_gap  # noqa: F401 - registers the commands
    from cchc.api.cli import cli

    return CliRunner().invoke(cli, list(args))


def test_cli_gap_outputs(cli_home, tmp_path):
    pid = _ids(cli_home)["xa-hai-hau-2026.txt"]
    draft = tmp_path / "du-thao.txt"
    draft.write_text(SMALL_DRAFT, encoding="utf-8")

    res = _run("gap", "--template", str(pid), "--plan", str(draft), "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["template"]["id"] == pid and data["plan"]["id"] is None and data["items"]

    res = _run("gap", "-t", str(pid), "-p", str(draft))
    assert res.exit_code == 0 and "Bao phủ" in res.output and "■" in res.output

    out = tmp_path / "bao-cao.xlsx"
    res = _run("gap", "-t", str(pid), "-p", str(draft), "-o", str(out))
    assert res.exit_code == 0 and out.read_bytes()[:2] == b"PK"

    res = _run("gap", "-t", str(pid), "-p", str(draft), "--area", "procedures", "--format", "md")
    assert res.exit_code == 0 and "Cải cách thủ tục hành chính" in res.output


def test_cli_gap_errors(cli_home, tmp_path):
    pid = _ids(cli_home)["xa-hai-hau-2026.txt"]
    res = _run("gap", "-t", "9999", "-p", str(pid))
    assert res.exit_code == 1 and "không có kế hoạch mã 9999" in res.output

    empty = tmp_path / "rong.txt"
    empty.write_text("", encoding="utf-8")
    res = _run("gap", "-t", str(pid), "-p", str(empty))
    assert res.exit_code == 1 and "rỗng" in res.output

    purpose = tmp_path / "mau.txt"
    purpose.write_text("KẾ HOẠCH\nI. MỤC ĐÍCH, YÊU CẦU\n1. Nâng cao chất lượng phục vụ người dân.\n", encoding="utf-8")
    res = _run("gap", "-t", str(purpose), "-p", str(pid))
    assert res.exit_code == 1 and "mẫu không có điều khoản nào" in res.output

    other = _ids(cli_home)["xa-dinh-hung-2025.txt"]
    res = _run("gap", "-t", str(pid), "-p", str(other), "--format", "xlsx")
    assert res.exit_code == 1 and "-o" in res.output

    res = _run("gap", "-t", str(pid), "-p", str(pid))
    assert res.exit_code == 1 and "cùng một kế hoạch" in res.output


# --- consensus ---------------------------------------------------------------------------------


def test_cluster_block_groups_copies_and_splits_chains():
    from cchc.search.consensus import cluster_block

    rng = np.random.default_rng(0)
    base = rng.normal(size=(20, 384)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    copies = np.repeat(base, 6, axis=0) + rng.normal(scale=0.01, size=(120, 384)).astype(np.float32)
    copies /= np.linalg.norm(copies, axis=1, keepdims=True)
    labels = cluster_block(copies)
    assert len(set(labels.tolist())) == 20
    assert all(len(set(labels[k * 6 : (k + 1) * 6].tolist())) == 1 for k in range(20))


def test_consensus_template_is_stored_searchable_and_replaced(sample_library):
    from cchc.search.consensus import build_consensus
    from cchc.search.engine import SearchFilters, search
    from cchc.search.gap import gap
    from cchc.search.index_manager import indexes_fresh

    lib = sample_library
    n_before = len(lib.plans())
    first = build_consensus(lib, min_share=0.6)
    assert first.groups and first.n_plans == n_before and first.plan_id is not None
    assert all(g.share >= 0.6 and len(g.plan_ids) >= 3 for g in first.groups)
    plan = lib.plan(first.plan_id)
    assert plan.source.startswith("consensus-all-") and plan.meta.unit.startswith("Mẫu đồng thuận")
    clauses = lib.clauses(first.plan_id)
    assert [c.text for c in clauses] == [g.text for g in first.groups]
    assert all(c.kind in ("task", "target") for c in clauses)
    assert indexes_fresh(lib)
    hits = search(lib, clauses[0].text[:80], filters=SearchFilters(plan_ids=[first.plan_id]), top_k=3)
    assert hits and hits[0].plan_id == first.plan_id

    # usable as a template
    report = gap(lib, first.plan_id, _ids(lib)["xa-hai-hau-2026.txt"])
    assert len(report.items) == len(first.groups)

    again = build_consensus(lib, min_share=0.6)
    assert again.replaced == [first.plan_id]
    assert len(lib.plans()) == n_before + 1
    with pytest.raises(CCHCError):
        lib.plan(first.plan_id)

    province = lib.plan(_ids(lib)["xa-gia-phuc-2025-cuoi-nam.txt"]).meta.province
    scoped = build_consensus(lib, min_share=0.5, province=province)
    assert scoped.source.startswith("consensus-hai-phong-") and scoped.n_plans == 2
    assert len(lib.plans()) == n_before + 2  # other scope, other plan


def test_consensus_errors(library, sample_library):
    from cchc.search.consensus import build_consensus

    with pytest.raises(CCHCError) as e:
        build_consensus(library)
    assert e.value.code == "too_few_plans"
    with pytest.raises(CCHCError) as e:
        build_consensus(sample_library, min_share=1.5)
    assert e.value.code == "bad_min_share"


def test_cli_template_build(cli_home):
    res = _run("template", "build", "--min-share", "0.6", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["n_groups"] > 0 and data["source"].startswith("consensus-all-")
    res = _run("template", "build", "--province", "Không Có Tỉnh Này")
    assert res.exit_code == 1 and "cần ít nhất 2 kế hoạch" in res.output
