"""Analyses: each takes a fitted model plus data and returns a small result object."""
from vaelab.analysis.anomaly import Calibration, anomaly_eval
from vaelab.analysis.likelihood import LikelihoodResult, log_likelihood

__all__ = ["LikelihoodResult", "log_likelihood", "Calibration", "anomaly_eval"]
