"""How long the server takes to answer, for ``crnn bench --load`` (off unless the environment asks).

When the environment variable ``CRNN_TIMINGS_FILE`` names a file, page 1
appends one JSON line per prediction it shows: the clip's name and the
seconds from the start of the script run to the predicted emotion handed to
Streamlit. The load test compares that with what the browsers wait, which
says how much of the wait is the server's.
"""

from __future__ import annotations

import json
import os
import time

import streamlit as st

from crnn.core.defaults import TIMINGS_ENV

_RUN_STARTED_KEY = "_lens_run_started"


def start_run_clock() -> None:
    """Note when this script run started (app.py calls it first); nothing unless timings are asked for."""
    if os.environ.get(TIMINGS_ENV):
        st.session_state[_RUN_STARTED_KEY] = time.perf_counter()


def answer_shown(clip_name: str) -> None:
    """Append (clip, seconds since the run started) to the timings file, if one is asked for."""
    path, started = os.environ.get(TIMINGS_ENV), st.session_state.get(_RUN_STARTED_KEY)
    if not path or started is None:
        return
    line = json.dumps({"clip": clip_name, "seconds": round(time.perf_counter() - started, 4)}) + "\n"
    with open(path, "a", encoding="utf-8") as out:  # one short line per write: appends from sessions do not mix
        out.write(line)
