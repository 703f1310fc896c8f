"""Cell ablation: clamp LSTM cells that follow a prosodic feature and measure what the model loses.

A correlation between a cell and loudness (:mod:`crnn.analysis.cells`) does
not say the model *uses* that cell: an untrained LSTM's cells follow loudness
too. Here the top-k cells are clamped to a constant (their corpus mean, or
zero) at every time step of the forward pass, and the change of the UA and of
each class's recall is compared with clamping k cells drawn at random from the
same layers, states and directions (repeated; mean ± sd).

The intervention point is each ``nn.LSTM`` of ``model.recurrent_layers()``: a
forward hook replaces its output with an unrolled recurrence (torch's
equations and gate order, as :mod:`crnn.core.lstm`) in which the chosen units
of the cell state ``c`` (or of one gate, ``i``, ``f``, ``g``, ``o``) are
overwritten at every step before they feed the next one. Layers whose states
are reshaped for display (paper 003's patch LSTM) and non-LSTM recurrences
(paper 000's window layers) are not clamped and not ranked. All variants of
one utterance (unclamped, top-k, each random draw) run as one batch, each
row with its own mask, so the unclamped row is the model's own prediction.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from crnn.analysis.cells import cell_states, pearson
from crnn.core.cache import Progress
from crnn.core.hooks import this_thread_only
from crnn.core.prosody import prosody_tracks

STATES = ("c", "i", "f", "g", "o")
Cell = tuple[str, int, int]  # ("<module>.layer<k>", direction, unit)


def clampable_layers(model: nn.Module) -> dict[str, nn.LSTM]:
    """The ``nn.LSTM`` modules of ``model.recurrent_layers()`` that can be clamped, by display name."""
    layers = model.recurrent_layers() if hasattr(model, "recurrent_layers") else {}
    return {name: m for name, m in layers.items() if isinstance(m, nn.LSTM)}


def _step(gates: Tensor, c: Tensor, state: str, mask: Tensor | None, value: Tensor | None) -> tuple[Tensor, ...]:
    """One LSTM step from pre-activations (B, 4H); ``mask`` (B, H) picks the units of ``state`` set to ``value``.

    Few, fused operations: the loop runs once per frame, so each kernel call counts.
    """
    H = c.shape[-1]
    sig = torch.sigmoid(gates)  # i, f and o; the g block is replaced below
    i, f, o = sig[:, :H], sig[:, H : 2 * H], sig[:, 3 * H :]
    g = torch.tanh(gates[:, 2 * H : 3 * H])
    if mask is not None and state != "c":
        parts = {"i": i, "f": f, "g": g, "o": o}
        parts[state] = torch.where(mask, value, parts[state])
        i, f, g, o = parts["i"], parts["f"], parts["g"], parts["o"]
    c = torch.addcmul(f * c, i, g)
    if mask is not None and state == "c":
        c = torch.where(mask, value, c)
    return o * torch.tanh(c), c


def _direction(lstm: nn.LSTM, x: Tensor, layer: int, d: int, clamp: tuple | None) -> tuple[Tensor, Tensor]:
    """One layer and direction over x (B, T, F) → (h (B, T, P), c_last (B, H)); ``clamp`` = (state, mask, value)."""
    sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
    if clamp is None and lstm.proj_size == 0:  # nothing to clamp here: torch's fused kernel, same equations
        return _fused_direction(lstm, x, sfx, d)
    x_proj = x @ getattr(lstm, "weight_ih" + sfx).T
    if lstm.bias:
        x_proj = x_proj + getattr(lstm, "bias_ih" + sfx) + getattr(lstm, "bias_hh" + sfx)
    w_hh = getattr(lstm, "weight_hh" + sfx)
    w_hh_t = w_hh.T.contiguous()  # (P, 4H)
    w_hr = getattr(lstm, "weight_hr" + sfx) if lstm.proj_size > 0 else None
    B, T, _ = x.shape
    h = x.new_zeros(B, w_hh.shape[1])
    c = x.new_zeros(B, lstm.hidden_size)
    state, mask, value = clamp if clamp is not None else ("c", None, None)
    outs: list[Tensor] = [None] * T  # type: ignore[list-item]
    for t in (range(T - 1, -1, -1) if d == 1 else range(T)):
        h, c = _step(torch.addmm(x_proj[:, t], h, w_hh_t), c, state, mask, value)
        if w_hr is not None:
            h = h @ w_hr.T
        outs[t] = h
    return torch.stack(outs, dim=1), c


def _fused_direction(lstm: nn.LSTM, x: Tensor, sfx: str, d: int) -> tuple[Tensor, Tensor]:
    """One unclamped direction of one layer by ``torch.lstm`` (a backward one on the time-reversed input)."""
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if lstm.bias else [])
    weights = [getattr(lstm, name + sfx) for name in names]
    xs = x.flip(1) if d == 1 else x
    zeros = x.new_zeros(1, x.shape[0], lstm.hidden_size)
    out, _, c_last = torch.lstm(xs, (zeros, zeros), weights, lstm.bias, 1, 0.0, False, False, True)
    return (out.flip(1) if d == 1 else out), c_last[0]


def clamped_lstm(lstm: nn.LSTM, x: Tensor, clamps: dict[tuple[int, int], tuple]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """``lstm(x)`` (zero initial state, eval mode) with units clamped: same return value as ``nn.LSTM``.

    ``clamps[(layer, direction)] = (state, mask (B, H) bool, value (B, H))``.
    """
    if not lstm.batch_first:
        x = x.transpose(0, 1)
    D = 2 if lstm.bidirectional else 1
    h_n, c_n = [], []
    for layer in range(lstm.num_layers):
        runs = [_direction(lstm, x, layer, d, clamps.get((layer, d))) for d in range(D)]
        x = torch.cat([h for h, _ in runs], dim=-1)
        h_n += [runs[d][0][:, -1 if d == 0 else 0] for d in range(D)]
        c_n += [c for _, c in runs]
    out = x if lstm.batch_first else x.transpose(0, 1)
    return out, (torch.stack(h_n), torch.stack(c_n))


@dataclass
class Ranking:
    """Cells of one state ranked by |mean r| with a prosodic feature over a corpus sample.

    ``table``: layer, direction, unit, mean_r, n_utterances, mean (the cell's
    mean activation over all frames of the sample), sorted by |mean_r|.
    """

    feature: str
    state: str
    table: pd.DataFrame

    def top(self, k: int) -> list[Cell]:
        rows = self.table.dropna(subset=["mean_r"]).head(k)
        return [(r.layer, int(r.direction), int(r.unit)) for r in rows.itertuples()]

    def means(self) -> dict[Cell, float]:
        return {(r.layer, int(r.direction), int(r.unit)): float(r.mean) for r in self.table.itertuples()}


def rank_cells(model: nn.Module, waves: Sequence[np.ndarray], feature: str, state: str = "c",
               progress: Progress | None = None) -> Ranking:
    """Rank every clampable cell's ``state`` by |mean Pearson r| with ``feature`` over ``waves`` (each (N,) at 16 kHz).

    ``feature`` is a key of :func:`crnn.core.prosody.prosody_tracks` ("f0_hz",
    "loudness", "rms", "rms_range"); ``progress`` gets {"event": "rank", "done", "total"}.
    """
    widths = {name: (2 if m.bidirectional else 1) * m.hidden_size for name, m in clampable_layers(model).items()}
    rs: dict[str, list[np.ndarray]] = {}
    sums: dict[str, np.ndarray] = {}
    frames = 0
    for n, wave in enumerate(waves):
        track = np.asarray(prosody_tracks(wave)[feature], np.float64)
        for key, values in cell_states(model, wave).items():
            layer, s = key.rsplit("/", 1)
            flat = values.reshape(len(values), -1).astype(np.float64)  # (T, D·H)
            # skip other states, non-LSTM recurrences, and states reshaped for display (a patch LSTM over B × patches)
            if s != state or widths.get(layer.rsplit(".layer", 1)[0]) != flat.shape[1]:
                continue
            rs.setdefault(layer, []).append(pearson(track, flat)[0])
            sums[layer] = sums.get(layer, 0.0) + flat.sum(axis=0)
        frames += len(track)
        if progress:
            progress({"event": "rank", "done": n + 1, "total": len(waves)})
    parts = []
    for layer, rows in rs.items():
        r = np.vstack(rows)
        H = r.shape[1] // _directions(model, layer)
        cell = np.arange(r.shape[1])
        with warnings.catch_warnings():  # a cell constant on every clip has no r: NaN, ranked last
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_r = np.nanmean(r, axis=0)
        parts.append(pd.DataFrame({"layer": layer, "direction": cell // H, "unit": cell % H, "mean_r": mean_r,
                                   "n_utterances": np.isfinite(r).sum(axis=0), "mean": sums[layer] / max(frames, 1)}))
    if not parts:
        raise ValueError("the model has no LSTM layer whose cells can be clamped")
    table = pd.concat(parts, ignore_index=True)
    table = table.reindex(table.mean_r.abs().sort_values(ascending=False, na_position="last").index)
    return Ranking(feature=feature, state=state, table=table.reset_index(drop=True))


def _directions(model: nn.Module, layer: str) -> int:
    return 2 if clampable_layers(model)[layer.rsplit(".layer", 1)[0]].bidirectional else 1


def random_cells(ranking: Ranking, top: list[Cell], n_draws: int, seed: int = 0) -> list[list[Cell]]:
    """``n_draws`` sets of random cells, each matching ``top``'s count per (layer, direction), never one of ``top``."""
    rng = np.random.default_rng(seed)
    pool = ranking.table[["layer", "direction", "unit"]]
    chosen = set(top)
    need: dict[tuple[str, int], int] = {}
    for layer, d, _ in top:
        need[(layer, d)] = need.get((layer, d), 0) + 1
    draws = []
    for _ in range(n_draws):
        cells: list[Cell] = []
        for (layer, d), k in need.items():
            units = sorted(int(u) for u in pool[(pool.layer == layer) & (pool.direction == d)].unit
                           if (layer, d, int(u)) not in chosen)  # unit order, not rank order: draws stay put
            cells += [(layer, d, int(u)) for u in rng.choice(units, size=min(k, len(units)), replace=False)]
        draws.append(cells)
    return draws


