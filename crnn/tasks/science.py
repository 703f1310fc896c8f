"""``crnn science``: every testable finding of the five papers, measured, with intervals, controls and verdicts.

Rows come from three kinds of evidence, all computed here:

- module probes of ``model`` on ``corpus`` (paper 001 Sec. 7.4), out of
  fold or on its test speakers only, beside the same architecture with
  random weights and the control task (:mod:`crnn.tasks.science_measure`);
- the shipped checkpoints' cards (test UA clean and noisy, paper 001 Table
  4, paper 000 Table I, paper 004 Sec. 4.3), with intervals over test
  utterances from their confusion matrices; where fold checkpoints exist,
  the same comparison over the five CV folds, per actor
  (:mod:`crnn.tasks.science_folds`);
- LSTM cells of the raw-waveform CRNN against prosody over a corpus sample
  (paper 002 Sec. 4), beside an untrained copy.

The claims, the papers' figures and the verdict rule are in
:mod:`crnn.analysis.science`.
"""

from __future__ import annotations

import os
import time


from crnn.analysis.robust_probe import interval
from crnn.analysis.science import (AGREES, CELL_FEATURES, CELL_THRESHOLD, DISAGREES, INCONCLUSIVE, card_ua, fmt,
                                   not_testable, row, verdict)
from crnn.core.checkpoint import read_card, resolve_model
from crnn.core.corpora import read_corpus
from crnn.core.defaults import PAPER_001_MODEL
from crnn.core.errors import CrnnError
from crnn.tasks.science_folds import fold_robustness_row
from crnn.tasks.science_measure import cell_measurement, probe_measurement

CELLS_MODEL = "raw_crnn"  # paper 002's raw-waveform CRNN
MODULE_NAMES = {"input": "raw", "cnn": "CNN", "rnn": "BLSTM", "mlp": "MLP"}


def _diff(res: dict, kind: str, label: str, lower: str, upper: str, sign: float = 1.0) -> dict | None:
    """Paired interval of sign × (value[upper] − value[lower]) for "ua" or "rho" of one label."""
    vals = res["svm"] if kind == "ua" else res["inertia_ratio"]
    get = (lambda m: (vals[m].get(label) or {}).get("ua")) if kind == "ua" else (lambda m: vals[m].get(label))
    a, b = get(lower), get(upper)
    sa, sb = res["samples"][kind][lower].get(label), res["samples"][kind][upper].get(label)
    if not a or not b or sa is None or sb is None:
        return None
    return interval(sign * (b["value"] - a["value"]), sign * (sb - sa), centre=kind == "rho")


def _series(res: dict, kind: str, label: str, modules: list[str], scale: float) -> str:
    vals = res["svm"] if kind == "ua" else res["inertia_ratio"]
    pick = (lambda m: (vals[m].get(label) or {}).get("ua")) if kind == "ua" else (lambda m: vals[m].get(label))
    digits = 1 if kind == "ua" else 3
    return " → ".join(f"{MODULE_NAMES.get(m, m)} {fmt(pick(m), scale, digits)}" for m in modules if m in vals)


def probe_rows(m: dict) -> list[dict]:
    """The four paper-001 probe rows from :func:`crnn.tasks.science_measure.probe_measurement`."""
    tr, ct = m["trained"], m["control"]
    scope = f"{m['model']}, {m['scope']} ({m['n_utterances']} utterances, {m['speakers']} speakers, speaker-grouped CV)"
    rows = []
    steps = [("input", "cnn"), ("cnn", "rnn")]
    diffs = [_diff(tr, "ua", "emotion", a, b) for a, b in steps]
    sel = "; ".join(f"{MODULE_NAMES[mod]} {fmt((tr['svm'][mod].get('emotion') or {}).get('selectivity'), 100)}"
                    for mod in ("input", "cnn", "rnn", "mlp") if mod in tr["svm"])
    rows.append(row("001-svm-rises", f"{_series(tr, 'ua', 'emotion', list(tr['svm']), 100)} % UA; {scope}",
                    f"random weights: {_series(ct, 'ua', 'emotion', list(ct['svm']), 100)} %; selectivity within speakers "
                    f"(task − control-task UA, points): {sel}", verdict(diffs),
                    note="steps raw→CNN, CNN→BLSTM: " + ", ".join(fmt(d, 100) for d in diffs), data={"steps": diffs}))
    deep = [("cnn", "rnn"), ("rnn", "mlp")]
    for cid, label, sign in (("001-emotion-rho-falls", "emotion", -1.0), ("001-speaker-rho-rises", "speaker", 1.0),
                             ("001-gender-rho-rises", "gender", 1.0)):
        diffs = [_diff(tr, "rho", label, a, b, sign) for a, b in deep]
        mods = [x for x in ("input", "cnn", "rnn", "mlp") if x in tr["inertia_ratio"]]
        rows.append(row(cid, f"ρ {_series(tr, 'rho', label, mods, 1.0)}; {scope}",
                        f"random weights: ρ {_series(ct, 'rho', label, mods, 1.0)}", verdict(diffs),
                        note=f"{'falls' if sign < 0 else 'rises'} CNN→BLSTM, BLSTM→MLP: " + ", ".join(fmt(d, 1, 3) for d in diffs),
                        data={"steps": diffs}))
    return rows


