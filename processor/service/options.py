"""The service's options: CLI flags over the config file's ``[service]`` table over the defaults."""

from __future__ import annotations

import importlib
import importlib.util
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path


@dataclass
class Options:
    """Service options: CLI flags over the config file's ``[service]`` table over these defaults."""

    settle: float = 2.0  # seconds size+mtime must stay unchanged (service clock)
    poll: float | None = None  # seconds between PollingObserver polls; None = OS notifications
    workers: int = 1  # scoring processes
    scan_interval: float = 5.0  # full inbox scan when idle (the scan, not events, is the truth)
    grace: float = 30.0  # an unreadable/empty stable file waits this long before it is failed
    lease: float = 30.0  # a claim whose instance stopped heartbeating this long is taken over
    retry_initial: float = 1.0  # back-off for environmental errors doubles from here …
    retry_max: float = 60.0  # … up to here
    #: last line of defence, per file: a worker scoring one file longer than this many seconds, or
    #: whose memory (resident set) passes ``memory_limit_mb``, is ended and the file goes to failed/
    #: with a report naming the limit and how to split or re-save the file; the service goes on
    timeout: float = 600.0
    memory_limit_mb: float = 4096.0
    max_crashes: int = 2  # a file that killed this many workers is failed as an internal error
    once_max_retries: int = 4  # --once gives up on environmental retries after this many
    done_files: bool = False  # pick up <name> only once the writer has created <name>.done beside it
    as_of: str | None = None  # the day counted as today, YYYY-MM-DD (watch --as-of); None = each day's date
    log_file: str | None = None  # JSON lines also appended here (stderr too, unless terminal)
    terminal: str | None = None  # CLI only: "zh-TW"/"en" = human lines on stderr, JSON to log_file only
    scorer: str = "processor.pipeline:score_file"  # "module:function" with score_file's signature
    config: str | None = None  # the TOML file ([settings] is read by processor.settings.load_config)
    team: bool = False  # refresh outbox/團隊總覽.xlsx after every result or failure (processor.team)


def load_options(config: str | os.PathLike | None = None, **overrides) -> Options:
    """Options from ``config``'s ``[service]`` table, then non-None ``overrides`` (CLI flags).

    >>> load_options(None, settle=0.5, workers=None).settle
    0.5
    """
    values: dict = {}
    if config is not None:
        with open(config, "rb") as fh:
            table = tomllib.load(fh).get("service", {})
        known = {f.name for f in fields(Options)} - {"config", "as_of", "terminal"}
        unknown = set(table) - known
        if unknown:
            raise ValueError(f"{config}: unknown [service] options {sorted(unknown)}; known: {sorted(known)}")
        values.update(table)
        values["config"] = str(config)
    values.update({key: value for key, value in overrides.items() if value is not None})
    if config is not None:  # fail now, in the shell, not later in every worker
        from processor.settings import load_config

        load_config(Path(config))
    options = Options(**values)
    if options.poll is not None and options.poll <= 0:
        options.poll = None
    if options.workers < 1 or options.settle < 0:
        raise ValueError("workers must be ≥ 1 and settle ≥ 0")
    if options.timeout <= 0 or options.memory_limit_mb <= 0:
        raise ValueError("timeout and memory_limit_mb must be > 0")
    if options.as_of is not None:
        options.as_of = date.fromisoformat(str(options.as_of)[:10]).isoformat()
    return options


def resolve_scorer(spec: str | Callable) -> Callable:
    """The scoring function from ``"module:function"`` (or a callable passed through)."""
    if callable(spec):
        return spec
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def check_scorer(spec: str | Callable) -> None:
    """Raise ``ModuleNotFoundError`` when the module of ``"module:function"`` does not exist, without
    importing it (the default scorer's module imports pandas; a worker loads it with its first file).

    >>> check_scorer("processor.no_such_module:score")
    Traceback (most recent call last):
    ...
    ModuleNotFoundError: scorer module processor.no_such_module not found
    """
    if callable(spec):
        return
    module = spec.partition(":")[0]
    if importlib.util.find_spec(module) is None:
        raise ModuleNotFoundError(f"scorer module {module} not found", name=module)


def backoff(attempts: int, initial: float, maximum: float) -> float:
    """The service's one back-off policy: ``initial`` doubled per attempt after the first, at most
    ``maximum`` (kombu's ``retry_over_time`` interval). Used for environmental retries of a file,
    errors of the service loop itself, and worker processes that die on start.

    >>> [backoff(n, 1.0, 60.0) for n in (1, 2, 3, 7, 8)]
    [1.0, 2.0, 4.0, 60.0, 60.0]
    """
    return min(maximum, initial * 2 ** max(0, attempts - 1))
