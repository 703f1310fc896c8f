"""Results shaped for the pages' tables and charts: selections and renamings, never new numbers."""

from __future__ import annotations

from typing import Any

from crnn.app import backend
from crnn.core.card_check import level_invariant

PROPERTIES = ("emotion", "speaker", "gender")
NO_SPEECH_WARNING = (
    "No speech found: Praat hears no voiced sound in this clip (noise, a hum or a tone?), so the emotion below "
    "is unreliable — the model always names one of its emotions, even for sound that is not a voice."
)
LEVEL_NOTE = (
    "This model also hears how loudly the clip was recorded: a much louder or quieter recording than its training "
    "speech (RAVDESS peaks around −20 dBFS) can change its answer. Model zoo, column “any level”, lists the models "
    "that do not."
)


def hears_level(card: dict) -> bool:
    """Whether the model's answer depends on the recording level (an absolute log floor; README, "The recording level")."""
    return not level_invariant(card)


def no_speech(result: dict) -> bool:
    """True when a prediction (:func:`crnn.app.cached.predict`) was made on a clip without any voiced frame."""
    return not result.get("speech", True)


def probe_rows(scores: dict) -> list[dict]:
    """One row per (stage, property): the linear-SVM UA and ρ of :func:`crnn.app.cached.probe_scores`."""
    svm = scores.get("svm_ua_by_label") or {}
    return [
        {"stage": module, "property": label, "SVM UA": (svm.get(module) or {}).get(label),
         "ρ": scores["inertia_ratio"][module].get(label)}
        for module in scores["modules"] for label in PROPERTIES
    ]  # fmt: skip


def cell_layers(report: Any) -> list[str]:
    """The recurrent layers of a cell report, in network order."""
    return list(dict.fromkeys(report.table.layer))


def best_cell_figures(report: Any, layer: str, state: str, features: dict[str, str]) -> dict[str, Any]:
    """For each prosodic track of ``features`` (name → title): the overlay of its best-matching cell, or None.

    Only cells of ``layer`` and ``state`` compete; None where no cell could be
    compared (e.g. a pitch track without voiced frames).
    """
    table = report.table
    chosen = table[(table.layer == layer) & (table.state == state)]
    figures: dict[str, Any] = {}
    for feature, title in features.items():
        best = backend.top_cells(chosen, feature, 1)
        if best.empty or best.r.isna().all():
            figures[feature] = None
            continue
        row = best.iloc[0]
        fig = backend.cells_overlay(report, row.layer, row.state, int(row.direction), int(row.unit), feature)
        fig.update_layout(title=f"{title} · r = {row.r:.2f}")
        figures[feature] = fig
    return figures


def ranked_cells(ranking: Any, feature: str, k: int = 15) -> Any:
    """The ``k`` cells whose mean correlation with ``feature`` over the corpus is largest."""
    return backend.top_cells(ranking, feature, k)
