"""``vaelab.TableVAE``: a VAE for a pandas DataFrame of mixed-type columns, in memory.

The in-memory counterpart of a table run (:mod:`vaelab.runs.table`): the same schema
inference, the same transformer fitted on the training rows (:func:`encode_table`), and a
:class:`vaelab.VAE` with the matching mixed likelihood; no run folder.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from vaelab.analysis.samplers import decode
from vaelab.data.split import indices, split_assignment
from vaelab.data.table_schema import infer_schema
from vaelab.data.table_transformer import DENSITY_UNITS, encode_table
from vaelab.errors import ConfigError, DataError
from vaelab.estimator import VAE
from vaelab.runtime import seeded


class TableVAE:
    """A VAE for a pandas DataFrame of mixed-type columns, in memory (no run folder).

    >>> from vaelab.data.table_demo import make_mixed_table
    >>> df = make_mixed_table(300)
    >>> model = TableVAE(epochs=2, latent_dim=4, hidden=[32]).fit(df)
    >>> synth = model.sample(5)
    >>> list(synth.columns) == list(df.columns)
    True

    Parameters: ``categorical``, ``numeric``, ``boolean``, ``datetime``, ``ignore`` override the
    inferred schema; ``normalization`` is "mode" (TVAE's) or "standard"; any other keyword is a
    :class:`vaelab.VAE` setting (latent_dim, hidden, epochs, ...). ``validation_fraction`` of the
    rows are held out for early stopping; the encodings are fitted on the other rows.
    """

    def __init__(self, *, categorical=(), numeric=(), boolean=(), datetime=(), ignore=(),
                 normalization: str = "mode", **settings: Any):  # fmt: skip
        self.overrides = {"categorical": tuple(categorical), "numeric": tuple(numeric), "boolean": tuple(boolean),
                          "datetime": tuple(datetime), "ignore": tuple(ignore)}  # fmt: skip
        self.normalization = normalization
        self.settings = settings
        if "blocks" in settings or settings.get("likelihood", "auto") not in ("auto", "mixed"):
            raise ConfigError("TableVAE chooses its own likelihood (mixed, from the schema); leave likelihood and blocks out.")

    def fit(self, df: pd.DataFrame) -> "TableVAE":
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"TableVAE.fit expects a pandas DataFrame; got {type(df).__name__}.")
        schema = infer_schema(df, **self.overrides)
        vae = VAE(**self.settings)
        split = split_assignment(len(df), vae.validation_fraction, 0.0, vae.seed)
        self.transformer_, X = encode_table(df, schema, self.normalization, vae.seed, indices(split, "train"))
        self.vae_ = vae.set_params(blocks=self.transformer_.likelihood_blocks()).fit(X)
        return self

    @property
    def schema(self):
        return self.transformer_.schema

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Posterior means E_q[z|x] of the rows."""
        return self.vae_.transform(self.transformer_.transform(df))

    def log_likelihood(self, df: pd.DataFrame, n_samples: int = 1000, **options: Any):
        """Importance-sampled log p(row) with standard errors (see vaelab.analysis.log_likelihood), in the
        rows' own units (the encoding's log-Jacobian included; ``result.extra["units"]`` says how).

        Rows holding what training never had (a new category, a missing value where there were none, a
        value of another kind, a value out of range) are scored on the columns that can be encoded and
        listed in ``result.extra["reasons"]`` (one string per row, "" when nothing is new)."""
        rows = self.transformer_.check_rows(df)
        result = self.vae_.log_likelihood(rows.X, n_samples=n_samples, observed=rows.observed, **options)
        result = result.shifted(self.transformer_.log_jacobian(rows.X, rows.observed), DENSITY_UNITS)
        result.extra["reasons"] = rows.reasons
        return result

    def sample(self, n: int, seed: int = 0) -> pd.DataFrame:
        """n rows drawn from the model, with the original columns, dtypes and categories."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"n must be a positive integer; got {n!r}.")
        with seeded(int(seed), self.vae_.device_):
            z = self.vae_.prior_.sample(n).detach().cpu().numpy()
        return self.transformer_.inverse_transform(decode(self.vae_, z, mean=False, seed=seed + 1))
