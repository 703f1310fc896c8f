"""Additive noise at a chosen signal-to-noise ratio (paper 001 Sec. 5.2).

The paper corrupts every clean utterance with noise recordings (MUSAN's noise
portion) at SNRs drawn uniformly from [−10, 15] dB. :class:`NoiseSource` draws
from a folder of such recordings when one is given, and otherwise from
generated coloured noise (white, pink, brown), so the noisy condition works
on a machine without MUSAN.

The noisy *test* condition must be identical for every model, whatever its
training seed: :func:`noisy_copy` mixes each utterance once, with noise and
SNR derived only from the utterance's key and a fixed seed.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

from crnn.core.audio import is_audio_file, load_audio
from crnn.core.errors import CrnnError
from crnn.core.fileio import shown_path

SNR_RANGE = (-10.0, 15.0)  # dB, paper 001 Sec. 5.2
COLOURS = ("white", "pink", "brown")
NOISY_TEST_SEED = 0  # the noisy test set is the same for every model and training seed

Colour = Literal["white", "pink", "brown"]


def power(x: np.ndarray) -> float:
    """Mean square of the samples (linear power)."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.mean(x * x))


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """SNR in dB of ``noisy`` with respect to ``clean`` (the noise is their difference)."""
    noise = np.asarray(noisy, np.float64) - np.asarray(clean, np.float64)
    return 10.0 * np.log10(power(clean) / max(power(noise), 1e-20))


def coloured_noise(kind: Colour, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of unit-RMS noise whose power spectrum falls as 1/f**alpha.

    alpha = 0 (white), 1 (pink, −3 dB per octave) or 2 (brown, −6 dB per
    octave); shaped in the frequency domain, with the DC bin removed.
    """
    alpha = {"white": 0.0, "pink": 1.0, "brown": 2.0}.get(kind)
    if alpha is None:
        raise ValueError(f"unknown noise colour {kind!r}; use one of {COLOURS}")
    white = rng.standard_normal(n)
    if alpha:
        spectrum = np.fft.rfft(white)
        freqs = np.fft.rfftfreq(n)
        gain = np.zeros_like(freqs)
        gain[1:] = freqs[1:] ** (-alpha / 2)  # amplitude ∝ f^(−alpha/2) ⇒ power ∝ f^(−alpha)
        white = np.fft.irfft(spectrum * gain, n)
    rms = np.sqrt(np.mean(white * white))
    return (white / max(rms, 1e-12)).astype(np.float32)


def _fit_length(noise: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Loop a short noise or take a random excerpt of a long one, giving ``n`` samples."""
    if len(noise) < n:
        noise = np.tile(noise, int(np.ceil(n / len(noise))))
    start = int(rng.integers(0, len(noise) - n + 1))
    return noise[start : start + n]


def mix_at_snr(
    clean: np.ndarray,
    noise: np.ndarray,
    snr_db: float,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """``clean`` plus ``noise`` scaled so that the mixture's SNR is ``snr_db`` dB.

    The noise is looped or cut (at a random offset drawn from ``rng``) to the
    clean signal's length. Samples are not clipped or renormalised: the
    models normalise their input per utterance.
    """
    clean = np.asarray(clean, np.float32)
    rng = rng if rng is not None else np.random.default_rng()
    noise = _fit_length(np.asarray(noise, np.float64), len(clean), rng)
    noise_power = power(noise)
    if noise_power == 0.0:
        raise ValueError("the noise is all zeros")
    scale = np.sqrt(power(clean) / (noise_power * 10.0 ** (snr_db / 10.0)))
    return (clean + scale * noise).astype(np.float32)


class NoiseSource:
    """Noise excerpts from a folder of recordings, or generated coloured noise.

    ``noise_dir`` (searched recursively for wav/flac/ogg/mp3) mirrors the
    paper's use of MUSAN; without it each draw is white, pink or brown noise
    with equal probability. Recordings are decoded on first use and kept
    (up to 256 files) in memory.
    """

    def __init__(self, noise_dir: str | Path | None = None, seed: int = 0) -> None:
        self.noise_dir = Path(noise_dir) if noise_dir is not None else None
        self.rng = np.random.default_rng(seed)
        self.files: list[Path] = []
        if self.noise_dir is not None:
            shown = shown_path(self.noise_dir)  # messages never show where the server keeps files
            if not self.noise_dir.is_dir():
                what = "is a file, not a folder" if self.noise_dir.exists() else "does not exist"
                raise CrnnError(f"noise folder {shown} {what}")
            self.files = sorted(p for p in self.noise_dir.rglob("*") if is_audio_file(p))
            if not self.files:
                raise CrnnError(f"noise folder {shown} holds no audio files")
        self._load = lru_cache(maxsize=256)(self._decode)

    @staticmethod
    def _decode(path: Path) -> np.ndarray:
        return load_audio(path)

    def describe(self) -> dict:
        """What this source draws from, for a model card."""
        if self.noise_dir is None:
            return {"kind": "coloured", "colours": list(COLOURS)}
        return {"kind": "folder", "folder": str(self.noise_dir), "files": len(self.files)}

    def sample(self, n_samples: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """``n_samples`` samples of noise (float32); ``rng`` defaults to the source's own."""
        rng = rng if rng is not None else self.rng
        if not self.files:
            return coloured_noise(COLOURS[int(rng.integers(len(COLOURS)))], n_samples, rng)
        noise = self._load(self.files[int(rng.integers(len(self.files)))])
        return _fit_length(noise, n_samples, rng).astype(np.float32)

    def corrupt(self, clean: np.ndarray, rng: np.random.Generator | None = None) -> tuple[np.ndarray, float]:
        """``clean`` mixed with a fresh draw at an SNR uniform in [−10, 15] dB; returns (noisy, snr_db)."""
        rng = rng if rng is not None else self.rng
        snr = float(rng.uniform(*SNR_RANGE))
        return mix_at_snr(clean, self.sample(len(clean), rng), snr, rng), snr


def noisy_copy(
    clean: np.ndarray, key: str, source: NoiseSource | None = None, seed: int = NOISY_TEST_SEED
) -> tuple[np.ndarray, float]:
    """The one noisy version of an utterance used for noisy evaluation.

    Noise and SNR are drawn from a generator seeded by ``seed`` and a CRC of
    ``key`` (e.g. the file's path inside its corpus), so every model, run and
    baseline sees the same corrupted test set. Returns (noisy, snr_db).
    """
    source = source if source is not None else NoiseSource()
    rng = np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])
    return source.corrupt(clean, rng)
