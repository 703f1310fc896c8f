"""Plotly figures shared by the CLI (``--figure``) and the app.

Each function takes the result of a library call and returns a
``plotly.graph_objects.Figure``; :func:`save_figure` writes it as .html or .png.
Two groups: plain views of a clip and a model (waveform and features,
class probabilities, confusion matrix, first-layer filters), then the
figures of the analyses (probe grid, cell overlays, attributions, noise).
Functions that print emotion names take ``label_format`` (e.g. the app's
emoji labels); the default prints them as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from crnn.core.defaults import SAMPLE_RATE
from crnn.core.fileio import atomic_path, check_figure_path


def frame_times(n: int) -> np.ndarray:
    """:func:`crnn.core.features.frame_times`, imported on use: that module imports torch, which the app's
    first page must not wait for."""
    from crnn.core.features import frame_times as times

    return times(n)


def dct_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    """:func:`crnn.core.features.dct_matrix`, imported on use (see :func:`frame_times`)."""
    from crnn.core.features import dct_matrix as basis

    return basis(n_mels=n_mels, n_mfcc=n_mfcc)

MODULE_TITLES = {"input": "Input features", "cnn": "Convolutions (CNN)", "rnn": "Memory (LSTM)", "mlp": "Final layers (MLP)"}
PALETTE = qualitative.Dark24 + qualitative.Light24
EMOTION_PALETTE = qualitative.Set2 + qualitative.Pastel1
SPECTRAL_KINDS = ("spectral", "spectro-temporal", "full-spectrum")  # filter kinds with a spectral shape
LabelFormat = Callable[[str], str]


def save_figure(fig: go.Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` atomically: ``.html`` (self-contained, works offline) or ``.png`` (kaleido)."""
    check_figure_path(path)
    path = Path(path)
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix == ".html":
            fig.write_html(tmp, include_plotlyjs=True)
        else:
            fig.write_image(tmp, scale=2)
    return path


# --- plain views of a clip and a model ---------------------------------------------------------


def emotion_colours(labels: Sequence[str]) -> dict[str, str]:
    """One colour per emotion, fixed by the sorted label set so every figure agrees."""
    return {label: EMOTION_PALETTE[i % len(EMOTION_PALETTE)] for i, label in enumerate(sorted(labels))}


def features_figure(wave: np.ndarray, feats: dict[str, np.ndarray]) -> go.Figure:
    """Waveform (N,) at 16 kHz, log-Mel and MFCC stacked on one shared time axis (seconds).

    ``feats`` is :func:`crnn.analysis.predict.display_features` of ``wave``:
    "logmel" (T, 40) and "mfcc" (T, 13).
    """
    wave = np.asarray(wave, np.float32)
    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.25, 0.45, 0.3],
        subplot_titles=("Waveform", "Log-Mel spectrogram (40 bands)", "MFCC (13 coefficients, each standardised)"),
    )
    step = max(1, len(wave) // 4000)  # a few thousand points draw instantly and look the same
    t = np.arange(0, len(wave), step) / SAMPLE_RATE
    fig.add_trace(go.Scatter(x=t, y=wave[::step], mode="lines", line=dict(width=1, color="#4B6BFB"), name="wave",
                             hovertemplate="%{x:.2f} s<extra></extra>"), row=1, col=1)
    for row, kind, scale, unit, bar in ((2, "logmel", "Viridis", "band", "energy<br>(log)"),
                                        (3, "mfcc", "RdBu_r", "coefficient", "above (+) /<br>below (−)<br>average")):
        x = feats[kind]
        low, high = fig.layout[f"yaxis{row}"].domain
        limit = float(np.abs(x).max()) or 1.0
        fig.add_trace(go.Heatmap(z=x.T, x=frame_times(len(x)), colorscale=scale, name=kind,
                                 zmin=-limit if kind == "mfcc" else None, zmax=limit if kind == "mfcc" else None,
                                 colorbar=dict(title=dict(text=bar, font_size=10), len=high - low, y=(low + high) / 2,
                                               yanchor="middle", thickness=12),
                                 hovertemplate=f"%{{x:.2f}} s, {unit} %{{y}}: %{{z:.2f}}<extra></extra>"), row=row, col=1)
    fig.update_xaxes(title_text="time (s)", row=3, col=1)
    fig.update_yaxes(title_text="amplitude", row=1, col=1)
    fig.update_yaxes(title_text="Mel band", row=2, col=1)
    fig.update_yaxes(title_text="coefficient", row=3, col=1)
    fig.update_layout(height=560, margin=dict(l=10, r=10, t=30, b=10), showlegend=False)
    return fig


def probability_figure(probabilities: dict[str, float], *, height: int = 280, label_format: LabelFormat = str) -> go.Figure:
    """Horizontal bars of class probabilities, the most likely on top."""
    items = sorted(probabilities.items(), key=lambda kv: kv[1])
    colours = emotion_colours(list(probabilities))
    fig = go.Figure(go.Bar(
        x=[p for _, p in items], y=[label_format(k) for k, _ in items], orientation="h",
        marker_color=[colours[k] for k, _ in items], text=[f"{p:.0%}" for _, p in items], textposition="auto",
        hovertemplate="%{y}: %{x:.1%}<extra></extra>",
    ))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), xaxis=dict(range=[0, 1], tickformat=".0%"))
    return fig


