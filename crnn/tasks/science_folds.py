"""Paper claims that compare two models, measured on the five CV folds: per-actor differences over 24 actors.

The card rows of :mod:`crnn.tasks.science` compare two seed-0 checkpoints on
five test actors, with intervals over their test utterances. Where both
models have five fold checkpoints (:func:`crnn.tasks.cv.cv_rows`), every
actor is a test actor once, so the difference can be taken per actor and
its interval resampled over actors, the unit that generalises.
"""

from __future__ import annotations

import numpy as np

from crnn.analysis.robust_probe import N_BOOT, interval
from crnn.analysis.science import fmt, not_testable, row, verdict
from crnn.tasks.cv import cv_rows

ROBUSTNESS_PAIRS = [("fst", "st"), ("fst", "t"), ("fst", "s"), ("st", "s"), ("t", "s")]  # paper 001 Table 4's order


def actor_difference(a: dict[str, float], b: dict[str, float], n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """Mean over common actors of UA(a) − UA(b), with a 95 % bootstrap interval over actors."""
    common = sorted(set(a) & set(b))
    diff = np.array([a[s] - b[s] for s in common])
    rng = np.random.default_rng(seed)
    samples = diff[rng.integers(0, len(diff), size=(n_boot, len(diff)))].mean(axis=1)
    return interval(float(diff.mean()), samples)


def fold_robustness_row(runs: dict[str, dict] | None = None) -> dict:
    """"FST most robust, S least" on the folds of the noise-trained log-Mel CLDNNs (``<x>_cldnn_logmel_noisy``).

    ``runs``: :func:`crnn.tasks.cv.cv_rows` network rows by name (default: the shipped folds). Pairs whose
    folds are missing are named; they leave the verdict inconclusive unless another pair disagrees.
    """
    if runs is None:
        runs = {r["name"]: r for r in cv_rows() if r["kind"] == "network"}
    names = {c: f"{c}_cldnn_logmel_noisy" for c in ("fst", "st", "t", "s")}
    gaps, parts, missing = [], [], []
    for a, b in ROBUSTNESS_PAIRS:
        ra, rb = runs.get(names[a]), runs.get(names[b])
        if ra is None or rb is None:
            gaps.append(None)
            missing.append(f"{a.upper()}-{b.upper()}")
            continue
        gap = actor_difference(ra["noisy"]["per_speaker_ua"], rb["noisy"]["per_speaker_ua"])
        gaps.append(gap)
        parts.append(f"{a.upper()} − {b.upper()} {fmt(gap, 100)}")
    if not parts:
        return not_testable("001-fst-most-robust", "five CV folds of two noise-trained log-Mel CLDNNs "
                                                   "(crnn train --split cv --fold K --noisy)")
    means = ", ".join(f"{c.upper()} {100 * runs[n]['noisy']['mean']:.1f} ± {100 * runs[n]['noisy']['sd']:.1f}"
                      for c, n in names.items() if n in runs)
    measured = f"RAVDESS, five CV folds, noisy (noise-trained): {means} %; per-actor differences (points): " + "; ".join(parts)
    note = "95 % intervals over the 24 actors (bootstrap)" + (
        f"; pairs without five folds yet: {', '.join(missing)}" if missing else "")
    return row("001-fst-most-robust", measured, "–", verdict(gaps), note=note, data={"differences": gaps})
