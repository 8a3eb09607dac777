"""Reading documents (.txt, .md, .docx, .pdf) into NFC text with '\n' line ends.

Text files are decoded (UTF-8 first, then UTF-16/32, Windows-1258, TCVN3, VNI) and every
format then goes through the same repairs: double-encoded UTF-8 and text typed in the legacy
TCVN3/VNI fonts are converted (see ``vietenc``), each conversion noted for the user.

Every way a file can fail to read is a ``CCHCError`` with a stable code and a Vietnamese
message naming the reason; ``source`` is always the bare file name, never a path:

- ``unsupported_format``: suffix not in ``SUPPORTED`` (or RTF content under .txt)
- ``empty_file``: nothing but white space
- ``too_large``: over the size limit (checked with stat, before the file is read)
- ``too_long``: more text than any plan has (``MAX_TEXT_CHARS``); a text file that must hold
  that much is refused from its size alone, before it is read
- ``binary_file``: a "text" file that is not text (NUL bytes, control characters, a PDF,
  zip or image under a .txt name)
- ``undecodable``: no encoding makes the bytes read as Vietnamese
- ``legacy_encoding_unsure``: looks typed in TCVN3/VNI, but not clearly enough to convert
- ``corrupt_docx``: not a zip, truncated, not a Word document, a .doc under a .docx name
- ``zip_bomb``: a .docx that would unpack to far more than it weighs
- ``too_many_cells``: a .docx with an absurd number of table cells
- ``corrupt_pdf``: unreadable PDF, or reading it took longer than ``PDF_TIMEOUT_S``
- ``encrypted_pdf``: PDF that needs a password to open
- ``too_many_pages``: PDF with more than ``MAX_PDF_PAGES`` pages
- ``pdf_no_text``: PDF without a text layer (a scan)
- ``not_found`` / ``unreadable``: ``read_document`` only, the path is missing / unreadable
"""

from __future__ import annotations

import io
import re
import stat
import threading
import unicodedata
import zipfile
from pathlib import Path

from cchc.corpus.models import RawDocument
from cchc.corpus.textnorm import content_hash, nfc
from cchc.corpus.vietenc import LEGACY_NAMES, LegacyUnsure, Reading, best_reading, repair_mojibake, sample, score
from cchc.errors import CCHCError

SUPPORTED = {".txt": "txt", ".md": "md", ".docx": "docx", ".pdf": "pdf"}

MB = 1024 * 1024

# Bounds on what a hostile or broken file can make us do.
MAX_DOCX_UNPACKED = 200 * MB
MAX_DOCX_RATIO = 200  # uncompressed / compressed, per zip entry
MAX_DOCX_ENTRIES = 10_000
MAX_DOCX_CELLS = 200_000
MAX_DOCX_SPAN = 64  # gridSpan / gridBefore values are clamped to this
MAX_PDF_PAGES = 2000
# About 800 pages, some fifty times the longest sample plan. Everything after reading (repairs,
# segmentation, tokenising, targets) is linear in the text, so this bounds a file's time and
# memory even when the size limit is raised (~7 s of ingest per million characters).
MAX_TEXT_CHARS = 2_000_000
_MAX_BYTES_PER_CHAR = 4  # no encoding read here (UTF-8/16/32, 8-bit) spends more on a character
PDF_TIMEOUT_S = 60.0
MIN_PAGE_CHARS = 30  # a page with fewer letters/digits is taken as having no text layer


