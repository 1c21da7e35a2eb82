"""``precision-list team ROOT``: the manager's roll-up ``outbox/團隊總覽.xlsx`` from the newest
result of each rep on a drop folder (and the ``team = true`` service option that refreshes it after
every result).

Which rep a file is: its 設定 業務 (kept in the result as team facts, :data:`TEAM_PROPERTY`), else
its name. A rep whose newest file is in failed/ is shown as failed with the error report's 問題
line — never as zeros. The numbers are counts (:func:`processor.analyse.team.team_facts`): no
personal data leaves the reps' files.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

from processor.analyse.team import NUMBER_COLUMNS, STATUS_DONE, STATUS_FAILED, STATUS_UNKNOWN, TOTAL, roll_up
from processor.read.workbook import TEAM_PROPERTY

TEAM_FILE = "團隊總覽.xlsx"
ERROR_SUFFIX = ".error.txt"
_PROPERTY = re.compile(r'<property [^>]*name="' + TEAM_PROPERTY + r'(\d+)"[^>]*>\s*<vt:lpwstr>(.*?)</vt:lpwstr>', re.S)


def result_facts(path: Path) -> dict | None:
    """The team facts stored in a result workbook, or None (an older result, or not ours)."""
    from xml.sax.saxutils import unescape

    try:
        with zipfile.ZipFile(path) as zf:
            xml = zf.read("docProps/custom.xml").decode("utf-8")
    except (KeyError, OSError, zipfile.BadZipFile):
        return None
    parts = sorted((int(i), unescape(text, {"&quot;": '"', "&apos;": "'"})) for i, text in _PROPERTY.findall(xml))
    try:
        return json.loads("".join(text for _, text in parts)) if parts else None
    except ValueError:
        return None


def _rep_of_failed(path: Path) -> str:
    """A failed file's rep: its 設定 業務 when the file can still be read that far, else its name."""
    try:
        from processor.pipeline import workbook_settings
        from processor.read.workbook import read_input

        rep = workbook_settings(read_input(path))[0].rep
    except Exception:  # noqa: BLE001  a failed file may be anything: its name is the rep then
        rep = ""
    return rep or path.stem


def _problem(path: Path) -> str:
    """The 問題 line of a failed file's error report (what went wrong, no cell values)."""
    report = path.with_name(path.name + ERROR_SUFFIX)
    try:
        lines = report.read_text(encoding="utf-8").splitlines()
    except OSError:
        return "見 failed/ 的錯誤報告"
    line = next((x for x in lines if x.startswith("問題：")), "問題：見錯誤報告")
    return line.removeprefix("問題：")[:80]


def collect(root: Path) -> list[dict]:
    """One entry per rep — the newest file of each, by modification time — from outbox/ (results)
    and failed/ (inputs the service could not score)."""
    root = Path(root)
    found = []
    for path in sorted((root / "outbox").glob("*.xlsx")):
        if path.name == TEAM_FILE or path.name.startswith((".", "~$")):
            continue
        facts = result_facts(path)
        stem = path.name.removesuffix(".scored.xlsx").removesuffix(".xlsx")
        rep = (facts or {}).get("rep") or stem
        found.append(
            {
                "rep": rep,
                "file": path.name,
                "mtime": path.stat().st_mtime,
                "facts": facts,
                "status": STATUS_DONE if facts is not None else STATUS_UNKNOWN,
                "note": "" if facts is not None else "舊版結果，請重新放入 inbox 評分",
            }
        )
    failed = root / "failed"
    for path in sorted(failed.iterdir()) if failed.is_dir() else []:
        if path.is_file() and not path.name.endswith(ERROR_SUFFIX) and not path.name.startswith("."):
            found.append(
                {
                    "rep": _rep_of_failed(path),
                    "file": path.name,
                    "mtime": path.stat().st_mtime,
                    "facts": None,
                    "status": STATUS_FAILED,
                    "note": _problem(path),
                }
            )
    newest: dict[str, dict] = {}
    for entry in found:  # a few files per rep
        if entry["rep"] not in newest or entry["mtime"] > newest[entry["rep"]]["mtime"]:
            newest[entry["rep"]] = entry
    return [newest[rep] for rep in sorted(newest)]


def team_sheets(table) -> list:
    """The 團隊總覽 sheet (the roll-up table) and 圖表 (native charts beside narrow tables: today's
    work, funnel, list value — on their own sheet so they sit next to their numbers)."""
    from processor.sheets.report import Block, Chart, ResultSheet

    reps = table[table["業務"] != TOTAL]
    money = {"預期利潤": "#,##0"}
    main = Block(table, formats={c: "#,##0" for c in NUMBER_COLUMNS}, widths={"狀態": 24})
    stage = [c for c in NUMBER_COLUMNS if c.startswith("階段:")]
    charts = (
        Block(
            reps[["業務", "今天到期", "逾期"]].fillna(0),
            title="今天要跟進",
            as_table=False,
            charts=(Chart("col", "各業務今天到期與逾期", "業務", ("今天到期", "逾期"), y_title="人"),),
        ),
        Block(
            reps[["業務", *stage]].fillna(0),
            title="漏斗階段",
            as_table=False,
            charts=(Chart("bar", "各業務漏斗階段", "業務", tuple(stage), y_title="人"),),
        ),
        Block(
            reps[["業務", "沉默高價值", "名單人數", "預期利潤"]].fillna(0),
            title="沉默高價值客戶與精準名單",
            formats=money,
            as_table=False,
            charts=(Chart("col", "各業務精準名單預期利潤", "業務", ("預期利潤",), y_title="元"),),
        ),
    )
    notes = (
        "團隊總覽：每位業務最新一份結果的數字，一列一位業務，最後一列是團隊合計；狀態「失敗」的業務沒有數字（不是 0），"
        "請看 failed/ 的錯誤報告。",
        "業務＝結果檔 設定 工作表的「業務」，沒填時用檔名。今天到期＝今天到期＋尚未接觸；逾期＝跟進排程逾期；"
        "沉默高價值＝高價值、沉默 d/e 組、S ≤ 2（種子 004）；"
        "名單人數與預期利潤＝精準名單建議聯絡的人與其預期利潤（種子 000）。"
        "只有人數與金額，沒有個人資料。",
    )
    return [
        ResultSheet("團隊總覽", (main,), notes),
        ResultSheet(
            "圖表",
            charts,
            (
                "團隊總覽的圖：今天要跟進、漏斗階段、精準名單預期利潤（各業務；失敗的業務以 0 畫出，"
                "見 團隊總覽 的狀態）。",
            ),
        ),
    ]


def write_team(root, progress=lambda message: None) -> Path:
    """Write ``ROOT/outbox/團隊總覽.xlsx`` (atomically) and return its path."""
    import openpyxl

    from processor.read.workbook import atomic_output
    from processor.sheets.report import save_workbook, write_result_sheet

    root = Path(root)
    entries = collect(root)
    table = roll_up(entries)
    progress(f"{len(entries)} 位業務")
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    tables: set[str] = set()
    for sheet in team_sheets(table):
        write_result_sheet(wb, sheet, tables)
    out = root / "outbox" / TEAM_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out, suffix=".xlsx") as tmp:
        save_workbook(wb, tmp)
    return out
