"""Array runs: images and vectors, from a built-in or any file or folder ``load_dataset`` reads.

The examples are the model's matrix as they are (a large .npy stays memory-mapped, a
Parquet file is streamed), with optional labels for conditional models. The kind keeps no
state of its own: the run's data block names the source and its labels. Generated
examples are written as .npy, a .png grid (images) or .csv (one row per example).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaelab.config import DataConfig
from vaelab.data.dataset import Dataset
from vaelab.data.sources import load_dataset
from vaelab.data.split import check_trained_classes, split_assignment
from vaelab.errors import ConfigError
from vaelab.report.figures import image_grid, save_png
from vaelab.runs.base import Prepared, Request, RunKind, write_frame, write_npy

SUFFIXES = (".npy", ".png", ".csv")


class ArrayKind(RunKind):
    name = "array"
    description = "an image/vector run"

    @classmethod
    def claims(cls, request: Request) -> bool:
        return True  # the kind every other kind falls back to

    @classmethod
    def prepare(cls, request: Request, model: Any) -> Prepared:
        dataset = load_dataset(request.source, labels=request.labels, label_column=request.label_column, lazy=True)
        if model.conditional and dataset.y is None:
            raise ConfigError("--conditional needs labels: a built-in with labels, --labels FILE or --label-column COL.")
        split = split_assignment(dataset.n_examples, request.val_fraction, request.test_fraction, model.seed)
        # A class no training example holds would have only an untrained condition: refused before training (a model
        # adopted from elsewhere, trained on its own data, passes trains=False).
        if model.conditional and getattr(model, "trains", True):
            check_trained_classes(dataset.y, dataset.classes, split, "--conditional",
                                  "Give such a class training examples, drop its examples from the data and labels, "
                                  "or split otherwise (another --seed, a smaller --val-fraction or --test-fraction).")
        data = DataConfig(
            source=dataset.source, labels=None if request.labels is None else os.path.abspath(request.labels),
            label_column=request.label_column, val_fraction=request.val_fraction,
            test_fraction=request.test_fraction, n_examples=dataset.n_examples, fingerprint=dataset.fingerprint(),
            classes=dataset.classes,
        )  # fmt: skip
        return Prepared(cls(), dataset, split, data)

    def dataset(self, data: DataConfig, lazy: bool = False) -> Dataset:
        return self.read(data.source, data.labels, data.label_column, lazy)

    def check_output(self, out: Path) -> None:
        if out.suffix.lower() not in SUFFIXES:
            raise ConfigError(f"--out must end in .npy, .png or .csv; got {out.name!r}.")

    def write(self, data: np.ndarray, out: Path, title: str = "") -> Path:
        self.check_output(out)
        suffix = out.suffix.lower()
        if suffix == ".npy":
            return write_npy(data, out)
        if suffix == ".png":
            if data.ndim != 4:
                raise ConfigError("A .png grid needs an image model; write .npy or .csv for vector data.")
            return save_png(image_grid(data, min(10, len(data)), title), out)
        return write_frame(pd.DataFrame(data.reshape(len(data), -1)), out, float_format="%.6g")
