"""Five-fold speaker-grouped cross-validation: SVM baselines on the folds, and the summary of fold checkpoints.

Networks are trained per fold with ``crnn train --split cv --fold K`` (folds from
:func:`crnn.core.splits.cv_folds`: every speaker tested exactly once); their
checkpoints are named ``<run>_cv<K>``. :func:`cv_baseline` scores the SVM
baselines on the same folds (C and kernel chosen on each fold's validation
speakers). :func:`cv_rows` gives, per network and baseline, the mean ± sd of
test UA over folds (clean and noisy) and a paired Wilcoxon signed-rank test
over the 24 speakers' UA against the best baseline.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from crnn.analysis.baselines import NORM_WORDS, check_norm, chosen_kernel, svm_predict, tune_svms
from crnn.analysis.evaluate import per_speaker_ua
from crnn.analysis.metrics import unweighted_accuracy
from crnn.core.cache import Progress
from crnn.core.checkpoint import list_checkpoints
from crnn.core.corpora import Corpus, read_corpus
from crnn.core.defaults import CACHE_DIR, CHECKPOINT_DIR, FOLDS_DIR, USER_MODELS_DIR
from crnn.core.splits import cv_folds, partition
from crnn.tasks.baselines import (PARTS, check_feature_set, check_replaceable, entry_key, results_path,
                                  standardised_functionals, store_result)

N_FOLDS = 5
FOLD_NAME = re.compile(r"^(?P<run>.+)_cv(?P<fold>\d)$")


def _fold_baseline(corpus: Corpus, fold: dict, features: str, cache_dir, progress, norm: str) -> dict:
    parts = {name: partition(corpus, fold[name]) for name in PARTS}
    Z, y, _ = standardised_functionals(corpus, parts, features, cache_dir, progress, norm)
    return fold_result(Z, y, corpus.labels, [u.speaker for u in parts["test"]], fold["test"])


def fold_result(Z: dict, y: dict, labels, utterance_speakers: list[str], test_speakers: list[str]) -> dict:
    """One fold of an SVM baseline: kernel and C chosen on validation, then UA and per-speaker UA, clean and noisy.

    ``Z`` and ``y`` as :func:`crnn.analysis.baselines.tune_svms` takes them;
    ``utterance_speakers`` names the speaker of every test utterance.
    """
    svm = tune_svms(Z, y, labels)
    best = chosen_kernel(svm)
    result = {"kernel": best, "C": svm[best]["C"], "test_speakers": test_speakers}
    for condition, key in (("clean", "test"), ("noisy", "noisy")):
        predicted = list(svm_predict(best, svm[best]["C"], Z["train"], y["train"], Z[key]))
        result[condition] = {"ua": unweighted_accuracy(y[key], predicted),
                             "per_speaker_ua": per_speaker_ua(y[key], predicted, utterance_speakers)}  # fmt: skip
    return result


def cv_baseline(
    features: str, corpus_path: str | os.PathLike | Corpus, seed: int = 0,
    cache_dir: str | os.PathLike | None = CACHE_DIR, out: str | os.PathLike | None = None,
    progress: Progress | None = None, norm: str = "speaker",
) -> dict:
    """The SVM baseline on the five CV folds; stored as ``<entry_key>_cv`` in ``baselines_<corpus>.json``.

    ``norm`` as in :func:`crnn.tasks.baselines.run_baseline`.
    """
    check_feature_set(features)
    check_norm(norm)  # before minutes of feature extraction
    corpus = corpus_path if isinstance(corpus_path, Corpus) else read_corpus(corpus_path)
    target, key, splits = results_path(corpus, out), f"{entry_key(features, norm)}_cv", cv_folds(corpus, N_FOLDS, seed)
    check_replaceable(target, key, {"seed": seed, "folds": [{"test_speakers": f["test"]} for f in splits]})
    folds = [_fold_baseline(corpus, fold, features, cache_dir, progress, norm) for fold in splits]
    result = {"features": features, "norm": norm, "scheme": "cv", "seed": seed, "folds": folds,
              "corpus": {"name": corpus.name}}  # fmt: skip
    store_result(target, key, result)
    return result


NETWORK_FEATURES = ("embedding", "speaker_head")  # stored CV results built on a network's embedding


def svm_name(result: dict) -> str:
    """How a CV baseline is named in the table: "SVM, compare", "SVM on cblstm's embedding", each with
    " (z-score with ...)" unless speaker-standardised."""
    if result["features"] == "speaker_head":
        return f"{result['model']} + speaker-adapted head"
    norm = result.get("norm", "speaker")
    name = f"SVM on {result['model']}'s embedding" if result["features"] == "embedding" else f"SVM, {result['features']}"
    return name + ("" if norm == "speaker" else f" ({NORM_WORDS[norm]})")


def _network_runs(root: Path) -> dict[str, list[dict]]:
    """Fold cards grouped by run name: {run: [card of fold 0..4]} for runs with all five folds."""
    runs: dict[str, dict[int, dict]] = {}
    for entry in list_checkpoints(root):
        match = FOLD_NAME.match(entry["name"])
        if match and "card" in entry:
            runs.setdefault(match["run"], {})[int(match["fold"])] = entry["card"]
    return {run: [folds[k] for k in range(N_FOLDS)] for run, folds in runs.items() if len(folds) == N_FOLDS}


def _summary(name: str, kind: str, folds: list[dict]) -> dict:
    row = {"name": name, "kind": kind}
    for condition in ("clean", "noisy"):
        uas = [f[condition]["ua"] for f in folds]
        speakers: dict[str, float] = {}
        for f in folds:
            speakers.update(f[condition].get("per_speaker_ua") or {})
        row[condition] = {"mean": float(np.mean(uas)), "sd": float(np.std(uas, ddof=1)), "folds": uas,
                          "per_speaker_ua": speakers}  # fmt: skip
    return row


def paired_test(a: dict[str, float], b: dict[str, float]) -> dict:
    """Wilcoxon signed-rank test of per-speaker UA a vs b over their common speakers."""
    from scipy.stats import wilcoxon

    common = sorted(set(a) & set(b))
    diff = np.array([a[s] - b[s] for s in common])
    p = float(wilcoxon(diff).pvalue) if len(common) >= 6 and np.any(diff != 0) else 1.0
    return {"speakers": len(common), "mean_difference": float(diff.mean()) if len(common) else 0.0, "p": p,
            "significant": p < 0.05}  # fmt: skip


def cv_rows(root: str | os.PathLike | None = None, baselines: dict | None = None) -> list[dict]:
    """Per network run (five fold checkpoints) and per CV baseline: mean ± sd UA and the paired test vs the best baseline.

    Fold checkpoints are looked for in ``root``, by default in the shipped
    folds folder, the checkpoints folder and the user models folder (the
    first that holds all five folds of a run wins).
    """
    roots = [Path(root)] if root is not None else [FOLDS_DIR, CHECKPOINT_DIR, USER_MODELS_DIR]
    runs: dict[str, list[dict]] = {}
    for folder in reversed(roots):
        runs.update(_network_runs(folder))
    rows = []
    for run, cards in sorted(runs.items()):
        folds = [{c: card["metrics"]["test"][c] for c in ("clean", "noisy")} for card in cards]
        restarts = {k: len((card.get("training") or {}).get("restarts") or []) for k, card in enumerate(cards)}
        rows.append(_summary(run, "network", folds) | {"restarts": {k: n for k, n in restarts.items() if n}})
    stored = [r for key, r in (baselines or {}).items() if key.endswith("_cv") and r.get("scheme") == "cv"]
    # a network's embedding with a speaker's statistics (SVM or speaker-adapted head) is compared with the SVMs,
    # never counted as one
    for kind in ("embedding", "baseline"):
        rows += [_summary(svm_name(r), kind, r["folds"]) | {"norm": r.get("norm", "speaker")}
                 for r in stored if (r["features"] in NETWORK_FEATURES) == (kind == "embedding")]  # fmt: skip
    return compare_with_svms(rows)


def compare_with_svms(rows: list[dict]) -> list[dict]:
    """Each network (and network embedding + SVM) row gains paired tests against the best openSMILE SVM and
    against the best training-norm one."""
    svms = [r for r in rows if r["kind"] == "baseline"]
    best = max(svms, key=lambda r: r["clean"]["mean"], default=None)
    # the control: the best SVM normalised with training statistics only, the information one new clip has
    single_clip = max((r for r in svms if r["norm"] == "training"), key=lambda r: r["clean"]["mean"], default=None)
    for row in rows:
        if row["kind"] == "baseline":
            continue
        for key, svm in (("vs_best_svm", best), ("vs_training_norm_svm", single_clip)):
            if svm is not None:
                row[key] = {c: paired_test(row[c]["per_speaker_ua"], svm[c]["per_speaker_ua"])
                            for c in ("clean", "noisy")} | {"svm": svm["name"]}  # fmt: skip
    return rows


def p_text(p: float) -> str:
    """A p-value as the tables print it: "p<0.001" or "p=0.042"."""
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def _tests(vs: dict | None) -> list[str]:
    return [f"{100 * vs[c]['mean_difference']:+.1f} ({p_text(vs[c]['p'])})" if vs else "–" for c in ("clean", "noisy")]


def cv_table(rows: list[dict]) -> str:
    """Markdown: mean ± sd UA over the five folds, and the paired tests against the best SVM (and the control SVM)."""
    control = any("vs_training_norm_svm" in r for r in rows)
    head = "| Run | CV UA clean | CV UA noisy | Δ vs best SVM, clean (p) | Δ vs best SVM, noisy (p) |"
    rule = "|---|---:|---:|---:|---:|"
    if control:
        head += " Δ vs best training-norm SVM, clean (p) | Δ vs best training-norm SVM, noisy (p) |"
        rule += "---:|---:|"
    lines = [head, rule]
    for r in rows:
        cells = [f"{100 * r[c]['mean']:.1f} ± {100 * r[c]['sd']:.1f}" for c in ("clean", "noisy")]
        cells += _tests(r.get("vs_best_svm")) + (_tests(r.get("vs_training_norm_svm")) if control else [])
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    restarted = [f"{r['name']} " + ", ".join(f"fold {k} ({n})" for k, n in r["restarts"].items())
                 for r in rows if r.get("restarts")]  # fmt: skip
    if restarted:
        lines += ["", "Folds restarted because their first training never learned (restarts in brackets; "
                  "`training.restarts` in the card): " + "; ".join(restarted) + "."]
    return "\n".join(lines)
