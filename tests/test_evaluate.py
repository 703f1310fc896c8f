"""Evaluation maps labels between corpora and refuses when none is shared; prediction over time."""

import numpy as np
import pytest
import soundfile as sf
import torch
from tiny_model import TinyModel, register_tiny

from crnn.core.checkpoint import save_checkpoint
from crnn.core.errors import CrnnError
from crnn.analysis.evaluate import evaluate, shared_labels
from crnn.analysis.predict import predict_file
from crnn.tasks.predict import predict_files

LABELS = ["anger", "happiness", "neutral", "sadness"]
SR = 16000


@pytest.fixture
def checkpoint(tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    torch.manual_seed(0)
    model = TinyModel(len(LABELS))
    card = {"model": "tiny", "model_kwargs": model.config, "labels": LABELS,
            "corpus": {"name": "ravdess"}, "split": {"train": [], "validation": [], "test": []}}
    return save_checkpoint(model, card, tmp_path / "ckpt")


def _folder_corpus(root, folders, per_folder=3):
    rng = np.random.default_rng(0)
    for folder in folders:
        (root / folder).mkdir(parents=True)
        for i in range(per_folder):
            sf.write(root / folder / f"{i}.wav", 0.1 * rng.standard_normal(SR), SR)
    return root


def test_shared_labels_use_synonyms():
    shared, left_out = shared_labels(LABELS, ["angry", "sad", "calm"])
    assert shared == ["anger", "sadness"] and left_out == ["calm"]


def test_evaluate_scores_shared_labels_only(checkpoint, tmp_path):
    corpus = _folder_corpus(tmp_path / "corpus", ["Angry", "sad", "calm"])
    for noisy in (False, True):
        result = evaluate(checkpoint, corpus, noisy=noisy, cache_dir=tmp_path / "cache")
        assert result["labels"] == ["anger", "sadness"]
        assert result["left_out_labels"] == ["calm"]
        assert result["n"] == 6  # the calm utterances are not scored
        assert np.array(result["confusion"]).shape == (2, 2)  # argmax restricted to shared labels
        assert result["split"] == "all"  # another corpus than the checkpoint's: every utterance


def test_evaluate_refuses_without_shared_label(checkpoint, tmp_path):
    corpus = _folder_corpus(tmp_path / "corpus", ["calm", "boredom"])
    with pytest.raises(CrnnError, match="none in common"):
        evaluate(checkpoint, corpus, cache_dir=None)


def test_a_gain_scales_every_clip_and_a_relative_floor_model_does_not_notice_it(tmp_path, monkeypatch):
    import crnn.analysis.evaluate as evaluation

    register_tiny(monkeypatch)
    torch.manual_seed(0)
    model = TinyModel(len(LABELS))
    model.frontend.set_floor("relative")
    card = {"model": "tiny", "model_kwargs": model.config, "labels": LABELS, "normalisation": model.frontend.norm_card(),
            "corpus": {"name": "ravdess"}, "split": {"train": [], "validation": [], "test": []}}
    folder = save_checkpoint(model, card, tmp_path / "ckpt")
    corpus = _folder_corpus(tmp_path / "corpus", ["Angry", "sad"])
    peaks, score = [], evaluation.score_waves
    monkeypatch.setattr(evaluation, "score_waves", lambda m, waves, *a: peaks.append(max(np.abs(w).max() for w in waves))
                        or score(m, waves, *a))
    results = [evaluate(folder, corpus, gain_db=g, cache_dir=None) for g in (0.0, -30.0)]
    assert peaks[1] == pytest.approx(peaks[0] * 10 ** (-30 / 20), rel=1e-5)
    assert results[1]["gain_db"] == -30.0 and results[0]["confusion"] == results[1]["confusion"]
    for bad in (float("nan"), 61.0, -1000.0):
        with pytest.raises(CrnnError, match="out of range"):
            evaluate(folder, corpus, gain_db=bad, cache_dir=None)


@pytest.mark.parametrize(
    "seconds, spans",
    [
        (0.6, [(0.0, 0.6)]),
        (1.0, [(0.0, 1.0)]),
        (2.0, [(0.0, 1.0), (0.5, 1.5), (1.0, 2.0)]),
        (3.2, [(0.0, 1.0), (0.5, 1.5), (1.0, 2.0), (1.5, 2.5), (2.0, 3.0), (2.5, 3.2)]),
    ],
)
def test_predict_over_time_rows(seconds, spans):
    torch.manual_seed(0)
    model = TinyModel(len(LABELS))
    wave = 0.1 * np.random.default_rng(0).standard_normal(int(seconds * SR)).astype(np.float32)
    result = predict_file(model, {"labels": LABELS}, wave)
    assert result["label"] in LABELS
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    rows = [(row["start"], row["end"]) for row in result["over_time"]]
    assert np.allclose(rows, spans)
    for row in result["over_time"]:
        assert row["label"] == max(row["probabilities"], key=row["probabilities"].get)


def test_predict_files_reports_bad_files_and_goes_on(checkpoint, tmp_path):
    good = tmp_path / "good.wav"
    t = np.arange(SR) / SR
    sf.write(good, 0.3 * np.sin(2 * np.pi * 180 * t), SR)  # voiced: a tone Praat tracks
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    noise = tmp_path / "noise.wav"
    sf.write(noise, 0.1 * np.random.default_rng(1).standard_normal(SR), SR)
    results = list(predict_files(checkpoint, [bad, tmp_path / "missing.wav", noise, good]))
    assert [("error" in r) for r in results] == [True, True, True, False]
    assert "\n" not in results[0]["error"]
    assert "no speech found" in results[2]["error"]
    assert results[3]["label"] in LABELS and results[3]["speech"] and results[3]["voiced_fraction"] > 0.5


def test_calibrating_an_older_checkpoint_writes_the_card_and_keeps_the_weights(tmp_path, monkeypatch, capsys):
    """`crnn evaluate --calibrate`: a temperature from the card's validation speakers, stored in the card."""
    import json
    from pathlib import Path

    from tiny_model import ravdess_subset

    from crnn.cli import main
    from crnn.core.checkpoint import load_checkpoint

    ravdess = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess"
    if not ravdess.is_dir():
        pytest.skip("needs ../shared/data/ravdess")
    register_tiny(monkeypatch)
    torch.manual_seed(0)
    model = TinyModel(len(LABELS))
    card = {"model": "tiny", "model_kwargs": model.config, "labels": LABELS, "corpus": {"name": "ravdess"},
            "split": {"train": ["01"], "validation": ["02"], "test": ["03"]}}
    folder = save_checkpoint(model, card, tmp_path / "old")
    before = json.loads((folder / "card.json").read_text())
    corpus = ravdess_subset(ravdess, tmp_path / "ravdess", actors=("01", "02", "03"))
    monkeypatch.setenv("CRNN_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["evaluate", "--model", str(folder), "--corpus", str(corpus), "--calibrate", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    after = json.loads((folder / "card.json").read_text())
    assert after["calibration"] == record and record["temperature"] > 0 and len(record["reliability_test"]) > 0
    assert after["weights_sha256"] == before["weights_sha256"] and load_checkpoint(folder)[1]["calibration"] == record
    other = _folder_corpus(tmp_path / "other", ["Angry", "sad"])  # not the corpus it was trained on: refused
    assert main(["evaluate", "--model", str(folder), "--corpus", str(other), "--calibrate"]) == 2
    assert "validation speakers" in capsys.readouterr().err


def _constant(folder, bias, labels=LABELS):
    """A tiny checkpoint that gives every clip the same logits: ``bias``."""
    model = TinyModel(len(labels))
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    card = {"model": "tiny", "model_kwargs": model.config, "labels": labels,
            "corpus": {"name": "ravdess"}, "split": {"train": [], "validation": [], "test": []}}
    return save_checkpoint(model, card, folder)


def test_an_ensemble_averages_its_members_probabilities(tmp_path, monkeypatch):
    from crnn.analysis.evaluate import evaluate_ensemble

    register_tiny(monkeypatch)
    corpus = _folder_corpus(tmp_path / "corpus", ["angry", "happy"])
    sure = _constant(tmp_path / "sure", [3.0, 0.0, 0.0, 0.0])  # anger 0.87
    leaning = _constant(tmp_path / "leaning", [0.0, 1.0, 0.0, 0.0])  # happiness 0.48, anger 0.18
    # mean: anger (0.87 + 0.18) / 2 = 0.52 beats happiness (0.04 + 0.48) / 2 = 0.26, though the members disagree
    result = evaluate_ensemble([leaning, sure], corpus, cache_dir=None)
    assert result["member_ua"] == [0.5, 0.5] and result["members"] == 2
    assert result["confusion"] == [[3, 0], [3, 0]] and result["ua"] == 0.5
    three = evaluate_ensemble([leaning, sure, _constant(tmp_path / "happy", [0.0, 4.0, 0.0, 0.0])], corpus, cache_dir=None)
    assert three["confusion"] == [[0, 3], [0, 3]]  # a third, confident member tips the mean to happiness
    other = _constant(tmp_path / "other", [0.0, 0.0, 0.0], ["anger", "happiness", "sadness"])
    with pytest.raises(CrnnError, match="share their labels"):
        evaluate_ensemble([sure, other], corpus, cache_dir=None)
    with pytest.raises(CrnnError, match="at least two"):
        evaluate_ensemble([sure], corpus, cache_dir=None)
