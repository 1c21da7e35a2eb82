"""A terminal for people (issue 15): ``quickstart``, ``score`` and ``watch`` print short human lines when
stderr is a terminal, the drop-folder JSON log goes to ``.state/service.log``; pipes, services and
``--log-format json`` keep the JSON lines exactly as before."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time

import pytest
from conftest import AS_OF, REPO, cli_in_process, cli_path

LOAN = "貸款懶人包.xlsx"  # the quickest demo file (about half a second to score)
#: the fields of the `scored` JSON line before this change: a pipe must see exactly these
SCORED_KEYS = {"ts", "event", "instance", "file", "size", "run", "output", "duration_s", "outcome"}


def _drop_folder(tmp_path, demo_dir):
    root = tmp_path / "drop"
    (root / "inbox").mkdir(parents=True)
    shutil.copy(demo_dir / LOAN, root / "inbox" / LOAN)
    return root


def _done_line(summary: dict, en: bool = False) -> str:
    sheets, problems = len(summary["result_sheets"]), summary["problems"]
    if en:

        def n(count, noun):
            return f"{count} {noun}" + ("" if count == 1 else "s")

        return (
            f"done: {n(sheets, 'result sheet')}, data check {n(problems['errors'], 'error')} "
            f"{n(problems['warnings'], 'warning')} → outbox/貸款懶人包.scored.xlsx"
        )
    return (
        f"完成：{sheets} 張結果表，資料問題 {problems['errors']} 錯誤 {problems['warnings']} 提醒 → "
        f"outbox/貸款懶人包.scored.xlsx"
    )


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_watch_for_a_person_says_what_it_reads_and_what_it_wrote_and_keeps_the_json_in_the_state_log(
    tmp_path, demo_dir, demo_scores, capfd
):
    root = _drop_folder(tmp_path, demo_dir)
    ran = cli_in_process("watch", root, "--once", "--settle", "0", "--as-of", AS_OF, "--log-format", "human")
    assert ran.returncode == 0, ran
    err = capfd.readouterr().err  # the service writes its lines straight to file descriptor 2
    lines = err.splitlines()
    assert f"讀取 {LOAN} …" in lines
    done = [line for line in lines if line.startswith("完成：")]
    assert len(done) == 1 and done[0].startswith(_done_line(demo_scores[LOAN].summary)), err
    assert not any(line.lstrip().startswith("{") for line in lines), "no JSON on the person's terminal"
    logged = _json_lines((root / ".state" / "service.log").read_text(encoding="utf-8"))
    scored = [e for e in logged if e["event"] == "scored"]
    assert len(scored) == 1 and set(scored[0]) == SCORED_KEYS, "the log file keeps the JSON exactly"


def test_lang_en_gives_the_same_lines_in_english_and_log_format_is_accepted_before_the_command(
    tmp_path, demo_dir, demo_scores, capfd
):
    root = _drop_folder(tmp_path, demo_dir)
    ran = cli_in_process(
        "--log-format", "human", "watch", root, "--once", "--settle", "0", "--as-of", AS_OF, "--lang", "en"
    )
    assert ran.returncode == 0, ran
    lines = capfd.readouterr().err.splitlines()
    assert f"reading {LOAN} …" in lines and "stopped" in lines
    assert any(line.startswith(_done_line(demo_scores[LOAN].summary, en=True)) for line in lines), lines


def test_a_pipe_and_log_format_json_keep_todays_json_lines_on_stderr(tmp_path, demo_dir, capfd):
    root = _drop_folder(tmp_path, demo_dir)
    ran = cli_in_process("watch", root, "--once", "--settle", "0", "--as-of", AS_OF, "--log-format", "json")
    assert ran.returncode == 0, ran
    events = _json_lines(capfd.readouterr().err)  # every line is JSON
    assert [e["event"] for e in events][0] == "started" and events[-1]["event"] == "stopped"
    assert [set(e) for e in events if e["event"] == "scored"] == [SCORED_KEYS]
    assert not (root / ".state" / "service.log").exists(), "no log file is invented for pipes"


def test_score_shows_steps_with_seconds_for_people_and_json_step_lines_with_log_format_json(tmp_path, demo_dir):
    for_people = cli_in_process(
        "score", demo_dir / LOAN, "-o", tmp_path / "a.xlsx", "--as-of", AS_OF, "--log-format", "human"
    )
    steps = [line for line in for_people.stderr.splitlines() if line.startswith("… ")]
    assert for_people.returncode == 0 and steps and all(line.endswith(" 秒）") for line in steps), for_people.stderr
    as_json = cli_in_process(
        "--log-format", "json", "score", demo_dir / LOAN, "-o", tmp_path / "b.xlsx", "--as-of", AS_OF
    )
    events = _json_lines(as_json.stderr)
    same_steps = [line[2:].rsplit("（", 1)[0].replace("a.xlsx", "b.xlsx") for line in steps]
    assert as_json.returncode == 0 and [e["message"] for e in events if e["event"] == "step"] == same_steps
    piped = cli_in_process("score", demo_dir / LOAN, "-o", tmp_path / "c.xlsx", "--as-of", AS_OF)
    assert piped.stderr == "", "a pipe gets no progress lines, as before"


def _on_terminal(args: list, timeout: float = 180) -> tuple[int, str]:
    """Run the installed command with stdout and stderr on a real pseudo-terminal; what the terminal showed."""
    master, slave = os.openpty()
    env = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [*cli_path(), *map(str, args)], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    shown, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not data:
                break
            shown += data
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return code, shown.decode("utf-8").replace("\r\n", "\n")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal (POSIX)")
def test_a_real_terminal_gets_human_lines_and_a_pipe_gets_the_json_unchanged(tmp_path, demo_dir):
    on_tty = _drop_folder(tmp_path / "tty", demo_dir)
    code, shown = _on_terminal(["watch", on_tty, "--once", "--settle", "0", "--as-of", AS_OF])
    assert code == 0, shown
    assert f"讀取 {LOAN} …" in shown and "完成：" in shown and '"event"' not in shown, shown
    assert '"event": "scored"' in (on_tty / ".state" / "service.log").read_text(encoding="utf-8")

    piped = _drop_folder(tmp_path / "pipe", demo_dir)
    ran = subprocess.run(
        [*cli_path(), "watch", str(piped), "--once", "--settle", "0", "--as-of", AS_OF],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONPATH=str(REPO)),
    )
    events = _json_lines(ran.stderr)
    assert ran.returncode == 0 and [set(e) for e in events if e["event"] == "scored"] == [SCORED_KEYS]
    assert "讀取" not in ran.stderr and not (piped / ".state" / "service.log").exists()

    asked = _drop_folder(tmp_path / "json", demo_dir)
    code, shown = _on_terminal(["watch", asked, "--once", "--settle", "0", "--as-of", AS_OF, "--log-format", "json"])
    events = _json_lines(shown)
    assert code == 0 and [set(e) for e in events if e["event"] == "scored"] == [SCORED_KEYS], shown
