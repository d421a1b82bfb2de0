"""The numbers of an evaluation report, from a split's targets and the model's predictions.

Pure NumPy: no TensorFlow, no plotting. Each task class names its kind of report
(`Task.report`, in tasks.py); `compute` picks the function of that kind:

| report         | what it holds                                                               |
|----------------|-----------------------------------------------------------------------------|
| classification | per-class precision, recall, F1, support; confusion matrix; most confused pairs |
| binary         | classification's, plus ROC and precision-recall curves with their areas, and accuracy / precision / recall at a few thresholds |
| multilabel     | per-label precision, recall, F1, support; element-wise and exact-match accuracy |
| regression     | MAE, RMSE, R^2 (overall and per output); residuals                           |

A class is predicted as Keras' accuracy metrics decide it, so the report's accuracy is the
one `model.evaluate` prints: the arg-max for softmax outputs, `p > 0.5` for sigmoid ones
(BinaryAccuracy's rule: 0.5 itself is the negative class). A precision with no predictions
of that class is 0 (as scikit-learn's zero_division=0).

Each function returns the report (small: what `--json` prints) and `arrays`: what the
plots and report.json's `curves` need, which may be long.
"""

from __future__ import annotations

import numpy as np

THRESHOLDS = (0.3, 0.5, 0.7)  # the binary report's table of cut-offs
CONFUSED_PAIRS = 10  # the most confused pairs listed
CURVE_POINTS = 201  # ROC / PR points kept in report.json (the areas use them all)


def compute(kind: str, targets, predictions, class_names) -> tuple[dict, dict]:
    """(report, arrays) of `kind` (a task's `report`) for one split."""
    return KINDS[kind](np.asarray(targets), np.asarray(predictions), class_names)


def names_of(class_names, n: int) -> list[str]:
    """The class names of the signature, or "0".."n-1" where the data gave none."""
    return [str(name) for name in class_names] if class_names else [str(i) for i in range(n)]


# --- classification ---------------------------------------------------------------------


def confusion_matrix(true_ids, predicted_ids, n: int) -> np.ndarray:
    """counts[i, j]: examples of class i predicted as class j."""
    return np.bincount(true_ids * n + predicted_ids, minlength=n * n).reshape(n, n)


def per_class(counts: np.ndarray, names: list[str]) -> list[dict]:
    """Precision, recall, F1 and support of each class, from the confusion matrix."""
    tp = np.diag(counts).astype(float)
    predicted, support = counts.sum(axis=0), counts.sum(axis=1)
    return [_scores(name, tp[i], predicted[i], support[i]) for i, name in enumerate(names)]


def _scores(name: str, tp: float, predicted: float, support: float) -> dict:
    precision = tp / predicted if predicted else 0.0
    recall = tp / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"class": name, "precision": float(precision), "recall": float(recall), "f1": float(f1),
            "support": int(support)}


def averages(rows: list[dict]) -> dict:
    """Macro (each class alike) and weighted (by support) means of the per-class scores."""
    support = np.array([row["support"] for row in rows], dtype=float)
    weights = support / support.sum() if support.sum() else np.zeros_like(support)
    result = {}
    for kind, w in (("macro", np.full(len(rows), 1 / len(rows))), ("weighted", weights)):
        result[kind] = {key: float(sum(wi * row[key] for wi, row in zip(w, rows))) for key in ("precision", "recall", "f1")}
    return result


def confused_pairs(counts: np.ndarray, names: list[str], top: int = CONFUSED_PAIRS) -> list[dict]:
    """The off-diagonal cells with the most examples: true class -> predicted class."""
    off = counts.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:top]  # ties: in the order of the classes
    pairs = []
    for flat in order:
        i, j = divmod(int(flat), counts.shape[0])
        if off[i, j] == 0:
            break
        pairs.append({"true": names[i], "predicted": names[j], "count": int(off[i, j])})
    return pairs


def class_decisions(targets, predictions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true ids, predicted ids, confidence of the prediction) of a single-label classifier.

    One sigmoid unit (binary) is class 1 when p > 0.5; N softmax units are the arg-max. One-hot
    targets (a recipe with label smoothing or mixup) are turned back into ids.
    """
    if predictions.ndim == 2 and predictions.shape[1] == 1:
        p = predictions[:, 0]
        predicted = (p > 0.5).astype(int)
        return targets.reshape(-1).astype(int), predicted, np.where(predicted == 1, p, 1 - p)
    true = targets.argmax(axis=1) if targets.ndim == 2 else targets.reshape(-1)
    predicted = predictions.argmax(axis=1)
    return true.astype(int), predicted, predictions.max(axis=1)


def classification(targets, predictions, class_names) -> tuple[dict, dict]:
    true, predicted, confidence = class_decisions(targets, predictions)
    n = max(2, predictions.shape[1]) if predictions.ndim == 2 else 2
    names = names_of(class_names, n)
    counts = confusion_matrix(true, predicted, n)
    rows = per_class(counts, names)
    report = {
        "examples": int(len(true)),
        "accuracy": float(np.mean(true == predicted)),
        "per_class": rows,
        "average": averages(rows),
        "confusion_matrix": {"classes": names, "counts": counts.tolist()},
        "confused_pairs": confused_pairs(counts, names),
    }
    wrong = np.flatnonzero(true != predicted)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")]  # the most confident mistakes first
    arrays = {"counts": counts, "names": names, "misclassified": wrong, "true": true, "predicted": predicted,
              "confidence": confidence}
    return report, arrays


# --- binary: curves and thresholds --------------------------------------------------------


def roc_curve(true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate, thresholds), one point per distinct score,
    from the strictest threshold to the loosest, starting at (0, 0)."""
    tps, fps, thresholds = _cumulative(true, scores)
    positives, negatives = max(tps[-1], 1), max(fps[-1], 1)
    return (np.r_[0.0, fps / negatives], np.r_[0.0, tps / positives], np.r_[np.inf, thresholds])


