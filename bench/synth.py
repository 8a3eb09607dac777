"""Synthetic plan documents for benchmarks: the five bundled samples recombined.

    from synth import synth_plan_texts
    docs = synth_plan_texts(500, seed=0)      # [(file name, text), …], deterministic

Each plan is laid out like the plain-text samples (header, "KẾ HOẠCH", numbered sections I–V, a
target list, a task list per reform area, "Tổ chức thực hiện", "Nơi nhận", sometimes a task
table), so ``segment`` parses it as it parses a real plan. Its content is recombined *per
section*: for every reform area the task list of one randomly chosen sample is taken (a few of
its tasks dropped, one or two tasks of the same area from other samples added), and likewise for
targets, purposes and assignments. Unit names ("xã …"/"phường …"), provinces, years and target
figures are varied; the rest of each clause is the sample's wording.

``synth_plans`` returns the same plans with provenance: for every clause the sample clause it was
copied from, so a benchmark can give a synthetic clause the (perturbed) cached vector of its
source instead of embedding 50 000 clauses.

    python bench/synth.py 3 --seed 1        # print three plans
"""

from __future__ import annotations

import random
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache

AREA_ORDER = ("direction", "institutions", "procedures", "organisation", "civil_service", "public_finance", "digital_government")
AREA_HEADINGS = {
    "direction": ("Công tác chỉ đạo, điều hành", "Công tác chỉ đạo, điều hành cải cách hành chính"),
    "institutions": ("Cải cách thể chế",),
    "procedures": ("Cải cách thủ tục hành chính",),
    "organisation": ("Cải cách tổ chức bộ máy", "Cải cách tổ chức bộ máy hành chính nhà nước"),
    "civil_service": ("Cải cách chế độ công vụ",),
    "public_finance": ("Cải cách tài chính công",),
    "digital_government": (
        "Xây dựng và phát triển Chính quyền điện tử, Chính quyền số",
        "Xây dựng và phát triển chính quyền số",
    ),
}
PROVINCES = (
    "Thanh Hóa", "Hải Phòng", "Ninh Bình", "Hà Tĩnh", "Nghệ An", "Quảng Ninh", "Bắc Ninh", "Phú Thọ",
    "Thái Nguyên", "Lào Cai", "Tuyên Quang", "Quảng Trị", "Huế", "Đà Nẵng", "Quảng Ngãi", "Gia Lai",
    "Đắk Lắk", "Khánh Hòa", "Lâm Đồng", "Đồng Nai", "Tây Ninh", "Đồng Tháp", "Vĩnh Long", "An Giang", "Cà Mau",
)
_SYLLABLES = (
    "An", "Bình", "Cẩm", "Đông", "Định", "Gia", "Hà", "Hải", "Hòa", "Hưng", "Khánh", "Lạc", "Lộc", "Minh",
    "Nam", "Ngọc", "Phú", "Phúc", "Quang", "Sơn", "Tân", "Thạch", "Thành", "Thịnh", "Thuận", "Tiến", "Trung",
    "Vĩnh", "Xuân", "Yên", "Đức", "Long", "Mỹ", "Tường", "Hồng", "Kim", "Liên", "Phong", "Quý", "Văn",
)
_LABELS = ("a", "b", "c", "d", "đ", "e", "g", "h", "i", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u")
# Unit and province names of the samples, replaced by the synthetic plan's own.
_SAMPLE_UNITS = ("Định Hưng", "Gia Phúc", "Hà Đông", "Hải Hậu", "Bắc Hồng Lĩnh")
_SAMPLE_PROVINCES = ("Thanh Hóa", "Hải Phòng", "Ninh Bình", "Hà Tĩnh")
_UNIT_RE = re.compile(r"\b(xã|phường|Xã|Phường|XÃ|PHƯỜNG)\s*(" + "|".join(_SAMPLE_UNITS) + r")")
_BARE_UNIT_RE = re.compile("|".join(_SAMPLE_UNITS))
_PROVINCE_RE = re.compile("|".join(_SAMPLE_PROVINCES))
_YEAR_RE = re.compile(r"(năm|Năm)\s+(20\d\d)")
_PERCENT_RE = re.compile(r"(\d{1,3})(\s?%)")
_LEVEL_RE = re.compile(r"\b(?:xã|phường)\b(?! hội)")


@dataclass
class SynthClause:
    text: str  # the clause as written in the synthetic plan (without its list label)
    source: str  # the sample clause it was copied from
    kind: str
    area: str | None


@dataclass
class SynthPlan:
    name: str
    text: str
    unit: str
    province: str
    year: int
    clauses: list[SynthClause] = field(default_factory=list)


@dataclass
class _Pools:
    purpose: list[list[str]]  # per sample
    targets: list[dict[str | None, list[str]]]  # per sample: area -> texts
    tasks: list[dict[str | None, list[str]]]
    assignment: list[list[str]]
    budget: list[list[str]]
    rows: list[tuple[str, str | None, str | None, str | None, str | None]]  # task-table rows
    years: list[int]


@lru_cache(maxsize=1)
def _pools() -> _Pools:
    from cchc.corpus.bundled import sample_paths
    from cchc.corpus.reader import read_document
    from cchc.corpus.segment import segment

    pools = _Pools([], [], [], [], [], [], [])
    for path in sample_paths():
        parsed = segment(read_document(path))
        targets: dict[str | None, list[str]] = {}
        tasks: dict[str | None, list[str]] = {}
        purpose, assignment, budget = [], [], []
        for c in parsed.clauses:
            if c.is_table_row:
                pools.rows.append((c.text, c.responsible, c.partners, c.deadline, c.output))
            elif c.kind == "target":
                targets.setdefault(c.area, []).append(c.text)
            elif c.kind == "task":
                tasks.setdefault(c.area, []).append(c.text)
            elif c.kind == "purpose":
                purpose.append(c.text)
            elif c.kind == "assignment":
                assignment.append(c.text)
            elif c.kind == "budget":
                budget.append(c.text)
        pools.purpose.append(purpose)
        pools.targets.append(targets)
        pools.tasks.append(tasks)
        pools.assignment.append(assignment)
        pools.budget.append(budget)
        pools.years.append(parsed.meta.year or 2025)
    return pools


def _unit_name(rng: random.Random) -> str:
    a, b = rng.sample(_SYLLABLES, 2)
    return f"{a} {b}"


class _Rewriter:
    """Adapts a sample clause to the synthetic plan: its unit, province, year and figures."""

    def __init__(self, rng: random.Random, level: str, name: str, province: str, year: int):
        self.rng, self.level, self.name, self.province, self.year = rng, level, name, province, year

    def __call__(self, text: str, source_year: int, *, vary_figures: bool = False) -> str:
        text = _UNIT_RE.sub(lambda m: f"{m.group(1)} {self.name}", text)
        text = _BARE_UNIT_RE.sub(self.name, text)
        # the samples say "UBND phường", "của xã": speak of this plan's own level ("xã hội" stays)
        text = _LEVEL_RE.sub(self.level, text)
        text = _PROVINCE_RE.sub(self.province, text)
        text = _YEAR_RE.sub(lambda m: f"{m.group(1)} {self.year + int(m.group(2)) - source_year}", text)
        if vary_figures:
            text = _PERCENT_RE.sub(self._figure, text)
        return " ".join(text.split())

    def _figure(self, m: re.Match) -> str:
        value = int(m.group(1))
        if value > 100 or self.rng.random() < 0.5:
            return m.group(0)
        if value == 100:
            value = self.rng.choice((100, 100, 100, 95, 90))
        else:
            value = max(10, min(100, value + self.rng.choice((-10, -5, 5, 10))))
        return f"{value}{m.group(2)}"


def _pick_section(rng: random.Random, per_sample: list[dict[str | None, list[str]]], area: str | None) -> list[tuple[str, int]]:
    """One sample's list for ``area`` (some items dropped) plus one or two from other samples."""
    having = [k for k, d in enumerate(per_sample) if d.get(area)]
    if not having:
        return []
    main = rng.choice(having)
    out = [(t, main) for t in per_sample[main][area] if rng.random() > 0.15]
    others = [(t, k) for k in having if k != main for t in per_sample[k][area]]
    for t, k in rng.sample(others, min(len(others), rng.randint(0, 2))):
        out.insert(rng.randint(0, len(out)), (t, k))
    return out


def _plan(i: int, rng: random.Random) -> SynthPlan:
    pools = _pools()
    level = rng.choice(("xã", "xã", "xã", "phường"))
    name = _unit_name(rng)
    province = rng.choice(PROVINCES)
    year = rng.choice((2025, 2026, 2026, 2027))
    rewrite = _Rewriter(rng, level, name, province, year)
    n_samples = len(pools.years)
    plan = SynthPlan(name=f"{i:04d}-{'xa' if level == 'xã' else 'phuong'}-{_slug(name)}-{year}.txt",
                     text="", unit=f"{level} {name}", province=province, year=year)
    lines = [
        "ỦY BAN NHÂN DÂN",
        f"{level.upper()} {name.upper()}",
        f"Số: {rng.randint(1, 300):02d}/KH-UBND",
        f"{name}, ngày {rng.randint(1, 28)} tháng {rng.randint(1, 12)} năm {year - 1}",
        "KẾ HOẠCH",
        f"Cải cách hành chính {level} {name} năm {year}",
        f"Căn cứ Kế hoạch số {rng.randint(10, 400)}/KH-UBND của UBND tỉnh {province} về cải cách hành chính năm {year}; "
        f"UBND {level} {name} ban hành Kế hoạch cải cách hành chính năm {year} như sau:",
    ]

    def emit(kind: str, area: str | None, text: str, source: str, label: str) -> None:
        lines.append(f"{label} {text}")
        plan.clauses.append(SynthClause(text, source, kind, area))

    lines.append("I. MỤC ĐÍCH, YÊU CẦU")
    src = rng.randrange(n_samples)
    for k, t in enumerate(pools.purpose[src][:5], 1):
        emit("purpose", None, rewrite(t, pools.years[src]), t, f"{k}.")

    lines.append("II. CHỈ TIÊU CHỦ YẾU")
    number = 0
    for area in AREA_ORDER:
        picked = _pick_section(rng, pools.targets, area)[:6]
        if not picked:
            continue
        number += 1
        lines.append(f"{number}. {rng.choice(AREA_HEADINGS[area])}")
        for n, (t, k) in enumerate(picked, 1):
            emit("target", area, rewrite(t, pools.years[k], vary_figures=True), t, f"{number}.{n}.")

    lines.append("III. NHIỆM VỤ, GIẢI PHÁP")
    for number, area in enumerate(AREA_ORDER, 1):
        lines.append(f"{number}. {rng.choice(AREA_HEADINGS[area])}")
        bullets = rng.random() < 0.3
        for j, (t, k) in enumerate(_pick_section(rng, pools.tasks, area)[: len(_LABELS)]):
            emit("task", area, rewrite(t, pools.years[k], vary_figures=True), t, "-" if bullets else f"{_LABELS[j]})")

    lines.append("IV. KINH PHÍ THỰC HIỆN")
    src = rng.choice([k for k in range(n_samples) if pools.budget[k]])
    for k, t in enumerate(pools.budget[src][:2], 1):
        emit("budget", None, rewrite(t, pools.years[src]), t, f"{k}.")

    lines.append("V. TỔ CHỨC THỰC HIỆN")
    src = rng.randrange(n_samples)
    for k, t in enumerate(pools.assignment[src][:14], 1):
        emit("assignment", None, rewrite(t, pools.years[src]), t, f"{k}.")
    lines += ["Nơi nhận:", "- UBND tỉnh;", "- Thường trực Đảng ủy;", "- Lưu: VT."]

    if pools.rows and rng.random() < 0.3:
        lines.append("PHỤ LỤC: DANH MỤC NHIỆM VỤ CẢI CÁCH HÀNH CHÍNH")
        lines.append("TT\tNhiệm vụ\tCơ quan chủ trì\tCơ quan phối hợp\tThời gian hoàn thành\tSản phẩm")
        for k, (t, resp, partners, deadline, output) in enumerate(rng.sample(pools.rows, min(len(pools.rows), rng.randint(5, 15))), 1):
            text = rewrite(t, 2025)
            cells = [str(k), text] + [
                "" if rng.random() < 0.1 else (rewrite(v, 2025) if v else "") for v in (resp, partners, deadline, output)
            ]
            lines.append("\t".join(cells))
            plan.clauses.append(SynthClause(text, t, "task", None))
    plan.text = "\n".join(lines) + "\n"
    return plan


def _slug(name: str) -> str:
    from cchc.corpus.textnorm import fold

    return re.sub(r"[^a-z0-9]+", "-", fold(name)).strip("-")


def synth_plans(n: int, seed: int = 0) -> list[SynthPlan]:
    rng = random.Random(seed)
    return [_plan(i, random.Random(rng.getrandbits(64))) for i in range(n)]


def synth_plan_texts(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` synthetic plan documents as (file name, text), the same for the same seed."""
    return [(p.name, p.text) for p in synth_plans(n, seed)]


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
    for name, text in synth_plan_texts(count, seed):
        print(f"===== {name}\n{text}")
