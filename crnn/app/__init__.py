"""Glue between the Streamlit pages and :mod:`crnn`: session state, folder roots, upload caps, cached loaders.

Nothing scientific happens here. Every number the app shows comes from a library
function (``crnn.analysis.evaluate``, ``crnn.analysis.probe``, ``crnn.analysis.cells``, ...); this module only
decides *where* things come from (which folders may be read, which clip is
selected), *how long* they are kept (Streamlit caches) and *who* sees them
(``st.session_state``, so two people using one server never see each other's
clips or results).

Uploads go through :func:`add_clip_bytes`, which tests can call directly with a
clip's bytes to simulate an upload when no browser is at hand.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from crnn.core.audio import AUDIO_SUFFIXES, load_audio
from crnn.core.defaults import PROJECT_DIR, SAMPLE_RATE
from crnn.core.errors import AudioError, CheckpointError, CorpusError, CrnnError

log = logging.getLogger("crnn.app")

EXAMPLES_DIR = PROJECT_DIR / "checkpoints" / "examples"
SHARED_DATA_DIR = PROJECT_DIR.parent / "shared" / "data"

MAX_CLIP_SECONDS = 60.0  # longer uploads are refused: page 1 must answer within a second or so
MAX_UPLOAD_MB = 50  # keep equal to server.maxUploadSize in .streamlit/config.toml
MAX_SESSION_CLIPS = 6  # uploads and recordings kept per browser session; the oldest is dropped
UPLOAD_TYPES = [s.lstrip(".") for s in AUDIO_SUFFIXES]

EMOJI = {
    "anger": "😠",
    "boredom": "🥱",
    "calm": "😌",
    "disgust": "🤢",
    "excitement": "🤩",
    "fear": "😨",
    "frustration": "😤",
    "happiness": "😄",
    "neutral": "😐",
    "sadness": "😢",
    "surprise": "😲",
}

# Session-state keys shared by the sidebar and the pages.
MODEL_KEY = "lens_model"  # selected checkpoint folder (str)
MODEL_FOLDER_KEY = "lens_model_folder"  # text typed for "my own model folder"
CORPUS_KEY = "lens_corpus"  # "bundle" or "folder"
CORPUS_FOLDER_KEY = "lens_corpus_folder"
CLIP_KEY = "lens_clip"  # name of the selected clip
CLIPS_KEY = "lens_clips"  # dict name -> Clip: this session's uploads and recordings
CLIP_ERROR_KEY = "lens_clip_error"
OWN_FOLDER = "📂 A folder of my own…"


def emotion_label(emotion: str) -> str:
    """``"anger"`` → ``"😠 anger"`` for display."""
    return f"{EMOJI.get(emotion, '🎭')} {emotion}"


# --- folders the app may read ------------------------------------------------------------------


def allowed_roots() -> list[Path]:
    """Folders under which the folder pickers may read.

    ``CRNN_LENS_ROOTS`` (paths joined with ``os.pathsep``) replaces the default:
    the project folder, the user's home and the project's shared data folder.
    """
    env = os.environ.get("CRNN_LENS_ROOTS", "").strip()
    if env:
        roots = [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    else:
        roots = [PROJECT_DIR, Path.home(), SHARED_DATA_DIR]
    return [r.resolve() for r in roots if r.is_dir()]


def user_models_dir() -> Path:
    """Where models trained in the app are saved: ``CRNN_LENS_MODELS`` or ``~/.crnn_lens/models``."""
    env = os.environ.get("CRNN_LENS_MODELS", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".crnn_lens" / "models"


def is_allowed(path: Path) -> bool:
    """True if ``path`` exists and lies under one of :func:`allowed_roots`."""
    path = Path(path).expanduser().resolve()
    return path.exists() and any(path.is_relative_to(r) for r in allowed_roots())


def safe_folder(text: str, what: str, error: type[CrnnError] = CrnnError) -> Path:
    """Resolve a folder typed by the user, refusing anything outside :func:`allowed_roots`."""
    text = (text or "").strip()
    if not text:
        raise error(f"Type the path of {what}.")
    folder = Path(text).expanduser().resolve()
    roots = allowed_roots()
    if not any(folder.is_relative_to(r) for r in roots):
        shown = ", ".join(str(r) for r in roots)
        raise error(f"{folder} is outside the folders this app may read ({shown}); set CRNN_LENS_ROOTS to allow it.")
    if not folder.is_dir():
        raise error(f"{folder} is not a folder.")
    return folder


# --- clips -------------------------------------------------------------------------------------


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

    def caption(self) -> str:
        parts = [f"{self.seconds:.1f} s"]
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
    clips = session_clips()
    if origin == "recording":
        name = f"🎙️ My recording {sum(c.origin == 'recording' for c in clips.values()) + 1}"
    else:
        name = f"📁 {Path(filename).name}"
    clips.pop(name, None)
    clips[name] = Clip(name, _frozen(wave), origin)
    while len(clips) > MAX_SESSION_CLIPS:
        clips.pop(next(iter(clips)))
    st.session_state[CLIP_KEY] = name
    return clips[name]


def _on_new_audio(widget_key: str, origin: str) -> None:
    """Callback of the upload and record widgets: runs before the rerun, so the sidebar can select the clip."""
    file = st.session_state.get(widget_key)
    st.session_state[CLIP_ERROR_KEY] = None
    if file is None:
        return
    try:
        add_clip_bytes(file.name, file.getvalue(), origin)
    except CrnnError as exc:
        st.session_state[CLIP_ERROR_KEY] = str(exc)


def _on_example(widget_key: str) -> None:
    """Callback of the example buttons: select the example everywhere, then release the button."""
    name = st.session_state.get(widget_key)
    if name:
        st.session_state[CLIP_KEY] = name
        st.session_state[CLIP_ERROR_KEY] = None
    st.session_state[widget_key] = None


def _short_example_label(name: str) -> str:
    clip = example_clips()[name]
    return f"{EMOJI.get(clip.emotion or '', '🎭')} {clip.emotion} ({'♀' if clip.gender == 'female' else '♂'})"


def audio_inputs(key: str = "lens") -> None:
    """Example buttons, upload and record widgets; the chosen clip becomes the selected clip on every page."""
    examples = example_clips()
    if examples:
        st.pills("Try an example (acted by RAVDESS actors)", list(examples), key=f"{key}_example",
                 format_func=_short_example_label, on_change=_on_example, args=(f"{key}_example",))
    left, right = st.columns(2)
    left.file_uploader(
        f"…or upload a clip ({', '.join(UPLOAD_TYPES)}, up to {MAX_CLIP_SECONDS:.0f} s)",
        type=UPLOAD_TYPES,
        key=f"{key}_upload",
        on_change=_on_new_audio,
        args=(f"{key}_upload", "upload"),
    )
    right.audio_input("…or record yourself", key=f"{key}_record", on_change=_on_new_audio, args=(f"{key}_record", "recording"))
    message = st.session_state.get(CLIP_ERROR_KEY)
    if message:
        st.error(message)


def use_corpus_clip(path: str, emotion: str | None, gender: str | None) -> None:
    """Button callback: make a corpus recording (already checked to be under the allowed roots) the selected clip."""
    clip_path = Path(path)
    try:
        wave = load_audio(clip_path, max_seconds=MAX_CLIP_SECONDS)
    except CrnnError as exc:
        st.session_state[CLIP_ERROR_KEY] = str(exc)
        return
    clips = session_clips()
    name = f"🗂️ {clip_path.name}"
    clips.pop(name, None)
    clips[name] = Clip(name, _frozen(wave), "corpus", emotion, gender, clip_path)
    while len(clips) > MAX_SESSION_CLIPS:
        clips.pop(next(iter(clips)))
    st.session_state[CLIP_KEY] = name


def current_clip() -> Clip:
    """The clip selected in the sidebar; the first example when nothing was chosen."""
    clips = all_clips()
    name = st.session_state.get(CLIP_KEY)
    if name in clips:
        return clips[name]
    if not clips:
        raise AudioError("No clip yet: upload or record one on the Listen and predict page.")
    return next(iter(clips.values()))


def show_clip(clip: Clip) -> None:
    """Player and a one-line description of the selected clip."""
    st.audio(clip.wave, sample_rate=SAMPLE_RATE)
    st.caption(f"**{clip.name}** — {clip.caption()}")


# --- models ------------------------------------------------------------------------------------


@dataclass
class LoadedModel:
    """A checkpoint in memory. ``lock`` serialises analyses that attach hooks to the shared model."""

    folder: Path
    model: Any
    card: dict
    key: str  # changes whenever the weights change; part of every analysis cache key
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def labels(self) -> list[str]:
        return list(self.card["labels"])


def _is_checkpoint(folder: Path) -> bool:
    return (folder / "card.json").is_file() and (folder / "model.safetensors").is_file()


def model_choices() -> dict[str, str]:
    """Display name → checkpoint folder, for shipped checkpoints and the user's trained models."""
    from crnn.core.checkpoint import list_checkpoints

    choices: dict[str, str] = {}
    for item in list_checkpoints():
        folder = Path(item["path"] if isinstance(item, dict) else item)
        choices[f"{folder.name} (shipped)"] = str(folder)
    user = user_models_dir()
    if user.is_dir():
        for folder in sorted(p for p in user.iterdir() if _is_checkpoint(p)):
            choices[f"{folder.name} (trained by you)"] = str(folder)
    return choices


