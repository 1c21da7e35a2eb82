"""``precision-list ARGS`` in a process of its own without paying for a new interpreter each time.

Run as ``python -m tests.forked_cli``: it imports the command and the pipeline once, then for each
JSON line on stdin (``{"argv": [...], "stderr": PATH, "limit": SECONDS}``) forks a child that runs
:func:`processor.cli.main` with the given arguments, stdout to /dev/null and stderr to PATH, and
answers one JSON line: the exit code, wall and CPU seconds, and the peak memory of the child as
the kernel reports it (``os.wait4``) plus the RSS it shared with this process at the fork. That
sum is an upper bound of what a freshly started command would need (a fresh one also carries the
imports; the child's own peak counts only pages it touched). A child past ``limit`` is killed.

A new interpreter costs ~1 s of CPU in imports per command; the read-limit tests run eleven.
"""

from __future__ import annotations

import json
import os
import sys
import time


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        line = next(line for line in fh if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _child(argv: list[str], stderr: str) -> None:
    from processor.cli import main

    null = os.open(os.devnull, os.O_WRONLY)
    err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(null, 1)
    os.dup2(err, 2)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 - the child's whole life
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException:  # a traceback is the command's answer too: print it as Python would
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def serve() -> None:
    import processor.cli  # noqa: F401 - imported once here, shared by every child
    import processor.pipeline  # noqa: F401

    for line in sys.stdin:
        job = json.loads(line)
        shared = _rss_mb()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(job["argv"], job["stderr"])
        deadline = started + job["limit"]
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                done, status, usage = os.wait4(pid, 0)
                break
            time.sleep(0.02)
        answer = {
            "code": os.waitstatus_to_exitcode(status),
            "wall": time.monotonic() - started,
            "cpu": usage.ru_utime + usage.ru_stime,
            "peak_mb": usage.ru_maxrss / 1024 + shared,
        }
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    serve()
