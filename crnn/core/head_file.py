"""The speaker-adapted head's file beside a checkpoint: safetensors arrays and a JSON record, nothing unpickled.

Kept apart from :mod:`crnn.analysis.speaker_head` (which builds the
scikit-learn estimator) so that reading the record (its labels and how many
clips of a speaker it needs) costs no scikit-learn import: page 1 of the app
reads it on every first visit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from crnn.core.errors import CrnnError
from crnn.core.fileio import atomic_write_bytes, parse_json

HEAD_FILE = "speaker_head.safetensors"


def write_head_file(folder: str | Path, coef: np.ndarray, intercept: np.ndarray, record: dict) -> Path:
    """Write (K, D) ``coef``, (K,) ``intercept`` and ``record`` into checkpoint ``folder``, atomically."""
    from safetensors.numpy import save

    data = save({"coef": np.ascontiguousarray(coef, np.float32), "intercept": np.ascontiguousarray(intercept, np.float32)},
                metadata={"record": json.dumps(record)})  # fmt: skip
    path = Path(folder) / HEAD_FILE
    atomic_write_bytes(path, data)
    return path


def read_head_file(folder: str | Path, weights_sha256: str | None) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """(coef (K, D), intercept (K,), record) of the head stored in checkpoint ``folder``; None when there is none.

    CrnnError (one sentence) when the file is not a head, is damaged, or was
    fitted on other weights than ``weights_sha256``.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(folder) / HEAD_FILE
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="numpy") as f:
            record = parse_json((f.metadata() or {})["record"])
            coef, intercept = f.get_tensor("coef"), f.get_tensor("intercept")
        labels = record["labels"]
    except (SafetensorError, OSError, KeyError, TypeError, ValueError):
        raise CrnnError(f"{path.name} in {Path(folder).name} is not a speaker head; fit it again with crnn adapt") from None
    if record.get("weights_sha256") != weights_sha256:
        raise CrnnError(f"the speaker head of {Path(folder).name} was fitted on other weights; fit it again with crnn adapt")
    if (coef.ndim != 2 or coef.shape[0] != len(labels) or intercept.shape != (len(labels),)
            or not (np.isfinite(coef).all() and np.isfinite(intercept).all())):
        raise CrnnError(f"{path.name} in {Path(folder).name} is damaged; fit it again with crnn adapt")
    return coef, intercept, record
