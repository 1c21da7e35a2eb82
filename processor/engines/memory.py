"""The in-memory engine: the kernel's three steps in this process, with one bucket (every customer)."""

from __future__ import annotations

from processor.engines.kernel import bucket_statistics, global_step, margin_choice, piece_totals
from processor.read.logs import TransactionLog, pieces
from processor.settings import Settings


def customer_tables(log: TransactionLog, as_of, settings: Settings, progress):
    """Every piece reduced to daily totals in turn (only those are kept), then one bucket and the global step."""
    parts = pieces(log)
    totals = []
    for i, piece in enumerate(parts, 1):
        progress(f"讀取並彙總 {piece.file.path.name}（{i}/{len(parts)}）")
        totals.append(piece_totals(piece, as_of, log.name, 1))
    facts = [t.facts for t in totals]
    daily = [t.buckets[0] for t in totals]
    del totals
    progress(f"計算 {sum(f.rows for f in facts):,} 筆交易的客戶資料")
    partial = bucket_statistics(daily, as_of, settings, margin_choice(facts))
    del daily
    return global_step(facts, [partial], as_of, settings, "pandas", log.name, progress)
