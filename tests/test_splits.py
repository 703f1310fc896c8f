"""Speaker-independent splits on synthetic manifests (no audio needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crnn.core.corpora import Corpus, Utterance
from crnn.core.errors import CorpusError
from crnn.core.splits import loso_folds, partition, speaker_split, spread_sample

ROOT = Path("/corpus")


def manifest(speakers: dict[str, str], per_speaker: int = 3, unknown: int = 0) -> Corpus:
    """speaker → gender; each speaker gets ``per_speaker`` utterances, plus ``unknown`` unnamed ones."""
    utts = [
        Utterance(ROOT / s / f"{i}.wav", "csv", s, g, ("anger", "neutral")[i % 2], 1.0)
        for s, g in speakers.items()
        for i in range(per_speaker)
    ]
    utts += [Utterance(ROOT / "anon" / f"{i}.wav", "csv", "unknown", "unknown", "anger", 1.0) for i in range(unknown)]
    return Corpus("csv", ROOT, utts, [])


def ravdess_like() -> Corpus:
    return manifest({f"{a:02d}": "male" if a % 2 else "female" for a in range(1, 25)})


def parts(split: dict) -> list[list[str]]:
    return [split["train"], split["validation"], split["test"]]


def assert_disjoint_cover(split: dict, speakers: list[str]) -> None:
    train, val, test = (set(p) for p in parts(split))
    assert not (train & val) and not (train & test) and not (val & test)
    assert train | val | test == set(speakers)


def test_speaker_split_ravdess_sizes_and_genders():
    corpus = ravdess_like()
    genders = corpus.speaker_genders
    for seed in range(10):
        split = speaker_split(corpus, seed=seed)
        assert_disjoint_cover(split, corpus.speakers)
        assert [len(p) for p in parts(split)] == [17, 2, 5]
        for name in ("validation", "test"):
            assert {genders[s] for s in split[name]} == {"female", "male"}, (seed, name)
        assert "warning" not in split


def test_speaker_split_is_seeded():
    corpus = ravdess_like()
    assert speaker_split(corpus, seed=3) == speaker_split(corpus, seed=3)
    assert len({tuple(speaker_split(corpus, seed=s)["test"]) for s in range(10)}) > 1


def test_partition_keeps_speakers_apart():
    corpus = ravdess_like()
    split = speaker_split(corpus, seed=1)
    sets = {name: partition(corpus, split[name]) for name in ("train", "validation", "test")}
    assert sum(len(s) for s in sets.values()) == len(corpus)
    for name, utts in sets.items():
        assert {u.speaker for u in utts} == set(split[name])
    assert partition(corpus, ["01"]) == [u for u in corpus.utterances if u.speaker == "01"]


def test_ratios_and_small_corpora():
    corpus = manifest({"a": "female", "b": "male", "c": "female"})
    split = speaker_split(corpus)
    assert [len(p) for p in parts(split)] == [1, 1, 1]
    split = speaker_split(ravdess_like(), ratios=(0.5, 0.0, 0.5))
    assert [len(p) for p in parts(split)] == [12, 0, 12]
    with pytest.raises(ValueError):
        speaker_split(corpus, ratios=(0.5, 0.1, 0.1))


def test_unknown_speakers_split_by_utterance_with_warning():
    corpus = manifest({}, unknown=10)
    split = speaker_split(corpus, seed=0)
    assert "split by utterance" in split["warning"]
    ids = [corpus.utterance_id(u) for u in corpus.utterances]
    assert_disjoint_cover(split, ids)
    assert [len(p) for p in parts(split)] == [7, 1, 2]
    assert partition(corpus, split["test"]) == [u for u in corpus.utterances if corpus.utterance_id(u) in split["test"]]
    assert speaker_split(corpus, seed=0) == split
    with pytest.raises(CorpusError):
        loso_folds(corpus)


def test_unnamed_utterances_train_only():
    corpus = manifest({f"s{i}": ("female", "male")[i % 2] for i in range(10)}, unknown=4)
    split = speaker_split(corpus)
    assert "unknown" in split["train"] and "4 utterance(s)" in split["warning"]
    assert all(u.speaker != "unknown" for name in ("validation", "test") for u in partition(corpus, split[name]))
    assert len(partition(corpus, split["train"])) + len(partition(corpus, split["validation"])) + len(
        partition(corpus, split["test"])
    ) == len(corpus)


def test_loso_covers_every_speaker_once():
    corpus = ravdess_like()
    folds = loso_folds(corpus, seed=0)
    assert [f["test"] for f in folds] == [[s] for s in corpus.speakers]
    genders = corpus.speaker_genders
    for fold in folds:
        assert_disjoint_cover(fold, corpus.speakers)
        assert len(fold["validation"]) == 2 and {genders[s] for s in fold["validation"]} == {"female", "male"}
    assert loso_folds(corpus, seed=0) == folds
    assert loso_folds(corpus, seed=1) != folds


def test_loso_small_corpus():
    corpus = manifest({"a": "female", "b": "male", "c": "female"})
    folds = loso_folds(corpus)
    assert all([len(p) for p in parts(f)] == [1, 1, 1] for f in folds)
    with pytest.raises(CorpusError, match="at least 3 named speakers"):
        loso_folds(manifest({"a": "female", "b": "male"}))


def test_spread_sample_covers_emotions_and_speakers_whatever_the_order():
    utterances = ravdess_like().utterances  # 24 speakers × 3, anger and neutral
    sample = spread_sample(utterances, 8)
    assert len(sample) == 8 and {u.emotion for u in sample} == {"anger", "neutral"}
    assert len({u.speaker for u in sample}) == 8
    assert spread_sample(list(reversed(utterances)), 8) == sample
    assert len(spread_sample(utterances, 500)) == len(utterances)
