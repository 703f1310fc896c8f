"""Page 8 — every testable finding of the five papers beside what these models show, with intervals and controls."""

import streamlit as st

from crnn import app as appkit
from crnn.app import science as paper

appkit.intro(
    "📜 Paper check",
    "Each finding of the papers this app is built on, with the paper's own figure, what the trained models here show "
    "(with a 95 % interval) and a control: the same network with random weights, or labels shuffled per speaker.",
    "A finding agrees only when its whole interval is on the paper's side; when the interval spans the decision the "
    "data cannot tell, and the page says so instead of picking a side.",
)

with appkit.friendly("the paper check"):
    if st.button("Measure the module probes and cells on the corpus (about half a minute the first time)",
                 key="paper_measure"):
        st.session_state[paper.MEASURE_KEY] = True
    measured = bool(st.session_state.get(paper.MEASURE_KEY))
    with st.spinner("Probing the model's modules and its controls…"):
        result = paper.paper_check(measured)
    st.caption(paper.summary(result))
    if not measured:
        st.info("Shown: the findings the trained models' test results answer. Measure to add the module probes "
                "(paper 001) and the LSTM cells (paper 002).")
    table = paper.table(result["rows"])
    st.dataframe(table, hide_index=True, key="paper_table")
    st.download_button("⬇️ Findings (CSV)", appkit.csv_bytes(table), "paper_check.csv", "text/csv", key="paper_csv")
    st.subheader("Where to see the evidence")
    for row in result["rows"]:
        st.page_link(row["page"], label=f"{row['paper']} · {row['claim']}: {row['verdict']}", icon=paper.icon(row["verdict"]))
