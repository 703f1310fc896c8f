"""Noise lab: the SNR asked for is the SNR measured; representations drift as the SNR falls."""

import numpy as np
import pytest
import torch
from tiny_model import TinyModel

from crnn.core.noise import snr_db as measured_snr_db
from crnn.analysis.noiselab import cosine_distance, noise_shift, noise_sweep


def speechlike(seconds=0.6):
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return TinyModel(3, hidden=6).eval()


def test_cosine_distance():
    assert cosine_distance([1, 0], [2, 0]) == pytest.approx(0.0)
    assert cosine_distance([1, 0], [0, 3]) == pytest.approx(1.0)
    assert cosine_distance([1, 1], [-1, -1]) == pytest.approx(2.0)


@pytest.mark.parametrize("kind", ["white", "pink", "brown"])
def test_snr_is_as_asked(model, kind):
    out = noise_shift(model, speechlike(), kind, 5.0, labels=["a", "b", "c"])
    assert out["snr_db_measured"] == pytest.approx(5.0, abs=0.01)
    assert set(out["cosine_distance"]) == {"input", "cnn", "rnn", "mlp"}
    assert out["prediction_clean"]["label"] in ("a", "b", "c")
    assert sum(out["prediction_noisy"]["probabilities"]) == pytest.approx(1.0, abs=1e-5)


def test_noisy_wave_is_the_mixture_that_was_scored(model):
    wave = speechlike()
    out = noise_shift(model, wave, "pink", 0.0, seed=2)
    noisy = out["noisy_wave"]
    assert noisy.dtype == np.float32 and noisy.shape == wave.shape
    assert measured_snr_db(wave, noisy) == pytest.approx(out["snr_db_measured"])
    with torch.no_grad():
        probs = torch.softmax(model(torch.from_numpy(noisy)[None]), -1)[0].numpy()
    np.testing.assert_allclose(probs, out["prediction_noisy"]["probabilities"], atol=1e-5)


def test_recording_noise_and_drift_with_snr(model):
    wave = speechlike()
    recording = np.random.default_rng(3).normal(size=4000).astype(np.float32)  # looped to length
    assert noise_shift(model, wave, recording, 0.0)["snr_db_measured"] == pytest.approx(0.0, abs=0.01)
    sweep = noise_sweep(model, wave, "white", (-10.0, 10.0, 30.0))
    drift = [r["cosine_distance"]["input"] for r in sweep]
    assert drift[0] > drift[1] > drift[2] >= 0.0
    first, again = noise_shift(model, wave, "white", 10.0, seed=1), noise_shift(model, wave, "white", 10.0, seed=1)
    np.testing.assert_array_equal(first.pop("noisy_wave"), again.pop("noisy_wave"))
    assert first == again
    assert all("noisy_wave" not in row for row in sweep)
    with pytest.raises(ValueError):
        noise_shift(model, wave, "violet", 0.0)
    from crnn.plots import noise_figure

    assert len(noise_figure(sweep).data) == 4
    assert "→" in noise_figure(sweep[0]).layout.title.text


def test_an_snr_the_mixture_cannot_hold_is_refused(model):
    """Beyond the limits float32 mixing overflowed: −1000 dB gave NaN probabilities and a "prediction"."""
    for snr in (float("nan"), float("inf"), -1000.0, 61.0):
        with pytest.raises(ValueError, match="out of range"):
            noise_shift(model, speechlike(), "pink", snr)
    assert np.isfinite(noise_shift(model, speechlike(), "pink", -30.0)["prediction_noisy"]["probabilities"]).all()
