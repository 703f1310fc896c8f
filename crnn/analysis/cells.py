"""Which LSTM cells follow prosody? (paper 002 Sec. 4, Fig. 2)

Paper 002 shows cells of its raw-waveform CRNN whose activations track the
range of RMS energy (ρ = 0.81), loudness (0.73) and mean F0 (0.72). Here every
cell state ``c`` and gate ``i``, ``f``, ``g``, ``o`` of every recurrent layer
(both directions) is put on the 10 ms prosody grid of
:func:`crnn.core.prosody.prosody_tracks` and correlated (Pearson r) with each
prosodic track; unvoiced frames are left out for F0. Over a corpus, the mean
r of each cell and how often it is the best cell for a feature are reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from crnn.core.cache import Progress
from crnn.core.defaults import SAMPLE_RATE
from crnn.core.features import frame_times, n_frames
from crnn.core.prosody import FEATURES, prosody_tracks

STATES = ("c", "i", "f", "g", "o")
COLUMNS = ["layer", "state", "direction", "unit", "feature", "r", "n_frames"]


@dataclass
class CellReport:
    """Cells × prosodic features for one utterance.

    ``table``: one row per (layer, state, direction, unit, feature) with
    Pearson ``r`` and the number of frames used, sorted by |r| (largest
    first). ``times`` (T,) seconds; ``tracks`` the prosodic tracks (T,);
    ``states`` maps "<layer>/<state>" to its activations on the same grid,
    (T, D, H).
    """

    table: pd.DataFrame
    times: np.ndarray
    tracks: dict[str, np.ndarray]
    states: dict[str, np.ndarray]

    def track(self, layer: str, state: str, direction: int, unit: int) -> np.ndarray:
        """One cell's activation on the prosody grid, (T,)."""
        return self.states[f"{layer}/{state}"][:, direction, unit]

    def top(self, feature: str | None = None, k: int = 10) -> pd.DataFrame:
        """The ``k`` rows of largest |r|, for one feature or all."""
        rows = self.table if feature is None else self.table[self.table.feature == feature]
        return rows.dropna(subset=["r"]).head(k).reset_index(drop=True)


def _on_grid(values: np.ndarray, n_grid: int, n_samples: int) -> np.ndarray:
    """States (T_s, ...) → (n_grid, ...) on the 10 ms prosody grid by linear interpolation.

    A layer on the front-end's frame grid (T_s == n_grid) is used as is;
    any other layer's T_s steps are taken to tile the utterance evenly,
    step k centred at (k + ½)·duration / T_s seconds.
    """
    T = values.shape[0]
    if T == n_grid:
        return values
    src = (np.arange(T) + 0.5) * (n_samples / SAMPLE_RATE) / T
    dst = frame_times(n_grid)
    pos = np.interp(dst, src, np.arange(T, dtype=np.float64))  # fractional step index, clamped at the ends
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, T - 1)
    frac = (pos - lo).reshape((n_grid,) + (1,) * (values.ndim - 1))
    return values[lo] * (1.0 - frac) + values[hi] * frac