def read_document(path: str | Path, *, max_bytes: int | None = None) -> RawDocument:
    """Read a file from disk; the size is checked before the file is read."""
    path = Path(path)
    source = _source_name(path.name)
    _format_of(source)  # refuse an unknown suffix before touching the file
    limit = _limit(max_bytes)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise CCHCError("not_found", "không tìm thấy tệp", source=source) from None
    except OSError as exc:
        raise CCHCError("unreadable", f"không đọc được tệp ({exc.strerror or exc})", source=source) from None
    if not stat.S_ISREG(info.st_mode):
        raise CCHCError("not_found", "không phải là tệp (có thể là thư mục)", source=source)
    _check_size(info.st_size, limit, source)
    _check_text_bytes(info.st_size, source)
    try:
        with path.open("rb") as f:
            # At most one byte past the limit, in case the file grew after stat().
            data = f.read(limit + 1)
    except OSError as exc:
        raise CCHCError("unreadable", f"không đọc được tệp ({exc.strerror or exc})", source=source) from None
    return read_bytes(data, source, max_bytes=limit)


def read_bytes(data: bytes, name: str, *, max_bytes: int | None = None) -> RawDocument:
    """Read a document held in memory; ``name`` gives the format (by suffix) and the source."""
    source = _source_name(name)
    fmt = _format_of(source)
    _check_size(len(data), _limit(max_bytes), source)
    _check_text_bytes(len(data), source)
    if not data.strip():
        raise CCHCError("empty_file", "tệp rỗng, không có nội dung", source=source)
    if fmt in ("txt", "md"):
        text, encoding, notes, hint = *_decode_text(data, source), None
    elif fmt == "docx":
        text, notes, hint = _read_docx(data, source)
        encoding = None
    else:
        text, notes = _read_pdf(data, source)
        encoding, hint = None, None
    text, legacy, more_notes = _repair(text, source, hint=hint)
    if legacy:
        encoding = f"{encoding}+{legacy}" if encoding else legacy
    text = nfc(_strip_controls(text))
    if not text.strip():
        raise CCHCError("empty_file", "tệp không có chữ nào", source=source)
    if len(text) > MAX_TEXT_CHARS:
        raise _too_long(f"{_number(len(text))} ký tự", source)
    return RawDocument(
        source=source,
        text=text,
        format=fmt,
        content_hash=content_hash(data),
        encoding=encoding,
        notes=notes + more_notes,
    )


# ---------------------------------------------------------------------------------------------
# Names, formats, sizes
# ---------------------------------------------------------------------------------------------


def _source_name(name: str) -> str:
    """The bare file name: uploads can carry Windows or Unix paths, and a control character
    would break the one-line error message."""
    base = re.split(r"[\\/]", str(name))[-1].strip()
    base = "".join(ch for ch in base if ch.isprintable())
    return base or "(không tên)"


def _format_of(source: str) -> str:
    suffix = Path(source).suffix.lower()
    fmt = SUPPORTED.get(suffix)
    if fmt is not None:
        return fmt
    accepted = ", ".join(SUPPORTED)
    if suffix == ".doc":
        reason = f"định dạng Word 97-2003 (.doc) không được hỗ trợ; hãy mở bằng Word và lưu lại thành .docx (nhận: {accepted})"
    else:
        reason = f"định dạng '{suffix or '(không có đuôi)'}' không được hỗ trợ (nhận: {accepted})"
    raise CCHCError("unsupported_format", reason, source=source)


def _limit(max_bytes: int | None) -> int:
    if max_bytes is not None:
        return max_bytes
    from cchc.settings import get_settings

    return int(get_settings().max_file_mb * MB)


