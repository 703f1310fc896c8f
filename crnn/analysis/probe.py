"""Module-wise probes: what each stage of a model knows about emotion, speaker and gender.

Paper 001 Sec. 7.4 asks how well each module's mean-pooled vector
(:mod:`crnn.analysis.representations`) separates the emotions, the speakers
and the genders:

- quantitatively, with a linear SVM trained on the speaker-independent
  training partition and scored by unweighted accuracy (UA) on the test
  speakers (Table 5; the raw features are the lower bound);
- visually, with an LDA onto ``min(n_classes - 1, 2)`` components, class
  priors matching the class frequencies, or a seeded UMAP (Fig. 2);
- by the inertia ratio ρ = ω_i / ω_o (Eqs. 15-17), computed on the
  standardised representations themselves, not on the projections; smaller
  is a better clustering.

Everything here works on :class:`~crnn.analysis.representations.Representations`
already computed; :mod:`crnn.tasks.probe` makes them from a checkpoint and a corpus.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import GroupShuffleSplit, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from crnn.analysis.metrics import unweighted_accuracy
from crnn.analysis.representations import LABELS, MODULES, UNKNOWN, Representations

__all__ = ["LABELS", "MODULES", "UNKNOWN", "Representations", "LinearProbe", "inertia_ratio", "lda_projection",
           "umap_projection", "probe_scores", "probe_projections"]


def inertia_ratio(X: np.ndarray, y: Sequence) -> float:
    """ρ = ω_i / ω_o of paper 001 Eqs. 15-17 for vectors X (n, D) with labels y (n,).

    ω_i (Eq. 15): mean over classes of the mean squared Euclidean distance
    of a class's members to the class centre. ω_o (Eq. 16): mean squared
    distance between the centres of two distinct classes. Smaller ρ is a
    better clustering. Computed on X as given: pass the representations, not
    a projection of them. Needs at least two classes.
    """
    X = np.asarray(X, np.float64)
    y = np.asarray(y)
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError("the inertia ratio needs at least two classes")
    centres = np.stack([X[y == c].mean(axis=0) for c in classes])  # (K, D)
    omega_i = np.mean([np.mean(np.sum((X[y == c] - centres[k]) ** 2, axis=1)) for k, c in enumerate(classes)])
    sq = np.sum(centres**2, axis=1)
    pair = np.maximum(sq[:, None] + sq[None, :] - 2.0 * centres @ centres.T, 0.0)  # (K, K)
    K = len(classes)
    omega_o = pair.sum() / (K * K - K)  # the diagonal is zero, so this is the mean over c ≠ c'
    return float(omega_i / omega_o) if omega_o > 0 else float("inf")


def lda_projection(X: np.ndarray, y: Sequence) -> np.ndarray:
    """LDA of X (n, D) onto min(n_classes − 1, 2) components, priors = class frequencies → (n, k)."""
    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError("LDA needs at least two classes")
    k = min(len(classes) - 1, 2)
    lda = LinearDiscriminantAnalysis(n_components=k, priors=counts / counts.sum())
    return lda.fit_transform(StandardScaler().fit_transform(X), y)


def umap_projection(X: np.ndarray, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """Seeded 2-D UMAP of the standardised X (n, D) → (n, 2); unsupervised, so one per module."""
    import umap  # compiles with numba on first use (~20 s): never at import time

    n_neighbors = max(2, min(n_neighbors, len(X) - 1))
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, random_state=seed)
    return reducer.fit_transform(StandardScaler().fit_transform(X))


class LinearProbe(ClassifierMixin, BaseEstimator):
    """Linear-SVM probe of paper 001 Table 5: StandardScaler → LinearSVC(class_weight="balanced").

    ``score`` is the unweighted accuracy (mean per-class recall), the
    paper's measure, not sklearn's default accuracy. C = 0.1 by default:
    with up to 3,000 standardised dimensions and ~1,000 utterances the
    probe needs regularising, and at C = 1 liblinear often fails to converge
    (on the FST-CLDNN's RAVDESS representations the speaker probe's UA moves
    by at most 3 points between the two, and fits 2.3× faster).
    """

    def __init__(self, C: float = 0.1, max_iter: int = 5000, random_state: int = 0) -> None:
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Sequence) -> "LinearProbe":
        self.pipeline_ = make_pipeline(
            StandardScaler(),
            LinearSVC(C=self.C, class_weight="balanced", dual="auto", max_iter=self.max_iter, random_state=self.random_state),
        )
        self.pipeline_.fit(X, y)
        self.classes_ = self.pipeline_.classes_
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.pipeline_.predict(X)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.pipeline_.decision_function(X)

    def score(self, X: np.ndarray, y: Sequence, sample_weight=None) -> float:
        return unweighted_accuracy(y, self.predict(X))


def _speaker_independent_masks(reps: Representations, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) boolean masks: the stored split (speakers or, for speakerless corpora, file ids)
    with validation joined to train; else a seeded 80/20 split of the speakers."""
    split = reps.meta.get("split")
    if split:
        test_keys = set(split.get("test", []))
        train_keys = set(split.get("train", [])) | set(split.get("validation", []))
        test = np.array([s in test_keys or i in test_keys for s, i in zip(reps.speaker, reps.ids)])
        train = np.array([s in train_keys or i in train_keys for s, i in zip(reps.speaker, reps.ids)])
        if test.any() and train.any():
            return train, test
    gss = GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=seed)
    train_idx, test_idx = next(gss.split(reps.ids, groups=reps.speaker))
    train = np.zeros(len(reps), bool)
    train[train_idx] = True
    return train, ~train


