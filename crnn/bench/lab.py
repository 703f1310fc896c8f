"""Speed of the causal lab, part of ``crnn bench``.

Goals (2-core CPU): cell ablation over 200 RAVDESS clips (ranking on 32 of
them, top 5 loudness cells and 5 random draws, decoded audio cached) ≤ 30 s;
a prosody what-if of a 4 s clip (PSOLA pitch shift, both predictions, the
best cells' response) ≤ 1.5 s; linear CKA between every module of two shipped
models over RAVDESS from their cached representations (the probe bundles) ≤ 5 s.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

COMPARED = ("fst_cldnn_logmel", "raw_crnn")


def _goal(value: float, goal: float) -> dict:
    return {"value": round(float(value), 3), "goal": goal, "unit": "s", "ok": bool(value <= goal)}


def timed_ablation(model: str, corpus: Path, clips: int = 200) -> dict:
    """Seconds for ``crnn ablate`` over ``clips`` clips, the checkpoint load included (goal ≤ 30 s)."""
    from crnn.core.corpora import read_corpus
    from crnn.core.data import load_waves
    from crnn.core.splits import spread_sample
    from crnn.tasks.ablate import run_ablate

    load_waves([u.path for u in spread_sample(read_corpus(corpus).utterances, clips)])  # decode once, outside the timing
    start = time.perf_counter()
    result = run_ablate(model, corpus, feature="loudness", top=5, n_clips=clips)
    out = _goal(time.perf_counter() - start, 30.0)
    out.update(clips=result["clips"], delta_ua_top=round(result["top"]["delta_ua"], 4),
               delta_ua_random=round(result["random"]["delta_ua_mean"], 4))
    return out


def timed_whatif(net: torch.nn.Module, clip: np.ndarray) -> dict:
    """Seconds for a +2 semitone what-if of a 4 s clip with the best cells' response (goal ≤ 1.5 s)."""
    from crnn.analysis.whatif import whatif

    labels = [str(k) for k in range(net.n_classes)]
    whatif(net, clip[:16000], labels, pitch_st=1.0)  # imports (Praat, librosa) outside the timing
    start = time.perf_counter()
    whatif(net, clip, labels, pitch_st=2.0)
    return _goal(time.perf_counter() - start, 1.5)


def timed_cka(models: tuple[str, str] = COMPARED) -> dict:
    """Seconds for linear CKA of every module pair of two shipped models from their probe bundles (goal ≤ 5 s)."""
    from crnn.tasks.compare import run_compare

    start = time.perf_counter()
    result = run_compare(*models)
    out = _goal(time.perf_counter() - start, 5.0)
    out.update(models=list(models), utterances=result["utterances"])
    return out


def add_steps(steps: dict, step: Callable[[dict, str, Callable[[], dict]], None], model: str, corpus: Path,
              net: torch.nn.Module, clip: np.ndarray) -> None:
    """Run the three lab timings through ``step`` (the bench's error-catching runner) into ``steps``."""
    step(steps, "ablation_200_clips", lambda: timed_ablation(model, corpus))
    step(steps, "whatif_4s", lambda: timed_whatif(net, clip))
    step(steps, "cka_two_models", timed_cka)
