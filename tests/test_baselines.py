"""openSMILE + SVM baseline on a 16-file RAVDESS subset; speaker standardisation."""

import json

import numpy as np
import pytest
from tiny_model import ravdess_subset

import crnn.analysis.baselines as baselines
from crnn.analysis.baselines import SpeakerStandardizer
from crnn.tasks.baselines import run_baseline


def test_speaker_standardizer_zscores_within_each_speaker():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(5, 2, (6, 3)), rng.normal(-1, 0.5, (4, 3))])
    X[:, 2] = 7.0  # constant feature
    speakers = ["a"] * 6 + ["b"] * 4
    Z = SpeakerStandardizer().fit_transform(X, speakers=speakers)
    for s in ("a", "b"):
        rows = np.array(speakers) == s
        assert np.allclose(Z[rows, :2].mean(axis=0), 0) and np.allclose(Z[rows, :2].std(axis=0), 1)
    assert np.all(Z[:, 2] == 0)
    unseen = SpeakerStandardizer().fit(X[:6], speakers=speakers[:6]).transform(X[6:], speakers=speakers[6:])
    assert np.allclose(unseen, Z[6:])  # a new speaker is normalised with its own statistics


def test_egemaps_baseline_on_tiny_corpus(ravdess_root, tmp_path, monkeypatch):
    pytest.importorskip("opensmile")
    corpus = ravdess_subset(ravdess_root, tmp_path / "ravdess")
    out = tmp_path / "baselines.json"
    out.write_text(json.dumps({"compare": {"kept": True}}))
    result = run_baseline("egemaps", corpus, cache_dir=tmp_path / "cache", out=out)
    assert result["n_features"] == 88
    for kernel in ("linear", "rbf"):
        svm = result["svm"][kernel]
        assert svm["C"] in baselines.C_GRID
        for condition in ("clean", "noisy"):
            assert svm["test"][condition]["n"] == 4 and 0 <= svm["test"][condition]["ua"] <= 1
    stored = json.loads(out.read_text())
    assert stored["compare"] == {"kept": True} and stored["egemaps"]["svm"] == result["svm"]

    def no_extraction(features):
        raise AssertionError("features should come from the cache")

    monkeypatch.setattr(baselines, "_smile", no_extraction)
    again = run_baseline("egemaps", corpus, split="loso", cache_dir=tmp_path / "cache", out=out)
    assert again["svm"] == result["svm"]
    assert again["loso"]["folds"] == 4 and again["loso"]["kernel"] == result["best"]
    assert sum(f["n"] for f in again["loso"]["per_fold"]) == 16


def test_report_table_and_readme_block(tmp_path):
    from crnn.core.checkpoint import atomic_write_json
    from crnn.tasks.report import build_report, update_readme

    card = {"format": "crnn-lens/1", "model": "fst_cldnn_logmel", "corpus": {"name": "ravdess"},
            "split": {"test": ["01", "02"]}, "training": {"noisy": True, "epochs": 7, "seconds": 5400.0},
            "metrics": {"test": {"clean": {"ua": 0.5123}, "noisy": {"ua": 0.401}}}}
    atomic_write_json(tmp_path / "fst_cldnn_logmel" / "card.json", card)
    report = lambda ua: {"ua": ua}  # noqa: E731
    baseline = {"features": "egemaps", "feature_set": "eGeMAPSv02", "n_features": 88,
                "corpus": {"name": "ravdess"}, "split": {"test": ["01", "02"]},
                "svm": {"linear": {"C": 0.01, "test": {"clean": report(0.45), "noisy": report(0.3)}},
                        "rbf": {"C": 1.0, "test": {"clean": report(0.47), "noisy": report(0.31)}}}}
    atomic_write_json(tmp_path / "baselines_ravdess.json", {"egemaps": baseline})
    table = build_report(tmp_path)
    lines = table.splitlines()
    assert lines[2].startswith("| fst_cldnn_logmel | 001 | logmel | noisy | paper, utterance norm | 51.2 | 40.1 | – | 7 | 90.0 |")
    assert any(line.startswith("| SVM rbf, C=1 |") and "| 47.0 | 31.0 |" in line for line in lines)
    assert "Total training time: 1.50 h." in table and "01, 02" in table

    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\n<!-- results:start -->\nold\n<!-- results:end -->\n\nAfter.\n")
    update_readme(readme, table)
    text = readme.read_text()
    assert "old" not in text and text.startswith("# Title") and text.endswith("After.\n")
    assert table.strip() in text