def _size(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB / 10 else f"{n / 1024:.1f} KB"


def _too_long(amount: str, source: str) -> CCHCError:
    return CCHCError(
        "too_long",
        f"văn bản quá dài: {amount}, vượt giới hạn {_number(MAX_TEXT_CHARS)} ký tự (khoảng 800 trang); "
        "một kế hoạch thường chỉ vài chục trang, hãy kiểm tra lại tệp hoặc tách thành nhiều tệp",
        source=source,
        status=413,
    )


def _check_text_bytes(size: int, source: str) -> None:
    """A text file this big holds more than MAX_TEXT_CHARS characters whatever its encoding:
    refuse it before reading or decoding a byte of it."""
    if _format_of(source) in ("txt", "md") and size > _MAX_BYTES_PER_CHAR * MAX_TEXT_CHARS:
        raise _too_long(f"tệp văn bản {_size(size)}, tức hơn {_number(size // _MAX_BYTES_PER_CHAR)} ký tự", source)


def _check_size(size: int, limit: int, source: str) -> None:
    if size > limit:
        raise CCHCError(
            "too_large",
            f"tệp quá lớn: {_size(size)}, vượt giới hạn {_size(limit)}",
            source=source,
            status=413,
        )


# ---------------------------------------------------------------------------------------------
# Plain text: finding the encoding
# ---------------------------------------------------------------------------------------------

_BOMS = [  # longest first: the UTF-32 LE BOM starts with the UTF-16 LE one
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
]

# Files that are plainly not text, by their first bytes: (magic, what it is, what to do).
_MAGIC = [
    (b"%PDF-", "tệp PDF", "hãy đặt đuôi .pdf"),
    (b"PK\x03\x04", "tệp nén zip (có thể là .docx)", "hãy đặt đúng đuôi, ví dụ .docx"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "tài liệu Office cũ (.doc/.xls)", "hãy lưu lại thành .docx"),
    (b"\x89PNG", "ảnh PNG", "cần văn bản, không phải ảnh"),
    (b"\xff\xd8\xff", "ảnh JPEG", "cần văn bản, không phải ảnh"),
    (b"GIF8", "ảnh GIF", "cần văn bản, không phải ảnh"),
]

_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
# C0 controls only: C1 code points (U+0080-U+009F) are what mojibake and TCVN3 capitals turn
# into, evidence for a repair rather than of a binary file.
_C0_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _decode_text(data: bytes, source: str) -> tuple[str, str, list[str]]:
    """Bytes of a .txt/.md file -> (text, encoding label, notes)."""
    for magic, what, todo in _MAGIC:
        if data.startswith(magic):
            raise CCHCError("binary_file", f"nội dung là {what}, không phải văn bản thuần; {todo}", source=source)
    if data.lstrip().startswith(b"{\\rtf"):
        raise CCHCError(
            "unsupported_format",
            "nội dung là RTF, không phải văn bản thuần; hãy lưu lại thành .docx hoặc .txt (UTF-8)",
            source=source,
        )
    notes = []
    text, encoding = _decode_unicode(data, source)
    if text is None:
        text, broken = _nearly_utf8(data)
        if text is None:
            return _decode_8bit(data, source)
        encoding = "utf-8"
        notes.append(f"tệp UTF-8 có {broken} chỗ lỗi (byte không hợp lệ), đã thay bằng ký tự �")
    _refuse_binary(text, source)
    if encoding.startswith(("utf-16", "utf-32")):
        notes.append(f"đã đọc tệp mã {encoding.upper()}")
    if not unicodedata.is_normalized("NFC", text):
        notes.append("đã chuẩn hóa dấu tiếng Việt sang dạng dựng sẵn (Unicode NFC)")
    return nfc(text), encoding, notes


def _decode_unicode(data: bytes, source: str) -> tuple[str | None, str]:
    """Decode as a Unicode encoding if the bytes say so; (None, "") if they are not UTF-*."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(codec), codec
            except UnicodeDecodeError:
                raise CCHCError(
                    "undecodable", f"tệp ghi dấu {codec.upper()} (BOM) nhưng nội dung không đúng mã đó", source=source
                ) from None
    if b"\x00" in data:
        codec = _utf16_by_nuls(data)
        if codec is None:
            raise CCHCError("binary_file", "tệp chứa byte NUL: là tệp nhị phân, không phải văn bản", source=source)
        try:
            return data.decode(codec), codec
        except UnicodeDecodeError:
            raise CCHCError("binary_file", "tệp chứa byte NUL: là tệp nhị phân, không phải văn bản", source=source) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return None, ""


def _nearly_utf8(data: bytes) -> tuple[str | None, int]:
    """UTF-8 with a few broken bytes (a file cut mid-character, a bad copy) is still UTF-8;
    a legacy 8-bit file breaks at nearly every accented letter instead."""
    text = data.decode("utf-8", errors="replace")
    broken = text.count("\ufffd")
    intact = sum(not ch.isascii() for ch in text) - broken
    if broken <= max(3, len(text) // 1000) and intact >= 10 * broken:
        return text, broken
    return None, broken


def _utf16_by_nuls(data: bytes) -> str | None:
    """UTF-16 without a BOM: in Vietnamese text most characters are ASCII or Latin-1, so one
    byte of each pair is NUL, always on the same side."""
    if len(data) % 2:
        return None
    head = data[:65536]
    even, odd = head[0::2], head[1::2]
    nul_even, nul_odd = even.count(0), odd.count(0)
    if nul_odd >= 0.3 * len(odd) and nul_even <= 0.02 * len(even):
        return "utf-16-le"
    if nul_even >= 0.3 * len(even) and nul_odd <= 0.02 * len(odd):
        return "utf-16-be"
    return None


def _refuse_binary(text: str, source: str) -> None:
    controls = len(_C0_CONTROL_RE.findall(text))
    if controls > 0.02 * len(text) + 2:
        raise CCHCError(
            "binary_file", "tệp chứa nhiều ký tự điều khiển: có vẻ là tệp nhị phân, không phải văn bản", source=source
        )


# Latin-1 code point -> Windows-1252 character for 0x80-0x9F; the five bytes Windows-1252
# leaves undefined keep their Latin-1 code point (TCVN3 uses them for capitals).
_C1_AS_CP1252 = {
    b: ch for b in range(0x80, 0xA0) if (ch := bytes([b]).decode("cp1252", errors="ignore"))
}


def _cp1252_lenient(data: bytes) -> str:
    return data.decode("latin-1").translate(_C1_AS_CP1252)


def _reads_as_vietnamese(text: str) -> bool:
    """The check a guessed single-byte encoding must pass: accented words are mostly real
    syllables, or (too few of them to judge) the text is essentially ASCII."""
    verdict = score(text)
    if verdict.good + verdict.bad >= 3:
        return verdict.ratio >= 0.8
    visible = [ch for ch in text if not ch.isspace()]
    return sum(not ch.isascii() for ch in visible) <= 0.05 * len(visible)


_8BIT_NOTES = {
    "cp1258": "đã chuyển mã Windows-1258 sang Unicode",
    "cp1252": "tệp không phải UTF-8; đã đọc theo bảng mã Windows-1252",
}


def _decode_8bit(data: bytes, source: str) -> tuple[str, str, list[str]]:
    """Not UTF-8: try the single-byte encodings Vietnamese text was written in, keep the one
    that reads best as Vietnamese, and refuse when none does."""
    cp1252 = _cp1252_lenient(data)
    _refuse_binary(cp1252, source)
    candidates: list[tuple[str, str, Reading]] = []
    try:
        # Windows-1258 is a reading of its own: bytes that are Windows-1258 need no
        # further TCVN3/VNI conversion, so none is tried on it.
        text = nfc(data.decode("cp1258"))
        candidates.append(("cp1258", text, Reading(text)))
    except UnicodeDecodeError:
        pass
    unsure: LegacyUnsure | None = None
    try:
        # TCVN3 and VNI, read as Windows-1252 exactly as Word shows them, then converted.
        candidates.append(("cp1252", cp1252, best_reading(cp1252, legacy_likely=True)))
    except LegacyUnsure as exc:
        unsure = exc
    # Judged on a bounded sample; on a tie the first candidate, Windows-1258, wins.
    best = max(candidates, key=lambda c: score(sample(c[2].text)).net, default=None)
    if best is None or not _reads_as_vietnamese(sample(best[2].text)):
        if unsure is not None:
            raise _unsure_error(unsure, source)
        raise CCHCError(
            "undecodable",
            "không nhận ra bảng mã của tệp (không phải UTF-8, UTF-16, Windows-1258, TCVN3 hay VNI); "
            "hãy lưu lại tệp dưới dạng UTF-8",
            source=source,
        )
    label, text, reading = best
    if reading.legacy:
        return reading.text, reading.legacy, [_legacy_note(reading)]
    return text, label, [_8BIT_NOTES[label]]


# ---------------------------------------------------------------------------------------------
# Repairs shared by every format
# ---------------------------------------------------------------------------------------------


def _repair(text: str, source: str, *, hint: str | None) -> tuple[str, str | None, list[str]]:
    """Normalise line ends, undo double-encoded UTF-8, convert TCVN3/VNI.

    Returns (text, legacy encoding converted from or None, notes).
    """
    text = nfc(re.sub(r"\r\n?|[\f\v\u2028\u2029]", "\n", text))
    notes = []
    repaired, count = repair_mojibake(text)
    if count and score(repaired).net > score(text).net:
        text = repaired
        notes.append(f"đã sửa {count} chỗ lỗi mã hóa (UTF-8 bị đọc nhầm thành Windows-1252, kiểu 'Cáº£i cÃ¡ch')")
    try:
        reading = best_reading(text, hint=hint)
    except LegacyUnsure as exc:
        raise _unsure_error(exc, source) from None
    if reading.legacy:
        notes.append(_legacy_note(reading))
    return reading.text, reading.legacy, notes


def _legacy_note(reading: Reading) -> str:
    note = f"đã chuyển mã {LEGACY_NAMES[reading.legacy]} sang Unicode"
    if reading.lines_kept:
        note += f" ({reading.lines_converted} dòng; {reading.lines_kept} dòng vốn là Unicode được giữ nguyên)"
    return note


def _unsure_error(exc: LegacyUnsure, source: str) -> CCHCError:
    return CCHCError(
        "legacy_encoding_unsure",
        f"văn bản có vẻ gõ bằng bảng mã cũ (gần nhất là {LEGACY_NAMES[exc.best]}) nhưng không chắc chắn "
        f"({exc.after.ratio:.0%} từ đọc được sau khi chuyển); hãy chuyển sang Unicode (ví dụ bằng Unikey) rồi nạp lại",
        source=source,
    )


def _strip_controls(text: str) -> str:
    return _CONTROL_RE.sub("", text)


# ---------------------------------------------------------------------------------------------
# .docx
# ---------------------------------------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_W_VAL = _W + "val"


def _read_docx(data: bytes, source: str) -> tuple[str, list[str], str | None]:
    """A .docx -> (text, notes, legacy-font hint)."""
    _check_zip(data, source)
    document = _open_docx(data, source)
    body = document.element.body
    cells = int(body.xpath("count(.//w:tc)"))
    if cells > MAX_DOCX_CELLS:
        raise CCHCError(
            "too_many_cells",
            f"tài liệu có {_number(cells)} ô bảng, vượt giới hạn {_number(MAX_DOCX_CELLS)} ô",
            source=source,
        )
    text = _layout(_blocks(body))
    notes = []
    numbered = _count_numbered(document)
    if numbered:
        notes.append(
            f"{numbered} đoạn dùng đánh số/gạch đầu dòng tự động của Word; "
            "số thứ tự đó không có trong văn bản trích xuất"
        )
    return text, notes, _font_hint(document)


def _number(n: int) -> str:
    return f"{n:,}".replace(",", ".")  # Vietnamese groups thousands with dots


def _check_zip(data: bytes, source: str) -> None:
    """Refuse what is not a zip, and zips that would unpack to far more than they weigh,
    before python-docx inflates anything. ``zipfile`` never inflates an entry past its
    declared size, so checking the declared sizes bounds the real work."""
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise CCHCError(
            "corrupt_docx",
            "tệp không phải .docx thật: là tài liệu Word 97-2003 (.doc) đổi đuôi, hoặc .docx đặt mật khẩu; "
            "hãy mở bằng Word, bỏ mật khẩu và lưu lại thành .docx",
            source=source,
        )
    if data.startswith(b"%PDF-"):
        raise CCHCError("corrupt_docx", "nội dung là tệp PDF, không phải .docx; hãy đặt đuôi .pdf", source=source)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise CCHCError(
            "corrupt_docx",
            "tệp .docx bị hỏng hoặc không đầy đủ (không mở được dạng nén zip); có thể tải về chưa hết",
            source=source,
        ) from None
    if len(entries) > MAX_DOCX_ENTRIES:
        raise CCHCError("zip_bomb", f"tệp .docx chứa {len(entries)} phần, bất thường; từ chối mở", source=source)
    unpacked = sum(e.file_size for e in entries)
    if unpacked > MAX_DOCX_UNPACKED:
        raise CCHCError(
            "zip_bomb",
            f"tệp .docx giải nén ra {_size(unpacked)}, vượt giới hạn {_size(MAX_DOCX_UNPACKED)}; từ chối mở",
            source=source,
        )
    for e in entries:
        if e.file_size > MB and e.file_size > MAX_DOCX_RATIO * max(e.compress_size, 1):
            raise CCHCError(
                "zip_bomb",
                f"tệp .docx có phần '{e.filename}' nén tới {e.file_size // max(e.compress_size, 1)} lần "
                f"(giới hạn {MAX_DOCX_RATIO}): có dấu hiệu bom nén; từ chối mở",
                source=source,
            )


def _open_docx(data: bytes, source: str):
    import docx

    try:
        return docx.Document(io.BytesIO(data))
    except MemoryError:
        raise
    except Exception as exc:  # python-docx and lxml raise many types for a broken package
        if isinstance(exc, ValueError) and "not a Word file" in str(exc):
            reason = "tệp nén không phải tài liệu Word (có thể là Excel/PowerPoint đổi đuôi .docx)"
        else:
            reason = f"tệp .docx bị hỏng, không đọc được nội dung ({type(exc).__name__})"
        raise CCHCError("corrupt_docx", reason, source=source) from None


def _blocks(container):
    """Yield the paragraphs (str) and tables (list of rows) of a body, cell or text box in
    document order, descending into content controls."""
    for child in container:
        tag = child.tag
        if tag == _W + "p":
            text, boxes = _paragraph(child)
            yield text
            for box in boxes:
                yield from _blocks(box)
        elif tag == _W + "tbl":
            yield [_row(tr) for tr in _children(child, "tr")]
        elif tag == _W + "sdt":
            content = child.find(_W + "sdtContent")
            if content is not None:
                yield from _blocks(content)
        elif tag == _W + "customXml":
            yield from _blocks(child)


def _children(element, name: str):
    """Direct children named ``name``, also when wrapped in a content control."""
    for child in element:
        if child.tag == _W + name:
            yield child
        elif child.tag in (_W + "sdt", _W + "customXml"):
            inner = child.find(_W + "sdtContent") if child.tag == _W + "sdt" else child
            if inner is not None:
                yield from _children(inner, name)


def _paragraph(p) -> tuple[str, list]:
    """Text of a paragraph, and the text boxes anchored in it (read after it)."""
    parts: list[str] = []
    boxes: list = []
    _inline(p, parts, boxes)
    # Tabs inside a paragraph only align text; downstream a tab means a table row.
    text = re.sub(r"[ \t]*\t[ \t]*", " ", "".join(parts))
    return text.strip(), boxes


def _inline(element, parts: list[str], boxes: list) -> None:
    for child in element:
        tag = child.tag
        if tag == _W + "t":
            parts.append(child.text or "")
        elif tag in (_W + "tab", _W + "ptab"):
            parts.append("\t")
        elif tag in (_W + "br", _W + "cr"):
            parts.append("\n")
        elif tag == _W + "noBreakHyphen":
            parts.append("-")
        elif tag == _W + "txbxContent":
            boxes.append(child)
        elif tag == _MC_FALLBACK:
            continue  # a second copy of the mc:Choice content, for older readers
        elif tag in (_W + "delText", _W + "instrText", _W + "pPr", _W + "rPr"):
            continue
        else:
            _inline(child, parts, boxes)


def _row(tr) -> list[str]:
    """Cells of a table row, one per grid column so rows line up: a merged cell is followed
    by empty cells for the columns it spans, as in a tab-separated export."""
    cells: list[str] = []
    cells += [""] * _grid_value(tr, "trPr", "gridBefore")
    for tc in _children(tr, "tc"):
        cells.append(_cell_text(tc))
        cells += [""] * (_grid_value(tc, "tcPr", "gridSpan", default=1) - 1)
    return cells


def _grid_value(element, props: str, name: str, default: int = 0) -> int:
    node = element.find(f"{_W}{props}/{_W}{name}")
    try:
        value = int(node.get(_W_VAL)) if node is not None else default
    except (TypeError, ValueError):
        return default
    return max(0, min(value, MAX_DOCX_SPAN))


def _cell_text(tc) -> str:
    """One line: the cell's paragraphs (and any nested table) joined by spaces."""
    return " ".join(_flatten(_blocks(tc))).strip()


def _flatten(blocks) -> list[str]:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, str):
            out.append(" ".join(block.split()))
        else:
            out.extend(" ".join(" ".join(cell.split()) for cell in row if cell) for row in block)
    return [s for s in out if s]


