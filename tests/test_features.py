"""The feature front-end against independent NumPy/SciPy computations (paper 001 Sec. 6.2, Eq. 12)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import torch

from crnn.core import features
from crnn.core.features import FRAME_RATE, FrontEnd, compute, frame_times, n_frames, splice

RATE = 16_000


def chirp(seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    """A rising tone plus a little noise, so every Mel band carries energy."""
    t = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(seed)
    wave = 0.5 * np.sin(2 * np.pi * (200 * t + 3000 * t**2)) + 0.01 * rng.standard_normal(len(t))
    return wave.astype(np.float32)


def numpy_logmel(wave: np.ndarray) -> np.ndarray:
    """log-Mel written out in NumPy: 25 ms periodic Hann frames, 10 ms hop, 512-point FFT power."""
    n = 1 + (len(wave) - 400) // 160
    frames = np.stack([wave[i * 160 : i * 160 + 400] for i in range(n)]).astype(np.float64)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    power = np.abs(np.fft.rfft(frames * window, n=512)) ** 2  # (T, 257)
    return np.log(power @ features.mel_filterbank().T.astype(np.float64) + features.LOG_FLOOR)


def test_logmel_matches_numpy():
    wave = chirp()
    got = compute(wave, "logmel")
    np.testing.assert_allclose(got, numpy_logmel(wave), atol=2e-3, rtol=1e-4)


def test_mfcc_is_dct_of_logmel_eq12():
    """Eq. 12: MFCC[k] = sum_m logMel[m] cos(k pi / M (m + 1/2)), first 13 coefficients."""
    wave = chirp()
    logmel = compute(wave, "logmel").astype(np.float64)  # (T, 40)
    mfcc = compute(wave, "mfcc")  # (T, 13)
    M = logmel.shape[1]
    by_sum = np.array(
        [[sum(row[m] * np.cos(k * np.pi / M * (m + 0.5)) for m in range(M)) for k in range(13)] for row in logmel[:5]]
    )
    np.testing.assert_allclose(mfcc[:5], by_sum, rtol=1e-4, atol=1e-3)
    # SciPy's unnormalised DCT-II is twice Eq. 12
    np.testing.assert_allclose(mfcc, scipy.fft.dct(logmel, type=2, axis=-1)[:, :13] / 2, rtol=1e-4, atol=1e-3)


def test_logmel_band_follows_tone_frequency():
    """A pure tone peaks in the HTK Mel band whose centre is nearest its frequency."""
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    hz = lambda m: 700 * (10 ** (m / 2595) - 1)  # noqa: E731
    centres = hz(np.linspace(mel(20.0), mel(8000.0), 42))[1:-1]
    t = np.arange(RATE // 2) / RATE
    for freq in (300.0, 1000.0, 3000.0):
        logmel = compute(np.sin(2 * np.pi * freq * t).astype(np.float32), "logmel")
        assert np.argmax(logmel.mean(0)) == np.argmin(np.abs(centres - freq))


@pytest.mark.parametrize("n", [400, 401, 559, 560, 4000, 16123])
def test_frame_counts(n):
    expected = 1 + (n - 400) // 160
    assert n_frames(n) == expected
    wave = torch.from_numpy(chirp(1.1)[:n])[None]
    for kind, width in (("logmel", 40), ("mfcc", 13)):
        assert FrontEnd(kind)(wave).shape == (1, expected, width)


def test_n_frames_and_times():
    assert n_frames(399) == 0 and n_frames(0) == 0
    assert FRAME_RATE == 100
    np.testing.assert_allclose(frame_times(3), [0.0125, 0.0225, 0.0325])


def test_shapes_and_per_utterance_normalisation():
    batch = torch.from_numpy(np.stack([chirp(seed=0), 3 * chirp(seed=1)]))  # (2, 8000)
    T = n_frames(8000)
    assert FrontEnd("waveform")(batch).shape == (2, 8000)
    assert FrontEnd("logmel").n_features == 40 and FrontEnd("mfcc").n_features == 13
    for kind, width in (("logmel", 40), ("mfcc", 13)):
        out = FrontEnd(kind)(batch)
        assert out.shape == (2, T, width)
        torch.testing.assert_close(out.mean(1), torch.zeros(2, width), atol=1e-4, rtol=0)
        torch.testing.assert_close(out.std(1, unbiased=False), torch.ones(2, width), atol=1e-3, rtol=0)
        # one utterance's features do not depend on the others in the batch
        torch.testing.assert_close(out[1], FrontEnd(kind)(batch[1:])[0])
    rms = FrontEnd("waveform")(batch).pow(2).mean(-1).sqrt()
    torch.testing.assert_close(rms, torch.ones(2), atol=1e-4, rtol=0)
    with pytest.raises(ValueError):
        FrontEnd("spectrogram")


def test_splice_shape_and_content():
    T, F = 7, 40
    x = torch.arange(2 * T * F, dtype=torch.float32).reshape(2, T, F)
    patches = splice(x, 10, 5)
    assert patches.shape == (2, T, F, 16)  # a 40×16 patch per frame
    for t in range(T):
        for j in range(16):
            source = min(max(t - 10 + j, 0), T - 1)  # edges repeat the first/last frame
            torch.testing.assert_close(patches[:, t, :, j], x[:, source, :])
    assert splice(x[..., :13]).shape == (2, T, 13, 16)


@pytest.mark.parametrize("kind", ["waveform", "logmel", "mfcc"])
def test_gradient_reaches_waveform(kind):
    wave = torch.from_numpy(chirp(0.3))[None].requires_grad_(True)
    out = FrontEnd(kind)(wave)
    # a random read-out: the plain sum of normalised features is constant
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(0))
    (out * weights).sum().backward()
    assert wave.grad is not None and torch.isfinite(wave.grad).all() and wave.grad.abs().sum() > 0


def test_dct_matrix_rows():
    basis = features.dct_matrix()
    assert basis.shape == (13, 40)
    np.testing.assert_allclose(basis[0], np.ones(40))  # k = 0: the mean log energy
    gram = basis.astype(np.float64) @ basis.T
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0, atol=1e-4)  # DCT-II rows are orthogonal


def test_mel_filterbank_is_librosas_without_importing_it():
    """Computed in numpy (a model is built without importing librosa), and the very numbers librosa gives."""
    librosa = pytest.importorskip("librosa")
    expected = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, fmin=20.0, fmax=8000.0, htk=True)
    np.testing.assert_array_equal(features.mel_filterbank(), expected.astype(np.float32))


def test_trim_silence_cuts_where_librosa_does():
    """:func:`crnn.core.data.trim_silence` in numpy gives the very cut of ``librosa.effects.trim`` (top_db 40)."""
    librosa = pytest.importorskip("librosa")
    from crnn.core.data import MIN_TRIMMED, trim_silence

    rng = np.random.default_rng(0)
    speech = chirp(1.5) * np.hanning(24000).astype(np.float32)
    waves = [speech, np.zeros(0, np.float32), np.zeros(100, np.float32), rng.standard_normal(30000).astype(np.float32)]
    for lead, tail in [(0, 3), (100, 9000), (5000, 0), (20000, 12345), (1, 2047), (777, 4096)]:
        waves.append(np.concatenate([np.zeros(lead, np.float32), speech, 1e-4 * rng.standard_normal(tail).astype(np.float32)]))
    for wave in waves:
        cut, _ = librosa.effects.trim(wave, top_db=40.0)
        np.testing.assert_array_equal(trim_silence(wave), cut if len(cut) >= MIN_TRIMMED else wave)


def _quiet_speechlike(seconds: float = 1.0) -> np.ndarray:
    """A tone with harmonics over quiet noise: bands whose power lies near the absolute floor at −40 dB."""
    t = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(1)
    wave = sum(0.3 / k * np.sin(2 * np.pi * 150 * k * t) for k in range(1, 20)) + 0.001 * rng.standard_normal(len(t))
    return wave.astype(np.float32)


@pytest.mark.parametrize("kind", ["logmel", "mfcc"])
def test_a_relative_log_floor_makes_the_features_independent_of_the_recording_level(kind):
    wave = torch.from_numpy(_quiet_speechlike())[None]
    quiet = wave * 10 ** (-40 / 20)
    absolute, relative = FrontEnd(kind).eval(), FrontEnd(kind).eval()
    relative.set_floor("relative")
    with torch.no_grad():
        # Known answer: a gain g moves every relative-floor log-Mel by log(g²), which CMVN removes exactly.
        raw_shift = relative.raw(wave)[..., :40] - relative.raw(quiet)[..., :40] if kind == "logmel" else None
        if raw_shift is not None:
            np.testing.assert_allclose(raw_shift.numpy(), np.log(10 ** 4.0), atol=1e-3)
        np.testing.assert_allclose(relative(quiet).numpy(), relative(wave).numpy(), atol=1e-3)
        # The absolute floor (every model before round 15): 40 dB quieter moves the normalised features.
        assert (absolute(quiet) - absolute(wave)).abs().max() > 0.5


def test_the_log_floor_round_trips_through_the_card_and_zero_padding_leaves_it_alone():
    front = FrontEnd("logmel")
    assert "floor" not in front.norm_card()  # cards written before the floor existed stay as they were
    front.set_floor("relative")
    again = FrontEnd("logmel")
    again.load_norm_card(front.norm_card())
    assert again.logmel.floor == "relative"
    again.load_norm_card({"norm": "utterance"})
    assert again.logmel.floor == "absolute"
    with pytest.raises(ValueError, match="unknown log floor"):
        again.set_floor("loud")
    wave = torch.from_numpy(chirp())[None]
    padded = torch.cat([wave, torch.zeros(1, 1600)], dim=1)  # a batch pads the shorter clips with zeros
    with torch.no_grad():
        n = front.logmel(wave).shape[1]
        np.testing.assert_allclose(front.logmel(padded)[:, :n].numpy(), front.logmel(wave).numpy(), atol=1e-5)
