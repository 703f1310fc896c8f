"""Fit and score a checkpoint's speaker-adapted head (:mod:`crnn.analysis.speaker_head`): ``crnn adapt``.

The head is fitted on the embeddings of the checkpoint's training speakers;
its C, and the number of clips a speaker needs, are chosen on the validation
speakers; the test speakers are scored once, at the end, with all of a
speaker's clips and with subsets of them, clean (and noisy, with all clips).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from crnn.analysis.evaluate import per_speaker_ua
from crnn.analysis.metrics import unweighted_accuracy
from crnn.analysis.speaker_head import (
    C_GRID,
    CLIP_COUNTS,
    HEAD_FILE,
    MODULE,
    SpeakerAdaptedHead,
    clips_needed,
    load_head,
    save_head,
    subsampled_predictions,
)
from crnn.core.cache import Progress
from crnn.core.checkpoint import load_checkpoint, read_card, resolve_model
from crnn.core.corpora import Corpus, read_corpus
from crnn.core.defaults import CACHE_DIR, CARD, CHECKPOINT_DIR
from crnn.core.errors import CrnnError
from crnn.core.splits import partition
from crnn.tasks.baselines import PARTS, check_replaceable, results_path, store_result
from crnn.tasks.cv import p_text, paired_test
from crnn.tasks.embedding_svm import partition_embeddings
from crnn.tasks.oof import fold_folders


def _ua(y, predicted) -> float:
    return round(unweighted_accuracy(list(y), list(predicted)), 4)


def fit_speaker_head(
    model_ref: str | os.PathLike,
    corpus_path: str | os.PathLike | Corpus,
    cache_dir: str | os.PathLike | None = CACHE_DIR,
    progress: Progress | None = None,
) -> dict:
    """Fit the head of checkpoint ``model_ref`` on the corpus it was trained on, store it there; returns its record.

    CrnnError for a checkpoint trained on another corpus, or a split that leaves a partition empty.
    """
    folder = resolve_model(model_ref)
    model, card = load_checkpoint(folder)
    corpus = corpus_path if isinstance(corpus_path, Corpus) else read_corpus(corpus_path)
    if (card.get("corpus") or {}).get("name") != corpus.name or not card.get("split"):
        raise CrnnError(f"{folder.name} was not trained on {corpus.name}: fit its speaker head on the corpus it was trained on")
    parts = {name: partition(corpus, card["split"][name]) for name in PARTS}
    if not all(parts.values()):
        raise CrnnError(f"the checkpoint's speaker split leaves a partition of {corpus.name} empty")
    X = partition_embeddings(model, card, corpus, parts, cache_dir, progress)
    y = {name: [u.emotion for u in parts[name]] for name in PARTS}
    s = {name: [u.speaker for u in parts[name]] for name in PARTS}
    tuning = {str(C): _ua(y["validation"], SpeakerAdaptedHead(C).fit(X["train"], y["train"], s["train"])
                          .predict(X["validation"], s["validation"])) for C in C_GRID}  # fmt: skip
    best_C = max(C_GRID, key=lambda C: tuning[str(C)])  # the smallest C among ties: the most regularised
    head = SpeakerAdaptedHead(best_C).fit(X["train"], y["train"], s["train"])
    network = card["metrics"]["validation"]["clean"]["ua"]
    needed, validation = clips_needed(head, X["validation"], y["validation"], s["validation"], network)
    test = {str(k): _ua(y["test"], subsampled_predictions(head, X["test"], s["test"], k)) for k in CLIP_COUNTS}
    test["all"] = _ua(y["test"], head.predict(X["test"], s["test"]))
    per_speaker = {"clean": per_speaker_ua(y["test"], list(head.predict(X["test"], s["test"])), s["test"]),
                   "noisy": per_speaker_ua(y["test"], list(head.predict(X["noisy"], s["test"])), s["test"])}
    record = {
        "module": MODULE, "weights_sha256": card["weights_sha256"], "corpus": corpus.name,
        "split": {k: card["split"][k] for k in PARTS}, "c_tuning": tuning,
        "clips_needed": needed, "validation_ua": validation, "network_validation_ua": network,
        "test_ua": test, "test_noisy_ua": _ua(y["test"], head.predict(X["noisy"], s["test"])),
        "network_test_ua": card["metrics"]["test"]["clean"]["ua"],
        "network_test_noisy_ua": card["metrics"]["test"]["noisy"]["ua"],
        "test_per_speaker_ua": per_speaker,
    }  # fmt: skip
    save_head(head, record, folder)
    return {**record, "C": best_C, "labels": [str(c) for c in head.classes_], "n_train": int(np.shape(X["train"])[0])}


def cv_speaker_heads(
    model_ref: str | os.PathLike,
    corpus_path: str | os.PathLike | Corpus,
    cache_dir: str | os.PathLike | None = CACHE_DIR,
    progress: Progress | None = None,
    out: str | os.PathLike | None = None,
) -> dict:
    """Fit the head of each of the run's five fold checkpoints (stored in each) and compare it with the network.

    Returns per condition ("clean", "noisy") the mean ± sd test UA of the head
    (all of a speaker's clips) and of the fold networks alone, and a paired
    Wilcoxon test over the speakers (:func:`crnn.tasks.cv.paired_test`). The
    folds are stored beside the CV baselines (``baselines_<corpus>.json``, key
    ``speaker_head_<name>_cv``), so ``crnn report --cv`` compares them with the
    SVMs. CrnnError when the run has no five folds.
    """
    folders = fold_folders(model_ref)
    name = os.path.basename(str(model_ref))
    if not folders:
        raise CrnnError(f"{name} has no five fold checkpoints {name}_cv0 .. {name}_cv4 (crnn train --split cv --fold K)")
    corpus = corpus_path if isinstance(corpus_path, Corpus) else read_corpus(corpus_path)
    target, key = results_path(corpus, out), f"speaker_head_{name}_cv"
    check_replaceable(target, key, {"corpus": {"utterances": len(corpus.utterances)}})  # before any fitting
    folds = [fit_speaker_head(folder, corpus, cache_dir, progress) for folder in folders]
    result = {"model": name, "clips_needed": [f["clips_needed"] for f in folds]}
    for condition, head_key, net_key in (("clean", "test_ua", "network_test_ua"),
                                         ("noisy", "test_noisy_ua", "network_test_noisy_ua")):
        head = [f[head_key]["all"] if condition == "clean" else f[head_key] for f in folds]
        network = [f[net_key] for f in folds]
        head_speakers = {k: v for f in folds for k, v in f["test_per_speaker_ua"][condition].items()}
        net_speakers = {k: v for folder in folders for k, v in _network_per_speaker(folder, condition).items()}
        result[condition] = {"head": _mean_sd(head), "network": _mean_sd(network),
                             "paired": paired_test(head_speakers, net_speakers)}  # fmt: skip
    stored = {"features": "speaker_head", "model": name, "scheme": "cv", "norm": "speaker", "module": MODULE,
              "corpus": {"name": corpus.name, "utterances": len(corpus.utterances)},
              "folds": [{"test_speakers": f["split"]["test"], "C": f["C"], "clips_needed": f["clips_needed"],
                         **{c: {"ua": f["test_ua"]["all"] if c == "clean" else f["test_noisy_ua"],
                                "per_speaker_ua": f["test_per_speaker_ua"][c]} for c in ("clean", "noisy")}}
                        for f in folds]}  # fmt: skip
    store_result(target, key, stored)
    return result


def _network_per_speaker(folder, condition: str) -> dict[str, float]:
    return read_card(folder)["metrics"]["test"][condition]["per_speaker_ua"]


def _mean_sd(values: list[float]) -> dict:
    return {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)), "folds": values}


def cv_heads_text(result: dict) -> str:
    """A few lines for ``crnn adapt --split cv``."""
    lines = [f"{result['model']}: speaker-adapted head on the five CV folds (all of a test speaker's clips); "
             f"clips needed per fold, chosen on validation: {result['clips_needed']}"]
    for condition in ("clean", "noisy"):
        r = result[condition]
        lines.append(f"{condition}: head {r['head']['mean'] * 100:.1f} ± {r['head']['sd'] * 100:.1f} %, network alone "
                     f"{r['network']['mean'] * 100:.1f} ± {r['network']['sd'] * 100:.1f} %; per speaker "
                     f"{r['paired']['mean_difference'] * 100:+.1f} points (Wilcoxon {p_text(r['paired']['p'])}, "
                     f"{r['paired']['speakers']} speakers)")
    return "\n".join(lines)


def head_text(record: dict) -> str:
    """A few lines for ``crnn adapt``."""
    needed = record["clips_needed"]
    val = ", ".join(f"{k}: {v * 100:.1f}" for k, v in record["validation_ua"].items())
    test = ", ".join(f"{k}: {v * 100:.1f}" for k, v in record["test_ua"].items())
    return "\n".join([
        f"speaker-adapted head: C {record['C']} (chosen on the validation speakers)",
        f"validation UA % by clips of the speaker ({val}); network alone {record['network_validation_ua'] * 100:.1f}",
        "clips needed: " + (f"{needed} (the fewest that match the network on the validation speakers)" if needed
                            else "none is enough: the head is not offered"),
        f"test UA % by clips of the speaker ({test}); network alone {record['network_test_ua'] * 100:.1f}",
        f"test UA % under noise, all clips: {record['test_noisy_ua'] * 100:.1f}; "
        f"network alone {record['network_test_noisy_ua'] * 100:.1f}",
    ])  # fmt: skip


def head_rows(root: str | os.PathLike = CHECKPOINT_DIR) -> list[dict]:
    """The stored head record of every checkpoint under ``root`` that has a head fitted on its current weights."""
    rows = []
    for folder in sorted(Path(root).iterdir()):
        if not (folder / HEAD_FILE).is_file() or not (folder / CARD).is_file():
            continue
        try:
            stored = load_head(folder, read_card(folder).get("weights_sha256"))
        except CrnnError:
            continue  # a stale or damaged head: the app and crnn predict leave it out too
        if stored is not None:
            rows.append({"model": folder.name, **stored[1]})
    return rows


def heads_table(rows: list[dict]) -> str:
    """Markdown table of :func:`head_rows` for ``crnn report --heads``, UA in %."""
    counts = [str(k) for k in CLIP_COUNTS] + ["all"]
    lines = [f"| shipped model | clips needed (validation) | head, test UA with {' / '.join(counts)} clips "
             "| network alone | head under noise, all clips | network alone |", "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        test = " / ".join(f"{100 * r['test_ua'][k]:.1f}" for k in counts)
        needed = r["clips_needed"] or "none is enough"
        lines.append(f"| {r['model']} | {needed} | {test} | {100 * r['network_test_ua']:.1f} "
                     f"| {100 * r['test_noisy_ua']:.1f} | {100 * r['network_test_noisy_ua']:.1f} |")
    return "\n".join(lines)