def default_model_choice(choices: dict[str, str]) -> str | None:
    from crnn.core.checkpoint import DEFAULT_MODEL

    for label, folder in choices.items():
        if Path(folder).name == DEFAULT_MODEL:
            return label
    return next(iter(choices), None)


def _weights_stamp(folder: Path) -> str:
    weights = folder / "model.safetensors"
    stat = weights.stat()
    return f"{folder}:{stat.st_mtime_ns}:{stat.st_size}"


def torch_threads() -> int:
    """Intra-op threads for the app's torch work: ``CRNN_LENS_TORCH_THREADS``, default 1.

    One thread per analysis keeps a small model's prediction at a few tens of
    milliseconds even when the CPU is busy (several threads spin-wait against each
    other and against other users' sessions), and lets sessions run side by side.
    """
    try:
        return max(1, int(os.environ.get("CRNN_LENS_TORCH_THREADS", "1")))
    except ValueError:
        return 1


@st.cache_resource(max_entries=8, show_spinner="Loading the model…")
def _load(folder: str, stamp: str) -> LoadedModel:
    import torch

    from crnn.core.checkpoint import load_checkpoint

    torch.set_num_threads(torch_threads())
    model, card = load_checkpoint(Path(folder))
    model.eval()
    return LoadedModel(Path(folder), model, card, card.get("weights_sha256") or stamp)


