"""Shared by the hardening tests (test_crash, test_concurrency, test_hostile) and
bench/hardening.py: a corpus of many plan files, the CLI as a subprocess, and the checks that
a library survived whatever was done to it. Helpers only; no tests here."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cchc.corpus.bundled import sample_paths
from cchc.corpus.reader import read_document
from cchc.corpus.segment import segment
from cchc.indexing.snapshot import CURRENT, PREFIX, current_snapshot
from cchc.settings import Settings

# The console script of the running interpreter's environment: the real entry point.
CCHC = str(Path(sys.executable).with_name("cchc"))


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(CCHC_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONHASHSEED="0")
    env.update(extra)
    return env


def make_corpus(folder: Path, copies: int = 8) -> list[Path]:
    """``copies`` × the five samples, each copy with its own document number so that every file
    is a different plan (content hash) while every clause text stays the same as in the
    samples: the session's embedding cache then covers all of them."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(copies):
        for p in sample_paths():
            path = folder / f"{i:02d}-{p.name}"
            path.write_text(f"Số: {100 + i}/KH-UBND\n" + p.read_text(encoding="utf-8"), encoding="utf-8")
            out.append(path)
    return out


@dataclass(frozen=True)
class Expected:
    clauses: int
    boilerplate: int
    table_rows: int
    targets: int
    texts: frozenset[str]


def expected_plans(paths: list[Path]) -> dict[str, Expected]:
    """What storing each file must leave in the library, from segmenting the file itself."""
    from cchc.search.targets import clause_targets

    out = {}
    for path in paths:
        plan = segment(read_document(path), predict_areas=False)
        out[path.name] = Expected(
            clauses=len(plan.clauses),
            boilerplate=len(plan.boilerplate),
            table_rows=sum(c.is_table_row for c in plan.clauses),
            targets=sum(len(clause_targets(c)) for c in plan.clauses),
            texts=frozenset(c.text for c in plan.clauses),
        )
    return out


def settings_for(home: Path) -> Settings:
    return Settings(home=home)


# --- the checks ---------------------------------------------------------------------------------


_ORPHANS = {
    "clauses without a plan": "SELECT COUNT(*) FROM clauses c LEFT JOIN plans p ON p.id = c.plan_id WHERE p.id IS NULL",
    "table fields without a clause": "SELECT COUNT(*) FROM table_fields t LEFT JOIN clauses c ON c.id = t.clause_id WHERE c.id IS NULL",
    "targets without a clause": "SELECT COUNT(*) FROM targets t LEFT JOIN clauses c ON c.id = t.clause_id WHERE c.id IS NULL",
    "targets without a plan": "SELECT COUNT(*) FROM targets t LEFT JOIN plans p ON p.id = t.plan_id WHERE p.id IS NULL",
    "boilerplate without a plan": "SELECT COUNT(*) FROM boilerplate b LEFT JOIN plans p ON p.id = b.plan_id WHERE p.id IS NULL",
}


def check_store(home: Path, expected: dict[str, Expected]) -> set[str]:
    """Open the library as a user would and check it: SQLite intact, no orphan rows, and every
    plan stored whole (all its clauses, table rows, targets and boilerplate) or not at all.
    Returns the sources present. Raises AssertionError naming the first violation."""
    from cchc.indexing.library import Library

    lib = Library(settings_for(home))  # opening runs WAL recovery and any pending migration
    try:
        conn = lib.conn
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        for what, sql in _ORPHANS.items():
            n = conn.execute(sql).fetchone()[0]
            assert n == 0, f"{n} {what}"
        plans = conn.execute("SELECT id, source, content_hash FROM plans").fetchall()
        sources = Counter(r["source"] for r in plans)
        hashes = Counter(r["content_hash"] for r in plans)
        assert not [s for s, n in sources.items() if n > 1], f"duplicated plans: {sources.most_common(3)}"
        assert not [h for h, n in hashes.items() if n > 1], "duplicated content"
        for r in plans:
            exp = expected.get(r["source"])
            assert exp is not None, f"unexpected plan {r['source']!r}"
            pid = r["id"]
            got = Expected(
                clauses=conn.execute("SELECT COUNT(*) FROM clauses WHERE plan_id = ?", (pid,)).fetchone()[0],
                boilerplate=conn.execute("SELECT COUNT(*) FROM boilerplate WHERE plan_id = ?", (pid,)).fetchone()[0],
                table_rows=conn.execute(
                    "SELECT COUNT(*) FROM table_fields t JOIN clauses c ON c.id = t.clause_id WHERE c.plan_id = ?", (pid,)
                ).fetchone()[0],
                targets=conn.execute("SELECT COUNT(*) FROM targets WHERE plan_id = ?", (pid,)).fetchone()[0],
                texts=frozenset(t for (t,) in conn.execute("SELECT text FROM clauses WHERE plan_id = ?", (pid,))),
            )
            assert got == exp, f"plan {r['source']!r} stored partly: {_diff(got, exp)}"
        return set(sources)
    finally:
        lib.close()


