"""One pipeline for every shell: read → detect kinds → parse/validate → analyse → render.

``precision-list score``, the drop-folder service and the ribbon buttons all call
:func:`score_file` (or :func:`analyse` + :func:`processor.sheets.report.render`); nothing is computed
two ways. Analysers are pure functions of a :class:`~processor.sheets.contract.Context` that return a
:class:`~processor.sheets.contract.Contribution`; :data:`ANALYSERS` lists them in the order their sheets appear.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from processor import models
from processor.allocator import reuse_freed_memory
from processor.analyse import propensity
from processor.analyse import transactions as tx
from processor.analyse.team import team_facts
from processor.analyse.value import beside
from processor.engines import customer_tables
from processor.errors import WARNING, Problem, UnusableInput, step, step_en, worded
from processor.privacy import mask_problem_ids
from processor.read.logs import is_log, resolve_log
from processor.read.parse import date_spellings, describe_unrecognised, detect_and_parse
from processor.read.schema import normalise_header
from processor.read.workbook import atomic_output, read_input
from processor.settings import AUTO, GREGORIAN, LABEL_TO_NAME, ROC, Settings, settings_from_pairs
from processor.sheets.activities import analyse_activities
from processor.sheets.check import PROBLEM_COLUMNS, check_sheet, problems_frame
from processor.sheets.contacts import analyse_contacts
from processor.sheets.contract import Context, Contribution
from processor.sheets.loans import analyse_loans
from processor.sheets.propensity import analyse_campaign
from processor.sheets.report import HELP_SHEET, Block, ResultSheet, render
from processor.sheets.summary import overview_sheet
from processor.sheets.today import today_sheet
from processor.sheets.transactions import analyse_transactions, build_sheets


@dataclass
class Analysis:
    """Everything one scoring run produced, ready for :func:`processor.sheets.report.render`."""

    raw: list  # RawSheet
    parsed: list  # ParsedSheet
    problems: list[Problem]
    sheets: list[ResultSheet]  # 摘要 first, 資料檢查 last
    summary: dict
    settings: Settings
    stopped: list[Problem] = field(default_factory=list)  # see Contribution.stopped


@dataclass(frozen=True)
class NotProduced:
    """Why the sheets of one kind gave no result sheet — the one diagnosis every shell words in
    its own terms. ``reason`` is one of:

    * ``"no_sheet"``: no sheet of that kind was recognised;
    * ``"headers_only"``: its sheets have headers (or are blank forms) but no rows;
    * ``"stopped"``: its analyser stopped on ``problem`` (e.g. only 30 known results where 50
      are needed to train, or a saved model whose columns the list lacks);
    * ``"no_usable_rows"``: every row had a problem (listed in 資料檢查).

    ``sheets`` are the names of the sheets of that kind, ``rows`` how many data rows they hold.
    """

    reason: str
    sheets: tuple[str, ...] = ()
    rows: int = 0
    problem: Problem | None = None


#: the analysers, in the order their sheets appear after 摘要
ANALYSERS: list[Callable[[Context], Contribution | None]] = [
    analyse_contacts,
    analyse_loans,
    analyse_activities,
    analyse_transactions,
    analyse_campaign,
]

SETTINGS_SHEET_NAMES = {"設定", "设定", "settings", "config"}
SETTINGS_SCAN_ROWS = 300


def _settings_sheet(raw_sheets, base: Settings) -> tuple[Settings, list[Problem], set[str]]:
    """The workbook's 設定 sheet (label column + value column) over ``base``."""
    labels = {normalise_header(k) for k in LABEL_TO_NAME}
    for raw in raw_sheets:
        grid = raw.grid
        if grid.shape[1] < 2 or grid.empty:
            continue
        # settings are a short label column: a long data sheet is not normalised cell by cell
        first = grid.iloc[:SETTINGS_SCAN_ROWS, 0].map(lambda v: normalise_header(v) if v is not None else "")
        if (
            normalise_header(raw.name) in {normalise_header(n) for n in SETTINGS_SHEET_NAMES}
            or first.isin(labels).sum() >= 2
        ):
            pairs = [
                (int(i) + 1, grid.iat[i, 0], grid.iat[i, 1])
                for i in range(len(first))
                if first.iat[i] in labels or (first.iat[i] and grid.iat[i, 1] is not None and i > 0)
            ]
            settings, problems = settings_from_pairs(pairs, raw.name, base)
            return settings, problems, {raw.name}
    return base, [], set()


