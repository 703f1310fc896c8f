"""Sanity checks for attributions (Adebayo et al., 2018) and attribution per module over time.

*Cascading model-parameter randomisation*: re-initialise the model's
parameterised stages one at a time, from the top (the classifier) down to
the first layer, keeping earlier randomisations, and after each step
compare the attribution map with the trained model's by Spearman rank
correlation of the absolute attributions. A method that explains the
model must change when the model's weights are destroyed; a map that
barely changes (ρ_s > :data:`BARELY_CHANGES`) reflects the input (edges,
loud frames), not what the network learned.

:func:`module_time_profile` turns the per-module conductance of
:func:`crnn.analysis.explain.module_conductance` into where in time each
module's attribution lies, normalised per module: by completeness every
module's *total* equals the same score change, so the totals alone say
nothing, but their distribution over time does.
"""

from __future__ import annotations

import copy
from typing import Sequence

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from crnn.analysis.explain import explain

BARELY_CHANGES = 0.5  # Spearman ρ_s above which a randomised map "barely changes"


def cascade_stages(model: nn.Module) -> list[str]:
    """The model's parameterised top-level stages (not the front-end), from the top (output) down."""
    names = [name for name, child in model.named_children()
             if name != "frontend" and any(p.requires_grad for p in child.parameters())]
    return names[::-1]


def _randomise(module: nn.Module, seed: int) -> None:
    """Redraw every parameter of ``module`` from N(0, σ²), σ the tensor's own trained spread (0.01 if constant)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            sd = float(p.detach().float().std()) if p.numel() > 1 else 0.0
            noise = torch.randn(p.shape, generator=gen) * (sd if sd > 0 else 0.01)
            p.copy_(noise.to(p.dtype).to(p.device))


def rank_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman ρ_s between |a| and |b| flattened (0 when either is constant)."""
    x, y = np.abs(np.ravel(a)), np.abs(np.ravel(b))
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(spearmanr(x, y).statistic)


def cascading_randomisation(
    model: nn.Module,
    wave: np.ndarray,
    *,
    target: int | None = None,
    method: str = "integrated_gradients",
    n_steps: int = 16,
    stages: Sequence[str] | None = None,
    seed: int = 0,
) -> dict:
    """The model-parameter randomisation test, cascading from the top stage down.

    Explains ``wave`` (N,) for ``target`` (default: the trained model's
    prediction, kept fixed for every step) with ``method``. Returns
    {"method", "target", "steps": [{"randomised": [stages so far], "stage",
    "spearman", "barely_changes"}], "threshold"}; ``model`` is left as it was.
    """
    trained = explain(model, wave, target=target, method=method, n_steps=n_steps)
    t = trained.target
    work = copy.deepcopy(model)
    steps = []
    done: list[str] = []
    for k, name in enumerate(stages or cascade_stages(model)):
        _randomise(getattr(work, name), seed + k)
        done.append(name)
        attr = explain(work, wave, target=t, method=method, n_steps=n_steps).attributions
        rho = rank_similarity(trained.attributions, attr)
        steps.append({"randomised": list(done), "stage": name, "spearman": rho, "barely_changes": rho > BARELY_CHANGES})
    return {"method": trained.method, "target": t, "target_label": trained.target_label, "steps": steps,
            "threshold": BARELY_CHANGES}


def module_time_profile(modules: dict[str, dict], n_bins: int = 40) -> dict:
    """Each module's conductance over time on one grid: {"times" (n_bins,), "modules": {name: (n_bins,)}, "totals"}.

    ``modules`` is :attr:`crnn.analysis.explain.Explanation.modules`
    (``explain(..., layers=True)``). A module's per-step conductance is
    spread over the clip, summed into ``n_bins`` equal bins and divided by
    the module's total absolute conductance, so each row sums to ±1 in
    absolute value and rows compare where, not how much. Modules without a
    time axis (the MLP) are left out of the rows but keep their total.
    """
    timed = {m: d for m, d in modules.items() if len(d["per_time"]) > 1}
    if not timed:
        return {"times": np.zeros(0), "modules": {}, "totals": {m: d["total"] for m, d in modules.items()}}
    seconds = max(float(d["times"][-1] + d["times"][0]) for d in timed.values())  # last centre + half step
    edges = np.linspace(0.0, seconds, n_bins + 1)
    rows = {}
    for name, d in timed.items():
        per = np.asarray(d["per_time"], np.float64)
        binned = np.histogram(np.asarray(d["times"]), bins=edges, weights=per)[0]
        scale = np.abs(per).sum()
        rows[name] = binned / scale if scale > 0 else binned
    return {"times": (edges[:-1] + edges[1:]) / 2, "modules": rows, "totals": {m: d["total"] for m, d in modules.items()}}
