"""Shared pieces of the drop-folder fault tests: synthetic inputs, a real service subprocess,
and checks on what ended where. Nothing here is mocked: the service is ``python -m
processor.cli watch`` on real folders, scoring with the real pipeline unless a test names a
fault-injecting scorer from :mod:`tests.dropfolder_scorers`.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SETTLE = 0.3  # small quiet period keeps the suite fast; the logic is the same as with 3 s
#: deadlines are limits, not expectations (waits return as soon as the condition holds): on a
#: machine loaded by other work everything is slower, so they are generous and can be scaled
PATIENCE = float(os.environ.get("DROPFOLDER_TEST_PATIENCE", "3"))


# -- synthetic inputs (no real people: random ids, dates, amounts) -------------------------------
def transactions(rows: int, seed: int) -> pd.DataFrame:
    """A transactions sheet (客戶編號, 日期, 金額, 品項) with ``rows`` purchases."""
    rng = np.random.default_rng(seed)
    customers = rng.integers(1, max(2, rows // 4), rows)
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 540, rows), unit="D")
    return pd.DataFrame(
        {
            "客戶編號": [f"C{seed:04d}{c:05d}" for c in customers],
            "日期": days.strftime("%Y-%m-%d"),
            "金額": rng.integers(100, 9000, rows),
            "品項": rng.choice(["保養品", "保健食品", "課程"], rows),
        }
    )


def csv_bytes(rows: int, seed: int) -> bytes:
    return transactions(rows, seed).to_csv(index=False).encode("utf-8-sig")


def xlsx_bytes(rows: int, seed: int, pad: int = 0) -> bytes:
    """A real .xlsx; ``pad`` random bytes go into an extra (ignored) zip member to make it big."""
    buffer = io.BytesIO()
    transactions(rows, seed).to_excel(buffer, index=False, sheet_name="交易")
    if pad:
        with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr("customXml/padding.bin", np.random.default_rng(seed).bytes(pad))
    return buffer.getvalue()


def followups(rows: int, seed: int) -> pd.DataFrame:
    """A follow-up log (客戶編號, 日期, 方式, 結果): the cheapest real sheet to score, for bursts."""
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, rows), unit="D")
    return pd.DataFrame(
        {
            "客戶編號": [f"F{seed:05d}{c:03d}" for c in rng.integers(1, 50, rows)],
            "日期": days.strftime("%Y-%m-%d"),
            "方式": rng.choice(["電話", "Line", "見面", "Email"], rows),
            "結果": rng.choice(["有興趣", "再聯絡", "不需要", "約下週見面"], rows),
        }
    )


def small_workbook(seed: int, rows: int = 8) -> tuple[str, bytes]:
    """(extension, bytes) of a small follow-up log: every 10th an .xlsx, the rest CSV."""
    frame = followups(rows, seed)
    if seed % 10:
        return "csv", frame.to_csv(index=False).encode("utf-8-sig")
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False, sheet_name="跟進紀錄")
    return "xlsx", buffer.getvalue()


def headers_only_xlsx() -> bytes:
    buffer = io.BytesIO()
    transactions(1, 0).iloc[:0].to_excel(buffer, index=False, sheet_name="交易")
    return buffer.getvalue()


def encrypted_xlsx(rows: int = 5) -> bytes:
    """A real password-protected workbook (ECMA-376 agile encryption, as Excel writes it)."""
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(xlsx_bytes(rows, 7))).encrypt("secret", out)
    return out.getvalue()


def drop(root: Path, name: str, data: bytes, *, staging: Path | None = None) -> Path:
    """Drop a file the way a copy tool that renames at the end does (one rename into inbox/)."""
    staging = staging or root.parent / "staging"
    staging.mkdir(exist_ok=True)
    temp = staging / f"{os.getpid()}-{time.monotonic_ns()}"
    temp.write_bytes(data)
    target = root / "inbox" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(temp, target)
    return target


def write_config(path: Path, settings: dict | None = None, **service) -> Path:
    """A service config file: ``[service]`` options (fast timings for tests) and ``[settings]``."""
    values = {"grace": 1.5, "lease": 3.0, "retry_initial": 0.3, "retry_max": 1.0, "scan_interval": 1.0, **service}
    lines = ["[service]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    if settings:
        lines += ["", "[settings]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- the service as a real subprocess ---------------------------------------------------------
class ServiceProcess:
    """``python -m processor.cli watch ROOT …`` with its JSON-lines log captured to a file."""

    def __init__(
        self,
        root: Path,
        *args: str,
        config: Path | None = None,
        log: Path | None = None,
        user: str | None = None,
        wrap: list[str] | None = None,
        env: dict | None = None,
        python: str = PYTHON,
    ):
        self.root = root
        self.log_path = log or root.parent / f"service-{time.monotonic_ns()}.log"
        command = [python, "-m", "processor.cli", "watch", str(root), "--settle", str(SETTLE), *args]
        if config:
            command += ["--config", str(config)]
        if user:
            command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
        if wrap:
            command = [*wrap, *command]
        self.log_file = open(self.log_path, "ab")
        environment = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
        if python != PYTHON:  # another interpreter (the service user cannot run ours): lend it our packages
            import sysconfig

            environment["PYTHONPATH"] = os.pathsep.join([str(REPO), sysconfig.get_paths()["purelib"]])
        self.proc = subprocess.Popen(
            command, cwd=REPO, stdout=self.log_file, stderr=self.log_file, env=environment, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def events(self, kind: str | None = None) -> list[dict]:
        return read_events(self.log_path, kind)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout=timeout * PATIENCE)
        finally:
            self.log_file.close()

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait(30)

    def children(self) -> list[int]:
        """PIDs of the service's worker processes (from /proc)."""
        return child_pids(self.proc.pid)

    def kill_group(self) -> None:
        """SIGKILL to the service and its workers at once (a power cut, not just the main process)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.wait(30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(30)
        self.log_file.close()


def read_events(path: Path, kind: str | None = None) -> list[dict]:
    events = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if kind is None or record.get("event") == kind:
                events.append(record)
    return events


def wait_until(predicate, timeout: float, interval: float = 0.1, message: str = "condition") -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` × PATIENCE seconds."""
    limit = timeout * PATIENCE
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {limit:.0f}s waiting for {message}")


