"""Occlusion: which Mel bands × time segments the prediction needs, by blanking them one patch at a time.

The third attribution method beside Integrated Gradients and Saliency
(:mod:`crnn.analysis.explain`), on the same features and the same baseline:
the normalised features (T, F) are cut into patches of ``frames`` 10 ms frames
× ``bands`` bands (waveform models: segments of ``samples`` samples); each
patch in turn is set to zero (the per-utterance mean) and its attribution is
the drop of the target's logit, F(x) − F(x with the patch blanked), shared by
every feature of the patch. Captum's ``FeatureAblation`` with a patch mask,
so patches at the edges that do not fill a whole window still count
(``Occlusion``'s sliding windows would leave them out). Unlike gradients it
needs no differentiable path, only one forward pass per patch (batched).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

FRAMES = 20  # 200 ms per patch
BANDS = 5  # of the 40 log-Mels (or MFCCs)
SAMPLES = 1600  # 100 ms per segment of a waveform
PER_EVAL = 16  # patches per batched forward pass


def patch_mask(shape: tuple[int, ...], frames: int = FRAMES, bands: int = BANDS, samples: int = SAMPLES) -> Tensor:
    """Patch index of every feature: (1, T, F) → frames × bands patches; (1, N) → segments of ``samples``."""
    if len(shape) == 2:
        return (torch.arange(shape[1]) // samples)[None]
    _, T, F = shape
    per_row = -(-F // bands)
    t = torch.arange(T)[:, None] // frames
    f = torch.arange(F)[None, :] // bands
    return (t * per_row + f)[None]


def occlusion(fm: nn.Module, x: Tensor, target: int, *, frames: int = FRAMES, bands: int = BANDS,
              samples: int = SAMPLES) -> Tensor:
    """Occlusion attributions shaped like ``x`` ((1, T, F) features or (1, N) wave) for class ``target``, logit units."""
    from captum.attr import FeatureAblation

    mask = patch_mask(tuple(x.shape), frames, bands, samples).to(x.device)
    with torch.no_grad():
        return FeatureAblation(fm).attribute(x.detach(), baselines=0.0, target=target, feature_mask=mask,
                                             perturbations_per_eval=PER_EVAL)
