"""Sample quality: how generated samples compare with real data, in a feature space.

Metrics, each on feature sets of shape (N, F) (real) and (M, F) (generated):

- Fréchet distance between Gaussian fits of the two sets (FID's formula):
  ||m1 - m2||² + Tr(C1 + C2 - 2 (C1 C2)^{1/2}).
- Precision / recall (Kynkäänniemi et al. 2019): the share of generated samples inside
  the real manifold, and of real samples inside the generated one, each manifold the
  union of k-nearest-neighbour balls around its samples.
- Density / coverage (Naeem et al. 2020): how many real k-NN balls hold a generated
  sample on average (scaled so identical distributions give 1), and the share of real
  balls holding at least one (identical distributions give ≈ 1 - 2^-k, DESIGN.md).
- Memorization: generated samples' distance to their nearest training example against
  held-out examples' distance to theirs.
- Class distribution of generated samples against the data's, when a classifier exists
  (mode dropping shows as classes with almost no samples): the classifier's predicted classes
  of both, so its errors cancel.

Features come from a :class:`FeatureSpace`: a small classifier trained on the domain
(LeNet-style for images, an MLP for vectors; its penultimate layer) when labels exist,
PCA of the flattened data otherwise. Nothing here reads or writes files:
:func:`classifier_state` and :func:`load_classifier` turn a classifier into tensors and
string metadata (what a safetensors file holds) and back.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.linalg import LinAlgError, eigh, eigvalsh
from torch import nn

from vaelab.analysis.neighbours import REL_ERROR, exact_sq_distances, nearest
from vaelab.data.rows import is_lazy
from vaelab.errors import ConfigError, DataError, RunError
from vaelab.runtime import resolve_device, seeded

FEATURES = 128  # width of the classifier's feature layer
SQRTM_EPS = 1e-6  # diagonal offset, relative to the mean variance, when Tr((C1 C2)^{1/2}) fails
DISTANCE_BLOCK = 4_000_000  # (point, centre) pairs per block of the ball counts: bounds memory (16 MB a matrix)
MEMORIZATION_QUANTILE = 1.0  # percent: "close" means nearer than this percentile of test-to-train distances
DROPPED_SHARE = 0.1  # a class is dropped when its generated share is below this fraction of its real share
EVAL_BATCH = 1000  # examples per forward pass when extracting features
CLASSIFIER_EPOCHS, MIN_CLASSIFIER_STEPS = 3, 100  # the domain classifier's training: epochs, unless too few steps
STATE_FORMAT = "vaelab-domain-classifier-1"  # metadata["format"] of classifier_state


# ---------------------------------------------------------------- input checks
def _features(name: str, X: Any) -> np.ndarray:
    """X as a float64 (N, F) array with N >= 1 and finite values, or a DataError saying why not."""
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2:
        raise DataError(
            f"{name} must be a 2-D array of features (n_samples, n_features); got shape {arr.shape}. "
            "Map data to features first, e.g. with FeatureSpace.transform(X)."
        )
    if arr.shape[0] == 0:
        raise DataError(f"{name} holds no samples; got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise DataError(f"{name} holds NaN or infinite values; features must be finite.")
    return arr


def _pair(real: Any, fake: Any, names: tuple[str, str] = ("real", "fake")) -> tuple[np.ndarray, np.ndarray]:
    a, b = _features(names[0], real), _features(names[1], fake)
    if a.shape[1] != b.shape[1]:
        raise DataError(
            f"{names[0]} and {names[1]} must have the same number of features; got {a.shape[1]} and {b.shape[1]}. "
            "Map both sets with the same FeatureSpace."
        )
    return a, b


def _check_k(name: str, k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"{name} must be an integer >= 1 (neighbours per k-NN ball); got {k!r}.")
    return int(k)


def _enough_for_k(k: int, **sets: np.ndarray) -> None:
    """Each named set needs more than k samples: a radius is the distance to the k-th *other* sample."""
    small = {name: arr.shape[0] for name, arr in sets.items() if arr.shape[0] <= k}
    if small:
        got = ", ".join(f"{n} {name}" for name, n in small.items())
        raise DataError(
            f"k-NN balls with k={k} need more than {k} samples in each set; got {got} samples. "
            "Pass more samples or a smaller k."
        )


# ---------------------------------------------------------------- Fréchet distance
def _sqrtm_trace(c1: np.ndarray, c2: np.ndarray) -> float | None:
    """Tr((C1 C2)^{1/2}); None when it cannot be computed (non-finite values).

    C1 C2 is similar to the symmetric positive semi-definite C1^{1/2} C2 C1^{1/2}, so the trace of
    its square root is Σ sqrt(λ) over the eigenvalues λ of that matrix: two symmetric eigen-
    decompositions instead of scipy's general sqrtm (a Schur method, ~20x slower at 128 features,
    which the half-sampling intervals of :mod:`vaelab.analysis.comparison` call ten times more;
    torchmetrics computes FID from eigenvalues too). Rounding makes tiny eigenvalues slightly
    negative: they are 0.
    """
    try:
        # LAPACK's divide and conquer: at 128 features a fifth of the default driver's time.
        w1, v1 = eigh(c1, driver="evd")
        root1 = (v1 * np.sqrt(np.clip(w1, 0.0, None))) @ v1.T  # C1^{1/2}
        lam = eigvalsh(root1 @ c2 @ root1, driver="evd")
    except (LinAlgError, ValueError):
        return None
    if not np.isfinite(lam).all():
        return None
    return float(np.sqrt(np.clip(lam, 0.0, None)).sum())


def moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample mean (F,) and covariance (F, F), ddof=1, of features (N, F): the Gaussian fit of a set."""
    return x.mean(0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_distance(real: np.ndarray, fake: np.ndarray, *,
                     real_moments: tuple[np.ndarray, np.ndarray] | None = None) -> float:  # fmt: skip
    """Fréchet distance between Gaussian fits of two feature sets (FID's formula).

    d² = ||m1 - m2||² + Tr(C1 + C2 - 2 (C1 C2)^{1/2}), with the sample means m and
    covariances C (ddof=1) of ``real`` (N, F) and ``fake`` (M, F). When the matrix square
    root fails (near-singular covariances), a small offset (1e-6 times the mean variance)
    is added to both diagonals. The result is clipped at 0: it is a squared distance, and a
    negative value can only be rounding. ``real_moments``: :func:`moments` of ``real`` when
    already computed (one real set against several fake ones).

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(500, 4))
    >>> round(frechet_distance(x, x + 1.0), 6)  # same covariance, means 1 apart in 4 dims
    4.0
    """
    a, b = _pair(real, fake)
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise DataError(
            f"frechet_distance fits a covariance to each set and needs at least 2 samples in each; "
            f"got {a.shape[0]} real and {b.shape[0]} fake."
        )
    (m1, c1), (m2, c2) = real_moments or moments(a), moments(b)
    tr_root = _sqrtm_trace(c1, c2)
    if tr_root is None:
        eps = SQRTM_EPS * max(np.trace(c1), np.trace(c2), 1e-12) / c1.shape[0]
        offset = eps * np.eye(c1.shape[0])
        c1, c2 = c1 + offset, c2 + offset
        tr_root = _sqrtm_trace(c1, c2)
        if tr_root is None:
            raise DataError(
                "The matrix square root of the feature covariances failed even after regularisation; "
                "the features are degenerate (e.g. constant or huge values). Check the feature space."
            )
    d2 = float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2.0 * tr_root)
    return max(d2, 0.0)