def workbook_settings(raw_sheets, base: Settings | None = None) -> tuple[Settings, list[Problem], set[str]]:
    """Settings the way ``score`` reads them: the workbook's 設定 sheet over ``base`` (the config
    file's, else the defaults); also its problems and the names of the sheets that held settings."""
    return _settings_sheet(raw_sheets, base or Settings())


def read_sheets(
    raw_sheets,
    as_of: pd.Timestamp,
    settings: Settings | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> tuple[Settings, list, list[Problem]]:
    """(settings, parsed sheets, problems) of raw sheets, the one way every command reads them:
    result sheets of an earlier run are left out, the 設定 sheet is read over ``settings``, every
    other sheet is detected, parsed and checked."""
    inputs = [r for r in raw_sheets if not getattr(r, "result", False)]
    settings, problems, settings_names = workbook_settings(inputs, settings)
    data_sheets = [r for r in inputs if r.name not in settings_names]
    progress(f"辨識 {len(data_sheets)} 個工作表")
    parsed, found = detect_and_parse(data_sheets, as_of)
    settings = settings.with_values({"date_display": date_display(settings, data_sheets, parsed)})
    return settings, parsed, problems + found


def date_display(settings: Settings, raw_sheets, parsed) -> str:
    """西元 or 民國 for this file: the 設定 日期顯示, or for 自動 民國 when at least half the input's typed
    dates are written in 民國 years (and there is one), else 西元."""
    if settings.date_display != AUTO:
        return settings.date_display
    roc, other = date_spellings(raw_sheets, parsed)
    return ROC if roc and roc >= other else GREGORIAN


def analyse(
    raw_sheets,
    as_of=None,
    settings: Settings | None = None,
    *,
    model: str | None = None,
    models_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    source_name: str = "",
    target: str | None = None,
    horizon_days: int | None = None,
) -> Analysis:
    """Detect, parse, validate and analyse raw sheets; the pure heart of ``score``.

    ``as_of`` defaults to today (the shells pass it; nothing below reads the clock). ``horizon_days``
    (score --horizon) overrides the 設定 sheet's 客戶價值預測天數.
    """
    progress = progress or (lambda message: None)
    as_of = pd.Timestamp(as_of).normalize() if as_of is not None else pd.Timestamp.today().normalize()
    previous = [r.name for r in raw_sheets if getattr(r, "result", False)]  # a result workbook scored again
    settings, parsed, problems = read_sheets(raw_sheets, as_of, settings, progress)
    if horizon_days is not None:
        settings = settings.with_values({"horizon_days": int(horizon_days)})
    by_kind: dict[str, list] = {}
    for sheet in parsed:
        if len(sheet.frame):  # a header-only sheet is listed on 摘要 but gives analysers nothing
            by_kind.setdefault(sheet.kind.key, []).append(sheet)
    ctx = Context(by_kind, as_of, settings, model, models_dir, progress, target)
    sheets: list[ResultSheet] = []
    blocks: list[Block] = []
    summary: dict = {}
    calls: list = []
    stopped: list[Problem] = []
    for analyser in ANALYSERS:
        contribution = analyser(ctx)
        if contribution is None:
            continue
        sheets += contribution.sheets
        blocks += contribution.summary_blocks
        problems += contribution.problems
        stopped += contribution.stopped
        summary.update(contribution.summary)
        calls += contribution.calls
    problems = mask_problem_ids(problems)
    n_errors = sum(p.severity != WARNING for p in problems)
    overview = overview_sheet(raw_sheets, parsed, problems, blocks, as_of, source_name, previous, settings)
    check = check_sheet(problems)
    today = today_sheet(calls, settings, as_of)
    summary = {
        "file": source_name,
        "as_of": f"{as_of:%Y-%m-%d}",
        "sheets": [
            {
                "sheet": s.sheet,
                "kind": s.kind.key,
                "rows": int(len(s.frame)),
                "header_row": s.header_row,
                "layout": s.layout,
            }
            for s in parsed
        ],
        "problems": {"errors": n_errors, "warnings": len(problems) - n_errors},
        "result_sheets": ([today[0].name] if today else [])
        + [overview.name]
        + [s.name for s in sheets]
        + [check.name, HELP_SHEET],
        **summary,
        **({"today": today[1]} if today else {}),
    }
    summary["team"] = team_facts(summary, settings.rep)
    first = [today[0]] if today else []
    return Analysis(
        raw_sheets, parsed, problems, [*first, overview, *sheets, check], summary, settings, mask_problem_ids(stopped)
    )


def not_produced(analysis: Analysis, kind_key: str) -> NotProduced:
    """Why no result sheet came from the sheets of kind ``kind_key`` (see :class:`NotProduced`).

    The same facts ``score`` reports in 資料檢查, told apart in order: no such sheet; headers
    only; the problem that stopped the analyser; else no usable row.
    """
    found = [s for s in analysis.parsed if s.kind.key == kind_key]
    names = tuple(s.sheet for s in found)
    rows = sum(len(s.frame) for s in found)
    if not found:
        return NotProduced("no_sheet")
    if rows == 0:
        return NotProduced("headers_only", names)
    problem = next((p for p in analysis.stopped if p.sheet in names), None)
    if problem is not None:
        return NotProduced("stopped", names, rows, problem)
    return NotProduced("no_usable_rows", names, rows)


CHECK_SHEET = "資料檢查"


def in_words(analysis: Analysis, words: dict[str, str]) -> Analysis:
    """The analysis with the 資料檢查 texts and each sheet's lead line and notes naming steps in a shell's
    ``words`` (code → text, every key of :data:`processor.errors.STEPS`): Excel's buttons (``addin.messages``),
    the drop folder's administrator (``processor.service.words``)."""
    # only our own texts: 內容 and 工作表 are the rep's cells and sheet names, shown as they are
    ours = (PROBLEM_COLUMNS["problem"], PROBLEM_COLUMNS["fix"])

    def reword_ours(frame):
        frame = frame.copy()
        for column in ours:
            if column in frame:
                frame[column] = frame[column].map(lambda text: worded(text, words))
        return frame

    def reworded(sheet):
        blocks = sheet.blocks
        if sheet.name == CHECK_SHEET:
            blocks = tuple(dataclasses.replace(b, frame=reword_ours(b.frame)) for b in blocks)
        notes = tuple(worded(n, words) for n in sheet.notes)
        return dataclasses.replace(sheet, blocks=blocks, notes=notes, lead=worded(sheet.lead, words))

    return dataclasses.replace(analysis, sheets=[reworded(s) for s in analysis.sheets])


def _same_file(a: Path, b: Path) -> bool:
    """True when two paths name one file; a path that cannot be resolved (a symbolic link to
    itself) names none — reading it says "not found" in one line."""
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):
        return False


