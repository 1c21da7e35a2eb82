"""Shared fixtures: the installed CLI, a fixed "today", and helpers to build real workbooks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

AS_OF = "2024-06-28"
REPO = Path(__file__).resolve().parents[1]


def cli_path() -> list[str]:
    """The installed console script if present (as a user runs it), else the module."""
    script = Path(sys.executable).with_name("precision-list")
    if script.exists():
        return [str(script)]
    found = shutil.which("precision-list")
    return [found] if found else [sys.executable, "-m", "processor.cli"]


@pytest.fixture
def run_cli():
    def run(*args, check_exit: int | None = 0, cwd=None):
        env = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONPATH=str(REPO))
        result = subprocess.run([*cli_path(), *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd,
                                timeout=300)
        if check_exit is not None:
            assert result.returncode == check_exit, (result.returncode, result.stdout, result.stderr)
        return result
    return run


def write_rows(path: Path, sheets: dict[str, list[list]]) -> Path:
    """A real .xlsx with the given rows per sheet (strings stay text, even '=…')."""
    from processor.sheets.report import text_cell

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append([text_cell(ws, v) for v in row])
    wb.save(path)
    return path


def sheet_rows(path: Path, name: str, header_contains: str | None = None) -> pd.DataFrame:
    """A result sheet's main table as a DataFrame (the first row holding ``header_contains``)."""
    wb = openpyxl.load_workbook(path, data_only=True)
    rows = list(wb[name].iter_rows(values_only=True))
    start = 0
    if header_contains:
        start = next(i for i, r in enumerate(rows) if header_contains in [str(v) for v in r if v is not None])
    header = [v for v in rows[start] if v is not None]
    body = []
    for r in rows[start + 1:]:
        if all(v is None for v in r):
            break
        body.append(list(r[:len(header)]))
    return pd.DataFrame(body, columns=header)
