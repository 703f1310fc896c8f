"""Corpus audio in memory, and the training batches made from it.

Every utterance is decoded once with :func:`crnn.core.audio.load_audio`, its
leading and trailing silence trimmed, and kept as float32 in memory (all of
RAVDESS is about 340 MB before trimming). The decoded corpus is cached as an
uncompressed ``.npz`` (one concatenated sample array + offsets) under a cache
folder, keyed by the file list (paths, sizes, modification times) and the
trimming setting, so a second run starts in a second or two.

Silence trimming: ``librosa.effects.trim`` with ``top_db = 40`` dB below the
utterance's loudest frame (2048-sample frames, 512 hop). RAVDESS clips carry
about a second of near-silence at each end; without trimming a 3 s crop
would often be mostly silence.

Training batches (:func:`crop_batch`) are random crops of at most 3 s;
utterances shorter than the batch's length are padded with zeros at the end.
The zeros become near-constant, very low log-Mel frames that the per-utterance
CMVN includes; evaluation runs on whole utterances, one at a time, so no
padding is involved there.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from crnn.core.audio import load_audio
from crnn.core.cache import Progress
from crnn.core.defaults import CACHE_DIR, SAMPLE_RATE
from crnn.core.errors import AudioError
from crnn.core.fileio import atomic_path
from crnn.core.noise import NoiseSource

TRIM_TOP_DB = 40.0  # dB below the peak frame counted as silence at the ends
CROP_SECONDS = 3.0  # longest training crop
MIN_TRIMMED = SAMPLE_RATE // 2  # samples: never trim an utterance below 0.5 s



def trim_silence(wave: np.ndarray, top_db: float = TRIM_TOP_DB) -> np.ndarray:
    """Cut leading and trailing parts quieter than ``top_db`` dB below the loudest frame.

    If trimming would leave less than 0.5 s, the utterance is returned whole.
    """
    import librosa

    trimmed, _ = librosa.effects.trim(wave, top_db=top_db)
    return trimmed if len(trimmed) >= MIN_TRIMMED else wave


def _cache_key(paths: Sequence[Path], top_db: float | None) -> str:
    digest = hashlib.sha256(json.dumps({"trim_top_db": top_db, "sample_rate": SAMPLE_RATE}).encode())
    for path in paths:
        stat = Path(path).stat()
        digest.update(f"{Path(path).resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


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
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"audio-{_cache_key(paths, trim_top_db)}.npz"
        if cache.is_file():
            try:
                with np.load(cache, allow_pickle=False) as stored:
                    samples, offsets, ok = stored["samples"], stored["offsets"], stored["ok"]
                    problems = [str(p) for p in stored["problems"]]
                waves = [samples[a:b] if good else None for a, b, good in zip(offsets[:-1], offsets[1:], ok)]
                return waves, problems
            except (OSError, KeyError, ValueError):
                pass  # a damaged cache is rebuilt below
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
    if cache is not None:
        try:
            _write_cache(cache, waves, problems)
        except OSError:
            pass  # a read-only or full cache folder only costs speed next time
    return waves, problems


def _write_cache(path: Path, waves: list[np.ndarray | None], problems: list[str]) -> None:
    lengths = [0 if w is None else len(w) for w in waves]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    samples = np.concatenate([w for w in waves if w is not None] or [np.zeros(0, np.float32)])
    ok = np.array([w is not None for w in waves])
    with atomic_path(path) as tmp:
        np.savez(
            tmp, samples=samples.astype(np.float32), offsets=offsets, ok=ok,
            problems=np.array(problems, dtype=str),
        )


def crop_batch(
    waves: Sequence[np.ndarray],
    rng: np.random.Generator,
    max_seconds: float = CROP_SECONDS,
    noise: NoiseSource | None = None,
) -> torch.Tensor:
    """A training batch (B, L): a random crop of the same length from each wave.

    L is the shortest of ``max_seconds`` and the shortest wave in the batch, so
    no clip is padded: padding would put constant frames into the per-utterance
    normalisation and the mean over time that whole-utterance evaluation never
    sees. With ``noise``, each crop is mixed with a fresh noise draw at an SNR
    uniform in [−10, 15] dB (paper 001 Sec. 5.2).
    """
    max_len = int(round(max_seconds * SAMPLE_RATE))
    length = min(max_len, min(len(w) for w in waves))
    batch = np.zeros((len(waves), length), np.float32)  # (B, L)
    for b, wave in enumerate(waves):
        start = int(rng.integers(0, len(wave) - length + 1))
        wave = wave[start : start + length]
        if noise is not None:
            wave, _ = noise.corrupt(wave, rng)
        batch[b] = wave
    return torch.from_numpy(batch)
