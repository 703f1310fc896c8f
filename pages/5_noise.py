"""Page 5 — add noise to a clip and see how the prediction and each module's representation move."""

import streamlit as st

from crnn import app as appkit

NOISES = {"white": "White (hiss)", "pink": "Pink (rain-like)", "brown": "Brown (rumble)"}

appkit.intro(
    "🔊 Noise lab",
    "Mix the clip with background noise at a chosen loudness and compare what the model makes of the clean and the "
    "noisy versions, stage by stage.",
    "Real recordings are rarely clean: a robust model keeps its prediction and its inner representations steady as "
    "the noise grows (paper 001, Sec. 7.2).",
)

with appkit.friendly("the noise lab"):
    lm, clip = appkit.model_and_clip(show=False)
    left, right = st.columns(2)
    kind = left.radio("Noise", list(NOISES), format_func=NOISES.get, horizontal=True, key="noise_kind", index=1)
    snr = right.slider("Signal-to-noise ratio (dB): lower = noisier", -10, 20, 5, key="noise_snr")
    result = appkit.noise_result(lm, lm.key, clip.wave, kind, float(snr), 0)

    clean_col, noisy_col = st.columns(2)
    for column, title, wave, pred in ((clean_col, "Clean", clip.wave, result["prediction_clean"]),
                                      (noisy_col, f"With {kind} noise at {snr} dB", result["noisy_wave"],
                                       result["prediction_noisy"])):
        with column:
            st.markdown(f"**{title}**")
            st.audio(wave, sample_rate=appkit.SAMPLE_RATE)
            probabilities = dict(zip(lm.labels, pred["probabilities"]))
            st.metric("Predicted", appkit.emotion_label(pred["label"]), appkit.confidence_words(probabilities),
                      delta_color="off", delta_arrow="off", border=True)
            st.plotly_chart(appkit.probability_figure(probabilities, height=240, label_format=appkit.emotion_label),
                            key=f"noise_probs_{title[:5]}")

    st.subheader("How far each stage moved")
    st.caption("Cosine distance between the clean and noisy representation of each stage (0 = unchanged).")
    st.plotly_chart(appkit.noise_figure(result), key="noise_shift")
    if st.toggle("Show the whole SNR range (−10 to 15 dB)", key="noise_sweep"):
        with st.spinner("Running the model at six noise levels…"):
            st.plotly_chart(appkit.noise_figure(appkit.noise_sweep(lm, lm.key, clip.wave, kind, 0)), key="noise_sweep_fig")
