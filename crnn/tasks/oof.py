"""Representations no probe can flatter: out-of-fold, test speakers only, and a random-weights control.

A linear probe trained on the representations of actors the network was
fitted to measures memorisation as much as what the network learned. So:

- **out of fold**: with the fold checkpoints ``<name>_cv0`` .. ``<name>_cv4``
  (``crnn train --split cv --fold k``), every utterance is represented by
  the fold model whose card's ``split["test"]`` holds its speaker, the one
  model that never heard that speaker;
- **test speakers only**: a model without fold checkpoints represents only
  the speakers of its own test split (all of a corpus it was not trained on);
- **control**: the same architecture with random weights (seed 0) over the
  same utterances.

Each result's ``meta["scope"]`` says which; the probes then cross-validate
by speaker (:func:`crnn.analysis.robust_probe.robust_probe`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from crnn.analysis.representations import Representations
from crnn.core.cache import Progress
from crnn.core.checkpoint import load_checkpoint, resolve_model, set_card_normalisation
from crnn.core.corpora import Corpus
from crnn.core.defaults import CHECKPOINT_DIR, FOLDS_DIR, USER_MODELS_DIR
from crnn.core.errors import CrnnError
from crnn.tasks.probe import module_representations

N_FOLDS = 5
SCOPES = ("out of fold", "test speakers only", "unseen corpus")


def fold_folders(model_ref: str | os.PathLike, n_folds: int = N_FOLDS) -> list[Path]:
    """The fold checkpoints ``<name>_cv0`` .. ``<name>_cv{n-1}`` ([] unless all exist).

    Beside ``model_ref`` when it is a folder path, or in the shipped folds
    folder (``checkpoints/folds``); for a bare model name, there, in the
    shipped checkpoints folder or in the user models folder (where
    ``crnn train --split cv --fold K`` writes them).
    """
    ref = Path(str(model_ref))
    is_path = ref.parent != Path(".") or ref.is_dir()
    places = [ref.parent, FOLDS_DIR] if is_path else [FOLDS_DIR, CHECKPOINT_DIR, USER_MODELS_DIR]
    for place in places:
        try:
            return [resolve_model(place / f"{ref.name}_cv{k}") for k in range(n_folds)]
        except CrnnError:
            continue
    return []


def untrained_copy(card: dict, seed: int = 0) -> torch.nn.Module:
    """The card's architecture with random weights (``seed``), in eval mode: the control of every measure.

    The front end keeps the card's feature normalisation (a statistic of the
    data, not a learned weight), so the control sees the very same input.
    """
    from crnn.core.models import build_model

    torch.manual_seed(seed)
    model = build_model(card["model"], len(card["labels"]), from_card=True, **card.get("model_kwargs", {}))
    set_card_normalisation(model, card)
    return model.eval()


def _ids(utterances: Sequence, root: Path) -> np.ndarray:
    return np.array([Path(os.path.relpath(u.path, root)).as_posix() for u in utterances])


def _join(parts: list[Representations], meta: dict) -> Representations:
    """One Representations from several over disjoint utterances (same modules)."""
    modules = {m: np.concatenate([p.modules[m] for p in parts]) for m in parts[0].modules}
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    return Representations(modules, cat("ids"), cat("emotion"), cat("speaker"), cat("gender"), meta)


def _represent(model, card: dict | None, utterances: list, corpus: Corpus, cache_dir, progress) -> Representations:
    reps = module_representations(model, utterances, checkpoint_hash=(card or {}).get("weights_sha256"),
                                  cache_dir=cache_dir, progress=progress)
    reps.ids = _ids(utterances, Path(corpus.root))
    return reps


def out_of_fold_representations(folds: Sequence[tuple[torch.nn.Module, dict]], corpus: Corpus, *,
                                cache_dir=None, progress: Progress | None = None) -> Representations:
    """Each utterance of ``corpus`` through the fold model (model, card) whose test split holds its speaker.

    Utterances whose speaker is in no fold's test split are left out (counted
    in ``meta["left_out"]``); ``meta["blocks"]`` gives each row's fold model,
    for probes that must not mix the models' coordinates
    (:func:`crnn.analysis.robust_probe.robust_probe`). CrnnError if two folds test the same speaker or
    no utterance is covered.
    """
    seen: set[str] = set()
    parts = []
    for model, card in folds:
        test = set(card.get("split", {}).get("test", []))
        if seen & test:
            raise CrnnError(f"fold checkpoints overlap: speakers {sorted(seen & test)} are tested by two folds")
        seen |= test
        utts = [u for u in corpus.utterances if u.speaker in test]
        if utts:
            parts.append(_represent(model, card, utts, corpus, cache_dir, progress))
    if not parts:
        raise CrnnError("no utterance of this corpus is in a fold's test speakers")
    meta = {"scope": "out of fold", "corpus": corpus.name, "model": folds[0][1].get("model"), "folds": len(folds),
            "left_out": len(corpus.utterances) - sum(len(p) for p in parts),
            "blocks": [k for k, p in enumerate(parts) for _ in range(len(p))]}  # the fold model of each row
    return _join(parts, meta)


def test_speaker_utterances(card: dict, corpus: Corpus) -> tuple[list, str]:
    """(utterances, scope): the card's test speakers on its own corpus, else every utterance (an unseen corpus)."""
    if (card.get("corpus") or {}).get("name") != corpus.name or not card.get("split"):
        return list(corpus.utterances), "unseen corpus"
    test = set(card["split"].get("test", []))
    return [u for u in corpus.utterances if u.speaker in test], "test speakers only"


def scoped_representations(model_ref: str | os.PathLike, corpus: Corpus, *, cache_dir=None,
                           progress: Progress | None = None, control: bool = True) -> tuple[Representations, Representations | None]:
    """(representations, random-weights control over the same utterances) of the least flattering scope available.

    Out of fold when the fold checkpoints of ``model_ref`` exist
    (:func:`fold_folders`), else the checkpoint's test speakers only
    (:func:`test_speaker_utterances`). ``meta["scope"]`` says which.
    """
    folders = fold_folders(model_ref)
    if folders:
        folds = [load_checkpoint(f) for f in folders]
        reps = out_of_fold_representations(folds, corpus, cache_dir=cache_dir, progress=progress)
        card = folds[0][1]
        keep = set(reps.ids)
        utts = [u for u in corpus.utterances if _ids([u], Path(corpus.root))[0] in keep]
    else:
        model, card = load_checkpoint(model_ref)
        utts, scope = test_speaker_utterances(card, corpus)
        if not utts:
            raise CrnnError("the checkpoint's test speakers have no utterance in this corpus")
        reps = _represent(model, card, utts, corpus, cache_dir, progress)
        reps.meta.update(scope=scope, corpus=corpus.name, model=card.get("model"))
    ctrl = None
    if control:
        order = {i: n for n, i in enumerate(reps.ids)}
        utts = sorted(utts, key=lambda u: order[_ids([u], Path(corpus.root))[0]])
        ctrl = _represent(untrained_copy(card), None, utts, corpus, cache_dir, progress)
        ctrl.meta.update(scope=reps.meta["scope"] + ", random weights", corpus=corpus.name, model=card.get("model"))
    return reps, ctrl
