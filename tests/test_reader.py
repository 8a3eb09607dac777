"""The document reader: formats, encodings, legacy Vietnamese fonts, and every refusal.

Expected values come from outside the code under test: the sample plans themselves, the
TCVN3 and VNI code charts written out below from the standards, and Python's own codecs.
"""

from __future__ import annotations

import io
import time
import unicodedata
import zipfile
from pathlib import Path

import docx
import pytest
from docx.shared import Pt
from fpdf import FPDF
from hypothesis import given, settings
from hypothesis import strategies as st

from cchc.corpus import reader, vietenc
from cchc.corpus.reader import SUPPORTED, read_bytes, read_document
from cchc.errors import CCHCError
from docgen import FONT, write_docx, write_pdf

SAMPLES = Path(__file__).resolve().parents[1] / "corpus" / "samples"
SAMPLE_FILES = sorted(SAMPLES.iterdir())
HAI_HAU = (SAMPLES / "xa-hai-hau-2026.txt").read_text(encoding="utf-8")
GIA_PHUC = (SAMPLES / "xa-gia-phuc-2025-cuoi-nam.txt").read_text(encoding="utf-8")
# The opening of a real plan: title in capitals, headings, body paragraphs.
PARAGRAPH = "\n".join(HAI_HAU.strip().splitlines()[:14])


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def error_of(call, *args, **kwargs) -> CCHCError:
    with pytest.raises(CCHCError) as info:
        call(*args, **kwargs)
    return info.value


# ---------------------------------------------------------------------------------------------
# Code charts, written out independently of corpus/vietenc.py
# ---------------------------------------------------------------------------------------------

LOWER = "àảãáạ ăằẳẵắặ âầẩẫấậ đ èẻẽéẹ êềểễếệ ìỉĩíị òỏõóọ ôồổỗốộ ơờởỡớợ ùủũúụ ưừửữứự ỳỷỹýỵ".replace(" ", "")
# TCVN 5712:1993 (ABC) code of each letter of LOWER, in the same order.
LOWER_TCVN3 = bytes.fromhex(
    "b5 b6 b7 b8 b9  a8 bb bc bd be c6  a9 c7 c8 c9 ca cb  ae  cc ce cf d0 d1  aa d2 d3 d4 d5 d6"
    "d7 d8 dc dd de  df e1 e2 e3 e4  ab e5 e6 e7 e8 e9  ac ea eb ec ed ee  ef f1 f2 f3 f4"
    "ad f5 f6 f7 f8 f9  fa fb fc fd fe"
)
CAPITALS_TCVN3 = {"Ă": 0xA1, "Â": 0xA2, "Ê": 0xA3, "Ô": 0xA4, "Ơ": 0xA5, "Ư": 0xA6, "Đ": 0xA7}
TCVN3 = dict(zip(LOWER, LOWER_TCVN3)) | CAPITALS_TCVN3


def to_tcvn3(text: str) -> bytes:
    """Encode as an ABC-keyboard user would: capitals with a tone mark have no code of their
    own in the .VnTime fonts, so they are typed as the lower-case code (shown as a capital by
    .VnTimeH)."""
    out = bytearray()
    for ch in nfc(text):
        if ch in TCVN3:
            out.append(TCVN3[ch])
        elif ch.lower() in TCVN3:
            out.append(TCVN3[ch.lower()])
        else:
            out += ch.encode("cp1252")
    return bytes(out)


# VNI-Windows: base letter followed by a mark character.
TONE_OF = {"\u0300": "grave", "\u0301": "acute", "\u0309": "hook", "\u0303": "tilde", "\u0323": "dot"}
VNI_TONE = {"grave": "ø", "acute": "ù", "hook": "û", "tilde": "õ", "dot": "ï"}
VNI_CIRCUMFLEX = {None: "â", "acute": "á", "grave": "à", "hook": "å", "tilde": "ã", "dot": "ä"}
VNI_BREVE = {None: "ê", "acute": "é", "grave": "è", "hook": "ú", "tilde": "ü", "dot": "ë"}
VNI_I = {"grave": "ì", "acute": "í", "hook": "æ", "tilde": "ó", "dot": "ò"}


