"""Which folders the app may read, and how paths appear in what it shows.

A visitor types folder paths (a model, a corpus); every path the app then
reads must resolve (symlinks followed) inside :func:`allowed_roots`. Messages
never show the server's absolute folders nor the list of allowed roots: a
path is shown relative to the root that holds it (:func:`shown`), and
:func:`public_message` strips those folders from library messages.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from crnn.core.defaults import PROJECT_DIR, SHARED_DATA
from crnn.core.errors import AudioError, CrnnError, one_line
from crnn.core.fileio import shown_path

SHARED_DATA_DIR = SHARED_DATA
OUTSIDE = "outside the folders this app may read"


def allowed_roots() -> list[Path]:
    """Folders under which the app may read.

    ``CRNN_LENS_ROOTS`` (paths joined with ``os.pathsep``) replaces the default:
    the project folder, the user's home and the project's shared data folder.
    """
    env = os.environ.get("CRNN_LENS_ROOTS", "").strip()
    if env:
        roots = [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    else:
        roots = [PROJECT_DIR, Path.home(), SHARED_DATA_DIR]
    return [r.resolve() for r in roots if r.is_dir()]


def user_models_dir() -> Path:
    """Where models trained in the app are saved: ``CRNN_LENS_MODELS`` or ``~/.crnn_lens/models``."""
    env = os.environ.get("CRNN_LENS_MODELS", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".crnn_lens" / "models"


def _root_of(path: Path, roots: Iterable[Path] | None = None) -> Path | None:
    """The innermost allowed root holding the resolved ``path``, or None."""
    holding = [r for r in (allowed_roots() if roots is None else roots) if path.is_relative_to(r)]
    return max(holding, key=lambda r: len(r.parts), default=None)


def is_allowed(path: str | os.PathLike) -> bool:
    """True if ``path`` exists and resolves inside one of :func:`allowed_roots`."""
    path = Path(path).expanduser().resolve()
    return path.exists() and _root_of(path) is not None


def shown(path: str | os.PathLike) -> str:
    """``path`` as the app shows it: relative to the allowed root holding it, else its last component."""
    path = Path(path).expanduser()
    return shown_path(path, _root_of(path.resolve()) if path.is_absolute() else None)


def public_message(text: str) -> str:
    """A library message without the server's own folders (roots, models folder, project) in it."""
    places = {*allowed_roots(), user_models_dir().expanduser(), PROJECT_DIR}
    for place in sorted(places, key=lambda p: len(str(p)), reverse=True):
        if len(place.parts) > 1:
            text = text.replace(f"{place}{os.sep}", "").replace(str(place), place.name)
    return one_line(text)


def _resolve(path: str | os.PathLike, kind: str, error: type[CrnnError]) -> Path:
    """``path`` resolved (symlinks followed) and checked to be an existing ``kind`` ("folder" or "file") inside the roots."""
    path = Path(path).expanduser().resolve()
    if _root_of(path) is None:
        raise error(f"That {kind} is {OUTSIDE}; the server's operator can allow more with CRNN_LENS_ROOTS.")
    other = "file" if kind == "folder" else "folder"
    is_kind, is_other = (path.is_dir(), path.is_file()) if kind == "folder" else (path.is_file(), path.is_dir())
    if is_other:
        raise error(f"{shown(path)} is a {other}, not a {kind}.")
    if not is_kind:
        raise error(f"{shown(path)}: no such {kind}.")
    return path


def safe_folder(text: str, what: str, error: type[CrnnError] = CrnnError) -> Path:
    """Resolve a folder typed by the visitor (``what`` names it), refusing anything outside :func:`allowed_roots`."""
    if not (text or "").strip():
        raise error(f"Type the path of {what}.")
    return _resolve(text.strip(), "folder", error)


def safe_file(path: str | os.PathLike, error: type[CrnnError] = AudioError) -> Path:
    """Resolve a file the app is about to read: inside the allowed roots, and a file (not a folder)."""
    return _resolve(path, "file", error)
