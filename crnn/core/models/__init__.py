"""The one model registry: every architecture crnn can train, by name.

``build_model(name, n_classes, **overrides)`` builds a registered model as
a new training gets it: the class with the variant's keyword arguments
(``ModelSpec.kwargs``), overrides replacing them. A checkpoint is rebuilt
with ``build_model(name, n_classes, from_card=True, **card["model_kwargs"])``:
the class defaults fill what the card lacks, so a constructor argument added
later (whose class default is the old behaviour) leaves old checkpoints as
they were, while the registry switches the new behaviour on for new
trainings. ``list_models()`` describes them all.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from crnn.core.errors import CrnnError, first_line
from crnn.core.models.base import MODULE_NAMES, SERModel
from crnn.core.models.cldnn import CLDNN, LDNN
from crnn.core.models.cnn_lstm import CNNLSTM1D, CNNLSTM2D
from crnn.core.models.conv_rnn import ConvRNN
from crnn.core.models.patch_crnn import LSTMCRNN
from crnn.core.models.raw_crnn import RawCRNN, concordance_loss


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its class, the keyword arguments that define the variant, and how to train it.

    Fields the trainer reads:
      norm: the feature normalisation closest to the paper's, for
        :meth:`crnn.core.features.FrontEnd.set_norm` ("utterance", "global"
        or "speaker"; waveform models scale each wave to unit RMS whatever
        it says).
      recipe: the paper's own training settings, keyed by
        :class:`crnn.analysis.recipes.Recipe` field names (e.g. ``lr``,
        ``batch_size``, ``optimizer``, ``patience``); empty when the paper
        gives none. Settings a Recipe cannot express are listed in
        :attr:`deviations`.
    ``deviations`` (a property): the departures from the paper of the
    registered variant, one sentence each, for the checkpoint card.
    """

    name: str
    family: str  # "LDNN", "CLDNN", "raw-waveform CRNN", "convolutional RNN", "LSTM-CRNN", "CNN-LSTM"
    paper: str  # "000".."004", the file prefix in the papers folder
    input_kind: str  # "waveform", "logmel" or "mfcc"
    cls: type[SERModel]
    kwargs: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    norm: str = "global"
    recipe: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> dict[str, Any]:
        """Every constructor argument of the registered variant: the class defaults updated by ``kwargs``."""
        params = inspect.signature(self.cls.__init__).parameters
        defaults = {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}
        return {**defaults, **self.kwargs}

    @property
    def deviations(self) -> tuple[str, ...]:
        return tuple(self.cls.deviations_for(self.config))


PAPER_001_RECIPE = {"optimizer": "adam", "lr": 1e-3, "batch_size": 10, "patience": 3}  # Sec. 6.2
PAPER_000_RECIPE = {"optimizer": "adam", "lr": 2e-3, "patience": 12}  # Sec. IV-A (Adam betas 0.9, 0.999)
PAPER_002_RECIPE = {"optimizer": "adam", "lr": 2e-3, "batch_size": 50}  # Sec. 3


def _cldnn(conv: str, features: str) -> ModelSpec:
    label = "log-Mels" if features == "logmel" else "MFCCs"
    shapes = {"T": "1×5, 1×3", "S": "8×1, 4×1", "ST": "8×5, 4×3", "FST": "M×5, 1×3"}[conv]
    return ModelSpec(
        f"{conv.lower()}_cldnn_{features}", "CLDNN", "001", features, CLDNN,
        {"conv": conv, "features": features},
        f"{conv}-CLDNN ({label}): two {conv}-Conv layers ({shapes}, 32 maps) on 16-frame patches + BLSTM 128 + FC 128-32-32",
        norm="global", recipe=PAPER_001_RECIPE,
    )