# ---------------------------------------------------------------- k-NN manifolds
# Balls are open, as in the prdc package (Naeem et al.'s code): a point lies in B(c, r) when
# ||p - c|| < r, so a point exactly on the edge (the k-th neighbour itself, or a copy of it) is
# outside. Identical real and fake sets then give density exactly 1 and coverage exactly 1.
# Every distance that decides a membership is computed by one function, exact_sq_distances, so a pair
# gives the same bits whether it defines a radius or is tested against one (an edge is decided
# consistently); the fast float32 distances only screen the pairs that are clearly in or out.
BALLS = "open"


def knn_convention(k_pr: int = 3, k_dc: int = 5) -> dict[str, Any]:
    """The k-NN balls behind precision/recall and density/coverage, to state next to the numbers."""
    return {"k_precision_recall": int(k_pr), "k_density_coverage": int(k_dc), "balls": BALLS,
            "edge": "a point on a ball's edge (distance = radius) is outside, as in the prdc package"}  # fmt: skip


def _knn_sq_radii(X: np.ndarray, k: int) -> np.ndarray:
    """Squared distance of each sample (N, F) to its k-th nearest *other* sample, shape (N,), by
    :func:`vaelab.analysis.neighbours.nearest` (exact distances; a copy of the sample counts as another)."""
    return knn_sq_radii(X, (k,))[k]


def knn_sq_radii(X: np.ndarray, ks: tuple[int, ...]) -> dict[int, np.ndarray]:
    """:func:`_knn_sq_radii` for several k from one neighbour search (the largest k's): the k-th
    exact distance is the same whichever larger list it is read from."""
    n, top = X.shape[0], max(ks)
    idx, sq = nearest(X, X, top + 1)  # (N, top+1), nearest first: the sample itself among the zeros
    is_self = idx == np.arange(n)[:, None]
    is_self[~is_self.any(1), -1] = True  # itself not listed: top+1 copies at distance 0, drop the last
    others = sq[~is_self].reshape(n, top)
    return {k: others[:, k - 1] for k in ks}


def nearest_distances(query: Any, reference: Any) -> np.ndarray:
    """Distance of each query row (M, F) to its nearest reference row (N, F), shape (M,), float64
    (:func:`vaelab.analysis.neighbours.nearest`: one blocked pass over the reference)."""
    return np.sqrt(nearest(query, reference, 1)[1][:, 0])


