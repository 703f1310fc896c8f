"""Page 4 — which parts of the spectrogram drove the prediction (Captum attributions)."""

import streamlit as st

from crnn import app as appkit

METHODS = {"integrated_gradients": "Integrated Gradients (careful)", "saliency": "Saliency (quick)",
           "occlusion": "Occlusion (blank patches)"}

appkit.intro(
    "💡 Why this prediction",
    "The heat map colours each moment and frequency of the clip by how much it pushed the model towards the chosen "
    "emotion (red: towards it, blue: away from it).",
    "It shows whether the model listens to the voice itself — for example a raised, strained stretch — or to "
    "something irrelevant such as silence at the edges.",
)

with appkit.friendly("the explanation"):
    lm, clip = appkit.model_and_clip()
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

    st.plotly_chart(appkit.attribution_heatmap(expl), key="why_heatmap")
    if expl.delta is not None:
        st.caption(f"Integrated Gradients completeness check: attributions add up to the score change within "
                   f"{abs(expl.delta):.2g} (smaller is more trustworthy).")
    if expl.modules:
        st.subheader("Contribution of each stage")
        st.plotly_chart(appkit.module_contributions_figure(expl), key="why_modules")
        st.caption("Each stage's total conductance: the part of the score change that flows through it. Every stage "
                   "the signal passes through should carry roughly the whole change.")
