"""Emotional-speech corpora as one manifest type.

:func:`read_corpus` looks at a folder (or a CSV manifest) and recognises the
layout of RAVDESS, Berlin EmoDB, CREMA-D, TESS, eNTERFACE'05, a folder per
emotion label, or a CSV manifest. Every corpus becomes a :class:`Corpus` of
:class:`Utterance` rows whose emotion is mapped into one vocabulary,
:data:`EMOTIONS`, so that corpora can be compared.

Only file headers are read (``soundfile.info``): durations in seconds come from
the frame count and sample rate, so listing RAVDESS's 1,440 files takes well
under a second. Files that are found but cannot be used (not audio, too short,
a name that does not follow the corpus's pattern, an unknown label) are listed
in :attr:`Corpus.unreadable` as ``"relative/path: reason"``; when no file at
all is usable, :class:`~crnn.core.errors.CorpusError` is raised instead.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import soundfile as sf

from crnn.core.audio import AUDIO_SUFFIXES, MIN_SECONDS
from crnn.core.errors import CorpusError

EMOTIONS = (
    "anger",
    "boredom",
    "calm",
    "disgust",
    "excitement",
    "fear",
    "frustration",
    "happiness",
    "neutral",
    "sadness",
    "surprise",
)
GENDERS = ("female", "male", "unknown")
UNKNOWN = "unknown"

# Spellings and corpus codes of each emotion, lower-cased. Single letters are
# Berlin EmoDB's German initials (W Wut, L Langeweile, E Ekel, A Angst,
# F Freude, T Trauer, N neutral); two letters are eNTERFACE'05's; three
# letters CREMA-D's and IEMOCAP's.
_ALIASES: dict[str, tuple[str, ...]] = {
    "anger": ("angry", "ang", "an", "w", "mad"),
    "boredom": ("bored", "bor", "l"),
    "calm": ("cal",),
    "disgust": ("disgusted", "dis", "di", "e"),
    "excitement": ("excited", "exc"),
    "fear": ("fearful", "fea", "fe", "a", "afraid", "scared"),
    "frustration": ("frustrated", "fru"),
    "happiness": ("happy", "hap", "ha", "f", "joy"),
    "neutral": ("neu", "n"),
    "sadness": ("sad", "sa", "t"),
    "surprise": ("surprised", "sur", "su", "ps", "pleasant surprise", "pleasant surprised"),
}
_LABELS: dict[str, str] = {e: e for e in EMOTIONS} | {
    alias: emotion for emotion, aliases in _ALIASES.items() for alias in aliases
}

RAVDESS_EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happiness", "04": "sadness",
    "05": "anger", "06": "fear", "07": "disgust", "08": "surprise",
}  # fmt: skip
EMODB_MALE = frozenset({"03", "10", "11", "12", "15"})
EMODB_FEMALE = frozenset({"08", "09", "13", "14", "16"})
VIDEO_SUFFIXES = (".avi",)  # eNTERFACE'05 ships audio inside video files
CREMA_DEMOGRAPHICS = "VideoDemographics.csv"
CSV_COLUMNS = ("path", "label", "speaker", "gender")
CSV_OPTIONAL = ("arousal", "valence")


def canonical_label(name: str) -> str:
    """Map an emotion name or corpus code ("angry", "ANG", "W", "ps") into :data:`EMOTIONS`.

    Case, spaces, hyphens and underscores are ignored. Raises
    :class:`CorpusError` for a label outside the vocabulary.
    """
    label = _try_label(name)
    if label is None:
        raise CorpusError(
            f"unknown emotion label {name!r}; known labels are {', '.join(EMOTIONS)}"
        )
    return label


def _try_label(name: str) -> str | None:
    key = re.sub(r"[\s_\-]+", " ", str(name).strip().lower())
    return _LABELS.get(key)


def _gender(value: str) -> str:
    key = str(value).strip().lower()
    if key in ("f", "female", "woman", "w"):
        return "female"
    if key in ("m", "male", "man"):
        return "male"
    return UNKNOWN


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


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Meta:
    """What a file name (or its folders) says about one utterance."""

    speaker: str
    gender: str
    emotion: str


_Parser = Callable[[Path, Path], "_Meta | str"]  # (file, root) → metadata or why it does not fit

_RAVDESS = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_EMODB = re.compile(r"^(\d\d)([a-z]\d\d)([WLEAFTN])([a-z])$")
_CREMA = re.compile(r"^(\d{4})_([A-Z]{3})_(ANG|DIS|FEA|HAP|NEU|SAD)_([A-Z]{1,2})$")
_TESS = re.compile(r"^([OY])AF?_([A-Za-z]+)_(.+)$")  # "OA_bite_neutral" occurs in the release
_TESS_FOLDER = re.compile(r"^([OY])AF_(.+)$", re.IGNORECASE)
_ENTERFACE = re.compile(r"^s(\d+)_(an|di|fe|ha|sa|su)_(\d+)", re.IGNORECASE)
_SUBJECT = re.compile(r"^subject\s*(\d+)$", re.IGNORECASE)


def _ravdess(path: Path, root: Path) -> _Meta | str:
    m = _RAVDESS.match(path.stem)
    if not m or m.group(3) not in RAVDESS_EMOTIONS:
        return "name does not follow RAVDESS's 03-01-EE-II-SS-RR-AA pattern"
    actor = m.group(7)
    gender = "male" if int(actor) % 2 == 1 else "female"
    return _Meta(actor, gender, RAVDESS_EMOTIONS[m.group(3)])


def _emodb(path: Path, root: Path) -> _Meta | str:
    m = _EMODB.match(path.stem)
    if not m:
        return "name does not follow EmoDB's 03a01Wa pattern"
    speaker = m.group(1)
    gender = "male" if speaker in EMODB_MALE else "female" if speaker in EMODB_FEMALE else UNKNOWN
    return _Meta(speaker, gender, canonical_label(m.group(3)))


def _crema(demographics: dict[str, str]) -> _Parser:
    def parse(path: Path, root: Path) -> _Meta | str:
        m = _CREMA.match(path.stem)
        if not m:
            return "name does not follow CREMA-D's 1001_DFA_ANG_XX pattern"
        speaker = m.group(1)
        return _Meta(speaker, demographics.get(speaker, UNKNOWN), canonical_label(m.group(3)))

    return parse


def _tess(path: Path, root: Path) -> _Meta | str:
    m = _TESS.match(path.stem)
    emotion = _try_label(m.group(3)) if m else None
    if m and emotion:
        return _Meta(f"{m.group(1).upper()}AF", "female", emotion)
    folder = _TESS_FOLDER.match(path.parent.name)
    emotion = _try_label(folder.group(2)) if folder else None
    if folder and emotion:
        return _Meta(f"{folder.group(1).upper()}AF", "female", emotion)
    return "name does not follow TESS's OAF_word_emotion pattern"


def _enterface(path: Path, root: Path) -> _Meta | str:
    m = _ENTERFACE.match(path.stem)
    if not m:
        return "name does not follow eNTERFACE's s1_an_1 pattern"
    subject = next(
        (s.group(1) for part in path.relative_to(root).parts[:-1] if (s := _SUBJECT.match(part))),
        m.group(1),
    )
    return _Meta(f"{int(subject):02d}", UNKNOWN, canonical_label(m.group(2)))


def _folders(speakers: dict[str, tuple[str, str]]) -> _Parser:
    """Label from the nearest enclosing folder named after an emotion; speakers from a CSV."""

    def parse(path: Path, root: Path) -> _Meta | str:
        rel = path.relative_to(root)
        emotion = next((e for part in reversed(rel.parts[:-1]) if (e := _try_label(part))), None)
        if emotion is None:
            return "not inside a folder named after an emotion"
        speaker, gender = speakers.get(rel.as_posix(), (UNKNOWN, UNKNOWN))
        return _Meta(speaker, gender, emotion)

    return parse


def read_corpus(path: str | os.PathLike) -> Corpus:
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

    Raises :class:`CorpusError` if the path is missing, holds no audio, has a
    layout none of these match, or if no file in it is usable.
    """
    root = Path(path).expanduser()
    if root.is_file() and root.suffix.lower() == ".csv":
        return read_manifest(root)
    if root.is_file():
        raise CorpusError(f"{root} is a single file; pass a corpus folder or a CSV manifest")
    if not root.is_dir():
        raise CorpusError(f"{root}: no such folder or CSV manifest")
    root = root.resolve()

    csvs = [p for p in sorted(root.glob("*.csv")) if p.name.lower() != CREMA_DEMOGRAPHICS.lower()]
    speaker_csv: dict[str, tuple[str, str]] = {}
    if csvs:
        headers = {p: _csv_header(p) for p in csvs}
        speaker_files = [p for p in csvs if {"path", "speaker"} <= headers[p] and "label" not in headers[p]]
        manifests = [p for p in csvs if "label" in headers[p]]
        if not manifests and len(csvs) == 1 and not speaker_files:
            manifests = csvs  # reading it reports the columns it lacks
        if len(manifests) > 1:
            names = ", ".join(p.name for p in manifests)
            raise CorpusError(f"{root} holds several CSV manifests ({names}); pass the one to use")
        if manifests:
            return read_manifest(manifests[0])
        if len(speaker_files) == 1:
            speaker_csv = _read_speaker_csv(speaker_files[0])

    files = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in AUDIO_SUFFIXES + VIDEO_SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise CorpusError(
            f"{root} holds no audio files ({', '.join(AUDIO_SUFFIXES)}) and no CSV manifest"
        )

    audio = [p for p in files if p.suffix.lower() in AUDIO_SUFFIXES]
    video = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    name, parser, candidates = _detect(root, audio, video, speaker_csv)

    utterances: list[Utterance] = []
    unreadable: list[str] = []
    if name in _NAMED_BY_FILE:
        candidates = _drop_duplicates(candidates)
    for file in candidates:
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
        utterances.append(
            Utterance(file, name, meta.speaker, meta.gender, meta.emotion, duration)
        )
    if not utterances:
        raise CorpusError(
            f"{root}: none of its {len(candidates)} {name} files is usable "
            f"(first problem: {unreadable[0]})"
        )
    return Corpus(name, root, utterances, unreadable)


