"""Scorers for fault tests, named in a test's config file as ``scorer = "tests.dropfolder_scorers:NAME"``.

Most wrap the real :func:`processor.pipeline.score_file` and only add the fault a test needs;
:func:`stand_in` replaces it where a test checks the service's own behaviour (claims, leases, bursts,
kills), not what scoring made of the file.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path


def _real(input_path, output_path, **kwargs):
    from processor.pipeline import score_file

    return score_file(input_path, output_path, **kwargs)


#: the sheet :func:`stand_in` writes: the input's name, SHA-256 and size
STAND_IN_SHEET = "來源"


def stand_in(input_path, output_path, **kwargs):
    """A fast stand-in for the real scorer (a few ms instead of ~0.2 s and no pandas): a small valid
    workbook whose 來源 sheet carries the input's name, SHA-256 and size, so a test can tell which
    input each result came from. For tests of the service, not of scoring: the real scorer stays
    wherever the result itself is checked."""
    from openpyxl import Workbook

    data = Path(input_path).read_bytes()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(STAND_IN_SHEET)
    ws.append(["檔名", "SHA-256", "位元組"])
    ws.append([Path(input_path).name, hashlib.sha256(data).hexdigest(), len(data)])
    wb.save(output_path)
    return {"output": str(output_path), "sheets": [], "problems": {"errors": 0, "warnings": 0}}


def stand_in_slow(input_path, output_path, **kwargs):
    """:func:`stand_in`, then a pause: widens the window in which kill -9 lands mid-score."""
    result = stand_in(input_path, output_path, **kwargs)
    time.sleep(float(os.environ.get("DROPFOLDER_TEST_SLOW", "0.3")))
    return result


def explode_on_boom(input_path, output_path, **kwargs):
    """The real scorer, except that a file with "boom" in its name makes it raise (fault #9)."""
    if "boom" in Path(input_path).name:
        raise RuntimeError("synthetic scorer bug")
    return _real(input_path, output_path, **kwargs)


def slow(input_path, output_path, **kwargs):
    """The real scorer, then a pause: widens the window in which kill -9 lands mid-score."""
    result = _real(input_path, output_path, **kwargs)
    time.sleep(float(os.environ.get("DROPFOLDER_TEST_SLOW", "0.3")))
    return result

