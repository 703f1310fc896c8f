"""Checkpoints round-trip; damaged or tampered ones are refused with one CheckpointError line."""

import functools
import hashlib
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


def test_a_card_too_large_to_be_one_is_refused_before_it_is_read(saved, monkeypatch):
    import crnn.core.checkpoint as checkpoint

    _, folder = saved
    size = (folder / "card.json").stat().st_size
    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "MAX_CARD_BYTES", size - 1)  # a real 16 MB file is not needed to cross the line
        patch.setattr(Path, "read_text", lambda *a, **k: pytest.fail("the oversized card was read"))
        assert "larger than a card can be" in _one_line_error(folder)
    monkeypatch.setattr(checkpoint, "MAX_CARD_BYTES", size)
    load_checkpoint(folder)  # a card of exactly the limit loads


def _edit_card(folder, **changes) -> None:
    card = json.loads((folder / "card.json").read_text())
    (folder / "card.json").write_text(json.dumps({**card, **changes}))


def test_a_card_nested_too_deeply_for_json_is_refused_in_one_line(saved):
    _, folder = saved
    (folder / "card.json").write_text("[" * 100_000 + "]" * 100_000)  # 200 kB; json.loads hit RecursionError
    assert "not valid JSON" in _one_line_error(folder)


@pytest.mark.parametrize("labels", [
    [{"a": 0}, {"a": 1}, {"a": 2}, {"a": 3}],  # not names: a TypeError once printed
    ["anger", "anger", "neutral", "sadness"],  # two classes would print as one
    ["\x1b[31manger\nx", "happiness", "neutral", "sadness"],  # a terminal escape and a newline, printed as they are
    ["x" * 65, "happiness", "neutral", "sadness"],
])
def test_card_labels_must_be_distinct_short_printable_names(saved, labels):
    _, folder = saved
    _edit_card(folder, labels=labels)
    assert "labels must be distinct short names" in _one_line_error(folder)


def test_weights_with_nan_are_refused_even_when_the_card_matches_them(saved):
    model, folder = saved
    with torch.no_grad():
        model.head.bias[0] = float("nan")
    save_checkpoint(model, {"model": "tiny", "model_kwargs": model.config, "labels": LABELS}, folder)
    assert "head.bias holds NaN or infinite values" in _one_line_error(folder)  # it predicted "anger (nan%)"


