"""Data at the boundary: sources (built-ins, files), validation, splits, binarization."""
from vaelab.data.dataset import Dataset
from vaelab.data.sources import BUILTINS, load_dataset

__all__ = ["Dataset", "BUILTINS", "load_dataset"]
