"""Plan metadata read from the text: unit, level, province, period, number, date, parents.

Everything comes from what the document says; a field the text does not state stays None
("Số: /KH-UBND" has no number, "ngày /04/2026" has no day), never a guess.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

from cchc.corpus.models import PlanMeta
from cchc.corpus.textnorm import canonical

# Provinces and centrally-run cities, before and after the 2025 merger.
PROVINCES = [
    "An Giang", "Bà Rịa - Vũng Tàu", "Bạc Liêu", "Bắc Giang", "Bắc Kạn", "Bắc Ninh", "Bến Tre",
    "Bình Dương", "Bình Định", "Bình Phước", "Bình Thuận", "Cà Mau", "Cao Bằng", "Cần Thơ",
    "Đà Nẵng", "Đắk Lắk", "Đắk Nông", "Điện Biên", "Đồng Nai", "Đồng Tháp", "Gia Lai", "Hà Giang",
    "Hà Nam", "Hà Nội", "Hà Tĩnh", "Hải Dương", "Hải Phòng", "Hậu Giang", "Hòa Bình", "Hồ Chí Minh",
    "Huế", "Hưng Yên", "Khánh Hòa", "Kiên Giang", "Kon Tum", "Lai Châu", "Lạng Sơn", "Lào Cai",
    "Lâm Đồng", "Long An", "Nam Định", "Nghệ An", "Ninh Bình", "Ninh Thuận", "Phú Thọ", "Phú Yên",
    "Quảng Bình", "Quảng Nam", "Quảng Ngãi", "Quảng Ninh", "Quảng Trị", "Sóc Trăng", "Sơn La",
    "Tây Ninh", "Thái Bình", "Thái Nguyên", "Thanh Hóa", "Thừa Thiên Huế", "Tiền Giang", "Trà Vinh",
    "Tuyên Quang", "Vĩnh Long", "Vĩnh Phúc", "Yên Bái",
]
CENTRAL_CITIES = {"Hà Nội", "Hải Phòng", "Đà Nẵng", "Huế", "Hồ Chí Minh", "Cần Thơ"}
_PROVINCE_BY_CANON = {canonical(p): p for p in PROVINCES}

LEVEL_WORDS = ("thành phố", "thị trấn", "thị xã", "phường", "huyện", "quận", "tỉnh", "xã")
_LEVEL_RE = re.compile(r"\b(" + "|".join(LEVEL_WORDS) + r")\s+", re.IGNORECASE)
_CAP_WORD_RE = re.compile(r"[A-ZĐÀ-Ỹ][\wÀ-ỹ]*")

_PROV_MENTION_RE = re.compile(r"\b(tỉnh|thành phố|tp\.?)\s+", re.IGNORECASE)

_DATE_WORDS_RE = re.compile(r"ngày\s+(\d{1,2})\s+tháng\s+(\d{1,2})\s+năm\s+(\d{4})")
_DATE_SLASH_RE = re.compile(r"ngày\s+(\d{1,2})\s*/\s*(\d{1,2})\s*/\s*(\d{4})")
_NUMBER_RE = re.compile(r"^\s*Số\s*:?\s*(\d+)\s*/\s*([A-ZĐ][A-ZĐ0-9\-]*)", re.MULTILINE)
_ATTACHED_RE = re.compile(r"Kèm theo Quyết định số\s*(\d+)\s*/\s*([A-ZĐ][A-ZĐ0-9\-]*)(?:\s*ngày\s*(\d{1,2})\s*/\s*(\d{1,2})\s*/\s*(\d{4}))?")

_PERIOD_RES = [
    (re.compile(r"giai đoạn\s*(\d{4})\s*[-–—]\s*(\d{4})", re.IGNORECASE), "range"),
    (re.compile(r"(0?6|sáu)\s+tháng\s+(đầu|cuối)\s+năm\s+(\d{4})", re.IGNORECASE), "half"),
    (re.compile(r"quý\s+([IV]+)\s*(?:/|năm)\s*(\d{4})", re.IGNORECASE), "quarter"),
    (re.compile(r"năm\s+(\d{4})", re.IGNORECASE), "year"),
]

_DOCREF_RE = re.compile(
    r"(?:(?P<type>Kế hoạch|Quyết định|Nghị quyết|Công văn|Chỉ thị|Thông báo|Chương trình)\s+)?"
    r"(?:số\s*)?(?P<num>\d[\d.]*\s*/\s*[A-Za-zĐđ0-9\-&./]*[A-Za-zĐđ])"
)
_ROMAN_LINE_RE = re.compile(r"^\W*(?:#+\s*)?\**\s*[IVX]+\.\s")


def _cap_words_after(text: str, start: int, max_words: int = 5) -> str:
    words = []
    pos = start
    while len(words) < max_words:
        m = _CAP_WORD_RE.match(text, pos)
        if not m:
            break
        words.append(m.group(0))
        pos = m.end()
        if pos < len(text) and text[pos] == " ":
            pos += 1
        else:
            break
    return " ".join(words)


def find_unit(title: str | None, front: str) -> tuple[str | None, str | None]:
    """(unit, level) from the title, else from the caps header ("XÃ ĐỊNH HƯNG")."""
    for source in (title or "", front):
        for m in _LEVEL_RE.finditer(source):
            level = m.group(1).lower()
            name = _cap_words_after(source, m.end())
            if not name:
                continue
            if name.isupper():
                name = " ".join(w.capitalize() for w in name.split())
            # "XÃ ĐỊNH HƯNG Độc lập" — stop at the motto.
            name = re.split(r"\s+(?:Độc|Cộng|Số)\b", name)[0]
            return f"{level} {name}", level
    return None, None


def find_province(text: str, unit: str | None, level: str | None) -> str | None:
    if level in ("tỉnh",) and unit:
        return _province_name(unit.split(" ", 1)[1])
    if level == "thành phố" and unit and _province_name(unit.split(" ", 1)[1]) in CENTRAL_CITIES:
        return _province_name(unit.split(" ", 1)[1])
    votes: Counter[str] = Counter()
    first: dict[str, int] = {}
    for m in _PROV_MENTION_RE.finditer(text):
        kind = m.group(1).lower()
        name = _cap_words_after(text, m.end(), 4)
        prov = _longest_province(name)
        if prov is None:
            continue
        if kind != "tỉnh" and prov not in CENTRAL_CITIES:
            continue  # a provincial city, not a province
        votes[prov] += 1
        first.setdefault(prov, m.start())
    if not votes:
        return None
    return max(votes, key=lambda p: (votes[p], -first[p]))


def _province_name(name: str) -> str | None:
    return _PROVINCE_BY_CANON.get(canonical(name))


def _longest_province(name: str) -> str | None:
    words = name.split()
    for n in range(len(words), 0, -1):
        p = _province_name(" ".join(words[:n]))
        if p:
            return p
    return None


def find_period(title: str | None, text: str) -> tuple[str | None, int | None, int | None]:
    for source in (title or "", text[:1500]):
        for rx, kind in _PERIOD_RES:
            m = rx.search(source)
            if not m:
                continue
            if kind == "range":
                a, b = int(m.group(1)), int(m.group(2))
                return f"giai đoạn {a} – {b}", a, b
            if kind == "half":
                y = int(m.group(3))
                return f"6 tháng {m.group(2).lower()} năm {y}", y, y
            if kind == "quarter":
                y = int(m.group(2))
                return f"quý {m.group(1).upper()}/{y}", y, y
            y = int(m.group(1))
            return f"năm {y}", y, y
        if title:
            # the title names no period: don't fall back to a year mentioned in the text body
            # unless the title is absent altogether.
            continue
    return None, None, None


def _iso(d: str, m: str, y: str) -> str | None:
    try:
        return date(int(y), int(m), int(d)).isoformat()
    except ValueError:
        return None


def find_number_and_date(front: str) -> tuple[str | None, str | None]:
    number = None
    issued = None
    m = _NUMBER_RE.search(front)
    if m:
        number = f"{m.group(1)}/{m.group(2)}"
    for line in front.splitlines():
        if ", ngày" in line or line.strip().lower().startswith("ngày"):
            d = _DATE_WORDS_RE.search(line) or _DATE_SLASH_RE.search(line)
            if d:
                issued = _iso(*d.groups())
                break
    a = _ATTACHED_RE.search(front)
    if a:
        number = number or f"{a.group(1)}/{a.group(2)}"
        if issued is None and a.group(3):
            issued = _iso(a.group(3), a.group(4), a.group(5))
    return number, issued


def find_parents(preamble: list[str]) -> list[str]:
    """References to the plans and programmes this plan implements."""
    out: list[str] = []
    for para in preamble:
        para = re.sub(r"(?<=[A-ZĐ])ngày", " ngày", para)
        for frag in re.split(r";", para):
            matches = list(_DOCREF_RE.finditer(frag))
            for i, m in enumerate(matches):
                end = matches[i + 1].start() if i + 1 < len(matches) else len(frag)
                desc = frag[m.start():end].strip(" ,.")
                c = canonical(desc)
                is_plan = "/kh" in canonical(m.group("num")) or any(
                    k in c for k in ("ban hành kế hoạch", "ban hành chương trình", "về cải cách hành chính", "kế hoạch cải cách")
                )
                if not is_plan:
                    continue
                cut = re.split(r"\s+(?:về|ban hành|\(gọi tắt)\b", desc, maxsplit=1)[0].strip(" ,.")
                if m.group("type"):
                    ref = cut
                else:
                    ref = f"{'Kế hoạch' if '/kh' in canonical(m.group('num')) else 'Văn bản'} số {cut}"
                if ref not in out:
                    out.append(ref)
    return out


def front_matter(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if _ROMAN_LINE_RE.match(line):
            break
        lines.append(line)
    return "\n".join(lines)


def extract_metadata(text: str, *, title: str | None, preamble: list[str]) -> PlanMeta:
    front = front_matter(text)
    unit, level = find_unit(title, front)
    province = find_province(text, unit, level)
    period, year, year_end = find_period(title, front)
    number, issued = find_number_and_date(front)
    return PlanMeta(
        title=title,
        unit=unit,
        level=level,
        province=province,
        period=period,
        year=year,
        year_end=year_end,
        doc_number=number,
        issued=issued,
        parents=find_parents(preamble),
    )
