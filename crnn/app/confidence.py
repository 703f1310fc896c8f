"""Honest confidence: every probability the app shows is temperature-scaled, and worded with care.

A checkpoint's card carries ``card["calibration"]["temperature"]`` (fitted on
the validation speakers, :mod:`crnn.analysis.calibration`); older cards lack
it and keep T = 1. Dividing the logits by T is the same as raising the
probabilities to the power 1/T and renormalising, which is what
:func:`scale` does to results that only carry probabilities. The decision
(the top emotion) never changes, only how sure the model says it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

UNSURE_BELOW = 0.5  # top probability under this: "unsure"
CLOSE_MARGIN = 0.15  # top minus runner-up under this: "unsure", the two are close
SURE_FROM = 0.8  # top probability from this on (and not close): "fairly sure"
NEAR_CHANCE = 1.5  # a UA at most this many times chance is "near chance"


def temperature(card: Mapping | None) -> float:
    """The card's fitted temperature, or 1.0 (no scaling) when it has none or a nonsensical one."""
    value = ((card or {}).get("calibration") or {}).get("temperature")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 1.0
    return value if np.isfinite(value) and value > 0 else 1.0


def scale(probabilities: Any, t: float) -> Any:
    """Probabilities as softmax(logits / t): a dict label → p, a list or an array, returned in the same shape."""
    if t == 1.0:
        return probabilities
    if isinstance(probabilities, Mapping):
        keys = list(probabilities)
        values = scale(np.array([probabilities[k] for k in keys], np.float64), t)
        return {k: float(v) for k, v in zip(keys, values)}
    p = np.asarray(probabilities, np.float64)
    logp = np.log(np.clip(p, 1e-300, None)) / t
    q = np.exp(logp - logp.max(axis=-1, keepdims=True))
    q = q / q.sum(axis=-1, keepdims=True)
    if isinstance(probabilities, np.ndarray):
        return q.astype(probabilities.dtype)
    return [float(v) for v in q] if isinstance(probabilities, (list, tuple)) else q


def scale_prediction(result: dict, t: float) -> dict:
    """A :func:`crnn.analysis.predict.predict_file` result with every probability scaled."""
    out = {**result, "probabilities": scale(result["probabilities"], t)}
    if result.get("over_time"):
        out["over_time"] = [{**row, "probabilities": scale(row["probabilities"], t)} for row in result["over_time"]]
    return out


def scale_noise(result: dict, t: float) -> dict:
    """A noise-lab row with its clean and noisy predictions scaled."""
    out = dict(result)
    for key in ("prediction_clean", "prediction_noisy"):
        if key in result:
            out[key] = {**result[key], "probabilities": scale(result[key]["probabilities"], t)}
    return out


def scale_explanation(expl: Any, t: float) -> Any:
    """An :class:`~crnn.analysis.explain.Explanation` with its probabilities scaled (attributions are logit units)."""
    if t == 1.0 or not dataclasses.is_dataclass(expl):
        return expl
    return dataclasses.replace(expl, probabilities=scale(np.asarray(expl.probabilities), t))


def _top_two(probabilities: Mapping[str, float] | Sequence[float]) -> tuple[float, float]:
    values = sorted((probabilities.values() if isinstance(probabilities, Mapping) else probabilities), reverse=True)
    return float(values[0]), float(values[1]) if len(values) > 1 else 0.0


def is_unsure(probabilities: Mapping[str, float] | Sequence[float]) -> bool:
    top, second = _top_two(probabilities)
    return top < UNSURE_BELOW or top - second < CLOSE_MARGIN


def confidence_words(probabilities: Mapping[str, float]) -> str:
    """"fairly sure (86 %)", "leaning (62 %)" or "unsure (41 %, anger 35 % close behind)"; probabilities calibrated."""
    ranked = sorted(probabilities.items(), key=lambda kv: kv[1], reverse=True)
    top, second = ranked[0][1], ranked[1][1] if len(ranked) > 1 else 0.0
    if is_unsure(probabilities):
        close = f", {ranked[1][0]} {second:.0%} close behind" if len(ranked) > 1 and top - second < CLOSE_MARGIN else ""
        return f"unsure ({top:.0%}{close})"
    return f"fairly sure ({top:.0%})" if top >= SURE_FROM else f"leaning ({top:.0%})"


def chance_words(ua: float | None, n_labels: int) -> str | None:
    """A plain sentence when an unweighted accuracy is at most 1.5 × chance (1 / number of emotions), else None."""
    if ua is None or n_labels < 2:
        return None
    chance = 1.0 / n_labels
    if ua <= NEAR_CHANCE * chance:
        return (f"This model is close to guessing: {ua:.0%} unweighted accuracy where picking an emotion at random "
                f"would give {chance:.0%}. Train longer or on more data before trusting what it says.")
    return None
