"""Label recordings with a checkpoint (:func:`crnn.analysis.predict.predict_file`): ``crnn predict``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import torch

from crnn.analysis.predict import predict_file
from crnn.core.audio import AudioSource, load_audio
from crnn.core.checkpoint import load_checkpoint
from crnn.core.defaults import DEFAULT_MODEL
from crnn.core.errors import CrnnError
from crnn.core.fileio import shown_path

NO_SPEECH = "no speech found (no voiced frame), so no emotion is given"


def predict_files(
    model_ref: str | os.PathLike | None, files: Iterable[AudioSource], device: str | torch.device | None = None
) -> Iterator[dict]:
    """For each file, ``{"file", "label", "probabilities", "over_time"}`` or ``{"file", "error"}``.

    ``model_ref``: a checkpoint folder or shipped model name (None: the
    default model), loaded once on ``device`` (default: CUDA when there is
    one). A file that cannot be used yields its one-line error and the others
    go on; so does a file in which Praat finds no voiced frame ("no speech
    found": white noise, a hum, a constant). Only torch, the model and the
    audio loader are imported (not :mod:`crnn.analysis.evaluate`, which
    brings scikit-learn), so a cold ``crnn predict`` starts fast.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    model, card = load_checkpoint(model_ref if model_ref is not None else DEFAULT_MODEL, device)
    for source in files:
        name = str(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "upload")
        try:
            result = predict_file(model, card, load_audio(source))
            if not result["speech"]:
                shown = shown_path(source) if isinstance(source, (str, os.PathLike)) else name
                raise CrnnError(f"{shown}: {NO_SPEECH}")
            yield {"file": name, **result}
        except CrnnError as exc:
            yield {"file": name, "error": str(exc)}
