"""The one checkpoint format: a folder with ``model.safetensors`` and ``card.json``.

The card (format ``crnn-lens/1``) names the registry model and its keyword
arguments, the labels, the corpus and speaker split, the seed, the metrics,
the training record, the code version and the SHA-256 of the weights file.
Loading never unpickles anything: weights are safetensors, the rest is JSON,
and the model is rebuilt from the registry. Every problem a user can cause
(unknown name, missing file, tampered weights, wrong shapes) is a
:class:`~crnn.core.errors.CheckpointError` with one sentence.

Saving replaces a checkpoint as a whole (:func:`crnn.core.fileio.atomic_folder`):
the new one is written into a hidden sibling folder (``.<name>.new-*``), the
old folder is renamed aside (``.<name>.old-*``), the new one renamed in, and
the old one removed. A kill at any point leaves one whole checkpoint: in
place, or aside, from where the next load or save renames it back. Temporary files and folders that a killed
writer left are removed by the next load or save once they are an hour old.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from crnn.core.card_check import build_from_card, card_model, check_finite, check_shapes
from crnn.core.defaults import CARD, CHECKPOINT_DIR, DEFAULT_MODEL, PROJECT_DIR, WEIGHTS
from crnn.core.errors import CheckpointError
from crnn.core.fileio import (
    atomic_folder,
    atomic_write_bytes,
    atomic_write_json,
    parse_json,
    recover_folder,
    remove_stale,
    remove_stale_folders,
    shown_path,
    write_durably,
)

# torch, safetensors and the model registry are imported by the functions that
# need them: listing checkpoints and reading cards (the app's sidebar) stay light.
if TYPE_CHECKING:
    import torch
    from torch import nn

FORMAT = "crnn-lens/1"
MAX_CARD_BYTES = 16 * 2**20  # a card with its training history is tens of kB; more is not a card, and json would hold it all
MAX_WEIGHTS_BYTES = 2**30  # the largest shipped model is 13 MB; the file is read whole, so a bigger one is refused first
STALE_AFTER_S = 3600.0  # temporary files and folders older than this belong to a killed writer
# Temporary names inside a checkpoint folder: atomic_path's ".<stem>.*" for the two files,
# and the ".epoch-*" of resume states that older versions kept in the folder.
TEMP_PREFIXES = (f".{Path(WEIGHTS).stem}.", f".{Path(CARD).stem}.", ".epoch-")
LEGACY_RESUME = "resume"  # where older versions kept resume states inside the checkpoint folder

__all__ = [
    "CARD", "CHECKPOINT_DIR", "DEFAULT_MODEL", "FORMAT", "WEIGHTS", "atomic_write_bytes", "atomic_write_json",
    "checkpoint_folders", "checkpoint_hash", "code_version", "list_checkpoints", "load_checkpoint", "read_card", "resolve_model",
    "save_checkpoint", "sha256_bytes", "state_dict_bytes", "tidy",
]  # fmt: skip


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@lru_cache(maxsize=1)
def code_version() -> str:
    """The package version, plus ``+g<commit>`` (and ``.dirty``) when the code is a git checkout."""
    try:
        from crnn import __version__ as version
    except ImportError:
        from importlib.metadata import PackageNotFoundError, version as dist_version

        try:
            version = dist_version("crnn-lens")
        except PackageNotFoundError:
            version = "0+unknown"
    root = PROJECT_DIR
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return version
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=5,
        )
        return f"{version}+g{commit.stdout.strip()}" + (".dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return version


def state_dict_bytes(model: nn.Module) -> bytes:
    """The model's parameters and persistent buffers as safetensors bytes (CPU, contiguous)."""
    from safetensors.torch import save as save_safetensors

    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    return save_safetensors(tensors)


# --- saving ------------------------------------------------------------------------------------


def save_checkpoint(model: nn.Module, card: dict, folder: str | Path) -> Path:
    """Write ``model.safetensors`` and ``card.json`` (with ``weights_sha256``) as checkpoint ``folder``.

    An existing checkpoint there is replaced as a whole (see the module
    docstring), so a kill at any instant leaves either the old or the new
    one loadable; other files in it (e.g. probe bundles) are carried over as
    hard links. A folder that exists but holds no card has no checkpoint to
    lose: the two files are written into it, the card last. A symlinked
    folder is replaced where it points, and the link kept. Returns ``folder``.
    """
    folder = Path(folder)
    data = state_dict_bytes(model)
    card = {**card, "format": FORMAT, "weights_sha256": sha256_bytes(data)}
    card.setdefault("code_version", code_version())
    text = (json.dumps(card, indent=2, allow_nan=False) + "\n").encode("utf-8")
    target = folder.resolve()
    tidy(target)
    if target.exists() and not target.is_dir():
        raise CheckpointError(f"{shown_path(folder)} is a file, not a checkpoint folder")
    if target.is_dir() and not (target / CARD).is_file():
        atomic_write_bytes(target / WEIGHTS, data)  # the card last: without it the folder is no checkpoint
        atomic_write_bytes(target / CARD, text)
        return folder
    with atomic_folder(target, carry_over=_is_extra) as staging:
        write_durably(staging / WEIGHTS, data)
        write_durably(staging / CARD, text)
    return folder


