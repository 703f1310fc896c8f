"""CRNN Lens: look inside convolutional-recurrent speech emotion models.

The notebook API (loaded on first use, so ``import crnn`` imports no torch)::

    model = crnn.load_model("fst_cldnn_logmel")    # card on model.card
    wave = crnn.load_audio("clip.wav")             # (N,) float32 at 16 kHz
    crnn.predict(model, wave)                      # label, probabilities, over time
    crnn.cells(model, wave)                        # LSTM cells vs prosody
    crnn.explain(model, wave, target="anger")      # attributions over the input features
    crnn.probe(model, "../shared/data/ravdess")    # module probes over a corpus folder
    crnn.read_corpus("../shared/data/ravdess")     # what a corpus folder holds
    crnn.SpeakerAdaptedHead().fit(X, y, speakers)  # emotion from embeddings z-scored per speaker

Packages, lowest first: ``crnn.core`` (audio, features, models, checkpoints,
corpora), ``crnn.analysis`` (the analyses), ``crnn.plots``, ``crnn.tasks``
(files in, results out), ``crnn.bench``, ``crnn.cli`` and ``crnn.app``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "load_model": "crnn.tasks.api",
    "load_audio": "crnn.core.audio",
    "read_corpus": "crnn.core.corpora",
    "predict": "crnn.tasks.api",
    "cells": "crnn.tasks.api",
    "explain": "crnn.tasks.api",
    "probe": "crnn.tasks.api",
    "SpeakerAdaptedHead": "crnn.analysis.speaker_head",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    """PEP 562: import the module behind an API name on first use, then keep the name here."""
    if name not in _API:
        raise AttributeError(f"module 'crnn' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
