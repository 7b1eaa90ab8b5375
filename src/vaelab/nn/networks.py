"""Encoder bodies and decoders: an MLP for any data, a small conv net for images.

An encoder *body* maps x (N, *shape) to features h (N, H); the VAE adds the
linear mu/logvar heads on top. A decoder maps (N, L [+ n_classes]) to the
likelihood's parameters, (N, *shape).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def _dense(sizes: Sequence[int]) -> list[nn.Module]:
    """Linear layers between consecutive sizes, ReLU between (not after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return layers


class MLPBody(nn.Sequential):
    """x (N, *shape) → h (N, hidden[-1]); with no hidden layers h is the flattened x."""

    def __init__(self, shape: tuple[int, ...], hidden: Sequence[int]):
        sizes = [math.prod(shape), *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        if hidden:
            layers += _dense(sizes) + [nn.ReLU()]
        super().__init__(*layers)
        self.out_features = sizes[-1]


class MLPDecoder(nn.Sequential):
    """z (N, L) → parameters (N, *shape) through the hidden sizes reversed; () is one linear map."""

    def __init__(self, in_features: int, hidden: Sequence[int], shape: tuple[int, ...]):
        super().__init__(*_dense([in_features, *reversed(hidden), math.prod(shape)]), nn.Unflatten(1, shape))


def _conv_grid(shape: tuple[int, ...]) -> tuple[int, int]:
    """Spatial size after two stride-2 convolutions of an input padded to a multiple of 4."""
    _, height, width = shape
    return math.ceil(height / 4), math.ceil(width / 4)


class ConvBody(nn.Module):
    """Two stride-2 convolutions (32, 64 channels), then the dense layers: (N, C, H, W) → (N, H')."""

    def __init__(self, shape: tuple[int, ...], hidden: Sequence[int]):
        super().__init__()
        channels, height, width = shape
        gh, gw = _conv_grid(shape)
        # Pad right/bottom so both halvings are exact and the decoder can mirror them.
        self.pad = (0, 4 * gw - width, 0, 4 * gh - height)
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 32, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        sizes = [64 * gh * gw, *hidden]
        self.dense = nn.Sequential(*_dense(sizes), nn.ReLU()) if hidden else nn.Identity()
        self.out_features = sizes[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.pad):
            x = nn.functional.pad(x, self.pad)
        return self.dense(self.conv(x))


class ConvDecoder(nn.Module):
    """z (N, L) → dense layers → (64, H/4, W/4) → two transposed convs → crop to (N, C, H, W)."""

    def __init__(self, in_features: int, hidden: Sequence[int], shape: tuple[int, ...]):
        super().__init__()
        channels, height, width = shape
        gh, gw = _conv_grid(shape)
        self.height, self.width = height, width
        self.dense = nn.Sequential(*_dense([in_features, *reversed(hidden), 64 * gh * gw]), nn.ReLU())
        self.deconv = nn.Sequential(
            nn.Unflatten(1, (64, gh, gw)),
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, channels, 4, stride=2, padding=1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.dense(z))[..., : self.height, : self.width]
