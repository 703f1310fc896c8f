"""Training recipes: every choice of a training run, as one record written into the card.

``paper`` is paper 001's recipe (Sec. 6.2) as the first shipped checkpoints
used it: Adam at 1e-3, batches of 10 drawn at random and cropped to their
shortest clip (at most 3 s), per-utterance feature normalisation, early
stopping with patience 3 counted from epoch 60.

``lens`` is the recipe chosen for about 1,000 training utterances by
ablation on the validation speakers only (README, "Training recipe";
``crnn report --ablation runs/ablation``): batches grouped by length so each
clip is nearly whole (up to 6 s), SpecAugment-style masks, speed
perturbation (0.9, 1.0, 1.1), random gain, label smoothing 0.1, an
exponential moving average of the weights (validated and saved), Adam at
1e-3, and early stopping on the validation UA (patience 15, counted from
epoch 20, at most 80 epochs). Feature normalisation stays per utterance: the
training-set and per-speaker references (``norm=global``/``speaker``) and
AdamW with warm-up and cosine decay were tried and scored lower on the
validation speakers. Mixing each clip with a clip of the same emotion by
another training speaker (``class_mix``, "mixing within class") is an option
for the ablation, off by default. ``log_floor=relative`` puts the log-Mel
floor relative to each utterance's strongest band, so the features do not
depend on the recording level (:class:`crnn.core.features.LogMel`); the
default stays the absolute floor every shipped model was trained with. ``teachers`` (checkpoint folders of
the same split, comma-separated) trains a student on their averaged predictions besides the acted emotions
(:mod:`crnn.analysis.distil`). ``noise_share`` (round 17) keeps that share of the crops noisy when
training with noise and the rest clean, multi-condition training; ``mixup`` mixes the waveforms of two clips
of a batch, whatever their emotions, and their losses by the same weight (Zhang et al., 2018). Any field
can be overridden (``crnn train --set ema=0``), which is how the ablation runs are made.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from crnn.core.errors import CrnnError


@dataclass(frozen=True)
class Recipe:
    """How to train. Units: learning rates per step, epochs, seconds, dB."""

    name: str
    optimizer: str = "adam"  # "adam" or "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0  # AdamW's decoupled decay
    batch_size: int = 10
    schedule: str = "constant"  # "constant" or "cosine" (after the warm-up, down to 5 % of lr)
    warmup_epochs: int = 0
    max_epochs: int = 80
    min_epochs: int = 60  # early stopping counts only from this epoch
    patience: int = 3  # epochs without a better validation UA
    batching: str = "random"  # "random" (paper) or "length" (grouped by length, nearly whole clips)
    crop_seconds: float = 3.0  # longest training crop
    norm: str = "utterance"  # "utterance", "global", "speaker", or "model" (the model's paper default)
    spec_augment: bool = False
    speed: tuple[float, ...] = ()  # speed perturbation factors, one drawn per clip and epoch
    gain_db: float = 0.0  # random gain within ± this
    label_smoothing: float = 0.0
    ema: float = 0.0  # decay per step of the weight average used for validation and the checkpoint; 0: off
    ema_warmup: bool = False  # lower the decay over the first steps, so the average forgets the random start
    class_mix: float = 0.0  # each clip mixed with one of its emotion by another training speaker, share U(0, this); 0: off
    log_floor: str = "absolute"  # log-Mel floor: "absolute" (as trained before round 15) or "relative" (level-invariant)
    teachers: str = ""  # checkpoint folders, comma-separated, to distil from (crnn.analysis.distil); "": off
    distil_weight: float = 0.5  # share of the loss that is the teachers' soft targets, when there are teachers
    distil_temperature: float = 2.0  # softmax temperature of teachers and student in that share
    noise_share: float = 1.0  # with noise training, the share of training crops mixed with noise (the rest stay clean)
    mixup: float = 0.0  # mixup of two clips of a batch, share ~ Beta(this, this); 0: off (not for paper 002's A/V head)

    def card(self) -> dict:
        return {**asdict(self), "speed": list(self.speed)}


RECIPES: dict[str, Recipe] = {
    "paper": Recipe("paper"),
    "lens": Recipe(
        "lens", optimizer="adam", lr=1e-3, batch_size=16, max_epochs=80, min_epochs=20, patience=15,
        batching="length", crop_seconds=6.0, norm="utterance", spec_augment=True, speed=(0.9, 1.0, 1.1),
        gain_db=6.0, label_smoothing=0.1, ema=0.998, ema_warmup=True,
    ),
}


def _coerce(field_type: str, text: str):
    if field_type.startswith("tuple"):
        return tuple(float(v) for v in text.split(",") if v.strip())
    if field_type == "bool":
        if text.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ValueError(text)
        return text.lower() in ("1", "true", "yes", "on")
    return {"int": int, "float": float, "str": str}[field_type](text)


def get_recipe(name: str | Recipe, overrides: dict | list[str] | None = None) -> Recipe:
    """A named recipe with ``overrides`` (a dict, or "field=value" strings from the CLI) applied."""
    recipe = name if isinstance(name, Recipe) else RECIPES.get(name)
    if recipe is None:
        raise CrnnError(f"unknown recipe {name!r}; use one of {', '.join(RECIPES)}")
    if isinstance(overrides, list):
        overrides = dict(item.split("=", 1) if "=" in item else (item, "") for item in overrides)
    types = {f.name: str(f.type) for f in fields(Recipe)}
    changes = {}
    for key, value in (overrides or {}).items():
        if key not in types or key == "name":
            raise CrnnError(f"unknown recipe setting {key!r}; settings are {', '.join(k for k in types if k != 'name')}")
        try:
            changes[key] = _coerce(types[key], value) if isinstance(value, str) else value
        except ValueError:
            raise CrnnError(f"recipe setting {key} cannot be {value!r}") from None
    recipe = replace(recipe, **changes)
    _check(recipe)
    return recipe


CHOICES = {"optimizer": ("adam", "adamw"), "schedule": ("constant", "cosine"), "batching": ("random", "length"),
           "norm": ("utterance", "global", "speaker", "model"), "log_floor": ("absolute", "relative")}
# (lowest, highest, whether the lowest itself is allowed) of each numeric setting
LIMITS = {"lr": (0.0, 1.0, False), "weight_decay": (0.0, 1.0, True), "batch_size": (1, 10_000, True),
          "warmup_epochs": (0, 10_000, True), "max_epochs": (1, 10_000, True), "min_epochs": (0, 10_000, True),
          "patience": (1, 10_000, True), "crop_seconds": (0.25, 600.0, True), "gain_db": (0.0, 30.0, True),
          "label_smoothing": (0.0, 0.99, True), "ema": (0.0, 0.99999, True), "class_mix": (0.0, 1.0, True),
          "distil_weight": (0.0, 1.0, True), "distil_temperature": (0.0, 100.0, False),
          "noise_share": (0.0, 1.0, True), "mixup": (0.0, 10.0, True)}
SPEED_LIMITS = (0.5, 2.0)  # × the recording's speed


def _check(recipe: Recipe) -> None:
    """CrnnError, in one sentence, for a setting the training could not use (it would fail or silently do
    something else, possibly only after its first epochs): a name not among :data:`CHOICES`, a number outside
    :data:`LIMITS`, NaN or infinite."""
    for key, allowed in CHOICES.items():
        if getattr(recipe, key) not in allowed:
            raise CrnnError(f"recipe setting {key} cannot be {getattr(recipe, key)!r}; use one of {', '.join(allowed)}")
    for key, (lo, hi, closed) in LIMITS.items():
        value = getattr(recipe, key)
        if not (math.isfinite(value) and (lo <= value if closed else lo < value) and value <= hi):
            low = f"at least {lo:g}" if closed else f"above {lo:g}"
            raise CrnnError(f"recipe setting {key} must be {low} and at most {hi:g}, not {value:g}")
    if recipe.mixup > 0 and teacher_folders(recipe.teachers):
        raise CrnnError("recipe settings mixup and teachers cannot be combined; set one of them")
    lo, hi = SPEED_LIMITS
    if not all(math.isfinite(v) and lo <= v <= hi for v in recipe.speed):
        raise CrnnError(f"recipe setting speed takes factors from {lo:g} to {hi:g}, not {', '.join(f'{v:g}' for v in recipe.speed)}")


def teacher_folders(text: str) -> list[str]:
    """The checkpoint folders of the ``teachers`` setting (comma-separated)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def setting_label(key: str, value) -> str:
    """How a table names one recipe setting: "key=value", or for ``teachers`` how many (the card keeps the folders)."""
    if key == "teachers":
        return f"distilled from {len(teacher_folders(value))} teachers"
    return f"{key}={value}"


def learning_rate(recipe: Recipe, step: int, steps_per_epoch: int) -> float:
    """The learning rate at optimiser step ``step`` (0-based): warm-up, then constant or cosine."""
    warm = recipe.warmup_epochs * steps_per_epoch
    if step < warm:
        return recipe.lr * (step + 1) / warm
    if recipe.schedule == "constant":
        return recipe.lr
    total = max(1, recipe.max_epochs * steps_per_epoch - warm)
    progress = min(1.0, (step - warm) / total)
    floor = 0.05 * recipe.lr
    return floor + (recipe.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))
