"""Shared fixtures: the installed CLI, a fixed "today", and helpers to build real workbooks."""

from __future__ import annotations

import os

# One BLAS thread per test process. The suite runs two processes on two cores (-n 2), and each would
# otherwise start an OpenBLAS thread per core that spins while it waits: measured, the silence property
# test took 8.2 s instead of 1.6 s and the whole run ~30% more CPU. Set before numpy is first imported
# (here, in each process); services, CLIs and workers the tests start inherit it. An explicit setting wins.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import contextlib
import hashlib
import io
import itertools
import json
import logging
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import NamedTuple

import hypothesis
import openpyxl
import pandas as pd
import pytest

AS_OF = "2024-06-28"
REPO = Path(__file__).resolve().parents[1]
#: scripts that made committed test files (e.g. data/make_pivot_fixture.py needs LibreOffice's UNO): not tests
collect_ignore_glob = ["data/*.py"]

# Property tests have no time limit per example: on a shared, loaded machine hypothesis' default 200 ms
# deadline failed a 47 ms example that once took 1 s. Timing claims live in benchmarks/ (STYLE.md).
hypothesis.settings.register_profile("suite", deadline=None)
hypothesis.settings.load_profile("suite")


#: Test files in the order xdist hands them out (pyproject: ``--dist loadfile --no-loadscope-reorder``: a whole
#: file to one worker, the next file to whichever worker is free first). The longest start first, files that
#: mostly wait (services' settle and lease periods, subprocesses, LibreOffice) alternating with files that
#: compute, so one worker's waiting overlaps the other's computing; every other file follows in collection
#: order. Idle seconds as last measured (``pytest --durations=0``) beside each: refresh when they change.
FIRST = [
    "tests/test_dropfolder_faults.py",  # waits, 43 s
    "tests/test_propensity.py",  # computes, 37 s
    "tests/test_dropfolder_service.py",  # waits, 54 s
    "tests/test_read_limits.py",  # computes (a subprocess), 21 s
    "tests/test_scale.py",  # waits on a Dask cluster, 32 s
    "tests/test_cli_score.py",  # computes, 31 s
    "tests/test_cli_terminal.py",  # waits on subprocesses, 10 s
    "tests/test_addin_ribbon.py",  # computes, 22 s
    "tests/test_read_pivot.py",  # LibreOffice and a service, 8 s
    "tests/test_addin_udfs.py",  # computes, 11 s
    "tests/test_dropfolder_limits.py",  # waits, 4 s
    "tests/test_value.py",  # computes, 10 s
    "tests/test_addin_build.py",  # LibreOffice, 5 s
    "tests/test_silence.py",  # computes, 12 s
]


def pytest_collection_modifyitems(config, items):
    """The files of :data:`FIRST` first, in its order; the rest as collected (a stable sort: each file's
    tests keep their order, and a module's fixtures are made once)."""
    rank = {path: i for i, path in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(FIRST)))


def cli_path() -> list[str]:
    """The installed console script if present (as a user runs it), else the module."""
    script = Path(sys.executable).with_name("precision-list")
    if script.exists():
        return [str(script)]
    found = shutil.which("precision-list")
    return [found] if found else [sys.executable, "-m", "processor.cli"]


class Ran(NamedTuple):
    """What a command run left: the same three fields as :class:`subprocess.CompletedProcess`."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


#: Python's own warning filters when it runs a script without -W (what a rep's terminal sees)
PYTHON_DEFAULT_WARNINGS = [
    ("default", None, DeprecationWarning, "__main__", 0),
    ("ignore", None, DeprecationWarning, None, 0),
    ("ignore", None, PendingDeprecationWarning, None, 0),
    ("ignore", None, ImportWarning, None, 0),
    ("ignore", None, ResourceWarning, None, 0),
]


def cli_in_process(*args, env: dict | None = None, cwd=None) -> Ran:
    """``precision-list ARGS`` through :func:`processor.cli.main` in this process (0.25 s a call where a
    new interpreter costs ~2.4 s), seen as the installed command would show it: stdout, stderr with the
    log lines ``main`` configures (WARNING, INFO with -v) and the warnings Python prints by default,
    and the exit code, argparse's ``SystemExit`` included."""
    from processor.cli import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO if {"-v", "--verbose"} & set(argv) else logging.WARNING)
    root.addHandler(handler)
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        warnings.filters[:] = PYTHON_DEFAULT_WARNINGS
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        for key, value in (env or {}).items():
            patch.setenv(key, str(value))
        if cwd is not None:
            patch.chdir(cwd)
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: --help, --version, a bad option
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
    text = err.getvalue() + "".join(
        warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line) for w in caught
    )
    return Ran(argv, code, out.getvalue(), text)


