"""Training recipes, length-grouped batches, cross-validation folds and feature normalisation: known answers."""

from pathlib import Path

import numpy as np
import pytest
import torch

from crnn.analysis.recipes import RECIPES, get_recipe, learning_rate
from crnn.analysis.train import output_folder
from crnn.analysis.train_loop import _mixed_with_class_partner
from crnn.core.corpora import Corpus, Utterance
from crnn.core.data import length_batches, mix_within_class, speed_perturb
from crnn.core.errors import CrnnError
from crnn.core.features import FrontEnd, reference_stats, spec_augment
from crnn.core.splits import cv_folds


def test_recipe_overrides_from_cli_strings():
    recipe = get_recipe("lens", ["ema=0", "speed=", "spec_augment=0", "batch_size=8", "speed=0.9,1.1"])
    assert recipe.ema == 0.0 and recipe.spec_augment is False and recipe.batch_size == 8
    assert recipe.speed == (0.9, 1.1)
    assert get_recipe("lens", ["speed="]).speed == ()
    assert get_recipe("paper") == RECIPES["paper"]
    with pytest.raises(CrnnError, match="unknown recipe setting"):
        get_recipe("lens", ["nonsense=1"])
    with pytest.raises(CrnnError, match="cannot be"):
        get_recipe("lens", ["batch_size=many"])
    with pytest.raises(CrnnError, match="unknown recipe"):
        get_recipe("magic")


@pytest.mark.parametrize("setting, words", [
    ("lr=nan", "lr must be above 0"), ("lr=0", "lr must be above 0"), ("batch_size=0", "batch_size must be at least 1"),
    ("max_epochs=0", "max_epochs must be at least 1"), ("patience=-1", "patience must be at least 1"),
    ("crop_seconds=inf", "crop_seconds must be"), ("ema=1", "ema must be"), ("label_smoothing=1", "label_smoothing"),
    ("optimizer=sgd", "optimizer cannot be 'sgd'"), ("schedule=linear", "use one of constant, cosine"),
    ("batching=bucket", "batching cannot be"), ("norm=batch", "norm cannot be"), ("speed=0.9,5", "speed takes factors"),
    ("log_floor=quiet", "log_floor cannot be"),
])
def test_a_setting_the_training_could_not_use_is_refused(setting, words):
    """These used to fail after the first epochs (batch_size=0: a ZeroDivisionError; lr=nan: inside the
    optimiser) or train with something else (optimizer=sgd trained with Adam)."""
    with pytest.raises(CrnnError, match=words):
        get_recipe("lens", [setting])
    get_recipe("lens", [setting.split("=")[0] + "=" + str(getattr(RECIPES["lens"], setting.split("=")[0])).strip("()").replace(" ", "")])


def test_learning_rate_warms_up_then_decays_to_the_floor():
    recipe = get_recipe("lens", {"warmup_epochs": 2, "max_epochs": 10, "lr": 1.0, "schedule": "cosine"})
    rates = [learning_rate(recipe, step, 10) for step in range(100)]
    assert rates[0] == pytest.approx(0.05) and rates[19] == pytest.approx(1.0)  # linear warm-up over 20 steps
    assert all(a >= b for a, b in zip(rates[19:], rates[20:]))  # then never rises
    assert rates[-1] == pytest.approx(0.05, abs=1e-3)  # cosine ends at 5 % of the peak
    assert {learning_rate(RECIPES["paper"], s, 10) for s in range(50)} == {1e-3}


def test_length_batches_cover_every_clip_once_and_group_similar_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(16000, 80000, 200)
    batches = length_batches(lengths, 10, np.random.default_rng(1))
    assert sorted(np.concatenate(batches).tolist()) == list(range(200))
    kept = np.mean([lengths[b].min() / lengths[b].mean() for b in batches])
    shuffled = np.random.default_rng(2).permutation(200)
    random_kept = np.mean([lengths[shuffled[i:i + 10]].min() / lengths[shuffled[i:i + 10]].mean() for i in range(0, 200, 10)])
    assert kept > 0.9 > random_kept  # grouped crops keep > 90 % of each clip, random batches far less


def test_speed_perturbation_changes_duration_by_the_factor():
    wave = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    assert len(speed_perturb(wave, 1.1)) == pytest.approx(16000 / 1.1, abs=2)
    assert speed_perturb(wave, 1.0) is wave


