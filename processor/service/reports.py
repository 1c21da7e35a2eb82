"""What the service may say and store: one JSON line per event, English failure summaries with
anything that looks like personal data masked, and the ``<name>.error.txt`` report beside a
failed file. Never cell contents.
"""

from __future__ import annotations

import errno
import json
import os
import re
import traceback
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

from processor.errors import ID_CANDIDATE, UnusableInput
from processor.service.ledger import utc_now


class EventLog:
    """One JSON line per event on stderr (and ``log_file``): names, sizes, times — never cells.

    With ``terminal`` ("zh-TW" or "en", set by the CLI when stderr is a terminal) stderr gets the
    short human line of :func:`human_line` instead (events without one print nothing) and the JSON
    lines go to ``log_file`` only.
    """

    def __init__(self, log_file: str | None = None, terminal: str | None = None, **constant):
        self.log_file = log_file
        self.terminal = terminal
        self.constant = constant

    def __call__(self, event: str, terminal: dict | None = None, **fields) -> None:
        """Log ``event`` with ``fields``; ``terminal`` holds fields for the human line only (the JSON
        stays as it always was)."""
        record = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "event": event,
            **self.constant,
            **{k: v for k, v in fields.items() if v is not None},
        }
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        shown = line if self.terminal is None else human_line({**record, **(terminal or {})}, self.terminal)
        try:
            if shown:
                os.write(2, shown)  # one write per line: lines from workers do not interleave
        except OSError:
            pass
        if self.log_file:
            try:
                with open(self.log_file, "ab") as fh:
                    fh.write(line)
            except OSError:
                pass


def human_line(record: dict, lang: str = "zh-TW") -> bytes:
    """The terminal's line for a log ``record`` (b"" for events a person need not see): file names,
    counts and the program's own English summaries only, like the JSON line itself.

    >>> human_line({"event": "claimed", "file": "名單.xlsx"}).decode()
    '讀取 名單.xlsx …\\n'
    >>> human_line({"event": "scored", "file": "a.xlsx", "output": "a.scored.xlsx", "sheets": 3, "errors": 2,
    ...             "warnings": 5, "duration_s": 4.21}, "en").decode()
    'done: 3 result sheets, data check 2 errors 5 warnings → outbox/a.scored.xlsx (4.2 s)\\n'
    >>> human_line({"event": "settled", "file": "a.xlsx"})
    b''
    """
    r, en = record, lang == "en"
    event, name = r["event"], r.get("file", "")
    if event == "started":
        text = (
            f"watching {r['root']}/inbox ({r.get('workers', 1)} worker(s))"
            if en
            else f"監看 {r['root']}/inbox（{r.get('workers', 1)} 個評分程序）"
        )
    elif event == "claimed":
        text = f"reading {name} …" if en else f"讀取 {name} …"
    elif event == "scored" and "sheets" in r:
        took = r.get("duration_s")
        text = (
            f"done: {_n(r['sheets'], 'result sheet')}, data check {_n(r['errors'], 'error')} "
            f"{_n(r['warnings'], 'warning')}"
            f" → outbox/{r['output']}" + (f" ({took:.1f} s)" if took is not None else "")
            if en
            else f"完成：{r['sheets']} 張結果表，資料問題 {r['errors']} 錯誤 {r['warnings']} 提醒 → "
            f"outbox/{r['output']}" + (f"（{took:.1f} 秒）" if took is not None else "")
        )
    elif event in ("scored", "duplicate"):
        text = (
            f"{name}: already scored → outbox/{r['output']}"
            if event == "duplicate" and en
            else f"{name}：已評分過 → outbox/{r['output']}"
            if event == "duplicate"
            else f"done → outbox/{r['output']}"
            if en
            else f"完成 → outbox/{r['output']}"
        )
    elif event == "failed":
        why = f"{r['reason']}; " if r.get("reason") else ""
        text = (
            f"failed: {name} → failed/{r.get('failed_as', name)} ({why}see {r.get('failed_as', name)}.error.txt)"
            if en
            else f"失敗：{name} → failed/{r.get('failed_as', name)}（{why}原因見 {r.get('failed_as', name)}.error.txt）"
        )
    elif event in ("retry", "error", "worker_died", "timeout", "memory_limit", "watch_error", "scan_error"):
        what = r.get("reason") or r.get("outcome") or event
        text = (
            (f"{event} {name}: {what}" if en else f"{'重試' if event == 'retry' else '問題'} {name}：{what}")
            .replace(" :", ":")
            .replace(" ：", "：")
        )
    elif event == "team":
        text = f"team roll-up → outbox/{r['output']}" if en else f"團隊總覽 → outbox/{r['output']}"
    elif event == "stopped":
        left = r.get("waiting") or 0
        text = (
            (f"stopped ({left} waiting)" if en else f"已停止（{left} 個等待中）")
            if left
            else ("stopped" if en else "已停止")
        )
    else:
        return b""
    return (text + "\n").encode("utf-8")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