def vni_letter(ch: str) -> str:
    decomposed = unicodedata.normalize("NFD", ch.lower())
    base, marks = decomposed[0], decomposed[1:]
    tone = next((TONE_OF[m] for m in marks if m in TONE_OF), None)
    if ch.lower() == "đ":
        seq = "ñ"
    elif base not in "aeiouy" or not marks:
        return ch
    elif "\u0302" in marks:  # circumflex
        seq = base + VNI_CIRCUMFLEX[tone]
    elif "\u0306" in marks:  # breve
        seq = "a" + VNI_BREVE[tone]
    elif "\u031b" in marks:  # horn: ơ is "ô", ư is "ö"
        seq = {"o": "ô", "u": "ö"}[base] + (VNI_TONE[tone] if tone else "")
    elif base == "i":
        seq = VNI_I[tone]
    elif base == "y" and tone == "dot":
        seq = "î"
    else:
        seq = base + VNI_TONE[tone]
    return seq.upper() if ch.isupper() else seq


def to_vni(text: str) -> bytes:
    return "".join(vni_letter(ch) for ch in nfc(text)).encode("cp1252")


def to_cp1258(text: str) -> bytes:
    """Windows-1258 as Vietnamese Windows wrote it: letters with their hats precomposed,
    the tone as a separate combining mark (Python's codec does not decompose for us)."""
    out = []
    for ch in nfc(text):
        decomposed = unicodedata.normalize("NFD", ch)
        tone = "".join(m for m in decomposed if m in TONE_OF)
        out.append(nfc("".join(m for m in decomposed if m not in TONE_OF)) + tone)
    return "".join(out).encode("cp1258")


def latin1_mojibake(text: str) -> str:
    """UTF-8 bytes read back as Windows-1252, the undefined bytes as their Latin-1 code points."""
    return "".join(
        bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in text.encode("utf-8")
    )


# ---------------------------------------------------------------------------------------------
# Plain text and the real samples
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_samples_read_unchanged(path):
    doc = read_document(path)
    assert doc.text == nfc(path.read_bytes().decode("utf-8"))
    assert doc.source == path.name
    assert doc.format == SUPPORTED[path.suffix]
    assert doc.encoding == "utf-8"
    assert doc.notes == []


def test_supported_formats():
    assert SUPPORTED == {".txt": "txt", ".md": "md", ".docx": "docx", ".pdf": "pdf"}


def test_crlf_and_cr_become_newlines(tmp_path):
    path = tmp_path / "plan.txt"
    path.write_bytes("Dòng một\r\nDòng hai\rDòng ba\n".encode("utf-8"))
    assert read_document(path).text == "Dòng một\nDòng hai\nDòng ba\n"


@pytest.mark.parametrize(
    "codec, label",
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("utf-16", "utf-16-le"),  # Python writes a little-endian BOM
        ("utf-16-le", "utf-16-le"),  # no BOM: found from where the NUL bytes are
        ("utf-16-be", "utf-16-be"),
    ],
)
def test_unicode_encodings(tmp_path, codec, label):
    path = tmp_path / "plan.txt"
    path.write_bytes(HAI_HAU.encode(codec))
    doc = read_document(path)
    assert doc.text == HAI_HAU
    assert doc.encoding == label


def test_cp1258_with_combining_tones_becomes_nfc(tmp_path):
    data = to_cp1258(HAI_HAU)
    assert b"\xec" in data  # the acute accent as its own byte: decomposed on disk
    path = tmp_path / "plan.txt"
    path.write_bytes(data)
    doc = read_document(path)
    assert doc.text == HAI_HAU
    assert doc.encoding == "cp1258"
    assert any("Windows-1258" in n for n in doc.notes)


def test_nfd_input_comes_out_nfc(tmp_path):
    path = tmp_path / "plan.txt"
    path.write_bytes(unicodedata.normalize("NFD", HAI_HAU).encode("utf-8"))
    doc = read_document(path)
    assert doc.text == HAI_HAU
    assert any("NFC" in n for n in doc.notes)


def test_utf8_with_a_few_broken_bytes_is_still_utf8():
    # A stray byte at the start, and the file cut in the middle of its last letter.
    data = b"\xff" + HAI_HAU[:1000].encode("utf-8") + "Hậ".encode("utf-8")[:-1]
    doc = read_bytes(data, "kh.txt")
    assert doc.encoding == "utf-8"
    assert doc.text.startswith("\ufffd" + HAI_HAU[:50])
    assert any("2 chỗ lỗi" in n for n in doc.notes)


