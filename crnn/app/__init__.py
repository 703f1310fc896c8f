"""Glue between the Streamlit pages and :mod:`crnn`; the pages import only this package (and ``streamlit``).

Nothing scientific happens here. Every number the app shows comes from a
library function, reached through :mod:`crnn.app.backend`; the modules only
decide *where* things come from (which folders may be read, which clip and
model are selected), *how long* they are kept (Streamlit caches) and *who*
sees them (``st.session_state``, so two people using one server never see
each other's clips or results).

- :mod:`~crnn.app.roots`: the folders the app may read; paths as messages show them.
- :mod:`~crnn.app.state`: session-state keys, this session's clips, the shipped examples.
- :mod:`~crnn.app.inputs`: the example, upload and record widgets.
- :mod:`~crnn.app.models`: model choices and labels, loading, the trained models' disk budget.
- :mod:`~crnn.app.backend`: the one place that imports the library's analyses and figures.
- :mod:`~crnn.app.cached`: those analyses behind Streamlit's caches.
- :mod:`~crnn.app.corpus`: the corpus behind the model-wide views.
- :mod:`~crnn.app.confidence`: temperature-scaled probabilities and their wording.
- :mod:`~crnn.app.views`: results shaped for the pages' tables and charts.
- :mod:`~crnn.app.zoo`: the model zoo's rows.
- :mod:`~crnn.app.training`: training from the app.
- :mod:`~crnn.app.sidebar`: the shared sidebar.
- :mod:`~crnn.app.frame`: page introduction, one-line errors, progress bars, downloads.
- :mod:`~crnn.app.memory`: freed memory handed back to the system after each run (glibc).
- :mod:`~crnn.app.timing`: the server's share of the wait, for ``crnn bench --load``.
- :mod:`~crnn.app.speaker`: page 1's speaker-adapted prediction.
- :mod:`~crnn.app.lab`: the causal lab; :mod:`~crnn.app.controls`: page 2's intervals and controls;
  :mod:`~crnn.app.science`: the paper check.
"""

from crnn.app.backend import (
    attribution_heatmap, confusion_figure, correlation_heatmap, module_contributions_figure,
    noise_figure, probability_figure, probe_svm_figure, results_figure,
)  # fmt: skip
from crnn.app.cached import (
    cell_report, clip_features_figure, corpus_summary, display_features, explanation, noise_result, noise_sweep, predict,
    prediction_figures,
)  # fmt: skip
from crnn.app.confidence import chance_words, confidence_words, is_unsure, temperature
from crnn.app.corpus import corpus_cells, corpus_folder, current_corpus, probe, recording
from crnn.app.frame import csv_bytes, figure_html, friendly, intro, progress_callback, selected_texts, show_error
from crnn.app.inputs import audio_inputs, model_and_clip, show_clip, use_corpus_clip_button
from crnn.app.models import LoadedModel, current_model, load_model, model_choices, warm_default_model
from crnn.app.roots import is_allowed, safe_folder, user_models_dir
from crnn.app.sidebar import sidebar
from crnn.app.state import CLIP_KEY, CLIPS_KEY, Clip, add_clip_bytes, current_clip, emotion_label
from crnn.app.training import default_spec, model_specs, train_model
from crnn.app.views import NO_SPEECH_WARNING, best_cell_figures, cell_layers, no_speech, probe_rows, ranked_cells
from crnn.app.views import LEVEL_NOTE, hears_level
from crnn.app.zoo import baseline_table, confusion_report, first_layer_filters, model_table, zoo_results
from crnn.app.zoo import calibration, default_pick, filter_figures, seed_spread
from crnn.app.backend import cell_words, model_input, reliability_figure
from crnn.core.defaults import RAVDESS, SAMPLE_RATE

__all__ = [
    "CLIPS_KEY", "CLIP_KEY", "Clip", "LoadedModel", "RAVDESS", "SAMPLE_RATE", "add_clip_bytes",
    "attribution_heatmap", "audio_inputs", "baseline_table", "best_cell_figures", "cell_layers", "cell_report",
    "confusion_figure", "confusion_report", "corpus_cells", "corpus_folder", "corpus_summary", "correlation_heatmap",
    "csv_bytes", "current_clip", "current_corpus", "current_model", "default_spec",
    "display_features", "emotion_label", "explanation", "figure_html",
    "first_layer_filters", "friendly", "intro", "is_allowed", "load_model", "model_and_clip", "model_choices",
    "model_specs", "model_table", "module_contributions_figure", "noise_figure", "noise_result", "noise_sweep",
    "predict", "probability_figure", "probe", "probe_rows", "probe_svm_figure",
    "progress_callback", "ranked_cells", "recording", "results_figure", "safe_folder", "seed_spread", "selected_texts",
    "show_clip", "show_error", "sidebar", "train_model", "use_corpus_clip_button", "user_models_dir", "zoo_results"
]  # fmt: skip
__all__ += ["calibration", "cell_words", "chance_words", "confidence_words", "default_pick", "is_unsure", "model_input", "reliability_figure",
            "temperature"]
__all__ += ["NO_SPEECH_WARNING", "clip_features_figure", "filter_figures", "no_speech", "prediction_figures", "warm_default_model"]

from crnn.app.memory import limit_malloc_arenas, release_freed_memory  # noqa: E402

__all__ += ["limit_malloc_arenas", "release_freed_memory", "LEVEL_NOTE", "hears_level"]

from crnn.app.lab import ablation_section, compare_section, whatif_section  # noqa: E402  (the causal lab)

__all__ += ["ablation_section", "compare_section", "whatif_section"]

from crnn.app.controls import controls_section  # noqa: E402  (intervals and controls, page 2)

__all__ += ["controls_section"]

from crnn.app.speaker import speaker_section  # noqa: E402  (speaker-adapted prediction, page 1)
from crnn.app.timing import answer_shown, start_run_clock  # noqa: E402  (server timings for crnn bench --load)

__all__ += ["answer_shown", "speaker_section", "start_run_clock"]
