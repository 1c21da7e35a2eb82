"""Claims and leases: moving a file so that exactly one holder has it, durably, and telling when
the holder of a claim is gone so that another instance may take it over.

A claim is ``.state/claims/<run_id>~<instance>/<name>`` (see :mod:`processor.service.names`);
each instance heartbeats ``.state/instances/<instance>``, and :class:`Leases` judges other
instances' heartbeats by the share's clock and by its own.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from processor.service.names import Folders

#: os.link errors after which a checked rename is the safe fallback: no hard links on this file
#: system (FAT/exFAT, some SMB/NFS servers; Windows maps ERROR_INVALID_FUNCTION and
#: ERROR_NOT_SUPPORTED to EINVAL), or links refused for this file (protected_hardlinks, ACLs)
_LINK_UNSUPPORTED = {
    errno.EPERM,
    errno.EACCES,
    errno.EINVAL,
    errno.ENOTSUP,
    errno.EOPNOTSUPP,
    errno.ENOSYS,
    errno.EXDEV,
    errno.EMLINK,
}


def place(src: Path, dst: Path, link: Callable = os.link) -> None:
    """Move ``src`` to ``dst`` without ever replacing an existing ``dst`` (FileExistsError).

    Hard link + unlink is atomic and no-clobber on POSIX; where links are unsupported (some
    shares), and for a folder (a transaction log), rename after a check (Windows' rename itself
    refuses to replace; the ledger reserved the name, so nobody else is about to take it). A
    crash between link and unlink leaves both names on one inode, which a retry recognises.
    If the fallback rename fails too (a read-only folder), that error is the one raised.
    """
    if src.is_dir() and not src.is_symlink():  # a log folder: directories cannot be hard-linked
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "exists", str(dst))
        os.rename(src, dst)
        return
    try:
        link(src, dst)
    except FileExistsError:
        if os.path.samefile(src, dst):
            os.unlink(src)
            return
        raise
    except OSError as exc:
        if exc.errno not in _LINK_UNSUPPORTED:
            raise
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "exists", str(dst)) from exc
        os.rename(src, dst)
        return
    os.unlink(src)


def fsync_file(path: Path) -> None:
    with open(path, "r+b") as fh:
        os.fsync(fh.fileno())


def fsync_dir(*folders: Path) -> None:
    """Make renames and links into ``folders`` durable (POSIX; Windows cannot open a folder)."""
    if os.name == "nt":
        return
    for folder in folders:
        try:
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:  # some network file systems refuse fsync on a folder
            pass
        finally:
            os.close(fd)


def sha256(path: Path) -> str:
    """The content hash of a file, or of a folder: every file's relative path and content, in name order
    (the same files dropped again are a duplicate, whatever their mtimes)."""
    digest = hashlib.sha256()
    if path.is_dir():
        for inner in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{inner.relative_to(path).as_posix()}\0{sha256(inner)}\n".encode())
        return digest.hexdigest()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def host_name() -> str:
    """This machine, as instance names carry it."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40] or "host"


class Leases:
    """This instance's heartbeat, and whether another instance holding a claim is gone.

    Same host: its process no longer exists. Any host: its heartbeat (or, with none, the claim
    folder) is ``lease`` older than ours by the share's clock, or has not changed for ``lease``
    seconds of our own clock (``now`` is the service's monotonic clock, passed in).
    """

    def __init__(self, folders: Folders, instance: str, host: str, lease: float):
        self.f = folders
        self.instance = instance
        self.host = host
        self.lease = lease
        self.path = folders.instances / instance
        self.last_moved: dict[str, tuple[int | None, float]] = {}  # owner → (heartbeat mtime, when it moved)

    def heartbeat(self) -> None:
        try:
            self.path.touch()
            os.utime(self.path)
        except OSError:
            try:
                self.f.make()
            except OSError:
                pass

    def beat_until(self, stop: threading.Event) -> None:
        """Heartbeat every lease/4 until ``stop`` is set (the service runs this in its own thread)."""
        interval = max(0.5, self.lease / 4)
        while not stop.wait(interval):
            self.heartbeat()

    def stop(self) -> None:
        """Stopped: no heartbeat, so ``status`` does not list it and any instance may take over
        what it still holds (claims left waiting on an unwritable outbox, say) right away."""
        try:
            self.path.unlink()
        except OSError:
            pass

    def share_clock(self) -> int | None:
        """The share's idea of "now" (ns): the mtime of our own heartbeat, rewritten every lease/4.

        Another machine's heartbeat is judged against this, not against our clock, so clock
        skew between PCs does not matter and a fresh ``--once`` run can tell a heartbeat that
        stopped two hours ago from one that is alive.
        """
        try:
            return os.stat(self.path).st_mtime_ns
        except OSError:
            return None

    def forget_dead_instances(self) -> None:
        """Remove heartbeat files of services that are gone (once, at start).

        On this host: the process no longer exists. Elsewhere: silent for 10 leases (at least an
        hour) by the share's clock. Their claims are recovered either way (see :meth:`holder_gone`).
        """
        try:
            names = [e.name for e in os.scandir(self.f.instances)]
        except OSError:
            return
        share_now = self.share_clock()
        for name in names:
            if name == self.instance:
                continue
            pid_part, _, host = name.partition("@")
            pid = pid_part.split("-")[0]
            gone = host == self.host and pid.isdigit() and not pid_alive(int(pid))
            try:
                silent = share_now is not None and (
                    share_now - os.stat(self.f.instances / name).st_mtime_ns >= max(10 * self.lease, 3600) * 1e9
                )
                if gone or silent:
                    (self.f.instances / name).unlink()
            except OSError:
                pass

    def holder_gone(self, owner: str, claim_name: str, now: float) -> bool:
        """Whether the instance holding a claim is gone, so its claims may be taken over (see the class)."""
        pid_part, _, host = owner.partition("@")
        if host == self.host:
            try:
                if not pid_alive(int(pid_part.split("-")[0])):
                    return True
            except ValueError:
                pass
        try:
            mtime = os.stat(self.f.instances / owner).st_mtime_ns
        except OSError:  # stopped cleanly, or its heartbeat was removed: the claim's own age counts
            try:
                mtime = os.stat(self.f.claims / claim_name).st_mtime_ns
            except OSError:
                return False
        share_now = self.share_clock()
        if share_now is not None and share_now - mtime >= self.lease * 1e9:
            return True
        last = self.last_moved.get(owner)
        if last is None or last[0] != mtime:
            self.last_moved[owner] = (mtime, now)  # heartbeat moved: alive, judged by our own clock
            return False
        return now - last[1] >= self.lease