def test_content_hash_is_of_the_bytes(tmp_path):
    a = read_bytes(HAI_HAU.encode("utf-8"), "a.txt")
    b = read_bytes(HAI_HAU.encode("utf-16"), "b.txt")
    assert a.text == b.text
    assert a.content_hash != b.content_hash


# ---------------------------------------------------------------------------------------------
# Legacy Vietnamese encodings
# ---------------------------------------------------------------------------------------------


def test_tcvn3_chart_matches_the_standard():
    assert len(LOWER) == len(LOWER_TCVN3) == 67
    for letter, code in TCVN3.items():
        shown = bytes([code]).decode("cp1252")
        assert vietenc.from_tcvn3(shown) == letter, (hex(code), letter)
    # TCVN 5712 (VN1) also codes the 134 letters' capitals; a few of the less obvious ones:
    assert vietenc.from_tcvn3("\x84\xc4\xff") == "ẠẤỐ"
    assert vietenc.from_tcvn3("ž") == "Ủ"  # 0x9E, shown by Windows-1252 as ž
    letters = [ch for ch in vietenc.tcvn3_byte_table().values() if ch.isalpha()]
    assert sorted(letters) == sorted(set(LOWER) | {ch.upper() for ch in LOWER})  # 134, once each


def test_tcvn3_keeps_windows_punctuation():
    # ABC-font writers typed real curly quotes and dashes; those bytes are not letters.
    assert vietenc.from_tcvn3("“x”–…") == "“x”–…"


def test_vni_chart():
    for ch in LOWER + LOWER.upper():
        encoded = vni_letter(ch)
        assert vietenc.from_vni(encoded) == ch, (ch, encoded)


def test_known_legacy_phrases():
    assert read_bytes("C¶i c¸ch hµnh chÝnh".encode("cp1252"), "a.txt").text == "Cải cách hành chính"
    assert read_bytes("Caûi caùch haønh chính".encode("cp1252"), "a.txt").text == "Cải cách hành chính"


def test_tcvn3_round_trip(tmp_path):
    path = tmp_path / "cu.txt"
    path.write_bytes(to_tcvn3(PARAGRAPH))
    doc = read_document(path)
    assert doc.encoding == "tcvn3"
    assert any("TCVN3" in n for n in doc.notes)
    # Capitals with a tone are stored as lower-case codes, so case is only kept where the
    # line itself is in capitals; the letters must all be right.
    assert doc.text.lower() == PARAGRAPH.lower()
    lines = doc.text.splitlines()
    assert "KẾ HOẠCH" in lines
    assert "I. MỤC ĐÍCH YÊU CẦU" in lines


def test_tcvn3_glyphs_in_a_utf8_file(tmp_path):
    # What Word's "save as text (UTF-8)" makes of a .VnTime document.
    path = tmp_path / "cu.txt"
    path.write_text(to_tcvn3(PARAGRAPH).decode("cp1252"), encoding="utf-8")
    doc = read_document(path)
    assert doc.encoding == "utf-8+tcvn3"
    assert doc.text.lower() == PARAGRAPH.lower()


def test_vni_round_trip(tmp_path):
    path = tmp_path / "cu.txt"
    path.write_bytes(to_vni(PARAGRAPH))
    doc = read_document(path)
    assert doc.encoding == "vni"
    assert any("VNI" in n for n in doc.notes)
    assert doc.text == PARAGRAPH  # VNI keeps case


def test_whole_plan_in_tcvn3_with_a_unicode_letterhead(tmp_path):
    # "Hà Nội" would read as "HỔ Nội" in TCVN3, as valid a pair of syllables; only its "ộ",
    # a letter no TCVN3 text can contain, says it is Unicode already.
    letterhead = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc\nHà Nội\n"
    path = tmp_path / "cu.txt"
    path.write_text(letterhead + to_tcvn3(GIA_PHUC).decode("cp1252"), encoding="utf-8")
    doc = read_document(path)
    assert doc.text.startswith(letterhead)  # the Unicode lines are left alone
    assert doc.text[len(letterhead) :].lower() == GIA_PHUC.lower()
    assert any("giữ nguyên" in n for n in doc.notes)


