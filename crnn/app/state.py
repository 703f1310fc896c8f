"""This browser session's state: the session-state keys, its clips (uploads, recordings, corpus picks) and the examples.

Everything kept here lives in ``st.session_state``, so two people using one
server never see each other's clips. Uploads go through :func:`add_clip_bytes`,
which tests can call directly with a clip's bytes to simulate an upload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st

from crnn.app.roots import safe_file
from crnn.core.audio import AUDIO_SUFFIXES, load_audio, peak_dbfs
from crnn.core.defaults import CHECKPOINT_DIR, SAMPLE_RATE
from crnn.core.errors import AudioError

EXAMPLES_DIR = CHECKPOINT_DIR / "examples"

MAX_CLIP_SECONDS = 60.0  # longer uploads are refused: page 1 must answer within a second or so
MAX_UPLOAD_MB = 50  # keep equal to server.maxUploadSize in .streamlit/config.toml
MAX_SESSION_CLIPS = 6  # uploads and recordings kept per browser session; the oldest is dropped
UPLOAD_TYPES = [s.lstrip(".") for s in AUDIO_SUFFIXES]

EMOJI = {
    "anger": "😠", "boredom": "🥱", "calm": "😌", "disgust": "🤢", "excitement": "🤩", "fear": "😨",
    "frustration": "😤", "happiness": "😄", "neutral": "😐", "sadness": "😢", "surprise": "😲",
}  # fmt: skip

# Session-state keys shared by the sidebar and the pages.
MODEL_KEY = "lens_model"  # selected checkpoint folder (str)
MODEL_PICK_KEY = "lens_model_pick"  # label chosen in the sidebar's model picker
MODEL_FOLDER_KEY = "lens_model_folder"  # text typed for "my own model folder"
MODEL_PENDING_KEY = "lens_model_pending"  # a model to select in the sidebar on the next run
TRAINED_KEY = "lens_trained_here"  # folders of the models this session trained
CORPUS_KEY = "lens_corpus"  # "bundle" or "folder"
CORPUS_FOLDER_KEY = "lens_corpus_folder"
CLIP_KEY = "lens_clip"  # name of the selected clip
CLIPS_KEY = "lens_clips"  # dict name -> Clip: this session's uploads and recordings
CLIP_ERROR_KEY = "lens_clip_error"  # (widget key or None, file id or None, message) of the last refused clip


def emotion_label(emotion: str) -> str:
    """``"anger"`` → ``"😠 anger"`` for display."""
    return f"{EMOJI.get(emotion, '🎭')} {emotion}"


@dataclass(frozen=True)
class Clip:
    """A piece of audio the pages analyse: (N,) float32 samples at 16 kHz, read-only."""

    name: str
    wave: np.ndarray = field(repr=False)
    origin: str  # "example" | "upload" | "recording" | "corpus"
    emotion: str | None = None  # the known label, where there is one
    gender: str | None = None
    path: Path | None = None

    @property
    def seconds(self) -> float:
        return len(self.wave) / SAMPLE_RATE

    @property
    def peak_dbfs(self) -> float:
        """The loudest sample in dB below full scale (0 dBFS); RAVDESS clips peak around −20."""
        return peak_dbfs(self.wave)

    def caption(self) -> str:
        parts = [f"{self.seconds:.1f} s", f"peak {self.peak_dbfs:.0f} dBFS"]
        if self.emotion:
            parts.append(f"acted emotion: {emotion_label(self.emotion)}")
        if self.gender and self.gender != "unknown":
            parts.append(f"{self.gender} speaker")
        return " · ".join(parts)


def _frozen(wave: np.ndarray) -> np.ndarray:
    wave = np.ascontiguousarray(wave, dtype=np.float32)
    wave.flags.writeable = False
    return wave


@st.cache_resource(show_spinner=False)
def example_clips() -> dict[str, Clip]:
    """The shipped example clips (``checkpoints/examples``), loaded once per server."""
    manifest = EXAMPLES_DIR / "examples.json"
    if not manifest.is_file():
        return {}
    clips = {}
    for row in json.loads(manifest.read_text()):
        path = EXAMPLES_DIR / row["file"]
        name = f"{EMOJI.get(row['emotion'], '🎭')} Example: {row['emotion']}, {row['gender']} voice (actor {row['actor']})"
        clips[name] = Clip(name, _frozen(load_audio(path)), "example", row["emotion"], row["gender"], path)
    return clips


def session_clips() -> dict[str, Clip]:
    """This browser session's uploads and recordings (never shared with other sessions)."""
    return st.session_state.setdefault(CLIPS_KEY, {})