def precision_recall_curve(true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) at each distinct score, strictest first."""
    tps, fps, thresholds = _cumulative(true, scores)
    precision = tps / np.maximum(tps + fps, 1)
    recall = tps / max(tps[-1], 1)
    return precision, recall, thresholds


def _cumulative(true, scores):
    """True and false positives when every score >= each distinct score counts as positive."""
    order = np.argsort(-scores, kind="stable")
    scores, true = scores[order], true[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # the end of each run of equal scores
    tps = np.cumsum(true)[last].astype(float)
    return tps, (last + 1) - tps, scores[last]


def roc_auc(fpr, tpr) -> float:
    """The exact area under the ROC curve (trapezoids; ties between classes count half)."""
    return float(np.trapezoid(tpr, fpr))


def average_precision(precision, recall) -> float:
    """The area under the precision-recall curve as a step function (no interpolation)."""
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def at_threshold(true, scores, threshold: float) -> dict:
    """Accuracy, precision and recall of the positive class when p > threshold is positive."""
    predicted = scores > threshold
    tp = float(np.sum(predicted & (true == 1)))
    scored = _scores("positive", tp, float(predicted.sum()), float(np.sum(true == 1)))
    return {"threshold": threshold, "accuracy": float(np.mean(predicted == (true == 1))),
            "precision": scored["precision"], "recall": scored["recall"], "f1": scored["f1"]}


def binary(targets, predictions, class_names) -> tuple[dict, dict]:
    report, arrays = classification(targets, predictions, class_names)
    true, scores = targets.reshape(-1).astype(int), predictions[:, 0].astype(float)
    fpr, tpr, roc_thresholds = roc_curve(true, scores)
    precision, recall, pr_thresholds = precision_recall_curve(true, scores)
    report["positive_class"] = arrays["names"][1]
    report["roc_auc"] = roc_auc(fpr, tpr)
    report["average_precision"] = average_precision(precision, recall)
    report["thresholds"] = [at_threshold(true, scores, t) for t in THRESHOLDS]
    arrays.update(roc={"fpr": fpr, "tpr": tpr, "thresholds": roc_thresholds},
                  pr={"precision": precision, "recall": recall, "thresholds": pr_thresholds})
    return report, arrays


def thinned(curve: dict, points: int = CURVE_POINTS) -> dict:
    """A curve with at most `points` points, its ends kept, as JSON lists (inf as null)."""
    n = len(next(iter(curve.values())))
    keep = np.unique(np.linspace(0, n - 1, min(n, points)).round().astype(int))
    return {key: [None if not np.isfinite(v) else float(v) for v in np.asarray(values)[keep]]
            for key, values in curve.items()}


# --- multilabel -----------------------------------------------------------------------------


def multilabel(targets, predictions, class_names) -> tuple[dict, dict]:
    true, predicted = targets.astype(int) == 1, predictions > 0.5
    names = names_of(class_names, predictions.shape[1])
    rows = []
    for k, name in enumerate(names):
        scored = _scores(name, float(np.sum(true[:, k] & predicted[:, k])), float(predicted[:, k].sum()),
                         float(true[:, k].sum()))
        rows.append({"label": scored.pop("class"), **scored})  # support: the examples with the label
    report = {
        "examples": int(len(true)),
        "accuracy": float(np.mean(true == predicted)),  # per label and example: Keras' BinaryAccuracy
        "exact_match": float(np.mean(np.all(true == predicted, axis=1))),
        "per_label": rows,
    }
    return report, {}


# --- regression -----------------------------------------------------------------------------


def regression(targets, predictions, class_names=None) -> tuple[dict, dict]:
    true = targets.reshape(len(targets), -1).astype(float)
    predicted = predictions.reshape(len(predictions), -1).astype(float)
    residuals = predicted - true
    per_output = []
    for k in range(true.shape[1]):
        spread = np.sum((true[:, k] - true[:, k].mean()) ** 2)
        r2 = 1 - np.sum(residuals[:, k] ** 2) / spread if spread else 0.0
        per_output.append({"output": k, "mae": float(np.mean(np.abs(residuals[:, k]))),
                           "rmse": float(np.sqrt(np.mean(residuals[:, k] ** 2))), "r2": float(r2)})
    report = {
        "examples": int(len(true)),
        "mae": float(np.mean(np.abs(residuals))),  # over every output: Keras' MeanAbsoluteError
        "rmse": float(np.sqrt(np.mean(residuals ** 2))),
        "r2": float(np.mean([row["r2"] for row in per_output])),  # outputs weighed alike
        "residuals": {"mean": float(residuals.mean()), "std": float(residuals.std())},
    }
    if len(per_output) > 1:
        report["per_output"] = per_output
    return report, {"true": true, "predicted": predicted, "residuals": residuals}


KINDS = {"classification": classification, "binary": binary, "multilabel": multilabel, "regression": regression}
