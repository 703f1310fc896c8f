"""Page 4 — which parts of the spectrogram drove the prediction (Captum attributions)."""

import streamlit as st

from crnn import app as appkit

METHODS = {"integrated_gradients": "Integrated Gradients (careful)", "saliency": "Saliency (quick)",
           "occlusion": "Occlusion (blank patches)"}

appkit.intro(
    "💡 Why this prediction",
    "The heat map colours each moment and frequency of the clip by how much it pushed the model towards the chosen "
    "emotion (Integrated Gradients: red towards it, blue away from it; Saliency: only how much, darker red = more).",
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

    heatmap = appkit.attribution_heatmap(expl)
    st.plotly_chart(heatmap, key="why_heatmap")
    if method == "saliency":
        st.caption("Saliency is the size of the gradient, never negative: it says where a small change would move "
                   "the score most, not in which direction — hence one colour.")
    down_csv, down_html = st.columns(2)
    down_csv.download_button("⬇️ Influence per moment (CSV)", appkit.csv_bytes(
        [{"time_s": float(t), "influence": float(a)} for t, a in zip(expl.times, expl.frame_attribution)]),
        "attribution_over_time.csv", "text/csv", key="why_csv")
    down_html.download_button("⬇️ Figure (HTML)", appkit.figure_html(heatmap), "attribution.html", "text/html",
                              key="why_html")
    if expl.delta is not None:
        st.caption(f"Integrated Gradients completeness check: attributions add up to the score change within "
                   f"{abs(expl.delta):.2g} (smaller is more trustworthy).", help="The paper's convergence delta δ.")
    if expl.modules:
        st.subheader("Contribution of each stage")
        st.plotly_chart(appkit.module_contributions_figure(expl), key="why_modules")
        st.caption("Each stage's total conductance: the part of the score change that flows through it. Every stage "
                   "the signal passes through should carry roughly the whole change.")
