"""Page 1 — listen to a clip, see its features and the model's emotion prediction."""

import streamlit as st

from crnn import app as appkit

appkit.intro(
    "🎧 Listen and predict",
    "Play a speech clip, look at the sound the way the network sees it, and read which emotion the model hears.",
    "Every other page of CRNN Lens explains this one answer, so this is the place to start.",
)

appkit.audio_inputs("listen")
clip = appkit.current_clip()
appkit.show_clip(clip)


def show_prediction(lm: appkit.LoadedModel, wide: bool) -> None:
    result = appkit.predict(lm, lm.key, clip.wave)
    top = result["label"]
    unreliable = appkit.no_speech(result)
    if unreliable:
        st.warning(appkit.NO_SPEECH_WARNING, icon="⚠️")
    verdict, bars = st.columns([1, 2]) if wide else (st.container(), st.container())
    with verdict:
        heard = f"Model **{lm.name}** hears" + (" (unreliable: no speech found)" if unreliable else "")
        st.metric(heard, appkit.emotion_label(top), appkit.confidence_words(result["probabilities"]),
                  delta_color="off", delta_arrow="off", border=True,
                  help="Probabilities are calibrated (temperature scaling on the validation speakers, where the "
                  "model's card has it): of clips said with 80 % confidence, about 80 % are right. \"Unsure\" "
                  "means below 50 %, or a runner-up within 15 points.")
        if clip.emotion:
            match = "✅ the same as" if clip.emotion == top else "❌ not the"
            st.caption(f"That is {match} emotion the actor was asked to show ({appkit.emotion_label(clip.emotion)}).")
        if appkit.hears_level(lm.card):
            st.caption(appkit.LEVEL_NOTE)
    appkit.answer_shown(clip.name)
    with bars:
        probability_bars, over_time = appkit.prediction_figures(lm, lm.key, clip.wave, 250)
        st.plotly_chart(probability_bars, key=f"probs_{lm.key}")
        st.download_button("⬇️ Probabilities (CSV)", appkit.csv_bytes(
            [{"model": lm.name, "emotion": k, "probability": v} for k, v in result["probabilities"].items()]),
            f"prediction_{lm.name}.csv", "text/csv", key=f"listen_csv_{lm.key}")
    if over_time is not None:
        st.markdown("**How the impression changes during the clip** (1 s windows, every 0.5 s)")
        st.plotly_chart(over_time, key=f"time_{lm.key}")


with appkit.friendly("the prediction"):
    lm = appkit.current_model()
    choices = appkit.model_choices()
    others = [label for label, folder in choices.items() if folder != str(lm.folder)]
    compare = st.selectbox("Compare with a second model", ["— none —", *others], key="listen_compare",
                           help="Two models side by side on the same clip.")
    if compare in choices:
        left, right = st.columns(2)
        with left:
            show_prediction(lm, wide=False)
        with right, appkit.friendly("the second model"):
            show_prediction(appkit.load_model(choices[compare]), wide=False)
    else:
        show_prediction(lm, wide=True)

with appkit.friendly("the speaker-adapted prediction"):
    appkit.speaker_section(appkit.current_model(), clip, appkit.emotion_label)

with appkit.friendly("the features"):
    st.subheader("What the network receives")
    st.caption("Top: the sound wave. Middle: log-Mel energies, the input of most models here (dark = quiet, "
               "bright = loud; low frequencies at the bottom). Bottom: MFCCs, a compressed summary of the same "
               "spectrum (red above, blue below the clip's average).")
    features = appkit.clip_features_figure(clip.wave)
    st.plotly_chart(features, key="features")
    st.download_button("⬇️ Features figure (HTML)", appkit.figure_html(features), "features.html", "text/html",
                       key="listen_features_html")
