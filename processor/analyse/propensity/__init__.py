"""Purchase probability: who on a campaign list is likely to buy, and whom calling pays for.

DESIGN §4 "Purchase probability", from seeds 000, 001 and 003:

* seed 001 §5.1: labelled customers are the *training group*, unlabelled ones the *target
  group*; the model learnt on the first scores the second. When every row is labelled (seed
  000's worked example) the list is split 80/20 (stratified, fixed seed), the 20% test set
  validates, and every customer still gets an out-of-fold probability.
* seed 001 §5.4: train / test / all must look alike (mean, standard deviation, mode).
* seed 001 §5.5: an interpretable Gini decision tree, pruned, read as IF … THEN rules with
  confidence; error weighting (出錯加權) instead of balanced resampling; beside it a logistic
  regression (odds ratios) and gradient boosting. The model used for the list is chosen by
  cross-validation on the training data only, and its probabilities are calibrated (Platt).
* seed 000: expected profit = p × (price − cost) − contact cost (2,500 / 750 / 175); call
  where it is positive; compare "call the list" with "call everyone".

Everything here is a pure function of DataFrames and :class:`~processor.settings.Settings`;
no clock, no I/O (persistence lives in :mod:`processor.models`, the result sheets in
:mod:`processor.sheets.propensity`). The package is split along the steps of that path:

========================  ==================================================================
:mod:`.features`          each column's kind, typed values, the design matrix, leakage, the wide-list screen
:mod:`.labels`            which column is the known result, and its 0/1 values
:mod:`.economics`         break-even, expected/realised profit, error weights, the ranked list
:mod:`.fit`               the three models, their choice and calibration, odds ratios, rules
:mod:`.evaluation`        AUC, confusion, lift, gains, profit curve, train/test/target alike
:mod:`.campaign`          one list scored end to end (or by a saved model)
========================  ==================================================================
"""

from .campaign import (
    SEED_000_HEADERS,
    SEED_000_LIST,
    CampaignResult,
    data_fingerprint,
    is_seed_000_data,
    nan_to_none,
    score_campaign,
    score_sheet,
    seed_000_row,
)
from .economics import break_even, class_weights, deciles, expected_profit, ranked_list, realised_profit
from .evaluation import TARGET, TEST, TRAIN, comparability, evaluate, lift_table, profit_curve, shift_problems
from .features import (
    BLANK,
    BOOLEAN,
    CATEGORY,
    DATE,
    KIND_LABELS,
    LEAK_AUC,
    MAX_FEATURES,
    MAX_POOLED_KEPT,
    NUMBER,
    OTHER,
    Feature,
    design_matrix,
    feature_columns,
    infer_features,
    infer_kind,
    leakage,
    screen,
    typed_distinct,
    typed_values,
    univariate_auc,
)
from .fit import MODEL_LABELS, MODELS, THREADS, Fitted, LogitFit, fit_models, odds_ratios, refit, tree_rules
from .labels import MIN_LABELLED, MIN_PER_CLASS, LabelChoice, choose_label, parse_label

__all__ = [
    # one list, end to end
    "score_sheet",
    "score_campaign",
    "CampaignResult",
    "choose_label",
    "LabelChoice",
    # the steps
    "Feature",
    "infer_features",
    "infer_kind",
    "design_matrix",
    "feature_columns",
    "typed_values",
    "typed_distinct",
    "leakage",
    "univariate_auc",
    "screen",
    "parse_label",
    "Fitted",
    "LogitFit",
    "fit_models",
    "refit",
    "odds_ratios",
    "tree_rules",
    "evaluate",
    "lift_table",
    "profit_curve",
    "comparability",
    "shift_problems",
    "break_even",
    "expected_profit",
    "realised_profit",
    "class_weights",
    "ranked_list",
    "deciles",
    # seed 000's own example, persistence helpers
    "SEED_000_HEADERS",
    "SEED_000_LIST",
    "is_seed_000_data",
    "seed_000_row",
    "data_fingerprint",
    "nan_to_none",
    # vocabulary
    "NUMBER",
    "CATEGORY",
    "BOOLEAN",
    "DATE",
    "KIND_LABELS",
    "OTHER",
    "BLANK",
    "MAX_POOLED_KEPT",
    "MAX_FEATURES",
    "LEAK_AUC",
    "MIN_LABELLED",
    "MIN_PER_CLASS",
    "MODELS",
    "MODEL_LABELS",
    "THREADS",
    "TRAIN",
    "TEST",
    "TARGET",
]
