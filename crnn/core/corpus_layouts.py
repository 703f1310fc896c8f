"""The corpus layouts :func:`crnn.core.corpora.read_corpus` recognises, and the one emotion vocabulary.

Each layout is a parser from a file's path (and the corpus root) to what its
name says, :class:`Meta` (speaker, gender, emotion), or to the reason it does
not fit. :func:`detect_layout` picks the layout most file names follow.
Labels of every corpus map into :data:`EMOTIONS` (:func:`canonical_label`).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from crnn.core.audio import AUDIO_SUFFIXES
from crnn.core.errors import CorpusError

Confine = Callable[[Path], None]  # raises CorpusError for a path outside the allowed folders

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
    label = try_label(name)
    if label is None:
        raise CorpusError(
            f"unknown emotion label {name!r}; known labels are {', '.join(EMOTIONS)}"
        )
    return label


def try_label(name: str) -> str | None:
    key = re.sub(r"[\s_\-]+", " ", str(name).strip().lower())
    return _LABELS.get(key)


def gender_of(value: str) -> str:
    key = str(value).strip().lower()
    if key in ("f", "female", "woman", "w"):
        return "female"
    if key in ("m", "male", "man"):
        return "male"
    return UNKNOWN


# --- CSV files --------------------------------------------------------------------------------


def csv_header(path: Path) -> set[str]:
    """The lower-cased column names of a CSV file (empty if it cannot be read)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return {c.strip().lower() for c in next(csv.reader(fh), [])}
    except (OSError, UnicodeDecodeError, csv.Error):
        return set()


def csv_rows(path: Path) -> list[dict[str, str]]:
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


def read_speaker_csv(path: Path) -> dict[str, tuple[str, str]]:
    """path → (speaker, gender) from a CSV beside label folders (columns path, speaker[, gender])."""
    out = {}
    for row in csv_rows(path):
        rel = Path(row["path"]).as_posix()
        out[rel] = (row["speaker"] or UNKNOWN, gender_of(row.get("gender", "")))
    return out


def read_demographics(root: Path, files: list[Path], confine: Confine | None = None) -> dict[str, str]:
    """CREMA-D actor → gender from the published VideoDemographics.csv, looked for beside the audio.

    ``confine`` checks the CSV before it is read (its values become speaker genders).
    """
    folders = {root} | {f.parent for f in files} | {f.parent.parent for f in files}
    for folder in sorted(folders):
        found = [p for p in folder.glob("*.csv") if p.name.lower() == CREMA_DEMOGRAPHICS.lower()]
        if found:
            if confine is not None:
                confine(found[0])
            rows = csv_rows(found[0])
            return {r["actorid"]: gender_of(r["sex"]) for r in rows if "actorid" in r and "sex" in r}
    return {}


# --- layouts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Meta:
    """What a file name (or its folders) says about one utterance."""

    speaker: str
    gender: str
    emotion: str


Parser = Callable[[Path, Path], "Meta | str"]  # (file, root) → metadata or why it does not fit

_RAVDESS = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_EMODB = re.compile(r"^(\d\d)([a-z]\d\d)([WLEAFTN])([a-z])$")
_CREMA = re.compile(r"^(\d{4})_([A-Z]{3})_(ANG|DIS|FEA|HAP|NEU|SAD)_([A-Z]{1,2})$")
_TESS = re.compile(r"^([OY])AF?_([A-Za-z]+)_(.+)$")  # "OA_bite_neutral" occurs in the release
_TESS_FOLDER = re.compile(r"^([OY])AF_(.+)$", re.IGNORECASE)
_ENTERFACE = re.compile(r"^s(\d+)_(an|di|fe|ha|sa|su)_(\d+)", re.IGNORECASE)
_SUBJECT = re.compile(r"^subject\s*(\d+)$", re.IGNORECASE)


def _ravdess(path: Path, root: Path) -> Meta | str:
    m = _RAVDESS.match(path.stem)
    if not m or m.group(3) not in RAVDESS_EMOTIONS:
        return "name does not follow RAVDESS's 03-01-EE-II-SS-RR-AA pattern"
    actor = m.group(7)
    gender = "male" if int(actor) % 2 == 1 else "female"
    return Meta(actor, gender, RAVDESS_EMOTIONS[m.group(3)])


