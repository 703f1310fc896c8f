"""The one place the app reaches into the science: thin wrappers that import the library where it lives.

Library functions move between modules as the package is reorganised; the
pages and the rest of :mod:`crnn.app` call these wrappers, so a move is fixed
here alone. Imports are lazy: torch, scikit-learn and Captum load with the
first analysis that needs them, not with the app's first page.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from crnn.app.roots import allowed_roots
from crnn.core.cache import Progress
from crnn.plots import (  # noqa: F401  (re-exported for the pages)
    SPECTRAL_KINDS, attribution_heatmap, cells_overlay, confusion_figure, correlation_heatmap, dct_comparison_figure,
    features_figure, filters_figure, module_contributions_figure, noise_figure, over_time_figure, probability_figure,
    probe_svm_figure, results_figure,
)  # fmt: skip
from crnn.plots import cell_words  # noqa: F401  (re-exported for the pages)
from crnn.plots_app import reliability_figure  # noqa: F401  (re-exported for the pages)


def model_input(wave: np.ndarray) -> np.ndarray:
    """The clip as every analysis sees it: silent ends trimmed, as ``crnn predict`` and training do."""
    from crnn.core.data import trim_silence

    return trim_silence(np.asarray(wave, np.float32))


def predict_file(model: Any, card: dict, wave: np.ndarray) -> dict:
    from crnn.analysis.predict import predict_file as run

    return run(model, card, wave)


def display_features(wave: np.ndarray) -> dict[str, np.ndarray]:
    from crnn.analysis.predict import display_features as run

    return run(wave)


def read_corpus(folder: str | os.PathLike) -> Any:
    """A corpus folder, refused (CorpusError, one line) if it or any of its files resolves outside the allowed roots."""
    from crnn.core.corpora import read_corpus as read

    return read(folder, allowed_roots=allowed_roots())


def describe_corpus(corpus: Any) -> dict:
    from crnn.core.corpora import describe

    return describe(corpus)


def spread_sample(utterances: Sequence, n: int) -> list:
    from crnn.core.splits import spread_sample as sample

    return sample(list(utterances), n)


def corpus_representations(model: Any, card: dict, corpus: Any, progress: Progress | None = None) -> Any:
    from crnn.tasks.probe import corpus_representations as run

    return run(model, card, corpus, progress=progress)


def bundle_representations(checkpoint: os.PathLike) -> Any | None:
    """The checkpoint's shipped RAVDESS probe bundle, or None when it has none."""
    from crnn.tasks.probe import bundle_path, load_bundle

    path = bundle_path(checkpoint)
    return load_bundle(path) if path.is_file() else None


def svm_predictions(reps: Any) -> dict:
    """The emotion and gender probes' test-speaker predictions, shared by the scores and their intervals."""
    from crnn.analysis.probe import split_svm_predictions

    return split_svm_predictions(reps)


def probe_scores(reps: Any, predictions: dict | None = None) -> dict:
    from crnn.analysis.probe import probe_scores as run

    # the speaker SVM adds about a second
    return run(reps, svm_labels=("emotion", "speaker", "gender"), predictions=predictions)


def probe_figure(reps: Any, scores: dict, method: str, points: dict | None = None) -> Any:
    from crnn.tasks.probe import probe_figure as run

    return run(reps, scores, method=method, points=points)


def probe_points(reps: Any, method: str, module: str) -> dict:
    """One stage's Fig. 2 coordinates (module → label → (n, k)), so a slow UMAP can report per stage."""
    from crnn.analysis.probe import probe_projections

    return probe_projections(reps, method=method, modules=[module])


def bundle_umap_points(reps: Any, checkpoint: os.PathLike) -> dict | None:
    """Fig. 2's UMAP coordinates of every stage from the checkpoint's probe bundle, or None if it stores none."""
    from crnn.analysis.probe import probe_projections
    from crnn.tasks.probe import bundle_path, bundle_umap

    stored = bundle_umap(bundle_path(checkpoint))
    if not stored or set(stored) != set(reps.modules) or any(len(v) != len(reps) for v in stored.values()):
        return None
    return probe_projections(reps, method="umap", stored=stored)