def _diff(got: Expected, exp: Expected) -> str:
    parts = [f"{f}: {getattr(got, f)} != {getattr(exp, f)}" for f in ("clauses", "boilerplate", "table_rows", "targets")
             if getattr(got, f) != getattr(exp, f)]
    if got.texts != exp.texts:
        parts.append(f"{len(exp.texts - got.texts)} clause texts missing")
    return "; ".join(parts)


def check_snapshot(home: Path) -> int | None:
    """The published index, if any, is complete and self-consistent: ``CURRENT`` names an
    existing snapshot whose dense and lexical indexes hold the same ids. Returns its size."""
    from cchc.indexing.dense import DenseIndex
    from cchc.indexing.lexical import LexicalIndex

    root = settings_for(home).index_dir
    if not (root / CURRENT).exists():
        return None
    snap = current_snapshot(root)
    assert snap is not None, f"CURRENT names a missing snapshot: {(root / CURRENT).read_text()!r}"
    meta = json.loads((snap / "snapshot.json").read_text(encoding="utf-8"))
    cfg = DenseIndex.read_config(snap)
    dense = DenseIndex.load(snap, expected_model_id=cfg["model_id"], expected_dim=int(cfg["dim"]))
    lexical = LexicalIndex.load(snap)
    assert sorted(map(int, dense.ids)) == sorted(map(int, lexical.ids)), "dense and lexical ids differ"
    assert len(dense.ids) == meta["n"]
    return len(dense.ids)


def index_ids(home: Path) -> tuple[set[int], set[int], set[int]]:
    """(dense ids, lexical ids, clause ids in SQLite) of the current snapshot and the store."""
    from cchc.indexing.library import Library
    from cchc.search.index_manager import load_indexes

    lib = Library(settings_for(home))
    try:
        idx = load_indexes(lib)
        clause_ids = {r[0] for r in lib.conn.execute("SELECT id FROM clauses")}
        return set(map(int, idx.dense.ids)), set(map(int, idx.lexical.ids)), clause_ids
    finally:
        lib.close()


def leftover_index_files(home: Path) -> list[str]:
    """Anything in the index directory a finished publication should not have left behind:
    half-written snapshot directories and pointer temp files."""
    root = settings_for(home).index_dir
    if not root.is_dir():
        return []
    bad = []
    for entry in root.iterdir():
        if entry.name in (CURRENT, ".publish.lock"):
            continue
        if entry.name.startswith(PREFIX) and entry.is_dir() and (entry / "snapshot.json").is_file():
            continue  # a complete snapshot (current, or superseded within its grace period)
        bad.append(entry.name)
    return sorted(bad)


# --- processes ----------------------------------------------------------------------------------


def start(args: list[str], home: Path, log: Path, **env: str) -> subprocess.Popen:
    out = open(log, "ab")
    try:
        return subprocess.Popen([CCHC, *args], env=cli_env(home, **env), stdout=out, stderr=subprocess.STDOUT)
    finally:
        out.close()  # the child holds its own descriptor


def run_and_kill(args: list[str], home: Path, log: Path, delay: float, *, after: str | None = None) -> tuple[bool, int]:
    """Start the CLI and SIGKILL it ``delay`` seconds after it starts or, with ``after``,
    after it has printed that text. Returns (killed, return code)."""
    offset = log.stat().st_size if log.exists() else 0
    proc = start(args, home, log, PYTHONUNBUFFERED="1")
    try:
        if after is not None:
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline:
                with open(log, "rb") as f:
                    f.seek(offset)
                    if after.encode() in f.read():
                        break
                time.sleep(0.02)
        proc.wait(timeout=delay)
        return False, proc.returncode
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return True, proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def run_cli(args: list[str], home: Path, *, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CCHC, *args], env=cli_env(home, **env), capture_output=True, text=True, timeout=timeout
    )


