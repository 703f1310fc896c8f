"""Attributions: which parts of the input, and of each module, drive a prediction.

Integrated Gradients (Sundararajan et al. 2017) and Saliency, via Captum, are
taken with respect to the features the model actually sees: the normalised
log-Mels or MFCCs (T, F), or, for raw-waveform models, the normalised wave
(N,), then also summed as |attribution| per 10 ms frame so it can be drawn on
a spectrogram. The model is cut after its front-end with a forward hook on
``model.frontend`` that substitutes the features, so every registered model
works unchanged. The baseline is all zeros: the per-utterance mean of the
normalised features (silence, for a waveform).

Per module ("input", "cnn", "rnn", "mlp"), the layer conductance (Dhamdhere
et al. 2018; Captum's ``LayerConductance``) along the same straight path
says when each module's activity carries the attribution. It is computed from
``module_outputs`` directly, because the module objects differ between
architectures. Every module that cuts the graph has total conductance equal
to the output difference F(x) − F(baseline); the difference between the two
is reported as the module's delta.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from crnn.analysis.representations import MODULES
from crnn.core.corpora import canonical_label
from crnn.core.defaults import SAMPLE_RATE
from crnn.core.errors import CorpusError
from crnn.core.features import HOP_LENGTH, compute, frame_times
from crnn.core.hooks import this_thread_only

METHODS = ("integrated_gradients", "saliency", "occlusion")
# Copies of the clip per forward/backward pass along the path. Memory grows with it (all 32 steps of a long clip
# at once cost hundreds of MB, on the app server once per visitor's attribution); the work does not: on one
# thread, 2 copies a pass were as fast as 8 and took less than half the memory (round 11).
STEPS_PER_PASS = 2
ALIASES = {"ig": "integrated_gradients"}


class FeatureModel(nn.Module):
    """A model with its front-end cut off: features → logits, for attribution.

    ``wave`` (N,) is the utterance; the front-end still runs on it (its output
    is discarded), because the models call ``self.frontend(wave)`` inside
    ``module_outputs``; a forward hook replaces that output with the given
    features (B, T, F) — or (B, N) for waveform models.
    """

    def __init__(self, model: nn.Module, wave: Tensor) -> None:
        super().__init__()
        self.model = model
        self.wave = wave  # (N,)

    def features(self) -> Tensor:
        """The utterance's features as the model sees them, (1, T, F) or (1, N)."""
        with torch.no_grad():
            return self.model.frontend(self.wave[None])

    def outputs(self, features: Tensor) -> dict[str, Tensor]:
        handle = self.model.frontend.register_forward_hook(this_thread_only(lambda module, args, out: features))
        try:
            return self.model.module_outputs(self.wave.expand(features.shape[0], -1))
        finally:
            handle.remove()

    def forward(self, features: Tensor) -> Tensor:
        return self.outputs(features)["logits"]


