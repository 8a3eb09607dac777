"""The SQLite library: plans, clauses, table fields, boilerplate and the embedding cache.

Schema changes are numbered SQL files in ``migrations/`` applied in order on open and recorded
in ``PRAGMA user_version``. WAL mode lets searches read while an ingest writes; every change
that alters the set of clauses bumps ``meta.generation`` so indexes can tell they are stale.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Iterator

from cchc.corpus.models import Clause, ParsedPlan, Plan, PlanMeta
from cchc.corpus.textnorm import text_hash
from cchc.errors import CCHCError


def _migrations() -> list[tuple[int, str]]:
    root = resources.files("cchc.indexing") / "migrations"
    out = []
    for entry in root.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            out.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(out)


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout=30000")
    _set_wal(conn)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    _migrate(conn)
    return conn


def _set_wal(conn: sqlite3.Connection, wait_s: float = 30.0) -> None:
    """Switching a new database to WAL needs an exclusive lock, and SQLite reports "database is
    locked" at once — without calling the busy handler — when another process is creating
    the same library at that moment; so retry here for as long as the busy timeout."""
    import random
    import time

    deadline = time.monotonic() + wait_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02 + random.random() * 0.08)


def _migrate(conn: sqlite3.Connection) -> None:
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    pending = [(n, sql) for n, sql in _migrations() if n > current]
    if not pending:
        return
    # BEGIN IMMEDIATE so two processes opening a fresh library don't both migrate it.
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        for n, sql in pending:
            if n <= current:
                continue
            for statement in _split_sql(sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {n}")
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise


def _split_sql(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def generation(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])


def bump_generation(conn: sqlite3.Connection) -> int:
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
    return generation(conn)


# --- plans ------------------------------------------------------------------------------

_PLAN_COLS = "id, source, format, content_hash, title, unit, level, province, period, year, year_end, doc_number, issued, parents, notes, ingested_at"


def _plan_from_row(row: sqlite3.Row, n_clauses: int) -> Plan:
    meta = PlanMeta(
        title=row["title"],
        unit=row["unit"],
        level=row["level"],
        province=row["province"],
        period=row["period"],
        year=row["year"],
        year_end=row["year_end"],
        doc_number=row["doc_number"],
        issued=row["issued"],
        parents=json.loads(row["parents"]),
    )
    return Plan(
        id=row["id"],
        source=row["source"],
        format=row["format"],
        content_hash=row["content_hash"],
        meta=meta,
        n_clauses=n_clauses,
        ingested_at=row["ingested_at"],
    )


def list_plans(conn: sqlite3.Connection) -> list[Plan]:
    rows = conn.execute(
        f"SELECT {', '.join('p.' + c.strip() for c in _PLAN_COLS.split(','))}, "
        "(SELECT COUNT(*) FROM clauses c WHERE c.plan_id = p.id) AS n FROM plans p ORDER BY p.id"
    ).fetchall()
    return [_plan_from_row(r, r["n"]) for r in rows]


def get_plan(conn: sqlite3.Connection, plan_id: int) -> Plan:
    row = conn.execute(f"SELECT {_PLAN_COLS} FROM plans WHERE id = ?", (plan_id,)).fetchone()
    if row is None:
        raise CCHCError("plan_not_found", f"không có kế hoạch mã {plan_id} trong thư viện", status=404)
    n = conn.execute("SELECT COUNT(*) FROM clauses WHERE plan_id = ?", (plan_id,)).fetchone()[0]
    return _plan_from_row(row, n)


def plan_cards(conn: sqlite3.Connection, ids: list[int]) -> dict[int, sqlite3.Row]:
    """The few plan fields a search hit shows, for just the plans that appear in the hits."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = conn.execute(f"SELECT id, unit, province, period, source FROM plans WHERE id IN ({marks})", ids)
    return {r["id"]: r for r in rows}


def find_plan_by_hash(conn: sqlite3.Connection, content_hash: str) -> sqlite3.Row | None:
    return conn.execute("SELECT id, source, unit FROM plans WHERE content_hash = ?", (content_hash,)).fetchone()


