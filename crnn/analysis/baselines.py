"""openSMILE functionals + SVM: the baseline of paper 001 Sec. 4.1 and 6.1.

Each utterance (silence-trimmed exactly as for the networks, :mod:`crnn.core.data`)
becomes one vector of openSMILE functionals: eGeMAPSv02 (88 parameters) or
ComParE_2016 (6,373, the INTERSPEECH 2013 ComParE set the paper's largest
baseline uses). Features are z-scored per speaker ("speaker
standardisation", removing speaker characteristics), then classified by an
SVM with class weights inversely proportional to class frequency (linear
and RBF kernels; C chosen on the validation speakers). The speaker split is
the networks' own (:func:`crnn.core.splits.speaker_split` with the same seed) and
the noisy test set is theirs too (:func:`crnn.core.noise.noisy_copy`), so the
numbers sit side by side in the results table. ``split="loso"`` also runs
leave-one-speaker-out with the best kernel and C.

Extracted features are cached per file (``.npz`` keyed by the file's path,
size, modification time, the feature set and the condition), so a second
run only fits the SVMs.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.svm import SVC

from crnn.core.audio import SAMPLE_RATE
from crnn.core.checkpoint import CHECKPOINT_DIR
from crnn.core.fileio import atomic_write_json
from crnn.core.corpora import Corpus, Utterance, read_corpus
from crnn.core.data import CACHE_DIR, TRIM_TOP_DB, Progress, load_waves
from crnn.core.errors import CrnnError
from crnn.analysis.metrics import classification_report_dict
from crnn.core.noise import NOISY_TEST_SEED, NoiseSource, noisy_copy
from crnn.core.splits import loso_folds, partition, speaker_split

FEATURE_SETS = {"egemaps": "eGeMAPSv02", "compare": "ComParE_2016"}
KERNELS = ("linear", "rbf")
C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


class SpeakerStandardizer(TransformerMixin, BaseEstimator):
    """Z-score every feature within each speaker, using that speaker's own mean and standard deviation.

    ``fit(X, speakers=...)`` stores per-speaker statistics; ``transform(X,
    speakers=...)`` applies them, computing them from ``X`` itself for a
    speaker not seen in ``fit`` (test speakers are normalised with their own
    statistics, as speaker standardisation requires). A feature constant
    within a speaker becomes 0.
    """

    def fit(self, X: np.ndarray, y=None, speakers=None) -> SpeakerStandardizer:
        X = np.asarray(X, np.float64)
        speakers = self._speakers(X, speakers)
        self.stats_ = {s: self._stats(X[speakers == s]) for s in np.unique(speakers)}
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: np.ndarray, speakers=None) -> np.ndarray:
        X = np.asarray(X, np.float64)
        speakers = self._speakers(X, speakers)
        out = np.empty_like(X)
        for s in np.unique(speakers):
            rows = speakers == s
            mean, std = self.stats_.get(s) or self._stats(X[rows])
            out[rows] = (X[rows] - mean) / std
        return out

    def fit_transform(self, X: np.ndarray, y=None, speakers=None) -> np.ndarray:
        return self.fit(X, y, speakers=speakers).transform(X, speakers=speakers)

    @staticmethod
    def _speakers(X: np.ndarray, speakers) -> np.ndarray:
        if speakers is None or len(speakers) != len(X):
            raise ValueError("speakers must name the speaker of every row of X")
        return np.asarray(speakers)

    @staticmethod
    def _stats(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        std = X.std(axis=0)
        return X.mean(axis=0), np.where(std > 1e-12, std, 1.0)


def _smile(features: str):
    import opensmile  # heavy: only when a baseline runs

    return opensmile.Smile(
        feature_set=getattr(opensmile.FeatureSet, FEATURE_SETS[features]),
        feature_level=opensmile.FeatureLevel.Functionals,
    )


def _feature_key(path: Path, features: str, condition: str) -> str:
    stat = path.stat()
    text = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{FEATURE_SETS[features]}\0{condition}\0{TRIM_TOP_DB}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def extract_features(
    corpus: Corpus,
    utterances: list[Utterance],
    features: str = "egemaps",
    noisy: bool = False,
    cache_dir: str | os.PathLike | None = CACHE_DIR,
    progress: Progress | None = None,
) -> np.ndarray:
    """openSMILE functionals (n, D) of the trimmed utterances, clean or in the noisy test condition.

    Each vector is cached in ``<cache_dir>/opensmile/<set>/<key>.npz``.
    Raises :class:`CrnnError` for an unknown feature set or an undecodable file.
    """
    if features not in FEATURE_SETS:
        raise CrnnError(f"unknown feature set {features!r}; use {' or '.join(FEATURE_SETS)}")
    condition = f"noisy-{NOISY_TEST_SEED}" if noisy else "clean"
    folder = Path(cache_dir) / "opensmile" / FEATURE_SETS[features] if cache_dir is not None else None
    rows: list[np.ndarray | None] = [None] * len(utterances)
    todo = []
    for i, u in enumerate(utterances):
        cached = folder / f"{_feature_key(u.path, features, condition)}.npz" if folder is not None else None
        if cached is not None and cached.is_file():
            with np.load(cached, allow_pickle=False) as stored:
                rows[i] = stored["x"]
        else:
            todo.append((i, cached))
    if todo:
        smile = _smile(features)
        waves, problems = load_waves([utterances[i].path for i, _ in todo], cache_dir=None)
        if problems:
            raise CrnnError(f"cannot extract features: {problems[0]}")
        source = NoiseSource()
        for n, ((i, cached), wave) in enumerate(zip(todo, waves)):
            if noisy:
                wave, _ = noisy_copy(wave, corpus.utterance_id(utterances[i]), source)
            x = smile.process_signal(wave, SAMPLE_RATE).to_numpy(dtype=np.float32)[0]  # (D,)
            rows[i] = x
            if cached is not None:
                try:
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    tmp = cached.with_suffix(f".{os.getpid()}.tmp.npz")
                    np.savez(tmp, x=x)
                    os.replace(tmp, cached)
                except OSError:
                    pass  # a read-only or full cache folder only costs speed next time
            if progress is not None:
                progress({"event": "features", "done": n + 1, "total": len(todo), "condition": condition})
    return np.stack(rows)


def _speaker_z(X: np.ndarray, utterances: list[Utterance]) -> np.ndarray:
    return SpeakerStandardizer().fit_transform(X, speakers=[u.speaker for u in utterances])


def _fit_score(kernel: str, C: float, Xtr, ytr, Xte, yte, labels) -> dict:
    svm = SVC(kernel=kernel, C=C, class_weight="balanced", gamma="scale").fit(Xtr, ytr)
    return classification_report_dict(yte, svm.predict(Xte), labels)


def run_baseline(
    features: str,
    corpus_path: str | os.PathLike | Corpus,
    split: str = "tvt",
    seed: int = 0,
    cache_dir: str | os.PathLike | None = CACHE_DIR,
    out: str | os.PathLike | None = None,
    progress: Progress | None = None,
) -> dict:
    """Speaker-standardised openSMILE functionals + SVM on the networks' speaker split.

    ``features``: "egemaps" or "compare". For each kernel (linear, RBF), C is
    picked from :data:`C_GRID` by validation UA, the SVM refitted on the
    training speakers with it, and scored on the test speakers, clean and
    noisy. ``split="loso"`` adds leave-one-speaker-out folds (training on
    every other speaker) for the kernel and C with the best validation UA.
    The result is also stored under its feature-set name in the JSON file
    ``out`` (default ``checkpoints/baselines_<corpus>.json``, other entries kept).
    """
    if split not in ("tvt", "loso"):
        raise CrnnError(f"unknown split {split!r}; use tvt or loso")
    if features not in FEATURE_SETS:
        raise CrnnError(f"unknown feature set {features!r}; use {' or '.join(FEATURE_SETS)}")
    start = time.monotonic()
    corpus = corpus_path if isinstance(corpus_path, Corpus) else read_corpus(corpus_path)
    labels = corpus.labels
    speakers = speaker_split(corpus, seed=seed)
    parts = {name: partition(corpus, speakers[name]) for name in ("train", "validation", "test")}
    for name, utterances in parts.items():
        if not utterances:
            raise CrnnError(f"the split of {corpus.name} leaves the {name} partition empty")
    everything = [u for name in ("train", "validation", "test") for u in parts[name]]
    X_all = extract_features(corpus, everything, features, cache_dir=cache_dir, progress=progress)
    bounds = np.cumsum([0] + [len(parts[name]) for name in ("train", "validation", "test")])
    X = {name: X_all[a:b] for name, a, b in zip(("train", "validation", "test"), bounds[:-1], bounds[1:])}
    X["noisy"] = extract_features(corpus, parts["test"], features, noisy=True, cache_dir=cache_dir, progress=progress)
    Z = {name: _speaker_z(X[name], parts["test" if name == "noisy" else name]) for name in X}
    y = {name: [u.emotion for u in parts["test" if name == "noisy" else name]] for name in X}

    svm: dict[str, dict] = {}
    for kernel in KERNELS:
        tuning = {C: _fit_score(kernel, C, Z["train"], y["train"], Z["validation"], y["validation"], labels)["ua"] for C in C_GRID}
        best_C = max(C_GRID, key=lambda C: (tuning[C], -C))  # ties: the stronger regularisation
        svm[kernel] = {
            "C": best_C,
            "validation_ua": tuning[best_C],
            "tuning": {str(C): ua for C, ua in tuning.items()},
            "test": {
                condition: _fit_score(kernel, best_C, Z["train"], y["train"], Z[key], y[key], labels)
                for condition, key in (("clean", "test"), ("noisy", "noisy"))
            },
        }
    best = max(KERNELS, key=lambda k: svm[k]["validation_ua"])
    result = {
        "features": features,
        "feature_set": FEATURE_SETS[features],
        "n_features": int(X_all.shape[1]),
        "corpus": {"name": corpus.name, "root": str(corpus.root), "utterances": len(corpus.utterances)},
        "labels": labels,
        "split": speakers,
        "seed": seed,
        "svm": svm,
        "best": best,
        "c_grid": list(C_GRID),
        "preprocessing": f"silence trimmed (top_db {TRIM_TOP_DB:g}), speaker z-score, class_weight=balanced",
    }
    if split == "loso":
        result["loso"] = _loso(corpus, features, best, svm[best]["C"], labels, cache_dir, progress)
    result["seconds"] = round(time.monotonic() - start, 1)
    path = Path(out) if out is not None else CHECKPOINT_DIR / f"baselines_{corpus.name}.json"
    stored = {}
    if path.is_file():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            stored = {}
    atomic_write_json(path, {**stored, features: result})
    return result


def _loso(corpus: Corpus, features: str, kernel: str, C: float, labels, cache_dir, progress) -> dict:
    """Leave-one-speaker-out UA of one SVM configuration (train on all other speakers)."""
    X = extract_features(corpus, corpus.utterances, features, cache_dir=cache_dir, progress=progress)
    Z = _speaker_z(X, corpus.utterances)
    speakers = np.array([u.speaker for u in corpus.utterances])
    emotions = np.array([u.emotion for u in corpus.utterances])
    folds, true, pred = [], [], []
    for fold in loso_folds(corpus):
        held = fold["test"][0]
        test = speakers == held
        svm = SVC(kernel=kernel, C=C, class_weight="balanced", gamma="scale").fit(Z[~test], emotions[~test])
        predicted = svm.predict(Z[test])
        folds.append({"speaker": held, **classification_report_dict(emotions[test], predicted, labels)})
        true += list(emotions[test])
        pred += list(predicted)
    uas = [f["ua"] for f in folds]
    return {
        "kernel": kernel,
        "C": C,
        "folds": len(folds),
        "ua_mean": float(np.mean(uas)),
        "ua_std": float(np.std(uas)),
        "pooled": classification_report_dict(true, pred, labels),
        "per_fold": [{"speaker": f["speaker"], "ua": f["ua"], "n": f["n"]} for f in folds],
    }
