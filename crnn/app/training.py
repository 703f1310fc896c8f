"""Training from the app (page 7): one training per server, live progress, and the models' disk budget."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import streamlit as st

from crnn.app import backend
from crnn.app.confidence import chance_words
from crnn.app.frame import progress_callback
from crnn.app.models import cap_message, enforce_model_cap, new_model_folder, remember_trained
from crnn.core.cache import Progress
from crnn.core.defaults import DEFAULT_MODEL
from crnn.core.errors import CrnnError

TRAIN_LOCK = threading.Lock()  # one training per server: the CPU is the bottleneck, not memory


def model_specs() -> dict[str, dict]:
    """Registry name → {"family", "input", "paper", "parameters", ...} of every model that can be trained."""
    return {row["name"]: row for row in backend.list_models()}


def default_spec(specs: dict[str, dict]) -> int:
    """Index of :data:`crnn.core.defaults.DEFAULT_MODEL` among ``specs`` (0 when absent)."""
    return list(specs).index(DEFAULT_MODEL) if DEFAULT_MODEL in specs else 0


def _status(event: dict) -> str:
    kind = event.get("event")
    if kind == "decode":
        return f"Reading the audio: {event['done']} of {event['total']} files"
    if kind == "batch":
        return f"Epoch {event['epoch']}: batch {event['batch']} of {event['batches']}, loss {event['loss']:.3f}"
    if kind == "restart":
        return "The model stayed at chance level, so training starts again with another random seed…"
    return "Testing the best epoch on unseen speakers…"


def training_progress(bar: Any, chart: Any, max_epochs: int) -> Progress:
    """The training's :data:`Progress` events on a bar (reading, batches, testing) and a chart (one point per epoch)."""
    show = progress_callback(bar, _status)
    history: list[dict] = []

    def update(event: dict) -> None:
        kind = event.get("event")
        if kind == "batch":
            done = (event["epoch"] - 1) * event["batches"] + event["batch"]
            show({**event, "done": done, "total": max_epochs * event["batches"]})
        elif kind == "epoch":
            history.append({"epoch": event["epoch"], "validation UA": event["val_ua"], "training loss": event["loss"]})
            chart.line_chart(history, x="epoch", y=["validation UA", "training loss"])
        elif kind == "evaluate":
            show({**event, "done": 1, "total": 1})
        elif kind == "restart":
            history.clear()
            show({**event, "done": 0, "total": 1})
        else:
            show(event)

    return update


def train_model(name: str, corpus_folder: Path, new_name: str, *, noisy: bool, max_epochs: int,
                max_minutes: float) -> str | None:
    """Train ``name`` on the corpus into a new user model, select it, and say what happened.

    Returns the message to show after the rerun, or None when another
    training holds the server (a warning is shown). Older models beyond the
    cap are removed afterwards, and the message says which.
    """
    out = new_model_folder(new_name)
    if not TRAIN_LOCK.acquire(blocking=False):
        st.warning("Another training is running on this server; try again when it has finished.")
        return None
    try:
        corpus = backend.read_corpus(corpus_folder)
        bar = st.progress(0.0, text="Reading the audio…")
        progress = training_progress(bar, st.empty(), max_epochs)
        card = backend.train(name, corpus, out, noisy=noisy, max_epochs=max_epochs, max_minutes=max_minutes,
                             progress=progress)
    finally:
        TRAIN_LOCK.release()
    if not card:
        raise CrnnError("The training stopped without saving a model.")
    remember_trained(out)
    removed = enforce_model_cap(keep=out)
    ua = card["metrics"]["test"]["clean"]["ua"]
    st.session_state["train_chance"] = chance_words(ua, len(card.get("labels") or []))
    message = f"Saved **{out.name}**: {ua:.0%} unweighted accuracy on unseen speakers. It is now selected in the sidebar."
    return f"{message} {cap_message(removed)}" if removed else message