def load_model(folder: str | Path) -> LoadedModel:
    """Load a checkpoint folder once per server (reloaded when its weights file changes)."""
    folder = Path(folder)
    if not _is_checkpoint(folder):
        raise CheckpointError(f"{folder} holds no model (model.safetensors and card.json are needed).")
    return _load(str(folder), _weights_stamp(folder))


def current_model() -> LoadedModel:
    """The model picked in the sidebar."""
    folder = st.session_state.get(MODEL_KEY)
    if not folder:
        raise CheckpointError("No trained model yet: train one on the Train page, or pick a model folder in the sidebar.")
    return load_model(folder)


# --- corpus ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusChoice:
    kind: str  # "bundle": the RAVDESS probe bundle shipped with the model; "folder": the user's corpus
    folder: Path | None = None

    def describe(self) -> str:
        return "RAVDESS (precomputed)" if self.kind == "bundle" else str(self.folder)


def current_corpus() -> CorpusChoice:
    if st.session_state.get(CORPUS_KEY, "bundle") == "bundle":
        return CorpusChoice("bundle")
    folder = safe_folder(st.session_state.get(CORPUS_FOLDER_KEY, ""), "a corpus folder", CorpusError)
    return CorpusChoice("folder", folder)


# --- sidebar -----------------------------------------------------------------------------------


def sidebar() -> None:
    """The one sidebar every page shares: model, corpus and clip, kept in ``st.session_state``."""
    with st.sidebar:
        st.markdown("### 🔎 CRNN Lens")
        try:
            _model_picker()
        except CrnnError as exc:
            st.error(str(exc))
        _corpus_picker()
        _clip_picker()
        st.caption("Example clips: RAVDESS, CC BY-NC-SA 4.0 (Livingstone & Russo, 2018).")