def cli_subprocess(*args, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    """The installed ``precision-list`` as a real process: for the few tests that prove the command itself
    works (console script, exit codes, a real score, quickstart); everything else runs in-process."""
    environment = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run(
        [*cli_path(), *map(str, args)], capture_output=True, text=True, env=environment, cwd=cwd, timeout=300
    )


class Forked(NamedTuple):
    """What a forked command left (tests/forked_cli.py): its exit code (−signal if it died), its stderr,
    wall and CPU seconds, and an upper bound of its peak memory (MB)."""

    returncode: int
    stderr: str
    wall: float
    cpu: float
    peak_mb: float


@pytest.fixture(scope="session")
def forked_cli(tmp_path_factory):
    """``forked_cli(*args, limit=240)``: ``precision-list ARGS`` in a process of its own, forked from one
    interpreter (per xdist worker) that imported the command once — for tests that need the process
    boundary (its peak memory from the kernel; a crash that must not take pytest down) without paying
    ~1 s of imports a call. A command past ``limit`` seconds is killed (returncode −9)."""
    environment = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONPATH=str(REPO))
    pipes = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    folder = tmp_path_factory.mktemp("forked")
    calls = itertools.count()

    with subprocess.Popen([sys.executable, "-m", "tests.forked_cli"], **pipes, env=environment, cwd=REPO) as forker:

        def run(*args, limit: float = 240) -> Forked:
            err = folder / f"stderr-{next(calls)}.txt"
            job = {"argv": [str(a) for a in args], "stderr": str(err), "limit": limit}
            forker.stdin.write(json.dumps(job) + "\n")
            forker.stdin.flush()
            ran = json.loads(forker.stdout.readline())
            text = err.read_text(encoding="utf-8", errors="replace")
            return Forked(ran["code"], text, ran["wall"], ran["cpu"], ran["peak_mb"])

        yield run
        forker.stdin.close()


def _checked(runner):
    def run(*args, check_exit: int | None = 0, cwd=None, env: dict | None = None):
        result = runner(*args, env=env, cwd=cwd)
        if check_exit is not None:
            assert result.returncode == check_exit, (result.returncode, result.stdout, result.stderr)
        return result

    return run


@pytest.fixture
def run_cli():
    """``run_cli(*args, check_exit=0)``: the CLI in-process (see :func:`cli_in_process`)."""
    return _checked(cli_in_process)


@pytest.fixture
def run_installed_cli():
    """``run_installed_cli(*args, check_exit=0)``: the installed command as a real subprocess."""
    return _checked(cli_subprocess)


