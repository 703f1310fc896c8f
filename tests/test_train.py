"""Training on a few RAVDESS files: it runs, is seeded, resumes after a crash, honours a time budget."""

import json
import shutil

import numpy as np
import pytest
import torch
from tiny_model import ravdess_subset, register_tiny

from crnn.analysis.evaluate import evaluate
from crnn.analysis.train import train
from crnn.analysis.train_state import resume_dir
from crnn.core.checkpoint import load_checkpoint
from crnn.core.errors import CrnnError

FAST = {"crop_seconds": 1.0}


@pytest.fixture
def corpus(ravdess_root, tmp_path_factory):
    return ravdess_subset(ravdess_root, tmp_path_factory.mktemp("ravdess"))


@pytest.fixture
def cache(tmp_path_factory, monkeypatch):
    # resume states go to a temporary state folder, not the user's
    monkeypatch.setattr("crnn.analysis.train_state.STATE_DIR", tmp_path_factory.mktemp("state"))
    return tmp_path_factory.mktemp("cache")


class Interrupt(Exception):
    pass


def test_train_writes_checkpoint_with_ua(corpus, cache, tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    epochs = []
    card = train("tiny", corpus, out_dir=tmp_path / "run", max_epochs=2, cache_dir=cache,
                 progress=lambda e: epochs.append(e["epoch"]) if e["event"] == "epoch" else None, **FAST)
    assert epochs == [1, 2]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["card.json", "model.safetensors"]
    assert card == json.loads((tmp_path / "run" / "card.json").read_text())
    clean = card["metrics"]["test"]["clean"]
    assert 0.0 <= clean["ua"] <= 1.0 and clean["n"] == 4
    assert clean["ua"] == pytest.approx(sum(clean["recall"][k] for k in clean["labels"]) / len(clean["labels"]))
    assert card["metrics"]["test"]["noisy"]["n"] == 4
    assert card["labels"] == ["anger", "happiness", "neutral", "sadness"]
    assert set(card["split"]) >= {"train", "validation", "test"}
    assert card["training"]["epochs"] == 2 and card["training"]["stopped"] == "max_epochs"
    assert card["training"]["torch"] == torch.__version__ and card["training"]["cpu_capability"]  # e.g. "AVX2"
    for condition in ("clean", "noisy"):  # evaluate() on the same corpus scores the card's test speakers
        again = evaluate(tmp_path / "run", corpus, noisy=condition == "noisy", cache_dir=cache)
        assert again["split"] == "test"
        assert {k: again[k] for k in ("ua", "n", "confusion")} == {
            k: card["metrics"]["test"][condition][k] for k in ("ua", "n", "confusion")
        }


def test_resume_after_interruption_matches_uninterrupted_run(corpus, cache, tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    args = dict(max_epochs=3, batch_size=4, cache_dir=cache, noisy=True, seed=5, **FAST)
    straight = train("tiny", corpus, out_dir=tmp_path / "straight", **args)

    def crash_after_first_epoch(event):
        if event["event"] == "epoch" and event["epoch"] == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        train("tiny", corpus, out_dir=tmp_path / "resumed", progress=crash_after_first_epoch, **args)
    assert [p.suffix for p in sorted(resume_dir(tmp_path / "resumed").iterdir())] == [".json", ".safetensors"]
    assert not (tmp_path / "resumed" / "card.json").exists()

    epochs = []
    resumed = train("tiny", corpus, out_dir=tmp_path / "resumed",
                    progress=lambda e: epochs.append(e["epoch"]) if e["event"] == "epoch" else None, **args)
    assert epochs == [2, 3]
    assert resumed["training"]["resumed_from_epoch"] == 1
    assert resumed["weights_sha256"] == straight["weights_sha256"]
    assert resumed["training"]["history"] == straight["training"]["history"]
    assert resumed["metrics"] == straight["metrics"]
    assert not resume_dir(tmp_path / "resumed").exists()


def test_time_budget_stops_cleanly(corpus, cache, tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    card = train("tiny", corpus, out_dir=tmp_path / "run", max_epochs=5, max_minutes=1e-6, batch_size=4,
                 cache_dir=cache, **FAST)
    assert card["training"]["stopped"] == "time_budget"
    assert card["training"]["epochs"] == 1
    assert card["training"]["history"][0]["batches"] == 1  # the epoch ended after its first batch


def test_lens_recipe_resumes_exactly_with_weight_average_speaker_norm_class_mixing_mixup_and_partial_noise(
        corpus, cache, tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    args = dict(recipe="lens", overrides={"norm": "speaker", "max_epochs": 3, "warmup_epochs": 1, "batch_size": 4,
                                          "class_mix": 0.5, "mixup": 0.3, "noise_share": 0.5},
                cache_dir=cache, seed=3, noisy=True)
    straight = train("tiny", corpus, out_dir=tmp_path / "straight", **args)
    assert straight["normalisation"] == {"norm": "speaker"}
    assert straight["training"]["recipe"]["ema"] > 0 and straight["training"]["recipe"]["name"] == "lens"
    assert straight["training"]["recipe"]["class_mix"] == 0.5 and straight["training"]["recipe"]["mixup"] == 0.3

    def crash_after_second_epoch(event):
        if event["event"] == "epoch" and event["epoch"] == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        train("tiny", corpus, out_dir=tmp_path / "resumed", progress=crash_after_second_epoch, **args)
    resumed = train("tiny", corpus, out_dir=tmp_path / "resumed", **args)
    assert resumed["training"]["resumed_from_epoch"] == 2
    assert resumed["weights_sha256"] == straight["weights_sha256"]
    assert resumed["training"]["history"] == straight["training"]["history"]
    again = evaluate(tmp_path / "resumed", corpus, cache_dir=cache)  # per-speaker statistics at evaluation too
    assert again["ua"] == pytest.approx(straight["metrics"]["test"]["clean"]["ua"])


def test_global_norm_is_stored_in_the_card_and_restored(corpus, cache, tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    card = train("tiny", corpus, out_dir=tmp_path / "run", recipe="lens", cache_dir=cache,
                 overrides={"norm": "global", "max_epochs": 1, "speed": ()}, logdir=tmp_path / "tb")
    assert card["normalisation"]["norm"] == "global" and len(card["normalisation"]["mean"]) == 40
    calibration = card["calibration"]
    assert 0.05 <= calibration["temperature"] <= 20 and calibration["fitted_on"].startswith("validation")
    assert 0 <= calibration["ece_test_after"] <= 1 and sum(b["n"] for b in calibration["reliability_test"]) == 4
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))  # TensorBoard scalars were written
    again = evaluate(tmp_path / "run", corpus, cache_dir=cache)
    assert again["ua"] == pytest.approx(card["metrics"]["test"]["clean"]["ua"])
    model, _ = load_checkpoint(tmp_path / "run")
    assert model.frontend.norm == "global"
    assert model.frontend.ref_mean.tolist() == pytest.approx(card["normalisation"]["mean"], abs=1e-5)


def test_a_relative_log_floor_is_trained_with_written_to_the_card_and_loaded(corpus, cache, tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    card = train("tiny", corpus, out_dir=tmp_path / "run", recipe="lens", cache_dir=cache,
                 overrides={"log_floor": "relative", "max_epochs": 1, "speed": ()})
    assert card["normalisation"] == {"norm": "utterance", "floor": "relative"}
    assert card["training"]["recipe"]["log_floor"] == "relative"
    model, _ = load_checkpoint(tmp_path / "run")
    assert model.frontend.logmel.floor == "relative"
    quiet = evaluate(tmp_path / "run", corpus, cache_dir=cache, gain_db=-30.0)  # the recording level does not matter
    assert quiet["ua"] == pytest.approx(card["metrics"]["test"]["clean"]["ua"])


def test_a_run_that_stays_at_chance_restarts_with_another_training_seed(corpus, cache, tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    # the first attempt has not learned, the second has (the rule itself is tested below)
    monkeypatch.setattr("crnn.analysis.train.stayed_at_chance", lambda run: run.attempt == 0)
    monkeypatch.setattr("crnn.analysis.train_loop._validate", lambda run: 0.25 if run.attempt == 0 else 1.0)
    args = dict(max_epochs=5, min_epochs=1, patience=1, batch_size=4, cache_dir=cache, **FAST)

    def crash_in_second_attempt(event):
        if event["event"] == "epoch" and event["best_ua"] == 1.0:
            raise Interrupt

    with pytest.raises(Interrupt):  # the restart itself survives an interruption
        train("tiny", corpus, out_dir=tmp_path / "run", progress=crash_in_second_attempt, **args)
    events = []
    card = train("tiny", corpus, out_dir=tmp_path / "run", progress=events.append, **args)
    training = card["training"]
    assert [e["event"] for e in events if e["event"] == "restart"] == []  # the failed attempt was already recorded
    assert [(r["attempt"], r["best_validation_ua"], r["epochs"]) for r in training["restarts"]] == [(0, 0.25, 2)]
    assert training["training_seed"] != card["seed"] == 0
    assert training["resumed_from_epoch"] == 1 and training["best_validation_ua"] == 1.0
    assert not resume_dir(tmp_path / "run").exists()
    assert not resume_dir(tmp_path / "run").with_name(resume_dir(tmp_path / "run").name + ".restarts.json").exists()


def test_restarts_are_bounded_and_a_first_attempt_keeps_the_seed(corpus, cache, tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    monkeypatch.setattr("crnn.analysis.train.stayed_at_chance", lambda run: True)  # never learns
    events = []
    args = dict(max_epochs=5, min_epochs=1, patience=1, batch_size=4, cache_dir=cache, **FAST)
    card = train("tiny", corpus, out_dir=tmp_path / "stuck", progress=events.append, restarts=2, **args)
    restarts = card["training"]["restarts"]
    assert [r["attempt"] for r in restarts] == [0, 1] and sum(e["event"] == "restart" for e in events) == 2
    assert len({r["training_seed"] for r in restarts} | {card["training"]["training_seed"]}) == 3
    plain = train("tiny", corpus, out_dir=tmp_path / "plain", restarts=0, **args)
    assert plain["training"]["restarts"] == [] and plain["training"]["training_seed"] == plain["seed"]


def test_a_training_seed_draws_another_training_on_the_same_split(corpus, cache, tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    args = dict(max_epochs=2, batch_size=4, cache_dir=cache, restarts=0, **FAST)
    default = train("tiny", corpus, out_dir=tmp_path / "default", **args)
    same = train("tiny", corpus, out_dir=tmp_path / "same", train_seed=0, **args)
    other = train("tiny", corpus, out_dir=tmp_path / "other", train_seed=7, **args)
    assert other["split"] == default["split"] and other["seed"] == default["seed"] == 0
    assert (default["training"]["training_seed"], other["training"]["training_seed"]) == (0, 7)
    weights = {name: load_checkpoint(tmp_path / name)[0].state_dict() for name in ("default", "same", "other")}
    assert all(torch.equal(weights["same"][k], v) for k, v in weights["default"].items())  # seed 0 is the default
    assert not all(torch.equal(weights["other"][k], v) for k, v in weights["default"].items())


def test_a_run_has_not_learned_at_chance_ua_or_at_a_uniform_guess_loss():
    from types import SimpleNamespace

    from crnn.analysis.train import stayed_at_chance

    def run(best, n=256, stopped="early_stopping", losses=(1.5,)):
        emotions = [f"e{k % 8}" for k in range(n)]
        return SimpleNamespace(data=SimpleNamespace(val_emotions=emotions, train_emotions=emotions),
                               record={"best_ua": best, "stopped": stopped, "history": [{"loss": x} for x in losses]})

    assert stayed_at_chance(run(0.164)) and not stayed_at_chance(run(0.17))  # ceiling 0.166 for 8 emotions, 256 clips
    assert stayed_at_chance(run(0.18, n=128)) and not stayed_at_chance(run(0.19, n=128))
    assert not stayed_at_chance(run(0.125, stopped="max_epochs"))  # the run was not given up: keep what was asked for
    # ln 8 = 2.079: a loss that never left the uniform guess is stuck, whatever validation UA the average wandered to
    assert stayed_at_chance(run(0.211, losses=(2.096, 2.092, 2.093)))
    assert not stayed_at_chance(run(0.211, losses=(2.096, 2.041)))


def test_a_run_saved_before_a_setting_existed_resumes_when_the_setting_keeps_its_default(corpus, cache, tmp_path,
                                                                                          monkeypatch):
    register_tiny(monkeypatch)
    args = dict(max_epochs=2, batch_size=4, cache_dir=cache, seed=5, **FAST)

    def crash_after_first_epoch(event):
        if event["event"] == "epoch" and event["epoch"] == 1:
            raise Interrupt

    for name, stored_mix, resumes in (("older", None, True), ("other", 0.3, False)):
        with pytest.raises(Interrupt):
            train("tiny", corpus, out_dir=tmp_path / name, progress=crash_after_first_epoch, **args)
        record_path = next(resume_dir(tmp_path / name).glob("*.json"))
        record = json.loads(record_path.read_text())
        if stored_mix is None:
            del record["fingerprint"]["recipe"]["class_mix"]  # as saved by the code before class_mix existed
        else:
            record["fingerprint"]["recipe"]["class_mix"] = stored_mix  # a run that really mixed
        record_path.write_text(json.dumps(record))
        if resumes:
            assert train("tiny", corpus, out_dir=tmp_path / name, **args)["training"]["resumed_from_epoch"] == 1
        else:
            with pytest.raises(CrnnError, match="resume state of a different run"):
                train("tiny", corpus, out_dir=tmp_path / name, **args)


def test_distillation_loss_is_zero_when_the_student_matches_its_teachers_and_positive_otherwise():
    from crnn.analysis.distil import distillation_loss

    targets = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    for temperature in (1.0, 2.0, 4.0):
        matching = temperature * targets.log()  # softmax(logits / T) == targets
        assert distillation_loss(matching, targets, temperature).item() == pytest.approx(0.0, abs=1e-6)
        assert distillation_loss(torch.zeros(2, 3), targets, temperature).item() > 0.01
    # T² keeps the size of the loss: at a high temperature KL shrinks as 1/T², the product does not vanish
    far = torch.tensor([[3.0, 0.0, -3.0], [0.0, 0.0, 3.0]])
    soft = torch.softmax(far / 8.0, dim=1)
    assert distillation_loss(torch.zeros(2, 3), soft, 8.0).item() == pytest.approx(
        64 * torch.nn.functional.kl_div(torch.log_softmax(torch.zeros(2, 3), 1), soft, reduction="batchmean").item())


def test_a_student_learns_from_teachers_of_its_own_split_and_a_teacher_of_another_split_is_refused(
        corpus, cache, tmp_path, monkeypatch):
    from crnn.analysis.distil import teacher_targets
    from crnn.analysis.evaluate import utterance_logits
    from crnn.analysis.train_data import load_train_data

    register_tiny(monkeypatch)
    args = dict(max_epochs=2, batch_size=4, cache_dir=cache, restarts=0, **FAST)
    teacher = train("tiny", corpus, out_dir=tmp_path / "teacher", **args)
    train("tiny", corpus, out_dir=tmp_path / "plain", **args)
    student = train("tiny", corpus, out_dir=tmp_path / "student", teachers=str(tmp_path / "teacher"),
                    distil_weight=1.0, **args)
    assert student["training"]["recipe"]["teachers"] == str(tmp_path / "teacher")
    assert student["split"] == teacher["split"]
    weights = {name: load_checkpoint(tmp_path / name)[0].state_dict() for name in ("plain", "student")}
    assert not all(torch.equal(weights["student"][k], v) for k, v in weights["plain"].items())

    data = load_train_data(corpus, "tvt", None, 0, False, cache, None)
    model, card = load_checkpoint(tmp_path / "teacher")
    with torch.inference_mode():
        logits = utterance_logits(model, data.train_waves)
    expected = torch.softmax(torch.from_numpy(logits).double() / 2.0, dim=1).float()
    targets = teacher_targets([str(tmp_path / "teacher")], data.train_waves, data.train_speakers, data.labels,
                              data.speakers, 2.0)
    assert torch.allclose(targets, expected, atol=1e-6) and np.allclose(targets.sum(1).numpy(), 1.0)

    shutil.copytree(tmp_path / "teacher", tmp_path / "other_split")  # as if it had tested on a training speaker
    split = teacher["split"]
    moved = {**split, "train": split["train"][1:] + split["test"], "test": split["train"][:1]}
    (tmp_path / "other_split" / "card.json").write_text(json.dumps({**teacher, "split": moved}))
    with pytest.raises(CrnnError, match="another split"):
        train("tiny", corpus, out_dir=tmp_path / "leaky", teachers=str(tmp_path / "other_split"), **args)
    assert not (tmp_path / "leaky" / "card.json").exists()


def test_mixup_mixes_each_clip_with_its_partner_by_one_share():
    from crnn.analysis.train_loop import _mixup

    x = torch.eye(6)  # (B, L): clip b is a spike at sample b
    mixed, partner, share = _mixup(x, 0.2, np.random.default_rng(3))
    assert 0.0 <= share <= 1.0 and sorted(partner.tolist()) == list(range(6))
    for b in range(6):
        expected = share * x[b] + (1 - share) * x[partner[b]]
        assert torch.allclose(mixed[b], expected)
    assert torch.allclose(mixed.sum(dim=1), torch.ones(6))  # the two shares add up to the whole clip