def split_svm_predictions(
    reps: Representations, *, svm_labels: Sequence[str] = ("emotion", "gender"), seed: int = 0
) -> dict[tuple[str, str], np.ndarray]:
    """{(module, label): (n,) predictions} of one :class:`LinearProbe` per module × label (not "speaker").

    Each probe is fitted on the speaker split's training speakers (the
    stored split, else a seeded 80/20 split) and predicts the test speakers;
    every other row keeps its own label. Both :func:`probe_scores` and the
    intervals of :func:`crnn.analysis.robust_probe.split_intervals` score
    these, so a caller that wants both fits each probe once.
    """
    train, test = _speaker_independent_masks(reps, seed)
    out: dict[tuple[str, str], np.ndarray] = {}
    for label in (lab for lab in svm_labels if lab != "speaker"):
        y = reps.labels(label)
        keep = y != UNKNOWN
        for module, X in reps.modules.items():
            pred = split_predictions(X, y, train & keep, test & keep, seed)
            if pred is not None:
                out[module, label] = pred
    return out


def split_predictions(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                      seed: int = 0) -> np.ndarray | None:
    """Predictions on ``test`` of a probe fitted on ``train`` (boolean masks); other rows keep their label."""
    if len(np.unique(y[train])) < 2 or not test.any():
        return None
    pred = np.array(y, copy=True)
    pred[test] = LinearProbe(random_state=seed).fit(X[train], y[train]).predict(X[test])
    return pred


