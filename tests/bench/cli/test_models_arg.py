"""Reading `--models`: names with typed options, split on commas outside brackets."""

from __future__ import annotations

import pytest

from bench.cli.common import UsageError
from bench.cli.models_arg import parse_variant, split_models


def test_model_variants_parse_with_typed_options():
    assert parse_variant("fastformer[scorer=official,share_qv=false]") == {
        "name": "fastformer", "options": {"scorer": "official", "share_qv": False}}
    assert parse_variant("linear[chunk_size=8]")["options"] == {"chunk_size": 8}
    assert split_models("a[x=1,y=2],b, c") == ["a[x=1,y=2]", "b", "c"]
    with pytest.raises(UsageError, match="closed"):
        parse_variant("fastformer[scorer=official")