VOCABULARY = sorted({w for w in HAI_HAU.split() if not w.isascii() and vietenc.is_syllable(w)})


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(VOCABULARY), min_size=6, max_size=40))
def test_vni_and_tcvn3_round_trip_any_sentence(words):
    sentence = " ".join(words)
    assert read_bytes(to_vni(sentence), "a.txt").text == sentence
    assert read_bytes(to_tcvn3(sentence), "a.txt").text.lower() == sentence.lower()


@pytest.mark.parametrize(
    "sentence",
    [
        "Bình Bình Bình Bình Bình tố",  # VNI "toá" is a syllable too ("toá"), but not here
        "Bình Bình Bình Bình Bình Bố",
        "Bình Bình Bình Bình Bình lý",  # TCVN3 "lý" read as Windows-1258 is "lư"
    ],
)
def test_single_byte_files_with_little_evidence(sentence):
    assert read_bytes(to_vni(sentence), "a.txt").text == sentence
    assert read_bytes(to_tcvn3(sentence), "a.txt").text == sentence


@pytest.mark.parametrize(
    "word", ["nghiêng", "khuỷu", "quyết", "giữ", "gì", "xoong", "thuở", "hoá", "buýt", "ĐẢNG", "Nguyễn", "học"]
)
def test_valid_syllables(word):
    assert vietenc.is_syllable(word)


@pytest.mark.parametrize(
    "word",
    [
        "boá",  # b, m, p, ph, v take no rounded glide
        "hỏc",  # a syllable ending in p/t/c/ch has the acute or dot-below tone
        "bàt",
        "chÝnh",  # mixed case: a conversion went wrong
        "ñaûng",
        "cảá",  # two tones
        "Cáº£i",
    ],
)
def test_invalid_syllables(word):
    assert not vietenc.is_syllable(word)


def test_mojibake_repaired(tmp_path):
    path = tmp_path / "plan.txt"
    path.write_text(latin1_mojibake(PARAGRAPH), encoding="utf-8")
    assert "Cáº£i cÃ¡ch" in path.read_text(encoding="utf-8")
    doc = read_document(path)
    assert doc.text == PARAGRAPH
    assert any("lỗi mã hóa" in n for n in doc.notes)


def test_partly_garbled_text_is_mended_only_where_garbled():
    good = "Ủy ban nhân dân xã ban hành kế hoạch cải cách hành chính."
    bad = "Đảm bảo công tác CCHC đóng góp thiết thực vào mục tiêu phát triển."
    doc = read_bytes(f"{good}\n{latin1_mojibake(bad)}\n{good}".encode("utf-8"), "a.txt")
    assert doc.text == f"{good}\n{bad}\n{good}"


def test_legacy_unsure_when_two_encodings_are_mixed():
    data = to_tcvn3(GIA_PHUC[:3000]) + to_vni(GIA_PHUC[3000:6000])
    err = error_of(read_bytes, data, "tron.txt")
    assert err.code == "legacy_encoding_unsure"
    assert "bảng mã cũ" in err.message
    assert err.source == "tron.txt"


# ---------------------------------------------------------------------------------------------
# .docx
# ---------------------------------------------------------------------------------------------

HEADER = ["TT", "Nhiệm vụ", "Phòng ban chủ trì", "Cơ quan phối hợp", "Thời gian", "Sản phẩm"]