def _layout(blocks) -> str:
    """Paragraphs separated by a blank line; a table as one line per row, cells joined by tabs."""
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, str):
            if block.strip():
                parts.append(block)
        else:
            rows = ["\t".join(cells) for cells in block if any(cells)]
            if rows:
                parts.append("\n".join(rows))
    return "\n\n".join(parts)


def _count_numbered(document) -> int:
    """Paragraphs numbered by Word itself (list numbering), directly or through their style."""
    body = document.element.body
    styles = set(document.styles.element.xpath("./w:style[w:pPr/w:numPr]/@w:styleId"))
    direct = body.xpath(".//w:p[w:pPr/w:numPr[w:numId[@w:val!='0']]]")
    styled = [
        p
        for p in body.xpath(".//w:p[w:pPr/w:pStyle][not(w:pPr/w:numPr)]")
        if p.xpath("string(w:pPr/w:pStyle/@w:val)") in styles
    ]
    return len(direct) + len(styled)


def _font_hint(document) -> str | None:
    """A legacy encoding suggested by the fonts: ``.VnTime`` & co. are TCVN3, ``VNI-*`` VNI."""
    names = set()
    for element in (document.element, document.styles.element):
        names.update(element.xpath(".//w:rFonts/@w:ascii | .//w:rFonts/@w:hAnsi"))
    hints = {"tcvn3" if n.lower().startswith(".vn") else "vni" for n in names if n.lower().startswith((".vn", "vni"))}
    return hints.pop() if len(hints) == 1 else None


