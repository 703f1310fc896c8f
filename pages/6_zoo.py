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
        st.dataframe(appkit.model_table(rows), hide_index=True, column_config={
            "parameters": st.column_config.NumberColumn(format="localized"),
            "UA clean": st.column_config.ProgressColumn("UA clean", **UA_BAR),
            "UA noisy": st.column_config.ProgressColumn("UA noisy", **UA_BAR),
        })  # fmt: skip
        st.caption("UA (unweighted accuracy): the mean of the per-emotion hit rates on the test speakers; chance is "
                   "1 / number of emotions. Noisy: the same test clips mixed with noise at −10 to 15 dB SNR. "
                   "Shipped: trained for the papers; trained in this session: by you; shared on this server: by "
                   "other visitors.")
        st.plotly_chart(appkit.results_figure(rows + baselines), key="zoo_bars")
    if baselines:
        st.dataframe(appkit.baseline_table(baselines), hide_index=True, column_config={
            "UA clean": st.column_config.NumberColumn(format="percent"),
            "UA noisy": st.column_config.NumberColumn(format="percent"),
        })  # fmt: skip

if rows:
    labels = [row["label"] for row in rows]
    pick = st.selectbox("Look closer at", labels, key="zoo_pick")
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

    with appkit.friendly("the first-layer filters"):
        st.subheader("What the first layer learned to look for")
        filters = appkit.first_layer_filters(lm)
        if filters is None:
            st.info(f"{row['name']} has no convolution after its front-end (its first layer is recurrent).")
        else:
            shown = min(16, len(filters["weights"]))
            layout = ("rows = frequency, low at the bottom; columns = time" if filters["axes"] == ("frequency", "time")
                      else "time in ms")
            st.caption(f"`{filters['layer']}`: {filters['description']} (first {shown} shown; {layout}; "
                       "red positive, blue negative).")
            st.plotly_chart(appkit.filters_figure(filters, max_filters=shown), key="zoo_filters")
            if filters["kind"] in appkit.SPECTRAL_KINDS:
                st.caption("Left: each filter's shape across frequency (averaged over time). Right: the fixed DCT "
                           "basis that turns log-Mels into MFCCs (paper 001 Eq. 12), over as many bands. Spectral "
                           "(S-)Conv filters on log-Mels can learn similar, but adapted, shapes.")
                st.plotly_chart(appkit.dct_comparison_figure(filters), key="zoo_dct")
