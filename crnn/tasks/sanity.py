"""Attribution sanity check and attribution per module over time, for a checkpoint and a recording.

:func:`run_sanity` runs the cascading model-parameter randomisation test of
Adebayo et al. (2018) (:func:`crnn.analysis.sanity.cascading_randomisation`)
on one recording; :func:`module_time` explains it with per-module
conductance and returns where in time each module's attribution lies
(:func:`crnn.analysis.sanity.module_time_profile`), the informative
replacement for per-module totals that completeness makes equal.
"""

from __future__ import annotations

import os

import numpy as np

from crnn.analysis.explain import explain
from crnn.analysis.sanity import cascading_randomisation, module_time_profile
from crnn.core.audio import load_audio
from crnn.core.checkpoint import load_checkpoint


def _wave(file_or_wave) -> np.ndarray:
    return np.asarray(file_or_wave, np.float32) if isinstance(file_or_wave, np.ndarray) else load_audio(file_or_wave)


def run_sanity(model_ref: str | os.PathLike, file_or_wave, *, method: str = "integrated_gradients", n_steps: int = 16,
               figure: str | os.PathLike | None = None) -> dict:
    """The randomisation test for one recording (path or (N,) wave at 16 kHz): {"model", "steps", "verdict", ...}.

    "verdict" is "the map changes under randomisation" or names the steps
    where it barely changes (Spearman ρ_s above the threshold). ``figure``
    (.html/.png) draws :func:`crnn.plots_science.sanity_figure`.
    """
    model, card = load_checkpoint(model_ref)
    result = cascading_randomisation(model, _wave(file_or_wave), method=method, n_steps=n_steps)
    result["model"] = card.get("model")
    if result["target_label"] is None and card.get("labels"):
        result["target_label"] = card["labels"][result["target"]]
    barely = [s["stage"] for s in result["steps"] if s["barely_changes"]]
    result["verdict"] = ("the map changes under randomisation" if not barely else
                         "the map barely changes when these stages are randomised: " + ", ".join(barely)
                         + " (it may reflect the input more than what the model learned)")
    if figure is not None:
        from crnn.plots import save_figure
        from crnn.plots_science import sanity_figure

        result["figure"] = str(save_figure(sanity_figure(result), figure))
    return result


def module_time(model_ref: str | os.PathLike, file_or_wave, *, target=None, n_steps: int = 32, n_bins: int = 40) -> dict:
    """Attribution per module over time for one recording: :func:`module_time_profile` plus "target_label".

    Draw it with :func:`crnn.plots_science.module_time_figure`.
    """
    model, card = load_checkpoint(model_ref)
    labels = card.get("labels")
    expl = explain(model, _wave(file_or_wave), target=target, labels=labels, n_steps=n_steps, layers=True)
    profile = module_time_profile(expl.modules, n_bins=n_bins)
    profile["target_label"] = expl.target_label
    return profile
