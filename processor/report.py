"""The result workbook, declared as data and rendered by one renderer.

Analytics return :class:`ResultSheet` objects (blocks of tables, notes, charts, conditional
formats); :func:`render` writes them, after the input's own sheets, into one .xlsx. The CLI,
the drop-folder service and the ribbon buttons all use this one renderer (DESIGN §5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

ChartKind = Literal["bar", "col", "line", "pie"]


@dataclass(frozen=True)
class Chart:
    """A native Excel chart over columns of the block it belongs to.

    ``categories`` and ``values`` name columns of the block's frame (display labels).
    ``mark_row`` (0-based row of the frame) highlights one point, e.g. the profit curve's peak.
    """

    kind: ChartKind
    title: str
    categories: str
    values: tuple[str, ...]
    y_title: str = ""
    x_title: str = ""
    mark_row: int | None = None
    width_cm: float = 16.0
    height_cm: float = 8.0


@dataclass(frozen=True)
class Block:
    """A titled table on a result sheet. Columns are display labels (zh-TW), in order.

    ``formats`` maps a column to an Excel number format ("0.0%", "#,##0", "yyyy/mm/dd").
    ``color_scale`` columns get a green→yellow→red 3-colour scale (low→high; reverse with
    ``color_scale_reverse``); ``data_bars`` columns get data bars. ``as_table`` makes it an
    Excel table with filter buttons (the first block of a sheet also gets frozen headers).
    """

    frame: pd.DataFrame
    title: str | None = None
    formats: dict[str, str] = field(default_factory=dict)
    color_scale: tuple[str, ...] = ()
    color_scale_reverse: bool = False
    data_bars: tuple[str, ...] = ()
    charts: tuple[Chart, ...] = ()
    as_table: bool = True
    widths: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ResultSheet:
    """One result sheet: notes on top (rules, sources, caveats), then its blocks in order."""

    name: str
    blocks: tuple[Block, ...]
    notes: tuple[str, ...] = ()
