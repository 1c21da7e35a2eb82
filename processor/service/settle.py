"""Which inbox files are settled: a pure step over a listing and a clock.

A file is taken only when its writer has finished (DESIGN §5 "Drop folder"): its identity
(size, mtime, inode) has stayed the same for ``settle`` seconds of the service's own monotonic
clock. The way watchdog's ``DirectorySnapshot`` / ``DirectorySnapshotDiff`` split it, the one
step that touches the disk (:func:`snapshot`: list inbox/, name → identity, file system
injectable) is kept apart from the decisions, which are pure functions of that listing, what
was seen before and "now":

* :func:`observe` — the new state: files first seen now, files whose identity changed (their
  quiet period starts again), files that vanished;
* :func:`due` — the files quiet for ``settle`` seconds whose next try has come.

So the settle rule is tested with a fake clock and a hand-made listing, no sleeping:

>>> seen = observe({}, {"a.xlsx": (10, 1, 7)}, now=100.0).seen
>>> due(seen, now=101.0, settle=2.0), due(seen, now=102.0, settle=2.0)
([], ['a.xlsx'])
>>> seen = observe(seen, {"a.xlsx": (20, 2, 7)}, now=101.5).seen  # still growing: the timer restarts
>>> due(seen, now=102.0, settle=2.0), due(seen, now=103.5, settle=2.0)
([], ['a.xlsx'])
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from processor.service.names import IGNORE, classify, is_log_folder

#: (size, mtime_ns, inode): what must stay unchanged for a file to count as finished
Identity = tuple[int, int, int]


@dataclass
class Seen:
    """What the service knows about one inbox file, timed by its own monotonic clock."""

    identity: tuple  # (size, mtime_ns, inode)
    changed_at: float
    tries: int = 0
    next_try: float = 0.0
    deferred_logged: bool = False


@dataclass(frozen=True)
class Observed:
    """The result of :func:`observe`: the new state, and what arrived or left since the last listing."""

    seen: dict[str, Seen]
    received: list[str] = field(default_factory=list)  # first seen now, in listing order
    vanished: list[str] = field(default_factory=list)  # gone from inbox/ (and not in a worker's hands)


def snapshot(
    inbox: Path, polling: bool, scandir: Callable[[Path], Iterable[os.DirEntry]] = os.scandir
) -> dict[str, Identity]:
    """inbox/ as one listing: every candidate file (not ignored by :func:`~.names.classify`) → identity.

    A missing inbox/ lists as empty; any other error listing it is raised (the caller logs it and
    keeps its state). A file that vanishes between listing and stat is left out.
    """
    try:
        entries = list(scandir(inbox))
    except FileNotFoundError:
        return {}
    listing = {}
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):  # a transaction log folder is one job (issue 13)
                identity = folder_identity(Path(entry.path), polling, scandir)
                if identity is not None:
                    listing[entry.name] = identity
                continue
            if not entry.is_file(follow_symlinks=False) or classify(entry.name) == IGNORE:
                continue
            listing[entry.name] = file_identity(entry.stat(follow_symlinks=False), polling)
        except OSError:
            continue
    return listing


def folder_identity(
    folder: Path, polling: bool, scandir: Callable[[Path], Iterable[os.DirEntry]] = os.scandir
) -> Identity | None:
    """(total size, newest mtime_ns, a digest of every entry's name and identity) of a log folder
    (:func:`~.names.is_log_folder`), None for any other folder: a folder is finished when none of its files
    changed, arrived or left for the quiet period — it settles as a whole.
    """
    entries = sorted(scandir(folder), key=lambda e: e.name)
    if not is_log_folder(folder.name, [e.name for e in entries]):
        return None
    return _tree_identity(folder, entries, polling, scandir)


def _tree_identity(folder: Path, entries, polling: bool, scandir) -> Identity:
    import hashlib

    digest = hashlib.sha256()
    total, newest = 0, 0  # the folder's own times change when it is moved into a claim: its entries count
    for entry in entries:
        st = entry.stat(follow_symlinks=False)
        if entry.is_dir(follow_symlinks=False):  # a nested folder (refused when scored, but watched alike)
            size, mtime, inner = _tree_identity(
                Path(entry.path), sorted(scandir(Path(entry.path)), key=lambda e: e.name), polling, scandir
            )
        else:
            size, mtime, inner = file_identity(st, polling)
        total += size
        newest = max(newest, mtime)
        digest.update(f"{entry.name}\0{size}\0{mtime}\0{inner}\n".encode())
    return total, newest, int.from_bytes(digest.digest()[:7], "big")


def path_identity(path: Path, polling: bool) -> Identity:
    """:func:`file_identity` of a file, :func:`folder_identity` of a log folder (what a claim holds)."""
    if path.is_dir() and not path.is_symlink():
        return _tree_identity(path, sorted(os.scandir(path), key=lambda e: e.name), polling, os.scandir)
    return file_identity(path.stat(), polling)


def observe(
    seen: Mapping[str, Seen], listing: Mapping[str, Identity], now: float, busy: Collection[str] = ()
) -> Observed:
    """The state after a listing taken at ``now``; ``seen`` is not modified.

    A new name starts its quiet period now; a changed identity restarts it (re-saved, or still
    growing); a name gone from the listing is forgotten. Names in ``busy`` (a worker holds
    them) keep their state whatever the listing says. Unchanged entries are the same objects,
    in the order first seen.

    >>> before = observe({}, {"a.csv": (1, 1, 1), "b.csv": (1, 1, 2)}, now=0.0).seen
    >>> after = observe(before, {"a.csv": (1, 1, 1), "c.csv": (5, 5, 5)}, now=3.0)
    >>> list(after.seen), after.received, after.vanished, after.seen["a.csv"] is before["a.csv"]
    (['a.csv', 'c.csv'], ['c.csv'], ['b.csv'], True)
    """
    new: dict[str, Seen] = {}
    vanished = []
    for name, old in seen.items():
        if name in busy:
            new[name] = old
        elif name not in listing:
            vanished.append(name)
        elif listing[name] != old.identity:
            new[name] = replace(old, identity=listing[name], changed_at=now)
        else:
            new[name] = old
    received = [name for name in listing if name not in seen]
    new.update((name, Seen(listing[name], now)) for name in received)
    return Observed(new, received, vanished)


def due(seen: Mapping[str, Seen], now: float, settle: float, busy: Collection[str] = ()) -> list[str]:
    """The files quiet for at least ``settle`` seconds whose next try has come, in the order first seen.

    >>> due({"a.csv": Seen((1, 1, 1), 0.0, next_try=9.0), "b.csv": Seen((1, 1, 2), 0.0)}, now=5.0, settle=2.0)
    ['b.csv']
    """
    return [name for name, s in seen.items() if name not in busy and s.next_try <= now and now - s.changed_at >= settle]


def opens_as_zip(path: Path) -> bool:
    """True when the zip's central directory is readable (a truncated .xlsx fails at every cut)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return bool(zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


def file_identity(st: os.stat_result, polling: bool) -> Identity:
    """(size, mtime_ns, inode): what must stay unchanged for a file to count as finished.

    The inode catches a same-size, same-mtime replacement; network clients may invent inode
    numbers (cifs noserverino), so with --poll only size and mtime count — and on Windows, where
    a directory listing reports every inode as 0.
    """
    return st.st_size, st.st_mtime_ns, 0 if polling or os.name == "nt" else st.st_ino
