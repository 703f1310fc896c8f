"""The epoch loop of a training run: batches, optimiser steps, validation, early stopping.

:class:`Run` holds one run's state; :func:`train_loop` runs epochs until the
recipe's early stopping, its maximum epoch count or the time budget ends it,
saving the resume state after every epoch.
"""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

import crnn.core.models as models
from crnn.analysis.distil import distillation_loss
from crnn.analysis.evaluate import utterance_logits
from crnn.analysis.metrics import unweighted_accuracy
from crnn.analysis.normalise import stacked_references
from crnn.analysis.recipes import Recipe, learning_rate
from crnn.analysis.train_data import TrainData
from crnn.analysis.train_state import WeightAverage, save_resume
from crnn.core.cache import Progress
from crnn.core.data import crop_batch, length_batches, mix_within_class, speed_perturb
from crnn.core.noise import NoiseSource

RECORD = {"epoch": 0, "best_ua": -1.0, "best_epoch": 0, "bad_epochs": 0, "seconds": 0.0, "step": 0, "history": [],
          "stopped": None}  # fmt: skip


@dataclass
class Run:
    """One training run's state, shared by the steps of :func:`train`."""

    name: str
    model: nn.Module
    recipe: Recipe
    data: TrainData
    out: Path
    device: torch.device
    seed: int
    rank: int = 0
    world: int = 1
    noise: NoiseSource | None = None
    net: nn.Module | None = None
    optimizer: torch.optim.Optimizer | None = None
    loss_fn: nn.Module | None = None
    average: WeightAverage | None = None
    speaker_refs: dict | None = None
    record: dict = field(default_factory=lambda: copy.deepcopy(RECORD))
    best_state: dict = field(default_factory=dict)
    resumed_from: int | None = None
    fingerprint: dict = field(default_factory=dict)
    report: Progress = lambda info: None
    writer: object = None
    resume_folder: Path | None = None
    split_scheme: str = "tvt"
    fold: int | None = None
    budget_s: float = float("inf")
    attempt: int = 0
    init_seed: int | None = None  # the first attempt's training seed when it is not ``seed``
    restarts: list = field(default_factory=list)
    session_start: float = field(default_factory=time.monotonic)
    earlier_s: float = 0.0
    soft_targets: torch.Tensor | None = None  # (n, K) teachers' probabilities of the training clips, when distilling

    @property
    def train_seed(self) -> int:
        """The seed of initialisation, batches, crops and noise: ``init_seed`` (default ``seed``) on a first
        attempt, a seed derived from it on a restart (the split keeps ``seed``)."""
        base = self.seed if self.init_seed is None else self.init_seed
        if self.attempt == 0:
            return base
        return int(np.random.SeedSequence([base, self.attempt]).generate_state(1)[0] % 2**31)

    def spent(self) -> float:
        """Training seconds so far, over this and all earlier (interrupted) sessions."""
        return self.earlier_s + time.monotonic() - self.session_start


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0])


def _broadcast(values: list[float], device: torch.device, world: int) -> list[float]:
    """Rank 0's values on every rank (a no-op when not distributed)."""
    if world == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.broadcast(tensor, src=0)
    return tensor.tolist()


