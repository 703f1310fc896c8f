"""A network's embedding through the SVM baseline's standardisation (``crnn baseline --features embedding``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from tiny_model import TinyModel, register_tiny

from crnn.cli import main
from crnn.core.checkpoint import save_checkpoint
from crnn.core.corpora import read_corpus
from crnn.core.errors import CrnnError
from crnn.plots import results_figure
from crnn.tasks.cv import cv_rows
from crnn.tasks.report import results_rows
from crnn.tasks import embedding_svm
from crnn.tasks.baselines import baseline_text
from crnn.tasks.embedding_svm import embedding_baseline

ACTORS = ("01", "02", "03", "04", "05")
LABELS = ["anger", "neutral"]


def _corpus(root):
    """Five actors, three clips per emotion: anger a 150 Hz tone, neutral 300 Hz, each swelling over 1 s."""
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    for actor in ACTORS:
        folder = root / f"Actor_{actor}"
        folder.mkdir(parents=True)
        for code, f0 in (("05", 150.0), ("01", 300.0)):
            for k in range(3):
                wave = t * np.sin(2 * np.pi * f0 * (1 + 0.03 * k) * t) * 0.3 + 0.005 * rng.normal(size=len(t))
                sf.write(folder / f"03-01-{code}-01-01-0{k + 1}-{actor}.wav", wave.astype(np.float32), 16000)
    return read_corpus(root)


def _checkpoint(folder, test: str, validation: str, corpus_name="ravdess", noisy=False):
    torch.manual_seed(int(test))
    model = TinyModel(len(LABELS), hidden=8)
    split = {"train": [a for a in ACTORS if a not in (test, validation)], "validation": [validation], "test": [test]}
    card = {"model": "tiny", "model_kwargs": model.config, "labels": LABELS, "split": split,
            "corpus": {"name": corpus_name}, "training": {"noisy": noisy}}  # fmt: skip
    return save_checkpoint(model, card, folder)


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    # a random network's recurrent output carries the tones' pitch only faintly; the mean log-Mel
    # carries it plainly, so with it the pipeline has a known answer: every test clip right
    monkeypatch.setattr(embedding_svm, "MODULE", "input")
    return _corpus(tmp_path / "corpus")


def test_the_embedding_separates_what_the_tones_encode_and_is_stored_beside_the_baselines(corpus, tmp_path):
    folder = _checkpoint(tmp_path / "ckpts" / "tiny", test="05", validation="04", noisy=True)
    out = tmp_path / "baselines.json"
    out.write_text(json.dumps({"compare": {"kept": True}}))
    result = embedding_baseline(folder, corpus, cache_dir=tmp_path / "cache", out=out)
    assert result["n_features"] == 40 and result["model"] == "tiny" and result["split"]["test"] == ["05"]
    for kernel in ("linear", "rbf"):
        test = result["svm"][kernel]["test"]
        assert test["clean"]["n"] == test["noisy"]["n"] == 6
    assert result["svm"][result["best"]]["test"]["clean"]["ua"] == 1.0
    stored = json.loads(out.read_text())
    assert stored["compare"] == {"kept": True} and stored["embedding_tiny"]["svm"] == result["svm"]
    text = baseline_text(result)
    assert f"{result['best']} C={result['svm'][result['best']]['C']:g} (chosen on validation)" in text
    assert "test clean 100.0" in text and text.count("(chosen on validation)") == 1
    rows = [r for r in results_rows(tmp_path / "none", baselines=[result]) if r["network"] == "tiny"]
    assert len(rows) == 1 and rows[0]["kernel"] == result["best"] and rows[0]["paper"] == "network + SVM"
    assert rows[0]["training"] == "noisy"  # the network's training condition; the SVM's data are clean
    assert not any("tiny" in trace.name for trace in results_figure(rows).data)  # the chart draws openSMILE SVMs only
    control = embedding_baseline(folder, corpus, cache_dir=tmp_path / "cache", out=out, norm="training")
    assert "training speakers" in control["preprocessing"] and "embedding_tiny_training_norm" in json.loads(out.read_text())


def test_folds_each_embed_with_their_own_model_and_join_the_cv_table(corpus, tmp_path):
    for k, actor in enumerate(ACTORS):
        _checkpoint(tmp_path / "ckpts" / f"tiny_cv{k}", test=actor, validation=ACTORS[k - 1])
    out = tmp_path / "baselines.json"
    result = embedding_baseline(tmp_path / "ckpts" / "tiny", corpus, split="cv", cache_dir=tmp_path / "cache", out=out)
    assert [f["test_speakers"] for f in result["folds"]] == [[a] for a in ACTORS]
    for fold, actor in zip(result["folds"], ACTORS):
        assert list(fold["clean"]["per_speaker_ua"]) == [actor] == list(fold["noisy"]["per_speaker_ua"])
        assert fold["clean"]["ua"] == 1.0
    assert "fold 4 (test 05)" in baseline_text(result) and "clean: 100.0 ± 0.0 (mean ± sd over folds)" in baseline_text(result)
    svm = {"features": "compare", "norm": "speaker", "scheme": "cv", "folds": [
        {c: {"ua": 0.9, "per_speaker_ua": {a: 0.9}} for c in ("clean", "noisy")} for a in ACTORS]}
    rows = cv_rows(root=tmp_path / "none", baselines=json.loads(out.read_text()) | {"compare_cv": svm})
    embedded = next(r for r in rows if r["kind"] == "embedding")
    assert embedded["name"] == "SVM on tiny's embedding"
    assert embedded["vs_best_svm"]["svm"] == "SVM, compare"  # better, yet compared with the SVMs, not counted as one


def test_refusals(corpus, tmp_path, capsys):
    folder = _checkpoint(tmp_path / "ckpts" / "tiny", test="05", validation="04", corpus_name="another")
    with pytest.raises(CrnnError, match="not trained on"):
        embedding_baseline(folder, corpus, cache_dir=tmp_path / "cache", out=tmp_path / "b.json")
    with pytest.raises(CrnnError, match="no five fold checkpoints"):
        embedding_baseline(folder, corpus, split="cv", cache_dir=tmp_path / "cache", out=tmp_path / "b.json")
    with pytest.raises(CrnnError, match="unknown split"):
        embedding_baseline(folder, corpus, split="loso", out=tmp_path / "b.json")
    assert main(["baseline", "--features", "embedding", "--corpus", str(corpus.root)]) == 2
    assert "needs --model" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()