def _tone(hz: float, n: int = 16000, amplitude: float = 1.0) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(n) / 16000)).astype(np.float32)


def _amplitude_at(wave: np.ndarray, hz: float) -> float:
    """Amplitude of the ``hz`` component of a 1 s wave at 16 kHz (whole-Hz tones fall on FFT bins)."""
    return float(2 * np.abs(np.fft.rfft(wave.astype(np.float64)))[int(hz)] / len(wave))


def test_mixing_within_class_shares_the_signal_at_equal_loudness():
    rng = np.random.default_rng(0)
    wave, quiet_partner = _tone(200), _tone(300, n=4000, amplitude=0.1)  # shorter and 20 dB quieter
    mixed = mix_within_class(wave, quiet_partner, 0.3, rng)
    assert mixed.shape == wave.shape and mixed.dtype == np.float32
    assert _amplitude_at(mixed, 200) == pytest.approx(0.7, abs=0.01)
    assert _amplitude_at(mixed, 300) == pytest.approx(0.3, abs=0.01)  # looped, then brought to the wave's RMS
    np.testing.assert_allclose(mix_within_class(wave, quiet_partner, 0.0, rng), wave)
    with pytest.raises(CrnnError, match="class_mix must be at least 0 and at most 1"):
        get_recipe("lens", ["class_mix=1.5"])
    assert get_recipe("lens").class_mix == 0.0  # off unless asked for


def test_a_clip_is_mixed_only_with_its_emotion_by_another_speaker():
    from types import SimpleNamespace

    # clip 0: speaker a, class 0; clip 1: the same speaker and class; clip 2: speaker b, class 1;
    # clip 3: speaker b, class 0, the only partner clip 0 may get; clip 4: speaker c, class 2, no partner at all
    data = SimpleNamespace(train_waves=[_tone(hz) for hz in (100, 200, 300, 400, 500)],
                           train_targets=torch.tensor([0, 0, 1, 0, 2]), train_speakers=["a", "a", "b", "b", "c"])
    for seed in range(5):
        mixed = _mixed_with_class_partner(data, 0, data.train_waves[0], 1.0, np.random.default_rng(seed))
        assert _amplitude_at(mixed, 200) < 1e-3 and _amplitude_at(mixed, 300) < 1e-3
        assert _amplitude_at(mixed, 400) + _amplitude_at(mixed, 100) == pytest.approx(1.0, abs=0.01)
    assert _mixed_with_class_partner(data, 4, data.train_waves[4], 1.0, np.random.default_rng(0)) is data.train_waves[4]


def _corpus(n_female=12, n_male=12) -> Corpus:
    utts = []
    for i in range(n_female + n_male):
        gender = "female" if i < n_female else "male"
        for k in range(3):
            utts.append(Utterance(Path(f"/c/s{i:02d}_{k}.wav"), "test", f"s{i:02d}", gender, "anger", 2.0))
    return Corpus("test", Path("/c"), utts)


def test_cv_folds_test_every_speaker_once_with_balanced_genders():
    corpus = _corpus()
    folds = cv_folds(corpus, 5, seed=0)
    tested = [s for f in folds for s in f["test"]]
    assert sorted(tested) == corpus.speakers
    genders = corpus.speaker_genders
    for fold in folds:
        assert not set(fold["test"]) & set(fold["train"]) and not set(fold["validation"]) & set(fold["train"])
        assert not set(fold["validation"]) & set(fold["test"])
        n_female = sum(genders[s] == "female" for s in fold["test"])
        assert abs(n_female - (len(fold["test"]) - n_female)) <= 1
        assert {genders[s] for s in fold["validation"]} == {"female", "male"}
    with pytest.raises(CrnnError, match="at least 7"):
        cv_folds(_corpus(3, 2), 5)


def test_global_normalisation_is_gain_invariant_and_standardises_the_reference():
    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(16000).astype(np.float32) * rng.uniform(0.1, 1) for _ in range(4)]
    frontend = FrontEnd("logmel")
    raw = [frontend.raw(torch.from_numpy(w)[None])[0].numpy() for w in waves]
    mean, std = reference_stats(raw)
    frontend.set_norm("global", mean, std)
    out = torch.cat([frontend(torch.from_numpy(w)[None])[0] for w in waves])  # (sum T, 40)
    assert out.mean(0).abs().max() < 1e-3 and (out.std(0, unbiased=False) - 1).abs().max() < 1e-3
    x = torch.from_numpy(waves[0])[None]
    assert torch.allclose(frontend(x), frontend(10 * x), atol=1e-3)  # a 20 dB gain changes nothing
    card = frontend.norm_card()
    restored = FrontEnd("logmel")
    restored.load_norm_card(card)
    assert torch.allclose(restored(x), frontend(x), atol=1e-4)
    assert FrontEnd("logmel").norm == "utterance"  # old cards, no key: per-utterance CMVN
    restored.load_norm_card(None)
    assert restored.norm == "utterance"


