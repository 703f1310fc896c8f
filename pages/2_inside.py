"""Page 2 — what each module of the network keeps: emotion, speaker and gender views (paper 001 Fig. 2)."""

import streamlit as st

from crnn import app as appkit

METHODS = {"lda": "LDA (supervised, fast)", "umap": "UMAP (unsupervised, slower)"}

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
    method = st.radio("Projection", list(METHODS), horizontal=True, key="inside_method", format_func=METHODS.get,
                      help="LDA finds the directions that best separate the classes; UMAP keeps neighbours close "
                      "without using the labels.")
    with st.spinner("Projecting the representations…"):
        reps, scores, fig = appkit.probe(lm, corpus, method)
    st.caption(f"{len(reps)} recordings of {corpus.describe()}. Columns: the stages of the network, from the input "
               "on the left to the final layers on the right. Rows: the same dots coloured by emotion (legend), by "
               "speaker (colour = speaker, 24 actors) and by gender (legend). **Spread** in each title: how tightly "
               "each group clusters compared with how far apart the groups are (lower is tighter). "
               "**Click a dot to hear that recording.**",
               help="Spread is the paper's ρ = ω_i / ω_o: mean within-class inertia over between-class inertia "
               "(paper 001, Sec. 7.4), computed on the full representations, not on the 2-D projection.")
    player = st.container()  # a clicked recording plays here, above the grid, not below twelve panels
    event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key="inside_grid")

    for item in appkit.selected_texts(fig, event)[:1]:
        with player, appkit.friendly("the recording"):
            picked = appkit.recording(lm, corpus, reps, item)
            known = f" — {appkit.emotion_label(picked['emotion'])}, {picked['gender']} speaker" if picked["emotion"] else ""
            st.markdown(f"🔊 Playing **{item}**{known}")
            st.audio(picked["wave"], sample_rate=appkit.SAMPLE_RATE, autoplay=True)
            appkit.use_corpus_clip_button("Analyse this recording on the other pages", "inside_use", picked["path"],
                                          picked["emotion"], picked["gender"])

    st.subheader("How well a simple classifier reads each property from each stage")
    st.caption("Unweighted accuracy of a linear SVM trained on one stage's vectors (speaker-independent for emotion "
               "and gender). Higher = the property is easier to read off.")
    if scores.get("pca"):
        st.caption("The precomputed results store the widest stages compressed (PCA), so these scores are close "
                   "approximations of the full ones.")
    st.plotly_chart(appkit.probe_svm_figure(scores), key="inside_svm")
    left, right = st.columns(2)
    left.download_button("⬇️ Scores (CSV)", appkit.csv_bytes(appkit.probe_rows(scores)), f"probe_{lm.name}.csv",
                         "text/csv", key="inside_csv")
    right.download_button("⬇️ Figure (HTML)", appkit.figure_html(fig), f"probe_{lm.name}_{method}.html", "text/html",
                          key="inside_html")
    with appkit.friendly("the intervals and controls"):
        appkit.controls_section(lm, corpus, reps)

with appkit.friendly("the comparison"):
    appkit.compare_section(appkit.current_model(), appkit.current_corpus())