def default_output(input_path: Path) -> Path:
    """``<stem>.scored.xlsx`` beside the input."""
    return input_path.with_name(f"{input_path.stem}.scored.xlsx")


def score_file(
    input_path,
    output_path=None,
    *,
    as_of=None,
    settings: Settings | None = None,
    model: str | None = None,
    models_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    target: str | None = None,
    horizon_days: int | None = None,
    words: dict[str, str] | None = None,
) -> dict:
    """Score one workbook or CSV and write the result workbook atomically; returns the summary.
    ``words``: a shell's words for the steps the result's problems and notes name (:func:`in_words`).
    A transaction log (a ``.parquet`` file or a folder) goes to :func:`score_log` with its defaults.

    Raises :class:`~processor.errors.UnusableInput` when the file cannot be used at all (not a
    workbook, encrypted, empty, or no sheet of a known kind). INPUT is never modified.
    """
    if is_log(str(input_path)):  # a Parquet file or a folder (the drop folder, the ribbon): the log path
        return score_log(str(input_path), output_path, as_of=as_of, settings=settings, progress=progress, words=words)
    with reuse_freed_memory():  # a 5M-row CSV: a third of the CPU went to faulting freed arrays in again
        return _score_workbook(
            input_path, output_path, as_of, settings, model, models_dir, progress, target, horizon_days, words
        )