def over_time_figure(over_time: list[dict], labels: Sequence[str], *, label_format: LabelFormat = str) -> go.Figure:
    """Class probabilities of successive windows (``predict_file``'s "over_time") as stacked areas over time (s)."""
    centres = [(w["start"] + w["end"]) / 2 for w in over_time]
    colours = emotion_colours(labels)
    fig = go.Figure()
    for label in labels:
        fig.add_trace(go.Scatter(
            x=centres, y=[w["probabilities"][label] for w in over_time], name=label_format(label),
            stackgroup="p", mode="lines", line=dict(width=0.5, color=colours[label]),
            hovertemplate=f"{label_format(label)}: %{{y:.0%}} at %{{x:.2f}} s<extra></extra>",
        ))
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=10, b=10), yaxis=dict(range=[0, 1], tickformat=".0%"),
                      xaxis_title="time (s)", legend=dict(orientation="h", y=-0.3))
    return fig


def confusion_figure(report: dict, *, label_format: LabelFormat = str) -> go.Figure:
    """A ``classification_report_dict`` confusion matrix: colour = share of the row (recall), text = count."""
    matrix = np.asarray(report["confusion"], float)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    labels = [label_format(e) for e in report["labels"]]
    fig = go.Figure(go.Heatmap(z=shares, x=labels, y=labels, colorscale="Blues", zmin=0, zmax=1,
                               text=matrix.astype(int), texttemplate="%{text}",
                               hovertemplate="acted %{y}, heard %{x}: %{z:.0%}<extra></extra>"))
    fig.update_layout(xaxis_title="predicted", yaxis_title="acted", yaxis=dict(autorange="reversed"),
                      height=460, margin=dict(t=10))
    return fig


def results_figure(rows: Sequence[dict]) -> go.Figure:
    """Test UA of :func:`crnn.tasks.report.results_rows`: bars per model (clean, noisy), dashed lines for baselines (clean).

    An openSMILE baseline is drawn with the kernel chosen on its validation speakers (rows without "best" are
    all drawn); an SVM on a network's embedding is not drawn.
    """
    models = [r for r in rows if r["kind"] == "model"]
    fig = go.Figure()
    for key, name, colour in (("ua_clean", "clean", "#4B6BFB"), ("ua_noisy", "noisy", "#F29E4C")):
        fig.add_trace(go.Bar(x=[r.get("label", r["name"]) for r in models], y=[r[key] for r in models], name=name,
                             marker_color=colour))
    names = [r.get("label", r["name"]) for r in models]
    lines = [r for r in rows if r["kind"] == "baseline" and r["ua_clean"] is not None and r.get("best", True)
             and not r.get("network")]  # the openSMILE SVMs; a network's embedding + SVM stays in the table
    for k, row in enumerate(lines):
        fig.add_trace(go.Scatter(x=[names[0], names[-1]] if names else [0, 1], y=[row["ua_clean"]] * 2, mode="lines",
                                 name=f"{row['input']} {row['name']} (clean)", hoverinfo="name+y",
                                 line=dict(dash=("dash", "dot", "dashdot", "longdash")[k % 4], color=PALETTE[k + 2])))
    fig.update_layout(barmode="group", yaxis=dict(title="unweighted accuracy", tickformat=".0%", range=[0, 1]),
                      height=520, margin=dict(t=10, b=10), xaxis=dict(tickangle=-40, automargin=True, tickfont_size=11),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0))
    return fig


