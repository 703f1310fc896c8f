"""The data of one training run: the corpus decoded once, split by speaker, as arrays the loop indexes."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from crnn.analysis.evaluate import noisy_waves
from crnn.core.cache import Progress
from crnn.core.corpora import Corpus, Utterance, read_corpus
from crnn.core.data import load_waves
from crnn.core.errors import CrnnError
from crnn.core.splits import cv_folds, loso_folds, partition, require_two_emotions, speaker_split

N_CV_FOLDS = 5


@dataclass
class TrainData:
    """Training and validation utterances of one split, decoded and trimmed."""

    corpus: Corpus
    speakers: dict  # the split: partition → speaker names
    parts: dict[str, list[Utterance]]  # partition → decodable utterances
    wave_of: dict  # path → (N,) float32 wave
    labels: list[str]
    problems: list[str]
    train_waves: list[np.ndarray]
    train_targets: torch.Tensor  # (n,) class indices
    train_speakers: list[str]
    train_emotions: list[str]
    train_scores: torch.Tensor | None  # (n, 2) arousal and valence, when every utterance has them
    val_waves: list[np.ndarray]
    val_emotions: list[str]
    val_speakers: list[str]

    def waves(self, utterances: list[Utterance]) -> list[np.ndarray]:
        return [self.wave_of[u.path] for u in utterances]


def select_split(corpus: Corpus, split: str, fold: int | None, seed: int) -> dict:
    """The speakers of each partition for "tvt", "loso" (fold = speaker index) or "cv" (fold 0-4)."""
    if split == "tvt":
        return speaker_split(corpus, seed=seed)
    folds = {"loso": lambda: loso_folds(corpus, seed=seed), "cv": lambda: cv_folds(corpus, N_CV_FOLDS, seed=seed)}
    if split not in folds:
        raise CrnnError(f"unknown split {split!r}; use tvt, cv or loso")
    chosen = folds[split]()
    if fold is None or not 0 <= fold < len(chosen):
        raise CrnnError(f"the {split} split needs --fold between 0 and {len(chosen) - 1}")
    return chosen[fold]


def _decode(corpus: Corpus, cache_dir, progress, rank: int, world: int):
    """Decode on rank 0 first (filling the cache); the other ranks then read the cache."""
    if rank != 0:
        dist.barrier()
    waves, problems = load_waves([u.path for u in corpus.utterances], cache_dir=cache_dir, progress=progress)
    if rank == 0 and world > 1:
        dist.barrier()
    return {u.path: w for u, w in zip(corpus.utterances, waves)}, problems


def _scores(utterances: list[Utterance]) -> torch.Tensor | None:
    rated = [[u.arousal, u.valence] for u in utterances if u.arousal is not None and u.valence is not None]
    return torch.tensor(rated, dtype=torch.float32) if rated and len(rated) == len(utterances) else None


def load_train_data(
    corpus_path: str | os.PathLike | Corpus, split: str, fold: int | None, seed: int, noisy: bool,
    cache_dir, progress: Progress | None, rank: int = 0, world: int = 1,
) -> TrainData:
    """Read, split and decode a corpus for training; validation gains noisy copies when ``noisy``."""
    corpus = corpus_path if isinstance(corpus_path, Corpus) else read_corpus(corpus_path)
    speakers = select_split(corpus, split, fold, seed)
    parts = {name: partition(corpus, speakers[name]) for name in ("train", "validation", "test")}
    for name, utterances in parts.items():
        if not utterances:
            raise CrnnError(f"the {split} split of {corpus.name} leaves the {name} partition empty")
    require_two_emotions(parts["train"])
    wave_of, problems = _decode(corpus, cache_dir, progress, rank, world)
    parts = {name: [u for u in utts if wave_of[u.path] is not None] for name, utts in parts.items()}
    train, val = parts["train"], parts["validation"]
    val_waves = [wave_of[u.path] for u in val]
    val_emotions, val_speakers = [u.emotion for u in val], [u.speaker for u in val]
    if noisy:
        val_waves = val_waves + noisy_waves(corpus, val, val_waves)
        val_emotions, val_speakers = val_emotions * 2, val_speakers + [f"{s} (noisy)" for s in val_speakers]
    return TrainData(
        corpus=corpus, speakers=speakers, parts=parts, wave_of=wave_of, labels=corpus.labels, problems=problems,
        train_waves=[wave_of[u.path] for u in train],
        train_targets=torch.tensor([corpus.labels.index(u.emotion) for u in train]),
        train_speakers=[u.speaker for u in train], train_emotions=[u.emotion for u in train],
        train_scores=_scores(train), val_waves=val_waves, val_emotions=val_emotions, val_speakers=val_speakers,
    )
