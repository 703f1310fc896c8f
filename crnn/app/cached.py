"""The analyses the pages show, behind Streamlit's caches.

Each takes the model as ``_lm`` (not hashed) and its ``key`` (hashed), so a
retrained model never reuses an old result. Results are keyed by the audio's
content: another session only reaches an entry by sending the very same
samples. ``np.array(wave)`` hands the library a writable copy of the
read-only clip. Nothing here computes anything itself: see
:mod:`crnn.app.backend`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from crnn.app import backend
from crnn.app.confidence import scale_explanation, scale_noise, scale_prediction, temperature
from crnn.app.models import LoadedModel
from crnn.app.state import emotion_label
from crnn.core.cache import Progress
from crnn.core.checkpoint import load_checkpoint


@st.cache_data(max_entries=64, show_spinner="Listening…")
def predict(_lm: LoadedModel, key: str, wave: np.ndarray) -> dict:
    """The model's prediction for a clip: "label", "probabilities" (calibrated) and, for long clips, "over_time".

    Not behind the model's lock: a prediction is a plain forward pass, and the analyses' hooks act only in their
    own thread (:mod:`crnn.core.hooks`), so a visitor's answer never waits for another's attribution or sweep.
    """
    result = backend.predict_file(_lm.model, _lm.card, np.array(wave))
    return scale_prediction(result, temperature(_lm.card))


# Figures page 1 redraws on every rerun, built once per clip: building a plotly figure is Python work that holds
# the GIL every visitor's run needs (most of what held it in a profile under `crnn bench --load`).
# st.cache_resource hands every session the same object, which only st.plotly_chart and downloads read.
@st.cache_resource(max_entries=32, show_spinner=False)
def prediction_figures(_lm: LoadedModel, key: str, wave: np.ndarray, height: int) -> tuple[Any, Any | None]:
    """(probability bars, probabilities over time or None for a short clip) of :func:`predict`'s answer."""
    result = predict(_lm, key, wave)
    bars = backend.probability_figure(result["probabilities"], height=height, label_format=emotion_label)
    if not result.get("over_time"):
        return bars, None
    return bars, backend.over_time_figure(result["over_time"], _lm.labels, label_format=emotion_label)


@st.cache_resource(max_entries=32, show_spinner=False)
def clip_features_figure(wave: np.ndarray) -> Any:
    """The clip's wave, log-Mel and MFCC in one figure (:func:`display_features`)."""
    return backend.features_figure(np.array(wave), display_features(wave))


@st.cache_data(max_entries=16, show_spinner="Judging the clip against the speaker's other clips…")
def speaker_adapted_probabilities(_lm: LoadedModel, key: str, _head: Any, head_key: str, wave: np.ndarray,
                                  others: list[np.ndarray]) -> np.ndarray:
    """(K,) probabilities of ``wave`` from the speaker-adapted head, the speaker's statistics taken from it and
    ``others``; cached because page 1 reruns on every widget change and the speaker's clips are up to a minute of
    audio each. Forward passes only, so not behind the model's lock (as :func:`predict`)."""
    return backend.speaker_probabilities(_lm.model, _head, [np.array(wave), *others])[0]


@st.cache_data(max_entries=32, show_spinner=False)
def display_features(wave: np.ndarray) -> dict[str, np.ndarray]:
    """Log-Mel and standardised MFCC of the clip, for the features figure."""
    return backend.display_features(np.array(wave))


@st.cache_data(max_entries=8, ttl=600, show_spinner="Reading the corpus folder…")
def speaker_recordings(folder: str, filename: str) -> tuple[str, list[str]] | None:
    """(speaker, paths of the speaker's other recordings) for the corpus recording called ``filename``, or None."""
    return backend.speaker_recordings(backend.read_corpus(folder), filename)


@st.cache_data(max_entries=8, ttl=600, show_spinner="Reading the corpus folder…")
def corpus_summary(folder: str) -> dict:
    """Counts of a corpus folder (format, utterances, speakers, labels); CorpusError if it leads outside the roots."""
    return backend.describe_corpus(backend.read_corpus(folder))


@st.cache_data(max_entries=8, ttl=600, show_spinner="Reading the corpus folder…")
def spread_sample(folder: str, n: int) -> list[str]:
    """``n`` recordings spread evenly over the corpus (every emotion and speaker)."""
    return [str(u.path) for u in backend.spread_sample(backend.read_corpus(folder).utterances, n)]


