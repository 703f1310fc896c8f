"""The model zoo's data (page 6): every model's results next to the baselines, labelled as the sidebar labels them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from crnn.app import backend
from crnn.app.models import LoadedModel, model_label
from crnn.app.roots import user_models_dir
from crnn.core.defaults import CHECKPOINT_DIR, DEFAULT_MODEL

MODEL_COLUMNS = {"label": "model", "model": "architecture", "family": "family", "paper": "paper", "input": "input",
                 "parameters": "parameters", "ua_clean": "UA clean", "ua_noisy": "UA noisy", "ece": "calibration error",
                 "level_invariant": "any recording level", "epochs": "epochs"}


@st.cache_data(ttl=60, show_spinner=False)
def _results(user_dir: str) -> tuple[list[dict], list[dict]]:
    """(model rows of the shipped checkpoints and of ``user_dir``, best-kernel baseline rows)."""
    shipped = backend.results_rows(CHECKPOINT_DIR)
    models = [row for row in shipped if row["kind"] == "model"]
    if Path(user_dir).is_dir() and Path(user_dir).resolve() != CHECKPOINT_DIR.resolve():
        models += backend.results_rows(Path(user_dir), baselines=[])
    # both kernels of both openSMILE feature sets; an SVM on a network's embedding is a README comparison
    baselines = [row for row in shipped if row["kind"] == "baseline" and not row.get("network")]
    return models, baselines


def zoo_results() -> tuple[list[dict], list[dict]]:
    """(model rows, baseline rows: every feature set × kernel); model rows get "label", the name the sidebar's model picker shows."""
    models, baselines = _results(str(user_models_dir()))
    return [{**row, "label": model_label(row["path"])} for row in models], baselines


@st.cache_data(ttl=600, show_spinner=False)
def seed_spread() -> list[dict]:
    """One row per shipped group of training-seed runs (``checkpoints/ablation``, ``crnn report --seeds``):
    how far clean test UA moves when the same model is trained again on the same speakers."""
    rows = []
    for group in backend.seed_rows(CHECKPOINT_DIR / "ablation"):
        clean = [run["test_clean_ua"] for run in group["runs"] if run["test_clean_ua"] is not None]
        if len(clean) < 2:
            continue
        mean, sd = group["test_clean_ua_mean_sd"]
        rows.append({"model": group["model"], "trainings": len(clean), "UA clean, mean": mean, "± sd": sd,
                     "lowest": min(clean), "highest": max(clean)})
    return rows


def model_table(rows: list[dict]) -> list[dict]:
    """The zoo's model rows with the columns the table shows, renamed."""
    return [{shown: row.get(name) for name, shown in MODEL_COLUMNS.items()} for row in rows]


NORMALISED_WITH = {"speaker": "each speaker's own statistics", "training": "the training speakers' statistics"}


def baseline_table(baselines: list[dict]) -> list[dict]:
    return [{"baseline": f"{b['feature_set']} + SVM ({b['kernel']})", "features": b["n_features"],
             "z-scored with": NORMALISED_WITH.get(b.get("norm", "speaker"), b.get("norm")),
             "UA clean": b["ua_clean"], "UA noisy": b["ua_noisy"],
             "chosen on validation": "✅" if b.get("best") else ""} for b in baselines]  # fmt: skip


def default_pick(rows: list[dict]) -> int:
    """Index of the row "look closer at" opens with: the default model (it has convolutions), else the first."""
    return next((k for k, row in enumerate(rows) if row.get("name") == DEFAULT_MODEL), 0)


def calibration(lm: LoadedModel) -> dict | None:
    """The card's calibration (temperature, ECE before/after, reliability bins), or None for older cards."""
    found = lm.card.get("calibration") or {}
    return found if found.get("reliability_test") else None


def confusion_report(lm: LoadedModel, condition: str) -> dict | None:
    """The card's test confusion matrix for "clean" or "noisy" audio (with its labels), or None."""
    report = ((lm.card.get("metrics") or {}).get("test") or {}).get(condition) or {}
    if not report.get("confusion"):
        return None
    return {**report, "labels": report.get("labels") or lm.labels}


def first_layer_filters(lm: LoadedModel) -> Any:
    """The model's first convolution after its front-end (None when its first layer is recurrent)."""
    return lm.model.first_layer_filters()


@st.cache_resource(max_entries=8, show_spinner=False)
def filter_figures(_lm: LoadedModel, key: str, shown: int) -> tuple[Any, Any | None]:
    """(the first ``shown`` first-layer filters, their spectral shapes beside the DCT basis or None), built once per
    model: they depend on its weights only, and building figures holds the GIL every visitor's run needs. Every
    session gets the same objects, which only st.plotly_chart reads."""
    filters = first_layer_filters(_lm)
    dct = backend.dct_comparison_figure(filters) if filters["kind"] in backend.SPECTRAL_KINDS else None
    return backend.filters_figure(filters, max_filters=shown), dct
