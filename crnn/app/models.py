"""Which models the app offers, how they are labelled, loaded once per server, and kept within a disk budget.

Labels say honestly where a model comes from: "shipped" (``checkpoints/``),
"trained in this session" (by this browser session) or "shared on this
server" (trained by other sessions, or with the CLI, in the user models
folder). Models trained in the app (marked by an :data:`APP_MARK` file) are
capped in number and total size: beyond the cap the oldest ones are removed
(:func:`enforce_model_cap`); shipped and CLI-trained models are never
removed. Loading goes through :func:`crnn.core.checkpoint.load_checkpoint`,
the one loader. :func:`warm_default_model` loads the default model (and the
prediction code, torch included) in a background thread when the server
runs the app for the first time, so the first prediction does not wait for
them.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from crnn.app.roots import safe_folder, shown, user_models_dir
from crnn.app.state import MODEL_KEY, MODEL_PENDING_KEY, TRAINED_KEY
from crnn.core.checkpoint import checkpoint_folders, load_checkpoint, read_card
from crnn.core.defaults import CARD, CHECKPOINT_DIR, DEFAULT_MODEL, WEIGHTS
from crnn.core.errors import CheckpointError, CrnnError

SHIPPED = "shipped"
THIS_SESSION = "trained in this session"
SHARED = "shared on this server"
MAX_USER_MODELS = 20  # models trained in the app kept on the server; the oldest beyond go
MAX_USER_MODELS_MB = 500  # their total size on disk
APP_MARK = ".trained_in_app"  # file in a model folder the app trained (and may remove under the cap)


@dataclass
class LoadedModel:
    """A checkpoint in memory, shared by every session of the server.

    ``lock`` lets one heavier analysis (attributions, cell read-outs, noise sweeps, ablation) run on the model at a
    time, which bounds the server's memory and CPU when several visitors ask at once. Predictions do not take it:
    every hook an analysis attaches acts only in its own thread (:func:`crnn.core.hooks.this_thread_only`).
    """

    folder: Path
    model: Any
    card: dict
    key: str  # changes whenever the weights change; part of every analysis cache key
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def labels(self) -> list[str]:
        return list(self.card["labels"])


def is_checkpoint(folder: Path) -> bool:
    return (folder / CARD).is_file() and (folder / WEIGHTS).is_file()


def _user_models() -> list[Path]:
    """Checkpoint folders in the user models folder (never a shipped one, never a link), oldest first."""
    user = user_models_dir()
    if not user.is_dir() or user.resolve() == CHECKPOINT_DIR.resolve():
        return []
    found = [p for p in user.iterdir() if p.is_dir() and not p.is_symlink() and is_checkpoint(p)]
    return sorted(found, key=lambda p: ((p / WEIGHTS).stat().st_mtime_ns, p.name))


def trained_here() -> set[str]:
    """Folders of the models this browser session trained."""
    return st.session_state.setdefault(TRAINED_KEY, set())


def source_of(folder: str | Path) -> str:
    """Where a model comes from, as its label says: shipped, trained in this session, or shared on this server."""
    folder = Path(folder)
    if folder.resolve().is_relative_to(CHECKPOINT_DIR.resolve()):
        return SHIPPED
    return THIS_SESSION if str(folder) in trained_here() else SHARED


def model_label(folder: str | Path) -> str:
    return f"{Path(folder).name} ({source_of(folder)})"


def model_choices() -> dict[str, str]:
    """Display name → checkpoint folder: the shipped checkpoints, then the models trained in the app."""
    folders = checkpoint_folders(CHECKPOINT_DIR) + _user_models()  # every run draws the sidebar: no card is parsed
    return {model_label(folder): str(folder) for folder in folders}


def default_model_choice(choices: dict[str, str]) -> str | None:
    """The label of :data:`crnn.core.defaults.DEFAULT_MODEL` among ``choices``, else the first one."""
    for label, folder in choices.items():
        if Path(folder).name == DEFAULT_MODEL:
            return label
    return next(iter(choices), None)


def test_accuracy(folder: str | Path) -> dict | None:
    """The card's clean test result: {"ua", "speakers", "emotions"}, or None when the card records none.

    ``ua`` is the unweighted accuracy (0-1) on the ``speakers`` test speakers the model never heard. Only
    ``card.json`` is read (no weights, no torch), once per version of the card: the sidebar shows it on every page.
    """
    card = Path(folder) / CARD
    if not card.is_file():
        return None
    stat = card.stat()
    return _test_accuracy(str(folder), f"{stat.st_mtime_ns}:{stat.st_size}")


@st.cache_data(max_entries=64, show_spinner=False)
def _test_accuracy(folder: str, _stamp: str) -> dict | None:
    try:
        card = read_card(folder)
    except CrnnError:
        return None
    ua = (((card.get("metrics") or {}).get("test") or {}).get("clean") or {}).get("ua")
    if isinstance(ua, bool) or not isinstance(ua, int | float) or not 0.0 <= ua <= 1.0:  # NaN fails too
        return None
    speakers = len((card.get("split") or {}).get("test") or [])
    return {"ua": float(ua), "speakers": speakers, "emotions": len(card.get("labels") or [])}


def torch_threads() -> int:
    """Intra-op threads for the app's torch work: ``CRNN_LENS_TORCH_THREADS``, default 1.

    One thread per analysis keeps a small model's prediction at a few tens of
    milliseconds even when the CPU is busy (several threads spin-wait against each
    other and against other users' sessions), and lets sessions run side by side.
    """
    try:
        return max(1, int(os.environ.get("CRNN_LENS_TORCH_THREADS", "1")))
    except ValueError:
        return 1


def _weights_stamp(folder: Path) -> str:
    stat = (folder / WEIGHTS).stat()
    return f"{folder}:{stat.st_mtime_ns}:{stat.st_size}"


def _read(folder: str, stamp: str) -> LoadedModel:
    import torch

    torch.set_num_threads(torch_threads())
    model, card = load_checkpoint(Path(folder))
    return LoadedModel(Path(folder), model, card, card.get("weights_sha256") or stamp)


@st.cache_resource(max_entries=8, show_spinner="Loading the model…")
def _load(folder: str, stamp: str) -> LoadedModel:
    warm = _warm_thread
    if warm is not None and warm.name == folder:
        warm.join()  # the background warm-up is loading this very model: wait for it rather than load it twice
    lm = _warmed.pop((folder, stamp), None)
    _warmed.clear()  # a warmed model whose weights changed since is never taken: free it
    return lm if lm is not None else _read(folder, stamp)


_warm_lock = threading.Lock()
_warm_thread: threading.Thread | None = None  # named after the folder it loads
_warmed: dict[tuple[str, str], LoadedModel] = {}  # (folder, stamp) → the model the warm-up loaded, until _load takes it


def default_model_folder() -> Path | None:
    """The folder of :data:`~crnn.core.defaults.DEFAULT_MODEL` the sidebar offers first: shipped, else the user's."""
    for folder in (CHECKPOINT_DIR / DEFAULT_MODEL, user_models_dir() / DEFAULT_MODEL):
        if is_checkpoint(folder):
            return folder
    return None


def warm_default_model() -> threading.Thread | None:
    """Start loading the default model in a background thread, once per server process; returns that thread.

    The thread imports torch and the prediction code, loads the checkpoint
    and predicts one short synthetic clip (torch's first call is slow), so
    the first visitor's first prediction finds everything ready: ``_load``
    takes the model over (waiting for the thread if it is still busy). A
    failure is only logged: the page then loads the model itself and shows
    its usual one-line error. None when there is no default model.
    """
    global _warm_thread
    with _warm_lock:
        if _warm_thread is None:
            folder = default_model_folder()
            if folder is None:
                return None
            _warm_thread = threading.Thread(target=_warm, args=(str(folder),), name=str(folder), daemon=True)
            _warm_thread.start()
        return _warm_thread


def _warm(folder: str) -> None:
    import numpy as np

    from crnn.app import backend

    try:
        stamp = _weights_stamp(Path(folder))
        lm = _read(folder, stamp)
        t = np.arange(16000, dtype=np.float32) / 16000
        wave = (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)  # 1 s of a voiced tone
        backend.predict_file(lm.model, lm.card, wave)
        backend.display_features(wave)
        _warmed[(folder, stamp)] = lm
    except Exception:  # a warm-up must never take the server down; the page reports real errors
        logging.getLogger("crnn.app").exception("warming the default model failed")


def load_model(folder: str | Path) -> LoadedModel:
    """Load a checkpoint folder once per server (reloaded when its weights file changes)."""
    folder = Path(folder)
    if not is_checkpoint(folder):
        raise CheckpointError(f"{shown(folder)} holds no model ({WEIGHTS} and {CARD} are needed).")
    return _load(str(folder), _weights_stamp(folder))


def own_model_folder(text: str) -> Path:
    """A model folder typed by the visitor: inside the allowed roots and holding a checkpoint."""
    folder = safe_folder(text, "a model folder", CheckpointError)
    if not is_checkpoint(folder):
        raise CheckpointError(f"{shown(folder)} holds no model ({WEIGHTS} and {CARD} are needed).")
    return folder


def current_model() -> LoadedModel:
    """The model picked in the sidebar."""
    folder = st.session_state.get(MODEL_KEY)
    if not folder:
        raise CheckpointError("No trained model yet: train one on the Train page, or pick a model folder in the sidebar.")
    return load_model(folder)


def new_model_folder(name: str) -> Path:
    """A fresh folder under :func:`user_models_dir` for a model the visitor names (letters, digits, - and _)."""
    clean = re.sub(r"[^A-Za-z0-9_-]+", "_", name.strip()).strip("_")
    if not clean:
        raise CrnnError("Give the new model a name made of letters, digits, - or _.")
    folder = user_models_dir() / clean
    if is_checkpoint(folder):
        raise CrnnError(f"A model called {clean} already exists on this server; choose another name.")
    return folder


def remember_trained(folder: Path) -> None:
    """Mark ``folder`` as trained in the app, label it "trained in this session" and select it on the next run."""
    (folder / APP_MARK).touch()
    trained_here().add(str(folder))
    st.session_state[MODEL_PENDING_KEY] = str(folder)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def enforce_model_cap(keep: Path | None = None) -> list[str]:
    """Remove the oldest models trained in the app beyond :data:`MAX_USER_MODELS` or :data:`MAX_USER_MODELS_MB`.

    Only models the app trained count and go (shipped and CLI-trained ones
    never), and never ``keep`` (the model just trained). Returns the names of
    the removed models.
    """
    models = [(folder, _size(folder)) for folder in _user_models() if (folder / APP_MARK).is_file()]
    total = sum(size for _, size in models)
    removed = []
    for folder, size in models:
        if len(models) - len(removed) <= MAX_USER_MODELS and total <= MAX_USER_MODELS_MB * 2**20:
            break
        if keep is not None and folder == Path(keep):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
        total -= size
    return removed


def cap_message(removed: list[str]) -> str:
    """What the visitor is told when :func:`enforce_model_cap` removed models."""
    return (f"This server keeps at most {MAX_USER_MODELS} trained models ({MAX_USER_MODELS_MB} MB), so the oldest "
            f"were removed: {', '.join(removed)}.")