@dataclass
class Explanation:
    """An attribution of one prediction.

    ``attributions`` has the shape of the model's input features, (T, F)
    for log-Mel/MFCC models, (N,) for waveform models. ``frame_attribution``
    (T,) sums |attribution| per 10 ms frame at ``times`` (s);
    ``spectrogram`` is the un-normalised log-Mel (T', 40) to draw it on.
    ``delta`` is Captum's IG convergence delta (sum of attributions minus the
    output difference ``output_difference``). ``modules`` maps a module to
    {"total", "abs_total", "delta", "times" (s), "per_time"} (the conductance
    summed per time step; "mlp" has no time axis and one step).
    """

    method: str
    target: int
    target_label: str | None
    probabilities: np.ndarray
    feature_kind: str
    attributions: np.ndarray
    times: np.ndarray
    frame_attribution: np.ndarray
    spectrogram: np.ndarray
    delta: float | None = None
    output_difference: float | None = None
    modules: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-friendly summary (no per-frame arrays except the module totals)."""
        return {
            "method": self.method,
            "target": self.target,
            "target_label": self.target_label,
            "probabilities": [float(p) for p in self.probabilities],
            "feature_kind": self.feature_kind,
            "attribution_shape": list(self.attributions.shape),
            "attribution_sum": float(self.attributions.sum()),
            "delta": self.delta,
            "output_difference": self.output_difference,
            "peak_time_s": float(self.times[int(np.argmax(self.frame_attribution))]) if len(self.times) else None,
            "modules": {m: {k: v for k, v in d.items() if k in ("total", "abs_total", "delta")} for m, d in self.modules.items()},
        }


def _grad_context(device: torch.device):
    # cuDNN's RNN backward refuses eval mode; the native kernels compute the same gradients.
    return torch.backends.cudnn.flags(enabled=False) if device.type == "cuda" else contextlib.nullcontext()


def target_index(target: int | str | None, labels: Sequence[str] | None, n_classes: int | None = None) -> int | None:
    """The class index of ``target``: an index, its digits, a label of ``labels`` or a synonym of one ("happy").

    None stays None (the predicted class). ValueError, in one sentence, for a
    class the model does not have.
    """
    if target is None:
        return None
    if isinstance(target, str) and target.isdigit():
        target = int(target)
    if isinstance(target, str):
        labels = list(labels or [])
        if target not in labels:
            try:
                target = canonical_label(target)  # "happy" → "happiness", as the corpora name it
            except CorpusError:
                pass
        if target not in labels:
            raise ValueError(f"{target!r} is not one of the model's labels ({', '.join(labels) or 'none given'})")
        return labels.index(target)
    n = n_classes if n_classes is not None else len(labels or [])
    if not 0 <= int(target) < n:
        raise ValueError(f"target class {target} is out of range (the model has {n} classes)")
    return int(target)


def _per_frame(attr: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(times s, Σ|attr| per 10 ms frame): spectral (T, F) summed over F; waveform (N,) per 160 samples."""
    if kind == "waveform":
        T = len(attr) // HOP_LENGTH
        per = np.abs(attr[: T * HOP_LENGTH]).reshape(T, HOP_LENGTH).sum(axis=1)
        return (np.arange(T) + 0.5) * HOP_LENGTH / SAMPLE_RATE, per
    return frame_times(attr.shape[0]), np.abs(attr).sum(axis=1)


def explain(
    model: nn.Module,
    wave: np.ndarray,
    *,
    target: int | str | None = None,
    labels: Sequence[str] | None = None,
    method: str = "integrated_gradients",
    n_steps: int = 32,
    layers: bool = False,
) -> Explanation:
    """Attribute the model's score for ``target`` (default: the predicted class) to its input features.

    ``wave`` (N,) float32 at 16 kHz; ``target`` a class index or, with
    ``labels``, a class name or a synonym of one (:func:`target_index`);
    ``method`` "integrated_gradients" or "ig" (``n_steps`` Gauss-Legendre
    steps, with convergence delta), "saliency" (|∂score/∂x|) or "occlusion"
    (the logit's drop when a patch of 5 bands × 200 ms is blanked). Attributions
    are in logit units per input feature: (T, F) for log-Mel/MFCC models,
    (N,) for waveform models. ``layers=True`` adds each module's conductance
    (another ``n_steps + 1`` forward/backward passes). Works in eval mode on
    CPU and CUDA.
    """
    method = ALIASES.get(method, method)
    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; use one of {METHODS}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    fm = FeatureModel(model, torch.from_numpy(np.asarray(wave, np.float32)).to(device))
    kind = getattr(model, "feature_kind", fm.model.frontend.kind)
    try:
        with _grad_context(device):
            x = fm.features().requires_grad_(True)  # (1, T, F) or (1, N)
            with torch.no_grad():
                logits = fm(x)[0]  # (K,)
            index = target_index(target, labels, logits.shape[-1])
            t = int(logits.argmax()) if index is None else index
            baseline = torch.zeros_like(x).detach()
            attr, delta, diff = _attribute(fm, x, baseline, t, method, n_steps, logits)
            modules = module_conductance(fm, x, baseline, t, n_steps) if layers else {}
    finally:
        model.train(was_training)
    attributions = attr[0].detach().float().cpu().numpy()
    times, per_frame = _per_frame(attributions, kind)
    return Explanation(
        method=method,
        target=t,
        target_label=list(labels)[t] if labels else None,
        probabilities=torch.softmax(logits, -1).cpu().numpy(),
        feature_kind=kind,
        attributions=attributions,
        times=times,
        frame_attribution=per_frame,
        spectrogram=compute(np.asarray(wave, np.float32), "logmel"),
        delta=delta,
        output_difference=diff,
        modules=modules,
    )


