"""Figures of the science checks: the paper-check table, attribution sanity, attribution per module over time.

Plotly figures from the plain dicts of :mod:`crnn.tasks.science` and
:mod:`crnn.analysis.sanity`; saved with :func:`crnn.plots.save_figure`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from crnn.plots import MODULE_TITLES

VERDICT_COLOURS = {"agrees": "#d8f0d8", "disagrees": "#f6d4d4", "inconclusive": "#f3ecd0"}


def science_table(rows: Sequence[dict]) -> go.Figure:
    """The paper-check table: paper, claim, paper's figure, measured, control, verdict; rows coloured by verdict."""
    cols = ["paper", "claim", "paper_figure", "measured", "control", "verdict"]
    fill = [VERDICT_COLOURS.get(r["verdict"], "#eeeeee") for r in rows]
    fig = go.Figure(go.Table(
        columnwidth=[40, 220, 160, 300, 220, 90],
        header={"values": ["paper", "claim", "the paper's figure", "measured (95 % interval)", "control", "verdict"],
                "align": "left", "font": {"size": 12}},
        cells={"values": [[r.get(c, "") for r in rows] for c in cols], "align": "left", "fill_color": [fill] * len(cols),
               "font": {"size": 11}},
    ))
    fig.update_layout(height=120 + 66 * len(rows), width=1400, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      title="What the papers found, and what these models show")
    return fig


def sanity_figure(result: dict) -> go.Figure:
    """Cascading randomisation (Adebayo et al., 2018): Spearman ρ_s of each step's map with the trained map."""
    steps = result["steps"]
    x = ["trained"] + [f"+ {s['stage']}" for s in steps]
    y = [1.0] + [s["spearman"] for s in steps]
    fig = go.Figure(go.Scatter(x=x, y=y, mode="lines+markers", name="rank correlation with the trained map"))
    fig.add_hline(y=result["threshold"], line_dash="dash",
                  annotation_text="above: the map barely changes when the weights are destroyed")
    fig.update_layout(height=340, yaxis={"title": "Spearman ρ_s", "range": [-0.2, 1.05]},
                      xaxis={"title": "stages randomised, top down"},
                      title=f"Sanity check of the {result['method'].replace('_', ' ')} map")
    return fig


def module_time_figure(profile: dict) -> go.Figure:
    """Attribution per module over time (:func:`crnn.analysis.sanity.module_time_profile`): one heatmap row per module.

    Each row is the module's conductance per time bin divided by its total
    absolute conductance: red pushes towards the explained class, blue away.
    """
    names = list(profile["modules"])
    if not names:
        return go.Figure().update_layout(title="No module with a time axis to show")
    Z = np.stack([profile["modules"][m] for m in names])  # (M, n_bins)
    lim = float(np.abs(Z).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=Z, x=profile["times"], y=[MODULE_TITLES.get(m, m) for m in names], zmin=-lim, zmax=lim,
                               colorscale="RdBu_r", colorbar={"title": "share of |attribution|"}))
    fig.update_layout(height=120 + 60 * len(names), xaxis={"title": "time (s)"},
                      title="Where in time each stage's attribution lies")
    return fig


LABEL_COLOURS = {"emotion": "#0068c9", "speaker": "#83c9ff", "gender": "#ff2b2b"}  # as the app's SVM chart (Streamlit's palette)


def _bar(x: list[str], cells: list[dict | None], name: str, colour: str, **style) -> go.Bar:
    """Bars of interval dicts {"value", "low", "high"} with their 95 % intervals as error bars (None: a gap)."""
    val = [c["value"] if c else None for c in cells]
    up = [(c["high"] - c["value"]) if c and c["high"] is not None else 0 for c in cells]
    down = [(c["value"] - c["low"]) if c and c["low"] is not None else 0 for c in cells]
    return go.Bar(x=x, y=val, name=name, marker_color=colour, error_y={"type": "data", "array": up, "arrayminus": down},
                  **style)


def probe_interval_figure(result: dict, control: dict | None = None) -> go.Figure:
    """Linear-SVM probe UA per stage with 95 % speaker-bootstrap intervals, the control task and random weights.

    ``result`` (and ``control``, the same architecture with random weights) is
    :func:`crnn.analysis.robust_probe.robust_probe`'s dict. Each solid bar is
    the UA on unseen speakers; a black dash marks the control task's UA
    (labels permuted per speaker, Hewitt & Liang 2019); pale bars are the
    random-weights network.
    """
    stages = list(result["svm"])
    x = [MODULE_TITLES.get(s, s) for s in stages]
    labels = [lab for lab in LABEL_COLOURS if any(lab in result["svm"][s] for s in stages)]
    bars = []
    for label in labels:
        bars.append(_bar(x, [(result["svm"][s].get(label) or {}).get("ua") for s in stages], label,
                         LABEL_COLOURS[label], offsetgroup=label, legendgroup=label))
        if control is not None:
            bars.append(_bar(x, [(control["svm"].get(s, {}).get(label) or {}).get("ua") for s in stages],
                             f"{label}, random weights", LABEL_COLOURS[label], offsetgroup=f"{label} control",
                             legendgroup=label, opacity=0.35))
    fig = go.Figure(bars)
    for k, label in enumerate(labels):
        ctrl = [((result["svm"][s].get(label) or {}).get("control_task_ua") or {}).get("value") for s in stages]
        fig.add_trace(go.Scatter(x=x, y=ctrl, mode="markers", marker={"symbol": "line-ew-open", "size": 26, "color": "black",
                                                                      "line": {"width": 3}},
                                 offsetgroup=label, name="control task (labels permuted per speaker)",
                                 legendgroup="control task", showlegend=k == 0))
    fig.update_layout(barmode="group", scattermode="group", height=380, margin={"t": 40},
                      xaxis_title="stage of the network",
                      yaxis={"title": "accuracy (unweighted), 95 % interval", "tickformat": ".0%", "range": [0, 1.05]},
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"})
    return fig
