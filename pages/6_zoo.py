"""Page 6 — every model side by side: accuracy clean and noisy, confusions, size, first-layer filters."""

import streamlit as st

from crnn import app as appkit

appkit.intro(
    "🦓 Model zoo",
    "All trained models of the papers side by side: how often each recognises the acted emotion of unseen speakers, "
    "with clean and with noisy audio, next to classic hand-crafted-feature baselines.",
    "Comparing architectures on the same speakers and the same noise shows which kind of convolution actually helps "
    "(paper 001, Tables 3-4).",
)

UA_BAR = {"min_value": 0, "max_value": 1, "format": "percent"}

rows: list[dict] = []
with appkit.friendly("the model table"):
    rows, baselines = appkit.zoo_results()
    if not rows:
        st.info("No trained models yet. Train one on the **Train** page.")
    else:
        table = appkit.model_table(rows)
        st.dataframe(table, hide_index=True, width="stretch", height=35 * (len(table) + 1) + 3, column_config={
            "model": st.column_config.TextColumn("model", width="medium", pinned=True),
            "architecture": None,  # the model's name says it
            "family": st.column_config.TextColumn("family", width="small"),
            "paper": st.column_config.TextColumn("paper", width="small"),
            "input": st.column_config.TextColumn("input", width="small"),
            "epochs": st.column_config.NumberColumn("epochs", width="small"),
            "parameters": st.column_config.NumberColumn(format="localized", width="small"),
            "UA clean": st.column_config.ProgressColumn("UA clean", help="Unweighted accuracy on the clean test "
                                                        "speakers", width="small", **UA_BAR),
            "UA noisy": st.column_config.ProgressColumn("UA noisy", help="The same clips with noise at −10 to 15 dB",
                                                        width="small", **UA_BAR),
            "any recording level": st.column_config.CheckboxColumn(
                "any level", width="small", help="Ticked: the model hears a clip the same however loud it was "
                "recorded (a waveform scaled to unit loudness, or log-Mels with a relative floor). Unticked: a much "
                "louder or quieter recording than the training speech can change its answer."),
            "calibration error": st.column_config.NumberColumn(
                "trust gap", format="percent", width="small", help="Calibration error: how far the stated confidence is from the real hit rate after temperature "
                "scaling (expected calibration error, ECE, 15 bins; lower is more honest). Empty: an older card."),
        })  # fmt: skip
        st.caption("UA (unweighted accuracy): the mean of the per-emotion hit rates on the test speakers; chance is "
                   "1 / number of emotions. Noisy: the same test clips mixed with noise at −10 to 15 dB SNR. "
                   "Shipped: trained for the papers; trained in this session: by you; shared on this server: by "
                   "other visitors.")
        bars = appkit.results_figure(rows + baselines)
        st.plotly_chart(bars, key="zoo_bars")
        left, right = st.columns(2)
        left.download_button("⬇️ Table (CSV)", appkit.csv_bytes(table), "model_zoo.csv", "text/csv", key="zoo_csv")
        right.download_button("⬇️ Figure (HTML)", appkit.figure_html(bars), "model_zoo.html", "text/html",
                              key="zoo_html")
    if baselines:
        st.markdown("**Classic baselines**: hand-crafted acoustic features (eGeMAPS, ComParE) with a support vector "
                    "machine, both kernels; the dashed lines in the chart are the clean accuracy of the kernel chosen "
                    "on the validation speakers. Each set is z-scored two ways: with each speaker's own statistics "
                    "(the usual practice; it needs many clips of the test speaker) and with the training speakers' "
                    "statistics only (all that one new clip has, as in this app).")
        st.dataframe(appkit.baseline_table(baselines), hide_index=True, width="stretch", column_config={
            "UA clean": st.column_config.NumberColumn(format="percent"),
            "UA noisy": st.column_config.NumberColumn(format="percent"),
        })  # fmt: skip
    spread = appkit.seed_spread()
    if spread:
        with st.expander("🎲 How much of a difference is luck? The same model trained again"):
            st.dataframe(spread, hide_index=True, width="stretch", column_config={
                name: st.column_config.NumberColumn(format="percent") for name in ("UA clean, mean", "± sd", "lowest", "highest")
            })  # fmt: skip
            st.caption("Each model was trained several times on the same speakers, changing only the random seed "
                       "(starting weights, batch order, augmentation). Two models in the table above whose clean UA "
                       "differs by less than this spread may differ by luck alone. Trained with `crnn train "
                       "--train-seed K`; `crnn report --seeds` lists every run.")

if rows:
    labels = [row["label"] for row in rows]
    pick = st.selectbox("Look closer at", labels, index=appkit.default_pick(rows), key="zoo_pick")
    row = rows[labels.index(pick)]

    with appkit.friendly("the confusion matrix"):
        lm = appkit.load_model(row["path"])
        st.subheader("Which emotions get confused")
        condition = st.radio("Test audio", ["clean", "noisy"], horizontal=True, key="zoo_condition")
        report = appkit.confusion_report(lm, condition)
        if report:
            st.plotly_chart(appkit.confusion_figure(report, label_format=appkit.emotion_label), key="zoo_confusion")
            st.caption("Rows: the acted emotion; columns: what the model said. A strong diagonal is good.")
        else:
            st.info("This model's card has no confusion matrix for that condition.")

    with appkit.friendly("the calibration"):
        st.subheader("Can its confidence be trusted?")
        found = appkit.calibration(lm)
        if found:
            st.plotly_chart(appkit.reliability_figure(found["reliability_test"], found.get("ece_test_before"),
                                                      found.get("ece_test_after")), key="zoo_reliability")
            st.caption(f"Bars: of the test clips the model called with a given confidence, the share it got right. "
                       f"On the dashed line, \"80 % sure\" is right 80 % of the time. Every probability in this app "
                       f"is divided down by the temperature fitted on the validation speakers "
                       f"(T = {found['temperature']:.2f}); it changes no answer, only how sure the model says it is.")
        else:
            st.info("This model was trained before confidence calibration was added; its probabilities are shown "
                    "as the network gives them, which tends to overstate how sure it is.")

    with appkit.friendly("the first-layer filters"):
        st.subheader("What the first layer learned to look for")
        filters = appkit.first_layer_filters(lm)
        if filters is None:
            st.info(f"{row['name']} has no convolution after its front-end (its first layer is recurrent).")
        else:
            shown = min(16, len(filters["weights"]))
            layout = ("rows = frequency, low at the bottom; columns = time" if filters["axes"] == ("frequency", "time")
                      else "time in ms")
            st.caption(f"First convolution ({filters['description']}; first {shown} shown; {layout}). "
                       + ("Red: positive weights, blue: negative, white: zero; each filter on its own scale. A filter "
                          "that is all red responds to energy in its band anywhere, one with red and blue to changes."
                          if filters["axes"] != ("time",) else "Each curve is one filter's weights; the dotted line "
                          "is zero."), help=f"Layer `{filters['layer']}`.")
            filters_figure, dct_figure = appkit.filter_figures(lm, lm.key, shown)
            st.plotly_chart(filters_figure, key="zoo_filters")
            if dct_figure is not None:
                st.caption("Left: each filter's shape across frequency (averaged over time). Right: the fixed DCT "
                           "basis that turns log-Mels into MFCCs (paper 001 Eq. 12), over as many bands. Spectral "
                           "(S-)Conv filters on log-Mels can learn similar, but adapted, shapes.")
                st.plotly_chart(dct_figure, key="zoo_dct")
