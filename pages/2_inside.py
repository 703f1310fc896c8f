"""Page 2 — what each module of the network keeps: emotion, speaker and gender views (paper 001 Fig. 2)."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from crnn import app as appkit
from crnn.core.audio import load_audio

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
        path = (root / picked[0]).resolve() if root else None
        if path is not None and path.is_relative_to(root) and path.is_file():
            where = list(reps.ids).index(picked[0]) if picked[0] in set(reps.ids) else None
            emotion = str(reps.emotion[where]) if where is not None else None
            gender = str(reps.gender[where]) if where is not None else None
            st.markdown(f"**{picked[0]}**" + (f" — {appkit.emotion_label(emotion)}, {gender} speaker" if emotion else ""))
            st.audio(load_audio(path), sample_rate=16000)
            st.button("Analyse this recording on the other pages", key="inside_use", on_click=appkit.use_corpus_clip,
                      args=(str(path), emotion, gender))
            if st.session_state.get(appkit.CLIP_ERROR_KEY):
                st.error(st.session_state[appkit.CLIP_ERROR_KEY])
        else:
            st.info(f"{picked[0]}: the corpus audio is not at hand on this computer, so it cannot be played.")

    st.subheader("How well a simple classifier reads each property from each stage")
    st.caption("Unweighted accuracy of a linear SVM trained on one stage's vectors (speaker-independent for emotion "
               "and gender). Higher = the property is easier to read off.")
    if scores.get("pca"):
        st.caption("The precomputed results store the widest stages compressed (PCA), so these scores are close "
                   "approximations of the full ones.")
    rows = [
        {"stage": module, "property": label,
         "SVM UA": ((scores.get("svm_ua_by_label") or {}).get(module) or {}).get(label),
         "ρ": scores["inertia_ratio"][module].get(label)}
        for module in scores["modules"] for label in ("emotion", "speaker", "gender")
    ]  # fmt: skip
    table = pd.DataFrame(rows)
    bars = go.Figure([
        go.Bar(x=table[table.property == label].stage, y=table[table.property == label]["SVM UA"], name=label)
        for label in ("emotion", "speaker", "gender")
    ])
    bars.update_layout(barmode="group", height=320, margin=dict(t=10), yaxis=dict(title="UA", tickformat=".0%", range=[0, 1]),
                       xaxis_title="stage of the network", legend=dict(orientation="h"))
    st.plotly_chart(bars, key="inside_svm")
    left, right = st.columns(2)
    left.download_button("⬇️ Scores (CSV)", table.to_csv(index=False).encode(), f"probe_{lm.name}.csv", "text/csv",
                         key="inside_csv")
    right.download_button("⬇️ Figure (HTML)", appkit.figure_html(fig), f"probe_{lm.name}_{method}.html", "text/html",
                          key="inside_html")
