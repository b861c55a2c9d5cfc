"""The hardware of configurations that never ran: taken from their series, never guessed."""

from __future__ import annotations

import pandas as pd

from bench.analysis.capacity import largest_fit
from bench.analysis.unmeasured import fill_hardware
from tests.fixtures.synthetic import Law, frame, sweep

LAW = Law(1e-5, 1e-9, 2.0)


def _unran(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with its skipped rows as a run stores them: no device name (they never reached a worker)."""
    df = df.copy()
    df.loc[df["status"] == "skipped", "device_name"] = None
    return df


def test_a_skipped_row_gets_the_hardware_of_its_series():
    df = _unran(frame(sweep("softmax", LAW, [128, 256, 512, 1024], fail_from=512, fail_status="skipped")))
    filled = fill_hardware(df)
    assert set(filled["device_name"]) == {"Synthetic CPU"}
    assert df["device_name"].isna().sum() == 2  # the input is left as it was


def test_a_row_whose_device_ran_on_two_machines_is_not_guessed():
    records = (sweep("softmax", LAW, [128, 256], device="cuda", device_name="GPU A")
               + sweep("sdpa", LAW, [128, 256], device="cuda", device_name="GPU B", seed=1)
               + sweep("linear", LAW, [128, 256], device="cuda", fail_from=128, fail_status="skipped", seed=2))
    filled = fill_hardware(_unran(frame(records)))
    assert filled.loc[filled["model"] == "linear", "device_name"].isna().all()
    assert list(filled.loc[filled["model"] == "softmax", "device_name"]) == ["GPU A", "GPU A"]


def test_a_table_with_every_hardware_known_is_returned_as_is():
    df = frame(sweep("softmax", LAW, [128, 256]))
    assert fill_hardware(df) is df


def test_largest_fit_has_one_row_per_series_when_its_skipped_rows_lack_hardware():
    df = _unran(frame(sweep("softmax", LAW, [128, 256, 512, 1024], fail_from=512, fail_status="skipped")
                      + sweep("sdpa", LAW, [128, 256, 512], seed=1)))
    table = largest_fit(df)
    assert sorted(table["variant"]) == ["sdpa", "softmax"]
    row = table.set_index("variant").loc["softmax"]
    assert (row["largest_ok_seq_len"], row["smallest_failed_seq_len"], row["failed_status"]) == (256, 512, "skipped")
    assert row["device_name"] == "Synthetic CPU"