_SPECS = [
    ModelSpec("ldnn_mfcc", "LDNN", "001", "mfcc", LDNN, {"features": "mfcc"},
              "LDNN (MFCCs): spliced 13×16 MFCC frames → BLSTM 128 → mean → FC 128-32-32",
              norm="global", recipe=PAPER_001_RECIPE),
    ModelSpec("ldnn_logmel", "LDNN", "001", "logmel", LDNN, {"features": "logmel"},
              "LDNN (log-Mels): spliced 40×16 log-Mel frames → BLSTM 128 → mean → FC 128-32-32",
              norm="global", recipe=PAPER_001_RECIPE),
    _cldnn("T", "mfcc"),
    _cldnn("FST", "mfcc"),
    _cldnn("T", "logmel"),
    _cldnn("S", "logmel"),
    _cldnn("ST", "logmel"),
    _cldnn("FST", "logmel"),
    ModelSpec("raw_crnn", "raw-waveform CRNN", "002", "waveform", RawCRNN,
              {"input_norm": True, "dropout": 0.5, "conv_dropout": 0.5},
              "40 × 5 ms filters → rectify → 40 × 500 ms filters → channel max-pool 20 → normalised → 2 × BLSTM 128",
              norm="utterance", recipe=PAPER_002_RECIPE),
    ModelSpec("clstm", "convolutional RNN", "000", "logmel", ConvRNN, {},
              "2 CLSTM layers (windows of 5 frames, shift 2, last cell state, pool 2) → BLSTM 128 → FC 400",
              norm="speaker", recipe=PAPER_000_RECIPE),
    ModelSpec("cblstm", "convolutional RNN", "000", "logmel", ConvRNN,
              {"bidirectional": True, "combine": "linear", "feature": "max", "conv_layers": 1},
              "1 CBLSTM layer (windows of 5 frames, cell states of both directions combined linearly, max) → BLSTM 128 → FC 400",
              norm="speaker", recipe=PAPER_000_RECIPE),
    ModelSpec("eclstm", "convolutional RNN", "000", "logmel", ConvRNN, {"extended": True},
              "2 Extended CLSTM layers (input weights per window position) → BLSTM 128 → FC 400",
              norm="speaker", recipe=PAPER_000_RECIPE),
    ModelSpec("plain_conv", "convolutional baseline", "000", "logmel", ConvRNN, {"layer_kind": "plain"},
              "paper 000's baseline: 2 standard convolutional layers (windows of 5 frames, shift 2, 100 ReLU "
              "features, pool 2) → BLSTM 128 → FC 400", norm="speaker", recipe=PAPER_000_RECIPE),
    ModelSpec("lstm_crnn", "LSTM-CRNN", "003", "logmel", LSTMCRNN, {},
              "LSTM 128 shared over 9 frequency patches (8 bands, shift 4) → pool 3 → LSTM 256 → FC 256-256",
              norm="global"),
    ModelSpec("lstm_crnnp", "LSTM-CRNN", "003", "logmel", LSTMCRNN,
              {"conv_hidden": 256, "conv_proj": 128, "proj": 128},
              "CLSTMP: projected patch LSTM 256P128 → pool 3 → LSTM 256P128 → FC 256-256",
              norm="global"),
    ModelSpec("cnn_lstm_1d", "CNN-LSTM", "004", "waveform", CNNLSTM1D, {},
              "four 1D LFLBs (conv 3, BN, ELU, pool 4; 64-64-128-128) on the waveform → LSTM 256",
              norm="utterance"),
    ModelSpec("cnn_lstm_2d", "CNN-LSTM", "004", "logmel", CNNLSTM2D, {},
              "four 3×3 LFLBs (64-64-128-128) on log-Mels → LSTM 256",
              norm="global"),
]

REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def build_model(name: str, n_classes: int, *, from_card: bool = False, **overrides: Any) -> SERModel:
    """Build registered model ``name`` with ``n_classes`` outputs.

    New model (default): the variant's ``kwargs`` with ``overrides`` on top.
    ``from_card=True`` (a checkpoint's ``model_kwargs`` as ``overrides``):
    the class defaults for every argument the card lacks, ignoring the
    variant's ``kwargs``, so an old card rebuilds the model it was trained as.
    """
    spec = REGISTRY.get(name)
    if spec is None:
        raise CrnnError(f"Unknown model {name!r}; the registered models are {', '.join(REGISTRY)}.")
    if from_card:
        return spec.cls(n_classes, **overrides)
    return spec.cls(n_classes, **{**spec.kwargs, **overrides})


def model_defaults(name: str) -> dict[str, Any]:
    """The constructor arguments registered model ``name`` is built with when nothing is set (``n_classes`` aside);
    empty for a name that is not registered."""
    spec = REGISTRY.get(name)
    if spec is None:
        return {}
    defaults = {k: v.default for k, v in inspect.signature(spec.cls).parameters.items() if k != "n_classes"}
    return {**defaults, **spec.kwargs}


