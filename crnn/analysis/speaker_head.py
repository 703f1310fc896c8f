"""Speaker-adapted prediction: a linear head on a network's utterance embedding, z-scored within each speaker.

The SVM baselines standardise every feature with the speaker's own clips,
test speakers included, and much of their lead over the networks is that
information (README, "network + SVM" rows). A network alone cannot have it:
the app and ``crnn predict`` see one clip. When several clips of one
speaker are given, :class:`SpeakerAdaptedHead` gives the network the same
information: each clip's embedding (the recurrent output averaged over
time, :data:`MODULE`) is z-scored with the mean and standard deviation of
that speaker's clips (:class:`crnn.analysis.baselines.SpeakerStandardizer`),
and a multinomial logistic regression, fitted on the training speakers,
turns it into emotion probabilities. Few clips give noisy statistics, so
:func:`clips_needed` finds, on the validation speakers only, how many clips
the head needs to be at least as good as the network alone.

The head is stored beside its checkpoint (:data:`HEAD_FILE`): safetensors
arrays plus a JSON record that names the weights it was fitted on, so a
retrained checkpoint never meets a stale head. Nothing is unpickled.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from crnn.analysis.baselines import speaker_z
from crnn.analysis.metrics import unweighted_accuracy
from crnn.core.head_file import HEAD_FILE, read_head_file, write_head_file  # noqa: F401  (HEAD_FILE re-exported)

MODULE = "rnn"  # every model's recurrent output; at least as good as "mlp" on the seed-0 validation actors
C_GRID = (0.001, 0.01, 0.1, 1.0)
CLIP_COUNTS = (5, 10, 20, 40)  # clips of one speaker tried by clips_needed


class SpeakerAdaptedHead(ClassifierMixin, BaseEstimator):
    """Logistic regression on embeddings z-scored within each speaker.

    ``fit(X, y, speakers)``: X (n, D) embeddings, y (n,) emotions, speakers (n,)
    speaker IDs; every speaker is standardised with its own clips.
    ``predict_proba(X, speakers)`` (n, K) and ``predict`` do the same to new
    clips, so a speaker needs several clips (:func:`clips_needed`).
    """

    def __init__(self, C: float = 0.01):
        self.C = C

    def fit(self, X: np.ndarray, y: Sequence[str], speakers: Sequence[str]) -> SpeakerAdaptedHead:
        classifier = LogisticRegression(C=self.C, class_weight="balanced", max_iter=5000)
        classifier.fit(speaker_z(X, speakers), np.asarray(y))
        self.classes_ = classifier.classes_
        self.coef_, self.intercept_ = classifier.coef_, classifier.intercept_  # (K, D), (K,)
        if len(self.classes_) == 2:  # one logit for two classes: the softmax of (0, logit) is its sigmoid
            self.coef_ = np.vstack([np.zeros_like(self.coef_), self.coef_])
            self.intercept_ = np.r_[0.0, self.intercept_]
        return self

    def predict_proba(self, X: np.ndarray, speakers: Sequence[str]) -> np.ndarray:
        logits = speaker_z(X, speakers) @ self.coef_.T + self.intercept_  # (n, K)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray, speakers: Sequence[str]) -> np.ndarray:
        return self.classes_[self.predict_proba(X, speakers).argmax(axis=1)]

    def score(self, X: np.ndarray, y: Sequence[str], speakers: Sequence[str]) -> float:
        """Unweighted accuracy (mean recall over the emotions present in ``y``)."""
        return unweighted_accuracy(list(y), list(self.predict(X, speakers)))


def subsampled_predictions(head: SpeakerAdaptedHead, X: np.ndarray, speakers: Sequence[str], n_clips: int | None,
                           seed: int = 0) -> np.ndarray:
    """Each clip's prediction when its speaker is standardised with it and ``n_clips`` − 1 other clips
    drawn at random from the same speaker (None: all of the speaker's clips)."""
    speakers = np.asarray(speakers)
    if n_clips is None:
        return head.predict(X, speakers)
    rng = np.random.default_rng(seed)
    predicted = np.empty(len(X), dtype=object)
    for s in np.unique(speakers):
        rows = np.flatnonzero(speakers == s)
        for i in rows:
            others = rows[rows != i]
            group = np.r_[i, rng.choice(others, min(n_clips - 1, len(others)), replace=False)]
            predicted[i] = head.predict(X[group], [s] * len(group))[0]
    return predicted


def clips_needed(head: SpeakerAdaptedHead, X: np.ndarray, y: Sequence[str], speakers: Sequence[str],
                 network_ua: float) -> tuple[int | None, dict[str, float]]:
    """The fewest clips of a speaker (of :data:`CLIP_COUNTS`) with which the head's UA on (X, y) is at least
    ``network_ua``, and the UA at each count ("all": every clip of the speaker). None when no count is enough.

    Call it with the validation speakers: the test speakers never choose anything.
    """
    ua = {str(k): unweighted_accuracy(list(y), list(subsampled_predictions(head, X, speakers, k))) for k in CLIP_COUNTS}
    ua["all"] = unweighted_accuracy(list(y), list(head.predict(X, speakers)))
    enough = [k for k in CLIP_COUNTS if ua[str(k)] >= network_ua]
    return (enough[0] if enough else None), ua


def save_head(head: SpeakerAdaptedHead, record: dict, folder: str | Path) -> Path:
    """Write the head into checkpoint ``folder`` (:data:`HEAD_FILE`): its arrays and ``record`` (JSON)."""
    record = {**record, "labels": [str(c) for c in head.classes_], "C": head.C}
    return write_head_file(folder, head.coef_, head.intercept_, record)


def load_head(folder: str | Path, weights_sha256: str | None) -> tuple[SpeakerAdaptedHead, dict] | None:
    """The head stored in checkpoint ``folder`` and its record; None when there is none.

    CrnnError when the file is not a head, or was fitted on other weights than ``weights_sha256``.
    """
    found = read_head_file(folder, weights_sha256)
    if found is None:
        return None
    coef, intercept, record = found
    head = SpeakerAdaptedHead(C=float(record.get("C", 0.01)))
    head.classes_, head.coef_, head.intercept_ = np.asarray(record["labels"]), coef.astype(np.float64), intercept.astype(np.float64)
    return head, record


def speaker_probabilities(model, head: SpeakerAdaptedHead, waves: Sequence[np.ndarray]) -> np.ndarray:
    """(n, K) emotion probabilities of ``waves``, all clips of one speaker, from the head (K: ``head.classes_``).

    ``waves``: (N_i,) float32 at 16 kHz, untrimmed; silent ends are trimmed as in training.
    """
    from crnn.analysis.representations import module_vectors
    from crnn.core.data import trim_silence

    X = module_vectors(model, [trim_silence(np.asarray(w, np.float32)) for w in waves])[MODULE]  # (n, D)
    return head.predict_proba(X, ["speaker"] * len(waves))
