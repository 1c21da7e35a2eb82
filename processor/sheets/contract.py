"""The analyser contract: what an analyser may look at (:class:`Context`) and what it gives back
(:class:`Contribution`).

:mod:`processor.pipeline` builds one :class:`Context` per run, calls each analyser of
``pipeline.ANALYSERS`` with it and assembles the result workbook from their contributions; the
analysers import this module, never the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from processor.errors import Problem
from processor.settings import Settings
from processor.sheets.report import Block, ResultSheet


@dataclass
class Context:
    """What an analyser may look at: the parsed sheets by kind, "today", settings, options.

    ``sheets`` maps a kind key ("contacts", "transactions", …) to the parsed sheets of that kind
    (see :class:`processor.read.parse.ParsedSheet`: ``.frame`` has canonical field keys as columns,
    index = the Excel row number; ``.headers`` maps key → the header text the input used).
    """

    sheets: dict[str, list]
    as_of: pd.Timestamp
    settings: Settings
    model: str | None = None  # score --model NAME
    models_dir: Path | None = None
    progress: Callable[[str], None] = lambda message: None
    target: str | None = None  # score --target COLUMN: the campaign list's known-result column


@dataclass
class Contribution:
    """What one analyser adds to the result workbook and to the --json summary."""

    sheets: list[ResultSheet] = field(default_factory=list)
    summary_blocks: list[Block] = field(default_factory=list)  # shown on 摘要
    problems: list[Problem] = field(default_factory=list)  # shown on 資料檢查
    summary: dict = field(default_factory=dict)  # merged into the --json summary
    calls: list = field(default_factory=list)  # processor.analyse.calls.CallList: people for 今日聯絡
    #: for an input sheet that gave no result sheet, the problem that stopped it (also in ``problems``);
    #: read by :func:`processor.pipeline.not_produced`
    stopped: list[Problem] = field(default_factory=list)
