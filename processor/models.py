"""Saving and loading trained purchase-probability models, safely.

A model file lives on the shared drive, where anyone could replace it. It is therefore never a
pickle: it is a skops file (a zip of JSON and numpy arrays) whose object types are checked
against an explicit allow-list before anything is built; the logistic regression, the
features and all metadata are plain JSON inside it. A file carrying any other type — e.g. a
function such as ``os.system`` smuggled in, or a pickle renamed to ``.skops`` — is refused with
:class:`ModelError` and nothing in it runs.

Where models live: ``--models DIR``, else the ``PRECISION_LIST_MODELS`` environment variable,
else ``./models``. A model called NAME is the file ``NAME.skops`` there.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UnusableInput
from .propensity import (BOOLEAN, CATEGORY, DATE, KIND_LABELS, CampaignResult, Feature, Fitted, LogitFit,
                         design_matrix, data_fingerprint, nan_to_none, score_campaign)
from .settings import Settings

FORMAT = "precision-list-model/1"
SUFFIX = ".skops"
MODELS_ENV = "PRECISION_LIST_MODELS"
#: the only non-builtin types a model file may contain (besides skops' own defaults: numpy
#: arrays, sklearn estimators it trusts by default, builtins such as dict/list/str)
ALLOWED_TYPES = frozenset({
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
})
_NAME = re.compile(r"^[\w\-. ]{1,80}$")


class ModelError(Exception):
    """A model cannot be used (missing, tampered, incompatible); ``fix`` says what to do."""

    def __init__(self, what: str, fix: str = ""):
        self.what, self.fix = what, fix
        super().__init__(what)


def default_models_dir(explicit: str | Path | None = None) -> Path:
    """``explicit``, else $PRECISION_LIST_MODELS, else ./models."""
    return Path(explicit or os.environ.get(MODELS_ENV) or "models")


def model_path(name_or_path: str | Path, models_dir: str | Path | None = None) -> Path:
    """The file of a model given by NAME (in the models folder) or by a path to a .skops file.

    >>> model_path("A商品", "/share/models").as_posix()
    '/share/models/A商品.skops'
    """
    text = str(name_or_path)
    if text.endswith(SUFFIX) or os.sep in text or "/" in text:
        return Path(text)
    if not _NAME.match(text) or text.startswith("."):
        raise ModelError(f"模型名稱「{text}」不能用", "名稱只用中英文、數字、- _ . 與空白，最多 80 字")
    return default_models_dir(models_dir) / f"{text}{SUFFIX}"


def _fitted_json(fitted: Fitted) -> dict:
    logit: LogitFit = fitted.estimators["logit"]
    return {
        "features": [{"column": f.column, "kind": f.kind, "levels": list(f.levels), "fill": f.fill,
                      "has_missing": f.has_missing} for f in fitted.features],
        "design": fitted.design, "chosen": fitted.chosen, "cutoff": fitted.cutoff,
        "calibration": {k: list(v) for k, v in fitted.calibration.items()},
        "economics": fitted.economics,
        "logit": {"names": logit.names, "params": logit.params.tolist(), "bse": logit.bse.tolist(),
                  "pvalues": logit.pvalues.tolist(), "regularised": logit.regularised},
        "cv": json.loads(fitted.cv.to_json(orient="records", force_ascii=False)),
    }


def _fitted_from(data: dict, tree, boosting) -> Fitted:
    lg = data["logit"]
    logit = LogitFit(lg["names"], np.array(lg["params"], float), np.array(lg["bse"], float),
                     np.array(lg["pvalues"], float), bool(lg["regularised"]))
    features = [Feature(f["column"], f["kind"], tuple(f["levels"]), float(f["fill"]), bool(f["has_missing"]))
                for f in data["features"]]
    if any(f.kind not in KIND_LABELS for f in features):
        raise ModelError("模型檔內容不正確（不認得的欄位型態）", "請重新訓練模型")
    return Fitted(features, list(data["design"]), {"logit": logit, "tree": tree, "boosting": boosting},
                  {k: tuple(v) for k, v in data["calibration"].items()}, data["chosen"], pd.DataFrame(data["cv"]),
                  pd.Series(dtype=float), float(data["cutoff"]), dict(data["economics"]))


def save_model(fitted: Fitted, meta: dict, path: Path) -> Path:
    """Write the model atomically (temp file + rename), so a reader never sees half a file."""
    import skops.io as sio

    bundle = {"format": FORMAT, "meta": json.dumps(meta, ensure_ascii=False, default=str),
              "fitted": json.dumps(_fitted_json(fitted), ensure_ascii=False),
              "tree": fitted.estimators["tree"], "boosting": fitted.estimators["boosting"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        sio.dump(bundle, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_model(path: str | Path) -> dict:
    """Load a model file without executing anything in it.

    Types are read from the file's manifest first; any type outside :data:`ALLOWED_TYPES`
    (and skops' own safe defaults) refuses the file. Returns {"fitted", "meta", "name", "path"}.
    """
    import skops.io as sio

    path = Path(path)
    if not path.exists():
        raise ModelError(f"找不到模型檔 {path}", "請先用 precision-list train 訓練，或確認 --models 資料夾")
    tampered = ("模型檔不是有效的模型（可能被竄改或損毀），已拒絕載入", "請重新訓練模型，並確認共用資料夾的寫入權限")
    try:
        untrusted = set(sio.get_untrusted_types(file=path))
    except (zipfile.BadZipFile, KeyError, ValueError, json.JSONDecodeError, TypeError):
        raise ModelError(*tampered) from None
    unexpected = untrusted - ALLOWED_TYPES
    if unexpected:
        raise ModelError(f"模型檔含有不允許的內容（{', '.join(sorted(unexpected))[:200]}），可能被竄改，已拒絕載入",
                         tampered[1])
    try:
        bundle = sio.load(path, trusted=sorted(untrusted))
        if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
            raise ModelError(*tampered)
        fitted = _fitted_from(json.loads(bundle["fitted"]), bundle["tree"], bundle["boosting"])
        meta = json.loads(bundle["meta"])
    except ModelError:
        raise
    except Exception:  # any malformed content is the same answer for a rep: not a usable model
        raise ModelError(*tampered) from None
    return {"fitted": fitted, "meta": meta, "name": meta.get("name", path.stem), "path": str(path)}


_CACHE: dict[str, tuple[int, int, dict]] = {}


def load_model_cached(name_or_path: str | Path, models_dir: str | Path | None = None) -> dict:
    """:func:`load_model`, cached per file and reloaded when its mtime or size changes (for PL_PROB)."""
    path = model_path(name_or_path, models_dir)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ModelError(f"找不到模型「{name_or_path}」（{path}）",
                         f"請先用 precision-list train 訓練，或設定 --models / {MODELS_ENV}") from None
    key = str(path.resolve())
    hit = _CACHE.get(key)
    if hit and hit[0] == stat.st_mtime_ns and hit[1] == stat.st_size:
        return hit[2]
    model = load_model(path)
    _CACHE[key] = (stat.st_mtime_ns, stat.st_size, model)
    return model


def predict_proba(model: dict, frame: pd.DataFrame, as_of: pd.Timestamp | None = None) -> np.ndarray:
    """Calibrated purchase probabilities for rows whose columns carry the training headers.

    For the PL_PROB UDF. Missing columns raise :class:`ModelError` naming them (the file shell's
    ``score --model`` instead fills them with training values and warns); unseen categories
    count as 其他. ``as_of`` is needed only when the model uses a date column.

    >>> # predict_proba(load_model_cached("A商品"), pd.DataFrame({"年齡": [45], ...}))
    """
    fitted: Fitted = model["fitted"]
    missing = [f.column for f in fitted.features if f.column not in frame]
    if missing:
        raise ModelError(f"缺少模型需要的欄位：{'、'.join(missing)}", "欄名要和訓練時相同")
    if as_of is None:
        if any(f.kind == DATE for f in fitted.features):
            raise ModelError("此模型用到日期欄，需要指定今天的日期", "請提供 as_of")
        as_of = pd.Timestamp("2000-01-01")  # unused: no date features
    X, _ = design_matrix(frame, fitted.features, as_of)
    return fitted.predict(X)


def _target_column(parsed, target: str) -> str:
    from .schema import normalise_header

    wanted = normalise_header(target)
    if normalise_header(parsed.headers.get("label", "")) == wanted:
        return "label"
    for column in parsed.frame.columns:
        if column not in ("customer_id", "label") and normalise_header(column) == wanted:
            return column
    if "label" in parsed.headers and wanted in ("label", normalise_header("是否購買")):
        return "label"
    raise UnusableInput(f"在工作表「{parsed.sheet}」找不到目標欄「{target}」",
                        f"目標欄要寫標題列上的欄名，例如 {parsed.headers.get('label') or '買A商品'}",
                        en=f"target column {target!r} not found on sheet {parsed.sheet!r}",
                        fix_en="give --target the column name exactly as the header row spells it")


def train_model(parsed, target: str, name: str, *, settings: Settings, as_of: pd.Timestamp, trained_at: str,
                models_dir: str | Path | None = None, progress=lambda m: None) -> tuple[Path, CampaignResult]:
    """Train on one parsed campaign sheet and save it as NAME (see :func:`score_campaign` for how
    the rows are split). The saved model is the one trained on the training rows, so the saved
    metrics describe exactly it. Raises UnusableInput when no model can be trained."""
    path = model_path(name, models_dir)
    label = _target_column(parsed, target)
    header = parsed.headers.get(label, target)
    result = score_campaign(parsed.frame, parsed.sheet, settings, as_of, label=label, label_header=header,
                            progress=progress)
    if result.fitted is None:
        errors = [p for p in result.problems if p.severity == "錯誤"] or result.problems
        first = errors[0] if errors else None
        raise UnusableInput(first.problem if first else "無法訓練模型", first.fix if first else "",
                            en="cannot train a model on this list",
                            fix_en="see 資料檢查 for the reason (e.g. too few labelled rows or only one class)")
    e = result.evaluation or {}
    fitted = result.fitted
    meta = {
        "name": name, "trained_at": trained_at, "as_of": str(as_of.date()), "source_sheet": parsed.sheet,
        "target": header, "id_column": parsed.headers.get("customer_id", "客戶編號"),
        "fingerprint": data_fingerprint(result.train_frame),
        "rows_trained": int(len(result.train_frame)),
        "buyers_trained": int(result.labels.loc[result.train_frame.index].sum()),
        "features": [{"column": f.column, "kind": f.kind, "kind_label": KIND_LABELS[f.kind],
                      "levels": list(f.levels)} for f in fitted.features],
        "ignored": result.ignored.to_dict(orient="records"),
        "chosen": fitted.chosen, "cutoff": fitted.cutoff, "economics": fitted.economics,
        "evaluation": {"source": result.eval_source, **{k: nan_to_none(v) for k, v in e.items()}},
        "cv": json.loads(fitted.cv.to_json(orient="records", force_ascii=False)),
        "versions": _versions(),
    }
    save_model(fitted, meta, path)
    return path, result


def _versions() -> dict:
    import sklearn
    import statsmodels

    return {"scikit-learn": sklearn.__version__, "statsmodels": statsmodels.__version__}


__all__ = ["ModelError", "load_model", "load_model_cached", "save_model", "predict_proba", "train_model",
           "model_path", "default_models_dir", "ALLOWED_TYPES", "BOOLEAN", "CATEGORY"]