def test_docx_paragraphs_and_table_in_document_order(tmp_path):
    document = docx.Document()
    document.add_paragraph("KẾ HOẠCH")
    document.add_paragraph("Cải cách hành chính xã Gia Phúc")
    table = document.add_table(rows=4, cols=6)
    for cell, text in zip(table.rows[0].cells, HEADER):
        cell.text = text
    section = table.rows[1].cells[0].merge(table.rows[1].cells[5])  # spans the whole row
    section.text = "I. Chỉ đạo điều hành"
    row = table.rows[2].cells
    row[0].text = "1"
    row[1].text = "Ban hành Kế hoạch CCHC"
    row[1].add_paragraph("6 tháng cuối năm 2025")  # two paragraphs in one cell
    row[2].text = "Phòng\tVăn hóa-Xã hội"  # a tab inside a cell must not split the row
    row[4].text = "Tháng 07/2025"
    document.add_paragraph("II. TỔ CHỨC THỰC HIỆN")
    path = tmp_path / "kh.docx"
    document.save(path)

    doc = read_document(path)
    assert doc.format == "docx"
    assert doc.text == (
        "KẾ HOẠCH\n\n"
        "Cải cách hành chính xã Gia Phúc\n\n"
        "TT\tNhiệm vụ\tPhòng ban chủ trì\tCơ quan phối hợp\tThời gian\tSản phẩm\n"
        "I. Chỉ đạo điều hành\t\t\t\t\t\n"
        "1\tBan hành Kế hoạch CCHC 6 tháng cuối năm 2025\tPhòng Văn hóa-Xã hội\t\tTháng 07/2025\t\n\n"
        "II. TỔ CHỨC THỰC HIỆN"
    )  # the all-empty fourth row is dropped


def test_docgen_docx_keeps_the_task_table(tmp_path):
    doc = read_document(write_docx(GIA_PHUC, tmp_path / "gia-phuc.docx"))
    table_lines = [line for line in GIA_PHUC.splitlines() if "\t" in line]
    assert [line for line in doc.text.splitlines() if "\t" in line] == table_lines
    paragraphs = [line.strip() for line in GIA_PHUC.splitlines() if line.strip() and "\t" not in line]
    assert [line for line in doc.text.splitlines() if line and "\t" not in line] == paragraphs


def test_docx_word_numbering_is_noted_not_invented(tmp_path):
    document = docx.Document()
    document.add_paragraph("Mục đích")
    document.add_paragraph("Rà soát thủ tục hành chính", style="List Number")
    document.add_paragraph("Số hóa hồ sơ", style="List Number")
    path = tmp_path / "kh.docx"
    document.save(path)
    doc = read_document(path)
    assert doc.text == "Mục đích\n\nRà soát thủ tục hành chính\n\nSố hóa hồ sơ"
    assert any("đánh số" in n and n.startswith("2 ") for n in doc.notes)


def test_docx_in_vntime_font_is_converted(tmp_path):
    document = docx.Document()
    document.add_paragraph("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")  # letterhead, Unicode
    run = document.add_paragraph().add_run("C¶i c¸ch hµnh chÝnh x· H¶i HËu")
    run.font.name = ".VnTime"
    run.font.size = Pt(14)
    path = tmp_path / "cu.docx"
    document.save(path)
    doc = read_document(path)
    assert doc.text == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\n\nCải cách hành chính xã Hải Hậu"
    assert doc.encoding == "tcvn3"
    assert any("TCVN3" in n for n in doc.notes)


# ---------------------------------------------------------------------------------------------
# .pdf
# ---------------------------------------------------------------------------------------------


def words_of(text: str) -> list[str]:
    return text.split()


def test_pdf_text_layer(tmp_path):
    body = "\n".join(line for line in HAI_HAU.splitlines() if "\t" not in line)
    doc = read_document(write_pdf(body, tmp_path / "kh.pdf"))
    assert doc.format == "pdf"
    # Lines wrap and justified lines gain spaces, but every word is there, in order.
    assert words_of(doc.text) == words_of(body)
    assert "KẾ HOẠCH" in doc.text.splitlines()


def test_pdf_pages_joined_in_order(tmp_path):
    body = "\n".join(f"Trang nội dung {i}: tăng cường kỷ luật, kỷ cương hành chính." for i in range(120))
    path = write_pdf(body, tmp_path / "dai.pdf")
    import pypdf

    assert len(pypdf.PdfReader(path).pages) >= 3
    assert words_of(read_document(path).text) == words_of(body)


def test_pdf_encrypted_without_open_password_is_read(tmp_path):
    pdf = _pdf_with(PARAGRAPH)
    pdf.set_encryption(owner_password="chu-so-huu", user_password="")  # only blocks editing
    doc = read_bytes(bytes(pdf.output()), "kh.pdf")
    assert words_of(doc.text) == words_of(PARAGRAPH)


def _pdf_with(text: str) -> FPDF:
    pdf = FPDF()
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.set_font("DejaVu", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 6, text)
    return pdf


