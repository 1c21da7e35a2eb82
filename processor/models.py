"""Saving and loading trained purchase-probability models, safely.

A model file lives on the shared drive, where anyone could replace it. It is therefore never a
pickle: it is a skops file (a zip of JSON and numpy arrays) whose object types are checked
against an explicit allow-list before anything is built; the logistic regression, the
features and all metadata are plain JSON inside it. A file carrying any other type — e.g. a
function such as ``os.system`` smuggled in, or a pickle renamed to ``.skops`` — is refused with
:class:`ModelError` and nothing in it runs.

The allow-list has two sklearn types skops itself does not trust: the decision tree's ``Tree``
and gradient boosting's ``TreePredictor``. Their node tables hold raw child and feature indices
that sklearn's compiled predict code follows without bounds checks, so a file with one index
edited could crash the process. After loading and before anything predicts, every node table
is therefore checked (:func:`check_fitted`): exact types, dtypes and shapes, every child index
pointing forward inside its own table (so no loop, no stray read), every feature index inside
the model's columns, no categorical splits, finite values; likewise the JSON half (chosen model,
calibration pairs, features and the design they imply). Anything off: "可能被竄改，已拒絕載入".

Optionally a model is also signed: with a key configured (:func:`signing_key`), ``save_model``
adds an HMAC-SHA256 over every member of the file and ``load_model`` refuses a file whose
signature is missing or wrong before even reading its manifest. The key must not be on the
share (see docs/precision-list.md "Signed models" for where it lives for the CLI, the service
and the Excel add-in).

Where models live: ``--models DIR``, else the ``PRECISION_LIST_MODELS`` environment variable,
else ``./models``. A model called NAME is the file ``NAME.skops`` there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from processor.analyse.propensity import (
    BOOLEAN,
    CATEGORY,
    DATE,
    KIND_LABELS,
    MODELS,
    OTHER,
    CampaignResult,
    Feature,
    Fitted,
    LogitFit,
    data_fingerprint,
    design_matrix,
    nan_to_none,
    refit,
    score_sheet,
)
from processor.errors import UnusableInput, step, step_en
from processor.read.workbook import atomic_output
from processor.settings import Settings

FORMAT = "precision-list-model/2"  # /2: pooled levels kept per feature; files of /1 are refused (retrain)
SUFFIX = ".skops"
MODELS_ENV = "PRECISION_LIST_MODELS"
KEY_ENV, KEY_FILE_ENV = "PRECISION_LIST_MODEL_KEY", "PRECISION_LIST_MODEL_KEY_FILE"
SIGNATURE = "precision-list.signature"  # the zip member holding the HMAC (not part of what it signs)
MIN_KEY_BYTES = 16
MAX_MODEL_BYTES = 64_000_000  # a model is ~1–2 MB; anything near this is not one of ours
MAX_UNZIPPED_BYTES = 256_000_000
#: the only non-builtin types a model file may contain (besides skops' own defaults: numpy
#: arrays, sklearn estimators it trusts by default, builtins such as dict/list/str); both are
#: structurally checked after loading (see the module docstring)
ALLOWED_TYPES = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    }
)
_NAME = re.compile(r"^[\w\-. ]{1,80}$")
TAMPERED = "可能被竄改，已拒絕載入"
RETRAIN = "請重新訓練模型，並確認共用資料夾的寫入權限"


class ModelError(UnusableInput):
    """A model cannot be used (missing, tampered, incompatible); ``fix`` says what to do.

    An :class:`UnusableInput`, so the CLI, the drop folder, the ribbon and the UDFs show it as
    they show any other unusable input (message and fix), with no conversion of their own."""


def _tampered(reason: str) -> ModelError:
    return ModelError(
        f"模型檔內容不正確（{reason}），{TAMPERED}",
        RETRAIN,
        en=f"the model file is malformed ({reason}) and may have been tampered with; refused",
        fix_en="retrain the model and check who can write to the shared folder",
    )


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
        raise ModelError(
            f"模型名稱「{text}」不能用",
            "名稱只用中英文、數字、- _ . 與空白，最多 80 字",
            en=f"model name {text!r} is not allowed",
            fix_en="use letters, digits, - _ . and spaces (≤ 80)",
        )
    return default_models_dir(models_dir) / f"{text}{SUFFIX}"


# --------------------------------------------------------------------------- signatures


def default_key_file() -> Path:
    """Where the signing key is looked for when no environment variable names one: the user's own
    settings folder (%APPDATA%\\precision-list\\model.key on Windows, ~/.config/precision-list/model.key
    elsewhere) — a place on each person's machine, never the shared drive."""
    base = os.environ.get("APPDATA") or os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "precision-list" / "model.key"


