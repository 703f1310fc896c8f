"""Speaker-independent train / validation / test splits.

Emotion recognisers learn speakers as readily as emotions, so every split
here keeps each speaker in exactly one partition: :func:`speaker_split`
(seeded, gender-balanced where the corpus allows) and :func:`loso_folds`
(leave one speaker out). A split names speakers; :func:`partition` turns
names back into utterances.

Corpora that do not name their speakers (a folder per label, a CSV with an
empty speaker column) cannot be split by speaker. With fewer than three known
speakers, :func:`speaker_split` splits by utterance instead: the lists then
hold utterance ids (:meth:`Corpus.utterance_id`, paths relative to the corpus
root) and a ``"warning"`` entry says that the test score is not
speaker-independent. Utterances of speaker "unknown" in a corpus that does
name enough speakers go to training only (also with a ``"warning"``), so
test speakers stay unseen.
"""

from __future__ import annotations

import math
import random

from crnn.core.corpora import UNKNOWN, Corpus, Utterance
from crnn.core.errors import CorpusError

MIN_SPEAKERS = 3  # one each for train, validation and test


def _check_ratios(ratios: tuple[float, float, float]) -> None:
    if len(ratios) != 3 or min(ratios) < 0 or ratios[0] <= 0 or not math.isclose(sum(ratios), 1.0):
        raise ValueError(f"ratios must be (train, validation, test) ≥ 0 summing to 1, got {ratios}")


def _sizes(n: int, ratios: tuple[float, float, float]) -> tuple[int, int]:
    """(validation, test) counts out of ``n``; each non-zero ratio gets ≥ 1 and training keeps ≥ 1."""
    n_val = max(1, round(ratios[1] * n)) if ratios[1] > 0 else 0
    n_test = max(1, round(ratios[2] * n)) if ratios[2] > 0 else 0
    while n_val + n_test > n - 1:  # training needs at least one
        if n_val >= n_test and n_val > (ratios[1] > 0):
            n_val -= 1
        elif n_test > (ratios[2] > 0):
            n_test -= 1
        else:
            break
    return n_val, n_test


def _draw(groups: dict[str, list[str]], k: int, rng: random.Random) -> list[str]:
    """Take ``k`` speakers from the gender groups (each already shuffled), in proportion to their sizes.

    Largest-remainder rounding with random tie-breaks; when ``k`` allows, every
    non-empty group gives at least one speaker, so both genders are heard.
    """
    total = sum(len(g) for g in groups.values())
    k = min(k, total)
    if k == 0:
        return []
    names = [g for g in sorted(groups) if groups[g]]
    quota = {g: k * len(groups[g]) / total for g in names}
    counts = {g: math.floor(quota[g]) for g in names}
    by_remainder = sorted(names, key=lambda g: (quota[g] - counts[g], rng.random()), reverse=True)
    for g in by_remainder[: k - sum(counts.values())]:
        counts[g] += 1
    if k >= len(names):
        for g in names:
            if counts[g] == 0:
                donor = max(names, key=lambda h: counts[h])
                counts[donor] -= 1
                counts[g] = 1
    taken = []
    for g in names:
        taken += groups[g][: counts[g]]
        del groups[g][: counts[g]]
    return taken


def _gender_groups(corpus: Corpus, speakers: list[str], rng: random.Random) -> dict[str, list[str]]:
    genders = corpus.speaker_genders
    groups: dict[str, list[str]] = {}
    for s in sorted(speakers):
        groups.setdefault(genders.get(s, UNKNOWN), []).append(s)
    for g in sorted(groups):
        rng.shuffle(groups[g])
    return groups


def speaker_split(
    corpus: Corpus, seed: int = 0, ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)
) -> dict[str, list[str] | str]:
    """Split a corpus's speakers into {"train", "validation", "test"} lists (sorted).

    ``ratios`` are fractions of speakers (not utterances): RAVDESS's 24 actors
    give 17 / 2 / 5. Validation and test are drawn per gender in proportion,
    so both genders are in each when there are enough speakers. The same
    ``seed`` gives the same split. See the module docstring for corpora
    without known speakers (split by utterance, with a ``"warning"``).
    """
    _check_ratios(ratios)
    rng = random.Random(seed)
    speakers = corpus.speakers
    if len(speakers) < MIN_SPEAKERS:
        ids = sorted(corpus.utterance_id(u) for u in corpus.utterances)
        if len(ids) < MIN_SPEAKERS:
            raise CorpusError(f"{corpus.name} corpus has {len(ids)} utterances; a split needs at least 3")
        rng.shuffle(ids)
        n_val, n_test = _sizes(len(ids), ratios)
        test, val, train = ids[:n_test], ids[n_test : n_test + n_val], ids[n_test + n_val :]
        return {
            "train": sorted(train),
            "validation": sorted(val),
            "test": sorted(test),
            "warning": (
                f"the corpus names {len(speakers)} speaker(s), so it was split by utterance: "
                "test speakers are also heard in training and scores will be optimistic"
            ),
        }
    groups = _gender_groups(corpus, speakers, rng)
    n_val, n_test = _sizes(len(speakers), ratios)
    test = _draw(groups, n_test, rng)
    val = _draw(groups, n_val, rng)
    train = [s for g in groups.values() for s in g]
    split: dict[str, list[str] | str] = {
        "train": sorted(train),
        "validation": sorted(val),
        "test": sorted(test),
    }
    _add_unknown(corpus, split)
    return split


