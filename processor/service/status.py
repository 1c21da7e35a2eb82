"""``precision-list status ROOT``: what the drop folder holds and did, from names and the ledger."""

from __future__ import annotations

import os
import time
from pathlib import Path

from processor.service.ledger import ARCHIVED, DUPLICATE, FAILED, Ledger
from processor.service.names import IGNORE, Folders, classify, parse_claim_dir


def status(root: str | os.PathLike) -> str:
    """``precision-list status ROOT``: queue / done / failed counts, files in hand, last errors, as text.

    Everything shown comes from file names and the ledger's English summaries: no cell contents.
    """
    f = Folders(Path(root))
    if not f.state.is_dir():
        return f"{root}: 還沒有執行過 drop-folder 服務 / no service has run here (.state/ missing)"
    try:
        waiting = sum(1 for e in os.scandir(f.inbox) if e.is_file() and classify(e.name) != IGNORE)
    except OSError:
        waiting = 0
    try:
        claims = sorted((e.name, e.stat().st_mtime) for e in os.scandir(f.claims) if e.is_dir())
    except OSError:
        claims = []
    led = Ledger(f.ledger)
    try:
        counts, errors = led.counts(), led.last_errors(5)
        held = {run: led.get(run) for run, _ in (parse_claim_dir(name) for name, _ in claims)}
    finally:
        led.close()
    now = time.time()
    try:
        beats = sorted((e.name, now - e.stat().st_mtime) for e in os.scandir(f.instances))
    except OSError:
        beats = []
    alive = [f"{name} (heartbeat {age:.0f}s ago{'; not running?' if age > 120 else ''})" for name, age in beats]
    lines = [
        f"精準名單 drop folder: {f.root}",
        f"等待中 queued:    {waiting} in inbox/, {len(claims)} being processed (.state/claims)",
        f"完成 done:        {counts.get(ARCHIVED, 0)} scored, {counts.get(DUPLICATE, 0)} duplicates (already scored)",
        f"失敗 failed:      {counts.get(FAILED, 0)}",
        f"服務 instances:   {', '.join(alive) if alive else '(none running)'}",
    ]
    if claims:
        lines.append("處理中 in hand:")
        for name, mtime in claims[:20]:
            run_id, owner = parse_claim_dir(name)
            row = held.get(run_id) or {}
            note = f" — {row['note']}" if row.get("note") else ""
            lines.append(f"  {row.get('name') or '?'}  [{run_id}]  {owner}, {now - mtime:.0f}s{note}")
    if errors:
        lines.append("最近的錯誤 last errors:")
        lines += [f"  {e['finished_at']}  {e['name']}  [{e['run_id']}]  {e['error']}" for e in errors]
    return "\n".join(lines)