# ---------------------------------------------------------------------------------------------
# .pdf
# ---------------------------------------------------------------------------------------------


def _read_pdf(data: bytes, source: str) -> tuple[str, list[str]]:
    if b"%PDF-" not in data[:1024]:
        raise CCHCError("corrupt_pdf", "tệp không phải PDF (thiếu phần đầu %PDF)", source=source)
    pages, failed = _with_deadline(lambda cancel: _pdf_pages(data, source, cancel), PDF_TIMEOUT_S, source)
    if failed and len(failed) == len(pages):
        raise CCHCError("corrupt_pdf", "tệp PDF bị hỏng: không trang nào đọc được", source=source)
    with_text = [i for i, t in enumerate(pages) if _letters(t) >= MIN_PAGE_CHARS]
    if not with_text or len(with_text) < len(pages) / 2:
        reason = "PDF không có lớp văn bản (có thể là bản quét); cần OCR trước khi nạp"
        if with_text:
            reason = (
                f"PDF chỉ có lớp văn bản ở {len(with_text)}/{len(pages)} trang, phần còn lại có thể là "
                "bản quét; cần OCR trước khi nạp"
            )
        raise CCHCError("pdf_no_text", reason, source=source)
    notes = []
    textless = set(range(len(pages))) - set(with_text) - set(failed)
    if textless:
        notes.append(f"trang {_page_list(sorted(n + 1 for n in textless))} gần như không có chữ (trang trắng hoặc ảnh quét)")
    if failed:
        notes.append(f"trang {_page_list([i + 1 for i in failed])} bị lỗi, không đọc được, đã bỏ qua")
    # Pages joined by one newline: the segmenter re-joins hard-wrapped lines and drops page
    # numbers, so nothing is done about either here.
    return "\n".join(pages), notes


