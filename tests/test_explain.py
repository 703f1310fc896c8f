"""Attributions: IG completeness, Saliency, module conductance, waveform models."""

import numpy as np
import pytest
import torch
from tiny_model import TinyModel
from torch import Tensor, nn

from crnn.analysis.explain import FeatureModel, explain
from crnn.core.features import FrontEnd, n_frames
from crnn.core.models.base import SERModel, wave_frames

SR = 16000


class TinyWave(SERModel):
    """Raw wave → strided Conv1d (one 10 ms step) → LSTM → mean → linear."""

    def __init__(self, n_classes: int = 3) -> None:
        super().__init__()
        self._save_config(locals())
        self.feature_kind = "waveform"
        self.frontend = FrontEnd("waveform")
        self.conv = nn.Conv1d(1, 4, 160, stride=160)
        self.rnn = nn.LSTM(4, 5, batch_first=True, bidirectional=True)
        self.head = nn.Linear(10, n_classes)

    def module_outputs(self, wave: Tensor) -> dict[str, Tensor]:
        x = self.frontend(wave)  # (B, N)
        c = torch.tanh(self.conv(x[:, None])).transpose(1, 2)  # (B, T, 4)
        r, _ = self.rnn(c)  # (B, T, 10)
        m = r.mean(dim=1)
        return {"input": wave_frames(x), "cnn": c, "rnn": r, "mlp": m, "logits": self.head(m)}


def clip(seconds=0.5, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * 200 * t) * (t > 0.2) + 0.02 * rng.normal(size=len(t))).astype(np.float32)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return TinyModel(4, hidden=6).eval()


def test_feature_model_reproduces_the_model(model):
    wave = torch.from_numpy(clip())
    fm = FeatureModel(model, wave)
    with torch.no_grad():
        np.testing.assert_allclose(fm(fm.features()).numpy(), model(wave[None]).numpy(), atol=1e-6)


def test_integrated_gradients_completeness(model):
    wave = clip()
    e = explain(model, wave, target=2, n_steps=32, layers=True)
    assert e.attributions.shape == (n_frames(len(wave)), 40)
    assert e.target == 2 and e.probabilities.shape == (4,)
    # Completeness: Σ attributions = F(x) − F(baseline), up to the quadrature error Captum reports.
    assert e.attributions.sum() == pytest.approx(e.output_difference, abs=0.02 * abs(e.output_difference) + 1e-4)
    assert abs(e.delta) <= 0.02 * abs(e.output_difference) + 1e-4
    assert abs(e.output_difference) > 1e-3  # the test is not trivially 0 ≈ 0
    for name in ("cnn", "rnn", "mlp"):  # every module cuts the graph, so each carries the whole difference
        assert e.modules[name]["total"] == pytest.approx(e.output_difference, abs=0.05 * abs(e.output_difference))
    assert len(e.modules["rnn"]["per_time"]) == e.modules["rnn"]["times"].shape[0] > 1
    assert len(e.frame_attribution) == len(e.times) == e.attributions.shape[0]
    d = e.to_dict()
    assert d["target"] == 2 and set(d["modules"]) >= {"cnn", "rnn", "mlp"}


def test_default_target_label_and_saliency(model):
    wave = clip(seed=1)
    with torch.no_grad():
        predicted = int(model(torch.from_numpy(wave)[None]).argmax())
    labels = ["anger", "happiness", "neutral", "sadness"]
    e = explain(model, wave, method="saliency", labels=labels)
    assert e.target == predicted and e.target_label == labels[predicted]
    assert (e.attributions >= 0).all() and e.delta is None
    assert explain(model, wave, target="sadness", labels=labels, method="saliency").target == 3
    with pytest.raises(ValueError):
        explain(model, wave, target="boredom", labels=labels)
    assert model.training is False


def test_waveform_model_attributions_per_frame():
    from crnn.plots import attribution_heatmap

    torch.manual_seed(1)
    model = TinyWave().eval()
    wave = clip(0.4)
    e = explain(model, wave, target=0, n_steps=16)
    assert e.attributions.shape == wave.shape
    assert len(e.frame_attribution) == len(wave) // 160
    np.testing.assert_allclose(e.frame_attribution[3], np.abs(e.attributions[480:640]).sum(), rtol=1e-5)
    assert e.spectrogram.shape == (n_frames(len(wave)), 40)
    assert e.attributions.sum() == pytest.approx(e.output_difference, abs=0.05 * abs(e.output_difference) + 1e-4)
    fig = attribution_heatmap(e)
    assert fig.data[0].type == "heatmap" and fig.data[1].type == "scatter"


def test_target_index_takes_names_synonyms_and_digits():
    from crnn.analysis.explain import target_index

    labels = ["anger", "happiness", "neutral"]
    assert target_index(None, labels) is None
    assert target_index("happiness", labels) == target_index("happy", labels) == target_index("1", labels) == 1
    assert target_index(2, None, n_classes=3) == 2
    for bad in ("sadness", "cheerful", 3):
        with pytest.raises(ValueError):
            target_index(bad, labels)


@pytest.mark.parametrize("steps_per_pass", [1, 3, 8])
def test_attributions_do_not_depend_on_how_many_steps_share_a_pass(model, monkeypatch, steps_per_pass):
    """The path is walked STEPS_PER_PASS copies at a time to bound memory; the sums must be those of one pass."""
    import crnn.analysis.explain as explain_module

    wave = clip()
    monkeypatch.setattr(explain_module, "STEPS_PER_PASS", 1000)
    whole = explain(model, wave, target=1, n_steps=10, layers=True)
    monkeypatch.setattr(explain_module, "STEPS_PER_PASS", steps_per_pass)
    parts = explain(model, wave, target=1, n_steps=10, layers=True)
    np.testing.assert_allclose(parts.attributions, whole.attributions, rtol=1e-4, atol=1e-6)
    assert parts.modules.keys() == whole.modules.keys() and parts.delta == pytest.approx(whole.delta, abs=1e-5)
    for name, module in whole.modules.items():
        np.testing.assert_allclose(parts.modules[name]["per_time"], module["per_time"], rtol=1e-4, atol=1e-6)
        assert parts.modules[name]["delta"] == pytest.approx(module["delta"], abs=1e-5)
