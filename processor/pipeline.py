"""One pipeline for every shell: read → detect kinds → parse/validate → analyse → render.

``precision-list score``, the drop-folder service and the ribbon buttons all call
:func:`score_file` (or :func:`analyse` + :func:`processor.report.render`); nothing is computed
two ways. Analysers are pure functions of a :class:`Context` that return a
:class:`Contribution`; :data:`ANALYSERS` lists them in the order their sheets appear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from .errors import Problem
from .report import Block, ResultSheet
from .settings import Settings


@dataclass
class Context:
    """What an analyser may look at: the parsed sheets by kind, "today", settings, options.

    ``sheets`` maps a kind key ("contacts", "transactions", …) to the parsed sheets of that kind
    (see :class:`processor.parse.ParsedSheet`: ``.frame`` has canonical field keys as columns,
    index = the Excel row number; ``.headers`` maps key → the header text the input used).
    """

    sheets: dict[str, list]
    as_of: pd.Timestamp
    settings: Settings
    model: str | None = None  # score --model NAME
    models_dir: Path | None = None
    progress: Callable[[str], None] = lambda message: None


@dataclass
class Contribution:
    """What one analyser adds to the result workbook and to the --json summary."""

    sheets: list[ResultSheet] = field(default_factory=list)
    summary_blocks: list[Block] = field(default_factory=list)  # shown on 摘要
    problems: list[Problem] = field(default_factory=list)  # shown on 資料檢查
    summary: dict = field(default_factory=dict)  # merged into the --json summary
