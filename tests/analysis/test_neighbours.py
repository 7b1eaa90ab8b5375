"""Blocked nearest neighbours against a direct search."""
import numpy as np
import pytest

from vaelab.analysis import neighbours
from vaelab.analysis.neighbours import exact_sq_distances, nearest


def test_nearest_matches_a_direct_search_across_blocks(monkeypatch):
    monkeypatch.setattr(neighbours, "REFERENCE_BLOCK", 128)  # many blocks to merge
    monkeypatch.setattr(neighbours, "QUERY_BLOCK", 50)
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(1000, 16)) + 50.0  # far from 0, where the fast distances lose digits
    query = np.r_[reference[:20], rng.normal(size=(130, 16)) + 50.0]
    idx, sq = nearest(query, reference, 5)
    direct = ((query[:, None, :] - reference[None]) ** 2).sum(-1)
    assert np.array_equal(idx, np.argsort(direct, axis=1, kind="stable")[:, :5])
    assert sq == pytest.approx(np.sort(direct, axis=1)[:, :5], rel=1e-12)
    assert np.array_equal(idx[:20, 0], np.arange(20)) and not sq[:20, 0].any()
    assert nearest(query, reference[:3], 5)[0].shape == (150, 3)  # k capped at the reference's size


def test_a_pair_gives_the_same_bits_in_any_block():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 77)), rng.normal(size=(300, 77))
    whole = exact_sq_distances(a, b)
    assert np.array_equal(whole[[5, 100]], exact_sq_distances(a[[5, 100]], b[[5, 100]]))
    assert np.array_equal(whole, exact_sq_distances(b, a))


def test_the_projected_screening_gives_the_direct_search_answer(monkeypatch):
    # Rows near a 3-dim subspace of 40 features (digits live near a low-dim one): the projected
    # bounds settle most queries; the scattered ones fall back to the full screening. Either way
    # the k nearest (ties to the lower index) and their exact distances are the direct search's.
    monkeypatch.setattr(neighbours, "REFERENCE_BLOCK", 128)
    monkeypatch.setattr(neighbours, "QUERY_BLOCK", 50)
    monkeypatch.setattr(neighbours, "RANK", 4)
    monkeypatch.setattr(neighbours, "CANDIDATES", 8)
    monkeypatch.setattr(neighbours, "PROJECT_FROM", (16, 256))
    monkeypatch.setattr(neighbours, "PAIR_CHUNK", 64)
    rng = np.random.default_rng(4)
    basis = rng.normal(size=(3, 40))
    reference = rng.normal(size=(1200, 3)) @ basis + 0.05 * rng.normal(size=(1200, 40)) + 30.0
    reference[600:610] = reference[500:510]  # exact duplicates: ties
    query = np.r_[reference[495:515], rng.normal(size=(100, 3)) @ basis + 0.05 * rng.normal(size=(100, 40)) + 30.0,
                  rng.normal(size=(30, 40)) * 3 + 30.0]  # fmt: skip
    fallback = []
    screened = neighbours._screened
    monkeypatch.setattr(neighbours, "_screened", lambda q, *a: fallback.append(q.shape[0]) or screened(q, *a))
    for k in (1, 3):
        idx, sq = nearest(query, reference, k)
        direct = ((query[:, None, :] - reference[None]) ** 2).sum(-1)
        assert np.array_equal(idx, np.argsort(direct, axis=1, kind="stable")[:, :k])
        assert sq == pytest.approx(np.sort(direct, axis=1)[:, :k], rel=1e-12)
    assert np.array_equal(idx[5:15, :2], np.c_[np.arange(500, 510), np.arange(600, 610)])  # a copy, then its twin
    assert 0 < fallback[0] < 40  # most settled by the bounds; the scattered queries screened in full
    assert nearest(query, reference.astype(np.float32), 2)[1] == pytest.approx(np.sort(
        ((query[:, None, :] - reference.astype(np.float32)[None].astype(np.float64)) ** 2).sum(-1), axis=1)[:, :2],
        rel=1e-12)  # fmt: skip


def test_float64_rows_far_from_0_with_a_small_spread_keep_their_differences():
    # Offset 1e4, SD 1e-3: float32's step at 1e4 is ~1e-3, so rows cast before centring collapsed
    # onto a few values and the screening kept the wrong candidates (density off by 0.39 in
    # quality). Centred in float64 before the cast, the answer is the direct float64 search's.
    rng = np.random.default_rng(0)
    reference = 1e4 + 1e-3 * rng.normal(size=(300, 4))
    query = 1e4 + 1e-3 * rng.normal(size=(200, 4))
    idx, sq = nearest(query, reference, 5)
    direct = (((query - 1e4)[:, None, :] - (reference - 1e4)[None]) ** 2).sum(-1)
    assert np.array_equal(idx, np.argsort(direct, axis=1, kind="stable")[:, :5])
    assert sq == pytest.approx(np.sort(direct, axis=1)[:, :5], rel=1e-6)