def test_speaker_references_apply_per_utterance():
    frontend = FrontEnd("logmel")
    frontend.set_norm("speaker")
    x = torch.randn(2, 16000)
    plain = frontend(x)
    with frontend.reference(torch.zeros(2, 40), torch.ones(2, 40)):
        shifted = frontend(x)
    raw = frontend.raw(x)
    assert torch.allclose(shifted, raw - raw.mean(dim=(1, 2), keepdim=True), atol=1e-3)
    assert torch.allclose(frontend(x), plain)  # the reference only holds inside the block


def test_spec_augment_masks_in_training_only():
    torch.manual_seed(0)
    x = torch.ones(4, 300, 40)
    masked = spec_augment(x, time_masks=2, time_width=20, freq_masks=2, freq_width=6)
    assert 0 < (masked == 0).float().mean() < 0.5
    frontend = FrontEnd("logmel")
    frontend.augment = {}
    wave = torch.randn(1, 32000)
    assert torch.equal(frontend.eval()(wave), frontend(wave))  # inert in eval mode


def test_training_never_overwrites_a_finished_checkpoint(tmp_path):
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "card.json").write_text("{}")
    with pytest.raises(CrnnError, match="--overwrite"):
        output_folder("tiny", "tvt", None, tmp_path / "done", overwrite=False)
    assert output_folder("tiny", "tvt", None, tmp_path / "done", overwrite=True) == tmp_path / "done"
    assert output_folder("eclstm", "cv", 3, None, False).name == "eclstm_cv3"
    assert "checkpoints" not in output_folder("eclstm", "tvt", None, None, False).parts  # never a shipped one


def test_temperature_scaling_recovers_a_known_temperature_and_lowers_ece():
    from crnn.analysis.calibration import expected_calibration_error, fit_temperature, softmax

    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, (4000, 8))
    targets = [rng.choice(8, p=p) for p in softmax(true_logits)]  # labels drawn from the calibrated model
    overconfident = 3.0 * true_logits
    t = fit_temperature(overconfident, targets)
    assert t == pytest.approx(3.0, rel=0.1)
    before = expected_calibration_error(softmax(overconfident), targets)
    after = expected_calibration_error(softmax(overconfident, t), targets)
    assert after < 0.03 < before
    perfect = np.eye(8)[np.arange(80) % 8]  # always right with confidence 1: no calibration error
    assert expected_calibration_error(perfect, list(np.arange(80) % 8)) == 0.0


def test_per_speaker_ua_scores_each_speaker_on_its_own_utterances():
    from crnn.analysis.evaluate import per_speaker_ua

    truth = ["anger", "sadness", "anger", "sadness"]
    predicted = ["anger", "sadness", "sadness", "sadness"]
    assert per_speaker_ua(truth, predicted, ["a", "a", "b", "b"]) == {"a": 1.0, "b": 0.5}


def test_a_distilled_runs_recipe_names_how_many_teachers_not_their_folders():
    from crnn.tasks.report import recipe_label

    recipe = get_recipe("lens", {"teachers": "a/one, b/two,c/three", "log_floor": "relative"}).card()
    label = recipe_label({"training": {"recipe": recipe}, "features": {"kind": "logmel"}})
    assert label == "lens (log_floor=relative, distilled from 3 teachers), utterance norm", label


def test_mixup_and_noise_share_are_checked_and_off_by_default():
    recipe = get_recipe("lens")
    assert recipe.mixup == 0.0 and recipe.noise_share == 1.0  # as every run before round 17 trained
    assert get_recipe("lens", ["mixup=0.2", "noise_share=0.5"]).card()["mixup"] == 0.2
    with pytest.raises(CrnnError, match="noise_share must be at least 0 and at most 1"):
        get_recipe("lens", ["noise_share=1.5"])
    with pytest.raises(CrnnError, match="mixup and teachers cannot be combined"):
        get_recipe("lens", ["mixup=0.2", "teachers=a,b"])
