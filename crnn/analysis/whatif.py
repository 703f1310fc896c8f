"""Prosody what-if: the same clip higher or lower, faster or slower, louder or softer, and what the model says.

Pitch and tempo are changed with Praat's PSOLA manipulation (praat-parselmouth:
"To Manipulation", the pitch tier shifted by semitones, a constant duration
tier, "Get resynthesis (overlap-add)"), which keeps the formants where they
are; resampling would move them with the pitch. Loudness is a plain gain in
dB (clipped at full scale, and reported so). Each change is independent.

:func:`whatif` gives the prediction before and after, and how the cells that
follow F0 and loudness best on the original clip (cell states ``c``,
:mod:`crnn.analysis.cells`) respond: their mean activation before and after.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from crnn.analysis.cells import cell_correlations, cell_states
from crnn.core.data import trim_silence
from crnn.core.defaults import SAMPLE_RATE
from crnn.core.prosody import F0_MAX_HZ, F0_MIN_HZ

PITCH_RANGE = (-12.0, 12.0)  # semitones
TEMPO_RANGE = (0.5, 2.0)  # × speed
LOUDNESS_RANGE = (-30.0, 30.0)  # dB
CELL_FEATURES = ("f0_hz", "loudness")


def check_settings(pitch_st: float = 0.0, tempo: float = 1.0, loudness_db: float = 0.0) -> None:
    """ValueError, in one sentence, for a setting out of range (±12 semitones, 0.5-2× tempo, ±30 dB)."""
    for name, value, (lo, hi), unit in (("pitch", pitch_st, PITCH_RANGE, " semitones"), ("tempo", tempo, TEMPO_RANGE, "×"),
                                        ("loudness", loudness_db, LOUDNESS_RANGE, " dB")):
        if not (np.isfinite(value) and lo <= value <= hi):
            raise ValueError(f"{name} {value:g} is out of range ({lo:g} to {hi:g}{unit})")


def manipulate(wave: np.ndarray, pitch_st: float = 0.0, tempo: float = 1.0, loudness_db: float = 0.0) -> tuple[np.ndarray, bool]:
    """(changed wave (M,) float32 at 16 kHz, clipped?): pitch shifted by ``pitch_st`` semitones, played ``tempo``× as fast,
    ``loudness_db`` dB louder. ``wave`` (N,) float32 at 16 kHz; M ≈ N / ``tempo``.
    """
    import parselmouth
    from parselmouth.praat import call

    check_settings(pitch_st, tempo, loudness_db)
    out = np.asarray(wave, np.float64)
    if pitch_st != 0.0 or tempo != 1.0:
        sound = parselmouth.Sound(out, sampling_frequency=SAMPLE_RATE)
        manipulation = call(sound, "To Manipulation", 0.01, F0_MIN_HZ, F0_MAX_HZ)
        if pitch_st != 0.0:
            tier = call(manipulation, "Extract pitch tier")
            call(tier, "Shift frequencies", sound.xmin, sound.xmax, float(pitch_st), "semitones")
            call([tier, manipulation], "Replace pitch tier")
        if tempo != 1.0:
            durations = call("Create DurationTier", "tempo", sound.xmin, sound.xmax)
            call(durations, "Add point", sound.xmin, 1.0 / float(tempo))
            call([manipulation, durations], "Replace duration tier")
        out = call(manipulation, "Get resynthesis (overlap-add)").values[0]
    out = out * 10.0 ** (loudness_db / 20.0)
    clipped = bool(np.max(np.abs(out)) > 1.0) if out.size else False
    return np.clip(out, -1.0, 1.0).astype(np.float32), clipped


@torch.no_grad()
def probabilities(model: nn.Module, wave: np.ndarray) -> np.ndarray:
    """Class probabilities (K,) of the whole clip, silent ends trimmed as in training."""
    model.eval()
    device = next(model.parameters()).device
    x = torch.from_numpy(trim_silence(np.asarray(wave, np.float32)))[None].to(device)
    return torch.softmax(model(x).float(), dim=-1)[0].cpu().numpy()


def _cell_response(model: nn.Module, before: np.ndarray, after: np.ndarray, k: int) -> list[dict]:
    """The ``k`` cell states of largest |r| with F0 and with loudness on ``before``, and their mean activation on both clips."""
    report = cell_correlations(model, before, features=CELL_FEATURES)
    table = report.table[report.table.state == "c"].dropna(subset=["r"])
    states_before, states_after = report.states, cell_states(model, after)
    rows = []
    for feature in CELL_FEATURES:
        for r in table[table.feature == feature].head(k).itertuples():
            key = f"{r.layer}/c"
            rows.append({"feature": feature, "layer": r.layer, "direction": int(r.direction), "unit": int(r.unit),
                         "r": float(r.r), "mean_before": float(states_before[key][:, r.direction, r.unit].mean()),
                         "mean_after": float(states_after[key][:, r.direction, r.unit].mean())})
    return rows


def whatif(model: nn.Module, wave: np.ndarray, labels: Sequence[str], *, pitch_st: float = 0.0, tempo: float = 1.0,
           loudness_db: float = 0.0, cells: int = 1) -> dict:
    """The clip changed by :func:`manipulate` and the model's view of both.

    Returns {"settings", "wave" (the changed clip, float32 (M,) at 16 kHz), "clipped",
    "before"/"after": {"label", "probabilities" {label: 0-1}}, "cells": the
    ``cells`` best F0 and loudness cells' mean activation before and after
    (empty for a model without clampable LSTM cells)}.
    """
    changed, clipped = manipulate(wave, pitch_st, tempo, loudness_db)
    labels = list(labels)

    def view(x: np.ndarray) -> dict:
        p = probabilities(model, x)
        return {"label": labels[int(np.argmax(p))], "probabilities": {c: float(v) for c, v in zip(labels, p)}}

    try:
        response = _cell_response(model, np.asarray(wave, np.float32), changed, cells) if cells > 0 else []
    except (KeyError, ValueError):
        response = []
    return {"settings": {"pitch_st": pitch_st, "tempo": tempo, "loudness_db": loudness_db}, "wave": changed,
            "clipped": clipped, "before": view(wave), "after": view(changed), "cells": response}
