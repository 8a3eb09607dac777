"""``Library``: one handle on the data directory (the SQLite store and the index snapshots)."""

from __future__ import annotations

import threading
from pathlib import Path

from cchc.corpus.models import Clause, Plan
from cchc.indexing import store
from cchc.settings import Settings, get_settings


class Library:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.home: Path = Path(self.settings.home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.conn = store.connect(self.settings.db_path)
        # One connection is shared by the threads of a server; SQLite serialises the writes,
        # this lock keeps a transaction from interleaving with another thread's statements.
        self.lock = threading.RLock()
        self._indexes = None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def generation(self) -> int:
        return store.generation(self.conn)

    def plans(self) -> list[Plan]:
        with self.lock:
            return store.list_plans(self.conn)

    def plan(self, plan_id: int) -> Plan:
        with self.lock:
            return store.get_plan(self.conn, plan_id)

    def clauses(self, plan_id: int) -> list[Clause]:
        with self.lock:
            store.get_plan(self.conn, plan_id)
            return store.plan_clauses(self.conn, plan_id)

    def boilerplate(self, plan_id: int) -> list[str]:
        with self.lock:
            return store.plan_boilerplate(self.conn, plan_id)
