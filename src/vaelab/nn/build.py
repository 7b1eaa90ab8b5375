"""Build a :class:`VAEModule` from a :class:`ModelConfig` (and optional user networks)."""
from __future__ import annotations

import math

import torch
from torch import nn

from vaelab.config import ModelConfig
from vaelab.errors import ConfigError
from vaelab.nn.likelihoods import Bernoulli, ContinuousBernoulli, Gaussian, GaussianFixed, Likelihood, Mixed
from vaelab.nn.networks import ConvBody, ConvDecoder, MLPBody, MLPDecoder, TimeBody, TimeDecoder
from vaelab.nn.priors import MixtureOfGaussians, Prior, StandardNormal, VampPrior
from vaelab.nn.vae import VAEModule

NETWORKS = {"mlp": (MLPBody, MLPDecoder), "conv": (ConvBody, ConvDecoder)}


def make_likelihood(cfg: ModelConfig) -> Likelihood:
    if cfg.likelihood == "bernoulli":
        return Bernoulli(cfg.input_shape)
    if cfg.likelihood == "continuous-bernoulli":
        return ContinuousBernoulli(cfg.input_shape)
    if cfg.likelihood == "gaussian":
        return Gaussian(cfg.input_shape)
    if cfg.likelihood == "mixed":
        return Mixed(cfg.input_shape, cfg.blocks)
    return GaussianFixed(cfg.input_shape, cfg.sigma)


def make_prior(cfg: ModelConfig) -> Prior:
    if cfg.prior == "normal":
        return StandardNormal(cfg.latent_dim)
    if cfg.prior == "mog":
        return MixtureOfGaussians(cfg.latent_dim, cfg.n_components)
    return VampPrior(cfg.latent_dim, cfg.input_shape, cfg.n_components)


def _encoder_width(encoder: nn.Module, shape: tuple[int, ...]) -> int:
    """Run a user encoder on two zero examples to learn its output width."""
    try:
        with torch.no_grad():
            h = encoder(torch.zeros(2, *shape))
    except Exception as e:  # any failure here is a mismatch between module and data
        raise ConfigError(
            f"The custom encoder failed on input of shape (2, {', '.join(map(str, shape))}): {e}. "
            "It must map x (N, *shape) to features (N, H)."
        ) from None
    if not isinstance(h, torch.Tensor) or h.dim() != 2 or h.shape[0] != 2:
        got = tuple(h.shape) if isinstance(h, torch.Tensor) else type(h).__name__
        raise ConfigError(f"The custom encoder must return a tensor (N, H); on 2 examples it returned {got}.")
    return int(h.shape[1])


def _check_decoder(decoder: nn.Module, cfg: ModelConfig) -> nn.Module:
    n_in = cfg.latent_dim + cfg.n_classes
    try:
        with torch.no_grad():
            out = decoder(torch.zeros(2, n_in))
    except Exception as e:
        raise ConfigError(
            f"The custom decoder failed on input of shape (2, {n_in}) (latent_dim + n_classes): {e}."
        ) from None
    n_features = math.prod(cfg.input_shape)
    shape_ok = isinstance(out, torch.Tensor) and out.shape[0] == 2 and (
        tuple(out.shape[1:]) == cfg.input_shape or tuple(out.shape[1:]) == (n_features,)
    )
    if not shape_ok:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(
            f"The custom decoder must return (N, {n_features}) or (N, {', '.join(map(str, cfg.input_shape))}) "
            f"likelihood parameters; on 2 codes it returned {got}."
        )
    return decoder if tuple(out.shape[1:]) == cfg.input_shape else nn.Sequential(decoder, nn.Unflatten(1, cfg.input_shape))


def build_vae(cfg: ModelConfig, encoder: nn.Module | None = None, decoder: nn.Module | None = None) -> VAEModule:
    """The module a config describes. Weights are initialised from torch's global RNG:
    callers seed it (see :func:`vaelab.train.seeded`)."""
    if (encoder is None) != (decoder is None):
        raise ConfigError("Pass both a custom encoder and a custom decoder, or neither.")
    if encoder is not None:
        width = _encoder_width(encoder, cfg.input_shape)
        decoder = _check_decoder(decoder, cfg)
    elif cfg.arch == "custom":
        raise ConfigError(
            "This model uses a custom encoder and decoder, which a config cannot rebuild; "
            "pass them: vaelab.load(run, encoder=..., decoder=...), or --encoder SPEC --decoder SPEC on the command line."
        )
    elif cfg.arch == "timevae":
        encoder = TimeBody(cfg.input_shape, cfg.hidden, cfg.time_layout)
        width = encoder.out_features
        decoder = TimeDecoder(cfg.latent_dim + cfg.n_classes, cfg.hidden, cfg.input_shape, cfg.time_layout)
    else:
        body_cls, decoder_cls = NETWORKS[cfg.arch]
        encoder = body_cls(cfg.input_shape, cfg.hidden)
        width = encoder.out_features
        decoder = decoder_cls(cfg.latent_dim + cfg.n_classes, cfg.hidden, cfg.input_shape)
    return VAEModule(encoder, width, decoder, make_likelihood(cfg), make_prior(cfg), cfg.latent_dim, cfg.n_classes)
