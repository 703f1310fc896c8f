"""Page 2's "How sure are these numbers?": 95 % intervals, the control task and a random-weights network.

The fast view bootstraps over the speakers of the representations already
on the page (:func:`crnn.analysis.robust_probe.split_intervals`). On request,
:func:`crnn.tasks.science_measure.probe_measurement` re-probes the model on
representations no probe can flatter (out of fold with the five fold
checkpoints, else its test speakers only) beside the same architecture with
random weights; that needs the corpus audio and takes minutes the first time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import streamlit as st

from crnn.app import cached
from crnn.app.corpus import NOT_AT_HAND, CorpusChoice, corpus_root
from crnn.app.frame import csv_bytes, progress_bar

if TYPE_CHECKING:
    import pandas as pd
from crnn.app.models import LoadedModel
from crnn.core.cache import Progress
from crnn.core.errors import CorpusError

MEASURED_KEY = "inside_controls_measured"  # session: the (model key, corpus) pairs whose controls were asked for


@st.cache_data(max_entries=8, show_spinner="Bootstrapping over speakers…")
def _intervals(_reps: Any, key: str, corpus: str) -> dict:
    from crnn.analysis.robust_probe import split_intervals

    return split_intervals(_reps, predictions=cached.svm_predictions(_reps, key, corpus))


@st.cache_data(max_entries=4, show_spinner=False)
def _measured(_lm: LoadedModel, key: str, folder: str, _progress: Progress | None = None) -> dict:
    from crnn.core.corpora import read_corpus
    from crnn.tasks.science_measure import probe_measurement

    result = probe_measurement(_lm.folder, read_corpus(folder), progress=_progress)
    for part in ("trained", "control"):
        result[part].pop("samples", None)  # arrays only the paper check pairs; the page shows intervals
    return result


def _text(cell: dict | None, percent: bool) -> str:
    """"0.52 (0.46–0.58)": a value and its 95 % interval."""
    if not cell or cell.get("value") is None:
        return "–"
    f = (lambda v: f"{100 * v:.0f} %") if percent else (lambda v: f"{v:.2f}")
    if cell.get("low") is None:
        return f(cell["value"])
    return f"{f(cell['value'])} ({f(cell['low'])}–{f(cell['high'])})"


def interval_table(result: dict, control: dict | None = None) -> pd.DataFrame:
    """One row per stage × property: spread ρ and SVM UA with intervals, the control task, random weights."""
    import pandas as pd  # lazily: the first page needs no pandas, and it costs 0.5 s at start

    from crnn.plots import MODULE_TITLES

    rows = []
    for module, by_label in result["inertia_ratio"].items():
        for label, rho in by_label.items():
            svm = result["svm"].get(module, {}).get(label) or {}
            row = {"stage": MODULE_TITLES.get(module, module), "property": label, "spread ρ": _text(rho, False),
                   "SVM UA, unseen speakers": _text(svm.get("ua"), True),
                   "control task UA": _text(svm.get("control_task_ua"), True),
                   "selectivity (points)": _text(svm.get("selectivity"), True).replace(" %", "")}
            if control is not None:
                ctrl_svm = control["svm"].get(module, {}).get(label) or {}
                row["random weights: ρ"] = _text(control["inertia_ratio"].get(module, {}).get(label), False)
                row["random weights: SVM UA"] = _text(ctrl_svm.get("ua"), True)
            rows.append(row)
    return pd.DataFrame(rows)


def controls_section(lm: LoadedModel, corpus: CorpusChoice, reps: Any) -> None:
    """Intervals at once; the random-weights control and out-of-fold probes when asked for."""
    from crnn.plots_science import probe_interval_figure

    st.subheader("How sure are these numbers? Intervals and controls")
    st.caption("Bars: the linear SVM's accuracy on speakers it was not fitted on, with its 95 % interval from a "
               "bootstrap over speakers. Black dash: the **control task** (each speaker's labels shuffled the same "
               "way every time, Hewitt & Liang 2019); a stage is *selective* when its bar stands well above the "
               "dash. A spread ρ whose interval overlaps another stage's does not differ from it.")
    pair = f"{lm.key}|{corpus.describe()}"
    measured = None
    if pair in st.session_state.get(MEASURED_KEY, set()):
        root = corpus_root(lm, corpus)
        if root is None:
            raise CorpusError(NOT_AT_HAND)
        with progress_bar("Running the model and a random-weights copy over the corpus…") as progress:
            measured = _measured(lm, lm.key, str(root), progress)
    if measured is None:
        result, control = _intervals(reps, lm.key, corpus.describe()), None
        st.caption("Probed on the representations above, split by speaker. The network heard most of these speakers "
                   "in training, so upper stages may look better than they are: measure the control below.")
    else:
        result, control = measured["trained"], measured["control"]
        st.caption(f"Scope: **{measured['scope']}**, {measured['n_utterances']} recordings of {measured['speakers']} "
                   "speakers, probes cross-validated by speaker (out of fold: inside each fold model's own space). "
                   "Pale bars: the same network with random weights; what a stage shows beyond them is what training "
                   "put there.")
    st.plotly_chart(probe_interval_figure(result, control), key="inside_intervals")
    table = interval_table(result, control)
    st.dataframe(table, hide_index=True, use_container_width=True)
    st.download_button("⬇️ Intervals and controls (CSV)", csv_bytes(table), f"probe_intervals_{lm.name}.csv", "text/csv",
                       key="inside_intervals_csv")
    if measured is None and st.button("Measure against a random-weights network (minutes the first time)",
                                      key="inside_controls_run"):
        st.session_state.setdefault(MEASURED_KEY, set()).add(pair)
        st.rerun()