def _detect(
    root: Path, audio: list[Path], video: list[Path], speaker_csv: dict[str, tuple[str, str]]
) -> tuple[str, _Parser, list[Path]]:
    """Pick the layout most file names follow: (name, parser, files to read)."""
    stems = {a.with_suffix("") for a in audio}
    named: list[tuple[str, _Parser, list[Path]]] = [
        ("ravdess", _ravdess, audio),
        ("emodb", _emodb, audio),
        ("crema-d", _crema({}), audio),
        ("tess", _tess, audio),
        # eNTERFACE's audio may still be inside its .avi files.
        ("enterface", _enterface, audio + [v for v in video if v.with_suffix("") not in stems]),
    ]
    scored = [
        (sum(not isinstance(parser(p, root), str) for p in files), name, parser, files)
        for name, parser, files in named
        if files
    ]
    best = max(scored, key=lambda s: s[0], default=None)
    if best and best[0] * 2 >= len(best[3]) and best[0] > 0:
        _, name, parser, files = best
        if name == "crema-d":
            parser = _crema(_read_demographics(root, files))
        return name, parser, sorted(files)
    folders = _folders(speaker_csv)
    if audio and sum(not isinstance(folders(p, root), str) for p in audio) * 2 >= len(audio):
        return "folders", folders, audio
    if not audio:
        raise CorpusError(f"{root} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
    raise CorpusError(
        f"{root}: unknown corpus layout (not RAVDESS, EmoDB, CREMA-D, TESS, eNTERFACE, "
        "folders named after emotions, or a CSV manifest with columns path, label, speaker, gender)"
    )


_PREFERENCE = {".wav": 0, ".flac": 1, ".ogg": 2, ".mp3": 3}
_NAMED_BY_FILE = ("ravdess", "emodb", "crema-d", "tess")  # a file name identifies the recording


def _drop_duplicates(files: list[Path]) -> list[Path]:
    """Keep one file per recording name (for corpora whose names are unique), the lossless one first."""
    best: dict[str, Path] = {}
    for f in files:
        kept = best.get(f.stem)
        if kept is None or _PREFERENCE.get(f.suffix.lower(), 9) < _PREFERENCE.get(
            kept.suffix.lower(), 9
        ):
            best[f.stem] = f
    keep = set(best.values())
    return [f for f in files if f in keep]


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


def _csv_header(path: Path) -> set[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return {c.strip().lower() for c in next(csv.reader(fh), [])}
    except (OSError, UnicodeDecodeError, csv.Error):
        return set()


def _csv_rows(path: Path) -> list[dict[str, str]]:
    """Rows with lower-cased, stripped column names and stripped values."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            rows = [
                {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
                for row in reader
            ]
            columns = {c.strip().lower() for c in reader.fieldnames or []}
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CorpusError(f"{path.name}: not a readable CSV file ({type(exc).__name__})") from None
    if not columns:
        raise CorpusError(f"{path.name}: the CSV file is empty")
    return [r for r in rows if any(r.values())]  # blank lines are not rows


def _read_speaker_csv(path: Path) -> dict[str, tuple[str, str]]:
    """path → (speaker, gender) from a CSV beside label folders (columns path, speaker[, gender])."""
    out = {}
    for row in _csv_rows(path):
        rel = Path(row["path"]).as_posix()
        out[rel] = (row["speaker"] or UNKNOWN, _gender(row.get("gender", "")))
    return out


def _read_demographics(root: Path, files: list[Path]) -> dict[str, str]:
    """CREMA-D actor → gender from the published VideoDemographics.csv, looked for beside the audio."""
    folders = {root} | {f.parent for f in files} | {f.parent.parent for f in files}
    for folder in sorted(folders):
        found = [p for p in folder.glob("*.csv") if p.name.lower() == CREMA_DEMOGRAPHICS.lower()]
        if found:
            rows = _csv_rows(found[0])
            return {r["actorid"]: _gender(r["sex"]) for r in rows if "actorid" in r and "sex" in r}
    return {}


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


def read_manifest(path: str | os.PathLike) -> Corpus:
    """Read a CSV manifest: columns path, label, speaker, gender; optional arousal, valence.

    ``path`` in each row is relative to the CSV's folder (absolute paths are
    kept). Empty speaker or gender cells mean "unknown". Rows whose file is
    missing or unreadable, whose label is outside :data:`EMOTIONS` or whose
    arousal/valence is not a number are listed in ``unreadable``. Raises
    :class:`CorpusError` for missing columns or when no row is usable.
    """
    csv_path = Path(path).expanduser().resolve()
    if not csv_path.is_file():
        raise CorpusError(f"{csv_path}: no such file")
    rows = _csv_rows(csv_path)
    missing = [c for c in CSV_COLUMNS if c not in _csv_header(csv_path)]
    if missing:
        raise CorpusError(f"{csv_path.name}: missing column(s) {', '.join(missing)}")
    if not rows:
        raise CorpusError(f"{csv_path.name}: the manifest lists no files")
    root = csv_path.parent
    utterances: list[Utterance] = []
    unreadable: list[str] = []
    for row in rows:
        name = row["path"] or "(empty path)"
        file = Path(row["path"]).expanduser()
        file = file if file.is_absolute() else root / file
        emotion = _try_label(row["label"])
        if emotion is None:
            unreadable.append(f"{name}: unknown emotion label {row['label']!r}")
            continue
        scores, problem = _scores(row)
        if problem:
            unreadable.append(f"{name}: {problem}")
            continue
        if not file.is_file():
            unreadable.append(f"{name}: no such file")
            continue
        duration = _duration(file)
        if isinstance(duration, str):
            unreadable.append(f"{name}: {duration}")
            continue
        utterances.append(
            Utterance(
                file.resolve(),
                "csv",
                row["speaker"] or UNKNOWN,
                _gender(row["gender"]),
                emotion,
                duration,
                scores["arousal"],
                scores["valence"],
            )
        )
    if not utterances:
        raise CorpusError(
            f"{csv_path.name}: none of its {len(rows)} rows is usable (first problem: {unreadable[0]})"
        )
    utterances.sort(key=lambda u: u.path)
    return Corpus("csv", root, utterances, unreadable)
