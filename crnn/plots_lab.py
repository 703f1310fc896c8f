"""Plotly figures of the causal lab (cell ablation, prosody what-if, CKA), drawn from results already computed.

Beside :mod:`crnn.plots` (same layer, same conventions); each function takes
the dict a :mod:`crnn.tasks` function returns and gives a ``plotly.graph_objects.Figure``.
"""

from __future__ import annotations

from typing import Callable

import plotly.graph_objects as go

from crnn.plots import MODULE_TITLES

LabelFormat = Callable[[str], str]


def cka_figure(result: dict) -> go.Figure:
    """Heatmap of linear CKA (0-1), model A's modules (rows) × model B's (columns), from :func:`crnn.tasks.compare.run_compare`."""
    rows = [MODULE_TITLES.get(m, m) for m in result["modules_a"]]
    cols = [MODULE_TITLES.get(m, m) for m in result["modules_b"]]
    fig = go.Figure(go.Heatmap(z=result["cka"], x=cols, y=rows, zmin=0, zmax=1, colorscale="Viridis",
                               text=[[f"{v:.2f}" for v in row] for row in result["cka"]], texttemplate="%{text}",
                               colorbar={"title": "CKA"}))
    fig.update_layout(title=f"Linear CKA over {result.get('utterances', '?')} utterances",
                      xaxis_title=str(result.get("model_b", "model B")), yaxis_title=str(result.get("model_a", "model A")),
                      yaxis={"autorange": "reversed"}, height=420, margin={"l": 80, "r": 20, "t": 50, "b": 60})
    return fig


def ablation_figure(result: dict, *, label_format: LabelFormat = str) -> go.Figure:
    """Change of each class's recall (and the UA) with the top-k cells clamped, beside k random cells (mean ± sd).

    ``result`` from :func:`crnn.tasks.ablate.run_ablate`; values in percentage points.
    """
    classes = list(result["baseline"]["recall"])
    names = ["UA"] + [label_format(c) for c in classes]
    top = [result["top"]["delta_ua"]] + [result["top"]["delta_recall"][c] for c in classes]
    rnd = result["random"]
    mean = [rnd["delta_ua_mean"]] + [rnd["delta_recall_mean"][c] for c in classes]
    sd = [rnd["delta_ua_sd"]] + [rnd["delta_recall_sd"][c] for c in classes]

    def pp(values: list) -> list:
        return [None if v is None else 100.0 * v for v in values]

    fig = go.Figure([
        go.Bar(name=f"top {result['k']} {result['feature']} cells", x=names, y=pp(top)),
        go.Bar(name=f"{result['k']} random cells ({rnd['draws']} draws)", x=names, y=pp(mean),
               error_y={"type": "data", "array": pp([v or 0.0 for v in sd])}),
    ])
    fig.update_layout(barmode="group", yaxis_title="change (percentage points)", height=360,
                      title=f"Without them: {result['clips']} clips, cells clamped to {result['to']}",
                      margin={"l": 60, "r": 20, "t": 50, "b": 60})
    return fig


def whatif_figure(result: dict, *, label_format: LabelFormat = str) -> go.Figure:
    """Class probabilities of the original and the changed clip side by side, from :func:`crnn.tasks.whatif.run_whatif`."""
    labels = list(result["before"]["probabilities"])
    fig = go.Figure([
        go.Bar(name="original", x=[label_format(c) for c in labels], y=[result["before"]["probabilities"][c] for c in labels]),
        go.Bar(name="changed", x=[label_format(c) for c in labels], y=[result["after"]["probabilities"][c] for c in labels]),
    ])
    s = result["settings"]
    fig.update_layout(barmode="group", yaxis={"title": "probability", "range": [0, 1]}, height=320,
                      title=f"pitch {s['pitch_st']:+g} st, tempo ×{s['tempo']:g}, loudness {s['loudness_db']:+g} dB",
                      margin={"l": 60, "r": 20, "t": 50, "b": 60})
    return fig
