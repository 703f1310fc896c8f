"""The results table: every trained checkpoint next to the SVM baselines.

One markdown row per checkpoint (test-speaker UA, clean and noisy, read from
its card) and per SVM baseline (read from the ``baselines_<corpus>.json``
files that :func:`crnn.tasks.baselines.run_baseline` writes beside the
checkpoints), plus the total training time. :func:`update_readme` puts the
table between ``<!-- results:start -->`` and ``<!-- results:end -->``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from crnn.analysis.recipes import RECIPES, setting_label
import crnn.core.models as models
from crnn.core.checkpoint import list_checkpoints
from crnn.core.defaults import CHECKPOINT_DIR
from crnn.core.errors import CrnnError
from crnn.core.card_check import level_invariant
from crnn.core.fileio import atomic_write_bytes, parse_json

HEADER = "| Model | Paper | Input | Training | Recipe | Test UA clean | Test UA noisy | ECE | Epochs | Train min |"
RULE = "|---|---|---|---|---|---:|---:|---:|---:|---:|"


def _pct(value) -> str:
    return f"{100 * value:.1f}" if isinstance(value, (int, float)) else "–"


def _baseline_results(baselines, root: Path) -> list[dict]:
    """Baseline result dicts from paths, dicts, or (None) every baselines_*.json under ``root``."""
    if baselines is None:
        baselines = sorted(root.glob("baselines_*.json")) if root.is_dir() else []
    results = []
    for item in baselines:
        if isinstance(item, dict):
            entries = [item] if "svm" in item else list(item.values())
        else:
            entries = list(_read_baselines(Path(item)).values())
        results += [e for e in entries if isinstance(e, dict) and "svm" in e]
    return results


def stored_baselines(root: str | os.PathLike = CHECKPOINT_DIR) -> dict:
    """Every entry of the ``baselines_*.json`` files under ``root``, by key."""
    stored = {}
    for path in sorted(Path(root).glob("baselines_*.json")):
        stored.update(_read_baselines(path))
    return stored


def _read_baselines(path: Path) -> dict:
    """One ``baselines_<corpus>.json`` file: {feature set: result}."""
    try:
        stored = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise CrnnError(f"{path.name} is not a readable baselines JSON file") from None
    if not isinstance(stored, dict):
        raise CrnnError(f"{path.name} is not a readable baselines JSON file")
    return stored


def model_changes(card: dict) -> list[str]:
    """Model arguments the run set away from its registered model's (``crnn train --model-set``), as "model: k=v"."""
    return [f"model: {k}={v}" for k, v in models.set_arguments(card).items()]


def recipe_label(card: dict) -> str:
    """The recipe's name, the settings changed from it (and model arguments set with ``--model-set``), and the
    feature normalisation; cards from before recipes were recorded used paper 001's."""
    recipe = (card.get("training") or {}).get("recipe") or {}
    name = recipe.get("name", "paper")
    reference = RECIPES[name].card() if name in RECIPES else {}
    changed = [setting_label(k, v) for k, v in recipe.items() if k not in ("name", "norm") and k in reference and v != reference[k]]
    changed += model_changes(card)  # e.g. conv_norm, a deviation
    label = name + (f" ({', '.join(changed)})" if changed else "")
    norm = (card.get("normalisation") or {}).get("norm", "utterance")
    return f"{label}, {norm} norm" if card.get("features", {}).get("kind") != "waveform" else label


def _parameters(name: str, n_classes: int, kwargs: dict) -> int | None:
    try:
        return models.count_parameters(models.build_model(name, n_classes, from_card=True, **kwargs))
    except (CrnnError, TypeError, ValueError):
        return None


def results_rows(
    checkpoint_root: str | os.PathLike = CHECKPOINT_DIR,
    baselines: Iterable[str | os.PathLike | dict] | None = None,
) -> list[dict]:
    """The results table as data: one dict per checkpoint under ``checkpoint_root``, then per SVM baseline kernel.

    Every row has "kind" ("model" | "baseline"), "name", "paper", "input",
    "training" ("clean" | "noisy"), "ua_clean", "ua_noisy" (test-speaker UA,
    0-1, None if unknown), "corpus" and "test_speakers" (what was tested).
    Model rows add "model" (registry name), "family", "parameters", "epochs", "level_invariant",
    "seconds" and "path"; baseline rows add "kernel", "C", "feature_set",
    "n_features", "best" (the kernel chosen on validation) and "network" (the
    checkpoint whose embedding the SVM classifies, :mod:`crnn.tasks.embedding_svm`;
    None for openSMILE functionals, only the best kernel is listed for an embedding). Checkpoints
    come in registry order; folders whose card cannot be read are left out.
    ``baselines`` as in :func:`build_report`; ``[]`` leaves them out.
    """
    root = Path(checkpoint_root)
    order = {name: i for i, name in enumerate(models.REGISTRY)}
    entries = [e for e in list_checkpoints(root) if "card" in e]
    entries.sort(key=lambda e: (order.get(e["card"].get("model"), len(order)), e["name"]))
    rows = []
    for entry in entries:
        card = entry["card"]
        spec = models.REGISTRY.get(card.get("model"))
        test = (card.get("metrics") or {}).get("test") or {}
        training = card.get("training") or {}
        rows.append({
            "kind": "model", "name": entry["name"], "model": card.get("model"),
            "family": spec.family if spec else None, "paper": spec.paper if spec else None,
            "input": spec.input_kind if spec else None,
            "parameters": _parameters(spec.name, len(card.get("labels") or []) or 8, card.get("model_kwargs") or {})
            if spec else None,
            "training": "noisy" if training.get("noisy") else "clean",
            "ua_clean": (test.get("clean") or {}).get("ua"), "ua_noisy": (test.get("noisy") or {}).get("ua"),
            "epochs": training.get("epochs"), "seconds": training.get("seconds"),
            "recipe": recipe_label(card), "ece": (card.get("calibration") or {}).get("ece_test_after"),
            "corpus": (card.get("corpus") or {}).get("name"), "test_speakers": list((card.get("split") or {}).get("test", [])),
            "level_invariant": level_invariant(card), "path": entry["path"],
        })  # fmt: skip
    for result in _baseline_results(baselines, root):
        embedding = result.get("features") == "embedding"
        for kernel, svm in result["svm"].items():
            if embedding and kernel != result.get("best"):
                continue  # a network's embedding + SVM: the kernel chosen on validation is enough
            test = svm.get("test") or {}
            rows.append({
                "kind": "baseline", "name": f"SVM {kernel}, C={svm['C']:g}", "paper": result.get("paper", "001 (baseline)"),
                "input": f"{result['feature_set']} ({result['n_features']})" + _norm_words(result), "training": result.get("training", "clean"),
                "ua_clean": (test.get("clean") or {}).get("ua"), "ua_noisy": (test.get("noisy") or {}).get("ua"),
                "corpus": (result.get("corpus") or {}).get("name"),
                "test_speakers": list((result.get("split") or {}).get("test", [])),
                "kernel": kernel, "C": svm["C"], "feature_set": result["feature_set"],
                "n_features": result["n_features"], "best": kernel == result.get("best"),
                "norm": result.get("norm", "speaker"), "network": result.get("model") if embedding else None,
            })  # fmt: skip
    return rows