def test_an_edited_size_in_the_card_is_refused_before_the_model_is_allocated(saved, monkeypatch):
    _, folder = saved
    _edit_card(folder, model_kwargs={"hidden": 2**40})  # a real build would ask for terabytes
    assert "cannot build tiny" in _one_line_error(folder)
    _edit_card(folder, model_kwargs={"hidden": 4000})  # buildable, but not these weights: refused before the build
    real_builds = []
    original = TinyModel.__init__

    @functools.wraps(original)  # the model reads its own signature
    def counting(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if next(self.parameters()).device.type != "meta":
            real_builds.append(kwargs)

    monkeypatch.setattr(TinyModel, "__init__", counting)
    assert "shape" in _one_line_error(folder)
    assert real_builds == []


def test_weights_too_large_for_any_model_here_are_refused_before_they_are_read(saved, monkeypatch):
    import crnn.core.checkpoint as checkpoint

    _, folder = saved
    size = (folder / "model.safetensors").stat().st_size
    monkeypatch.setattr(checkpoint, "MAX_WEIGHTS_BYTES", size - 1)
    assert "larger than" in _one_line_error(folder)
    monkeypatch.setattr(checkpoint, "MAX_WEIGHTS_BYTES", size)
    load_checkpoint(folder)


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


def test_resolve_a_file_says_it_is_a_file(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x")
    with pytest.raises(CheckpointError, match="weights.bin is a file, not a checkpoint folder"):
        resolve_model(path)


# --- the one loader (issue 8) -------------------------------------------------------------------


def test_load_hashes_the_weights_once_and_keeps_the_card(saved, monkeypatch):
    """One read, one SHA-256: checkpoint_hash after a load returns the verified card hash."""
    import hashlib

    import crnn.core.checkpoint as checkpoint

    _, folder = saved
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr(checkpoint.hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    model, card = load_checkpoint(folder)
    assert checkpoint_hash(folder) == card["weights_sha256"] == checkpoint_hash(model)
    assert len(calls) == 1
    assert model.card is card


def test_load_restores_the_feature_normalisation(tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    torch.manual_seed(0)
    model = TinyModel(len(LABELS), hidden=6).eval()
    mean, std = torch.linspace(-3, 3, 40), torch.linspace(0.5, 2, 40)
    model.frontend.set_norm("global", mean, std)
    card = {"model": "tiny", "model_kwargs": model.config, "labels": LABELS, "normalisation": model.frontend.norm_card()}
    loaded, _ = load_checkpoint(save_checkpoint(model, card, tmp_path / "global"))
    assert loaded.frontend.norm == "global"
    torch.testing.assert_close(loaded.frontend.ref_mean, mean, atol=1e-5, rtol=0)
    wave = torch.randn(1, 8000)
    torch.testing.assert_close(loaded(wave), model(wave))
    del card["normalisation"]  # cards written before normalisation modes: per-utterance
    old, _ = load_checkpoint(save_checkpoint(model, card, tmp_path / "old"))
    assert old.frontend.norm == "utterance"


def test_keys_a_card_lacks_take_the_class_defaults(tmp_path):
    """An old card without a newer keyword means the class default of its time, not the variant's."""
    from crnn.core.models import REGISTRY

    spec = REGISTRY["cblstm"]  # the variant sets bidirectional=True; ConvRNN's default is False
    assert spec.kwargs["bidirectional"] is True
    torch.manual_seed(0)
    model = spec.cls(2, conv_hidden=8, hidden=8)
    kwargs = {k: v for k, v in model.config.items() if k != "bidirectional"}
    folder = save_checkpoint(model, {"model": "cblstm", "model_kwargs": kwargs, "labels": ["anger", "sadness"]}, tmp_path / "c")
    loaded, _ = load_checkpoint(folder)
    assert loaded.config["bidirectional"] is False


# --- kill during the final save (issue 12) ------------------------------------------------------


def _retrained(seed: int = 1) -> TinyModel:
    torch.manual_seed(seed)
    return TinyModel(len(LABELS), hidden=6)


def _killed_save(monkeypatch, step: str, model, folder) -> None:
    """Run save_checkpoint in a forked child that dies (os._exit, no clean-up) when it reaches ``step``."""
    import crnn.core.checkpoint as checkpoint
    import crnn.core.fileio as fileio

    module = checkpoint if step == "write_durably" else fileio
    with monkeypatch.context() as m:
        real = getattr(module, step)
        calls = []

        def die(*args):
            calls.append(1)
            if step != "write_durably" or len(calls) == 2:  # weights written, card not yet
                os._exit(17)
            return real(*args)

        m.setattr(module, step, die)
        pid = os.fork()
        if pid == 0:  # the child: save, and die at the step
            try:
                save_checkpoint(model, {"model": "tiny", "model_kwargs": model.config, "labels": LABELS}, folder)
            finally:
                os._exit(3)
        _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 17, "the child did not reach the step"


def _hidden(folder) -> list[str]:
    inside = list(folder.iterdir()) if folder.is_dir() else []
    return sorted(p.name for p in [*inside, *folder.parent.iterdir()] if p.name.startswith("."))


@pytest.mark.parametrize(
    "step, survivor",
    [("write_durably", "old"), ("_move_in", "new"), ("_discard", "new")],
)  # killed: while writing the new card; with the old folder set aside; before the old one is removed
def test_a_kill_during_save_leaves_one_whole_checkpoint(saved, monkeypatch, step, survivor):
    import crnn.core.checkpoint as checkpoint

    old_model, folder = saved
    (folder / "probe_x.npz").write_bytes(b"bundle")  # other files stay with the checkpoint
    new_model = _retrained()
    _killed_save(monkeypatch, step, new_model, folder)
    assert _hidden(folder), "a kill leaves its temporary folder behind"
    loaded, card = load_checkpoint(folder)  # recovers, if the kill came between the renames
    expected = old_model if survivor == "old" else new_model
    wave = torch.randn(1, 8000)
    torch.testing.assert_close(loaded(wave), expected.eval()(wave))
    assert (folder / "probe_x.npz").read_bytes() == b"bundle"
    assert [e["name"] for e in list_checkpoints(folder.parent)] == ["tiny"]
    monkeypatch.setattr(checkpoint, "STALE_AFTER_S", 0.0)  # pretend an hour went by
    load_checkpoint(folder)
    assert _hidden(folder) == []


def test_a_failed_swap_puts_the_old_checkpoint_back(saved, monkeypatch):
    import crnn.core.fileio as fileio

    old_model, folder = saved
    monkeypatch.setattr(fileio, "_move_in", lambda *a: (_ for _ in ()).throw(OSError("disk gone")))
    with pytest.raises(OSError, match="disk gone"):
        save_checkpoint(_retrained(), {"model": "tiny", "model_kwargs": old_model.config, "labels": LABELS}, folder)
    assert _hidden(folder) == []
    loaded, _ = load_checkpoint(folder)
    wave = torch.randn(1, 8000)
    torch.testing.assert_close(loaded(wave), old_model.eval()(wave))


def test_stale_temporaries_are_removed_when_an_hour_old(saved, monkeypatch):
    import crnn.core.checkpoint as checkpoint

    _, folder = saved
    (folder / ".model.k2j3.safetensors").write_bytes(b"half")
    (folder / ".card.x9.json").write_text("{")
    (folder / "resume").mkdir()
    (folder / "resume" / ".epoch-0003.ab.json").write_text("{")
    (folder.parent / ".tiny.new-q1w2").mkdir()
    (folder.parent / ".other.new-q1w2").mkdir()  # another checkpoint's: not this one's to remove
    load_checkpoint(folder)
    assert len(_hidden(folder)) == 4  # young: perhaps a writer at work
    monkeypatch.setattr(checkpoint, "STALE_AFTER_S", 0.0)
    save_checkpoint(_retrained(), {"model": "tiny", "model_kwargs": _retrained().config, "labels": LABELS}, folder)
    assert _hidden(folder) == [".other.new-q1w2"]
    assert list((folder / "resume").iterdir()) == []


def test_saving_into_a_plain_folder_keeps_its_files(tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    model = _retrained()
    save_checkpoint(model, {"model": "tiny", "model_kwargs": model.config, "labels": LABELS}, folder)
    assert (folder / "notes.txt").read_text() == "keep me"
    load_checkpoint(folder)


class _Trap:
    """Unpickling this creates ``path``: proof that a loader unpickled it."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_in_place_of_the_weights_is_refused_never_unpickled(saved, tmp_path):
    """Loading reads safetensors and JSON only: a pickle with a matching SHA-256 is refused, and never run."""
    _, folder = saved
    trap = tmp_path / "unpickled"
    torch.save({"state_dict": _Trap(trap)}, folder / "model.safetensors")
    card = json.loads((folder / "card.json").read_text())
    card["weights_sha256"] = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    (folder / "card.json").write_text(json.dumps(card))
    assert "SHA-256" not in _one_line_error(folder)  # refused for what the file is, not for being changed
    assert not trap.exists()


def test_card_paths_stay_meaningful_in_a_clone_elsewhere():
    """A corpus beside the project is stored relative to it, so a clone at another path still finds it."""
    from crnn.core.defaults import PROJECT_DIR
    from crnn.core.fileio import portable_path, resolve_portable

    beside = PROJECT_DIR.parent / "shared" / "data" / "ravdess"
    assert portable_path(beside) == "../shared/data/ravdess"
    assert resolve_portable("../shared/data/ravdess") == beside.resolve()
    assert portable_path("/") == "/" and resolve_portable("/") == Path("/")


def test_shipped_cards_name_no_absolute_corpus_path():
    from crnn.core.defaults import CHECKPOINT_DIR

    for card in CHECKPOINT_DIR.rglob("card.json"):
        root = (json.loads(card.read_text()).get("corpus") or {}).get("root", "")
        assert not Path(root).is_absolute(), f"{card}: {root}"
