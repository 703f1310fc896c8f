"""The recipe ablation table lists what each run changed from the reference and its validation UA."""

import json

import pytest

from crnn.analysis.recipes import RECIPES, get_recipe
from crnn.core.errors import CrnnError
from crnn.tasks.ablation import ablation_rows, ablation_table


def _card(folder, recipe, ua, norm="utterance", model="fst_cldnn_logmel", model_kwargs=None):
    folder.mkdir(parents=True)
    training = {"recipe": recipe, "best_validation_ua": ua, "best_epoch": 3, "epochs": 5, "seconds": 60.0}
    card = {"format": "crnn-lens/1", "model": model, "labels": ["anger"], "normalisation": {"norm": norm},
            "training": training, **({"model_kwargs": model_kwargs} if model_kwargs is not None else {})}
    (folder / "card.json").write_text(json.dumps(card))


def test_rows_name_the_change_and_sort_by_validation_ua(tmp_path):
    lens = RECIPES["lens"].card()
    _card(tmp_path / "ref", lens, 0.6)
    _card(tmp_path / "no_ema", get_recipe("lens", {"ema": 0.0}).card(), 0.5)
    _card(tmp_path / "paper", RECIPES["paper"].card(), 0.45)
    old = {k: v for k, v in lens.items() if k != "ema_warmup"}  # a card from before the setting existed
    _card(tmp_path / "old", old, 0.55)
    rows = ablation_rows(tmp_path, "ref")
    changes = {r["run"]: r["changes"] for r in rows}
    assert changes == {"ref": "(reference recipe)", "no_ema": "ema=0.0", "paper": "paper 001's recipe",
                       "old": "ema_warmup=False"}
    assert [r["run"] for r in rows] == ["ref", "old", "no_ema", "paper"]
    assert "| no_ema | fst_cldnn_logmel | ema=0.0 | 50.0 |" in ablation_table(rows)
    with pytest.raises(CrnnError, match="no finished run"):
        ablation_rows(tmp_path, "missing")


def test_a_model_argument_set_with_model_set_is_named_as_a_change(tmp_path):
    from crnn.core.models import build_model

    lens = RECIPES["lens"].card()
    plain = build_model("st_cldnn_logmel", 8).config  # what a card records: every argument, tuples as lists
    _card(tmp_path / "ref", lens, 0.4, model="st_cldnn_logmel", model_kwargs=json.loads(json.dumps(plain)))
    _card(tmp_path / "normed", lens, 0.5, model="st_cldnn_logmel", model_kwargs={**plain, "conv_norm": True})
    changes = {r["run"]: r["changes"] for r in ablation_rows(tmp_path, "ref")}
    assert changes == {"ref": "(reference recipe)", "normed": "model: conv_norm=True"}


def _seeded(folder, seed, ua, test_ua, recipe=None, restarts=()):
    _card(folder, recipe or RECIPES["lens"].card(), ua)
    card = json.loads((folder / "card.json").read_text())
    card["seed"], card["split"] = 0, {"train": ["02"], "validation": ["03"], "test": ["01"]}
    card["training"].update(training_seed=seed, restarts=list(restarts), noisy=False)
    card["metrics"] = {"test": {"clean": {"ua": test_ua}, "noisy": {"ua": test_ua / 2}}}
    (folder / "card.json").write_text(json.dumps(card))


