"""Page 2 — what each module of the network keeps: emotion, speaker and gender views (paper 001 Fig. 2)."""

import pandas as pd
import streamlit as st

from crnn import appkit
from crnn.audio import load_audio

appkit.intro(
    "🧭 Inside the model",
    "Each dot is one recording, placed by what a stage of the network (input, convolution, LSTM, final layers) "
    "holds about it; dots of one colour share an emotion, a speaker or a gender.",
    "Tight, separate colour groups mean that stage encodes that property — a good emotion model should group "
    "emotions more and more clearly while speaker identity fades (paper 001, Fig. 2).",
)

with appkit.friendly("the module views"):
    lm = appkit.current_model()
    corpus = appkit.current_corpus()
    reps = appkit.corpus_representations(lm, corpus)
    name = corpus.describe()
    method = st.radio("Projection", ["lda", "umap"], horizontal=True, key="inside_method",
                      format_func=lambda m: {"lda": "LDA (supervised, fast)", "umap": "UMAP (unsupervised, slower)"}[m],
                      help="LDA finds the directions that best separate the classes; UMAP keeps neighbours close without using the labels.")
    with st.spinner("Projecting the representations…"):
        fig = appkit.probe_figure(reps, lm.key, name, method)
        scores = appkit.probe_scores(reps, lm.key, name)
    st.caption(f"{len(reps)} recordings of {name}. ρ in each title: spread within a class ÷ distance between classes "
               "(smaller = better separated). Click a dot to hear it.")
    event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key="inside_grid")

    picked = appkit.selected_texts(fig, event)
    if picked:
        root = appkit.corpus_root(lm, corpus)
        path = root / picked[0] if root else None
        if path is not None and path.is_file():
            st.markdown(f"**{picked[0]}**")
            st.audio(load_audio(path), sample_rate=16000)
        else:
            st.info(f"{picked[0]}: the corpus audio is not at hand on this computer, so it cannot be played.")

    st.subheader("How well a simple classifier reads each property from each stage")
    st.caption("Unweighted accuracy of a linear SVM trained on one stage's vectors (speaker-independent for emotion "
               "and gender). Higher = the property is easier to read off.")
    rows = [
        {"module": module, "property": label, "SVM UA": (scores.get("svm_ua_by_label") or {}).get(module, {}).get(label),
         "ρ": scores["inertia_ratio"][module].get(label)}
        for module in scores["modules"] for label in ("emotion", "speaker", "gender")
    ]
    table = pd.DataFrame(rows)
    st.bar_chart(table.dropna(subset=["SVM UA"]), x="module", y="SVM UA", color="property", stack=False)
    left, right = st.columns(2)
    left.download_button("⬇️ Scores (CSV)", table.to_csv(index=False).encode(), f"probe_{lm.name}.csv", "text/csv",
                         key="inside_csv")
    right.download_button("⬇️ Figure (HTML)", appkit.figure_html(fig), f"probe_{lm.name}_{method}.html", "text/html",
                          key="inside_html")
