"""Cross-validation summaries: paired tests and fold tables on known numbers."""

import pytest

from crnn.tasks.cv import _summary, compare_with_svms, cv_rows, cv_table, paired_test, svm_name


def test_paired_test_detects_a_consistent_gain_and_not_noise():
    speakers = [f"{i:02d}" for i in range(24)]
    base = {s: 0.4 + 0.01 * i for i, s in enumerate(speakers)}
    better = {s: v + 0.1 for s, v in base.items()}
    result = paired_test(better, base)
    assert result["speakers"] == 24 and result["mean_difference"] == pytest.approx(0.1)
    assert result["significant"] and result["p"] < 1e-4
    same = paired_test(base, dict(base))
    assert same["p"] == 1.0 and not same["significant"]
    mixed = {s: v + (0.05 if i % 2 else -0.05) for i, (s, v) in enumerate(base.items())}
    assert not paired_test(mixed, base)["significant"]


def test_fold_summary_and_table():
    folds = [{c: {"ua": ua, "per_speaker_ua": {f"s{k}": ua}} for c in ("clean", "noisy")}
             for k, ua in enumerate([0.5, 0.6, 0.7, 0.6, 0.6])]
    row = _summary("m", "network", folds)
    assert row["clean"]["mean"] == pytest.approx(0.6) and row["clean"]["sd"] == pytest.approx(0.0707, abs=1e-4)
    assert len(row["clean"]["per_speaker_ua"]) == 5
    assert "| m | 60.0 ± 7.1 | 60.0 ± 7.1 | – | – |" in cv_table([row])


def test_both_normalisations_of_a_cv_baseline_are_rows_named_apart():
    def result(norm, ua):
        folds = [{c: {"ua": ua, "per_speaker_ua": {f"s{k}": ua}} for c in ("clean", "noisy")} for k in range(5)]
        return {"features": "compare", "norm": norm, "scheme": "cv", "folds": folds}

    stored = {"compare_cv": result("speaker", 0.6), "compare_training_norm_cv": result("training", 0.5)}
    rows = cv_rows(root="/nonexistent", baselines=stored)
    assert [r["name"] for r in rows] == ["SVM, compare", "SVM, compare (z-score with the training speakers' statistics)"]
    assert svm_name({"features": "egemaps"}) == "SVM, egemaps"  # results stored before the option existed


def test_networks_are_compared_with_the_best_svm_and_with_the_training_norm_control():
    def folds(ua):
        return [{c: {"ua": ua + 0.01 * k, "per_speaker_ua": {f"s{k}{j}": ua + 0.01 * (k + j) for j in range(2)}}
                 for c in ("clean", "noisy")} for k in range(5)]

    rows = [_summary("net", "network", folds(0.6)), _summary("SVM, compare", "baseline", folds(0.7)) | {"norm": "speaker"},
            _summary("SVM, compare (control)", "baseline", folds(0.5)) | {"norm": "training"}]
    net = compare_with_svms(rows)[0]
    assert net["vs_best_svm"]["svm"] == "SVM, compare" and net["vs_best_svm"]["clean"]["mean_difference"] == pytest.approx(-0.1)
    assert net["vs_training_norm_svm"]["clean"]["mean_difference"] == pytest.approx(0.1)
    table = cv_table(rows)
    assert "Δ vs best training-norm SVM, clean (p)" in table and "| -10.0 (p=0.002) | -10.0 (p=0.002) | +10.0 (p=0.002) |" in table


def test_restarted_folds_are_named_under_the_table(tmp_path, monkeypatch):
    import torch
    from tiny_model import TinyModel, register_tiny

    from crnn.core.checkpoint import save_checkpoint

    register_tiny(monkeypatch)
    for k in range(5):
        torch.manual_seed(k)
        model = TinyModel(2, hidden=4)
        metrics = {c: {"ua": 0.5, "per_speaker_ua": {f"s{k}": 0.5}} for c in ("clean", "noisy")}
        restarts = [{"attempt": a, "best_validation_ua": 0.125} for a in range(2 if k == 2 else 0)]
        card = {"model": "tiny", "model_kwargs": model.config, "labels": ["a", "b"], "metrics": {"test": metrics},
                "training": {"restarts": restarts}}  # fmt: skip
        save_checkpoint(model, card, tmp_path / f"tiny_cv{k}")
    rows = cv_rows(root=tmp_path, baselines={})
    assert rows[0]["name"] == "tiny" and rows[0]["restarts"] == {2: 2}
    assert cv_table(rows).endswith("`training.restarts` in the card): tiny fold 2 (2).")
    assert "restarted" not in cv_table([{**rows[0], "restarts": {}}])
