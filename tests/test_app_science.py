"""The "Paper check" page, driven headless with ``streamlit.testing.v1.AppTest``."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("navigation_pages")  # app.py's st.navigation pages (conftest)


@pytest.fixture
def page(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("CRNN_LENS_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("CRNN_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    return at.switch_page("pages/8_paper_check.py").run()


def test_paper_check_shows_the_card_findings_with_links(page):
    assert not page.exception, [e.value for e in page.exception]
    assert page.title[0].value.endswith("Paper check")
    table = page.dataframe[0].value
    assert {"paper", "claim", "the paper's figure", "measured (95 % interval)", "control", "verdict"} <= set(table.columns)
    assert {"000", "001", "004"} <= set(table["paper"])
    links = page.get("page_link")
    assert len(links) == len(table)
    assert any("2D CNN-LSTM" in link.proto.label for link in links)
    assert page.get("download_button"), "the findings can be downloaded"


def test_measuring_adds_the_probe_rows(page, monkeypatch):
    import crnn.app.science as glue
    from crnn.analysis.science import row
    from crnn.tasks.science import card_rows

    def fake(model, corpus):
        rows = [row("001-svm-rises", "raw 30 → CNN 40", "random weights: 25", "agrees"), *card_rows()]
        return {"rows": rows, "counts": {"agrees": 1}, "probe_scope": "test speakers only"}

    monkeypatch.setattr(glue, "run_science", fake)
    monkeypatch.setattr(glue, "measurable_corpus", lambda: Path("/nowhere"))
    page.button(key="paper_measure").click().run()
    assert not page.exception, [e.value for e in page.exception]
    assert "test speakers only" in page.caption[0].value
    assert "001-svm-rises" not in page.dataframe[0].value.columns
    assert page.dataframe[0].value["measured (95 % interval)"].iloc[0] == "raw 30 → CNN 40"


def test_attribution_glue_for_the_why_page():
    import numpy as np
    import torch
    from tiny_model import TinyModel

    from crnn.analysis.explain import explain
    from crnn.app.science import module_time_chart, sanity_chart

    torch.manual_seed(0)
    model = TinyModel(3).eval()
    wave = np.random.default_rng(0).normal(size=8000).astype(np.float32) * 0.1
    fig = module_time_chart(explain(model, wave, layers=True, n_steps=8))
    assert fig.data[0].type == "heatmap" and len(fig.data[0].y) == 3
    result, fig = sanity_chart(model, wave, method="saliency")
    assert len(result["steps"]) == 3 and len(fig.data[0].y) == 4
