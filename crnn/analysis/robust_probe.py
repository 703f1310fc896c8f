"""Probes that hold up: speaker bootstrap intervals, speaker-grouped cross-validation, control tasks.

Paper 001 Sec. 7.4 reports one number per module and label. Here every
number comes with a 95 % interval from a bootstrap over *speakers* (the
unit that was sampled: utterances of one actor are not independent), and
the linear-SVM probe comes with a control task (Hewitt & Liang, 2019):
each speaker's labels are mapped through a random permutation of the
classes, so the control label is a function of (speaker, true label) that a
probe can only get right by memorising speaker-specific mappings. Such a
mapping can be learnt only for speakers seen in training, so task and
control are both scored within speakers (every speaker on both sides of
the split), and selectivity = task UA − control UA there, with a paired
interval; the headline UA is on unseen speakers.

The bootstrap is vectorised: per-speaker sufficient statistics (class
counts, sums, sums of squares for ρ; confusion counts for UA) are summed
with resampling weights, so 200 resamples cost a few matrix products and no
refitting. The SVM's predictions are made once (out-of-fold under
speaker-grouped CV, or on a held-out speaker split) and resampled by speaker.

Out-of-fold representations come from several models (one per CV fold),
each with its own coordinates: a probe trained on one model's vectors and
tested on another's, or a class mean pooled over them, measures the
models' disagreement, not what they encode. ``blocks`` (the model of each
utterance) keeps every fit and every inertia inside one block: vectors are
standardised per block, ρ = Σ ω_i / Σ ω_o over the blocks, and the SVMs
are cross-validated by speaker within each block, their predictions pooled.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler

from crnn.analysis.probe import LinearProbe, split_predictions
from crnn.analysis.representations import LABELS, UNKNOWN, Representations

N_BOOT = 200
LEVEL = 0.95


def interval(value: float | None, samples: np.ndarray | None, centre: bool = False) -> dict:
    """{"value", "low", "high"} with the central 95 % percentile interval of ``samples`` (NaNs ignored).

    ``centre=True`` first shifts the samples so their median is ``value``: ρ
    depends on how many distinct speakers a resample holds (a resample has
    about 63 % of them), so its raw resamples are biased low; the shift keeps
    their spread and removes that bias.
    """
    if value is None or samples is None or not np.isfinite(samples).any():
        return {"value": value, "low": None, "high": None}
    if centre:
        samples = samples - np.nanmedian(samples) + value
    lo, hi = np.nanpercentile(samples, [50 * (1 - LEVEL), 50 * (1 + LEVEL)])
    return {"value": float(value), "low": float(lo), "high": float(hi)}


class SpeakerBootstrap:
    """Resampling weights over speakers: ``weights`` (n_boot, S) counts of each speaker in each resample.

    Utterance i belongs to speaker ``index[i]`` of ``speakers``. Every
    statistic below is a function of per-speaker sums, so a resample is a
    weighted sum and the same weights pair the statistics (differences
    between modules, task minus control).
    """

    def __init__(self, speakers: Sequence, n_boot: int = N_BOOT, seed: int = 0) -> None:
        self.seed = seed
        self.speakers, self.index = np.unique(np.asarray(speakers), return_inverse=True)
        S = len(self.speakers)
        draws = np.random.default_rng(seed).integers(0, S, size=(n_boot, S))  # (B, S)
        self.weights = np.stack([np.bincount(row, minlength=S) for row in draws]).astype(np.float64)

    def restrict(self, speakers: Sequence) -> "SpeakerBootstrap":
        """A bootstrap over the speakers of a subset of utterances (``speakers``), with the same seed: the
        same subset always gets the same resamples, so statistics on it stay paired."""
        return SpeakerBootstrap(speakers, len(self.weights), self.seed)

    def _per_speaker(self, onehot: np.ndarray) -> np.ndarray:
        """(S, ...) sums over each speaker's utterances of ``onehot`` (n, ...)."""
        out = np.zeros((len(self.speakers), *onehot.shape[1:]))
        np.add.at(out, self.index, onehot)
        return out

    def ua(self, y: np.ndarray, pred: np.ndarray, keep: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """(UA, (n_boot,) resampled UAs) of predictions ``pred`` for labels ``y``; UA = mean per-class recall."""
        keep = np.ones(len(y), bool) if keep is None else keep
        classes, yi = np.unique(y[keep], return_inverse=True)
        hit = np.zeros((len(y), 2, len(classes)))  # [0]: utterances of the class, [1]: hits
        rows = np.flatnonzero(keep)
        hit[rows, 0, yi] = 1.0
        hit[rows, 1, yi] = (np.asarray(pred)[keep] == y[keep]).astype(float)
        per = self._per_speaker(hit)  # (S, 2, K)
        value = _mean_recall(per.sum(0)[None])[0]
        return float(value), _mean_recall(np.einsum("bs,sjk->bjk", self.weights, per))

    def rho(self, Z: np.ndarray, y: np.ndarray, chunk: int = 50, blocks: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """(ρ, (n_boot,) resampled ρ) of paper 001 Eqs. 15-17 for vectors Z (n, D) and labels y (n,).

        With ``blocks`` (n,), each speaker's block: ρ = Σ ω_i / Σ ω_o, each ω
        computed within one block (a speaker lies in one block, so the
        per-speaker sums stay block-pure and the resampling stays paired).
        """
        if blocks is None:
            blocks = np.zeros(len(y), int)
        speaker_block = np.zeros(len(self.speakers), dtype=np.asarray(blocks).dtype)
        speaker_block[self.index] = blocks
        classes, yi = np.unique(y, return_inverse=True)
        K, S = len(classes), len(self.speakers)
        cell = self.index * K + yi  # (speaker, class) cell of each utterance
        counts = np.bincount(cell, minlength=S * K).reshape(S, K)
        sums = np.zeros((S * K, Z.shape[1]))
        np.add.at(sums, cell, Z)
        sums = sums.reshape(S, K, -1)
        squares = np.bincount(cell, weights=np.sum(Z.astype(np.float64) ** 2, axis=1), minlength=S * K).reshape(S, K)
        value, samples = np.zeros(2), np.zeros((2, len(self.weights)))
        for b in np.unique(speaker_block):
            cols = speaker_block == b
            c, m, q = counts[cols], sums[cols], squares[cols]
            whole = _omegas(c.sum(0)[None], m.sum(0)[None], q.sum(0)[None])[:, 0]
            value += np.where(np.isfinite(whole).all(), whole, 0.0)
            part = np.concatenate([_omegas(w @ c, np.einsum("bs,skd->bkd", w, m), w @ q)
                                   for w in np.array_split(self.weights[:, cols], max(1, len(self.weights) // chunk))], axis=1)
            samples += np.where(np.isfinite(part).all(axis=0), part, 0.0)  # a block left with < 2 classes adds nothing
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(samples[1] > 0, samples[0] / samples[1], np.nan)
            return float(value[0] / value[1]) if value[1] > 0 else float("nan"), ratio


def _mean_recall(per: np.ndarray) -> np.ndarray:
    """(B,) mean over present classes of hits / utterances, from (B, 2, K) sums."""
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = per[:, 1] / per[:, 0]
    return np.nanmean(np.where(per[:, 0] > 0, recall, np.nan), axis=1)


def _omegas(n: np.ndarray, s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(2, B): ω_i (mean within-class inertia) and ω_o (mean squared distance between class means) of paper 001
    Eqs. 15-16, from class counts n (B, K), sums s (B, K, D) and sums of squares q (B, K)."""
    present = n > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = s / np.where(present, n, 1)[..., None]  # (B, K, D)
        sq = np.sum(mu**2, axis=-1)  # (B, K)
        within = np.where(present, q / np.where(present, n, 1) - sq, 0.0)
        count = present.sum(axis=1)
        omega_i = np.where(count > 0, within.sum(axis=1) / np.where(count > 0, count, 1), np.nan)
        pair = sq[:, :, None] + sq[:, None, :] - 2.0 * np.einsum("bkd,bjd->bkj", mu, mu)
        both = present[:, :, None] & present[:, None, :] & ~np.eye(n.shape[1], dtype=bool)[None]
        k = both.sum(axis=(1, 2))
        omega_o = np.where(both, np.maximum(pair, 0.0), 0.0).sum(axis=(1, 2)) / np.where(k > 0, k, 1)
        return np.stack([omega_i, np.where(k > 0, omega_o, np.nan)])


def control_labels(y: np.ndarray, speakers: np.ndarray, seed: int = 0) -> np.ndarray:
    """The control task: each speaker's labels mapped through its own random permutation of the classes."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    out = np.array(y, dtype=object)
    for s in np.unique(speakers):
        perm = dict(zip(classes, rng.permutation(classes)))
        rows = np.flatnonzero(speakers == s)
        out[rows] = [perm[v] for v in y[rows]]
    return out.astype(y.dtype)


def grouped_predictions(X: np.ndarray, y: np.ndarray, groups: np.ndarray, n_splits: int = 5,
                        seed: int = 0) -> np.ndarray | None:
    """Out-of-fold predictions of :class:`LinearProbe` under speaker-grouped K-fold CV (K ≤ number of speakers)."""
    k = min(n_splits, len(np.unique(groups)))
    if k < 2 or len(np.unique(y)) < 2:
        return None
    pred = np.empty(len(y), dtype=y.dtype)
    for train, test in GroupKFold(n_splits=k).split(X, y, groups):
        if len(np.unique(y[train])) < 2:
            pred[test] = y[train][0]
            continue
        pred[test] = LinearProbe(random_state=seed).fit(X[train], y[train]).predict(X[test])
    return pred


def _fill(y: np.ndarray, rows: np.ndarray, pred: np.ndarray | None) -> np.ndarray | None:
    """Predictions for ``rows`` spread into a copy of ``y`` (the other rows are ignored by the masks)."""
    if pred is None:
        return None
    full = np.array(y, copy=True)
    full[rows] = pred
    return full


def within_speaker_predictions(X: np.ndarray, y: np.ndarray, speakers: np.ndarray, *, folds: int = 5,
                               seed: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """(predictions, scored mask) of :class:`LinearProbe` with every speaker on both sides of the split.

    Utterances are split stratified by speaker: ``folds`` ≥ 2 folds, or with
    ``folds=1`` one 75/25 split. This is where a control task can be learnt
    at all (a probe can memorise a speaker-specific mapping only for speakers
    it has seen), as Hewitt & Liang's control words recur in training and test.
    """
    from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

    _, counts = np.unique(speakers, return_counts=True)
    try:
        if folds == 1:
            splits = StratifiedShuffleSplit(n_splits=1, test_size=0.25, random_state=seed).split(X, speakers)
        else:
            splits = StratifiedKFold(n_splits=min(folds, int(counts.min())), shuffle=True, random_state=seed).split(X, speakers)
        splits = list(splits)
    except ValueError:  # a speaker with a single utterance
        return None
    pred, scored = np.array(y, copy=True), np.zeros(len(y), bool)
    for train, test in splits:
        if len(np.unique(y[train])) > 1:
            pred[test] = LinearProbe(random_state=seed).fit(X[train], y[train]).predict(X[test])
            scored[test] = True
    return (pred, scored) if scored.any() else None


def _per_block(predict, blocks: np.ndarray, y: np.ndarray, *arrays: np.ndarray):
    """``predict(*arrays restricted to one block)`` run per block and spread back; None if no block gave any."""
    pred, scored = np.array(y, copy=True), np.zeros(len(y), bool)
    for b in np.unique(blocks):
        rows = np.flatnonzero(blocks == b)
        out = predict(*(a[rows] for a in arrays))
        if out is None:
            continue
        part, ok = out if isinstance(out, tuple) else (out, np.ones(len(rows), bool))
        pred[rows], scored[rows] = part, ok
    return (pred, scored) if scored.any() else None


def _selectivity(boot: SpeakerBootstrap, X: np.ndarray, y: np.ndarray, speakers: np.ndarray, folds: int,
                 seed: int, blocks: np.ndarray) -> dict:
    """Task and control-task UA within speakers, and selectivity = task − control, each with an interval."""
    y_ctrl = control_labels(y, speakers, seed)
    task, ctrl = (_per_block(lambda Xb, tb, sb: within_speaker_predictions(Xb, tb, sb, folds=folds, seed=seed),
                             blocks, t, X, t, speakers) for t in (y, y_ctrl))
    if task is None or ctrl is None:
        return {}
    scored = task[1] & ctrl[1]
    sub = boot.restrict(speakers[scored])
    ua, ua_s = sub.ua(y[scored], task[0][scored])
    cu, cu_s = sub.ua(y_ctrl[scored], ctrl[0][scored])
    return {"ua_within_speaker": interval(ua, ua_s), "control_task_ua": interval(cu, cu_s),
            "selectivity": interval(ua - cu, ua_s - cu_s)}


def _probe_label(boot: SpeakerBootstrap, X: np.ndarray, y: np.ndarray, speakers: np.ndarray, rows,
                 scheme: str, seed: int, blocks: np.ndarray, fitted: np.ndarray | None = None) -> dict | None:
    """UA on unseen speakers, and the control task with selectivity, of one module × label.

    "ua": speaker-grouped CV (``scheme`` "cv", ``rows`` the utterances used)
    or train → test masks (``scheme`` "split", ``rows`` = (train, test)).
    The control task is scored within speakers (:func:`within_speaker_predictions`:
    5 folds under "cv"; one 75/25 split of the test speakers' utterances under "split").
    ``blocks`` (n,): under "cv", cross-validate within each block (module docstring).
    ``fitted``: under "split", the probe's predictions if already made.
    """
    if scheme == "cv":
        found = _per_block(lambda Xb, yb, sb: grouped_predictions(Xb, yb, sb, seed=seed), blocks[rows], y[rows],
                           X[rows], y[rows], speakers[rows])
        task = None if found is None else _fill(y, rows[found[1]], found[0][found[1]])
        keep = np.zeros(len(y), bool)
        keep[rows[found[1]] if found is not None else rows] = True
    else:
        train, keep = rows
        task = fitted if fitted is not None else split_predictions(X, y, train, keep, seed)
    if task is None:
        return None
    sub = boot.restrict(speakers[keep])  # resample the speakers that were scored
    ua, ua_s = sub.ua(y[keep], task[keep])
    control = _selectivity(boot, X[keep], y[keep], speakers[keep], 5 if scheme == "cv" else 1, seed, blocks[keep])
    return {"ua": interval(ua, ua_s), **control, "_samples": ua_s}


def robust_probe(
    reps: Representations,
    *,
    labels: Sequence[str] = LABELS,
    svm_labels: Sequence[str] = ("emotion", "gender"),
    scheme: str = "cv",
    split: tuple[np.ndarray, np.ndarray] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    samples: bool = False,
    blocks: Sequence | None = None,
    predictions: dict[tuple[str, str], np.ndarray] | None = None,
) -> dict:
    """ρ and SVM UA of every module × label with speaker-bootstrap intervals, the control task and selectivity.

    ``scheme`` "cv": speaker-grouped 5-fold CV over all utterances (out-of-fold
    predictions); "split": a probe fitted on ``split[0]`` and scored on
    ``split[1]`` (boolean masks, e.g. the checkpoint's training and test
    speakers). Returns {"inertia_ratio": {module: {label: interval}},
    "svm": {module: {label: {"ua", "ua_within_speaker", "control_task_ua", "selectivity"}}},
    "n_boot", "scheme", "speakers"}; ``samples=True`` keeps the (n_boot,)
    resampled values under "samples" ({"rho"|"ua": {module: {label: array}}})
    for paired comparisons between modules. ``blocks`` (n,): the model that
    produced each utterance's vectors, for out-of-fold representations
    (scheme "cv"; module docstring). ``predictions`` (scheme "split"): those of
    :func:`crnn.analysis.probe.split_svm_predictions` for the same split, so
    no probe is fitted twice.
    """
    boot = SpeakerBootstrap(reps.speaker, n_boot, seed)
    blocks = np.zeros(len(reps), int) if blocks is None else np.asarray(blocks)  # one block: one model's space
    out: dict = {"inertia_ratio": {}, "svm": {}, "n_boot": n_boot, "scheme": scheme, "speakers": len(boot.speakers)}
    kept: dict = {"rho": {}, "ua": {}}
    for module, X in reps.modules.items():
        Z = _standardise(X, blocks)
        out["inertia_ratio"][module], out["svm"][module] = {}, {}
        kept["rho"][module], kept["ua"][module] = {}, {}
        for label in labels:
            y = reps.labels(label)
            known = y != UNKNOWN
            if len(np.unique(y[known])) < 2:
                continue
            value, s = boot.restrict(reps.speaker[known]).rho(Z[known], y[known], blocks=blocks[known])
            out["inertia_ratio"][module][label] = interval(value, s, centre=True)
            kept["rho"][module][label] = s
            if label not in svm_labels:
                continue
            rows = np.flatnonzero(known) if scheme == "cv" else (split[0] & known, split[1] & known)
            fitted = (predictions or {}).get((module, label)) if scheme == "split" else None
            res = _probe_label(boot, X, y, reps.speaker, rows, scheme, seed, blocks, fitted)
            if res is not None:
                kept["ua"][module][label] = res.pop("_samples")
                out["svm"][module][label] = res
    if samples:
        out["samples"] = kept
    return out


def _standardise(X: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Each column to zero mean and unit variance within each block."""
    Z = np.empty(X.shape, dtype=np.float64)
    for b in np.unique(blocks):
        rows = blocks == b
        Z[rows] = StandardScaler().fit_transform(X[rows])
    return Z


def split_intervals(reps: Representations, *, n_boot: int = N_BOOT, seed: int = 0, **kwargs) -> dict:
    """:func:`robust_probe` with the split the plain probe uses (the stored speaker split, else a seeded 80/20
    split of the speakers): one fit per module × label, intervals over the test speakers. The fast path."""
    from crnn.analysis.probe import _speaker_independent_masks

    train, test = _speaker_independent_masks(reps, seed)
    return robust_probe(reps, scheme="split", split=(train, test), n_boot=n_boot, seed=seed, **kwargs)
