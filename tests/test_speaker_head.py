"""Speaker-adapted prediction: ``crnn adapt`` and ``crnn predict --same-speaker``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from test_embedding_svm import ACTORS, LABELS, _checkpoint, _corpus
from tiny_model import register_tiny

from crnn.analysis import speaker_head
from crnn.analysis.speaker_head import HEAD_FILE, SpeakerAdaptedHead, load_head, save_head, subsampled_predictions
from crnn.cli import main
from crnn.core.checkpoint import read_card
from crnn.core.errors import CrnnError
from crnn.tasks import embedding_svm
from crnn.tasks.adapt import cv_heads_text, cv_speaker_heads, fit_speaker_head, head_rows, head_text, heads_table
from crnn.tasks.cv import cv_rows
from crnn.tasks.predict import predict_files


def _offset_speakers(n_speakers=8, per_class=10, seed=0):
    """Two emotions 1 unit apart along feature 0, under a speaker offset of up to ±4 units on the same axis."""
    rng = np.random.default_rng(seed)
    X, y, s = [], [], []
    for k in range(n_speakers):
        offset = rng.uniform(-4, 4)
        for label, shift in (("anger", 0.5), ("neutral", -0.5)):
            X.append(np.c_[offset + shift + 0.1 * rng.normal(size=per_class), rng.normal(size=(per_class, 3))])
            y += [label] * per_class
            s += [f"s{k}"] * per_class
    return np.vstack(X), np.array(y), np.array(s)


def test_the_head_removes_a_speaker_offset_that_defeats_a_classifier_without_it():
    X, y, s = _offset_speakers()
    Xt, yt, st = _offset_speakers(seed=1)
    head = SpeakerAdaptedHead(C=1.0).fit(X, y, s)
    assert head.score(Xt, yt, st) == 1.0
    plain = LogisticRegression(class_weight="balanced").fit(X, y)
    assert plain.score(Xt, yt) < 0.85  # the offset swamps the emotion without the speaker's statistics
    p = head.predict_proba(Xt, st)
    assert p.shape == (len(Xt), 2) and np.allclose(p.sum(axis=1), 1.0)
    # with two clips of the speaker, one per emotion, the z-score still separates them
    assert (subsampled_predictions(head, Xt, st, n_clips=2, seed=0) == yt).mean() > 0.4


def test_a_stored_head_round_trips_and_refuses_other_weights_or_a_damaged_file(tmp_path):
    X, y, s = _offset_speakers()
    head = SpeakerAdaptedHead(C=0.1).fit(X, y, s)
    save_head(head, {"weights_sha256": "abc", "clips_needed": 5}, tmp_path)
    again, record = load_head(tmp_path, "abc")
    assert record["C"] == 0.1 and record["labels"] == ["anger", "neutral"] and record["clips_needed"] == 5
    assert np.allclose(again.predict_proba(X, s), head.predict_proba(X, s), atol=1e-5)
    with pytest.raises(CrnnError, match="other weights"):
        load_head(tmp_path, "retrained")
    (tmp_path / HEAD_FILE).write_bytes(b"\x00garbage")
    with pytest.raises(CrnnError, match="not a speaker head"):
        load_head(tmp_path, "abc")
    assert load_head(tmp_path / "none", "abc") is None


def test_a_head_with_nan_coefficients_or_a_record_nested_too_deeply_is_refused(tmp_path):
    from crnn.core.head_file import write_head_file

    coef, intercept = np.zeros((2, 3)), np.zeros(2)
    write_head_file(tmp_path, coef, intercept, {"weights_sha256": "abc", "labels": ["anger", "neutral"]})
    assert load_head(tmp_path, "abc") is not None
    coef[1, 2] = np.nan  # it would have given NaN probabilities for every clip of the speaker
    write_head_file(tmp_path, coef, intercept, {"weights_sha256": "abc", "labels": ["anger", "neutral"]})
    with pytest.raises(CrnnError, match="damaged"):
        load_head(tmp_path, "abc")
    from safetensors.numpy import save

    deep = "[" * 100_000 + "]" * 100_000  # json.loads raised RecursionError
    (tmp_path / HEAD_FILE).write_bytes(save({"coef": np.zeros((2, 3), np.float32), "intercept": np.zeros(2, np.float32)},
                                            metadata={"record": deep}))
    with pytest.raises(CrnnError, match="not a speaker head"):
        load_head(tmp_path, "abc")


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    # the mean log-Mel carries the tones' pitch plainly (see test_embedding_svm): a known answer
    monkeypatch.setattr(embedding_svm, "MODULE", "input")
    monkeypatch.setattr(speaker_head, "MODULE", "input")
    return _corpus(tmp_path / "corpus")


def _with_metrics(folder, network_ua=0.5):
    card = read_card(folder)
    test = card["split"]["test"][0]
    metrics = {c: {"ua": network_ua, "per_speaker_ua": {test: network_ua}} for c in ("clean", "noisy")}
    card["metrics"] = {"validation": metrics, "test": metrics}
    (folder / "card.json").write_text(json.dumps(card))  # the weights, and their hash, are unchanged
    return folder


def test_adapt_fits_on_training_speakers_and_predict_uses_a_speakers_clips(corpus, tmp_path, capsys):
    folder = _with_metrics(_checkpoint(tmp_path / "ckpts" / "tiny", test="05", validation="04"))
    record = fit_speaker_head(folder, corpus, cache_dir=tmp_path / "cache")
    assert (folder / HEAD_FILE).is_file() and record["labels"] == LABELS
    assert record["test_ua"]["all"] == 1.0 and record["clips_needed"] == 5  # the validation actor has 6 clips
    assert record["weights_sha256"] == read_card(folder)["weights_sha256"]
    assert "clips needed: 5" in head_text(record)
    clips = sorted((corpus.root / "Actor_05").glob("*.wav"))
    results = list(predict_files(folder, clips, same_speaker=True))
    truth = ["anger" if "-05-" in p.name else "neutral" for p in clips]
    assert [r["speaker_adapted"]["label"] for r in results] == truth
    assert all("label" in r and "over_time" in r for r in results)  # the network's own answer stays
    with pytest.raises(CrnnError, match="at least 5 usable clips"):
        list(predict_files(folder, clips[:4], same_speaker=True))
    assert main(["predict", "--model", str(folder), "--same-speaker", *map(str, clips[:2])]) == 2
    assert "at least 5 usable clips" in capsys.readouterr().err
    assert main(["predict", "--model", str(folder), "--same-speaker", *map(str, clips)]) == 0
    assert capsys.readouterr().out.count("speaker-adapted: ") == len(clips)


def test_the_heads_table_lists_fitted_heads_and_leaves_out_stale_ones(corpus, tmp_path):
    root = tmp_path / "ckpts"
    fitted, stale = (_with_metrics(_checkpoint(root / name, test="05", validation="04")) for name in ("a", "b"))
    for folder in (fitted, stale):
        fit_speaker_head(folder, corpus, cache_dir=tmp_path / "cache")
    card = read_card(stale)
    (stale / "card.json").write_text(json.dumps({**card, "weights_sha256": "0" * 64}))  # as if retrained since
    rows = head_rows(root)
    assert [r["model"] for r in rows] == ["a"]
    table = heads_table(rows).splitlines()
    assert len(table) == 3 and table[2].startswith("| a | 5 | 100.0 / ")


def test_predict_same_speaker_without_a_head_says_how_to_fit_one(corpus, tmp_path, capsys):
    folder = _checkpoint(tmp_path / "ckpts" / "tiny", test="05", validation="04")
    clip = str(next((corpus.root / "Actor_05").glob("*.wav")))
    assert main(["predict", "--model", str(folder), "--same-speaker", clip]) == 2
    assert "crnn adapt --model tiny" in capsys.readouterr().err


def test_cv_heads_are_compared_with_the_fold_networks_and_join_the_cv_table(corpus, tmp_path):
    for k, actor in enumerate(ACTORS):
        _with_metrics(_checkpoint(tmp_path / "ckpts" / f"tiny_cv{k}", test=actor, validation=ACTORS[k - 1]))
    out = tmp_path / "baselines.json"
    result = cv_speaker_heads(tmp_path / "ckpts" / "tiny", corpus, cache_dir=tmp_path / "cache", out=out)
    assert result["clean"]["head"]["folds"] == [1.0] * 5 and result["clean"]["network"]["mean"] == 0.5
    assert result["clean"]["paired"]["speakers"] == 5 and result["clean"]["paired"]["mean_difference"] == 0.5
    assert "head 100.0 ± 0.0 %, network alone 50.0 ± 0.0 %" in cv_heads_text(result)
    stored = json.loads(out.read_text())["speaker_head_tiny_cv"]
    assert [f["test_speakers"] for f in stored["folds"]] == [[a] for a in ACTORS]
    assert all((tmp_path / "ckpts" / f"tiny_cv{k}" / HEAD_FILE).is_file() for k in range(5))
    svm = {"features": "compare", "norm": "speaker", "scheme": "cv", "folds": [
        {c: {"ua": 0.9, "per_speaker_ua": {a: 0.9}} for c in ("clean", "noisy")} for a in ACTORS]}
    rows = cv_rows(root=tmp_path / "none", baselines={"speaker_head_tiny_cv": stored, "compare_cv": svm})
    row = next(r for r in rows if r["name"] == "tiny + speaker-adapted head")
    assert row["kind"] == "embedding" and row["vs_best_svm"]["svm"] == "SVM, compare"


def test_adapt_refuses_another_corpus(corpus, tmp_path):
    folder = _with_metrics(_checkpoint(tmp_path / "ckpts" / "tiny", test="05", validation="04", corpus_name="other"))
    with pytest.raises(CrnnError, match="not trained on"):
        fit_speaker_head(folder, corpus, cache_dir=tmp_path / "cache")
    assert main(["adapt", "--model", str(folder), "--corpus", str(corpus.root)]) == 2
    assert not (folder / HEAD_FILE).exists()


def test_a_head_that_never_helps_on_validation_is_not_offered(corpus, tmp_path, capsys):
    folder = _checkpoint(tmp_path / "ckpts" / "tiny", test="05", validation="04")
    X, y, s = _offset_speakers()
    head = SpeakerAdaptedHead().fit(X, np.where(y == "anger", "anger", "neutral"), s)
    save_head(head, {"weights_sha256": read_card(folder)["weights_sha256"], "clips_needed": None}, folder)
    clips = sorted(map(str, (corpus.root / "Actor_05").glob("*.wav")))
    assert main(["predict", "--model", str(folder), "--same-speaker", *clips]) == 2
    assert "not better than the network alone" in capsys.readouterr().err
