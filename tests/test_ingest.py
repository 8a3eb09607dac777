"""Ingest semantics on a real SQLite library, through the core function and the CLI."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from cchc.api.cli import cli
from cchc.corpus.bundled import sample_paths
from cchc.indexing.ingest import ingest


def dump(db: Path) -> list:
    """Everything the library holds except the embedding cache, in a comparable form."""
    conn = sqlite3.connect(db)
    try:
        out = []
        for table in ("plans", "clauses", "table_fields", "boilerplate", "meta"):
            out.append((table, conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()))
        return out
    finally:
        conn.close()


def run(home: Path, *args):
    runner = CliRunner()
    return runner.invoke(cli, list(args), env={"CCHC_HOME": str(home)}, catch_exceptions=False)


def test_ingest_samples_and_plans_json(library):
    results = ingest(library, sample_paths())
    assert [r.status for r in results] == ["added"] * 5
    plans = {p.meta.unit: p for p in library.plans()}
    assert set(plans) == {"xã Hải Hậu", "xã Định Hưng", "xã Hà Đông", "phường Bắc Hồng Lĩnh", "xã Gia Phúc"}
    assert plans["xã Gia Phúc"].n_clauses == sum(1 for _ in library.clauses(plans["xã Gia Phúc"].id))
    rows = library.conn.execute("SELECT COUNT(*) FROM table_fields").fetchone()[0]
    assert rows == 43


def test_reingest_same_content_is_a_noop(library, samples_dir):
    ingest(library, [samples_dir])
    before = dump(library.settings.db_path)
    again = ingest(library, [samples_dir])
    assert [r.status for r in again] == ["unchanged"] * 5
    assert dump(library.settings.db_path) == before


def test_changed_file_needs_replace_and_keeps_its_id(library, samples_dir):
    ingest(library, [samples_dir])
    path = samples_dir / "xa-hai-hau-2026.txt"
    old_id = next(p.id for p in library.plans() if p.source == path.name)
    path.write_text(path.read_text(encoding="utf-8").replace("tối thiểu 20%", "tối thiểu 25%"), encoding="utf-8")
    before = dump(library.settings.db_path)
    (r,) = ingest(library, [path])
    assert r.status == "failed" and "--replace" in r.message
    assert dump(library.settings.db_path) == before
    (r,) = ingest(library, [path], replace=True)
    assert r.status == "replaced" and r.plan_id == old_id
    texts = [c.text for c in library.clauses(old_id)]
    assert any("tối thiểu 25%" in t for t in texts)
    assert not any("tối thiểu 20%" in t for t in texts)
    assert len(library.plans()) == 5


def _bad_files(d: Path, big_limit_mb: float) -> dict[str, Path]:
    d.mkdir(exist_ok=True)
    files = {}
    files["empty"] = d / "rong.txt"
    files["empty"].write_bytes(b"")
    files["binary"] = d / "nhi-phan.txt"
    files["binary"].write_bytes(bytes(range(256)) * 20)
    good_docx = d / "tmp.docx"
    import docx

    doc = docx.Document()
    doc.add_paragraph("KẾ HOẠCH")
    doc.save(good_docx)
    data = good_docx.read_bytes()
    good_docx.unlink()
    files["truncated_docx"] = d / "cat-cut.docx"
    files["truncated_docx"].write_bytes(data[: len(data) // 2])
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 50, 50)  # a drawing and no text: what a scan looks like to a parser
    files["pdf_no_text"] = d / "ban-quet.pdf"
    pdf.output(str(files["pdf_no_text"]))
    files["undecodable"] = d / "loi-ma.txt"
    files["undecodable"].write_bytes("Kế hoạch cải cách".encode("utf-8") + b"\xff\xfe\x81\x8d\x90" * 50 + b"\x00\xc3\x28")
    files["too_large"] = d / "qua-lon.txt"
    files["too_large"].write_bytes(("Cải cách hành chính. " * 1000 + "\n").encode("utf-8") * int(big_limit_mb * 60))
    files["unknown_format"] = d / "bang.xyz"
    files["unknown_format"].write_bytes(b"hello")
    return files


def test_bad_inputs_each_give_one_clear_error_and_change_nothing(home, tmp_path):
    res = run(home, "ingest", "--no-index", str(sample_paths()[0]))
    assert res.exit_code == 0, res.output
    db = home / "library.sqlite3"
    before = dump(db)
    files = _bad_files(tmp_path / "bad", big_limit_mb=1.0)
    env_home = home
    runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()
    for name, path in files.items():
        result = runner.invoke(
            cli, ["ingest", "--no-index", str(path)], env={"CCHC_HOME": str(env_home), "CCHC_MAX_FILE_MB": "1"}
        )
        assert result.exit_code != 0, (name, result.output)
        err = result.stderr if hasattr(result, "stderr") else result.output
        lines = [ln for ln in err.splitlines() if ln.startswith("✗")]
        assert len(lines) == 1, (name, err)
        assert path.name in lines[0]
        assert dump(db) == before, name


def test_batch_with_bad_files_still_ingests_good_ones(home, tmp_path):
    files = _bad_files(tmp_path / "bad", big_limit_mb=1.0)
    good = sample_paths()[:2]
    res = CliRunner().invoke(
        cli,
        ["ingest", "--no-index", *map(str, good), *map(str, files.values())],
        env={"CCHC_HOME": str(home), "CCHC_MAX_FILE_MB": "1"},
    )
    assert res.exit_code == 1
    listed = json.loads(run(home, "plans", "--json").output)
    assert sorted(p["source"] for p in listed) == sorted(p.name for p in good)


def test_plans_and_show_json_shapes(home):
    assert run(home, "ingest", "--no-index", "--samples").exit_code == 0
    plans = json.loads(run(home, "plans", "--json").output)
    assert set(plans[0]) == {"id", "unit", "level", "province", "period", "year", "doc_number", "issued", "source", "n_clauses"}
    by_unit = {p["unit"]: p for p in plans}
    assert by_unit["xã Hải Hậu"]["province"] == "Ninh Bình"
    assert by_unit["xã Định Hưng"]["province"] == "Thanh Hóa"
    assert by_unit["xã Hà Đông"]["province"] == "Hải Phòng"
    assert by_unit["phường Bắc Hồng Lĩnh"]["province"] == "Hà Tĩnh"
    assert by_unit["xã Gia Phúc"]["province"] == "Hải Phòng"
    gp = json.loads(run(home, "show", str(by_unit["xã Gia Phúc"]["id"]), "--json").output)
    rows = [c for c in gp["clauses"] if "responsible" in c]
    assert len(rows) == 43
    assert set(rows[0]) == {"id", "plan_id", "section", "kind", "area", "text", "responsible", "partners", "deadline", "output"}
    plain = [c for c in gp["clauses"] if "responsible" not in c]
    assert set(plain[0]) == {"id", "plan_id", "section", "kind", "area", "text"}
    outline = run(home, "show", str(by_unit["xã Gia Phúc"]["id"])).output
    assert "III. Nhiệm vụ, giải pháp chủ yếu" in outline
    assert "chủ trì: Phòng Kinh tế" in outline


def test_show_unknown_plan_fails_clearly(home):
    res = run(home, "show", "12345")
    assert res.exit_code == 1
    assert "không có kế hoạch mã 12345" in res.output


def test_empty_library_lists_nothing_politely(home):
    res = run(home, "plans")
    assert res.exit_code == 0
    assert "Thư viện trống" in res.output


def test_docx_zip_bomb_is_refused(home, tmp_path):
    bomb = tmp_path / "bom.docx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b"<w:document>" + b" " * (300 * 1024 * 1024) + b"</w:document>")
        z.writestr("[Content_Types].xml", b"<Types/>")
    res = run(home, "ingest", "--no-index", str(bomb))
    assert res.exit_code == 1
    assert "bom.docx" in res.output
