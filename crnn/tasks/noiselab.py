"""How far noise moves a checkpoint's view of a recording (:func:`crnn.analysis.noiselab.noise_shift`): ``crnn noiselab``."""

from __future__ import annotations

import os

from crnn.analysis.noiselab import check_snr, noise_shift
from crnn.core.audio import load_audio
from crnn.core.checkpoint import load_checkpoint
from crnn.core.data import trim_silence
from crnn.core.errors import CrnnError
from crnn.core.noise import COLOURS


def run_noiselab(
    model_ref: str | os.PathLike,
    file: str | os.PathLike,
    *,
    noise: str = "pink",
    snr_db: float = 5.0,
    seed: int = 0,
    figure: str | os.PathLike | None = None,
) -> dict:
    """:func:`noise_shift` for a checkpoint (name or folder) and a recording, without the noisy samples.

    ``noise`` is "white", "pink", "brown" or the path of a noise recording;
    ``snr_db`` the signal-to-noise ratio in dB. ``figure`` (.html/.png)
    writes :func:`crnn.plots.noise_figure`.
    """
    try:
        check_snr(snr_db)  # before the checkpoint and the audio are read
    except ValueError as exc:
        raise CrnnError(str(exc)) from None
    model, card = load_checkpoint(model_ref)
    kind = noise if noise in COLOURS else load_audio(noise)
    result = noise_shift(model, trim_silence(load_audio(file)), kind, snr_db, labels=card.get("labels"), seed=seed)
    del result["noisy_wave"]  # the CLI prints JSON; the samples would drown it
    result = {"model": card.get("model"), "file": str(file), **result}
    if figure is not None:
        from crnn.plots import noise_figure, save_figure

        result["figure"] = str(save_figure(noise_figure(result), figure))
    return result
