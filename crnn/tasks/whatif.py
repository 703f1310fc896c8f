"""``crnn whatif``: one recording with its pitch, tempo or loudness changed, and the model's view of both."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np

from crnn.analysis.whatif import check_settings, whatif
from crnn.core.audio import load_audio
from crnn.core.checkpoint import load_checkpoint
from crnn.core.defaults import SAMPLE_RATE
from crnn.core.errors import CrnnError
from crnn.core.fileio import atomic_write_bytes


def wav_bytes(wave: np.ndarray) -> bytes:
    """A 16 kHz mono 16-bit WAV file of ``wave`` (N,) float32 in [-1, 1], e.g. for a player."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.asarray(wave, np.float32), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def run_whatif(model_ref: str | os.PathLike, file: str | os.PathLike, *, pitch: float = 0.0, tempo: float = 1.0,
               loudness: float = 0.0, out: str | os.PathLike | None = None, cells: int = 1,
               figure: str | os.PathLike | None = None) -> dict:
    """Change ``file``'s pitch (semitones), tempo (× speed) and loudness (dB); the CLI's ``crnn whatif``.

    Returns {"model", "file", "settings", "clipped", "before", "after",
    "cells", "seconds"} (:func:`crnn.analysis.whatif.whatif`); with
    ``out``, writes the changed clip there as WAV and adds "out"; with
    ``figure`` (.html or .png), draws both predictions and the cells'
    response (:func:`crnn.plots_lab.whatif_figure`) and adds "figure".
    CrnnError for a setting out of range or an unusable file or checkpoint.
    """
    from crnn.core.fileio import check_figure_path

    try:
        check_settings(pitch, tempo, loudness)
    except ValueError as exc:
        raise CrnnError(str(exc)) from None
    check_figure_path(figure)
    if out is not None and Path(out).suffix.lower() != ".wav":
        raise CrnnError(f"--out {out}: the changed clip is written as .wav")
    if out is not None and Path(out).resolve() == Path(file).resolve():  # the recording would be lost
        raise CrnnError(f"--out {Path(out).name} is the clip itself; write the changed clip to another file")
    model, card = load_checkpoint(model_ref)
    wave = load_audio(file)
    start = time.perf_counter()
    result = whatif(model, wave, card["labels"], pitch_st=pitch, tempo=tempo, loudness_db=loudness, cells=cells)
    changed = result.pop("wave")
    result = {"model": card.get("model"), "file": str(file), **result, "seconds": round(time.perf_counter() - start, 3)}
    if out is not None:
        try:
            atomic_write_bytes(out, wav_bytes(changed))
        except OSError as exc:
            raise CrnnError(f"cannot write {Path(out).name}: {exc.strerror or exc}") from None
        result["out"] = str(out)
    if figure is not None:
        from crnn.plots import save_figure
        from crnn.plots_lab import whatif_figure

        result["figure"] = str(save_figure(whatif_figure(result), figure))
    return result
