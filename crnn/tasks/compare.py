"""``crnn compare``: linear CKA between every module of two models over one corpus.

Representations come from :func:`crnn.tasks.probe.representations_for`: with a
corpus folder, each model's cached per-module vectors of that corpus; without
one, each checkpoint's probe bundle (PCA-reduced where wide, so the values
are close to, not exactly, those of the full representations).
"""

from __future__ import annotations

import os
import time


from crnn.analysis.cka import cka_matrix
from crnn.core.cache import Progress
from crnn.core.errors import CrnnError
from crnn.core.fileio import check_figure_path
from crnn.tasks.probe import representations_for


def _aligned(reps_a, reps_b) -> tuple[dict, dict, int]:
    """Both models' modules restricted to the utterances they share, in the same order; and how many."""
    ids_a, ids_b = [str(i) for i in reps_a.ids], [str(i) for i in reps_b.ids]
    index_b = {u: k for k, u in enumerate(ids_b)}
    rows_a = [k for k, u in enumerate(ids_a) if u in index_b]
    if len(rows_a) < 3:
        raise CrnnError("the two models' representations share fewer than 3 utterances; compare them on one corpus")
    rows_b = [index_b[ids_a[k]] for k in rows_a]
    return ({m: x[rows_a] for m, x in reps_a.modules.items()}, {m: x[rows_b] for m, x in reps_b.modules.items()},
            len(rows_a))


def compare_representations(reps_a, reps_b) -> dict:
    """{"modules_a", "modules_b", "cka" (rows: A's modules, columns: B's), "utterances", "approximate"} of two Representations."""
    a, b, n = _aligned(reps_a, reps_b)
    return {"modules_a": list(a), "modules_b": list(b), "cka": cka_matrix(a, b).round(4).tolist(), "utterances": n,
            "approximate": bool(reps_a.meta.get("pca") or reps_b.meta.get("pca"))}


def run_compare(model_a: str | os.PathLike, model_b: str | os.PathLike, corpus: str | os.PathLike | None = None, *,
                figure: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
                progress: Progress | None = None) -> dict:
    """Linear CKA (0-1) of every module of ``model_a`` with every module of ``model_b``; the CLI's ``crnn compare``.

    Returns :func:`compare_representations` plus "model_a", "model_b",
    "corpus", "seconds" {"representations", "cka"}; ``figure`` (.html or
    .png) writes the modules × modules heatmap and adds "figure".
    """
    check_figure_path(figure)
    start = time.perf_counter()
    reps = [representations_for(m, corpus, cache_dir=cache_dir, progress=progress) for m in (model_a, model_b)]
    mid = time.perf_counter()
    result = compare_representations(*reps)
    result = {"model_a": reps[0].meta.get("model") or str(model_a), "model_b": reps[1].meta.get("model") or str(model_b),
              "corpus": reps[0].meta.get("corpus"), **result,
              "seconds": {"representations": round(mid - start, 3), "cka": round(time.perf_counter() - mid, 3)}}
    if figure is not None:
        from crnn.plots import save_figure
        from crnn.plots_lab import cka_figure

        result["figure"] = str(save_figure(cka_figure(result), figure))
    return result
