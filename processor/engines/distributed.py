"""The Dask engine: the log read in partitions on a cluster, shuffled by customer, the kernel on
every partition, the one-row-per-customer tables gathered for the global step.

A local cluster by default (worker processes with a total memory limit, so Dask spills to disk
instead of dying), or an existing ``dask.distributed`` scheduler (``--scheduler tcp://host:8786``)
whose workers must be able to read the files at the same path and have precision-list installed.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager

from processor.engines.kernel import Partial, customer_key, partition_tables
from processor.errors import UnusableInput, step
from processor.read.logs import TransactionLog, csv_encoding, typed_partition
from processor.settings import Settings

ROWS_PER_PARTITION = 2_000_000  # after the shuffle: a kernel call on 2M rows peaks near 0.5 GB
CSV_BLOCK = "64MiB"
ID_DTYPE = "string[pyarrow]"
LOCAL_MEMORY_SHARE = 0.5  # of the machine's memory, for a local cluster without --memory-limit


def partials(
    log: TransactionLog,
    as_of,
    settings: Settings,
    progress,
    *,
    scheduler: str | None = None,
    memory_limit: str | None = None,
    workers: int | None = None,
) -> tuple[list[Partial], dict]:
    """Each shuffled partition's :class:`Partial`, and facts for the summary (workers, partitions)."""
    import dask
    from dask import delayed
    from distributed import KilledWorker, as_completed

    with _client(scheduler, memory_limit, workers) as client:
        frame = _read(log)
        frame = frame.assign(_key=frame["customer_id"].map_partitions(customer_key, meta=("_key", "int64")))
        n = max(frame.npartitions, math.ceil(log.estimated_rows / ROWS_PER_PARTITION))
        shuffled = frame.shuffle(on="_key", npartitions=n)
        kernel = delayed(partition_tables, pure=True)
        with dask.config.set({"optimization.fuse.active": True}):
            tasks = [kernel(part, as_of, settings, log.name) for part in shuffled.to_delayed()]
        workers_seen = len(client.scheduler_info().get("workers", {}))
        progress(f"Dask：{workers_seen} 個 worker，{len(tasks)} 個分區（{client.scheduler.address}）")
        futures = client.compute(tasks)
        try:
            for done, _ in enumerate(as_completed(futures), 1):
                progress(f"分區 {done}/{len(futures)} 完成")
            results = client.gather(futures)
        except KilledWorker as exc:  # the same part killed worker after worker: too little memory per worker
            raise UnusableInput(
                "Dask worker 一再因記憶體不足而中止，工作沒有完成",
                "請提高每個 worker 的記憶體" + step("memory_limit_options") + "，或減少 worker 數",
                en="Dask workers kept dying (out of memory); the job did not finish",
                fix_en="give each worker more memory (--memory-limit) or use fewer workers",
            ) from exc
        return results, {"workers": workers_seen, "partitions": len(tasks), "scheduler": scheduler or "local"}


def _read(log: TransactionLog):
    """The log as one Dask frame of typed canonical columns (files grouped by format and column names)."""
    import dask.dataframe as dd

    from processor.read.logs import empty_log_frame

    groups: dict[tuple, list] = {}
    for f in log.files:
        encoding = csv_encoding(f.path) if f.format == "csv" else None
        groups.setdefault((f.format, tuple(sorted(f.columns.items())), encoding), []).append(str(f.path))
    frames = []
    meta = empty_log_frame()
    for (fmt, columns, encoding), paths in groups.items():
        columns = dict(columns)
        optional = [k for k in ("margin", "cost") if k in columns]
        if fmt == "parquet":
            part = dd.read_parquet(paths, columns=list(columns.values()), split_row_groups=True)  # parallel reads
        else:
            part = dd.read_csv(
                paths,
                usecols=list(columns.values()),
                dtype=str,
                keep_default_na=False,
                encoding=encoding,
                blocksize=CSV_BLOCK,
            )
        part = part.rename(columns={v: k for k, v in columns.items()})
        frames.append(
            part.map_partitions(
                _typed,
                optional,
                meta=meta.assign(customer_id=meta["customer_id"].astype(ID_DTYPE), **{k: 0.0 for k in optional}),
            )
        )
    return frames[0] if len(frames) == 1 else dd.concat(frames, interleave_partitions=False)


def _typed(frame, optional):
    """:func:`typed_partition` with the ids as Arrow text (Parquet may store them as numbers; ids compare as text)."""
    out = typed_partition(frame)
    if out["customer_id"].dtype != ID_DTYPE:  # Arrow strings cross the shuffle without conversion
        out["customer_id"] = out["customer_id"].astype(ID_DTYPE)
    for key in optional:
        if key not in out.columns:
            out[key] = float("nan")
    return out


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
