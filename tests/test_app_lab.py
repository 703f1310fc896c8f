"""The causal lab's app sections (pages 2, 3 and 4), driven headless with ``streamlit.testing.v1.AppTest``."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RAVDESS = ROOT.parent / "shared" / "data" / "ravdess"


pytestmark = pytest.mark.usefixtures("navigation_pages")  # app.py's st.navigation pages (conftest)


@pytest.fixture
def app(tmp_path, monkeypatch) -> AppTest:
    """The app on the shipped checkpoints (their probe bundles are the default corpus) and an example clip."""
    monkeypatch.setenv("CRNN_LENS_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("CRNN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CRNN_LENS_ROOTS", raising=False)
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()


def _clean(at: AppTest, where: str) -> None:
    assert not at.exception, f"{where}: {[e.value for e in at.exception]}"
    assert not at.error, f"{where}: {[e.value for e in at.error]}"


def test_what_if_compare_and_occlusion_sections(app):
    at = app.switch_page("pages/3_cells.py").run()
    _clean(at, "cells page")
    at.slider(key="lab_pitch").set_value(4.0).run()
    at.slider(key="lab_loudness").set_value(-6.0).run()
    _clean(at, "what-if")
    texts = " ".join(m.value for m in at.markdown)
    assert "**Original**" in texts and "**Changed**" in texts
    assert len(at.get("audio")) >= 2 and at.table

    at = at.switch_page("pages/2_inside.py").run()
    at.toggle(key="lab_compare_on").set_value(True).run()
    _clean(at, "compare with a second model")
    assert at.selectbox(key="lab_compare_model").value
    assert any("Linear CKA" in chart.proto.spec for chart in at.get("plotly_chart"))

    at = at.switch_page("pages/4_why.py").run()
    at.checkbox(key="why_layers").uncheck().run()
    at.radio(key="why_method").set_value("occlusion").run()
    _clean(at, "occlusion")
    assert any("occlusion for class" in chart.proto.spec for chart in at.get("plotly_chart"))


def test_cells_without_them_on_ravdess(app):
    if not RAVDESS.is_dir():
        pytest.skip("RAVDESS not found at ../shared/data/ravdess")
    at = app.switch_page("pages/3_cells.py").run()
    at.slider(key="lab_ablate_clips").set_value(16).run()
    at.slider(key="lab_ablate_top").set_value(3).run()
    at.button(key="lab_ablate_run").click().run()
    _clean(at, "ablation")
    assert any(m.label.startswith("UA without the top 3 cells") for m in at.metric)