def _add_unknown(corpus: Corpus, split: dict) -> None:
    """Utterances of unnamed speakers may only train: their speaker might be a test speaker."""
    n_unknown = sum(u.speaker == UNKNOWN for u in corpus.utterances)
    if n_unknown:
        split["train"] = sorted(split["train"] + [UNKNOWN])
        split["warning"] = (
            f"{n_unknown} utterance(s) of unnamed speakers are used for training only"
        )


def loso_folds(corpus: Corpus, seed: int = 0, n_validation: int = 2) -> list[dict[str, list[str] | str]]:
    """Leave-one-speaker-out folds, one per known speaker in sorted order.

    Fold *i* tests on speaker *i*; its validation set is ``n_validation``
    other speakers (fewer if the corpus is small), drawn with ``seed`` and of
    different genders where possible; the rest train. Raises
    :class:`CorpusError` with fewer than three known speakers.
    """
    speakers = corpus.speakers
    if len(speakers) < MIN_SPEAKERS:
        raise CorpusError(
            f"leave-one-speaker-out needs at least {MIN_SPEAKERS} named speakers; "
            f"the {corpus.name} corpus has {len(speakers)}"
        )
    rng = random.Random(seed)
    folds = []
    for held_out in speakers:
        others = [s for s in speakers if s != held_out]
        groups = _gender_groups(corpus, others, rng)
        val = _draw(groups, min(n_validation, len(others) - 1), rng)
        fold: dict[str, list[str] | str] = {
            "train": sorted(s for g in groups.values() for s in g),
            "validation": sorted(val),
            "test": [held_out],
        }
        _add_unknown(corpus, fold)
        folds.append(fold)
    return folds


def cv_folds(corpus: Corpus, k: int = 5, seed: int = 0, n_validation: int = 2) -> list[dict[str, list[str] | str]]:
    """``k`` speaker-grouped cross-validation folds: every known speaker is tested exactly once.

    Speakers are dealt to folds gender by gender (shuffled with ``seed``), so
    each test fold is as gender-balanced as the corpus allows. Each fold's
    validation set is ``n_validation`` of its training speakers, of different
    genders where possible, for early stopping. Raises :class:`CorpusError`
    with fewer than ``k + 2`` known speakers.
    """
    speakers = corpus.speakers
    if len(speakers) < k + 2:
        raise CorpusError(
            f"{k}-fold cross-validation needs at least {k + 2} named speakers; the {corpus.name} corpus has {len(speakers)}"
        )
    rng = random.Random(seed)
    groups = _gender_groups(corpus, speakers, rng)
    dealt = [s for g in sorted(groups) for s in groups[g]]  # genders one after the other
    tests = [sorted(dealt[i::k]) for i in range(k)]
    folds = []
    for test in tests:
        rest = [s for s in speakers if s not in test]
        val = _draw(_gender_groups(corpus, rest, rng), n_validation, rng)
        fold: dict[str, list[str] | str] = {
            "train": sorted(s for s in rest if s not in val),
            "validation": sorted(val),
            "test": test,
        }
        _add_unknown(corpus, fold)
        folds.append(fold)
    return folds


def partition(corpus: Corpus, speakers: list[str]) -> list[Utterance]:
    """The utterances of the named speakers (or utterance ids, for an utterance-level split), in corpus order."""
    wanted = set(speakers)
    return [
        u for u in corpus.utterances if u.speaker in wanted or corpus.utterance_id(u) in wanted
    ]


def require_two_emotions(training: list[Utterance]) -> None:
    """CorpusError unless the ``training`` utterances hold at least two emotions: a one-class "classifier"
    scores 100 % and learns nothing (an SVM refuses to fit one)."""
    heard = sorted({u.emotion for u in training})
    if len(heard) < 2:
        raise CorpusError(f"the training speakers of this corpus utter only {', '.join(heard) or 'no emotion'}; "
                          "an emotion classifier needs at least two emotions to learn")


def spread_sample(utterances: list[Utterance], n: int) -> list[Utterance]:
    """At most ``n`` utterances spread evenly over emotions, then speakers: every k-th of them sorted so.

    Deterministic (independent of the input order), for corpus-wide summaries that
    cannot afford every recording, e.g. ranking LSTM cells over a corpus.
    """
    ordered = sorted(utterances, key=lambda u: (u.emotion, u.speaker, str(u.path)))
    step = max(1, len(ordered) // max(n, 1))
    return ordered[::step][:n]
