"""Page 1's speaker-adapted prediction: the clip judged against other clips of the same person.

Shown only for a model whose checkpoint has a usable speaker-adapted head
(``crnn adapt``); the number of clips it needs comes from that head's record.
The other clips are uploads, or, when the clip is a recording of the corpus at
hand (a shipped example of RAVDESS, say), that speaker's other recordings.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from crnn.app import backend, cached
from crnn.app.corpus import corpus_root, current_corpus
from crnn.app.frame import show_error
from crnn.app.models import LoadedModel
from crnn.app.state import MAX_CLIP_SECONDS, MAX_UPLOAD_MB, UPLOAD_TYPES, Clip
from crnn.core.audio import load_audio
from crnn.core.errors import CrnnError

MAX_SPEAKER_CLIPS = 60  # a speaker's clips beyond this add little to the statistics and cost time


def usable_head(lm: LoadedModel) -> dict | None:
    """The record of the model's head when it exists, names the model's emotions and helps with some number of clips.

    A head fitted on other weights (the model was retrained since) or a damaged one is left out silently:
    page 1 works without it, and ``crnn predict --same-speaker`` says why. Only the record is read here, so a
    first visit does not wait for scikit-learn; the head itself is loaded when there are enough clips.
    """
    try:
        record = backend.speaker_head_record(lm.folder, lm.card.get("weights_sha256"))
    except CrnnError:
        return None
    if record is None or record.get("clips_needed") is None or list(record.get("labels", [])) != lm.labels:
        return None
    return record


def decoded_uploads(uploads: list[Any]) -> tuple[list[np.ndarray], list[str]]:
    """The uploads' waveforms, and one sentence for each file that could not be used."""
    waves, problems = [], []
    for upload in uploads[:MAX_SPEAKER_CLIPS]:
        try:
            waves.append(load_audio(upload.getvalue(), max_seconds=MAX_CLIP_SECONDS, name=upload.name))
        except CrnnError as exc:
            problems.append(str(exc))
    return waves, problems


def adapted_prediction(lm: LoadedModel, wave: np.ndarray, others: list[np.ndarray]) -> dict:
    """{"label", "probabilities"} of ``wave`` from the head, the speaker's statistics taken from it and ``others``."""
    found = backend.speaker_head(lm.folder, lm.card.get("weights_sha256"))
    if found is None:  # removed since page 1 read its record
        raise CrnnError(f"The speaker-adapted head of {lm.name} is gone; fit it again with crnn adapt.")
    head = found[0]
    head_key = hashlib.sha256(head.coef_.tobytes() + head.intercept_.tobytes()).hexdigest()  # a refitted head
    p = cached.speaker_adapted_probabilities(lm, lm.key, head, head_key, wave, others)  # (K,)
    labels = [str(c) for c in head.classes_]
    return {"label": labels[int(p.argmax())], "probabilities": {k: float(q) for k, q in zip(labels, p)}}


def corpus_clips(lm: LoadedModel, clip: Clip) -> tuple[str, list[str]] | None:
    """(speaker, paths) of the other recordings of the clip's speaker in the corpus at hand, when the clip is one
    of its recordings (a corpus clip, or an example that carries the corpus's file name)."""
    root = corpus_root(lm, current_corpus())
    if root is None or clip.path is None:
        return None
    return cached.speaker_recordings(str(root), Path(clip.path).name)


def _corpus_waves(lm: LoadedModel, clip: Clip) -> list[np.ndarray]:
    found = corpus_clips(lm, clip)
    if not found:
        return []
    speaker, paths = found
    if not st.toggle(f"Use speaker {speaker}'s other {len(paths)} recordings in the corpus folder", key="speaker_corpus"):
        return []
    with st.spinner("Reading the speaker's recordings…"):
        return backend.decode_files(paths[:MAX_SPEAKER_CLIPS])


def speaker_section(lm: LoadedModel, clip: Clip, emotion_label) -> None:
    """The expander of page 1: other clips of the speaker (uploaded, or from the corpus), the speaker-adapted answer."""
    record = usable_head(lm)
    if record is None:
        return
    wave = clip.wave
    needed = int(record["clips_needed"])
    with st.expander(f"👥 Know the speaker? Judge this clip against {needed - 1} or more other clips of the same person"):
        st.caption(
            "People differ in how high, loud and fast they speak. With several clips of one person, the model can "
            "judge this clip against that person's usual voice: its internal summary of each clip is compared with "
            f"the person's average (a speaker-adapted head, fitted with `crnn adapt`). It needs at least {needed} "
            "clips in all, a number chosen on the validation speakers. Upload them, or, for a recording of the "
            "corpus at hand, use that speaker's other recordings. These probabilities are not calibrated."
        )
        uploads = st.file_uploader("Other clips of the same speaker", type=UPLOAD_TYPES, accept_multiple_files=True,
                                   key="speaker_clips", max_upload_size=MAX_UPLOAD_MB)  # fmt: skip
        waves, problems = decoded_uploads(uploads or [])
        for problem in problems:
            show_error(problem)
        waves += _corpus_waves(lm, clip)
        if len(waves) + 1 < needed:
            st.info(f"{len(waves) + 1} clip(s) of this speaker so far (this one included); {needed} are needed.")
            return
        result = adapted_prediction(lm, wave, waves)
        st.metric(f"Knowing the speaker ({len(waves) + 1} clips), model **{lm.name}** hears",
                  emotion_label(result["label"]), border=True)  # fmt: skip
        st.plotly_chart(backend.probability_figure(result["probabilities"], height=220, label_format=emotion_label),
                        key=f"speaker_probs_{lm.key}")  # fmt: skip
