"""Gap reports a commune office can open and forward: Markdown, HTML, CSV and Excel.

``render_report(report, fmt)`` turns a ``GapReport`` into the bytes of one file:

* ``md``   – Markdown for chat, e-mail or a wiki;
* ``html`` – one self-contained page (inline CSS, no script, no external resource); every piece
  of document text is HTML-escaped by Jinja's autoescaping, so a plan that contains
  ``<script>`` shows it as text;
* ``csv``  – one row per template item, UTF-8 with a byte-order mark so Excel shows the
  Vietnamese letters;
* ``xlsx`` – a workbook with a summary sheet, the items, the draft's extra clauses and the draft
  checks, coloured by status;
* ``json`` – the ``GapReport.to_json()`` document.

Headings and labels are Vietnamese; codes (``covered``, ``weaker`` …) stay in the JSON only.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from cchc.errors import CCHCError
from cchc.search.gap import (
    COMPARISON_LABELS,
    STATUS_LABELS,
    GapItem,
    GapReport,
    PlanRef,
    area_label,
)

FORMATS = ("md", "html", "csv", "xlsx", "json")
MEDIA_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}
KIND_LABELS = {"task": "Nhiệm vụ", "target": "Chỉ tiêu", "purpose": "Mục đích, yêu cầu",
               "assignment": "Tổ chức thực hiện", "budget": "Kinh phí", "other": "Khác"}
TITLE = "Báo cáo đối chiếu dự thảo kế hoạch CCHC với mẫu"


def render_report(report: GapReport, fmt: str) -> bytes:
    fmt = (fmt or "").lower().lstrip(".")
    if fmt == "markdown":
        fmt = "md"
    renderers = {"md": _markdown, "html": _html, "csv": _csv, "xlsx": _xlsx, "json": _json}
    if fmt not in renderers:
        raise CCHCError(
            "bad_format", f"định dạng báo cáo '{fmt}' không hỗ trợ; chọn một trong: {', '.join(FORMATS)}", status=422
        )
    return renderers[fmt](report)


# --- shared wording ------------------------------------------------------------------------------


def plan_label(ref: PlanRef) -> str:
    name = ref.title or ref.unit or ref.source
    where = f" ({ref.unit})" if ref.unit and ref.unit not in name else ""
    ident = f"kế hoạch {ref.id}" if ref.id is not None else "chưa lưu vào thư viện"
    return f"{name}{where} — {ident}, tệp {ref.source}"


def percent(x: float) -> str:
    return f"{100 * x:.0f}%".replace(".", ",")


def target_text(item: GapItem) -> str:
    t = item.target
    if t is None:
        return ""
    plan = t.plan_value or "không nêu"
    return f"{COMPARISON_LABELS[t.comparison]}: mẫu {t.template_value}, dự thảo {plan}"


def evidence_text(item: GapItem, limit: int = 2) -> str:
    return " | ".join(m.text for m in item.matches[:limit])


def _generated() -> str:
    return datetime.now().strftime("%d/%m/%Y %H:%M")


def _summary_lines(r: GapReport) -> list[tuple[str, str]]:
    c, t = r.counts, r.target_counts()
    rows = [
        ("Mẫu", plan_label(r.template)),
        ("Dự thảo", plan_label(r.plan)),
        ("Tỷ lệ bao phủ", f"{percent(r.coverage)} (mục có một phần tính một nửa)"),
        ("Số mục của mẫu", str(len(r.items))),
        ("Đã có", str(c["covered"])),
        ("Có một phần", str(c["partial"])),
        ("Còn thiếu", str(c["missing"])),
        ("Chỉ tiêu thấp hơn mẫu", str(t["weaker"])),
        ("Chỉ tiêu không nêu con số", str(t["no_figure"])),
        ("Chỉ tiêu cao hơn mẫu", str(t["stronger"])),
        ("Nội dung dự thảo có thêm", str(len(r.extra))),
        ("Ngưỡng điểm", f"đã có ≥ {r.covered_threshold:.2f}; có một phần ≥ {r.partial_threshold:.2f}"),
    ]
    return rows


def _groups(items: list[GapItem]) -> list[tuple[str, list[GapItem]]]:
    out: dict[str, list[GapItem]] = {}
    for it in items:
        out.setdefault(area_label(it.area), []).append(it)
    return list(out.items())


# --- Markdown ------------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def _markdown(r: GapReport) -> bytes:
    lines = [f"# {TITLE}", "", f"_Lập lúc {_generated()}._", ""]
    lines += [f"- **{k}:** {_md_cell(v)}" for k, v in _summary_lines(r)]
    lines += ["", "## Bao phủ theo lĩnh vực", "", "| Lĩnh vực | Số mục | Đã có | Có một phần | Còn thiếu | Bao phủ |", "|---|---|---|---|---|---|"]
    lines += [f"| {a.label} | {a.items} | {a.covered} | {a.partial} | {a.missing} | {percent(a.coverage)} |" for a in r.by_area]

    missing = r.missing_by_area()
    lines += ["", "## Các mục còn thiếu", ""]
    if not missing:
        lines.append("Không có mục nào còn thiếu.")
    for area, items in missing.items():
        lines += [f"### {area_label(None if area == 'none' else area)}", ""]
        lines += [f"- {_md_cell(it.text)} _({_md_cell(it.section)})_" for it in items]
        lines.append("")

    flagged = [it for it in r.items if it.target and it.target.comparison in ("weaker", "no_figure")]
    lines += ["", "## Chỉ tiêu cần xem lại", ""]
    if not flagged:
        lines.append("Không có chỉ tiêu nào thấp hơn mẫu hoặc thiếu con số.")
    lines += [f"- {_md_cell(target_text(it))} — {_md_cell(it.text)}" for it in flagged]

    lines += ["", "## Chi tiết từng mục", ""]
    for label, items in _groups(r.items):
        lines += [f"### {label}", "", "| Mục của mẫu | Trạng thái | Điểm | Nội dung tương ứng trong dự thảo | Chỉ tiêu |", "|---|---|---|---|---|"]
        for it in items:
            lines.append(
                f"| {_md_cell(it.text)} | {STATUS_LABELS[it.status]} | {it.score:.2f} | "
                f"{_md_cell(evidence_text(it)) if it.status != 'missing' else '—'} | {_md_cell(target_text(it)) or '—'} |"
            )
        lines.append("")

    lines += ["## Nội dung dự thảo có thêm (không có trong mẫu)", ""]
    lines += [f"- {_md_cell(m.text)} _({_md_cell(m.section)})_" for m in r.extra] or ["Không có."]
    lines += ["", "## Kiểm tra dự thảo", ""]
    lines += [f"- {_md_cell(c.message)}" + (f" — {_md_cell(c.text)}" if c.text else "") for c in r.checks] or ["Không phát hiện vấn đề."]
    lines += ["", *[f"> {_md_cell(n)}" for n in r.notes]] if r.notes else []
    return ("\n".join(lines).rstrip() + "\n").encode("utf-8")


# --- HTML ----------------------------------------------------------------------------------------

_HTML = """<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font-family: "Segoe UI", Roboto, Arial, sans-serif; margin: 2rem auto; max-width: 70rem; color: #1f2328; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; } h3 { font-size: 1.05rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; font-size: .92rem; }
th, td { border: 1px solid #d0d7de; padding: .35rem .5rem; vertical-align: top; text-align: left; }
th { background: #f6f8fa; }
.covered { background: #dafbe1; } .partial { background: #fff8c5; } .missing { background: #ffebe9; }
.weaker, .no_figure { color: #a40e26; font-weight: 600; } .stronger { color: #1a7f37; }
.muted { color: #57606a; font-size: .85rem; }
dl.summary { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
dl.summary dt { font-weight: 600; }
@media print { body { margin: 0; max-width: none; } }
</style>
</head>
<body>
<h1>{{ title }}</h1>
<p class="muted">Lập lúc {{ generated }}</p>
<dl class="summary">
{% for k, v in summary %}<dt>{{ k }}</dt><dd>{{ v }}</dd>
{% endfor %}</dl>

<h2>Bao phủ theo lĩnh vực</h2>
<table>
<tr><th>Lĩnh vực</th><th>Số mục</th><th>Đã có</th><th>Có một phần</th><th>Còn thiếu</th><th>Bao phủ</th></tr>
{% for a in by_area %}<tr><td>{{ a.label }}</td><td>{{ a.items }}</td><td>{{ a.covered }}</td><td>{{ a.partial }}</td><td>{{ a.missing }}</td><td>{{ percent(a.coverage) }}</td></tr>
{% endfor %}</table>

<h2>Các mục còn thiếu</h2>
{% if not missing %}<p>Không có mục nào còn thiếu.</p>{% endif %}
{% for area, items in missing %}<h3>{{ area }}</h3>
<ul>{% for it in items %}<li>{{ it.text }} <span class="muted">({{ it.section }})</span></li>{% endfor %}</ul>
{% endfor %}

<h2>Chỉ tiêu cần xem lại</h2>
{% if not flagged %}<p>Không có chỉ tiêu nào thấp hơn mẫu hoặc thiếu con số.</p>{% else %}
<table>
<tr><th>Mục của mẫu</th><th>Mẫu</th><th>Dự thảo</th><th>Đánh giá</th></tr>
{% for it in flagged %}<tr><td>{{ it.text }}</td><td>{{ it.target.template_value }}</td><td>{{ it.target.plan_value or "không nêu" }}</td><td class="{{ it.target.comparison }}">{{ comparison_labels[it.target.comparison] }}</td></tr>
{% endfor %}</table>{% endif %}

<h2>Chi tiết từng mục</h2>
{% for label, items in groups %}<h3>{{ label }}</h3>
<table>
<tr><th>Mục của mẫu</th><th>Trạng thái</th><th>Điểm</th><th>Nội dung tương ứng trong dự thảo</th><th>Chỉ tiêu</th></tr>
{% for it in items %}<tr class="{{ it.status }}">
<td>{{ it.text }}<div class="muted">{{ it.section }}</div></td>
<td>{{ status_labels[it.status] }}</td><td>{{ "%.2f"|format(it.score) }}</td>
<td>{% if it.status != "missing" %}{% for m in it.matches[:2] %}<div>{{ m.text }}</div>{% endfor %}{% else %}—{% endif %}</td>
<td>{% if it.target %}<span class="{{ it.target.comparison }}">{{ target_text(it) }}</span>{% else %}—{% endif %}</td>
</tr>
{% endfor %}</table>
{% endfor %}

<h2>Nội dung dự thảo có thêm (không có trong mẫu)</h2>
{% if not extra %}<p>Không có.</p>{% else %}<ul>{% for m in extra %}<li>{{ m.text }} <span class="muted">({{ m.section }})</span></li>{% endfor %}</ul>{% endif %}

<h2>Kiểm tra dự thảo</h2>
{% if not checks %}<p>Không phát hiện vấn đề.</p>{% else %}<ul>{% for c in checks %}<li>{{ c.message }}{% if c.text %} — {{ c.text }}{% endif %}</li>{% endfor %}</ul>{% endif %}
{% for n in notes %}<p class="muted">{{ n }}</p>{% endfor %}
</body>
</html>
"""


def _html(r: GapReport) -> bytes:
    from jinja2 import Environment

    env = Environment(autoescape=True)  # every value is document text until proven otherwise
    missing = [(area_label(None if a == "none" else a), items) for a, items in r.missing_by_area().items()]
    page = env.from_string(_HTML).render(
        title=TITLE,
        generated=_generated(),
        summary=_summary_lines(r),
        by_area=r.by_area,
        missing=missing,
        flagged=[it for it in r.items if it.target and it.target.comparison in ("weaker", "no_figure")],
        groups=_groups(r.items),
        extra=r.extra,
        checks=r.checks,
        notes=r.notes,
        percent=percent,
        target_text=target_text,
        status_labels=STATUS_LABELS,
        comparison_labels=COMPARISON_LABELS,
    )
    return page.encode("utf-8")


# --- CSV and Excel -------------------------------------------------------------------------------

ITEM_COLUMNS = [
    "Mã mục", "Lĩnh vực", "Loại", "Mục trong mẫu", "Nội dung mẫu", "Trạng thái", "Điểm",
    "Nội dung tương ứng trong dự thảo", "Mã điều khoản dự thảo", "Chỉ tiêu mẫu", "Chỉ tiêu dự thảo", "So sánh chỉ tiêu",
]


def item_rows(r: GapReport) -> list[list]:
    rows = []
    for it in r.items:
        t = it.target
        shown = it.matches if it.status != "missing" else []
        rows.append([
            it.item_id,
            area_label(it.area),
            KIND_LABELS.get(it.kind, it.kind),
            it.section,
            it.text,
            STATUS_LABELS[it.status],
            round(it.score, 3),
            "\n".join(m.text for m in shown[:2]),
            ", ".join(str(m.clause_id) for m in shown[:2] if m.clause_id is not None),
            t.template_value if t else "",
            (t.plan_value or "") if t else "",
            COMPARISON_LABELS[t.comparison] if t else "",
        ])
    return rows


def _csv(r: GapReport) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(ITEM_COLUMNS)
    w.writerows(item_rows(r))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


_FILLS = {"Đã có": "DAFBE1", "Có một phần": "FFF8C5", "Còn thiếu": "FFEBE9"}


def _xlsx(r: GapReport) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    wb = Workbook()
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")

    ws = wb.active
    ws.title = "Tổng hợp"
    ws.append([TITLE])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([f"Lập lúc {_generated()}"])
    ws.append([])
    for k, v in _summary_lines(r):
        ws.append([k, v])
        ws.cell(ws.max_row, 1).font = bold
    ws.append([])
    ws.append(["Lĩnh vực", "Số mục", "Đã có", "Có một phần", "Còn thiếu", "Bao phủ"])
    for cell in ws[ws.max_row]:
        cell.font = bold
    for a in r.by_area:
        ws.append([a.label, a.items, a.covered, a.partial, a.missing, a.coverage])
        ws.cell(ws.max_row, 6).number_format = "0%"
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 90

    items = wb.create_sheet("Chi tiết")
    items.append(ITEM_COLUMNS)
    for row in item_rows(r):
        items.append(row)
        fill = _FILLS.get(row[5])
        if fill:
            items.cell(items.max_row, 6).fill = PatternFill("solid", fgColor=fill)
    for cell in items[1]:
        cell.font = bold
    widths = [9, 26, 11, 30, 60, 13, 7, 60, 12, 14, 14, 22]
    for i, width in enumerate(widths):
        items.column_dimensions[chr(ord("A") + i)].width = width
    for row in items.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = wrap
    items.freeze_panes = "A2"
    items.auto_filter.ref = items.dimensions

    extra = wb.create_sheet("Nội dung thêm")
    extra.append(["Mã điều khoản", "Lĩnh vực", "Mục trong dự thảo", "Nội dung"])
    for cell in extra[1]:
        cell.font = bold
    for m in r.extra:
        extra.append([m.clause_id, area_label(m.area), m.section, m.text])
    for col, width in zip("ABCD", (14, 26, 40, 90)):
        extra.column_dimensions[col].width = width

    checks = wb.create_sheet("Kiểm tra dự thảo")
    checks.append(["Vấn đề", "Lĩnh vực", "Nội dung"])
    for cell in checks[1]:
        cell.font = bold
    for c in r.checks:
        checks.append([c.message, area_label(c.area) if c.area else "", c.text or ""])
    for col, width in zip("ABC", (60, 26, 90)):
        checks.column_dimensions[col].width = width

    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _json(r: GapReport) -> bytes:
    return json.dumps(r.to_json(), ensure_ascii=False, indent=2).encode("utf-8")


__all__ = ["FORMATS", "MEDIA_TYPES", "render_report"]
