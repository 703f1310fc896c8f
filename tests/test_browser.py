"""The app as a browser sees it: ``streamlit run app.py`` driven by headless Chromium (Playwright).

Opens every page, uploads an example clip on "Listen and predict" and waits for
its prediction, does the same from two browser contexts at once (each must see
only its own clip), and saves a screenshot of each page into
``$CRNN_LENS_SCREENSHOTS`` (default: a fresh temporary folder). Skips cleanly
when Playwright or Chromium is missing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
from crnn.bench import browser as bench_app  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402

if bench_app.browser_available():
    pytest.skip(bench_app.browser_available(), allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
# Upper bounds, not timings: with trainings beside the suite on 2 cores a cold server took over 60 s to
# answer its first upload (CI, round 7); an idle machine answers in a few seconds and never waits this long.
LOADED_MACHINE_S = 180
EXAMPLES = sorted((ROOT / "checkpoints" / "examples").glob("*.flac"))
PAGES = ["Listen and predict", "Inside the model", "Cells and prosody", "Why this prediction", "Noise lab",
         "Model zoo", "Train", "Paper check"]  # fmt: skip
EMOTIONS = ("anger", "boredom", "calm", "disgust", "excitement", "fear", "frustration", "happiness", "neutral",
            "sadness", "surprise")  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    env, _ = bench_app.demo_models(tmp / "models")
    env = {"CRNN_CACHE_DIR": str(tmp / "cache"), **env}
    with bench_app.serve(env) as (url, _):
        yield url


@pytest.fixture(scope="module")
def chromium():
    with bench_app.browser() as browser:
        yield browser


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get("CRNN_LENS_SCREENSHOTS") or tempfile.mkdtemp(prefix="crnn_lens_screens_"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _no_traceback(page, where: str) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, f"{where}: an exception is shown"
    assert "Traceback" not in page.inner_text("body"), f"{where}: a traceback is shown"


def _open(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name="Listen and predict").wait_for(timeout=90_000)
    bench_app.wait_idle(page, 90)


def test_every_page_after_an_upload(server, chromium, shots):
    page = chromium.new_page(viewport={"width": 1400, "height": 2400})
    _open(page, server)
    clip = EXAMPLES[0]
    bench_app.upload(page, clip)
    label = bench_app.wait_prediction(page, f"📁 {clip.name}", LOADED_MACHINE_S)
    assert label.split()[-1] in EMOTIONS
    _no_traceback(page, "Listen and predict")
    page.screenshot(path=str(shots / "1_listen.png"), full_page=True)
    for number, title in enumerate(PAGES[1:], start=2):
        page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
        page.get_by_role("heading", name=title).wait_for(timeout=LOADED_MACHINE_S * 1000)
        bench_app.wait_idle(page, 90)
        _no_traceback(page, title)
        if title in ("Cells and prosody", "Why this prediction"):
            assert page.get_by_text(f"📁 {clip.name}").count() > 0, f"{title} lost the uploaded clip"
        page.screenshot(path=str(shots / f"{number}_{title.lower().replace(' ', '_')}.png"), full_page=True)
    page.close()


_FIRST_DOT = """() => {
    const gd = [...document.querySelectorAll('.js-plotly-plot')].find((g) => (g._fullData || []).some((t) => t.type === 'scattergl'));
    const t = gd._fullData.find((t) => t.type === 'scattergl' && String(t.legendgroup).startsWith('speaker:'));
    const xa = gd._fullLayout[t.xaxis.replace('x', 'xaxis')], ya = gd._fullLayout[t.yaxis.replace('y', 'yaxis')];
    const box = gd.getBoundingClientRect();
    return {x: box.left + xa._offset + xa.l2p(t.x[0]), y: box.top + ya._offset + ya.l2p(t.y[0])};
}"""
_GRID_DRAWN = "() => [...document.querySelectorAll('.js-plotly-plot')].some((g) => (g._fullData || []).some((t) => t.type === 'scattergl'))"
_PLAYING = "() => [...document.querySelectorAll('audio')].some((a) => !a.paused && a.currentTime > 0)"


def test_the_causal_lab_and_the_controls_in_a_browser(server, chromium, shots):
    """Cells clamped over the corpus, a second model compared, and page 2's intervals: drawn, no traceback, screenshots."""
    page = chromium.new_page(viewport={"width": 1400, "height": 4200})  # Streamlit scrolls inside: tall enough for all
    _open(page, server)
    bench_app.upload(page, EXAMPLES[0])
    bench_app.wait_prediction(page, f"📁 {EXAMPLES[0].name}", LOADED_MACHINE_S)
    page.goto(f"{server}/cells")
    page.get_by_role("heading", name="Cells and prosody").wait_for(timeout=LOADED_MACHINE_S * 1000)
    bench_app.wait_idle(page, 120)
    if "precomputed" not in page.inner_text("body") and "RAVDESS" not in page.inner_text("body"):
        pytest.skip("no corpus on this computer")
    page.get_by_role("button", name="Clamp the cells and score").click()
    page.get_by_text("UA without the top").first.wait_for(timeout=240_000)
    bench_app.wait_idle(page, LOADED_MACHINE_S)
    _no_traceback(page, "What happens without them")
    page.screenshot(path=str(shots / "3_cells_lab.png"), full_page=True)
    page.goto(f"{server}/inside")
    page.get_by_role("heading", name="Inside the model").wait_for(timeout=LOADED_MACHINE_S * 1000)
    bench_app.wait_idle(page, 120)
    page.get_by_text("How sure are these numbers?").wait_for(timeout=LOADED_MACHINE_S * 1000)
    page.locator('[data-testid="stCheckbox"]').filter(has_text="Compare with a second model").click()
    page.get_by_text("Linear CKA").first.wait_for(timeout=240_000)
    bench_app.wait_idle(page, LOADED_MACHINE_S)
    _no_traceback(page, "Compare with a second model")
    page.screenshot(path=str(shots / "2_inside_lab.png"), full_page=True)
    page.close()


