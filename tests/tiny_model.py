"""Test helpers shared by the training, checkpoint and evaluation tests.

``TinyModel`` is a real :class:`crnn.core.models.base.SERModel` small enough to
train for a few steps in well under a second; :func:`register_tiny` makes it
buildable as registry name "tiny" for the duration of one test.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor, nn

import crnn.core.models
from crnn.core.features import FrontEnd
from crnn.core.models.base import SERModel


class TinyModel(SERModel):
    """log-Mel (B, T, 40) → Conv1d 8 → LSTM 8 → mean over time → linear; a few thousand weights."""

    def __init__(self, n_classes: int, hidden: int = 8, dropout: float = 0.1) -> None:
        super().__init__()
        self._save_config(locals())
        self.feature_kind = "logmel"
        self.frontend = FrontEnd("logmel")
        self.conv = nn.Conv1d(40, hidden, kernel_size=3, stride=2)
        self.rnn = nn.LSTM(hidden, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_classes)

    def module_outputs(self, wave: Tensor) -> dict[str, Tensor]:
        x = self.frontend(wave)  # (B, T, 40)
        c = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)  # (B, T', H)
        r, _ = self.rnn(c)  # (B, T', H)
        m = self.drop(r.mean(dim=1))  # (B, H)
        return {"input": x, "cnn": c, "rnn": r, "mlp": m, "logits": self.head(m)}


def register_tiny(monkeypatch) -> None:
    """Make ``crnn.core.models.build_model("tiny", n)`` build a TinyModel (and "tiny" a registry name)."""
    registry = dict(getattr(crnn.core.models, "REGISTRY", {}))
    registry["tiny"] = None
    original = getattr(crnn.core.models, "build_model", None)

    def build_model(name: str, n_classes: int, *, from_card: bool = False, **overrides):
        if name == "tiny":
            return TinyModel(n_classes, **overrides)
        return original(name, n_classes, from_card=from_card, **overrides)

    monkeypatch.setattr(crnn.core.models, "REGISTRY", registry, raising=False)
    monkeypatch.setattr(crnn.core.models, "build_model", build_model, raising=False)


RAVDESS_EMOTION_CODES = ("01", "03", "04", "05")  # neutral, happy, sad, angry


def ravdess_subset(ravdess: Path, dest: Path, actors=("01", "02", "03", "04"), codes=RAVDESS_EMOTION_CODES) -> Path:
    """A RAVDESS-layout folder of symlinks: one file per (actor, emotion), statement 1, normal intensity."""
    for actor in actors:
        folder = dest / f"Actor_{actor}"
        folder.mkdir(parents=True, exist_ok=True)
        for code in codes:
            name = f"03-01-{code}-01-01-01-{actor}.flac"
            os.symlink(ravdess / f"Actor_{actor}" / name, folder / name)
    return dest
