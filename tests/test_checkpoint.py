"""Checkpoints round-trip; damaged or tampered ones are refused with one CheckpointError line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_model import TinyModel, register_tiny

import crnn
from crnn.core.checkpoint import (
    FORMAT,
    checkpoint_hash,
    list_checkpoints,
    load_checkpoint,
    resolve_model,
    save_checkpoint,
)
from crnn.core.errors import CheckpointError

LABELS = ["anger", "happiness", "neutral", "sadness"]


@pytest.fixture
def saved(tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    torch.manual_seed(0)
    model = TinyModel(len(LABELS), hidden=6)
    folder = save_checkpoint(model, {"model": "tiny", "model_kwargs": model.config, "labels": LABELS}, tmp_path / "tiny")
    return model, folder


def test_round_trip(saved):
    model, folder = saved
    loaded, card = load_checkpoint(folder)
    assert card["format"] == FORMAT and card["labels"] == LABELS
    assert card["weights_sha256"] == checkpoint_hash(folder)
    assert "code_version" in card
    assert not loaded.training
    wave = torch.randn(1, 8000)
    model.eval()
    assert torch.equal(model(wave), loaded(wave))
    (entry,) = list_checkpoints(folder.parent)
    assert entry["name"] == "tiny" and entry["card"]["model"] == "tiny"


def _one_line_error(folder) -> str:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(folder)
    message = str(info.value)
    assert "\n" not in message and folder.name in message
    return message


def test_flipped_bytes_refused(saved):
    _, folder = saved
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert "SHA-256" in _one_line_error(folder)


def test_truncated_weights_refused(saved):
    _, folder = saved
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    _one_line_error(folder)


def test_edited_model_name_refused(saved):
    _, folder = saved
    card = json.loads((folder / "card.json").read_text())
    card["model"] = "no_such_model"
    (folder / "card.json").write_text(json.dumps(card))
    assert "unknown model" in _one_line_error(folder)


def test_missing_card_and_weights_refused(saved):
    _, folder = saved
    (folder / "model.safetensors").unlink()
    assert "model.safetensors" in _one_line_error(folder)
    (folder / "card.json").unlink()
    assert "card.json" in _one_line_error(folder)


def test_wrong_shapes_refused(saved):
    _, folder = saved
    card = json.loads((folder / "card.json").read_text())
    card["model_kwargs"]["hidden"] = 7  # weights were saved with hidden=6
    (folder / "card.json").write_text(json.dumps(card))
    assert "shape" in _one_line_error(folder)


def test_resolve_unknown_name(monkeypatch):
    register_tiny(monkeypatch)
    with pytest.raises(CheckpointError, match="unknown model"):
        resolve_model("no_such_model")
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_model("/no/such/folder")


def test_listing_and_reading_cards_do_not_import_torch(saved):
    """The app's sidebar lists checkpoints on every page; torch must wait for the first model load."""
    _, folder = saved
    code = (
        "import sys; from crnn.core.checkpoint import list_checkpoints, read_card; "
        f"entries = list_checkpoints({str(folder.parent)!r}); read_card({str(folder)!r}); "
        "assert entries and 'card' in entries[0], entries; "
        "heavy = [m for m in ('torch', 'safetensors', 'crnn.core.models') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": str(Path(crnn.__file__).parents[1])})
