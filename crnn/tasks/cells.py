"""LSTM cells against prosody (paper 002 Sec. 4) for a checkpoint and recordings or a corpus sample.

Recordings are read whole (untrimmed, :func:`crnn.core.audio.load_audio`;
several through :func:`crnn.core.data.load_waves` without trimming), then
ranked by :mod:`crnn.analysis.cells`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd
import torch

from crnn.analysis.cells import (
    CellReport,
    cell_correlations,
    corpus_cell_correlations,
    top_cells,
)
from crnn.core.audio import load_audio
from crnn.core.cache import Progress
from crnn.core.checkpoint import load_checkpoint
from crnn.core.corpora import read_corpus
from crnn.core.data import load_waves, trim_silence
from crnn.core.errors import CrnnError
from crnn.core.prosody import FEATURES
from crnn.core.splits import spread_sample

CORPUS_SAMPLE = 48  # recordings a corpus-wide ranking uses, spread over emotions and speakers


def corpus_cells(
    model: torch.nn.Module,
    paths: Sequence[str | os.PathLike],
    *,
    features: Sequence[str] = FEATURES,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """:func:`crnn.analysis.cells.corpus_cell_correlations` over recordings read from ``paths`` (untrimmed).

    ``progress`` receives the "decode" then the "cells" events. CrnnError if a
    recording cannot be decoded.
    """
    waves, problems = load_waves(paths, trim_top_db=None, progress=progress)
    if problems:
        raise CrnnError(f"cannot rank the cells: {problems[0]}")
    return corpus_cell_correlations(model, waves, features=features, progress=progress)


def _ranking(model: torch.nn.Module, paths: list[str], state: str | None) -> tuple[CellReport | None, pd.DataFrame]:
    """(the one file's report or None, the cell table) of ``paths``, only ``state`` rows when given."""
    if len(paths) == 1:
        report = cell_correlations(model, trim_silence(load_audio(paths[0])))  # as crnn predict sees it
        table = report.table
    else:
        report, table = None, corpus_cells(model, paths)
    if state is not None:
        table = table[table.state == state].reset_index(drop=True)
    return report, table


def _top_rows(table: pd.DataFrame, top: int) -> dict[str, list[dict]]:
    """The ``top`` cells of largest |r| for every prosodic feature, as JSON-friendly rows."""
    return {f: top_cells(table, f, k=top).to_dict(orient="records") for f in FEATURES}


def _untrained_copy(card: dict) -> torch.nn.Module:
    """The checkpoint's architecture with random weights (seed 0), in eval mode: the control."""
    from crnn.core.models import build_model

    torch.manual_seed(0)
    return build_model(card["model"], len(card["labels"]), from_card=True, **card.get("model_kwargs", {})).eval()


def run_cells(
    model_ref: str | os.PathLike,
    files: Sequence[str | os.PathLike] = (),
    *,
    corpus: str | os.PathLike | None = None,
    figure: str | os.PathLike | None = None,
    top: int = 5,
    state: str | None = None,
    control: bool = False,
) -> dict:
    """Rank cells for one recording, or aggregate over several (or a corpus sample of 48); the CLI's ``crnn cells``.

    Returns {"model", "files", "top": {feature: [rows]}} with the ``top``
    cells per feature; ``state`` ("c", "i", "f", "g" or "o") keeps only the
    cell states or that gate, None ranks them all together. ``control`` adds
    "control_top": the same ranking for an untrained copy of the model
    (random weights, seed 0), since an LSTM fed energy-like inputs can track
    loudness before it learns anything. ``figure`` (.html/.png): the best cell over its
    feature for one file (:func:`crnn.plots.cells_overlay`), else the r
    heatmap of the best layer and state (:func:`crnn.plots.correlation_heatmap`).
    """
    model, card = load_checkpoint(model_ref)
    paths = [str(f) for f in files]
    if corpus is not None:
        paths += [str(u.path) for u in spread_sample(read_corpus(corpus).utterances, CORPUS_SAMPLE)]
    if not paths:
        raise CrnnError("give one or more audio files or a corpus folder")
    report, table = _ranking(model, paths, state)
    result = {"model": card.get("model"), "files": len(paths), "top": _top_rows(table, top)}
    if control:
        result["control_top"] = _top_rows(_ranking(_untrained_copy(card), paths, state)[1], top)
    if figure is not None:
        from crnn.plots import cells_overlay, correlation_heatmap, save_figure

        if report is not None:
            fig = cells_overlay(report)
        else:
            best = top_cells(table, k=1).iloc[0]
            fig = correlation_heatmap(table, best.layer, best.state)
        result["figure"] = str(save_figure(fig, figure))
    return result
