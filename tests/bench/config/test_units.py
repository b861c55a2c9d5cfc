"""Byte sizes and durations read and print the way users write them."""

import pytest

from bench.config.units import format_bytes, format_seconds, parse_bytes


@pytest.mark.parametrize(("text", "value"), [("4GiB", 4 * 1024**3), ("512MiB", 512 * 1024**2), ("2GB", 2 * 10**9),
                                             ("1.5 KiB", 1536), ("100", 100), (64, 64)])
def test_parse_bytes_reads_si_and_binary_units(text, value):
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["", "lots", "4XB", "-1GiB", 0])
def test_parse_bytes_rejects_nonsense(text):
    with pytest.raises(ValueError):
        parse_bytes(text)


def test_formatting_keeps_three_significant_digits():
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(None) == "-"
    assert format_seconds(0.0123) == "12.3 ms"
    assert format_seconds(2.5e-5) == "25 us"
    assert format_seconds(3.21) == "3.21 s"
