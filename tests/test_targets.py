"""The cross-region targets table, its pivot and exports, and the researcher's notebook."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from cchc.api.cli import cli
from cchc.corpus.bundled import sample_paths
from cchc.errors import CCHCError
from cchc.indexing.ingest import ingest
from cchc.search.targets import COLUMNS, TargetFilters, pivot_targets, summarise_targets, targets

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def lib_with_samples(library):
    ingest(library, sample_paths())
    return library


def test_table_columns_and_known_rows(lib_with_samples):
    df = targets(lib_with_samples)
    assert list(df.columns[: len(COLUMNS)]) == COLUMNS
    assert len(df) >= 80
    pay = df[df["indicator"] == "online_payment"]
    got = {(r.unit, r.comparator, r.value) for r in pay.itertuples()}
    assert ("phường Bắc Hồng Lĩnh", ">=", 95.0) in got  # "đạt tối thiểu 95%"
    assert ("xã Định Hưng", ">=", 90.0) in got  # "đạt từ 90% trở lên"
    on_time = df[(df["indicator"] == "on_time") & (df["unit"] == "phường Bắc Hồng Lĩnh")]
    assert list(on_time["comparator"]) == [">"] and list(on_time["value"]) == [99.0]  # "trên 99%"
    hd = df[(df["unit"] == "xã Hà Đông") & (df["indicator"] == "online_payment")]
    assert list(hd["deadline"]) == ["giai đoạn 2028 - 2030"]  # from the heading above the clause
    assert set(df["province"]) == {"Ninh Bình", "Thanh Hóa", "Hải Phòng", "Hà Tĩnh"}


def test_filters(lib_with_samples):
    hp = targets(lib_with_samples, TargetFilters(province=["hai phong"]))
    assert set(hp["unit"]) == {"xã Hà Đông", "xã Gia Phúc"}
    pay = targets(lib_with_samples, TargetFilters(indicator=["Giao dịch thanh toán trực tuyến"]))
    assert set(pay["indicator"]) == {"online_payment"}
    y = targets(lib_with_samples, TargetFilters(year=2028))
    assert set(y["unit"]) == {"xã Hà Đông"}
    with pytest.raises(CCHCError) as e:
        targets(lib_with_samples, TargetFilters(indicator=["không tồn tại"]))
    assert e.value.code == "bad_indicator"


def test_pivot_and_summary(lib_with_samples):
    df = targets(lib_with_samples)
    pv = pivot_targets(df, by="unit")
    assert pv.loc["Giao dịch thanh toán trực tuyến", "phường Bắc Hồng Lĩnh"] == "≥ 95%"
    assert pv.loc["Giao dịch thanh toán trực tuyến", "xã Hải Hậu"] == ""
    num = pivot_targets(df, by="province", values="value")
    assert num.loc["Giao dịch thanh toán trực tuyến", "Thanh Hóa"] == 90.0
    s = summarise_targets(df).set_index("indicator")
    row = s.loc["online_payment"]
    assert (row["count"], row["min"], row["max"]) == (4, 80.0, 95.0)
    assert "Thanh Hóa: 2" in row["by_province"]


def test_targets_are_rescanned_lazily(lib_with_samples):
    conn = lib_with_samples.conn
    conn.execute("DELETE FROM targets")
    conn.execute("UPDATE clauses SET targets_version = 0")
    assert len(targets(lib_with_samples)) >= 80


def test_cli_exports(lib_with_samples, tmp_path):
    env = {"CCHC_HOME": str(lib_with_samples.settings.home)}
    r = CliRunner().invoke(cli, ["targets", "--indicator", "online_payment", "--json"], env=env)
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert {row["unit"] for row in rows} == {"phường Bắc Hồng Lĩnh", "xã Hà Đông", "xã Định Hưng"}
    csv, xlsx = tmp_path / "t.csv", tmp_path / "t.xlsx"
    r = CliRunner().invoke(cli, ["targets", "--csv", str(csv), "--xlsx", str(xlsx)], env=env)
    assert r.exit_code == 0
    assert len(pd.read_csv(csv)) >= 80
    wb = openpyxl.load_workbook(xlsx)
    assert wb.sheetnames == ["Chỉ tiêu", "So sánh", "Tóm tắt"]
    r = CliRunner().invoke(cli, ["targets", "--pivot", "--by", "province"], env=env)
    assert "Giao dịch thanh toán trực tuyến" in r.output and "Hà Tĩnh" in r.output


def test_notebook_runs_top_to_bottom(tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "notebooks" / "compare_targets.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the bar chart and the spread chart