def _model_picker() -> None:
    choices = model_choices()
    options = [*choices, OWN_FOLDER]
    pending = st.session_state.pop(MODEL_PENDING_KEY, None)
    for label, folder in choices.items():
        if folder == pending:
            st.session_state["lens_model_pick"] = label
    if st.session_state.get("lens_model_pick") not in options:
        st.session_state["lens_model_pick"] = default_model_choice(choices) or OWN_FOLDER
    pick = st.selectbox("Model", options, key="lens_model_pick", help="The trained network whose behaviour the pages show.")
    if pick == OWN_FOLDER:
        text = st.text_input("Model folder (with card.json)", key=MODEL_FOLDER_KEY, placeholder=str(user_models_dir() / "my_model"))
        st.session_state[MODEL_KEY] = None
        if text.strip():
            folder = safe_folder(text, "a model folder", CheckpointError)
            if not _is_checkpoint(folder):
                raise CheckpointError(f"{folder} holds no model (model.safetensors and card.json are needed).")
            st.session_state[MODEL_KEY] = str(folder)
        elif not choices:
            st.info("No trained model found yet. Train one on the **Train** page.")
    else:
        st.session_state[MODEL_KEY] = choices[pick]


def _corpus_picker() -> None:
    st.radio(
        "Corpus for the model-wide views",
        ["bundle", "folder"],
        key=CORPUS_KEY,
        format_func=lambda k: "RAVDESS (precomputed)" if k == "bundle" else "📂 A corpus folder of my own",
        help="Pages 2, 3 and 6 summarise a whole corpus. The shipped RAVDESS results open instantly; "
        "your own folder is analysed on first use.",
    )
    if st.session_state[CORPUS_KEY] == "folder":
        st.text_input("Corpus folder", key=CORPUS_FOLDER_KEY, placeholder=str(SHARED_DATA_DIR / "ravdess"))


def _clip_picker() -> None:
    clips = all_clips()
    if not clips:
        return
    if st.session_state.get(CLIP_KEY) not in clips:
        st.session_state[CLIP_KEY] = next(iter(clips))
    st.selectbox("Clip", list(clips), key=CLIP_KEY, help="Upload or record your own on the Listen and predict page.")


# --- page frame --------------------------------------------------------------------------------


def intro(title: str, what: str, why: str) -> None:
    """Page title and the two plain-language sentences every page opens with."""
    st.title(title)
    st.markdown(f"{what} {why}")


@contextmanager
def friendly(what: str = "this part") -> Iterator[None]:
    """Show a CrnnError as one sentence, anything unexpected as one friendly line (logged, never a traceback)."""
    try:
        yield
    except CrnnError as exc:
        st.error(str(exc))
    except Exception:
        log.exception("unexpected error in %s", what)
        st.error(f"Sorry, {what} could not be shown because of an unexpected problem; the rest of the app still works.")


def progress_callback(bar: Any, text: str) -> Callable[..., None]:
    """Adapt a ``st.progress`` bar to the ``progress(done, total)`` callbacks of :mod:`crnn`."""

    def update(done: float, total: float | None = None, *_: Any, **__: Any) -> None:
        fraction = done if total is None else done / max(total, 1)
        bar.progress(min(max(float(fraction), 0.0), 1.0), text=text)

    return update


# --- cached analyses ---------------------------------------------------------------------------
# Each takes the model as ``_lm`` (not hashed) and its ``key`` (hashed), so a retrained model
# never reuses an old result. Results are keyed by the audio's content: another session only
# reaches an entry by sending the very same samples.


@st.cache_data(max_entries=64, show_spinner="Listening…")
def predict(_lm: LoadedModel, key: str, wave: np.ndarray) -> dict:
    """``crnn.analysis.evaluate.predict_file`` for the selected clip."""
    from crnn.analysis.evaluate import predict_file

    with _lm.lock:
        return predict_file(_lm.model, _lm.card, np.array(wave))


@st.cache_data(max_entries=32, show_spinner=False)
def display_features(wave: np.ndarray) -> dict[str, np.ndarray]:
    """``crnn.plots.display_features``: log-Mel and standardised MFCC of the clip, for the features figure."""
    from crnn.plots import display_features as compute

    return compute(np.array(wave))


# --- corpora and training ----------------------------------------------------------------------

TRAIN_LOCK = threading.Lock()  # one training per server: the CPU is the bottleneck, not memory
MODEL_PENDING_KEY = "lens_model_pending"  # a model to select in the sidebar on the next run


