"""Module-wise probes: what each stage of a model knows about emotion, speaker and gender.

Paper 001 Sec. 7.4 takes a trained CLDNN as a feature extractor, mean-pools
the output of each module (raw features, CNN, BLSTM; the MLP output as is)
into one vector per utterance and asks how well each vector separates the
emotions, the speakers and the genders:

- quantitatively, with a linear SVM trained on the speaker-independent
  training partition and scored by unweighted accuracy (UA) on the test
  speakers (Table 5; the raw features are the lower bound);
- visually, with an LDA onto ``min(n_classes - 1, 2)`` components, class
  priors matching the class frequencies (Fig. 2);
- by the inertia ratio ρ = ω_i / ω_o (Eqs. 15-17), computed on the
  representations themselves, not on the LDA projections; smaller is a
  better clustering.

One batched forward pass (eval mode, no gradients) gives every module's
vector; the result is cached on disk (``.npz``, no pickles) under a key made
of the checkpoint's weight hash and the corpus's file list, so a second look
is instant and a retrained checkpoint is never served stale vectors.

A *probe bundle* is the same data written compactly (float16, wide modules
PCA-reduced) so the app can show the probes without the corpus.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import GroupShuffleSplit, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from crnn.core.audio import load_audio
from crnn.core.errors import CrnnError
from crnn.core.features import FrontEnd
from crnn.core.fileio import atomic_path
from crnn.analysis.metrics import unweighted_accuracy

MODULES = ("input", "cnn", "rnn", "mlp")
LABELS = ("emotion", "speaker", "gender")
UNKNOWN = "unknown"
CACHE_FORMAT = "crnn-lens-reps/1"
BUNDLE_FORMAT = "crnn-lens-probe/1"
BUNDLE_MAX_BYTES = 2_000_000  # float16 payload of a bundle, before npz compression
BUNDLE_PCA_DIMS = 256
MAX_CROP_SECONDS = 0.05  # a batch shares one length: at most this much of an utterance's tail is dropped

Progress = Callable[[int, int], None]  # (utterances done, total)


def default_cache_dir() -> Path:
    """Where representations are cached: ``probe/`` under ``$CRNN_CACHE_DIR`` (default ``~/.cache/crnn-lens``)."""
    root = os.environ.get("CRNN_CACHE_DIR") or Path.home() / ".cache" / "crnn-lens"
    return Path(root) / "probe"


@dataclass
class Representations:
    """One vector per utterance and module, with the labels the probes need.

    ``modules`` maps a module name ("input", "cnn", "rnn", "mlp") to an
    (n_utterances, D) float32 array; ``ids`` are the file names relative to
    the corpus root; ``emotion``, ``speaker``, ``gender`` are (n,) string
    arrays. ``meta`` holds the checkpoint hash, corpus name, model name, the
    speaker split used for the SVM probe and, for bundles, what was reduced.
    """

    modules: dict[str, np.ndarray]
    ids: np.ndarray
    emotion: np.ndarray
    speaker: np.ndarray
    gender: np.ndarray
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def labels(self, name: str) -> np.ndarray:
        """The (n,) label array "emotion", "speaker" or "gender"."""
        if name not in LABELS:
            raise ValueError(f"unknown label {name!r}; use one of {LABELS}")
        return getattr(self, name)


# ----------------------------------------------------------------------------- extraction


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


def weights_hash(model: torch.nn.Module) -> str:
    """SHA-256 of the model's state dict (names, shapes and values): a cache key for unsaved models."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_key(checkpoint_hash: str, utterances: Sequence) -> str:
    """Key of a representation cache: the weights' hash plus every file's path and labels."""
    files = [[str(Path(u.path).resolve()), u.emotion, u.speaker, u.gender] for u in utterances]
    blob = json.dumps({"format": CACHE_FORMAT, "weights": checkpoint_hash, "files": files})
    return hashlib.sha256(blob.encode()).hexdigest()


