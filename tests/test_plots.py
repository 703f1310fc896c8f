"""Display figures of crnn.plots: what they draw matches the numbers they are given."""

import numpy as np
import pytest
import torch

from crnn import plots
from crnn.analysis.explain import Explanation
from crnn.analysis.predict import display_features
from crnn.core.features import dct_matrix, frame_times, n_frames
from crnn.core.models import build_model


def tone(seconds: float = 0.8) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_features_share_one_time_axis():
    wave = tone()
    fig = plots.features_figure(wave, display_features(wave))
    wave_trace, logmel, mfcc = fig.data
    assert logmel.z.shape == (40, n_frames(len(wave))) and mfcc.z.shape == (13, n_frames(len(wave)))
    np.testing.assert_allclose(logmel.x, frame_times(n_frames(len(wave))))
    assert wave_trace.x[-1] <= len(wave) / 16000
    np.testing.assert_allclose(mfcc.z.std(axis=1), 1.0, atol=1e-3)  # standardised per coefficient


def test_probabilities_and_confusion():
    fig = plots.probability_figure({"anger": 0.1, "calm": 0.7, "fear": 0.2}, label_format=str.upper)
    assert list(fig.data[0].y) == ["ANGER", "FEAR", "CALM"]  # most likely drawn last, i.e. on top
    report = {"labels": ["a", "b"], "confusion": [[3, 1], [0, 2]]}
    heat = plots.confusion_figure(report).data[0]
    np.testing.assert_allclose(heat.z, [[0.75, 0.25], [0.0, 1.0]])
    assert heat.text.tolist() == [[3, 1], [0, 2]]


@pytest.fixture(scope="module")
def s_filters():
    torch.manual_seed(0)
    return build_model("s_cldnn_logmel", 4).first_layer_filters()


def test_filter_panels(s_filters):
    fig = plots.filters_figure(s_filters, max_filters=6, cols=3)
    assert len(fig.data) == 6 and all(t.type == "heatmap" for t in fig.data)
    np.testing.assert_array_equal(fig.data[2].z, s_filters["weights"][2])
    waveform = build_model("raw_crnn", 4).first_layer_filters()
    line = plots.filters_figure(waveform, max_filters=2).data[1]
    assert line.type == "scatter" and line.x[-1] == pytest.approx(79 / 16)  # 80 taps at 16 kHz, in ms


def test_spectral_filters_beside_the_dct_of_as_many_bands(s_filters):
    learned, basis = plots.dct_comparison_figure(s_filters).data
    np.testing.assert_allclose(basis.z, dct_matrix(n_mels=8, n_mfcc=8))
    profile = s_filters["weights"][0, :, 0]
    np.testing.assert_allclose(learned.z[0], profile / np.abs(profile).max(), rtol=1e-5)
    fst = build_model("fst_cldnn_logmel", 4).first_layer_filters()
    np.testing.assert_allclose(plots.dct_comparison_figure(fst).data[1].z, dct_matrix())  # paper 001 Eq. 12
    with pytest.raises(ValueError):
        plots.dct_comparison_figure(build_model("t_cldnn_logmel", 4).first_layer_filters())


def test_attributions_are_drawn_under_their_spectrogram():
    T = 50
    rng = np.random.default_rng(0)
    expl = Explanation(
        method="saliency", target=1, target_label="calm", probabilities=np.array([0.3, 0.7]), feature_kind="mfcc",
        attributions=rng.normal(size=(T, 13)), times=frame_times(T), frame_attribution=rng.random(T),
        spectrogram=rng.normal(size=(T, 40)),
        modules={"rnn": {"total": 1.0, "abs_total": 1.0, "delta": 0.0, "times": frame_times(T), "per_time": np.ones(T)}},
    )  # fmt: skip
    fig = plots.attribution_heatmap(expl)
    spectrogram, attribution, conductance = fig.data
    np.testing.assert_array_equal(spectrogram.z, expl.spectrogram.T)
    np.testing.assert_array_equal(attribution.z, expl.attributions.T)
    low, high = fig.layout.yaxis2.domain  # the colour bar spans the attribution panel only
    bar = attribution.colorbar
    assert low <= bar.y - bar.len / 2 + 1e-9 and bar.y + bar.len / 2 <= high + 1e-9
    assert fig.layout.legend.yref == "container" and fig.layout.legend.y == 0  # under the axis, not over the bar
    assert conductance.name == plots.MODULE_TITLES["rnn"] and max(abs(conductance.y)) == 1  # each line to its peak