def seed_cache(home: Path, cache_db: Path) -> None:
    """Copy an embedding cache into the library at ``home`` (created if needed)."""
    from cchc.indexing.library import Library

    lib = Library(settings_for(home))
    try:
        lib.conn.execute("ATTACH DATABASE ? AS cache", (str(cache_db),))
        try:
            lib.conn.execute("INSERT OR IGNORE INTO embeddings SELECT * FROM cache.embeddings")
        finally:
            lib.conn.execute("DETACH DATABASE cache")
    finally:
        lib.close()


def sqlite_count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


# --- the crash scenario -------------------------------------------------------------------------


@dataclass
class CrashReport:
    kills: Counter  # runs ended by SIGKILL, by the phase aimed at
    finished_early: int = 0  # runs that completed before their kill time
    checks: int = 0  # library checks passed after a run
    plans_written_then_killed: int = 0  # kills after which the run had stored at least one plan
    seconds: float = 0.0

    @property
    def total_kills(self) -> int:
        return sum(self.kills.values())


# Where a kill is aimed: (command, text the run prints before the moment aimed at or None for
# "from the start", kill delay range in seconds after that). Start-up covers imports, opening
# and migrating the library; "batch" lands among the per-file transactions (~0.2 s each);
# "refresh" and "reindex" land while the index snapshot is being built and published.
PHASES = {
    "startup": (["ingest", "--no-index"], None, (0.2, 2.5)),
    "batch": (["ingest", "--no-index"], "đã nạp →", (0.0, 1.5)),
    "refresh": (["ingest"], "Đang cập nhật chỉ mục", (0.0, 2.0)),
    "reindex": (["reindex"], "Đang cập nhật chỉ mục", (0.0, 1.0)),
}


def crash_scenario(
    work: Path, corpus: Path, expected: dict[str, Expected], cache_db: Path | None, *, seed: int,
    kills: dict[str, int], log=print,
) -> tuple[CrashReport, Path]:
    """Run the CLI on a corpus again and again, SIGKILLing it at seeded random moments, and
    check the library after every run. ``kills`` says how many kills to aim at each phase
    (see ``PHASES``); index-building phases need ``cache_db`` so they embed nothing. Before
    a run that needs work, random plans are removed (deletes get exercised too).
    ``corpus`` is a folder made by ``make_corpus`` and ``expected`` its ``expected_plans``.
    Returns the report and the data directory; raises AssertionError on the first damage
    found."""
    import random

    from cchc.indexing.ingest import remove_plan
    from cchc.indexing.library import Library

    rng = random.Random(seed)
    clock = Stopwatch()
    work.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    log_file = work / "cli.log"
    report = CrashReport(kills=Counter())
    if cache_db is not None and (kills.get("refresh") or kills.get("reindex")):
        seed_cache(home, cache_db)
    runs = 0
    # A run that ends before its kill time is no kill: go on until each phase has its kills
    # (bounded, for a machine where runs always finish first).
    while runs < 3 * sum(kills.values()):
        todo = [phase for phase, n in kills.items() if report.kills[phase] < n]
        if not todo:
            break
        # Start-up kills first, the realistic order for a new library; then at random.
        phase = "startup" if "startup" in todo else rng.choice(todo)
        i, runs = runs, runs + 1
        present = check_store(home, expected) if home.exists() else set()
        # Enough files left to store that a kill 0-1.5 s into the batch still finds it running.
        want_missing = {"startup": 0, "batch": 12, "refresh": 2, "reindex": 0}[phase]
        if len(expected) - len(present) < want_missing:
            lib = Library(settings_for(home))
            try:
                ids = [p.id for p in lib.plans()]
                for pid in rng.sample(ids, k=min(len(ids), want_missing + rng.randint(0, 6))):
                    remove_plan(lib, pid)
            finally:
                lib.close()
            present = check_store(home, expected)
        command, after, (low, high) = PHASES[phase]
        args = command + ([] if command == ["reindex"] else [str(corpus)])
        delay = rng.uniform(low, high)
        killed, rc = run_and_kill(args, home, log_file, delay, after=after)
        before = len(present)
        present = check_store(home, expected)
        if killed:
            report.kills[phase] += 1
            report.plans_written_then_killed += len(present) > before
        else:
            report.finished_early += 1
            assert rc == 0, f"run {i} ({' '.join(args)}) exited with {rc}; see {log_file}"
        check_snapshot(home)
        report.checks += 1
        log(f"run {i:2d} {phase:8s} delay {delay:4.2f}s killed={killed} plans {before} -> {len(present)}")
    report.seconds = clock.elapsed
    return report, home


