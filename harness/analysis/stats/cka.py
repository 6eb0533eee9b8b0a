"""Linear centered kernel alignment (Kornblith et al., 2019) between two representations of the same items."""
from __future__ import annotations

import numpy as np


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """CKA(X, Y) = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F), Xc, Yc column-centred.

    ``x`` is (items x features_x), ``y`` is (items x features_y); the widths may differ. Invariant to
    orthogonal transforms and isotropic scaling of either side; 1 for identical representations.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError("x and y must be (items x features) arrays over the same items")
    if x.shape[0] < 2:
        raise ValueError("CKA needs at least two items")
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    # For many features and few items the Gram (items x items) form is cheaper; both are equal.
    if x.shape[1] + y.shape[1] > 2 * x.shape[0]:
        k, l = x @ x.T, y @ y.T
        cross, norm_x, norm_y = np.sum(k * l), np.linalg.norm(k), np.linalg.norm(l)
    else:
        cross = np.linalg.norm(y.T @ x) ** 2
        norm_x, norm_y = np.linalg.norm(x.T @ x), np.linalg.norm(y.T @ y)
    if norm_x == 0 or norm_y == 0:
        return float("nan")
    return float(cross / (norm_x * norm_y))


def layer_cka(layers: np.ndarray) -> np.ndarray:
    """CKA of each layer with the next: ``layers`` is (layers x items x features); returns layers - 1 values."""
    return np.array([linear_cka(layers[i], layers[i + 1]) for i in range(len(layers) - 1)])


def unbiased_hsic(k: np.ndarray, l: np.ndarray) -> float:
    """The unbiased HSIC estimator of Song et al. (JMLR 2012) from two n x n Gram matrices (n >= 4):
    with the diagonals set to zero (K~, L~),
    ``[tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3))``."""
    n = k.shape[0]
    if n < 4:
        raise ValueError("the unbiased HSIC needs at least four items")
    k, l = k.copy(), l.copy()
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    ones_k, ones_l = k.sum(axis=0), l.sum(axis=0)
    value = np.sum(k * l) + k.sum() * l.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * float(ones_k @ ones_l)
    return float(value / (n * (n - 3)))


def debiased_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA from the unbiased HSIC estimator (Kornblith et al. 2019, appendix; Song et al. 2012):
    ``HSIC_u(K, L) / sqrt(HSIC_u(K, K) HSIC_u(L, L))`` with ``K = XX'``, ``L = YY'``. Near 0 for unrelated
    representations whatever the width, where the plain estimator drifts towards 1 when items are few
    against the width. NaN when a side has no (estimated) variance."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError("x and y must be (items x features) arrays over the same items")
    k, l = x @ x.T, y @ y.T
    kk, ll = unbiased_hsic(k, k), unbiased_hsic(l, l)
    if kk <= 0 or ll <= 0:
        return float("nan")
    return float(unbiased_hsic(k, l) / np.sqrt(kk * ll))


def layer_debiased_cka(layers: np.ndarray) -> np.ndarray:
    """Debiased CKA of each layer with the next: ``layers`` is (layers x items x features)."""
    return np.array([debiased_cka(layers[i], layers[i + 1]) for i in range(len(layers) - 1)])
