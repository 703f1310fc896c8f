"""Science that holds up: speaker-bootstrap intervals, control tasks, out-of-fold representations,
attribution sanity checks and the paper-check rows, on small cases with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_probe import write_corpus
from tiny_model import TinyModel, ravdess_subset, register_tiny

from crnn.analysis.metrics import unweighted_accuracy
from crnn.analysis.probe import Representations, inertia_ratio
from crnn.analysis.robust_probe import SpeakerBootstrap, control_labels, robust_probe
from crnn.analysis.sanity import BARELY_CHANGES, cascading_randomisation, module_time_profile, rank_similarity
from crnn.analysis.science import CLAIMS, best_cell, card_ua, verdict
from crnn.core.checkpoint import save_checkpoint
from crnn.core.corpora import read_corpus
from crnn.core.errors import CrnnError
from crnn.tasks import oof
from crnn.tasks.probe import module_representations

RAVDESS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess"


def synthetic_reps(n_speakers: int = 10, per: int = 24, seed: int = 0) -> Representations:
    """Module "label" encodes the emotion perfectly (one well-separated dimension per class); "noise" encodes nothing."""
    rng = np.random.default_rng(seed)
    spk = np.repeat([f"s{i:02d}" for i in range(n_speakers)], per)
    emo = np.tile(["anger", "calm", "sadness", "fear"], n_speakers * per // 4)
    gender = np.where(np.arange(len(spk)) // per % 2 == 0, "female", "male")
    noise = rng.normal(size=(len(spk), 12))
    perfect = noise.copy()
    perfect[:, :4] += 8.0 * (emo[:, None] == np.array(["anger", "calm", "sadness", "fear"])[None])
    return Representations({"label": perfect.astype(np.float32), "noise": noise.astype(np.float32)},
                           np.arange(len(spk)).astype(str), emo, spk, gender, {})


def test_bootstrap_matches_the_plain_statistics():
    reps = synthetic_reps()
    boot = SpeakerBootstrap(reps.speaker, n_boot=50)
    assert boot.weights.shape == (50, 10) and (boot.weights.sum(axis=1) == 10).all()
    X = reps.modules["noise"]
    value, samples = boot.rho(X, reps.emotion)
    assert value == pytest.approx(inertia_ratio(X, reps.emotion)) and samples.shape == (50,)
    pred = np.roll(reps.emotion, 1)
    ua, s = boot.ua(reps.emotion, pred)
    assert ua == pytest.approx(unweighted_accuracy(reps.emotion, pred)) and np.isfinite(s).all()


def test_perfect_and_empty_representations_with_controls():
    result = robust_probe(synthetic_reps(), labels=("emotion", "gender"), svm_labels=("emotion",))
    perfect, empty = result["svm"]["label"]["emotion"], result["svm"]["noise"]["emotion"]
    assert perfect["ua"]["low"] > 0.95
    assert empty["ua"]["low"] < 0.25 < empty["ua"]["high"] and empty["ua"]["high"] < 0.45  # chance is 0.25
    # The control task (labels permuted per speaker) cannot be learnt across speakers: near chance either way.
    assert perfect["control_task_ua"]["value"] < 0.45 and perfect["selectivity"]["low"] > 0.5
    assert empty["selectivity"]["low"] < 0 < empty["selectivity"]["high"]
    rho = result["inertia_ratio"]
    assert rho["label"]["emotion"]["high"] < rho["noise"]["emotion"]["low"]
    for d in (rho["label"]["emotion"], perfect["ua"]):
        assert d["low"] <= d["value"] <= d["high"]


def test_control_labels_are_a_permutation_per_speaker():
    reps = synthetic_reps()
    ctrl = control_labels(reps.emotion, reps.speaker, seed=1)
    for s in np.unique(reps.speaker):
        rows = reps.speaker == s
        mapping = set(zip(reps.emotion[rows], ctrl[rows]))
        assert len(mapping) == 4 and len({b for _, b in mapping}) == 4  # a bijection of the classes
    assert (ctrl != reps.emotion).any()


def test_verdicts_and_card_intervals():
    up = {"value": 0.2, "low": 0.1, "high": 0.3}
    down = {"value": -0.2, "low": -0.3, "high": -0.1}
    spans = {"value": 0.05, "low": -0.05, "high": 0.1}
    assert verdict([up, up]) == "agrees" and verdict([up, down]) == "disagrees" and verdict([up, spans]) == "inconclusive"
    assert verdict([up, None]) == "inconclusive" and verdict([]) == "inconclusive"
    card = {"metrics": {"test": {"clean": {"ua": 0.75, "confusion": [[30, 10], [10, 30]]}}}}
    ua, samples = card_ua(card)
    assert ua == 0.75 and 0.6 < np.percentile(samples, 2.5) < 0.75 < np.percentile(samples, 97.5) < 0.9
    assert card_ua(card, "noisy") is None
    assert all({"paper", "claim", "paper_figure", "source"} <= set(c) for c in CLAIMS)


def test_best_cell_interval():
    rng = np.random.default_rng(0)
    R = rng.normal(0, 0.1, size=(40, 6))
    R[:, 3] -= 0.8  # one cell anti-correlated with the feature in every clip
    out = best_cell(R, np.repeat(np.arange(8), 5))
    assert out["cell"] == 3 and out["r"]["high"] < -0.7 and out["abs_r"]["low"] > 0.7


def test_saliency_changes_when_the_weights_are_randomised():
    torch.manual_seed(0)
    model = TinyModel(3).eval()
    with torch.no_grad():  # a "trained" model that listens to mel bands 5-7 only
        model.conv.weight.zero_()
        model.conv.weight[:, 5:8] = 1.0
    wave = np.random.default_rng(0).normal(size=8000).astype(np.float32) * 0.1
    result = cascading_randomisation(model, wave, method="saliency")
    assert [s["stage"] for s in result["steps"]] == ["head", "rnn", "conv"]
    assert result["steps"][-1]["spearman"] < BARELY_CHANGES and not result["steps"][-1]["barely_changes"]
    assert model.conv.weight[:, 5:8].eq(1.0).all()  # the model itself is untouched
    assert rank_similarity(np.arange(5), np.arange(5) * 2) == pytest.approx(1.0)


def test_module_time_profile_normalises_each_module():
    modules = {"cnn": {"total": 2.0, "times": np.array([0.25, 0.75]), "per_time": np.array([1.0, 1.0])},
               "rnn": {"total": 2.0, "times": np.array([0.25, 0.75]), "per_time": np.array([2.0, 0.0])},
               "mlp": {"total": 2.0, "times": np.array([0.5]), "per_time": np.array([2.0])}}
    p = module_time_profile(modules, n_bins=2)
    np.testing.assert_allclose(p["modules"]["cnn"], [0.5, 0.5])
    np.testing.assert_allclose(p["modules"]["rnn"], [1.0, 0.0])
    assert "mlp" not in p["modules"] and p["totals"]["mlp"] == 2.0


@pytest.fixture
def folds(tmp_path, monkeypatch):
    """Five fold checkpoints "tiny_cv0..4" (each tests one actor; the fifth none) and a 4-actor synthetic corpus."""
    register_tiny(monkeypatch)
    root = write_corpus(tmp_path / "corpus")
    models = []
    for k in range(5):
        torch.manual_seed(k)
        model = TinyModel(2, hidden=4)
        split = {"train": [], "validation": [], "test": [f"0{k + 1}"] if k < 4 else []}
        card = {"model": "tiny", "model_kwargs": model.config, "labels": ["anger", "neutral"], "split": split,
                "corpus": {"name": "ravdess"}}
        save_checkpoint(model, card, tmp_path / "ckpts" / f"tiny_cv{k}")
        models.append(model)
    return tmp_path / "ckpts" / "tiny", read_corpus(root), models


def test_out_of_fold_representations_use_the_fold_that_never_heard_the_speaker(folds, tmp_path, monkeypatch):
    ref, corpus, models = folds
    assert len(oof.fold_folders(ref)) == 5 and oof.fold_folders(tmp_path / "other") == []
    monkeypatch.setattr(oof, "USER_MODELS_DIR", ref.parent)  # a bare name finds folds where `crnn train` puts them
    assert oof.fold_folders("tiny") == oof.fold_folders(ref) and oof.fold_folders("nothing") == []
    monkeypatch.setattr(oof, "USER_MODELS_DIR", tmp_path / "none")
    monkeypatch.setattr(oof, "FOLDS_DIR", ref.parent)  # shipped folds live in checkpoints/folds, out of the picker
    assert oof.fold_folders("tiny") == oof.fold_folders(ref)
    reps, ctrl = oof.scoped_representations(ref, corpus, cache_dir=tmp_path / "cache")
    assert reps.meta["scope"] == "out of fold" and len(reps) == len(corpus.utterances) == 16
    blocks = np.asarray(reps.meta["blocks"])  # each row's fold model: one speaker per fold here
    assert len(blocks) == len(reps) and all(len(set(reps.speaker[blocks == b])) == 1 for b in set(blocks))
    assert ctrl.meta["scope"].startswith("out of fold") and list(ctrl.ids) == list(reps.ids)
    for k in range(4):
        utts = [u for u in corpus.utterances if u.speaker == f"0{k + 1}"]
        own = module_representations(models[k], utts, use_cache=False)
        rows = reps.speaker == f"0{k + 1}"
        np.testing.assert_allclose(reps.modules["rnn"][rows], own.modules["rnn"], atol=1e-6)
    assert not np.allclose(ctrl.modules["rnn"], reps.modules["rnn"])
    result = robust_probe(reps, labels=("emotion",), n_boot=20)
    assert result["scheme"] == "cv" and result["speakers"] == 4


def test_overlapping_folds_are_refused(folds):
    _, corpus, models = folds
    card = {"model": "tiny", "split": {"test": ["01"]}}
    with pytest.raises(CrnnError, match="overlap"):
        oof.out_of_fold_representations([(models[0], card), (models[1], card)], corpus, cache_dir=None)


def test_without_folds_only_the_test_speakers_are_probed(tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    corpus = read_corpus(write_corpus(tmp_path / "corpus"))
    model = TinyModel(2, hidden=4)
    card = {"model": "tiny", "model_kwargs": model.config, "labels": ["anger", "neutral"], "corpus": {"name": "ravdess"},
            "split": {"train": ["01", "02"], "validation": [], "test": ["03", "04"]}}
    folder = save_checkpoint(model, card, tmp_path / "solo")
    reps, ctrl = oof.scoped_representations(folder, corpus, cache_dir=tmp_path / "cache")
    assert reps.meta["scope"] == "test speakers only" and set(reps.speaker) == {"03", "04"} and len(ctrl) == len(reps)


@pytest.mark.skipif(not RAVDESS.is_dir(), reason="needs ../shared/data/ravdess")
def test_probe_measurement_on_ravdess_test_speakers(tmp_path, monkeypatch):
    from crnn.tasks.science import probe_rows
    from crnn.tasks.science_measure import probe_measurement

    monkeypatch.setattr(oof, "FOLDS_DIR", tmp_path / "no_folds")  # the shipped folds would make it out of fold

    corpus = read_corpus(ravdess_subset(RAVDESS, tmp_path / "ravdess", actors=("01", "02", "04")))
    m = probe_measurement("fst_cldnn_logmel", corpus, cache_dir=tmp_path / "cache", n_boot=50)
    assert m["scope"] == "test speakers only" and m["speakers"] == 2  # actors 01 and 04 are the card's test actors
    rows = probe_rows(m)
    assert [r["id"] for r in rows][:2] == ["001-svm-rises", "001-emotion-rho-falls"]
    assert all(r["verdict"] in ("agrees", "disagrees", "inconclusive") and "random weights" in r["control"] for r in rows)


def test_crnn_probe_reports_intervals_and_the_control_task(tmp_path, monkeypatch):
    from crnn.tasks.probe import run_probe

    register_tiny(monkeypatch)
    model = TinyModel(2, hidden=4)
    card = {"model": "tiny", "model_kwargs": model.config, "labels": ["anger", "neutral"]}
    folder = save_checkpoint(model, card, tmp_path / "ckpt")
    out = run_probe(folder, write_corpus(tmp_path / "corpus"), cache_dir=tmp_path / "cache")
    rho = out["intervals"]["inertia_ratio"]["rnn"]["emotion"]
    assert rho["low"] <= rho["value"] <= rho["high"]
    assert {"ua", "control_task_ua", "selectivity"} <= set(out["intervals"]["svm"]["rnn"]["emotion"])


def test_crnn_science_without_a_corpus_prints_the_checkpoint_rows(capsys, tmp_path):
    import json

    from crnn.cli import main

    assert main(["science", "--json", "--figure", str(tmp_path / "science.html")]) == 0
    out = json.loads(capsys.readouterr().out)
    ids = {r["id"] for r in out["rows"]}
    assert {"001-fst-most-robust", "001-sconv-beats-dct", "001-cldnn-beats-ldnn-noisy", "004-2d-beats-1d",
            "000-crnn-beats-conv"} <= ids
    assert all(r["verdict"] in ("agrees", "disagrees", "inconclusive") or r["verdict"].startswith("not yet testable")
               for r in out["rows"])
    assert (tmp_path / "science.html").is_file() and out["probe_scope"] is None


def test_a_representation_that_memorises_speakers_has_low_selectivity():
    """One cluster per (speaker, emotion): the control task (a per-speaker relabelling) is as learnable as the task."""
    reps = synthetic_reps()
    rng = np.random.default_rng(3)
    _, cell = np.unique(np.char.add(reps.speaker.astype(str), reps.emotion.astype(str)), return_inverse=True)
    centres = rng.normal(size=(cell.max() + 1, 30)) * 5.0
    reps.modules = {"memorise": (centres[cell] + rng.normal(size=(len(cell), 30))).astype(np.float32)}
    out = robust_probe(reps, labels=("emotion",), svm_labels=("emotion",), n_boot=50)["svm"]["memorise"]["emotion"]
    assert out["control_task_ua"]["value"] > 0.9 and out["ua_within_speaker"]["value"] > 0.9
    assert abs(out["selectivity"]["value"]) < 0.1


@pytest.mark.skipif(not RAVDESS.is_dir(), reason="needs ../shared/data/ravdess")
def test_cell_rows_on_a_few_ravdess_clips(tmp_path):
    from crnn.tasks.science import cell_rows
    from crnn.tasks.science_measure import cell_measurement

    corpus = read_corpus(ravdess_subset(RAVDESS, tmp_path / "ravdess", actors=("01", "02", "03")))
    m = cell_measurement("raw_crnn", corpus, sample=4, n_boot=50, cache_dir=tmp_path / "cache")
    assert m["clips"] == 4 and set(m["features"]) >= {"loudness", "f0_hz", "rms_range"}
    for d in m["features"].values():
        assert -1 <= d["trained"]["r"]["value"] <= 1 and len(d["control"]["clip_r"]) == 3
    rows = cell_rows(m)
    assert [r["paper"] for r in rows] == ["002"] * 3 and all("random weights" in r["control"] for r in rows)
    again = cell_measurement("raw_crnn", corpus, sample=4, n_boot=50, cache_dir=tmp_path / "cache")  # from the cache
    assert again["features"]["loudness"]["trained"]["cell"] == m["features"]["loudness"]["trained"]["cell"]


def test_page_two_interval_chart_and_table_show_controls():
    """The figure draws each UA with its interval and the control task; random weights add pale bars and columns."""
    from crnn.app.controls import interval_table
    from crnn.plots_science import probe_interval_figure

    result = robust_probe(synthetic_reps(), labels=("emotion", "gender"), svm_labels=("emotion",), n_boot=50)
    fig = probe_interval_figure(result)
    bars = [t for t in fig.data if t.type == "bar"]
    assert [b.name for b in bars] == ["emotion"]
    perfect = result["svm"]["label"]["emotion"]["ua"]
    assert bars[0].error_y.arrayminus[0] == pytest.approx(perfect["value"] - perfect["low"])
    dash = next(t for t in fig.data if t.type == "scatter")
    assert dash.y[0] == pytest.approx(result["svm"]["label"]["emotion"]["control_task_ua"]["value"])
    table = interval_table(result)
    assert len(table) == 4 and "random weights: ρ" not in table.columns  # 2 modules × (emotion, gender)
    assert table.loc[0, "SVM UA, unseen speakers"].startswith(f"{100 * perfect['value']:.0f} %")
    with_control = probe_interval_figure(result, control=result)
    assert sum(t.type == "bar" for t in with_control.data) == 2
    assert "random weights: SVM UA" in interval_table(result, result).columns


def test_blocks_keep_each_fold_model_in_its_own_space():
    """Two "fold models" encode the emotion perfectly, each in its own rotated, shifted space: probing them
    pooled mixes the spaces (class means averaged over unaligned coordinates); with blocks every fit and
    inertia stays inside one model and finds the code."""
    reps = synthetic_reps(n_speakers=12)
    rng = np.random.default_rng(1)
    block = (np.unique(reps.speaker, return_inverse=True)[1] >= 6).astype(int)  # speakers 0-5 | 6-11
    X = reps.modules["label"].astype(np.float64)
    Q, _ = np.linalg.qr(rng.normal(size=(X.shape[1], X.shape[1])))
    X[block == 1] = X[block == 1] @ Q * 3.0 + 20.0  # the second model's coordinates
    mixed = Representations({"oof": X.astype(np.float32)}, reps.ids, reps.emotion, reps.speaker, reps.gender, {})
    pooled = robust_probe(mixed, labels=("emotion",), svm_labels=("emotion",), n_boot=20)
    kept = robust_probe(mixed, labels=("emotion",), svm_labels=("emotion",), n_boot=20, blocks=block)
    alone = robust_probe(synthetic_reps(n_speakers=12), labels=("emotion",), svm_labels=(), n_boot=20)
    assert kept["svm"]["oof"]["emotion"]["ua"]["low"] > 0.95  # cross-validated by speaker inside each block
    assert kept["svm"]["oof"]["emotion"]["selectivity"]["value"] > 0.5
    rho = lambda r: r["inertia_ratio"]["oof"]["emotion"]["value"]  # noqa: E731
    assert rho(kept) < 0.5 * rho(pooled)
    # Without the rotation, blocks change ρ only by standardising each half on its own.
    same = robust_probe(synthetic_reps(n_speakers=12), labels=("emotion",), svm_labels=(), n_boot=20, blocks=block)
    assert same["inertia_ratio"]["label"]["emotion"]["value"] == pytest.approx(
        alone["inertia_ratio"]["label"]["emotion"]["value"], rel=0.1)


def test_noisy_rows_compare_two_noise_trained_models_or_two_clean_trained_ones(monkeypatch):
    from crnn.tasks import science as science_task

    shipped = {"fst_cldnn_logmel", "ldnn_logmel", "fst_cldnn_logmel_noisy", "ldnn_logmel_noisy", "s_cldnn_logmel",
               "st_cldnn_logmel_noisy"}
    monkeypatch.setattr(science_task, "_card", lambda name: {} if name in shipped else None)
    assert science_task._noisy_trained("fst_cldnn_logmel", "ldnn_logmel") == ("fst_cldnn_logmel_noisy",
                                                                             "ldnn_logmel_noisy")
    assert science_task._noisy_trained("st_cldnn_logmel", "s_cldnn_logmel") == ("st_cldnn_logmel", "s_cldnn_logmel")


def test_the_robustness_claim_on_folds_compares_actors_and_names_missing_pairs():
    from crnn.tasks.science_folds import actor_difference, fold_robustness_row

    actors = [f"{k:02d}" for k in range(1, 25)]

    def run(ua, spread=0.0):
        per = {a: ua + spread * ((k % 3) - 1) for k, a in enumerate(actors)}
        return {"noisy": {"mean": ua, "sd": 0.03, "per_speaker_ua": per}}

    gap = actor_difference({a: 0.5 for a in actors}, {a: 0.4 for a in actors})
    assert gap["value"] == pytest.approx(0.1) and gap["low"] == pytest.approx(0.1) and gap["high"] == pytest.approx(0.1)
    assert fold_robustness_row({})["verdict"].startswith("not yet testable")
    two = {"fst_cldnn_logmel_noisy": run(0.5, 0.02), "st_cldnn_logmel_noisy": run(0.4, 0.02)}
    partial = fold_robustness_row(two)
    assert partial["verdict"] == "inconclusive"  # FST beats ST, but T and S have no folds yet
    assert "FST − ST 10.0 [10.0, 10.0]" in partial["measured"] and "FST-T, FST-S, ST-S, T-S" in partial["note"]
    flipped = fold_robustness_row({**two, "st_cldnn_logmel_noisy": run(0.6, 0.02)})
    assert flipped["verdict"] == "disagrees"  # one pair against the claim decides, whatever is missing
    full = {f"{c}_cldnn_logmel_noisy": run(ua) for c, ua in (("fst", 0.6), ("st", 0.5), ("t", 0.5), ("s", 0.4))}
    assert fold_robustness_row(full)["verdict"] == "agrees"


def test_a_comparison_names_a_checkpoint_whose_conv_output_was_normalised(monkeypatch):
    from crnn.tasks import science as science_task

    def metrics(right: int) -> dict:  # a two-class confusion matrix, 10 clips a class
        return {"metrics": {"test": {"noisy": {"ua": right / 10, "confusion": [[right, 10 - right], [10 - right, right]]}}}}

    cards = {"fst_cldnn_logmel_noisy": metrics(5),
             "st_cldnn_logmel_noisy": {**metrics(4), "model_kwargs": {"conv": "ST", "conv_norm": True}}}
    monkeypatch.setattr(science_task, "_card", cards.get)
    _, text = science_task._ua_gap("fst_cldnn_logmel_noisy", "st_cldnn_logmel_noisy", "noisy")
    assert text.startswith("fst_cldnn_logmel_noisy ") and "st_cldnn_logmel_noisy (with conv_norm) " in text
    cards["fst_cldnn_logmel_noisy"] = {**metrics(5), "normalisation": {"norm": "utterance", "floor": "relative"}}
    _, text = science_task._ua_gap("fst_cldnn_logmel_noisy", "st_cldnn_logmel_noisy", "noisy")
    assert text.startswith("fst_cldnn_logmel_noisy (with relative log floor) ")
