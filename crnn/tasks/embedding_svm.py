"""A network's utterance embedding as the SVM baseline's features: ``crnn baseline --features embedding --model NAME``.

The openSMILE baselines z-score their functionals within each speaker, test
speakers included, so all of a test actor's clips shape the input of each;
a network normalises each utterance alone. Passing the network's embedding
(:data:`MODULE`, the recurrent output averaged over time) through the very
same standardisation and SVM tuning (:func:`crnn.analysis.baselines.standardise`,
:func:`crnn.analysis.baselines.tune_svms`) puts the two kinds of features on
equal terms: what did the network learn that the functionals miss, given
the same speaker information?

With ``split="tvt"`` the checkpoint's own speaker split is used; with
``split="cv"`` the run's five fold checkpoints (``<name>_cv0`` .. ``_cv4``),
each fold's embeddings coming from the fold model that never heard that
fold's test speakers. Results are stored beside the openSMILE baselines
(``baselines_<corpus>.json``, key ``embedding_<name>``, ``_cv`` for folds).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from crnn.analysis.baselines import C_GRID, NORM_WORDS, check_norm, chosen_kernel, tune_svms
from crnn.analysis.evaluate import noisy_waves
from crnn.analysis.representations import module_vectors
from crnn.analysis.speaker_head import MODULE
from crnn.core.cache import Progress
from crnn.core.checkpoint import load_checkpoint, resolve_model
from crnn.core.corpora import Corpus, read_corpus
from crnn.core.data import TRIM_TOP_DB, load_waves
from crnn.core.defaults import CACHE_DIR
from crnn.core.errors import CrnnError
from crnn.core.models import REGISTRY
from crnn.core.noise import NoiseSource
from crnn.core.splits import partition
from crnn.tasks.baselines import PARTS, check_replaceable, entry_key, results_path, standardised_partitions, store_result
from crnn.tasks.cv import fold_result
from crnn.tasks.oof import fold_folders
from crnn.tasks.probe import module_representations



def partition_embeddings(model, card: dict, corpus: Corpus, parts: dict, cache_dir, progress) -> dict[str, np.ndarray]:
    """{"train", "validation", "test", "noisy"}: the (n, D) embeddings of each partition's utterances."""
    reps = module_representations(model, corpus, checkpoint_hash=card.get("weights_sha256"), cache_dir=cache_dir,
                                  progress=progress)  # fmt: skip
    row = {u.path: i for i, u in enumerate(corpus.utterances)}
    X = {name: reps.modules[MODULE][[row[u.path] for u in parts[name]]] for name in PARTS}
    waves, problems = load_waves([u.path for u in parts["test"]], cache_dir=cache_dir)
    if problems:
        raise CrnnError(f"cannot embed the noisy test set: {problems[0]}")
    X["noisy"] = module_vectors(model, noisy_waves(corpus, parts["test"], waves, NoiseSource()))[MODULE]
    return X


def standardised_embeddings(model, card: dict, corpus: Corpus, split: dict, norm: str, cache_dir, progress):
    """(Z, y, D) as :func:`crnn.tasks.baselines.standardised_functionals` gives them, from the model's embeddings,
    and the speaker of every test utterance."""
    if (card.get("corpus") or {}).get("name") != corpus.name:
        raise CrnnError(f"this checkpoint was not trained on {corpus.name}: its speaker split does not apply")
    parts = {name: partition(corpus, split[name]) for name in PARTS}
    if not all(parts.values()):
        raise CrnnError(f"the checkpoint's speaker split leaves a partition of {corpus.name} empty")
    X = partition_embeddings(model, card, corpus, parts, cache_dir, progress)
    Z, y = standardised_partitions(X, parts, norm)
    return Z, y, int(X["train"].shape[1]), [u.speaker for u in parts["test"]]


def _described(name: str, card: dict, n_features: int, norm: str, corpus: Corpus) -> dict:
    spec = REGISTRY.get(card.get("model"))
    return {
        "features": "embedding", "model": name, "module": MODULE, "n_features": n_features,
        "feature_set": f"{name}: recurrent output, mean over time",
        "paper": f"{spec.paper} (network + SVM)" if spec else "network + SVM",
        "training": "noisy" if (card.get("training") or {}).get("noisy") else "clean",  # the network's
        "corpus": {"name": corpus.name, "utterances": len(corpus.utterances)}, "labels": corpus.labels,
        "norm": norm, "c_grid": list(C_GRID),
        "preprocessing": f"silence trimmed (top_db {TRIM_TOP_DB:g}), {NORM_WORDS[norm]}, class_weight=balanced",
    }  # fmt: skip


def embedding_baseline(
    model_ref: str | os.PathLike,
    corpus_path: str | os.PathLike | Corpus,
    split: str = "tvt",
    cache_dir: str | os.PathLike | None = CACHE_DIR,
    out: str | os.PathLike | None = None,
    progress: Progress | None = None,
    norm: str = "speaker",
) -> dict:
    """SVMs on a checkpoint's embeddings, scored like the openSMILE baselines; stored as ``embedding_<name>``.

    ``split="tvt"``: the checkpoint's own split; per kernel, C chosen on the
    validation speakers, then the test speakers scored clean and noisy (the
    result has the keys of :func:`crnn.tasks.baselines.run_baseline`'s).
    ``split="cv"``: the run's five fold checkpoints (:func:`crnn.tasks.oof.fold_folders`),
    each fold scored as :func:`crnn.tasks.cv.cv_baseline` scores its folds.
    CrnnError for an unknown split or norm, a missing checkpoint or folds, or
    a checkpoint trained on another corpus.
    """
    if split not in ("tvt", "cv"):
        raise CrnnError(f"unknown split {split!r} for an embedding baseline; use tvt or cv")
    check_norm(norm)
    corpus = corpus_path if isinstance(corpus_path, Corpus) else read_corpus(corpus_path)
    name = Path(str(model_ref)).name
    key = entry_key(f"embedding_{name}", norm) + ("_cv" if split == "cv" else "")
    target = results_path(corpus, out)
    check_replaceable(target, key, {"corpus": {"utterances": len(corpus.utterances)}})  # before any embedding
    if split == "cv":
        folders = fold_folders(model_ref)
        if not folders:
            raise CrnnError(f"{name} has no five fold checkpoints {name}_cv0 .. {name}_cv4 "
                            "(crnn train --split cv --fold K)")
        folds = []
        for folder in folders:
            model, card = load_checkpoint(folder)
            Z, y, n_features, speakers = standardised_embeddings(model, card, corpus, card["split"], norm, cache_dir, progress)
            folds.append(fold_result(Z, y, corpus.labels, speakers, card["split"]["test"]))
        result = _described(name, card, n_features, norm, corpus) | {"scheme": "cv", "folds": folds}
    else:
        model, card = load_checkpoint(resolve_model(model_ref))
        Z, y, n_features, _ = standardised_embeddings(model, card, corpus, card["split"], norm, cache_dir, progress)
        svm = tune_svms(Z, y, corpus.labels)
        result = _described(name, card, n_features, norm, corpus) | {
            "split": {k: card["split"][k] for k in PARTS}, "svm": svm,
            "best": chosen_kernel(svm),
        }  # fmt: skip
    store_result(target, key, result)
    return result