# ---------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["kh.doc", "kh.xlsx", "kh", "kh.txt.exe"])
def test_unsupported_format(name):
    err = error_of(read_bytes, b"x", name)
    assert err.code == "unsupported_format"
    assert "không được hỗ trợ" in err.message
    assert err.source == name


def test_doc_suffix_says_to_save_as_docx(tmp_path):
    err = error_of(read_document, tmp_path / "kh.doc")  # refused before the file is looked for
    assert err.code == "unsupported_format"
    assert ".docx" in err.message


def test_rtf_named_txt():
    err = error_of(read_bytes, b"{\\rtf1\\ansi K\\'ea ho\\'e1ch}", "kh.txt")
    assert err.code == "unsupported_format"
    assert "RTF" in err.message


@pytest.mark.parametrize(
    "data",
    [b"", b"   \n\t \r\n", "\ufeff  \n".encode("utf-8"), "\n \n".encode("utf-16")],
    ids=["empty", "spaces", "bom-utf8", "bom-utf16"],
)
def test_empty_file(data):
    err = error_of(read_bytes, data, "rong.txt")
    assert err.code == "empty_file"
    assert "rỗng" in err.message or "không có chữ" in err.message


def test_empty_docx(tmp_path):
    path = tmp_path / "rong.docx"
    docx.Document().save(path)
    err = error_of(read_document, path)
    assert err.code == "empty_file"


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"Ke hoach\x00\x01\x02\xff\xfe\x00\x13\x00binary" * 20, "NUL"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "PNG"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (b"PK\x03\x04" + b"\x14" * 60, "zip"),
        (b"Ke hoach \x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f\x10" * 30, "điều khiển"),
    ],
    ids=["nul", "png", "pdf", "zip", "controls"],
)
def test_binary_content_in_a_text_file(data, reason):
    err = error_of(read_bytes, data, "kh.txt")
    assert err.code == "binary_file"
    assert reason in err.message


@pytest.mark.parametrize(
    "data",
    [
        "Кế hoạch: Привет мир, это тест кодировки текста. Ещё одна строка, и ещё.".encode("cp1251", "replace"),
        "这是一个测试文件，用于检查编码是否正确。".encode("gbk"),
    ],
    ids=["cp1251", "gbk"],
)
def test_undecodable(data):
    err = error_of(read_bytes, data, "kh.txt")
    assert err.code == "undecodable"
    assert "bảng mã" in err.message


def test_bad_bytes_after_a_utf16_bom():
    err = error_of(read_bytes, b"\xff\xfeK\x00\x00\xd8", "kh.txt")  # lone surrogate
    assert err.code == "undecodable"


def test_too_large_bytes():
    err = error_of(read_bytes, b"x" * 3 * reader.MB, "to.txt", max_bytes=2 * reader.MB)
    assert err.code == "too_large"
    assert "3.0 MB" in err.message and "2.0 MB" in err.message


def test_too_large_is_checked_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "khong-lo.txt"
    with path.open("wb") as f:
        f.truncate(100 * reader.MB)  # sparse: costs no disk

    def no_reading(*args, **kwargs):
        raise AssertionError("the file was opened")

    monkeypatch.setattr(Path, "open", no_reading)
    monkeypatch.setattr(Path, "read_bytes", no_reading)
    err = error_of(read_document, path, max_bytes=20 * reader.MB)
    assert err.code == "too_large"
    assert "100.0 MB" in err.message and "20.0 MB" in err.message
    assert err.source == "khong-lo.txt"


def test_default_limit_comes_from_settings(monkeypatch):
    from cchc.settings import get_settings

    monkeypatch.setattr(get_settings(), "max_file_mb", 0.001)
    err = error_of(read_bytes, HAI_HAU.encode("utf-8"), "kh.txt")
    assert err.code == "too_large"


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"this is not a zip at all", "zip"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500, ".doc"),
        (b"%PDF-1.4\n1 0 obj\n", "PDF"),
    ],
    ids=["not-zip", "ole", "pdf"],
)
def test_corrupt_docx(data, reason):
    err = error_of(read_bytes, data, "kh.docx")
    assert err.code == "corrupt_docx"
    assert reason in err.message


