"""What every page shares around its content: the introduction, one-line errors, progress bars, downloads."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st

from crnn.app.roots import public_message
from crnn.core.cache import Progress
from crnn.core.errors import CrnnError

log = logging.getLogger("crnn.app")

EVENT_TEXT = {  # what "done" counts, for the events of crnn.core.cache.Progress
    "decode": "audio files read",
    "represent": "recordings through the model",
    "cells": "recordings correlated",
}


def keep_app_navigation() -> None:
    """Rerun a deep link that Streamlit ran as an old-style ``pages/`` app, this time through app.py.

    A fresh server treats ``pages/`` as a version-1 multipage folder until some
    script calls ``st.navigation``, so the first visitor of ``/inside`` would get
    Streamlit's own navigation and no sidebar. Clearing the flag and rerunning
    (the page keeps its URL and hash) sends this and every later run through app.py.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def intro(title: str, what: str, why: str) -> None:
    """Page title and the two plain-language sentences every page opens with."""
    keep_app_navigation()
    st.title(title)
    st.markdown(f"{what} {why}")


def show_error(message: str) -> None:
    """One ``st.error`` line, without the server's folders in it."""
    st.error(public_message(message))


@contextmanager
def friendly(what: str = "this part") -> Iterator[None]:
    """Show a CrnnError as one sentence, anything unexpected as one friendly line (logged, never a traceback)."""
    try:
        yield
    except CrnnError as exc:
        show_error(str(exc))
    except Exception:
        log.exception("unexpected error in %s", what)
        st.error(f"Sorry, {what} could not be shown because of an unexpected problem; the rest of the app still works.")


def progress_callback(bar: Any, text: str | Callable[[dict], str]) -> Progress:
    """Adapt a ``st.progress`` bar to :data:`crnn.core.cache.Progress`: dicts with "event" and "done"/"total".

    ``text`` is the bar's caption, or a function of the event giving it.
    Events without "done" and "total" leave the bar as it is.
    """

    def update(event: dict) -> None:
        done, total = event.get("done"), event.get("total")
        if done is None or not total:
            return
        if callable(text):
            label = text(event)
        else:
            label = f"{text} ({done} of {total} {EVENT_TEXT.get(event.get('event'), 'done')})"
        bar.progress(min(max(float(done) / float(total), 0.0), 1.0), text=label)

    return update


@contextmanager
def progress_bar(text: str) -> Iterator[Progress]:
    """A progress bar for the length of a ``with`` block, fed by the :data:`Progress` callback it yields."""
    bar = st.progress(0.0, text=text)
    try:
        yield progress_callback(bar, text)
    finally:
        bar.empty()


def selected_texts(fig: Any, event: Any) -> list[str]:
    """The hover texts (utterance ids) of the points picked in a plotly chart's selection event."""
    picked = []
    for point in ((event or {}).get("selection") or {}).get("points", []):
        curve = point.get("curve_number", -1)
        trace = fig.data[curve] if 0 <= curve < len(fig.data) else None
        index = point.get("point_index", point.get("point_number"))
        if trace is not None and trace.text is not None and index is not None and not isinstance(trace.text, str):
            picked.append(str(trace.text[index]))
    return picked


def figure_html(fig: Any) -> Callable[[], bytes]:
    """Deferred HTML export of a figure (works offline), for ``st.download_button(data=...)``."""
    return lambda: fig.to_html(include_plotlyjs=True).encode("utf-8")


def csv_bytes(table: Any) -> bytes:
    """A table (a pandas DataFrame, or a list of dicts with the same keys) as UTF-8 CSV, for downloads."""
    if hasattr(table, "to_csv"):
        return table.to_csv(index=False).encode("utf-8")
    rows = list(table)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else [])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")