def _card(name: str) -> dict | None:
    try:
        return read_card(resolve_model(name))
    except CrnnError:
        return None


def _ua_gap(a: str, b: str, condition: str) -> tuple[dict | None, str]:
    """Interval of UA(a) − UA(b) on the ``condition`` test set, and a text "a 48.1 vs b 31.6 %"."""
    ca, cb = _card(a), _card(b)
    ua_a, ua_b = (card_ua(c, condition) if c else None for c in (ca, cb))
    if ua_a is None or ua_b is None:
        return None, f"needs checkpoints {a} and {b} with {condition} test results"
    text = (f"{_named(a, ca)} {fmt(interval(ua_a[0], ua_a[1]), 100)} vs "
            f"{_named(b, cb)} {fmt(interval(ua_b[0], ua_b[1]), 100)} %")
    return interval(ua_a[0] - ua_b[0], ua_a[1] - ua_b[1]), text


def _named(name: str, card: dict) -> str:
    """The checkpoint's name, flagged when its conv output was batch-normalised or its log-Mels have the relative
    floor: then a comparison of architectures is also one of normalisation, and the reader must see it."""
    flags = [flag for flag, on in (("conv_norm", (card.get("model_kwargs") or {}).get("conv_norm")),
                                   ("relative log floor", (card.get("normalisation") or {}).get("floor") == "relative"))
             if on]
    return f"{name} (with {', '.join(flags)})" if flags else name


def card_rows() -> list[dict]:
    """Paper 001 Table 4, paper 000 Table I and paper 004 claims from the shipped checkpoints' cards."""
    convs = ["fst", "st", "t", "s"]
    robust = [("fst_cldnn_logmel", f"{c}_cldnn_logmel") for c in convs[1:]] + \
             [(f"{c}_cldnn_logmel", "s_cldnn_logmel") for c in convs[1:3]]
    beats_ldnn = [(f"{c}_cldnn_logmel", "ldnn_logmel") for c in convs] + \
                 [(f"{c}_cldnn_mfcc", "ldnn_mfcc") for c in ("t", "fst")]
    return [
        _card_row("001-fst-most-robust", robust, "noisy"),
        fold_robustness_row(),
        _card_row("001-sconv-beats-dct", [("s_cldnn_logmel", "ldnn_mfcc")], "noisy"),
        _card_row("001-sconv-beats-dct", [("s_cldnn_logmel", "ldnn_mfcc")], "clean"),
        _card_row("001-cldnn-beats-ldnn-noisy", beats_ldnn, "noisy"),
        _paper000_row(),
        _card_row("004-2d-beats-1d", [("cnn_lstm_2d", "cnn_lstm_1d")], "clean", "RAVDESS, speaker-independent, "),
    ]


def _card_row(cid: str, pairs: list[tuple[str, str]], condition: str, prefix: str = "") -> dict:
    """The row for "the first of each pair beats the second" on the ``condition`` test set, from the cards."""
    if condition == "noisy":
        pairs = [_noisy_trained(a, b) for a, b in pairs]
    results = [_ua_gap(a, b, condition) for a, b in pairs]
    missing = [text for gap, text in results if gap is None]
    if missing:
        return not_testable(cid, missing[0].removeprefix("needs "))
    gaps = [gap for gap, _ in results]
    note = (f"test UA, 95 % interval over test utterances (cards keep confusions, not per-speaker results); "
            f"differences (points): {', '.join(fmt(g, 100) for g in gaps)}")
    measured = f"{prefix}{condition}: " + "; ".join(text for _, text in results)
    return row(cid, measured, "–", verdict(gaps), note=note, data={"differences": gaps})


def _noisy_trained(a: str, b: str) -> tuple[str, str]:
    """Paper 001 compares robustness between models trained in its noisy condition (Sec. 5.2): the ``_noisy``
    checkpoints of both when both are shipped, else both clean-trained ones (never one of each)."""
    trained = (f"{a}_noisy", f"{b}_noisy")
    return trained if all(_card(n) is not None for n in trained) else (a, b)


