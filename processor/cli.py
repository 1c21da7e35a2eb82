"""``precision-list``: the command-line shell. Each command parses options and calls the library.

Exit codes (DESIGN §5): 0 success, 2 unusable input (the message says what and how to fix),
1 internal error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from processor import __version__
from processor.errors import UnusableInput

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("precision_list")


def _as_of(text: str | None) -> pd.Timestamp | None:
    if text is None:
        return None
    import pandas as pd  # see _today

    from processor.read.values import parse_dates

    parsed, bad = parse_dates(pd.Series([text], dtype=object))
    if bad.iloc[0] or pd.isna(parsed.iloc[0]):
        raise argparse.ArgumentTypeError(f"--as-of {text!r}: 日期無法辨識 (use 2024-03-05 or 113/03/05)")
    return parsed.iloc[0]


def _today() -> pd.Timestamp:
    """Today, as the analyses take it. pandas is imported only by the commands that need it, so
    ``watch`` and ``status`` (and the drop folder's worker processes, which re-import this module
    when they start) do not pay for it before there is work."""
    import pandas as pd

    return pd.Timestamp.today().normalize()


def _horizon(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        days = 0
    if not 1 <= days <= 3650:
        raise argparse.ArgumentTypeError(f"--horizon {text!r}: 請給 1–3650 的整數天數 (whole days, 1–3650)")
    return days


def _settings(args):
    """The --config file's [settings], or None; a bad file is UnusableInput (exit 2)."""
    from processor.settings import load_config

    return load_config(Path(args.config)) if getattr(args, "config", None) else None


def _human(args) -> bool:
    """Short lines for people: ``--log-format human``, or ``auto`` (the default) with stderr a terminal.
    Otherwise (pipes, services, ``--log-format json``) the log stays JSON lines, as it always was."""
    return args.log_format == "human" or (args.log_format == "auto" and sys.stderr.isatty())


def _json_line(event: str, created: float | None = None, **fields) -> str:
    """One log line in the drop-folder log's shape: {"ts", "event", …}."""
    ts = datetime.fromtimestamp(time.time() if created is None else created, UTC)
    return json.dumps({"ts": ts.isoformat(timespec="milliseconds"), "event": event, **fields}, ensure_ascii=False)


