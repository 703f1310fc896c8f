"""The causal lab in the app: "What if" and "What happens without them" (page 3), "Compare with a second model" (page 2).

Each section is one function a page calls; the numbers come from the
library (:mod:`crnn.analysis.whatif`, :mod:`crnn.tasks.ablate`,
:mod:`crnn.tasks.compare`), behind Streamlit's caches keyed by the model's
``key`` and the clip's samples, as in :mod:`crnn.app.cached`.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from crnn.app.corpus import NOT_AT_HAND, CorpusChoice, corpus_representations, corpus_root
from crnn.app.models import LoadedModel, load_model, model_choices
from crnn.app.state import Clip, emotion_label
from crnn.core.defaults import SAMPLE_RATE
from crnn.core.errors import CorpusError

FEATURES = {"loudness": "Loudness", "f0": "Pitch (F0)", "rms": "Energy (RMS)", "rms_range": "Energy range"}


@st.cache_data(max_entries=32, show_spinner="Changing the voice…")
def _whatif(_lm: LoadedModel, key: str, wave: np.ndarray, pitch: float, tempo: float, loudness: float) -> dict:
    from crnn.analysis.whatif import whatif

    with _lm.lock:
        return whatif(_lm.model, np.array(wave), _lm.labels, pitch_st=pitch, tempo=tempo, loudness_db=loudness)


@st.cache_data(max_entries=8, show_spinner="Clamping the cells and scoring the corpus…")
def _ablation(_lm: LoadedModel, key: str, folder: str, feature: str, top: int, clips: int, to: str) -> dict:
    from crnn.tasks.ablate import run_ablate

    with _lm.lock:
        return run_ablate((_lm.model, _lm.card), folder, feature=feature, top=top, n_clips=clips, to=to)


def whatif_section(lm: LoadedModel, clip: Clip) -> None:
    """Sliders for pitch, tempo and loudness; both clips to play; both predictions; the best cells' response."""
    from crnn.plots_lab import whatif_figure

    wave = clip.wave
    st.subheader("What if the voice were different?")
    st.caption("Praat changes the pitch and the tempo without moving the vowels' formants (PSOLA); loudness is a "
               "plain gain. Each slider works on its own.")
    left, mid, right = st.columns(3)
    pitch = left.slider("Pitch (semitones)", -12.0, 12.0, 0.0, 0.5, key="lab_pitch")
    tempo = mid.slider("Tempo (× speed)", 0.5, 2.0, 1.0, 0.05, key="lab_tempo")
    loudness = right.slider("Loudness (dB)", -20.0, 20.0, 0.0, 1.0, key="lab_loudness")
    result = _whatif(lm, lm.key, wave, pitch, tempo, loudness)
    before, after = st.columns(2)
    before.markdown(f"**Original**: {emotion_label(result['before']['label'])}")
    before.audio(np.asarray(wave), sample_rate=SAMPLE_RATE)
    after.markdown(f"**Changed**: {emotion_label(result['after']['label'])}")
    after.audio(result["wave"], sample_rate=SAMPLE_RATE)
    if result["clipped"]:
        st.warning("The louder clip reached full scale and was clipped.")
    st.plotly_chart(whatif_figure(result, label_format=emotion_label), key="lab_whatif_figure")
    if result["cells"]:
        st.caption("The cells that follow pitch and loudness best on the original clip: their mean activation on each.")
        import pandas as pd  # lazily: the first page needs no pandas

        st.table(pd.DataFrame(result["cells"]).set_index("feature").round(3))  # two rows: a static table


def ablation_section(lm: LoadedModel, corpus: CorpusChoice) -> None:
    """Clamp the top cells of a prosodic feature over the corpus; per-class effect beside random cells."""
    from crnn.plots_lab import ablation_figure

    st.subheader("What happens without them")
    st.caption("Fix the cells that follow a feature best to a constant at every step, score the corpus again, and "
               "compare with as many random cells. A cell the model relies on costs accuracy; a mere correlate does not.")
    left, mid, right = st.columns(3)
    feature = left.selectbox("Cells that follow", list(FEATURES), format_func=FEATURES.get, key="lab_ablate_feature")
    top = mid.slider("Cells to clamp", 1, 20, 5, key="lab_ablate_top")
    clips = right.slider("Recordings to score", 16, 200, 48, step=16, key="lab_ablate_clips")
    to = st.radio("Clamp to", ["mean", "zero"], horizontal=True, key="lab_ablate_to",
                  format_func={"mean": "their mean over the corpus", "zero": "zero"}.get)
    if st.button("Clamp the cells and score", key="lab_ablate_run"):
        st.session_state["lab_ablate_args"] = (feature, top, clips, to)
    args = st.session_state.get("lab_ablate_args")
    if not args:
        return
    root = corpus_root(lm, corpus)
    if root is None:
        raise CorpusError(NOT_AT_HAND)
    result = _ablation(lm, lm.key, str(root), *args)
    a, b = st.columns(2)
    a.metric(f"UA without the top {result['k']} cells", f"{result['top']['ua']:.1%}", f"{100 * result['top']['delta_ua']:+.1f} pp")
    rnd = result["random"]
    b.metric(f"UA change with {result['k']} random cells", f"{100 * rnd['delta_ua_mean']:+.1f} pp",
             f"± {100 * (rnd['delta_ua_sd'] or 0):.1f} pp over {rnd['draws']} draws", delta_color="off")
    st.plotly_chart(ablation_figure(result, label_format=emotion_label), key="lab_ablate_figure")


def compare_section(lm: LoadedModel, corpus: CorpusChoice) -> None:
    """Linear CKA between every module of this model and of a second one, as a heatmap."""
    from crnn.plots_lab import cka_figure
    from crnn.tasks.compare import compare_representations

    st.subheader("Compare with a second model")
    choices = {label: folder for label, folder in model_choices().items() if folder != str(lm.folder)}
    if not st.toggle("Compare with a second model", key="lab_compare_on") or not choices:
        return
    other = st.selectbox("Second model", list(choices), key="lab_compare_model")
    second = load_model(choices[other])
    result = compare_representations(corpus_representations(lm, corpus), corpus_representations(second, corpus))
    result.update(model_a=lm.name, model_b=second.name)
    st.caption("Linear CKA (Kornblith et al., 2019) of each pair of stages over the same recordings: 1 = the two "
               "stages hold the same information up to a rotation and scale, 0 = nothing in common.")
    st.plotly_chart(cka_figure(result), key="lab_compare_figure")
