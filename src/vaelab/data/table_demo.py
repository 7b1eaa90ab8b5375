"""A generated mixed-type table of known structure, for tests and docs: :func:`make_mixed_table`."""
from __future__ import annotations

import numpy as np
import pandas as pd

from vaelab.errors import ConfigError

__all__ = ["make_mixed_table"]


def make_mixed_table(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """A generated table of known structure, for tests and docs.

    Columns:

    * ``score`` float64: bimodal, 40 % N(-3, 0.7) and 60 % N(4, 1);
    * ``income`` float64: skewed positive (log-normal, 2 decimals), ~8 % missing;
    * ``age`` int64: whole numbers 18..90;
    * ``segment`` ordered Categorical low < mid < high (rises with income), ~6 % missing;
    * ``city`` object strings: Lyon/Paris mostly where score is high, Oslo/Bergen where low;
    * ``member`` bool: more often True where score is high;
    * ``joined`` datetime64[ns] on whole hours over 2019-2023, ~5 % missing.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n must be an integer >= 1; got {n!r}.")
    rng = np.random.default_rng(seed)
    high = rng.random(n) < 0.6
    score = np.where(high, rng.normal(4.0, 1.0, n), rng.normal(-3.0, 0.7, n))
    income = np.round(rng.lognormal(10.3, 0.6, n), 2)
    age = rng.integers(18, 91, n).astype(np.int64)
    level = np.clip(np.digitize(np.log(income) + rng.normal(0, 0.3, n), [10.0, 10.6]), 0, 2)
    segment = pd.Categorical.from_codes(np.where(rng.random(n) < 0.06, -1, level),
                                        categories=["low", "mid", "high"], ordered=True)
    swap = rng.random(n) < 0.1  # a little noise in the score-city link
    city = np.where(high ^ swap, rng.choice(["Lyon", "Paris"], n, p=[0.7, 0.3]),
                    rng.choice(["Oslo", "Bergen"], n, p=[0.5, 0.5])).astype(object)
    member = rng.random(n) < np.where(high, 0.7, 0.3)
    hours = rng.integers(0, 5 * 365 * 24, n)
    joined = pd.Series(np.datetime64("2019-01-01T00", "h") + hours.astype("timedelta64[h]")).astype("datetime64[ns]")
    joined[rng.random(n) < 0.05] = pd.NaT
    income[rng.random(n) < 0.08] = np.nan
    return pd.DataFrame({
        "score": score,
        "income": income,
        "age": age,
        "segment": segment,
        "city": pd.Series(city, dtype=object),
        "member": member,
        "joined": joined,
    })