def _fingerprints(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _made_once(tmp_path_factory, name: str, make) -> Path:
    """``make(folder)`` once per test run, its folder shared by the run's processes: the two xdist workers
    take turns under a file lock and the second finds the first one's (~7 s of scoring saved)."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the run's own folder
    folder, done = shared / name, shared / f"{name}.done"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """The demo workbooks (``write_demo(DIR, seed=0)``), written once per run and shared: a test that
    changes one works on a copy. At the end of the session the files must be byte for byte as written."""
    from processor.demo import write_demo

    directory = _made_once(tmp_path_factory, "demo", lambda folder: write_demo(folder, seed=0))
    written = _fingerprints(directory)
    yield directory
    assert _fingerprints(directory) == written, "a test changed the shared demo files: copy them first"


class DemoScore(NamedTuple):
    """One demo file scored by ``precision-list score FILE -o OUT --as-of AS_OF --json``."""

    input: Path
    output: Path
    summary: dict  # the --json summary
    input_unchanged: bool  # the input's bytes were the same after scoring
    leftovers: list[str]  # temp files (.~pl-*) left beside the output


@pytest.fixture(scope="session")
def demo_scores(demo_dir, tmp_path_factory):
    """Every demo file scored once per run through the CLI (in-process), {file name: DemoScore}:
    the tests that check what score made of the demo read these results instead of scoring again.
    They must only read them: at the end of the session outputs and summaries are checked unchanged."""
    import json

    def score_all(folder: Path) -> None:
        scores = {}
        for path in sorted(demo_dir.iterdir()):
            before = path.read_bytes()
            out = folder / f"{path.stem}.result.xlsx"
            ran = cli_in_process("score", path, "-o", out, "--as-of", AS_OF, "--json")
            assert ran.returncode == 0, (path.name, ran.stdout, ran.stderr)
            scores[path.name] = [str(path), str(out), json.loads(ran.stdout), path.read_bytes() == before]
        leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".~pl-")]
        (folder.parent / "demo-scored.json").write_text(json.dumps([scores, leftovers]), encoding="utf-8")

    folder = _made_once(tmp_path_factory, "demo-scored", score_all)
    found, leftovers = json.loads((folder.parent / "demo-scored.json").read_text(encoding="utf-8"))
    scores = {
        name: DemoScore(Path(given), Path(out), summary, unchanged, leftovers)
        for name, (given, out, summary, unchanged) in found.items()
    }
    written, summaries = _fingerprints(folder), json.dumps([s.summary for s in scores.values()], default=str)
    yield scores
    assert _fingerprints(folder) == written, "a test changed a shared demo result: copy it first"
    assert json.dumps([s.summary for s in scores.values()], default=str) == summaries, "a summary was changed"


def write_rows(path: Path, sheets: dict[str, list[list]]) -> Path:
    """A real .xlsx with the given rows per sheet (strings stay text, even '=…')."""
    from processor.sheets.report import text_cell

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append([text_cell(ws, v) for v in row])
    wb.save(path)
    return path


def sheet_rows(path: Path, name: str, header_contains: str | None = None) -> pd.DataFrame:
    """A result sheet's main table as a DataFrame (the first row holding ``header_contains``)."""
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)  # parses only the sheet asked for
    try:
        rows = list(wb[name].iter_rows(values_only=True))
    finally:
        wb.close()
    start = 0
    if header_contains:
        start = next(i for i, r in enumerate(rows) if header_contains in [str(v) for v in r if v is not None])
    header = [v for v in rows[start] if v is not None]
    body = []
    for r in rows[start + 1 :]:
        if all(v is None for v in r):
            break
        body.append(list(r[: len(header)]))
    return pd.DataFrame(body, columns=header)


_PROFILES: dict[int, Path] = {}


def libreoffice_profile() -> str:
    """The ``-env:UserInstallation`` option of one LibreOffice profile per test process, made by its first
    conversion and reused by the next (a new profile costs ~0.8 s of start-up each time); the calls of one
    process never overlap, and each xdist worker is its own process. Removed when the process ends."""
    if os.getpid() not in _PROFILES:
        import atexit
        import tempfile

        _PROFILES[os.getpid()] = Path(tempfile.mkdtemp(prefix="pl-tests-libreoffice-"))
        atexit.register(shutil.rmtree, _PROFILES[os.getpid()], ignore_errors=True)
    return f"-env:UserInstallation=file://{_PROFILES[os.getpid()]}"


def libreoffice_convert(workbook: Path, out_dir: Path, fmt: str = "pdf") -> Path:
    """Convert ``workbook`` with LibreOffice headless (the process's profile, :func:`libreoffice_profile`)
    and return the file it wrote; skips the test where LibreOffice is not installed (CI installs it: .ci/run)."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice is not installed (CI installs it: see .ci/run)")
    profile = libreoffice_profile()
    command = [soffice, "--headless", profile, "--convert-to", fmt, "--outdir", str(out_dir), str(workbook)]
    subprocess.run(command, check=True, capture_output=True, timeout=240)
    return out_dir / f"{Path(workbook).stem}.{fmt.split(':')[0]}"
