"""The one audio loader: any wav, flac, ogg or mp3 → mono float32 at 16 kHz.

Files are decoded, downmixed and resampled one block at a time, so memory
stays near the size of the 16 kHz mono result however many channels or
however high a rate the file has (an 8-channel 384 kHz FLAC would otherwise
take ~900 MB as float32 before the downmix).
"""

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
from crnn.core.fileio import absent_reason, shown_path

MIN_SECONDS = 0.25
MAX_SECONDS = 600.0  # default cap: 10 minutes
SILENCE_PEAK = 1e-4  # peak |x| below this (−80 dBFS), after removing DC, counts as all silent
# Full scale is 1. A float file may go past it, and int16 values written unscaled reach 32768;
# beyond 10^6 (+120 dBFS) squared frame energies overflow float32 and the model answers "nan %".
MAX_PEAK = 1e6
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
# Samples (frames × channels) a file may hold: 2^28 is ~1 GB as float32. Checked on
# the header before decoding, and again while decoding, since a header may lie.
MAX_DECODED_SAMPLES = 2**28
BLOCK_SAMPLES = 2**18  # samples over all channels decoded at a time: 1 MB as float32

# Bump when load_audio returns different samples for the same file, and put it in the
# keys of caches of decoded audio or of what is computed from it. 3: block decoding, samples as recorded.
LOADER_VERSION = 3

AudioSource = Union[str, os.PathLike, bytes, BinaryIO]

__all__ = [
    "AUDIO_SUFFIXES", "LOADER_VERSION", "MAX_DECODED_SAMPLES", "MAX_SECONDS", "MIN_SECONDS", "SAMPLE_RATE",
    "SILENCE_PEAK", "AudioSource", "is_audio_file", "load_audio",
]  # fmt: skip


def _describe(source: AudioSource, name: str | None) -> str:
    """How messages name the audio: ``name``, a path without the server's folders, or the upload's name."""
    if name:
        return name
    if isinstance(source, (str, os.PathLike)):
        return shown_path(source)
    return getattr(source, "name", None) or "the audio"


class _Sink:
    """The 16 kHz mono result, filled block by block; also tracks sum, min and max of the input.

    The buffer is sized from the header and grown only if the header
    under-states the length, so the result is not copied at the end.
    """

    def __init__(self, expected: int) -> None:
        self.out = np.empty(max(expected, 0), np.float32)
        self.n = 0
        self.total = 0.0  # float64 sum of the source-rate mono samples, for the mean (DC)
        self.low, self.high = np.inf, -np.inf

    def observe(self, mono: np.ndarray) -> None:
        self.total += float(np.sum(mono, dtype=np.float64))
        self.low = min(self.low, float(mono.min()))
        self.high = max(self.high, float(mono.max()))

    def put(self, chunk: np.ndarray) -> None:
        if self.n + len(chunk) > len(self.out):
            self.out = np.resize(self.out, max(2 * len(self.out), self.n + len(chunk)))
        self.out[self.n : self.n + len(chunk)] = chunk
        self.n += len(chunk)


