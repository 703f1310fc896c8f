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
