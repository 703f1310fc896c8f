"""The one model registry: every architecture crnn can train, by name.

``build_model(name, n_classes, **overrides)`` builds a registered model with
its paper defaults (overrides replace keyword arguments; a checkpoint passes
the model's saved ``config``). ``list_models()`` describes them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from crnn.core.errors import CrnnError
from crnn.core.models.base import MODULE_NAMES, SERModel
from crnn.core.models.cldnn import CLDNN, LDNN
from crnn.core.models.cnn_lstm import CNNLSTM1D, CNNLSTM2D
from crnn.core.models.conv_rnn import ConvRNN
from crnn.core.models.patch_crnn import LSTMCRNN
from crnn.core.models.raw_crnn import RawCRNN, concordance_loss

PAPER_001 = "Huang & Narayanan, Characterizing types of convolution in deep convolutional recurrent neural networks for robust speech emotion recognition"
PAPER_002 = "Trigeorgis et al., Adieu features? End-to-end speech emotion recognition using a deep convolutional recurrent network (ICASSP 2016)"
PAPER_000 = "Keren & Schuller, Convolutional RNN: an enhanced model for extracting features from sequential data (2016)"
PAPER_003 = "LSTM based convolutional recurrent neural networks for LVCSR (HKUST Mandarin)"
PAPER_004 = "Zhao, Mao & Chen, Speech emotion recognition using deep 1D & 2D CNN LSTM networks (2019)"


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its class and the keyword arguments that define the variant."""

    name: str
    family: str  # "LDNN", "CLDNN", "raw-waveform CRNN", "convolutional RNN", "LSTM-CRNN", "CNN-LSTM"
    paper: str  # "000".."004", the file prefix in the papers folder
    input_kind: str  # "waveform", "logmel" or "mfcc"
    cls: type[SERModel]
    kwargs: dict[str, Any] = field(default_factory=dict)
    summary: str = ""


def _cldnn(conv: str, features: str) -> ModelSpec:
    label = "log-Mels" if features == "logmel" else "MFCCs"
    shapes = {"T": "1×5, 1×3", "S": "8×1, 4×1", "ST": "8×5, 4×3", "FST": "M×5, 1×3"}[conv]
    return ModelSpec(
        f"{conv.lower()}_cldnn_{features}", "CLDNN", "001", features, CLDNN,
        {"conv": conv, "features": features},
        f"{conv}-CLDNN ({label}): two {conv}-Conv layers ({shapes}, 32 maps) on 16-frame patches + BLSTM 128 + FC 128-32-32",
    )


_SPECS = [
    ModelSpec("ldnn_mfcc", "LDNN", "001", "mfcc", LDNN, {"features": "mfcc"},
              "LDNN (MFCCs): spliced 13×16 MFCC frames → BLSTM 128 → mean → FC 128-32-32"),
    ModelSpec("ldnn_logmel", "LDNN", "001", "logmel", LDNN, {"features": "logmel"},
              "LDNN (log-Mels): spliced 40×16 log-Mel frames → BLSTM 128 → mean → FC 128-32-32"),
    _cldnn("T", "mfcc"),
    _cldnn("FST", "mfcc"),
    _cldnn("T", "logmel"),
    _cldnn("S", "logmel"),
    _cldnn("ST", "logmel"),
    _cldnn("FST", "logmel"),
    ModelSpec("raw_crnn", "raw-waveform CRNN", "002", "waveform", RawCRNN, {},
              "40 × 5 ms filters → rectify → 40 × 500 ms filters → channel max-pool 20 → 2 × BLSTM 128"),
    ModelSpec("clstm", "convolutional RNN", "000", "logmel", ConvRNN, {},
              "2 CLSTM layers (windows of 5 frames, shift 2, last cell state, pool 2) → BLSTM 128 → FC 400"),
    ModelSpec("cblstm", "convolutional RNN", "000", "logmel", ConvRNN, {"bidirectional": True},
              "2 CBLSTM layers (bidirectional windows of 5 frames) → BLSTM 128 → FC 400"),
    ModelSpec("eclstm", "convolutional RNN", "000", "logmel", ConvRNN, {"extended": True},
              "2 Extended CLSTM layers (input weights per window position) → BLSTM 128 → FC 400"),
    ModelSpec("lstm_crnn", "LSTM-CRNN", "003", "logmel", LSTMCRNN, {},
              "LSTM 128 shared over 9 frequency patches (8 bands, shift 4) → pool 3 → LSTM 256 → FC 256-256"),
    ModelSpec("lstm_crnnp", "LSTM-CRNN", "003", "logmel", LSTMCRNN,
              {"conv_hidden": 256, "conv_proj": 128, "proj": 128},
              "CLSTMP: projected patch LSTM 256P128 → pool 3 → LSTM 256P128 → FC 256-256"),
    ModelSpec("cnn_lstm_1d", "CNN-LSTM", "004", "waveform", CNNLSTM1D, {},
              "four 1D LFLBs (conv 3, BN, ELU, pool 4; 64-64-128-128) on the waveform → LSTM 256"),
    ModelSpec("cnn_lstm_2d", "CNN-LSTM", "004", "logmel", CNNLSTM2D, {},
              "four 3×3 LFLBs (64-64-128-128) on log-Mels → LSTM 256"),
]

REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def build_model(name: str, n_classes: int, **overrides: Any) -> SERModel:
    """Build registered model ``name`` with ``n_classes`` outputs; ``overrides`` replace its defaults."""
    spec = REGISTRY.get(name)
    if spec is None:
        raise CrnnError(f"Unknown model {name!r}; the registered models are {', '.join(REGISTRY)}.")
    return spec.cls(n_classes, **{**spec.kwargs, **overrides})


def count_parameters(model: SERModel) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@lru_cache(maxsize=None)
def _n_parameters(name: str, n_classes: int) -> int:
    return count_parameters(build_model(name, n_classes))


def list_models(n_classes: int = 8) -> list[dict[str, Any]]:
    """One dict per registered model: name, family, paper, input, parameters (for ``n_classes``), summary."""
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