def _block_frames(rate: int, channels: int) -> int:
    """Frames per block: :data:`BLOCK_SAMPLES` over all channels, and at most one second
    (``rate`` frames), so that upsampling a low-rate file cannot blow a block up."""
    return int(max(1, min(rate, BLOCK_SAMPLES // channels)))


def _decode(fh: sf.SoundFile, label: str, max_seconds: float) -> tuple[_Sink, int]:
    """Decode, downmix and resample ``fh`` block by block; returns (result, source frames)."""
    rate, channels = fh.samplerate, fh.channels
    sink = _Sink(int(np.ceil(fh.frames * SAMPLE_RATE / rate)) + 64 if fh.frames > 0 else SAMPLE_RATE)
    stream = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ") if rate != SAMPLE_RATE else None
    block = np.empty((_block_frames(rate, channels), channels), np.float32)
    frames = 0
    while True:
        data = fh.read(len(block), dtype="float32", always_2d=True, out=block)
        last = len(data) < len(block)
        frames += len(data)
        if frames > max_seconds * rate:  # the header under-stated the length
            raise AudioError(f"{label}: more than {max_seconds:.0f} s, the limit")
        if frames * channels > MAX_DECODED_SAMPLES:
            raise AudioError(f"{label}: more than {MAX_DECODED_SAMPLES} samples over all channels, too large to decode")
        if len(data):
            mono = data.mean(axis=1) if channels > 1 else data[:, 0]
            if not np.all(np.isfinite(mono)):
                raise AudioError(f"{label}: contains NaN or infinite samples")
            sink.observe(mono)
            peak = max(sink.high, -sink.low)
            if peak > MAX_PEAK:
                raise AudioError(f"{label}: samples reach {peak:.3g}, far beyond full scale (1); not a recording")
        if stream is not None:
            sink.put(stream.resample_chunk(mono if len(data) else np.zeros(0, np.float32), last=last))
        elif len(data):
            sink.put(mono)
        if last:
            return sink, frames


def _check_header(info: sf.SoundFile, label: str, max_seconds: float) -> None:
    """Refuse, before decoding anything, a file whose header announces too much audio."""
    if info.samplerate <= 0:
        return
    if info.frames / info.samplerate > max_seconds:
        raise AudioError(
            f"{label}: {info.frames / info.samplerate:.0f} s is longer than the {max_seconds:.0f} s limit"
        )
    if info.frames * info.channels > MAX_DECODED_SAMPLES:
        raise AudioError(
            f"{label}: {info.channels} channels × {info.frames} frames at {info.samplerate} Hz is too large "
            f"to decode (over {MAX_DECODED_SAMPLES} samples)"
        )


def load_audio(
    source: AudioSource,
    *,
    max_seconds: float = MAX_SECONDS,
    name: str | None = None,
) -> np.ndarray:
    """Read audio and return it as mono float32 samples at 16 kHz, shape (N,).

    ``source`` is a path, the file's bytes, or a binary file object (an upload).
    Channels are averaged to mono; other rates are resampled with soxr's
    high-quality filter; decoding goes block by block, so memory stays near
    the size of the result. Raises :class:`AudioError`, naming the file and
    the reason, if the path is missing or a folder, the file is unreadable,
    empty, shorter than 0.25 s, longer than ``max_seconds`` seconds, holds
    more than :data:`MAX_DECODED_SAMPLES` samples over all channels, is
    silent once DC is removed (peak below −80 dBFS, so a constant signal
    counts as silent), contains NaN or infinity, or has samples beyond
    :data:`MAX_PEAK` (+120 dBFS).
    """
    label = _describe(source, name)
    if isinstance(source, (str, os.PathLike)):
        if Path(source).is_dir():
            raise AudioError(f"{label} is a folder, not an audio file")
        if not Path(source).is_file():
            raise AudioError(f"{label}: {absent_reason(source)}")
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    if hasattr(source, "seek"):
        source.seek(0)  # an upload may already have been read once (e.g. to play it)
    try:
        with sf.SoundFile(source) as fh:
            _check_header(fh, label, max_seconds)
            sink, frames = _decode(fh, label, max_seconds)
            rate = fh.samplerate
    except AudioError:
        raise
    except Exception as exc:  # soundfile raises several types for non-audio
        raise AudioError(f"{label}: not a readable audio file ({type(exc).__name__})") from None
    return _finish(sink, frames, rate, label)


def _finish(sink: _Sink, frames: int, rate: int, label: str) -> np.ndarray:
    """Refuse empty, short or silent audio (silence judged with the mean removed); return the samples."""
    if frames == 0:
        raise AudioError(f"{label}: the file holds no audio samples")
    seconds = frames / rate
    if seconds < MIN_SECONDS:
        raise AudioError(f"{label}: {seconds:.2f} s is shorter than {MIN_SECONDS} s")
    # DC first: a constant offset is not sound, and a DC-only file must count as silent
    # (it used to reach the model and be classified). The peak of x − mean is exact
    # from the source-rate extremes, before resampling can smear it.
    mean = sink.total / frames
    if max(sink.high - mean, mean - sink.low) < SILENCE_PEAK:
        raise AudioError(f"{label}: the audio is silent")
    # The samples themselves are returned as recorded: the shipped checkpoints were trained and
    # scored on them, and a DC offset only touches the lowest FFT bin of the features.
    wave = sink.out[: sink.n]
    # A header that under-stated the length left a grown buffer: do not keep its unused tail alive.
    return wave if len(sink.out) - sink.n <= 4096 else wave.copy()


def peak_dbfs(wave: np.ndarray) -> float:
    """The loudest sample of ``wave`` in dB relative to full scale (1.0 is 0 dBFS); digital silence is −240."""
    return float(20 * np.log10(max(float(np.abs(wave).max()), 1e-12)))


def is_audio_file(path: str | os.PathLike) -> bool:
    """True if the file name has one of the suffixes the loader reads."""
    return Path(path).suffix.lower() in AUDIO_SUFFIXES
