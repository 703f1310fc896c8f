"""The recipe ablation table: validation UA of runs that differ from a reference recipe in a few settings.

Each run is a checkpoint folder trained with ``crnn train --out DIR/<run> --set field=value``; its card records
the full recipe. The table lists, per run, the settings that differ from the reference run and the best
validation UA (the test speakers play no part in the choice).
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

from crnn.analysis.recipes import Recipe
from crnn.core.checkpoint import read_card
from crnn.core.defaults import CARD
from crnn.core.errors import CrnnError
from crnn.tasks.report import model_changes


def _changes(recipe: dict, reference: dict, card: dict) -> str:
    model = model_changes(card)
    if recipe.get("name") == "paper" != reference.get("name"):
        return ", ".join(["paper 001's recipe", *model])
    diff = [f"{k}={recipe[k]}" for k in recipe if k != "name" and recipe.get(k) != reference.get(k)] + model
    if not diff:
        return "(reference recipe)"
    return ", ".join(diff)


def _effective(card: dict) -> dict:
    """The card's recipe with the normalisation actually used ("model" resolved to what the model got)."""
    defaults = {f.name: f.default for f in fields(Recipe)}
    recipe = {**defaults, **card["training"]["recipe"]}  # settings added later take their defaults
    recipe["speed"] = list(recipe["speed"])
    recipe["norm"] = (card.get("normalisation") or {}).get("norm", recipe.get("norm"))
    return recipe


def ablation_rows(folder: str | os.PathLike, reference: str = "lens") -> list[dict]:
    """One row per finished run under ``folder``: run, changes vs the ``reference`` run, validation UA, epochs, minutes."""
    folder = Path(folder)
    runs = {p.name: read_card(p) for p in sorted(folder.iterdir()) if (p / CARD).is_file()} if folder.is_dir() else {}
    if reference not in runs:
        raise CrnnError(f"{folder.name} has no finished run named {reference!r} to compare with")
    ref = _effective(runs[reference])
    rows = []
    for name, card in runs.items():
        training = card["training"]
        rows.append({
            "run": name, "model": card["model"], "changes": _changes(_effective(card), ref, card),
            "validation_ua": training["best_validation_ua"], "best_epoch": training["best_epoch"],
            "epochs": training["epochs"], "minutes": round(training["seconds"] / 60, 1),
        })  # fmt: skip
    return sorted(rows, key=lambda r: (r["model"], -r["validation_ua"]))


def ablation_table(rows: list[dict]) -> str:
    """Markdown table of :func:`ablation_rows`, UA in %."""
    lines = ["| Run | Model | Change from the reference recipe | Validation UA | Best epoch | Epochs | Minutes |",
             "|---|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['run']} | {r['model']} | {r['changes']} | {100 * r['validation_ua']:.1f} | {r['best_epoch']} "
                     f"| {r['epochs']} | {r['minutes']} |")  # fmt: skip
    return "\n".join(lines)
