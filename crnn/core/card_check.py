"""What a checkpoint's card and weights must hold before a model is built from them.

Each check raises :class:`~crnn.core.errors.CheckpointError` with one sentence naming the folder:
labels that are not distinct short printable names, settings the model cannot be built with, weights
of other shapes than the card's model, NaN or infinite weights. :func:`crnn.core.checkpoint.load_checkpoint`
runs them in that order, building on PyTorch's meta device before any memory is taken. :func:`level_invariant`
reads from a card whether the model's answer depends on the recording level.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING

from crnn.core.errors import CheckpointError, first_line

if TYPE_CHECKING:
    from torch import nn


def card_model(card: dict, folder: Path) -> tuple[str, list[str], dict]:
    """(registry name, labels, model keyword arguments) from a card, or CheckpointError."""
    import crnn.core.models as models

    name = card.get("model")
    if name not in models.REGISTRY:
        raise CheckpointError(f"checkpoint {folder.name} names unknown model {name!r}")
    labels = card.get("labels")
    if not isinstance(labels, list) or not labels:
        raise CheckpointError(f"checkpoint {folder.name}: the card lists no labels")
    if not all(is_label(label) for label in labels) or len(set(labels)) != len(labels):
        # Labels are printed and shown as they are: a duplicate would merge two classes' names,
        # a control character would rewrite the terminal line.
        raise CheckpointError(f"checkpoint {folder.name}: the card's labels must be distinct short names")
    kwargs = card.get("model_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"checkpoint {folder.name}: the card's model_kwargs is not a mapping")
    return name, labels, kwargs


MAX_LABEL_CHARS = 64


def is_label(label: object) -> bool:
    return isinstance(label, str) and 0 < len(label) <= MAX_LABEL_CHARS and label.isprintable()


def build_from_card(name: str, n_classes: int, kwargs: dict, folder: Path) -> nn.Module:
    """The model as the card describes it: keys the card lacks take the class defaults, not a variant's."""
    import crnn.core.models as models

    try:
        if "from_card" in inspect.signature(models.build_model).parameters:
            return models.build_model(name, n_classes, from_card=True, **kwargs)
        # Until build_model has from_card (and for test doubles without it).
        spec = models.REGISTRY.get(name)
        if hasattr(spec, "cls"):
            return spec.cls(n_classes, **kwargs)
        return models.build_model(name, n_classes, **kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:  # RuntimeError: sizes too large even to count
        raise CheckpointError(f"checkpoint {folder.name}: cannot build {name} with the card's settings ({first_line(exc)})") from None


def check_shapes(model: nn.Module, tensors: dict, name: str, folder: Path) -> None:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    if expected.keys() != found.keys():
        missing = sorted(expected.keys() - found.keys())
        extra = sorted(found.keys() - expected.keys())
        what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise CheckpointError(f"checkpoint {folder.name}: the weights do not fit model {name} ({what})")
    for key, shape in expected.items():
        if found[key] != shape:
            raise CheckpointError(
                f"checkpoint {folder.name}: tensor {key} has shape {list(found[key])}, model {name} needs {list(shape)}"
            )


def check_finite(tensors: dict, folder: Path) -> None:
    """CheckpointError if a floating-point tensor holds NaN or infinity: such a model predicts "nan %"."""
    import torch

    for key, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"checkpoint {folder.name}: tensor {key} holds NaN or infinite values")


def level_invariant(card: dict) -> bool:
    """Whether the model's input does not depend on the recording level: a waveform scaled to unit RMS, or
    log-Mels with the relative floor (:data:`crnn.core.features.LOG_FLOORS`); older cards have the absolute floor."""
    normalisation = card.get("normalisation") or {}
    if (card.get("features") or {}).get("kind") == "waveform":
        return normalisation.get("norm", "utterance") != "none"
    return normalisation.get("floor") == "relative"