def filters_figure(filters: dict[str, Any], *, max_filters: int = 16, cols: int = 4) -> go.Figure:
    """The first ``max_filters`` of :meth:`crnn.core.models.base.SERModel.first_layer_filters`, one panel each.

    Spectral filters are heatmaps (rows: frequency, low at the bottom; columns:
    time) on a diverging scale centred at 0 from −|largest| to +|largest| of
    each filter (red positive, blue negative, white 0); waveform filters are curves over
    milliseconds with the zero line drawn.
    """
    shown = filters["weights"][:max_filters]
    rows = int(np.ceil(len(shown) / cols))
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.03, vertical_spacing=0.06,
                        subplot_titles=[f"filter {k + 1}" for k in range(len(shown))])
    for k, kernel in enumerate(shown):
        where = dict(row=k // cols + 1, col=k % cols + 1)
        if filters["axes"] == ("time",):
            ms = np.arange(len(kernel)) * filters["time_step_s"] * 1000
            fig.add_trace(go.Scatter(x=ms, y=kernel, mode="lines", line=dict(width=1, color="#333"),
                                     hovertemplate="%{x:.2f} ms: %{y:.3f}<extra></extra>"), **where)
            fig.add_hline(y=0, line=dict(color="#999", width=1, dash="dot"), **where)
        else:
            limit = float(np.abs(kernel).max()) or 1.0
            fig.add_trace(go.Heatmap(z=kernel, colorscale="RdBu_r", zmin=-limit, zmax=limit, showscale=k == 0,
                                     colorbar=dict(title="weight", len=0.6, tickvals=[-limit, 0, limit],
                                                   ticktext=["most −", "0", "most +"]),
                                     hovertemplate="frame %{x}, band %{y}: %{z:.3f}<extra></extra>"), **where)
    unit_x = "ms" if filters["axes"] == ("time",) else "time step"
    unit_y = "weight" if filters["axes"] == ("time",) else "frequency"
    fig.update_xaxes(tickfont_size=8)
    fig.update_yaxes(tickfont_size=8)
    fig.update_xaxes(title_text=unit_x, title_font_size=10, row=rows, col=1)
    fig.update_yaxes(title_text=unit_y, title_font_size=10, row=rows, col=1)
    fig.update_annotations(font_size=10)
    fig.update_layout(height=130 * rows + 60, margin=dict(t=30, b=10), showlegend=False)
    return fig


def dct_comparison_figure(filters: dict[str, Any], *, max_filters: int = 16) -> go.Figure:
    """Learned spectral filters beside the DCT basis over as many bands (paper 001 Eq. 12).

    Left: each filter's frequency profile (mean over its time extent), scaled
    to a peak |value| of 1. Right: the cosines h_k[m] = cos(kπ/M (m + ½)) that
    turn M log-Mels into cepstra, the fixed spectral convolution that S-Conv
    filters may learn to resemble or adapt. Only for :data:`SPECTRAL_KINDS`.
    """
    if filters["kind"] not in SPECTRAL_KINDS:
        raise ValueError(f"{filters['kind']} filters have no spectral shape to compare with the DCT")
    profiles = filters["weights"][:max_filters].mean(axis=2)  # (n, bands)
    profiles = profiles / np.maximum(np.abs(profiles).max(axis=1, keepdims=True), 1e-12)
    bands = profiles.shape[1]
    basis = dct_matrix(n_mels=bands, n_mfcc=min(13, bands))
    unit = filters["frequency_unit"]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=(f"Learned ({filters['layer']})", f"DCT basis over {bands} bands"))
    for col, z, name in ((1, profiles, "filter"), (2, basis, "k")):
        fig.add_trace(go.Heatmap(z=z, colorscale="RdBu_r", zmin=-1, zmax=1, showscale=False,
                                 hovertemplate=f"{name} %{{y}}, {unit} %{{x}}: %{{z:.2f}}<extra></extra>"), row=1, col=col)
        fig.update_xaxes(title_text=unit, row=1, col=col)
    fig.update_yaxes(title_text="filter", autorange="reversed", row=1, col=1)
    fig.update_yaxes(title_text="DCT coefficient k", autorange="reversed", row=1, col=2)
    fig.update_layout(height=320, margin=dict(t=40, b=10))
    return fig


