"""Linear centred kernel alignment (CKA; Kornblith et al., 2019) between two models' representations.

For representations X (n, p) and Y (n, q) of the same n utterances, each
column centred,

    CKA(X, Y) = ‖Yᵀ X‖²_F / (‖Xᵀ X‖_F · ‖Yᵀ Y‖_F),

between 0 and 1, invariant to orthogonal transforms and isotropic scaling of
either side (not to arbitrary invertible linear maps), so modules of
different widths and different models compare. Computed in float64 in
whichever of the feature or the utterance space is smaller.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np


def _centred(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2:
        raise ValueError(f"representations must be (utterances, features), not {x.shape}")
    return x - x.mean(axis=0, keepdims=True)


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of ``x`` (n, p) and ``y`` (n, q), rows the same utterances; NaN if either is constant."""
    x, y = _centred(x), _centred(y)
    if len(x) != len(y):
        raise ValueError(f"the two representations cover {len(x)} and {len(y)} utterances")
    if x.shape[1] + y.shape[1] > 2 * len(x):  # wide: compare n × n Gram matrices instead
        kx, ky = x @ x.T, y @ y.T
        num, dx, dy = float((kx * ky).sum()), float(np.linalg.norm(kx)), float(np.linalg.norm(ky))
    else:
        num = float(np.linalg.norm(y.T @ x) ** 2)
        dx, dy = float(np.linalg.norm(x.T @ x)), float(np.linalg.norm(y.T @ y))
    if dx < 1e-12 or dy < 1e-12:
        return float("nan")
    return num / (dx * dy)


def cka_matrix(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> np.ndarray:
    """CKA of every module of ``a`` (rows, in order) with every module of ``b`` (columns): (len(a), len(b)).

    ``a`` and ``b`` map a module name to (n, d) arrays over the same utterances in the same order.
    """
    return np.array([[linear_cka(x, y) for y in b.values()] for x in a.values()])
