"""Page 4 — which parts of the spectrogram drove the prediction (Captum attributions)."""

import plotly.graph_objects as go
import streamlit as st

from crnn import appkit

METHODS = {"integrated_gradients": "Integrated Gradients (careful)", "saliency": "Saliency (quick)"}

appkit.intro(
    "💡 Why this prediction",
    "The heat map colours each moment and frequency of the clip by how much it pushed the model towards the chosen "
    "emotion (red: towards it, blue: away from it).",
    "It shows whether the model listens to the voice itself — for example a raised, strained stretch — or to "
    "something irrelevant such as silence at the edges.",
)

with appkit.friendly("the explanation"):
    lm = appkit.current_model()
    clip = appkit.current_clip()
    appkit.show_clip(clip)
    predicted = appkit.predict(lm, lm.key, clip.wave)["label"]
    left, mid, right = st.columns(3)
    labels = lm.labels
    target = left.selectbox("Explain the score of", labels, index=labels.index(predicted), key="why_target",
                            format_func=lambda e: appkit.emotion_label(e) + (" (predicted)" if e == predicted else ""))
    method = mid.radio("Method", list(METHODS), format_func=METHODS.get, key="why_method")
    layers = right.checkbox("Also per module (slower)", value=True, key="why_layers",
                            help="How much each stage (CNN, LSTM, final layers) contributed over time: layer conductance.")
    with st.spinner("Tracing the prediction back to the input…"):
        expl = appkit.explanation(lm, lm.key, clip.wave, target, method, layers)

    from crnn.plots import attribution_heatmap

    figure = attribution_heatmap(expl)
    figure.update_layout(legend=dict(orientation="h", y=-0.2))  # keep the legend clear of the colour bar
    st.plotly_chart(figure, key="why_heatmap")
    if expl.delta is not None:
        st.caption(f"Integrated Gradients completeness check: attributions add up to the score change within "
                   f"{abs(expl.delta):.2g} (smaller is more trustworthy).")
    if expl.modules:
        st.subheader("Contribution of each stage")
        names = list(expl.modules)
        fig = go.Figure(go.Bar(x=names, y=[expl.modules[m]["total"] for m in names],
                               marker_color=["#d62728" if expl.modules[m]["total"] >= 0 else "#1f77b4" for m in names]))
        fig.update_layout(height=300, yaxis_title="conductance (score units)", margin=dict(t=10))
        st.plotly_chart(fig, key="why_modules")
        st.caption("Each stage's total conductance: the part of the score change that flows through it. Every stage "
                   "the signal passes through should carry roughly the whole change.")