def test_truncated_docx(tmp_path):
    data = write_docx(HAI_HAU, tmp_path / "kh.docx").read_bytes()
    err = error_of(read_bytes, data[: len(data) // 2], "kh.docx")
    assert err.code == "corrupt_docx"
    assert "hỏng" in err.message


def test_zip_that_is_not_a_word_document():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "không phải Word")
    err = error_of(read_bytes, buffer.getvalue(), "kh.docx")
    assert err.code == "corrupt_docx"


def test_docx_zip_bomb(tmp_path):
    path = write_docx(PARAGRAPH, tmp_path / "kh.docx")
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/media/bom.bin", b"\x00" * (20 * reader.MB))
    assert path.stat().st_size < reader.MB
    started = time.monotonic()
    err = error_of(read_document, path)
    assert time.monotonic() - started < 1
    assert err.code == "zip_bomb"
    assert "bom.bin" in err.message


def test_docx_unpacking_past_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "MAX_DOCX_UNPACKED", 10_000)
    err = error_of(read_document, write_docx(GIA_PHUC, tmp_path / "kh.docx"))
    assert err.code == "zip_bomb"
    assert "giải nén" in err.message


def test_docx_with_too_many_cells(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "MAX_DOCX_CELLS", 100)
    err = error_of(read_document, write_docx(GIA_PHUC, tmp_path / "kh.docx"))  # 61 rows x 6
    assert err.code == "too_many_cells"
    assert err.message == "tài liệu có 366 ô bảng, vượt giới hạn 100 ô"


