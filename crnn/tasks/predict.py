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
    model_ref: str | os.PathLike | None, files: Iterable[AudioSource], device: str | torch.device | None = None,
    same_speaker: bool = False,
) -> Iterator[dict]:
    """For each file, ``{"file", "label", "probabilities", "over_time"}`` or ``{"file", "error"}``.

    ``model_ref``: a checkpoint folder or shipped model name (None: the
    default model), loaded once on ``device`` (default: CUDA when there is
    one). A file that cannot be used yields its one-line error and the others
    go on; so does a file in which Praat finds no voiced frame ("no speech
    found": white noise, a hum, a constant). Only torch, the model and the
    audio loader are imported (not :mod:`crnn.analysis.evaluate`, which
    brings scikit-learn), so a cold ``crnn predict`` starts fast.

    ``same_speaker``: the files are clips of one speaker; each usable file
    also gets ``"speaker_adapted"`` (``{"label", "probabilities"}``) from the
    checkpoint's speaker-adapted head (:mod:`crnn.analysis.speaker_head`,
    fitted by ``crnn adapt``). CrnnError, before any result, when the
    checkpoint has no head or fewer clips are usable than the head needs.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    ref = model_ref if model_ref is not None else DEFAULT_MODEL
    model, card = load_checkpoint(ref, device)
    head = _speaker_head(ref, card) if same_speaker else None
    items, waves = [], []
    for source in files:
        name = str(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "upload")
        wave = None
        try:
            wave = load_audio(source)
            result = predict_file(model, card, wave)
            if not result["speech"]:
                shown = shown_path(source) if isinstance(source, (str, os.PathLike)) else name
                raise CrnnError(f"{shown}: {NO_SPEECH}")
            item = {"file": name, **result}
        except CrnnError as exc:
            item = {"file": name, "error": str(exc)}
        if head is None:
            yield item
            continue
        items.append(item)
        waves.append(wave if "error" not in item else None)
    if head is not None:
        yield from _adapted(model, head, items, waves)


def _speaker_head(model_ref, card: dict) -> tuple:
    """(head, record) of the checkpoint; CrnnError when it has none or the head cannot be used."""
    from crnn.analysis.speaker_head import load_head
    from crnn.core.checkpoint import resolve_model

    folder = resolve_model(model_ref)
    found = load_head(folder, card.get("weights_sha256"))
    if found is None:
        raise CrnnError(f"{folder.name} has no speaker-adapted head; fit one with "
                        f"crnn adapt --model {folder.name} --corpus <the corpus it was trained on>")
    head, record = found
    if record.get("clips_needed") is None:
        raise CrnnError(f"the speaker-adapted head of {folder.name} is not better than the network alone with up to "
                        "40 clips of a validation speaker, so it is not offered")
    if list(head.classes_) != list(card["labels"]):
        raise CrnnError(f"the speaker-adapted head of {folder.name} names other emotions than its model")
    return head, record


def _adapted(model, found: tuple, items: list[dict], waves: list) -> list[dict]:
    from crnn.analysis.speaker_head import speaker_probabilities

    head, record = found
    usable = [i for i, w in enumerate(waves) if w is not None]
    if len(usable) < record["clips_needed"]:
        errors = [item["error"] for item in items if "error" in item]
        raise CrnnError(f"speaker adaptation needs at least {record['clips_needed']} usable clips of the speaker "
                        f"(the fewest that help on the validation speakers); {len(usable)} given"
                        + (f" ({len(errors)} unusable, e.g. {errors[0]})" if errors else ""))
    probabilities = speaker_probabilities(model, head, [waves[i] for i in usable])  # (n, K)
    labels = [str(c) for c in head.classes_]
    for i, p in zip(usable, probabilities):
        items[i]["speaker_adapted"] = {"label": labels[int(p.argmax())],
                                       "probabilities": {k: float(q) for k, q in zip(labels, p)}}  # fmt: skip
    return items
