"""The one on-disk cache: content-keyed ``.npz`` files of named arrays, never pickled.

A key is the SHA-256 of a JSON description of everything the result depends
on (file paths with sizes and modification times, checkpoint hashes,
settings). Entries live in ``CACHE_DIR/<kind>/<key>.npz`` and are written
atomically, so a crash or a concurrent writer never leaves a half entry; a
damaged entry reads as a miss and is rebuilt. ``CRNN_CACHE_DIR`` moves it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from crnn.core.defaults import CACHE_DIR
from crnn.core.fileio import atomic_path

Progress = Callable[[dict], None]
"""The one progress-callback type: called with a dict holding "event" (what is happening,
e.g. "decode", "batch", "epoch", "represent") and, where it applies, "done" and "total"."""


def file_stamps(paths: Sequence[str | os.PathLike]) -> list[list]:
    """[resolved path, size in bytes, mtime in ns] per file: what a cache key over files needs."""
    stamps = []
    for path in paths:
        stat = Path(path).stat()
        stamps.append([str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns])
    return stamps


def cache_key(*parts) -> str:
    """A 24-hex-digit key for any JSON-serialisable description of a result."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def cache_path(kind: str, key: str, cache_dir: str | os.PathLike | None = None) -> Path:
    return Path(cache_dir if cache_dir is not None else CACHE_DIR) / kind / f"{key}.npz"


def load_arrays(kind: str, key: str, cache_dir: str | os.PathLike | None = None) -> dict[str, np.ndarray] | None:
    """The arrays stored under (kind, key), or None when absent or unreadable."""
    path = cache_path(kind, key, cache_dir)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, KeyError, ValueError, EOFError):
        return None


def save_arrays(kind: str, key: str, arrays: dict[str, np.ndarray], cache_dir: str | os.PathLike | None = None) -> None:
    """Store named arrays under (kind, key) atomically; a read-only or full disk only costs speed."""
    try:
        with atomic_path(cache_path(kind, key, cache_dir)) as tmp:
            np.savez(tmp, **arrays)
    except OSError:
        pass