def _emodb(path: Path, root: Path) -> Meta | str:
    m = _EMODB.match(path.stem)
    if not m:
        return "name does not follow EmoDB's 03a01Wa pattern"
    speaker = m.group(1)
    gender = "male" if speaker in EMODB_MALE else "female" if speaker in EMODB_FEMALE else UNKNOWN
    return Meta(speaker, gender, canonical_label(m.group(3)))


def _crema(demographics: dict[str, str]) -> Parser:
    def parse(path: Path, root: Path) -> Meta | str:
        m = _CREMA.match(path.stem)
        if not m:
            return "name does not follow CREMA-D's 1001_DFA_ANG_XX pattern"
        speaker = m.group(1)
        return Meta(speaker, demographics.get(speaker, UNKNOWN), canonical_label(m.group(3)))

    return parse


def _tess(path: Path, root: Path) -> Meta | str:
    m = _TESS.match(path.stem)
    emotion = try_label(m.group(3)) if m else None
    if m and emotion:
        return Meta(f"{m.group(1).upper()}AF", "female", emotion)
    folder = _TESS_FOLDER.match(path.parent.name)
    emotion = try_label(folder.group(2)) if folder else None
    if folder and emotion:
        return Meta(f"{folder.group(1).upper()}AF", "female", emotion)
    return "name does not follow TESS's OAF_word_emotion pattern"


def _enterface(path: Path, root: Path) -> Meta | str:
    m = _ENTERFACE.match(path.stem)
    if not m:
        return "name does not follow eNTERFACE's s1_an_1 pattern"
    subject = next(
        (s.group(1) for part in path.relative_to(root).parts[:-1] if (s := _SUBJECT.match(part))),
        m.group(1),
    )
    return Meta(f"{int(subject):02d}", UNKNOWN, canonical_label(m.group(2)))


def _folders(speakers: dict[str, tuple[str, str]]) -> Parser:
    """Label from the nearest enclosing folder named after an emotion; speakers from a CSV."""

    def parse(path: Path, root: Path) -> Meta | str:
        rel = path.relative_to(root)
        emotion = next((e for part in reversed(rel.parts[:-1]) if (e := try_label(part))), None)
        if emotion is None:
            return "not inside a folder named after an emotion"
        speaker, gender = speakers.get(rel.as_posix(), (UNKNOWN, UNKNOWN))
        return Meta(speaker, gender, emotion)

    return parse


def detect_layout(
    root: Path,
    audio: list[Path],
    video: list[Path],
    speaker_csv: dict[str, tuple[str, str]],
    shown: str,
    confine: Confine | None = None,
) -> tuple[str, Parser, list[Path]]:
    """Pick the layout most file names follow: (name, parser, files to read).

    ``shown`` names the corpus folder in messages; ``confine`` checks the
    CSV files a layout reads besides the audio.
    """
    stems = {a.with_suffix("") for a in audio}
    named: list[tuple[str, Parser, list[Path]]] = [
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
            parser = _crema(read_demographics(root, files, confine))
        return name, parser, sorted(files)
    folders = _folders(speaker_csv)
    if audio and sum(not isinstance(folders(p, root), str) for p in audio) * 2 >= len(audio):
        return "folders", folders, audio
    if not audio:
        raise CorpusError(f"{shown} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
    raise CorpusError(
        f"{shown}: unknown corpus layout (not RAVDESS, EmoDB, CREMA-D, TESS, eNTERFACE, "
        "folders named after emotions, or a CSV manifest with columns path, label, speaker, gender)"
    )


_PREFERENCE = {".wav": 0, ".flac": 1, ".ogg": 2, ".mp3": 3}
NAMED_BY_FILE = ("ravdess", "emodb", "crema-d", "tess")  # a file name identifies the recording


def drop_duplicates(files: list[Path]) -> list[Path]:
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


