"""Atomic writes: a reader never sees a half-written file or folder, and a crash leaves the old one intact.

Files are written beside their final name and renamed over it. A folder
(:func:`atomic_folder`) is filled as a hidden sibling ``.<name>.new-*``; then
the old folder is renamed aside (``.<name>.old-*``), the new one renamed in,
and the old one removed. A kill between those two renames leaves the old
folder whole but aside: :func:`recover_folder` renames a whole one back.
:func:`remove_stale` removes what killed writers left, once it is old.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from crnn.core.defaults import PROJECT_DIR
from crnn.core.errors import CrnnError

NEW_TAG, OLD_TAG = ".new-", ".old-"  # sibling folders: f".{name}{NEW_TAG}…" being written, OLD_TAG set aside


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on success it replaces ``path`` in one step.

    The temporary file keeps ``path``'s suffix (libraries such as kaleido pick
    the format from it) and is made world-readable, since checkpoints, bundles
    and figures are meant to be shared. On an exception it is removed and
    ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON (no NaN), atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode("utf-8"))


def parse_json(text: str | bytes) -> object:
    """``json.loads`` that raises JSONDecodeError, not RecursionError, for input nested too deeply to parse.

    A few kB of ``[[[[…`` exhaust Python's recursion limit; files a user can hand in (cards,
    heads, probe bundles) are parsed with this, so a tampered one is refused in one line.
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", "", 0) from None


def shown_path(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """``path`` as an error message may show it, without revealing where the server keeps files.

    Relative to ``root`` (e.g. the corpus folder) or else to the project
    folder when it lies inside one of them; a relative path as given (the
    user typed it); otherwise only the last component.
    """
    path = Path(path)
    if not path.is_absolute():
        return path.as_posix()
    for base in (root, PROJECT_DIR):
        if base is None:
            continue
        try:
            return path.relative_to(base).as_posix() or "."
        except ValueError:
            pass
    return path.name or path.as_posix()


def absent_reason(path: str | os.PathLike) -> str:
    """Why ``path``, which is neither a regular file nor a folder, cannot be read: a few words for a message.

    "no such file"; a link to nothing (its target is missing, or links loop); or something that exists
    but holds no data to read (a device such as /dev/zero, a named pipe, a socket), which reading would
    block on or never finish.
    """
    path = Path(path)
    if os.path.lexists(path) and not path.exists():
        return "a link to nothing (its target is missing or the links loop)"
    if path.exists():
        return "not a regular file (a device, pipe or socket)"
    return "no such file"


def portable_path(path: str | os.PathLike) -> str:
    """``path`` as a card stores it: relative to the project folder when it lies beside it, else absolute.

    A clone elsewhere (another machine, CI) keeps ``../shared/data/ravdess``
    meaningful, where ``/home/me/shared/data/ravdess`` would not be.
    """
    path = Path(os.path.abspath(Path(path).expanduser()))  # lexical: a symlinked ../shared stays ../shared
    if path.is_relative_to(PROJECT_DIR.parent):
        return Path(os.path.relpath(path, PROJECT_DIR)).as_posix()
    return path.as_posix()


def resolve_portable(text: str | os.PathLike) -> Path:
    """The absolute path a card's :func:`portable_path` names (relative paths start at the project folder)."""
    path = Path(text).expanduser()
    return (path if path.is_absolute() else PROJECT_DIR / path).resolve()


def remove_stale(folder: str | os.PathLike, prefixes: tuple[str, ...], max_age_s: float = 3600.0) -> list[Path]:
    """Delete entries of ``folder`` whose names start with one of ``prefixes`` and that are older than ``max_age_s`` seconds.

    For the temporary files and folders a killed writer leaves behind. The
    age is measured from the later of the modification and status-change
    times, so a temporary folder renamed a moment ago counts as new; younger
    entries may belong to a writer still at work and are kept. Errors (a
    read-only folder, a concurrent cleaner) are ignored. Returns what was removed.
    """
    folder = Path(folder)
    removed = []
    try:
        entries = [p for p in folder.iterdir() if p.name.startswith(prefixes)]
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        try:
            st = entry.lstat()
            if now - max(st.st_mtime, st.st_ctime) < max_age_s:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:
            continue
    return removed


def write_durably(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a new file ``path``, flushed to disk, world-readable (not atomic by itself)."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, 0o644)


def fsync_dir(path: str | os.PathLike) -> None:
    """Make renames and new entries in folder ``path`` durable (not possible on every platform)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:  # a file system without hard links
        shutil.copy2(src, dst, follow_symlinks=False)


def _carry_over(old: Path, new: Path, skip: Callable[[str], bool]) -> None:
    """Give folder ``new`` the entries of ``old`` that ``skip`` does not name, as hard links (cheap)."""
    for entry in old.iterdir():
        if skip(entry.name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, new / entry.name, symlinks=True, copy_function=_link_or_copy)
        elif entry.is_symlink():
            os.symlink(os.readlink(entry), new / entry.name)
        else:
            _link_or_copy(str(entry), str(new / entry.name))


@contextmanager
def atomic_folder(path: str | os.PathLike, carry_over: Callable[[str], bool] | None = None) -> Iterator[Path]:
    """Yield a new hidden sibling folder to fill; on success it replaces folder ``path`` as a whole.

    With ``carry_over``, the entries of the old folder whose names it
    accepts are first hard-linked into the new one (files other writers put
    there). At every instant one whole folder exists: the old or the new one
    at ``path``, or, after a kill between the two renames, the old one aside
    (see :func:`recover_folder`). On an exception the new folder is removed
    and the old one stays. The new folder is made world-readable.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}{NEW_TAG}", dir=target.parent))
    try:
        if carry_over is not None and target.is_dir():
            _carry_over(target, staging, lambda name: not carry_over(name))
        yield staging
        os.chmod(staging, 0o755)  # mkdtemp makes it private
        fsync_dir(staging)
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap_in(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an old ``target`` goes aside first and is removed last."""
    if not target.exists():
        _move_in(staging, target)
        fsync_dir(target.parent)
        return
    aside = target.parent / f".{target.name}{OLD_TAG}{secrets.token_hex(4)}"
    os.rename(target, aside)
    try:
        _move_in(staging, target)
    except BaseException:
        os.rename(aside, target)  # a failure (not a kill): put the old one back at once
        raise
    fsync_dir(target.parent)
    _discard(aside)


def _move_in(staging: Path, target: Path) -> None:  # a step of its own, so tests can kill here
    os.rename(staging, target)


def _discard(aside: Path) -> None:
    shutil.rmtree(aside, ignore_errors=True)


def _siblings(target: Path, tag: str) -> list[Path]:
    """The folders ``.<name><tag>*`` beside ``target``, newest first."""
    prefix = f".{target.name}{tag}"  # not a glob: a folder name may hold "[" or "*"
    found = [p for p in target.parent.iterdir() if p.name.startswith(prefix) and p.is_dir()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def recover_folder(path: str | os.PathLike, is_whole: Callable[[Path], bool]) -> None:
    """If an :func:`atomic_folder` write was killed between its renames, put a whole folder back at ``path``.

    A new folder that ``is_whole`` accepts is preferred, else the old one
    set aside. Nothing happens when ``path`` exists; errors (a read-only
    folder, another process recovering at once) are ignored.
    """
    target = Path(path)
    try:
        if target.exists() or not target.parent.is_dir():
            return
        candidates = [p for p in _siblings(target, NEW_TAG) if is_whole(p)] + _siblings(target, OLD_TAG)
        if candidates:
            os.rename(candidates[0], target)
    except OSError:
        pass


def remove_stale_folders(path: str | os.PathLike, max_age_s: float = 3600.0) -> list[Path]:
    """Remove the new and old sibling folders of ``path`` that killed :func:`atomic_folder` writes left."""
    target = Path(path)
    return remove_stale(target.parent, (f".{target.name}{NEW_TAG}", f".{target.name}{OLD_TAG}"), max_age_s)


def check_figure_path(path: str | os.PathLike | None) -> None:
    """CrnnError, before any work, when a figure path does not end in .html or .png."""
    if path is not None and Path(path).suffix.lower() not in (".html", ".png"):
        raise CrnnError(f"figure file must end in .html or .png, not {Path(path).name or str(path)!r}")
