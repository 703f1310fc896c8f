"""The end of a training run: test the best epoch once, and write the checkpoint with its card."""

from __future__ import annotations

import json
import time

import torch

import crnn.core.models as models
from crnn.analysis.calibration import calibration_record
from crnn.analysis.evaluate import noisy_waves, score_waves, utterance_logits
from crnn.core.checkpoint import code_version, save_checkpoint
from crnn.core.data import TRIM_TOP_DB
from crnn.core.defaults import CARD, SAMPLE_RATE
from crnn.core.features import HOP_LENGTH, N_MELS, N_MFCC, WIN_LENGTH
from crnn.core.fileio import portable_path
from crnn.core.noise import SNR_RANGE, NoiseSource


def _scores(run, utterances) -> dict:
    """Clean and noisy classification reports of the model on ``utterances`` (speaker statistics per condition)."""
    waves = run.data.waves(utterances)
    emotions = [u.emotion for u in utterances]
    speakers = [u.speaker for u in utterances]
    return {
        condition: score_waves(run.model, w, emotions, run.data.labels, run.device, speakers)
        for condition, w in (("clean", waves), ("noisy", noisy_waves(run.data.corpus, utterances, waves)))
    }


def _training_record(run, max_minutes, eval_seconds: float) -> dict:
    record, recipe, data = run.record, run.recipe, run.data
    spec = models.REGISTRY.get(run.name)
    return {
        "epochs": record["epoch"], "best_epoch": record["best_epoch"], "best_validation_ua": record["best_ua"],
        "seconds": round(record["seconds"], 1), "evaluation_seconds": round(eval_seconds, 1),
        "device": f"{run.device.type} x{run.world}" if run.world > 1 else run.device.type,
        # the same code and seed retrace a run only on the same kernels: another CPU's instruction set
        # rounds differently, and a training run amplifies the difference (README, "Training recipe")
        "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "stopped": record["stopped"], "max_epochs": recipe.max_epochs, "max_minutes": max_minutes,
        "resumed_from_epoch": run.resumed_from, "scheme": run.split_scheme,
        "training_seed": run.train_seed, "restarts": run.restarts,
        "fold": run.fold, "recipe": recipe.card(), "optimizer": {"name": recipe.optimizer, "lr": recipe.lr},
        "batch_size": recipe.batch_size * run.world, "patience": recipe.patience, "min_epochs": recipe.min_epochs,
        "loss": "class-weighted cross-entropy" + (f", label smoothing {recipe.label_smoothing}" if recipe.label_smoothing else ""),
        "class_weights": {label: round(float(w), 4) for label, w in zip(data.labels, run.loss_fn.weight.tolist())},
        "crop_seconds": recipe.crop_seconds,
        "crop": {"random": "random batches, each clip cropped to the shortest clip of its batch (at most crop_seconds); no padding",
                 "length": "batches of similar length, each clip cropped to the shortest of its batch (at most crop_seconds); no padding"}[recipe.batching],
        "trim_top_db": TRIM_TOP_DB, "noisy": run.noise is not None,
        "noise": run.noise.describe() if run.noise is not None else None, "snr_range_db": list(SNR_RANGE),
        "validation_condition": "clean+noisy" if run.noise is not None else "clean",
        "test_noise": NoiseSource().describe(), "undecodable": data.problems, "history": record["history"],
        "deviations": list(getattr(spec, "deviations", ()) or ()),
    }  # fmt: skip


def _calibration(run) -> dict:
    """Temperature fitted on the clean validation speakers; ECE (15 bins) before and after, validation and test."""
    parts = {}
    for name in ("validation", "test"):
        utterances = run.data.parts[name]
        logits = utterance_logits(run.model, run.data.waves(utterances), run.device, [u.speaker for u in utterances])
        parts[name] = (logits, [run.data.labels.index(u.emotion) for u in utterances])
    return calibration_record(parts["validation"], parts["test"])


def write_card(run, max_minutes) -> dict:
    """Load the best weights, score them on the test and validation speakers, save the checkpoint; returns the card."""
    run.report({"event": "evaluate"})
    start = time.monotonic()
    run.model.load_state_dict(run.best_state)
    run.model.eval()
    metrics = {"test": _scores(run, run.data.parts["test"]), "validation": _scores(run, run.data.parts["validation"])}
    corpus = run.data.corpus
    card = {
        "model": run.name,
        "model_kwargs": run.model.config,
        "features": {"kind": run.model.frontend.kind, "n_mels": N_MELS, "n_mfcc": N_MFCC,
                     "win_ms": WIN_LENGTH * 1000 // SAMPLE_RATE, "hop_ms": HOP_LENGTH * 1000 // SAMPLE_RATE,
                     "sample_rate": SAMPLE_RATE},  # fmt: skip
        "normalisation": run.model.frontend.norm_card(),
        "labels": run.data.labels,
        "corpus": {"name": corpus.name, "root": portable_path(corpus.root), "utterances": len(corpus.utterances)},
        "split": run.data.speakers,
        "seed": run.seed,
        "metrics": metrics,
        "calibration": _calibration(run),
        "training": _training_record(run, max_minutes, time.monotonic() - start),
        "code_version": code_version(),
    }
    save_checkpoint(run.model, card, run.out)
    return json.loads((run.out / CARD).read_text(encoding="utf-8"))
