"""The 精準名單 ribbon tab's handlers: ``dispatch(control_id)`` runs the button's handler.

VBA's one callback (``OnRibbonAction``) calls ``addin.ribbon.dispatch('<button id>')``. Each
analysis button runs the same pipeline as ``precision-list score`` (:func:`processor.pipeline.analyse`)
on the open workbook's sheets, renders the result sheets with the one renderer
(:func:`processor.sheets.report.render`) into a temporary .xlsx, and has the adapter copy those
sheets into the workbook — so names, formats and charts are the service's own. Handlers see
only :class:`addin.adapter.OpenWorkbook`; nothing here imports xlwings.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pandas as pd

from processor.errors import UnusableInput
from processor.models import ModelError, load_model, load_model_cached, model_path
from processor.pipeline import analyse, in_words, not_produced, train_sheets
from processor.read import schema
from processor.read.workbook import RESULT_SHEETS_KEY, WORKBOOK_SUFFIXES
from processor.sheets import templates
from processor.sheets.report import HELP_SHEET, render

from .adapter import CONFIG_SHEET, OpenWorkbook
from .messages import IN_EXCEL, MODEL_FIX, in_excel

TITLE = "精準名單"
INFO_SHEET = "說明"
MODEL_KEY = "MODEL"  # xlwings.conf: the saved model 購買機率 / 全部執行 score campaign lists with
CHECK_SHEET = "資料檢查"

#: button id → (result sheets it puts into the workbook (None: all), the sheet kind it reads);
#: 資料檢查 always comes along so every problem is visible
ANALYSES: dict[str, tuple[tuple[str, ...] | None, str | None]] = {
    "segments": (("客戶分群",), "transactions"),
    "silence": (("沉默排名",), "transactions"),
    "propensity": (("精準名單", "模型評估"), "campaign"),
    "run_all": (None, None),
    "check": ((), None),
}


def _today() -> pd.Timestamp:
    return pd.Timestamp.today().normalize()  # the shell's clock; the core only gets as_of


def _config_text(book: OpenWorkbook | None, key: str) -> str:
    value = book.config().get(key) if book is not None else None
    return "" if value is None else str(value).strip()


def _beside_workbook(book: OpenWorkbook | None, path: Path) -> Path:
    """A relative path in xlwings.conf or in a formula means "next to this workbook", not Excel's
    working folder (wherever Excel happened to start)."""
    home = book.path() if book is not None else None
    return path if path.is_absolute() or home is None else home.parent / path


def _config_path(book: OpenWorkbook | None, key: str) -> Path | None:
    text = _config_text(book, key)
    return _beside_workbook(book, Path(os.path.expandvars(text))) if text else None


def models_dir(book: OpenWorkbook | None) -> Path:
    """Where trained models live: xlwings.conf MODELS_DIR, else DROP_FOLDER/models, else
    $PRECISION_LIST_MODELS, else ~/精準名單/models (the ribbon and PL_PROB use this one rule;
    a relative folder is taken from the workbook's folder)."""
    configured = _config_path(book, "MODELS_DIR")
    if configured:
        return configured
    drop = _config_path(book, "DROP_FOLDER")
    if drop:
        return drop / "models"
    env = os.environ.get("PRECISION_LIST_MODELS")
    return Path(env) if env else Path.home() / "精準名單" / "models"


def model_file(book: OpenWorkbook | None, name_or_path: str) -> Path:
    """The .skops file of a model given by name (in :func:`models_dir`) or by path (a relative
    path is taken from the workbook's folder)."""
    path = model_path(str(name_or_path).strip(), models_dir(book))  # a name → models folder; a path as given
    return _beside_workbook(book, path)


def saved_model(book: OpenWorkbook | None, name_or_path: str) -> dict:
    """The saved model (cached, reloaded when its file changes); a missing one is a ModelError
    whose fix is the Excel step."""
    path = model_file(book, name_or_path)
    if not path.is_file():
        raise ModelError(f"找不到模型「{name_or_path}」（{path}）", MODEL_FIX)
    return load_model_cached(path)


def _newest_first(path: Path) -> tuple:
    return (-path.stat().st_mtime_ns, path.name)


def newest_model(book: OpenWorkbook | None) -> Path | None:
    """The most recently saved model in the models folder, if any."""
    folder = models_dir(book)
    found = [p for p in folder.glob("*.skops") if p.is_file()] if folder.is_dir() else []
    return min(found, key=_newest_first) if found else None


def _model_for(book: OpenWorkbook, control_id: str) -> Path | None:
    """The saved model a button scores campaign lists with: xlwings.conf MODEL if filled in; for
    購買機率, failing that, the newest model in the models folder; else none (the list's own
    labelled rows train a model, as in the shared-folder service)."""
    configured = _config_text(book, MODEL_KEY)
    if configured:
        path = model_file(book, configured)
        if not path.is_file():
            raise UnusableInput(f"找不到 {CONFIG_SHEET} 的 {MODEL_KEY} 指定的模型「{configured}」（{path}）", MODEL_FIX)
        return path
    return newest_model(book) if control_id == "propensity" else None


def _previous_results(book: OpenWorkbook) -> list[str]:
    text = book.config().get(RESULT_SHEETS_KEY) or ""
    return [n for n in str(text).split("|") if n]


def _input_sheets(book: OpenWorkbook) -> list:
    """The rep's own sheets: not the config, not the start page, not results we put in before."""
    skip = {CONFIG_SHEET, INFO_SHEET, *_previous_results(book)}
    return [raw for raw in book.read_sheets() if raw.name not in skip]


def _put_results(book: OpenWorkbook, analysis, wanted: tuple[str, ...] | None) -> list[str]:
    """Render the chosen result sheets with processor.sheets.report.render and copy them in, replacing
    the ones an earlier button put there."""
    sheets = [s for s in analysis.sheets if wanted is None or s.name in wanted or s.name == "資料檢查"]
    previous = _previous_results(book)
    # the help sheet is written anew with every run (its sections follow the sheets written)
    replace = [name for name in previous if wanted is None or name in {s.name for s in sheets} | {HELP_SHEET}]
    with tempfile.TemporaryDirectory(prefix="precision-list-") as tmp:
        rendered = Path(tmp) / "results.xlsx"
        # raw=[]: render only the result sheets; the rep's own sheets stay as they are in the book
        render(dataclasses.replace(analysis, raw=[], sheets=sheets), rendered, rendered)
        added = book.put_sheets(rendered, replace)
    kept = [n for n in previous if n not in replace]
    book.set_config(RESULT_SHEETS_KEY, "|".join(kept + added))
    return added


def _in_excel(analysis):
    """The analysis worded for Excel (:data:`addin.messages.IN_EXCEL`): the rep has no command line."""
    return in_words(analysis, IN_EXCEL)


def _not_produced(analysis, label: str, kind_key: str, model: Path | None, folder: Path) -> UnusableInput:
    """Why a button's sheets are missing, in Excel's words: the core's diagnosis
    (:func:`processor.pipeline.not_produced`), the same one ``score`` reports in 資料檢查."""
    kind = schema.KINDS[kind_key]
    why = not_produced(analysis, kind_key)
    names = "、".join(f"「{name}」" for name in why.sheets)
    if why.reason == "no_sheet":
        required = "、".join(f.label for f in kind.fields if f.required)
        return UnusableInput(
            f"沒有產生「{label}」：找不到「{kind.label}」工作表（要有 {required} 欄）",
            f"請用 精準名單 › 插入範本工作表 › {kind.label}，貼上資料再按一次",
            en=f"no {kind.key} sheet",
        )
    if why.reason == "headers_only":
        return UnusableInput(
            f"沒有產生「{label}」：{names} 工作表只有標題列，沒有資料",
            "請在標題列下方貼上資料再按一次",
            en=f"{kind.key} sheet has headers but no rows",
        )
    if why.reason == "stopped":
        # where the add-in looked for a saved model is the shell's own fact, said beside the core's reason
        no_model = f"；模型資料夾（{folder}）也沒有已存的模型" if kind_key == "campaign" and model is None else ""
        problem = in_excel(why.problem)
        return UnusableInput(
            f"沒有產生「{label}」：{names} {problem.problem}{no_model}",
            problem.fix,
            en=f"{kind.key}: stopped by a problem of the list",
            sheet=why.problem.sheet,
            column=why.problem.column,
        )
    return UnusableInput(
        f"沒有產生「{label}」：{names} 的 {why.rows:,} 列資料都無法使用",
        f"原因見「{CHECK_SHEET}」工作表",
        en=f"no usable rows in the {kind.key} sheet",
    )


def run_analysis(book: OpenWorkbook, control_id: str) -> str:
    """客戶分群 / 沉默排名 / 購買機率 / 全部執行 / 檢查資料: the pipeline on the open workbook."""
    wanted, kind = ANALYSES[control_id]
    raw = _input_sheets(book)
    if not raw:
        raise UnusableInput("這個活頁簿沒有資料工作表", "請先用 精準名單 › 插入範本工作表，貼上資料再按一次")
    model = _model_for(book, control_id)
    analysis = analyse(
        raw,
        _today(),
        model=str(model) if model else None,
        models_dir=models_dir(book),
        progress=book.status,
        source_name=book.name,
    )
    if not analysis.parsed:
        raise UnusableInput("找不到可分析的工作表", "請使用 精準名單 › 插入範本工作表 的欄名（標題列放在前 15 列內）")
    analysis = _in_excel(analysis)
    produced = {s.name for s in analysis.sheets}
    if wanted and not produced & set(wanted):
        label = "、".join(wanted)
        problem = _not_produced(analysis, label, kind, model, models_dir(book))
        if any(s.kind.key == kind and len(s.frame) for s in analysis.parsed):
            _put_results(book, analysis, ())  # the reasons, row by row, in 資料檢查
        raise problem
    added = _put_results(book, analysis, wanted)
    errors = analysis.summary["problems"]["errors"]
    return (
        f"完成：加入 {'、'.join(added)}"
        + _scored_with(analysis, model)
        + (f"；資料有 {errors} 個錯誤，見「{CHECK_SHEET}」" if errors else "")
    )


def _scored_with(analysis, model: Path | None) -> str:
    """How the campaign lists were scored (the model file as the rep sees it in the models folder)."""
    if not analysis.summary.get("precision_list"):
        return ""
    return (
        f"（用已存模型「{model.stem}」評分）"
        if model is not None
        else "（用這份名單的已知結果訓練；要保存模型給新名單用，請按 訓練模型）"
    )


def insert_template(book: OpenWorkbook, kind_key: str) -> str:
    """插入範本工作表: the schema's blank template for one sheet kind, copied into the workbook."""
    kind = schema.KINDS[kind_key]
    with tempfile.TemporaryDirectory(prefix="precision-list-") as tmp:
        path = Path(tmp) / "template.xlsx"
        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        templates.add_template_sheets(wb, [kind.key], settings=False)
        wb.save(path)
        added = book.put_sheets(path, [])
    return f"已插入範本工作表 {'、'.join(added)}：一列是{kind.one_row_is}"


def train(book: OpenWorkbook) -> str:
    """訓練模型: train the purchase-probability model on the labelled rows of the 行銷名單 sheet
    and save it in the models folder under the name of its label column (e.g. 買A商品)."""
    done = train_sheets(
        _input_sheets(book),
        None,
        None,
        as_of=_today(),
        trained_at=pd.Timestamp.now().isoformat(timespec="seconds"),
        models_dir=models_dir(book),
        progress=book.status,
    )
    if done.error is not None:
        raise done.error
    name = done.path.stem
    return (
        f"已用「{done.sheet}」訓練模型「{name}」，存於 {done.path}；新名單按 購買機率 即用最新的模型評分，"
        f'公式可用 =PL_PROB(表格, "{name}")'
    )


def model_info(book: OpenWorkbook) -> str:
    """模型說明: the saved models in the models folder, newest first, with what each was trained on."""
    folder = models_dir(book)
    models = sorted((p for p in folder.glob("*.skops") if p.is_file()), key=_newest_first) if folder.is_dir() else []
    if not models:
        return f"{folder} 還沒有模型：請用 訓練模型 建立，或在 xlwings.conf 的 MODELS_DIR 填共用模型資料夾"
    try:
        in_use = _model_for(book, "propensity")
    except UnusableInput:
        in_use = None
    lines = []
    for path in models[:15]:
        line = f"{path.stem}　{pd.Timestamp(path.stat().st_mtime, unit='s'):%Y/%m/%d %H:%M}"
        if in_use is not None and path.resolve() == in_use.resolve():
            line += "　（購買機率 用這個）"
        try:
            meta = load_model(path)["meta"]
            line += (
                f"　目標「{meta.get('target', '')}」、{meta.get('rows_trained', '?')} 列訓練、"
                f"模型 {meta.get('chosen', '?')}"
            )
        except Exception as error:  # noqa: BLE001 - one unreadable file must not hide the others
            line += f"　無法讀取：{error}"
        lines.append(line)
    return f"模型資料夾 {folder}：\n" + "\n".join(lines)


def _drop_folder(book: OpenWorkbook) -> Path:
    folder = _config_path(book, "DROP_FOLDER")
    if folder is None:
        raise UnusableInput(
            "還沒設定共用資料夾", f"請在「{CONFIG_SHEET}」工作表的 DROP_FOLDER 填共用資料夾路徑（內含 inbox、outbox）"
        )
    if not (folder / "inbox").is_dir():
        raise UnusableInput(f"找不到共用資料夾 {folder / 'inbox'}", "請確認 DROP_FOLDER 路徑與網路磁碟已連線")
    return folder


def submit(book: OpenWorkbook) -> str:
    """送出評分: a copy of the workbook into DROP_FOLDER/inbox, written under a temp name first
    so the service never sees half a file (DROPFOLDER.md: *.tmp is ignored, then renamed)."""
    inbox = _drop_folder(book) / "inbox"
    # Excel saves the copy in the book's own format: an .xls/.xlsb/.ods keeps its suffix (the service
    # reads them all; an OLE .xls named .xlsx would never open as the zip an .xlsx must be)
    name = book.name if Path(book.name).suffix.lower() in WORKBOOK_SUFFIXES else f"{book.name}.xlsx"
    final = inbox / name
    tmp = inbox / f"{name}.tmp"
    book.save_copy(tmp)
    os.replace(tmp, final)
    saved = "（Excel for Mac 無法另存副本，已先儲存這個活頁簿）" if getattr(book, "saves_before_copy", False) else ""
    return f"已送出 {final}{saved}；服務評分後按 取回結果"


def fetch(book: OpenWorkbook) -> str:
    """取回結果: open the newest outbox/<this workbook's name>*.scored.xlsx."""
    outbox = _drop_folder(book) / "outbox"
    stem = Path(book.name).stem
    found = sorted(outbox.glob(f"{stem}*.scored.xlsx"), key=lambda p: p.stat().st_mtime, reverse=True)
    if not found:
        raise UnusableInput(
            f"outbox 還沒有 {stem} 的結果", "請稍候再按一次；若很久沒有結果，請看 failed 資料夾的錯誤說明"
        )
    book.open_file(found[0])
    return f"已開啟 {found[0].name}"


HANDLERS: dict[str, Callable[[OpenWorkbook], str]] = {
    **{key: (lambda book, key=key: run_analysis(book, key)) for key in ANALYSES},
    "train": train,
    "model_info": model_info,
    "submit": submit,
    "fetch": fetch,
    **{f"template_{key}": (lambda book, key=key: insert_template(book, key)) for key in schema.KINDS},
}


def handler_for(control_id: str) -> Callable[[OpenWorkbook], str] | None:
    return HANDLERS.get(control_id)


def dispatch(control_id: str, book: OpenWorkbook | None = None) -> str:
    """Run one button: status-bar progress, then a message box with the outcome or the problem.

    ``book`` defaults to the Excel workbook that called (xlwings); tests pass a FileWorkbook.
    """
    if book is None:  # only inside Excel: the handlers above never import xlwings (module docstring)
        from .excel import ExcelWorkbook

        book = ExcelWorkbook.caller()
    handler = handler_for(control_id)
    if handler is None:
        book.message(f"不認得的按鈕：{control_id}", error=True)
        return ""
    book.status(f"{TITLE}：處理中…")
    try:
        outcome = handler(book)
        book.message(outcome)
        return outcome
    except UnusableInput as problem:
        text = str(in_excel(problem))
        book.message(text, error=True)
        return text
    except Exception as error:  # noqa: BLE001 - a button must end in a dialog, not a traceback
        text = f"{TITLE} 發生錯誤：{type(error).__name__}: {error}"
        book.message(text, error=True)
        return text
    finally:
        book.status(None)
