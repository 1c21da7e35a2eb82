"""How the per-customer work runs: in memory (pandas) or on Dask partitions (issue 13).

:func:`customer_tables` is the face: a checked :class:`~processor.read.logs.TransactionLog` in,
:class:`~processor.engines.kernel.CustomerTables` out — the same tables whichever engine runs,
because both run :mod:`processor.engines.kernel` (the product's own functions) on partitions
holding whole customers and then one global step.
"""

from __future__ import annotations

from collections.abc import Callable

from processor.engines.kernel import CustomerTables
from processor.read.logs import TransactionLog
from processor.settings import Settings

ENGINES = ("auto", "pandas", "dask")
#: ``--engine auto`` uses pandas up to this many rows, Dask above (benchmarks/bench_scale.py, docs/scale.md)
AUTO_DASK_ROWS = 5_000_000


def choose_engine(log: TransactionLog, engine: str = "auto", scheduler: str | None = None) -> str:
    """pandas or dask: as asked; for auto, Dask when a scheduler is given or the log is big.

    >>> from pathlib import Path; from processor.read.logs import LogFile
    >>> log = TransactionLog("x", (LogFile(Path("a.parquet"), "parquet", {}, 10, 100),))
    >>> choose_engine(log), choose_engine(log, scheduler="tcp://127.0.0.1:8786")
    ('pandas', 'dask')
    """
    if engine != "auto":
        return engine
    return "dask" if scheduler or log.estimated_rows > AUTO_DASK_ROWS else "pandas"


def customer_tables(
    log: TransactionLog,
    as_of,
    settings: Settings | None = None,
    *,
    engine: str = "auto",
    scheduler: str | None = None,
    memory_limit: str | None = None,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> CustomerTables:
    """沉默排名, 客戶價值 and 客戶分群 tables (every customer) of a transaction log, on the chosen engine."""
    import pandas as pd

    settings = settings or Settings()
    progress = progress or (lambda message: None)
    as_of = pd.Timestamp(as_of).normalize()
    chosen = choose_engine(log, engine, scheduler)
    if chosen == "dask":
        from processor.engines import distributed

        return distributed.customer_tables(
            log, as_of, settings, progress, scheduler=scheduler, memory_limit=memory_limit, workers=workers
        )
    from processor.engines import memory

    return memory.customer_tables(log, as_of, settings, progress)


__all__ = ["ENGINES", "AUTO_DASK_ROWS", "CustomerTables", "choose_engine", "customer_tables"]