def find_plan_by_source(conn: sqlite3.Connection, source: str) -> sqlite3.Row | None:
    return conn.execute("SELECT id, content_hash FROM plans WHERE source = ?", (source,)).fetchone()


def insert_plan(
    conn: sqlite3.Connection,
    parsed: ParsedPlan,
    *,
    plan_id: int | None = None,
    lex_tokens: list[str | None] | None = None,
) -> int:
    """Insert a parsed plan; the caller owns the transaction."""
    m = parsed.meta
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    cur = conn.execute(
        "INSERT INTO plans (id, source, format, content_hash, title, unit, level, province, period, year, "
        "year_end, doc_number, issued, parents, notes, ingested_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            plan_id, parsed.source, parsed.format, parsed.content_hash, m.title, m.unit, m.level, m.province,
            m.period, m.year, m.year_end, m.doc_number, m.issued, json.dumps(m.parents, ensure_ascii=False),
            json.dumps(parsed.notes, ensure_ascii=False), now,
        ),
    )
    pid = cur.lastrowid if plan_id is None else plan_id
    for i, cl in enumerate(parsed.clauses):
        tokens = lex_tokens[i] if lex_tokens else None
        ccur = conn.execute(
            "INSERT INTO clauses (plan_id, position, label, section, path, kind, area, area_source, text, text_hash, lex_tokens) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                pid, cl.position, cl.label, cl.section, json.dumps(cl.path, ensure_ascii=False), cl.kind, cl.area,
                cl.area_source, cl.text, text_hash(cl.text), tokens,
            ),
        )
        if cl.is_table_row:
            conn.execute(
                "INSERT INTO table_fields (clause_id, responsible, partners, deadline, output) VALUES (?,?,?,?,?)",
                (ccur.lastrowid, cl.responsible, cl.partners, cl.deadline, cl.output),
            )
    conn.executemany(
        "INSERT INTO boilerplate (plan_id, position, text) VALUES (?,?,?)",
        [(pid, i, t) for i, t in enumerate(parsed.boilerplate)],
    )
    return pid


def delete_plan(conn: sqlite3.Connection, plan_id: int) -> None:
    conn.execute("DELETE FROM plans WHERE id = ?", (plan_id,))


_CLAUSE_SQL = (
    "SELECT c.id, c.plan_id, c.position, c.label, c.path, c.kind, c.area, c.area_source, c.text, "
    "t.responsible, t.partners, t.deadline, t.output FROM clauses c LEFT JOIN table_fields t ON t.clause_id = c.id"
)


def _clause_from_row(r: sqlite3.Row) -> Clause:
    return Clause(
        id=r["id"],
        plan_id=r["plan_id"],
        position=r["position"],
        label=r["label"],
        path=json.loads(r["path"]),
        kind=r["kind"],
        area=r["area"],
        area_source=r["area_source"],
        text=r["text"],
        responsible=r["responsible"],
        partners=r["partners"],
        deadline=r["deadline"],
        output=r["output"],
    )


def plan_clauses(conn: sqlite3.Connection, plan_id: int) -> list[Clause]:
    rows = conn.execute(_CLAUSE_SQL + " WHERE c.plan_id = ? ORDER BY c.position", (plan_id,)).fetchall()
    return [_clause_from_row(r) for r in rows]


def clauses_by_ids(conn: sqlite3.Connection, ids: list[int]) -> dict[int, Clause]:
    out: dict[int, Clause] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        q = _CLAUSE_SQL + f" WHERE c.id IN ({','.join('?' * len(chunk))})"
        for r in conn.execute(q, chunk):
            out[r["id"]] = _clause_from_row(r)
    return out


def plan_boilerplate(conn: sqlite3.Connection, plan_id: int) -> list[str]:
    return [r[0] for r in conn.execute("SELECT text FROM boilerplate WHERE plan_id = ? ORDER BY position", (plan_id,))]
