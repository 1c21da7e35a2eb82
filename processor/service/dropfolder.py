"""The drop-folder service (DESIGN §5 "Drop folder"; /work/shared/DROPFOLDER.md).

``ROOT/inbox`` is where reps drop workbooks; each one ends in exactly one of ``archive/`` (with
its result ``outbox/<stem>.scored.xlsx``) or ``failed/`` (with ``<name>.error.txt``), never
lost, never half-written, never scored twice — also across ``kill -9`` and across several
service instances on one share.

How, in the order a file sees it (the way Camel / NiFi / Spring consume folders):

* **Events are hints, the scan is the truth.** The main process lists inbox/ on a timer (fast
  while something is settling, ``scan_interval`` when idle); watchdog events only wake it up.
  The observer is supervised and re-armed when it dies or inbox/ is replaced.
* **Ready** = the name passes :func:`classify`, size + mtime + inode unchanged for ``settle``
  seconds of the service's own monotonic clock, and .xlsx/.xlsm open as a zip. A young file
  that does not open (or is empty) is deferred for ``grace`` seconds, not failed.
* **Claim** = rename into ``.state/claims/<run_id>~<instance>/<name>`` (one winner). The
  instance heartbeats ``.state/instances/<instance>``; claims of an instance whose process is
  gone (same host) or whose heartbeat stopped for ``lease`` seconds are taken over by renaming
  the claim folder.
* **Score** in a worker process: result to ``outbox/.partial/<run_id>/``, fsync, then linked
  into ``outbox/`` under a name reserved in the ledger (never replacing a file); the original
  goes to archive/ last. :class:`processor.service.ledger.Ledger` makes every step resumable.
* **Environmental errors** (outbox unwritable, disk full, the file locked by Excel) keep the
  claim and are retried with back-off; only the input's own problems go to failed/.

This module is the package face; the parts live beside it:

=============================  ===============================================================
:mod:`.names`                  which names are inputs, result and kept names, the folder layout
:mod:`.options`                options (flags over ``[service]`` over defaults), the back-off policy
:mod:`.settle`                 which files are settled: pure, over a listing and a clock
:mod:`.claims`                 no-clobber moves, fsync, heartbeats and leases
:mod:`.handler`                one job in a worker: claim, score, write, archive or fail
:mod:`.pool`                   the worker processes
:mod:`.loop`                   the service loop (:class:`Service`) and :func:`watch`
:mod:`.reports`                the event log, redaction, error reports
:mod:`.status`                 ``precision-list status``
:mod:`.ledger`                 the SQLite ledger every step resumes from
=============================  ===============================================================
"""

from processor.service.claims import Leases, fsync_dir, fsync_file, pid_alive, place, sha256
from processor.service.handler import CRASH_POINTS, Handler, config_key, crash_point
from processor.service.loop import Service, watch
from processor.service.names import (
    DONE_SUFFIX,
    IGNORE,
    NAME_MAX,
    OK,
    REPORT_SUFFIX,
    SUPPORTED,
    UNSUPPORTED,
    ZIP_KINDS,
    Folders,
    classify,
    kept_names,
    name_max,
    result_names,
    windows_safe_stem,
)
from processor.service.options import Options, backoff, load_options, resolve_scorer
from processor.service.pool import WorkerPool, worker_main
from processor.service.reports import EventLog, describe_exception, error_report, internal_error, redact, summary_line
from processor.service.settle import Seen, due, file_identity, observe, opens_as_zip, snapshot
from processor.service.status import status

__all__ = [
    "watch",
    "status",
    "Service",
    "Options",
    "load_options",
    "backoff",
    "resolve_scorer",
    "classify",
    "IGNORE",
    "OK",
    "UNSUPPORTED",
    "SUPPORTED",
    "ZIP_KINDS",
    "DONE_SUFFIX",
    "REPORT_SUFFIX",
    "NAME_MAX",
    "result_names",
    "kept_names",
    "name_max",
    "windows_safe_stem",
    "Folders",
    "Seen",
    "snapshot",
    "observe",
    "due",
    "file_identity",
    "opens_as_zip",
    "place",
    "fsync_file",
    "fsync_dir",
    "sha256",
    "pid_alive",
    "Leases",
    "Handler",
    "config_key",
    "crash_point",
    "CRASH_POINTS",
    "WorkerPool",
    "worker_main",
    "EventLog",
    "redact",
    "describe_exception",
    "summary_line",
    "error_report",
    "internal_error",
]
