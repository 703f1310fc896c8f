"""The papers' testable findings and the verdict logic of ``crnn science`` (pure: no models, no files).

Every claim in :data:`CLAIMS` quotes its figure from the paper and says
where it is (``source``); :mod:`crnn.tasks.science` measures each one and
:func:`verdict` turns the measured differences (each with a 95 % interval)
into "agrees", "disagrees" or "inconclusive" (an interval spans the
decision). Nothing measured is typed in here; only the papers' own figures.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

AGREES, DISAGREES, INCONCLUSIVE = "agrees", "disagrees", "inconclusive"

# Paper 001 Table 5 (FST-CLDNN, log-Mels) and Fig. 2 (T-CLDNN, log-Mels: CNN, BLSTM, MLP columns).
CLAIMS: list[dict] = [
    {"id": "001-svm-rises", "paper": "001", "evidence": "inside",
     "claim": "The linear-SVM probe's UA rises from the raw features to the CNN to the BLSTM",
     "paper_figure": "FST-CLDNN (log-Mels): raw 27.92 → CNN 54.17 → BLSTM 89.17 → MLP 94.58 % UA",
     "source": "paper 001, Sec. 7.4, Table 5"},
    {"id": "001-emotion-rho-falls", "paper": "001", "evidence": "inside",
     "claim": "The emotion inertia ratio ρ falls with depth (CNN → BLSTM → MLP)",
     "paper_figure": "T-CLDNN (log-Mels): ρ 2.506 → 1.148 → 0.263", "source": "paper 001, Fig. 2 (a)-(c)"},
    {"id": "001-speaker-rho-rises", "paper": "001", "evidence": "inside",
     "claim": "The speaker ρ rises with depth, most at the MLP",
     "paper_figure": "T-CLDNN (log-Mels): ρ 1.298 → 2.800 → 7.762", "source": "paper 001, Fig. 2 (d)-(f)"},
    {"id": "001-gender-rho-rises", "paper": "001", "evidence": "inside",
     "claim": "The gender ρ rises with depth, most at the MLP",
     "paper_figure": "T-CLDNN (log-Mels): ρ 2.988 → 5.292 → 17.292", "source": "paper 001, Fig. 2 (g)-(i)"},
    {"id": "001-fst-most-robust", "paper": "001", "evidence": "zoo",
     "claim": "Under noise the FST-Conv is the most robust convolution and the S-Conv the least",
     "paper_figure": "noisy UA: FST 86.21, ST 84.26, T 84.23, S 82.73 %",
     "source": "paper 001, Sec. 7.3 and Table 4 (log-Mels)"},
    {"id": "001-sconv-beats-dct", "paper": "001", "evidence": "zoo",
     "claim": "Learned spectral filters beat the fixed DCT: S-CLDNN (log-Mels) beats LDNN (MFCCs)",
     "paper_figure": "noisy 82.73 vs 75.51 %, clean 91.67 vs 88.33 % UA", "source": "paper 001, Sec. 7.3 and Table 4"},
    {"id": "001-cldnn-beats-ldnn-noisy", "paper": "001", "evidence": "zoo",
     "claim": "Every CLDNN beats the LDNN on the same features under noise",
     "paper_figure": "noisy UA: CLDNNs 82.73-86.21 vs LDNN (log-Mels) 78.87; 83.44-84.45 vs LDNN (MFCCs) 75.51 %",
     "source": "paper 001, Sec. 7.3 and Table 4"},
    {"id": "002-cells-rms-range", "paper": "002", "evidence": "cells",
     "claim": "An LSTM cell tracks the range of RMS energy", "paper_figure": "ρ = 0.81",
     "source": "paper 002, Sec. 4, Fig. 2 caption"},
    {"id": "002-cells-loudness", "paper": "002", "evidence": "cells",
     "claim": "An LSTM cell tracks loudness", "paper_figure": "ρ = 0.73", "source": "paper 002, Sec. 4, Fig. 2 caption"},
    {"id": "002-cells-f0", "paper": "002", "evidence": "cells",
     "claim": "An LSTM cell tracks the mean of the fundamental frequency", "paper_figure": "ρ = 0.72",
     "source": "paper 002, Sec. 4, Fig. 2 caption"},
    {"id": "000-crnn-beats-conv", "paper": "000", "evidence": "zoo",
     "claim": "A convolutional-recurrent layer (CLSTM) beats a standard convolutional layer with the same number of "
              "output features",
     "paper_figure": "5 labels: CLSTM 39.41, standard convolution 38.22, baseline 36.89 % UA",
     "source": "paper 000, Sec. IV, Table I"},
    {"id": "004-2d-beats-1d", "paper": "004", "evidence": "zoo",
     "claim": "The 2D CNN-LSTM on log-Mels beats the 1D CNN-LSTM on raw audio",
     "paper_figure": "speaker-independent average accuracy: EmoDB 95.89 vs 86.73 %; IEMOCAP 85.58 vs 79.72 %",
     "source": "paper 004, Sec. 4.3, Table 7(a) (rows b, speaker-independent)"},
]

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
