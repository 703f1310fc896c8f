"""Corpus audio in memory, and the training batches made from it.

Every utterance is decoded once with :func:`crnn.core.audio.load_audio`, its
leading and trailing silence trimmed, and kept as float32 in memory (all of
RAVDESS is about 340 MB before trimming). The decoded corpus is cached with
:mod:`crnn.core.cache` (one concatenated sample array + offsets), keyed by the
file list (paths, sizes, modification times) and the trimming setting, so a
second run starts in a second or two. Train, evaluate and probe all decode
corpus audio through :func:`load_waves`.

Silence trimming: ``librosa.effects.trim`` with ``top_db = 40`` dB below the
utterance's loudest frame (2048-sample frames, 512 hop). RAVDESS clips carry
about a second of near-silence at each end.

Training batches: :func:`length_batches` groups utterances of similar length
(sorted by length, cut into batches, the batch order shuffled), and
:func:`crop_batch` crops each batch to its shortest member, at most
``max_seconds``. Grouping by length keeps nearly all of every utterance (the
paper recipe's random batches cut the median clip from 2.0 s to 1.5 s) with
no padding, which would put constant frames into the normalisation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from crnn.core.audio import LOADER_VERSION, load_audio, peak_dbfs
from crnn.core.cache import Progress, cache_key, file_stamps, load_arrays, save_arrays
from crnn.core.defaults import CACHE_DIR, SAMPLE_RATE
from crnn.core.errors import AudioError, CrnnError
from crnn.core.noise import NoiseSource

TRIM_TOP_DB = 40.0  # dB below the peak frame counted as silence at the ends
CROP_SECONDS = 3.0  # longest training crop
MIN_TRIMMED = SAMPLE_RATE // 2  # samples: never trim an utterance below 0.5 s



def trim_silence(wave: np.ndarray, top_db: float = TRIM_TOP_DB) -> np.ndarray:
    """Cut leading and trailing parts quieter than ``top_db`` dB below the loudest frame.

    If trimming would leave less than 0.5 s, the utterance is returned whole.
    The same cut as ``librosa.effects.trim(wave, top_db=top_db)`` (RMS of
    2048-sample frames every 512, zero-padded at the ends), computed here so
    that a prediction does not import librosa (and numba), seconds of a cold
    start.
    """
    frame, hop = 2048, 512
    padded = np.pad(wave, (frame // 2, frame // 2), mode="constant")
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop].T  # (frame, T), as librosa.util.frame
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float32), axis=-2))  # (T,)
    amin = 1e-5**2
    level = 10.0 * np.log10(np.maximum(amin, np.square(rms)))
    level -= 10.0 * np.log10(np.maximum(amin, np.max(rms) ** 2))
    loud = np.flatnonzero(level > -top_db)
    start, end = (int(loud[0]) * hop, min(len(wave), (int(loud[-1]) + 1) * hop)) if loud.size else (0, 0)
    trimmed = wave[start:end]
    return trimmed if len(trimmed) >= MIN_TRIMMED else wave


def _cache_key(paths: Sequence[Path], top_db: float | None) -> str:
    return cache_key("audio", {"trim_top_db": top_db, "sample_rate": SAMPLE_RATE, "loader": LOADER_VERSION}, file_stamps(paths))


def recording_levels(waves: Sequence[np.ndarray]) -> dict:
    """How loud a corpus was recorded: each clip's peak and RMS level in dBFS (full scale 1), summarised.

    ``waves``: float32 (N,) clips, as :func:`load_waves` returns them (trimmed). Returns
    {"peak_dbfs": {"median", "p5", "p95"}, "rms_dbfs": {...}, "clips"}. Models whose features keep
    the level (an absolute log floor) answer differently on a corpus recorded louder or quieter.
    """
    waves = [w for w in waves if w is not None and len(w)]
    if not waves:
        raise CrnnError("no decodable clip to measure the level of")
    peak = np.array([peak_dbfs(w) for w in waves])
    rms = 10 * np.log10(np.array([np.mean(np.square(w, dtype=np.float64)) for w in waves]) + 1e-24)  # −240 dBFS floor
    summary = lambda x: {"median": round(float(np.median(x)), 1), "p5": round(float(np.percentile(x, 5)), 1),  # noqa: E731
                         "p95": round(float(np.percentile(x, 95)), 1)}
    return {"peak_dbfs": summary(peak), "rms_dbfs": summary(rms), "clips": len(waves)}


def load_waves(
    paths: Sequence[str | os.PathLike],
    *,
    trim_top_db: float | None = TRIM_TOP_DB,
    cache_dir: str | os.PathLike | None = CACHE_DIR,
    progress: Progress | None = None,
) -> tuple[list[np.ndarray | None], list[str]]:
    """Decode (and trim) every file; returns (waves, problems).

    ``waves[i]`` is the float32 (N,) signal of ``paths[i]``, or None if the
    file cannot be decoded; ``problems`` lists those files as one sentence
    each. ``trim_top_db=None`` keeps the silence. ``cache_dir=None``
    disables the on-disk cache. ``progress`` receives
    ``{"event": "decode", "done", "total"}``.
    """
    paths = [Path(p) for p in paths]
    key = _cache_key(paths, trim_top_db)
    stored = load_arrays("audio", key, cache_dir) if cache_dir is not None else None
    if stored is not None:
        samples, offsets, ok = stored["samples"], stored["offsets"], stored["ok"]
        waves = [samples[a:b] if good else None for a, b, good in zip(offsets[:-1], offsets[1:], ok)]
        return waves, [str(p) for p in stored["problems"]]
    waves: list[np.ndarray | None] = []
    problems: list[str] = []
    for i, path in enumerate(paths):
        try:
            wave = load_audio(path)
            waves.append(trim_silence(wave, trim_top_db) if trim_top_db is not None else wave)
        except AudioError as exc:
            waves.append(None)
            problems.append(str(exc))
        if progress is not None:
            progress({"event": "decode", "done": i + 1, "total": len(paths)})
    if cache_dir is not None:
        save_arrays("audio", key, _packed(waves, problems), cache_dir)
    return waves, problems


def _packed(waves: list[np.ndarray | None], problems: list[str]) -> dict[str, np.ndarray]:
    lengths = [0 if w is None else len(w) for w in waves]
    samples = np.concatenate([w for w in waves if w is not None] or [np.zeros(0, np.float32)])
    return {
        "samples": samples.astype(np.float32),
        "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "ok": np.array([w is not None for w in waves]),
        "problems": np.array(problems, dtype=str),
    }


def length_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Indices grouped into batches of similar length, in random order.

    Lengths are jittered by up to 10 % before sorting, so batches differ from
    epoch to epoch; the last batch may be smaller.
    """
    jitter = np.asarray(lengths, np.float64) * rng.uniform(0.9, 1.1, len(lengths))
    order = np.argsort(jitter, kind="stable")
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def speed_perturb(wave: np.ndarray, factor: float) -> np.ndarray:
    """Play ``wave`` ``factor`` times faster (tempo and pitch together, as Kaldi's speed perturbation)."""
    if factor == 1.0:
        return wave
    import soxr

    return soxr.resample(wave, SAMPLE_RATE * factor, SAMPLE_RATE, quality="HQ").astype(np.float32)