@st.cache_data(max_entries=8, ttl=600, show_spinner="Reading the corpus folder…")
def corpus_summary(folder: str) -> dict:
    """``crnn.core.corpora.describe`` of a folder already checked by :func:`safe_folder`."""
    from crnn.core.corpora import describe, read_corpus

    return describe(read_corpus(folder))


def new_model_folder(name: str) -> Path:
    """A fresh folder under :func:`user_models_dir` for a model the user names (letters, digits, - and _)."""
    import re

    clean = re.sub(r"[^A-Za-z0-9_-]+", "_", name.strip()).strip("_")
    if not clean:
        raise CrnnError("Give the new model a name made of letters, digits, - or _.")
    folder = user_models_dir() / clean
    if _is_checkpoint(folder):
        raise CrnnError(f"A model called {clean} already exists in {user_models_dir()}; choose another name.")
    return folder


def select_model_next_run(folder: Path) -> None:
    """Ask the sidebar to select ``folder`` on the next run (a widget cannot change once drawn)."""
    st.session_state[MODEL_PENDING_KEY] = str(folder)


# --- corpus-wide views (pages 2, 3) ------------------------------------------------------------


def corpus_root(lm: LoadedModel, corpus: CorpusChoice) -> Path | None:
    """Where the corpus's audio lives, if this app may read it: the user's folder, or the card's training corpus."""
    if corpus.kind == "folder":
        return corpus.folder
    root = (lm.card.get("corpus") or {}).get("root")
    if not root:
        return None
    path = Path(root).expanduser()
    path = (path if path.is_absolute() else PROJECT_DIR / path).resolve()
    if path.is_dir() and any(path.is_relative_to(r) for r in allowed_roots()):
        return path
    return None


@st.cache_data(max_entries=4, show_spinner=False)
def representations(_lm: LoadedModel, key: str, corpus_kind: str, corpus_folder: str | None, _progress: Any = None) -> Any:
    """Module representations: the checkpoint's shipped RAVDESS bundle, or the model run over the user's corpus."""
    from crnn.analysis.probe import bundle_path, load_bundle, representations_for

    if corpus_kind == "bundle":
        path = bundle_path(_lm.folder)
        if not path.is_file():
            raise CrnnError(f"{_lm.name} has no precomputed RAVDESS results; choose a corpus folder of your own in the sidebar.")
        return load_bundle(path)
    return representations_for(_lm.folder, corpus_folder, progress=_progress)


def corpus_representations(lm: LoadedModel, corpus: CorpusChoice) -> Any:
    """:func:`representations` with a progress bar while a user's corpus is processed for the first time."""
    bar = st.empty()
    try:
        return representations(lm, lm.key, corpus.kind, str(corpus.folder) if corpus.folder else None,
                               progress_callback(bar, "Running the model over the corpus…"))
    finally:
        bar.empty()


@st.cache_data(max_entries=8, show_spinner=False)
def probe_scores(_reps: Any, key: str, corpus: str) -> dict:
    """``crnn.analysis.probe.probe_scores``: ρ and linear-SVM UA per module."""
    from crnn.analysis.probe import probe_scores as scores

    return scores(_reps)


@st.cache_data(max_entries=8, show_spinner=False)
def probe_figure(_reps: Any, key: str, corpus: str, method: str) -> Any:
    """``crnn.plots.probe_grid`` (paper 001 Fig. 2)."""
    from crnn.plots import probe_grid

    return probe_grid(_reps, method=method)


def selected_texts(fig: Any, event: Any) -> list[str]:
    """The hover texts (utterance ids) of the points picked in a plotly chart's selection event."""
    picked = []
    for point in ((event or {}).get("selection") or {}).get("points", []):
        trace = fig.data[point.get("curve_number", -1)] if 0 <= point.get("curve_number", -1) < len(fig.data) else None
        index = point.get("point_index", point.get("point_number"))
        if trace is not None and trace.text is not None and index is not None and not isinstance(trace.text, str):
            picked.append(str(trace.text[index]))
    return picked


def figure_html(fig: Any) -> Callable[[], bytes]:
    """Deferred HTML export of a figure (works offline), for ``st.download_button(data=...)``."""
    return lambda: fig.to_html(include_plotlyjs=True).encode("utf-8")


