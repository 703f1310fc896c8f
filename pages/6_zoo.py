"""Page 6 — every model side by side: accuracy clean and noisy, confusions, size, first-layer filters."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from crnn import appkit

appkit.intro(
    "🦓 Model zoo",
    "All trained models of the papers side by side: how often each recognises the acted emotion of unseen speakers, "
    "with clean and with noisy audio, next to classic hand-crafted-feature baselines.",
    "Comparing architectures on the same speakers and the same noise shows which kind of convolution actually helps "
    "(paper 001, Tables 3-4).",
)

with appkit.friendly("the model table"):
    choices = appkit.model_choices()
    rows = appkit.zoo_rows(tuple(choices.values()))
    baselines = appkit.baseline_rows()
    if not rows:
        st.info("No trained models yet. Train one on the **Train** page.")
    else:
        table = pd.DataFrame(rows)
        st.dataframe(
            table.drop(columns=["folder"]), hide_index=True,
            column_config={
                "parameters (8 classes)": st.column_config.NumberColumn(format="localized"),
                "UA clean": st.column_config.ProgressColumn("UA clean", format="percent", min_value=0, max_value=1),
                "UA noisy": st.column_config.ProgressColumn("UA noisy", format="percent", min_value=0, max_value=1),
            },
        )
        st.caption("UA (unweighted accuracy): the mean of the per-emotion hit rates on the test speakers; chance is "
                   "1 / number of emotions. Noisy: the same test clips mixed with noise at −10 to 15 dB SNR.")
        fig = go.Figure()
        for condition, colour in (("UA clean", "#4B6BFB"), ("UA noisy", "#F29E4C")):
            fig.add_trace(go.Bar(x=table.model, y=table[condition], name=condition.replace("UA ", ""), marker_color=colour))
        for k, row in enumerate(baselines):
            if row["UA clean"] is not None:
                fig.add_hline(y=row["UA clean"], line_dash="dash", line_color="#555",
                              annotation_text=f"{row['baseline']} (clean)", annotation_position="top left" if k % 2 else "top right")
        fig.update_layout(barmode="group", yaxis=dict(title="UA", tickformat=".0%", range=[0, 1]), height=380,
                          margin=dict(t=10), legend=dict(orientation="h"))
        st.plotly_chart(fig, key="zoo_bars")
    if baselines:
        st.dataframe(pd.DataFrame(baselines), hide_index=True,
                     column_config={"UA clean": st.column_config.NumberColumn(format="percent"),
                                    "UA noisy": st.column_config.NumberColumn(format="percent")})

if rows:
    names = [row["model"] for row in rows]
    pick = st.selectbox("Look closer at", names, key="zoo_pick")
    row = rows[names.index(pick)]

    with appkit.friendly("the confusion matrix"):
        lm = appkit.load_model(row["folder"])
        st.subheader("Which emotions get confused")
        condition = st.radio("Test audio", ["clean", "noisy"], horizontal=True, key="zoo_condition")
        report = ((lm.card.get("metrics") or {}).get("test") or {}).get(condition) or {}
        if report.get("confusion"):
            matrix = np.asarray(report["confusion"], float)
            shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
            labels = [appkit.emotion_label(e) for e in report.get("labels", lm.labels)]
            fig = go.Figure(go.Heatmap(z=shares, x=labels, y=labels, colorscale="Blues", zmin=0, zmax=1,
                                       text=matrix.astype(int), texttemplate="%{text}",
                                       hovertemplate="acted %{y}, heard %{x}: %{z:.0%}<extra></extra>"))
            fig.update_layout(xaxis_title="predicted", yaxis_title="acted", yaxis=dict(autorange="reversed"),
                              height=460, margin=dict(t=10))
            st.plotly_chart(fig, key="zoo_confusion")
            st.caption("Rows: the acted emotion; columns: what the model said. A strong diagonal is good.")
        else:
            st.info("This model's card has no confusion matrix for that condition.")

    with appkit.friendly("the first-layer filters"):
        st.subheader("What the first layer learned to look for")
        found = appkit.first_conv_weights(lm.model)
        if found is None:
            st.info(f"{pick} has no convolution after its front-end (its first layer is recurrent).")
        else:
            layer, weights = found
            kernels = weights[:, 0]  # (filters, *kernel) of the first input channel
            shown = kernels[:16]
            cols = 4
            fig = make_subplots(rows=int(np.ceil(len(shown) / cols)), cols=cols, horizontal_spacing=0.02, vertical_spacing=0.04)
            for k, kernel in enumerate(shown):
                z = kernel if kernel.ndim == 2 else kernel[None, :]
                limit = float(np.abs(z).max()) or 1.0
                fig.add_trace(go.Heatmap(z=z, colorscale="RdBu_r", zmin=-limit, zmax=limit, showscale=False),
                              row=k // cols + 1, col=k % cols + 1)
            fig.update_xaxes(showticklabels=False)
            fig.update_yaxes(showticklabels=False)
            fig.update_layout(height=110 * int(np.ceil(len(shown) / cols)) + 20, margin=dict(t=10, b=10))
            left, right = st.columns([3, 2])
            with left:
                st.caption(f"`{layer}`: {len(kernels)} filters of shape {' × '.join(map(str, weights.shape[2:]))} "
                           f"(first {len(shown)} shown; rows = frequency, columns = time; red positive, blue negative).")
                st.plotly_chart(fig, key="zoo_filters")
            with right:
                from crnn.features import dct_matrix

                dct = dct_matrix()
                fig = go.Figure(go.Heatmap(z=dct, colorscale="RdBu_r", zmin=-1, zmax=1, showscale=False))
                fig.update_layout(height=260, margin=dict(t=10), xaxis_title="Mel band", yaxis_title="MFCC k")
                st.caption("The fixed DCT basis that turns log-Mels into MFCCs (paper 001 Eq. 12). Spectral (S-)Conv "
                           "filters on log-Mels can learn similar, but adapted, shapes.")
                st.plotly_chart(fig, key="zoo_dct")