def test_runs_that_differ_only_in_their_training_seed_give_a_mean_and_spread(tmp_path):
    from crnn.tasks.ablation import seed_rows, seed_table

    _seeded(tmp_path / "ref", 0, 0.50, 0.40)
    _seeded(tmp_path / "ts1", 1, 0.30, 0.50)
    _seeded(tmp_path / "ts2", 2, 0.40, 0.30)
    _seeded(tmp_path / "restarted", 9, 0.90, 0.90, restarts=[{"attempt": 0}])  # its seed was drawn, not chosen
    _seeded(tmp_path / "no_ema", 3, 0.45, 0.45, recipe=get_recipe("lens", {"ema": 0.0}).card())  # another recipe
    for name, kwargs in (("ts1", {"conv_norm": False}), ("normed", {"conv_norm": True})):  # ref's card predates conv_norm
        if name == "normed":
            _seeded(tmp_path / name, 4, 0.6, 0.6)
        card = json.loads((tmp_path / name / "card.json").read_text())
        (tmp_path / name / "card.json").write_text(json.dumps({**card, "model_kwargs": kwargs}))
    [row] = seed_rows(tmp_path)
    assert [(e["run"], e["training_seed"]) for e in row["runs"]] == [("ref", 0), ("ts1", 1), ("ts2", 2)]
    assert row["validation_ua_mean_sd"] == pytest.approx([0.40, 0.10])
    assert row["test_clean_ua_mean_sd"] == pytest.approx([0.40, 0.10])
    assert row["test_noisy_ua_mean_sd"] == pytest.approx([0.20, 0.05])
    table = seed_table([row])
    assert "0: 50.0 / 40.0 / 20.0 (3); 1: 30.0 / 50.0 / 25.0 (3)" in table and "| 40.0 ± 10.0 | 40.0 ± 10.0 | 20.0 ± 5.0 |" in table
    changes = {r["run"]: r["changes"] for r in ablation_rows(tmp_path, "ref")}
    assert changes["ts1"] == "training seed 1" and changes["ref"] == "(reference recipe)"
    assert changes["restarted"] == "(reference recipe)"
    for name in ("ts1", "ts2"):  # the same runs trained with noise are a group of their own, named so
        card = json.loads((tmp_path / name / "card.json").read_text())
        card["training"]["noisy"] = True
        (tmp_path / "noisy" / name).mkdir(parents=True)
        (tmp_path / "noisy" / name / "card.json").write_text(json.dumps(card))
    [noisy] = seed_rows(tmp_path / "noisy")
    assert noisy["model"] == row["model"] + " (trained with noise)" and "trained with noise" not in row["model"]
    with pytest.raises(CrnnError, match="differ only in their training seed"):
        seed_rows(tmp_path / "ts1")  # one run: nothing to compare
    with pytest.raises(CrnnError, match="not a folder"):
        seed_rows(tmp_path / "missing")


def test_a_seed_group_is_scored_as_an_ensemble_with_weights_kept_once(tmp_path, monkeypatch):
    import numpy as np
    import soundfile as sf
    import torch
    from tiny_model import TinyModel, register_tiny

    import crnn.tasks.ablation as ablation
    from crnn.core.checkpoint import save_checkpoint

    register_tiny(monkeypatch)
    shipped, runs = tmp_path / "shipped", tmp_path / "runs"
    for seed, folder in ((0, shipped / "tiny_model"), (1, runs / "ts1")):
        torch.manual_seed(seed)
        model = TinyModel(2)
        card = {"model": "tiny", "model_kwargs": model.config, "labels": ["anger", "happiness"], "seed": 0,
                "corpus": {"name": "corpus"}, "split": {"train": ["a"], "validation": ["b"], "test": ["c"]},
                "normalisation": {"norm": "utterance"}, "metrics": {"test": {"clean": {"ua": 0.5}}},
                "training": {"recipe": RECIPES["lens"].card(), "best_validation_ua": 0.5, "best_epoch": 1,
                             "epochs": 2, "seconds": 1.0, "training_seed": seed, "noisy": False}}
        save_checkpoint(model, card, folder)
    (runs / "ref").mkdir()  # the shipped run: only its card in the runs folder
    (runs / "ref" / "card.json").write_bytes((shipped / "tiny_model" / "card.json").read_bytes())
    corpus = tmp_path / "corpus"
    rng = np.random.default_rng(0)
    for emotion in ("angry", "happy"):
        (corpus / emotion).mkdir(parents=True)
        for i in range(2):
            sf.write(corpus / emotion / f"{i}.wav", 0.1 * rng.standard_normal(8000), 16000)
    monkeypatch.setattr(ablation, "CHECKPOINT_DIR", shipped)
    [row] = ablation.ensemble_rows(ablation.seed_rows(runs), corpus)
    assert row["ensemble"]["members"] == 2
    assert all(0.0 <= row["ensemble"][k] <= 1.0 for k in ("validation_ua", "test_clean_ua", "test_noisy_ua"))
    assert "Mean of their probabilities" in ablation.seed_table([row])
    monkeypatch.setattr(ablation, "CHECKPOINT_DIR", tmp_path / "nowhere")  # the shipped weights are gone
    [row] = ablation.ensemble_rows(ablation.seed_rows(runs), corpus)
    assert row["ensemble"] is None and "| – / – / – |" in ablation.seed_table([row])


def test_the_ablation_table_names_a_distilled_runs_number_of_teachers(tmp_path):
    _seeded(tmp_path / "ref", 0, 0.50, 0.40)
    _seeded(tmp_path / "student", 0, 0.55, 0.45, recipe=get_recipe("lens", {"teachers": "x/a,x/b"}).card())
    changes = {r["run"]: r["changes"] for r in ablation_rows(tmp_path, "ref")}
    assert changes["student"] == "distilled from 2 teachers", changes
