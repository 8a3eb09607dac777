"""Typed records passed between the layers: a document as read, a plan as segmented, a plan
and its clauses as stored."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Clause kinds. Codes are stable (JSON, filters); labels are what a reader sees.
KINDS: dict[str, str] = {
    "purpose": "Mục đích, yêu cầu",
    "target": "Chỉ tiêu",
    "task": "Nhiệm vụ, giải pháp",
    "assignment": "Tổ chức thực hiện",
    "budget": "Kinh phí",
    "other": "Khác",
}

# The national programme's reform areas (Nghị quyết 76/NQ-CP).
AREAS: dict[str, str] = {
    "direction": "Chỉ đạo, điều hành",
    "institutions": "Cải cách thể chế",
    "procedures": "Cải cách thủ tục hành chính",
    "organisation": "Cải cách tổ chức bộ máy",
    "civil_service": "Cải cách chế độ công vụ",
    "public_finance": "Cải cách tài chính công",
    "digital_government": "Chính quyền điện tử, chính quyền số",
}

LEVELS = ("xã", "phường", "thị trấn", "huyện", "quận", "thị xã", "tỉnh", "thành phố")

SECTION_SEPARATOR = " › "


@dataclass
class RawDocument:
    """A document as read from disk: NFC text plus how it was decoded."""

    source: str
    text: str
    format: str
    content_hash: str
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Clause:
    """One unit of a plan a reader can cite: a paragraph, list item or task-table row."""

    position: int
    text: str
    path: list[str]
    kind: str
    area: str | None = None
    area_source: str | None = None  # "heading" (said by the plan) or "model" (predicted)
    label: str | None = None  # its own numbering, e.g. "a)" or "3.2."
    responsible: str | None = None
    partners: str | None = None
    deadline: str | None = None
    output: str | None = None
    id: int | None = None
    plan_id: int | None = None

    @property
    def section(self) -> str:
        return SECTION_SEPARATOR.join(self.path)

    @property
    def is_table_row(self) -> bool:
        return self.responsible is not None or self.deadline is not None or self.output is not None

    def to_json(self) -> dict:
        d = {
            "id": self.id,
            "plan_id": self.plan_id,
            "section": self.section,
            "kind": self.kind,
            "area": self.area,
            "text": self.text,
        }
        if self.is_table_row:
            d.update(
                responsible=self.responsible,
                partners=self.partners,
                deadline=self.deadline,
                output=self.output,
            )
        return d


@dataclass
class PlanMeta:
    """What the text says about the plan; anything it does not say stays None."""

    title: str | None = None
    unit: str | None = None
    level: str | None = None
    province: str | None = None
    period: str | None = None
    year: int | None = None
    year_end: int | None = None
    doc_number: str | None = None
    issued: str | None = None  # ISO date
    parents: list[str] = field(default_factory=list)


@dataclass
class ParsedPlan:
    """The output of ``segment``: metadata, clauses and the text set aside as boilerplate."""

    source: str
    format: str
    content_hash: str
    meta: PlanMeta
    clauses: list[Clause]
    boilerplate: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """A plan as stored in the library."""

    id: int
    source: str
    format: str
    content_hash: str
    meta: PlanMeta
    n_clauses: int
    ingested_at: str

    def to_json(self) -> dict:
        m = self.meta
        return {
            "id": self.id,
            "unit": m.unit,
            "level": m.level,
            "province": m.province,
            "period": m.period,
            "year": m.year,
            "doc_number": m.doc_number,
            "issued": m.issued,
            "source": self.source,
            "n_clauses": self.n_clauses,
        }

    def meta_dict(self) -> dict:
        return asdict(self.meta)
