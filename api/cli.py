"""The ``cchc`` command line: a thin shell that parses arguments, calls the core functions and
maps ``CCHCError`` to one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from cchc.corpus.models import AREAS, KINDS
from cchc.errors import CCHCError
from cchc.settings import Settings


def _library():
    from cchc.indexing.library import Library

    # Fresh settings per command: the environment is the configuration, and tests (or a
    # long-lived shell) may change it between invocations.
    return Library(Settings())


def _echo_json(obj) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2))


def handle_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CCHCError as e:
            click.echo(f"Lỗi: {e.line()}", err=True)
            sys.exit(1)

    return wrapper


@click.group()
@click.version_option(package_name="cchc-lens")
def cli():
    """CCHC Lens: tìm kiếm, đối chiếu và so sánh kế hoạch cải cách hành chính."""


# --- ingest / plans / show / remove --------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--samples", is_flag=True, help="Nạp bộ kế hoạch mẫu đi kèm phần mềm.")
@click.option("--replace", is_flag=True, help="Thay thế phiên bản cũ của tệp đã có trong thư viện.")
@click.option("--no-index", is_flag=True, help="Chỉ lưu, chưa cập nhật chỉ mục tìm kiếm.")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON.")
@handle_errors
def ingest(paths, samples, replace, no_index, as_json):
    """Nạp tệp kế hoạch (.txt, .md, .docx, .pdf) hoặc thư mục vào thư viện."""
    from cchc.corpus.bundled import sample_paths
    from cchc.indexing.ingest import collect_paths
    from cchc.indexing.ingest import ingest as core_ingest

    targets = list(paths) + (sample_paths() if samples else [])
    if not targets:
        raise CCHCError("no_input", "chưa chỉ ra tệp hay thư mục nào (hoặc dùng --samples)")
    lib = _library()
    files = collect_paths(targets)
    results = []
    show_bar = len(files) > 5 and not as_json
    with click.progressbar(length=len(files), label="Đang nạp", file=sys.stderr) if show_bar else _nullbar() as bar:
        def progress(r):
            results.append(r)
            bar.update(1)
            if not as_json:
                click.echo(_result_line(r), err=r.status == "failed")

        core_ingest(lib, files, replace=replace, progress=progress)
    index_info = None
    if not no_index and any(r.status in ("added", "replaced") for r in results):
        index_info = _refresh(lib, quiet=as_json)
    if as_json:
        _echo_json({"results": [r.to_json() for r in results], "index": index_info})
    else:
        ok = sum(r.ok for r in results)
        click.echo(f"Xong: {ok}/{len(results)} tệp thành công.")
    if any(not r.ok for r in results):
        sys.exit(1)


class _nullbar:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def update(self, n):
        pass


def _result_line(r) -> str:
    if r.status == "failed":
        return f"✗ {r.source}: {r.message}"
    label = {"added": "đã nạp", "replaced": "đã thay thế", "unchanged": "không đổi"}[r.status]
    extra = f", {r.n_clauses} điều khoản" if r.n_clauses else ""
    notes = f" ({'; '.join(r.notes)})" if r.notes else ""
    msg = f" — {r.message}" if r.message else ""
    return f"✓ {r.source}: {label} → kế hoạch {r.plan_id} [{r.unit or '?'}]{extra}{notes}{msg}"


def _refresh(lib, *, quiet: bool):
    try:
        from cchc.search.index_manager import refresh_indexes
    except ImportError:
        return None
    if not quiet:
        click.echo("Đang cập nhật chỉ mục tìm kiếm…", err=True)
    info = refresh_indexes(lib)
    if not quiet:
        click.echo(f"Chỉ mục: {info.n_clauses} điều khoản, {info.embedded} câu mới được nhúng.", err=True)
    return info.to_json()


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="In dạng JSON.")
@handle_errors
def plans(as_json):
    """Liệt kê các kế hoạch trong thư viện."""
    lib = _library()
    items = lib.plans()
    if as_json:
        _echo_json([p.to_json() for p in items])
        return
    if not items:
        click.echo("Thư viện trống. Nạp kế hoạch bằng: cchc ingest TỆP... (hoặc cchc ingest --samples)")
        return
    for p in items:
        m = p.meta
        click.echo(
            f"{p.id:>4}  {m.unit or '?':<24} {m.province or '?':<12} {m.period or '?':<24} "
            f"{p.n_clauses:>4} điều khoản  {p.source}"
        )


@cli.command()
@click.argument("plan_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="In dạng JSON.")
@handle_errors
def show(plan_id, as_json):
    """Xem dàn ý một kế hoạch: các mục, loại điều khoản và lĩnh vực cải cách."""
    lib = _library()
    plan = lib.plan(plan_id)
    clauses = lib.clauses(plan_id)
    if as_json:
        d = plan.to_json()
        d.update(title=plan.meta.title, year_end=plan.meta.year_end, parents=plan.meta.parents)
        d["clauses"] = [c.to_json() for c in clauses]
        _echo_json(d)
        return
    m = plan.meta
    click.secho(m.title or plan.source, bold=True)
    click.echo(f"Đơn vị: {m.unit or '—'} ({m.level or '—'}), {m.province or '—'} · Kỳ: {m.period or '—'}")
    click.echo(f"Số: {m.doc_number or '—'} · Ngày: {m.issued or '—'} · Tệp: {plan.source}")
    for parent in m.parents:
        click.echo(f"Thực hiện: {parent}")
    click.echo()
    shown: list[str] = []
    for c in clauses:
        for depth, heading in enumerate(c.path):
            if len(shown) > depth and shown[depth] == heading:
                continue
            shown = shown[:depth] + [heading]
            click.secho("  " * depth + heading, bold=depth == 0)
        indent = "  " * len(c.path)
        tag = f"[{c.id}] {KINDS.get(c.kind, c.kind)}" + (f" · {AREAS[c.area]}" if c.area else "")
        click.echo(f"{indent}{click.style(tag, fg='cyan')} {c.label or ''} {c.text}".rstrip())
        if c.is_table_row:
            click.echo(
                f"{indent}    chủ trì: {c.responsible or '—'} | phối hợp: {c.partners or '—'} | "
                f"thời gian: {c.deadline or '—'} | sản phẩm: {c.output or '—'}"
            )


@cli.command()
@click.argument("plan_id", type=int)
@handle_errors
def remove(plan_id):
    """Xóa một kế hoạch khỏi thư viện."""
    from cchc.indexing.ingest import remove_plan

    lib = _library()
    remove_plan(lib, plan_id)
    _refresh(lib, quiet=False)
    click.echo(f"Đã xóa kế hoạch {plan_id}.")


def _highlight(text: str, terms: list[str]) -> str:
    """Bold the matched words (case- and diacritic-insensitive, whole words)."""
    import re

    from cchc.corpus.textnorm import fold

    if not terms:
        return text
    wanted = {fold(w) for t in terms for w in re.findall(r"\w+", t)}
    return re.sub(r"\w+", lambda m: click.style(m.group(0), bold=True, fg="yellow") if fold(m.group(0)) in wanted else m.group(0), text)


@cli.command("search")
@click.argument("query")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "lexical"]), default="hybrid", show_default=True, help="Cách tìm.")
@click.option("--top-k", "-k", type=int, default=10, show_default=True, help="Số kết quả.")
@click.option("--province", multiple=True, help="Lọc theo tỉnh/thành phố (lặp lại được).")
@click.option("--unit", multiple=True, help="Lọc theo đơn vị (xã, phường…).")
@click.option("--level", multiple=True, help="Lọc theo cấp: xã, phường, huyện, tỉnh, thành phố.")
@click.option("--year", type=int, help="Lọc theo năm (kế hoạch có kỳ bao trùm năm này).")
@click.option("--area", multiple=True, help="Lọc theo lĩnh vực cải cách (mã hoặc tên).")
@click.option("--kind", multiple=True, help="Lọc theo loại điều khoản: purpose, target, task, assignment, budget, other.")
@click.option("--plan", "plan_ids", multiple=True, type=int, help="Chỉ tìm trong các kế hoạch này.")
@click.option("--per-plan", type=int, help="Tối đa N kết quả mỗi kế hoạch.")
@click.option("--json", "as_json", is_flag=True, help="In dạng JSON.")
@handle_errors
def search_cmd(query, mode, top_k, province, unit, level, year, area, kind, plan_ids, per_plan, as_json):
    """Tìm điều khoản trong mọi kế hoạch (gõ có dấu, không dấu hay viết tắt đều được)."""
    from cchc.search.engine import SearchFilters, search

    lib = _library()
    filters = SearchFilters(
        province=list(province), unit=list(unit), level=list(level), year=year,
        area=list(area), kind=list(kind), plan_ids=list(plan_ids),
    )
    hits = search(lib, query, mode=mode, filters=filters, top_k=top_k, per_plan=per_plan)
    if as_json:
        _echo_json([h.to_json() for h in hits])
        return
    if not hits:
        click.echo("Không tìm thấy điều khoản phù hợp.")
        return
    for i, h in enumerate(hits, 1):
        where = ", ".join(x for x in (h.unit, h.province, h.period) if x)
        tag = KINDS.get(h.kind, h.kind) + (f" · {AREAS[h.area]}" if h.area else "")
        click.secho(f"{i:>2}. {where}  [kế hoạch {h.plan_id}, điều khoản {h.clause_id}]", bold=True)
        click.echo(f"    {click.style(h.section, fg='cyan')}  ({tag})")
        click.echo(f"    {_highlight(h.text, h.matched)}")
        click.echo()


@cli.command("targets")
@click.option("--indicator", multiple=True, help="Mã hoặc tên chỉ tiêu (lặp lại được), ví dụ online_payment.")
@click.option("--province", multiple=True, help="Lọc theo tỉnh/thành phố.")
@click.option("--unit", multiple=True, help="Lọc theo đơn vị.")
@click.option("--year", type=int, help="Kế hoạch có kỳ bao trùm năm này.")
@click.option("--pivot", is_flag=True, help="Bảng so sánh: chỉ tiêu × đơn vị (hoặc tỉnh).")
@click.option("--by", type=click.Choice(["unit", "province"]), default="unit", show_default=True, help="Cột của bảng so sánh.")
@click.option("--summary", is_flag=True, help="Tóm tắt theo chỉ tiêu: số lượng, thấp nhất, trung vị, cao nhất.")
@click.option("--list-indicators", is_flag=True, help="Liệt kê danh mục chỉ tiêu.")
@click.option("--json", "as_json", is_flag=True, help="In dạng JSON.")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path), help="Ghi ra tệp CSV.")
@click.option("--xlsx", "xlsx_file", type=click.Path(dir_okay=False, path_type=Path), help="Ghi ra tệp Excel.")
@handle_errors
def targets_cmd(indicator, province, unit, year, pivot, by, summary, list_indicators, as_json, csv_file, xlsx_file):
    """Các chỉ tiêu định lượng của mọi kế hoạch, để so sánh giữa các địa phương."""
    import pandas as pd

    from cchc.search.targets import TargetFilters, pivot_targets, summarise_targets, targets, to_xlsx
    from cchc.search.targets_extract import load_indicators

    if list_indicators:
        for ind in load_indicators():
            click.echo(f"{ind.code:<28} {ind.label}")
        return
    lib = _library()
    df = targets(lib, TargetFilters(indicator=list(indicator), province=list(province), unit=list(unit), year=year))
    table = pivot_targets(df, by=by) if pivot else summarise_targets(df) if summary else df
    if csv_file:
        table.to_csv(csv_file, index=pivot)
        click.echo(f"Đã ghi {len(table)} dòng vào {csv_file}", err=True)
    if xlsx_file:
        sheets = {"So sánh": pivot_targets(df, by=by), "Tóm tắt": summarise_targets(df).set_index("indicator")} if not df.empty else {}
        xlsx_file.write_bytes(to_xlsx(df, sheets))
        click.echo(f"Đã ghi {len(df)} chỉ tiêu vào {xlsx_file}", err=True)
    if csv_file or xlsx_file:
        return
    if as_json:
        out = table.reset_index() if pivot else table
        click.echo(out.to_json(orient="records", force_ascii=False, indent=2))
        return
    if table.empty:
        click.echo("Không có chỉ tiêu nào khớp.")
        return
    with pd.option_context("display.max_rows", 500, "display.max_columns", 50, "display.width", 200, "display.max_colwidth", 40):
        if pivot or summary:
            click.echo(table.to_string())
        else:
            from cchc.search.targets import display_value

            view = df.assign(muc_tieu=df.apply(display_value, axis=1))[
                ["unit", "province", "period", "indicator_label", "muc_tieu", "deadline"]
            ].rename(columns={"unit": "Đơn vị", "province": "Tỉnh", "period": "Kỳ", "indicator_label": "Chỉ tiêu", "muc_tieu": "Mức", "deadline": "Thời hạn"})
            click.echo(view.fillna("").to_string(index=False))


@cli.command()
@handle_errors
def reindex():
    """Dựng lại chỉ mục tìm kiếm (ví dụ sau khi đổi mô hình nhúng)."""
    lib = _library()
    info = _refresh(lib, quiet=False)
    if info is None:
        raise CCHCError("index_unavailable", "chưa có mô-đun chỉ mục")


# Commands that live in their own modules register themselves on the group when imported.
from cchc.api import cli_gap, cli_serve  # noqa: E402,F401


def main():  # pragma: no cover
    cli()


if __name__ == "__main__":  # pragma: no cover
    main()
