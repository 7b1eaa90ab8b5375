"""The maths: networks, likelihoods, priors and the VAE module."""
from vaelab.nn.build import build_vae
from vaelab.nn.vae import LogLikelihood, Loss, VAEModule

__all__ = ["VAEModule", "Loss", "LogLikelihood", "build_vae"]
