"""``crnn ablate``: clamp the cells that follow a prosodic feature and score the model without them.

A corpus sample (spread over emotions and speakers, silence-trimmed through
:func:`crnn.core.data.load_waves`, as for evaluation) is scored with the top-k
cells of :func:`crnn.analysis.ablate.rank_cells` clamped, and with k random
cells of the same layers and directions, by :func:`crnn.analysis.ablate.ablated_logits`.
The cells are ranked on every ``n_clips / rank_clips``-th clip of the same sample.
"""

from __future__ import annotations

import os
import time

import numpy as np

from crnn.analysis.ablate import STATES, ablated_logits, random_cells, rank_cells
from crnn.analysis.evaluate import shared_labels
from crnn.analysis.metrics import classification_report_dict
from crnn.core.cache import Progress
from crnn.core.checkpoint import load_checkpoint
from crnn.core.corpora import canonical_label, read_corpus
from crnn.core.data import load_waves
from crnn.core.errors import CorpusError, CrnnError
from crnn.core.fileio import check_figure_path
from crnn.core.splits import spread_sample
from crnn.plots import save_figure
from crnn.plots_lab import ablation_figure

FEATURES = {"loudness": "loudness", "f0": "f0_hz", "f0_hz": "f0_hz", "rms": "rms", "rms_range": "rms_range"}
CLAMPS = ("mean", "zero")


def _canonical(label: str) -> str:
    try:
        return canonical_label(label)
    except CorpusError:
        return label


def _check(feature: str, state: str, to: str, top: int, draws: int, n_clips: int) -> str:
    if feature not in FEATURES:
        raise CrnnError(f"unknown prosodic feature {feature!r}; use one of loudness, f0, rms, rms_range")
    if state not in STATES:
        raise CrnnError(f"unknown state {state!r}; use one of {', '.join(STATES)}")
    if to not in CLAMPS:
        raise CrnnError(f"cells are clamped to their mean or to zero, not {to!r}")
    for name, value in (("--top", top), ("--draws", draws), ("--clips", n_clips)):
        if value < 1:  # no random draw leaves the top cells without their control
            raise CrnnError(f"{name} must be at least 1")
    return FEATURES[feature]


def _scores(logits: np.ndarray, truth: list[str], shared: list[str], columns: list[int]) -> list[dict]:
    """One classification report ({"ua", "recall", ...}) per variant of ``logits`` (n, V, K)."""
    reports = []
    for v in range(logits.shape[1]):
        predicted = [shared[j] for j in logits[:, v, columns].argmax(axis=1)]
        reports.append(classification_report_dict(truth, predicted, shared))
    return reports


def _summary(reports: list[dict], logits: np.ndarray, shared: list[str]) -> dict:
    """Baseline, top-k and random-draw effects from the variants' reports (0: unclamped, 1: top-k, 2...: random)."""
    base = reports[0]

    def delta_recall(rep: dict) -> dict:
        return {c: (rep["recall"][c] - base["recall"][c]) if base["recall"][c] is not None else None for c in shared}

    randoms = reports[2:]
    d_ua = np.array([r["ua"] - base["ua"] for r in randoms])
    per_class = {c: np.array([delta_recall(r)[c] for r in randoms if delta_recall(r)[c] is not None], float) for c in shared}
    flips = (logits.argmax(axis=2) != logits[:, :1].argmax(axis=2)).mean(axis=0)  # (V,)
    return {
        "baseline": {"ua": base["ua"], "recall": base["recall"]},
        "top": {"ua": reports[1]["ua"], "delta_ua": reports[1]["ua"] - base["ua"], "delta_recall": delta_recall(reports[1]),
                "changed_predictions": float(flips[1])},
        "random": {"draws": len(randoms), "delta_ua": d_ua.tolist(), "delta_ua_mean": float(d_ua.mean()) if len(d_ua) else None,
                   "delta_ua_sd": float(d_ua.std(ddof=1)) if len(d_ua) > 1 else None,
                   "delta_recall_mean": {c: float(v.mean()) if len(v) else None for c, v in per_class.items()},
                   "delta_recall_sd": {c: float(v.std(ddof=1)) if len(v) > 1 else None for c, v in per_class.items()},
                   "changed_predictions_mean": float(flips[2:].mean()) if len(randoms) else None},
    }


def run_ablate(model_ref: str | os.PathLike | tuple, corpus: str | os.PathLike, *, feature: str = "loudness", top: int = 5,
               state: str = "c", to: str = "mean", n_clips: int = 200, rank_clips: int = 32, draws: int = 5,
               seed: int = 0, figure: str | os.PathLike | None = None, progress: Progress | None = None) -> dict:
    """Rank cells by |r| with ``feature`` and clamp the ``top`` of them; the CLI's ``crnn ablate``.

    ``model_ref``: a checkpoint name or folder, or an already loaded (model, card) pair.
    ``state`` "c" (cell state) or a gate; ``to`` "mean" (each cell's mean over
    the ranking clips) or "zero". ``draws`` random sets of ``top`` cells give
    the control. Returns {"model", "corpus", "feature", "state", "to", "k",
    "clips", "ranking_clips", "cells" (layer, direction, unit, mean_r, value),
    "baseline", "top", "random", "seconds"}; UA and recalls are 0-1. ``figure``
    (.html or .png) writes :func:`crnn.plots_lab.ablation_figure` and adds "figure".
    """
    key = _check(feature, state, to, top, draws, n_clips)
    check_figure_path(figure)
    start = time.perf_counter()
    model, card = model_ref if isinstance(model_ref, tuple) else load_checkpoint(model_ref)
    data = read_corpus(corpus)
    labels = list(card.get("labels") or [])
    shared, _ = shared_labels(labels, sorted({u.emotion for u in data.utterances}))
    if not shared:
        raise CrnnError("the model's labels and the corpus's labels have none in common")
    utterances = spread_sample([u for u in data.utterances if u.emotion in shared], n_clips)
    waves, problems = load_waves([u.path for u in utterances], progress=progress)
    if problems:
        raise CrnnError(f"cannot ablate over the corpus: {problems[0]}")
    step = max(1, len(waves) // max(rank_clips, 1))
    try:
        ranking = rank_cells(model, waves[::step][:rank_clips], key, state, progress=progress)
    except ValueError as exc:
        raise CrnnError(f"{card.get('model')}: {exc}") from None
    cells = ranking.top(top)
    values = ranking.means() if to == "mean" else {}
    variants = [[], cells, *random_cells(ranking, cells, draws, seed)]
    logits = ablated_logits(model, waves, variants, values, state, progress=progress)
    canonical = [_canonical(m) for m in labels]
    reports = _scores(logits, [u.emotion for u in utterances], shared, [canonical.index(c) for c in shared])
    rows = ranking.table.head(len(cells))
    result = {
        "model": card.get("model"), "corpus": data.name, "feature": key, "state": state, "to": to, "k": len(cells),
        "clips": len(waves), "ranking_clips": len(waves[::step][:rank_clips]),
        "cells": [{"layer": r.layer, "direction": int(r.direction), "unit": int(r.unit), "mean_r": float(r.mean_r),
                   "value": float(values.get((r.layer, int(r.direction), int(r.unit)), 0.0))} for r in rows.itertuples()],
        **_summary(reports, logits, shared),
        "seconds": round(time.perf_counter() - start, 2),
    }
    if figure is not None:
        result["figure"] = str(save_figure(ablation_figure(result), figure))
    return result
