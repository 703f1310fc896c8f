"""The openSMILE + SVM baseline (:mod:`crnn.analysis.baselines`) on a corpus folder: ``crnn baseline``.

Each utterance is silence-trimmed exactly as for the networks
(:func:`crnn.core.data.load_waves`). The speaker split is the networks' own
(:func:`crnn.core.splits.speaker_split` with the same seed) and the noisy
test set is theirs too (:func:`crnn.analysis.evaluate.noisy_waves`), so the
numbers sit side by side in the results table. Extracted functionals are
cached per file with :mod:`crnn.core.cache` (keyed by the file's path, size,
modification time, the feature set, the condition and the trimming), so a
second run only fits the SVMs. Results are stored in
``checkpoints/baselines_<corpus>.json``, one entry per feature set.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from crnn.analysis.baselines import (
    C_GRID, FEATURE_SETS, NORM_WORDS, check_feature_set, check_norm, chosen_kernel, functionals, loso_scores, speaker_z,
    standardise, tune_svms,
)
from crnn.analysis.evaluate import noisy_waves
from crnn.core.cache import Progress, cache_key, file_stamps, load_arrays, save_arrays
from crnn.core.corpora import Corpus, Utterance, read_corpus
from crnn.core.data import TRIM_TOP_DB, load_waves
from crnn.core.defaults import CACHE_DIR, CHECKPOINT_DIR
from crnn.core.errors import CrnnError
from crnn.core.fileio import atomic_write_json, parse_json, portable_path, shown_path
from crnn.core.noise import NOISY_TEST_SEED, NoiseSource
from crnn.core.splits import loso_folds, partition, require_two_emotions, speaker_split

PARTS = ("train", "validation", "test")


def extract_features(
    corpus: Corpus,
    utterances: list[Utterance],
    features: str = "egemaps",
    noisy: bool = False,
    cache_dir: str | os.PathLike | None = CACHE_DIR,
    progress: Progress | None = None,
) -> np.ndarray:
    """openSMILE functionals (n, D) of the trimmed utterances, clean or in the noisy test condition.

    Each vector is cached under ``cache_dir`` (None: no cache). Raises
    :class:`CrnnError` for an unknown feature set or an undecodable file.
    """
    check_feature_set(features)
    condition = f"noisy-{NOISY_TEST_SEED}" if noisy else "clean"
    keys = [cache_key("opensmile", FEATURE_SETS[features], condition, TRIM_TOP_DB, file_stamps([u.path]))
            for u in utterances]
    rows = [(load_arrays("opensmile", key, cache_dir) or {}).get("x") if cache_dir is not None else None for key in keys]
    todo = [i for i, row in enumerate(rows) if row is None]
    if todo:
        waves, problems = load_waves([utterances[i].path for i in todo], cache_dir=None)
        if problems:
            raise CrnnError(f"cannot extract features: {problems[0]}")
        if noisy:
            waves = noisy_waves(corpus, [utterances[i] for i in todo], waves, NoiseSource())
        for i, x in zip(todo, functionals(waves, features, progress, condition)):
            rows[i] = x  # (D,)
            if cache_dir is not None:
                save_arrays("opensmile", keys[i], {"x": x}, cache_dir)
    return np.stack(rows)  # (n, D)


def entry_key(features: str, norm: str = "speaker") -> str:
    """The key of a baseline result in ``baselines_<corpus>.json``: "compare", "compare_training_norm", ..."""
    return features if norm == "speaker" else f"{features}_{norm}_norm"


def standardised_functionals(corpus: Corpus, parts: dict[str, list[Utterance]], features: str, cache_dir, progress,
                             norm: str = "speaker"):
    """(Z, y, D): standardised functionals and emotions of "train", "validation", "test" and "noisy"."""
    everything = [u for name in PARTS for u in parts[name]]
    X_all = extract_features(corpus, everything, features, cache_dir=cache_dir, progress=progress)  # (n, D)
    bounds = np.cumsum([0] + [len(parts[name]) for name in PARTS])
    X = {name: X_all[a:b] for name, a, b in zip(PARTS, bounds[:-1], bounds[1:])}
    X["noisy"] = extract_features(corpus, parts["test"], features, noisy=True, cache_dir=cache_dir, progress=progress)
    return (*standardised_partitions(X, parts, norm), int(X_all.shape[1]))


def standardised_partitions(X: dict[str, np.ndarray], parts: dict[str, list[Utterance]], norm: str) -> tuple[dict, dict]:
    """(Z, y): X of "train", "validation", "test" and "noisy" (the test utterances mixed with noise)
    standardised (:func:`crnn.analysis.baselines.standardise`), and their emotions."""
    parts = {**parts, "noisy": parts["test"]}
    Z = standardise(X, {name: [u.speaker for u in parts[name]] for name in X}, norm)
    return Z, {name: [u.emotion for u in parts[name]] for name in X}


def _loso(corpus: Corpus, features: str, kernel: str, C: float, cache_dir, progress) -> dict:
    """:func:`crnn.analysis.baselines.loso_scores` over every utterance of the corpus."""
    held_out = [fold["test"][0] for fold in loso_folds(corpus)]
    X = extract_features(corpus, corpus.utterances, features, cache_dir=cache_dir, progress=progress)
    speakers = [u.speaker for u in corpus.utterances]
    emotions = [u.emotion for u in corpus.utterances]
    return loso_scores(speaker_z(X, speakers), speakers, emotions, held_out, kernel, C, corpus.labels)


def _stored(path: Path) -> dict:
    """The results already in ``path`` ({} when there is no file); CrnnError when something else is there,
    which a store would have replaced: a folder, a README given as ``--out``, a damaged results file."""
    if not path.exists():
        return {}
    try:
        stored = parse_json(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        stored = None
    if not isinstance(stored, dict):
        raise CrnnError(f"{shown_path(path)} is not a results file (a JSON object); it is left as it is")
    return stored


def _setup(entry: dict) -> dict:
    """What a stored result was scored on: seed, corpus size and test speakers (of the split, or of each fold)."""
    split = entry.get("split")
    test = split.get("test") if isinstance(split, dict) else [f.get("test_speakers") for f in entry.get("folds") or []]
    setup = {"seed": entry.get("seed"), "utterances": (entry.get("corpus") or {}).get("utterances"), "test": test or None}
    return {k: v for k, v in setup.items() if v is not None}


def check_replaceable(path: Path, key: str, result: dict) -> None:
    """CrnnError if ``path`` holds under ``key`` a result scored on another split, seed or corpus than ``result``
    (which may be only the part of it known before the work: seed, corpus, split or folds).

    The results table and the app compare the networks with these entries on the networks' own test speakers;
    a rerun on another seed or a subset of the corpus would replace a shipped figure with one from elsewhere.
    """
    _check_replaceable(_stored(path), path, key, result)


def _check_replaceable(stored: dict, path: Path, key: str, result: dict) -> None:
    old = stored.get(key)
    if old is None:
        return
    before, now = _setup(old), _setup(result)
    if any(before[k] != now[k] for k in before.keys() & now.keys()):
        raise CrnnError(f"{shown_path(path)} already holds {key} scored on another split, seed or corpus; "
                        "pass --out to write this one elsewhere")


def results_path(corpus: Corpus, out: str | os.PathLike | None) -> Path:
    """Where a baseline's result is stored: ``out``, else ``checkpoints/baselines_<corpus>.json`` (the results table's)."""
    if out is not None and Path(out).suffix.lower() != ".json":
        raise CrnnError(f"--out {shown_path(out)}: a result is written as .json")
    return Path(out) if out is not None else CHECKPOINT_DIR / f"baselines_{corpus.name}.json"


def store_result(path: Path, features: str, result: dict) -> None:
    """Put ``result`` under ``features`` in the JSON file ``path``, keeping its other entries; CrnnError instead of
    replacing an entry scored on another split, seed or corpus (:func:`check_replaceable`)."""
    stored = _stored(path)
    _check_replaceable(stored, path, features, result)
    atomic_write_json(path, {**stored, features: result})


def _split(corpus: Corpus, seed: int) -> tuple[dict, dict[str, list[Utterance]]]:
    """(the networks' speaker split for ``seed``, its utterances per partition); CrnnError if one is unusable."""
    speakers = speaker_split(corpus, seed=seed)
    parts = {name: partition(corpus, speakers[name]) for name in PARTS}
    for name, utterances in parts.items():
        if not utterances:
            raise CrnnError(f"the split of {corpus.name} leaves the {name} partition empty")
    require_two_emotions(parts["train"])
    return speakers, parts


def run_baseline(
    features: str,
    corpus_path: str | os.PathLike | Corpus,
    split: str = "tvt",
    seed: int = 0,
    cache_dir: str | os.PathLike | None = CACHE_DIR,
    out: str | os.PathLike | None = None,
    progress: Progress | None = None,
    norm: str = "speaker",
) -> dict:
    """Standardised openSMILE functionals + SVM on the networks' speaker split.

    ``features``: "egemaps" or "compare". For each kernel (linear, RBF), C is
    picked from :data:`crnn.analysis.baselines.C_GRID` by validation UA, the
    SVM refitted on the training speakers with it, and scored on the test
    speakers, clean and noisy. ``split="loso"`` adds leave-one-speaker-out
    folds (training on every other speaker) for the kernel and C with the
    best validation UA. ``norm``: "speaker" (each speaker z-scored with its
    own statistics, the default) or "training" (with the training speakers'
    statistics, a control; :func:`crnn.analysis.baselines.standardise`). The
    result is also stored under :func:`entry_key` in the JSON file ``out``
    (default ``checkpoints/baselines_<corpus>.json``, other entries kept).
    """
    if split not in ("tvt", "loso"):
        raise CrnnError(f"unknown split {split!r}; use tvt or loso")
    if split == "loso" and norm != "speaker":
        raise CrnnError("leave-one-speaker-out is scored with speaker standardisation only")
    check_feature_set(features)
    check_norm(norm)
    start = time.monotonic()
    corpus = corpus_path if isinstance(corpus_path, Corpus) else read_corpus(corpus_path)
    speakers, parts = _split(corpus, seed)
    target = results_path(corpus, out)
    check_replaceable(target, entry_key(features, norm), {"seed": seed, "split": speakers,
                                                          "corpus": {"utterances": len(corpus.utterances)}})
    Z, y, n_features = standardised_functionals(corpus, parts, features, cache_dir, progress, norm)
    svm = tune_svms(Z, y, corpus.labels)
    best = chosen_kernel(svm)
    result = {
        "features": features,
        "feature_set": FEATURE_SETS[features],
        "n_features": n_features,
        "corpus": {"name": corpus.name, "root": portable_path(corpus.root), "utterances": len(corpus.utterances)},
        "labels": corpus.labels,
        "split": speakers,
        "seed": seed,
        "svm": svm,
        "best": best,
        "c_grid": list(C_GRID),
        "norm": norm,
        "preprocessing": f"silence trimmed (top_db {TRIM_TOP_DB:g}), {NORM_WORDS[norm]}, class_weight=balanced",
    }
    if split == "loso":
        result["loso"] = _loso(corpus, features, best, svm[best]["C"], cache_dir, progress)
    result["seconds"] = round(time.monotonic() - start, 1)
    store_result(target, entry_key(features, norm), result)
    return result


def baseline_text(result: dict) -> str:
    """A stored baseline result (``run_baseline``, ``cv_baseline`` or an embedding baseline) as lines for the terminal."""
    what = result.get("feature_set") or result["features"]
    lines = [f"{what}, {NORM_WORDS[result.get('norm', 'speaker')]}, SVM (UA, %)"]
    if "folds" in result:
        for k, fold in enumerate(result["folds"]):
            lines.append(f"  fold {k} (test {', '.join(fold['test_speakers'])}): {fold['kernel']} C={fold['C']:g}, "
                         f"clean {100 * fold['clean']['ua']:.1f}, noisy {100 * fold['noisy']['ua']:.1f}")
        for condition in ("clean", "noisy"):
            uas = [100 * f[condition]["ua"] for f in result["folds"]]
            lines.append(f"  {condition}: {np.mean(uas):.1f} ± {np.std(uas, ddof=1):.1f} (mean ± sd over folds)")
        return "\n".join(lines)
    for kernel, svm in result["svm"].items():
        chosen = " (chosen on validation)" if kernel == result.get("best") else ""
        lines.append(f"  {kernel} C={svm['C']:g}{chosen}: validation {100 * svm['validation_ua']:.1f}, test clean "
                     f"{100 * svm['test']['clean']['ua']:.1f}, noisy {100 * svm['test']['noisy']['ua']:.1f}")
    loso = result.get("loso")
    if loso:
        lines.append(f"  leave-one-speaker-out ({loso['folds']} folds, {loso['kernel']} C={loso['C']:g}): "
                     f"{100 * loso['ua_mean']:.1f} ± {100 * loso['ua_std']:.1f}")
    return "\n".join(lines)
