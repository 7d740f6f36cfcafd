"""The series conventions: UTC conversion, regular index with GAP flags, resampling rules, QC."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from gridopt.errors import DataError
from gridopt.io.series import QC, Rule, add_series, qc_summary, range_flags, regular_time, resample, series_attrs, to_utc


def _ds(freq: str, values, flags=None, rule=Rule.MEAN, units="MW") -> xr.Dataset:
    t = pd.date_range("2020-01-01", periods=len(values), freq=freq)
    ds = xr.Dataset(coords={"time": t})
    data = xr.DataArray(np.asarray(values, float), dims="time", coords={"time": t})
    add_series(ds, "x", data, flags, series_attrs(units, "x", rule))
    return ds


def test_quarter_hours_to_hours_mean_power_and_or_flags():
    ds = _ds("15min", [0, 1, 2, 3, 4, 5, 6, 7], flags=[0, 1, 0, 0, 0, 0, 0, 4])
    out = resample(ds, "1h")
    assert out.x.values.tolist() == [1.5, 5.5]  # (0+1+2+3)/4, (4+5+6+7)/4
    assert out.x_qc.values.tolist() == [1, 4]
    assert out.x.attrs["units"] == "MW"


def test_quarter_hours_to_hours_sums_energy():
    out = resample(_ds("15min", [1, 1, 1, 1, 2, 2, 2, 2], rule=Rule.SUM, units="MWh"), "1h")
    assert out.x.values.tolist() == [4, 8]


def test_hours_to_quarter_hours_keeps_energy_totals():
    out = resample(_ds("1h", [4.0, 8.0], rule=Rule.SUM, units="MWh"), "15min")
    assert out.x.values.tolist() == [1, 1, 1, 1, 2, 2, 2, 2]
    power = resample(_ds("1h", [4.0, 8.0]), "15min")
    assert power.x.values.tolist() == [4, 4, 4, 4, 8, 8, 8, 8]


def test_same_step_is_a_no_op():
    ds = _ds("1h", [1.0, 2.0, 3.0])
    assert resample(ds, "1h") is ds


def test_regular_time_flags_inserted_rows_and_refuses_duplicates():
    idx = pd.to_datetime(["2020-01-01 00:00", "2020-01-01 01:00", "2020-01-01 03:00"])
    frame, gap = regular_time(pd.DataFrame({"a": [1, 2, 3]}, index=idx), "1h", where="f.csv")
    assert gap.tolist() == [False, False, True, False]
    assert np.isnan(frame["a"].iloc[2])
    dup = pd.DataFrame({"a": [1, 2]}, index=pd.to_datetime(["2020-01-01", "2020-01-01"]))
    with pytest.raises(DataError, match="f.csv: timestamps must be unique"):
        regular_time(dup, "1h", where="f.csv")


def test_to_utc_resolves_the_repeated_autumn_hour_in_order():
    local = pd.to_datetime(["2021-10-31 01:00", "2021-10-31 02:00", "2021-10-31 02:00", "2021-10-31 03:00"])
    utc = to_utc(local, "Europe/Berlin", where="f.csv")
    assert [t.strftime("%H:%M") for t in utc] == ["23:00", "00:00", "01:00", "02:00"]


def test_to_utc_refuses_the_skipped_spring_hour():
    with pytest.raises(DataError, match="f.csv: local times in Europe/Berlin"):
        to_utc(pd.to_datetime(["2021-03-28 02:30"]), "Europe/Berlin", where="f.csv")


def test_range_flags_and_summary():
    flags = range_flags(np.array([1.0, np.nan, -5.0, 200.0]), 0, 100)
    assert flags.tolist() == [0, QC.MISSING, QC.OUT_OF_RANGE, QC.OUT_OF_RANGE]
    ds = _ds("1h", [1.0, np.nan, -5.0, 200.0], flags=flags)
    assert qc_summary(ds, "x") == {"missing": 1, "out_of_range": 2}
    assert ds.x.attrs["ancillary_variables"] == "x_qc"
    assert ds.x_qc.attrs["flag_meanings"].split()[0] == "missing"
