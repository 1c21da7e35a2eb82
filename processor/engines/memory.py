"""The in-memory engine: the whole log as one pandas frame, the kernel on it as one partition."""

from __future__ import annotations

import pandas as pd

from processor.engines.kernel import Partial, partition_tables
from processor.read.logs import TransactionLog, read_file, typed_partition
from processor.settings import Settings


def partials(log: TransactionLog, as_of, settings: Settings, progress) -> list[Partial]:
    """One :class:`Partial` for the whole log (files read one by one, typed, then stacked)."""
    frames = []
    for i, file in enumerate(log.files, 1):
        progress(f"讀取 {file.path.name}（{i}/{len(log.files)}）")
        frames.append(typed_partition(read_file(file)))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    del frames
    progress(f"計算 {len(frame):,} 筆交易的客戶資料")
    return [partition_tables(frame, as_of, settings, log.name)]
