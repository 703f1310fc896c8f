"""Honest confidence: temperature scaling (Guo et al., 2017) and the expected calibration error.

A network trained with cross-entropy on a thousand utterances is usually
over-confident. One temperature T > 0, fitted on the validation speakers'
logits by minimising the negative log-likelihood, divides every logit; it
changes no decision, only how sure the model says it is. The expected
calibration error (ECE) compares confidence with accuracy in 15 equal-width
confidence bins.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

N_BINS = 15


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities (n, K) of logits (n, K) divided by ``temperature``."""
    z = np.asarray(logits, np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def expected_calibration_error(probabilities: np.ndarray, targets: Sequence[int], n_bins: int = N_BINS) -> float:
    """ECE in [0, 1]: the mean |accuracy − confidence| over equal-width confidence bins, weighted by bin size."""
    probabilities = np.asarray(probabilities)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(targets)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(confidence, edges[1:-1]), 0, n_bins - 1)
    error = 0.0
    for b in range(n_bins):
        inside = bins == b
        if inside.any():
            error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def fit_temperature(logits: np.ndarray, targets: Sequence[int]) -> float:
    """The temperature T (0.05-20) that minimises the NLL of ``targets`` under softmax(logits / T)."""
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(targets), dtype=torch.long)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(np.clip(log_t.exp().item(), 0.05, 20.0))


def reliability(probabilities: np.ndarray, targets: Sequence[int], n_bins: int = N_BINS) -> list[dict]:
    """Per non-empty confidence bin: its centre, mean confidence, accuracy and count (a reliability diagram)."""
    probabilities = np.asarray(probabilities)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(targets)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(confidence, edges[1:-1]), 0, n_bins - 1)
    return [
        {"bin": float((edges[b] + edges[b + 1]) / 2), "confidence": float(confidence[bins == b].mean()),
         "accuracy": float(correct[bins == b].mean()), "n": int((bins == b).sum())}
        for b in range(n_bins) if (bins == b).any()
    ]  # fmt: skip


def calibration_record(validation: tuple[np.ndarray, Sequence[int]], test: tuple[np.ndarray, Sequence[int]]) -> dict:
    """A card's "calibration": the temperature fitted on the validation speakers' (logits, targets), the ECE
    (15 bins) before and after on validation and test, and the test reliability diagram."""
    result: dict = {"fitted_on": "validation speakers, clean", "bins": N_BINS}
    temperature = fit_temperature(*validation)
    result["temperature"] = round(temperature, 4)
    for name, (logits, targets) in (("validation", validation), ("test", test)):
        result[f"ece_{name}_before"] = round(expected_calibration_error(softmax(logits), targets), 4)
        result[f"ece_{name}_after"] = round(expected_calibration_error(softmax(logits, temperature), targets), 4)
    result["reliability_test"] = reliability(softmax(test[0], temperature), test[1])
    return result
