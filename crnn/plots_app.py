"""Figures written for people who never read the papers: Fig. 2 of paper 001 with a legend, and calibration.

:func:`probe_grid` is paper 001's Fig. 2 (module × property scatter grid)
with a legend for the emotions and genders, labelled class centres drawn
above the dots, axis titles, and a colour-only speaker row (24 speakers need
no key). :func:`reliability_figure` is a reliability diagram from a card's
``calibration["reliability_test"]``. Stage names are :mod:`crnn.plots`'
``MODULE_TITLES``, as on every chart of the app.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from crnn.plots import MODULE_TITLES

EMOTION_PALETTE = qualitative.Set2 + qualitative.Pastel1  # as crnn.plots.emotion_colours: sorted labels, same order
GENDER_COLOURS = {"female": "#C2185B", "male": "#1565C0"}
SPEAKER_PALETTE = qualitative.Dark24 + qualitative.Light24
LEGEND_ROWS = ("emotion", "gender")  # rows with a legend; the speaker row says "colour = speaker" instead


def class_colours(label: str, classes: Sequence[str]) -> dict[str, str]:
    """Colours of one property's classes: emotions as everywhere in the app, genders fixed, speakers by rank."""
    names = sorted({str(c) for c in classes})
    if label == "gender":
        return {c: GENDER_COLOURS.get(c, "#777") for c in names}
    palette = EMOTION_PALETTE if label == "emotion" else SPEAKER_PALETTE
    return {c: palette[k % len(palette)] for k, c in enumerate(names)}


def probe_grid(
    points: dict[str, dict[str, np.ndarray | None]],
    rho: dict[str, dict[str, float | None]],
    classes: dict[str, np.ndarray],
    ids: np.ndarray,
    *,
    method: str = "lda",
    seed: int = 0,
) -> go.Figure:
    """Paper 001 Fig. 2: one row per property in ``classes`` (emotion, speaker, gender), one column per module.

    ``points`` is :func:`crnn.analysis.probe.probe_projections` (module →
    label → (n, k) coordinates, NaN rows left out, None for a single class);
    ``rho`` the "inertia_ratio" of :func:`crnn.analysis.probe.probe_scores`
    (shown as each panel's "spread"); ``classes`` maps a property to its (n,)
    class names; ``ids`` (n,) are the hover texts (clicking a dot reads them).
    A one-axis projection (two-class LDA) is a strip with seeded vertical jitter.
    """
    modules, labels = list(points), list(classes)
    titles = [(f"<b>{MODULE_TITLES.get(m, m)}</b><br>" if row == 0 else "") + label
              for row, label in enumerate(labels) for m in modules]
    fig = make_subplots(rows=len(labels), cols=len(modules), subplot_titles=titles,
                        horizontal_spacing=0.035, vertical_spacing=0.1)
    jitter = np.random.default_rng(seed).uniform(-0.5, 0.5, len(ids))  # (n,)
    axis = method.upper()
    for row, label in enumerate(labels, start=1):
        colours = class_colours(label, classes[label])
        for col, module in enumerate(modules, start=1):
            title = fig.layout.annotations[(row - 1) * len(modules) + col - 1]
            P = points[module].get(label)
            if P is None:
                title.text += " · one class"
                continue
            if rho[module].get(label) is not None:
                title.text += f" · spread {rho[module][label]:.3f}"
            keep = np.isfinite(P[:, 0])
            strip = P.shape[1] != 2
            P = np.column_stack([P[:, 0], jitter]) if strip else P  # (n, 2)
            legend = label in LEGEND_ROWS and col == 1
            _panel(fig, P[keep], np.asarray(classes[label])[keep], np.asarray(ids)[keep], label, colours, legend,
                   row, col)
            fig.update_xaxes(title_text=f"{axis} axis 1", row=row, col=col, title_standoff=2)
            if col == 1:
                fig.update_yaxes(title_text="(random, to spread the dots)" if strip else f"{axis} axis 2", row=row, col=col,
                                 title_standoff=2)
    fig.update_xaxes(showticklabels=False, title_font_size=10)
    fig.update_yaxes(showticklabels=False, title_font_size=10)
    fig.update_annotations(font_size=11, selector=lambda a: a.bgcolor is None)  # the panel titles
    fig.update_layout(height=330 * len(labels), width=max(760, 300 * len(modules) + 160),
                      margin=dict(l=30, r=20, t=110, b=20), legend=dict(itemsizing="constant", tracegroupgap=14),
                      title=dict(text=f"Recordings placed by each stage of the network ({axis}); "
                                      "colour = the group the recording belongs to", font_size=14))
    return fig


def _panel(fig: go.Figure, P: np.ndarray, y: np.ndarray, names: np.ndarray, label: str, colours: dict[str, str],
           legend: bool, row: int, col: int) -> None:
    """One class-coloured scatter of points P (n, 2) with classes y (n,); centres labelled above the dots."""
    present = [c for c in colours if (y == c).any()]
    for c in present:
        sel = y == c
        fig.add_trace(go.Scattergl(
            x=P[sel, 0], y=P[sel, 1], mode="markers", name=c, legendgroup=f"{label}:{c}", showlegend=legend,
            legendgrouptitle_text=label if legend and c == present[0] else None,
            marker=dict(size=5, color=colours[c], opacity=0.65), text=names[sel],
            hovertemplate=f"{label}: {c}<br>%{{text}}<br>click to listen<extra></extra>",
        ), row=row, col=col)
    if label not in LEGEND_ROWS:
        return  # 24 speaker centres would cover the dots; the caption says "colour = speaker"
    for c in present:
        cx, cy = P[y == c].mean(axis=0)
        fig.add_annotation(x=cx, y=cy, text=f"<b>{c}</b>", showarrow=False, font=dict(size=10, color="#111"),
                           bgcolor="rgba(255,255,255,0.8)", bordercolor=colours[c], borderwidth=2, borderpad=1,
                           row=row, col=col)


def reliability_figure(bins: Sequence[dict], ece_before: float | None = None, ece_after: float | None = None) -> go.Figure:
    """A reliability diagram: accuracy (bars) against stated confidence per bin; the diagonal is perfect calibration.

    ``bins`` is a card's ``calibration["reliability_test"]``: dicts with "bin"
    (centre), "confidence" (mean), "accuracy" and "n" (clips in the bin).
    """
    centres = [float(b["bin"]) for b in bins]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=centres, y=[b["accuracy"] for b in bins], width=1 / 15 * 0.9, name="how often it was right",
                         marker_color="#4B6BFB", customdata=[[b["n"], b["confidence"]] for b in bins],
                         hovertemplate="said %{customdata[1]:.0%} sure: right %{y:.0%} of %{customdata[0]} clips"
                                       "<extra></extra>"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly honest", line=dict(dash="dash",
                             color="#555")))
    parts = [f"{name} {value:.1%}" for name, value in (("before", ece_before), ("after", ece_after)) if value is not None]
    title = "How honest the stated confidence is (test speakers)"
    if parts:
        title += f"<br><sup>calibration error (ECE, 15 bins): {', '.join(parts)} temperature scaling</sup>"
    fig.update_layout(title=title, height=360, margin=dict(t=70, b=40), legend=dict(orientation="h", y=-0.25),
                      xaxis=dict(title="confidence the model stated", range=[0, 1], tickformat=".0%"),
                      yaxis=dict(title="share it got right", range=[0, 1], tickformat=".0%"))
    return fig
