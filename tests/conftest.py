"""Shared test settings: one torch thread (CI and the dev machine have two cores)."""

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

RAVDESS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ravdess"


@pytest.fixture(scope="session")
def ravdess_root() -> Path:
    """The RAVDESS folder beside the project; tests that need it skip cleanly when it is absent."""
    if not RAVDESS.is_dir():
        pytest.skip("RAVDESS not found at ../shared/data/ravdess")
    return RAVDESS


@pytest.fixture
def navigation_pages(monkeypatch):
    """AppTest resets Streamlit's "pages/ folder means v1 multipage app" flag before every run and,
    because this app keeps its pages in ``pages/``, would then run them as v1 pages instead of
    app.py's ``st.navigation`` (the real server does not). Clear the flag as a real session does."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
