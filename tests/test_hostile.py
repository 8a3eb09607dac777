"""Hostile or broken inputs through the whole batch.

Every input gets a bounded time and either a clear error (a stable code, a Vietnamese message)
or a successful conversion that the result's notes report, and the rest of the batch still
ingests. Bounds asserted here (generous for a loaded two-core machine; typical figures are in
bench/RESULTS.md, written by bench/hardening.py):

* a 100 MB text file is refused before it is read, by the size limit and also with the limit
  raised (by the text-length bound ``MAX_TEXT_CHARS``): the CLI process stays under 200 MB
  resident, and the refusal costs no more than starting the CLI;
* no single file of the hostile batch takes more than 30 s (PDFs have their own 60 s
  deadline, which none of the crafted ones comes near);
* the whole batch, run in this process, grows its resident memory by less than 1 GB (the
  250 000-cell table is parsed once by lxml, ~300 MB, before it is refused).
"""

from __future__ import annotations

import gc
import json
import subprocess
import threading
import time
import unicodedata
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from cchc.api.cli import cli
from cchc.corpus.bundled import sample_paths
from cchc.corpus.reader import MAX_TEXT_CHARS, read_document
from cchc.corpus.segment import segment
from cchc.corpus.textnorm import canonical
from hardening_support import CCHC, WEIRD_NAMES, check_store, cli_env, expected_plans, hostile_inputs, settings_for

PDF_CODES = {"corrupt_pdf", "pdf_no_text", "too_many_pages", "no_clauses", "encrypted_pdf"}


