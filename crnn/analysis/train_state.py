"""What an interrupted training run needs to continue exactly: the resume state, and the weight average.

The resume state after each epoch holds the model, the best weights so far,
the optimiser's moments, the weight average (when the recipe keeps one) and
the training record, as ``epoch-NNNN.safetensors`` plus ``epoch-NNNN.json``
(no pickle), each written atomically, the JSON last; the previous epoch's
pair is deleted only after the new one is complete. It lives outside the
work tree (``crnn.core.defaults.STATE_DIR``), in a folder named after the
output folder, so a fresh checkout of the project keeps it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from crnn.core.checkpoint import sha256_bytes
from crnn.core.defaults import STATE_DIR
from crnn.core.fileio import atomic_write_bytes, atomic_write_json, parse_json, remove_stale


def resume_dir(out: Path, state_dir: Path | None = None) -> Path:
    """Where the resume state of a run writing to ``out`` lives."""
    out = Path(out).resolve()
    tag = hashlib.sha256(str(out).encode()).hexdigest()[:10]
    return Path(state_dir if state_dir is not None else STATE_DIR) / "resume" / f"{out.name}-{tag}"


class WeightAverage:
    """Exponential moving average of a model's parameters and buffers, updated after every step.

    With ``warmup`` the decay at step t is min(decay, (1 + t) / (10 + t)), so the
    random initial weights are forgotten within the first few hundred steps;
    without it they keep weight decay**t, which early in training leaves the
    average half random (and its batch-norm statistics inconsistent).
    """

    def __init__(self, model: nn.Module, decay: float, warmup: bool = False) -> None:
        self.decay = decay
        self.warmup = warmup
        self.steps = 0
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps)) if self.warmup else self.decay
        self.steps += 1
        for key, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                self.state[key].mul_(decay).add_(value.detach(), alpha=1 - decay)
            else:
                self.state[key].copy_(value)


def prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def _optimizer_flat(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Adam's state as safetensors-ready tensors ("optim.<param>.<name>") plus JSON for the rest."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entries in state["state"].items():
        for name, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"optim.{index}.{name}"] = value.detach().to("cpu").contiguous().clone()
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in unprefixed("optim", tensors).items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    for index, scalars in meta["scalars"].items():
        state.setdefault(int(index), {}).update(scalars)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_resume(
    folder: Path, model: nn.Module, best: dict, optimizer: torch.optim.Optimizer, record: dict,
    average: WeightAverage | None = None,
) -> None:
    """Write the resume state after epoch ``record["epoch"]``; then drop older ones."""
    optim_tensors, optim_meta = _optimizer_flat(optimizer)
    tensors = {**prefixed("model", model.state_dict()), **prefixed("best", best), **optim_tensors}
    if average is not None:
        tensors.update(prefixed("ema", average.state))
    data = save_safetensors(tensors)
    stem = f"epoch-{record['epoch']:04d}"
    atomic_write_bytes(folder / f"{stem}.safetensors", data)
    atomic_write_json(
        folder / f"{stem}.json",
        {**record, "optimizer": optim_meta, "tensors": f"{stem}.safetensors", "sha256": sha256_bytes(data)},
    )
    for old in folder.glob("epoch-*"):
        if not old.name.startswith(stem + "."):
            old.unlink(missing_ok=True)


def load_resume(folder: Path) -> tuple[dict, dict[str, torch.Tensor]] | None:
    """The newest complete resume state in ``folder`` as (record, tensors), or None."""
    remove_stale(folder, (".epoch-",))  # temporary files of a writer killed mid-save
    for record_path in sorted(folder.glob("epoch-*.json"), reverse=True):
        try:
            record = parse_json(record_path.read_text(encoding="utf-8"))
            data = (folder / record["tensors"]).read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if sha256_bytes(data) == record.get("sha256"):
            return record, load_safetensors(data)
    return None
