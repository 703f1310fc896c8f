"""Emotional-speech corpora as one manifest type.

:func:`read_corpus` looks at a folder (or a CSV manifest) and recognises the
layout of RAVDESS, Berlin EmoDB, CREMA-D, TESS, eNTERFACE'05, a folder per
emotion label, or a CSV manifest (the layouts live in
:mod:`crnn.core.corpus_layouts`). Every corpus becomes a :class:`Corpus` of
:class:`Utterance` rows whose emotion is mapped into one vocabulary,
:data:`EMOTIONS`, so that corpora can be compared.

Only file headers are read (``soundfile.info``): durations in seconds come from
the frame count and sample rate, so listing RAVDESS's 1,440 files takes well
under a second. Files that are found but cannot be used (not audio, too short,
a name that does not follow the corpus's pattern, an unknown label) are listed
in :attr:`Corpus.unreadable` as ``"relative/path: reason"``; when no file at
all is usable, :class:`~crnn.core.errors.CorpusError` is raised instead.

A server that reads corpora named by its users passes ``allowed_roots``: then
every file read (audio, manifest, speaker list), with symlinks followed, must
lie inside one of those folders, and messages show paths relative to the
corpus folder only.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from crnn.core.audio import AUDIO_SUFFIXES, MIN_SECONDS
from crnn.core.corpus_layouts import (
    CREMA_DEMOGRAPHICS,
    Confine,
    CSV_COLUMNS,
    CSV_OPTIONAL,
    EMODB_FEMALE,
    EMODB_MALE,
    EMOTIONS,
    GENDERS,
    NAMED_BY_FILE,
    RAVDESS_EMOTIONS,
    UNKNOWN,
    VIDEO_SUFFIXES,
    Parser,
    canonical_label,
    csv_header,
    csv_rows,
    detect_layout,
    drop_duplicates,
    gender_of,
    read_speaker_csv,
    try_label,
)
from crnn.core.errors import CorpusError
from crnn.core.fileio import absent_reason, shown_path

__all__ = [
    "CREMA_DEMOGRAPHICS", "CSV_COLUMNS", "CSV_OPTIONAL", "EMODB_FEMALE", "EMODB_MALE", "EMOTIONS",
    "GENDERS", "RAVDESS_EMOTIONS", "UNKNOWN", "VIDEO_SUFFIXES", "Corpus", "Utterance",
    "canonical_label", "describe", "read_corpus", "read_manifest",
]  # fmt: skip

Roots = Sequence[str | os.PathLike] | None  # folders reading is confined to; None: anywhere


@dataclass(frozen=True)
class Utterance:
    """One labelled recording; ``duration`` in seconds, ``gender`` one of :data:`GENDERS`."""

    path: Path
    corpus: str
    speaker: str
    gender: str
    emotion: str
    duration: float
    arousal: float | None = None
    valence: float | None = None


@dataclass
class Corpus:
    """A corpus's usable utterances (sorted by path) and the files it could not use.

    ``name`` is the detected layout: "ravdess", "emodb", "crema-d", "tess",
    "enterface", "folders" or "csv"; ``root`` the folder paths are found
    under (a CSV manifest's folder).
    """

    name: str
    root: Path
    utterances: list[Utterance]
    unreadable: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.utterances)

    @property
    def labels(self) -> list[str]:
        """Emotions present, sorted."""
        return sorted({u.emotion for u in self.utterances})

    @property
    def speakers(self) -> list[str]:
        """Distinct known speakers, sorted; utterances of speaker "unknown" are not counted."""
        return sorted({u.speaker for u in self.utterances if u.speaker != UNKNOWN})

    @property
    def speaker_genders(self) -> dict[str, str]:
        """Gender of each known speaker."""
        return {u.speaker: u.gender for u in self.utterances if u.speaker != UNKNOWN}

    @property
    def label_counts(self) -> dict[str, int]:
        """Utterances per emotion, in label order."""
        counts = Counter(u.emotion for u in self.utterances)
        return {label: counts[label] for label in self.labels}

    @property
    def total_seconds(self) -> float:
        return float(sum(u.duration for u in self.utterances))

    def utterance_id(self, utterance: Utterance) -> str:
        """The utterance's path relative to ``root`` (POSIX form), portable between machines."""
        return Path(os.path.relpath(utterance.path, self.root)).as_posix()


def describe(corpus: Corpus) -> dict:
    """Summary for ``crnn corpus PATH --json``.

    ``speakers`` counts distinct known speakers (listed in ``speaker_ids``);
    ``genders`` counts those speakers per gender; ``label_counts`` counts
    utterances; ``unknown_speaker_utterances`` counts utterances whose
    speaker the corpus does not name.
    """
    genders = Counter(corpus.speaker_genders.values())
    return {
        "format": corpus.name,
        "root": str(corpus.root),
        "utterances": len(corpus.utterances),
        "total_seconds": round(corpus.total_seconds, 2),
        "speakers": len(corpus.speakers),
        "speaker_ids": corpus.speakers,
        "unknown_speaker_utterances": sum(u.speaker == UNKNOWN for u in corpus.utterances),
        "genders": {g: genders[g] for g in GENDERS if genders[g]},
        "label_counts": corpus.label_counts,
        "unreadable": list(corpus.unreadable),
    }


# --- confinement -------------------------------------------------------------------------------


def _confiner(allowed_roots: Roots, base: Path) -> Confine | None:
    """None without ``allowed_roots``; else a check that a path, symlinks followed, lies inside one.

    The check's message shows the path as it lies in the corpus folder
    ``base`` (a link's own name, never where it points, nor the roots).
    """
    if allowed_roots is None:
        return None
    roots = [Path(r).expanduser().resolve() for r in allowed_roots]

    def confine(path: Path) -> None:
        real = path.resolve()
        if not any(real.is_relative_to(r) for r in roots):
            shown = Path(os.path.relpath(path, base)).as_posix() if path.is_absolute() else path.as_posix()
            raise CorpusError(f"{shown}: outside the folders corpora may be read from")

    return confine


# --- reading -----------------------------------------------------------------------------------


def read_corpus(path: str | os.PathLike, *, allowed_roots: Roots = None) -> Corpus:
    """Read a corpus folder, or a CSV manifest, into a :class:`Corpus`.

    The layout is recognised from file names: RAVDESS
    (``Actor_NN/03-01-EE-II-SS-RR-AA.wav``), Berlin EmoDB (``wav/03a01Wa.wav``),
    CREMA-D (``1001_DFA_ANG_XX.wav``; gender from a ``VideoDemographics.csv``
    beside the audio, else "unknown"), TESS (``OAF_back_angry.wav`` or
    ``OAF_angry/…``), eNTERFACE'05 (``subject 1/anger/sentence 1/s1_an_1.wav``;
    ``.avi`` files are listed as unreadable until their audio is extracted),
    or a folder per label (``Angry/x.wav``; speaker "unknown" unless a CSV in
    the folder with columns path, speaker[, gender] names them). A CSV file
    passed as ``path``, or the one CSV manifest in the folder, is read with
    :func:`read_manifest`. When the same recording is present in several
    formats (CREMA-D's AudioWAV and AudioMP3), the lossless copy is kept.

    ``allowed_roots`` (None: no check) confines reading: the folder and every
    file read from it, symlinks followed, must lie inside one of these folders.

    Raises :class:`CorpusError` if the path is missing, holds no audio, has a
    layout none of these match, leaves ``allowed_roots``, or if no file in it
    is usable. Messages show paths relative to the corpus folder.
    """
    given = Path(path).expanduser()
    shown = shown_path(given)
    if given.is_file() and given.suffix.lower() == ".csv":
        return read_manifest(given, allowed_roots=allowed_roots)
    if given.is_file():
        raise CorpusError(f"{shown} is a single file; pass a corpus folder or a CSV manifest")
    if not given.is_dir():
        raise CorpusError(f"{shown}: no such folder or CSV manifest")
    root = given.resolve()
    confine = _confiner(allowed_roots, root)
    if confine is not None:
        try:
            confine(root)
        except CorpusError:
            raise CorpusError(f"{shown}: outside the folders corpora may be read from") from None
    manifest, speaker_csv = _folder_csvs(root, shown, confine)
    if manifest is not None:
        return read_manifest(manifest, allowed_roots=allowed_roots)
    files = _media_files(root, shown, confine)
    audio = [p for p in files if p.suffix.lower() in AUDIO_SUFFIXES]
    video = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    name, parser, candidates = detect_layout(root, audio, video, speaker_csv, shown, confine)
    if name in NAMED_BY_FILE:
        candidates = drop_duplicates(candidates)
    utterances, unreadable = _read_files(name, parser, candidates, root)
    if not utterances:
        raise CorpusError(
            f"{shown}: none of its {len(candidates)} {name} files is usable (first problem: {unreadable[0]})"
        )
    return Corpus(name, root, utterances, unreadable)


def _folder_csvs(root: Path, shown: str, confine: Confine | None) -> tuple[Path | None, dict[str, tuple[str, str]]]:
    """The folder's CSV manifest (or None) and, without one, its speaker list (path → speaker, gender)."""
    csvs = [p for p in sorted(root.glob("*.csv")) if p.name.lower() != CREMA_DEMOGRAPHICS.lower()]
    if not csvs:
        return None, {}
    if confine is not None:  # their cells become speaker names: never read one from outside
        for p in csvs:
            confine(p)
    headers = {p: csv_header(p) for p in csvs}
    speaker_files = [p for p in csvs if {"path", "speaker"} <= headers[p] and "label" not in headers[p]]
    manifests = [p for p in csvs if "label" in headers[p]]
    if not manifests and len(csvs) == 1 and not speaker_files:
        manifests = csvs  # reading it reports the columns it lacks
    if len(manifests) > 1:
        names = ", ".join(p.name for p in manifests)
        raise CorpusError(f"{shown} holds several CSV manifests ({names}); pass the one to use")
    if manifests:
        return manifests[0], {}
    return None, read_speaker_csv(speaker_files[0]) if len(speaker_files) == 1 else {}


def _media_files(root: Path, shown: str, confine: Confine | None) -> list[Path]:
    """Audio and video files under ``root`` (hidden folders skipped), sorted; CorpusError if none."""
    files = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in AUDIO_SUFFIXES + VIDEO_SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise CorpusError(f"{shown} holds no audio files ({', '.join(AUDIO_SUFFIXES)}) and no CSV manifest")
    if confine is not None:
        for file in files:
            confine(file)
    return files


def _read_files(name: str, parser: Parser, files: list[Path], root: Path) -> tuple[list[Utterance], list[str]]:
    """(usable utterances, "relative/path: reason" for the rest) of a detected layout."""
    utterances: list[Utterance] = []
    unreadable: list[str] = []
    for file in files:
        rel = file.relative_to(root).as_posix()
        if file.suffix.lower() in VIDEO_SUFFIXES:
            unreadable.append(f"{rel}: a video file; extract its audio track to .wav beside it")
            continue
        meta = parser(file, root)
        if isinstance(meta, str):
            unreadable.append(f"{rel}: {meta}")
            continue
        duration = _duration(file)
        if isinstance(duration, str):
            unreadable.append(f"{rel}: {duration}")
            continue
        utterances.append(Utterance(file, name, meta.speaker, meta.gender, meta.emotion, duration))
    return utterances, unreadable


def _duration(path: Path) -> float | str:
    """Duration in seconds from the header, or why the file cannot be used."""
    try:
        info = sf.info(str(path))
    except Exception:  # soundfile raises several types for non-audio
        return "not a readable audio file"
    if info.frames <= 0 or info.samplerate <= 0:
        return "holds no audio samples"
    seconds = info.frames / info.samplerate
    if seconds < MIN_SECONDS:
        return f"{seconds:.2f} s is shorter than {MIN_SECONDS} s"
    return seconds


def _scores(row: dict[str, str]) -> tuple[dict[str, float | None], str | None]:
    """Optional arousal/valence of a manifest row, or why they cannot be read."""
    scores: dict[str, float | None] = {}
    for column in CSV_OPTIONAL:
        text = row.get(column, "")
        try:
            scores[column] = float(text) if text else None
        except ValueError:
            return scores, f"{column} {text!r} is not a number"
    return scores, None




def read_manifest(path: str | os.PathLike, *, allowed_roots: Roots = None) -> Corpus:
    """Read a CSV manifest: columns path, label, speaker, gender; optional arousal, valence.

    ``path`` in each row is relative to the CSV's folder (absolute paths are
    kept). Empty speaker or gender cells mean "unknown". Rows whose file is
    missing or unreadable, whose label is outside :data:`EMOTIONS` or whose
    arousal/valence is not a number are listed in ``unreadable``. With
    ``allowed_roots``, the manifest and every row's file (symlinks followed)
    must lie inside one of those folders. Raises :class:`CorpusError` for
    missing columns, a path outside ``allowed_roots``, or when no row is usable.
    """
    given = Path(path).expanduser()
    if given.is_dir():
        raise CorpusError(f"{shown_path(given)} is a folder, not a CSV manifest")
    if not given.is_file():
        raise CorpusError(f"{shown_path(given)}: {absent_reason(given)}")
    if allowed_roots is not None:  # the manifest itself, named as it lies in its folder
        _confiner(allowed_roots, given.absolute().parent)(given.absolute())
    csv_path = given.resolve()
    root = csv_path.parent
    confine = _confiner(allowed_roots, root)
    rows = csv_rows(csv_path)
    missing = [c for c in CSV_COLUMNS if c not in csv_header(csv_path)]
    if missing:
        raise CorpusError(f"{csv_path.name}: missing column(s) {', '.join(missing)}")
    if not rows:
        raise CorpusError(f"{csv_path.name}: the manifest lists no files")
    utterances: list[Utterance] = []
    unreadable: list[str] = []
    for row in rows:
        found = _manifest_row(row, root, confine)
        (unreadable if isinstance(found, str) else utterances).append(found)
    if not utterances:
        raise CorpusError(
            f"{csv_path.name}: none of its {len(rows)} rows is usable (first problem: {unreadable[0]})"
        )
    utterances.sort(key=lambda u: u.path)
    return Corpus("csv", root, utterances, unreadable)


def _manifest_row(row: dict[str, str], root: Path, confine: Confine | None) -> Utterance | str:
    """One manifest row as an utterance, or "path: why it cannot be used"."""
    file = Path(row["path"]).expanduser()
    name = shown_path(file, root) if file.is_absolute() else row["path"] or "(empty path)"
    file = file if file.is_absolute() else root / file
    if confine is not None:
        confine(file)  # before anything else: a refusal must not tell whether an outside file exists
    emotion = try_label(row["label"])
    if emotion is None:
        return f"{name}: unknown emotion label {row['label']!r}"
    scores, problem = _scores(row)
    if problem:
        return f"{name}: {problem}"
    if file.is_dir():
        return f"{name}: a folder, not an audio file"
    if not file.is_file():
        return f"{name}: {absent_reason(file)}"
    duration = _duration(file)
    if isinstance(duration, str):
        return f"{name}: {duration}"
    speaker, gender = row["speaker"] or UNKNOWN, gender_of(row["gender"])
    return Utterance(file.resolve(), "csv", speaker, gender, emotion, duration, scores["arousal"], scores["valence"])
