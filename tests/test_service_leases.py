"""The drop folder's lease rule on a fake clock: when may another instance's claim be taken over?

:meth:`processor.service.claims.Leases.holder_gone` judges a holder by two clocks (DROPFOLDER.md
Principles: "claim by renaming … with a lease"): the share's, i.e. file mtimes, set here with
``os.utime`` instead of waiting, and the service's own monotonic clock, passed in as ``now``. No
sleeping, no processes: the end-to-end tests (two instances, kill -9) then only need to show the
rule is wired in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from processor.service.claims import Leases
from processor.service.names import Folders

LEASE = 30.0
SECOND = 1_000_000_000  # ns


@pytest.fixture
def folders(tmp_path: Path) -> Folders:
    f = Folders(tmp_path / "root")
    f.make()
    return f


def _leases(folders: Folders, host: str = "here") -> Leases:
    ours = Leases(folders, f"{os.getpid()}-aaaa@{host}", host, LEASE)
    ours.heartbeat()
    return ours


def _heartbeat(folders: Folders, owner: str, age_s: float, share_now_ns: int) -> Path:
    """Another instance's heartbeat file, last written ``age_s`` seconds before the share's "now"."""
    path = folders.instances / owner
    path.touch()
    stamp = share_now_ns - int(age_s * SECOND)
    os.utime(path, ns=(stamp, stamp))
    return path


def _claim(folders: Folders, owner: str) -> str:
    name = f"run1~{owner}"
    (folders.claims / name).mkdir()
    return name


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_a_holder_on_this_host_whose_process_is_gone_is_gone_at_once(folders):
    ours = _leases(folders)
    owner = f"{_dead_pid()}-bbbb@here"
    _heartbeat(folders, owner, 0, ours.share_clock())  # a fresh heartbeat does not keep a dead process alive
    assert ours.holder_gone(owner, _claim(folders, owner), now=0.0)


def test_a_live_holder_on_this_host_with_a_moving_heartbeat_keeps_its_claim(folders):
    ours = _leases(folders)
    owner = f"{os.getppid()}-cccc@here"  # a process that exists: pytest's parent
    claim = _claim(folders, owner)
    for step in range(5):  # our clock runs far past the lease, the heartbeat keeps moving
        _heartbeat(folders, owner, 0, ours.share_clock() + step * SECOND)
        assert not ours.holder_gone(owner, claim, now=step * 2 * LEASE)


def test_a_holder_elsewhere_whose_heartbeat_is_a_lease_older_than_ours_by_the_share_clock_is_gone(folders):
    ours = _leases(folders)
    owner = "4242-dddd@other-pc"
    claim = _claim(folders, owner)
    _heartbeat(folders, owner, LEASE - 1, ours.share_clock())
    assert not ours.holder_gone(owner, claim, now=0.0)
    _heartbeat(folders, owner, LEASE, ours.share_clock())
    assert ours.holder_gone(owner, claim, now=0.0), "judged by the share's clock at once, not after waiting"


def test_a_heartbeat_that_stops_moving_counts_a_lease_of_our_own_clock_from_when_it_was_first_seen(folders):
    """Skewed clocks: the other PC's mtimes may look fresh by the share's clock; then our own clock decides."""
    ours = _leases(folders)
    owner = "4242-eeee@other-pc"
    claim = _claim(folders, owner)
    _heartbeat(folders, owner, -3600, ours.share_clock())  # an hour "in the future": a skewed clock
    assert not ours.holder_gone(owner, claim, now=100.0)  # first seen at 100 s of our clock
    assert not ours.holder_gone(owner, claim, now=100.0 + LEASE - 0.1)
    assert ours.holder_gone(owner, claim, now=100.0 + LEASE)
    _heartbeat(folders, owner, -3590, ours.share_clock())  # it moved again: alive, the count starts over
    assert not ours.holder_gone(owner, claim, now=100.0 + LEASE + 1)
    assert not ours.holder_gone(owner, claim, now=100.0 + 2 * LEASE)
    assert ours.holder_gone(owner, claim, now=100.0 + 2 * LEASE + 1)


def test_without_a_heartbeat_the_claim_folders_own_age_counts(folders):
    """A holder that stopped cleanly removed its heartbeat: its leftover claims age by their folder."""
    ours = _leases(folders)
    owner = "4242-ffff@other-pc"
    claim = _claim(folders, owner)
    fresh = ours.share_clock() - int((LEASE - 1) * SECOND)
    os.utime(folders.claims / claim, ns=(fresh, fresh))
    assert not ours.holder_gone(owner, claim, now=0.0)
    old = ours.share_clock() - int(LEASE * SECOND)
    os.utime(folders.claims / claim, ns=(old, old))
    assert ours.holder_gone(owner, claim, now=0.0)
    assert not ours.holder_gone(owner, "run2~gone-without-a-trace", now=0.0), "no claim folder: nothing to take"


def test_at_start_dead_instances_on_this_host_and_long_silent_ones_elsewhere_are_forgotten(folders):
    ours = _leases(folders)
    now = ours.share_clock()
    dead_here = _heartbeat(folders, f"{_dead_pid()}-1111@here", 0, now)
    alive_here = _heartbeat(folders, f"{os.getppid()}-2222@here", 0, now)
    silent = _heartbeat(folders, "4242-3333@other-pc", max(10 * LEASE, 3600), now)
    quiet = _heartbeat(folders, "4242-4444@other-pc", max(10 * LEASE, 3600) - 60, now)
    ours.forget_dead_instances()
    assert not dead_here.exists() and not silent.exists()
    assert alive_here.exists() and quiet.exists() and ours.path.exists()
