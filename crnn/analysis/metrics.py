"""Scores for speech emotion recognition, as reported in paper 001 Sec. 7.

The headline metric is the un-weighted accuracy (UA): the mean of the
per-class recalls, so a model cannot score well by favouring the larger
classes. The weighted accuracy (WA) is the plain accuracy. Both come from
scikit-learn; nothing here re-implements them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix


def unweighted_accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    """Mean per-class recall over the classes present in ``y_true`` (sklearn balanced accuracy)."""
    with warnings.catch_warnings():
        # A prediction of a class absent from y_true is a plain error here, not a user mistake.
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(y_true, y_pred))


def weighted_accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    """Fraction of utterances classified correctly (WA, i.e. accuracy)."""
    return float(accuracy_score(y_true, y_pred))


def classification_report_dict(y_true: Sequence, y_pred: Sequence, labels: Sequence[str]) -> dict:
    """UA, WA, per-class recall and the confusion matrix as a JSON-ready dict.

    ``labels`` fixes the order of the confusion matrix (rows: true class,
    columns: predicted class). A label with no true utterance has recall
    ``None`` (undefined) and does not count towards the UA.
    """
    labels = list(labels)
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if len(y_true) == 0:
        raise ValueError("no utterances to score")
    confusion = confusion_matrix(y_true, y_pred, labels=labels)  # (K, K)
    support = confusion.sum(axis=1)
    recall = {
        label: (float(confusion[k, k] / support[k]) if support[k] else None)
        for k, label in enumerate(labels)
    }
    return {
        "ua": unweighted_accuracy(y_true, y_pred),
        "wa": weighted_accuracy(y_true, y_pred),
        "recall": recall,
        "confusion": confusion.tolist(),
        "labels": labels,
        "n": int(len(y_true)),
    }