def _score_workbook(
    input_path, output_path, as_of, settings, model, models_dir, progress, target, horizon_days, words
) -> dict:
    input_path = Path(input_path)
    output_path = Path(output_path) if output_path else default_output(input_path)
    if _same_file(output_path, input_path):
        raise UnusableInput(
            "輸出檔不能和輸入檔同名",
            step("other_output"),
            en="the output would overwrite the input",
            fix_en="choose another file name with -o",
        )
    if not output_path.parent.is_dir():
        raise UnusableInput(
            f"輸出資料夾 {output_path.parent} 不存在",
            "請先建立資料夾，或用 -o 指定已存在的資料夾",
            en=f"output folder {output_path.parent} does not exist",
            fix_en="create the folder first, or point -o to an existing folder",
        )
    raw = read_input(input_path)
    analysis = analyse(
        raw,
        as_of,
        settings,
        model=model,
        models_dir=models_dir,
        progress=progress,
        source_name=input_path.name,
        target=target,
        horizon_days=horizon_days,
    )
    if not analysis.parsed:
        described = []
        for sheet in [r for r in raw if not getattr(r, "result", False)][:3]:  # a refusal stays one short line
            _, shown, guess = describe_unrecognised(sheet.grid, limit=6)
            described.append(f"「{sheet.name}」標題 {shown}" + (f"，最接近「{guess}」" if guess else ""))
        raise UnusableInput(
            "找不到可分析的工作表：" + "；".join(described),
            step("use_template_headers") + "（標題列放在前 15 列內）",
            en="no sheet with recognisable headers (contacts, follow-ups, activities, transactions, "
            "campaign list or loan intake)",
            fix_en=step_en("use_template_headers") + " (header row within the first 15 rows)",
        )
    if all(len(s.frame) == 0 for s in analysis.parsed):
        names = "、".join(s.sheet for s in analysis.parsed)
        raise UnusableInput(
            f"工作表 {names} 只有標題列（或是空白表單），沒有資料",
            "請在標題列下方（或表單的值欄）填入資料再送出",
            en=f"sheet(s) {names} have headers (or a blank form) but no data",
            fix_en="fill in rows below the header row (or the form's value column) and submit again",
        )
    if words:
        analysis = in_words(analysis, words)
    if progress:
        progress(f"寫出 {output_path.name}")
    try:
        render(analysis, input_path, output_path, progress)
    except PermissionError as exc:
        raise UnusableInput(
            f"無法寫入 {output_path.name}（沒有權限，或檔案正在 Excel 開著）",
            "請關掉 Excel 中開著的結果檔，或用 -o 指定可寫入的位置",
            en=f"cannot write {output_path.name} (no permission, or it is open in Excel)",
            fix_en="close the result file in Excel, or choose a writable place with -o",
        ) from exc
    analysis.summary["output"] = str(output_path)
    return analysis.summary


@dataclass
class Training:
    """What ``train FILE`` did: the saved model (None when none could be trained, then ``error``),
    every data-check problem of the file and where they were written (``report``)."""

    path: Path | None
    result: propensity.CampaignResult | None
    problems: list
    report: Path
    settings: Settings
    error: UnusableInput | None = None
    sheet: str = ""  # the campaign list it learnt from


