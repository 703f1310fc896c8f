"""UA is the mean of per-class recalls; WA the plain accuracy."""

import pytest

from crnn.analysis.metrics import classification_report_dict, unweighted_accuracy, weighted_accuracy


def test_ua_is_mean_of_per_class_recalls():
    # anger: 3 of 4 right (0.75); sadness: 1 of 2 (0.5); neutral: 0 of 1 (0.0)
    y_true = ["anger"] * 4 + ["sadness"] * 2 + ["neutral"]
    y_pred = ["anger", "anger", "anger", "sadness", "sadness", "anger", "anger"]
    assert unweighted_accuracy(y_true, y_pred) == pytest.approx((0.75 + 0.5 + 0.0) / 3)
    assert weighted_accuracy(y_true, y_pred) == pytest.approx(4 / 7)


def test_report_confusion_recall_and_absent_class():
    labels = ["anger", "happiness", "sadness"]
    y_true = ["anger", "anger", "sadness", "sadness"]
    y_pred = ["anger", "happiness", "sadness", "anger"]
    report = classification_report_dict(y_true, y_pred, labels)
    assert report["labels"] == labels
    assert report["confusion"] == [[1, 1, 0], [0, 0, 0], [1, 0, 1]]
    assert report["recall"] == {"anger": 0.5, "happiness": None, "sadness": 0.5}
    assert report["ua"] == pytest.approx(0.5)  # happiness has no true utterance: not averaged
    assert report["wa"] == pytest.approx(0.5)
    assert report["n"] == 4
