"""Transaction logs past one machine (issue 13): Parquet files, folders and globs; the pandas and
Dask engines giving identical tables; a real dask.distributed scheduler with two worker
processes on 127.0.0.1, one of them killed mid-job; bad logs refused with one line.

Small data throughout (CI stays fast); the 1M-row identity check and the 50M-row out-of-core run
are in benchmarks/bench_scale.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from processor.engines import customer_tables
from processor.pipeline import FULL_TABLES
from processor.read.logs import resolve_log

AS_OF = "2025-12-31"
REPO = Path(__file__).resolve().parents[1]


def synthetic_log(rows: int, seed: int = 0) -> pd.DataFrame:
    """Purchases of rows // 6 made-up customers over two years, with the dirt a CRM export has:
    returns, zero amounts, a few purchases after as-of, ids typed two ways, blank ids."""
    rng = np.random.default_rng(seed)
    customers = max(rows // 6, 10)
    owner = rng.integers(0, customers, rows)
    day = np.datetime64(AS_OF) - rng.integers(0, 730, rows).astype("timedelta64[D]")
    amount = np.round(rng.lognormal(7, 0.8, rows))
    u = rng.random(rows)
    amount[u < 0.02] *= -0.5
    amount[(u >= 0.02) & (u < 0.025)] = 0
    day[(u >= 0.025) & (u < 0.027)] = np.datetime64("2026-02-01")
    ids = np.char.add("C", np.char.zfill(owner.astype(str), 6)).astype(object)
    ids[(u >= 0.03) & (u < 0.035)] = np.char.lower(ids[(u >= 0.03) & (u < 0.035)].astype(str)).astype(object)
    ids[(u >= 0.035) & (u < 0.036)] = None
    return pd.DataFrame({"客戶編號": ids, "日期": day.astype("datetime64[ns]"), "金額": amount})


def write_parquet_folder(folder: Path, frame: pd.DataFrame, files: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(len(frame)), files)):
        frame.iloc[part].to_parquet(folder / f"tx-{i:02d}.parquet", index=False)
    return folder


def assert_same_tables(a, b) -> None:
    """Every column, every customer, floats to 1e-9, rows in the same order — 客戶價值 and its model too."""
    pd.testing.assert_frame_equal(a.silence, b.silence, check_exact=False, rtol=1e-9, atol=1e-9)
    pd.testing.assert_frame_equal(a.segments, b.segments, check_exact=False, rtol=1e-9, atol=1e-9)
    pd.testing.assert_frame_equal(a.value.table, b.value.table, check_exact=False, rtol=1e-9, atol=1e-9)
    assert a.value.model.fallback == b.value.model.fallback and a.value.model.choice == b.value.model.choice
    for fa, fb in zip(a.value.model.candidates, b.value.model.candidates):
        assert fa.params == pytest.approx(fb.params, rel=1e-9)


def kinds(problems) -> list[tuple]:
    return sorted((p.severity, p.column or "", p.problem) for p in problems)


def test_dask_local_cluster_and_pandas_give_identical_tables_and_problems(tmp_path):
    frame = synthetic_log(30_000)
    folder = write_parquet_folder(tmp_path / "log", frame, 3)
    frame.iloc[:5000].to_csv(folder / "extra.csv", index=False, date_format="%Y-%m-%d")
    log = resolve_log(str(folder))
    memory = customer_tables(log, AS_OF, engine="pandas")
    dask = customer_tables(log, AS_OF, engine="dask", workers=2, memory_limit="2GB")
    assert dask.engine == "dask" and dask.details["workers"] == 2 and dask.details["partitions"] >= 4
    assert_same_tables(memory, dask)
    assert memory.rows == dask.rows == 35_000
    assert kinds(memory.problems) == kinds(dask.problems)  # merged per-partition problems read as one log's
    assert any("客戶編號有不同寫法" in p.problem for p in dask.problems)
    assert any("交易日期晚於基準日" in p.problem for p in dask.problems)


def test_the_in_memory_engine_matches_the_workbook_path_on_the_same_rows(tmp_path):
    from processor.analyse.segments import segment_table
    from processor.analyse.silence import silence_table
    from processor.analyse.transactions import clean_transactions

    frame = synthetic_log(5_000, seed=3)
    frame.to_parquet(tmp_path / "one.parquet", index=False)
    tables = customer_tables(resolve_log(str(tmp_path / "one.parquet")), AS_OF, engine="pandas")
    clean, _ = clean_transactions(
        frame.rename(columns={"客戶編號": "customer_id", "日期": "date", "金額": "amount"}), AS_OF
    )
    silence = silence_table(clean, AS_OF)
    pd.testing.assert_frame_equal(tables.silence, silence)
    pd.testing.assert_frame_equal(tables.segments, segment_table(silence)[0])


def test_the_log_paths_customer_value_is_the_workbook_paths_on_the_same_rows(tmp_path):
    from processor.analyse.transactions import clean_transactions
    from processor.analyse.value import customer_value

    frame = synthetic_log(8_000, seed=5)
    write_parquet_folder(tmp_path / "log", frame, 3)
    tables = customer_tables(resolve_log(str(tmp_path / "log")), AS_OF, engine="pandas")
    clean, _ = clean_transactions(
        frame.rename(columns={"客戶編號": "customer_id", "日期": "date", "金額": "amount"}), AS_OF
    )
    expected = customer_value(clean, AS_OF)
    assert tables.value.model.fallback == expected.model.fallback and tables.value.model.choice == expected.model.choice
    for mine, theirs in zip(tables.value.model.candidates, expected.model.candidates, strict=True):
        assert mine.params == pytest.approx(theirs.params, rel=1e-9)
    mine = tables.value.table.drop(columns="value_rank").sort_values("customer_id").reset_index(drop=True)
    theirs = expected.table.drop(columns="value_rank").sort_values("customer_id").reset_index(drop=True)
    theirs["customer_id"] = theirs["customer_id"].astype(str)
    mine["customer_id"] = mine["customer_id"].astype(str)
    pd.testing.assert_frame_equal(mine, theirs, check_exact=False, rtol=1e-9, atol=1e-9)


def test_score_writes_full_parquet_tables_equal_to_the_engine_and_the_top_in_the_workbook(tmp_path, run_cli):
    import openpyxl

    frame = synthetic_log(6_000, seed=1)
    folder = write_parquet_folder(tmp_path / "exports", frame, 2)
    result = run_cli(
        "score",
        str(tmp_path / "exports" / "*.parquet"),
        "--as-of",
        AS_OF,
        "--out-dir",
        tmp_path / "full",
        "--csv",
        "--engine",
        "pandas",
        "-o",
        tmp_path / "r.xlsx",
        "--json",
    )
    assert '"engine": "pandas"' in result.stdout
    expected = customer_tables(resolve_log(str(folder)), AS_OF, engine="pandas")
    silence = pd.read_parquet(tmp_path / "full" / f"{FULL_TABLES[0]}.parquet")
    segments = pd.read_parquet(tmp_path / "full" / f"{FULL_TABLES[1]}.parquet")
    assert len(silence) == len(expected.silence) and len(segments) == len(expected.segments)
    assert silence["客戶編號"].tolist() == expected.silence["customer_id"].tolist()
    np.testing.assert_allclose(silence["優先分數"], expected.silence["priority"], rtol=1e-12)
    assert segments["RFM分群"].astype(str).tolist() == expected.segments["rfm_segment"].astype(str).tolist()
    value = pd.read_parquet(tmp_path / "full" / f"{FULL_TABLES[2]}.parquet")
    assert value["客戶編號"].tolist() == expected.value.table["customer_id"].tolist()
    np.testing.assert_allclose(value["顧客終身價值"], expected.value.table["clv"], rtol=1e-12)
    assert (tmp_path / "full" / f"{FULL_TABLES[0]}.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no staging left
    wb = openpyxl.load_workbook(tmp_path / "r.xlsx", read_only=True)
    assert wb.sheetnames == ["摘要", "沉默排名", "客戶價值", "客戶分群", "資料檢查", "結果說明"]
    notes = " ".join(str(c) for row in wb["摘要"].iter_rows(values_only=True) for c in row if c)
    assert str(tmp_path / "full" / "沉默排名.parquet") in notes


@pytest.mark.parametrize(
    "case, message",
    [
        ("mixed", "不是交易紀錄"),
        ("stray file", "不是交易紀錄的檔案"),
        ("wrong types", "「金額」欄型別是"),
        ("empty folder", "是空的"),
    ],
)
def test_a_bad_log_exits_2_with_one_line_and_leaves_nothing_in_out_dir(tmp_path, run_cli, case, message):
    folder = tmp_path / "log"
    frame = synthetic_log(600)
    if case == "empty folder":
        folder.mkdir()
    else:
        write_parquet_folder(folder, frame, 2)
    if case == "mixed":
        pd.DataFrame({"姓名": ["王小明"], "手機": ["0912345678"]}).to_csv(folder / "contacts.csv", index=False)
    elif case == "stray file":
        (folder / "notes.txt").write_text("not data")
    elif case == "wrong types":
        frame.assign(金額=frame["金額"].astype(str)).to_parquet(folder / "tx-01.parquet", index=False)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run_cli("score", folder, "--as-of", AS_OF, "--out-dir", out, check_exit=2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_unreachable_scheduler_exits_2_with_one_line(tmp_path, run_installed_cli):
    write_parquet_folder(tmp_path / "log", synthetic_log(600), 1)
    port = free_port()  # nothing listens there
    result = run_installed_cli(
        "score",
        tmp_path / "log",
        "--as-of",
        AS_OF,
        "--scheduler",
        f"tcp://127.0.0.1:{port}",
        "--out-dir",
        tmp_path / "out",
        check_exit=2,
        env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "0.5s"},  # refused at once; Dask retries until then
    )
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "排程器" in lines[0] and str(port) in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


# --- a real dask.distributed cluster on 127.0.0.1: scheduler and two worker processes ---------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dask_command(*args) -> list[str]:
    return [sys.executable, "-m", "distributed.cli." + args[0], *args[1:]]


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two single-threaded workers (no nanny: a killed worker stays dead), torn down always."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(REPO), DASK_DISTRIBUTED__WORKER__DAEMON="False")
    processes = []
    try:
        processes.append(
            subprocess.Popen(
                dask_command("dask_scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"),
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        for i in range(2):
            processes.append(
                subprocess.Popen(
                    dask_command(
                        "dask_worker",
                        address,
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--memory-limit",
                        "1GB",
                        "--name",
                        f"w{i}",
                        "--dashboard-address",
                        ":0",
                        "--local-directory",
                        str(tmp_path / f"w{i}"),
                    ),
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        from distributed import Client

        client = Client(address, timeout=30)
        client.wait_for_workers(2, timeout=60)
        yield address, client, processes[1:]
        client.close()
    finally:
        # workers first, while their scheduler is there to say goodbye to (one whose scheduler went away
        # first lingers for seconds, retrying it), then the scheduler
        for group in (processes[1:], processes[:1]):
            for p in group:
                if p.poll() is None:
                    p.terminate()
            for p in group:
                try:
                    p.wait(timeout=3)  # one that still lingers is killed
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def test_a_folder_scored_on_a_real_scheduler_survives_a_killed_worker(tmp_path, cluster):
    from tests.conftest import cli_path

    address, client, workers = cluster
    frame = synthetic_log(100_000, seed=5)  # 8 partitions: the job runs long enough to lose a worker mid-way
    folder = write_parquet_folder(tmp_path / "log", frame, 8)
    expected = customer_tables(resolve_log(str(folder)), AS_OF, engine="pandas")
    env = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONPATH=str(REPO))
    job = subprocess.Popen(
        [
            *cli_path(),
            "score",
            str(folder),
            "--as-of",
            AS_OF,
            "--scheduler",
            address,
            "--out-dir",
            str(tmp_path / "full"),
            "-o",
            str(tmp_path / "r.xlsx"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        victim = workers[0]
        victim_address = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and job.poll() is None:  # kill it once it holds part of the job
            info = client.scheduler_info()["workers"]
            held = client.has_what()
            busy = client.processing()
            mine = [a for a, w in info.items() if w.get("name") == "w0"]
            if mine and (held.get(mine[0]) or busy.get(mine[0])):
                victim_address = mine[0]
                os.kill(victim.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        assert victim_address is not None and job.poll() is None, "the job ended before a worker could be killed"
        out, err = job.communicate(timeout=240)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    assert job.returncode == 0, err
    assert victim.wait(timeout=10) == -signal.SIGKILL
    silence = pd.read_parquet(tmp_path / "full" / f"{FULL_TABLES[0]}.parquet")
    segments = pd.read_parquet(tmp_path / "full" / f"{FULL_TABLES[1]}.parquet")
    assert silence["客戶編號"].tolist() == expected.silence["customer_id"].tolist()  # complete, same order
    np.testing.assert_allclose(silence["沉默得分 S"], expected.silence["silence_score"], rtol=1e-9)
    np.testing.assert_allclose(silence["優先分數"], expected.silence["priority"], rtol=1e-9)
    assert segments["客群"].tolist() == expected.segments["cluster"].tolist()
    np.testing.assert_allclose(segments["綜合價值分數"], expected.segments["value_score"], rtol=1e-9)


def test_score_file_takes_a_parquet_file_the_way_the_drop_folder_calls_it(tmp_path):
    import openpyxl

    from processor.pipeline import score_file

    synthetic_log(3_000, seed=2).to_parquet(tmp_path / "export.parquet", index=False)
    summary = score_file(tmp_path / "export.parquet", tmp_path / "out.xlsx", as_of=AS_OF)
    assert summary["engine"] == "pandas" and summary["rows"] == 3_000
    assert openpyxl.load_workbook(tmp_path / "out.xlsx", read_only=True).sheetnames == [
        "摘要",
        "沉默排名",
        "客戶價值",
        "客戶分群",
        "資料檢查",
        "結果說明",
    ]


def test_a_parquet_file_dropped_in_the_inbox_is_scored_into_the_outbox(tmp_path):
    import openpyxl

    from processor.service.dropfolder import Service, load_options

    (tmp_path / "inbox").mkdir()
    synthetic_log(2_000, seed=4).to_parquet(tmp_path / "inbox" / "crm-export.parquet", index=False)
    assert Service(tmp_path, load_options(None, settle=0.0, workers=1, as_of=pd.Timestamp(AS_OF))).run(once=True) == 0
    result = tmp_path / "outbox" / "crm-export.scored.xlsx"
    assert openpyxl.load_workbook(result, read_only=True).sheetnames == [
        "摘要",
        "沉默排名",
        "客戶價值",
        "客戶分群",
        "資料檢查",
        "結果說明",
    ]
    assert [p.name for p in (tmp_path / "archive").iterdir()] == ["crm-export.parquet"]
    assert not any((tmp_path / "failed").iterdir())


def test_a_folder_dropped_in_the_inbox_settles_as_a_whole_and_is_one_job(tmp_path):
    """A real `watch` subprocess with the real scorer: a folder of Parquet parts written into inbox/ one part at a
    time (pauses shorter than the quiet period) is claimed only once every part is there, scored as one log,
    kept whole in archive/, one ledger row; a folder that is not only transactions goes to failed/ whole with its
    report; a folder with neither Parquet nor _SUCCESS (DROPFOLDER.md #3) is left alone."""
    import io

    import openpyxl
    from dropfolder_kit import SETTLE, ServiceProcess, ledger_rows, wait_until, write_config

    frame = synthetic_log(9_000, seed=6)
    parts = []
    for part in np.array_split(np.arange(len(frame)), 6):
        buffer = io.BytesIO()
        frame.iloc[part].to_parquet(buffer, index=False)
        parts.append(buffer.getvalue())
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", grace=2.0)
    with ServiceProcess(root, "--as-of", AS_OF, config=config) as service:
        wait_until(lambda: (root / "inbox").is_dir(), 20, message="inbox/ created")
        (root / "inbox" / "left-alone").mkdir()
        (root / "inbox" / "left-alone" / "inner.csv").write_bytes(frame.iloc[:10].to_csv(index=False).encode())
        folder = root / "inbox" / "exports"
        folder.mkdir()
        for i, data in enumerate(parts):  # a copy that takes ~3 quiet periods, never pausing for one
            with open(folder / f"part-{i}.parquet", "wb") as out:  # FileNotFoundError if claimed too early
                for k in range(0, len(data), len(data) // 3 + 1):
                    out.write(data[k : k + len(data) // 3 + 1])
                    out.flush()
                    time.sleep(SETTLE / 6)
        mixed = root / "inbox" / "mixed"
        mixed.mkdir()
        (mixed / "tx.parquet").write_bytes(parts[0])
        (mixed / "readme.txt").write_text("not a log")
        wait_until(lambda: (root / "archive" / "exports").is_dir() and (root / "failed" / "mixed").is_dir(), 120)
        assert service.stop() == 0
    result = root / "outbox" / "exports.scored.xlsx"
    workbook = openpyxl.load_workbook(result, read_only=True)
    assert workbook.sheetnames == ["摘要", "沉默排名", "客戶價值", "客戶分群", "資料檢查", "結果說明"]
    text = " ".join(str(c) for sheet in workbook for row in sheet.iter_rows(values_only=True) for c in row if c)
    assert "9,000 筆交易" in text  # every part, none missed by a claim taken mid-copy
    assert sorted(p.name for p in (root / "archive" / "exports").iterdir()) == [f"part-{i}.parquet" for i in range(6)]
    assert [(root / "archive" / "exports" / f"part-{i}.parquet").read_bytes() for i in range(6)] == parts
    assert sorted(p.name for p in (root / "failed" / "mixed").iterdir()) == ["readme.txt", "tx.parquet"]
    assert "readme.txt" in (root / "failed" / "mixed.error.txt").read_text(encoding="utf-8-sig")
    rows = {r["name"]: r for r in ledger_rows(root)}
    assert sorted(rows) == ["exports", "mixed"]  # one row per folder, not one per file
    assert rows["exports"]["status"] == "archived" and rows["exports"]["size"] == sum(map(len, parts))
    assert rows["mixed"]["status"] == "failed"
    assert (root / "inbox" / "left-alone" / "inner.csv").exists() and not list((root / "outbox").glob("left*"))


def test_merging_daily_totals_matches_ids_by_their_hashes_and_by_the_strings_when_two_ids_share_a_hash():
    from dataclasses import replace

    from processor.analyse.history import daily_totals, id_hashes, merge_daily

    rng = np.random.default_rng(3)
    pieces = []
    for _ in range(3):  # pieces sharing some customers, in different first-appearance orders
        ids = np.array([f"C{i}" for i in rng.permutation(40)[:25]], dtype=object)
        customer = rng.integers(0, len(ids), 200)
        day = rng.integers(19_000, 19_100, 200)
        piece = daily_totals(customer, ids, day, np.round(rng.lognormal(5, 1, 200)))
        pieces.append(piece)
    by_strings = merge_daily(pieces)
    assert {"C1", "C2"} <= set(by_strings.ids)
    hashed = [replace(p, id_hash=id_hashes(p.ids)) for p in pieces]
    by_hashes = merge_daily(hashed)
    assert by_strings.id_hash is None
    assert np.array_equal(by_hashes.id_hash, id_hashes(by_strings.ids))
    # two different ids given one hash: the strings decide, and each id keeps its own hash
    clashing = [
        replace(p, id_hash=np.where(p.ids == "C1", id_hashes(np.array(["C2"], dtype=object))[0], p.id_hash))
        for p in hashed
    ]
    for merged in (by_hashes, merge_daily(clashing)):
        assert merged.ids.tolist() == by_strings.ids.tolist()
        for key in ("customer", "day", "rows", "purchases", "amount", "spend"):
            assert np.array_equal(getattr(merged, key), getattr(by_strings, key)), key
    assert np.array_equal(merge_daily(clashing).id_hash, id_hashes(by_strings.ids))


def test_the_bare_job_baseline_runs_on_a_small_log_and_counts_every_row_and_customer(tmp_path):
    """benchmarks/bare_scale.py (issue 13's job stripped to its parts, the baseline beside bench_scale.py) on a
    30,000-row log: it finishes, reads every row, and finds every distinct id as one customer."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from generate_transactions import generate

    frame = generate(30_000, seed=5)
    frame.to_parquet(tmp_path / "tx-000.parquet", index=False)
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONIOENCODING="utf-8")
    run = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bare_scale.py"), "--data", str(tmp_path), "--files", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"30,000 rows, {frame['客戶編號'].nunique():,} customers" in run.stdout
    assert "bare job total" in run.stdout and "at best on two cores" in run.stdout


@pytest.mark.parametrize("n", [0, 1, 2, 1000, (1 << 20) - 1, (1 << 20) + 3])
@pytest.mark.parametrize("high", [1, 3, 10**6, 2**45])
def test_stable_order_is_numpys_stable_argsort_exactly(n, high):
    """history.stable_order (one sort of key << b | position, the daily totals' sort) gives numpy's stable order,
    ties in position order, on keys with many ties, few, across the million-position chunks, and on keys too wide
    to pack (2**45 with 21 bits of positions: the argsort itself)."""
    from processor.analyse.history import stable_order

    key = np.random.default_rng(n + high).integers(0, high, n)
    np.testing.assert_array_equal(stable_order(key), np.argsort(key, kind="stable"))
