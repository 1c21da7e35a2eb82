"""The service loop: one named run loop over the drop folder (kombu ``ConsumerMixin.run``-style).

Each turn: collect the workers' outcomes, supervise workers and the folder observer, list
inbox/ and .state/claims/ when a timer or an event says so, and dispatch what is due to idle
workers. Which files are settled is decided by :mod:`processor.service.settle`, claims and
leases by :mod:`processor.service.claims`, the work on one file by
:mod:`processor.service.handler` in a process of :mod:`processor.service.pool`. Whatever
waits — a file locked by Excel, an unwritable outbox, an error of the loop itself, a worker
that cannot start — waits by the one policy :func:`processor.service.options.backoff`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import threading
import time
from pathlib import Path

from processor.service.claims import Leases, host_name
from processor.service.ledger import Ledger
from processor.service.names import DONE_SUFFIX, ZIP_KINDS, Folders, claim_dir_name, new_run_id, parse_claim_dir
from processor.service.options import Options, backoff, load_options
from processor.service.pool import WorkerPool
from processor.service.reports import EventLog, describe_exception
from processor.service.settle import Seen, due, observe, opens_as_zip, snapshot


class Service:
    """The long-running (or ``--once``) drop-folder service over one ROOT."""

    def __init__(self, root: str | os.PathLike, options: Options):
        self.f = Folders(Path(root).resolve())
        self.o = options
        self.host = host_name()
        self.instance = f"{os.getpid()}-{secrets.token_hex(2)}@{self.host}"
        self.log = EventLog(options.log_file, options.terminal, instance=self.instance)
        self.seen: dict[str, Seen] = {}
        self.pool = WorkerPool(self.f.root, options, self.instance, self.log)
        self.busy_names: set[str] = set()
        self.busy_runs: set[str] = set()
        self.retry: dict[str, tuple[str, float]] = {}  # run_id → (claim dir, when) waiting to be resumed
        self.attempts: dict[str, int] = {}  # run_id → environmental retries so far
        self.expect: dict[str, tuple] = {}  # run_id → identity a re-settling claim must still have
        self.force_fail: set[str] = set()  # run_ids that crashed workers max_crashes times
        self.limits: dict[str, list] = {}  # run_id → ["time", s] or ["memory", MB]: the limit it passed
        self.gave_up: set[str] = set()
        self.awaiting_marker: set[str] = set()  # done_files: inbox names whose <name>.done is not there yet
        self.leases = Leases(self.f, self.instance, self.host, options.lease)
        self.errors = 0  # consecutive errors of the loop itself
        self.stopping = False
        self.wake = threading.Event()
        self.rearm = threading.Event()
        self.beat_stop = threading.Event()
        self.observer = None
        self.armed: tuple | None = None
        self._next_sweep = self._next_folders = 0.0

    # -- lifecycle ---------------------------------------------------------------------------
    def run(self, once: bool = False) -> int:
        self.f.make()
        self.ledger = Ledger(self.f.ledger)
        self.leases.heartbeat()
        self.leases.forget_dead_instances()
        # its own thread: a ledger busy for a minute (another instance's long commit) must not
        # make this instance look dead to the others
        self.beat = threading.Thread(
            target=self.leases.beat_until, args=(self.beat_stop,), daemon=True, name="heartbeat"
        )
        self.beat.start()
        self._install_signals()
        self.log(
            "started",
            root=str(self.f.root),
            workers=self.o.workers,
            settle=self.o.settle,
            poll=self.o.poll,
            once=once or None,
            as_of=self.o.as_of,
        )
        self.pool.start()
        if not once:
            self._arm("start")
        started = time.monotonic()
        gap = max(0.05, min(self.o.settle / 3, 0.5))  # events come in floods; one listing serves them all
        next_scan = next_watch = last_scan = 0.0
        try:
            while True:
                now = time.monotonic()
                try:
                    for result in self.pool.results():
                        self._settle_job(result, now)
                    self.pool.supervise(now, self.stopping, self._lost)
                    if not once and now >= next_watch:
                        self._supervise_observer()
                        next_watch = now + 1.0
                    if now >= next_scan or (self.wake.is_set() and now - last_scan >= gap):
                        self.wake.clear()
                        last_scan = now
                        self._ensure_folders(now)
                        self._scan_inbox(now)
                        self._scan_claims(now)
                        settling = any(n not in self.busy_names for n in self.seen) or self.retry
                        idle = self.o.poll if self.o.poll else self.o.scan_interval
                        next_scan = now + (gap if settling else idle)
                    if not self.stopping:
                        self._dispatch(time.monotonic())
                    self.errors = 0
                except Exception as exc:  # noqa: BLE001 — a locked ledger or a vanished share: log, retry
                    self.errors += 1
                    delay = backoff(self.errors, self.o.retry_initial, self.o.retry_max)
                    self.log("error", reason=describe_exception(exc), retry_in_s=round(delay, 2))
                    next_scan = now + delay
                    time.sleep(min(1.0, delay))
                if self.stopping and not self.pool.busy():
                    break
                if once and now - started > self.o.settle and self._drained():
                    break
                self.pool.wait(0.1)
        finally:
            self._shutdown()
        left = len(self.retry) + len([n for n in self.seen if n not in self.busy_names])
        self.log("stopped", outcome="clean" if not left else "left-waiting", waiting=left)
        return 3 if once and left else 0

    def _install_signals(self) -> None:
        def stop(signum, frame):
            if not self.stopping:
                self.log("stopping", reason=signal.Signals(signum).name)
            self.stopping = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                signal.signal(sig, stop)
            except ValueError:  # not the main thread (library use): the caller handles signals
                pass

    def _shutdown(self) -> None:
        self.pool.shutdown()
        if self.observer is not None:
            try:
                self.observer.stop()
                self.observer.join(timeout=5)
            except Exception:  # noqa: BLE001 — shutting down anyway
                pass
        self.beat_stop.set()
        self.beat.join(timeout=10)
        self.leases.stop()
        self.ledger.close()

    def _drained(self) -> bool:
        """--once: nothing in flight, nothing settling, only given-up retries or unmarked files left."""
        if self.pool.busy():
            return False
        if any(run not in self.gave_up for run in self.retry):
            return False
        return all(n in self.gave_up or n in self.awaiting_marker for n in self.seen)

    # -- workers -----------------------------------------------------------------------------
    def _send(self, slot, job: dict) -> None:
        self.busy_runs.add(job["run_id"])
        if job["kind"] == "inbox":
            self.busy_names.add(job["name"])
        self.pool.send(slot, job)

    def _lost(self, job: dict, exitcode: int | None, limit: tuple | None = None) -> None:
        """A worker died holding ``job``: count the crash (the file is failed after ``max_crashes``);
        one the service ended for passing its time or memory limit is failed at once, with a report
        naming the limit (trying again would only hit it again)."""
        self._release(job)
        crashes = self.ledger.note_crash(job["run_id"])
        self.log(
            "worker_died",
            file=job.get("name"),
            run=job["run_id"],
            exitcode=exitcode,
            crashes=crashes,
            limit=limit[0] if limit else None,
        )
        if limit is not None:  # its claim is failed next turn (queued now: --once must not stop before it)
            self.force_fail.add(job["run_id"])
            self.limits[job["run_id"]] = list(limit)
            self.retry[job["run_id"]] = (claim_dir_name(job["run_id"], self.instance), time.monotonic())
        if job["kind"] == "inbox":
            self.seen.pop(job["name"], None)

    def _release(self, job: dict) -> None:
        self.busy_runs.discard(job["run_id"])
        if job["kind"] == "inbox":
            self.busy_names.discard(job["name"])

    def _settle_job(self, result: dict, now: float) -> None:
        self._release(result)
        outcome, run_id = result["outcome"], result["run_id"]
        claim = claim_dir_name(run_id, self.instance)
        if outcome in ("archived", "duplicate", "failed", "gone"):
            self.retry.pop(run_id, None)
            self.attempts.pop(run_id, None)
            if result["kind"] == "inbox":
                self.seen.pop(result["name"], None)
            return
        if outcome == "locked":  # not claimed: back off on the inbox file itself
            seen = self.seen.get(result["name"])
            if seen:
                seen.tries += 1
                seen.next_try = now + self._backoff(seen.tries)
                if seen.tries > self.o.once_max_retries:
                    self.gave_up.add(result["name"])
            return
        if result["kind"] == "inbox":
            self.seen.pop(result["name"], None)
        if not (self.f.claims / claim).is_dir():
            self.retry.pop(run_id, None)
            return
        if outcome == "unsettled":  # still being written: look again after a quiet period
            self.expect[run_id] = tuple(result["identity"])
            self.retry[run_id] = (claim, now + max(self.o.settle, 0.1))
            return
        attempts = self.attempts[run_id] = self.attempts.get(run_id, 0) + 1
        delay = self.o.settle if outcome == "busy" else self._backoff(attempts)
        self.retry[run_id] = (claim, now + delay)
        if attempts > self.o.once_max_retries:
            self.gave_up.add(run_id)
        if outcome == "retry":
            self.log("waiting", run=run_id, outcome="retry", retry_in_s=round(delay, 2), attempts=attempts)

    def _backoff(self, attempts: int) -> float:
        return backoff(attempts, self.o.retry_initial, self.o.retry_max)

    # -- scanning ------------------------------------------------------------------------------
    def _ensure_folders(self, now: float) -> None:
        """Re-create outbox/ archive/ failed/ .state/… when someone deleted one (checked every few seconds)."""
        if now < self._next_folders:
            return
        self._next_folders = now + max(1.0, min(self.o.scan_interval, 10.0))
        needed = (self.f.outbox, self.f.archive, self.f.failed, self.f.claims, self.f.instances)
        missing = [folder for folder in needed if not folder.is_dir()]
        if missing:
            self.f.make()
            self.log("folder_recreated", reason=", ".join(f"{p.relative_to(self.f.root)}/" for p in missing))

    def _scan_inbox(self, now: float) -> None:
        try:
            listing = snapshot(self.f.inbox, bool(self.o.poll))
        except OSError as exc:
            self.log("scan_error", reason=f"inbox/: {describe_exception(exc)}")
            return
        observed = observe(self.seen, listing, now, self.busy_names)
        self.seen = observed.seen
        for name in observed.received:
            self.log("received", file=name, size=listing[name][0])
        for name in observed.vanished:
            self.gave_up.discard(name)
            self.awaiting_marker.discard(name)

    def _scan_claims(self, now: float) -> None:
        try:
            entries = [e.name for e in os.scandir(self.f.claims) if e.is_dir()]
        except OSError:
            return
        for name in entries:
            run_id, owner = parse_claim_dir(name)
            if not owner or run_id in self.busy_runs or run_id in self.retry:
                continue
            if owner == self.instance or self.leases.holder_gone(owner, name, now):
                row = self.ledger.get(run_id)
                if row and row["crashes"] >= self.o.max_crashes:
                    self.force_fail.add(run_id)
                self.retry[run_id] = (name, now)
        if now >= self._next_sweep:
            self._next_sweep = now + 60.0
            self._sweep_partials({parse_claim_dir(n)[0] for n in entries})

    def _sweep_partials(self, claimed_runs: set[str]) -> None:
        """Remove ``outbox/.partial/<run>`` left by a run whose claim no longer exists (at most once a minute).

        A live run recreates its folder before scoring, so only leftovers older than a minute go.
        """
        try:
            entries = list(os.scandir(self.f.partial))
        except OSError:
            return
        for entry in entries:
            try:
                stale = time.time() - entry.stat().st_mtime > 60
            except OSError:
                continue
            if entry.name not in claimed_runs and entry.name not in self.busy_runs and stale:
                shutil.rmtree(entry.path, ignore_errors=True)

    def _dispatch(self, now: float) -> None:
        idle = self.pool.idle()
        for run_id, (claim, when) in sorted(self.retry.items(), key=lambda kv: kv[1][1]):
            if not idle:
                return
            if when > now or run_id in self.busy_runs:
                continue
            del self.retry[run_id]
            self._send(
                idle.pop(),
                {
                    "kind": "claim",
                    "claim": claim,
                    "run_id": run_id,
                    "force_fail": run_id in self.force_fail,
                    "identity": self.expect.pop(run_id, None),
                    "limit": self.limits.pop(run_id, None),
                },
            )
            self.force_fail.discard(run_id)
        for name in due(self.seen, now, self.o.settle, self.busy_names):
            if not idle:
                return
            seen = self.seen[name]
            path = self.f.inbox / name
            if self.o.done_files and not os.path.exists(self.f.inbox / f"{name}{DONE_SUFFIX}"):
                seen.next_try = now + max(self.o.settle, 0.5)
                if name not in self.awaiting_marker:
                    self.awaiting_marker.add(name)
                    self.log("deferred", file=name, size=seen.identity[0], reason=f"waiting for {name}{DONE_SUFFIX}")
                continue
            self.awaiting_marker.discard(name)
            young = now - seen.changed_at < self.o.grace
            readable = seen.identity[0] > 0 and (
                not name.lower().endswith(ZIP_KINDS) or path.is_dir() or opens_as_zip(path)
            )
            if not readable and young:
                seen.next_try = now + max(self.o.settle, 0.2)
                if not seen.deferred_logged:
                    seen.deferred_logged = True
                    self.log(
                        "deferred", file=name, size=seen.identity[0], reason="empty or not yet a complete workbook"
                    )
                continue
            run_id = new_run_id()
            self.log(
                "settled", file=name, size=seen.identity[0], run=run_id, duration_s=round(now - seen.changed_at, 3)
            )
            self._send(idle.pop(), {"kind": "inbox", "name": name, "run_id": run_id, "identity": seen.identity})

    # -- heartbeat and observer ------------------------------------------------------------------
    def _arm(self, reason: str) -> None:
        # imported when the service arms its first observer: status, --once and the tests that build
        # a Service without running it never load watchdog's platform backends
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        wake, rearm, inbox = self.wake, self.rearm, os.path.normpath(str(self.f.inbox))

        class Hint(FileSystemEventHandler):
            """Any event (created, modified, moved — Excel saves arrive as moves) just wakes the scan."""

            def on_any_event(self, event):
                try:
                    if event.event_type == "deleted" and os.path.normpath(str(event.src_path)) == inbox:
                        rearm.set()  # inotify stops watching a deleted folder, even if it comes back
                    wake.set()
                except BaseException:  # noqa: BLE001 — an exception here would end dispatching
                    pass

        if self.observer is not None:
            try:
                self.observer.stop()
                self.observer.join(timeout=5)
            except Exception:  # noqa: BLE001 — the old observer is being replaced anyway
                pass
        self.f.inbox.mkdir(parents=True, exist_ok=True)
        observer = PollingObserver(timeout=self.o.poll) if self.o.poll else Observer()
        try:
            observer.schedule(Hint(), str(self.f.inbox), recursive=False)
            observer.start()
        except Exception as exc:  # noqa: BLE001 — inotify limits etc.: the scan still works
            self.log("watch_error", reason=f"{type(exc).__name__}: {exc}"[:300])
            self.observer, self.armed = None, None
            return
        st = os.stat(self.f.inbox)
        self.observer, self.armed = observer, (st.st_dev, st.st_ino)
        self.log("watch_armed", reason=reason, outcome="polling" if self.o.poll else "notifications")

    def _supervise_observer(self) -> None:
        try:
            st = os.stat(self.f.inbox)
            identity = (st.st_dev, st.st_ino)
        except FileNotFoundError:
            self.f.inbox.mkdir(parents=True, exist_ok=True)
            self.log("inbox_recreated", reason="inbox/ was missing")
            self._arm("inbox re-created")
            self.wake.set()
            return
        except OSError:
            return
        # the inode number is often reused by `rm -rf inbox; mkdir inbox` (seen), so a dead
        # emitter or the watch root's own delete event count as "replaced" too
        if identity != self.armed or self.rearm.is_set():
            self.rearm.clear()
            self._arm("inbox replaced")
            self.wake.set()
        elif (
            self.observer is None
            or not self.observer.is_alive()
            or not all(e.is_alive() for e in getattr(self.observer, "emitters", ()))
        ):
            self._arm("observer stopped")
            self.wake.set()


def watch(
    root: str | os.PathLike,
    *,
    once: bool = False,
    poll: float | None = None,
    workers: int | None = None,
    settle: float | None = None,
    config: str | os.PathLike | None = None,
    as_of: str | None = None,
) -> int:
    """Run the service on ROOT (``precision-list watch``); returns the exit code."""
    options = load_options(config, poll=poll, workers=workers, settle=settle, as_of=as_of)
    return Service(root, options).run(once=once)
