"""Label recordings with a checkpoint (:func:`crnn.analysis.predict.predict_file`): ``crnn predict``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import torch

from crnn.analysis.evaluate import default_device
from crnn.analysis.predict import predict_file
from crnn.core.audio import AudioSource, load_audio
from crnn.core.checkpoint import load_checkpoint
from crnn.core.defaults import DEFAULT_MODEL
from crnn.core.errors import CrnnError


def predict_files(
    model_ref: str | os.PathLike | None, files: Iterable[AudioSource], device: str | torch.device | None = None
) -> Iterator[dict]:
    """For each file, ``{"file", "label", "probabilities", "over_time"}`` or ``{"file", "error"}``.

    ``model_ref``: a checkpoint folder or shipped model name (None: the
    default model), loaded once on ``device`` (default: CUDA when there is
    one). A file that cannot be used yields its one-line error and the others
    go on.
    """
    device = torch.device(device) if device is not None else default_device()
    model, card = load_checkpoint(model_ref if model_ref is not None else DEFAULT_MODEL, device)
    for source in files:
        name = str(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "upload")
        try:
            yield {"file": name, **predict_file(model, card, load_audio(source))}
        except CrnnError as exc:
            yield {"file": name, "error": str(exc)}