def all_clips() -> dict[str, Clip]:
    return {**session_clips(), **example_clips()}


def _keep(clip: Clip) -> Clip:
    """Add ``clip`` to this session (replacing one of the same name, dropping the oldest beyond the cap) and select it."""
    clips = session_clips()
    clips.pop(clip.name, None)
    clips[clip.name] = clip
    while len(clips) > MAX_SESSION_CLIPS:
        clips.pop(next(iter(clips)))
    st.session_state[CLIP_KEY] = clip.name
    return clip


def add_clip_bytes(filename: str, data: bytes, origin: str = "upload") -> Clip:
    """Decode an upload or recording, keep it in this session and select it.

    Raises :class:`AudioError` (one sentence) for files over the size or
    duration cap and for anything :func:`crnn.core.audio.load_audio` refuses.
    """
    if len(data) > MAX_UPLOAD_MB * 2**20:
        raise AudioError(f"{filename}: {len(data) / 2**20:.0f} MB is more than the {MAX_UPLOAD_MB} MB upload limit.")
    if origin == "upload" and Path(filename).suffix.lower() not in AUDIO_SUFFIXES:
        raise AudioError(f"{filename}: only {', '.join(UPLOAD_TYPES)} files can be analysed.")
    wave = load_audio(data, max_seconds=MAX_CLIP_SECONDS, name=filename)
    if origin == "recording":
        name = f"🎙️ My recording {sum(c.origin == 'recording' for c in session_clips().values()) + 1}"
    else:
        name = f"📁 {Path(filename).name}"
    emotion, gender = acted_emotion(filename) if origin == "upload" else (None, None)
    return _keep(Clip(name, _frozen(wave), origin, emotion, gender))


def acted_emotion(filename: str) -> tuple[str | None, str | None]:
    """(emotion, gender) a RAVDESS file name encodes (03-01-EE-II-SS-RR-AA: EE the emotion), else (None, None)."""
    from crnn.core.corpus_layouts import _ravdess  # the corpus reader's own parser

    meta = _ravdess(Path(Path(filename).name), Path("."))
    return (None, None) if isinstance(meta, str) else (meta.emotion, meta.gender)


def add_corpus_clip(path: str, emotion: str | None, gender: str | None) -> Clip:
    """Make a corpus recording the selected clip; the path must be a file inside the allowed roots."""
    path = safe_file(path)
    wave = load_audio(path, max_seconds=MAX_CLIP_SECONDS)
    return _keep(Clip(f"🗂️ {path.name}", _frozen(wave), "corpus", emotion, gender, path))


def set_clip_error(message: str | None, widget: str | None = None, file_id: str | None = None) -> None:
    """Remember why a clip was refused, tied to the widget (and its file) that brought it; None forgets it."""
    st.session_state[CLIP_ERROR_KEY] = None if message is None else (widget, file_id, message)


def clip_error(widget: str | None = None) -> str | None:
    """The refusal to show next to ``widget``, while that widget still holds the refused file.

    An error about an upload or recording disappears once its widget no longer
    holds that file (cleared, replaced, or emptied when the visitor left the
    page); one not tied to a widget (``widget`` None) is shown once.
    """
    stored = st.session_state.get(CLIP_ERROR_KEY)
    if not stored or stored[0] != widget:
        return None
    owner, file_id, message = stored
    held = owner is not None and getattr(st.session_state.get(owner), "file_id", None) == file_id
    if not held:
        st.session_state[CLIP_ERROR_KEY] = None  # shown once, or about a file the widget no longer holds
    return message if held or owner is None else None


def current_clip() -> Clip:
    """The clip selected in the sidebar; the first example when nothing was chosen."""
    clips = all_clips()
    name = st.session_state.get(CLIP_KEY)
    if name in clips:
        return clips[name]
    if not clips:
        raise AudioError("No clip yet: upload or record one on the Listen and predict page.")
    return next(iter(clips.values()))
