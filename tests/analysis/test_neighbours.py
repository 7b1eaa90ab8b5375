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
