"""One vector per utterance and module: what the probes, the noise lab and the probe bundles share.

Paper 001 Sec. 7.4 takes a trained model as a feature extractor and mean-pools
the output of each module (raw features, CNN, RNN; the MLP output as is) into
one vector per utterance. :func:`module_vectors` computes them for a list of
waveforms with batched forward passes (eval mode, no gradients);
:class:`Representations` holds them with the utterances' labels, and turns
into named arrays and back (:meth:`Representations.to_arrays`), the form the
cache and the bundles store. :func:`compact` PCA-reduces wide modules so a
probe bundle stays small. Reading audio and files is :mod:`crnn.tasks.probe`'s.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from crnn.core.cache import Progress
from crnn.core.defaults import SAMPLE_RATE
from crnn.core.errors import CrnnError
from crnn.core.features import FrontEnd
from crnn.core.fileio import parse_json
from crnn.core.models.base import MODULE_NAMES

MODULES = tuple(m for m in MODULE_NAMES if m != "logits")  # "input", "cnn", "rnn", "mlp"
LABELS = ("emotion", "speaker", "gender")
UNKNOWN = "unknown"
MAX_CROP_SECONDS = 0.05  # a batch shares one length: at most this much of an utterance's tail is dropped
BUNDLE_PCA_DIMS = 256


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

    def to_arrays(self, dtype, fmt: str) -> dict[str, np.ndarray]:
        """Named arrays for an ``.npz``: "module_<name>" (n, D) as ``dtype``, the labels, "meta" (JSON with ``fmt``)."""
        arrays = {f"module_{m}": x.astype(dtype) for m, x in self.modules.items()}
        for name in ("ids", *LABELS):
            arrays[name] = np.asarray(getattr(self, name), dtype=str)
        arrays["meta"] = np.array(json.dumps({**self.meta, "format": fmt, "modules": list(self.modules)}))
        return arrays

    @classmethod
    def from_arrays(cls, arrays, fmt: str) -> Representations:
        """The inverse of :meth:`to_arrays` (modules back to float32); ValueError if the format is not ``fmt``."""
        meta = parse_json(str(arrays["meta"]))
        if meta.get("format") != fmt:
            raise ValueError(f"not a {fmt} file")
        modules = {m: arrays[f"module_{m}"].astype(np.float32) for m in meta["modules"]}
        n = len(arrays["ids"])
        if not modules or any(x.ndim != 2 or len(x) != n or not np.isfinite(x).all() for x in modules.values()) \
                or any(len(arrays[name]) != n for name in LABELS):
            raise ValueError(f"a damaged {fmt} file")  # NaN or ragged rows would fail deep inside scikit-learn
        return cls(modules, arrays["ids"], arrays["emotion"], arrays["speaker"], arrays["gender"], meta)


def weights_hash(model: torch.nn.Module) -> str:
    """SHA-256 of the model's state dict (names, shapes and values): a cache key for unsaved models."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return digest.hexdigest()


def pool(outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Mean over time of every 3-D module output (B, T, D) → (B, D); 2-D outputs (the MLP) as they are."""
    return {
        name: (out.mean(dim=1) if out.dim() == 3 else out)
        for name, out in outputs.items()
        if name in MODULES
    }


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


def utterance_vectors(model: torch.nn.Module, wave: torch.Tensor) -> dict[str, torch.Tensor]:
    """One forward pass → each module's vector per utterance, "input" .. "mlp", each (B, D), plus "logits".

    wave: (B, N) at 16 kHz. "input" is the mean of the un-normalised features
    (see :func:`_raw_input_features`), the others :func:`pool` of ``module_outputs``.
    """
    outputs = model.module_outputs(wave)
    vectors = pool(outputs)
    vectors["input"] = _raw_input_features(model).to(wave.device)(wave).mean(dim=1)  # (B, F)
    vectors["logits"] = outputs["logits"]  # (B, K)
    return vectors


def _batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped by similar length (sorted), so each batch is cropped by ≤ MAX_CROP_SECONDS."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    slack = MAX_CROP_SECONDS * SAMPLE_RATE
    batches: list[list[int]] = []
    for idx in order:
        if batches and len(batches[-1]) < batch_size and lengths[idx] - lengths[batches[-1][0]] <= slack:
            batches[-1].append(int(idx))
        else:
            batches.append([int(idx)])
    return batches


@torch.no_grad()
def module_vectors(
    model: torch.nn.Module,
    waves: Sequence[np.ndarray],
    *,
    batch_size: int = 16,
    progress: Progress | None = None,
) -> dict[str, np.ndarray]:
    """Every wave's mean-over-time vector at every module: name → (n, D) float32, in the order of ``waves``.

    ``waves``: (N_i,) float32 at 16 kHz. Waves are batched by length; a batch
    is cropped to its shortest member (at most 0.05 s of a tail is lost).
    ``progress`` receives ``{"event": "represent", "done", "total"}`` (utterances)
    after each batch.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    chunks: dict[str, list[np.ndarray]] = {}
    order: list[int] = []
    try:
        for batch in _batches([len(w) for w in waves], batch_size):
            n = min(len(waves[i]) for i in batch)
            wave = torch.from_numpy(np.stack([waves[i][:n] for i in batch])).to(device)  # (B, N)
            for name, v in utterance_vectors(model, wave).items():
                chunks.setdefault(name, []).append(v.float().cpu().numpy())  # (B, D)
            order += batch
            if progress:
                progress({"event": "represent", "done": len(order), "total": len(waves)})
    finally:
        model.train(was_training)
    inverse = np.argsort(order)
    return {m: np.concatenate(chunks[m])[inverse] for m in MODULES if m in chunks}


def compact(reps: Representations, max_bytes: int) -> Representations:
    """The same utterances with the widest modules PCA-reduced until their float16 payload fits ``max_bytes``.

    Modules stay as they are while the payload (n × D × 2 bytes summed over
    modules) fits; otherwise the widest are reduced to 256 dimensions, widest
    first, then to 128 and 64. ``meta["pca"]`` records, per reduced module,
    the original and kept dimensions and the variance explained. CrnnError
    if even that does not fit.
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
            modules[name] = pca.transform(original).astype(np.float32)  # (n, k)
            pca_info[name] = {"from": int(original.shape[1]), "to": int(k),
                              "explained_variance": float(pca.explained_variance_ratio_.sum())}
    if payload() > max_bytes:
        raise CrnnError(f"the probe bundle would need {payload() / 1e6:.1f} MB, more than {max_bytes / 1e6:.1f} MB")
    return Representations(modules, reps.ids, reps.emotion, reps.speaker, reps.gender, {**reps.meta, "pca": pca_info})
