"""The papers' testable findings and the verdict logic of ``crnn science`` (pure: no models; the papers' own
figures are read from ``paper_claims.json`` beside this module).

Every claim in :data:`CLAIMS` quotes its figure from the paper and says
where it is (``source``); :mod:`crnn.tasks.science` measures each one and
:func:`verdict` turns the measured differences (each with a 95 % interval)
into "agrees", "disagrees" or "inconclusive" (an interval spans the
decision). Nothing measured is typed in here; only the papers' own figures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

AGREES, DISAGREES, INCONCLUSIVE = "agrees", "disagrees", "inconclusive"

# The papers' figures, each with its source (e.g. paper 001 Table 5, Fig. 2), are data: paper_claims.json.
CLAIMS: list[dict] = json.loads((Path(__file__).with_name("paper_claims.json")).read_text(encoding="utf-8"))

CELL_FEATURES = {"002-cells-rms-range": "rms_range", "002-cells-loudness": "loudness", "002-cells-f0": "f0_hz"}
CELL_THRESHOLD = 0.5  # |mean r| a cell must exceed for "tracks" (paper 002 reports 0.72-0.81)
PAGES = {"inside": "pages/2_inside.py", "cells": "pages/3_cells.py", "zoo": "pages/6_zoo.py",
         "why": "pages/4_why.py", "noise": "pages/5_noise.py"}


def claim(claim_id: str) -> dict:
    """The claim with this id; KeyError if unknown."""
    for c in CLAIMS:
        if c["id"] == claim_id:
            return dict(c)
    raise KeyError(claim_id)


def verdict(intervals: Sequence[dict | None], threshold: float = 0.0) -> str:
    """"agrees" when every interval lies above ``threshold``, "disagrees" when one lies below, else "inconclusive".

    Each interval is {"value", "low", "high"} of a difference the claim says is
    positive (e.g. UA(CNN) − UA(raw)); a missing one makes the result
    inconclusive unless another already disagrees.
    """
    if any(i and i.get("high") is not None and i["high"] < threshold for i in intervals):
        return DISAGREES
    if intervals and all(i and i.get("low") is not None and i["low"] > threshold for i in intervals):
        return AGREES
    return INCONCLUSIVE


def fmt(i: dict | None, scale: float = 1.0, digits: int = 1) -> str:
    """"12.3 [10.1, 14.0]" for an interval (× ``scale``), "–" when missing."""
    if not i or i.get("value") is None:
        return "–"
    v = f"{i['value'] * scale:.{digits}f}"
    if i.get("low") is None:
        return v
    return f"{v} [{i['low'] * scale:.{digits}f}, {i['high'] * scale:.{digits}f}]"


def row(claim_id: str, measured: str, control: str, verdict_: str, *, note: str = "", data: dict | None = None) -> dict:
    """One table row: the claim's paper, text, figure and source, what was measured, the control, the verdict."""
    c = claim(claim_id)
    return {**c, "page": PAGES[c["evidence"]], "measured": measured, "control": control, "verdict": verdict_,
            "note": note, "data": data or {}}


def not_testable(claim_id: str, needs: str) -> dict:
    """A row whose verdict says what is missing, e.g. "not yet testable: needs a plain-convolution baseline"."""
    return row(claim_id, "–", "–", f"not yet testable: needs {needs}")


def card_ua(card: dict, condition: str = "clean", n_boot: int = 200, seed: int = 0) -> tuple[float, np.ndarray] | None:
    """(test UA, (n_boot,) resampled UAs) from a card's test confusion matrix, or None if it has none.

    The cards keep confusion counts, not per-speaker results, so the
    resampling is over test utterances within each true class (a
    multinomial draw per confusion row): an interval over utterances, narrower
    than one over speakers would be.
    """
    metrics = ((card.get("metrics") or {}).get("test") or {}).get(condition)
    if not metrics or not metrics.get("confusion"):
        return None
    conf = np.asarray(metrics["confusion"], np.int64)  # (K, K), rows = true class
    rng = np.random.default_rng(seed)
    recalls = []
    for k, row in enumerate(conf):
        n = int(row.sum())
        if n == 0:
            continue
        recalls.append(rng.binomial(n, row[k] / n, size=n_boot) / n)
    return float(metrics["ua"]), np.mean(recalls, axis=0)


def best_cell(R, speakers, n_boot: int = 200, seed: int = 0) -> dict:
    """The cell of largest |mean r| over clips, with a speaker-bootstrap interval of its mean r.

    ``R`` (n_clips, n_cells) Pearson r per clip and cell (NaN where undefined);
    ``speakers`` (n_clips,). Returns {"cell", "r": {"value", "low", "high"},
    "abs_r": the same for |r| (the decision), "clip_r": [5th, 50th, 95th]
    percentile of the best cell's per-clip r}. The best cell is chosen on
    the same clips, for the trained model and its control alike.
    """
    from crnn.analysis.robust_probe import interval

    R = np.asarray(R, np.float64)
    mean = np.nanmean(R, axis=0)
    cell = int(np.nanargmax(np.abs(mean)))
    r = R[:, cell]
    spk, idx = np.unique(np.asarray(speakers), return_inverse=True)
    draws = np.random.default_rng(seed).integers(0, len(spk), size=(n_boot, len(spk)))
    W = np.stack([np.bincount(d, minlength=len(spk)) for d in draws]).astype(float)[:, idx]  # (B, n_clips)
    ok = np.isfinite(r)
    samples = (W[:, ok] @ r[ok]) / np.maximum(W[:, ok].sum(axis=1), 1)
    sign = 1.0 if mean[cell] >= 0 else -1.0
    return {"cell": cell, "r": interval(float(mean[cell]), samples), "abs_r": interval(sign * float(mean[cell]), sign * samples),
            "clip_r": [float(q) for q in np.nanpercentile(r, [5, 50, 95])]}