def signing_key() -> bytes | None:
    """The model-signing key: $PRECISION_LIST_MODEL_KEY, else the file $PRECISION_LIST_MODEL_KEY_FILE,
    else :func:`default_key_file`; None when none is configured (models are then unsigned)."""
    text = os.environ.get(KEY_ENV, "").strip()
    if text:
        key = text.encode()
    else:
        path = Path(os.environ.get(KEY_FILE_ENV) or default_key_file())
        try:
            key = path.read_bytes().strip()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        if not key:
            return None
    if len(key) < MIN_KEY_BYTES:
        raise ModelError(
            f"模型簽章金鑰太短（至少 {MIN_KEY_BYTES} 個字元）",
            '請用 python -c "import secrets; print(secrets.token_hex(32))" 產生金鑰',
            en=f"the model signing key is shorter than {MIN_KEY_BYTES} bytes",
            fix_en="generate one with secrets.token_hex(32)",
        )
    return key


def _mac(archive: zipfile.ZipFile, key: bytes) -> str:
    """HMAC-SHA256 over every member but the signature: names and contents, in name order."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for name in sorted(n for n in archive.namelist() if n != SIGNATURE):
        mac.update(name.encode() + b"\0" + hashlib.sha256(archive.read(name)).digest())
    return mac.hexdigest()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"precision-list key id\0" + key).hexdigest()[:12]


def sign_file(path: Path, key: bytes) -> None:
    """Add the signature member to a freshly written model file."""
    with zipfile.ZipFile(path) as archive:
        mac = _mac(archive, key)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(SIGNATURE, json.dumps({"alg": "HMAC-SHA256", "key_id": _key_id(key), "mac": mac}))


def verify_file(path: Path, key: bytes | None) -> str:
    """ "verified", "unsigned" (no key configured, so nothing to check) or raises ModelError.

    With a key, a file without a signature or with a wrong one is refused (someone who can write
    to the share but does not hold the key cannot make a model that loads)."""
    if key is None:
        return "unsigned"
    try:
        with zipfile.ZipFile(path) as archive:
            if SIGNATURE not in archive.namelist():
                raise ModelError(
                    f"模型檔沒有簽章（已設定簽章金鑰），{TAMPERED}",
                    "請用持有金鑰的電腦重新訓練模型" + step("train_command"),
                    en="the model file is not signed although a signing key is configured; refused",
                    fix_en="retrain it on a machine that holds the key",
                )
            claimed = json.loads(archive.read(SIGNATURE))
            expected = _mac(archive, key)
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, OSError):
        raise _tampered("不是有效的模型檔") from None
    if not isinstance(claimed, dict) or not hmac.compare_digest(str(claimed.get("mac", "")), expected):
        raise ModelError(
            f"模型檔簽章不符，{TAMPERED}",
            "請重新訓練模型；若金鑰換過，請用新金鑰重新訓練",
            en="the model file's signature does not match; refused",
            fix_en="retrain the model (with the current key)",
        )
    return "verified"


# --------------------------------------------------------------------------- the JSON half


def _fitted_json(fitted: Fitted) -> dict:
    logit: LogitFit = fitted.estimators["logit"]
    return {
        "features": [
            {
                "column": f.column,
                "kind": f.kind,
                "levels": list(f.levels),
                "fill": f.fill,
                "has_missing": f.has_missing,
                "pooled": list(f.pooled),
                "pooled_all": f.pooled_all,
            }
            for f in fitted.features
        ],
        "design": fitted.design,
        "chosen": fitted.chosen,
        "cutoff": fitted.cutoff,
        "calibration": {k: list(v) for k, v in fitted.calibration.items()},
        "economics": fitted.economics,
        "logit": {
            "names": logit.names,
            "params": logit.params.tolist(),
            "bse": logit.bse.tolist(),
            "pvalues": logit.pvalues.tolist(),
            "regularised": logit.regularised,
            "converged": logit.converged,
        },
        "cv": json.loads(fitted.cv.to_json(orient="records", force_ascii=False)),
    }


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _fitted_from(data: dict, tree, boosting) -> Fitted:
    """The Fitted model from the file's JSON half and its two estimators, every field checked."""
    if not isinstance(data, dict):
        raise _tampered("模型資料不是物件")
    try:
        raw_features, design, lg = data["features"], data["design"], data["logit"]
        chosen, calibration, cutoff = data["chosen"], data["calibration"], data["cutoff"]
        economics, cv = data["economics"], data["cv"]
    except (KeyError, TypeError):
        raise _tampered("缺少必要欄位") from None
    if chosen not in MODELS:
        raise _tampered(f"選用的模型「{str(chosen)[:20]}」不存在")
    if not (
        isinstance(calibration, dict)
        and set(calibration) == set(MODELS)
        and all(isinstance(v, list) and len(v) == 2 and all(map(_finite, v)) for v in calibration.values())
    ):
        raise _tampered("機率校正參數不正確")
    if not (_finite(cutoff) and 0 <= cutoff <= 1):
        raise _tampered("機率門檻不正確")
    if not (isinstance(economics, dict) and all(_finite(economics.get(k)) for k in ("price", "cost", "contact_cost"))):
        raise _tampered("經濟條件不正確")
    if not (isinstance(cv, list) and all(isinstance(r, dict) for r in cv)):
        raise _tampered("交叉驗證表不正確")
    features = []
    if not isinstance(raw_features, list) or not raw_features:
        raise _tampered("欄位清單不正確")
    for f in raw_features:
        if not (
            isinstance(f, dict)
            and isinstance(f.get("column"), str)
            and f.get("kind") in KIND_LABELS
            and _strings(f.get("levels"))
            and _finite(f.get("fill"))
            and isinstance(f.get("has_missing"), bool)
            and _strings(f.get("pooled", []))
            and isinstance(f.get("pooled_all", True), bool)
        ):
            raise _tampered("欄位型態不正確")
        if (f["kind"] == CATEGORY) != bool(f["levels"]) or (
            f["kind"] == CATEGORY
            and (len(f["levels"]) < 2 or f["levels"][-1] != OTHER or len(set(f["levels"])) != len(f["levels"]))
        ):
            raise _tampered("類別欄的類別不正確")
        features.append(
            Feature(
                f["column"],
                f["kind"],
                tuple(f["levels"]),
                float(f["fill"]),
                f["has_missing"],
                tuple(f.get("pooled", [])),
                f.get("pooled_all", True),
            )
        )
    if len({f.column for f in features}) != len(features):
        raise _tampered("欄位重複")
    expected = [c for f in features for c in f.design_columns()]
    if design != expected:
        raise _tampered("模型欄位與特徵不一致")
    if not (
        isinstance(lg, dict)
        and _strings(lg.get("names"))
        and set(lg["names"]) <= set(design)
        and len(set(lg["names"])) == len(lg["names"])
    ):
        raise _tampered("邏輯迴歸的變數不正確")
    arrays = []
    for key in ("params", "bse", "pvalues"):
        values = lg.get(key)
        if not (
            isinstance(values, list)
            and len(values) == len(lg["names"]) + 1
            and all(v is None or isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        ):
            raise _tampered("邏輯迴歸的係數不正確")
        arrays.append(np.array([np.nan if v is None else v for v in values], dtype=float))
    if not np.isfinite(arrays[0]).all():
        raise _tampered("邏輯迴歸的係數不正確")
    logit = LogitFit(list(lg["names"]), *arrays, bool(lg.get("regularised")), bool(lg.get("converged", True)))
    fitted = Fitted(
        features,
        list(design),
        {"logit": logit, "tree": tree, "boosting": boosting},
        {k: (float(v[0]), float(v[1])) for k, v in calibration.items()},
        chosen,
        pd.DataFrame(cv),
        pd.Series(dtype=float),
        float(cutoff),
        {k: float(economics[k]) for k in ("price", "cost", "contact_cost")},
    )
    check_fitted(fitted)
    return fitted


# --------------------------------------------------------------------------- the estimator half


def _check_children(left: np.ndarray, right: np.ndarray, internal: np.ndarray, what: str) -> None:
    """A node table is a tree rooted at 0: every internal node's two children lie after it and
    inside the table, and every node but the root is the child of exactly one node (so walking
    it always ends, and never reads outside it)."""
    n = len(internal)
    index = np.arange(n)
    left, right = left.astype(np.int64), right.astype(np.int64)
    if not (
        (left[internal] > index[internal])
        & (right[internal] > index[internal])
        & (left[internal] < n)
        & (right[internal] < n)
    ).all():
        raise _tampered(f"{what}的節點索引超出範圍")
    children = np.sort(np.concatenate([left[internal], right[internal]]))
    if not np.array_equal(children, np.arange(1, n)):
        raise _tampered(f"{what}的節點不是一棵樹")


def _check_columns(estimator, design: list[str], what: str) -> None:
    names = getattr(estimator, "feature_names_in_", None)
    if getattr(estimator, "n_features_in_", None) != len(design) or names is None or list(names) != design:
        raise _tampered(f"{what}的欄位與模型不一致")
    classes = getattr(estimator, "classes_", None)
    if not (isinstance(classes, np.ndarray) and classes.shape == (2,) and classes.tolist() == [0, 1]):
        raise _tampered(f"{what}的類別不是 0/1")


def check_tree(tree, design: list[str]) -> None:
    """A DecisionTreeClassifier whose node table is safe for sklearn's unchecked predict loop."""
    from sklearn.tree import DecisionTreeClassifier
    from sklearn.tree._tree import Tree

    what = "決策樹"
    if type(tree) is not DecisionTreeClassifier or type(getattr(tree, "tree_", None)) is not Tree:
        raise _tampered(f"{what}的型態不對")
    _check_columns(tree, design, what)
    t = tree.tree_
    if not (
        tree.n_outputs_ == 1
        and tree.n_classes_ == 2
        and t.n_outputs == 1
        and t.n_features == len(design)
        and t.max_n_classes == 2
        and t.n_classes.tolist() == [2]
    ):
        raise _tampered(f"{what}的維度不正確")
    if not (1 <= t.node_count == t.capacity):
        raise _tampered(f"{what}的節點數不正確")
    state = t.__getstate__()
    nodes, values = state["nodes"], state["values"]
    if nodes.shape != (t.node_count,) or values.shape != (t.node_count, 1, 2) or values.dtype != np.float64:
        raise _tampered(f"{what}的節點表形狀不正確")
    left, right = nodes["left_child"], nodes["right_child"]
    leaf = left == -1
    internal = ~leaf
    if not (right[leaf] == -1).all():
        raise _tampered(f"{what}的葉節點不正確")
    _check_children(left, right, internal, what)
    feature = nodes["feature"][internal]
    if not ((feature >= 0) & (feature < len(design))).all():
        raise _tampered(f"{what}的欄位索引超出範圍")
    if not (
        np.isfinite(nodes["threshold"][internal]).all()
        and np.isin(nodes["missing_go_to_left"], (0, 1)).all()
        and np.isfinite(values).all()
        and (values >= 0).all()
    ):
        raise _tampered(f"{what}的數值不正確")


def check_boosting(boosting, design: list[str]) -> None:
    """A HistGradientBoostingClassifier (binary, numeric features only) whose every TreePredictor
    node table is safe for sklearn's unchecked predict loop."""
    from sklearn._loss.link import LogitLink
    from sklearn._loss.loss import HalfBinomialLoss
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    what = "梯度提升"
    if type(boosting) is not HistGradientBoostingClassifier:
        raise _tampered(f"{what}的型態不對")
    _check_columns(boosting, design, what)
    loss, mapper = getattr(boosting, "_loss", None), getattr(boosting, "_bin_mapper", None)
    baseline = getattr(boosting, "_baseline_prediction", None)
    if not (
        type(loss) is HalfBinomialLoss
        and type(getattr(loss, "link", None)) is LogitLink
        and boosting.n_trees_per_iteration_ == 1
        and getattr(boosting, "_preprocessor", None) is None
        and getattr(boosting, "is_categorical_", None) is None
        and getattr(boosting, "_in_fit", False) is False
        and type(mapper) is _BinMapper
        and isinstance(baseline, np.ndarray)
        and baseline.shape == (1, 1)
        and baseline.dtype == np.float64
        and np.isfinite(baseline).all()
    ):
        raise _tampered(f"{what}的設定不正確")
    categorical = getattr(mapper, "is_categorical_", None)
    if not (isinstance(categorical, np.ndarray) and categorical.shape == (len(design),) and not categorical.any()):
        raise _tampered(f"{what}的設定不正確")
    predictors = getattr(boosting, "_predictors", None)
    if not (
        isinstance(predictors, list)
        and predictors
        and all(isinstance(i, list) and len(i) == 1 and type(i[0]) is TreePredictor for i in predictors)
    ):
        raise _tampered(f"{what}的樹不正確")
    for [predictor] in predictors:  # a few hundred small trees; each check is vectorised over its nodes
        nodes = predictor.nodes
        if not (
            isinstance(nodes, np.ndarray)
            and nodes.dtype == PREDICTOR_RECORD_DTYPE
            and nodes.ndim == 1
            and len(nodes) >= 1
        ):
            raise _tampered(f"{what}的節點表形狀不正確")
        for bitsets in (predictor.binned_left_cat_bitsets, predictor.raw_left_cat_bitsets):
            if not (
                isinstance(bitsets, np.ndarray)
                and bitsets.dtype == np.uint32
                and bitsets.ndim == 2
                and bitsets.shape[1] == 8
            ):
                raise _tampered(f"{what}的類別分割表不正確")
        leaf = nodes["is_leaf"]
        if not (
            np.isin(leaf, (0, 1)).all()
            and not nodes["is_categorical"].any()
            and np.isin(nodes["missing_go_to_left"], (0, 1)).all()
            and np.isfinite(nodes["value"]).all()
        ):
            raise _tampered(f"{what}的節點不正確")
        internal = leaf == 0
        _check_children(nodes["left"], nodes["right"], internal, what)
        feature = nodes["feature_idx"][internal]
        if not ((feature >= 0) & (feature < len(design))).all():
            raise _tampered(f"{what}的欄位索引超出範圍")


def check_fitted(fitted: Fitted) -> None:
    """Every part of a loaded model as :func:`save_model` writes it; raises ModelError otherwise."""
    check_tree(fitted.estimators["tree"], fitted.design)
    check_boosting(fitted.estimators["boosting"], fitted.design)


# --------------------------------------------------------------------------- files


def save_model(fitted: Fitted, meta: dict, path: Path) -> Path:
    """Write the model atomically (temp file + rename), so a reader never sees half a file;
    signed when a key is configured (:func:`signing_key`)."""
    import skops.io as sio

    key = signing_key()
    bundle = {
        "format": FORMAT,
        "meta": json.dumps(meta, ensure_ascii=False, default=str),
        "fitted": json.dumps(_fitted_json(fitted), ensure_ascii=False),
        "tree": fitted.estimators["tree"],
        "boosting": fitted.estimators["boosting"],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # ".tmp", not ".skops": the half-written file must not show up in the ribbon's list of models
    with atomic_output(path, suffix=".tmp") as tmp:
        sio.dump(bundle, tmp)
        if key is not None:  # the signature is a member of the zip, so it travels with the rename
            sign_file(tmp, key)
    return path


def _check_archive(path: Path) -> None:
    """A model file is a modest zip: refuse anything else before a library unpacks it."""
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise _tampered("檔案過大")
    try:
        with zipfile.ZipFile(path) as archive:
            if sum(i.file_size for i in archive.infolist()) > MAX_UNZIPPED_BYTES:
                raise _tampered("解壓後過大")
    except zipfile.BadZipFile:
        raise ModelError(
            f"模型檔不是有效的模型（{TAMPERED}或損毀）",
            RETRAIN,
            en="the file is not a model (tampered with or damaged); refused",
            fix_en="retrain the model and check who can write to the shared folder",
        ) from None


def _refusal(path: Path) -> ModelError:
    """Why skops would not load a model file, read again only to say it: the types outside
    :data:`ALLOWED_TYPES`, an unreadable manifest, or content that does not build."""
    import skops.io as sio

    try:
        unexpected = set(sio.get_untrusted_types(file=path)) - ALLOWED_TYPES
    except Exception:  # any unreadable manifest is the same answer: not a usable model
        return _tampered("無法讀取內容清單")
    if not unexpected:
        return _tampered("無法載入")
    return ModelError(
        f"模型檔含有不允許的內容（{', '.join(sorted(unexpected))[:200]}），{TAMPERED}",
        RETRAIN,
        en=f"the model file contains types that are not allowed ({', '.join(sorted(unexpected))[:200]}); refused",
        fix_en="retrain the model and check who can write to the shared folder",
    )


def load_model(path: str | Path) -> dict:
    """Load a model file without executing anything in it, and check it before anything predicts.

    In order: size; the signature when a key is configured; the types in the manifest (any type
    outside :data:`ALLOWED_TYPES` and skops' safe defaults refuses the file); then every field
    and node table (:func:`check_fitted`). Returns {"fitted", "meta", "name", "path", "signature"}.
    """
    import skops.io as sio

    path = Path(path)
    if not path.exists():
        raise ModelError(
            f"找不到模型檔 {path}",
            step("train_or_models_dir"),
            en=f"model file {path} not found",
            fix_en=step_en("train_or_models_dir"),
        )
    _check_archive(path)
    signature = verify_file(path, signing_key())
    try:
        # one reading: skops refuses a type outside the allow-list and its safe defaults before building anything
        bundle = sio.load(path, trusted=sorted(ALLOWED_TYPES))
    except Exception:
        raise _refusal(path) from None
    if not isinstance(bundle, dict) or set(bundle) != {"format", "meta", "fitted", "tree", "boosting"}:
        raise _tampered("結構不對")
    if bundle["format"] != FORMAT:
        raise ModelError(
            f"模型檔是舊版或不認得的格式（{str(bundle['format'])[:40]}），已拒絕載入",
            step("retrain_this_version"),
            en=f"model file format {str(bundle['format'])[:40]!r} is not {FORMAT}",
            fix_en="retrain the model with this version",
        )
    try:
        data, meta = json.loads(bundle["fitted"]), json.loads(bundle["meta"])
    except (TypeError, ValueError):
        raise _tampered("模型資料不是 JSON") from None
    if not isinstance(meta, dict):
        raise _tampered("說明資料不是物件")
    fitted = _fitted_from(data, bundle["tree"], bundle["boosting"])
    return {
        "fitted": fitted,
        "meta": meta,
        "name": str(meta.get("name", path.stem)),
        "path": str(path),
        "signature": signature,
    }


_CACHE: dict[str, tuple[int, int, dict]] = {}


def load_model_cached(name_or_path: str | Path, models_dir: str | Path | None = None) -> dict:
    """:func:`load_model`, cached per file and reloaded when its mtime or size changes (for PL_PROB)."""
    path = model_path(name_or_path, models_dir)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ModelError(
            f"找不到模型「{name_or_path}」（{path}）",
            step("train_or_models_env"),
            en=f"model {str(name_or_path)!r} not found ({path})",
            fix_en=step_en("train_or_models_env"),
        ) from None
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
        raise ModelError(
            f"缺少模型需要的欄位：{'、'.join(missing)}",
            "欄名要和訓練時相同",
            en=f"columns the model needs are missing: {', '.join(missing)}",
            fix_en="use the headers the model was trained with",
        )
    if as_of is None:
        if any(f.kind == DATE for f in fitted.features):
            raise ModelError(
                "此模型用到日期欄，需要指定今天的日期",
                "請提供 as_of",
                en="this model uses a date column and needs today's date",
                fix_en="pass as_of",
            )
        as_of = pd.Timestamp("2000-01-01")  # unused: no date features
    X, _ = design_matrix(frame, fitted.features, as_of)
    return fitted.predict(X)


# --------------------------------------------------------------------------- training


def train_model(
    parsed,
    target: str | None,
    name: str,
    *,
    settings: Settings,
    as_of: pd.Timestamp,
    trained_at: str,
    models_dir: str | Path | None = None,
    progress=lambda m: None,
) -> tuple[Path, CampaignResult]:
    """Train on one parsed campaign sheet and save it as NAME.

    The list is read exactly as ``score`` reads it (:func:`~processor.analyse.propensity.score_sheet`:
    the label is ``target`` or recognised the same way, rows split the same way) and the report
    (``result.problems``) says what was set aside. When every row is labelled, the 80% model is
    judged on the held-out 20% (those are the saved metrics) and the saved models are then fitted
    again on every labelled row (:func:`~processor.analyse.propensity.refit`: same features, choice and
    calibration; more data for the model that will be used). Raises UnusableInput when no model
    can be trained.
    """
    result = score_sheet(parsed, settings, as_of, target=target, progress=progress)
    return save_trained(
        parsed,
        result,
        name,
        settings=settings,
        as_of=as_of,
        trained_at=trained_at,
        models_dir=models_dir,
        progress=progress,
    ), result


def save_trained(
    parsed,
    result: CampaignResult,
    name: str,
    *,
    settings: Settings,
    as_of: pd.Timestamp,
    trained_at: str,
    models_dir: str | Path | None = None,
    progress=lambda m: None,
) -> Path:
    """Save what :func:`train_model` trained (see there); UnusableInput when nothing was."""
    path = model_path(name, models_dir)
    if result.fitted is None:
        first = result.stopped_by()
        raise UnusableInput(
            first.problem if first else "無法訓練模型",
            first.fix if first else "",
            en="cannot train a model on this list",
            sheet=parsed.sheet,
            column=first.column if first else None,
            fix_en="see the data check for the reason (e.g. too few labelled rows or only one class)",
        )
    e = result.evaluation or {}
    fitted, trained_rows = result.fitted, result.train_frame.index
    if result.mode == "split":
        progress("用全部已知結果的客戶重新訓練要儲存的模型")
        trained_rows = result.labels.index[result.labels.notna()]
        fitted = refit(fitted, result.design.loc[trained_rows], result.labels.loc[trained_rows], settings, progress)
    meta = {
        "name": name,
        "trained_at": trained_at,
        "as_of": str(as_of.date()),
        "source_sheet": parsed.sheet,
        "target": result.label_column,
        "target_reason": result.label_reason,
        "id_column": parsed.headers.get("customer_id", "客戶編號"),
        "fingerprint": data_fingerprint(parsed.frame.loc[trained_rows]),
        "rows_trained": int(len(trained_rows)),
        "buyers_trained": int(result.labels.loc[trained_rows].sum()),
        "refitted_on_all_labelled": result.mode == "split",
        "features": [
            {"column": f.column, "kind": f.kind, "kind_label": KIND_LABELS[f.kind], "levels": list(f.levels)}
            for f in fitted.features
        ],
        "ignored": result.ignored.to_dict(orient="records"),
        "chosen": fitted.chosen,
        "cutoff": fitted.cutoff,
        "economics": fitted.economics,
        "evaluation": {
            "source": result.eval_source,
            "model_rows": int(len(result.train_frame)),
            **{k: nan_to_none(v) for k, v in e.items()},
        },
        "cv": json.loads(fitted.cv.to_json(orient="records", force_ascii=False)),
        "data_check": {
            "errors": sum(p.severity == "錯誤" for p in result.problems),
            "warnings": sum(p.severity != "錯誤" for p in result.problems),
        },
        "versions": _versions(),
    }
    return save_model(fitted, meta, path)


def _versions() -> dict:
    import sklearn
    import statsmodels

    return {"scikit-learn": sklearn.__version__, "statsmodels": statsmodels.__version__}


__all__ = [
    "ModelError",
    "load_model",
    "load_model_cached",
    "save_model",
    "predict_proba",
    "train_model",
    "save_trained",
    "model_path",
    "default_models_dir",
    "check_fitted",
    "signing_key",
    "verify_file",
    "ALLOWED_TYPES",
    "BOOLEAN",
    "CATEGORY",
]
