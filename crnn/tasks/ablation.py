"""The recipe ablation table: validation UA of runs that differ from a reference recipe in a few settings.

Each run is a checkpoint folder trained with ``crnn train --out DIR/<run> --set field=value``; its card records
the full recipe. The table lists, per run, the settings that differ from the reference run and the best
validation UA (the test speakers play no part in the choice). A run trained with ``--train-seed`` differs
from its reference in that seed alone; :func:`seed_rows` gathers such runs and says how far one training's
draw moves validation and test UA, the yardstick for the differences between the other rows;
:func:`ensemble_rows` adds what the mean of such a group's probabilities scores.
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import fields
from pathlib import Path

from crnn.analysis.recipes import Recipe, setting_label
from crnn.core.checkpoint import checkpoint_folders, read_card
from crnn.core.models import set_arguments
from crnn.core.defaults import CARD, CHECKPOINT_DIR, WEIGHTS
from crnn.core.errors import CrnnError
from crnn.tasks.report import model_changes, recipe_label


def _training_seed(card: dict) -> int | None:
    """The training seed of a run that was not restarted (a restart draws a seed of its own), else None."""
    training = card.get("training") or {}
    return None if training.get("restarts") else training.get("training_seed", card.get("seed"))


def _changes(recipe: dict, reference: dict, card: dict) -> str:
    seed = _training_seed(card)
    model = model_changes(card) + ([f"training seed {seed}"] if seed is not None and seed != card.get("seed") else [])
    if recipe.get("name") == "paper" != reference.get("name"):
        return ", ".join(["paper 001's recipe", *model])
    diff = [setting_label(k, recipe[k]) for k in recipe if k != "name" and recipe.get(k) != reference.get(k)] + model
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


def seed_rows(folder: str | os.PathLike) -> list[dict]:
    """Runs under ``folder`` that differ only in their training seed, grouped: one row per group of two or more.

    Same model, model arguments (as set away from the registry's: a card from before an argument existed has its
    default), recipe (as used), normalisation, noise and split, different ``training_seed``
    (restarted runs are left out: their seed was drawn, not chosen). Each row: model, recipe (as the results
    table names it), the runs as (training seed, validation UA, clean and noisy test UA, best epoch), and the
    mean and sample standard deviation of each UA over the group.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CrnnError(f"{folder.name or folder} is not a folder of runs")
    groups: dict[str, list[dict]] = {}
    for path in sorted(folder.iterdir()):
        if not (path / CARD).is_file():
            continue
        card = read_card(path)
        seed = _training_seed(card)
        if seed is None:
            continue
        key = json.dumps([card["model"], set_arguments(card), _effective(card), card.get("split"),
                          card["training"].get("noisy"), card.get("seed")], sort_keys=True, default=str)
        groups.setdefault(key, []).append({"run": path.name, "path": path, "card": card, "seed": seed})
    rows = [_seed_row(runs) for runs in groups.values() if len({r["seed"] for r in runs}) > 1]
    if not rows:
        raise CrnnError(f"no runs in {folder.name} differ only in their training seed (crnn train --train-seed)")
    return rows


def _seed_row(runs: list[dict]) -> dict:
    test = [(r["card"].get("metrics") or {}).get("test") or {} for r in runs]
    each = [{"run": r["run"], "path": str(r["path"]), "training_seed": r["seed"], "validation_ua": r["card"]["training"]["best_validation_ua"],
             "test_clean_ua": (t.get("clean") or {}).get("ua"), "test_noisy_ua": (t.get("noisy") or {}).get("ua"),
             "best_epoch": r["card"]["training"]["best_epoch"]} for r, t in zip(runs, test)]  # fmt: skip
    each.sort(key=lambda e: e["training_seed"])
    first = runs[0]["card"]
    spreads = {f"{k}_mean_sd": _mean_sd([e[k] for e in each]) for k in ("validation_ua", "test_clean_ua", "test_noisy_ua")}
    model = first["model"] + (" (trained with noise)" if first["training"].get("noisy") else "")  # the same name either way
    return {"model": model, "recipe": recipe_label(first), "runs": each, **spreads}


def _mean_sd(values: list) -> list[float] | None:
    values = [v for v in values if v is not None]
    return [statistics.fmean(values), statistics.stdev(values)] if len(values) > 1 else None


def seed_table(rows: list[dict]) -> str:
    """Markdown table of :func:`seed_rows`, UA in %: each run's figures, then mean ± sd over the group."""
    ensembles = any("ensemble" in r for r in rows)
    lines = ["| Model | Recipe | Training seed: validation / clean test / noisy test UA (best epoch) "
             "| Validation UA | Clean test UA | Noisy test UA |" + (" Mean of their probabilities: validation / clean "
             "test / noisy test UA |" if ensembles else ""), "|---|---|---|---:|---:|---:|" + ("---:|" if ensembles else "")]

    def pct(v):
        return "–" if v is None else f"{100 * v:.1f}"

    def spread(ms):
        return "–" if ms is None else f"{100 * ms[0]:.1f} ± {100 * ms[1]:.1f}"

    for r in rows:
        runs = "; ".join(f"{e['training_seed']}: {pct(e['validation_ua'])} / {pct(e['test_clean_ua'])} / "
                         f"{pct(e['test_noisy_ua'])} ({e['best_epoch']})" for e in r["runs"])
        ensemble = r.get("ensemble") or {}
        together = " / ".join(pct(ensemble.get(k)) for k in ("validation_ua", "test_clean_ua", "test_noisy_ua"))
        lines.append(f"| {r['model']} | {r['recipe']} | {runs} | {spread(r['validation_ua_mean_sd'])} "
                     f"| {spread(r['test_clean_ua_mean_sd'])} | {spread(r['test_noisy_ua_mean_sd'])} |"
                     + (f" {together} |" if ensembles else ""))
    return "\n".join(lines)


def ensemble_rows(rows: list[dict], corpus: str | os.PathLike) -> list[dict]:
    """:func:`seed_rows` with each group's ensemble scored on ``corpus`` (the corpus the runs were trained on).

    The ensemble is every run of the group, none chosen, their softmax probabilities averaged
    (:func:`crnn.analysis.evaluate.evaluate_ensemble`); scored on the validation speakers and on the clean and
    noisy test speakers of the group's split. A group with a run whose weights are in neither its folder nor a
    shipped checkpoint gets ``"ensemble": None``.
    """
    from crnn.analysis.evaluate import evaluate_ensemble
    from crnn.core.corpora import read_corpus

    data = read_corpus(corpus)
    out = []
    for row in rows:
        members = [_weights_folder(Path(e["path"])) for e in row["runs"]]
        ensemble = None
        if all(members):
            scores = {name: evaluate_ensemble(members, data, split, noisy)["ua"]
                      for name, split, noisy in (("validation_ua", "validation", False), ("test_clean_ua", "test", False),
                                                 ("test_noisy_ua", "test", True))}  # fmt: skip
            ensemble = {"members": len(members), **scores}
        out.append({**row, "ensemble": ensemble})
    return out


def _weights_folder(run: Path) -> Path | None:
    """The folder that holds ``run``'s weights: the run's own, else the shipped checkpoint with the same weights
    (a run installed as a shipped model keeps only its card in the runs folder: the weights are in the tree once)."""
    if (run / WEIGHTS).is_file():
        return run
    sha = read_card(run).get("weights_sha256")
    return next((f for f in checkpoint_folders(CHECKPOINT_DIR) if read_card(f).get("weights_sha256") == sha), None)