def _norm_words(result: dict) -> str:
    norm = result.get("norm", "speaker")
    if norm == "speaker":
        return ""
    from crnn.analysis.baselines import NORM_WORDS  # scikit-learn, only for a control baseline

    return f", {NORM_WORDS[norm]}"


def build_report(
    checkpoint_root: str | os.PathLike = CHECKPOINT_DIR,
    baselines: Iterable[str | os.PathLike | dict] | None = None,
) -> str:
    """Markdown table of :func:`results_rows`: test UA (clean / noisy, %) on the test speakers, training time."""
    rows = results_rows(checkpoint_root, baselines)
    if not rows:
        return "No trained checkpoints or baseline results yet."
    lines = [HEADER, RULE]
    for row in rows:
        model = row["kind"] == "model"
        epochs = row["epochs"] if model and row["epochs"] is not None else "–"
        minutes = f"{(row['seconds'] or 0) / 60:.1f}" if model else "–"
        ece = f"{row['ece']:.3f}" if model and row.get("ece") is not None else "–"
        lines.append(
            f"| {row['name']} | {row['paper'] or '?'} | {row['input'] or '?'} | {row['training']} "
            f"| {row.get('recipe', '–') if model else '–'} | {_pct(row['ua_clean'])} | {_pct(row['ua_noisy'])} "
            f"| {ece} | {epochs} | {minutes} |"
        )
    seconds = sum(row["seconds"] or 0.0 for row in rows if row["kind"] == "model")
    test_sets = {(row["corpus"], tuple(row["test_speakers"])) for row in rows}
    notes = [f"Total training time: {seconds / 3600:.2f} h."]
    if len(test_sets) == 1:
        corpus, speakers = next(iter(test_sets))
        notes.append(f"Test speakers ({corpus}): {', '.join(speakers)}; UA = mean per-class recall, in %.")
    else:
        notes.append("Rows were tested on different corpora or test speakers; compare with care. UA in %.")
    notes.append("Noisy: each test utterance mixed once with noise at a seeded SNR in [−10, 15] dB.")
    notes.append("ECE: expected calibration error (15 bins) on the clean test speakers after temperature scaling "
                 "fitted on the validation speakers.")
    for result in _baseline_results(baselines, Path(checkpoint_root)):
        loso = result.get("loso")
        if loso:
            notes.append(
                f"Leave-one-speaker-out ({len(loso['per_fold'])} folds), {result['feature_set']} {loso['kernel']} SVM "
                f"C={loso['C']:g}: UA {100 * loso['ua_mean']:.1f} ± {100 * loso['ua_std']:.1f} (mean ± sd over folds)."
            )
    return "\n".join(lines) + "\n\n" + " ".join(notes) + "\n"


def readme_path(path: str | os.PathLike) -> Path:
    """``path`` if it is a Markdown file (``.md``) that exists or would be new in an existing folder, else CrnnError.

    A mistyped ``--readme`` must not append a table to some other file, nor make folders.
    """
    path = Path(path)
    if path.suffix.lower() not in (".md", ".markdown") or path.is_dir() or not path.parent.is_dir():
        raise CrnnError(f"--readme needs a Markdown file (.md) in an existing folder, not {path.name or str(path)!r}")
    return path


def update_readme(readme: str | os.PathLike, table: str, block_name: str = "results") -> None:
    """Replace what lies between the ``<!-- block_name:start/end -->`` markers of the README (appending if absent).

    CrnnError, before anything is written, when :func:`readme_path` refuses the path.
    """
    path = readme_path(readme)
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    start, end = f"<!-- {block_name}:start -->", f"<!-- {block_name}:end -->"
    block = f"{start}\n{table.rstrip()}\n{end}"
    if start in text and end in text and text.index(start) < text.index(end):
        head, rest = text.split(start, 1)
        tail = rest.split(end, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip() + ("\n\n" if text else "") + block + "\n"
    try:
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as exc:
        raise CrnnError(f"cannot write {path.name}: {exc.strerror or exc}") from None
