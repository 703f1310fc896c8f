"""Page 7 — train a registered model on a corpus folder; the result joins the model picker."""

import streamlit as st

from crnn import app as appkit
from crnn.core.errors import CorpusError

appkit.intro(
    "🏋️ Train",
    "Train any of the models from the papers on a folder of labelled speech, and watch its accuracy grow epoch by epoch.",
    "A model trained on your own recordings can then be examined on every other page, next to the shipped ones.",
)

with appkit.friendly("the training form"):
    from crnn.core.models import list_models

    specs = {row["name"]: row for row in list_models()}
    left, right = st.columns(2)
    with left:
        name = st.selectbox(
            "Model", list(specs), index=list(specs).index("fst_cldnn_logmel") if "fst_cldnn_logmel" in specs else 0,
            format_func=lambda n: f"{n} — {specs[n]['family']} ({specs[n]['input']}, paper {specs[n]['paper']})",
            key="train_model",
        )
        st.caption(f"{specs[name]['parameters']:,} parameters for 8 emotions.")
        default_corpus = appkit.SHARED_DATA_DIR / "ravdess"
        folder_text = st.text_input(
            "Corpus folder", value=str(default_corpus) if appkit.is_allowed(default_corpus) else "", key="train_corpus",
            help="RAVDESS, EmoDB, CREMA-D, TESS, eNTERFACE, one sub-folder per emotion, or a folder with a CSV "
            "manifest (path, label, speaker, gender).",
        )
        corpus_folder = None
        if folder_text.strip():
            with appkit.friendly("the corpus folder"):
                folder = appkit.safe_folder(folder_text, "a corpus folder", CorpusError)
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
        st.caption(f"It will be saved in {appkit.user_models_dir()}.")

    if st.button("▶️ Start training", type="primary", disabled=corpus_folder is None, key="train_go"):
        out = appkit.new_model_folder(new_name)
        if not appkit.TRAIN_LOCK.acquire(blocking=False):
            st.warning("Another training is running on this server; try again when it has finished.")
        else:
            try:
                from crnn.analysis.train import train

                bar = st.progress(0.0, text="Reading the audio…")
                chart = st.empty()
                history: list[dict] = []

                def progress(event: dict) -> None:
                    kind = event.get("event")
                    if kind == "decode":
                        bar.progress(event["done"] / max(event["total"], 1), text=f"Reading the audio: {event['done']} of {event['total']} files")
                    elif kind == "batch":
                        done = (event["epoch"] - 1 + event["batch"] / event["batches"]) / max_epochs
                        bar.progress(min(done, 1.0), text=f"Epoch {event['epoch']}: batch {event['batch']} of {event['batches']}, loss {event['loss']:.3f}")
                    elif kind == "epoch":
                        history.append({"epoch": event["epoch"], "validation UA": event["val_ua"], "training loss": event["loss"]})
                        chart.line_chart(history, x="epoch", y=["validation UA", "training loss"])
                    elif kind == "evaluate":
                        bar.progress(1.0, text="Testing the best epoch on unseen speakers…")

                card = train(name, corpus_folder, noisy=noisy, out_dir=out, max_epochs=max_epochs,
                             max_minutes=float(max_minutes), progress=progress, show_bar=False)
            finally:
                appkit.TRAIN_LOCK.release()
            ua = card["metrics"]["test"]["clean"]["ua"]
            st.session_state["train_done"] = f"Saved **{out.name}**: {ua:.0%} unweighted accuracy on unseen speakers. It is now selected in the sidebar."
            appkit.select_model_next_run(out)
            st.rerun()

    if st.session_state.get("train_done"):
        st.success(st.session_state["train_done"])
