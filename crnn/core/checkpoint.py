"""The one checkpoint format: a folder with ``model.safetensors`` and ``card.json``.

The card (format ``crnn-lens/1``) names the registry model and its keyword
arguments, the labels, the corpus and speaker split, the seed, the metrics,
the training record, the code version and the SHA-256 of the weights file.
Loading never unpickles anything: weights are safetensors, the rest is JSON,
and the model is rebuilt from the registry. Every problem a user can cause
(unknown name, missing file, tampered weights, wrong shapes) is a
:class:`~crnn.core.errors.CheckpointError` with one sentence.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from crnn.core.defaults import CARD, CHECKPOINT_DIR, DEFAULT_MODEL, PROJECT_DIR, WEIGHTS
from crnn.core.errors import CheckpointError
from crnn.core.fileio import atomic_write_bytes, atomic_write_json

# torch, safetensors and the model registry are imported by the functions that
# need them: listing checkpoints and reading cards (the app's sidebar) stay light.
if TYPE_CHECKING:
    import torch
    from torch import nn

FORMAT = "crnn-lens/1"


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


def save_checkpoint(model: nn.Module, card: dict, folder: str | Path) -> Path:
    """Write ``model.safetensors`` then ``card.json`` (with ``weights_sha256``) into ``folder``.

    Each file is replaced atomically; other files in the folder (e.g. probe
    bundles) are left alone. The weights go first, so a crash in between
    leaves a card whose hash no longer matches, which loading refuses.
    Returns the folder.
    """
    folder = Path(folder)
    data = state_dict_bytes(model)
    card = dict(card)
    card["format"] = FORMAT
    card.setdefault("code_version", code_version())
    card["weights_sha256"] = sha256_bytes(data)
    atomic_write_bytes(folder / WEIGHTS, data)
    atomic_write_json(folder / CARD, card)
    return folder


def resolve_model(name_or_dir: str | os.PathLike) -> Path:
    """A checkpoint folder: an existing folder as given, or ``checkpoints/<name>`` for a model name."""
    path = Path(name_or_dir)
    if path.is_dir():
        return path
    text = str(name_or_dir)
    if os.sep in text or "/" in text:
        raise CheckpointError(f"checkpoint folder {text} does not exist")
    folder = CHECKPOINT_DIR / text
    if folder.is_dir():
        return folder
    import crnn.core.models as models

    if text not in models.REGISTRY:
        raise CheckpointError(f"unknown model {text!r}; see `crnn models` for the names")
    raise CheckpointError(f"model {text} has no trained checkpoint in {CHECKPOINT_DIR}; train it with `crnn train --model {text} --corpus PATH`")


def read_card(folder: str | os.PathLike) -> dict:
    """The parsed ``card.json`` of a checkpoint folder (checks only that it is a crnn-lens card)."""
    folder = resolve_model(folder)
    path = folder / CARD
    if not path.is_file():
        raise CheckpointError(f"checkpoint {folder.name} has no {CARD}")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"checkpoint {folder.name}: {CARD} is not valid JSON") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {folder.name}: {CARD} is not a {FORMAT} model card")
    return card


def checkpoint_hash(folder: str | os.PathLike) -> str:
    """SHA-256 (hex) of the checkpoint's weights file: identifies a trained model for caches."""
    path = resolve_model(folder) / WEIGHTS
    if not path.is_file():
        raise CheckpointError(f"checkpoint {Path(folder).name} has no {WEIGHTS}")
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_checkpoint(folder_or_name: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a trained model from its folder (or registry name); returns (model in eval mode, card)."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    import crnn.core.models as models

    folder = resolve_model(folder_or_name)
    card = read_card(folder)
    name = card.get("model")
    if name not in models.REGISTRY:
        raise CheckpointError(f"checkpoint {folder.name} names unknown model {name!r}")
    labels = card.get("labels")
    if not isinstance(labels, list) or not labels:
        raise CheckpointError(f"checkpoint {folder.name}: the card lists no labels")
    weights_path = folder / WEIGHTS
    if not weights_path.is_file():
        raise CheckpointError(f"checkpoint {folder.name} has no {WEIGHTS}")
    data = weights_path.read_bytes()
    if sha256_bytes(data) != card.get("weights_sha256"):
        raise CheckpointError(f"checkpoint {folder.name}: the weights do not match the card's SHA-256 (changed or damaged)")
    try:
        tensors = load_safetensors(data)
    except (SafetensorError, ValueError, RuntimeError):
        raise CheckpointError(f"checkpoint {folder.name}: {WEIGHTS} is not a valid safetensors file") from None
    kwargs = card.get("model_kwargs") or {}
    try:
        model = models.build_model(name, len(labels), **kwargs)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {folder.name}: cannot build {name} with the card's settings ({exc})") from None
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    if expected.keys() != found.keys():
        missing = sorted(expected.keys() - found.keys())
        extra = sorted(found.keys() - expected.keys())
        what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise CheckpointError(f"checkpoint {folder.name}: the weights do not fit model {name} ({what})")
    for key, shape in expected.items():
        if found[key] != shape:
            raise CheckpointError(
                f"checkpoint {folder.name}: tensor {key} has shape {list(found[key])}, model {name} needs {list(shape)}"
            )
    model.load_state_dict(tensors, strict=True)
    return model.to(device).eval(), card


def list_checkpoints(root: str | os.PathLike = CHECKPOINT_DIR) -> list[dict]:
    """Every checkpoint folder under ``root``: [{"name", "path", "card"}], or "error" instead of "card"."""
    root = Path(root)
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if not (folder / CARD).is_file():
            continue
        entry = {"name": folder.name, "path": str(folder)}
        try:
            entry["card"] = read_card(folder)
        except CheckpointError as exc:
            entry["error"] = str(exc)
        found.append(entry)
    return found