# --- readers running while something writes -------------------------------------------------------

QUERIES = [
    "thanh toán trực tuyến", "cai cach thu tuc hanh chinh", "TTHC", "chuyển đổi số", "hồ sơ trực tuyến toàn trình",
    "đào tạo bồi dưỡng cán bộ công chức", "kiểm tra văn bản quy phạm pháp luật", "ISO 9001", "tỷ lệ hài lòng",
]


@dataclass
class ReaderStats:
    searches: int = 0
    hits_checked: int = 0
    gaps: int = 0
    snapshots_seen: int = 0
    errors: list = None  # type: ignore[assignment]

    def __post_init__(self):
        self.errors = self.errors or []


def search_once(lib, query: str, mode: str, stats: ReaderStats, seen: set) -> None:
    """One search, checked: the index it ran on is a complete snapshot (both halves hold the
    same ids, no more than the store has ever had), and every hit is a stored clause shown
    with its stored text. Problems are recorded in ``stats.errors``, never raised."""
    from cchc.indexing import store
    from cchc.search.engine import search
    from cchc.search.index_manager import load_indexes

    try:
        hits = search(lib, query, mode=mode, top_k=10)
        idx = load_indexes(lib)
        if idx.snapshot not in seen:
            seen.add(idx.snapshot)
            stats.snapshots_seen += 1
            if not np_equal(idx.dense.ids, idx.lexical.ids):
                stats.errors.append(f"half-written index: {idx.snapshot.name}")
            with lib.lock:
                known = {r[0] for r in lib.conn.execute("SELECT id FROM clauses")}
            if not {int(i) for i in idx.dense.ids} <= known:  # nothing is deleted meanwhile
                stats.errors.append(f"index {idx.snapshot.name} holds ids the store never had")
        with lib.lock:
            gen = store.generation(lib.conn)
            stored = store.clauses_by_ids(lib.conn, [h.clause_id for h in hits])
        if idx.generation > gen:
            stats.errors.append(f"index generation {idx.generation} ahead of the store's {gen}")
        for h in hits:
            c = stored.get(h.clause_id)
            if c is None or c.text != h.text or c.plan_id != h.plan_id:
                stats.errors.append(f"hit {h.clause_id} does not match the store")
        stats.searches += 1
        stats.hits_checked += len(hits)
    except Exception as exc:  # counted: a search must never fail while another process writes
        stats.errors.append(f"{mode} {query!r}: {type(exc).__name__}: {exc}")


def gap_once(lib, template_id: int, plan_id: int, stats: ReaderStats) -> None:
    try:
        from cchc.search.gap import STATUSES, gap

        report = gap(lib, template_id, plan_id)
        if not report.items or any(i.status not in STATUSES for i in report.items):
            stats.errors.append(f"gap {template_id}→{plan_id}: empty or malformed report")
        stats.gaps += 1
    except Exception as exc:
        stats.errors.append(f"gap {template_id}→{plan_id}: {type(exc).__name__}: {exc}")


def np_equal(a, b) -> bool:
    return sorted(map(int, a)) == sorted(map(int, b))


def reader_loop(home: Path, stop_file: Path, seed: int, *, gap_pair: tuple[int, int] | None = None) -> ReaderStats:
    """Search (and run gap analyses) until ``stop_file`` exists; own Library, own process."""
    import random

    from cchc.indexing.library import Library

    rng = random.Random(seed)
    stats, seen = ReaderStats(), set()
    lib = Library(settings_for(home))
    try:
        while not stop_file.exists():
            time.sleep(0.05)  # leave the writer its share of the CPU
            if gap_pair and rng.random() < 0.2:
                gap_once(lib, *gap_pair, stats)
            else:
                search_once(lib, rng.choice(QUERIES), rng.choice(["lexical", "hybrid", "dense"]), stats, seen)
    finally:
        lib.close()
    return stats


