"""The drop-folder service under crashes, load, a second instance and a hostile environment.

Real `precision-list watch` subprocesses on real folders; kill -9 is a real SIGKILL, the full
disk a real tmpfs, the unwritable outbox a real non-root user.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from dropfolder_kit import (
    REPO,
    ServiceProcess,
    csv_bytes,
    done_count,
    drop,
    files,
    followups,
    is_valid_xlsx,
    ledger_rows,
    read_events,
    results,
    run_cli,
    settled_everything,
    small_workbook,
    stand_in_source,
    stray_temps,
    wait_for_progress,
    wait_until,
    write_config,
    xlsx_bytes,
)

#: the fast stand-in scorer, for tests of what the service does with files (see tests/dropfolder_scorers.py)
STAND_IN = "tests.dropfolder_scorers:stand_in"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _held_inputs(root: Path) -> Counter:
    """Content hashes of every copy of an input the service holds: inbox, claims, archive, failed."""
    found: Counter = Counter()
    for folder in (root / "inbox", root / "archive", root / "failed"):
        for name in files(folder):
            if not name.endswith(".error.txt"):
                found[_sha((folder / name).read_bytes())] += 1
    claims = root / ".state" / "claims"
    if claims.is_dir():
        for claim in claims.iterdir():
            for path in claim.iterdir() if claim.is_dir() else ():
                found[_sha(path.read_bytes())] += 1
    return found


def _results_are_whole(folder: Path) -> bool:
    for name in files(folder):
        if name.endswith(".scored.xlsx"):
            with zipfile.ZipFile(folder / name) as zf:
                if zf.testzip() is not None:
                    return False
    return True


#: SIGKILLs that must land while a file is in hand. Each costs a service start (~1.5 s idle), so 12
#: (half of the main process alone, half of the whole group) rather than the first version's 20; the
#: five named steps of one file are each cut deterministically in the power-cut test below.
KILLS_IN_FLIGHT = 12


def test_kill_9_at_random_moments_loses_nothing_and_yields_exactly_one_result_per_file(tmp_path):
    """Issue test 2, matrix 5: SIGKILLs while a file is claimed (main process alone, or the whole group).

    Each cycle waits until the service has a file in hand (a claim or a recovered claim in its
    log), then kills it after a random delay within that file's processing; a kill that came
    after the file was finished does not count. The scorer is the stand-in (a pause after writing a
    workbook that carries the input's hash): this checks the service's claims, not scoring.
    """
    rng = random.Random(5)
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", scorer="tests.dropfolder_scorers:stand_in_slow", lease=60.0)
    inputs = {f"k{i:02d}.{ext}": data for i, (ext, data) in ((i, small_workbook(100 + i, 40)) for i in range(30))}
    pending = list(inputs)
    logs, kills, in_flight = [], 0, 0
    while in_flight < KILLS_IN_FLIGHT:
        assert kills < 2 * KILLS_IN_FLIGHT, f"only {in_flight} of {kills} kills landed while a file was in hand"
        if not list((root / ".state" / "claims").glob("*/*")) and not files(root / "inbox"):  # something to do
            for name in pending[: rng.choice([1, 2])]:
                drop(root, name, inputs[name])
                pending.remove(name)
        log = tmp_path / f"cycle{kills:02d}.log"
        logs.append(log)
        service = ServiceProcess(
            root, "--workers", str(1 + kills % 2), config=config, log=log, env={"DROPFOLDER_TEST_SLOW": "0.4"}
        )
        try:
            wait_until(lambda: read_events(log, "claimed") or read_events(log, "recovered"), 60, 0.02, "a file in hand")
            time.sleep(rng.uniform(0, 0.5))
            workers = service.children()
            if kills % 2:
                service.kill_group()
            else:
                service.kill()  # the main process only: its workers must follow it
                wait_until(
                    lambda: (
                        not any(
                            os.path.exists(f"/proc/{pid}")
                            and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
                            for pid in workers
                        )
                    ),
                    10,
                    0.05,
                    "orphaned workers to exit",
                )
            kills += 1
        finally:
            service.__exit__(None, None, None)
        in_flight += bool(list((root / ".state" / "claims").glob("*/*")))
        held = _held_inputs(root)
        assert all(held[_sha(inputs[n])] >= 1 for n in inputs if n not in pending), f"an input was lost at kill {kills}"
        assert _results_are_whole(root / "outbox"), "a half-written file under a final result name"
    for name in pending:
        drop(root, name, inputs[name])
    fast = write_config(tmp_path / "fast.toml", lease=60.0, scorer="tests.dropfolder_scorers:stand_in")  # no pause
    final = ServiceProcess(root, "--once", "--workers", "2", config=fast, log=tmp_path / "final.log")
    assert final.wait(120) == 0
    assert settled_everything(root, len(inputs))
    expected = sorted(n.rsplit(".", 1)[0] + ".scored.xlsx" for n in inputs)
    assert sorted(results(root)) == expected, "exactly one result per input, no (2) copies"
    assert all(is_valid_xlsx(root / "outbox" / n) for n in expected)
    assert all(
        stand_in_source(root / "outbox" / (n.rsplit(".", 1)[0] + ".scored.xlsx")) == (n, _sha(data))
        for n, data in inputs.items()
    ), "every result is the one of the input of its name"
    assert stray_temps(root) == [], "no temp file left in outbox/"
    assert sorted(_sha((root / "archive" / n).read_bytes()) for n in files(root / "archive")) == sorted(
        _sha(d) for d in inputs.values()
    ), "every original archived exactly once"
    rows = ledger_rows(root)
    assert Counter(r["status"] for r in rows) == Counter({"archived": len(inputs)})
    recovered = [e for log in logs + [tmp_path / "final.log"] for e in read_events(log, "recovered")]
    assert len(recovered) >= KILLS_IN_FLIGHT, "every kill in flight left a claim that a later start took over"


@pytest.mark.parametrize("point", ["claimed", "scoring", "temp_written", "placed", "archive_moved"])
def test_a_power_cut_at_each_step_is_recovered_to_exactly_one_result_on_restart(tmp_path, point):
    """Matrix 5, deterministic: SIGKILL of the whole service right after each step of one file.

    The claims, not scoring: the stand-in scorer, whose result names the input it came from."""
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", scorer="tests.dropfolder_scorers:stand_in")
    data = csv_bytes(30, 90)
    drop(root, "cut.csv", data)
    crashed = ServiceProcess(root, config=config, env={"PRECISION_LIST_CRASH_AT": point}, log=tmp_path / "crashed.log")
    assert crashed.wait(60) == -9, "the service was cut at the named step"
    assert _held_inputs(root)[_sha(data)] >= 1, "the input survived the cut"
    assert _results_are_whole(root / "outbox")
    again = ServiceProcess(root, "--once", config=config, log=tmp_path / "again.log")
    assert again.wait(60) == 0
    assert results(root) == ["cut.scored.xlsx"] and is_valid_xlsx(root / "outbox" / "cut.scored.xlsx")
    assert stand_in_source(root / "outbox" / "cut.scored.xlsx") == ("cut.csv", _sha(data))
    assert files(root / "archive") == ["cut.csv"] and (root / "archive" / "cut.csv").read_bytes() == data
    assert settled_everything(root, 1) and stray_temps(root) == []
    rows = ledger_rows(root)
    assert [(r["name"], r["status"]) for r in rows] == [("cut.csv", "archived")]
    scored_again = [e for e in again.events("scored") if e.get("outcome") == "ok"]
    if point in ("placed", "archive_moved"):  # the result existed before the cut: not scored twice
        assert scored_again == []


@pytest.mark.parametrize(
    "count, args",
    [(500, ["--workers", "2"]), (100, ["--poll", "0.5"])],
    ids=["500-notifications-2-workers", "100-polling-1-worker"],
)
def test_a_burst_of_small_workbooks_ends_with_one_result_and_one_archived_original_each(tmp_path, count, args):
    """Issue test 3, matrix 4: half waiting at start, half dropped at once while running.

    The service's own behaviour under load, so the fast stand-in scorer: each result must carry the
    SHA-256 of the input of its name (what the real scorer makes of a file is checked elsewhere)."""
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", scorer="tests.dropfolder_scorers:stand_in")
    payload = {f"b{i:03d}.{ext}": data for i, (ext, data) in ((i, small_workbook(i)) for i in range(count))}
    names = list(payload)
    for name in names[: count // 2]:
        drop(root, name, payload[name])
    with ServiceProcess(root, *args, config=config) as service:
        wait_until(lambda: service.events("claimed"), 60, message="service running")
        for name in names[count // 2 :]:
            drop(root, name, payload[name])
        wait_for_progress(lambda: done_count(root), count, stall=60, message=f"{count} files archived")
        wait_until(lambda: settled_everything(root, count), 30, message="nothing left in hand")
        assert service.stop() == 0
    assert sorted(results(root)) == sorted(n.rsplit(".", 1)[0] + ".scored.xlsx" for n in names)
    assert all(
        stand_in_source(root / "outbox" / (n.rsplit(".", 1)[0] + ".scored.xlsx")) == (n, _sha(payload[n]))
        for n in names
    ), "every result is the one of the input of its name"
    assert len(files(root / "archive")) == count and files(root / "failed") == []
    assert Counter(r["status"] for r in ledger_rows(root)) == Counter({"archived": count})
    assert stray_temps(root) == []


def test_two_instances_on_one_root_process_each_file_once_and_the_survivor_takes_over_a_killed_ones_claims(tmp_path):
    """Issue test 4, matrix 6: both race for every file; one is killed -9 mid-run.

    The scorer is the stand-in (with a short pause): this checks the two services, not scoring."""
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", scorer="tests.dropfolder_scorers:stand_in_slow")
    names = [f"t{i:03d}.csv" for i in range(80)]
    payload = {name: followups(15, 300 + i).to_csv(index=False).encode("utf-8-sig") for i, name in enumerate(names)}
    with (
        ServiceProcess(root, config=config, env={"DROPFOLDER_TEST_SLOW": "0.05"}) as a,
        ServiceProcess(root, config=config, env={"DROPFOLDER_TEST_SLOW": "0.05"}) as b,
    ):
        for name in names:
            drop(root, name, payload[name])
        wait_until(
            lambda: (
                len(a.events("archived")) >= 10
                and a.events("claimed")[-1:]
                and len(a.events("claimed")) > len(a.events("archived"))
            ),
            120,
            0.02,
            "A busy with a file",
        )
        a_instance = a.events("started")[0]["instance"]
        a.kill()
        orphaned = [c.name.split("~")[0] for c in (root / ".state" / "claims").iterdir() if c.name.endswith(a_instance)]
        wait_for_progress(lambda: done_count(root), len(names), stall=60, message="the survivor finishing")
        wait_until(lambda: settled_everything(root, len(names)), 30, 0.2, "nothing left in hand")
        assert b.proc.poll() is None
        assert b.stop() == 0
    assert sorted(results(root)) == sorted(n.replace(".csv", ".scored.xlsx") for n in names)
    assert all(
        stand_in_source(root / "outbox" / n.replace(".csv", ".scored.xlsx")) == (n, _sha(payload[n])) for n in names
    ), "every result is the one of the input of its name"
    rows = ledger_rows(root)
    assert len(rows) == len(names) and {r["status"] for r in rows} == {"archived"}
    assert a.events("archived") and b.events("archived"), "both instances did part of the work"
    recovered = {e["run"] for e in b.events("recovered")}
    assert set(orphaned) <= recovered, "every claim the dead instance held was taken over"
    assert stray_temps(root) == []


def _as_service_user() -> tuple[str | None, str]:
    """Root ignores permissions: run the service as `nobody` (setpriv) then; else as ourselves.

    Returns (uid or None, interpreter). Our interpreter may live where `nobody` cannot execute
    it (a pyenv under /root); then a system python of the same version borrows our packages.
    """
    if os.geteuid() != 0:
        return None, sys.executable
    if not shutil.which("setpriv"):
        pytest.skip("running as root and setpriv is missing: cannot run the service as a non-root user")
    import sysconfig

    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), sysconfig.get_paths()["purelib"]])}
    for python in (sys.executable, shutil.which(version) or "", f"/usr/bin/{version}"):
        if (
            python
            and subprocess.run(
                [
                    "setpriv",
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    python,
                    "-c",
                    "import processor.service.dropfolder, pandas, openpyxl, watchdog, multiprocessing as m\n"
                    "p = m.get_context('spawn').Process(target=print); p.start(); p.join()\n"
                    "raise SystemExit(p.exitcode)",
                ],
                cwd="/",
                env=env,
                capture_output=True,
                timeout=120,
            ).returncode
            == 0
        ):
            return "65534", python
    pytest.skip(f"no {version} interpreter that uid 65534 may run with this project's packages")


def test_an_unwritable_outbox_or_inbox_is_retried_never_blamed_on_the_input(tmp_path):
    """Issue test 6a, matrix 10 and 13: permission errors on outbox/ and on the claim rename.

    The service's retries, not scoring: the stand-in scorer (a valid workbook naming its input)."""
    user, python = _as_service_user()
    base = Path(tempfile.mkdtemp(prefix="df-perm-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        if user:
            os.chown(base, int(user), int(user))
        root = base / "root"
        config = write_config(base / "c.toml", scorer=STAND_IN)
        os.chmod(config, 0o644)
        with ServiceProcess(root, config=config, user=user, log=base / "service.log", python=python) as service:
            wait_until(lambda: (root / "outbox").is_dir() and service.events("watch_armed"), 30, message="start")
            os.chmod(root / "outbox", 0o555)
            drop(root, "a.csv", csv_bytes(20, 70), staging=base / "staging")
            wait_until(
                lambda: len([e for e in service.events("retry") if e.get("file") == "a.csv"]) >= 3,
                60,
                message="retries on outbox/",
            )
            assert files(root / "failed") == [] and results(root) == []
            assert [p.name for p in (root / ".state" / "claims").glob("*/*")] == ["a.csv"]
            in_hand = run_cli("status", str(root)).stdout.split("in hand:")[1]
            assert "a.csv" in in_hand and "outbox/ PermissionError [EACCES]" in in_hand, "status says why it waits"
            os.chmod(root / "outbox", 0o755)
            wait_until(lambda: "a.csv" in files(root / "archive"), 60, message="a.csv once outbox/ is writable")
            # a rep's lock makes the claim rename fail; here: inbox/ read-only for the service user
            os.chmod(root / "inbox", 0o555)
            drop(root, "b.csv", csv_bytes(20, 71), staging=base / "staging")
            wait_until(
                lambda: len([e for e in service.events("locked") if e.get("file") == "b.csv"]) >= 2,
                60,
                message="claim retries",
            )
            assert files(root / "inbox") == ["b.csv"] and files(root / "failed") == []
            os.chmod(root / "inbox", 0o755)
            wait_until(lambda: settled_everything(root, 2), 60, message="b.csv once inbox/ is writable")
            assert service.stop() == 0
        assert sorted(results(root)) == ["a.scored.xlsx", "b.scored.xlsx"]
        assert all(is_valid_xlsx(root / "outbox" / n) for n in results(root))
        assert {r["status"] for r in ledger_rows(root)} == {"archived"}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _can_mount_tmpfs() -> str | None:
    if not shutil.which("unshare"):
        return "unshare is not installed"
    probe = tempfile.mkdtemp()
    try:
        done = subprocess.run(
            ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {probe}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        os.rmdir(probe)
    return None if done.returncode == 0 else f"cannot mount a tmpfs in a user namespace: {done.stderr.strip()}"


def test_a_full_disk_under_outbox_keeps_the_input_claimed_and_scores_it_once_space_returns(tmp_path):
    """Issue test 6b, matrix 11: outbox/ on a 1 MiB tmpfs, filled to the last byte, then freed.

    The service's retries, not scoring: the stand-in scorer, whose result names the input it came from."""
    reason = _can_mount_tmpfs()
    if reason:
        pytest.skip(reason)
    root = tmp_path / "root"
    (root / "outbox").mkdir(parents=True)
    config = write_config(tmp_path / "c.toml", scorer=STAND_IN)
    mount = f'mount -t tmpfs -o size=1m tmpfs "{root / "outbox"}" && exec "$0" "$@"'
    with ServiceProcess(root, config=config, wrap=["unshare", "-rm", "sh", "-c", mount]) as service:
        wait_until(lambda: service.events("watch_armed"), 30, message="start")
        outbox = Path(f"/proc/{service.pid}/root") / root.relative_to("/") / "outbox"  # the service's view
        filler = outbox / ".filler"
        with open(filler, "wb") as fh:
            try:
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
            except OSError:
                pass
        data = xlsx_bytes(1000, 80)
        drop(root, "big.xlsx", data)
        wait_until(
            lambda: len([e for e in service.events("retry") if e.get("file") == "big.xlsx"]) >= 3,
            60,
            message="retries on a full disk",
        )
        assert files(root / "failed") == [] and _results_are_whole(outbox)
        assert [n for n in files(outbox) if n.endswith(".scored.xlsx")] == []
        assert [p.name for p in (root / ".state" / "claims").glob("*/*")] == ["big.xlsx"]
        filler.unlink()
        wait_until(lambda: settled_everything(root, 1), 60, message="scored once space returns")
        kept = tmp_path / "result.xlsx"
        kept.write_bytes((outbox / "big.scored.xlsx").read_bytes())
        assert is_valid_xlsx(kept) and stand_in_source(kept) == ("big.xlsx", _sha(data))
        assert [n for n in files(outbox)] == ["big.scored.xlsx"]
        assert not any((outbox / ".partial").iterdir()) if (outbox / ".partial").exists() else True
        assert service.stop() == 0
    assert (root / "archive" / "big.xlsx").read_bytes() == data
    assert "No space left" in " ".join(e.get("reason", "") for e in service.events("retry"))
