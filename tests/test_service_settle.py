"""The drop folder's settle rule and back-off, on a fake clock: no sleeping, no processes."""

from pathlib import Path

from processor.service.options import backoff
from processor.service.settle import Seen, due, observe, snapshot


def test_a_file_is_due_only_after_it_stayed_unchanged_for_the_settle_period():
    seen = observe({}, {"list.xlsx": (100, 1, 9)}, now=10.0).seen
    assert due(seen, now=11.9, settle=2.0) == []
    assert due(seen, now=12.0, settle=2.0) == ["list.xlsx"]


def test_a_file_that_grows_starts_its_quiet_period_again():
    seen = observe({}, {"list.xlsx": (100, 1, 9)}, now=10.0).seen
    seen = observe(seen, {"list.xlsx": (200, 2, 9)}, now=11.5).seen
    assert due(seen, now=12.0, settle=2.0) == []
    assert due(seen, now=13.5, settle=2.0) == ["list.xlsx"]


def test_a_file_in_a_workers_hands_keeps_its_state_whatever_the_listing_says():
    before = observe({}, {"a.csv": (1, 1, 1)}, now=0.0).seen
    after = observe(before, {"a.csv": (5, 5, 1)}, now=1.0, busy={"a.csv"})
    assert after.seen["a.csv"] is before["a.csv"] and due(after.seen, 9.0, 2.0, busy={"a.csv"}) == []
    gone = observe(before, {}, now=2.0, busy={"a.csv"})
    assert "a.csv" in gone.seen and gone.vanished == []


def test_a_vanished_file_is_forgotten_and_a_new_one_is_reported_as_received():
    before = observe({}, {"a.csv": (1, 1, 1)}, now=0.0).seen
    after = observe(before, {"b.csv": (2, 2, 2)}, now=1.0)
    assert list(after.seen) == ["b.csv"] and after.received == ["b.csv"] and after.vanished == ["a.csv"]


def test_a_file_waiting_for_its_next_try_is_not_due_before_then():
    seen = {"a.csv": Seen((1, 1, 1), changed_at=0.0, tries=1, next_try=8.0)}
    assert due(seen, now=7.9, settle=2.0) == [] and due(seen, now=8.0, settle=2.0) == ["a.csv"]


def test_the_listing_leaves_out_noise_and_folders(tmp_path: Path):
    (tmp_path / "list.xlsx").write_bytes(b"x" * 3)
    (tmp_path / "~$list.xlsx").write_bytes(b"lock")
    (tmp_path / "notes.txt").write_text("not an input, but it must reach failed/")
    (tmp_path / "folder.xlsx").mkdir()
    listing = snapshot(tmp_path, polling=True)
    assert sorted(listing) == ["list.xlsx", "notes.txt"] and listing["list.xlsx"][0] == 3
    assert listing["list.xlsx"][2] == 0  # with --poll the inode does not count
    assert snapshot(tmp_path / "missing", polling=False) == {}


def test_back_off_doubles_from_the_first_delay_up_to_the_cap():
    assert [backoff(n, 1.0, 60.0) for n in range(1, 9)] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert backoff(0, 2.0, 60.0) == 2.0
