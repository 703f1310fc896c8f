"""openSMILE functionals + SVM: the baseline of paper 001 Sec. 4.1 and 6.1.

Each utterance becomes one vector of openSMILE functionals
(:func:`functionals`): eGeMAPSv02 (88 parameters) or ComParE_2016 (6,373, the
INTERSPEECH 2013 ComParE set the paper's largest baseline uses). Features are
z-scored per speaker (:class:`SpeakerStandardizer`, "speaker
standardisation", removing speaker characteristics), then classified by an
SVM with class weights inversely proportional to class frequency (linear
and RBF kernels; C chosen on the validation speakers, :func:`tune_svms`).
:func:`loso_scores` gives leave-one-speaker-out UA for one configuration.
Reading the corpus, the networks' speaker split and noisy test set, and the
feature cache are :mod:`crnn.tasks.baselines`'s.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from crnn.analysis.metrics import classification_report_dict
from crnn.core.cache import Progress
from crnn.core.defaults import SAMPLE_RATE
from crnn.core.errors import CrnnError

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


def check_feature_set(features: str) -> None:
    """CrnnError unless ``features`` names a feature set ("egemaps" or "compare")."""
    if features not in FEATURE_SETS:
        raise CrnnError(f"unknown feature set {features!r}; use {' or '.join(FEATURE_SETS)}")


def functionals(
    waves: Sequence[np.ndarray], features: str = "egemaps", progress: Progress | None = None, condition: str = "clean"
) -> np.ndarray:
    """openSMILE functionals (n, D) of waves (N_i,) float32 at 16 kHz; D = 88 (egemaps) or 6,373 (compare).

    ``progress`` receives ``{"event": "features", "done", "total", "condition"}``.
    """
    check_feature_set(features)
    smile = _smile(features)
    rows = []
    for n, wave in enumerate(waves):
        rows.append(smile.process_signal(wave, SAMPLE_RATE).to_numpy(dtype=np.float32)[0])  # (D,)
        if progress is not None:
            progress({"event": "features", "done": n + 1, "total": len(waves), "condition": condition})
    return np.stack(rows) if rows else np.zeros((0, 0), np.float32)


def speaker_z(X: np.ndarray, speakers: Sequence[str]) -> np.ndarray:
    """X (n, D) z-scored within each speaker, with that speaker's own statistics."""
    return SpeakerStandardizer().fit_transform(X, speakers=list(speakers))


NORM_WORDS = {"speaker": "speaker z-score", "training": "z-score with the training speakers' statistics"}
NORMS = tuple(NORM_WORDS)


def check_norm(norm: str) -> None:
    """CrnnError unless ``norm`` names a normalisation of the functionals ("speaker" or "training")."""
    if norm not in NORMS:
        raise CrnnError(f"unknown normalisation {norm!r}; use one of {', '.join(NORMS)}")


def standardise(X: dict[str, np.ndarray], speakers: dict[str, Sequence[str]], norm: str = "speaker") -> dict:
    """Every partition of X ({name: (n, D)}) z-scored, the SVMs' input.

    ``norm="speaker"``: within each speaker, with that speaker's own
    statistics (test speakers included: it needs all of a speaker's clips).
    ``norm="training"``: with the mean and standard deviation of the
    "train" partition only, what a single new clip can get, as the networks'
    per-utterance normalisation can (a control for what speaker
    standardisation gives the SVM).
    """
    check_norm(norm)
    if norm == "speaker":
        return {name: speaker_z(X[name], speakers[name]) for name in X}
    scaler = StandardScaler().fit(np.asarray(X["train"], np.float64))  # a constant feature keeps scale 1
    return {name: scaler.transform(np.asarray(X[name], np.float64)) for name in X}


def _svm(kernel: str, C: float) -> SVC:
    return SVC(kernel=kernel, C=C, class_weight="balanced", gamma="scale")


def svm_predict(kernel: str, C: float, Xtr: np.ndarray, ytr: Sequence[str], Xte: np.ndarray) -> np.ndarray:
    """Labels predicted for Xte (n, D) by an SVM of ``kernel`` and ``C`` fitted on (Xtr, ytr)."""
    return _svm(kernel, C).fit(Xtr, ytr).predict(Xte)


def _fit_score(kernel: str, C: float, Xtr, ytr, Xte, yte, labels) -> dict:
    return classification_report_dict(yte, _svm(kernel, C).fit(Xtr, ytr).predict(Xte), labels)


def tune_svms(Z: dict[str, np.ndarray], y: dict[str, Sequence[str]], labels: Sequence[str]) -> dict[str, dict]:
    """Per kernel: C from :data:`C_GRID` by validation UA, then the test reports, clean and noisy.

    ``Z`` and ``y`` map "train", "validation", "test" and "noisy" to the
    speaker-standardised features (n, D) and the emotions (n,). Returns
    {kernel: {"C", "validation_ua", "tuning": {C: UA}, "test": {"clean", "noisy"}}};
    ties in validation UA go to the stronger regularisation (smaller C).
    """
    svm: dict[str, dict] = {}
    for kernel in KERNELS:
        tuning = {C: _fit_score(kernel, C, Z["train"], y["train"], Z["validation"], y["validation"], labels)["ua"]
                  for C in C_GRID}
        best_C = max(C_GRID, key=lambda C: (tuning[C], -C))
        svm[kernel] = {
            "C": best_C,
            "validation_ua": tuning[best_C],
            "tuning": {str(C): ua for C, ua in tuning.items()},
            "test": {
                condition: _fit_score(kernel, best_C, Z["train"], y["train"], Z[key], y[key], labels)
                for condition, key in (("clean", "test"), ("noisy", "noisy"))
            },
        }
    return svm


def chosen_kernel(svm: dict[str, dict]) -> str:
    """The kernel of :func:`tune_svms`'s result with the best validation UA (the first of :data:`KERNELS` on a tie)."""
    return max(KERNELS, key=lambda k: svm[k]["validation_ua"])


def loso_scores(
    Z: np.ndarray,
    speakers: Sequence[str],
    emotions: Sequence[str],
    held_out: Sequence[str],
    kernel: str,
    C: float,
    labels: Sequence[str],
) -> dict:
    """Leave-one-speaker-out UA of one SVM configuration over Z (n, D): one fold per speaker of ``held_out``,
    trained on every other utterance.

    Returns {"kernel", "C", "folds", "ua_mean", "ua_std" (over folds, 0-1),
    "pooled" (report over all held-out predictions), "per_fold": [{"speaker", "ua", "n"}]}.
    """
    speakers, emotions = np.asarray(speakers), np.asarray(emotions)
    folds, true, pred = [], [], []
    for held in held_out:
        test = speakers == held
        predicted = _svm(kernel, C).fit(Z[~test], emotions[~test]).predict(Z[test])
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
