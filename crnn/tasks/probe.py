"""The module probe of paper 001 Sec. 7.4 from a checkpoint and a corpus folder, or from a probe bundle.

Corpus audio is decoded and silence-trimmed by :func:`crnn.core.data.load_waves`
(as for training and evaluation); the module vectors
(:func:`crnn.analysis.representations.module_vectors`) are cached with
:mod:`crnn.core.cache` under a key made of the checkpoint's weight hash (the
card's ``weights_sha256``) and the corpus's files (paths, sizes, modification
times, labels), so a second look is instant and a retrained checkpoint is
never served stale vectors.

A *probe bundle* is the same data written compactly (float16, wide modules
PCA-reduced, :func:`crnn.analysis.representations.compact`) beside the
checkpoint, so the app can show the probes without the corpus.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from crnn.analysis.probe import probe_projections, probe_scores, split_svm_predictions
from crnn.analysis.representations import LABELS, Representations, compact, module_vectors, weights_hash
from crnn.core.cache import Progress, cache_key, file_stamps, load_arrays, save_arrays
from crnn.core.checkpoint import load_checkpoint, resolve_model
from crnn.core.corpora import Corpus, read_corpus
from crnn.core.data import TRIM_TOP_DB, load_waves
from crnn.core.defaults import CACHE_DIR, SAMPLE_RATE
from crnn.core.errors import CrnnError
from crnn.core.fileio import atomic_path
from crnn.core.splits import speaker_split

CACHE_FORMAT = "crnn-lens-reps/2"  # 2: trimmed audio through load_waves
BUNDLE_FORMAT = "crnn-lens-probe/1"
UMAP_PREFIX = "umap_"  # bundle arrays of precomputed UMAP coordinates, one per module
BUNDLE_MAX_BYTES = 2_000_000  # float16 payload of a bundle, before npz compression


def _utterance_list(corpus_or_utterances) -> tuple[list, Path, str]:
    """(utterances, root for relative ids, corpus name) from a Corpus or a list of Utterances."""
    if hasattr(corpus_or_utterances, "utterances"):
        corpus = corpus_or_utterances
        return list(corpus.utterances), Path(corpus.root), corpus.name
    utterances = list(corpus_or_utterances)
    if not utterances:
        raise CrnnError("there are no utterances to probe")
    root = Path(os.path.commonpath([str(Path(u.path).parent) for u in utterances]))
    return utterances, root, utterances[0].corpus


def module_representations(
    model: torch.nn.Module,
    corpus_or_utterances: Corpus | Sequence,
    *,
    checkpoint_hash: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
    batch_size: int = 16,
    use_cache: bool = True,
) -> Representations:
    """Every utterance's mean-over-time vector at every module, from batched forward passes over the trimmed audio.

    ``model`` is a :class:`crnn.core.models.base.SERModel`; ``corpus_or_utterances``
    a :class:`crnn.core.corpora.Corpus` or a list of Utterances. The result is
    cached under ``cache_dir`` (default :data:`crnn.core.defaults.CACHE_DIR`),
    keyed by ``checkpoint_hash`` (default: the hash of the model's own state
    dict) and the files; ``use_cache=False`` neither reads nor writes any
    cache (decoded audio included). ``progress`` receives the
    ``{"event", "done", "total"}`` dicts of decoding ("decode") and of the
    forward passes ("represent"). CrnnError if a file cannot be decoded.
    """
    utterances, root, corpus_name = _utterance_list(corpus_or_utterances)
    key_hash = checkpoint_hash or weights_hash(model)
    paths = [u.path for u in utterances]
    files = [[*stamp, u.emotion, u.speaker, u.gender] for stamp, u in zip(file_stamps(paths), utterances)]
    key = cache_key(CACHE_FORMAT, key_hash, TRIM_TOP_DB, files)
    reps = _cached(key, cache_dir) if use_cache else None
    if reps is not None:
        if progress:
            progress({"event": "represent", "done": len(reps), "total": len(reps)})
        return reps
    waves, problems = load_waves(paths, cache_dir=(cache_dir or CACHE_DIR) if use_cache else None, progress=progress)
    if problems:
        raise CrnnError(f"cannot probe the corpus: {problems[0]}")
    reps = Representations(
        modules=module_vectors(model, waves, batch_size=batch_size, progress=progress),
        ids=np.array([Path(os.path.relpath(u.path, root)).as_posix() for u in utterances]),
        emotion=np.array([u.emotion for u in utterances]),
        speaker=np.array([u.speaker for u in utterances]),
        gender=np.array([u.gender for u in utterances]),
        meta={"checkpoint_hash": key_hash, "corpus": corpus_name, "model": type(model).__name__,
              "seconds_of_audio": float(sum(len(w) for w in waves) / SAMPLE_RATE)},
    )
    if use_cache:
        save_arrays("probe", key, reps.to_arrays(np.float32, CACHE_FORMAT), cache_dir)
    return reps


def _cached(key: str, cache_dir: str | os.PathLike | None) -> Representations | None:
    """The representations cached under ``key``, or None (absent, or damaged: then recomputed and overwritten)."""
    stored = load_arrays("probe", key, cache_dir)
    try:
        return Representations.from_arrays(stored, CACHE_FORMAT) if stored is not None else None
    except (KeyError, ValueError, json.JSONDecodeError):
        return None


def corpus_representations(
    model: torch.nn.Module,
    card: dict,
    corpus: Corpus,
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
) -> Representations:
    """:func:`module_representations` of a loaded checkpoint over a corpus, with the split the SVM probe uses.

    The split is the card's speaker split when the model was trained on this
    corpus (its test speakers were never trained on), else
    :func:`crnn.core.splits.speaker_split` of the corpus. The checkpoint hash
    is the card's ``weights_sha256`` (the weights are not hashed again).
    """
    reps = module_representations(model, corpus, checkpoint_hash=card.get("weights_sha256"), cache_dir=cache_dir,
                                  progress=progress)
    trained_on = (card.get("corpus") or {}).get("name")
    split = card.get("split") if trained_on == corpus.name and card.get("split") else speaker_split(corpus)
    reps.meta.update(model=card.get("model"), split={k: split[k] for k in ("train", "validation", "test")})
    return reps


def representations_for(
    model_ref: str | os.PathLike | None = None,
    corpus_path: str | os.PathLike | None = None,
    *,
    bundle: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
) -> Representations:
    """Representations from a bundle, or from a checkpoint (name or folder) run over a corpus folder.

    With a checkpoint and no corpus, the checkpoint's own bundle
    (``probe_<corpus>.npz`` in its folder) is used when it has one. The
    checkpoint is loaded and the corpus read once (:func:`corpus_representations`).
    """
    if bundle is not None:
        return load_bundle(bundle)
    if model_ref is None:
        raise CrnnError("give a checkpoint and a corpus, or a probe bundle")
    folder = resolve_model(model_ref)
    if corpus_path is None:
        found = sorted(folder.glob("probe_*.npz"))
        if not found:
            raise CrnnError(f"checkpoint {folder.name} has no probe bundle; give a corpus folder to probe")
        return load_bundle(found[0])
    model, card = load_checkpoint(folder)
    return corpus_representations(model, card, read_corpus(corpus_path), cache_dir=cache_dir, progress=progress)


def write_bundle(reps: Representations, path: str | os.PathLike, max_bytes: int = BUNDLE_MAX_BYTES,
                 umap: bool = False, seed: int = 0) -> Path:
    """Write a compact probe bundle (float16 ``.npz``, :func:`crnn.analysis.representations.compact`) to ``path``.

    ``meta["pca"]`` records what was reduced, so the app can say the bundle's
    probes are approximate. ``umap`` also stores each module's seeded 2-D UMAP
    of the full representations ("umap_<module>", (n, 2)), so the app never
    waits for it (:func:`bundle_umap`). CrnnError if it cannot fit in ``max_bytes``.
    """
    arrays = compact(reps, max_bytes).to_arrays(np.float16, BUNDLE_FORMAT)
    if umap:
        from crnn.analysis.probe import umap_projection

        arrays.update({f"{UMAP_PREFIX}{m}": umap_projection(X, seed=seed).astype(np.float16) for m, X in reps.modules.items()})
    with atomic_path(Path(path)) as tmp:
        np.savez_compressed(tmp, **arrays)
    return Path(path)


def bundle_umap(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The UMAP coordinates a bundle stores, module → (n, 2) float32 ({} when it has none or is unreadable)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k[len(UMAP_PREFIX):]: data[k].astype(np.float32) for k in data.files if k.startswith(UMAP_PREFIX)}
    except (OSError, ValueError, EOFError):
        return {}


def load_bundle(path: str | os.PathLike) -> Representations:
    """Read a bundle written by :func:`write_bundle` (never unpickles); CrnnError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise CrnnError(f"probe bundle {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            return Representations.from_arrays(data, BUNDLE_FORMAT)
    except (OSError, ValueError, KeyError, EOFError, json.JSONDecodeError):
        raise CrnnError(f"{path.name} is not a crnn-lens probe bundle") from None


def bundle_path(checkpoint_dir: str | os.PathLike, corpus_name: str = "ravdess") -> Path:
    """Where a checkpoint keeps its probe bundle: ``<checkpoint>/probe_<corpus>.npz``."""
    return Path(checkpoint_dir) / f"probe_{corpus_name}.npz"


def probe_figure(reps: Representations, scores: dict | None = None, *, method: str = "lda", seed: int = 0,
                 points: dict | None = None):
    """Paper 001's Fig. 2 (:func:`crnn.plots_app.probe_grid`) with the ρ of ``scores`` (:func:`probe_scores` of ``reps``).

    ``scores`` is computed (ρ only, no SVM) when not given; pass the probe's
    own result to reuse its ratios. ``method``: "lda" or "umap". ``points``:
    the :func:`probe_projections` of ``reps`` by ``method`` when already at hand.
    """
    from crnn.plots_app import probe_grid

    scores = scores if scores is not None else probe_scores(reps, svm=False, seed=seed)
    points = points if points is not None else probe_projections(reps, method=method, seed=seed)
    classes = {label: reps.labels(label) for label in LABELS}
    return probe_grid(points, scores["inertia_ratio"], classes, reps.ids, method=method, seed=seed)


def run_probe(
    model_ref: str | os.PathLike | None = None,
    corpus_path: str | os.PathLike | None = None,
    *,
    bundle: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
    seed: int = 0,
    svm_labels: Sequence[str] = ("emotion", "gender"),
    figure: str | os.PathLike | None = None,
    projection: str = "lda",
    save_bundle: bool = False,
    control: bool = False,
) -> dict:
    """The module-wise probe of paper 001 Sec. 7.4 as a JSON-friendly dict.

    :func:`crnn.analysis.probe.probe_scores` ({"modules", "inertia_ratio",
    "svm_ua", "svm_ua_by_label", "n_utterances", "checkpoint_hash", "corpus",
    ...}) plus "model", "seconds" {"representations", "probe"} and "intervals"
    (:func:`crnn.analysis.robust_probe.split_intervals`: every ρ and SVM UA
    with its 95 % speaker-bootstrap interval, the control task's UA and the
    selectivity). Inputs as
    :func:`representations_for`. ``figure`` (.html or .png) also writes
    paper 001's Fig. 2 grid (``projection`` "lda" or "umap") and adds its path
    as "figure"; ``save_bundle`` writes the checkpoint's probe bundle
    (:func:`bundle_path`) from the same representations, with their UMAP
    coordinates, and adds "bundle". ``control`` adds "control": the same
    probe, intervals included, of the architecture with random weights over
    the same utterances and speaker split (:func:`random_weights_probe`).
    """
    from crnn.plots import save_figure

    start = time.perf_counter()
    reps = representations_for(model_ref, corpus_path, bundle=bundle, cache_dir=cache_dir, progress=progress)
    mid = time.perf_counter()
    result = scores_with_intervals(reps, seed=seed, svm_labels=svm_labels)
    result["model"] = reps.meta.get("model")
    result["seconds"] = {"representations": mid - start, "probe": time.perf_counter() - mid}
    if control:
        result["control"] = random_weights_probe(model_ref, corpus_path, seed=seed, svm_labels=svm_labels,
                                                 cache_dir=cache_dir, progress=progress)
    if figure is not None:
        result["figure"] = str(save_figure(probe_figure(reps, result, method=projection, seed=seed), figure))
    if save_bundle:
        if model_ref is None:
            raise CrnnError("writing a probe bundle needs the checkpoint it belongs to")
        result["bundle"] = str(write_bundle(reps, bundle_path(resolve_model(model_ref), reps.meta["corpus"]), umap=True,
                                            seed=seed))
    return result


def scores_with_intervals(reps: Representations, *, seed: int = 0,
                          svm_labels: Sequence[str] = ("emotion", "gender")) -> dict:
    """:func:`crnn.analysis.probe.probe_scores` plus "intervals"
    (:func:`crnn.analysis.robust_probe.split_intervals`: 95 % speaker-bootstrap intervals, the control task and
    selectivity), both scoring the same fitted probes."""
    from crnn.analysis.robust_probe import split_intervals

    fitted = split_svm_predictions(reps, svm_labels=svm_labels, seed=seed)  # one probe per module × label, shared
    result = probe_scores(reps, seed=seed, svm_labels=svm_labels, predictions=fitted)
    result["intervals"] = split_intervals(reps, seed=seed, svm_labels=[s for s in svm_labels if s != "speaker"],
                                          predictions=fitted)
    return result


def random_weights_probe(model_ref: str | os.PathLike | None, corpus_path: str | os.PathLike | None, *,
                         seed: int = 0, svm_labels: Sequence[str] = ("emotion", "gender"),
                         cache_dir: str | os.PathLike | None = None, progress: Progress | None = None) -> dict:
    """The random-weights control of :func:`run_probe`: the checkpoint's architecture with random weights
    (seeded), run over the same corpus and probed on the same speaker split as the trained model."""
    from crnn.core.checkpoint import read_card
    from crnn.tasks.oof import untrained_copy  # oof builds on this module: imported here, not at the top

    if model_ref is None or corpus_path is None:
        raise CrnnError("the random-weights control needs a checkpoint and a corpus folder")
    card = read_card(resolve_model(model_ref))
    untrained = untrained_copy(card, seed)
    reps = corpus_representations(untrained, {**card, "weights_sha256": None}, read_corpus(corpus_path),
                                  cache_dir=cache_dir, progress=progress)  # cached under the random weights' own hash
    return {"weights": f"random (seed {seed})", **scores_with_intervals(reps, seed=seed, svm_labels=svm_labels)}
