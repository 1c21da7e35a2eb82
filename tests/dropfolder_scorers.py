"""Scorers for fault tests, named in a test's config file as ``scorer = "tests.dropfolder_scorers:NAME"``.

Most wrap the real :func:`processor.pipeline.score_file` and only add the fault a test needs;
:func:`stand_in` replaces it where a test checks the service's own behaviour (claims, leases, bursts,
kills), not what scoring made of the file.
"""

from __future__ import annotations

import hashlib
import os
import time
import zipfile
from pathlib import Path


def _real(input_path, output_path, **kwargs):
    from processor.pipeline import score_file

    return score_file(input_path, output_path, **kwargs)


#: the sheet :func:`stand_in` writes: the input's name, SHA-256 and size
STAND_IN_SHEET = "來源"


def stand_in(input_path, output_path, **kwargs):
    """A fast stand-in for the real scorer (milliseconds instead of ~0.2 s; standard library only):
    a small valid workbook whose 來源 sheet carries the input's name, SHA-256 and size, so a test
    can tell which input each result came from. For tests of the service, not of scoring: the
    real scorer stays wherever the result itself is checked."""
    from xml.sax.saxutils import escape

    data = Path(input_path).read_bytes()
    cells = [("檔名", "SHA-256", "位元組"), (Path(input_path).name, hashlib.sha256(data).hexdigest(), str(len(data)))]
    rows = "".join(
        f'<row r="{r}">'
        + "".join(f'<c r="{col}{r}" t="inlineStr"><is><t>{escape(v)}</t></is></c>' for col, v in zip("ABC", values))
        + "</row>"
        for r, values in enumerate(cells, start=1)
    )
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
        f'<sheet name="{STAND_IN_SHEET}" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{main}"><sheetData>{rows}</sheetData></worksheet>',
    }
    with zipfile.ZipFile(output_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, xml in parts.items():
            zf.writestr(name, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + xml)
    return {"output": str(output_path), "sheets": [], "problems": {"errors": 0, "warnings": 0}}


def stand_in_slow(input_path, output_path, **kwargs):
    """:func:`stand_in`, then a pause: widens the window in which kill -9 lands mid-score."""
    result = stand_in(input_path, output_path, **kwargs)
    time.sleep(float(os.environ.get("DROPFOLDER_TEST_SLOW", "0.3")))
    return result


def _wait_for_gate() -> None:
    """Until the file named by DROPFOLDER_TEST_GATE exists (at most two minutes): the test opens the gate
    once it has done what must happen while a file is in hand, however slow a loaded machine is."""
    gate = os.environ.get("DROPFOLDER_TEST_GATE")
    deadline = time.monotonic() + 120
    while gate and not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)


def gated(input_path, output_path, **kwargs):
    """The real scorer, then a wait for the test's gate (:func:`_wait_for_gate`)."""
    result = _real(input_path, output_path, **kwargs)
    _wait_for_gate()
    return result


def stand_in_gated(input_path, output_path, **kwargs):
    """:func:`stand_in`, then a wait for the test's gate (:func:`_wait_for_gate`)."""
    result = stand_in(input_path, output_path, **kwargs)
    _wait_for_gate()
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


def hog_or_stall(input_path, output_path, **kwargs):
    """:func:`stand_in` (the limits are the service's behaviour, not scoring's), except for a file named
    *hog*: memory grows 50 MB at a time until the service ends the worker; and *stall*: it never
    finishes (a sheet that would take hours)."""
    name = Path(input_path).name
    if "hog" in name:
        held = []
        while True:
            held.append(b"\x01" * (50 * 2**20))  # written, so resident (a zeroed buffer would not be)
            time.sleep(0.05)
    if "stall" in name:
        while True:
            time.sleep(1)
    return stand_in(input_path, output_path, **kwargs)