def probe_scores(
    reps: Representations,
    *,
    labels: Sequence[str] = LABELS,
    svm: bool = True,
    svm_labels: Sequence[str] = ("emotion", "gender"),
    seed: int = 0,
    predictions: dict[tuple[str, str], np.ndarray] | None = None,
) -> dict:
    """ρ for every module × label and the linear-SVM probe's UA; JSON-friendly.

    ρ is computed on the representations standardised per dimension (so a
    few high-variance units do not dominate the distances). Utterances whose
    speaker or gender is "unknown" are left out of that label. The SVM for
    emotion and gender trains on the speaker-independent training (+
    validation) speakers and is scored on the test speakers; speakers cannot
    be recognised across a speaker split, so the speaker SVM uses a seeded
    stratified 75/25 split of each speaker's utterances instead. The
    speaker SVM (one-vs-rest over every speaker) is the slow one, so it runs
    only when "speaker" is in ``svm_labels``. ``predictions``: those of
    :func:`split_svm_predictions` when the caller already has them.
    """
    train, test = _speaker_independent_masks(reps, seed) if svm else (None, None)
    if svm and predictions is None:
        predictions = split_svm_predictions(reps, svm_labels=svm_labels, seed=seed)
    rho: dict[str, dict[str, float | None]] = {}
    ua: dict[str, dict[str, float | None]] = {}
    for module, X in reps.modules.items():
        Z = StandardScaler().fit_transform(X)
        rho[module], ua[module] = {}, {}
        for label in labels:
            y = reps.labels(label)
            keep = y != UNKNOWN
            rho[module][label] = inertia_ratio(Z[keep], y[keep]) if len(np.unique(y[keep])) > 1 else None
            if not svm or label not in svm_labels:
                continue
            if label == "speaker":
                ua[module][label] = _within_speaker_ua(X[keep], y[keep], seed)
            else:
                pred, scored = predictions.get((module, label)), test & keep
                ua[module][label] = None if pred is None else unweighted_accuracy(y[scored], pred[scored])
    result = {
        "modules": list(reps.modules),
        "n_utterances": len(reps),
        "checkpoint_hash": reps.meta.get("checkpoint_hash"),
        "corpus": reps.meta.get("corpus"),
        "inertia_ratio": rho,
    }
    if reps.meta.get("pca"):
        result["pca"] = reps.meta["pca"]
    if svm:
        result["svm_ua"] = {m: ua[m].get("emotion") for m in ua}
        result["svm_ua_by_label"] = ua
        result["svm_split"] = {"train": int(train.sum()), "test": int(test.sum())}
    return result


def _within_speaker_ua(X: np.ndarray, y: np.ndarray, seed: int) -> float | None:
    _, counts = np.unique(y, return_counts=True)
    if len(counts) < 2 or counts.min() < 2:
        return None
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
    return LinearProbe(random_state=seed).fit(X_tr, y_tr).score(X_te, y_te)


def probe_projections(
    reps: Representations,
    *,
    method: str = "lda",
    modules: Sequence[str] | None = None,
    labels: Sequence[str] = LABELS,
    seed: int = 0,
    stored: dict[str, np.ndarray] | None = None,
) -> dict[str, dict[str, np.ndarray | None]]:
    """The points of paper 001's Fig. 2: module → label → (n, k) coordinates, the grid :func:`crnn.plots_app.probe_grid` draws.

    ``method`` "lda": one LDA per module and label (:func:`lda_projection`,
    k = 1 for two classes, else 2); "umap": one seeded 2-D UMAP per module
    (:func:`umap_projection`), shared by its labels, or the module's (n, 2)
    coordinates from ``stored`` (a probe bundle's, computed once). Rows whose
    label is "unknown" are NaN; a label with fewer than two known classes
    maps to None. ``modules`` defaults to all of ``reps.modules``, in their order.
    """
    if method not in ("lda", "umap"):
        raise ValueError(f"unknown projection {method!r}; use 'lda' or 'umap'")
    stored = stored or {}
    points: dict[str, dict[str, np.ndarray | None]] = {}
    for module in [m for m in (modules or reps.modules) if m in reps.modules]:
        X = reps.modules[module]  # (n, D)
        shared = None
        if method == "umap":
            shared = stored[module] if module in stored else umap_projection(X, seed=seed)  # (n, 2)
        points[module] = {}
        for label in labels:
            y = reps.labels(label)
            keep = y != UNKNOWN
            if len(np.unique(y[keep])) < 2:
                points[module][label] = None
                continue
            P = shared[keep] if shared is not None else lda_projection(X[keep], y[keep])  # (n_keep, k)
            full = np.full((len(y), P.shape[1]), np.nan)
            full[keep] = P
            points[module][label] = full
    return points