def test_clicking_a_dot_plays_its_recording(server, chromium):
    """On "Inside the model", a click on a dot of the grid plays that recording at once, above the grid."""
    page = chromium.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(f"{server}/inside")
    page.get_by_role("heading", name="Inside the model").wait_for(timeout=90_000)
    bench_app.wait_idle(page, 120)
    if "precomputed" not in page.inner_text("body") or "not at hand" in page.inner_text("body"):
        pytest.skip("no probe bundle or corpus audio on this computer")
    page.wait_for_function(_GRID_DRAWN, timeout=LOADED_MACHINE_S * 1000)
    page.locator('[data-testid="stPlotlyChart"]').first.scroll_into_view_if_needed()
    for attempt in range(3):  # on a loaded machine the chart may still be re-rendering when first clicked
        bench_app.wait_idle(page, LOADED_MACHINE_S)
        dot = page.evaluate(_FIRST_DOT)
        page.mouse.click(dot["x"], dot["y"])
        try:
            page.wait_for_function(_PLAYING, timeout=25_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    audio, grid = (page.locator(sel).first.bounding_box() for sel in ("audio", '[data-testid="stPlotlyChart"]'))
    assert audio["y"] < grid["y"], "the player is above the grid"
    _no_traceback(page, "Inside the model after a click")
    page.close()


DEEP_LINKS = {"listen": "Listen and predict", "inside": "Inside the model", "cells": "Cells and prosody",
              "why": "Why this prediction", "noise": "Noise lab", "zoo": "Model zoo", "train": "Train"}


@pytest.mark.parametrize("path", ["inside", "listen", "zoo"])
def test_a_deep_link_as_the_first_request_of_a_fresh_server(chromium, tmp_path, path):
    """Opening /inside before anyone opened / must show the app's own sidebar, not Streamlit's pages/ navigation."""
    env, _ = bench_app.demo_models(tmp_path / "models")
    with bench_app.serve({"CRNN_CACHE_DIR": str(tmp_path / "cache"), **env}) as (url, _):
        page = chromium.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(f"{url}/{path}")
        page.get_by_role("heading", name=DEEP_LINKS[path]).wait_for(timeout=90_000)
        bench_app.wait_idle(page, 90)
        nav = page.locator('[data-testid="stSidebarNav"]')
        for title in DEEP_LINKS.values():
            assert nav.get_by_text(title, exact=True).count() == 1, f"/{path}: no sidebar link to {title}"
        assert page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').count() > 0, "no model picker"
        _no_traceback(page, f"/{path}")
        page.close()


def test_two_sessions_at_once_see_only_their_own_clip(server, chromium, tmp_path):
    clips = []
    for k, example in enumerate(EXAMPLES[1:3]):
        copy = tmp_path / f"visitor_{k}{example.suffix}"
        shutil.copyfile(example, copy)
        clips.append(copy)
    contexts = [chromium.new_context() for _ in clips]
    pages = [context.new_page() for context in contexts]
    for page in pages:
        _open(page, server)
    for page, clip in zip(pages, clips):
        bench_app.upload(page, clip)  # both uploads are in flight before either is awaited
    for page, clip, other in zip(pages, clips, reversed(clips)):
        assert bench_app.wait_prediction(page, f"📁 {clip.name}", LOADED_MACHINE_S).split()[-1] in EMOTIONS
        assert other.name not in page.inner_text("body")
        _no_traceback(page, clip.name)
    for context in contexts:
        context.close()
