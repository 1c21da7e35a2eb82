"""The worker pool: scoring processes (spawned, never forked), each running a
:class:`~processor.service.handler.Handler` on one job at a time; they die with the service.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

from processor.service.handler import Handler
from processor.service.names import Folders
from processor.service.options import Options, backoff
from processor.service.reports import EventLog

#: a worker that dies this soon after it was started could not start at all (bad install, no
#: permission): it is restarted with back-off, not in a spin
START_WINDOW = 10.0


class WorkerPool:
    """``options.workers`` scoring processes: jobs sent to idle ones, outcomes collected, the dead
    replaced (with back-off when they die on start), all stopped cleanly at the end."""

    def __init__(self, root: Path, options: Options, instance: str, log: EventLog):
        self.root, self.o, self.instance, self.log = root, options, instance, log
        self.mp = multiprocessing.get_context("spawn")  # no fork after threads; same on Windows
        self.slots: list[WorkerSlot] = []

    def start(self) -> None:
        self.slots = [self._spawn() for _ in range(self.o.workers)]

    def idle(self) -> list[WorkerSlot]:
        return [w for w in self.slots if w.job is None and w.process.is_alive()]

    def busy(self) -> bool:
        return any(w.job for w in self.slots)

    def send(self, slot: WorkerSlot, job: dict) -> None:
        slot.job, slot.started = job, time.monotonic()
        slot.conn.send(job)

    def results(self) -> list[dict]:
        """The outcomes workers have sent back since the last call."""
        done = []
        for slot in self.slots:
            try:
                while slot.job and slot.conn.poll():
                    done.append(slot.conn.recv())
                    slot.job = None
            except (EOFError, OSError):
                pass  # the worker died; supervise() handles it
        return done

    def supervise(self, now: float, stopping: bool, lost: Callable[[dict, int | None, tuple | None], None]) -> None:
        """End a worker past ``timeout`` or ``memory_limit_mb``; for each dead one call
        ``lost(job, exitcode, limit)`` for the job it held (``limit``: ("time", seconds) or
        ("memory", MB) when the service ended it), then start a replacement (unless stopping)."""
        for i, slot in enumerate(self.slots):
            limit = None
            if slot.job and now - slot.started > self.o.timeout:
                limit = ("time", self.o.timeout)
                self.log(
                    "timeout",
                    file=slot.job.get("name"),
                    run=slot.job["run_id"],
                    duration_s=round(now - slot.started, 1),
                )
            elif slot.job and (rss := resident_mb(slot.process.pid)) > self.o.memory_limit_mb:
                limit = ("memory", self.o.memory_limit_mb)
                self.log(
                    "memory_limit",
                    file=slot.job.get("name"),
                    run=slot.job["run_id"],
                    rss_mb=round(rss),
                    limit_mb=self.o.memory_limit_mb,
                )
            if limit is not None:
                slot.process.kill()
                slot.process.join(timeout=10)
            if slot.process.is_alive():
                continue
            if slot.job:
                lost(slot.job, slot.process.exitcode, limit)
            elif not stopping and not slot.reported:
                self.log(
                    "worker_died",
                    exitcode=slot.process.exitcode,
                    reason="a scoring process could not start; see the lines above"
                    if now - slot.spawned < START_WINDOW
                    else None,
                )
            if not slot.reported:  # judged once per death, not again on each pass while it waits
                # one the service ended at a limit did start: it is replaced at once, with no back-off
                slot.died_starting = limit is None and now - slot.spawned < START_WINDOW
                slot.failures += slot.died_starting
            slot.job, slot.reported = None, True
            if stopping:
                continue
            if slot.died_starting and now < slot.spawned + backoff(slot.failures, 2.0, 60.0):
                continue
            replacement = self._spawn()
            replacement.failures = slot.failures if slot.died_starting else 0
            self.slots[i] = replacement

    def wait(self, timeout: float) -> None:
        """Sleep until a worker answers or dies, at most ``timeout`` seconds."""
        handles = [w.conn for w in self.slots] + [w.process.sentinel for w in self.slots]
        try:
            wait(handles, timeout=timeout)
        except OSError:
            time.sleep(timeout)

    def shutdown(self) -> None:
        """Ask every worker to stop after its file, wait for it, kill what does not stop."""
        for slot in self.slots:
            try:
                slot.conn.send(None)
            except OSError:
                pass
        for slot in self.slots:
            slot.process.join(timeout=30)
            if slot.process.is_alive():
                slot.process.kill()

    def _spawn(self) -> WorkerSlot:
        parent, child = self.mp.Pipe()
        process = self.mp.Process(
            target=worker_main,
            name="precision-list-worker",
            daemon=True,
            args=(child, str(self.root), asdict(self.o), self.instance),
        )
        process.start()
        child.close()
        return WorkerSlot(process, parent)


@dataclass
class WorkerSlot:
    process: object
    conn: object
    job: dict | None = None
    started: float = 0.0
    spawned: float = field(default_factory=time.monotonic)
    failures: int = 0  # consecutive deaths soon after start
    reported: bool = False  # its death has been handled (logged, counted)
    died_starting: bool = False  # it died within START_WINDOW of its start, not ended by the service


def worker_main(conn, root: str, options: dict, instance: str) -> None:
    """Entry point of a scoring process: jobs in over ``conn``, outcomes back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides when to stop;
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the file in hand is always finished
    _exit_with_parent()
    opts = Options(**options)
    handler = Handler(Folders(Path(root)), opts, instance, EventLog(opts.log_file, opts.terminal, instance=instance))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            job = None
        if job is None:
            handler.ledger.close()
            os._exit(0)  # nothing is buffered (log lines are single writes, the ledger is closed):
            # skip tearing down pandas & co., which makes every stop and --once run a second slower
        conn.send(handler.handle(job))


def resident_mb(pid: int | None) -> float:
    """A process's resident memory in MB (0 when it cannot be read: gone, or no way to ask)."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:  # Linux: no dependency, ~20 µs
            for line in fh:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import psutil  # Windows and macOS

        return psutil.Process(pid).memory_info().rss / 2**20
    except Exception:  # noqa: BLE001 — no psutil, or the process is gone
        return 0.0


def _exit_with_parent() -> None:
    """Workers die with the service (kill -9 included), so no orphan finishes a file behind its back."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(3)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()