def _pdf_pages(data: bytes, source: str, cancel: threading.Event) -> tuple[list[str], list[int]]:
    import pypdf

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _decrypt(reader):
            raise CCHCError(
                "encrypted_pdf",
                "PDF được đặt mật khẩu; hãy gỡ mật khẩu (hoặc in lại ra PDF mới) rồi nạp lại",
                source=source,
            )
        n_pages = len(reader.pages)
    except CCHCError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        reason = f"tệp PDF bị hỏng, không đọc được ({type(exc).__name__})"
        if b"%%EOF" not in data[-2048:]:
            reason = "tệp PDF không đầy đủ (thiếu phần kết %%EOF): có thể tải về chưa hết hoặc bị cắt"
        raise CCHCError("corrupt_pdf", reason, source=source) from None
    if n_pages > MAX_PDF_PAGES:
        raise CCHCError(
            "too_many_pages", f"PDF có {n_pages} trang, vượt giới hạn {MAX_PDF_PAGES} trang", source=source
        )
    if n_pages == 0:
        raise CCHCError("corrupt_pdf", "tệp PDF không có trang nào", source=source)
    pages, failed = [], []
    for i in range(n_pages):
        if cancel.is_set():
            break  # the caller gave up; stop instead of working for nobody
        try:
            pages.append(_page_text(reader.pages[i]))
        except MemoryError:
            raise
        except Exception:
            pages.append("")
            failed.append(i)
    return pages, failed


