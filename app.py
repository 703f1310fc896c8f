"""CRNN Lens — look inside convolutional-recurrent speech emotion models.

Run with ``streamlit run app.py``. Pages live in ``pages/`` and are thin views
over :mod:`crnn`; the shared sidebar (model, corpus, clip) is in :mod:`crnn.app`.

This file has two roles. ``streamlit run`` first imports it to find the server
(``app``, an ``st.App`` whose start-up hook warms the default model, so torch
loads while the first visitor's browser is still fetching the page); then it
runs it as each visitor's script, where ``__name__`` is ``"__main__"``.
"""

import logging
from contextlib import asynccontextmanager

import streamlit as st


@asynccontextmanager
async def warm_at_start(_server: st.App):
    """Server start-up: start loading the default model in the background, before anyone visits."""
    from crnn import app as appkit  # here, not at the top: the app's caches belong to the runtime, started by now

    appkit.limit_malloc_arenas()  # before the sessions' threads allocate: freed memory is not kept in 16 arenas
    appkit.warm_default_model()
    yield


if __name__ != "__main__":  # imported by ``streamlit run`` to serve the app
    app = st.App(__file__, lifespan=warm_at_start)
else:  # a visitor's script run
    from crnn import app as appkit

    appkit.start_run_clock()
    appkit.limit_malloc_arenas()  # no-ops after the start-up hook; they matter where it did not run (AppTest)
    appkit.warm_default_model()
    st.set_page_config(page_title="CRNN Lens", page_icon="🔎", layout="wide")

    PAGES = [
        st.Page("pages/1_listen.py", url_path="listen", title="Listen and predict", icon="🎧", default=True),
        st.Page("pages/2_inside.py", url_path="inside", title="Inside the model", icon="🧭"),
        st.Page("pages/3_cells.py", url_path="cells", title="Cells and prosody", icon="🎼"),
        st.Page("pages/4_why.py", url_path="why", title="Why this prediction", icon="💡"),
        st.Page("pages/5_noise.py", url_path="noise", title="Noise lab", icon="🔊"),
        st.Page("pages/6_zoo.py", url_path="zoo", title="Model zoo", icon="🦓"),
        st.Page("pages/7_train.py", url_path="train", title="Train", icon="🏋️"),
        st.Page("pages/8_paper_check.py", url_path="paper-check", title="Paper check", icon="📜"),
    ]

    page = st.navigation(PAGES)
    appkit.sidebar()
    try:
        page.run()
    except Exception:  # Streamlit's rerun/stop signals are BaseExceptions and pass through
        logging.getLogger("crnn.app").exception("unexpected error on page %s", page.title)
        st.error("Sorry, this page ran into an unexpected problem. Try another clip or model; the rest of the app still works.")
    finally:
        appkit.release_freed_memory()  # a run's temporary arrays go back to the system, so the server's RSS stays flat