def list_to_train(parsed: list, target: str | None = None):
    """The campaign list ``train`` learns from: with ``target``, the first one; else the first
    whose known-result column is found the way ``score`` finds it
    (:func:`~processor.analyse.propensity.choose_label`), else the first. None without any."""
    campaigns = [s for s in parsed if s.kind.key == "campaign" and len(s.frame)]
    if not campaigns:
        return None
    if target is not None:
        return campaigns[0]
    return next((s for s in campaigns if propensity.choose_label(s).column is not None), campaigns[0])


def model_name(header) -> str:
    """A saved model's default name: its known-result column's header (e.g. 買A商品), safe as a file name.

    >>> model_name("買A商品/2024")
    '買A商品_2024'
    """
    name = "".join(ch if ch.isalnum() or ch in "-_. " else "_" for ch in str(header)).strip()[:80]
    return name or "model"


def train_file(input_path: str | Path, target: str | None, name: str | None, **options) -> Training:
    """``precision-list train``: :func:`train_sheets` on the sheets of a workbook or CSV."""
    return train_sheets(read_input(Path(input_path)), target, name, **options)


def train_sheets(
    sheets: list,
    target: str | None,
    name: str | None,
    *,
    settings: Settings | None = None,
    as_of: pd.Timestamp,
    trained_at: str,
    models_dir: str | Path | None = None,
    progress=lambda m: None,
) -> Training:
    """Train for every shell (the command line's ``train``, the ribbon's 訓練模型): read the sheets as
    ``score`` does (:func:`read_sheets`: their 設定 sheet over ``settings``, every sheet parsed and
    checked), train on the campaign list (the first one whose label is found) and save the model as
    ``name`` (None: the known-result column's header, :func:`model_name`); the 資料檢查 goes beside the
    model as ``NAME.資料檢查.csv``, also when nothing could be trained."""
    settings, parsed, problems = read_sheets(sheets, as_of, settings, progress)
    sheet = list_to_train(parsed, target)
    if sheet is None:
        raise UnusableInput(
            "找不到行銷名單工作表（要有客戶編號欄）",
            "標題列請包含「客戶編號」（或 UID、會員編號）與目標欄",
            en="no campaign list (a sheet with a customer id column) found",
            fix_en="the header row needs a customer id column (客戶編號, UID, 會員編號) and the target column",
        )
    if name is None:
        name = model_name(target if target is not None else propensity.choose_label(sheet).header)
    path = models.model_path(name, models_dir)
    result = propensity.score_sheet(sheet, settings, as_of, target=target, progress=progress)
    problems += result.problems
    saved, error = None, None
    try:
        saved = models.save_trained(
            sheet,
            result,
            name,
            settings=settings,
            as_of=as_of,
            trained_at=trained_at,
            models_dir=models_dir,
            progress=progress,
        )
    except UnusableInput as exc:  # nothing could be trained: the report still says why, in full
        error = exc
    report = path.with_name(f"{path.stem}.資料檢查.csv")
    report.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(report, suffix=".tmp") as tmp:
        problems_frame(mask_problem_ids(problems)).to_csv(tmp, index=False, encoding="utf-8-sig")
    return Training(saved, result, problems, report, settings, error, sheet.sheet)


#: file names of the full per-customer tables written by ``score --out-dir`` (the sheets' names)
FULL_TABLES = ("沉默排名", "客戶分群", "客戶價值")


def _full_tables(tables) -> tuple:
    """沉默排名, 客戶分群 and 客戶價值 of every customer with the sheets' headers (客戶價值 when it was computed)."""
    from processor.analyse import value as val

    silence, segments = tx.full_tables(tables.silence, tables.segments)
    if tables.value is None:
        return silence, segments
    labels = {k: v.format(h=tables.value.horizon_days) for k, v in val.LABELS.items()}
    return silence, segments, tables.value.table.rename(columns=labels)


