"""The one audio loader: any wav, flac, ogg or mp3 → mono float32 at 16 kHz."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import soundfile as sf
import soxr

from crnn.core.defaults import SAMPLE_RATE
from crnn.core.errors import AudioError

MIN_SECONDS = 0.25
MAX_SECONDS = 600.0  # default cap: 10 minutes
SILENCE_PEAK = 1e-4  # peak |x| below this (−80 dBFS) counts as all silent
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")

AudioSource = Union[str, os.PathLike, bytes, BinaryIO]


def _describe(source: AudioSource, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return getattr(source, "name", None) or "the audio"


def load_audio(
    source: AudioSource,
    *,
    max_seconds: float = MAX_SECONDS,
    name: str | None = None,
) -> np.ndarray:
    """Read audio and return it as mono float32 samples at 16 kHz, shape (N,).

    ``source`` is a path, the file's bytes, or a binary file object (an upload).
    Stereo is averaged to mono; other rates are resampled with soxr's
    high-quality filter. Raises :class:`AudioError`, naming the file and the
    reason, if the file is unreadable, empty, shorter than 0.25 s, longer than
    ``max_seconds`` seconds, all silent (peak below −80 dBFS) or contains NaN
    or infinity.
    """
    label = _describe(source, name)
    if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
        raise AudioError(f"{label}: no such file")
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    if hasattr(source, "seek"):
        source.seek(0)  # an upload may already have been read once (e.g. to play it)
    try:
        info = sf.info(source)
        if hasattr(source, "seek"):
            source.seek(0)
        if info.samplerate > 0 and info.frames / info.samplerate > max_seconds:
            raise AudioError(
                f"{label}: {info.frames / info.samplerate:.0f} s is longer than the "
                f"{max_seconds:.0f} s limit"
            )
        data, rate = sf.read(source, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as exc:  # soundfile raises several types for non-audio
        raise AudioError(f"{label}: not a readable audio file ({type(exc).__name__})") from None
    if data.size == 0:
        raise AudioError(f"{label}: the file holds no audio samples")
    wave = data.mean(axis=1)  # (N,) downmix
    if not np.all(np.isfinite(wave)):
        raise AudioError(f"{label}: contains NaN or infinite samples")
    seconds = len(wave) / rate
    if seconds < MIN_SECONDS:
        raise AudioError(f"{label}: {seconds:.2f} s is shorter than {MIN_SECONDS} s")
    if seconds > max_seconds:
        raise AudioError(f"{label}: {seconds:.0f} s is longer than the {max_seconds:.0f} s limit")
    if np.max(np.abs(wave)) < SILENCE_PEAK:
        raise AudioError(f"{label}: the audio is silent")
    if rate != SAMPLE_RATE:
        wave = soxr.resample(wave, rate, SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(wave, dtype=np.float32)


def is_audio_file(path: str | os.PathLike) -> bool:
    """True if the file name has one of the suffixes the loader reads."""
    return Path(path).suffix.lower() in AUDIO_SUFFIXES