def _ball_hits(points: np.ndarray, centres: np.ndarray, sq_radii: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Open balls B(centres_i, radius_i): whether each point (M,) lies in any ball, how many
    (point, ball) memberships there are in all, and whether each ball (N,) holds any point."""
    return ball_hits(points, centres, [sq_radii])[0]


def ball_hits(points: np.ndarray, centres: np.ndarray,
              radii: list[np.ndarray]) -> list[tuple[np.ndarray, int, np.ndarray]]:  # fmt: skip
    """:func:`_ball_hits` for several sets of radii around the same centres, from one pass of distances.

    Pairwise squared distances screened in float32 by torch (all cores) in blocks of points
    (memory stays bounded); a pair whose fast distance is within rounding of its radius is
    decided by :func:`exact_sq_distances` on the float64 values instead, so every membership is
    the exact one."""
    # Centring first keeps ||p||² + ||c||² - 2 p·c from cancelling when features sit far from 0.
    shift = centres.mean(0)
    p_all = torch.from_numpy((points - shift).astype(np.float32))
    c = torch.from_numpy((centres - shift).astype(np.float32))
    c_sq = (c**2).sum(1)  # (N,)
    # Bound on the fast distance's rounding error, float32 coordinates and sums included (a factor
    # 8 to spare), relative to ||p||² + ||c||².
    rel = REL_ERROR * (c.shape[1] + 2)
    step = max(1, DISTANCE_BLOCK // c.shape[0])
    radii_t = [torch.from_numpy(np.asarray(r, dtype=np.float32)) for r in radii]
    hit = [np.empty(points.shape[0], dtype=bool) for _ in radii]
    total = [0 for _ in radii]
    held = [np.zeros(c.shape[0], dtype=bool) for _ in radii]
    for s in range(0, points.shape[0], step):
        p = p_all[s : s + step]
        scale = (p**2).sum(1)[:, None] + c_sq[None, :]  # (m, N)
        d_sq = torch.addmm(scale, p, c.T, alpha=-2.0)  # ||p||² + ||c||² - 2 p·c
        margin = scale.mul_(rel)
        for r, sq_radii in enumerate(radii_t):
            diff = d_sq - sq_radii[None, :]
            inside = diff < 0
            close = diff.abs_() <= margin
            i, j = (t.numpy() for t in torch.nonzero(close, as_tuple=True))
            if i.size:
                inside[i, j] = torch.from_numpy(exact_sq_distances(points[s + i], centres[j]) < radii[r][j])
            hit[r][s : s + step] = inside.any(1).numpy()
            total[r] += int(torch.count_nonzero(inside))
            held[r] |= inside.any(0).numpy()
    return list(zip(hit, total, held))


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    Each set's manifold is the union of open balls around its samples, each ball reaching the
    sample's k-th nearest neighbour in the same set (the neighbour itself on the edge, outside).
    Precision is the share of ``fake`` (M, F) inside the real manifold (are samples realistic?);
    recall the share of ``real`` (N, F) inside the fake manifold (is the data's variety
    covered?). Both are in [0, 1]; the same distribution gives values near 1, disjoint ones 0.
    """
    k = _check_k("k", k)
    a, b = _pair(real, fake)
    _enough_for_k(k, real=a, fake=b)
    precision = float(_ball_hits(b, a, _knn_sq_radii(a, k))[0].mean())
    recall = float(_ball_hits(a, b, _knn_sq_radii(b, k))[0].mean())
    return precision, recall


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020), on open k-NN balls around the real samples only.

    density = 1/(k M) Σ_j #{real balls holding fake_j}: 1 in expectation for identical
    distributions, above 1 when samples crowd where the data is dense, unbounded.
    coverage = share of real balls holding at least one fake sample, in [0, 1]; identical
    distributions give 1 - Π_{i=1..k} (N-i)/(N+M-i) ≈ 1 - 2^-k for M = N.
    Balls are open (prdc's convention, k = 5 its default): the same array passed as real and fake
    gives density 1 and coverage 1 exactly (each ball holds its centre and k − 1 neighbours; the
    k-th lies on the edge). Fewer than the radius' k neighbours are needed from the fake set.
    """
    k = _check_k("k", k)
    a, b = _pair(real, fake)
    _enough_for_k(k, real=a)
    _, n_hits, held = _ball_hits(b, a, _knn_sq_radii(a, k))
    density = float(n_hits / (k * b.shape[0]))
    coverage = float(held.mean())
    return density, coverage


def quality_report(real_features: np.ndarray, fake_features: np.ndarray, *, k_pr: int = 3, k_dc: int = 5,
                   real_summary: dict[str, Any] | None = None) -> dict[str, float]:  # fmt: skip
    """All sample-quality metrics for one pair of feature sets.

    Returns a dict with exactly the keys ``frechet``, ``precision``, ``recall``,
    ``density`` and ``coverage`` (a contract: metrics.json and the report read them).
    ``k_pr`` is the k of precision/recall (3, Kynkäänniemi et al.), ``k_dc`` that of
    density/coverage (5, Naeem et al.). ``real_summary``: :func:`real_summary` of the real
    samples when already computed (their k-NN radii and moments do not depend on the fake
    samples: comparing several samplers with one real set computes them once).

    The same numbers as :func:`precision_recall` and :func:`density_coverage`, with the work they
    share done once: one neighbour search of the real samples for both k, and one pass of
    distances from the fake samples to the real ones for the balls of both k.
    """
    real, fake = _pair(real_features, fake_features, ("real_features", "fake_features"))
    k_pr, k_dc = _check_k("k_pr", k_pr), _check_k("k_dc", k_dc)
    _enough_for_k(k_pr, real=real, fake=fake)
    _enough_for_k(k_dc, real=real)
    summary = real_summary or {"radii": knn_sq_radii(real, (k_pr, k_dc)), "moments": None}
    radii = summary["radii"]
    (pr_hit, _, _), (_, dc_hits, dc_held) = ball_hits(fake, real, [radii[k_pr], radii[k_dc]])
    recall_hit, _, _ = _ball_hits(real, fake, _knn_sq_radii(fake, k_pr))
    return {"frechet": frechet_distance(real, fake, real_moments=summary["moments"]), "precision": float(pr_hit.mean()),
            "recall": float(recall_hit.mean()), "density": float(dc_hits / (k_dc * fake.shape[0])),
            "coverage": float(dc_held.mean())}  # fmt: skip


def real_summary(real: np.ndarray, k_pr: int = 3, k_dc: int = 5) -> dict[str, Any]:
    """What :func:`quality_report` computes from the real samples alone (their squared k-NN radii
    for k_pr and k_dc, their mean and covariance), to pass back as ``real_summary``."""
    a = _features("real_features", real)
    return {"radii": knn_sq_radii(a, (k_pr, k_dc)), "moments": moments(a)}


# ---------------------------------------------------------------- memorization
def _given_distances(name: str, given: Any, n: int) -> np.ndarray:
    d = np.asarray(given, dtype=np.float64)
    if d.shape != (n,):
        raise DataError(f"{name}_to_train must hold one distance per {name} example ({n}); got shape {d.shape}.")
    return d


def memorization(train: np.ndarray, test: np.ndarray, fake: np.ndarray, *, test_to_train: np.ndarray | None = None,
                 fake_to_train: np.ndarray | None = None) -> dict[str, Any]:  # fmt: skip
    """Are generated samples copies of training examples? Judged against held-out data.

    Distances to the nearest training example: from each generated sample, and from each
    test example (which the model never saw, so its distances are what "new" looks like).
    A model that memorizes puts samples closer to the training set than test data are.
    Pass features (or raw data when its Euclidean distance means something). Each query
    searches the whole training set (:func:`nearest_distances`): the cost is linear in the
    training set's size, times the number of queries. ``test_to_train`` reuses the test
    examples' distances (``nearest_distances(test, train)``) across several fake sets, and
    ``fake_to_train`` takes the fake samples' (searched with other queries in one pass).

    Returns
    -------
    dict with ``median_fake_to_train`` and ``median_test_to_train``; ``ratio`` of the
    two (≈ 1 for new samples, ≪ 1 for copies; NaN when test examples sit on training
    examples); ``threshold``, the 1st percentile of test-to-train distances;
    ``share_fake_closer`` and ``share_test_closer``, the shares strictly below it (the
    test share is ≈ 0.01 by construction); ``flagged``, True when the fake share exceeds
    0.01 by more than 3 standard errors of the difference; and the set sizes.
    """
    # The training set, often the largest array here, is not copied: a memory map or Rows (data
    # validated when loaded) is searched block by block; arrays in memory are checked as usual.
    tr = train if is_lazy(train) else _features("train", train)
    n_train, width = len(tr), math.prod(tr.shape[1:])
    te, fk = _features("test", test), _features("fake", fake)
    for name, arr in (("test", te), ("fake", fk)):
        if arr.shape[1] != width:
            raise DataError(f"train and {name} must have the same number of features; got {width} and "
                            f"{arr.shape[1]}. Map both sets with the same FeatureSpace.")  # fmt: skip
    d_fake, d_test = (nearest_distances(q, tr) if given is None else _given_distances(name, given, q.shape[0])
                      for name, q, given in (("fake", fk, fake_to_train), ("test", te, test_to_train)))
    med_fake, med_test = float(np.median(d_fake)), float(np.median(d_test))
    threshold = float(np.percentile(d_test, MEMORIZATION_QUANTILE))
    share_fake = float((d_fake < threshold).mean())
    share_test = float((d_test < threshold).mean())
    q = MEMORIZATION_QUANTILE / 100
    # Both the fake share and the threshold's true quantile are estimates: binomial noise of each.
    se = math.sqrt(q * (1 - q) * (1 / fk.shape[0] + 1 / te.shape[0]))
    return {
        "median_fake_to_train": med_fake, "median_test_to_train": med_test,
        "ratio": med_fake / med_test if med_test > 0 else math.nan,
        "threshold": threshold, "quantile_percent": MEMORIZATION_QUANTILE,
        "share_fake_closer": share_fake, "share_test_closer": share_test,
        "flagged": bool(share_fake > q + 3 * se),
        "n_train": int(n_train), "n_test": int(te.shape[0]), "n_fake": int(fk.shape[0]),
    }  # fmt: skip


# ---------------------------------------------------------------- class distribution
def _class_indices(name: str, values: Any, n_classes: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise DataError(f"{name} must be a non-empty 1-D array of class indices; got shape {arr.shape}.")
    if not (np.issubdtype(arr.dtype, np.integer) or (np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)))):
        raise DataError(
            f"{name} must hold integer class indices 0..{n_classes - 1}; got dtype {arr.dtype}. "
            "Pass predicted classes (e.g. logits.argmax(1)), not probabilities or names."
        )
    arr = arr.astype(np.int64)
    if arr.min() < 0 or arr.max() >= n_classes:
        bad = int(arr.min() if arr.min() < 0 else arr.max())
        raise DataError(f"{name} holds class {bad}, outside 0..{n_classes - 1} (n_classes={n_classes}).")
    return arr


def class_distribution(pred_fake: np.ndarray, labels_real: np.ndarray, n_classes: int, *,
                       pred_real: np.ndarray | None = None) -> dict[str, Any]:  # fmt: skip
    """Class shares of generated samples against the data's: mode coverage.

    ``pred_fake`` (M,) are a classifier's predicted classes for generated samples,
    ``labels_real`` (N,) the data's labels, both indices 0..n_classes-1. ``pred_real`` (N',):
    the same classifier's predicted classes for real (held-out) data; when given, the generated
    shares are compared with these, so the classifier's errors fall alike on both sides and
    cancel (a generator that returns the real data itself gets 0); compared with the labels, a
    classifier's confusions counted as the generator's (an audit, s13).

    Returns
    -------
    dict with ``real_shares`` (the labels' shares), ``predicted_real_shares`` (None without
    ``pred_real``) and ``fake_shares`` (lists over classes), ``compared_with`` (what the
    generated shares are compared with: "predicted classes of real data" or "labels of real
    data"), the total variation distance ``total_variation`` = ½ Σ_c |p_c - q_c| between them
    (0: same shares; a generator of one class only against C balanced classes gives 1 - 1/C),
    and the ``dropped_classes`` (indices) and their number ``n_dropped``: classes present in
    the compared shares whose generated share is below a tenth of theirs (mode dropping).
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ConfigError(f"n_classes must be an integer >= 1; got {n_classes!r}.")
    fake = _class_indices("pred_fake", pred_fake, n_classes)
    real = _class_indices("labels_real", labels_real, n_classes)
    q = np.bincount(fake, minlength=n_classes) / fake.size  # (C,) generated shares
    labelled = np.bincount(real, minlength=n_classes) / real.size  # (C,) data shares
    predicted = None
    if pred_real is not None:
        predicted_real = _class_indices("pred_real", pred_real, n_classes)
        predicted = np.bincount(predicted_real, minlength=n_classes) / predicted_real.size
    p = labelled if predicted is None else predicted  # what the generated shares are compared with
    dropped = np.flatnonzero((p > 0) & (q < DROPPED_SHARE * p))
    return {
        "real_shares": labelled.tolist(), "fake_shares": q.tolist(),
        "predicted_real_shares": None if predicted is None else predicted.tolist(),
        "compared_with": "labels of real data" if predicted is None else "predicted classes of real data",
        "total_variation": float(0.5 * np.abs(p - q).sum()),
        "dropped_classes": [int(c) for c in dropped], "n_dropped": int(dropped.size),
        "dropped_share_threshold": DROPPED_SHARE, "n_classes": int(n_classes),
    }  # fmt: skip


# ---------------------------------------------------------------- feature extractors
class DomainClassifier(nn.Module):
    """A classifier trained on the domain, whose penultimate layer gives the features.

    Images (C, H, W): conv 5x5 32 → ReLU → maxpool 2 → conv 5x5 64 → ReLU → maxpool 2 →
    dense 128 → ReLU (features) → logits (LeNet-style; padded convolutions and ceil-mode
    pooling, so any H, W works: 8x8 digits and 28x28 MNIST alike). Anything else is
    flattened: dense 256 → ReLU → dense 128 → ReLU (features) → logits.
    """

    def __init__(self, input_shape: tuple[int, ...], n_classes: int):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.n_classes = int(n_classes)
        self.kind = "conv" if len(self.input_shape) == 3 else "mlp"
        self.test_accuracy: float | None = None  # set by train_classifier, kept by classifier_state
        if self.kind == "conv":
            conv = nn.Sequential(
                nn.Conv2d(self.input_shape[0], 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
                nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
                nn.Flatten(),
            )  # fmt: skip
            with torch.no_grad():  # flattened size for this H, W (a dry run draws no random numbers)
                n_flat = conv(torch.zeros(1, *self.input_shape)).shape[1]
            self.body = nn.Sequential(*conv, nn.Linear(n_flat, FEATURES), nn.ReLU())
            # Channels-last convolutions: a quarter less time per training step and per batch of
            # features on the CPU (oneDNN's preferred layout), the same network.
            self.body.to(memory_format=torch.channels_last)
        else:
            n_in = math.prod(self.input_shape)
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(n_in, 256), nn.ReLU(), nn.Linear(256, FEATURES), nn.ReLU())
        self.head = nn.Linear(FEATURES, self.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, *input_shape) → features (N, 128)."""
        return self.body(x.contiguous(memory_format=torch.channels_last) if self.kind == "conv" else x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, *input_shape) → logits (N, n_classes)."""
        return self.head(self.features(x))


def _examples(name: str, X: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """X as float32 (N, *shape) with N >= 1; ``shape`` checks one example's shape."""
    arr = np.asarray(X, dtype=np.float32)
    if arr.ndim < 2 or arr.shape[0] == 0:
        raise DataError(f"{name} must be an array of examples (N, D) or (N, C, H, W) with N >= 1; got shape {arr.shape}.")
    if shape is not None and tuple(arr.shape[1:]) != tuple(shape):
        raise DataError(
            f"{name} has examples of shape {tuple(arr.shape[1:])}, but the feature space was built for {tuple(shape)}. "
            "Pass data shaped like the training data."
        )
    return arr


@torch.no_grad()
def _predict(clf: DomainClassifier, X: np.ndarray, what: str) -> np.ndarray:
    """Features or logits of X in batches, in eval mode, as float64 NumPy (N, ·)."""
    was_training = clf.training
    clf.eval()
    dev = next(clf.parameters()).device
    fn = clf.features if what == "features" else clf
    out = [fn(torch.from_numpy(X[s : s + EVAL_BATCH]).to(dev)).double().cpu() for s in range(0, X.shape[0], EVAL_BATCH)]
    clf.train(was_training)
    return torch.cat(out).numpy()


def new_classifier(input_shape: tuple[int, ...], n_classes: int, *, seed: int = 0,
                   device: str = "cpu") -> tuple[DomainClassifier, torch.Generator]:  # fmt: skip
    """An untrained :class:`DomainClassifier` (weights drawn from ``seed``) and the generator its
    batch order is then drawn from: torch's RNG state right after the weights, so training from
    them is training in one go. Drawn here, nothing of the training touches torch's global RNG,
    which lets it run on a thread beside other seeded work (:func:`train_classifier`'s ``start``)."""
    dev = resolve_device(device)
    with seeded(int(seed), dev):
        clf = DomainClassifier(input_shape, int(n_classes)).to(dev)
        generator = torch.Generator(device=dev)
        generator.set_state(torch.cuda.get_rng_state(dev) if dev.type == "cuda" else torch.get_rng_state())
    return clf, generator


def train_classifier(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    n_classes: int,
    *,
    epochs: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    batch_size: int = 128,
    lr: float = 3e-3,
    start: tuple[DomainClassifier, torch.Generator] | None = None,
) -> tuple[DomainClassifier, float]:
    """Train a :class:`DomainClassifier` with Adam and cross-entropy; report test accuracy.

    The learning rate follows one cycle (Smith & Topin, "Super-convergence", 2019: up to ``lr``
    over the first 30% of the steps, then annealed to nearly 0). ``epochs`` None: 3, or as many
    as make MIN_CLASSIFIER_STEPS steps on a small training set. Measured on 4 seeds, 3 epochs of
    it reach the test accuracy of 5 epochs at a constant 1e-3 on 4,000 MNIST digits (0.956 vs
    0.955) and beat it on 5,000 grey digits (0.955, 0.950–0.958, vs 0.940, 0.908–0.960), in 60%
    of the steps; on scikit-learn's 1,400 8x8 digits 3 epochs (33 steps) fell short (0.80 vs
    0.84), the 10 that make 100 steps reach 0.91.

    X_train (N, C, H, W) gets the conv net, any other (N, ...) the MLP; images are
    expected in [0, 1]. Labels are class indices 0..n_classes-1. Weights and batch
    order come from ``seed`` (same seed, same classifier on the same device).

    Returns the classifier in eval mode (``test_accuracy`` set) and the accuracy on X_test.
    ``start``: :func:`new_classifier`'s network and generator (drawn earlier from the same seed,
    on the same device); training from them gives the same classifier.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> d = load_digits()
    >>> X = (d.data / 16).reshape(-1, 1, 8, 8)
    >>> clf, acc = train_classifier(X[:1400], d.target[:1400], X[1400:], d.target[1400:], 10)  # doctest: +SKIP
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ConfigError(f"n_classes must be an integer >= 2 for a classifier; got {n_classes!r}.")
    for name, value in (("epochs", 1 if epochs is None else epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{name} must be an integer >= 1; got {value!r}.")
    xtr = _examples("X_train", X_train)
    xte = _examples("X_test", X_test, xtr.shape[1:])
    ytr = _class_indices("y_train", y_train, n_classes)
    yte = _class_indices("y_test", y_test, n_classes)
    for name, x, y in (("train", xtr, ytr), ("test", xte, yte)):
        if x.shape[0] != y.shape[0]:
            raise DataError(f"X_{name} has {x.shape[0]} examples but y_{name} has {y.shape[0]} labels; they must match.")
    clf, generator = start if start is not None else new_classifier(xtr.shape[1:], n_classes, seed=seed, device=device)
    if clf.input_shape != tuple(xtr.shape[1:]) or clf.n_classes != int(n_classes):
        raise ConfigError(f"start holds a classifier for {clf.input_shape} with {clf.n_classes} classes; the data "
                          f"has {tuple(xtr.shape[1:])} and {n_classes}. Draw it with new_classifier for this data.")  # fmt: skip
    dev = next(clf.parameters()).device
    xt, yt = torch.from_numpy(xtr).to(dev), torch.from_numpy(ytr).to(dev)
    n = xt.shape[0]
    if epochs is None:
        epochs = max(CLASSIFIER_EPOCHS, math.ceil(MIN_CLASSIFIER_STEPS / math.ceil(n / batch_size)))
    optimizer = torch.optim.Adam(clf.parameters(), lr=lr)
    steps = int(epochs) * math.ceil(n / batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    clf.train()
    for _ in range(int(epochs)):
        order = torch.randperm(n, device=dev, generator=generator)
        for s in range(0, n, batch_size):
            idx = order[s : s + batch_size]
            loss = nn.functional.cross_entropy(clf(xt[idx]), yt[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    clf.eval()
    accuracy = float((_predict(clf, xte, "logits").argmax(1) == yte).mean())
    clf.test_accuracy = accuracy
    return clf, accuracy


def classifier_state(clf: DomainClassifier) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Weights (CPU tensors) and string metadata: what a safetensors file stores.

    The metadata holds what :func:`load_classifier` needs to rebuild the network
    (``kind``, ``input_shape``, ``n_classes``) plus ``test_accuracy`` ("" when unknown).
    """
    tensors = {k: v.detach().cpu().contiguous() for k, v in clf.state_dict().items()}
    metadata = {
        "format": STATE_FORMAT, "kind": clf.kind, "input_shape": json.dumps(list(clf.input_shape)),
        "n_classes": str(clf.n_classes), "test_accuracy": "" if clf.test_accuracy is None else repr(clf.test_accuracy),
    }  # fmt: skip
    return tensors, metadata


def load_classifier(tensors: dict[str, Any], metadata: dict[str, str]) -> DomainClassifier:
    """Rebuild a classifier from :func:`classifier_state`'s output (on the CPU, in eval mode).

    Raises RunError when the metadata or weights do not describe a classifier of this
    version, so a caller caching it in a run directory can retrain instead.
    """
    try:
        if metadata.get("format") != STATE_FORMAT:
            raise ValueError(f"format is {metadata.get('format')!r}, expected {STATE_FORMAT!r}")
        shape = tuple(json.loads(metadata["input_shape"]))
        n_classes = int(metadata["n_classes"])
        accuracy = metadata.get("test_accuracy", "")
        accuracy = float(accuracy) if accuracy else None
        clf = DomainClassifier(shape, n_classes)
        if clf.kind != metadata.get("kind"):
            raise ValueError(f"kind {metadata.get('kind')!r} does not fit input shape {shape}")
        clf.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in tensors.items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise RunError(
            f"The stored domain classifier cannot be rebuilt ({' '.join(str(e).split())}); the cache is damaged or from another "
            "version. Delete it to train the classifier again."
        ) from None
    clf.test_accuracy = accuracy
    return clf.eval()


class PCAFeatures:
    """Flattened X (N, *input_shape) → its first principal components (N, n_components_).

    Built by :func:`pca_features`; call it (or ``.transform``) on data shaped like the
    training data.
    """

    def __init__(self, pca: Any, input_shape: tuple[int, ...], scale: tuple[np.ndarray, np.ndarray] | None = None):
        self.pca = pca  # a fitted sklearn.decomposition.PCA
        self.input_shape = tuple(input_shape)
        self.n_components_ = int(pca.n_components_)
        self.scale = scale  # (mean, sd) per column: the columns are standardized before the PCA; None: raw

    @property
    def standardized(self) -> bool:
        return self.scale is not None

    def transform(self, X: Any) -> np.ndarray:
        x = _examples("X", X, self.input_shape)
        flat = x.reshape(x.shape[0], -1).astype(np.float64)
        if self.scale is not None:
            flat = (flat - self.scale[0]) / self.scale[1]
        return self.pca.transform(flat)

    __call__ = transform


def pca_features(X_train: Any, n_components: int = 32, seed: int = 0, standardize: bool = False) -> PCAFeatures:
    """Fit PCA on the flattened training data: the feature space when there are no labels.

    ``n_components`` is capped at min(n_samples, n_features), so the default works on
    narrow data too; the fitted number is ``n_components_``. ``seed`` fixes the
    randomized SVD that scikit-learn uses for large inputs. With ``standardize`` each column
    is first scaled to mean 0 and SD 1 on the training data (a constant column stays 0), so
    every column counts alike whatever its units (a table's encoded columns, series values);
    with no more columns than components the PCA is then a rotation of the standardized columns.
    """
    from sklearn.decomposition import PCA

    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or n_components < 1:
        raise ConfigError(f"n_components must be an integer >= 1; got {n_components!r}.")
    x = _examples("X_train", X_train)
    if x.shape[0] < 2:
        raise DataError(f"pca_features needs at least 2 training examples; got {x.shape[0]}.")
    flat = x.reshape(x.shape[0], -1).astype(np.float64)
    scale = None
    if standardize:
        sd = flat.std(0)
        scale = (flat.mean(0), np.where(sd > 0, sd, 1.0))
        flat = (flat - scale[0]) / scale[1]
    n = min(int(n_components), *flat.shape)
    return PCAFeatures(PCA(n_components=n, random_state=seed).fit(flat), x.shape[1:], scale)


# ---------------------------------------------------------------- the feature space
@dataclass
class FeatureSpace:
    """Where samples are compared: a domain classifier's features, or PCA when there are no labels."""

    mapping: DomainClassifier | PCAFeatures

    def __post_init__(self) -> None:
        if not isinstance(self.mapping, (DomainClassifier, PCAFeatures)):
            raise ConfigError(
                f"FeatureSpace wraps a DomainClassifier or PCAFeatures; got {type(self.mapping).__name__}. "
                "Build one with train_classifier or pca_features."
            )

    @property
    def kind(self) -> str:
        """Which mapping: "classifier" or "pca"."""
        return "classifier" if isinstance(self.mapping, DomainClassifier) else "pca"

    @property
    def description(self) -> str:
        """The mapping in words, for reports: "classifier", "pca" or "standardized columns (pca)"."""
        if self.kind == "pca" and self.mapping.standardized:
            return "standardized columns (pca)"
        return self.kind

    @property
    def test_accuracy(self) -> float | None:
        """The classifier's test accuracy; None for PCA."""
        return self.mapping.test_accuracy if self.kind == "classifier" else None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.mapping.input_shape

    @property
    def n_features(self) -> int:
        return FEATURES if self.kind == "classifier" else self.mapping.n_components_

    def transform(self, X: Any) -> np.ndarray:
        """X (N, *input_shape) → features (N, n_features), float64."""
        if self.kind == "pca":
            return self.mapping.transform(X)
        return _predict(self.mapping, _examples("X", X, self.input_shape), "features")

    def predict(self, X: Any) -> np.ndarray:
        """Predicted classes (N,) for :func:`class_distribution`; only a classifier has them."""
        if self.kind != "classifier":
            raise ConfigError("This feature space is PCA and predicts no classes; class_distribution needs labels.")
        return _predict(self.mapping, _examples("X", X, self.input_shape), "logits").argmax(1)

    def classify(self, features: np.ndarray) -> np.ndarray:
        """Predicted classes (N,) from features this space gave (:meth:`transform`): the classifier's
        head alone, so a set is not passed through the network twice. The same as :meth:`predict`."""
        if self.kind != "classifier":
            raise ConfigError("This feature space is PCA and predicts no classes; class_distribution needs labels.")
        head = self.mapping.head
        with torch.no_grad():
            f = torch.as_tensor(np.asarray(features), dtype=head.weight.dtype, device=head.weight.device)
            return head(f).argmax(1).cpu().numpy()

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind, "n_features": self.n_features, "input_shape": list(self.input_shape),
             "test_accuracy": self.test_accuracy}  # fmt: skip
        if self.kind == "classifier":
            d["network"] = self.mapping.kind
            d["n_classes"] = self.mapping.n_classes
        return d


def fit_feature_space(
    X_train: Any,
    y_train: Any = None,
    X_test: Any = None,
    y_test: Any = None,
    *,
    n_classes: int | None = None,
    epochs: int | None = None,
    n_components: int = 32,
    seed: int = 0,
    device: str = "cpu",
) -> FeatureSpace:
    """A domain classifier when labels are given (test data then required, for its accuracy),
    PCA of the training data otherwise. ``n_classes`` defaults to the largest label + 1."""
    if y_train is None:
        return FeatureSpace(pca_features(X_train, n_components, seed))
    if X_test is None or y_test is None:
        raise DataError(
            "A domain classifier needs labeled test data to report its accuracy; got none. "
            "Pass X_test and y_test, or no labels at all to use PCA features."
        )
    if n_classes is None:
        try:
            n_classes = int(max(np.max(y_train), np.max(y_test))) + 1
        except (TypeError, ValueError):
            raise DataError(
                "Labels must be integer class indices 0..C-1 (encode names first, e.g. with np.unique(..., "
                f"return_inverse=True)); got values of dtype {np.asarray(y_train).dtype}."
            ) from None
    clf, _ = train_classifier(X_train, y_train, X_test, y_test, n_classes, epochs=epochs, seed=seed, device=device)
    return FeatureSpace(clf)