def _page_text(page) -> str:
    """Layout extraction keeps the vertical gap between paragraphs as a blank line, which is
    the only trace of a paragraph break once a PDF's lines are hard-wrapped; plain extraction
    is the fallback for pages the layout mode cannot handle."""
    try:
        text = page.extract_text(extraction_mode="layout") or ""
    except Exception:
        text = ""
    if not text.strip():
        text = page.extract_text() or ""
    return "\n".join(line.rstrip() for line in text.splitlines())


def _decrypt(reader) -> bool:
    """Many PDFs are encrypted only to restrict printing, with an empty open password."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # wrong password, or AES without the optional crypto library
        return False


def _with_deadline(work, seconds: float, source: str):
    """Run ``work(cancel)`` in a worker thread and give up after ``seconds``.

    pypdf can spin on crafted files. A thread cannot be killed, so on timeout the worker is
    told to stop at its next page and left to finish as a daemon; the caller gets its error
    now.
    """
    outcome: dict = {}
    cancel = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = work(cancel)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    worker = threading.Thread(target=run, name=f"cchc-pdf:{source}", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        cancel.set()
        raise CCHCError(
            "corrupt_pdf",
            f"đọc PDF quá {seconds:g} giây mà chưa xong; tệp có thể bị hỏng hoặc có cấu trúc bất thường",
            source=source,
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _letters(text: str) -> int:
    return sum(ch.isalnum() for ch in text)


def _page_list(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (f" và {len(numbers) - 10} trang khác" if len(numbers) > 10 else "")