def _attribute(
    fm: FeatureModel, x: Tensor, baseline: Tensor, target: int, method: str, n_steps: int, logits: Tensor
) -> tuple[Tensor, float | None, float | None]:
    """(attributions shaped like x, IG convergence delta, F(x) − F(baseline)); the last two None for Saliency."""
    from captum.attr import IntegratedGradients, Saliency

    if method == "saliency":
        return Saliency(fm).attribute(x, target=target, abs=True), None, None
    if method == "occlusion":  # patches of Mel bands × time segments (crnn.analysis.occlusion)
        from crnn.analysis.occlusion import occlusion

        return occlusion(fm, x, target), None, None
    attr, d = IntegratedGradients(fm).attribute(
        x, baselines=baseline, target=target, n_steps=n_steps, internal_batch_size=min(n_steps, STEPS_PER_PASS),
        return_convergence_delta=True,
    )
    with torch.no_grad():
        diff = float(logits[target] - fm(baseline)[0, target])
    return attr, float(d.sum()), diff


def module_conductance(fm: FeatureModel, x: Tensor, baseline: Tensor, target: int, n_steps: int = 32) -> dict[str, dict]:
    """Layer conductance of every module along the straight path baseline → x.

    For module output y(α) on the path, conductance = Σ_k ∂F/∂y(α_k) ·
    (y(α_k) − y(α_{k−1})), k = 1..n_steps (a left-Riemann sum, as Captum's
    LayerConductance). Summed over a module's units it approximates
    F(x) − F(baseline) for any module every path passes through.
    """
    sums, diff = _conductance_sums(fm, x, baseline, target, n_steps)
    result: dict[str, dict] = {}
    for name, cond in sums.items():  # cond: (T_m, D) or (D,)
        per_time = cond.sum(dim=-1).reshape(-1).cpu().numpy() if cond.dim() > 1 else cond.sum().reshape(1).cpu().numpy()
        seconds = fm.wave.shape[-1] / SAMPLE_RATE
        total = float(cond.sum())
        result[name] = {
            "total": total,
            "abs_total": float(cond.abs().sum()),
            "delta": total - diff,
            "times": (np.arange(len(per_time)) + 0.5) * seconds / len(per_time),
            "per_time": per_time,
        }
    return result


def _conductance_sums(fm: FeatureModel, x: Tensor, baseline: Tensor, target: int, n_steps: int) -> tuple[dict, float]:
    """({module: conductance summed over the steps, (T_m, D) or (D,)}, F(x) − F(baseline)), STEPS_PER_PASS at a time."""
    alphas = torch.linspace(0, 1, n_steps + 1, device=x.device).view(-1, *([1] * (x.dim() - 1)))
    sums: dict[str, Tensor] = {}
    first = last = 0.0
    for start in range(1, n_steps + 1, STEPS_PER_PASS):  # steps start..stop-1, with the point before them
        stop = min(start + STEPS_PER_PASS, n_steps + 1)
        path = (baseline + alphas[start - 1 : stop] * (x - baseline)).requires_grad_(True)  # (≤ P+1, ...)
        outs = fm.outputs(path)
        names = [m for m in MODULES if m in outs and outs[m].requires_grad]
        score = outs["logits"][:, target]  # (≤ P+1,); rows are independent in eval mode
        grads = torch.autograd.grad(score[1:].sum(), [outs[m] for m in names], allow_unused=True)
        score = score.detach()
        for name, grad in zip(names, grads):
            if grad is not None:
                y = outs[name].detach()
                part = (grad[1:] * (y[1:] - y[:-1])).sum(dim=0)
                sums[name] = part if name not in sums else sums[name] + part
        first = float(score[0]) if start == 1 else first
        last = float(score[-1])
    return sums, last - first
