"""The widgets that bring audio in: example buttons, upload, recording, and a corpus recording's "use this" button."""

from __future__ import annotations

import streamlit as st

from crnn.app.frame import show_error
from crnn.app.models import LoadedModel, current_model
from crnn.app.state import (
    CLIP_KEY, EMOJI, MAX_CLIP_SECONDS, MAX_UPLOAD_MB, UPLOAD_TYPES, Clip, add_clip_bytes, add_corpus_clip, clip_error,
    current_clip, example_clips, set_clip_error,
)  # fmt: skip
from crnn.core.defaults import SAMPLE_RATE
from crnn.core.errors import CrnnError


def _on_new_audio(widget_key: str, origin: str) -> None:
    """Callback of the upload and record widgets: runs before the rerun, so the sidebar can select the clip."""
    file = st.session_state.get(widget_key)
    set_clip_error(None)
    if file is None:
        return
    try:
        add_clip_bytes(file.name, file.getvalue(), origin)
    except CrnnError as exc:
        set_clip_error(str(exc), widget_key, file.file_id)


def _on_example(widget_key: str) -> None:
    """Callback of the example buttons: select the example everywhere, then release the button."""
    name = st.session_state.get(widget_key)
    if name:
        st.session_state[CLIP_KEY] = name
        set_clip_error(None)
    st.session_state[widget_key] = None


def _on_corpus_clip(path: str, emotion: str | None, gender: str | None) -> None:
    """Callback of a corpus recording's button: make it the selected clip on every page."""
    set_clip_error(None)
    try:
        add_corpus_clip(path, emotion, gender)
    except CrnnError as exc:
        set_clip_error(str(exc))


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
    upload, record = f"{key}_upload", f"{key}_record"
    left.file_uploader(
        f"…or upload a clip ({', '.join(UPLOAD_TYPES)}, up to {MAX_CLIP_SECONDS:.0f} s)",
        type=UPLOAD_TYPES, key=upload, max_upload_size=MAX_UPLOAD_MB, on_change=_on_new_audio, args=(upload, "upload"),
    )  # fmt: skip
    right.audio_input("…or record yourself", key=record, on_change=_on_new_audio, args=(record, "recording"))
    for widget in (upload, record):
        message = clip_error(widget)
        if message:
            show_error(message)


def use_corpus_clip_button(label: str, key: str, path: str, emotion: str | None, gender: str | None) -> None:
    """A button that makes a corpus recording the selected clip, and the one-line error if that fails."""
    st.button(label, key=key, on_click=_on_corpus_clip, args=(path, emotion, gender))
    message = clip_error()
    if message:
        show_error(message)


def show_clip(clip: Clip) -> None:
    """Player and a one-line description of the selected clip."""
    st.audio(clip.wave, sample_rate=SAMPLE_RATE)
    st.caption(f"**{clip.name}** — {clip.caption()}")


def model_and_clip(show: bool = True) -> tuple[LoadedModel, Clip]:
    """The model and the clip selected in the sidebar; ``show`` puts the clip's player on the page."""
    lm, clip = current_model(), current_clip()
    if show:
        show_clip(clip)
    return lm, clip
