"""Random draws that belong to an example: one stream per example, keyed by its content.

An example's score must not depend on its neighbours or on where it sits in the input
(scoring an image alone or inside ``X[:100]`` must give the same number). So every random
draw made *for* an example when it is scored — its fixed binarization, the z draws of its
importance sampler or its ELBO — comes from a stream of its own, keyed by
``(seed, purpose, stream, the example's bytes)``: the same example gives the same draws in
any batch, in any order, alone or among others. Identical examples get identical draws.

The stream is Philox4x64 (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3";
NumPy's ``np.random.Philox``), a counter-based generator: the key is BLAKE2b-128 of the seed
words and the example's float32 bytes (-0.0 read as 0.0), and the value at position p of a
stream is found by setting the counter, so one bit generator serves every example at a few
microseconds each (a seeded PCG64 per example cost ~70 µs to build) and drawing in chunks
gives exactly the values of one draw. Uniforms are (raw >> 11 + 1/2) 2^-53, in (0, 1);
normals their inverse normal CDF, so every value takes one raw 64-bit word.
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from scipy.special import ndtri

# What a stream is for: hashed into its key, so the streams of one example never overlap.
BINARIZE, IMPORTANCE, ELBO = 1, 2, 3


def stream_keys(x: Any, seed: int, purpose: int, *stream: int) -> np.ndarray:
    """Philox keys (N, 2) uint64: BLAKE2b-128 of (seed, purpose, *stream) and each example's values."""
    flat = np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(len(x), -1)) + np.float32(0.0)  # -0.0 → 0.0
    prefix = np.array([int(seed), int(purpose), *map(int, stream)], dtype=np.uint64).tobytes()
    keys = np.empty((flat.shape[0], 2), dtype=np.uint64)
    for i, row in enumerate(flat):
        keys[i] = np.frombuffer(hashlib.blake2b(prefix + row.tobytes(), digest_size=16).digest(), dtype=np.uint64)
    return keys


class ExampleStreams:
    """One Philox stream per example of ``x`` (N, ...), keyed by ``(seed, purpose, *stream)`` and its
    content. Every call draws the same number of values for every example and moves all streams on
    together, so K values drawn in chunks are the values of one draw of K."""

    def __init__(self, x: Any, seed: int, purpose: int, *stream: int):
        self.keys = stream_keys(x, seed, purpose, *stream)
        self.position = 0  # values drawn so far from each stream
        self._bits = np.random.Philox(key=self.keys[0]) if len(self.keys) else None

    def __len__(self) -> int:
        return len(self.keys)

    def raw(self, count: int) -> np.ndarray:
        """(N, count) uint64: the next ``count`` words of each example's stream."""
        out = np.empty((len(self), count), dtype=np.uint64)
        if not len(self) or not count:
            return out
        p = self.position
        state = self._bits.state
        state["state"]["counter"] = np.array([p // 4, 0, 0, 0], dtype=np.uint64)  # 4 words per counter value
        for i, key in enumerate(self.keys):
            state["state"]["key"] = key
            state["buffer_pos"] = 4  # nothing buffered: the next word comes from counter p // 4 + 1
            self._bits.state = state
            if p % 4:
                self._bits.random_raw(p % 4)
            out[i] = self._bits.random_raw(count)
        self.position += count
        return out

    def uniform(self, d: int) -> np.ndarray:
        """(N, d) float64 uniforms in (0, 1), a row per example."""
        return ((self.raw(d) >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53

    def normal(self, k: int, d: int) -> np.ndarray:
        """(k, N, d) float32 standard normals: k draws of d values per example."""
        z = ndtri(self.uniform(k * d)).astype(np.float32)  # (N, k*d)
        return np.ascontiguousarray(z.reshape(len(self), k, d).transpose(1, 0, 2))
