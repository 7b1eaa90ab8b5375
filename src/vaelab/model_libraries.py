"""The two halves of models from libraries users already have, for :func:`vaelab.adopt`.

* **pythae** models (``pythae.models.VAE``, ``BetaVAE``, ``AE``, ...): the encoder's
  ``embedding`` and ``log_covariance`` (an ``AE`` has no covariance: a deterministic encoder)
  and the decoder's ``reconstruction``, which pythae's architectures give as probabilities for
  ``reconstruction_loss="bce"``.
* **diffusers** ``AutoencoderKL`` (Stable Diffusion's VAE and its kin): ``encode(x).latent_dist``
  with spatial latents (C × H/f × W/f), flattened for the analyses, and ``decode(z).sample``.
  The latent's shape is kept (``latent_shape``), so the diagnostics report per channel.

Neither library is imported here: a model is recognised by its class's module, so they stay
optional extras, imported by the user who has one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from vaelab.errors import ConfigError


@dataclass
class Halves:
    encoder: nn.Module
    decoder: nn.Module
    input_shape: tuple[int, ...] | None = None  # what the library's config says the examples are
    latent_shape: tuple[int, ...] | None = None  # a spatial latent's (C, h, w)
    options: dict[str, Any] = field(default_factory=dict)  # adopt() options the library implies
    library: str = ""


def _library(model: Any) -> str:
    return type(model).__module__.split(".")[0]


def is_library_model(model: Any) -> bool:
    return _library(model) in ("pythae", "diffusers")


class PythaeEncoder(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.encoder = model.encoder

    def forward(self, x: torch.Tensor):
        out = self.encoder(x)
        log_cov = out.get("log_covariance")
        return out["embedding"] if log_cov is None else (out["embedding"], log_cov)


class PythaeDecoder(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.decoder = model.decoder

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)["reconstruction"]


class LatentEncoder(nn.Module):
    """``AutoencoderKL.encode`` with its spatial posterior flattened to (N, C·h·w)."""

    def __init__(self, autoencoder: nn.Module):
        super().__init__()
        self.autoencoder = autoencoder

    def forward(self, x: torch.Tensor):
        post = self.autoencoder.encode(x).latent_dist
        return post.mean.flatten(1), post.logvar.flatten(1)


class LatentDecoder(nn.Module):
    """``AutoencoderKL.decode`` of flat codes, reshaped to the latent's (C, h, w)."""

    def __init__(self, autoencoder: nn.Module, latent_shape: tuple[int, ...]):
        super().__init__()
        self.autoencoder, self.latent_shape = autoencoder, tuple(latent_shape)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.autoencoder.decode(z.reshape(z.shape[0], *self.latent_shape)).sample


def library_halves(model: Any, example: np.ndarray | None, likelihood: str,
                   latent_shape: tuple[int, ...] | None = None) -> Halves:  # fmt: skip
    """The halves of a pythae or diffusers model (``example``: one input, to read a latent's shape;
    or ``latent_shape``, the one a run recorded)."""
    lib = _library(model)
    if lib == "pythae":
        if not (hasattr(model, "encoder") and hasattr(model, "decoder")):
            raise ConfigError(f"This pythae {type(model).__name__} has no encoder and decoder to adopt.")
        cfg = getattr(model, "model_config", None)
        shape = getattr(cfg, "input_dim", None)
        # pythae's architectures end in a sigmoid for the BCE loss: its decoder gives probabilities.
        bce = getattr(cfg, "reconstruction_loss", None) == "bce" and likelihood == "bernoulli"
        return Halves(PythaeEncoder(model).eval(), PythaeDecoder(model).eval(),
                      None if shape is None else tuple(int(s) for s in shape), None,
                      {"probabilities": True} if bce else {}, "pythae")  # fmt: skip
    if lib == "diffusers":
        if not (hasattr(model, "encode") and hasattr(model, "decode")):
            raise ConfigError(f"diffusers' {type(model).__name__} is not an autoencoder (no encode and decode).")
        if example is None and latent_shape is not None:
            return Halves(LatentEncoder(model), LatentDecoder(model, tuple(latent_shape)), None,
                          tuple(latent_shape), {}, "diffusers")  # fmt: skip
        if example is None:
            raise ConfigError("Adopting a diffusers autoencoder needs data= (its latent's shape follows the images').")
        model.eval()
        with torch.no_grad():
            param = next(model.parameters())
            x = torch.as_tensor(np.asarray(example[:1], dtype=np.float32)).to(param.device)
            try:
                latent = tuple(int(s) for s in model.encode(x).latent_dist.mean.shape[1:])
            except Exception as err:  # the library's own error, in one line
                first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
                raise ConfigError(f"{type(model).__name__}.encode failed on an example of shape {tuple(x.shape[1:])}: "
                                  f"{type(err).__name__}: {first}") from None  # fmt: skip
        return Halves(LatentEncoder(model), LatentDecoder(model, latent), None, latent, {}, "diffusers")
    raise ConfigError(f"Pass an encoder and a decoder, or a pythae model or a diffusers AutoencoderKL; got a "
                      f"{type(model).__name__} alone.")  # fmt: skip
