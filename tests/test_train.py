"""Training on a few RAVDESS files: it runs, is seeded, resumes after a crash, honours a time budget."""

import json

import pytest
from tiny_model import ravdess_subset, register_tiny

from crnn.analysis.evaluate import evaluate
from crnn.analysis.train import train

FAST = {"crop_seconds": 1.0, "show_bar": False}


@pytest.fixture
def corpus(ravdess_root, tmp_path_factory):
    return ravdess_subset(ravdess_root, tmp_path_factory.mktemp("ravdess"))


@pytest.fixture
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


class Interrupt(Exception):
    pass


def test_train_writes_checkpoint_with_ua(corpus, cache, tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    epochs = []
    card = train("tiny", corpus, out_dir=tmp_path / "run", max_epochs=2, cache_dir=cache,
                 progress=lambda e: epochs.append(e["epoch"]) if e["event"] == "epoch" else None, **FAST)
    assert epochs == [1, 2]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["card.json", "model.safetensors"]
    assert card == json.loads((tmp_path / "run" / "card.json").read_text())
    clean = card["metrics"]["test"]["clean"]
    assert 0.0 <= clean["ua"] <= 1.0 and clean["n"] == 4
    assert clean["ua"] == pytest.approx(sum(clean["recall"][k] for k in clean["labels"]) / len(clean["labels"]))
    assert card["metrics"]["test"]["noisy"]["n"] == 4
    assert card["labels"] == ["anger", "happiness", "neutral", "sadness"]
    assert set(card["split"]) >= {"train", "validation", "test"}
    assert card["training"]["epochs"] == 2 and card["training"]["stopped"] == "max_epochs"
    for condition in ("clean", "noisy"):  # evaluate() on the same corpus scores the card's test speakers
        again = evaluate(tmp_path / "run", corpus, noisy=condition == "noisy", cache_dir=cache)
        assert again["split"] == "test"
        assert {k: again[k] for k in ("ua", "n", "confusion")} == {
            k: card["metrics"]["test"][condition][k] for k in ("ua", "n", "confusion")
        }


def test_resume_after_interruption_matches_uninterrupted_run(corpus, cache, tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    args = dict(max_epochs=3, batch_size=4, cache_dir=cache, noisy=True, seed=5, **FAST)
    straight = train("tiny", corpus, out_dir=tmp_path / "straight", **args)

    def crash_after_first_epoch(event):
        if event["event"] == "epoch" and event["epoch"] == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        train("tiny", corpus, out_dir=tmp_path / "resumed", progress=crash_after_first_epoch, **args)
    assert [p.suffix for p in sorted((tmp_path / "resumed" / "resume").iterdir())] == [".json", ".safetensors"]
    assert not (tmp_path / "resumed" / "card.json").exists()

    epochs = []
    resumed = train("tiny", corpus, out_dir=tmp_path / "resumed",
                    progress=lambda e: epochs.append(e["epoch"]) if e["event"] == "epoch" else None, **args)
    assert epochs == [2, 3]
    assert resumed["training"]["resumed_from_epoch"] == 1
    assert resumed["weights_sha256"] == straight["weights_sha256"]
    assert resumed["training"]["history"] == straight["training"]["history"]
    assert resumed["metrics"] == straight["metrics"]
    assert not (tmp_path / "resumed" / "resume").exists()


def test_time_budget_stops_cleanly(corpus, cache, tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    card = train("tiny", corpus, out_dir=tmp_path / "run", max_epochs=5, max_minutes=1e-6, batch_size=4,
                 cache_dir=cache, **FAST)
    assert card["training"]["stopped"] == "time_budget"
    assert card["training"]["epochs"] == 1
    assert card["training"]["history"][0]["batches"] == 1  # the epoch ended after its first batch