def _is_extra(name: str) -> bool:
    """A file of the checkpoint folder that is neither the checkpoint nor a temporary file."""
    return name not in (WEIGHTS, CARD) and not name.startswith(TEMP_PREFIXES)


def _card_json(path: Path) -> object:
    """The parsed JSON of a card file; ValueError, before reading it, when it is too large to be a card."""
    if path.stat().st_size > MAX_CARD_BYTES:
        raise ValueError(f"{CARD} is larger than a card can be ({MAX_CARD_BYTES >> 20} MB)")
    return parse_json(path.read_text(encoding="utf-8"))


def _is_whole(folder: Path) -> bool:
    """True if ``folder`` holds a card and the weights it names (their SHA-256 matches)."""
    try:
        card = _card_json(folder / CARD)
        return isinstance(card, dict) and _hash_file(folder / WEIGHTS)[0] == card.get("weights_sha256")
    except (OSError, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return False


def tidy(folder: str | os.PathLike) -> None:
    """Recover a checkpoint whose save was killed, and remove temporary files killed writers left.

    Only entries older than :data:`STALE_AFTER_S` seconds are removed, so a
    writer still at work keeps its files. Called by every load and save;
    failures (a read-only folder) are ignored.
    """
    target = Path(folder)
    recover_folder(target, _is_whole)
    remove_stale(target, TEMP_PREFIXES, STALE_AFTER_S)
    remove_stale(target / LEGACY_RESUME, TEMP_PREFIXES, STALE_AFTER_S)
    remove_stale_folders(target, STALE_AFTER_S)


# --- loading -----------------------------------------------------------------------------------


def resolve_model(name_or_dir: str | os.PathLike) -> Path:
    """A checkpoint folder: an existing folder as given, or ``checkpoints/<name>`` for a model name."""
    path = Path(name_or_dir)
    recover_folder(path.resolve(), _is_whole)
    if path.is_dir():
        return path
    text = str(name_or_dir)
    if path.exists():
        raise CheckpointError(f"{shown_path(path)} is a file, not a checkpoint folder")
    if os.sep in text or "/" in text:
        raise CheckpointError(f"checkpoint folder {shown_path(path)} does not exist")
    folder = CHECKPOINT_DIR / text
    recover_folder(folder, _is_whole)
    if folder.is_dir():
        return folder
    import crnn.core.models as models

    if text not in models.REGISTRY:
        raise CheckpointError(f"unknown model {text!r}; see `crnn models` for the names")
    raise CheckpointError(
        f"model {text} has no trained checkpoint in {shown_path(CHECKPOINT_DIR)}; "
        f"train it with `crnn train --model {text} --corpus PATH`"
    )


def read_card(folder: str | os.PathLike) -> dict:
    """The parsed ``card.json`` of a checkpoint folder (checks only that it is a crnn-lens card)."""
    folder = resolve_model(folder)
    path = folder / CARD
    if not path.is_file():
        raise CheckpointError(f"checkpoint {folder.name} has no {CARD}")
    try:
        card = _card_json(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"checkpoint {folder.name}: {CARD} is not valid JSON") from None
    except ValueError as exc:  # too large to be a card
        raise CheckpointError(f"checkpoint {folder.name}: {exc}") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {folder.name}: {CARD} is not a {FORMAT} model card")
    return card


def _hash_file(path: Path) -> tuple[str, os.stat_result]:
    """(SHA-256 hex, status of the very file that was hashed), reading 1 MB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest(), st


# Weights files already verified in this process: (path, device, inode, size, mtime) → SHA-256.
# A replaced file has another inode or mtime, so it is verified again.
_VERIFIED: dict[tuple, str] = {}


def _stamp(path: Path, st: os.stat_result) -> tuple:
    if len(_VERIFIED) > 1024:  # a long-lived app process: forget, at worst a file is hashed again
        _VERIFIED.clear()
    return (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def checkpoint_hash(folder_or_model: str | os.PathLike | nn.Module) -> str:
    """The SHA-256 (hex) of a checkpoint's weights, as its card records it: identifies a trained model.

    Accepts a checkpoint folder or name, or a model returned by
    :func:`load_checkpoint` (which carries its card). The weights file is
    hashed only if this process has not already verified it (a load does),
    and :class:`CheckpointError` is raised if it does not match the card.
    """
    card = getattr(folder_or_model, "card", None)
    if isinstance(card, dict) and card.get("weights_sha256"):
        return card["weights_sha256"]
    folder = resolve_model(folder_or_model)
    card = read_card(folder)
    path = folder / WEIGHTS
    if not path.is_file():
        raise CheckpointError(f"checkpoint {folder.name} has no {WEIGHTS}")
    expected = card.get("weights_sha256")
    if _VERIFIED.get(_stamp(path, path.stat())) != expected:
        digest, st = _hash_file(path)
        if digest != expected:
            raise CheckpointError(f"checkpoint {folder.name}: the weights do not match the card's SHA-256 (changed or damaged)")
        _VERIFIED[_stamp(path, st)] = digest
    return expected


def _read_weights(folder: Path, card: dict) -> dict:
    """The weights as tensors: the file is read once and those bytes hashed once against the card."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    path = folder / WEIGHTS
    if not path.is_file():
        raise CheckpointError(f"checkpoint {folder.name} has no {WEIGHTS}")
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        if st.st_size > MAX_WEIGHTS_BYTES:
            raise CheckpointError(f"checkpoint {folder.name}: {WEIGHTS} is larger than {MAX_WEIGHTS_BYTES >> 20} MB, "
                                  "more than any model here needs")
        data = fh.read()
    if sha256_bytes(data) != card.get("weights_sha256"):
        raise CheckpointError(f"checkpoint {folder.name}: the weights do not match the card's SHA-256 (changed or damaged)")
    _VERIFIED[_stamp(path, st)] = card["weights_sha256"]
    try:
        return load_safetensors(data)
    except (SafetensorError, ValueError, RuntimeError):
        raise CheckpointError(f"checkpoint {folder.name}: {WEIGHTS} is not a valid safetensors file") from None


def set_card_normalisation(model: nn.Module, card: dict) -> None:
    """Give the model's front end the card's feature normalisation (cards without one: per-utterance).

    ValueError, TypeError or RuntimeError when it does not fit the front end.
    """
    frontend = getattr(model, "frontend", None)
    if hasattr(frontend, "load_norm_card"):
        frontend.load_norm_card(card.get("normalisation"))


def load_checkpoint(name_or_folder: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """The one model loader: rebuild a trained model from its folder or registry name.

    Returns (model in eval mode on ``device``, card). The weights file is
    read once and verified against the card's SHA-256; the model is built
    from the card's ``model_kwargs``, gets the card as ``model.card``, and its
    front-end gets the card's feature normalisation (cards without one:
    per-utterance, as all models were trained before normalisation modes).
    """
    import torch

    folder = resolve_model(name_or_folder)
    tidy(folder)
    card = read_card(folder)
    name, labels, kwargs = card_model(card, folder)
    tensors = _read_weights(folder, card)
    check_finite(tensors, folder)
    # The card's settings are checked against the weights on PyTorch's meta device first, so an edited card
    # cannot make the loader allocate more than the (size-capped) weights file holds.
    with torch.device("meta"):
        skeleton = build_from_card(name, len(labels), kwargs, folder)
    check_shapes(skeleton, tensors, name, folder)
    model = build_from_card(name, len(labels), kwargs, folder)
    model.load_state_dict(tensors, strict=True)
    try:
        set_card_normalisation(model, card)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {folder.name}: the card's normalisation does not fit ({exc})") from None
    model.card = card
    return model.to(device).eval(), card

def checkpoint_folders(root: str | os.PathLike = CHECKPOINT_DIR) -> list[Path]:
    """The folders under ``root`` that hold a card, sorted by name; no card is read (the app lists them on every run)."""
    root = Path(root)
    # Hidden folders are a save's temporary copies (".<name>.new-…"), not checkpoints.
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []
    return [folder for folder in folders if (folder / CARD).is_file()]


def list_checkpoints(root: str | os.PathLike = CHECKPOINT_DIR) -> list[dict]:
    """Every checkpoint folder under ``root``: [{"name", "path", "card"}], or "error" instead of "card"."""
    found = []
    for folder in checkpoint_folders(root):
        entry = {"name": folder.name, "path": str(folder)}
        try:
            entry["card"] = read_card(folder)
        except CheckpointError as exc:
            entry["error"] = str(exc)
        found.append(entry)
    return found
