"""Scorers for fault tests, named in a test's config file as ``scorer = "tests.dropfolder_scorers:NAME"``.

Each wraps the real :func:`processor.pipeline.score_file`; they only add the fault a test needs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def _real(input_path, output_path, **kwargs):
    from processor.pipeline import score_file

    return score_file(input_path, output_path, **kwargs)


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



def hog_or_stall(input_path, output_path, **kwargs):
    """The real scorer, except for a file named *hog*: memory grows 50 MB at a time until the
    service ends the worker; and *stall*: it never finishes (a sheet that would take hours)."""
    name = Path(input_path).name
    if "hog" in name:
        held = []
        while True:
            held.append(b"\x01" * (50 * 2 ** 20))  # written, so resident (a zeroed buffer would not be)
            time.sleep(0.05)
    if "stall" in name:
        while True:
            time.sleep(1)
    return _real(input_path, output_path, **kwargs)