def _clamps(model: nn.Module, variants: list[list[Cell]], values: dict[Cell, float], state: str) -> dict[str, dict]:
    """Per LSTM module: {(layer, direction): (state, mask (V, H), value (V, H))} for the variants' cells."""
    lstms = clampable_layers(model)
    out: dict[str, dict] = {}
    for v, cells in enumerate(variants):
        for layer, d, unit in cells:
            module, k = layer.rsplit(".layer", 1)
            H = lstms[module].hidden_size
            entry = out.setdefault(module, {}).setdefault((int(k), d), (state, torch.zeros(len(variants), H, dtype=torch.bool),
                                                                        torch.zeros(len(variants), H)))
            entry[1][v, unit] = True
            entry[2][v, unit] = values.get((layer, d, unit), 0.0)
    return out


@torch.no_grad()
def ablated_logits(model: nn.Module, waves: Sequence[np.ndarray], variants: list[list[Cell]],
                   values: dict[Cell, float], state: str = "c", progress: Progress | None = None) -> np.ndarray:
    """Logits (n_waves, n_variants, K): each wave run once per variant with that variant's cells clamped.

    A variant is a list of cells (layer, direction, unit); an empty list is
    the unclamped model. ``values`` gives each cell's clamp value (missing: 0).
    """
    model.eval()
    clamps = _clamps(model, variants, values, state)
    lstms = clampable_layers(model)
    V = len(variants)

    def hook(name: str):
        def replace(module: nn.Module, args: tuple, output: object):
            x = args[0]
            if x.shape[0 if module.batch_first else 1] == 1:  # one copy of the utterance up to here: now one per variant
                x = x.expand(V, -1, -1) if module.batch_first else x.expand(-1, V, -1)
            return clamped_lstm(module, x, clamps[name])
        return replace

    handles = [lstms[name].register_forward_hook(this_thread_only(hook(name))) for name in clamps]
    rows = []
    try:
        for n, wave in enumerate(waves):
            rows.append(_variant_logits(model, torch.from_numpy(np.asarray(wave, np.float32))[None], V))
            if progress:
                progress({"event": "ablate", "done": n + 1, "total": len(waves)})
    finally:
        for handle in handles:
            handle.remove()
    return np.stack(rows)


def _variant_logits(model: nn.Module, wave: Tensor, n_variants: int) -> np.ndarray:
    """(V, K) logits: the layers below the clamped LSTMs run once on ``wave`` (1, N) and the hooks fan out to the
    variants; a model whose later layers need the batch from the start gets the wave V times instead."""
    try:
        logits = model(wave)
        if logits.shape[0] == n_variants:
            return logits.float().cpu().numpy()
    except RuntimeError:
        pass
    return model(wave.expand(n_variants, -1)).float().cpu().numpy()
