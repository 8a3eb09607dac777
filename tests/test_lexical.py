"""Lexical search over the real sample plans: diacritics, tone placement, abbreviations,
filtering and persistence."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import numpy as np
import pytest

import cchc.corpus
from cchc.corpus.textnorm import strip_diacritics
from cchc.errors import CCHCError
from cchc.indexing.abbreviations import (
    EXPANSION_WEIGHT,
    AbbreviationMatcher,
    default_pairs,
    expand_query,
    learn_abbreviations,
)
from cchc.indexing.lexical import (
    LexicalIndex,
    LexTokens,
    tokenize_passage,
    tokenize_query,
)

SAMPLES = Path(cchc.corpus.__file__).parent / "samples"
_ITEM = re.compile(r"^\s*(?:[-+*•]|\d+(?:\.\d+)*[.)]|[a-zđ]\)|[IVX]+\.|#+|\|)", re.IGNORECASE)


def _paragraphs(path: Path) -> list[str]:
    """Lines, with wrapped lines joined back crudely."""
    out: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        if out and not _ITEM.match(line) and not re.search(r"[.;:!?]\W*$", out[-1]):
            out[-1] += " " + line
        else:
            out.append(line)
    return out


@pytest.fixture(scope="module")
def corpus():
    paras, plan_of = [], []
    for path in sorted(SAMPLES.iterdir()):
        for p in _paragraphs(path):
            paras.append(p)
            plan_of.append(path.stem)
    # Ids deliberately not 0..n-1, to catch row/id mix-ups.
    ids = [1000 + 7 * i for i in range(len(paras))]
    return {"paras": paras, "plan": plan_of, "ids": ids, "tokens": [tokenize_passage(p) for p in paras]}


@pytest.fixture(scope="module")
def index(corpus):
    pairs = learn_abbreviations(corpus["paras"])
    return LexicalIndex.build(corpus["ids"], corpus["tokens"], abbreviations=pairs)


def clause_id(corpus, fragment: str) -> int:
    (i,) = [i for i, p in enumerate(corpus["paras"]) if fragment in p]
    return corpus["ids"][i]


def text_of(corpus, clause: int) -> str:
    return corpus["paras"][corpus["ids"].index(clause)]


def top_ids(index, query, k=10, **kw):
    return [h.id for h in index.search(query, k, **kw)]


ONLINE_PAYMENT = [
    "Tỷ lệ giao dịch thanh toán trực tuyến đạt tối thiểu 95%",  # Bắc Hồng Lĩnh 3.8
    "Tỷ lệ thanh toán trực tuyến trên Cổng Dịch vụ công quốc gia",  # Hà Đông
    "Thực hiện nghiêm túc việc thanh toán trực tuyến phí, lệ phí",  # Bắc Hồng Lĩnh
]


# --- tokenisation ---------------------------------------------------------------------------


def test_tokens_have_syllables_compounds_numbers_and_no_list_numbering():
    toks = tokenize_passage("1.2. Trên 98% hồ sơ TTHC được số hoá; thanh toán trực tuyến đạt 95%, Phụ lục 01.")
    acc = toks.accented
    assert {"hồ", "sơ", "hồ_sơ", "thanh_toán", "trực_tuyến", "tthc"} <= set(acc)
    assert {"98", "98%", "95", "95%", "1"} <= set(acc)  # "01" is the number 1
    assert "2" not in acc and "1.2" not in acc  # list numbering is not content
    assert "hóa" in acc and "hoá" not in acc  # canonical tone placement
    assert toks.folded == [strip_diacritics(t) for t in acc]
    assert "thanh_toan" in toks.folded and "so" in toks.folded
    assert not any(re.fullmatch(r"\W+", t) for t in acc)


def test_tokens_round_trip_and_determinism():
    text = "Ủy ban nhân dân xã ban hành Kế hoạch KH&CN; cắt giảm 2,5% chi phí"
    toks = tokenize_passage(text)
    assert tokenize_passage(text) == toks
    assert LexTokens.from_json(toks.to_json()) == toks
    assert LexTokens.from_json(toks.to_json()).folded == toks.folded
    assert {"kh&cn", "2,5%", "2,5", "ủy_ban"} <= set(toks.accented)
    plain = tokenize_passage(text, segment=False)
    assert not any("_" in t for t in plain.accented)
    assert set(plain.accented) <= set(toks.accented)


def test_glued_words_from_pdf_extraction_are_split():
    acc = tokenize_passage("các bộ phận chuyên mônUBND xã; giải quyết TTHCđể làm giàu; QĐ-TTg").accented
    assert {"môn", "ubnd", "tthc", "để", "ttg"} <= set(acc)


def test_query_tokens():
    q = tokenize_query("Thanh toán TRỰC TUYẾN")
    assert q.has_diacritics and q.accented == ("thanh", "toán", "trực", "tuyến")
    assert "thanh_toán" in q.terms(folded=False) and "truc_tuyen" in q.terms(folded=True)
    assert not tokenize_query("thanh toan").has_diacritics
    assert not tokenize_query(" ,.;!? — ")


# --- search over the samples ---------------------------------------------------------------


def test_query_without_diacritics_finds_online_payment_clauses(corpus, index):
    hits = index.search("thanh toan truc tuyen", k=5)
    wanted = {clause_id(corpus, s) for s in ONLINE_PAYMENT}
    assert wanted <= {h.id for h in hits}
    assert hits[0].matched == ["thanh toán", "trực tuyến"]
    assert all(hits[i].score >= hits[i + 1].score for i in range(len(hits) - 1))


def test_accented_query_ranks_online_payment_clauses(corpus, index):
    hits = index.search("thanh toán trực tuyến", k=5)
    assert {clause_id(corpus, s) for s in ONLINE_PAYMENT} <= {h.id for h in hits}
    assert hits[0].matched == ["thanh toán", "trực tuyến"]


def test_case_is_ignored(index):
    assert index.search("THANH TOÁN Trực Tuyến", 10) == index.search("thanh toán trực tuyến", 10)


@pytest.mark.parametrize(
    "old, new",
    [("hoá", "hóa"), ("hiện đại hoá nền hành chính", "hiện đại hóa nền hành chính"), ("thuỷ lợi", "thủy lợi")],
)
def test_old_and_new_tone_placement_give_identical_results(index, old, new):
    assert index.search(old, 20) == index.search(new, 20)
    if old == "hoá":
        assert len(index.search(old, 20)) == 20


def test_nfd_query_equals_nfc_query(index):
    query = "số hóa hồ sơ thủ tục hành chính"
    nfd = unicodedata.normalize("NFD", query)
    assert nfd != query
    assert index.search(nfd, 10) == index.search(query, 10)


def test_abbreviation_query_finds_long_form_clause(corpus, index):
    # Hải Hậu target 6 and a Hà Đông target: "chi phí tuân thủ thủ tục hành chính", never "TTHC".
    targets = {
        clause_id(corpus, "50% chi phí tuân thủ thủ tục hành chính đối với các thủ tục"),
        clause_id(corpus, "50% chi phí tuân thủ thủ tục hành chính so với năm 2024"),
    }
    assert not any("TTHC" in text_of(corpus, t) for t in targets)
    assert set(top_ids(index, "cắt giảm chi phí tuân thủ TTHC", 2)) == targets
    assert set(top_ids(index, "cat giam chi phi tuan thu tthc", 2)) == targets
    target = min(targets)
    hits = {h.id: h for h in index.search("TTHC", k=len(corpus["ids"]))}
    assert target in hits and hits[target].score > 0
    assert "thủ tục" in hits[target].matched and "hành chính" in hits[target].matched


def test_long_form_query_finds_abbreviation_clause(corpus, index):
    # Định Hưng 2.2 a): only ever says "TTHC".
    target = clause_id(corpus, "công khai đầy đủ, kịp thời TTHC, TTHC sau khi")
    assert "thủ tục" not in text_of(corpus, target).lower()
    for query in ("công khai kịp thời thủ tục hành chính", "cong khai kip thoi thu tuc hanh chinh"):
        hits = index.search(query, 3)
        assert hits[0].id == target
        assert "tthc" in hits[0].matched
    assert target in top_ids(index, "thủ tục hành chính", len(corpus["ids"]))


def test_user_spelling_ranks_above_the_expansion():
    template = "UBND xã tổ chức tiếp nhận và giải quyết {} cho người dân, doanh nghiệp đúng hạn theo quy định"
    docs = [template.format("TTHC"), template.format("thủ tục hành chính")]
    index = LexicalIndex.build([1, 2], [tokenize_passage(d) for d in docs])
    for query, order in [
        ("TTHC", [1, 2]),
        ("giải quyết tthc", [1, 2]),
        ("thủ tục hành chính", [2, 1]),
        ("thu tuc hanh chinh", [2, 1]),
    ]:
        hits = index.search(query, 5)
        assert [h.id for h in hits] == order, query
        # The other spelling is worth about EXPANSION_WEIGHT of the typed one (BM25 length
        # normalisation moves it a little: the long form makes a clause longer).
        assert hits[1].score / hits[0].score == pytest.approx(EXPANSION_WEIGHT, abs=0.12), query


def test_expansion_when_the_typed_spelling_never_occurs():
    index = LexicalIndex.build([5], [tokenize_passage("Ủy ban nhân dân xã ban hành kế hoạch")])
    assert [h.id for h in index.search("UBND", 5)] == [5]
    assert index.search("UBND", 5)[0].matched == ["ủy ban", "nhân dân"]


# --- accents --------------------------------------------------------------------------------


def test_accented_query_prefers_accented_match():
    index = LexicalIndex.build([10, 20], [tokenize_passage("giai quyet ho so"), tokenize_passage("giải quyết hồ sơ")])
    hits = index.search("giải quyết hồ sơ", 5)
    assert [h.id for h in hits] == [20, 10]
    assert hits[0].score > 2 * hits[1].score
    assert hits[0].matched == ["giải quyết", "hồ sơ"]
    assert hits[1].matched == ["giai", "quyet", "ho", "so"]  # its own spelling, for highlighting
    # Without diacritics both spellings are the same words (the accented clause also has the
    # pyvi compounds "giải_quyết", "hồ_sơ", which a diacritic-less text never gets).
    assert {h.id for h in index.search("giai quyet ho so", 5)} == {10, 20}


def test_accent_distinguishes_words():
    docs = ["hoa và cây cảnh", "văn hóa xã hội", "hòa giải ở cơ sở"]
    index = LexicalIndex.build([0, 1, 2], [tokenize_passage(d) for d in docs])
    for query, best in [("hóa", 1), ("hòa", 2)]:
        hits = index.search(query, 3)
        assert hits[0].id == best and hits[0].matched == [query]
        # The other words still come back (λ · folded), far behind.
        assert {h.id for h in hits} == {0, 1, 2} and hits[0].score > 3 * hits[1].score
    # A query without any diacritics cannot tell them apart.
    assert {h.id for h in index.search("hoa", 3)} == {0, 1, 2}
    assert {h.matched[0] for h in index.search("hoa", 3)} == {"hoa", "hóa", "hòa"}


# --- filtering, edge cases, persistence -----------------------------------------------------


def test_allowed_ids_mask_inside_scoring(corpus, index):
    dinh_hung = np.array([i for i, plan in zip(corpus["ids"], corpus["plan"]) if plan == "xa-dinh-hung-2025"])
    hits = index.search("thanh toán trực tuyến", k=3, allowed_ids=dinh_hung)
    assert len(hits) == 3  # the global top 3 are all elsewhere, still 3 hits come back
    assert {h.id for h in hits} <= set(dinh_hung.tolist())
    assert not {h.id for h in index.search("thanh toán trực tuyến", k=3)} & set(dinh_hung.tolist())
    # Scores do not depend on the mask.
    full = {h.id: h.score for h in index.search("thanh toán trực tuyến", k=len(corpus["ids"]))}
    assert all(full[h.id] == pytest.approx(h.score) for h in hits)
    assert index.search("thanh toán", 5, allowed_ids=np.array([], dtype=np.int64)) == []
    assert index.search("thanh toán", 5, allowed_ids=[123456789]) == []
    one = clause_id(corpus, ONLINE_PAYMENT[0])
    assert top_ids(index, "thanh toán", 5, allowed_ids=[one, 123456789]) == [one]


@pytest.mark.parametrize("query", ["", "   ", "!!!", "… – ; ( ) ?", "\u0301"])
def test_empty_or_punctuation_query_returns_nothing(index, query):
    assert index.search(query, 10) == []


def test_unknown_words_and_k_zero(index):
    assert index.search("zzqx wwqy", 10) == []
    assert index.search("thanh toán", 0) == []


def test_empty_index():
    index = LexicalIndex.build([], [])
    assert len(index) == 0 and index.search("thanh toán", 5) == []


def test_build_checks_arguments():
    with pytest.raises(ValueError):
        LexicalIndex.build([1, 1], [["a"], ["b"]])
    with pytest.raises(ValueError):
        LexicalIndex.build([1], [["a"], ["b"]])
    # Plain accented token lists are accepted too.
    assert top_ids(LexicalIndex.build([4, 9], [["hồ", "sơ"], ["văn", "bản"]]), "van ban") == [9]


def test_save_load_round_trip(tmp_path, corpus, index):
    index.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"lexical.npz", "lexical.json"}
    loaded = LexicalIndex.load(tmp_path)
    assert loaded.abbreviations == index.abbreviations
    for query in ["thanh toan truc tuyen", "TTHC", "văn bản QPPL", "hiện đại hoá", "95%", "SIPAS"]:
        assert loaded.search(query, 10) == index.search(query, 10)
    subset = np.array(corpus["ids"][::3])
    assert loaded.search("cán bộ công chức", 7, subset) == index.search("cán bộ công chức", 7, subset)
    # Pairs given at load time replace the stored ones.
    bare = LexicalIndex.load(tmp_path, abbreviations={})
    assert "TTHC" in bare.abbreviations and "PAR INDEX" in bare.abbreviations


def test_load_missing_or_corrupt(tmp_path):
    with pytest.raises(CCHCError) as err:
        LexicalIndex.load(tmp_path)
    assert err.value.code == "lexical_index_missing"
    LexicalIndex.build([1], [["a"]]).save(tmp_path)
    (tmp_path / "lexical.json").write_text('{"format": "other"}', encoding="utf-8")
    with pytest.raises(CCHCError) as err:
        LexicalIndex.load(tmp_path)
    assert err.value.code == "lexical_index_corrupt"


# --- abbreviations --------------------------------------------------------------------------


def test_learned_pairs_from_the_samples(corpus):
    pairs = learn_abbreviations(corpus["paras"])
    assert "thủ tục hành chính" in pairs["TTHC"]
    assert "quy phạm pháp luật" in pairs["QPPL"]  # "văn bản quy phạm pháp luật (QPPL)"
    assert "cải cách hành chính" in pairs["CCHC"]
    assert "chỉ số cải cách hành chính" in pairs["PAR INDEX"]  # also from "(PAR Index)"
    assert any(long.startswith("chỉ số hài lòng của người dân") for long in pairs["SIPAS"])
    # "(để b/c)", "(nếu có)", "(MobiEdu)", "hiệu quả công việc (KPI)": not definitions.
    assert not {"ĐỂ B/C", "NẾU CÓ", "MOBIEDU", "KPI"} & set(pairs)


def test_learning_rejects_false_pairs_and_handles_d_and_ampersand():
    texts = [
        "Ủy ban nhân dân xã (HĐND) họp định kỳ.",  # initials u b n d x: not HĐND
        "nộp hồ sơ trực tuyến (TTHC) tại bộ phận một cửa",  # h s t t: not TTHC
        "Hội đồng nhân dân (HĐND) xã; Sở Khoa học và Công nghệ (KH&CN); đổi mới sáng tạo (ĐMST)",
        "kết quả (2025)",
    ]
    pairs = learn_abbreviations(texts)
    assert pairs["HĐND"] == {"hội đồng nhân dân"}
    assert pairs["KH&CN"] == {"khoa học và công nghệ"}
    assert pairs["ĐMST"] == {"đổi mới sáng tạo"}
    assert "TTHC" not in pairs and "2025" not in pairs


def test_expand_query_both_directions_case_and_diacritic_insensitive():
    pairs = default_pairs()
    assert ("giải quyết thủ tục hành chính", EXPANSION_WEIGHT) in expand_query("giải quyết TTHC", pairs)
    assert ("giải quyết thủ tục hành chính", EXPANSION_WEIGHT) in expand_query("giải quyết tthc", pairs)
    assert ("TTHC trực tuyến", EXPANSION_WEIGHT) in expand_query("thủ tục hành chính trực tuyến", pairs)
    assert ("TTHC truc tuyen", EXPANSION_WEIGHT) in expand_query("thu tuc hanh chinh truc tuyen", pairs)
    assert expand_query("TTHC", pairs)[0] == ("TTHC", 1.0)
    # Two-letter abbreviations are ordinary syllables in lower case ("ai" = who).
    assert expand_query("ai chịu trách nhiệm", pairs) == [("ai chịu trách nhiệm", 1.0)]
    assert ("ứng dụng trí tuệ nhân tạo", EXPANSION_WEIGHT) in expand_query("ứng dụng AI", pairs)
    spans = AbbreviationMatcher(pairs).find(["kiểm", "soát", "thủ", "tục", "hành", "chính"])
    assert {"KSTTHC", "TTHC"} <= {alt for s in spans for alt in s.alternatives}


# --- scoring against a plain reference ------------------------------------------------------


def test_scores_equal_a_plain_bm25(corpus):
    """With λ = 0 and no abbreviations the index is textbook BM25 (Lucene idf) over the accented
    terms, computed here the slow way."""
    import math
    from collections import Counter

    k1, b = 1.2, 0.75
    docs = [Counter(t.accented) for t in corpus["tokens"]]
    lengths = [len(t.accented) for t in corpus["tokens"]]
    avgdl = sum(lengths) / len(lengths)
    index = LexicalIndex.build(corpus["ids"], corpus["tokens"], glossary=False, lam=0.0, k1=k1, b=b)
    for query in ["thanh toán trực tuyến", "số hóa hồ sơ, kết quả giải quyết", "Ủy ban nhân dân xã"]:
        terms = [t for t in tokenize_query(query).terms(folded=False) if any(t in d for d in docs)]
        expected = np.zeros(len(docs))
        for term in terms:
            df = sum(term in d for d in docs)
            idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
            for i, d in enumerate(docs):
                tf = d[term]
                if tf:
                    expected[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[i] / avgdl))
        np.testing.assert_allclose(index.scores(query), expected, rtol=1e-5, atol=1e-5)


def test_top_k_matches_a_full_sort_on_a_larger_index(corpus):
    rng = np.random.default_rng(3)
    pool = corpus["tokens"]
    tokens = [sum((pool[j].accented for j in rng.integers(0, len(pool), 2)), []) for _ in range(20_000)]
    ids = rng.permutation(10**6)[: len(tokens)]
    index = LexicalIndex.build(ids, tokens)
    allowed = ids[rng.random(len(ids)) < 0.05]
    for query in ["thanh toán trực tuyến", "TTHC", "cán bộ công chức", "hoa"]:
        scores = index.scores(query)
        for mask in (None, allowed):
            rows = np.arange(len(ids)) if mask is None else np.flatnonzero(np.isin(ids, mask))
            rows = rows[scores[rows] > 0]
            order = rows[np.lexsort((ids[rows], -scores[rows]))][:25]
            hits = index.search(query, 25, allowed_ids=mask)
            assert [h.id for h in hits] == ids[order].tolist()


def test_filter_same_with_dense_and_sparse_ids(corpus):
    n = len(corpus["tokens"])
    dense = LexicalIndex.build(np.arange(n), corpus["tokens"])  # id -> row by table lookup
    sparse = LexicalIndex.build(np.arange(n) * 10**6, corpus["tokens"])  # by binary search
    rng = np.random.default_rng(0)
    allowed = rng.choice(n, 60, replace=False)  # unsorted, as a caller might pass them
    for query in ["thanh toan truc tuyen", "TTHC", "cán bộ"]:
        a = dense.search(query, 8, allowed_ids=np.concatenate([allowed, allowed[:5], [-3, n + 7]]))
        b = sparse.search(query, 8, allowed_ids=allowed * 10**6)
        assert [h.id for h in a] == [h.id // 10**6 for h in b]
        assert [h.score for h in a] == [h.score for h in b]
        assert {h.id for h in a} <= set(allowed.tolist())
