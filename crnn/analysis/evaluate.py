"""Score a trained model on a corpus.

Evaluation runs on whole utterances (silence at the ends trimmed as in
training, :mod:`crnn.core.data`), one at a time, because the front-end normalises
each utterance over its own frames. The noisy condition mixes each utterance
once with noise at an SNR in [−10, 15] dB drawn from a seed that depends only
on the utterance's path inside its corpus (:func:`crnn.core.noise.noisy_copy`), so
all models and the SVM baselines see the same noisy test set.

When the corpus's labels differ from the model's, only the shared emotions
are scored (synonyms such as angry/anger are one label, via
:func:`crnn.core.corpora.canonical_label`): utterances of other emotions are left
out and named in ``left_out_labels``, and the model's decision is its most
probable *shared* label.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from crnn.core.checkpoint import DEFAULT_MODEL, load_checkpoint
from crnn.core.corpora import Corpus, Utterance, canonical_label, read_corpus
from crnn.core.data import CACHE_DIR, Progress, load_waves
from crnn.core.errors import CorpusError, CrnnError
from crnn.analysis.calibration import softmax
from crnn.analysis.metrics import classification_report_dict, unweighted_accuracy
from crnn.analysis.normalise import speaker_references
from crnn.core.noise import NoiseSource, noisy_copy
from crnn.core.splits import partition

SPLITS = ("train", "validation", "test", "all")
MAX_GAIN_DB = 60.0  # beyond, a clip is all clipping or below the 16-bit floor


def _model_and_card(model_or_dir, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """(model, card) from a checkpoint folder or name (None: the default model), or a (model, card) pair."""
    if isinstance(model_or_dir, tuple):
        model, card = model_or_dir
        return model.to(device).eval(), card
    return load_checkpoint(model_or_dir if model_or_dir is not None else DEFAULT_MODEL, device=device)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _canonical(label: str) -> str | None:
    try:
        return canonical_label(label)
    except CorpusError:
        return None


def shared_labels(model_labels: Sequence[str], corpus_labels: Sequence[str]) -> tuple[list[str], list[str]]:
    """(shared labels in the model's order, corpus labels the model does not know), canonical names."""
    corpus = {_canonical(c) or c for c in corpus_labels}
    shared = [c for m in model_labels if (c := _canonical(m) or m) in corpus]
    left_out = sorted(corpus - set(shared))
    return shared, left_out


@torch.no_grad()
def utterance_logits(
    model: nn.Module,
    waves: Sequence[np.ndarray],
    device: torch.device | str = "cpu",
    speakers: Sequence[str] | None = None,
) -> np.ndarray:
    """Logits (n, n_classes) of each whole utterance, run one at a time in eval mode.

    A model with per-speaker normalisation uses each speaker's statistics over
    the ``waves`` of that speaker when ``speakers`` is given, and each
    utterance's own statistics otherwise.
    """
    was_training = model.training
    model.eval()
    frontend = model.frontend
    refs = None
    if speakers is not None and frontend.norm == "speaker":
        refs = speaker_references(frontend, waves, speakers)
    rows = []
    for i, wave in enumerate(waves):
        x = torch.from_numpy(np.asarray(wave, np.float32))[None].to(device)  # (1, N)
        if refs is None:
            rows.append(model(x)[0].float().cpu().numpy())
            continue
        with frontend.reference(*refs[speakers[i]]):
            rows.append(model(x)[0].float().cpu().numpy())
    model.train(was_training)
    return np.stack(rows)  # (n, K)


def score_waves(
    model: nn.Module,
    waves: Sequence[np.ndarray],
    emotions: Sequence[str],
    model_labels: Sequence[str],
    device: torch.device | str = "cpu",
    speakers: Sequence[str] | None = None,
) -> dict:
    """Classification report of ``model`` on ``waves`` whose true ``emotions`` are canonical labels.

    Only emotions the model knows are scored; the argmax runs over those.
    ``speakers`` (one per wave) enables per-speaker normalisation and adds
    ``per_speaker_ua``, each speaker's UA, for paired comparisons.
    """
    shared, left_out = shared_labels(model_labels, sorted(set(emotions)))
    if not shared:
        raise CrnnError(
            f"the model's labels ({', '.join(model_labels)}) and the corpus's labels "
            f"({', '.join(sorted(set(emotions)))}) have none in common"
        )
    canonical_model = [_canonical(m) or m for m in model_labels]
    columns = [canonical_model.index(label) for label in shared]
    keep = [i for i, e in enumerate(emotions) if e in shared]
    kept_speakers = [speakers[i] for i in keep] if speakers is not None else None
    logits = utterance_logits(model, [waves[i] for i in keep], device, kept_speakers)  # (n, K)
    predicted = [shared[j] for j in logits[:, columns].argmax(axis=1)]
    truth = [emotions[i] for i in keep]
    report = classification_report_dict(truth, predicted, shared)
    report["left_out_labels"] = left_out
    if kept_speakers is not None:
        report["per_speaker_ua"] = per_speaker_ua(truth, predicted, kept_speakers)
    return report


def per_speaker_ua(truth: Sequence[str], predicted: Sequence[str], speakers: Sequence[str]) -> dict[str, float]:
    """Each speaker's UA over the emotions that speaker utters."""
    result = {}
    for speaker in sorted(set(speakers)):
        rows = [i for i, s in enumerate(speakers) if s == speaker]
        result[speaker] = unweighted_accuracy([truth[i] for i in rows], [predicted[i] for i in rows])
    return result


def select_utterances(corpus: Corpus, card: dict, split: str) -> tuple[list[Utterance], str]:
    """The utterances to score and the name of the partition they come from.

    On the corpus the model was trained on (same corpus name, and the card's
    speakers present in it), ``split`` picks the card's speakers for that
    partition; "all", or any other corpus (every utterance unseen), gives
    every utterance and the partition name "all".
    """
    if split not in SPLITS:
        raise CrnnError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    trained_on = (card.get("corpus") or {}).get("name")
    if corpus.name == trained_on and split != "all":
        utterances = partition(corpus, (card.get("split") or {}).get(split) or [])
        if utterances:
            return utterances, split
    return list(corpus.utterances), "all"


def noisy_waves(
    corpus: Corpus, utterances: Sequence[Utterance], waves: Sequence[np.ndarray], source: NoiseSource | None = None
) -> list[np.ndarray]:
    """The noisy test condition: each wave mixed once, deterministically, keyed by its path in the corpus."""
    source = source if source is not None else NoiseSource()
    return [noisy_copy(w, corpus.utterance_id(u), source)[0] for u, w in zip(utterances, waves)]


def _scored_waves(corpus: Corpus, card: dict, split: str, noisy: bool, noise_dir, cache_dir, progress):
    """(utterances, waves, partition name, left-out labels, undecodable files) that ``evaluate`` scores for ``card``."""
    utterances, used = select_utterances(corpus, card, split)
    shared, left_out = shared_labels(card["labels"], corpus.labels)
    if not shared:
        raise CrnnError(
            f"the model's labels ({', '.join(card['labels'])}) and the corpus's labels "
            f"({', '.join(corpus.labels)}) have none in common"
        )
    scored = [u for u in utterances if u.emotion in shared]
    waves, problems = load_waves([u.path for u in scored], cache_dir=cache_dir, progress=progress)
    pairs = [(u, w) for u, w in zip(scored, waves) if w is not None]
    if not pairs:
        raise CrnnError("none of the selected utterances could be decoded")
    scored, waves = [u for u, _ in pairs], [w for _, w in pairs]
    if noisy:
        waves = noisy_waves(corpus, scored, waves, NoiseSource(noise_dir))
    return scored, waves, used, left_out, problems


def evaluate(
    model_or_dir,
    corpus_path: str | os.PathLike | Corpus,
    split: str = "test",
    noisy: bool = False,
    *,
    noise_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = CACHE_DIR,
    device: str | torch.device | None = None,
    progress: Progress | None = None,
    gain_db: float = 0.0,
) -> dict:
    """UA, WA, recall, confusion, labels, n and left_out_labels of a model on a corpus.

    ``model_or_dir``: checkpoint folder, model name or (model, card).
    ``split``: "test", "validation", "train" or "all" (see
    :func:`select_utterances`). ``noisy``: score the noisy copies (generated
    coloured noise, or recordings from ``noise_dir``). ``gain_db``: scale every
    clip by this gain (after any noise), clipped to ±1 as a recording would be:
    how much the answer depends on the recording level. Raises
    :class:`CrnnError` when no label is shared or the gain is outside ±60 dB.
    """
    if not (math.isfinite(gain_db) and abs(gain_db) <= MAX_GAIN_DB):
        raise CrnnError(f"gain {gain_db:g} dB is out of range (-{MAX_GAIN_DB:g} to {MAX_GAIN_DB:g} dB)")
    device = torch.device(device) if device is not None else default_device()
    model, card = _model_and_card(model_or_dir, device)
    corpus = corpus_path if isinstance(corpus_path, Corpus) else read_corpus(corpus_path)
    scored, waves, used, left_out, problems = _scored_waves(corpus, card, split, noisy, noise_dir, cache_dir, progress)
    if gain_db:
        factor = 10.0 ** (gain_db / 20.0)
        waves = [np.clip(w * factor, -1.0, 1.0).astype(np.float32) for w in waves]
    report = score_waves(model, waves, [u.emotion for u in scored], card["labels"], device, [u.speaker for u in scored])
    report["left_out_labels"] = left_out
    report.update(
        corpus=corpus.name, split=used, condition="noisy" if noisy else "clean", model=card.get("model"), unreadable=problems,
        gain_db=gain_db,
    )
    return report


def evaluate_ensemble(
    members: Sequence,
    corpus_path: str | os.PathLike | Corpus,
    split: str = "test",
    noisy: bool = False,
    *,
    noise_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = CACHE_DIR,
) -> dict:
    """:func:`evaluate`'s report for the mean of several models' probabilities, plus ``member_ua``.

    ``members``: checkpoint folders or (model, card) pairs with the same labels, corpus and split (for
    example the runs of one recipe that differ only in their training seed). Each member's softmax
    (temperature 1: no member's calibration weighs in) is averaged with equal weight, and the argmax
    over the shared labels is the ensemble's decision. Members are loaded one at a time, on the CPU.
    ``member_ua``: each member's own UA on the same utterances, in the order given.
    """
    if len(members) < 2:
        raise CrnnError("an ensemble needs at least two models")
    corpus = corpus_path if isinstance(corpus_path, Corpus) else read_corpus(corpus_path)
    mean, first, member_ua = None, None, []
    for member in members:
        model, card = _model_and_card(member, "cpu")
        if first is None:
            first = card
            scored, waves, used, left_out, problems = _scored_waves(corpus, card, split, noisy, noise_dir, cache_dir, None)
            shared, _ = shared_labels(card["labels"], corpus.labels)
            canonical_model = [_canonical(m) or m for m in card["labels"]]
            columns = [canonical_model.index(label) for label in shared]
            truth = [u.emotion for u in scored]
        elif (card["labels"], card.get("split")) != (first["labels"], first.get("split")):
            raise CrnnError("the models of an ensemble must share their labels and their speaker split")
        logits = utterance_logits(model, waves, "cpu", [u.speaker for u in scored])  # (n, K)
        probabilities = softmax(logits)[:, columns]  # (n, K_shared)
        member_ua.append(unweighted_accuracy(truth, [shared[j] for j in probabilities.argmax(axis=1)]))
        mean = probabilities if mean is None else mean + probabilities
        del model
    report = classification_report_dict(truth, [shared[j] for j in mean.argmax(axis=1)], shared)
    report.update(left_out_labels=left_out, corpus=corpus.name, split=used, condition="noisy" if noisy else "clean",
                  model=first.get("model"), unreadable=problems, members=len(members), member_ua=member_ua)
    return report


def calibrate_checkpoint(model_ref: str | os.PathLike, corpus_path: str | os.PathLike | Corpus, *,
                         cache_dir: str | os.PathLike | None = CACHE_DIR) -> dict:
    """Fit a checkpoint's temperature on its validation speakers and store it in its card (weights unchanged).

    For checkpoints trained before cards kept a calibration: the same record
    training writes (:func:`crnn.analysis.calibration.calibration_record`),
    from the clean validation and test speakers of the card's split. Returns
    the record; CrnnError when the card has no split with both parts.
    """
    from crnn.analysis.calibration import calibration_record
    from crnn.core.checkpoint import resolve_model, save_checkpoint

    folder = resolve_model(model_ref)
    model, card = load_checkpoint(folder)
    corpus = corpus_path if isinstance(corpus_path, Corpus) else read_corpus(corpus_path)
    parts = {}
    for name in ("validation", "test"):
        utterances, used = select_utterances(corpus, card, name)
        if used != name:
            raise CrnnError("calibrate on the corpus the model was trained on: its card's validation speakers are needed")
        utterances = [u for u in utterances if u.emotion in card["labels"]]
        waves, _ = load_waves([u.path for u in utterances], cache_dir=cache_dir)
        kept = [(u, w) for u, w in zip(utterances, waves) if w is not None]
        if not kept:
            raise CrnnError(f"no {name} utterance of the card's split is in this corpus")
        logits = utterance_logits(model, [w for _, w in kept], "cpu", [u.speaker for u, _ in kept])
        parts[name] = (logits, [card["labels"].index(u.emotion) for u, _ in kept])
    card["calibration"] = calibration_record(parts["validation"], parts["test"])
    save_checkpoint(model, card, folder)  # sets the format and the weights' hash itself
    return card["calibration"]