def mix_within_class(wave: np.ndarray, partner: np.ndarray, weight: float, rng: np.random.Generator) -> np.ndarray:
    """``wave`` with another recording of the same class laid over it; ``weight`` (0-1) is the partner's share.

    The partner is cut at a random start (looped when shorter) to ``wave``'s length in samples and scaled
    to ``wave``'s RMS first, so ``weight`` shares the signal, not its loudness: 0.3 gives 0.7 × wave +
    0.3 × partner. The label stays ``wave``'s: both say the same emotion.
    """
    if len(partner) < len(wave):
        partner = np.resize(partner, len(wave))  # repeats it
    start = int(rng.integers(0, len(partner) - len(wave) + 1))
    partner = partner[start : start + len(wave)]
    scale = np.sqrt(np.mean(np.square(wave, dtype=np.float64)) / max(np.mean(np.square(partner, dtype=np.float64)), 1e-20))
    return ((1 - weight) * wave + weight * scale * partner).astype(np.float32)


def crop_batch(
    waves: Sequence[np.ndarray],
    rng: np.random.Generator,
    max_seconds: float = CROP_SECONDS,
    noise: NoiseSource | None = None,
    gain_db: float = 0.0,
    noise_share: float = 1.0,
) -> torch.Tensor:
    """A training batch (B, L): a random crop of the same length from each wave.

    L is the shorter of ``max_seconds`` and the shortest wave in the batch, so
    no clip is padded. With ``noise``, each crop is mixed with a fresh noise
    draw at an SNR uniform in [−10, 15] dB (paper 001 Sec. 5.2); with ``noise_share``
    below 1, each crop is mixed with that probability and otherwise stays clean. ``gain_db``
    > 0 scales each crop by a random gain uniform in ±``gain_db`` dB.
    """
    max_len = int(round(max_seconds * SAMPLE_RATE))
    length = min(max_len, min(len(w) for w in waves))
    batch = np.zeros((len(waves), length), np.float32)  # (B, L)
    for b, wave in enumerate(waves):
        start = int(rng.integers(0, len(wave) - length + 1))
        wave = wave[start : start + length]
        if noise is not None and (noise_share >= 1.0 or rng.random() < noise_share):  # no draw at 1: older runs replay
            wave, _ = noise.corrupt(wave, rng)
        if gain_db > 0:
            wave = wave * np.float32(10 ** (rng.uniform(-gain_db, gain_db) / 20))
        batch[b] = wave
    return torch.from_numpy(batch)
