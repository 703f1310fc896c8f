"""The one sidebar every page shares: model, corpus and clip, kept in ``st.session_state``."""

from __future__ import annotations

import streamlit as st

from crnn.app.frame import show_error
from crnn.app.models import default_model_choice, model_choices, own_model_folder, test_accuracy
from crnn.app.roots import SHARED_DATA_DIR, user_models_dir
from crnn.app.state import (
    CLIP_KEY, CORPUS_FOLDER_KEY, CORPUS_KEY, MODEL_FOLDER_KEY, MODEL_KEY, MODEL_PENDING_KEY, MODEL_PICK_KEY, all_clips,
)  # fmt: skip
from crnn.core.errors import CrnnError

OWN_FOLDER = "📂 A folder of my own…"


def sidebar() -> None:
    """Draw the sidebar; the pages read its choices through :mod:`crnn.app`."""
    with st.sidebar:
        st.markdown("### 🔎 CRNN Lens")
        try:
            _model_picker()
            _model_accuracy()
        except CrnnError as exc:
            show_error(str(exc))
        _corpus_picker()
        _clip_picker()
        st.caption("Example clips: RAVDESS, CC BY-NC-SA 4.0 (Livingstone & Russo, 2018).")


def _model_picker() -> None:
    choices = model_choices()
    options = [*choices, OWN_FOLDER]
    pending = st.session_state.pop(MODEL_PENDING_KEY, None)
    for label, folder in choices.items():
        if folder == pending:
            st.session_state[MODEL_PICK_KEY] = label
    if st.session_state.get(MODEL_PICK_KEY) not in options:
        st.session_state[MODEL_PICK_KEY] = default_model_choice(choices) or OWN_FOLDER
    pick = st.selectbox("Model", options, key=MODEL_PICK_KEY, help="The trained network whose behaviour the pages show. "
                        "Shipped: trained for the papers; trained in this session: by you, here; shared on this "
                        "server: trained by other visitors.")
    if pick != OWN_FOLDER:
        st.session_state[MODEL_KEY] = choices[pick]
        return
    text = st.text_input("Model folder (with card.json)", key=MODEL_FOLDER_KEY,
                         placeholder=str(user_models_dir() / "my_model"))
    st.session_state[MODEL_KEY] = None
    if text.strip():
        st.session_state[MODEL_KEY] = str(own_model_folder(text))
    elif not choices:
        st.info("No trained model found yet. Train one on the **Train** page.")


def _model_accuracy() -> None:
    """The chosen model's test accuracy, from its card.

    Being a metric, it also has the browser fetch its metric component on the first page view, so page 1's
    prediction (a metric too) shows the moment it arrives instead of after that fetch (``crnn bench``,
    ``first_prediction_s``).
    """
    folder = st.session_state.get(MODEL_KEY)
    if not folder:
        return
    result = test_accuracy(folder)
    if result is None:
        st.metric("Accuracy on new voices", "not measured", help="This model's card records no test result.")
        return
    n = result["speakers"]
    speakers = f"the {n} actor{'s' if n != 1 else ''}" if n else "the actors"
    guess = 1 / result["emotions"] if result["emotions"] > 1 else None
    st.metric("Accuracy on new voices", f"{result['ua']:.0%}", f"guessing: {guess:.0%}" if guess else None,
              delta_color="off", delta_arrow="off",
              help=f"Unweighted accuracy (the average of the per-emotion recalls) on {speakers} kept out of "
              "training, clean audio; guessing is what picking an emotion at random would score. The Model zoo "
              "page has every model's results.")


def _corpus_picker() -> None:
    st.radio(
        "Corpus for the model-wide views",
        ["bundle", "folder"],
        key=CORPUS_KEY,
        format_func=lambda k: "RAVDESS (precomputed)" if k == "bundle" else "📂 A corpus folder of my own",
        help="Pages 2 and 3 summarise a whole corpus. The shipped RAVDESS results open instantly; "
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