def _epoch_batches(run: Run, epoch: int) -> tuple[list[np.ndarray], list[float]]:
    """This rank's batches (index arrays) for ``epoch`` and each training clip's speed factor."""
    n = len(run.data.train_waves)
    recipe = run.recipe
    speeds = [1.0] * n
    if recipe.speed:
        speeds = list(np.random.default_rng([run.train_seed, epoch, 7]).choice(recipe.speed, n))
    if recipe.batching == "length":
        lengths = [len(w) / s for w, s in zip(run.data.train_waves, speeds)]
        batches = length_batches(lengths, recipe.batch_size, np.random.default_rng([run.train_seed, epoch]))
    else:
        order = np.random.default_rng([run.train_seed, epoch]).permutation(n)  # same on every rank
        batches = [order[i : i + recipe.batch_size] for i in range(0, n, recipe.batch_size)]
    per_rank = max(1, len(batches) // run.world)
    return batches[run.rank :: run.world][:per_rank], speeds


def _mixed_with_class_partner(data: TrainData, i: int, wave: np.ndarray, most: float, rng: np.random.Generator):
    """Clip ``i`` mixed with a clip of its emotion by another training speaker (the recipe's ``class_mix``).

    Another speaker, so the mixture varies the voice and keeps the emotion; a share drawn uniform in [0, most].
    """
    same = np.flatnonzero((data.train_targets == data.train_targets[i]).numpy())
    partners = [j for j in same if data.train_speakers[j] != data.train_speakers[i]]
    if not partners:
        return wave
    partner = data.train_waves[int(rng.choice(partners))]
    return mix_within_class(wave, partner, float(rng.uniform(0, most)), rng)


def _mixup(x: torch.Tensor, alpha: float, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The batch mixed with itself in another order (mixup, Zhang et al., 2018): (mixed (B, L), partners, share).

    One share ~ Beta(alpha, alpha) for the batch; each clip keeps ``share`` of itself and takes the rest from its
    partner, and the loss is mixed the same way.
    """
    share = float(rng.beta(alpha, alpha))
    partner = torch.from_numpy(rng.permutation(len(x))).to(x.device)
    return share * x + (1 - share) * x[partner], partner, share


def _step(run: Run, index: np.ndarray, speeds: list[float], rng: np.random.Generator) -> float:
    data, recipe = run.data, run.recipe
    waves = [speed_perturb(data.train_waves[i], speeds[i]) for i in index]
    if recipe.class_mix > 0:
        waves = [_mixed_with_class_partner(data, i, wave, recipe.class_mix, rng) for i, wave in zip(index, waves)]
    x = crop_batch(waves, rng, recipe.crop_seconds, run.noise, recipe.gain_db, recipe.noise_share)  # (B, L)
    x = x.to(run.device)
    rows = torch.from_numpy(np.asarray(index))
    refs = None
    if run.speaker_refs is not None:
        refs = stacked_references(run.speaker_refs, [data.train_speakers[i] for i in index])
    with run.model.frontend.reference(*refs) if refs is not None else contextlib.nullcontext():
        loss = _loss(run, x, rows, rng)
    for group in run.optimizer.param_groups:
        group["lr"] = learning_rate(recipe, run.record["step"], run.fingerprint["steps_per_epoch"])
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    run.record["step"] += 1
    if run.average is not None:
        run.average.update(run.model)
    return loss.item()


def _loss(run: Run, x: torch.Tensor, rows: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """The training loss of the batch ``x`` (B, L) of training clips ``rows``, by the recipe.

    Mixup applies to the emotion loss alone: a model trained with paper 002's arousal/valence head on a corpus
    that has those scores trains unmixed, and the recipe refuses mixup together with teachers.
    """
    data, recipe = run.data, run.recipe
    targets = data.train_targets[rows].to(run.device)
    if data.train_scores is not None and getattr(run.model, "regressor", None) is not None:
        outputs = run.model.module_outputs(x)  # paper 002: cross-entropy plus the concordance loss
        return run.loss_fn(outputs["logits"], targets) + models.concordance_loss(
            outputs["arousal_valence"], data.train_scores[rows].to(run.device)
        )
    if run.soft_targets is not None:
        logits = run.net(x)  # (B, K)
        weight, temperature = recipe.distil_weight, recipe.distil_temperature
        soft = run.soft_targets[rows].to(run.device)
        return (1 - weight) * run.loss_fn(logits, targets) + weight * distillation_loss(logits, soft, temperature)
    if recipe.mixup > 0:
        x, partner, share = _mixup(x, recipe.mixup, rng)
        logits = run.net(x)  # (B, K)
        return share * run.loss_fn(logits, targets) + (1 - share) * run.loss_fn(logits, targets[partner])
    return run.loss_fn(run.net(x), targets)


def _train_epoch(run: Run, epoch: int) -> tuple[list[float], bool]:
    """One epoch of optimiser steps; returns (losses, whether the time budget ran out)."""
    batches, speeds = _epoch_batches(run, epoch)
    rng = np.random.default_rng([run.train_seed, epoch, run.rank])
    torch.manual_seed(_epoch_seed(run.train_seed, epoch, run.rank))
    run.net.train()
    losses: list[float] = []
    for b, index in enumerate(batches):
        losses.append(_step(run, index, speeds, rng))
        run.report({"event": "batch", "epoch": epoch, "batch": b + 1, "batches": len(batches), "loss": losses[-1]})
        if b + 1 < len(batches) and _broadcast([float(run.spent() >= run.budget_s)], run.device, run.world)[0]:
            return losses, True
    return losses, False


def evaluation_model(run: Run) -> nn.Module:
    """The weights validation sees: the weight average when the recipe keeps one, else the model."""
    if run.average is None:
        return run.model
    averaged = copy.deepcopy(run.model)
    averaged.load_state_dict(run.average.state)
    return averaged.eval()


def _validate(run: Run) -> float:
    data = run.data
    ua = 0.0
    if run.rank == 0:
        logits = utterance_logits(evaluation_model(run), data.val_waves, run.device, data.val_speakers)
        ua = unweighted_accuracy(data.val_emotions, [data.labels[k] for k in logits.argmax(axis=1)])
    return _broadcast([ua], run.device, run.world)[0]


def _close_epoch(run: Run, epoch: int, losses: list[float], out_of_time: bool) -> None:
    """Validate, keep the best weights, save the resume state, report."""
    record = run.record
    val_ua = _validate(run)
    improved = val_ua > record["best_ua"]
    if improved:
        run.best_state = {k: v.detach().clone() for k, v in evaluation_model(run).state_dict().items()}
        record.update(best_ua=val_ua, best_epoch=epoch, bad_epochs=0)
    else:
        record["bad_epochs"] += 1
    lr = run.optimizer.param_groups[0]["lr"]
    mean_loss = float(np.mean(losses))
    record.update(epoch=epoch, seconds=run.spent())
    record["history"].append({"epoch": epoch, "loss": mean_loss, "val_ua": val_ua, "batches": len(losses), "lr": lr})
    if out_of_time:
        record["stopped"] = "time_budget"
    if run.rank == 0:
        save_resume(run.resume_folder, run.model, run.best_state, run.optimizer,
                    {**record, "fingerprint": run.fingerprint}, run.average)  # fmt: skip
        if run.writer is not None:
            for tag, value in (("loss/train", mean_loss), ("ua/validation", val_ua), ("learning_rate", lr)):
                run.writer.add_scalar(tag, value, epoch)
    if run.world > 1:
        dist.barrier()
    run.report({"event": "epoch", "epoch": epoch, "max_epochs": run.recipe.max_epochs, "loss": mean_loss,
                "val_ua": val_ua, "best_ua": record["best_ua"], "best_epoch": record["best_epoch"],
                "seconds": record["seconds"], "improved": improved})  # fmt: skip


def _stop_reason(run: Run) -> str | None:
    record, recipe = run.record, run.recipe
    if record["bad_epochs"] >= recipe.patience and record["epoch"] >= recipe.min_epochs:
        return "early_stopping"
    if record["epoch"] >= recipe.max_epochs:
        return "max_epochs"
    if run.spent() >= run.budget_s and record["epoch"] > 0:  # a fresh run always trains at least one step
        return "time_budget"
    return None


def train_loop(run: Run) -> None:
    while run.record["stopped"] is None:
        reason = _stop_reason(run)
        if reason is not None:
            run.record["stopped"] = reason
            break
        epoch = run.record["epoch"] + 1
        losses, out_of_time = _train_epoch(run, epoch)
        _close_epoch(run, epoch, losses, out_of_time)