class PeakRSS:
    """Samples a process's resident memory every 10 ms (psutil) and keeps the peak."""

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.01)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _cli_json(args: list[str], home: Path, **env: str) -> tuple[dict, float, int]:
    """Run the CLI with --json; returns (output, seconds, peak RSS in bytes)."""
    start = time.perf_counter()
    proc = subprocess.Popen([CCHC, *args], env=cli_env(home, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with PeakRSS(proc.pid) as rss:
            out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return json.loads(out), time.perf_counter() - start, rss.peak


@pytest.fixture(scope="module")
def big_text(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("big") / "rat-lon-100mb.txt"
    block = (sample_paths()[-1].read_text(encoding="utf-8") * 20).encode("utf-8")
    with open(path, "wb") as f:
        while f.tell() < 100 * 1024 * 1024:
            f.write(block)
        f.truncate(100 * 1024 * 1024)
    return path


@pytest.mark.parametrize("limit_mb, code", [(None, "too_large"), ("200", "too_long")])
def test_hundred_megabyte_text_file_is_refused_without_being_read(tmp_path, big_text, limit_mb, code):
    env = {"CCHC_MAX_FILE_MB": limit_mb} if limit_mb else {}
    out, seconds, peak = _cli_json(["ingest", "--json", "--no-index", str(big_text)], tmp_path / "home", **env)
    (result,) = out["results"]
    assert (result["status"], result["code"]) == ("failed", code)
    assert "100.0 MB" in result["message"]
    # The file was never read: reading alone would put 100 MB more in memory.
    assert peak < 200 * 1024 * 1024, peak
    assert seconds < 30, seconds


def test_text_over_the_length_bound_is_refused_after_decoding(tmp_path):
    # Small enough in bytes to be read, too long in characters to be a plan.
    path = tmp_path / "dai.txt"
    path.write_text("Nội dung kế hoạch cải cách hành chính.\n" * (MAX_TEXT_CHARS // 38 + 10), encoding="utf-8")
    runner = CliRunner()
    start = time.perf_counter()
    res = runner.invoke(cli, ["ingest", "--json", "--no-index", str(path)], env={"CCHC_HOME": str(tmp_path / "h")})
    (result,) = json.loads(res.output)["results"]
    assert (result["status"], result["code"]) == ("failed", "too_long")
    assert time.perf_counter() - start < 30


@pytest.mark.slow
def test_hostile_batch(tmp_path, monkeypatch):
    folder = tmp_path / "batch"
    cases = {c.file: c for c in hostile_inputs(folder)}
    home = tmp_path / "home"

    # Per-file time: when the batch starts reading each file (the CLI's own loop is untouched).
    import cchc.indexing.ingest as ingest_module

    started: list[tuple[str, float]] = []
    real_read = ingest_module.read_document

    def timed_read(path, **kw):
        started.append((Path(path).name, time.perf_counter()))
        return real_read(path, **kw)

    monkeypatch.setattr(ingest_module, "read_document", timed_read)
    me = psutil.Process()
    gc.collect()  # the inputs were built in this process: measure from what is left of that
    base_rss = me.memory_info().rss
    runner = CliRunner()
    with PeakRSS(me.pid) as rss:
        res = runner.invoke(cli, ["ingest", "--json", "--no-index", str(folder)], env={"CCHC_HOME": str(home)})
        end = time.perf_counter()
    assert res.exit_code == 1, res.output  # some files failed, as they must
    results = {r["source"]: r for r in json.loads(res.output)["results"]}
    assert set(results) == set(cases)

    marks = started + [("", end)]
    seconds = {name: marks[i + 1][1] - t for i, (name, t) in enumerate(started)}
    slow = {n: round(s, 1) for n, s in seconds.items() if s > 30}
    assert not slow, slow
    assert rss.peak - base_rss < 1024**3, (rss.peak - base_rss) / 2**20

    for name, case in cases.items():
        r = results[name]
        if case.expect == "failed":
            assert (r["status"], r["code"]) == ("failed", case.code), (name, r)
            assert r["message"] and r["code"] not in ("internal_error",)
        elif case.expect == "added":
            assert r["status"] == "added", (name, r)
            if case.note:
                assert any(case.note in n for n in r["notes"]), (name, r["notes"])
        else:  # crafted PDFs: a clear PDF error, or whatever little text they hold
            assert r["status"] == "added" or r["code"] in PDF_CODES, (name, r)

    # The good plans and the conversions are stored whole, with the original's text.
    from cchc.indexing.library import Library

    originals = {p.name: p for p in sample_paths()}
    lib = Library(settings_for(home))
    try:
        stored = {p.source: p for p in lib.plans()}
        assert set(stored) == {n for n, r in results.items() if r["status"] == "added"}
        for name, case in cases.items():
            if not case.original:
                continue
            want = segment(read_document(originals[case.original]), predict_areas=False)
            got = lib.clauses(stored[name].id)
            if case.note == "TCVN3":
                # ABC fonts have no codes for some capitals (Ủ, Ứ, Á at a sentence start):
                # the text is the same up to case, and the outline nearly so.
                assert canonical(read_document(folder / name).text) == canonical(read_document(originals[case.original]).text)
                assert abs(len(got) - len(want.clauses)) <= 0.05 * len(want.clauses), (name, len(got))
            else:
                assert [c.text for c in got] == [c.text for c in want.clauses], name
    finally:
        lib.close()
    assert check_store(home, expected_plans([folder / n for n in stored])) == set(stored)


def test_file_names_with_shell_characters_dashes_and_vietnamese(tmp_path):
    folder = tmp_path / "ten-la"
    folder.mkdir()
    text = sample_paths()[-1].read_text(encoding="utf-8")
    names = WEIRD_NAMES + [unicodedata.normalize("NFD", "kế hoạch NFD.txt")]
    for i, name in enumerate(names):
        (folder / name).write_text(f"Số: {i + 1}/KH-UBND\n{text}", encoding="utf-8")
    home = tmp_path / "home"
    # Names as the shell would pass them, after "--" so "-rf.txt" is not an option.
    proc = subprocess.run(
        [CCHC, "ingest", "--json", "--no-index", "--", *names], cwd=folder, env=cli_env(home),
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)["results"]
    assert [r["status"] for r in results] == ["added"] * len(names)
    # A source is the bare, printable file name: "a\b.txt" (a Windows path) keeps "b.txt", the
    # tab goes, surrounding spaces too.
    assert [r["source"] for r in results] == [n.split("\\")[-1].replace("\t", "").strip() for n in names]
    assert not list(tmp_path.rglob("PWNED")) and not (Path.cwd() / "PWNED").exists()
    # The same files found through their folder are recognised, not stored twice.
    again = subprocess.run(
        [CCHC, "ingest", "--json", "--no-index", str(folder)], env=cli_env(home), capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert {r["status"] for r in json.loads(again.stdout)["results"]} == {"unchanged"}
    expected = {r["source"]: e for r, e in zip(results, expected_plans([folder / n for n in names]).values())}
    assert check_store(home, expected) == set(expected)
