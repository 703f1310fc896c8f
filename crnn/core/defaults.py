"""The one home for project-wide defaults: paths, the default model, checkpoint file names, rates.

Everything else imports these names instead of repeating a literal.
"""

from __future__ import annotations

import os
from pathlib import Path

SAMPLE_RATE = 16_000  # Hz; every model and feature in crnn works at this rate
PROJECT_DIR = Path(__file__).resolve().parents[2]
CHECKPOINT_DIR = PROJECT_DIR / "checkpoints"  # shipped checkpoints, one folder each
FOLDS_DIR = CHECKPOINT_DIR / "folds"  # shipped cross-validation folds <run>_cv<K>, out of the model picker
SHARED_DATA = PROJECT_DIR.parent / "shared" / "data"  # corpora beside the project, when present
RAVDESS = SHARED_DATA / "ravdess"
# The shipped model commands and pages use without a choice: the best on the validation actors
# (mean of clean and noisy UA) among the models retrained with the lens recipe (README, Results).
DEFAULT_MODEL = "cnn_lstm_2d_noisy"
# Paper 001's module claims (Fig. 2, Table 5) are about its own CLDNN: the paper check probes this one.
PAPER_001_MODEL = "fst_cldnn_logmel"
WEIGHTS = "model.safetensors"  # file names inside a checkpoint folder
CARD = "card.json"
CACHE_DIR = Path(os.environ.get("CRNN_CACHE_DIR", Path.home() / ".cache" / "crnn-lens"))
# Training resume states live outside the work tree so that a fresh checkout keeps them.
STATE_DIR = Path(os.environ.get("CRNN_STATE_DIR", Path.home() / ".local" / "state" / "crnn-lens"))
# Models trained by users (CLI without --out, and the app) go here, never over a shipped checkpoint.
USER_MODELS_DIR = Path(os.environ.get("CRNN_LENS_MODELS", "").strip() or Path.home() / ".crnn_lens" / "models").expanduser()
# When set, the app's page 1 appends its server-side answer times here (crnn bench --load reads them).
TIMINGS_ENV = "CRNN_TIMINGS_FILE"
