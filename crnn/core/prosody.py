"""Prosodic tracks on the models' 10 ms frame grid (paper 002 Sec. 4, Fig. 2).

Paper 002 finds LSTM cells whose activations follow the range of RMS energy,
loudness and the mean F0 of the speech. :func:`prosody_tracks` computes such
tracks on exactly the grid of :func:`crnn.core.features.frame_times` (25 ms frames,
10 ms hop, frame k centred at 12.5 ms + 10 k ms), so they line up with the
models' recurrent states.
"""

from __future__ import annotations

import numpy as np

from crnn.core.defaults import SAMPLE_RATE
from crnn.core.features import HOP_LENGTH, N_FFT, WIN_LENGTH, frame_times, n_frames

FEATURES = ("f0_hz", "loudness", "rms", "rms_range")
F0_MIN_HZ = 75.0
F0_MAX_HZ = 600.0
RANGE_WINDOW_S = 0.5
FLOOR_DB = -100.0  # level reported for digital silence


def _frames(wave: np.ndarray) -> np.ndarray:
    """(N,) → (T, 400) frames of the feature grid (no edge padding, as the front-end)."""
    T = n_frames(len(wave))
    idx = np.arange(T)[:, None] * HOP_LENGTH + np.arange(WIN_LENGTH)[None, :]
    return wave[idx]


def rms_db(wave: np.ndarray) -> np.ndarray:
    """RMS level of each 25 ms frame in dB relative to full scale (a full-scale sine is −3 dB), (T,)."""
    frames = _frames(np.asarray(wave, np.float64))
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return np.maximum(20.0 * np.log10(np.maximum(rms, 1e-12)), FLOOR_DB)


def loudness_db(wave: np.ndarray) -> np.ndarray:
    """A-weighted energy of each Hann-windowed 25 ms frame in dB (T,).

    The power spectrum (512-point FFT) is weighted by the IEC 61672 A-curve
    (``librosa.A_weighting``, 0 dB at 1 kHz), which approximates the ear's
    sensitivity at moderate levels, then summed and normalised so that a
    full-scale 1 kHz sine reads about −3 dB, like :func:`rms_db`. A
    perceptual loudness proxy, not a calibrated sone or phon scale.
    """
    import librosa

    frames = _frames(np.asarray(wave, np.float64))
    window = np.hanning(WIN_LENGTH + 1)[:-1]  # periodic Hann, as the front-end
    power = np.abs(np.fft.rfft(frames * window, n=N_FFT, axis=1)) ** 2  # (T, 257)
    with np.errstate(divide="ignore"):  # the DC bin's weight is log10(0) → min_db, i.e. ~0
        weight = 10.0 ** (librosa.A_weighting(np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)) / 10.0)
    # Parseval with a window: sum|X|^2 = N_win * sum(w^2) * mean power; undo it so levels match rms_db.
    energy = (power * weight).sum(axis=1) * 2.0 / (N_FFT * np.sum(window**2))
    return np.maximum(10.0 * np.log10(np.maximum(energy, 1e-20)), FLOOR_DB)


def rms_range_db(rms: np.ndarray, window_s: float = RANGE_WINDOW_S) -> np.ndarray:
    """Range (max − min, dB) of the RMS track over a centred sliding window of ``window_s`` seconds, (T,)."""
    from scipy.ndimage import maximum_filter1d, minimum_filter1d  # here: `crnn predict` needs only voiced_fraction

    size = max(1, int(round(window_s * SAMPLE_RATE / HOP_LENGTH)))
    return maximum_filter1d(rms, size, mode="nearest") - minimum_filter1d(rms, size, mode="nearest")