@st.cache_data(max_entries=4, show_spinner=False)
def folder_representations(_lm: LoadedModel, key: str, folder: str, _progress: Progress | None = None) -> Any:
    """Module representations of the model run over a corpus folder (by a private copy: the shared one stays free)."""
    corpus = backend.read_corpus(folder)
    model, card = load_checkpoint(_lm.folder)
    return backend.corpus_representations(model, card, corpus, progress=_progress)


@st.cache_data(max_entries=4, show_spinner=False)
def bundle_representations(_lm: LoadedModel, key: str) -> Any:
    """The checkpoint's shipped RAVDESS representations (None when it has none)."""
    return backend.bundle_representations(_lm.folder)


@st.cache_data(max_entries=8, show_spinner=False)
def svm_predictions(_reps: Any, key: str, corpus: str) -> dict:
    """The emotion and gender probes' predictions: fitted once for the scores and for their intervals."""
    return backend.svm_predictions(_reps)


@st.cache_data(max_entries=8, show_spinner=False)
def probe_scores(_reps: Any, key: str, corpus: str) -> dict:
    """ρ and linear-SVM UA per module and property."""
    return backend.probe_scores(_reps, svm_predictions(_reps, key, corpus))


@st.cache_data(max_entries=32, show_spinner=False)
def probe_points(_reps: Any, key: str, corpus: str, method: str, module: str) -> dict:
    """One stage's projected coordinates (UMAP takes tens of seconds per stage on a busy server)."""
    return backend.probe_points(_reps, method, module)


@st.cache_data(max_entries=4, show_spinner=False)
def bundle_umap_points(_reps: Any, _lm: LoadedModel, key: str) -> dict | None:
    """The UMAP coordinates the model's probe bundle ships (None: none stored, compute them)."""
    return backend.bundle_umap_points(_reps, _lm.folder)


@st.cache_resource(max_entries=8, show_spinner=False)
def probe_figure(_reps: Any, _scores: dict, key: str, corpus: str, method: str, _points: dict | None = None) -> Any:
    """Paper 001 Fig. 2: the module views projected by ``method`` ("lda" or "umap").

    One object for every run and session, as page 1's figures: unpickling a copy of
    these twelve panels on every visit (``st.cache_data``) held the GIL other
    visitors' runs wait for (round 11, py-spy under ``crnn bench --load``). The page
    only reads it, ``st.plotly_chart`` draws a copy, and its JSON never changes, so
    Streamlit keeps a dot's click selection from one run to the next.
    """
    return backend.probe_figure(_reps, _scores, method, _points)


@st.cache_data(max_entries=16, show_spinner=False)
def cell_report(_lm: LoadedModel, key: str, wave: np.ndarray) -> Any:
    """Correlations of every LSTM cell and gate with the clip's prosody."""
    with _lm.lock:
        return backend.cell_correlations(_lm.model, np.array(wave))


@st.cache_data(max_entries=4, show_spinner=False)
def corpus_cells(_lm: LoadedModel, key: str, paths: tuple[str, ...], _progress: Progress | None = None) -> Any:
    """Cell × prosody correlations averaged over the given recordings."""
    with _lm.lock:
        return backend.corpus_cells(_lm.model, paths, progress=_progress)


@st.cache_data(max_entries=16, show_spinner=False)
def explanation(_lm: LoadedModel, key: str, wave: np.ndarray, target: str, method: str, layers: bool) -> Any:
    """Attributions of the score of ``target`` to the input features (and to the modules)."""
    with _lm.lock:
        expl = backend.explain(_lm.model, np.array(wave), target, _lm.labels, method, layers)
    return scale_explanation(expl, temperature(_lm.card))


@st.cache_data(max_entries=32, show_spinner=False)
def noise_result(_lm: LoadedModel, key: str, wave: np.ndarray, kind: str, snr_db: float, seed: int) -> dict:
    """The clip with noise: predictions clean and noisy, each module's shift, and "noisy_wave" to listen to."""
    with _lm.lock:
        result = backend.noise_shift(_lm.model, np.array(wave), kind, snr_db, _lm.labels, seed)
    return scale_noise(result, temperature(_lm.card))


@st.cache_data(max_entries=8, show_spinner=False)
def noise_sweep(_lm: LoadedModel, key: str, wave: np.ndarray, kind: str, seed: int) -> list[dict]:
    """:func:`noise_result` over the paper's SNR range, with the same seed (so the same noise excerpt)."""
    with _lm.lock:
        rows = backend.noise_sweep(_lm.model, np.array(wave), kind, _lm.labels, seed)
    return [scale_noise(row, temperature(_lm.card)) for row in rows]
