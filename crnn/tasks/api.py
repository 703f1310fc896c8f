"""The notebook API, re-exported lazily as ``crnn.load_model``, ``crnn.predict``, ``crnn.probe``, ...

Plain functions over a loaded model (its card on ``model.card``) and a
waveform (N,) float32 at 16 kHz from :func:`crnn.load_audio`; each returns
what the matching analysis returns.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch

from crnn.analysis import cells as _cells
from crnn.analysis import explain as _explain
from crnn.analysis import predict as _predict
from crnn.analysis.probe import probe_scores
from crnn.core.cache import Progress
from crnn.core.checkpoint import load_checkpoint
from crnn.core.corpora import read_corpus
from crnn.core.defaults import DEFAULT_MODEL
from crnn.core.errors import CrnnError
from crnn.tasks.probe import corpus_representations


def _card(model: torch.nn.Module) -> dict:
    card = getattr(model, "card", None)
    if not isinstance(card, dict) or not card.get("labels"):
        raise CrnnError("this model has no card with its labels; load it with crnn.load_model(name_or_folder)")
    return card


def load_model(name_or_folder: str | os.PathLike = DEFAULT_MODEL, device: str | torch.device = "cpu") -> torch.nn.Module:
    """A trained model in eval mode from a shipped name ("fst_cldnn_logmel") or a checkpoint folder.

    Its card (labels, corpus, speaker split, metrics, ``weights_sha256``) is
    ``model.card``. ``model(wave)`` maps (B, N) float32 at 16 kHz to logits
    (B, n_classes); ``model.module_outputs(wave)`` and
    ``model.lstm_states(wave)`` show what is inside. CheckpointError (one
    line) for an unknown name, a missing file or tampered weights.
    """
    return load_checkpoint(name_or_folder, device)[0]


def predict(model: torch.nn.Module, wave: np.ndarray) -> dict:
    """Emotion of one clip: {"label", "probabilities": {label: 0-1}, "over_time": [{"start", "end" (s), "label", "probabilities"}]}.

    ``wave`` (N,) float32 at 16 kHz; the overall label is from the clip with
    its silent ends trimmed, "over_time" from 1 s windows every 0.5 s.
    """
    return _predict.predict_file(model, _card(model), wave)


def cells(model: torch.nn.Module, wave: np.ndarray) -> _cells.CellReport:
    """Pearson r of every LSTM cell state and gate with the clip's prosody (F0, loudness, RMS energy, its range).

    ``wave`` (N,) float32 at 16 kHz. The report's ``table`` has one row per
    (layer, state, direction, unit, feature) sorted by |r|; ``report.top("loudness", k=5)``
    the best cells; ``times`` (T,) s, ``tracks`` (T,) and ``states`` (T, D, H)
    on the 10 ms prosody grid.
    """
    return _cells.cell_correlations(model, wave)


def explain(
    model: torch.nn.Module,
    wave: np.ndarray,
    *,
    target: int | str | None = None,
    method: str = "integrated_gradients",
    layers: bool = False,
    n_steps: int = 32,
) -> _explain.Explanation:
    """Which input features drive the score of ``target`` (a label, a synonym such as "happy", an index; default: the prediction).

    ``method`` "integrated_gradients" ("ig") or "saliency". The Explanation's
    ``attributions`` are in logit units per model input feature, (T, F) for
    log-Mel/MFCC models and (N,) for waveform models; ``frame_attribution``
    (T,) sums |attribution| per 10 ms frame at ``times`` (s). ``layers=True``
    adds each module's conductance. ValueError for a class the model lacks.
    """
    labels = _card(model)["labels"]
    return _explain.explain(model, wave, target=target, labels=labels, method=method, n_steps=n_steps, layers=layers)


def probe(
    model: torch.nn.Module,
    corpus_folder: str | os.PathLike,
    *,
    svm_labels: Sequence[str] = ("emotion", "gender"),
    seed: int = 0,
    progress: Progress | None = None,
) -> dict:
    """What each module (input, CNN, RNN, MLP) knows about emotion, speaker and gender over a corpus folder.

    Returns :func:`crnn.analysis.probe.probe_scores`: "inertia_ratio"
    {module: {label: ρ}} (intra- over inter-class inertia of the standardised
    mean-over-time vectors; smaller separates better), "svm_ua" {module: UA
    0-1 of a linear SVM for emotion on held-out speakers}, "svm_ua_by_label",
    "n_utterances". The vectors are cached, so a second call is quick.
    """
    reps = corpus_representations(model, _card(model), read_corpus(corpus_folder), progress=progress)
    return probe_scores(reps, svm_labels=svm_labels, seed=seed)
