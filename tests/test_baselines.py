"""openSMILE + SVM baseline on a 16-file RAVDESS subset; speaker standardisation."""

import json

import numpy as np
import pytest
from tiny_model import ravdess_subset

import crnn.analysis.baselines as baselines
from crnn.analysis.baselines import SpeakerStandardizer
from crnn.core.errors import CrnnError
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

    control = run_baseline("egemaps", corpus, cache_dir=tmp_path / "cache", out=out, norm="training")
    stored = json.loads(out.read_text())
    assert control["norm"] == "training" and "training speakers" in control["preprocessing"]
    assert stored["egemaps_training_norm"]["svm"] == control["svm"] and stored["egemaps"]["svm"] == result["svm"]
    with pytest.raises(CrnnError, match="speaker standardisation only"):
        run_baseline("egemaps", corpus, split="loso", cache_dir=tmp_path / "cache", out=out, norm="training")


def test_training_norm_keeps_what_speaker_norm_removes():
    rng = np.random.default_rng(0)
    offset = {"a": 0.0, "b": 5.0, "c": -3.0}  # a speaker's voice: a constant shift of every feature
    speakers = {"train": ["a"] * 20 + ["b"] * 20, "test": ["c"] * 20}
    X = {name: rng.normal(size=(len(s), 3)) + np.array([offset[k] for k in s])[:, None] for name, s in speakers.items()}
    by_speaker = baselines.standardise(X, speakers, "speaker")
    by_training = baselines.standardise(X, speakers, "training")
    assert np.allclose(by_speaker["test"].mean(axis=0), 0)  # the test speaker's own statistics
    train_mean, train_std = X["train"].mean(axis=0), X["train"].std(axis=0)
    assert np.allclose(by_training["test"], (X["test"] - train_mean) / train_std)  # only the training statistics
    assert np.all(by_training["test"].mean(axis=0) < -1)  # the shift of speaker c stays
    with pytest.raises(CrnnError, match="unknown normalisation"):
        baselines.standardise(X, speakers, "utterance")


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


def test_a_stored_result_is_not_replaced_by_one_from_another_split(tmp_path):
    """A rerun with another --seed (or on part of the corpus) used to replace the shipped figure silently."""
    from crnn.tasks.baselines import check_replaceable, store_result

    path = tmp_path / "baselines.json"
    split = {"train": ["02"], "validation": ["03"], "test": ["01"]}
    store_result(path, "egemaps", {"seed": 0, "split": split, "corpus": {"utterances": 40}, "ua": 0.5})
    store_result(path, "egemaps", {"seed": 0, "split": split, "corpus": {"utterances": 40}, "ua": 0.5})  # the same run again
    store_result(path, "compare_cv", {"seed": 0, "folds": [{"test_speakers": ["01"]}, {"test_speakers": ["02"]}]})
    for key, other in (("egemaps", {"seed": 1}), ("egemaps", {"split": {**split, "test": ["04"]}}),
                       ("egemaps", {"corpus": {"utterances": 12}}), ("compare_cv", {"folds": [{"test_speakers": ["02"]}]})):
        with pytest.raises(CrnnError, match="already holds .* scored on another split, seed or corpus"):
            check_replaceable(path, key, other)
    assert json.loads(path.read_text())["egemaps"]["ua"] == 0.5
    check_replaceable(path, "compare", {"seed": 3})  # nothing stored under that name yet


def test_a_file_that_is_not_a_results_file_is_never_replaced_by_one(tmp_path):
    """`crnn baseline --out README.md` replaced the README with JSON; a damaged results file was emptied."""
    from crnn.tasks.baselines import check_replaceable, results_path, store_result

    readme = tmp_path / "README.md"
    readme.write_text("# notes\n")
    with pytest.raises(CrnnError, match="written as .json"):
        results_path(None, readme)
    damaged = tmp_path / "baselines.json"
    for text in ("{not json", "[1, 2]", "[" * 100_000 + "]" * 100_000):
        damaged.write_text(text)
        with pytest.raises(CrnnError, match="is not a results file"):
            check_replaceable(damaged, "egemaps", {"seed": 0})
        with pytest.raises(CrnnError, match="is not a results file"):
            store_result(damaged, "egemaps", {"seed": 0})
        assert damaged.read_text() == text
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(CrnnError, match="is not a results file"):
        check_replaceable(tmp_path / "folder.json", "egemaps", {"seed": 0})
    assert readme.read_text() == "# notes\n"
