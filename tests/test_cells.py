"""Cells vs prosody (paper 002 Sec. 4): a hand-wired LSTM cell that follows the input energy is found."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from crnn.analysis.cells import _on_grid, cell_correlations, corpus_cell_correlations, top_cells
from crnn.core.features import FrontEnd, frame_times, n_frames
from crnn.core.lstm import lstm_states
from crnn.core.models.base import SERModel
from crnn.core.prosody import prosody_tracks

SR = 16000


class EnergyCell(SERModel):
    """Mean log-Mel (B, T, 1) → LSTM with 2 hand-set units → mean → linear.

    Unit 0 copies the energy: input gate open, forget gate shut, candidate
    tanh(0.05 · energy). Unit 1 integrates it: forget gate open. Its
    ``lstm_states`` calls :func:`crnn.core.lstm.lstm_states` directly, so the
    test pins the analysis, not the base class's hooks.
    """

    def __init__(self, n_classes: int = 2) -> None:
        super().__init__()
        self._save_config(locals())
        self.feature_kind = "logmel"
        self.frontend = FrontEnd("logmel", normalize=False)
        self.rnn = nn.LSTM(1, 2, batch_first=True)
        self.head = nn.Linear(2, n_classes)
        with torch.no_grad():
            for p in self.rnn.parameters():
                p.zero_()
            w, b = self.rnn.weight_ih_l0, self.rnn.bias_ih_l0  # rows: i 0-1, f 2-3, g 4-5, o 6-7
            b[0], b[2], w[4, 0] = 10.0, -10.0, 0.05
            b[3], w[5, 0] = 10.0, 0.05
            b[6], b[7] = 10.0, 10.0

    def energy(self, wave: Tensor) -> Tensor:
        return self.frontend(wave).mean(dim=-1, keepdim=True)  # (B, T, 1), nats

    def module_outputs(self, wave: Tensor) -> dict[str, Tensor]:
        e = self.energy(wave)
        r, _ = self.rnn(e)  # (B, T, 2)
        m = r.mean(dim=1)
        return {"input": e, "rnn": r, "mlp": m, "logits": self.head(m)}

    @torch.no_grad()
    def lstm_states(self, wave: Tensor):
        (states,) = lstm_states(self.rnn, self.energy(wave))
        return {"rnn.layer0": replace(states, frame_rate=states.h.shape[1] / (wave.shape[-1] / SR))}


def modulated_noise(seconds=2.0, rate_hz=1.5, seed=0):
    """White noise whose level swings between −30 and −5 dB ``rate_hz`` times a second."""
    t = np.arange(int(seconds * SR)) / SR
    level = -30 + 25 * (0.5 + 0.5 * np.sin(2 * np.pi * rate_hz * t))
    return (10 ** (level / 20) * np.random.default_rng(seed).normal(size=len(t))).astype(np.float32)


def test_energy_cell_is_found():
    model = EnergyCell().eval()
    wave = modulated_noise()
    report = cell_correlations(model, wave)
    T = n_frames(len(wave))
    assert report.states["rnn.layer0/c"].shape == (T, 1, 2)
    best = report.top("rms", k=1).iloc[0]
    assert (best.layer, best.direction, best.unit) == ("rnn.layer0", 0, 0)
    assert best.state in ("c", "g") and best.r > 0.95
    t = report.table
    c_rms = t[(t.state == "c") & (t.feature == "rms")].set_index("unit").r
    assert abs(c_rms[1]) < c_rms[0]
    assert np.isnan(t[t.state == "i"].r).all()  # a constant gate has no correlation, and is not ranked first
    assert report.table.r.abs().is_monotonic_decreasing or report.table.r.isna().any()
    assert top_cells(report, "loudness", k=3).feature.eq("loudness").all()


def test_f0_uses_voiced_frames_only():
    model = EnergyCell().eval()
    wave = modulated_noise(seed=1)
    tracks = prosody_tracks(wave)
    f0 = np.full(len(tracks["times"]), np.nan)
    f0[::3] = 100 + np.arange(len(f0[::3]))
    tracks["f0_hz"] = f0
    table = cell_correlations(model, wave, tracks=tracks).table
    assert (table[table.feature == "f0_hz"].n_frames == np.isfinite(f0).sum()).all()
    assert (table[table.feature == "rms"].n_frames == len(f0)).all()


def test_states_at_another_rate_are_interpolated_onto_the_grid():
    n_samples = SR  # 1 s → 98 grid frames
    steps = 50  # a layer at 50 Hz
    centres = (np.arange(steps) + 0.5) / steps
    values = np.stack([centres, -centres], axis=1)[:, None, :]  # (T_s, 1, 2): each step's own time
    grid = _on_grid(values, n_frames(n_samples), n_samples)
    times = frame_times(n_frames(n_samples))
    inside = (times > centres[0]) & (times < centres[-1])
    np.testing.assert_allclose(grid[inside, 0, 0], times[inside], atol=1e-9)
    np.testing.assert_allclose(grid[inside, 0, 1], -times[inside], atol=1e-9)


def test_corpus_aggregation_and_figures():
    from crnn.plots import cells_overlay, correlation_heatmap

    model = EnergyCell().eval()
    waves = [modulated_noise(seconds=1.0, seed=s, rate_hz=2.0 + s) for s in range(3)]
    table = corpus_cell_correlations(model, waves, features=("rms", "loudness"))
    first = table.iloc[0]
    assert first.unit == 0 and first.mean_r > 0.9 and first.n_utterances == 3
    assert table.groupby("feature").top_count.sum().tolist() == [3, 3]
    assert top_cells(table, "rms", k=1).iloc[0].top_count == 3
    report = cell_correlations(model, waves[0])
    fig = cells_overlay(report, feature="rms")
    assert fig.layout.title.text.endswith(f"r = {report.top('rms', k=1).r.iloc[0]:.2f}") and len(fig.data) == 2
    heat = correlation_heatmap(report, "rnn.layer0", "c")
    assert heat.data[0].z.shape == (2, 4)
    assert heat.data[0].z[list(heat.data[0].y).index("fwd #0")][list(heat.data[0].x).index("rms")] == pytest.approx(
        report.table.query("state == 'c' and unit == 0 and feature == 'rms'").r.iloc[0])


def test_corpus_cells_reads_the_recordings_whole(tmp_path):
    import soundfile as sf

    from crnn.tasks.cells import corpus_cells

    model = EnergyCell().eval()
    silence = np.zeros(SR // 2, np.float32)  # kept: cells are ranked on the recording as it is
    waves = [np.concatenate([silence, modulated_noise(seconds=1.0, seed=s)]) for s in range(2)]
    paths = []
    for k, wave in enumerate(waves):
        paths.append(tmp_path / f"{k}.wav")
        sf.write(paths[-1], wave, SR, subtype="FLOAT")
    events = []
    table = corpus_cells(model, paths, features=("rms",), progress=events.append)
    from crnn.core.audio import load_audio

    expected = corpus_cell_correlations(model, [load_audio(p) for p in paths], features=("rms",))
    np.testing.assert_allclose(table.mean_r.to_numpy(), expected.mean_r.to_numpy(), atol=1e-9)
    assert events[-1] == {"event": "cells", "done": 2, "total": 2}
