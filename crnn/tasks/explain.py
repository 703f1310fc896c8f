"""Attributions (:func:`crnn.analysis.explain.explain`) for a checkpoint and a recording: ``crnn explain``."""

from __future__ import annotations

import os

from crnn.analysis.explain import explain, target_index
from crnn.core.audio import load_audio
from crnn.core.checkpoint import load_checkpoint
from crnn.core.data import trim_silence
from crnn.core.errors import CrnnError


def run_explain(
    model_ref: str | os.PathLike,
    file: str | os.PathLike,
    *,
    target: int | str | None = None,
    method: str = "integrated_gradients",
    n_steps: int = 32,
    layers: bool = True,
    figure: str | os.PathLike | None = None,
) -> dict:
    """Load a checkpoint (name or folder) and a recording, explain, return {"model", "file", **Explanation.to_dict()}.

    ``target`` a label name, a synonym ("happy") or an index (default: the
    prediction); CrnnError for a class the model does not have. ``figure``
    (.html/.png) writes :func:`crnn.plots.attribution_heatmap`.
    """
    model, card = load_checkpoint(model_ref)
    labels = card.get("labels")
    try:
        index = target_index(target, labels)
    except ValueError as exc:
        raise CrnnError(str(exc)) from None
    expl = explain(model, trim_silence(load_audio(file)), target=index, labels=labels, method=method, n_steps=n_steps, layers=layers)
    result = {"model": card.get("model"), "file": str(file), **expl.to_dict()}
    if figure is not None:
        from crnn.plots import attribution_heatmap, save_figure

        result["figure"] = str(save_figure(attribution_heatmap(expl), figure))
    return result
