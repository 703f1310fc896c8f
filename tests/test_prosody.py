"""Prosodic tracks on the 10 ms grid: F0 of a known tone, levels in dB, RMS range, unvoiced frames."""

import numpy as np
import pytest

from crnn.core.features import frame_times, n_frames
from crnn.core.prosody import loudness_db, prosody_tracks, rms_db, rms_range_db

SR = 16000


def tone(f0=220.0, seconds=1.0, level_db=-6.0):
    """A sine whose RMS is ``level_db`` dB re full scale."""
    t = np.arange(int(seconds * SR)) / SR
    return (np.sqrt(2) * 10 ** (level_db / 20) * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


def test_tracks_share_the_feature_grid():
    wave = tone(seconds=0.8)
    tracks = prosody_tracks(wave)
    T = n_frames(len(wave))
    assert set(tracks) == {"times", "f0_hz", "loudness", "rms", "rms_range"}
    assert all(len(v) == T for v in tracks.values())
    np.testing.assert_allclose(tracks["times"], frame_times(T))


def test_f0_of_a_tone():
    tracks = prosody_tracks(tone(220.0))
    f0 = tracks["f0_hz"]
    assert np.isfinite(f0).mean() > 0.8
    assert np.nanmedian(np.abs(f0 - 220.0)) < 2.0
    assert np.nanmedian(prosody_tracks(tone(150.0))["f0_hz"]) == pytest.approx(150.0, abs=2.0)


def test_levels_in_db():
    loud, quiet = tone(level_db=-6.0), tone(level_db=-26.0)
    assert np.median(rms_db(loud)) == pytest.approx(-6.0, abs=0.1)
    assert np.median(rms_db(loud) - rms_db(quiet)) == pytest.approx(20.0, abs=0.01)
    assert np.median(loudness_db(loud) - loudness_db(quiet)) == pytest.approx(20.0, abs=0.01)
    # A-weighting: 0 dB at 1 kHz, ≈ −11 dB at 220 Hz
    assert np.median(loudness_db(tone(1000.0, level_db=-6.0))) == pytest.approx(-6.0, abs=0.3)
    assert np.median(loudness_db(loud)) < -15.0


def test_rms_range_and_unvoiced_frames():
    wave = np.concatenate([tone(seconds=1.0, level_db=-26.0), tone(seconds=1.0, level_db=-6.0),
                           np.random.default_rng(0).normal(0, 0.05, SR).astype(np.float32)])
    tracks = prosody_tracks(wave)
    t = tracks["times"]
    step = np.argmin(np.abs(t - 1.0))
    assert tracks["rms_range"][step] == pytest.approx(20.0, abs=0.5)
    assert tracks["rms_range"][np.argmin(np.abs(t - 0.5))] < 0.5  # a steady tone has no range
    f0 = tracks["f0_hz"]
    assert np.isnan(f0[t > 2.1]).mean() > 0.9  # white noise is unvoiced
    assert np.isfinite(f0[(t > 0.2) & (t < 1.8)]).mean() > 0.9
    # the window is a parameter in seconds
    narrow = rms_range_db(tracks["rms"], window_s=0.1)
    assert narrow[np.argmin(np.abs(t - 0.5))] < 0.5 and narrow[step] == pytest.approx(20.0, abs=0.5)


def test_voiced_fraction_tone_versus_noise():
    """A periodic tone is voiced throughout; white noise has no voiced frame ("no speech found")."""
    from crnn.core.prosody import voiced_fraction

    assert voiced_fraction(tone(200.0, seconds=2.0)) > 0.9
    noise = np.random.default_rng(0).standard_normal(2 * SR).astype(np.float32) * 0.3
    assert voiced_fraction(noise) < 0.05
    assert voiced_fraction(np.zeros(2 * SR, np.float32)) == 0.0
    assert voiced_fraction(tone(200.0, seconds=0.02)) == 0.0  # too short for one analysis frame
    assert voiced_fraction(tone(200.0, seconds=1.0)[::2], sr=SR // 2) > 0.9  # another rate
