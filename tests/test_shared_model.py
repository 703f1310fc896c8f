"""One model in memory, several visitors at once: hooks stay in their own thread, predictions take no lock."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from tiny_model import TinyModel
from torch import nn

from crnn.analysis.explain import FeatureModel
from crnn.analysis.predict import predict_file
from crnn.core.hooks import this_thread_only

LABELS = ["anger", "calm", "sadness"]


def _in_thread(fn, timeout_s: float = 60.0):
    out: dict = {}
    thread = threading.Thread(target=lambda: out.setdefault("value", fn()), daemon=True)
    thread.start()
    thread.join(timeout_s)
    return out.get("value", "still running")


def _model_and_clip() -> tuple[nn.Module, np.ndarray]:
    torch.manual_seed(0)
    wave = (0.1 * np.random.default_rng(0).standard_normal(24000)).astype(np.float32)  # 1.5 s
    return TinyModel(len(LABELS)).eval(), wave


def test_a_hook_acts_only_in_the_thread_that_registered_it():
    layer = nn.Identity()
    layer.register_forward_hook(this_thread_only(lambda module, args, out: torch.zeros_like(out)))
    x = torch.ones(3)
    assert torch.equal(layer(x), torch.zeros(3))  # this thread: replaced
    assert torch.equal(_in_thread(lambda: layer(x)), x)  # another thread: untouched


def test_a_prediction_is_untouched_by_an_attribution_running_on_the_same_model():
    """An attribution replaces the front-end's output through a hook while it runs; a visitor's prediction on the
    same model at that moment must still see its own clip (it saw the attribution's features before round 10)."""
    model, wave = _model_and_clip()
    card = {"labels": LABELS}
    alone = predict_file(model, card, wave)["probabilities"]
    fm = FeatureModel(model, torch.from_numpy(wave))
    other_features = torch.full_like(fm.features(), 3.0)
    inside, go_on = threading.Event(), threading.Event()

    def attribution() -> None:  # paused at the model's head, with the front-end hook in place
        def pause(module, args, out):
            inside.set()
            go_on.wait(60)

        handle = model.head.register_forward_hook(this_thread_only(pause))
        try:
            fm(other_features)
        finally:
            handle.remove()

    thread = threading.Thread(target=attribution, daemon=True)
    thread.start()
    try:
        assert inside.wait(60), "the attribution never reached the model's head"
        during = predict_file(model, card, wave)["probabilities"]
    finally:
        go_on.set()
        thread.join(60)
    assert during == pytest.approx(alone, abs=1e-6)


def test_a_prediction_in_the_app_does_not_wait_for_another_visitors_analysis():
    """Page 1's prediction must not queue behind another session's attribution or noise sweep (which hold the
    model's lock for seconds under load)."""
    pytest.importorskip("streamlit")
    from crnn.app import cached
    from crnn.app.models import LoadedModel

    model, wave = _model_and_clip()
    lm = LoadedModel(folder=None, model=model, card={"labels": LABELS}, key="tiny-for-locks")
    with lm.lock:  # another visitor's analysis is running
        result = _in_thread(lambda: cached.predict(lm, lm.key, wave), timeout_s=30)
    assert isinstance(result, dict) and set(result["probabilities"]) == set(LABELS), result
