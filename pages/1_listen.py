"""Page 1 — listen to a clip, see its features and the model's emotion prediction."""

import streamlit as st

from crnn import appkit

appkit.intro(
    "🎧 Listen and predict",
    "Play a speech clip, look at the sound the way the network sees it, and read which emotion the model hears.",
    "Starting from what the model predicts, and how sure it is over time, tells you what the other pages are explaining.",
)

appkit.audio_inputs("listen")
clip = appkit.current_clip()
appkit.show_clip(clip)


def show_prediction(lm: appkit.LoadedModel) -> None:
    result = appkit.predict(lm, lm.key, clip.wave)
    top = result["label"]
    st.metric(f"Model **{lm.name}** hears", appkit.emotion_label(top), f"{result['probabilities'][top]:.0%} sure",
              delta_color="off")
    if clip.emotion:
        verdict = "✅ matches" if clip.emotion == top else "❌ differs from"
        st.caption(f"This {verdict} the acted emotion ({appkit.emotion_label(clip.emotion)}).")
    st.plotly_chart(appkit.probability_figure(result["probabilities"]), key=f"probs_{lm.key}")
    if result.get("over_time"):
        st.markdown("**Prediction over time** (successive windows of the clip)")
        st.plotly_chart(appkit.over_time_figure(result["over_time"], lm.labels), key=f"time_{lm.key}")


with appkit.friendly("the prediction"):
    lm = appkit.current_model()
    choices = appkit.model_choices()
    others = [label for label, folder in choices.items() if folder != str(lm.folder)]
    compare = st.selectbox("Compare with a second model", ["— none —", *others], key="listen_compare",
                           help="Two models side by side on the same clip.")
    columns = st.columns(2) if compare in choices else [st.container()]
    with columns[0]:
        show_prediction(lm)
    if compare in choices:
        with columns[1], appkit.friendly("the second model"):
            show_prediction(appkit.load_model(choices[compare]))

with appkit.friendly("the features"):
    st.subheader("What the network receives")
    st.caption("Top: the sound wave. Middle: log-Mel energies, the input of most models here (dark = quiet, "
               "bright = loud; low pitch at the bottom). Bottom: MFCCs, a compressed summary of the same spectrum.")
    st.plotly_chart(appkit.features_figure(clip.wave, appkit.display_features(clip.wave)), key="features")
