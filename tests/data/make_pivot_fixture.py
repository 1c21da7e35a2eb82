"""Writes tests/data/pivot-libreoffice.xlsx: a real workbook with a pivot table, made by LibreOffice.

Origin of the fixture (issue 14, "a real workbook with a pivot table"): LibreOffice Calc (headless,
driven through its Python-UNO bridge) opens the committed template ``templates/交易.xlsx``, types
40 synthetic transactions under its headers (customer numbers C0001–C0008, no personal data),
adds a sheet 樞紐分析 with a DataPilot (pivot table: 品項 down, sum of 金額) over them and saves
the workbook as Excel 2007-365 .xlsx — so the file carries ``xl/pivotTables/`` and
``xl/pivotCache/`` parts as a real writer lays them out. Re-run it (the test suite does not):

    /usr/bin/python3 tests/data/make_pivot_fixture.py   # needs python3-uno and LibreOffice Calc
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import uno  # noqa: F401 — LibreOffice's bridge; registers the com.sun.star imports below
from com.sun.star.beans import PropertyValue
from com.sun.star.connection import NoConnectException
from com.sun.star.sheet.DataPilotFieldOrientation import DATA, ROW
from com.sun.star.sheet.GeneralFunction import SUM
from com.sun.star.table import CellAddress, CellRangeAddress

HERE = Path(__file__).parent
TEMPLATE = HERE.parent.parent / "templates" / "交易.xlsx"
OUT = HERE / "pivot-libreoffice.xlsx"
ITEMS = ("保養品", "課程", "保險", "健康食品")


def rows() -> list[tuple]:
    """40 synthetic transactions: (客戶編號, 日期, 金額, 毛利, 成本, 品項), deterministic."""
    out = []
    for i in range(40):
        month, day = 1 + i % 12, 1 + (i * 7) % 28
        amount = 500 + (i * 337) % 4000
        out.append((f"C{1 + i % 8:04d}", f"2025/{month:02d}/{day:02d}", amount, None, None, ITEMS[i % 4]))
    return out


def prop(name: str, value) -> PropertyValue:
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def main() -> None:
    profile = tempfile.mkdtemp(prefix="pl-uno-")
    port = 2002 + (hash(profile) % 1000)
    soffice = subprocess.Popen(
        [
            "soffice",
            "--headless",
            "--norestore",
            "--nologo",
            f"-env:UserInstallation=file://{profile}",
            f"--accept=socket,host=127.0.0.1,port={port};urp;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # soffice starts soffice.bin: the whole group is ended below
    )
    try:
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
        for _ in range(120):
            try:
                ctx = resolver.resolve(f"uno:socket,host=127.0.0.1,port={port};urp;StarOffice.ComponentContext")
                break
            except NoConnectException:
                time.sleep(0.5)
        else:
            sys.exit("LibreOffice did not start")
        desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
        # LibreOffice 7.4 under a C.UTF-8 locale cannot open a file by a non-ASCII path: an ASCII copy
        copy = Path(profile) / "template.xlsx"
        shutil.copyfile(TEMPLATE, copy)
        url = uno.systemPathToFileUrl(str(copy))
        doc = desktop.loadComponentFromURL(url, "_blank", 0, (prop("Hidden", True),))
        if doc is None:
            sys.exit(f"LibreOffice could not open {TEMPLATE}")
        data = doc.Sheets.getByName("交易")
        for r, row in enumerate(rows(), start=1):  # row 0 holds the template's headers
            for c, value in enumerate(row):
                cell = data.getCellByPosition(c, r)
                if isinstance(value, int):
                    cell.setValue(value)
                elif value is not None:
                    cell.setString(value)
                else:
                    cell.setString("")
        doc.Sheets.insertNewByName("樞紐分析", doc.Sheets.Count)
        pivot_sheet = doc.Sheets.getByName("樞紐分析")
        tables = data.getDataPilotTables()
        descriptor = tables.createDataPilotDescriptor()
        source = CellRangeAddress()
        source.Sheet, source.StartColumn, source.StartRow = 0, 0, 0
        source.EndColumn, source.EndRow = 5, len(rows())
        descriptor.setSourceRange(source)
        fields = descriptor.getDataPilotFields()
        item = fields.getByIndex(5)  # 品項
        item.setPropertyValue("Orientation", ROW)
        amount = fields.getByIndex(2)  # 金額
        amount.setPropertyValue("Orientation", DATA)
        amount.setPropertyValue("Function", SUM)
        target = CellAddress()
        target.Sheet, target.Column, target.Row = doc.Sheets.Count - 1, 0, 0
        pivot_sheet.getDataPilotTables().insertNewByName("品項金額", target, descriptor)
        doc.storeToURL(uno.systemPathToFileUrl(str(OUT)), (prop("FilterName", "Calc MS Excel 2007 XML"),))
        doc.close(True)
        try:
            desktop.terminate()
        except Exception:  # noqa: BLE001 — the office ends its bridge as it goes
            pass
    finally:
        try:
            soffice.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(soffice.pid, signal.SIGKILL)
    with zipfile.ZipFile(OUT) as zf:
        parts = [n for n in zf.namelist() if n.startswith(("xl/pivotTables/", "xl/pivotCache/"))]
    if not any(n.startswith("xl/pivotTables/") for n in parts) or not any(
        n.startswith("xl/pivotCache/") for n in parts
    ):
        sys.exit(f"{OUT.name} has no pivot parts: {parts}")
    print(OUT, OUT.stat().st_size, "bytes;", ", ".join(sorted(parts)))


if __name__ == "__main__":
    main()
