"""Shared fixtures for the data tests: the generated mixed-type table."""
import pytest

from vaelab.data.table_demo import make_mixed_table


@pytest.fixture(scope="module")
def table():
    return make_mixed_table(600, seed=0)
