"""The maths: networks, likelihoods, priors and the VAE module."""
from vaelab.nn.build import build_vae
from vaelab.nn.vae import Loss, VAEModule

__all__ = ["VAEModule", "Loss", "build_vae"]
