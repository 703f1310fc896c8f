"""Train a registered model on a corpus with a recipe (:mod:`crnn.analysis.recipes`); write its checkpoint.

The loop: every epoch draws its batch order, crops, speed factors, noise and
dropout from generators seeded by (seed, epoch, rank), so the random state at
an epoch boundary is a function of the epoch number alone, and the resume
state saved after each epoch (:mod:`crnn.analysis.train_state`) is all a
restarted run needs to continue exactly as an uninterrupted one. Validation
runs on whole utterances after every epoch (with the weight average when the
recipe keeps one); the best epoch's weights are tested once at the end, on
clean and noisy copies of the test speakers. Loss: class-weighted
cross-entropy (weights n / (K n_k), so every emotion counts equally, as UA
does), with the recipe's label smoothing. With ``noisy=True`` every training
crop is mixed with fresh noise at an SNR uniform in [−10, 15] dB (paper 001
Sec. 5.2) and validation runs on the clean and noisy copies together, the
paper's "noisy condition".

Devices: CUDA when available, else CPU. Under ``torchrun`` (RANK and
WORLD_SIZE set) the model is wrapped in DistributedDataParallel; each rank
takes every WORLD_SIZE-th batch and rank 0 alone validates and writes.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

import crnn.core.models as models
from crnn.analysis.distil import teacher_targets
from crnn.analysis.normalise import fit_global, speaker_references
from crnn.analysis.recipes import Recipe, get_recipe, teacher_folders
from crnn.analysis.train_data import load_train_data
from crnn.analysis.train_loop import RECORD, Run, train_loop
from crnn.analysis.train_state import WeightAverage, load_resume, optimizer_state, resume_dir, unprefixed
from crnn.analysis.train_card import write_card
from crnn.core.cache import Progress
from crnn.core.corpora import Corpus
from crnn.core.defaults import CACHE_DIR, CARD, USER_MODELS_DIR
from crnn.core.errors import CrnnError
from crnn.core.fileio import atomic_write_json, shown_path
from crnn.core.noise import NoiseSource

def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


def class_weights(emotions: list[str], labels: list[str]) -> torch.Tensor:
    """n / (K n_k) per label (0 for a label absent from training), for the cross-entropy."""
    counts = np.array([emotions.count(label) for label in labels], dtype=np.float64)
    present = counts > 0
    weights = np.zeros(len(labels))
    weights[present] = len(emotions) / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


def output_folder(model_name: str, split: str, fold: int | None, out_dir, overwrite: bool) -> Path:
    """The checkpoint folder: ``out_dir``, or the user models folder (never a shipped checkpoint).

    Refuses a folder that already holds a finished checkpoint unless ``overwrite``.
    """
    suffix = {"loso": f"_loso{fold:02d}", "cv": f"_cv{fold}"}.get(split, "") if fold is not None else ""
    out = Path(out_dir) if out_dir is not None else USER_MODELS_DIR / (model_name + suffix)
    existing = next(p for p in (out, *out.parents) if p.exists() or p == p.parent)
    if existing.exists() and not existing.is_dir():  # refused before any epoch, not when the first one is saved
        raise CrnnError(f"{shown_path(existing)} is a file, not a folder a checkpoint can be written in")
    if (out / CARD).is_file() and not overwrite:
        raise CrnnError(
            f"{out.name} already holds a finished checkpoint; pass --overwrite to train it again, or --out for a new folder"
        )
    return out


def _resolve_norm(model: nn.Module, recipe: Recipe, name: str) -> str:
    if model.frontend.kind == "waveform":
        return "utterance"  # waveform models normalise the gain only (unit RMS)
    if recipe.norm != "model":
        return recipe.norm
    return getattr(models.REGISTRY[name], "norm", "global")


def _set_up_model(run: Run, model_kwargs: dict | None) -> None:
    recipe, data = run.recipe, run.data
    torch.manual_seed(run.train_seed)
    model = models.build_model(run.name, len(data.labels), **(model_kwargs or {})).to(run.device)
    model.frontend.set_floor(recipe.log_floor)  # before any reference statistics are fitted on the features
    norm = _resolve_norm(model, recipe, run.name)
    if norm == "global":
        fit_global(model.frontend, data.train_waves)
    elif norm == "speaker":
        model.frontend.set_norm("speaker")
        run.speaker_refs = speaker_references(model.frontend, data.train_waves, data.train_speakers)
    else:
        model.frontend.set_norm(norm)
    if recipe.spec_augment and model.frontend.kind != "waveform":
        model.frontend.augment = {}
    if getattr(model, "regressor", None) is not None and (data.train_scores is None or run.world > 1):
        raise CrnnError(f"{run.name} with regression needs arousal and valence for every training utterance "
                        "(a CSV manifest with arousal and valence columns) and one process")
    run.model = model
    opt = torch.optim.AdamW if recipe.optimizer == "adamw" else torch.optim.Adam
    run.optimizer = opt(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    weights = class_weights(data.train_emotions, data.labels).to(run.device)
    run.loss_fn = nn.CrossEntropyLoss(weight=weights, label_smoothing=recipe.label_smoothing)
    run.average = WeightAverage(model, recipe.ema, recipe.ema_warmup) if recipe.ema > 0 else None
    run.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if run.world > 1:
        ids = [run.device.index] if run.device.type == "cuda" else None
        run.net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    else:
        run.net = model


def _try_resume(run: Run, folder: Path) -> None:
    saved = load_resume(folder)
    if saved is None:
        return
    record, tensors = saved
    if not _same_run(record.get("fingerprint") or {}, run):
        raise CrnnError(f"{folder} holds the resume state of a different run; delete it or choose another output folder")
    run.model.load_state_dict(unprefixed("model", tensors))
    run.best_state = {k: v.to(run.device) for k, v in unprefixed("best", tensors).items()}
    run.optimizer.load_state_dict(optimizer_state(tensors, record["optimizer"]))
    if run.average is not None:
        run.average.state = {k: v.to(run.device) for k, v in unprefixed("ema", tensors).items()}
    run.record = {k: record.get(k, RECORD[k]) for k in RECORD}
    if run.average is not None:
        run.average.steps = run.record["step"]
    run.resumed_from = run.record["epoch"]
    run.earlier_s = run.record["seconds"]


def _same_run(stored: dict, run: Run) -> bool:
    """Whether a resume state's fingerprint is this run's. A recipe setting or model argument added to the code
    since the state was saved matches when this run leaves it at its default, so an update does not strand
    a half-trained run."""
    current = json.loads(json.dumps(run.fingerprint))
    defaults = {"recipe": json.loads(json.dumps(Recipe("default").card())),
                "model_kwargs": models.model_defaults(run.name)}
    for part, part_defaults in defaults.items():
        old, new = stored.get(part), current.get(part)
        if isinstance(old, dict) and isinstance(new, dict):
            for key in set(new) - set(old):
                if key in part_defaults and new[key] == part_defaults[key]:
                    del new[key]
    return stored == current


def _fingerprint(run: Run, corpus: Corpus, noise_dir, model_kwargs) -> dict:
    n_batches = -(-len(run.data.train_waves) // run.recipe.batch_size)
    return {
        "model": run.name, "model_kwargs": run.model.config, "corpus": corpus.name,
        "utterances": len(corpus.utterances), "split": run.data.speakers, "noisy": run.noise is not None,
        "noise_dir": str(noise_dir) if noise_dir is not None else None, "seed": run.seed,
        "recipe": run.recipe.card(), "world_size": run.world,
        "steps_per_epoch": max(1, n_batches // run.world),
    } | ({"attempt": run.attempt} if run.attempt else {}) | (
        {"init_seed": run.init_seed} if run.init_seed is not None else {})  # fmt: skip


def _check_arguments(max_minutes: float | None, **seeds: int | None) -> None:
    """CrnnError for a seed that is not a whole number of 0 or more (numpy's generators refuse those), or a
    time budget that is not a number of minutes above 0."""
    for name, value in seeds.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise CrnnError(f"{name} must be a whole number of 0 or more, not {value!r}")
    if max_minutes is not None and not (math.isfinite(max_minutes) and max_minutes > 0):
        raise CrnnError(f"--max-minutes must be a number of minutes above 0, not {max_minutes:g}")


def _start(device: str | torch.device | None) -> tuple[torch.device, int, int, bool]:
    """(device, rank, world size, whether this call started the process group) of this training process."""
    rank, world, local_rank = _distributed()
    started_group = world > 1 and not dist.is_initialized()
    if started_group:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return torch.device(device or (f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")), rank, world, started_group


def train(
    model_name: str,
    corpus_path: str | os.PathLike | Corpus,
    split: str = "tvt",
    fold: int | None = None,
    noisy: bool = False,
    noise_dir: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    seed: int = 0,
    max_minutes: float | None = None,
    progress: Progress | None = None,
    *,
    recipe: str | Recipe = "paper",
    overrides: dict | list[str] | None = None,
    overwrite: bool = False,
    logdir: str | os.PathLike | None = None,
    model_kwargs: dict | None = None,
    cache_dir: str | os.PathLike | None = CACHE_DIR,
    state_dir: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    restarts: int = 2,
    train_seed: int | None = None,
    **recipe_settings,
) -> dict:
    """Train ``model_name`` (a registry name) on a corpus and write its checkpoint; returns the card.

    ``split``: "tvt" (seeded 70/10/20 speaker split), "loso" or "cv" (five speaker-grouped folds) with
    ``fold``. ``recipe``: "paper" or "lens", with ``overrides`` and keyword settings (e.g. ``max_epochs=2``)
    replacing its fields. ``out_dir`` defaults to the user models folder; an existing finished checkpoint
    there is refused unless ``overwrite``. ``max_minutes`` bounds the training time summed over resumed
    runs. ``progress`` receives dicts with an "event": "decode", "batch", "epoch" (after the epoch's resume
    state is saved) and "evaluate". ``logdir`` writes TensorBoard scalars. Running again after an
    interruption resumes from the last saved epoch. A run that stops early still at chance
    (:func:`stayed_at_chance`) starts again with another training seed, at most ``restarts`` times; the
    card's "restarts" lists them.
    ``train_seed`` seeds initialisation, batch order, crops and noise instead of ``seed``, which still draws
    the split: runs that differ only in it measure how much a result owes to the draw of one training.
    """
    _check_arguments(max_minutes, seed=seed, train_seed=train_seed)
    device, rank, world, started_group = _start(device)
    the_recipe = _recipe(recipe, overrides, recipe_settings)
    out = output_folder(model_name, split, fold, out_dir, overwrite)
    data = load_train_data(corpus_path, split, fold, seed, noisy, cache_dir, progress if rank == 0 else None, rank, world)
    soft_targets = _soft_targets(the_recipe, data)
    folder = resume_dir(out, state_dir)
    failed = _failed_attempts(folder)
    while True:
        run = Run(model_name, None, the_recipe, data, out, device, seed, rank, world, attempt=len(failed),
                  init_seed=train_seed, soft_targets=soft_targets)
        run.noise = NoiseSource(noise_dir, seed=run.train_seed) if noisy else None
        run.report, run.split_scheme, run.fold = (progress if rank == 0 and progress else lambda info: None), split, fold
        run.budget_s = max_minutes * 60.0 if max_minutes is not None else float("inf")
        _attempt(run, folder, model_kwargs, noise_dir, logdir)
        if not (stayed_at_chance(run) and len(failed) < restarts):
            break
        failed.append(_attempt_record(run))
        _restart(run, folder, failed)
    run.restarts = failed
    return _finish(run, folder, max_minutes, started_group)


def _soft_targets(recipe: Recipe, data) -> torch.Tensor | None:
    """The teachers' averaged probabilities on the training utterances (n, K), when the recipe distils."""
    teachers = teacher_folders(recipe.teachers)
    if not teachers:
        return None
    return teacher_targets(teachers, data.train_waves, data.train_speakers, data.labels, data.speakers,
                           recipe.distil_temperature)


def _attempt(run: Run, folder: Path, model_kwargs: dict | None, noise_dir, logdir) -> None:
    """Build the model, resume this attempt where it stopped (if it did), and train it to its end."""
    _set_up_model(run, model_kwargs)
    run.fingerprint = _fingerprint(run, run.data.corpus, noise_dir, model_kwargs)
    run.resume_folder = folder
    _try_resume(run, folder)
    run.writer = _tensorboard(logdir) if logdir is not None and run.rank == 0 else None
    try:
        train_loop(run)
    finally:
        if run.writer is not None:
            run.writer.close()


def stayed_at_chance(run: Run) -> bool:
    """Whether the run gave up (early stopping) without having learned: its training loss never fell below a
    uniform guess's, or its best validation UA never rose clearly above chance.

    A uniform guess costs ln K in cross-entropy (K training emotions; class weights and label smoothing do
    not change that); "below" means by more than 0.01. Chance UA is 1/K for the K emotions of the validation
    utterances, and "clearly above" more than two standard errors of a chance-level accuracy on them,
    sqrt(p (1 − p) / n) with p = 1/K and n utterances (clean and noisy copies when training with noise):
    0.166 for 8 emotions and 256 utterances. The weight average of a network stuck at the uniform guess can
    still wander above that on validation, hence the loss. Such a run is restarted with another training
    seed; the rule looks at training and validation speakers only.
    """
    if run.record["stopped"] != "early_stopping":
        return False
    losses = [row["loss"] for row in run.record["history"]]
    uniform = math.log(max(2, len(set(run.data.train_emotions))))
    emotions = run.data.val_emotions
    chance = 1.0 / max(1, len(set(emotions)))
    ceiling = chance + 2.0 * math.sqrt(chance * (1.0 - chance) / max(1, len(emotions)))
    return (bool(losses) and min(losses) >= uniform - 0.01) or run.record["best_ua"] <= ceiling


def _attempts_file(folder: Path) -> Path:
    return folder.with_name(folder.name + ".restarts.json")


def _failed_attempts(folder: Path) -> list[dict]:
    """The attempts of this run that stayed at chance (kept beside the resume state, so a restart resumes too)."""
    path = _attempts_file(folder)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []


def _attempt_record(run: Run) -> dict:
    record = run.record
    return {"attempt": run.attempt, "training_seed": run.train_seed, "epochs": record["epoch"],
            "best_epoch": record["best_epoch"], "best_validation_ua": record["best_ua"]}  # fmt: skip


def _restart(run: Run, folder: Path, failed: list[dict]) -> None:
    """Record the failed attempt and drop its resume state, so the next attempt starts afresh."""
    if run.rank == 0:
        atomic_write_json(_attempts_file(folder), failed)
        shutil.rmtree(folder, ignore_errors=True)
        run.report({"event": "restart", **failed[-1]})
    if run.world > 1:
        dist.barrier()


def _recipe(recipe: str | Recipe, overrides: dict | list[str] | None, settings: dict) -> Recipe:
    """The recipe with dict or "field=value" overrides, then keyword settings (None: keep), applied."""
    the_recipe = get_recipe(recipe, overrides if isinstance(overrides, list) else dict(overrides or {}))
    return get_recipe(the_recipe, {k: v for k, v in settings.items() if v is not None})


def _tensorboard(logdir):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise CrnnError("--logdir needs TensorBoard: pip install tensorboard") from None
    return SummaryWriter(log_dir=str(logdir))


def _finish(run: Run, resume_folder: Path, max_minutes: float | None, started_group: bool) -> dict:
    """Test and save on rank 0 (dropping the resume state), then hand the card to every rank."""
    card = write_card(run, max_minutes) if run.rank == 0 else {}
    if run.rank == 0:
        shutil.rmtree(resume_folder, ignore_errors=True)
        _attempts_file(resume_folder).unlink(missing_ok=True)
    if run.world > 1:
        dist.barrier()
        if run.rank != 0:
            card = json.loads((run.out / CARD).read_text(encoding="utf-8"))
        if started_group:
            dist.destroy_process_group()
    return card