def wait_for_progress(measure, target: int, stall: float, interval: float = 0.5, message: str = "progress") -> None:
    """Wait until ``measure()`` reaches ``target``; fail only when it stops moving for ``stall`` × PATIENCE s.

    For bursts: a loaded machine makes them slower, a bug makes them stop.
    """
    limit = stall * PATIENCE
    best, since = measure(), time.monotonic()
    while best < target:
        time.sleep(interval)
        value = measure()
        if value > best:
            best, since = value, time.monotonic()
        elif time.monotonic() - since > limit:
            raise AssertionError(f"no progress for {limit:.0f}s waiting for {message}: {best} of {target}")


def run_cli(*args: str):
    """``precision-list ARGS`` (e.g. ``status ROOT``) through ``processor.cli.main`` in this process
    (:func:`conftest.cli_in_process`); the service it looks at is a real process all the same."""
    from conftest import cli_in_process

    return cli_in_process(*args, cwd=REPO)


# -- what ended where -------------------------------------------------------------------------
def files(folder: Path) -> list[str]:
    """Visible files directly in ``folder`` (hidden temp folders like outbox/.partial excluded)."""
    if not folder.is_dir():
        return []
    return sorted(e.name for e in os.scandir(folder) if e.is_file() and not e.name.startswith("."))


def results(root: Path) -> list[str]:
    return [n for n in files(root / "outbox") if n.endswith(".scored.xlsx")]


def stray_temps(root: Path) -> list[str]:
    """Anything in outbox/ that is not a finished result, including leftovers under .partial/."""
    out = []
    for dirpath, _dirs, names in os.walk(root / "outbox"):
        for name in names:
            if Path(dirpath) != root / "outbox" or not name.endswith(".scored.xlsx"):
                out.append(os.path.relpath(os.path.join(dirpath, name), root))
    return out


def is_valid_xlsx(path: Path) -> bool:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True)
        ok = len(wb.sheetnames) > 0
        wb.close()
        return ok
    except Exception:  # noqa: BLE001 — any failure means a broken result
        return False


def ledger_rows(root: Path) -> list[dict]:
    db = sqlite3.connect(root / ".state" / "ledger.sqlite", timeout=30)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM drops ORDER BY rowid")]
    finally:
        db.close()


def data_rows(result: Path, sheet: str) -> int:
    """Rows below the header on ``sheet`` of a result workbook (the input's own sheet is copied there)."""
    from openpyxl import load_workbook

    wb = load_workbook(result, read_only=True)
    try:
        return sum(1 for row in wb[sheet].iter_rows(min_row=2, values_only=True) if any(v is not None for v in row))
    finally:
        wb.close()


def stand_in_source(result: Path) -> tuple[str, str]:
    """(input name, input SHA-256) that :func:`dropfolder_scorers.stand_in` wrote into a result, read
    straight from the zip (a burst has hundreds of results; openpyxl would take ~10 ms each)."""
    import html
    import re

    with zipfile.ZipFile(result) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml").decode()
    strings = [html.unescape(t) for t in re.findall(r"<t[^>]*>(.*?)</t>", sheet)]
    name, digest = strings[3:5]  # after the header row 檔名, SHA-256, 位元組
    return name, digest


def done_count(root: Path) -> int:
    """Originals that reached archive/ or failed/."""
    return len(files(root / "archive")) + len([n for n in files(root / "failed") if not n.endswith(".error.txt")])


def settled_everything(root: Path, expected_inputs: int) -> bool:
    """No input left in inbox/ (noise aside) or .state/claims/; archive/ + failed/ hold ``expected_inputs``."""
    from processor.service.dropfolder import IGNORE, classify

    inbox = [n for n in files(root / "inbox") if classify(n) != IGNORE]
    claims = list((root / ".state" / "claims").iterdir()) if (root / ".state" / "claims").is_dir() else []
    return not inbox and not claims and done_count(root) == expected_inputs


def child_pids(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (Linux /proc)."""
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out