class _JsonLines(logging.Formatter):
    """``--log-format json``: every log record as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        return _json_line(
            "log", record.created, level=record.levelname, logger=record.name, message=record.getMessage()
        )


def _service_options(args, **flags):
    """The drop-folder options, with human lines on the terminal and the JSON log in ROOT/.state/service.log
    unless a ``log_file`` is configured (see :func:`_human`)."""
    from processor.service.dropfolder import load_options

    options = load_options(args.config if hasattr(args, "config") else None, **flags)
    if _human(args):
        options.terminal = args.lang
        options.log_file = options.log_file or str(Path(args.root) / ".state" / "service.log")
    return options


def cmd_score(args) -> int:
    from processor.pipeline import score_file

    started = time.monotonic()

    def progress(message: str) -> None:
        if args.log_format == "json":
            print(_json_line("step", message=message), file=sys.stderr, flush=True)
        elif not args.json and _human(args):  # a step line for people, not for pipes and logs
            print(
                f"… {message}（{time.monotonic() - started:.0f} 秒）"
                if args.lang != "en"
                else f"… {message} ({time.monotonic() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )

    if _is_log_job(args):
        from processor.pipeline import score_log

        settings = _settings(args)
        if getattr(args, "horizon", None):
            from processor.settings import Settings

            settings = (settings or Settings()).with_values({"horizon_days": args.horizon})
        summary = score_log(
            args.input,
            args.output,
            out_dir=args.out_dir,
            csv=args.csv,
            as_of=args.as_of,
            settings=settings,
            engine=args.engine,
            scheduler=args.scheduler,
            memory_limit=args.memory_limit,
            workers=args.dask_workers,
            progress=progress,
        )
    else:
        summary = score_file(
            args.input,
            args.output,
            as_of=args.as_of,
            settings=_settings(args),
            model=getattr(args, "model", None),
            models_dir=getattr(args, "models", None),
            progress=progress,
            target=getattr(args, "target", None),
            horizon_days=getattr(args, "horizon", None),
        )
    if args.json:
        json.dump(summary, sys.stdout, ensure_ascii=False, indent=2, default=str)
        print()
    else:
        problems = summary["problems"]
        kinds = "、".join(f"{s['sheet']}（{s['kind']}，{s['rows']} 列）" for s in summary["sheets"])
        if args.lang == "en":
            print(
                f"scored {Path(args.input).name}: {kinds}\n{problems['errors']} errors, {problems['warnings']} "
                f"warnings (sheet 資料檢查)\nresult: {summary['output']}"
            )
        else:
            print(
                f"已評分 {Path(args.input).name}："
                f"{kinds}\n資料問題 {problems['errors']} 個錯誤、{problems['warnings']} "
                f"個提醒（見 資料檢查 工作表）\n結果：{summary['output']}"
            )
    return 0


def _is_log_job(args) -> bool:
    """A transaction log (Parquet, folder, glob), or a CSV with an engine option: the customer-tables path."""
    from processor.read.logs import is_log

    return is_log(args.input) or args.engine != "auto" or bool(args.scheduler or args.out_dir)


def cmd_train(args) -> int:
    """Train a purchase-probability model on a labelled campaign list and save it as NAME."""
    from processor.models import default_models_dir
    from processor.pipeline import train_file

    as_of = args.as_of if args.as_of is not None else _today()
    done = train_file(
        Path(args.input),
        args.target,
        args.name,
        settings=_settings(args),
        as_of=as_of,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        models_dir=default_models_dir(args.models),
        progress=lambda m: print(f"… {m}", file=sys.stderr),
    )
    _print_data_check(done.problems, done.report, args.lang)
    if done.error is not None:
        raise done.error
    result, e = done.result, done.result.evaluation or {}
    en = args.lang == "en"
    print(
        (
            f"saved model {done.path} ({result.fitted.chosen}, {len(result.fitted.features)} features; "
            f"label column {result.label_column!r})"
        )
        if en
        else f"已儲存模型 {done.path}（{result.fitted.chosen}，"
        f"{len(result.fitted.features)} 個欄位；已知結果欄「{result.label_column}」）"
    )
    if e:
        print(
            f"{result.eval_source}：AUC {e['auc']:.3f}，精確率 {e['precision']:.1%}，"
            f"照名單打 {e['profit_list']:,.0f} 元 vs 全部都打 {e['profit_everyone']:,.0f} 元"
        )
    if result.mode == "split":
        print(
            "儲存的模型已用全部有已知結果的客戶重新訓練（上面的數字是 80% 模型在保留 20% 上的成績）"
            if not en
            else "the saved model was refitted on every labelled row (figures above: the 80% model on the held-out 20%)"
        )
    return 0


def _print_data_check(problems, report: Path, lang: str, shown: int = 12) -> None:
    """Train's data check on stderr: counts, then one line per kind of problem (errors first),
    without cell values (they may be personal data; the report beside the model has them).
    The grouping, true counts and ID masking are :func:`processor.sheets.check.problem_kinds`."""
    from processor.errors import ERROR
    from processor.sheets.check import problem_kinds

    n_errors = sum(p.severity == ERROR for p in problems)
    print(
        (
            f"data check: {n_errors} errors, {len(problems) - n_errors} warnings (all of them: {report})"
            if lang == "en"
            else f"資料檢查：{n_errors} 個錯誤、{len(problems) - n_errors} 個提醒（全部見 {report}）"
        ),
        file=sys.stderr,
    )
    kinds = problem_kinds(problems)
    for kind in kinds[:shown]:
        where = f"{kind.sheet}「{kind.column}」" if kind.column else kind.sheet
        print(
            f"  {kind.severity} {where}：{kind.problem}" + (f"（{kind.count:,} 列）" if kind.count > 1 else ""),
            file=sys.stderr,
        )
    if len(kinds) > shown:
        print(f"  … 另有 {len(kinds) - shown} 種問題，見 {report}", file=sys.stderr)


def cmd_templates(args) -> int:
    from processor.sheets.templates import write_templates

    paths = write_templates(Path(args.dir))
    for path in paths:
        print(path)
    return 0


def cmd_demo(args) -> int:
    from processor.demo import write_demo

    as_of = args.as_of if args.as_of is not None else _today()
    for path in write_demo(Path(args.dir), seed=args.seed, as_of=as_of):
        print(path)
    return 0


def cmd_build_workbook(args) -> int:
    from addin.build import build

    print(build(Path(args.output)))
    return 0


def cmd_quickstart(args) -> int:
    """The README's first command: demo workbooks dropped into a local drop folder, the service
    run once over it, and where the results are."""
    from processor.demo import write_demo
    from processor.service.dropfolder import Service

    root = args.root = Path(args.dir)
    as_of = args.as_of if args.as_of is not None else _today()
    staging = root / ".demo-staging"  # written whole, then moved in: the service never sees half a file
    inputs = write_demo(staging, seed=0, as_of=as_of)
    (root / "inbox").mkdir(parents=True, exist_ok=True)
    for path in inputs:
        path.replace(root / "inbox" / path.name)
    staging.rmdir()
    print(f"範例檔已放進 demo workbooks dropped into: {root / 'inbox'}", flush=True)
    options = _service_options(args, settle=0.0, workers=1)
    code = Service(root, options).run(once=True)
    results = sorted((root / "outbox").glob("*.xlsx"))
    for path in results:
        print(f"  結果 result: {path}")
    failed = sorted(p for p in (root / "failed").glob("*") if not p.name.endswith(".error.txt"))
    for path in failed:
        print(f"  失敗 failed: {path}（原因見 see {path.name}.error.txt）")
    print(f"結果資料夾 results folder: {root / 'outbox'}；下一步 next: precision-list watch {root}")
    if options.terminal:
        print(f"記錄檔 log (JSON lines): {options.log_file}")
    return code


def cmd_watch(args) -> int:
    from processor.service.dropfolder import Service

    try:
        options = _service_options(args, poll=args.poll, workers=args.workers, settle=args.settle, as_of=args.as_of)
    except (OSError, ValueError) as exc:  # a missing or wrong config file: say which, exit 2
        print(f"precision-list watch: {exc}", file=sys.stderr)
        return 2
    return Service(args.root, options).run(once=args.once)


def cmd_status(args) -> int:
    from processor.service.dropfolder import status

    print(status(args.root))
    return 0


def cmd_team(args) -> int:
    """The manager's roll-up: outbox/團隊總覽.xlsx from the newest result of each rep."""
    from processor.team import write_team

    root = Path(args.root)
    if not (root / "outbox").is_dir():
        raise UnusableInput(
            f"{root} 沒有 outbox 資料夾",
            "請指定 drop folder 的根目錄（裡面有 inbox/ outbox/ failed/）",
            en=f"{root} has no outbox folder",
            fix_en="give the drop folder's root (with inbox/ outbox/ failed/)",
        )
    print(write_team(root))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="precision-list", description="精準名單 Precision List: whom to call first.")
    parser.add_argument("--version", action="version", version=f"precision-list {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step to stderr")
    log_format = dict(
        choices=["auto", "human", "json"],
        help="auto (default): short lines for people on a "
        "terminal, JSON lines in pipes and services (drop folder: the JSON goes to .state/service.log)",
    )
    parser.add_argument("--log-format", default="auto", **log_format)
    # -v and --log-format also after the command (`score FILE -v`); SUPPRESS keeps one given before it
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log every step to stderr (also accepted before the command)",
    )
    verbose.add_argument("--log-format", default=argparse.SUPPRESS, **log_format)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, **kw) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[verbose], **kw)

    p = command("score", help="score a workbook or CSV and write the result workbook")
    p.add_argument(
        "input",
        help="the .xlsx, .xlsm, .xlsb, .xls, .ods or .csv to score (never modified); for transactions "
        "also a .parquet file, a folder of .parquet/.csv files or a glob such as 'exports/2025-*.csv'",
    )
    p.add_argument("-o", "--output", help="result workbook (default: INPUT.scored.xlsx beside the input)")
    p.add_argument(
        "--as-of", type=_as_of, help="the day counted as today (default: today), e.g. 2024-03-05 or 113/03/05"
    )
    p.add_argument("--lang", choices=["zh-TW", "en"], default="zh-TW", help="language of the messages printed here")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    p.add_argument("--config", help="TOML file with a [settings] table (used where the workbook has no 設定 sheet)")
    p.add_argument(
        "--horizon",
        type=_horizon,
        metavar="DAYS",
        help="customer value (客戶價值): predict this many days ahead (default: the 設定 sheet's "
        "客戶價值預測天數, else 365); overrides the workbook's setting",
    )
    p.add_argument("--model", help="score campaign lists with the saved model NAME (see train) instead of training")
    p.add_argument("--models", help="models folder (default: $PRECISION_LIST_MODELS, else ./models)")
    p.add_argument(
        "--target",
        metavar="COLUMN",
        help="the campaign list's known-result column, as its header reads (default: recognised, and said in 資料檢查)",
    )
    big = p.add_argument_group("transaction logs (Parquet, folders, globs; see docs/scale.md)")
    big.add_argument(
        "--engine",
        choices=["auto", "pandas", "dask"],
        default="auto",
        help="auto: pandas up to 5 million rows, Dask above (or when --scheduler is given)",
    )
    big.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="an existing dask.distributed scheduler, e.g. tcp://10.0.0.5:8786 (default: a local cluster)",
    )
    big.add_argument(
        "--out-dir", metavar="DIR", help="write every customer's rows as Parquet (沉默排名, 客戶分群) here"
    )
    big.add_argument("--csv", action="store_true", help="with --out-dir: also write the full tables as CSV")
    big.add_argument(
        "--memory-limit",
        metavar="SIZE",
        help="local cluster: total worker memory, e.g. 6GB (default: half the machine's)",
    )
    big.add_argument(
        "--dask-workers", type=int, metavar="N", help="local cluster: worker processes (default: cores, ≤ 4)"
    )
    p.set_defaults(func=cmd_score)

    p = command("train", help="train a purchase-probability model on a labelled campaign list and save it")
    p.add_argument("input", help="the .xlsx, .xlsm or .csv with the campaign list")
    p.add_argument(
        "--target",
        metavar="COLUMN",
        help="the 0/1 (是/否) column to predict, as its header reads, e.g. 買A商品 (default: recognised as score does)",
    )
    p.add_argument("--name", required=True, help="save as NAME (NAME.skops in the models folder)")
    p.add_argument("--models", help="models folder (default: $PRECISION_LIST_MODELS, else ./models)")
    p.add_argument("--as-of", type=_as_of, help="the day counted as today (for date columns)")
    p.add_argument("--config", help="TOML file with a [settings] table (used where the workbook has no 設定 sheet)")
    p.add_argument("--lang", choices=["zh-TW", "en"], default="zh-TW", help="language of the messages printed here")
    p.set_defaults(func=cmd_train)

    p = command("templates", help="write the blank templates (one .xlsx per sheet kind, plus all-in-one)")
    p.add_argument("dir")
    p.set_defaults(func=cmd_templates)

    p = command("demo", help="write realistic synthetic workbooks to try score on")
    p.add_argument("dir")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    p.add_argument("--as-of", type=_as_of, default=None, help="date the demo data up to this day (default: today)")
    p.set_defaults(func=cmd_demo)

    p = command("build-workbook", help="write workbook.xlsm (templates, ribbon, VBA, xlwings.conf) from sources")
    p.add_argument("-o", "--output", default="workbook.xlsm", help="where to write it (default: ./workbook.xlsm)")
    p.set_defaults(func=cmd_build_workbook)

    p = command(
        "quickstart",
        help="drop the demo workbooks into DIR/inbox and run the drop-folder service once (results in DIR/outbox)",
    )
    p.add_argument("dir", nargs="?", default="precision-list-demo")
    p.add_argument("--as-of", type=_as_of, default=None, help="the day counted as today")
    p.add_argument("--lang", choices=["zh-TW", "en"], default="zh-TW", help="language of the lines on a terminal")
    p.set_defaults(func=cmd_quickstart)

    p = command("watch", help="run the drop-folder service on ROOT (inbox/ → outbox/, archive/, failed/)")
    p.add_argument("root", help="the shared folder; inbox/ outbox/ failed/ archive/ .state/ are created in it")
    p.add_argument("--once", action="store_true", help="process what is waiting, then exit (for schedulers)")
    p.add_argument(
        "--poll",
        type=float,
        metavar="SECONDS",
        help="poll every SECONDS instead of OS notifications (required on SMB/NFS shares)",
    )
    p.add_argument("--workers", type=int, metavar="N", help="files scored in parallel (default 1)")
    p.add_argument(
        "--settle",
        type=float,
        metavar="SECONDS",
        help="a file must stay unchanged this long before it is picked up (default 2)",
    )
    p.add_argument("--config", help="TOML file: [service] options and [settings] (see docs/drop-folder.md)")
    p.add_argument(
        "--as-of",
        type=_as_of,
        help="the day counted as today for every file (default: the day it is scored), e.g. 2024-03-05 or 113/03/05",
    )
    p.add_argument("--lang", choices=["zh-TW", "en"], default="zh-TW", help="language of the lines on a terminal")
    p.set_defaults(func=cmd_watch)

    p = command("team", help="the manager's roll-up: ROOT/outbox/團隊總覽.xlsx from each rep's newest result")
    p.add_argument("root", help="the drop folder (its outbox/ and failed/ are read)")
    p.set_defaults(func=cmd_team)

    p = command("status", help="queue / done / failed counts and the last errors of a drop folder")
    p.add_argument("root")
    p.set_defaults(func=cmd_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(_JsonLines())
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    else:
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
        )
    try:
        return args.func(args)
    except UnusableInput as exc:
        message = exc.english() if getattr(args, "lang", "zh-TW") == "en" else str(exc)
        print(f"precision-list: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an internal error: one line for the rep, the trace with --verbose
        log.debug("internal error", exc_info=True)
        print(
            f"precision-list: 內部錯誤 internal error: {type(exc).__name__}: {exc}"
            + ("" if args.verbose else "（加 -v 看詳細 / add -v for details）"),
            file=sys.stderr,
        )
        if args.verbose:
            raise
        return 1


if __name__ == "__main__":
    sys.exit(main())
