"""Atomic publication of index files.

All index files of one library state (dense, lexical, their configs) live in one directory
``index_root/snap-<generation or timestamp>-<random>``. A one-line pointer file
``index_root/CURRENT`` names the directory in use. A new state is written into a fresh
``.building-snap-…`` directory, flushed to disk, renamed to its ``snap-…`` name (so a
``snap-`` directory is always complete), and only then made current by replacing ``CURRENT``
atomically (temp file + ``os.replace``). A search that reads ``CURRENT`` therefore sees a complete old or
a complete new state, never a half-written one::

    def write(directory):
        dense.save(directory)
        lexical.save(directory)

    publish_snapshot(settings.index_dir, write, generation=store_generation)
    ...
    dense = load_current(settings.index_dir, lambda d: DenseIndex.load(d, ...))

Old snapshots are deleted when a later one is published, but never the current one, never the
one just replaced (readers may still be opening it), and never one that stopped being current
less than ``grace_s`` seconds ago. A reader that takes longer than that to open its files (or
two publications in quick succession with ``grace_s=0``) is covered by :func:`load_current`,
which retries on the new snapshot when the one it was reading has been superseded. Deletion
failures (e.g. files still open on Windows) are ignored and retried at the next publication.
What a publisher killed half-way leaves behind (a ``.building-`` directory, a ``CURRENT.tmp-``
file) is removed by the next publication, at once: no reader ever opened it.

Publishers are serialised by a lock file (``index_root/.publish.lock``) across threads and
processes.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from cchc.errors import CCHCError

CURRENT = "CURRENT"
PREFIX = "snap-"
BUILDING = ".building-"
LOCK_FILE = ".publish.lock"
GRACE_S = 30.0
_NAME_RE = re.compile(r"^snap-[0-9A-Za-z]+-[0-9a-f]+$")
_thread_lock = threading.Lock()

T = TypeVar("T")


# --------------------------------------------------------------------------- durability


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    # Directories cannot be opened for fsync on Windows; the rename is still atomic there.
    if directory and sys.platform.startswith("win"):
        return
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            _fsync_path(Path(dirpath) / name)
        _fsync_path(Path(dirpath), directory=True)


@contextmanager
def _publish_lock(index_root: Path) -> Iterator[None]:
    with _thread_lock, open(index_root / LOCK_FILE, "a+b") as f:
        if sys.platform.startswith("win"):
            import msvcrt

            f.seek(0)
            while True:
                try:
                    msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:  # LK_LOCK gives up after ~10 s; keep waiting for the other writer
                    continue
            try:
                yield
            finally:
                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


# --------------------------------------------------------------------------- pointer


def _read_current_name(index_root: Path) -> str | None:
    for attempt in range(50):
        try:
            name = (index_root / CURRENT).read_text(encoding="utf-8").strip()
            break
        except FileNotFoundError:
            return None
        except PermissionError:  # Windows: being replaced right now
            if attempt == 49:
                raise
            time.sleep(0.01)
    # Never follow a pointer outside index_root, whatever the file says.
    return name if _NAME_RE.match(name) else None


def _switch_current(index_root: Path, name: str) -> None:
    tmp = index_root / f"{CURRENT}.tmp-{secrets.token_hex(4)}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())
    for attempt in range(50):
        try:
            os.replace(tmp, index_root / CURRENT)
            break
        except PermissionError:  # Windows: a reader has CURRENT open for a moment
            if attempt == 49:
                tmp.unlink(missing_ok=True)
                raise
            time.sleep(0.02)
    _fsync_path(index_root, directory=True)


def current_snapshot(index_root: str | os.PathLike) -> Path | None:
    """The directory ``CURRENT`` points to, or ``None`` when nothing was published yet.

    ``None`` is also returned if the pointer is unreadable or names a directory that no
    longer exists; callers treat both as "no index, run ``cchc reindex``".
    """
    index_root = Path(index_root)
    for _ in range(3):
        name = _read_current_name(index_root)
        if name is None:
            return None
        path = index_root / name
        if path.is_dir():
            return path
        # Superseded and deleted between our read and the check: read the pointer again.
    return None


def load_current(index_root: str | os.PathLike, load_fn: Callable[[Path], T], *, attempts: int = 5) -> T | None:
    """``load_fn(current_snapshot(index_root))``, retried if that snapshot is superseded meanwhile.

    Returns ``None`` when nothing has been published. An error from ``load_fn`` on a snapshot
    that is still current is a real error and is raised as is.
    """
    index_root = Path(index_root)
    last_exc: BaseException | None = None
    for _ in range(max(1, attempts)):
        snap = current_snapshot(index_root)
        if snap is None:
            return None
        try:
            return load_fn(snap)
        except (OSError, CCHCError) as exc:
            if _read_current_name(index_root) == snap.name:
                raise
            last_exc = exc
    assert last_exc is not None
    raise last_exc


# --------------------------------------------------------------------------- publication


def _new_name(generation: int | None) -> str:
    if generation is None:
        stamp = f"t{time.time_ns()}"
    else:  # only [0-9A-Za-z] may appear in the stamp (see _NAME_RE)
        stamp = f"{int(generation):012d}" if int(generation) >= 0 else f"m{-int(generation)}"
    return f"{PREFIX}{stamp}-{secrets.token_hex(4)}"


def _cleanup(index_root: Path, keep: set[str], grace_s: float) -> None:
    now = time.time()
    for entry in index_root.iterdir():
        try:
            if entry.name.startswith(f"{CURRENT}.tmp-"):
                # Left by a crashed publisher (we hold the lock, so no live one is writing it).
                entry.unlink(missing_ok=True)
            elif entry.name.startswith(BUILDING) and entry.is_dir():
                # Likewise, and never current: no reader can have it open, no grace needed.
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith(PREFIX) and entry.name not in keep and entry.is_dir():
                # The directory's mtime is when it stopped being current (set in
                # publish_snapshot) or, for a crashed publication, its last write.
                if now - entry.stat().st_mtime >= grace_s:
                    shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue


def publish_snapshot(
    index_root: str | os.PathLike,
    write_fn: Callable[[Path], None],
    *,
    generation: int | None = None,
    grace_s: float = GRACE_S,
    keep_current: Callable[[Path], bool] | None = None,
) -> Path:
    """Write a new snapshot with ``write_fn(directory)`` and make it current atomically.

    ``generation`` (the store's generation) goes into the directory name for humans; without it
    a timestamp is used. If ``write_fn`` raises, the new directory is removed, ``CURRENT`` is
    untouched and the exception propagates. Returns the new snapshot directory.

    ``keep_current(current_dir)``, asked under the lock before anything is written, may say
    the current snapshot is better than the one about to be written (two processes indexing
    at once: the one that read the store earlier must not publish last); nothing is then
    written and the current directory is returned.
    """
    index_root = Path(index_root)
    index_root.mkdir(parents=True, exist_ok=True)
    with _publish_lock(index_root):
        previous = _read_current_name(index_root)
        if keep_current is not None and previous is not None and (index_root / previous).is_dir():
            if keep_current(index_root / previous):
                return index_root / previous
        name = _new_name(generation)
        directory = index_root / name
        building = index_root / f"{BUILDING}{name}"
        building.mkdir()
        try:
            write_fn(building)
            _fsync_tree(building)
            # Only complete snapshots ever carry the snap- name, so a publisher killed while
            # writing leaves a .building- directory the next publication may delete at once.
            os.replace(building, directory)
            _fsync_path(index_root, directory=True)
            _switch_current(index_root, name)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            shutil.rmtree(directory, ignore_errors=True)
            raise
        keep = {name}
        if previous is not None:
            keep.add(previous)
            try:  # stamp when it stopped being current: the start of its grace period
                os.utime(index_root / previous)
            except OSError:
                pass
        _cleanup(index_root, keep, grace_s)
        return directory


def list_snapshots(index_root: str | os.PathLike) -> list[Path]:
    """All snapshot directories present (current, previous and not yet deleted ones)."""
    index_root = Path(index_root)
    if not index_root.is_dir():
        return []
    return sorted(p for p in index_root.iterdir() if p.name.startswith(PREFIX) and p.is_dir())


__all__ = ["CURRENT", "current_snapshot", "list_snapshots", "load_current", "publish_snapshot"]
