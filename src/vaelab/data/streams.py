"""Random draws that belong to an example: one stream per example, seeded by its content.

An example's score must not depend on its neighbours or on where it sits in the input
(scoring an image alone or inside ``X[:100]`` must give the same number). So every random
draw made *for* an example when it is scored — its fixed binarization, the z draws of its
importance sampler or its ELBO — comes from a stream of its own, seeded by
``(seed, purpose, the example's bytes)``: the same example gives the same draws in any
batch, in any order, alone or among others. Identical examples get identical draws.

A stream is NumPy's PCG64 seeded through a ``SeedSequence`` (its recommended way to derive
independent streams from several integers); the content key is BLAKE2b-128 of the example's
float32 bytes (-0.0 read as 0.0).
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

# What a stream is for: the second word of its seed, so the streams of one example never overlap.
BINARIZE, IMPORTANCE, ELBO = 1, 2, 3


def content_keys(x: Any) -> np.ndarray:
    """A key per example, (N, 4) uint32: BLAKE2b-128 of its float32 values, whatever its shape."""
    flat = np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(len(x), -1)) + np.float32(0.0)  # -0.0 → 0.0
    keys = np.empty((flat.shape[0], 4), dtype=np.uint32)
    for i, row in enumerate(flat):
        keys[i] = np.frombuffer(hashlib.blake2b(row.tobytes(), digest_size=16).digest(), dtype=np.uint32)
    return keys


class ExampleStreams:
    """One NumPy generator per example, seeded by ``(seed, purpose, *stream, key)``.

    Successive calls continue each example's stream, so drawing K values in chunks gives
    the values of one draw of K, whatever the chunks.
    """

    def __init__(self, keys: np.ndarray, seed: int, purpose: int, *stream: int):
        head = [int(seed), int(purpose), *map(int, stream)]
        self.generators = [np.random.Generator(np.random.PCG64(np.random.SeedSequence(head + k.tolist()))) for k in keys]

    def __len__(self) -> int:
        return len(self.generators)

    def uniform(self, d: int) -> np.ndarray:
        """(N, d) float64 uniforms on [0, 1), a row per example."""
        out = np.empty((len(self), d))
        for i, g in enumerate(self.generators):
            out[i] = g.random(d)
        return out

    def normal(self, k: int, d: int) -> np.ndarray:
        """(k, N, d) float32 standard normals: k draws of d values per example."""
        out = np.empty((k, len(self), d), dtype=np.float32)
        for i, g in enumerate(self.generators):
            out[:, i] = g.standard_normal((k, d), dtype=np.float32)
        return out