# --- figures of the analyses -----------------------------------------------------------------


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
    words = cell_words(layer, state, direction, unit)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=report.times, y=_zscore(report.tracks[feature]), name=TRACK_WORDS.get(feature, feature),
                             line=dict(color="#8c8c8c", width=2)))
    fig.add_trace(go.Scatter(x=report.times, y=_zscore(cell), name=words, line=dict(color="#d62728", width=1.5)))
    fig.update_layout(title=dict(text=f"{words}<br>against {TRACK_WORDS.get(feature, feature)}: r = {r:.2f}",
                                 font_size=13),
                      xaxis_title="time (s)", yaxis_title="rescaled (z-score)", height=340, margin=dict(t=60, b=90),
                      legend=dict(orientation="h", x=0, y=0, yanchor="bottom", yref="container"))
    return fig


TRACK_WORDS = {"f0_hz": "pitch", "loudness": "loudness", "rms": "energy", "rms_range": "energy range over 0.5 s"}
STATE_WORDS = {"c": "memory cell", "i": "input gate", "f": "forget gate", "g": "candidate", "o": "output gate"}
ORDINALS = ("first", "second", "third", "fourth")


def cell_words(layer: str, state: str, direction: int, unit: int) -> str:
    """``("rnn.layer0", "c", 0, 89)`` → "memory cell 89, forward, first LSTM layer"."""
    digits = "".join(ch for ch in str(layer).rsplit(".", 1)[-1] if ch.isdigit())
    where = f"{ORDINALS[int(digits)]} LSTM layer" if digits and int(digits) < len(ORDINALS) else str(layer)
    return f"{STATE_WORDS.get(state, state)} {unit}, {'forward' if int(direction) == 0 else 'backward'}, {where}"


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
    fig.update_layout(title=f"{STATE_WORDS.get(state, state)}s of the {cell_words(layer, state, 0, 0).split(', ')[-1]}: "
                            "correlation with prosody", height=max(300, 16 * len(grid) + 120),
                      yaxis=dict(autorange="reversed", title="cell (fwd/bwd = forward/backward direction, # = number)"),
                      xaxis=dict(title="prosodic track", tickvals=list(grid.columns),
                                 ticktext=[TRACK_WORDS.get(c, c) for c in grid.columns]))
    return fig