def cell_correlations(model: Any, wave: np.ndarray) -> Any:
    from crnn.analysis.cells import cell_correlations as run

    return run(model, model_input(wave))


def top_cells(table: Any, feature: str, k: int) -> Any:
    from crnn.analysis.cells import top_cells as run

    return run(table, feature, k=k)


def corpus_cells(model: Any, paths: Sequence[str], progress: Progress | None = None) -> Any:
    from crnn.tasks.cells import corpus_cells as run

    return run(model, list(paths), progress=progress)


def explain(model: Any, wave: np.ndarray, target: str, labels: list[str], method: str, layers: bool) -> Any:
    from crnn.analysis.explain import explain as run

    return run(model, model_input(wave), target=target, labels=labels, method=method, layers=layers)


def noise_shift(model: Any, wave: np.ndarray, kind: str, snr_db: float, labels: list[str], seed: int) -> dict:
    from crnn.analysis.noiselab import noise_shift as run

    return run(model, model_input(wave), kind, snr_db, labels=labels, seed=seed)


def noise_sweep(model: Any, wave: np.ndarray, kind: str, labels: list[str], seed: int) -> list[dict]:
    from crnn.analysis.noiselab import noise_sweep as run

    return run(model, model_input(wave), kind, labels=labels, seed=seed)


def results_rows(folder: os.PathLike, baselines: list | None = None) -> list[dict]:
    from crnn.tasks.report import results_rows as rows

    return rows(folder, baselines=baselines)


def seed_rows(folder: os.PathLike) -> list[dict]:
    """The groups of runs under ``folder`` that differ only in their training seed ([] when there are none)."""
    from crnn.core.errors import CrnnError
    from crnn.tasks.ablation import seed_rows as rows

    try:
        return rows(folder)
    except CrnnError:
        return []


def list_models() -> list[dict]:
    from crnn.core.models import list_models as models

    return models()


def train(name: str, corpus: Any, out_dir: os.PathLike, *, noisy: bool, max_epochs: int, max_minutes: float,
          progress: Progress) -> dict:
    from crnn.analysis.train import train as run

    return run(name, corpus, noisy=noisy, out_dir=out_dir, max_epochs=max_epochs, max_minutes=max_minutes,
               progress=progress)


def speaker_head(folder: Any, weights_sha256: str | None) -> tuple | None:
    """(head, record) of a checkpoint's speaker-adapted head, or None (:func:`crnn.analysis.speaker_head.load_head`)."""
    from crnn.analysis.speaker_head import load_head

    return load_head(folder, weights_sha256)


def speaker_head_record(folder: Any, weights_sha256: str | None) -> dict | None:
    """The record of a checkpoint's speaker-adapted head (labels, clips needed), or None; no scikit-learn import."""
    from crnn.core.head_file import read_head_file

    found = read_head_file(folder, weights_sha256)
    return None if found is None else found[2]


def speaker_probabilities(model: Any, head: Any, waves: Sequence[np.ndarray]) -> np.ndarray:
    from crnn.analysis.speaker_head import speaker_probabilities as run

    return run(model, head, waves)


def decode_files(paths: Sequence[str]) -> list[np.ndarray]:
    """The recordings at ``paths``, trimmed and decoded through the on-disk cache; unreadable ones left out."""
    from crnn.core.data import load_waves

    waves, _ = load_waves(list(paths))
    return [w for w in waves if w is not None]


def speaker_recordings(corpus: Any, filename: str) -> tuple[str, list[str]] | None:
    """(speaker, paths of that speaker's other recordings) for the recording of ``corpus`` called ``filename``."""
    from pathlib import Path

    match = next((u for u in corpus.utterances if Path(u.path).name == filename), None)
    if match is None:
        return None
    return match.speaker, [str(u.path) for u in corpus.utterances if u.speaker == match.speaker and u.path != match.path]