def log_output(input_text: str) -> Path:
    """Default result workbook of a log: ``<name>.scored.xlsx`` beside the Parquet file, the folder,
    or the folder a glob looks in (never inside it, where it would join the log)."""
    path = Path(input_text)
    if path.is_dir():
        return path.parent / f"{path.name}.scored.xlsx"
    if path.suffix.lower() == ".parquet" and path.is_file():
        return default_output(path)
    folder = path.parent.resolve()
    return folder.parent / f"{folder.name}.scored.xlsx"


@reuse_freed_memory()  # the driver's global step over millions of customers: freed arrays reused, not faulted in
def score_log(
    input_text: str,
    output_path=None,
    *,
    out_dir=None,
    csv: bool = False,
    as_of=None,
    settings: Settings | None = None,
    engine: str = "auto",
    scheduler: str | None = None,
    memory_limit: str | None = None,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
    words: dict[str, str] | None = None,
) -> dict:
    """Score a transaction log (Parquet file, folder or glob of .parquet/.csv) on the chosen engine
    (:mod:`processor.engines`): the result workbook keeps 摘要, the top of each list and 資料檢查;
    ``out_dir`` gets every customer as Parquet (and CSV when asked), one file per sheet. ``words``: a
    shell's words for the steps the result names (:func:`in_words`), as :func:`score_file` takes them.

    Nothing partial is left behind: the tables are written to a hidden folder beside ``out_dir``
    and moved in only after the workbook is written; on any failure they are removed.
    """
    progress = progress or (lambda message: None)
    settings = settings or Settings()
    as_of = pd.Timestamp(as_of).normalize() if as_of is not None else pd.Timestamp.today().normalize()
    log = resolve_log(input_text)
    output_path = Path(output_path) if output_path else log_output(input_text)
    if not output_path.parent.is_dir():
        raise UnusableInput(
            f"輸出資料夾 {output_path.parent} 不存在",
            "請先建立資料夾，或用 -o 指定已存在的資料夾",
            en=f"output folder {output_path.parent} does not exist",
            fix_en="create the folder first, or point -o to an existing folder",
        )
    out_dir = Path(out_dir) if out_dir else None
    if out_dir is not None and not out_dir.parent.resolve().is_dir():
        raise UnusableInput(
            f"{step('out_dir')} 的上層資料夾 {out_dir.parent} 不存在",
            "請先建立它，或指定已存在的位置",
            en=f"the parent of --out-dir ({out_dir.parent}) does not exist",
            fix_en="create it first, or choose an existing place",
        )
    progress(f"{log.name}：{len(log.files)} 個檔案，約 {log.estimated_rows:,} 筆")
    tables = customer_tables(
        log,
        as_of,
        settings,
        engine=engine,
        scheduler=scheduler,
        memory_limit=memory_limit,
        workers=workers,
        progress=progress,
    )
    if tables.silence.empty:
        raise UnusableInput(
            f"{log.name} 沒有任何可用的購買紀錄（{tables.rows:,} 列都缺值、是退貨或 0 元、或晚於基準日）",
            "請確認 客戶編號、日期、金額 欄有資料，" + step("as_of_is_right"),
            en=f"{log.name} has no usable purchase ({tables.rows:,} rows)",
            fix_en="check the customer id, date and amount columns and " + step_en("as_of_is_right"),
        )
    staging = Path(tempfile.mkdtemp(prefix=f".~pl-{out_dir.name}-", dir=out_dir.parent)) if out_dir else None
    try:
        # the full tables are written on a second thread (Arrow encodes them without the GIL) while the sheets are built
        with beside(staging is not None) as run:
            if staging is not None:
                progress(f"寫出完整表格到 {out_dir}")
                written = run(_write_full_tables, _full_tables(tables), staging, csv)
            analysis, summary = _log_analysis(log, tables, as_of, settings, out_dir, words)
        if staging is not None:
            written.result()  # every table written before the workbook: a failure leaves neither
        progress(f"寫出 {output_path.name}")
        render(analysis, output_path, output_path, progress)
        if staging is not None:
            out_dir.mkdir(exist_ok=True)
            for path in sorted(staging.iterdir()):
                path.replace(out_dir / path.name)
            summary["out_dir"] = str(out_dir)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    summary["output"] = str(output_path)
    return summary


