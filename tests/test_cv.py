"""Cross-validation summaries: paired tests and fold tables on known numbers."""

import pytest

from crnn.tasks.cv import _summary, cv_table, paired_test


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
