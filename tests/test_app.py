"""The Streamlit app, driven headless with ``streamlit.testing.v1.AppTest``.

Every page must render without an exception in its default state (an example
clip), after a real upload and after a bad upload (one friendly error, app
still up). The models are tiny untrained checkpoints written to a temporary
"user models" folder, so the tests neither need nor touch the shipped ones.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "checkpoints" / "examples"
RAVDESS = ROOT.parent / "shared" / "data" / "ravdess"
PAGES = ["1_listen", "2_inside", "3_cells", "4_why", "5_noise", "6_zoo", "7_train"]
LABELS = ["anger", "calm", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"]
TEST_MODEL = "fst_cldnn_logmel (shared on this server)"


pytestmark = pytest.mark.usefixtures("navigation_pages")  # app.py's st.navigation pages (conftest)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """Two tiny untrained checkpoints; the first gets a probe bundle when RAVDESS is at hand."""
    import torch

    from crnn.core.checkpoint import save_checkpoint
    from crnn.core.models import build_model

    folder = tmp_path_factory.mktemp("lens_models")
    ravdess = RAVDESS
    torch.manual_seed(0)
    for name in ("fst_cldnn_logmel", "ldnn_mfcc"):
        model = build_model(name, len(LABELS))
        confusion = np.eye(len(LABELS), dtype=int).tolist()
        card = {
            "model": name, "model_kwargs": model.config, "labels": LABELS,
            "corpus": {"name": "ravdess", "root": str(ravdess), "utterances": 1440},
            "split": {"train": ["01", "02"], "validation": ["03"], "test": ["04"]}, "seed": 0,
            "metrics": {"test": {c: {"ua": 0.125, "labels": LABELS, "confusion": confusion} for c in ("clean", "noisy")}},
            "training": {"epochs": 0, "best_epoch": 0, "seconds": 0.0, "device": "cpu"},
        }  # fmt: skip
        if name == "fst_cldnn_logmel":  # a card with calibration, as new trainings write them
            card["calibration"] = {"temperature": 1.5, "ece_test_before": 0.2, "ece_test_after": 0.05, "bins": 15,
                                   "reliability_test": [{"bin": 0.3, "confidence": 0.31, "accuracy": 0.25, "n": 4},
                                                        {"bin": 0.9, "confidence": 0.88, "accuracy": 0.8, "n": 6}]}
        save_checkpoint(model, card, folder / name)
        if name == "fst_cldnn_logmel":
            from crnn.analysis.representations import Representations
            from crnn.tasks.probe import bundle_path, module_representations, write_bundle

            if ravdess.is_dir():
                from crnn.core.corpora import read_corpus

                corpus = read_corpus(ravdess)
                few = [u for u in corpus.utterances if u.speaker in ("01", "02", "03", "04")][::4]
                reps = module_representations(model.eval(), few, use_cache=False)
            else:  # without the corpus, random vectors with RAVDESS-like labels still exercise the page
                rng = np.random.default_rng(0)
                speakers = np.repeat(["01", "02", "03", "04"], 12)
                reps = Representations(
                    {m: rng.normal(size=(48, 8)).astype(np.float32) for m in ("input", "cnn", "rnn", "mlp")},
                    np.array([f"Actor_{s}/clip{k}.flac" for k, s in enumerate(speakers)]),
                    np.array([LABELS[k % len(LABELS)] for k in range(48)]), speakers,
                    np.where(speakers.astype(int) % 2 == 1, "male", "female"), {"corpus": "ravdess"},
                )  # fmt: skip
            reps.meta.update(split=card["split"])
            write_bundle(reps, bundle_path(folder / name))
    return folder


@pytest.fixture
def app(models_dir, tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("CRNN_LENS_MODELS", str(models_dir))
    monkeypatch.setenv("CRNN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CRNN_LENS_ROOTS", raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["lens_model_pick"] = TEST_MODEL
    return at.run()


def _clean(at: AppTest, page: str) -> None:
    assert not at.exception, f"{page}: {[e.value for e in at.exception]}"
    assert not at.error, f"{page}: {[e.value for e in at.error]}"
    assert at.title and len(at.markdown) > 0, f"{page} has no title and introduction"


def _no_server_paths(at: AppTest) -> None:
    """No message names an allowed root, the models folder or the project folder by its absolute path."""
    from crnn.app.roots import allowed_roots, user_models_dir

    places = {str(p) for p in [*allowed_roots(), user_models_dir(), ROOT] if len(p.parts) > 2}
    for element in [*at.error, *at.warning, *at.info, *at.sidebar.error]:
        assert not any(place in element.value for place in places), element.value


def _example_bytes() -> tuple[str, bytes]:
    path = next(iter(sorted(EXAMPLES.glob("*.flac"))))
    return path.name, path.read_bytes()


def test_every_page_renders_from_an_example_clip(app):
    for page in PAGES:
        app.switch_page(f"pages/{page}.py").run()
        _clean(app, page)
    assert app.sidebar.selectbox(key="lens_clip").value.startswith(("😠", "😄", "😢", "😐", "😨", "😲"))


def test_prediction_shows_and_two_models_compare(app):
    assert app.main.metric and app.main.metric[0].value.split()[-1] in LABELS
    app.selectbox(key="listen_compare").set_value("ldnn_mfcc (shared on this server)").run()
    _clean(app, "1_listen compare")
    assert len(app.main.metric) == 2


def test_the_sidebar_shows_the_chosen_models_test_accuracy_from_its_card(app, models_dir, tmp_path, monkeypatch):
    from crnn.core.checkpoint import read_card

    [shown] = app.sidebar.metric
    card = read_card(models_dir / "fst_cldnn_logmel")
    assert shown.value == f"{card['metrics']['test']['clean']['ua']:.0%}"
    assert shown.delta == f"guessing: {1 / len(card['labels']):.0%}"
    assert "the 1 actor kept out" in shown.help

    card = read_card(models_dir / "ldnn_mfcc")
    for n, metrics in enumerate([None, {"test": {"clean": {"ua": float("nan")}}}, {"test": {"clean": {"ua": True}}},
                                 {"test": {"clean": {"ua": 3.5}}}]):  # none recorded, or not an accuracy
        bare = tmp_path / f"models_{n}" / "ldnn_mfcc"
        shutil.copytree(models_dir / "ldnn_mfcc", bare)
        (bare / "card.json").write_text(json.dumps({**card, "metrics": metrics}))
        monkeypatch.setenv("CRNN_LENS_MODELS", str(bare.parent))
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.session_state["lens_model_pick"] = "ldnn_mfcc (shared on this server)"
        at.run()
        assert [m.value for m in at.sidebar.metric] == ["not measured"], metrics


def test_upload_of_a_real_clip_reaches_every_page(app):
    name, data = _example_bytes()
    app.file_uploader(key="listen_upload").upload(name, data, "audio/flac").run()
    _clean(app, "1_listen after upload")
    assert app.sidebar.selectbox(key="lens_clip").value == f"📁 {name}"
    assert app.main.metric[0].value.split()[-1] in LABELS
    for page in PAGES[1:]:
        app.switch_page(f"pages/{page}.py").run()
        _clean(app, page)
        assert app.sidebar.selectbox(key="lens_clip").value == f"📁 {name}", f"{page} lost the uploaded clip"


def test_the_app_package_imports_no_torch_so_the_first_page_does_not_wait():
    import subprocess
    import sys

    # pandas alone cost the first page about 0.5 s; only the pages that draw tables import it
    heavy = "{'torch', 'sklearn', 'librosa', 'scipy', 'pandas'}"
    script = f"import sys, streamlit, crnn.app; print(sorted({heavy} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr


def test_the_default_model_is_warmed_once_in_the_background_and_taken_over(models_dir, monkeypatch):
    from crnn.app import models

    folder = models_dir / "fst_cldnn_logmel"
    reads = []
    read = models._read
    monkeypatch.setattr(models, "_warm_thread", None)
    monkeypatch.setattr(models, "_warmed", {})
    monkeypatch.setattr(models, "default_model_folder", lambda: folder)
    monkeypatch.setattr(models, "_read", lambda f, stamp: reads.append(f) or read(f, stamp))
    models._load.clear()
    thread = models.warm_default_model()
    assert models.warm_default_model() is thread, "one warm-up per server process"
    lm = models.load_model(folder)  # waits for the warm-up instead of loading a second copy
    assert not thread.is_alive() and reads == [str(folder)]
    assert lm.folder == folder and lm.labels == LABELS
    models._load.clear()


_SERVER_START = """
import asyncio, importlib.util, sys
from crnn import app as appkit
started = []
appkit.warm_default_model = lambda: started.append("warm")
spec = importlib.util.spec_from_file_location("lens_server", sys.argv[1])  # imported, as `streamlit run` does
server = importlib.util.module_from_spec(spec)
spec.loader.exec_module(server)
assert not started and not hasattr(server, "PAGES"), "importing app.py must neither warm nor draw pages"
async def start_and_stop():
    async with server.warm_at_start(server.app):
        started.append("serving")