def _batches(durations: Sequence[float], batch_size: int) -> list[list[int]]:
    """Indices grouped by similar duration (sorted), so each batch is cropped by ≤ MAX_CROP_SECONDS."""
    order = np.argsort(np.asarray(durations, float), kind="stable")
    batches: list[list[int]] = []
    for idx in order:
        if batches and len(batches[-1]) < batch_size and durations[idx] - durations[batches[-1][0]] <= MAX_CROP_SECONDS:
            batches[-1].append(int(idx))
        else:
            batches.append([int(idx)])
    return batches


def pool(outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Mean over time of every 3-D module output (B, T, D) → (B, D); 2-D outputs (the MLP) as they are."""
    return {
        name: (out.mean(dim=1) if out.dim() == 3 else out)
        for name, out in outputs.items()
        if name in MODULES
    }


def utterance_vectors(model: torch.nn.Module, wave: torch.Tensor) -> dict[str, torch.Tensor]:
    """One forward pass → each module's vector per utterance, "input" .. "mlp", each (B, D), plus "logits".

    wave: (B, N). "input" is the mean of the un-normalised features (see
    :func:`_raw_input_features`), the others :func:`pool` of ``module_outputs``.
    """
    outputs = model.module_outputs(wave)
    vectors = pool(outputs)
    vectors["input"] = _raw_input_features(model).to(wave.device)(wave).mean(dim=1)  # (B, F)
    vectors["logits"] = outputs["logits"]
    return vectors


def _raw_input_features(model: torch.nn.Module) -> FrontEnd:
    """The lower-bound "input" features: the model's front-end *without* per-utterance normalisation.

    The features a model sees are mean/variance normalised per utterance, so
    their mean over time is zero for every utterance and would carry no
    information at all; paper 001's raw-feature baseline pools the features
    before that step. Waveform models get log-Mels (the mean of 10 ms wave
    frames is ~0 too).
    """
    kind = getattr(model, "feature_kind", "logmel")
    return FrontEnd("logmel" if kind == "waveform" else kind, normalize=False)


@torch.no_grad()
def module_representations(
    model: torch.nn.Module,
    corpus_or_utterances,
    *,
    checkpoint_hash: str | None = None,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    batch_size: int = 16,
    use_cache: bool = True,
) -> Representations:
    """Every utterance's mean-over-time vector at every module, from one batched pass.

    ``model`` is a :class:`crnn.core.models.base.SERModel`; ``corpus_or_utterances``
    a :class:`crnn.core.corpora.Corpus` or a list of Utterances. Utterances are
    batched by duration; a batch is cropped to its shortest member (at most
    0.05 s of a tail is lost). The result is cached in ``cache_dir``
    (default :func:`default_cache_dir`) keyed by ``checkpoint_hash`` (the
    weights' hash of the model's own state dict when not given) and the
    file list. ``progress(done, total)`` is called after each batch.
    """
    utterances, root, corpus_name = _utterance_list(corpus_or_utterances)
    key_hash = checkpoint_hash or weights_hash(model)
    path = Path(cache_dir or default_cache_dir()) / f"reps_{cache_key(key_hash, utterances)[:24]}.npz"
    if use_cache and path.is_file():
        try:
            reps = _read_npz(path, CACHE_FORMAT)
            if progress:
                progress(len(utterances), len(utterances))
            return reps
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is recomputed and overwritten
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = len(utterances)
    chunks: dict[str, list[np.ndarray]] = {}
    order: list[int] = []
    done = 0
    try:
        for batch in _batches([u.duration for u in utterances], batch_size):
            waves = [load_audio(utterances[i].path) for i in batch]
            n = min(len(w) for w in waves)
            wave = torch.from_numpy(np.stack([w[:n] for w in waves])).to(device)  # (B, N)
            vectors = utterance_vectors(model, wave)
            for name, v in vectors.items():
                chunks.setdefault(name, []).append(v.float().cpu().numpy())
            order += batch
            done += len(batch)
            if progress:
                progress(done, total)
    finally:
        model.train(was_training)
    inverse = np.argsort(order)
    modules = {m: np.concatenate(chunks[m])[inverse] for m in MODULES if m in chunks}
    reps = Representations(
        modules=modules,
        ids=np.array([Path(os.path.relpath(u.path, root)).as_posix() for u in utterances]),
        emotion=np.array([u.emotion for u in utterances]),
        speaker=np.array([u.speaker for u in utterances]),
        gender=np.array([u.gender for u in utterances]),
        meta={
            "checkpoint_hash": key_hash,
            "corpus": corpus_name,
            "model": type(model).__name__,
            "seconds_of_audio": float(sum(u.duration for u in utterances)),
        },
    )
    if use_cache:
        _write_npz(reps, path, np.float32, CACHE_FORMAT)
    return reps


# ----------------------------------------------------------------------------- storage


def _write_npz(reps: Representations, path: Path, dtype, fmt: str) -> None:
    arrays = {f"module_{m}": x.astype(dtype) for m, x in reps.modules.items()}
    for name in ("ids", "emotion", "speaker", "gender"):
        arrays[name] = np.asarray(getattr(reps, name), dtype=str)
    arrays["meta"] = np.array(json.dumps({**reps.meta, "format": fmt, "modules": list(reps.modules)}))
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)


def _read_npz(path: Path, fmt: str) -> Representations:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if meta.get("format") != fmt:
            raise ValueError(f"{path.name} is not a {fmt} file")
        modules = {m: data[f"module_{m}"].astype(np.float32) for m in meta["modules"]}
        return Representations(
            modules=modules,
            ids=data["ids"],
            emotion=data["emotion"],
            speaker=data["speaker"],
            gender=data["gender"],
            meta=meta,
        )


def write_bundle(reps: Representations, path: str | Path, max_bytes: int = BUNDLE_MAX_BYTES) -> Path:
    """Write a compact probe bundle (float16 npz) that the app's probe page can use without the corpus.

    Modules are stored as they are while the float16 payload fits in
    ``max_bytes``; otherwise the widest modules are PCA-reduced to 256
    dimensions, widest first, then to 128 and 64, until it fits. ``meta["pca"]`` records,
    per reduced module, the original and kept dimensions and the variance
    explained, so the app can say the bundle's probes are approximate.
    """
    from sklearn.decomposition import PCA

    n = len(reps)
    modules = dict(reps.modules)
    pca_info: dict[str, dict] = {}

    def payload() -> int:
        return sum(n * x.shape[1] * 2 for x in modules.values())

    for dims in (BUNDLE_PCA_DIMS, BUNDLE_PCA_DIMS // 2, BUNDLE_PCA_DIMS // 4):
        for name in sorted(modules, key=lambda m: -modules[m].shape[1]):
            if payload() <= max_bytes:
                break
            original = reps.modules[name]
            k = min(dims, n - 1, original.shape[1])
            if k >= modules[name].shape[1]:
                continue
            pca = PCA(n_components=k, random_state=0).fit(original)
            modules[name] = pca.transform(original).astype(np.float32)
            pca_info[name] = {"from": int(original.shape[1]), "to": int(k),
                              "explained_variance": float(pca.explained_variance_ratio_.sum())}
    if payload() > max_bytes:
        raise CrnnError(f"the probe bundle would need {payload() / 1e6:.1f} MB, more than {max_bytes / 1e6:.1f} MB")
    reduced = Representations(modules, reps.ids, reps.emotion, reps.speaker, reps.gender, {**reps.meta, "pca": pca_info})
    _write_npz(reduced, Path(path), np.float16, BUNDLE_FORMAT)
    return Path(path)


def load_bundle(path: str | Path) -> Representations:
    """Read a bundle written by :func:`write_bundle` (never unpickles); CrnnError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise CrnnError(f"probe bundle {path} does not exist")
    try:
        return _read_npz(path, BUNDLE_FORMAT)
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        raise CrnnError(f"{path.name} is not a crnn-lens probe bundle") from None


def bundle_path(checkpoint_dir: str | Path, corpus_name: str = "ravdess") -> Path:
    """Where a checkpoint keeps its probe bundle: ``<checkpoint>/probe_<corpus>.npz``."""
    return Path(checkpoint_dir) / f"probe_{corpus_name}.npz"


# ----------------------------------------------------------------------------- measures


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


def _svm_ua(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int) -> float | None:
    if len(np.unique(y[train])) < 2 or not test.any():
        return None
    return LinearProbe(random_state=seed).fit(X[train], y[train]).score(X[test], y[test])


def probe_scores(
    reps: Representations,
    *,
    labels: Sequence[str] = LABELS,
    svm: bool = True,
    svm_labels: Sequence[str] = ("emotion", "gender"),
    seed: int = 0,
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
    only when "speaker" is in ``svm_labels``.
    """
    train, test = _speaker_independent_masks(reps, seed) if svm else (None, None)
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
                ua[module][label] = _svm_ua(X, y, train & keep, test & keep, seed)
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


# ----------------------------------------------------------------------------- entry points


def representations_for(
    model_ref: str | Path | None = None,
    corpus_path: str | Path | None = None,
    *,
    bundle: str | Path | None = None,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> Representations:
    """Representations from a bundle, or from a checkpoint (name or folder) run over a corpus.

    With a checkpoint and no corpus, the checkpoint's own bundle
    (``probe_<corpus>.npz`` in its folder) is used when it has one. The SVM
    split is the checkpoint card's speaker split (its test speakers were
    never trained on) or, for a corpus the model was not trained on,
    :func:`crnn.core.splits.speaker_split`.
    """
    if bundle is not None:
        return load_bundle(bundle)
    if model_ref is None:
        raise CrnnError("give a checkpoint and a corpus, or a probe bundle")
    from crnn.core.checkpoint import checkpoint_hash, load_checkpoint, resolve_model

    folder = resolve_model(model_ref)
    if corpus_path is None:
        found = sorted(folder.glob("probe_*.npz"))
        if not found:
            raise CrnnError(f"checkpoint {folder.name} has no probe bundle; give a corpus folder to probe")
        return load_bundle(found[0])
    from crnn.core.corpora import read_corpus
    from crnn.core.splits import speaker_split

    model, card = load_checkpoint(folder)
    corpus = read_corpus(corpus_path)
    reps = module_representations(
        model, corpus, checkpoint_hash=checkpoint_hash(folder), cache_dir=cache_dir, progress=progress
    )
    trained_on = (card.get("corpus") or {}).get("name")
    split = card.get("split") if trained_on == corpus.name and card.get("split") else speaker_split(corpus)
    reps.meta.update(model=card.get("model"), split={k: split[k] for k in ("train", "validation", "test")})
    return reps


def run_probe(
    model_ref: str | Path | None = None,
    corpus_path: str | Path | None = None,
    *,
    bundle: str | Path | None = None,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    seed: int = 0,
    svm_labels: Sequence[str] = ("emotion", "gender"),
    figure: str | Path | None = None,
    projection: str = "lda",
) -> dict:
    """The module-wise probe of paper 001 Sec. 7.4 as a JSON-friendly dict.

    {"modules": [...], "inertia_ratio": {module: {"emotion", "speaker",
    "gender"}}, "svm_ua": {module: UA for emotion}, "svm_ua_by_label":
    {module: {label: UA}}, "n_utterances", "checkpoint_hash", "corpus",
    "seconds": {"representations", "probe"}}. Inputs as
    :func:`representations_for`. ``figure`` (.html or .png) also writes
    paper 001's Fig. 2 grid (:func:`crnn.plots.probe_grid`, ``projection``
    "lda" or "umap") and adds its path as "figure".
    """
    start = time.perf_counter()
    reps = representations_for(model_ref, corpus_path, bundle=bundle, cache_dir=cache_dir, progress=progress)
    mid = time.perf_counter()
    result = probe_scores(reps, seed=seed, svm_labels=svm_labels)
    result["model"] = reps.meta.get("model")
    result["seconds"] = {"representations": mid - start, "probe": time.perf_counter() - mid}
    if figure is not None:
        from crnn.plots import probe_grid, save_figure

        result["figure"] = str(save_figure(probe_grid(reps, method=projection, seed=seed), figure))
    return result
