"""Page 3 — LSTM cells that follow pitch, loudness and energy (paper 002 Fig. 2)."""

import streamlit as st

from crnn import app as appkit

FEATURES = {"f0_hz": "Pitch (F0, Hz)", "loudness": "Loudness (dB)", "rms": "Energy (RMS, dB)", "rms_range": "Energy range (dB over 0.5 s)"}
STATES = {"c": "cell state c", "i": "input gate i", "f": "forget gate f", "g": "candidate g", "o": "output gate o"}

appkit.intro(
    "🎼 Cells and prosody",
    "Some memory cells of the network's LSTM rise and fall with the speaker's pitch, loudness or energy; "
    "this page finds them by correlating every cell with those prosodic tracks.",
    "Cells that track prosody hint that the model uses cues people also use to hear emotion (paper 002, Fig. 2). "
    "Careful: even an untrained network has cells that follow loudness, so a match alone does not prove learning.",
)

with appkit.friendly("the cell analysis"):
    lm, clip = appkit.model_and_clip()
    with st.spinner("Tracking pitch and loudness, and reading every LSTM cell…"):
        report = appkit.cell_report(lm, lm.key, clip.wave)
    layers = appkit.cell_layers(report)
    left, right = st.columns(2)
    layer = left.selectbox("Recurrent layer", layers, index=len(layers) - 1, key="cells_layer",
                           format_func=lambda name: appkit.cell_words(name, "c", 0, 0).split(", ")[-1],
                           help="The LSTM layers in network order; in the code: " + ", ".join(layers) + ".")
    state = right.selectbox("Cell state or gate", list(STATES), format_func=STATES.get, key="cells_state")

    st.subheader("Best-matching cell for each prosodic track")
    st.caption("Grey: the prosodic track; red: the cell. Both are rescaled to the same range; r is their correlation "
               "(1 = move together, −1 = mirror each other).")
    columns = st.columns(2)
    for k, (feature, fig) in enumerate(appkit.best_cell_figures(report, layer, state, FEATURES).items()):
        with columns[k % 2]:
            if fig is None:
                st.info(f"{FEATURES[feature]}: no cell could be compared (e.g. no voiced frames).")
            else:
                st.plotly_chart(fig, key=f"cells_overlay_{feature}")

    st.subheader("All cells × prosodic features")
    heatmap = appkit.correlation_heatmap(report, layer=layer, state=state)
    st.plotly_chart(heatmap, key="cells_heatmap")
    down_csv, down_html = st.columns(2)
    down_csv.download_button("⬇️ All correlations of this clip (CSV)", appkit.csv_bytes(report.table),
                             "cell_correlations.csv", "text/csv", key="cells_csv")
    down_html.download_button("⬇️ Figure (HTML)", appkit.figure_html(heatmap), "cell_correlations.html", "text/html",
                              key="cells_html")

with appkit.friendly("the corpus-wide ranking"):
    st.subheader("Across many recordings")
    st.caption("One clip can be a coincidence. Rank the cells by their mean correlation over recordings of the corpus "
               "chosen in the sidebar.")
    n = st.slider("Recordings to use", 8, 200, 24, step=8, key="cells_n")
    if st.button("Rank cells over the corpus", key="cells_rank"):
        st.session_state["cells_ranked"] = n
    if st.session_state.get("cells_ranked"):
        ranking, used = appkit.corpus_cells(appkit.current_model(), appkit.current_corpus(), st.session_state["cells_ranked"])
        feature = st.selectbox("Prosodic track", list(FEATURES), format_func=FEATURES.get, key="cells_rank_feature")
        st.dataframe(appkit.ranked_cells(ranking, feature), hide_index=True)
        st.caption(f"Over {used} recordings. mean_r: average correlation; top_count: in how many recordings the "
                   "cell was the best match.")

with appkit.friendly("the cells' effect"):
    appkit.ablation_section(appkit.current_model(), appkit.current_corpus())

with appkit.friendly("the what-if"):
    appkit.whatif_section(*appkit.model_and_clip())