asyncio.run(start_and_stop())
print(type(server.app).__name__, started)
"""


def test_streamlit_run_warms_the_default_model_when_the_server_starts():
    """``streamlit run app.py`` finds ``app``, an ``st.App`` whose start-up hook starts the warm-up before any
    visitor connects (before round 11 it started on the first visitor's script run, after the browser had
    loaded the front-end)."""
    import subprocess
    import sys

    from streamlit.web.server.app_discovery import discover_asgi_app

    found = discover_asgi_app(ROOT / "app.py")
    assert found.is_asgi_app and found.app_name == "app", found
    done = subprocess.run([sys.executable, "-c", _SERVER_START, str(ROOT / "app.py")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.stdout.strip().splitlines()[-1:] == ["App ['warm', 'serving']"], done.stdout + done.stderr[-2000:]


def test_white_noise_upload_warns_no_speech_and_marks_the_prediction_unreliable(app):
    assert not app.warning, "an example clip is speech: no warning"
    buffer = io.BytesIO()
    sf.write(buffer, np.random.default_rng(0).normal(0, 0.1, 16000 * 2).astype(np.float32), 16000, format="WAV")
    app.file_uploader(key="listen_upload").upload("noise.wav", buffer.getvalue(), "audio/wav").run()
    assert not app.exception and not app.error
    assert app.sidebar.selectbox(key="lens_clip").value == "📁 noise.wav"
    assert [w.value for w in app.warning if "No speech found" in w.value], [w.value for w in app.warning]
    assert "unreliable" in app.main.metric[0].label


def test_bad_upload_gives_one_friendly_error_and_the_app_stays_up(app):
    app.file_uploader(key="listen_upload").upload("notes.wav", b"this is not audio", "audio/wav").run()
    assert not app.exception
    assert len(app.error) == 1 and "notes.wav" in app.error[0].value and "Traceback" not in app.error[0].value
    assert app.main.metric, "the page should still predict the previous clip"
    for page in PAGES[1:]:
        app.switch_page(f"pages/{page}.py").run()
        assert not app.exception, page


def test_an_uploaded_file_name_with_a_newline_stays_on_one_line(app):
    app.file_uploader(key="listen_upload").upload("two\nlines.wav", b"this is not audio", "audio/wav").run()
    assert not app.exception
    assert len(app.error) == 1 and "two\\nlines.wav" in app.error[0].value and "\n" not in app.error[0].value


def test_too_long_upload_is_refused(app):
    buffer = io.BytesIO()
    sf.write(buffer, np.random.default_rng(0).normal(0, 0.1, 16000 * 61).astype(np.float32), 16000, format="FLAC")
    app.file_uploader(key="listen_upload").upload("long.flac", buffer.getvalue(), "audio/flac").run()
    assert not app.exception
    assert any("60 s limit" in e.value for e in app.error)


def test_an_upload_error_goes_away_with_its_file(app, monkeypatch):
    """The refusal of a file is shown while the uploader holds that file, not after it left or was replaced."""
    from crnn.app import state as app_state

    uploader = app.file_uploader(key="listen_upload")
    uploader.upload("notes.wav", b"this is not audio", "audio/wav").run()
    assert len(app.error) == 1 and "notes.wav" in app.error[0].value
    app.switch_page("pages/2_inside.py").run()
    app.switch_page("pages/1_listen.py").run()  # the uploader comes back empty
    assert app.file_uploader(key="listen_upload").value is None
    assert not app.error, [e.value for e in app.error]

    app.file_uploader(key="listen_upload").upload("notes.wav", b"this is not audio", "audio/wav").run()
    monkeypatch.setattr(app_state, "MAX_UPLOAD_MB", 0.001)
    app.file_uploader(key="listen_upload").set_value(("big.wav", b"\0" * 4096, "audio/wav")).run()
    assert [e.value for e in app.error] == ["big.wav: 0 MB is more than the 0.001 MB upload limit."]
    app.file_uploader(key="listen_upload").clear().run()
    assert not app.error


def test_errors_show_no_server_folders(app):
    """A folder inside the roots that holds no model is named relative to its root, never by its absolute path."""
    app.sidebar.selectbox(key="lens_model_pick").set_value("📂 A folder of my own…").run()
    app.sidebar.text_input(key="lens_model_folder").input(str(ROOT / "pages")).run()
    assert not app.exception
    assert any("pages holds no model" in e.value for e in app.sidebar.error), [e.value for e in app.sidebar.error]
    _no_server_paths(app)


def test_a_folder_given_as_a_recording_is_called_a_folder(tmp_path, monkeypatch):
    import streamlit as st

    from crnn.app.state import add_corpus_clip
    from crnn.core.errors import AudioError

    monkeypatch.setattr(st, "session_state", {})
    monkeypatch.setenv("CRNN_LENS_ROOTS", str(tmp_path))
    (tmp_path / "Actor_01.wav").mkdir()
    with pytest.raises(AudioError, match="is a folder, not a file") as refused:
        add_corpus_clip(str(tmp_path / "Actor_01.wav"), None, None)
    assert str(tmp_path) not in str(refused.value)
    with pytest.raises(AudioError, match="outside the folders"):
        add_corpus_clip(str(EXAMPLES / "examples.json"), None, None)


@pytest.fixture
def escaping_corpora(tmp_path) -> dict[str, Path]:
    """Inside tmp_path/root: a folder-per-emotion corpus with one link to a recording outside the root, and a
    CSV manifest listing that recording by its absolute path."""
    rng = np.random.default_rng(0)
    outside = tmp_path / "outside" / "secret.wav"
    outside.parent.mkdir()
    sf.write(outside, rng.normal(0, 0.1, 16000).astype(np.float32), 16000)
    linked = tmp_path / "root" / "linked"
    for emotion in ("angry", "happy"):
        (linked / emotion).mkdir(parents=True)
        for k in range(2):
            sf.write(linked / emotion / f"{emotion}{k}.wav", rng.normal(0, 0.1, 16000).astype(np.float32), 16000)
    (linked / "angry" / "link.wav").symlink_to(outside)
    listed = tmp_path / "root" / "listed"
    listed.mkdir()
    (listed / "manifest.csv").write_text(f"path,label,speaker,gender\n{outside},anger,s1,female\n"
                                         f"{linked / 'happy' / 'happy0.wav'},happiness,s1,female\n")
    return {"linked": linked, "listed": listed, "outside": outside}


def test_corpus_files_leading_outside_the_roots_are_refused(app, escaping_corpora, tmp_path, monkeypatch):
    monkeypatch.setenv("CRNN_LENS_ROOTS", str(tmp_path / "root"))
    for corpus in ("linked", "listed"):
        app.switch_page("pages/7_train.py").run()
        app.text_input(key="train_corpus").input(str(escaping_corpora[corpus])).run()
        refusals = [e.value for e in app.error if "outside the folders" in e.value]
        assert len(refusals) == 1 and "\n" not in refusals[0], (corpus, [e.value for e in app.error])
        assert app.button(key="train_go").disabled, corpus
        _no_server_paths(app)
        assert str(tmp_path) not in refusals[0]

        app.sidebar.radio(key="lens_corpus").set_value("folder").run()
        app.sidebar.text_input(key="lens_corpus_folder").input(str(escaping_corpora[corpus])).run()
        app.switch_page("pages/2_inside.py").run()
        assert not app.exception
        assert any("outside the folders" in e.value for e in app.error), (corpus, [e.value for e in app.error])
        assert str(tmp_path) not in " ".join(e.value for e in app.error)


def test_trained_models_are_capped_in_size_too(models_dir, tmp_path, monkeypatch):
    """Beyond the size budget the oldest models trained in the app go; the one just trained and shipped ones stay."""
    import shutil

    from crnn.app import models as app_models
    from crnn.core.defaults import CHECKPOINT_DIR

    monkeypatch.setenv("CRNN_LENS_MODELS", str(tmp_path))
    for age, name in enumerate(("c", "b", "a")):  # a is the oldest
        shutil.copytree(models_dir / "ldnn_mfcc", tmp_path / name)
        (tmp_path / name / app_models.APP_MARK).touch()
        stamp = 1_600_000_000 - 1000 * age
        os.utime(tmp_path / name / "model.safetensors", (stamp, stamp))
    size = sum(p.stat().st_size for p in (tmp_path / "a").rglob("*") if p.is_file())
    monkeypatch.setattr(app_models, "MAX_USER_MODELS_MB", 2.5 * size / 2**20)
    shipped = sorted(p.name for p in CHECKPOINT_DIR.iterdir())
    assert app_models.enforce_model_cap(keep=tmp_path / "a") == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "c"]
    assert sorted(p.name for p in CHECKPOINT_DIR.iterdir()) == shipped


def test_progress_callback_reads_the_one_progress_convention():
    """crnn.core.cache.Progress dicts ("event", "done", "total") move a st.progress bar; others leave it."""
    from crnn import app as appkit

    class Bar:
        def __init__(self):
            self.calls = []

        def progress(self, value, text=None):
            self.calls.append((value, text))

    bar = Bar()
    update = appkit.progress_callback(bar, "Working…")
    update({"event": "decode", "done": 3, "total": 12})
    update({"event": "epoch", "epoch": 1})
    update({"event": "cells", "done": 12, "total": 12})
    assert [v for v, _ in bar.calls] == [0.25, 1.0]
    assert bar.calls[0][1] == "Working… (3 of 12 audio files read)"


def test_cells_rank_over_the_shipped_corpus(app):
    if not RAVDESS.is_dir():
        pytest.skip("RAVDESS not found at ../shared/data/ravdess")
    app.switch_page("pages/3_cells.py").run()
    app.slider(key="cells_n").set_value(8)
    app.button(key="cells_rank").click().run()
    _clean(app, "3_cells ranking")
    assert len(app.dataframe) == 1 and any("Over 8 recordings" in c.value for c in app.caption)


def test_sessions_do_not_share_uploads(app, models_dir):
    name, data = _example_bytes()
    app.file_uploader(key="listen_upload").upload(name, data, "audio/flac").run()
    other = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    other.session_state["lens_model_pick"] = TEST_MODEL
    other.run()
    assert f"📁 {name}" not in other.sidebar.selectbox(key="lens_clip").options
    assert f"📁 {name}" in app.sidebar.selectbox(key="lens_clip").options


def test_pages_without_a_model_say_so_in_one_sentence(app):
    app.sidebar.selectbox(key="lens_model_pick").set_value("📂 A folder of my own…").run()
    for page in ("1_listen", "3_cells", "4_why", "5_noise"):
        app.switch_page(f"pages/{page}.py").run()
        assert not app.exception, page
        assert any("No trained model" in e.value for e in app.error), page


def test_folder_pickers_stay_inside_the_allowed_roots(app, tmp_path, monkeypatch):
    from crnn import app as appkit
    from crnn.core.errors import CorpusError

    app.sidebar.radio(key="lens_corpus").set_value("folder").run()
    app.sidebar.text_input(key="lens_corpus_folder").input("/proc").run()
    app.switch_page("pages/2_inside.py").run()
    assert not app.exception
    assert any("outside the folders" in e.value for e in app.error)
    _no_server_paths(app)

    monkeypatch.setenv("CRNN_LENS_ROOTS", str(tmp_path))
    assert appkit.safe_folder(str(tmp_path), "a corpus folder") == tmp_path.resolve()
    with pytest.raises(CorpusError, match="outside"):
        appkit.safe_folder(str(ROOT), "a corpus folder", CorpusError)
    with pytest.raises(CorpusError, match="outside"):
        appkit.safe_folder(str(tmp_path / ".." / ".."), "a corpus folder", CorpusError)


def test_add_clip_bytes_caps_size_and_keeps_clips_per_session(monkeypatch):
    """The upload path without a browser: what the uploader callback calls."""
    import streamlit as st

    from crnn import app as appkit
    from crnn.app import state as app_state
    from crnn.core.errors import AudioError

    state: dict = {}
    monkeypatch.setattr(st, "session_state", state)
    name, data = _example_bytes()
    clip = appkit.add_clip_bytes(name, data)
    assert state[appkit.CLIP_KEY] == clip.name and clip.seconds > 1 and not clip.wave.flags.writeable
    with pytest.raises(AudioError, match="only wav"):
        appkit.add_clip_bytes("notes.txt", data)
    monkeypatch.setattr(app_state, "MAX_UPLOAD_MB", len(data) / 2**20 / 2)
    with pytest.raises(AudioError, match="upload limit"):
        appkit.add_clip_bytes(name, data)
    assert list(state[appkit.CLIPS_KEY]) == [clip.name]


def test_example_buttons_select_a_clip_for_every_page(app):
    pills = app.button_group(key="listen_example")
    choice = next(name for name in app.sidebar.selectbox(key="lens_clip").options if name.startswith("😢"))
    pills.set_value(choice).run()
    _clean(app, "1_listen example")
    assert app.sidebar.selectbox(key="lens_clip").value == choice
    app.switch_page("pages/5_noise.py").run()
    _clean(app, "5_noise")
    assert app.sidebar.selectbox(key="lens_clip").value == choice


def test_an_unexpected_failure_is_one_friendly_line(app, monkeypatch):
    from crnn import app as appkit

    def broken(*args, **kwargs):
        raise RuntimeError("internal detail that users should not see")

    monkeypatch.setattr(appkit, "predict", broken)
    app.run()
    assert not app.exception
    shown = " ".join(e.value for e in app.error)
    assert "Sorry" in shown and "internal detail" not in shown


@pytest.fixture
def tiny_corpus(tmp_path) -> Path:
    """Five RAVDESS actors × four emotions, linked into a folder of the usual layout."""
    ravdess = RAVDESS
    if not ravdess.is_dir():
        pytest.skip("RAVDESS not found at ../shared/data/ravdess")
    corpus = tmp_path / "tiny_ravdess"
    for actor in ("01", "02", "03", "04", "05"):
        (corpus / f"Actor_{actor}").mkdir(parents=True)
        for emotion in ("01", "03", "04", "05"):  # neutral, happy, sad, angry
            name = f"03-01-{emotion}-01-01-01-{actor}.flac"
            (corpus / f"Actor_{actor}" / name).symlink_to(ravdess / f"Actor_{actor}" / name)
    return corpus


def test_a_corpus_folder_of_ones_own_feeds_the_module_views(app, tiny_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("CRNN_LENS_ROOTS", os.pathsep.join([str(tmp_path), str(RAVDESS)]))
    app.sidebar.radio(key="lens_corpus").set_value("folder").run()
    app.sidebar.text_input(key="lens_corpus_folder").input(str(tiny_corpus)).run()
    app.switch_page("pages/2_inside.py").run()
    _clean(app, "2_inside on a corpus folder")
    assert any("20 recordings" in c.value for c in app.caption)


def test_training_a_small_model_adds_it_to_the_picker(app, tiny_corpus, models_dir, tmp_path, monkeypatch):
    """A model trained here is "trained in this session" here, "shared on this server" elsewhere; the oldest go."""
    import shutil

    from crnn.app import models as app_models

    monkeypatch.setenv("CRNN_LENS_ROOTS", os.pathsep.join([str(tmp_path), str(RAVDESS)]))
    monkeypatch.setenv("CRNN_LENS_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("CRNN_CACHE_DIR", str(tmp_path / "cache"))
    for age, name in enumerate(("old_b", "old_a", "from_cli")):  # trained in the app, but for from_cli
        shutil.copytree(models_dir / "ldnn_mfcc", tmp_path / "models" / name)
        stamp = 1_600_000_000 - 1000 * age
        os.utime(tmp_path / "models" / name / "model.safetensors", (stamp, stamp))
        if name != "from_cli":
            (tmp_path / "models" / name / app_models.APP_MARK).touch()
    monkeypatch.setattr(app_models, "MAX_USER_MODELS", 2)
    app.switch_page("pages/7_train.py").run()
    app.selectbox(key="train_model").set_value("ldnn_mfcc")
    app.text_input(key="train_corpus").input(str(tiny_corpus))
    app.slider(key="train_epochs").set_value(1)
    app.text_input(key="train_name").input("tiny")
    app.run()
    _clean(app, "7_train before")
    app.button(key="train_go").click().run(timeout=120)
    _clean(app, "7_train after")
    assert app.success and "tiny" in app.success[0].value
    assert "at most 2 trained models" in app.success[0].value and "old_a" in app.success[0].value
    import json

    card = json.loads((tmp_path / "models" / "tiny" / "card.json").read_text())
    near_chance = card["metrics"]["test"]["clean"]["ua"] <= 1.5 / len(card["labels"])
    assert near_chance == any("close to guessing" in w.value for w in app.warning), "a near-chance result must say so"
    picker = app.sidebar.selectbox(key="lens_model_pick")
    assert picker.value == "tiny (trained in this session)"
    assert "old_b (shared on this server)" in picker.options and not any("old_a" in o for o in picker.options)
    assert "from_cli (shared on this server)" in picker.options, "only models trained in the app are removed"
    assert (tmp_path / "models" / "tiny" / "card.json").is_file() and not (tmp_path / "models" / "old_a").exists()

    other = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert "tiny (shared on this server)" in other.sidebar.selectbox(key="lens_model_pick").options
    other.switch_page("pages/6_zoo.py").run()
    assert "tiny (shared on this server)" in other.selectbox(key="zoo_pick").options


@pytest.mark.parametrize("name", ["fst_cldnn_logmel", "ldnn_mfcc", "clstm"])
def test_every_view_of_a_clip_sees_the_same_trimmed_wave(name):
    """Listen, Noise lab ("clean"), Cells and Why agree on a clip's clean prediction (issue 13, item 2).

    Trained models (the shipped ones) tell a trimmed from an untrimmed clip by tens of percent;
    an untrained one barely does, so it stands in only when the checkpoint is missing."""
    import torch

    from crnn.app import backend
    from crnn.core.audio import load_audio
    from crnn.core.checkpoint import load_checkpoint
    from crnn.core.data import trim_silence
    from crnn.core.features import n_frames
    from crnn.core.models import build_model

    if (ROOT / "checkpoints" / name / "card.json").is_file():
        model, card = load_checkpoint(ROOT / "checkpoints" / name)
    else:
        torch.manual_seed(1)
        model, card = build_model(name, len(LABELS)), {"labels": LABELS}
    model.eval()
    for path in sorted(EXAMPLES.glob("*.flac"))[:3]:
        wave = load_audio(path)
        assert len(trim_silence(wave)) < len(wave), f"{path.name} has no silence to trim; pick another clip"
        labels = list(card["labels"])
        listen = np.array([backend.predict_file(model, card, wave)["probabilities"][k] for k in labels])
        noise = np.array(backend.noise_shift(model, wave, "white", 10.0, labels, 0)["prediction_clean"]["probabilities"])
        why = backend.explain(model, wave, labels[0], labels, "saliency", False).probabilities
        np.testing.assert_allclose(noise, listen, atol=1e-4, err_msg=f"noise lab vs listen on {path.name}")
        np.testing.assert_allclose(why, listen, atol=1e-4, err_msg=f"why vs listen on {path.name}")
        cells = backend.cell_correlations(model, wave)
        assert len(cells.times) == n_frames(len(trim_silence(wave))), f"cells saw another wave on {path.name}"


def test_confidence_is_calibrated_and_worded_honestly(app):
    """Temperature scaling from the card; "unsure" for a flat answer; near-chance results said plainly (item 3)."""
    from crnn.app.confidence import chance_words, confidence_words, scale, temperature

    assert temperature({}) == 1.0 and temperature({"calibration": {"temperature": 2.0}}) == 2.0
    sharp = {"anger": 0.9, "calm": 0.05, "fear": 0.05}
    softer = scale(sharp, 2.0)
    assert max(softer, key=softer.get) == "anger" and 0.5 < softer["anger"] < 0.9
    assert abs(sum(softer.values()) - 1) < 1e-9
    assert confidence_words(sharp).startswith("fairly sure")
    assert confidence_words({"anger": 0.45, "calm": 0.40, "fear": 0.15}).startswith("unsure")
    assert chance_words(0.125, 8) and chance_words(0.6, 8) is None
    # the app's untrained test model answers near-uniformly: the Listen page must not call that "sure"
    delta = app.main.metric[0].proto.delta
    assert delta.startswith("unsure"), delta


def test_a_ravdess_upload_shows_its_acted_emotion(app):
    """RAVDESS names encode the acted emotion (3rd field): an upload of one says so beside the prediction."""
    from crnn.app.state import acted_emotion

    assert acted_emotion("03-01-05-02-01-01-01.wav") == ("anger", "male") and acted_emotion("me.wav") == (None, None)
    path = next(iter(sorted(EXAMPLES.glob("03-01-05-*.flac"))))  # 05: anger
    app.file_uploader(key="listen_upload").upload(path.name, path.read_bytes(), "audio/flac").run()
    _clean(app, "1_listen after a RAVDESS upload")
    shown = " ".join(c.value for c in app.caption)
    assert "acted emotion: 😠 anger" in shown and "the actor was asked to show" in shown, shown
    from crnn.core.audio import load_audio

    peak = 20 * np.log10(np.abs(load_audio(path)).max())
    assert f"peak {peak:.0f} dBFS" in shown, shown  # how loudly the clip was recorded
    from crnn.app.views import LEVEL_NOTE

    assert LEVEL_NOTE in shown, "an absolute log floor (the test model's card): the answer depends on the level"
    app.selectbox(key="lens_model_pick").set_value("cnn_lstm_2d (shipped)").run()  # the relative floor, round 15
    _clean(app, "1_listen with cnn_lstm_2d")
    shown = " ".join(c.value for c in app.caption)
    assert "the actor was asked to show" in shown and LEVEL_NOTE not in shown, shown


def test_the_module_grid_can_be_read(app):
    """Fig. 2 has a legend for emotions and genders, labelled centres above the dots, axis titles (item 4)."""
    import json

    app.switch_page("pages/2_inside.py").run()
    _clean(app, "2_inside")
    charts = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    grid = next(c for c in charts if any(t.get("type") == "scattergl" for t in c["data"]))
    legend = {t["name"] for t in grid["data"] if t.get("showlegend")}
    assert set(LABELS) <= legend and {"female", "male"} <= legend, legend
    assert not any(t.get("showlegend") and t["name"].isdigit() for t in grid["data"]), "no 24-colour speaker key"
    centres = [a["text"] for a in grid["layout"]["annotations"] if a.get("bgcolor")]
    assert set(f"<b>{e}</b>" for e in LABELS) <= set(centres), "emotion centres are labelled on a background"
    assert any("axis 1" in str(v.get("title")) for k, v in grid["layout"].items() if k.startswith("xaxis"))
    assert any("colour = speaker" in c.value for c in app.caption)
    svm = next(c for c in charts if c["layout"].get("barmode") == "group")
    assert [t["name"] for t in svm["data"]] == ["emotion", "speaker", "gender"]
    assert any(v is not None for v in svm["data"][1]["y"]), "the speaker probe is computed"


def test_the_zoo_shows_every_baseline_calibration_and_a_model_with_convolutions(app):
    """All eight SVM baselines, the table unclipped, a reliability diagram, and a default with filters (items 3, 7)."""
    import json

    from crnn.app.zoo import zoo_results

    app.switch_page("pages/6_zoo.py").run()
    _clean(app, "6_zoo")
    _, baselines = zoo_results()
    if baselines:
        assert len(app.dataframe[1].value) == len(baselines) == 8, "both kernels × both feature sets × two norms"
        assert app.dataframe[1].value["z-scored with"].nunique() == 2
    assert len(app.dataframe[0].value) == len(zoo_results()[0]), "every model in the table"
    assert "calibration error" in app.dataframe[0].value.columns
    table = app.dataframe[0].value.set_index("model")
    level = dict(zip(table.index.str.split(" ").str[0], table["any recording level"]))  # "name (shipped)" → name
    assert level["raw_crnn"] and not level["fst_cldnn_logmel"], "unit-RMS waveforms yes, an absolute log floor no"
    assert level["cnn_lstm_2d"], "retrained with the relative log floor in round 15"
    [seeds] = [d.value for d in app.dataframe if "trainings" in d.value.columns]  # from the seed runs' cards
    assert set(seeds["model"]) >= {"cnn_lstm_2d", "fst_cldnn_logmel"}
    assert (seeds["lowest"] <= seeds["UA clean, mean"]).all() and (seeds["UA clean, mean"] <= seeds["highest"]).all()
    assert (seeds["trainings"] >= 2).all() and (seeds["± sd"] > 0).all()
    assert "has no convolution" not in " ".join(i.value for i in app.info), "the default model has filters"
    app.selectbox(key="zoo_pick").set_value(TEST_MODEL).run()
    _clean(app, "6_zoo, calibrated model")
    titles = [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in app.get("plotly_chart")]
    assert any("How honest" in t and "after" in t for t in titles), titles
    assert {b.proto.label for b in app.get("download_button")} >= {"⬇️ Table (CSV)", "⬇️ Figure (HTML)"}


def test_every_result_page_offers_downloads_and_honest_captions(app):
    """CSV and figure downloads wherever a result shows; saliency on a one-sided scale; the noise caption (items 6, 8)."""
    import json

    for page in ["1_listen", "2_inside", "3_cells", "4_why", "5_noise", "6_zoo"]:
        app.switch_page(f"pages/{page}.py").run()
        _clean(app, page)
        names = [b.proto.label for b in app.get("download_button")]
        assert any("CSV" in n for n in names) and any("HTML" in n for n in names), f"{page}: {names}"
    app.switch_page("pages/5_noise.py").run()
    assert any("normalised per recording" in c.value for c in app.caption)
    app.switch_page("pages/4_why.py").run()
    app.radio(key="why_method").set_value("saliency").run()
    _clean(app, "4_why, saliency")
    heat = next(json.loads(c.proto.spec) for c in app.get("plotly_chart")
                if any(t.get("name") == "attribution" for t in json.loads(c.proto.spec)["data"]))
    trace = next(t for t in heat["data"] if t.get("name") == "attribution")
    assert trace["zmin"] == 0, "saliency is never negative: a one-sided scale from 0"


def test_umap_reports_progress_per_stage(app, monkeypatch):
    """UMAP runs one stage at a time (so a progress bar can say how far it is) and draws the same grid (item 9)."""
    import json

    from crnn.app import backend

    calls = []
    monkeypatch.setattr(backend, "probe_points", lambda reps, method, module: calls.append(module) or {
        module: {label: np.random.default_rng(0).normal(size=(len(reps), 2)) for label in ("emotion", "speaker", "gender")}
    })  # fmt: skip
    app.switch_page("pages/2_inside.py").run()
    app.radio(key="inside_method").set_value("umap").run()
    _clean(app, "2_inside, UMAP")
    assert calls == ["input", "cnn", "rnn", "mlp"], calls
    grid = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert "UMAP" in grid["layout"]["title"]["text"]


def test_umap_shipped_in_the_bundle_is_drawn_at_once(app, models_dir, monkeypatch):
    """A probe bundle that stores UMAP coordinates is drawn from them: no stage is computed (issue 13)."""
    import json

    from crnn.app import backend
    from crnn.tasks.probe import UMAP_PREFIX, bundle_path

    path = bundle_path(models_dir / "fst_cldnn_logmel")
    original = path.read_bytes()
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    n = len(arrays["ids"])
    for module in json.loads(str(arrays["meta"]))["modules"]:
        arrays[f"{UMAP_PREFIX}{module}"] = np.random.default_rng(0).normal(size=(n, 2)).astype(np.float16)
    try:
        np.savez_compressed(path, **arrays)
        monkeypatch.setattr(backend, "probe_points", lambda *a: pytest.fail("UMAP computed although it is stored"))
        app.switch_page("pages/2_inside.py").run()
        app.radio(key="inside_method").set_value("umap").run()
        _clean(app, "2_inside, stored UMAP")
        grid = json.loads(app.get("plotly_chart")[0].proto.spec)
        assert "UMAP" in grid["layout"]["title"]["text"]
    finally:
        path.write_bytes(original)


def test_page_two_gives_intervals_and_measures_the_random_weights_control(app, models_dir, monkeypatch):
    """Intervals and the control task at once; the button adds the random-weights network (its run faked here)."""
    import json

    import crnn.app.controls as controls
    from crnn.analysis.robust_probe import robust_probe
    from crnn.app.backend import bundle_representations

    app.switch_page("pages/2_inside.py").run()
    _clean(app, "2_inside")
    table = next(d.value for d in app.dataframe if "control task UA" in d.value.columns)
    assert {"spread ρ", "SVM UA, unseen speakers", "selectivity (points)"} <= set(table.columns)
    assert table["spread ρ"].str.contains("–").all(), "every ρ has its interval"
    charts = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    assert any(t.get("error_y") for c in charts for t in c["data"] if t.get("type") == "bar")

    reps = bundle_representations(models_dir / "fst_cldnn_logmel")
    result = robust_probe(reps, n_boot=20)
    measured = {"scope": "test speakers only", "n_utterances": len(reps), "speakers": result["speakers"],
                "trained": result, "control": result}
    monkeypatch.setattr(controls, "_measured", lambda *args: measured)
    monkeypatch.setattr(controls, "corpus_root", lambda lm, corpus: Path("/nowhere"))
    app.button(key="inside_controls_run").click().run()
    _clean(app, "2_inside with the random-weights control")
    assert any("Scope: **test speakers only**" in c.value for c in app.caption)
    table = next(d.value for d in app.dataframe if "control task UA" in d.value.columns)
    assert "random weights: SVM UA" in table.columns


def test_every_run_hands_freed_memory_back(app, monkeypatch):
    import crnn.app

    calls = []
    monkeypatch.setattr(crnn.app, "release_freed_memory", lambda: calls.append(1) or True)
    app.switch_page("pages/6_zoo.py").run()
    _clean(app, "6_zoo")
    assert calls == [1]


def test_training_progress_says_when_a_run_restarts_and_starts_a_fresh_curve():
    from crnn.app.training import training_progress

    class Recorder:
        def __init__(self):
            self.calls = []

        def progress(self, value, text):
            self.calls.append((value, text))

        def line_chart(self, rows, **kwargs):
            self.calls.append([row["epoch"] for row in rows])

    bar, chart = Recorder(), Recorder()
    update = training_progress(bar, chart, max_epochs=4)
    epoch = {"event": "epoch", "val_ua": 0.25, "loss": 2.0}
    update({**epoch, "epoch": 1})
    update({**epoch, "epoch": 2})
    update({"event": "restart", "attempt": 0, "best_validation_ua": 0.25})
    update({**epoch, "epoch": 1})
    assert chart.calls == [[1], [1, 2], [1]]
    assert bar.calls[-1][0] == 0.0 and "starts again" in bar.calls[-1][1]


_FIRST_VISIT = """
import sys
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest
init = PagesManager.__init__
def patched(self, *args, **kwargs):  # as the navigation_pages fixture does
    init(self, *args, **kwargs)
    PagesManager.uses_pages_directory = False
