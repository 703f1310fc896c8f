"""Plotly figures shared by the CLI (``--figure``) and the app.

Each function takes the result of a library call (probe representations,
a :class:`crnn.cells.CellReport`, an :class:`crnn.explain.Explanation`, a
noise-lab result) and returns a ``plotly.graph_objects.Figure``;
:func:`save_figure` writes it as .html or .png.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from crnn.probe import LABELS, UNKNOWN, Representations, inertia_ratio, lda_projection, umap_projection

MODULE_TITLES = {"input": "Input features", "cnn": "CNN", "rnn": "RNN (BLSTM)", "mlp": "MLP"}
PALETTE = qualitative.Dark24 + qualitative.Light24


def save_figure(fig: go.Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` atomically: ``.html`` (self-contained, works offline) or ``.png`` (kaleido)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".html", ".png"):
        raise ValueError(f"figure file must end in .html or .png, not {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=suffix)
    os.close(fd)
    try:
        if suffix == ".html":
            fig.write_html(tmp, include_plotlyjs=True)
        else:
            fig.write_image(tmp, scale=2)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; a figure is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def probe_grid(
    reps: Representations,
    *,
    method: str = "lda",
    modules: Sequence[str] | None = None,
    labels: Sequence[str] = LABELS,
    seed: int = 0,
) -> go.Figure:
    """Paper 001 Fig. 2: rows emotion / speaker / gender, columns the modules.

    Each panel is an LDA (per label, onto min(n_classes − 1, 2) components;
    a two-class LDA is one axis, drawn as a strip with vertical jitter) or a
    seeded UMAP (``method="umap"``, one per module) of the utterance vectors,
    titled with ρ computed on the standardised representations; class centres
    are labelled; hovering a dot shows its file.
    """
    from sklearn.preprocessing import StandardScaler

    if method not in ("lda", "umap"):
        raise ValueError(f"unknown projection {method!r}; use 'lda' or 'umap'")
    modules = [m for m in (modules or reps.modules) if m in reps.modules]
    titles = [f"{MODULE_TITLES.get(m, m)} · {label}" for label in labels for m in modules]
    fig = make_subplots(rows=len(labels), cols=len(modules), subplot_titles=titles,
                        horizontal_spacing=0.04, vertical_spacing=0.08)
    jitter = np.random.default_rng(seed).uniform(-0.5, 0.5, len(reps))
    for col, module in enumerate(modules, start=1):
        X = reps.modules[module]
        Z_std = StandardScaler().fit_transform(X)
        unsupervised = umap_projection(X, seed=seed) if method == "umap" else None
        for row, label in enumerate(labels, start=1):
            y = reps.labels(label)
            keep = y != UNKNOWN
            classes = np.unique(y[keep])
            index = (row - 1) * len(modules) + col - 1
            if len(classes) < 2:
                fig.layout.annotations[index].text += " · one class"
                continue
            rho = inertia_ratio(Z_std[keep], y[keep])
            fig.layout.annotations[index].text += f" · ρ = {rho:.3f}"
            if unsupervised is not None:
                P = unsupervised[keep]
            else:
                P = lda_projection(X[keep], y[keep])
                if P.shape[1] == 1:
                    P = np.column_stack([P[:, 0], jitter[keep]])
            names = reps.ids[keep]
            for k, c in enumerate(classes):
                sel = y[keep] == c
                colour = PALETTE[k % len(PALETTE)]
                fig.add_trace(go.Scattergl(
                    x=P[sel, 0], y=P[sel, 1], mode="markers", name=str(c), legendgroup=f"{label}:{c}",
                    showlegend=False, marker=dict(size=4, color=colour, opacity=0.6),
                    text=names[sel], hovertemplate=f"{c}<br>%{{text}}<extra></extra>",
                ), row=row, col=col)
                cx, cy = P[sel].mean(axis=0)
                fig.add_trace(go.Scatter(
                    x=[cx], y=[cy], mode="text", text=[str(c)], textfont=dict(color=colour, size=11),
                    showlegend=False, hoverinfo="skip",
                ), row=row, col=col)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(height=300 * len(labels), width=max(700, 300 * len(modules)),
                      title=f"Module representations ({method.upper()}); ρ = ω_i/ω_o, smaller separates better",
                      margin=dict(l=20, r=20, t=80, b=20))
    return fig


def _zscore(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    sd = np.nanstd(x)
    return (x - np.nanmean(x)) / (sd if sd > 0 else 1.0)


def cells_overlay(report, layer: str | None = None, state: str | None = None, direction: int | None = None,
                  unit: int | None = None, feature: str | None = None) -> go.Figure:
    """Paper 002 Fig. 2: one cell's activation over time against a prosodic track (both z-scored).

    Without a cell, the best-correlated row of ``report.table`` (optionally
    for ``feature``) is drawn.
    """
    if layer is None:
        row = report.top(feature, k=1).iloc[0]
        layer, state, direction, unit, feature = row.layer, row.state, int(row.direction), int(row.unit), row.feature
    feature = feature or "rms"
    match = report.table[(report.table.layer == layer) & (report.table.state == state) & (report.table.direction == direction)
                         & (report.table.unit == unit) & (report.table.feature == feature)]
    r = float(match.r.iloc[0]) if len(match) else float("nan")
    cell = report.track(layer, state, direction, unit)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=report.times, y=_zscore(report.tracks[feature]), name=feature, line=dict(color="#444")))
    fig.add_trace(go.Scatter(x=report.times, y=_zscore(cell), name=f"{layer} {state} d{direction} #{unit}",
                             line=dict(color="#d62728")))
    fig.update_layout(title=f"{layer} · {state}[{'fwd' if direction == 0 else 'bwd'}, {unit}] vs {feature}: r = {r:.2f}",
                      xaxis_title="time (s)", yaxis_title="z-score", height=320, legend=dict(orientation="h"))
    return fig


def correlation_heatmap(report_or_table, layer: str | None = None, state: str = "c", k: int = 40) -> go.Figure:
    """Pearson r of cells (rows: the ``k`` with largest max |r|) × prosodic features (columns) for one layer/state."""
    table = getattr(report_or_table, "table", report_or_table)
    value = "mean_r" if "mean_r" in table.columns else "r"
    layer = layer or table.layer.iloc[0]
    sub = table[(table.layer == layer) & (table.state == state)].copy()
    sub["cell"] = sub.direction.map({0: "fwd", 1: "bwd"}) + " #" + sub.unit.astype(str)
    grid = sub.pivot_table(index="cell", columns="feature", values=value, dropna=False)
    grid = grid.loc[grid.abs().max(axis=1).sort_values(ascending=False).index[:k]]
    fig = go.Figure(go.Heatmap(z=grid.values, x=list(grid.columns), y=list(grid.index), zmin=-1, zmax=1,
                               colorscale="RdBu_r", colorbar=dict(title="r")))
    fig.update_layout(title=f"{layer} · {state}: Pearson r with prosody", height=max(300, 16 * len(grid) + 120),
                      yaxis=dict(autorange="reversed"))
    return fig


def attribution_heatmap(expl) -> go.Figure:
    """Attributions over time: (T, F) heatmap for spectral models; for waveform models the |attribution| per
    10 ms frame drawn over the log-Mel spectrogram. Module conductance per time step below, when computed."""
    rows = 2 if expl.modules else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3][:rows], vertical_spacing=0.06)
    spec_times = np.arange(expl.spectrogram.shape[0]) * 0.01 + 0.0125
    if expl.attributions.ndim == 2:
        limit = float(np.abs(expl.attributions).max()) or 1.0
        fig.add_trace(go.Heatmap(z=expl.attributions.T, x=expl.times, colorscale="RdBu_r", zmin=-limit, zmax=limit,
                                 colorbar=dict(title="attr", len=0.6, y=0.7)), row=1, col=1)
        fig.update_yaxes(title_text="feature bin", row=1, col=1)
    else:
        fig.add_trace(go.Heatmap(z=expl.spectrogram.T, x=spec_times, colorscale="Greys", showscale=False), row=1, col=1)
        scaled = expl.frame_attribution / (expl.frame_attribution.max() or 1.0) * (expl.spectrogram.shape[1] - 1)
        fig.add_trace(go.Scatter(x=expl.times, y=scaled, name="|attribution| per 10 ms", line=dict(color="#d62728")),
                      row=1, col=1)
        fig.update_yaxes(title_text="Mel band", row=1, col=1)
    for k, (module, info) in enumerate(expl.modules.items()):
        fig.add_trace(go.Scatter(x=info["times"], y=info["per_time"], name=f"{module} conductance",
                                 mode="lines" if len(info["per_time"]) > 1 else "markers",
                                 line=dict(color=PALETTE[k])), row=2, col=1)
    label = expl.target_label if expl.target_label is not None else expl.target
    extra = f", δ = {expl.delta:.2g}" if expl.delta is not None else ""
    fig.update_layout(title=f"{expl.method.replace('_', ' ')} for class {label}{extra}", height=420 + 160 * (rows - 1))
    fig.update_xaxes(title_text="time (s)", row=rows, col=1)
    return fig


def noise_figure(result: dict | Sequence[dict]) -> go.Figure:
    """Cosine distance clean vs noisy per module: bars for one :func:`crnn.noiselab.noise_shift` result,
    lines against SNR for a :func:`crnn.noiselab.noise_sweep`."""
    if isinstance(result, dict):
        d = result["cosine_distance"]
        fig = go.Figure(go.Bar(x=[MODULE_TITLES.get(m, m) for m in d], y=list(d.values())))
        clean, noisy = result["prediction_clean"], result["prediction_noisy"]
        name = lambda p: p["label"] if p["label"] is not None else p["index"]  # noqa: E731
        fig.update_layout(title=f"{result['noise_kind']} noise at {result['snr_db_measured']:.1f} dB SNR: "
                                f"{name(clean)} → {name(noisy)}", yaxis_title="cosine distance", height=350)
        return fig
    fig = go.Figure()
    snrs = [r["snr_db"] for r in result]
    for module in result[0]["cosine_distance"]:
        fig.add_trace(go.Scatter(x=snrs, y=[r["cosine_distance"][module] for r in result], mode="lines+markers",
                                 name=MODULE_TITLES.get(module, module)))
    fig.update_layout(title=f"{result[0]['noise_kind']} noise: representation shift vs SNR",
                      xaxis_title="SNR (dB)", yaxis_title="cosine distance", height=350)
    return fig