def set_arguments(card: dict) -> dict[str, Any]:
    """The model arguments a checkpoint's card records away from its registered model's (``--model-set``)."""
    if card.get("model") not in REGISTRY:
        return {}
    defaults = model_defaults(card["model"])
    listed = lambda v: list(v) if isinstance(v, (tuple, list)) else v  # noqa: E731  (JSON keeps tuples as lists)
    kwargs = card.get("model_kwargs") or {}
    return {k: v for k, v in kwargs.items() if k in defaults and listed(v) != listed(defaults[k])}


def model_settings(name: str, items: list[str] | None) -> dict[str, Any]:
    """``["conv_norm=1", ...]`` (``crnn train --model-set``) as constructor arguments of registered model ``name``.

    Each value takes the type of the argument's default (bool: 1/0, true/false); CrnnError for an argument
    the model does not have, one that defines the registered variant (``conv`` of ``st_cldnn_logmel``), or a
    value of the wrong type, so nothing is trained with a misspelt setting.
    """
    spec = REGISTRY.get(name)
    if spec is None:
        raise CrnnError(f"Unknown model {name!r}; the registered models are {', '.join(REGISTRY)}.")
    params = {k: v for k, v in model_defaults(name).items() if k not in spec.kwargs}  # those define the variant
    settings = {}
    for item in items or []:
        key, _, text = item.partition("=")
        if key not in params or isinstance(params[key], (tuple, list, dict)) or params[key] is None:
            settable = ", ".join(k for k, v in params.items() if isinstance(v, (bool, int, float, str)))
            raise CrnnError(f"{name} has no setting {key!r} for --model-set; it has {settable}")
        kind = type(params[key])
        try:
            if kind is bool:
                settings[key] = {"1": True, "true": True, "0": False, "false": False}[text.lower()]
            else:
                settings[key] = kind(text)
        except (KeyError, ValueError):
            raise CrnnError(f"model setting {key} cannot be {text!r}") from None
        if kind is float and not math.isfinite(settings[key]):
            raise CrnnError(f"model setting {key} cannot be {text!r}")
    _check_buildable(name, settings)
    return settings


MAX_PARAMETERS = 50_000_000  # the largest registered model has 3.3 M; far beyond, one CPU trains nothing in a day


def _check_buildable(name: str, settings: dict[str, Any]) -> None:
    """CrnnError unless ``settings`` build model ``name`` with at most :data:`MAX_PARAMETERS` parameters.

    Built on PyTorch's meta device: the constructor's own checks run (a dropout of 2, a hidden size of 0) and the
    parameters are counted, with no memory taken, so a setting that would need gigabytes is refused, not allocated.
    """
    import torch

    try:
        with torch.device("meta"):
            n = count_parameters(build_model(name, 8, **settings))
    except (ValueError, TypeError, RuntimeError) as exc:
        raise CrnnError(f"{name} cannot be built with those --model-set settings: {first_line(exc)}") from None
    if n > MAX_PARAMETERS:
        raise CrnnError(f"{name} with those --model-set settings has {n:,} parameters, more than {MAX_PARAMETERS:,}")


def count_parameters(model: SERModel) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@lru_cache(maxsize=None)
def _n_parameters(name: str, n_classes: int) -> int:
    return count_parameters(build_model(name, n_classes))


def list_models(n_classes: int = 8) -> list[dict[str, Any]]:
    """One dict per registered model: name, family, paper, input, parameters (for ``n_classes``), summary.

    (``REGISTRY[name].norm``, ``.recipe`` and ``.deviations`` hold the rest.)
    """
    return [
        {
            "name": spec.name,
            "family": spec.family,
            "paper": spec.paper,
            "input": spec.input_kind,
            "parameters": _n_parameters(spec.name, n_classes),
            "summary": spec.summary,
        }
        for spec in REGISTRY.values()
    ]


__all__ = [
    "MODULE_NAMES",
    "REGISTRY",
    "ModelSpec",
    "SERModel",
    "build_model",
    "concordance_loss",
    "count_parameters",
    "list_models",
]