def f0_hz(wave: np.ndarray, fmin: float = F0_MIN_HZ, fmax: float = F0_MAX_HZ) -> np.ndarray:
    """Praat's autocorrelation pitch (via parselmouth) on the 10 ms grid, Hz, NaN where unvoiced, (T,).

    Praat analyses at 10 ms steps on its own grid; each grid frame takes
    the linear interpolation of the two nearest Praat frames, or NaN unless
    both are voiced.
    """
    import parselmouth

    wave = np.asarray(wave, np.float64)
    times = frame_times(n_frames(len(wave)))
    sound = parselmouth.Sound(wave, sampling_frequency=SAMPLE_RATE)
    pitch = sound.to_pitch(time_step=HOP_LENGTH / SAMPLE_RATE, pitch_floor=fmin, pitch_ceiling=fmax)
    xs = np.asarray(pitch.xs())
    freq = np.asarray(pitch.selected_array["frequency"], np.float64)
    freq[freq <= 0] = np.nan
    if len(xs) == 0:
        return np.full(len(times), np.nan)
    # NaN propagates through the interpolation, so a frame next to an unvoiced one is unvoiced.
    pos = np.clip(np.searchsorted(xs, times), 1, max(1, len(xs) - 1))
    if len(xs) == 1:
        return np.where(np.abs(times - xs[0]) <= HOP_LENGTH / SAMPLE_RATE, freq[0], np.nan)
    x0, x1 = xs[pos - 1], xs[pos]
    w = np.clip((times - x0) / (x1 - x0), 0.0, 1.0)
    out = (1 - w) * freq[pos - 1] + w * freq[pos]
    outside = (times < xs[0] - HOP_LENGTH / SAMPLE_RATE) | (times > xs[-1] + HOP_LENGTH / SAMPLE_RATE)
    out[outside] = np.nan
    return out


def voiced_fraction(wave: np.ndarray, sr: int = SAMPLE_RATE, fmin: float = F0_MIN_HZ, fmax: float = F0_MAX_HZ) -> float:
    """Fraction (0 to 1) of the 10 ms frames that Praat's pitch analysis calls voiced.

    ``wave`` holds samples at ``sr`` Hz; ``fmin`` and ``fmax`` bound the pitch
    search in Hz (75 to 600 Hz covers adult and child voices). Speech gives
    well above zero; white noise, hum-free silence or a constant give 0, so
    callers can report "no speech found" instead of an emotion. A recording
    too short for one analysis frame (3 periods of ``fmin``, 40 ms at 75 Hz)
    gives 0. About 0.4 s of CPU per 10 minutes of 16 kHz audio.
    """
    import parselmouth

    wave = np.asarray(wave, np.float64)
    if wave.size == 0 or not np.all(np.isfinite(wave)):
        return 0.0
    sound = parselmouth.Sound(wave, sampling_frequency=float(sr))
    try:
        pitch = sound.to_pitch(time_step=HOP_LENGTH / SAMPLE_RATE, pitch_floor=fmin, pitch_ceiling=fmax)
    except parselmouth.PraatError:  # shorter than Praat's analysis window: nothing to call voiced
        return 0.0
    freq = np.asarray(pitch.selected_array["frequency"])
    return float(np.mean(freq > 0)) if freq.size else 0.0


def prosody_tracks(wave: np.ndarray, *, range_window_s: float = RANGE_WINDOW_S) -> dict[str, np.ndarray]:
    """Prosodic tracks of a 16 kHz wave on the front-end's 10 ms grid.

    Returns (T,) float64 arrays, T = ``crnn.core.features.n_frames(len(wave))``:
    "times" (s, frame centres), "f0_hz" (Hz, NaN when unvoiced), "loudness"
    (A-weighted level, dB), "rms" (dB re full scale), "rms_range" (max − min
    of "rms" over ``range_window_s`` seconds, dB).
    """
    wave = np.asarray(wave, np.float32)
    rms = rms_db(wave)
    return {
        "times": frame_times(len(rms)),
        "f0_hz": f0_hz(wave),
        "loudness": loudness_db(wave),
        "rms": rms,
        "rms_range": rms_range_db(rms, range_window_s),
    }
