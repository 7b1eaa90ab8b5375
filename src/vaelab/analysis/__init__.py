"""Analyses: each takes a fitted model plus data and returns a small result object."""
from vaelab.analysis.anomaly import Calibration, anomaly_eval
from vaelab.analysis.likelihood import LikelihoodResult, log_likelihood
from vaelab.analysis.quality import quality_report
from vaelab.analysis.reconstruction_error import ReconstructionResult, reconstruction_error
from vaelab.analysis.samplers import SAMPLERS, generate, make_sampler

__all__ = ["LikelihoodResult", "log_likelihood", "ReconstructionResult", "reconstruction_error", "Calibration",
           "anomaly_eval", "quality_report", "SAMPLERS", "generate", "make_sampler"]
