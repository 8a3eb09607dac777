"""``targets``: every numeric target of the library as a pandas table, and comparisons of it.

Targets are extracted once per clause (at ingest, or lazily for clauses stored before the
current extractor version) and kept in the ``targets`` table; the table below joins them with
plan metadata so a researcher can filter, pivot, export and plot.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pandas as pd

from cchc.corpus.models import Clause
from cchc.corpus.textnorm import fold
from cchc.errors import CCHCError
from cchc.indexing.library import Library
from cchc.indexing.store import transaction
from cchc.search.targets_extract import TargetMention, extract_targets, find_period, load_indicators

# Bump when the extractor changes what it finds, so stored clauses are rescanned.
EXTRACTOR_VERSION = 1

COLUMNS = [
    "plan_id", "unit", "level", "province", "period", "year", "indicator", "indicator_label", "value",
    "unit_of_measure", "comparator", "deadline", "clause_id", "text",
]
COMPARATOR_SIGNS = {">=": "≥", ">": ">", "<=": "≤", "<": "<", "=": "="}
UNIT_SIGNS = {"percent": "%", "count": "", "times": " lần", "days": " ngày", "hours": " giờ", "points": " điểm", "rank": ""}


@dataclass
class TargetFilters:
    indicator: list[str] = field(default_factory=list)
    province: list[str] = field(default_factory=list)
    unit: list[str] = field(default_factory=list)
    year: int | None = None
    plan_ids: list[int] = field(default_factory=list)


def clause_targets(clause: Clause) -> list[TargetMention]:
    """Targets of one clause; a period named by a heading above it ("Giai đoạn 2026 - 2027")
    applies when the clause states none."""
    context = None
    for heading in reversed(clause.path):
        context = find_period(heading)
        if context:
            break
    try:
        return extract_targets(clause.text, context_period=context)
    except Exception:  # the extractor is tested never to raise; a bad clause must not block ingest
        return []


def store_clause_targets(conn, clause_id: int, plan_id: int, mentions: list[TargetMention]) -> None:
    conn.execute("DELETE FROM targets WHERE clause_id = ?", (clause_id,))
    conn.executemany(
        "INSERT INTO targets (clause_id, plan_id, value, unit, comparator, measure, raw, span_start, span_end, period, "
        "indicator, indicator_label) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (clause_id, plan_id, m.value, m.unit, m.comparator, m.measure, m.raw, m.span[0], m.span[1], m.period,
             m.indicator, m.indicator_label)
            for m in mentions
        ],
    )
    conn.execute("UPDATE clauses SET targets_version = ? WHERE id = ?", (EXTRACTOR_VERSION, clause_id))


def refresh_targets(library: Library) -> int:
    """Scan the clauses not yet scanned by the current extractor; returns how many."""
    from cchc.indexing.store import _clause_from_row, _CLAUSE_SQL

    with library.lock:
        rows = library.conn.execute(
            _CLAUSE_SQL + " WHERE c.targets_version < ? ORDER BY c.id", (EXTRACTOR_VERSION,)
        ).fetchall()
    if not rows:
        return 0
    clauses = [_clause_from_row(r) for r in rows]
    found = [(c, clause_targets(c)) for c in clauses]
    with library.lock, transaction(library.conn):
        for c, mentions in found:
            store_clause_targets(library.conn, c.id, c.plan_id, mentions)
    return len(clauses)


def _indicator_codes(values: list[str]) -> list[str]:
    known = {i.code: i for i in load_indicators()}
    out = []
    for v in values:
        f = fold(v).strip()
        match = [code for code, ind in known.items() if f in (fold(code), fold(ind.label))]
        if not match:
            match = [code for code, ind in known.items() if f and f in fold(ind.label)]
        if not match and f == "other":
            match = ["other"]
        if not match:
            raise CCHCError("bad_indicator", f"chỉ tiêu '{v}' không có trong danh mục; xem `cchc targets --list-indicators`", status=422)
        out.extend(match)
    return out


def targets(library: Library, filters: TargetFilters | None = None) -> pd.DataFrame:
    """One row per target: plan_id, unit, level, province, period, year, indicator,
    indicator_label, value, unit_of_measure, comparator, deadline, clause_id, text (plus
    measure and raw, the exact words of the commitment)."""
    f = filters or TargetFilters()
    refresh_targets(library)
    where, args = [], []
    if f.indicator:
        codes = _indicator_codes(f.indicator)
        where.append(f"t.indicator IN ({','.join('?' * len(codes))})")
        args += codes
    if f.plan_ids:
        where.append(f"t.plan_id IN ({','.join('?' * len(f.plan_ids))})")
        args += list(f.plan_ids)
    if f.year:
        where.append("p.year IS NOT NULL AND p.year <= ? AND COALESCE(p.year_end, p.year) >= ?")
        args += [f.year, f.year]
    sql = (
        "SELECT t.plan_id, p.unit, p.level, p.province, p.period, p.year, t.indicator, t.indicator_label, t.value, "
        "t.unit AS unit_of_measure, t.comparator, COALESCE(tf.deadline, t.period) AS deadline, t.clause_id, c.text, "
        "t.measure, t.raw FROM targets t JOIN plans p ON p.id = t.plan_id JOIN clauses c ON c.id = t.clause_id "
        "LEFT JOIN table_fields tf ON tf.clause_id = t.clause_id"
    )
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY p.province, p.unit, t.indicator, t.clause_id, t.span_start"
    with library.lock:
        rows = library.conn.execute(sql, args).fetchall()
    df = pd.DataFrame([dict(r) for r in rows], columns=COLUMNS + ["measure", "raw"])
    if f.province:
        wanted = {fold(p) for p in f.province}
        df = df[df["province"].map(lambda v: (fold(v) if isinstance(v, str) else "") in wanted)]
    if f.unit:
        wanted_units = [fold(u) for u in f.unit]
        df = df[df["unit"].map(lambda v: isinstance(v, str) and any(u in fold(v) for u in wanted_units))]
    return df.reset_index(drop=True)


def display_value(row) -> str:
    return f"{COMPARATOR_SIGNS.get(row['comparator'], row['comparator'])} {row['value']:g}{UNIT_SIGNS.get(row['unit_of_measure'], '')}".strip()


def pivot_targets(df: pd.DataFrame, by: str = "unit", values: str = "display") -> pd.DataFrame:
    """Indicator × unit (or province): the committed values side by side. ``values="display"``
    gives readable cells ("≥ 95%"; several targets of one plan joined by "; "), ``"value"``
    the highest number, for computing with."""
    if by not in ("unit", "province"):
        raise CCHCError("bad_pivot", "chỉ so sánh theo 'unit' (đơn vị) hoặc 'province' (tỉnh)", status=422)
    if df.empty:
        return pd.DataFrame()
    d = df.copy()
    if values == "value":
        return d.pivot_table(index="indicator_label", columns=by, values="value", aggfunc="max")
    d["display"] = d.apply(display_value, axis=1)
    return d.pivot_table(
        index="indicator_label", columns=by, values="display", aggfunc=lambda s: "; ".join(dict.fromkeys(s))
    ).fillna("")


def summarise_targets(df: pd.DataFrame) -> pd.DataFrame:
    """Per indicator: how many targets, min / median / max value, and how many per province."""
    if df.empty:
        return pd.DataFrame(columns=["indicator", "indicator_label", "count", "min", "median", "max", "by_province"])
    rows = []
    for (code, label), g in df.groupby(["indicator", "indicator_label"], sort=True):
        rows.append({
            "indicator": code,
            "indicator_label": label,
            "count": len(g),
            "min": g["value"].min(),
            "median": g["value"].median(),
            "max": g["value"].max(),
            "by_province": "; ".join(f"{p}: {n}" for p, n in g["province"].fillna("?").value_counts().sort_index().items()),
        })
    return pd.DataFrame(rows).sort_values(["count", "indicator"], ascending=[False, True]).reset_index(drop=True)


def to_xlsx(df: pd.DataFrame, sheets: dict[str, pd.DataFrame] | None = None) -> bytes:
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        df.to_excel(xw, sheet_name="Chỉ tiêu", index=False)
        for name, sheet in (sheets or {}).items():
            sheet.to_excel(xw, sheet_name=name[:31])
    return buf.getvalue()


def chart_svg(df: pd.DataFrame, indicator: str, by: str = "unit") -> str:
    """A bar chart of one indicator across units (or provinces), as inline SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = df[df["indicator"] == indicator]
    if d.empty:
        raise CCHCError("no_targets", "không có chỉ tiêu nào của loại này để vẽ", status=404)
    label = d["indicator_label"].iloc[0]
    best = d.groupby(by)["value"].max().sort_values()
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(best)))
    ax.barh(best.index.astype(str), best.values, color="#2f6f9f")
    for y, v in enumerate(best.values):
        ax.text(v, y, f" {v:g}", va="center", fontsize=9)
    unit = d["unit_of_measure"].iloc[0]
    ax.set_xlabel("%" if unit == "percent" else unit)
    ax.set_title(label, fontsize=11)
    if unit == "percent":
        ax.set_xlim(0, 105)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]
