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


# ------------------------------------------------------------------ windows of time series
# TimeVAE (Desai et al. 2021): a convolutional encoder over time, and a decoder that adds
# interpretable blocks (level and polynomial trend, seasonality) to a convolutional residual.
# A window row is S steps × F features flattened time-major (index t·F + f), then E extras
# (per-window statistics of the trend handling, vaelab.data.trend.WindowCoder).
TREND_DEGREE = 2  # the trend block's polynomial: 1, t, t^2 over the window
HARMONICS = 4  # the seasonality block's Fourier terms (at most S // 2)


def _time_grid(steps: int) -> int:
    """Length after two stride-2 convolutions of a sequence padded to a multiple of 4."""
    return math.ceil(steps / 4)


class TimeBody(nn.Module):
    """Rows (N, S·F + E) → two stride-2 Conv1d over time (32, 64 channels) → flattened, with the
    extras, through the dense layers: (N, H). TimeVAE's encoder (Desai et al. 2021)."""

    def __init__(self, shape: tuple[int, ...], hidden: Sequence[int], window: tuple[int, int]):
        super().__init__()
        self.steps, self.features = window
        self.n_extra = math.prod(shape) - self.steps * self.features
        self.pad = 4 * _time_grid(self.steps) - self.steps
        self.conv = nn.Sequential(
            nn.Conv1d(self.features, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv1d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        sizes = [64 * _time_grid(self.steps) + self.n_extra, *hidden]
        self.dense = nn.Sequential(*_dense(sizes), nn.ReLU()) if hidden else nn.Identity()
        self.out_features = sizes[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        S, F = self.steps, self.features
        series = x[:, : S * F].reshape(-1, S, F).transpose(1, 2)  # (N, F, S): channels are features
        if self.pad:
            series = nn.functional.pad(series, (0, self.pad))
        return self.dense(torch.cat([self.conv(series), x[:, S * F :]], dim=1))


class TimeDecoder(nn.Module):
    """z (N, L [+ c]) → dense layers → the sum of four blocks over (S, F), then the extras:

    * trend: polynomial coefficients (degree :data:`TREND_DEGREE`, the level included) times
      (t / S)^p, as TimeVAE's level and trend blocks;
    * seasonality: coefficients of :data:`HARMONICS` Fourier pairs cos/sin(2π k t / S) (the
      seasonality basis of N-BEATS, Oreshkin et al. 2020; TimeVAE's seasonal blocks need the
      periods given, these do not);
    * residual: (64, S/4) → two stride-2 transposed Conv1d → (F, S), as TimeVAE's residual;
    * the E extras, a linear map.
    """

    def __init__(self, in_features: int, hidden: Sequence[int], shape: tuple[int, ...], window: tuple[int, int]):
        super().__init__()
        self.steps, self.features = S, F = window
        self.n_extra = math.prod(shape) - S * F
        width = hidden[0] if hidden else in_features
        self.trunk = nn.Sequential(*_dense([in_features, *reversed(hidden)]), nn.ReLU()) if hidden else nn.Identity()
        t = torch.arange(S, dtype=torch.float32) / S
        k = torch.arange(1, min(HARMONICS, max(S // 2, 1)) + 1, dtype=torch.float32)
        self.register_buffer("poly", torch.stack([t**p for p in range(TREND_DEGREE + 1)]), persistent=False)  # (P, S)
        angle = 2 * math.pi * k[:, None] * t[None]
        self.register_buffer("fourier", torch.cat([torch.cos(angle), torch.sin(angle)]), persistent=False)  # (2K, S)
        self.trend = nn.Linear(width, F * self.poly.shape[0])
        self.season = nn.Linear(width, F * self.fourier.shape[0])
        grid = _time_grid(S)
        self.residual = nn.Sequential(
            nn.Linear(width, 64 * grid),
            nn.ReLU(),
            nn.Unflatten(1, (64, grid)),
            nn.ConvTranspose1d(64, 32, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose1d(32, F, 4, stride=2, padding=1),
        )
        self.extras = nn.Linear(width, self.n_extra) if self.n_extra else None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.trunk(z)
        N, S, F = h.shape[0], self.steps, self.features
        trend = self.trend(h).reshape(N, F, -1) @ self.poly  # (N, F, S)
        season = self.season(h).reshape(N, F, -1) @ self.fourier
        series = trend + season + self.residual(h)[..., :S]  # (N, F, S)
        out = series.transpose(1, 2).reshape(N, S * F)
        return out if self.extras is None else torch.cat([out, self.extras(h)], dim=1)