_REDACTIONS = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(ID_CANDIDATE), "<id>"),  # 身分證 / 居留證
    # phones, account and card numbers, birthdays: 6+ digits, with or without separators
    (re.compile(r"\+?\d(?:[\s\-/().]?\d){5,}"), "<number>"),
)


def redact(text: str) -> str:
    """``text`` with anything that looks like personal data masked (IDs, phones, digit runs, e-mail).

    The ledger, the log and ``status`` store only English summaries written by the program, and
    pass them through this as a second line of defence. The text is NFKC-folded first, so
    full-width IDs and digits (Ａ１２３…, as typed with a CJK input method) are masked too.

    >>> redact("row 12: A123456789 / 0912-345-678 / wang@example.com / 3 sheets")
    'row 12: <id> / <number> / <email> / 3 sheets'
    """
    text = unicodedata.normalize("NFKC", text)
    for pattern, mask in _REDACTIONS:
        text = pattern.sub(mask, text)
    return text


def describe_exception(exc: BaseException) -> str:
    """Type and place of an exception, never its message (which may quote a cell).

    OSErrors keep their errno and system text ("Permission denied"): those come from the OS.

    >>> describe_exception(PermissionError(13, "Permission denied", "/x"))
    'PermissionError [EACCES] Permission denied'
    """
    if isinstance(exc, OSError) and exc.errno:
        return f"{type(exc).__name__} [{errno.errorcode.get(exc.errno, exc.errno)}] {exc.strerror or ''}".strip()
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} at {Path(last.filename).name}:{last.lineno} in {last.name}"


def summary_line(exc: UnusableInput) -> str:
    """What the ledger, the log and ``status`` keep of a failure: the English line, redacted.

    The zh-TW text may quote what the file contains (headers found, …); it goes only into the
    report beside the file in failed/.
    """
    if not exc.en:
        return "the file could not be used; see its .error.txt report in failed/"
    return redact(exc.english())[:500]


def error_report(name: str, run_id: str, exc: UnusableInput, kept_as: str) -> str:
    """The ``<name>.error.txt`` text: what, where, how to fix, run id — zh-TW then English.

    >>> text = error_report("a.csv", "r1", UnusableInput("缺少欄位", "請加上「日期」欄", en="a column is missing",
    ...                     fix_en="add a 日期 (date) column", sheet="a", row=1), "a.csv")
    >>> [line for line in text.splitlines() if line.startswith(("Where", "How"))]
    ['Where: a.csv, sheet a, row 1', 'How to fix: add a 日期 (date) column']
    """
    where = [
        (label, en, value)
        for label, en, value in (("工作表", "sheet", exc.sheet), ("第", "row", exc.row), ("欄位", "column", exc.column))
        if value not in (None, "")
    ]
    where_zh = "，".join(f"第 {value} 列" if label == "第" else f"{label}「{value}」" for label, _, value in where)
    where_en = ", ".join(f"{en} {value}" for _, en, value in where)
    fix_en = exc.fix_en or "see 如何修正 above (the fix in Chinese), or ask the administrator with the run id"
    return "\n".join(
        [
            "精準名單無法處理這個檔案 / Precision List could not process this file",
            "",
            f"檔案 File:      {name}",
            f"執行編號 Run id: {run_id}",
            f"時間 Time (UTC): {utc_now()}",
            "",
            f"問題：{exc.what}",
            f"位置：{name}" + (f"，{where_zh}" if where else "（整個檔案）"),
            f"如何修正：{exc.fix or '請修正後重新放入 inbox 資料夾'}",
            f"原始檔案已移到 failed/{kept_as}；修正後請重新放入 inbox/。",
            "",
            f"What went wrong: {exc.en or exc.what}",
            f"Where: {name}" + (f", {where_en}" if where else " (the whole file)"),
            f"How to fix: {fix_en}",
            f"The original was moved to failed/{kept_as}; drop the corrected file into inbox/ again.",
            "",
        ]
    )


def internal_error(exc: BaseException, run_id: str) -> UnusableInput:
    """A scorer bug is not the rep's fault; the file is set aside so the queue keeps moving."""
    return UnusableInput(
        "處理時發生程式內部錯誤（不是你的檔案格式問題）",
        f"請把執行編號 {run_id} 告訴系統管理員；也可以直接重新放入 inbox 再試一次",
        en=f"internal error while scoring ({describe_exception(exc)}); not a problem of the file's format",
        fix_en=f"drop the file into inbox/ again to retry; if it fails again, give the administrator run id "
        f"{run_id} (they can see the details with: precision-list score -v on this file)",
    )
