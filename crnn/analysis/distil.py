"""Knowledge distillation: a student trained on the averaged predictions of teacher networks.

Hinton, Vinyals and Dean, "Distilling the knowledge in a neural network" (2015): the student's loss adds,
to the cross-entropy with the acted emotion, the Kullback-Leibler divergence from the teachers' averaged
class probabilities at a temperature T, scaled by T² so that its gradients keep their size as T changes.
An ensemble of networks trained with different seeds errs in different places; the student learns
from it which emotions an utterance resembles, not only which one was acted.

The teachers' targets are computed once, on the whole, clean training utterances. A teacher must come
from the same split as the student: one that heard the student's validation or test speakers would
leak them into the student, so it is refused.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from crnn.analysis.calibration import softmax
from crnn.analysis.evaluate import utterance_logits
from crnn.core.checkpoint import load_checkpoint
from crnn.core.errors import CrnnError


def teacher_targets(teachers: list[str], waves: list[np.ndarray], speakers: list[str], labels: list[str],
                    split: dict, temperature: float) -> torch.Tensor:
    """The teachers' mean class probabilities at ``temperature``, (n, len(labels)), in ``labels``' order.

    CrnnError when a teacher knows other emotions or was trained on another split than ``split``.
    """
    total = np.zeros((len(waves), len(labels)))
    for folder in teachers:
        model, card = load_checkpoint(folder)
        name = card.get("model", folder)
        if sorted(card["labels"]) != sorted(labels):
            raise CrnnError(f"teacher {name} ({folder}) knows other emotions than the student")
        theirs = card.get("split") or {}
        if any(sorted(theirs.get(part) or []) != sorted(split.get(part) or []) for part in ("validation", "test")):
            raise CrnnError(f"teacher {folder} was trained on another split: it may have heard the student's "
                            "validation or test speakers")
        with torch.inference_mode():
            logits = utterance_logits(model, waves, "cpu", speakers)  # (n, K) in the teacher's label order
        total += softmax(logits, temperature)[:, [card["labels"].index(label) for label in labels]]
    return torch.from_numpy(total / len(teachers)).float()  # (n, K)


def distillation_loss(logits: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """T² · KL(targets ‖ softmax(logits / T)), averaged over the batch; logits and targets (B, K)."""
    log_student = F.log_softmax(logits / temperature, dim=1)
    return temperature**2 * F.kl_div(log_student, targets, reduction="batchmean")
