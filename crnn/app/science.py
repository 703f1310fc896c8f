"""The "Paper check" page's glue: the verdict table of ``crnn science`` (:mod:`crnn.tasks.science`), cached.

Without a measurement the table holds the rows the shipped checkpoints'
cards answer (instant); "measure" adds the module probes of the default
model on the corpus chosen in the sidebar (or the RAVDESS folder its card
names, when this app may read it) and the cells of paper 002.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from crnn.app.corpus import card_corpus_root, current_corpus
from crnn.core.checkpoint import read_card, resolve_model
from crnn.core.defaults import PAPER_001_MODEL
from crnn.core.errors import CrnnError
from crnn.tasks.science import jsonable_rows, run_science

if TYPE_CHECKING:
    import pandas as pd

ICONS = {"agrees": "✅", "disagrees": "❌", "inconclusive": "❔"}
COLUMNS = {"paper": "paper", "claim": "claim", "paper_figure": "the paper's figure", "measured": "measured (95 % interval)",
           "control": "control", "verdict": "verdict", "source": "where in the paper"}
MEASURE_KEY = "paper_check_measured"


@st.cache_data(show_spinner=False, max_entries=4)
def _science(corpus: str | None) -> dict:
    result = run_science(PAPER_001_MODEL, corpus)
    result["rows"] = jsonable_rows(result["rows"])
    return result


def measurable_corpus() -> Path | None:
    """The corpus folder to measure on: the sidebar's folder, else the default model's training corpus if readable."""
    choice = current_corpus()
    if choice.kind == "folder":
        return choice.folder
    try:
        return card_corpus_root(read_card(resolve_model(PAPER_001_MODEL)))
    except CrnnError:
        return None


def paper_check(measure: bool) -> dict:
    """The ``crnn science`` result: card rows only, or (``measure``) with the probes and cells on the corpus."""
    corpus = measurable_corpus() if measure else None
    if measure and corpus is None:
        raise CrnnError("No corpus audio is at hand to measure on; choose a corpus folder of your own in the sidebar.")
    return _science(str(corpus) if corpus else None)


def table(rows: list[dict]) -> pd.DataFrame:
    """The rows as the page's table, verdicts with an icon."""
    import pandas as pd  # lazily: the first page needs no pandas

    frame = pd.DataFrame([{COLUMNS[k]: r.get(k, "") for k in COLUMNS} for r in rows], columns=list(COLUMNS.values()))
    frame["verdict"] = [f"{ICONS.get(v, '⏳')} {v}" for v in frame["verdict"]]
    return frame


def summary(result: dict) -> str:
    """One line: how many rows agree, disagree, are inconclusive or not yet testable, and the probes' scope."""
    counts = ", ".join(f"{n} {k}" for k, n in result["counts"].items() if n)
    scope = f" Module probes: {result['probe_scope']}, cross-validated by speaker." if result.get("probe_scope") else ""
    return f"{len(result['rows'])} findings: {counts}.{scope}"


def icon(verdict: str) -> str:
    return ICONS.get(verdict, "⏳")


def module_time_chart(expl):
    """Attribution per module over time for an explanation made with ``layers=True`` (page 4's "stages" view):
    :func:`crnn.analysis.sanity.module_time_profile` drawn by :func:`crnn.plots_science.module_time_figure`."""
    from crnn.analysis.sanity import module_time_profile
    from crnn.plots_science import module_time_figure

    return module_time_figure(module_time_profile(expl.modules))


def sanity_chart(model, wave, method: str = "integrated_gradients"):
    """(result, figure) of the cascading randomisation test (Adebayo et al., 2018) of ``model``'s map for ``wave``."""
    from crnn.analysis.sanity import cascading_randomisation
    from crnn.plots_science import sanity_figure

    result = cascading_randomisation(model, wave, method=method)
    return result, sanity_figure(result)