def pearson(track: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, int]:
    """Pearson r of a (T,) track with each column of ``cells`` (T, K) over frames where the track is finite.

    Returns (r (K,), frames used); r is NaN for a constant column or track.
    """
    ok = np.isfinite(track)
    if ok.sum() < 3:
        return np.full(cells.shape[1], np.nan), int(ok.sum())
    x = track[ok] - track[ok].mean()
    Y = cells[ok] - cells[ok].mean(axis=0)
    denom = np.sqrt((x**2).sum() * (Y**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (x @ Y) / denom
    r[denom < 1e-12] = np.nan
    return r, int(ok.sum())


@torch.no_grad()
def cell_states(model: torch.nn.Module, wave: np.ndarray) -> dict[str, np.ndarray]:
    """Every recurrent layer's c, i, f, g, o for ``wave`` (N,) at 16 kHz on the 10 ms grid: "<layer>/<state>" → (T, D, H).

    D is the number of directions, H the units per direction.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        layers = model.lstm_states(torch.from_numpy(np.asarray(wave, np.float32))[None].to(device))
    finally:
        model.train(was_training)
    n_grid = n_frames(len(wave))
    out: dict[str, np.ndarray] = {}
    for name, st in layers.items():
        for s in STATES:
            values = getattr(st, s)[0].float().cpu().numpy()  # (T_s, D, H)
            out[f"{name}/{s}"] = _on_grid(values, n_grid, len(wave))
    return out


def cell_correlations(
    model: torch.nn.Module,
    wave: np.ndarray,
    tracks: dict[str, np.ndarray] | None = None,
    features: Sequence[str] = FEATURES,
) -> CellReport:
    """Pearson r of every LSTM cell state and gate with every prosodic track of one utterance.

    ``wave``: (N,) float32 at 16 kHz. ``tracks`` defaults to
    :func:`crnn.core.prosody.prosody_tracks` of the wave (pass them to reuse).
    """
    tracks = prosody_tracks(wave) if tracks is None else tracks
    states = cell_states(model, wave)
    parts = []
    for key, values in states.items():
        layer, state = key.rsplit("/", 1)
        T, D, H = values.shape
        flat = values.reshape(T, D * H).astype(np.float64)
        cell = np.arange(D * H)
        for feature in features:
            r, used = pearson(np.asarray(tracks[feature], np.float64), flat)
            parts.append(pd.DataFrame({
                "layer": layer, "state": state, "direction": cell // H, "unit": cell % H,
                "feature": feature, "r": r, "n_frames": used,
            }))
    table = pd.concat(parts, ignore_index=True)[COLUMNS]
    table = table.reindex(table.r.abs().sort_values(ascending=False, na_position="last").index).reset_index(drop=True)
    return CellReport(table=table, times=np.asarray(tracks["times"]), tracks=tracks, states=states)


def top_cells(report_or_table: CellReport | pd.DataFrame, feature: str | None = None, k: int = 10) -> pd.DataFrame:
    """The ``k`` cells of largest |r| (or |mean r| for a corpus table), optionally for one feature."""
    table = report_or_table.table if isinstance(report_or_table, CellReport) else report_or_table
    if feature is not None:
        table = table[table.feature == feature]
    score = "mean_r" if "mean_r" in table.columns else "r"
    table = table.dropna(subset=[score])  # undefined r (constant cell or track) ranks nowhere
    return table.reindex(table[score].abs().sort_values(ascending=False).index).head(k).reset_index(drop=True)


def corpus_cell_correlations(
    model: torch.nn.Module,
    waves: Sequence[np.ndarray],
    features: Sequence[str] = FEATURES,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Cell × feature correlations aggregated over utterances ``waves``, each (N_i,) float32 at 16 kHz.

    One row per (layer, state, direction, unit, feature): ``mean_r`` and
    ``std_r`` over the utterances where r is defined, ``top_count`` (in how
    many utterances this cell had the largest |r| for the feature, over all
    layers, states and cells) and ``n_utterances``. Sorted by |mean_r|.
    ``progress`` receives ``{"event": "cells", "done", "total"}`` (utterances).
    """
    keys = ["layer", "state", "direction", "unit", "feature"]
    tables = []
    for n, wave in enumerate(waves):
        table = cell_correlations(model, wave, features=features).table
        table["utterance"] = n
        table["top"] = False
        best = table.dropna(subset=["r"]).groupby("feature").head(1).index  # tables are sorted by |r|
        table.loc[best, "top"] = True
        tables.append(table)
        if progress:
            progress({"event": "cells", "done": n + 1, "total": len(waves)})
    allrows = pd.concat(tables, ignore_index=True)
    agg = allrows.groupby(keys, sort=False).agg(
        mean_r=("r", "mean"), std_r=("r", "std"), top_count=("top", "sum"), n_utterances=("r", "count")
    )
    agg = agg.reset_index()
    agg["top_count"] = agg["top_count"].astype(int)
    return agg.reindex(agg.mean_r.abs().sort_values(ascending=False).index).reset_index(drop=True)