def _log_analysis(log, tables, as_of, settings: Settings, out_dir: Path | None, words) -> tuple[Analysis, dict]:
    """The result workbook's sheets of a scored log (摘要, the lists' tops, 資料檢查) and the summary."""
    built = build_sheets(tables.silence, tables.segments, tables.info, as_of, settings, value=tables.value)
    problems = mask_problem_ids(tables.problems)
    n_errors = sum(p.severity != WARNING for p in problems)
    files = pd.DataFrame(
        {
            "檔案": [f.path.name for f in log.files],
            "格式": [f.format for f in log.files],
            "大小(MB)": [round(f.bytes / 1e6, 1) for f in log.files],
        }
    )
    where = (
        [f"完整表格（每位客戶一列）：{out_dir / (name + '.parquet')}" for name in FULL_TABLES]
        if out_dir
        else [f"本活頁簿只列出每張表的前 {tx.MAX_LISTED:,} 位；{step('full_tables')}。"]
    )
    overview = ResultSheet(
        "摘要",
        (Block(files, title="交易紀錄檔", as_table=False), *built["summary_blocks"]),
        (
            f"精準名單 結果摘要　{log.name}",
            f"基準日 {as_of:%Y/%m/%d}；{tables.rows:,} 筆交易、{len(tables.silence):,} 位客戶（引擎 {tables.engine}）；"
            f"資料問題 {n_errors} 個錯誤、{len(problems) - n_errors} 個提醒（見 資料檢查）。",
            *where,
        ),
        lead=f"結果摘要　{log.name}　基準日 {as_of:%Y/%m/%d}；{len(tables.silence):,} 位客戶。" + " ".join(where),
    )
    check = ResultSheet(
        "資料檢查",
        (Block(problems_frame(problems), widths={"問題": 30, "如何修正": 40}),),
        ("資料檢查：每一列是一個問題；「列」是 CSV 檔的行號，Parquet 與計數的問題不標列號（原始檔沒有被修改）。",),
        lead="資料檢查：每一列是一個問題，第一欄是嚴重度；照「如何修正」改好再送一次即可（「列」是 CSV 檔中的行號）。",
    )
    summary = {
        "file": log.name,
        "as_of": f"{as_of:%Y-%m-%d}",
        "rows": int(tables.rows),
        "files": [f.path.name for f in log.files],
        "engine": tables.engine,
        **tables.details,
        "sheets": [
            {"sheet": log.name, "kind": "transactions", "rows": int(tables.rows), "header_row": 1, "layout": "table"}
        ],
        "problems": {"errors": n_errors, "warnings": len(problems) - n_errors},
        "result_sheets": [overview.name] + [s.name for s in built["sheets"]] + [check.name],
        **built["summary"],
    }
    analysis = Analysis([], [], problems, [overview, *built["sheets"], check], summary, settings)
    if words:
        analysis = in_words(analysis, words)
    return analysis, summary


def _write_full_tables(frames, folder: Path, csv: bool) -> None:
    """Each table as ``folder/<name>.parquet`` (and ``.csv`` when asked); label columns dictionary-encoded
    (a handful of values), the rest plain: a dictionary tried on millions of distinct numbers is wasted work."""
    for name, frame in zip(FULL_TABLES, frames):
        labels = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
        frame.to_parquet(folder / f"{name}.parquet", index=False, use_dictionary=labels)
        if csv:
            frame.to_csv(folder / f"{name}.csv", index=False, encoding="utf-8-sig")