PagesManager.__init__ = patched
at = AppTest.from_file(sys.argv[1], default_timeout=120)
at.session_state["lens_model_pick"] = sys.argv[2]
at.run()
print([e.value for e in at.exception], any("other clips" in e.label for e in at.expander),
      sorted({m.split(".")[0] for m in sys.modules} & {"sklearn", "librosa", "numba"}))
"""


def test_a_first_visit_to_page_1_with_a_speaker_head_imports_no_scikit_learn(models_dir, tmp_path):
    """Page 1 only needs the head's record (how many clips it needs) until the visitor gives enough clips;
    importing scikit-learn for it slowed every first visit (round 10)."""
    import subprocess
    import sys

    from crnn.analysis.speaker_head import HEAD_FILE, SpeakerAdaptedHead, save_head
    from crnn.core.checkpoint import read_card

    folder = models_dir / "fst_cldnn_logmel"
    head = SpeakerAdaptedHead(C=1.0)
    head.classes_, head.coef_, head.intercept_ = np.array(LABELS), np.zeros((len(LABELS), 4)), np.zeros(len(LABELS))
    save_head(head, {"weights_sha256": read_card(folder)["weights_sha256"], "clips_needed": 5}, folder)
    env = {**os.environ, "CRNN_LENS_MODELS": str(models_dir), "CRNN_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("CRNN_LENS_ROOTS", None)
    try:
        done = subprocess.run([sys.executable, "-c", _FIRST_VISIT, str(ROOT / "app.py"), TEST_MODEL], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    finally:
        (folder / HEAD_FILE).unlink()
    assert done.stdout.strip().splitlines()[-1] == "[] True []", done.stdout + done.stderr[-2000:]


def test_a_speaker_adapted_prediction_appears_with_enough_clips_of_the_speaker(app, models_dir, monkeypatch):
    from crnn.analysis.representations import module_vectors
    from crnn.app import backend
    from crnn.app.backend import speaker_probabilities
    from crnn.analysis.speaker_head import HEAD_FILE, SpeakerAdaptedHead, save_head
    from crnn.core.checkpoint import load_checkpoint

    folder = models_dir / "fst_cldnn_logmel"
    model, card = load_checkpoint(folder)
    width = module_vectors(model, [np.zeros(16000, np.float32)])["rnn"].shape[1]
    head = SpeakerAdaptedHead(C=1.0)
    head.classes_ = np.array(LABELS)
    head.coef_, head.intercept_ = np.zeros((len(LABELS), width)), np.eye(len(LABELS))[LABELS.index("calm")]
    save_head(head, {"weights_sha256": card["weights_sha256"], "clips_needed": 2}, folder)
    try:
        app.run()
        _clean(app, "1_listen with a speaker head")
        assert any("against 1 or more other clips" in e.label for e in app.expander)
        assert any("1 clip(s) of this speaker so far" in i.value for i in app.info)
        name, data = _example_bytes()
        runs = []
        monkeypatch.setattr(backend, "speaker_probabilities", lambda *a: runs.append(1) or speaker_probabilities(*a))
        app.file_uploader(key="speaker_clips").set_value(
            [(name, data, "audio/flac"), ("notes.wav", b"not audio", "audio/wav")]).run()
        assert len(app.error) == 1 and "notes.wav" in app.error[0].value  # one sentence for the bad file
        adapted = [m for m in app.main.metric if "Knowing the speaker (2 clips)" in m.label]
        assert adapted and adapted[0].value.endswith("calm")  # the head's bias decides
        app.run()
        assert len(runs) == 1, "a rerun of page 1 with the same clips ran the model over them again"
        if RAVDESS.is_dir():  # the example is a RAVDESS recording: its actor's other recordings can be used
            app.toggle(key="speaker_corpus").set_value(True).run()
            assert not app.exception and len(app.error) == 1  # still only the bad upload's sentence
            assert any("Knowing the speaker (61 clips)" in m.label for m in app.main.metric)  # 1 + 1 upload + 59
        save_head(head, {"weights_sha256": "other weights", "clips_needed": 2}, folder)  # a stale head
        app.run()
        _clean(app, "1_listen with a stale speaker head")
        assert not any("other clips" in e.label for e in app.expander)
    finally:
        (folder / HEAD_FILE).unlink()
    app.run()
    assert not any("other clips" in e.label for e in app.expander)


def test_the_server_runs_no_full_garbage_collection_after_every_script_run():
    """Streamlit's default gc.collect(2) after every run walks every object of the server while holding the GIL
    (torch, scikit-learn and plotly loaded), stalling every other visitor (round 10, py-spy under load)."""
    import tomllib

    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert settings["runner"]["postScriptGC"] is False


def test_the_sidebar_lists_the_models_without_parsing_their_cards(monkeypatch, models_dir):
    """The sidebar runs on every script run of every visitor; parsing every shipped card each time held the GIL
    that the other visitors' runs need (round 10, a profile under load)."""
    import json

    from crnn.app.models import model_choices

    monkeypatch.setenv("CRNN_LENS_MODELS", str(models_dir))
    monkeypatch.setattr(json, "loads", lambda *a, **k: pytest.fail("a card was parsed"))
    monkeypatch.setattr(json, "load", lambda *a, **k: pytest.fail("a card was parsed"))
    choices = model_choices()
    assert TEST_MODEL in choices and any("(shipped)" in label for label in choices) == (ROOT / "checkpoints").is_dir()