if __name__ == "__main__":  # python hardening_support.py reader HOME STOP_FILE SEED [T P]
    from dataclasses import asdict

    _, _cmd, _home, _stop, _seed, *_pair = sys.argv
    _stats = reader_loop(Path(_home), Path(_stop), int(_seed), gap_pair=tuple(map(int, _pair)) if _pair else None)
    print(json.dumps(asdict(_stats), ensure_ascii=False))


# --- hostile and broken inputs --------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One input and what must come of it: ``added`` (with ``note`` among the result's notes
    when a conversion was needed; its text equal, up to case, to ``original``'s) or ``failed``
    with error ``code``."""

    file: str
    what: str
    expect: str
    code: str | None = None
    note: str | None = None
    original: str | None = None  # name of the sample the file was made from


_W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="word/document.xml"/></Relationships>'
)


def _para(text: str) -> str:
    return f'<w:p><w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>'


def write_docx_xml(path: Path, body_parts, extra: dict[str, bytes] | None = None) -> Path:
    """A minimal .docx written by hand, body streamed part by part (a huge table never sits in
    memory as one string)."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        with z.open("word/document.xml", "w") as f:
            f.write(f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {_W_NS}><w:body>'.encode())
            for part in body_parts:
                f.write(part.encode("utf-8"))
            f.write(b"</w:body></w:document>")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return path


_DOCX_INTRO = [_para("KẾ HOẠCH"), _para("Cải cách hành chính xã Thử năm 2026"), _para("I. MỤC ĐÍCH"),
               _para("1. Nâng cao chất lượng phục vụ người dân và doanh nghiệp.")]


def _nested_table(depth: int) -> str:
    inner = _para("Nội dung trong cùng của bảng lồng nhau.")
    for i in range(depth):
        inner = f"<w:tbl><w:tr><w:tc>{_para(f'Ô mức {i}')}{inner}</w:tc></w:tr></w:tbl>"
    return inner


def _table_rows(rows: int, cols: int):
    yield "<w:tbl>"
    for r in range(rows):
        yield "<w:tr>" + "".join(f"<w:tc>{_para(f'{r}.{c} nhiệm vụ số {r * cols + c}')}</w:tc>" for c in range(cols)) + "</w:tr>"
    yield "</w:tbl>"


def zip_bomb(path: Path, inflated_mb: int = 64) -> Path:
    """A .docx whose document.xml inflates about a thousand times (streamed, never in memory)."""
    import zipfile

    chunk = b"<w:p/>" * (1 << 17)  # 768 KiB of the same tag
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        with z.open("word/document.xml", "w", force_zip64=True) as f:
            f.write(f'<?xml version="1.0" encoding="UTF-8"?><w:document {_W_NS}><w:body>'.encode())
            for _ in range(inflated_mb * (1 << 20) // len(chunk)):
                f.write(chunk)
            f.write(b"</w:body></w:document>")
    return path


def many_entries_zip(path: Path, n: int = 12_000) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        for i in range(n):
            z.writestr(f"word/media/p{i}.xml", b"x")
    return path


def _pdf(objs: list[bytes], *, prev_self: bool = False) -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{off:010d} 00000 n \n".encode() for off in offsets)
    prev = f" /Prev {xref}".encode() if prev_self else b""
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R".encode() + prev + b" >>\n"
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def crafted_pdfs() -> dict[str, bytes]:
    """PDFs written byte by byte to send a parser round in circles, deep or out of memory."""
    import zlib

    text = b"BT /F1 12 Tf 72 720 Td (Ke hoach cai cach hanh chinh xa Thu nam 2026) Tj ET"

    def stream(data: bytes, extra: bytes = b"") -> bytes:
        return b"<< /Length %d%s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"

    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    pages = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    bomb = zlib.compress(b" " * (200 * 1024 * 1024), 9)
    form = b"q /X1 Do Q"
    return {
        # the page tree's root lists itself among its kids
        "trang-vong-lap.pdf": _pdf([catalog, b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>", page, stream(text), font]),
        # two Pages nodes each other's kid
        "hai-nut-vong.pdf": _pdf([catalog, b"<< /Type /Pages /Kids [6 0 R] /Count 1 >>", page, stream(text), font,
                                  b"<< /Type /Pages /Kids [2 0 R] /Count 1 /Parent 2 0 R >>"]),
        # the cross-reference table's /Prev points back at itself
        "xref-tu-tro.pdf": _pdf([catalog, pages, page, stream(text), font], prev_self=True),
        # a stream whose /Length is a reference to its own object
        "length-tu-tro.pdf": _pdf([catalog, pages, page,
                                   b"<< /Length 4 0 R >>\nstream\n" + text + b"\nendstream", font]),
        # a form XObject that draws itself
        "xobject-de-quy.pdf": _pdf([catalog, pages,
                                    page.replace(b">> >> >>", b">> /XObject << /X1 6 0 R >> >> >>"),
                                    stream(b"/X1 Do " + text), font,
                                    stream(form, b" /Type /XObject /Subtype /Form /BBox [0 0 9 9] /Resources << /XObject << /X1 6 0 R >> >>")]),
        # 200 MB of spaces deflated to 200 KB as the page's content
        "bom-flate.pdf": _pdf([catalog, pages, page, stream(bomb, b" /Filter /FlateDecode"), font]),
        # arrays nested 100 000 deep
        "mang-long-sau.pdf": _pdf([catalog, b"<< /Type /Pages /Kids [3 0 R] /Count 1 /X " + b"[" * 100_000 + b"]" * 100_000 + b" >>",
                                   page, stream(text), font]),
        # a page tree claiming a billion pages
        "dem-trang-gia.pdf": _pdf([catalog, b"<< /Type /Pages /Kids [3 0 R] /Count 999999999 >>", page, stream(text), font]),
    }


# Encoders for the legacy encodings, built from the reverse of the tables the reader converts
# with, so a sample plan can be written exactly as an old commune computer would have saved it.

_TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"


def encode_tcvn3(text: str) -> bytes:
    from cchc.corpus.vietenc import tcvn3_byte_table

    to_byte = {ch: b for b, ch in tcvn3_byte_table().items()}
    out = bytearray()
    for ch in text:
        b = to_byte.get(ch)
        if b is not None and b < 0xA0 and ch.lower() in to_byte:
            # ABC fonts have no code for these capitals: writers drew them with .VnTimeH,
            # the capitals font, over the lower-case codes. Case is lost; the reader restores
            # it only where the words around are in capitals.
            b = to_byte[ch.lower()]
        if b is not None:
            out.append(b)
        else:
            out += ch.encode("cp1252", errors="replace")
    return bytes(out)


def encode_vni(text: str) -> bytes:
    from cchc.corpus.vietenc import vni_table

    to_seq: dict[str, str] = {}
    for seq, letter in vni_table().items():
        same_case = seq.isupper() == letter.isupper() or not letter.isalpha()
        if letter not in to_seq or same_case:
            to_seq[letter] = seq
    return "".join(to_seq.get(ch, ch) for ch in text).encode("cp1252", errors="replace")


def encode_cp1258(text: str) -> bytes:
    """Windows-1258 keeps the tone as a separate combining character after the letter."""
    import unicodedata

    out = bytearray()
    for ch in text:
        try:
            out += ch.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        parts = unicodedata.normalize("NFD", ch)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in _TONE_MARKS))
        out += (base + "".join(c for c in parts if c in _TONE_MARKS)).encode("cp1258", errors="replace")
    return bytes(out)


def as_cp1252_mojibake(text: str) -> str:
    """UTF-8 bytes shown as Windows-1252 and saved again ("Cáº£i cÃ¡ch")."""
    from cchc.corpus.reader import _C1_AS_CP1252

    return text.encode("utf-8").decode("latin-1").translate(_C1_AS_CP1252)


WEIRD_NAMES = [
    "-rf.txt", "--help.txt", "$(touch PWNED).txt", "; rm -rf ~ #.txt", "`id`.txt", "'\"quoted\".md",
    "kế hoạch xã Hải Hậu.txt", "a\\b.txt", "tab\there.txt", " khoảng trắng .txt",
]


def hostile_inputs(folder: Path) -> list[Case]:
    """Write the hostile and broken inputs (plus two good plans) into ``folder``."""
    import unicodedata

    folder.mkdir(parents=True, exist_ok=True)
    samples = {p.name: p for p in sample_paths()}
    hai_hau = samples["xa-hai-hau-2026.txt"].read_text(encoding="utf-8")
    dinh_hung = samples["xa-dinh-hung-2025.txt"].read_text(encoding="utf-8")
    gia_phuc = samples["xa-gia-phuc-2025-cuoi-nam.txt"].read_text(encoding="utf-8")
    bhl = samples["phuong-bac-hong-linh-2026.txt"].read_text(encoding="utf-8")
    ha_dong = samples["xa-ha-dong-2026-2030.md"].read_text(encoding="utf-8")
    cases: list[Case] = []

    def put(name: str, data: bytes | str, case: Case) -> None:
        (folder / name).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        cases.append(case)

    put("ke-hoach-tot-1.txt", hai_hau, Case("ke-hoach-tot-1.txt", "plan, UTF-8", "added"))
    put("ke-hoach-tot-2.md", ha_dong, Case("ke-hoach-tot-2.md", "plan, Markdown", "added"))

    # Size: 100 MB of real plan text; refused by the size limit (and, when the limit is
    # raised, by the text-length bound) before a byte is read.
    big = folder / "rat-lon-100mb.txt"
    with open(big, "wb") as f:
        block = (hai_hau * 20).encode("utf-8")
        while f.tell() < 100 * 1024 * 1024:
            f.write(block)
        f.truncate(100 * 1024 * 1024)
    cases.append(Case(big.name, "100 MB text file", "failed", code="too_large"))

    zip_bomb(folder / "bom-nen.docx")
    cases.append(Case("bom-nen.docx", "zip bomb as .docx (~1000:1)", "failed", code="zip_bomb"))
    many_entries_zip(folder / "nhieu-phan.docx")
    cases.append(Case("nhieu-phan.docx", ".docx with 12 000 zip entries", "failed", code="zip_bomb"))
    write_docx_xml(folder / "bang-khong-lo.docx", _DOCX_INTRO + list(_table_rows(25_000, 10)))
    cases.append(Case("bang-khong-lo.docx", ".docx with a 250 000-cell table", "failed", code="too_many_cells"))
    write_docx_xml(folder / "bang-long-60.docx", _DOCX_INTRO + [_nested_table(60)])
    cases.append(Case("bang-long-60.docx", ".docx with tables nested 60 deep", "added"))
    write_docx_xml(folder / "bang-long-2000.docx", _DOCX_INTRO + [_nested_table(2000)])
    cases.append(Case("bang-long-2000.docx", ".docx with tables nested 2000 deep", "failed", code="corrupt_docx"))

    for name, data in crafted_pdfs().items():
        put(name, data, Case(name, f"crafted PDF: {name}", "any"))

    nul = bhl[:5000] + "\x00\x00" + bhl[5000:]
    put("co-byte-nul.txt", nul, Case("co-byte-nul.txt", "text with NUL bytes", "failed", code="binary_file"))
    put("utf16-khong-bom.txt", dinh_hung.encode("utf-16-le"),
        Case("utf16-khong-bom.txt", "UTF-16 without BOM (NULs everywhere)", "added", note="UTF-16", original="xa-dinh-hung-2025.txt"))

    put("tcvn3.txt", encode_tcvn3(gia_phuc),
        Case("tcvn3.txt", "TCVN3 (ABC) bytes", "added", note="TCVN3", original="xa-gia-phuc-2025-cuoi-nam.txt"))
    put("tcvn3-trong-utf8.txt", encode_tcvn3(bhl).decode("cp1252", errors="replace"),
        Case("tcvn3-trong-utf8.txt", "TCVN3 typed into a UTF-8 file", "added", note="TCVN3", original="phuong-bac-hong-linh-2026.txt"))
    put("vni.txt", encode_vni(hai_hau),
        Case("vni.txt", "VNI-Windows bytes", "added", note="VNI", original="xa-hai-hau-2026.txt"))
    put("vni-trong-utf8.md", encode_vni(ha_dong).decode("cp1252"),
        Case("vni-trong-utf8.md", "VNI typed into a UTF-8 file", "added", note="VNI", original="xa-ha-dong-2026-2030.md"))
    put("windows-1258.txt", encode_cp1258(dinh_hung),
        Case("windows-1258.txt", "Windows-1258 bytes", "added", note="Windows-1258", original="xa-dinh-hung-2025.txt"))
    put("nfd.txt", unicodedata.normalize("NFD", gia_phuc),
        Case("nfd.txt", "NFD (decomposed) UTF-8", "added", note="NFC", original="xa-gia-phuc-2025-cuoi-nam.txt"))
    put("utf8-hai-lan.txt", as_cp1252_mojibake(bhl),
        Case("utf8-hai-lan.txt", "UTF-8 read as Windows-1252 and saved again", "added", note="lỗi mã hóa", original="phuong-bac-hong-linh-2026.txt"))
    return cases
