"""The standard synthetic run (tests.fixtures.synthetic.standard_frame), built once per test module."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.fixtures.synthetic import standard_frame


@pytest.fixture(scope="module")
def standard() -> pd.DataFrame:
    return standard_frame()