# --- single-clip analyses (pages 3, 4, 5) --------------------------------------------------------
# ``np.array(wave)`` hands the science functions a writable copy of the read-only clip.


@st.cache_data(max_entries=16, show_spinner=False)
def cell_report(_lm: LoadedModel, key: str, wave: np.ndarray) -> Any:
    """``crnn.analysis.cells.cell_correlations`` of every LSTM cell and gate with the clip's prosody."""
    from crnn.analysis.cells import cell_correlations

    with _lm.lock:
        return cell_correlations(_lm.model, np.array(wave))


def corpus_sample(lm: LoadedModel, corpus: CorpusChoice, n: int) -> list[str]:
    """``n`` recordings spread evenly over the corpus (every emotion and speaker), for corpus-wide rankings."""
    root = corpus_root(lm, corpus)
    if root is None:
        raise CorpusError("The corpus audio is not at hand on this computer; choose a corpus folder of your own in the sidebar.")
    return _spread_sample(str(root), n)


@st.cache_data(max_entries=8, ttl=600, show_spinner="Reading the corpus folder…")
def _spread_sample(root: str, n: int) -> list[str]:
    from crnn.core.corpora import read_corpus
    from crnn.core.splits import spread_sample

    return [str(u.path) for u in spread_sample(read_corpus(root).utterances, n)]


@st.cache_data(max_entries=4, show_spinner=False)
def corpus_cells(_lm: LoadedModel, key: str, paths: tuple[str, ...], _progress: Any = None) -> Any:
    """``crnn.analysis.cells.corpus_cell_correlations`` over the given recordings."""
    from crnn.analysis.cells import corpus_cell_correlations

    with _lm.lock:
        return corpus_cell_correlations(_lm.model, list(paths), progress=_progress)


@st.cache_data(max_entries=16, show_spinner=False)
def explanation(_lm: LoadedModel, key: str, wave: np.ndarray, target: str, method: str, layers: bool) -> Any:
    """``crnn.analysis.explain.explain``: attributions of the score of ``target`` to the input features (and modules)."""
    from crnn.analysis.explain import explain

    with _lm.lock:
        return explain(_lm.model, np.array(wave), target=target, labels=_lm.labels, method=method, layers=layers)


@st.cache_data(max_entries=32, show_spinner=False)
def noise_result(_lm: LoadedModel, key: str, wave: np.ndarray, kind: str, snr_db: float, seed: int) -> dict:
    """``crnn.analysis.noiselab.noise_shift`` for the clip; its "noisy_wave" is the mixture the model heard, for listening."""
    from crnn.analysis.noiselab import noise_shift

    with _lm.lock:
        return noise_shift(_lm.model, np.array(wave), kind, snr_db, labels=_lm.labels, seed=seed)


@st.cache_data(max_entries=8, show_spinner=False)
def noise_sweep(_lm: LoadedModel, key: str, wave: np.ndarray, kind: str, seed: int) -> list[dict]:
    """``crnn.analysis.noiselab.noise_sweep`` over the paper's SNR range, with the same seed (so the same noise excerpt)."""
    from crnn.analysis.noiselab import noise_sweep as sweep

    with _lm.lock:
        return sweep(_lm.model, np.array(wave), kind, labels=_lm.labels, seed=seed)


# --- model zoo (page 6) --------------------------------------------------------------------------


@st.cache_data(ttl=60, show_spinner=False)
def zoo_results(user_dir: str) -> tuple[list[dict], list[dict]]:
    """``crnn.tasks.report.results_rows`` of the shipped checkpoints and of ``user_dir``: (models, best-kernel baselines).

    Model rows get "source" ("shipped" or "trained by you") and "label", the
    name the sidebar's model picker shows.
    """
    from crnn.core.checkpoint import CHECKPOINT_DIR
    from crnn.tasks.report import results_rows

    shipped = results_rows(CHECKPOINT_DIR)
    models = [{**row, "source": "shipped"} for row in shipped if row["kind"] == "model"]
    if Path(user_dir).is_dir():
        models += [{**row, "source": "trained by you"} for row in results_rows(user_dir, baselines=[])]
    for row in models:
        row["label"] = f"{row['name']} ({row['source']})"
    baselines = [row for row in shipped if row["kind"] == "baseline" and row["best"]]
    return models, baselines
