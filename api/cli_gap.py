"""``cchc gap`` and ``cchc template build``: gap analysis and the consensus template.

Registered on the main group by importing this module (``api/cli.py`` does it on its last line).
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import click

from cchc.api.cli import _echo_json, _library, cli, handle_errors
from cchc.errors import CCHCError

STATUS_STYLE = {
    "covered": ("✓", "green"),
    "partial": ("◐", "yellow"),
    "missing": ("✗", "red"),
}
TARGET_STYLE = {"weaker": "red", "no_figure": "red", "stronger": "green", "equal": None}


def plan_spec(value: str) -> int | str:
    """A plan id ("12") or a file path; an existing file named like a number is a file."""
    value = value.strip()
    if value.isdigit() and not Path(value).exists():
        return int(value)
    return value


def _format_for(fmt: str | None, output: Path | None, as_json: bool) -> str | None:
    if as_json:
        return "json"
    if fmt:
        return fmt
    if output is not None:
        suffix = output.suffix.lower().lstrip(".")
        return {"markdown": "md", "htm": "html"}.get(suffix, suffix) or "md"
    return None


@cli.command("gap")
@click.option("--template", "-t", "template", required=True, help="Mẫu: mã kế hoạch trong thư viện hoặc đường dẫn tệp.")
@click.option("--plan", "-p", "plan", required=True, help="Dự thảo: mã kế hoạch hoặc đường dẫn tệp (tệp không được lưu vào thư viện).")
@click.option("--area", multiple=True, help="Chỉ đối chiếu các lĩnh vực này (mã hoặc tên, lặp lại được).")
@click.option("--kind", multiple=True, help="Loại điều khoản được đối chiếu (mặc định: task, target).")
@click.option("--covered", type=float, help="Ngưỡng điểm «đã có» (mặc định theo cấu hình).")
@click.option("--partial", type=float, help="Ngưỡng điểm «có một phần» (mặc định theo cấu hình).")
@click.option("--store", is_flag=True, help="Lưu dự thảo (nếu là tệp) vào thư viện rồi mới đối chiếu.")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON.")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "csv", "xlsx", "json"]), help="Xuất báo cáo theo định dạng này.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Ghi báo cáo ra tệp (định dạng theo đuôi tệp nếu không có --format).")
@handle_errors
def gap_cmd(template, plan, area, kind, covered, partial, store, as_json, fmt, output):
    """Đối chiếu dự thảo với mẫu: mục nào đã có, có một phần hay còn thiếu, chỉ tiêu nào thấp hơn."""
    from cchc.search.gap import DEFAULT_KINDS, GapOptions, gap
    from cchc.search.reports import render_report

    options = GapOptions(
        kinds=tuple(kind) or DEFAULT_KINDS, areas=tuple(area), covered=covered, partial=partial, store_plan=store,
    )
    lib = _library()
    report = gap(lib, plan_spec(template), plan_spec(plan), options)
    fmt = _format_for(fmt, output, as_json)
    if fmt is None:
        _print_report(report)
        return
    if fmt == "json" and output is None:
        _echo_json(report.to_json())
        return
    data = render_report(report, fmt)
    if output is None:
        if fmt == "xlsx":
            raise CCHCError("output_required", "định dạng xlsx cần tệp đích: thêm -o TỆP.xlsx")
        click.echo(data.decode("utf-8").lstrip("\ufeff"), nl=False)
        return
    output.write_bytes(data)
    click.echo(f"Đã ghi báo cáo: {output}", err=True)


# --- terminal view -------------------------------------------------------------------------------


def _short(text: str, width: int) -> str:
    return textwrap.shorten(" ".join(text.split()), width=width, placeholder=" …")


def _print_report(report) -> None:
    from cchc.search.gap import COMPARISON_LABELS, STATUS_LABELS, area_label
    from cchc.search.reports import percent, plan_label

    width = max(60, min(shutil.get_terminal_size((100, 20)).columns, 140))
    c = report.counts
    click.secho("Đối chiếu dự thảo với mẫu", bold=True)
    click.echo(f"Mẫu:    {plan_label(report.template)}")
    click.echo(f"Dự thảo: {plan_label(report.plan)}")
    click.echo(
        f"Bao phủ: {click.style(percent(report.coverage), bold=True)} — "
        f"{click.style(str(c['covered']) + ' đã có', fg='green')}, "
        f"{click.style(str(c['partial']) + ' có một phần', fg='yellow')}, "
        f"{click.style(str(c['missing']) + ' còn thiếu', fg='red')} / {len(report.items)} mục"
    )
    by_area = {a.area: a for a in report.by_area}
    groups: dict[str, list] = {}
    for it in report.items:
        groups.setdefault(it.area or "none", []).append(it)
    for area, items in groups.items():
        a = by_area[area]
        click.echo()
        click.secho(
            f"■ {area_label(None if area == 'none' else area)} — {percent(a.coverage)} "
            f"({a.covered} đã có, {a.partial} một phần, {a.missing} thiếu)",
            bold=True,
        )
        for it in items:
            mark, colour = STATUS_STYLE[it.status]
            head = click.style(f"  {mark} {it.score:.2f} ", fg=colour)
            click.echo(head + _short(it.text, width - 10))
            if it.status != "missing" and it.matches:
                click.secho(f"         → {_short(it.matches[0].text, width - 12)}", dim=True)
            if it.target:
                t = it.target
                label = COMPARISON_LABELS[t.comparison]
                click.secho(
                    f"         chỉ tiêu: {label} (mẫu {t.template_value}, dự thảo {t.plan_value or 'không nêu'})",
                    fg=TARGET_STYLE[t.comparison],
                )
    if report.extra:
        click.echo()
        click.secho(f"Nội dung dự thảo có thêm ({len(report.extra)})", bold=True)
        for m in report.extra:
            click.echo(f"  + {_short(m.text, width - 6)}")
    if report.checks:
        click.echo()
        click.secho(f"Kiểm tra dự thảo ({len(report.checks)})", bold=True)
        for ch in report.checks:
            line = ch.message + (f" — {_short(ch.text, width - len(ch.message) - 10)}" if ch.text else "")
            click.secho(f"  ! {line}", fg="yellow")
    for note in report.notes:
        click.secho(note, dim=True)
    click.echo()
    click.secho(
        f"Trạng thái: {STATUS_LABELS['covered']} ≥ {report.covered_threshold:.2f} điểm, "
        f"{STATUS_LABELS['partial']} ≥ {report.partial_threshold:.2f}. Báo cáo đầy đủ: thêm -o bao-cao.xlsx",
        dim=True,
    )


# --- consensus template ------------------------------------------------------------------------


@cli.group()
def template():
    """Mẫu đồng thuận dựng từ các kế hoạch trong thư viện."""


@template.command("build")
@click.option("--min-share", type=float, default=0.6, show_default=True, help="Giữ nhóm nội dung có mặt trong ít nhất tỷ lệ kế hoạch này.")
@click.option("--province", help="Chỉ dùng các kế hoạch của tỉnh/thành phố này.")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON.")
@handle_errors
def template_build(min_share, province, as_json):
    """Dựng (hoặc dựng lại) mẫu đồng thuận và lưu như một kế hoạch để đối chiếu."""
    from cchc.search.consensus import build_consensus

    lib = _library()
    result = build_consensus(lib, min_share=min_share, province=province)
    if as_json:
        _echo_json(result.to_json())
        return
    click.echo(
        f"Đã dựng mẫu đồng thuận: kế hoạch {result.plan_id} ({result.source}) với {len(result.groups)} nội dung chung "
        f"từ {result.n_plans} kế hoạch ({result.n_clauses} điều khoản, {result.seconds:.1f} giây)."
    )
    if result.replaced:
        click.echo(f"Thay cho mẫu cũ: kế hoạch {', '.join(map(str, result.replaced))}.")
    click.echo(f"Đối chiếu một dự thảo: cchc gap --template {result.plan_id} --plan DỰ-THẢO.docx")


def main():  # pragma: no cover
    cli()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
