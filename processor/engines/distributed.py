"""The Dask engine: the kernel's three steps as Dask tasks — each piece of the log read and reduced to daily
totals by bucket on a worker, each bucket's statistics on a worker, the global step here.

Only daily totals (integer days and codes, sums) move between processes: no DataFrame shuffle of raw rows.
A local cluster by default (worker processes with a total memory limit, so Dask spills to disk instead of
dying), or an existing ``dask.distributed`` scheduler (``--scheduler tcp://host:8786``) whose workers must be
able to read the files at the same path and have precision-list installed. A worker lost mid-job is survived:
Dask recomputes what it held from the futures' lineage.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager

from processor.allocator import reuse_freed_memory
from processor.engines.kernel import (
    bucket_of,
    bucket_statistics,
    facts_of,
    finish,
    fit_inputs,
    fit_model,
    hash_order,
    margin_choice,
    piece_totals,
    value_only,
    value_part,
    without_value,
)
from processor.errors import UnusableInput, step
from processor.read.logs import TransactionLog, pieces
from processor.settings import Settings

ROWS_PER_BUCKET = 4_000_000  # log rows per bucket of step 2: its daily totals and statistics peak near 1 GB
BUCKETS_PER_WORKER = 2
LOCAL_MEMORY_SHARE = 0.5  # of the machine's memory, for a local cluster without --memory-limit


def customer_tables(
    log: TransactionLog,
    as_of,
    settings: Settings,
    progress,
    *,
    scheduler: str | None = None,
    memory_limit: str | None = None,
    workers: int | None = None,
):
    """:class:`~processor.engines.kernel.CustomerTables` of the log: steps 1–2 on the cluster, the model fit here,
    客戶價值's per-customer rows on the cluster again, the rest of step 3 here; with facts for the summary."""
    from distributed import KilledWorker, as_completed, wait

    parts = pieces(log)
    with _client(scheduler, memory_limit, workers) as client:
        workers_seen = len(client.scheduler_info().get("workers", {}))
        # two buckets a worker at least: a slow bucket then leaves its worker's other half to the rest
        buckets = max(math.ceil(log.estimated_rows / ROWS_PER_BUCKET), BUCKETS_PER_WORKER * max(workers_seen, 1))
        progress(
            f"Dask：{workers_seen} 個 worker，{len(parts)} 個讀取片段、{buckets} 個客戶分區"
            f"（{client.scheduler.address}）"
        )
        try:
            totals = [client.submit(piece_totals, piece, as_of, log.name, buckets, pure=False) for piece in parts]
            facts_futures = client.map(facts_of, totals, pure=False)
            for done, _ in enumerate(as_completed(facts_futures), 1):
                progress(f"讀取並彙總 {done}/{len(parts)}")
            facts = client.gather(facts_futures)
            margin = margin_choice(facts)
            shares = [[client.submit(bucket_of, t, b, pure=False) for t in totals] for b in range(buckets)]
            # the pieces' totals let go once cut into shares: a worker then holds each share once, freed when
            # its bucket is done (held twice, under two keys, it spilled both at 50M rows and lost a worker)
            wait([s for row in shares for s in row])
            del totals, facts_futures
            reduced = [client.submit(bucket_statistics, s, as_of, settings, margin, pure=False) for s in shares]
            del shares
            for done, _ in enumerate(as_completed(reduced), 1):
                progress(f"客戶分區 {done}/{buckets} 完成")
            # the buckets' 沉默排名 statistics come here now, so the workers keep only 客戶價值's numbers
            # for the next round (12M customers' tables held twice over overran two 3 GB workers)
            partials = client.gather(client.map(without_value, reduced, pure=False))
            value_stats = client.map(value_only, reduced, pure=False)
            progress("估計客戶價值模型（全體客戶）")
            inputs = client.gather(client.map(fit_inputs, reduced, pure=False))
            order = hash_order(inputs)  # the buckets' rows as gathered: shared by the fit and finish
            model, fitted = fit_model(inputs, settings, order)
            del inputs
            del reduced
            progress("計算每位客戶的客戶價值與優先分數（各客戶分區）")
            values = client.gather(
                [client.submit(_reusing, value_part, v, model, settings, pure=False) for v in value_stats]
            )
            del value_stats
        except KilledWorker as exc:  # the same task killed worker after worker: too little memory per worker
            raise UnusableInput(
                "Dask worker 一再因記憶體不足而中止，工作沒有完成",
                "請提高每個 worker 的記憶體" + step("memory_limit_options") + "，或減少 worker 數",
                en="Dask workers kept dying (out of memory); the job did not finish",
                fix_en="give each worker more memory (--memory-limit) or use fewer workers",
            ) from exc
        details = {
            "workers": workers_seen,
            "partitions": buckets,
            "pieces": len(parts),
            "scheduler": scheduler or "local",
        }
    progress("計算排名、客戶價值與分群（全體客戶）")
    tables = finish(facts, partials, values, model, fitted, as_of, settings, "dask", log.name, order)
    tables.details = details
    return tables


def _reusing(task, *args):
    """``task(*args)`` on a worker with freed arrays reused rather than faulted in again
    (:func:`processor.allocator.reuse_freed_memory`; the memory is handed back when the task ends). Only for
    :func:`value_part`, whose inputs are small: around steps 1–2 the heap kept a worker near its limit, and at
    50M rows under 6 GB the nanny killed workers (3 restarts, 232 → 516 s)."""
    with reuse_freed_memory():
        return task(*args)


@contextmanager
def _client(scheduler: str | None, memory_limit: str | None, workers: int | None):
    """A client of the given scheduler, or of a local cluster that is closed afterwards."""
    import logging

    from distributed import Client, LocalCluster

    if not logging.getLogger().isEnabledFor(logging.INFO):  # Dask's INFO lines are noise unless -v
        for name in ("distributed", "distributed.shuffle"):
            logging.getLogger(name).setLevel(logging.ERROR)
    if scheduler:
        try:
            client = Client(scheduler)
        except (OSError, TimeoutError, ValueError) as exc:  # refused, timed out, or not an address
            raise UnusableInput(
                f"無法連線到 Dask 排程器 {scheduler}（{type(exc).__name__}）",
                "請確認排程器已啟動、位址與埠號正確、防火牆允許連線（見 docs/scale.md）",
                en=f"cannot reach the Dask scheduler at {scheduler}",
                fix_en="check that the scheduler is running, the address and port, and the firewall "
                "(see docs/scale.md)",
            ) from None
        with client:
            yield client
        return
    n = workers or max(1, min(os.cpu_count() or 1, 4))
    total = _bytes(memory_limit) if memory_limit else int(_machine_memory() * LOCAL_MEMORY_SHARE)
    with (
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            memory_limit=total // n,
            dashboard_address=":0",
            silence_logs=50,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _machine_memory() -> int:
    from distributed.system import MEMORY_LIMIT

    return int(MEMORY_LIMIT)


def _bytes(text: str) -> int:
    """``6GB`` / ``6GiB`` / ``6000000000`` as bytes; a bad value is UnusableInput."""
    from dask.utils import parse_bytes

    try:
        return int(parse_bytes(text))
    except (ValueError, TypeError):
        raise UnusableInput(
            f"{step('memory_limit')} {text!r} 無法辨識",
            "請寫成 6GB 或 6000MB",
            en=f"--memory-limit {text!r} is not a size",
            fix_en="write it like 6GB or 6000MB",
        ) from None
