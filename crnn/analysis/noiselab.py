"""Noise lab: how far does additive noise move each module's representation?

Paper 001 (Sec. 7.2-7.3) compares models by how their accuracy survives noise
at SNRs in [−10, 15] dB. Here one utterance is mixed with noise at a chosen
SNR (:func:`crnn.core.noise.mix_at_snr`), and each module's mean-over-time
representation (the same vectors as the probes, :func:`crnn.analysis.representations.utterance_vectors`)
for the clean and noisy versions is compared by cosine distance, together
with the prediction before and after.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from crnn.core.noise import COLOURS, coloured_noise, mix_at_snr
from crnn.core.noise import snr_db as measured_snr_db
from crnn.analysis.representations import MODULES, utterance_vectors


def cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 − cos(a, b) of two vectors (0: same direction, 2: opposite); 0 if both are zero."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    if norm == 0.0:
        return 0.0 if not a.any() and not b.any() else 1.0
    return float(1.0 - a @ b / norm)


def _prediction(logits: torch.Tensor, labels: Sequence[str] | None) -> dict:
    probs = torch.softmax(logits, -1).cpu().numpy()
    k = int(probs.argmax())
    return {"index": k, "label": list(labels)[k] if labels else None, "probabilities": [float(p) for p in probs]}


SNR_LIMITS_DB = (-30.0, 60.0)  # speech 1000× below the noise's power, to noise 10⁶× below: beyond, float32 mixing overflows


def check_snr(snr_db: float) -> None:
    """ValueError, in one sentence, for an SNR that is not a finite number of dB within :data:`SNR_LIMITS_DB`."""
    lo, hi = SNR_LIMITS_DB
    if not (np.isfinite(snr_db) and lo <= snr_db <= hi):
        raise ValueError(f"SNR {snr_db:g} dB is out of range ({lo:g} to {hi:g} dB)")


@torch.no_grad()
def noise_shift(
    model: nn.Module,
    wave: np.ndarray,
    noise_kind: str | np.ndarray = "white",
    snr_db: float = 10.0,
    *,
    labels: Sequence[str] | None = None,
    seed: int = 0,
) -> dict:
    """Mix ``wave`` (N,) with noise at ``snr_db`` dB and compare the model's view of both.

    ``noise_kind`` is "white", "pink", "brown" or a noise recording (array,
    16 kHz; looped or cut to length). Returns {"prediction_clean",
    "prediction_noisy" ({"index", "label", "probabilities"}),
    "cosine_distance": {module: d}, "snr_db": target, "snr_db_measured",
    "noise_kind", "noisy_wave"}: ``noisy_wave`` (N,) float32 is the very
    mixture that was scored, for listening. The mixture is seeded by ``seed``.
    ValueError for an SNR outside :data:`SNR_LIMITS_DB`.
    """
    check_snr(snr_db)
    rng = np.random.default_rng(seed)
    clean = np.asarray(wave, np.float32)
    if isinstance(noise_kind, str):
        if noise_kind not in COLOURS:
            raise ValueError(f"unknown noise kind {noise_kind!r}; use one of {COLOURS} or give a recording")
        noise = coloured_noise(noise_kind, len(clean), rng)
    else:
        noise = np.asarray(noise_kind, np.float32)
    noisy = mix_at_snr(clean, noise, snr_db, rng)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        outs = utterance_vectors(model, torch.from_numpy(np.stack([clean, noisy])).to(device))  # batch of 2
    finally:
        model.train(was_training)
    vectors = {m: v.float().cpu().numpy() for m, v in outs.items() if m in MODULES}
    return {
        "noise_kind": noise_kind if isinstance(noise_kind, str) else "recording",
        "snr_db": float(snr_db),
        "snr_db_measured": float(measured_snr_db(clean, noisy)),
        "prediction_clean": _prediction(outs["logits"][0], labels),
        "prediction_noisy": _prediction(outs["logits"][1], labels),
        "cosine_distance": {m: cosine_distance(v[0], v[1]) for m, v in vectors.items()},
        "noisy_wave": noisy.astype(np.float32, copy=False),
    }


def noise_sweep(
    model: nn.Module,
    wave: np.ndarray,
    noise_kind: str | np.ndarray = "white",
    snrs_db: Sequence[float] = (-10.0, -5.0, 0.0, 5.0, 10.0, 15.0),
    *,
    labels: Sequence[str] | None = None,
    seed: int = 0,
) -> list[dict]:
    """:func:`noise_shift` at each SNR (same seed, so the same noise excerpt scaled), in order.

    The rows leave out ``noisy_wave``: a sweep is read as curves, and six
    copies of a long clip would only weigh on caches.
    """
    rows = [noise_shift(model, wave, noise_kind, snr, labels=labels, seed=seed) for snr in snrs_db]
    for row in rows:
        del row["noisy_wave"]
    return rows