def test_page_1_and_the_zoo_build_their_figures_once_per_clip_and_model(app, monkeypatch):
    """Reruns (any widget change, or coming back to a page) reuse the built figures: building them held the GIL
    that every visitor's run needs (round 10, py-spy under `crnn bench --load`)."""
    import crnn.app
    from crnn.app import backend

    built = []
    for name in ("features_figure", "probability_figure", "over_time_figure", "filters_figure"):
        original = getattr(backend, name)
        for module in (backend, crnn.app):  # the pages may reach a figure through either
            if hasattr(module, name):
                monkeypatch.setattr(module, name, lambda *a, _f=original, _n=name, **k: built.append(_n) or _f(*a, **k))
    from crnn.app.zoo import filter_figures
    from crnn.core.audio import load_audio

    filter_figures.clear()  # built for this model by an earlier test
    wave = load_audio(EXAMPLES / _example_bytes()[0])
    buffer = io.BytesIO()  # a clip no earlier test drew: the figure caches are shared by the whole server
    sf.write(buffer, 0.5 * wave + np.random.default_rng(7).normal(0, 1e-3, len(wave)), 16000, format="WAV")
    app.file_uploader(key="listen_upload").set_value(("figures_once.wav", buffer.getvalue(), "audio/wav")).run()
    _clean(app, "1_listen after an upload")
    first = sorted(built)
    assert "features_figure" in first and "probability_figure" in first
    app.run()
    app.switch_page("pages/6_zoo.py").run()
    app.switch_page("pages/6_zoo.py").run()
    app.switch_page("pages/1_listen.py").run()
    _clean(app, "1_listen, back again")
    assert sorted(built) == sorted(first + ["filters_figure"]), built


def test_page_2_hands_every_run_the_same_module_figure():
    """The twelve-panel figure is not copied out of a cache on every visit (round 11: that unpickling held the GIL)."""
    from test_probe import synthetic_reps

    from crnn.app import cached

    reps = synthetic_reps()
    first = cached.probe_figure(reps, None, "figure-once", "synthetic", "lda")
    assert cached.probe_figure(reps, None, "figure-once", "synthetic", "lda") is first
    assert cached.probe_figure(reps, None, "figure-once-other-model", "synthetic", "lda") is not first
