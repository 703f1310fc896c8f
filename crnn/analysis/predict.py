"""What a model says about one clip, and the features a person looks at beside it.

:func:`predict_file` gives the emotion of a whole clip (silent ends trimmed,
as in training) and of 1 s windows every 0.5 s; :func:`display_features`
the log-Mel and MFCC drawn by :func:`crnn.plots.features_figure`. Both take
a waveform already in memory; :mod:`crnn.tasks.predict` reads files.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from crnn.core.data import trim_silence
from crnn.core.defaults import SAMPLE_RATE
from crnn.core.features import compute
from crnn.core.prosody import voiced_fraction

WINDOW_SECONDS = 1.0  # over-time prediction window
HOP_SECONDS = 0.5  # one over-time row per 0.5 s


def _windows(n_samples: int) -> list[tuple[int, int]]:
    """(start, end) samples of 1 s windows every 0.5 s; the last one ends at the clip's end."""
    win, hop = int(WINDOW_SECONDS * SAMPLE_RATE), int(HOP_SECONDS * SAMPLE_RATE)
    if n_samples <= win:
        return [(0, n_samples)]
    rows = math.ceil(n_samples / hop) - 1
    return [(k * hop, min(k * hop + win, n_samples)) for k in range(rows)]


@torch.no_grad()
def predict_file(model: nn.Module, card: dict, wave: np.ndarray) -> dict:
    """Emotion of one recording, overall and over time.

    ``wave``: (N,) float32 at 16 kHz (from :func:`crnn.core.audio.load_audio`);
    ``card``: the checkpoint's card (its "labels" name the classes). The
    overall label comes from the whole clip with its silent ends trimmed, as
    in training. ``over_time`` has one row per 0.5 s: the model on the 1 s
    window starting there (the last window ends with the clip; a clip
    shorter than 1 s gives a single row). Times are in seconds from the start
    of the untrimmed clip; probabilities are 0-1 per label.

    Also ``voiced_fraction``: the share of 10 ms frames Praat calls voiced
    (:func:`crnn.core.prosody.voiced_fraction`), and ``speech``: False when
    that share is 0, i.e. no speech was found and the emotion is meaningless
    (white noise, a hum-free tone-less signal); callers say so instead of
    trusting the label.
    """
    labels = list(card["labels"])
    device = next(model.parameters()).device
    model.eval()

    def probabilities(batch: torch.Tensor) -> np.ndarray:
        return torch.softmax(model(batch.to(device)).float(), dim=-1).cpu().numpy()  # (B, K)

    wave = np.asarray(wave, np.float32)
    overall = probabilities(torch.from_numpy(trim_silence(wave))[None])[0]  # (K,)
    spans = _windows(len(wave))
    full = [s for s in spans if s[1] - s[0] == spans[0][1] - spans[0][0]]
    rows = []
    if full:
        batch = torch.from_numpy(np.stack([wave[a:b] for a, b in full]))  # (W, 1 s)
        rows.extend(probabilities(batch))
    for a, b in spans[len(full) :]:
        rows.extend(probabilities(torch.from_numpy(wave[a:b])[None]))
    voiced = voiced_fraction(wave)
    return {
        "speech": voiced > 0,
        "voiced_fraction": voiced,
        "label": labels[int(overall.argmax())],
        "probabilities": {label: float(p) for label, p in zip(labels, overall)},
        "over_time": [
            {
                "start": a / SAMPLE_RATE,
                "end": b / SAMPLE_RATE,
                "label": labels[int(p.argmax())],
                "probabilities": {label: float(q) for label, q in zip(labels, p)},
            }
            for (a, b), p in zip(spans, rows)
        ],
    }


def display_features(wave: np.ndarray) -> dict[str, np.ndarray]:
    """"logmel": log-Mel (T, 40, log power) as the models compute it; "mfcc": MFCC (T, 13) standardised per coefficient.

    ``wave``: (N,) at 16 kHz; T frames of 10 ms. Un-normalised, MFCC 0
    (overall level) would swamp the colour scale of the others.
    """
    wave = np.asarray(wave, np.float32)
    return {"logmel": compute(wave, "logmel"), "mfcc": compute(wave, "mfcc", normalize=True)}