def attribution_heatmap(expl) -> go.Figure:
    """An :class:`crnn.analysis.explain.Explanation` over time, under the spectrogram it explains.

    Spectral models: the log-Mel spectrogram, then the (T, F) attributions
    (red towards the class, blue away; the colour bar beside that panel).
    Waveform models: |attribution| per 10 ms frame drawn over the log-Mel
    spectrogram. Module conductance per time step at the bottom, when computed.
    """
    spectral = expl.attributions.ndim == 2
    heights = ([0.4, 0.6] if spectral else [1.0]) + ([0.3] if expl.modules else [])
    titles = ["Log-Mel spectrogram (what the model heard)" if spectral else "Log-Mel spectrogram and |attribution|"]
    if spectral:
        feature = "MFCC coefficient" if expl.feature_kind == "mfcc" else "Mel band"
        titles.append(f"Attribution per {feature} and frame")
    if expl.modules:
        titles.append("How much each stage carried over time (each line scaled to its own peak)")
    fig = make_subplots(rows=len(heights), cols=1, shared_xaxes=True, row_heights=heights, vertical_spacing=0.07,
                        subplot_titles=titles)
    fig.add_trace(go.Heatmap(z=expl.spectrogram.T, x=frame_times(len(expl.spectrogram)), colorscale="Greys",
                             showscale=False, name="log-Mel"), row=1, col=1)
    fig.update_yaxes(title_text="Mel band", row=1, col=1)
    if spectral:
        limit = float(np.abs(expl.attributions).max()) or 1.0
        low, high = fig.layout.yaxis2.domain
        one_sided = bool((expl.attributions >= 0).all())  # saliency |∂score/∂x|: how much, never which way
        fig.add_trace(go.Heatmap(z=expl.attributions.T, x=expl.times, colorscale="Reds" if one_sided else "RdBu_r",
                                 zmin=0 if one_sided else -limit, zmax=limit, name="attribution",
                                 colorbar=dict(title="influence" if one_sided else "towards (+)<br>away (−)",
                                               len=high - low, y=(low + high) / 2, yanchor="middle")),
                      row=2, col=1)
        fig.update_yaxes(title_text=feature, row=2, col=1)
    else:
        scaled = expl.frame_attribution / (expl.frame_attribution.max() or 1.0) * (expl.spectrogram.shape[1] - 1)
        fig.add_trace(go.Scatter(x=expl.times, y=scaled, name="|attribution| per 10 ms", line=dict(color="#d62728")),
                      row=1, col=1)
    for k, (module, info) in enumerate(expl.modules.items()):
        per_time = np.asarray(info["per_time"], float)  # each line scaled to its own peak, so none lies flat
        fig.add_trace(go.Scatter(x=info["times"], y=per_time / (np.abs(per_time).max() or 1.0),
                                 name=MODULE_TITLES.get(module, module),
                                 mode="lines" if len(info["per_time"]) > 1 else "markers",
                                 line=dict(color=PALETTE[k])), row=len(heights), col=1)
    label = expl.target_label if expl.target_label is not None else expl.target
    extra = f" (completeness gap {expl.delta:.2g})" if expl.delta is not None else ""
    # The legend goes under the time axis, in the bottom margin: never over the colour bar or a panel.
    fig.update_layout(title=f"{expl.method.replace('_', ' ')} for class {label}{extra}",
                      height=330 + 220 * (len(heights) - 1), margin=dict(t=80, b=110),
                      legend=dict(orientation="h", x=0, xanchor="left", y=0, yanchor="bottom", yref="container"))
    fig.update_xaxes(title_text="time (s)", row=len(heights), col=1)
    if expl.modules:
        fig.update_yaxes(title_text="share of peak", range=[-1.05, 1.05], row=len(heights), col=1)
    return fig


def module_contributions_figure(expl) -> go.Figure:
    """Each module's total conductance in an :class:`crnn.analysis.explain.Explanation` (red: towards the class)."""
    names = list(expl.modules)
    totals = [expl.modules[m]["total"] for m in names]
    fig = go.Figure(go.Bar(x=[MODULE_TITLES.get(m, m) for m in names], y=totals,
                           marker_color=["#d62728" if t >= 0 else "#1f77b4" for t in totals]))
    fig.update_layout(height=300, yaxis_title="conductance (score units)", margin=dict(t=10))
    return fig


def noise_figure(result: dict | Sequence[dict]) -> go.Figure:
    """Cosine distance clean vs noisy per module: bars for one :func:`crnn.analysis.noiselab.noise_shift` result,
    lines against SNR for a :func:`crnn.analysis.noiselab.noise_sweep`."""
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


def probe_svm_figure(scores: dict) -> go.Figure:
    """Grouped bars: the linear-SVM probe's UA per stage (x) for emotion, speaker and gender.

    ``scores`` is :func:`crnn.analysis.probe.probe_scores`' result; a missing
    score (a property that was not probed) leaves a gap.
    """
    by_label = scores.get("svm_ua_by_label") or {}
    stages = list(scores["modules"])
    fig = go.Figure([
        go.Bar(x=[MODULE_TITLES.get(s, s) for s in stages], y=[(by_label.get(stage) or {}).get(label) for stage in stages],
               name=label, text=[("—" if (by_label.get(s) or {}).get(label) is None else "") for s in stages])
        for label in ("emotion", "speaker", "gender")
    ])  # fmt: skip
    fig.update_layout(barmode="group", height=340, margin=dict(t=30), xaxis_title="stage of the network",
                      yaxis=dict(title="accuracy (unweighted)", tickformat=".0%", range=[0, 1]),
                      legend=dict(orientation="h", title_text="property read off: ", y=1.1, yanchor="bottom"))
    return fig
