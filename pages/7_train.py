"""Page 7 — train a registered model on a corpus folder; the result joins the model picker."""

import streamlit as st

from crnn import app as appkit

appkit.intro(
    "🏋️ Train",
    "Train any of the models from the papers on a folder of labelled speech, and watch its accuracy grow epoch by epoch.",
    "A model trained on your own recordings can then be examined on every other page, next to the shipped ones.",
)

with appkit.friendly("the training form"):
    specs = appkit.model_specs()
    left, right = st.columns(2)
    with left:
        name = st.selectbox(
            "Model", list(specs), index=appkit.default_spec(specs), key="train_model",
            format_func=lambda n: f"{n} — {specs[n]['family']} ({specs[n]['input']}, paper {specs[n]['paper']})",
        )
        st.caption(f"{specs[name]['parameters']:,} parameters for 8 emotions.")
        folder_text = st.text_input(
            "Corpus folder", value=str(appkit.RAVDESS) if appkit.is_allowed(appkit.RAVDESS) else "", key="train_corpus",
            help="RAVDESS, EmoDB, CREMA-D, TESS, eNTERFACE, one sub-folder per emotion, or a folder with a CSV "
            "manifest (path, label, speaker, gender).",
        )
        corpus_folder = None
        if folder_text.strip():
            with appkit.friendly("the corpus folder"):
                folder = appkit.corpus_folder(folder_text)
                info = appkit.corpus_summary(str(folder))
                corpus_folder = folder
                st.caption(
                    f"{info['format']}: {info['utterances']} utterances, {info['total_seconds'] / 60:.0f} min, "
                    f"{info['speakers']} speakers; "
                    + ", ".join(f"{appkit.emotion_label(k)} {v}" for k, v in info["label_counts"].items())
                )
    with right:
        max_minutes = st.slider("Time budget (minutes)", 1, 60, 10, key="train_minutes",
                                help="Training stops cleanly when the time is up and keeps the best epoch.")
        max_epochs = st.slider("At most this many epochs", 1, 30, 10, key="train_epochs")
        noisy = st.checkbox("Add background noise while training (more robust, paper 001 Sec. 5.2)", key="train_noisy")
        new_name = st.text_input("Name of the new model", value=f"my_{name}", key="train_name")
        st.caption("It is kept on this server and listed in the sidebar for every visitor (as \"shared on this "
                   "server\"); the oldest trained models make room when there are too many.")

    if st.button("▶️ Start training", type="primary", disabled=corpus_folder is None, key="train_go"):
        done = appkit.train_model(name, corpus_folder, new_name, noisy=noisy, max_epochs=max_epochs,
                                  max_minutes=float(max_minutes))
        if done:
            st.session_state["train_done"] = done
            st.rerun()

    if st.session_state.get("train_done"):
        st.success(st.session_state["train_done"])
        if st.session_state.get("train_chance"):
            st.warning(st.session_state["train_chance"], icon="⚠️")
