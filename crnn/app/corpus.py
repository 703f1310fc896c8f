"""The corpus behind the model-wide views (pages 2 and 3): the shipped RAVDESS results or a visitor's folder."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from crnn.app import cached
from crnn.app.frame import progress_bar
from crnn.app.models import LoadedModel
from crnn.app.roots import is_allowed, safe_file, safe_folder, shown
from crnn.app.state import CORPUS_FOLDER_KEY, CORPUS_KEY, MAX_CLIP_SECONDS
from crnn.core.audio import load_audio
from crnn.core.errors import CorpusError, CrnnError
from crnn.core.fileio import resolve_portable

NOT_AT_HAND = "The corpus audio is not at hand on this computer; choose a corpus folder of your own in the sidebar."


@dataclass(frozen=True)
class CorpusChoice:
    kind: str  # "bundle": the RAVDESS probe bundle shipped with the model; "folder": the visitor's corpus
    folder: Path | None = None

    def describe(self) -> str:
        return "RAVDESS (precomputed)" if self.kind == "bundle" else shown(self.folder)


def corpus_folder(text: str) -> Path:
    """A corpus folder typed by the visitor: inside the allowed roots, and every file in it too (else CorpusError)."""
    folder = safe_folder(text, "a corpus folder", CorpusError)
    cached.corpus_summary(str(folder))
    return folder


def current_corpus() -> CorpusChoice:
    if st.session_state.get(CORPUS_KEY, "bundle") == "bundle":
        return CorpusChoice("bundle")
    return CorpusChoice("folder", corpus_folder(st.session_state.get(CORPUS_FOLDER_KEY, "")))


def corpus_root(lm: LoadedModel, corpus: CorpusChoice) -> Path | None:
    """Where the corpus's audio lives, if this app may read it: the visitor's folder, or the card's training corpus."""
    if corpus.kind == "folder":
        return corpus.folder
    return card_corpus_root(lm.card)


def card_corpus_root(card: dict) -> Path | None:
    """The corpus a card was trained on, if it is at hand here and this app may read it."""
    root = (card.get("corpus") or {}).get("root")
    if not root:
        return None
    path = resolve_portable(root)
    return path if path.is_dir() and is_allowed(path) else None


def corpus_representations(lm: LoadedModel, corpus: CorpusChoice) -> Any:
    """Module representations of the corpus, with a progress bar while a visitor's folder is processed the first time."""
    if corpus.kind == "bundle":
        reps = cached.bundle_representations(lm, lm.key)
        if reps is None:
            raise CrnnError(f"{lm.name} has no precomputed RAVDESS results; choose a corpus folder of your own in the sidebar.")
        return reps
    with progress_bar("Running the model over the corpus…") as progress:
        return cached.folder_representations(lm, lm.key, str(corpus.folder), progress)


def probe(lm: LoadedModel, corpus: CorpusChoice, method: str) -> tuple[Any, dict, Any]:
    """(representations, probe scores, Fig. 2 of paper 001 projected by ``method``) of the corpus."""
    reps = corpus_representations(lm, corpus)
    name = corpus.describe()
    scores = cached.probe_scores(reps, lm.key, name)
    points = None
    if method == "umap":
        stored = cached.bundle_umap_points(reps, lm, lm.key) if corpus.kind == "bundle" else None
        points = stored or umap_points(lm, reps, name)
    return reps, scores, cached.probe_figure(reps, scores, lm.key, name, method, points)


def umap_points(lm: LoadedModel, reps: Any, name: str) -> dict:
    """UMAP coordinates of every stage, one stage at a time under a progress bar with an estimate of the time left."""
    modules = list(reps.modules)
    bar = st.progress(0.0, text=f"UMAP is arranging {len(reps)} recordings for each of {len(modules)} stages; "
                                "this takes a while the first time (the first stage tells how long)…")
    start, points = time.monotonic(), {}
    try:
        for k, module in enumerate(modules):
            points.update(cached.probe_points(reps, lm.key, name, "umap", module))
            per_stage = (time.monotonic() - start) / (k + 1)
            left = per_stage * (len(modules) - k - 1)
            bar.progress((k + 1) / len(modules), text=f"UMAP: {k + 1} of {len(modules)} stages done"
                         + (f", about {left:.0f} s left" if left >= 1 else ""))
    finally:
        bar.empty()
    return points


def corpus_sample(lm: LoadedModel, corpus: CorpusChoice, n: int) -> list[str]:
    """``n`` recordings spread evenly over the corpus (every emotion and speaker), for corpus-wide rankings."""
    root = corpus_root(lm, corpus)
    if root is None:
        raise CorpusError(NOT_AT_HAND)
    return cached.spread_sample(str(root), n)


def corpus_cells(lm: LoadedModel, corpus: CorpusChoice, n: int) -> tuple[Any, int]:
    """(cell ranking over ``n`` recordings of the corpus, how many were used), with a progress bar."""
    paths = corpus_sample(lm, corpus, n)
    with progress_bar("Correlating cells over the corpus…") as progress:
        return cached.corpus_cells(lm, lm.key, tuple(paths), progress), len(paths)


def recording(lm: LoadedModel, corpus: CorpusChoice, reps: Any, item: str) -> dict:
    """A recording picked in the module views: {"path", "name", "emotion", "gender", "wave"}.

    CorpusError (one line) when the corpus audio is not at hand, the path
    leads outside the allowed roots, or it is a folder.
    """
    root = corpus_root(lm, corpus)
    if root is None:
        raise CorpusError(f"{item}: the corpus audio is not at hand on this computer, so it cannot be played.")
    path = safe_file(root / item, CorpusError)
    where = np.flatnonzero(np.asarray(reps.ids) == item)
    emotion = str(reps.emotion[where[0]]) if len(where) else None
    gender = str(reps.gender[where[0]]) if len(where) else None
    wave = load_audio(path, max_seconds=MAX_CLIP_SECONDS)
    return {"path": str(path), "name": item, "emotion": emotion, "gender": gender, "wave": wave}
