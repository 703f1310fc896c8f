"""The results table: every trained checkpoint next to the SVM baselines.

One markdown row per checkpoint (test-speaker UA, clean and noisy, read from
its card) and per SVM baseline (read from the ``baselines_<corpus>.json``
files that :func:`crnn.baselines.run_baseline` writes beside the
checkpoints), plus the total training time. :func:`update_readme` puts the
table between ``<!-- results:start -->`` and ``<!-- results:end -->``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import crnn.models as models
from crnn.checkpoint import CHECKPOINT_DIR, atomic_write_bytes, list_checkpoints
from crnn.errors import CrnnError

START = "<!-- results:start -->"
END = "<!-- results:end -->"
HEADER = "| Model | Paper | Input | Training | Test UA clean | Test UA noisy | Epochs | Train min |"
RULE = "|---|---|---|---|---:|---:|---:|---:|"


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
            try:
                entries = list(json.loads(Path(item).read_text(encoding="utf-8")).values())
            except (OSError, json.JSONDecodeError, AttributeError):
                raise CrnnError(f"{item} is not a readable baselines JSON file") from None
        results += [e for e in entries if isinstance(e, dict) and "svm" in e]
    return results


def build_report(
    checkpoint_root: str | os.PathLike = CHECKPOINT_DIR,
    baselines: Iterable[str | os.PathLike | dict] | None = None,
) -> str:
    """Markdown table: model × test UA (clean / noisy, %) on the test speakers, SVM baselines, training time."""
    root = Path(checkpoint_root)
    order = {name: i for i, name in enumerate(models.REGISTRY)}
    entries = [e for e in list_checkpoints(root) if "card" in e]
    entries.sort(key=lambda e: (order.get(e["card"].get("model"), len(order)), e["name"]))
    rows, seconds, test_sets = [], 0.0, set()
    for entry in entries:
        card = entry["card"]
        spec = models.REGISTRY.get(card.get("model"))
        test = card.get("metrics", {}).get("test", {})
        training = card.get("training", {})
        seconds += training.get("seconds", 0.0) or 0.0
        test_sets.add((card.get("corpus", {}).get("name"), tuple(card.get("split", {}).get("test", []))))
        rows.append(
            f"| {entry['name']} | {spec.paper if spec else '?'} | {spec.input_kind if spec else '?'} "
            f"| {'noisy' if training.get('noisy') else 'clean'} "
            f"| {_pct(test.get('clean', {}).get('ua'))} | {_pct(test.get('noisy', {}).get('ua'))} "
            f"| {training.get('epochs', '–')} | {(training.get('seconds') or 0) / 60:.1f} |"
        )
    for result in _baseline_results(baselines, root):
        test_sets.add((result.get("corpus", {}).get("name"), tuple(result.get("split", {}).get("test", []))))
        for kernel, svm in result["svm"].items():
            rows.append(
                f"| SVM {kernel}, C={svm['C']:g} | 001 (baseline) | {result['feature_set']} ({result['n_features']}) "
                f"| clean | {_pct(svm['test']['clean']['ua'])} | {_pct(svm['test']['noisy']['ua'])} | – | – |"
            )
    if not rows:
        return "No trained checkpoints or baseline results yet."
    lines = [HEADER, RULE, *rows]
    notes = [f"Total training time: {seconds / 3600:.2f} h."]
    if len(test_sets) == 1:
        corpus, speakers = next(iter(test_sets))
        notes.append(f"Test speakers ({corpus}): {', '.join(speakers)}; UA = mean per-class recall, in %.")
    else:
        notes.append("Rows were tested on different corpora or test speakers; compare with care. UA in %.")
    notes.append("Noisy: each test utterance mixed once with noise at a seeded SNR in [−10, 15] dB.")
    return "\n".join(lines) + "\n\n" + " ".join(notes) + "\n"


def update_readme(readme_path: str | os.PathLike, table: str) -> None:
    """Replace what lies between the results markers of the README (appending the block if absent)."""
    path = Path(readme_path)
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    block = f"{START}\n{table.rstrip()}\n{END}"
    if START in text and END in text and text.index(START) < text.index(END):
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip() + ("\n\n" if text else "") + block + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))