def test_corrupt_pdf_garbage():
    err = error_of(read_bytes, b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n", "kh.pdf")
    assert err.code == "corrupt_pdf"
    assert "hỏng" in err.message


def test_truncated_pdf(tmp_path):
    data = write_pdf(HAI_HAU, tmp_path / "kh.pdf").read_bytes()
    err = error_of(read_bytes, data[: len(data) // 2], "kh.pdf")
    assert err.code == "corrupt_pdf"
    assert "chưa hết" in err.message


def test_pdf_suffix_without_pdf_content():
    err = error_of(read_bytes, "Kế hoạch".encode("utf-8"), "kh.pdf")
    assert err.code == "corrupt_pdf"
    assert "%PDF" in err.message


def test_pdf_with_a_password():
    pdf = _pdf_with(PARAGRAPH)
    pdf.set_encryption(owner_password="chu", user_password="mat-khau")
    err = error_of(read_bytes, bytes(pdf.output()), "kh.pdf")
    assert err.code == "encrypted_pdf"
    assert "mật khẩu" in err.message


def test_scanned_pdf_has_no_text():
    pdf = FPDF()
    for _ in range(2):
        pdf.add_page()
        pdf.rect(20, 20, 170, 250, style="F")  # where a scanned image would be
    err = error_of(read_bytes, bytes(pdf.output()), "quet.pdf")
    assert err.code == "pdf_no_text"
    assert err.message == "PDF không có lớp văn bản (có thể là bản quét); cần OCR trước khi nạp"


def test_pdf_with_a_scanned_last_page_is_read_with_a_note():
    pdf = _pdf_with(PARAGRAPH)
    pdf.add_page()
    pdf.add_page()
    pdf.multi_cell(0, 6, PARAGRAPH)
    pdf.add_page()
    pdf.rect(20, 20, 170, 250, style="F")
    doc = read_bytes(bytes(pdf.output()), "kh.pdf")
    assert any(n.startswith("trang 2, 4 ") for n in doc.notes)


def test_pdf_with_too_many_pages(monkeypatch):
    monkeypatch.setattr(reader, "MAX_PDF_PAGES", 2)
    pdf = _pdf_with(PARAGRAPH)
    for _ in range(2):
        pdf.add_page()
        pdf.multi_cell(0, 6, PARAGRAPH)
    err = error_of(read_bytes, bytes(pdf.output()), "kh.pdf")
    assert err.code == "too_many_pages"
    assert "3 trang" in err.message


def test_pdf_that_hangs_is_given_up(monkeypatch):
    import pypdf

    def stuck(self, *args, **kwargs):
        time.sleep(3)
        return ""

    monkeypatch.setattr(pypdf.PageObject, "extract_text", stuck)
    monkeypatch.setattr(reader, "PDF_TIMEOUT_S", 0.3)
    started = time.monotonic()
    err = error_of(read_bytes, bytes(_pdf_with(PARAGRAPH).output()), "treo.pdf")
    assert time.monotonic() - started < 2
    assert err.code == "corrupt_pdf"
    assert "giây" in err.message


def test_missing_file(tmp_path):
    err = error_of(read_document, tmp_path / "khong-co.txt")
    assert err.code == "not_found"
    assert err.source == "khong-co.txt"


def test_directory_named_like_a_file(tmp_path):
    (tmp_path / "thu-muc.txt").mkdir()
    err = error_of(read_document, tmp_path / "thu-muc.txt")
    assert err.code == "not_found"


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, source",
    [
        ("../../etc/ke-hoach.txt", "ke-hoach.txt"),
        ("C:\\Users\\van thu\\Kế hoạch; rm -rf $HOME.txt", "Kế hoạch; rm -rf $HOME.txt"),
        ("kh\n`reboot`.txt", "kh`reboot`.txt"),
    ],
)
def test_source_is_the_bare_file_name(name, source):
    doc = read_bytes("Kế hoạch cải cách hành chính".encode("utf-8"), name)
    assert doc.source == source


def test_error_source_is_the_bare_file_name():
    err = error_of(read_bytes, b"", "/srv/uploads/../x/rong.txt")
    assert err.source == "rong.txt"
    assert err.line().startswith("rong.txt: ")


def test_read_document_with_shell_characters_in_the_name(tmp_path):
    path = tmp_path / "kế hoạch 'CCHC' & $(id) 2026.md"
    path.write_text(HAI_HAU, encoding="utf-8")
    doc = read_document(str(path))
    assert doc.source == path.name
    assert doc.format == "md"
    assert str(tmp_path) not in doc.source


def test_docx_text_box_read_once(tmp_path):
    # Word stores a text box twice: for new readers (mc:Choice) and old ones (mc:Fallback).
    from docx.oxml import parse_xml

    box = """
    <w:r xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"
         xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"
         xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"
         xmlns:v="urn:schemas-microsoft-com:vml">
      <mc:AlternateContent>
        <mc:Choice Requires="wps"><w:drawing><wps:txbx><w:txbxContent>
          <w:p><w:r><w:t>Số: 01/KH-UBND</w:t></w:r></w:p>
        </w:txbxContent></wps:txbx></w:drawing></mc:Choice>
        <mc:Fallback><w:pict><v:textbox><w:txbxContent>
          <w:p><w:r><w:t>Số: 01/KH-UBND</w:t></w:r></w:p>
        </w:txbxContent></v:textbox></w:pict></mc:Fallback>
      </mc:AlternateContent>
    </w:r>"""
    document = docx.Document()
    paragraph = document.add_paragraph("Ủy ban nhân dân xã Hải Hậu")
    paragraph._p.append(parse_xml(box))
    document.add_paragraph("KẾ HOẠCH")
    path = tmp_path / "kh.docx"
    document.save(path)
    assert read_document(path).text == "Ủy ban nhân dân xã Hải Hậu\n\nSố: 01/KH-UBND\n\nKẾ HOẠCH"


def test_tcvn3_standalone_tone_marks_compose_to_nfc():
    # TCVN3 also has the five tones as separate codes (0xB0-0xB4), typed after the vowel.
    data = "C¶i c¸ch hµnh chÝnh x· H¶i HËu: ca\xb3ch".encode("utf-8")
    doc = read_bytes(data, "a.txt")
    assert doc.text == "Cải cách hành chính xã Hải Hậu: cách"
    assert unicodedata.is_normalized("NFC", doc.text)


def test_pdf_whose_pages_all_fail_is_corrupt_not_a_scan(monkeypatch):
    import pypdf

    def broken(self, *args, **kwargs):
        raise pypdf.errors.PdfReadError("bad content stream")

    monkeypatch.setattr(pypdf.PageObject, "extract_text", broken)
    err = error_of(read_bytes, bytes(_pdf_with(PARAGRAPH).output()), "kh.pdf")
    assert err.code == "corrupt_pdf"
    assert "không trang nào" in err.message
