"""Reference statistics for feature normalisation: from the training set, or per speaker.

A model's front-end (:class:`crnn.core.features.FrontEnd`) standardises each
band with a reference mean and std after removing the utterance's gain
("global": the training set's; "speaker": the speaker's own utterances').
These functions compute those references from raw (un-normalised) features.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from crnn.core.features import FrontEnd, reference_stats


@torch.no_grad()
def raw_features(frontend: FrontEnd, waves: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Un-normalised features (T, F) of each (N,) 16 kHz wave."""
    return [frontend.raw(torch.from_numpy(np.asarray(w, np.float32))[None])[0].cpu().numpy() for w in waves]


def fit_global(frontend: FrontEnd, waves: Sequence[np.ndarray]) -> None:
    """Set ``frontend`` to "global" normalisation with the reference of ``waves`` (the training set)."""
    mean, std = reference_stats(raw_features(frontend, waves))
    frontend.set_norm("global", mean, std)


def speaker_references(
    frontend: FrontEnd, waves: Sequence[np.ndarray], speakers: Sequence[str]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per speaker, the reference (mean, std), each (F,), of that speaker's waves among ``waves``."""
    features = raw_features(frontend, waves)
    return {
        speaker: reference_stats([f for f, s in zip(features, speakers) if s == speaker])
        for speaker in sorted(set(speakers))
    }


def stacked_references(
    references: dict[str, tuple[np.ndarray, np.ndarray]], speakers: Sequence[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std), each (B, F), for a batch whose utterances are by ``speakers``."""
    mean = np.stack([references[s][0] for s in speakers])
    std = np.stack([references[s][1] for s in speakers])
    return torch.from_numpy(mean), torch.from_numpy(std)