def _paper000_row() -> dict:
    """CLSTM against a plain convolution of as many output features, if such a baseline is registered and trained."""
    from crnn.core.models import list_models

    plain = [m["name"] for m in list_models() if m.get("paper") == "000" and "rnn" not in m["family"].lower()
             and "lstm" not in m["name"]]
    if not plain or _card(plain[0]) is None:
        return not_testable("000-crnn-beats-conv", "a plain-convolution baseline with CLSTM's number of output "
                                                   "features (paper 000 Table I), registered and trained")
    return _card_row("000-crnn-beats-conv", [("clstm", plain[0])], "clean")


def cell_rows(m: dict) -> list[dict]:
    """The three paper-002 rows from :func:`crnn.tasks.science_measure.cell_measurement`."""
    rows = []
    for cid, feature in CELL_FEATURES.items():
        d = m["features"][feature]
        tr, ct = d["trained"], d["control"]
        v = verdict([tr["abs_r"]], CELL_THRESHOLD)
        note = (f"best cell state of {m['model']} over {m['clips']} clips (chosen on the same clips); "
                f"'tracks' means |mean r| > {CELL_THRESHOLD}")
        if v == AGREES and (ct["abs_r"]["value"] or 0) >= (tr["abs_r"]["value"] or 0):
            note += "; the untrained control tracks it at least as well: the wiring, not learning"
        rows.append(row(cid, f"mean r {fmt(tr['r'], 1, 2)} (per-clip r 5-95 %: {tr['clip_r'][0]:+.2f} to {tr['clip_r'][2]:+.2f})",
                        f"random weights: mean r {fmt(ct['r'], 1, 2)} (per-clip 5-95 %: {ct['clip_r'][0]:+.2f} to "
                        f"{ct['clip_r'][2]:+.2f})", v, note=note, data=d))
    return rows


def run_science(model: str = PAPER_001_MODEL, corpus: str | os.PathLike | None = None, *, cache_dir=None,
                figure: str | os.PathLike | None = None, cells: bool = True, progress=None) -> dict:
    """Every row (:func:`probe_rows`, :func:`card_rows`, :func:`cell_rows`) as {"rows", "counts", "seconds", ...}.

    Without a corpus only the card rows are measured. ``figure`` (.html or
    .png) also draws the verdict table (:func:`crnn.plots_science.science_table`).
    """
    start = time.perf_counter()
    rows: list[dict] = []
    scope = None
    if corpus is not None:
        c = read_corpus(corpus)
        m = probe_measurement(model, c, cache_dir=cache_dir, progress=progress)
        scope = m["scope"]
        rows += probe_rows(m)
    rows += card_rows()
    if corpus is not None and cells:
        rows += cell_rows(cell_measurement(CELLS_MODEL, c, cache_dir=cache_dir))
    rows.sort(key=lambda r: r["paper"])
    verdicts = [r["verdict"] for r in rows]
    counts = {v: verdicts.count(v) for v in (AGREES, DISAGREES, INCONCLUSIVE)}
    counts["not yet testable"] = sum(v.startswith("not yet") for v in verdicts)
    result = {"model": model, "corpus": str(corpus) if corpus else None, "probe_scope": scope, "rows": rows,
              "counts": counts, "seconds": round(time.perf_counter() - start, 1)}
    if figure is not None:
        from crnn.plots import save_figure
        from crnn.plots_science import science_table

        result["figure"] = str(save_figure(science_table(rows), figure))
    return result


def jsonable_rows(rows: list[dict]) -> list[dict]:
    """Rows without their bulky "data" (bootstrap details), for tables."""
    return [{k: v for k, v in r.items() if k != "data"} for r in rows]


__all__ = ["run_science", "probe_rows", "card_rows", "cell_rows", "jsonable_rows"]


def science_markdown(rows: list[dict]) -> str:
    """The rows as a markdown table: paper, claim (where), the paper's figure, measured, control, verdict."""
    lines = ["| paper | claim (where) | the paper's figure | measured, 95 % interval | control | verdict |",
             "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in jsonable_rows(rows):
        verdict = r.get("verdict", "")
        bold = f"**{verdict}**" if verdict in ("agrees", "disagrees", "inconclusive") else verdict
        cells = [r.get("paper", ""), f"{r.get('claim', '')} ({r.get('source', '')})", r.get("paper_figure", ""),
                 r.get("measured") or "–", r.get("control") or "–", bold]  # fmt: skip
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)
