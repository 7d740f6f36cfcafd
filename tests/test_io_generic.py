"""Generic CSV and NetCDF readers, on small hand-made files written by each test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from gridopt.errors import DataError
from gridopt.io.generic import ColumnSpec, open_csv_series, open_netcdf_series
from gridopt.io.series import QC, Rule

GAPPY = "time,Load (kW)\n2021-06-01 00:00,1000\n2021-06-01 01:00,2000\n2021-06-01 03:00,4000\n"
LOAD = {"Load (kW)": ColumnSpec("load_p_mw", "MW", "demand", Rule.MEAN, (0.0, 10.0), scale=1e-3)}


def _csv(tmp_path, text, name="series.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _open(path, **kwargs):
    options = {"time_column": "time", "columns": LOAD, "timezone": "Europe/Berlin", **kwargs}
    return open_csv_series(path, **options)


def test_autumn_dst_repeated_hour_in_berlin(tmp_path):
    # 31 Oct 2021: clocks go from 03:00 CEST back to 02:00 CET, so 02:00 appears twice
    path = _csv(
        tmp_path,
        "time,Load (kW)\n"
        "2021-10-31 00:00,1000\n"
        "2021-10-31 01:00,2000\n"
        "2021-10-31 02:00,3000\n"
        "2021-10-31 02:00,4000\n"
        "2021-10-31 03:00,5000\n",
    )
    ds = _open(path)
    utc = ds.indexes["time"].strftime("%H:%M").tolist()
    assert utc == ["22:00", "23:00", "00:00", "01:00", "02:00"]
    assert ds["load_p_mw"].sel(time="2021-10-31 00:00").item() == 3.0  # first 02:00, CEST (UTC+2)
    assert ds["load_p_mw"].sel(time="2021-10-31 01:00").item() == 4.0  # second 02:00, CET (UTC+1)
    assert not ds["load_p_mw_qc"].values.any()
    assert ds.attrs["source_timezone"] == "Europe/Berlin"


def test_spring_dst_skipped_hour_is_not_a_gap(tmp_path):
    # 28 Mar 2021: 02:00 local does not exist; 01:00 CET and 03:00 CEST are one hour apart
    path = _csv(
        tmp_path, "time,Load (kW)\n2021-03-28 00:00,1\n2021-03-28 01:00,2\n2021-03-28 03:00,3\n"
    )
    ds = _open(path)
    assert ds.indexes["time"].strftime("%H:%M").tolist() == ["23:00", "00:00", "01:00"]
    assert not (ds["load_p_mw_qc"] & QC.GAP).any()


def test_duplicated_timestamp_names_file_and_time(tmp_path):
    path = _csv(
        tmp_path,
        "time,Load (kW)\n2021-06-01 10:00,1\n2021-06-01 11:00,2\n2021-06-01 11:00,3\n",
        name="dup.csv",
    )
    expected = r"dup.csv: timestamps must be unique \(got '2021-06-01 11:00' on line 3 and"
    with pytest.raises(DataError, match=expected):
        _open(path)


def test_non_numeric_value_names_line_and_column(tmp_path):
    path = _csv(
        tmp_path,
        "time,Load (kW)\n2021-06-01 10:00,1\n2021-06-01 11:00,abc\n",
        name="text.csv",
    )
    with pytest.raises(DataError) as info:
        _open(path)
    assert str(info.value) == "text.csv: column 'Load (kW)' must be numeric (got 'abc' on line 3)"


def test_gap_is_inserted_and_flagged(tmp_path):
    path = _csv(tmp_path, GAPPY)
    ds = _open(path, timezone="UTC")
    assert ds.sizes["time"] == 4
    gap = ds.sel(time="2021-06-01 02:00")
    assert np.isnan(gap["load_p_mw"].item())
    assert gap["load_p_mw_qc"].item() == QC.GAP
    assert ds["load_p_mw"].sel(time="2021-06-01 03:00").item() == 4.0


def test_sentinel_range_and_empty_cells(tmp_path):
    columns = {
        "pm25": ColumnSpec(
            "aq_pm25_ug_m3", "ug m-3", "PM2.5", valid_range=(0, 1000), sentinels=(-200,)
        ),
        "energy": ColumnSpec(
            "load_e_mwh", "MWh", "energy", Rule.SUM, sentinels=("--", (6553.0, 6553.5))
        ),
    }
    path = _csv(
        tmp_path,
        "when,pm25,energy\n"
        "2021-01-01T00:00:00+01:00,-200,1.5\n"
        "2021-01-01T01:00:00+01:00,-200.0,--\n"
        "2021-01-01T02:00:00+01:00,1200,6553.4\n"
        "2021-01-01T03:00:00+01:00,,2\n",
    )
    ds = open_csv_series(path, time_column="when", columns=columns, timezone="Europe/Berlin")
    assert ds.indexes["time"][0] == pd.Timestamp("2020-12-31 23:00")  # the offset wins
    pm_flags = ds["aq_pm25_ug_m3_qc"].values.tolist()
    assert pm_flags == [QC.SENTINEL, QC.SENTINEL, QC.OUT_OF_RANGE, QC.MISSING]
    assert ds["aq_pm25_ug_m3"].isnull().all()
    assert ds["load_e_mwh_qc"].values.tolist() == [0, QC.SENTINEL, QC.SENTINEL, 0]
    assert ds["load_e_mwh"].attrs["cell_methods"] == "time: sum"
    assert ds["load_e_mwh"].attrs["units"] == "MWh"


def test_header_whitespace_is_collapsed_and_missing_column_named(tmp_path):
    text = "time,Load  (kW) \n2021-06-01 00:00,1\n2021-06-01 01:00,2\n"
    path = _csv(tmp_path, text, name="h.csv")
    assert _open(path)["load_p_mw"].values.tolist() == [0.001, 0.002]
    # the message is one line with runs of spaces collapsed (GridoptError.__str__)
    expected = r"h.csv: column 'PM2.5' is missing \(found 'time', 'Load \(kW\) '\)"
    with pytest.raises(DataError, match=expected):
        open_csv_series(
            path, time_column="time", columns={"PM2.5": LOAD["Load (kW)"]}, timezone="UTC"
        )


def test_unparsable_time_and_missing_file(tmp_path):
    path = _csv(tmp_path, "time,Load (kW)\n2021-06-01 00:00,1\nyesterday,2\n", name="t.csv")
    expected = r"t.csv: column 'time' must hold times \(got 'yesterday' on line 3\)"
    with pytest.raises(DataError, match=expected):
        _open(path)
    with pytest.raises(DataError, match="nothing.csv: file not found"):
        _open(tmp_path / "nothing.csv")


def _series(times, **attrs):
    x = xr.DataArray(np.arange(len(times), dtype=float), dims="time", attrs=attrs)
    return xr.Dataset({"load_p_mw": x}, coords={"time": times})


def _first_time(path):
    return open_netcdf_series(path).indexes["time"][0]


def test_netcdf_roundtrip_of_a_csv_series(tmp_path):
    ds = _open(_csv(tmp_path, GAPPY))
    ds.to_netcdf(tmp_path / "s.nc")
    back = open_netcdf_series(tmp_path / "s.nc")
    xr.testing.assert_identical(back["load_p_mw"], ds["load_p_mw"])
    assert back["load_p_mw_qc"].values.tolist() == [0, 0, QC.GAP, 0]
    selected = open_netcdf_series(tmp_path / "s.nc", ["load_p_mw"])
    assert list(selected.data_vars) == ["load_p_mw", "load_p_mw_qc"]


def test_netcdf_times_with_offset_or_zone_become_utc(tmp_path):
    offset = _series(np.arange(3), units="MW")
    offset["time"].attrs["units"] = "hours since 2021-01-01 00:00:00+01:00"
    offset.to_netcdf(tmp_path / "offset.nc")
    assert _first_time(tmp_path / "offset.nc") == pd.Timestamp("2020-12-31 23:00")

    zoned = _series(pd.date_range("2021-07-01 00:00", periods=3, freq="h"), units="MW")
    zoned["time"].attrs["timezone"] = "Europe/Berlin"
    zoned.to_netcdf(tmp_path / "zoned.nc")
    assert _first_time(tmp_path / "zoned.nc") == pd.Timestamp("2021-06-30 22:00")

    text = _series(np.array(["2021-01-01T00:00+01:00", "2021-01-01T01:00+01:00"]), units="MW")
    text.to_netcdf(tmp_path / "text.nc")
    assert _first_time(tmp_path / "text.nc") == pd.Timestamp("2020-12-31 23:00")

    naive_text = _series(np.array(["2021-01-01T00:00", "2021-01-01T01:00"]), units="MW")
    naive_text.to_netcdf(tmp_path / "naive.nc")
    with pytest.raises(DataError, match="naive.nc: time strings must carry a UTC offset"):
        open_netcdf_series(tmp_path / "naive.nc")


def test_netcdf_checks_name_the_problem(tmp_path):
    no_units = _series(pd.date_range("2021-01-01", periods=2, freq="h"))
    no_units.to_netcdf(tmp_path / "no_units.nc")
    expected = "no_units.nc: variable 'load_p_mw' must have a 'units' attribute"
    with pytest.raises(DataError, match=expected):
        open_netcdf_series(tmp_path / "no_units.nc")

    times = pd.DatetimeIndex(["2021-01-01 02:00", "2021-01-01 01:00"])
    _series(times, units="MW").to_netcdf(tmp_path / "order.nc")
    expected = r"order.nc: time must be strictly increasing \(got 2021-01-01 01:00:00 after"
    with pytest.raises(DataError, match=expected):
        open_netcdf_series(tmp_path / "order.nc")

    xr.Dataset({"x": ("n", [1.0], {"units": "MW"})}).to_netcdf(tmp_path / "no_time.nc")
    with pytest.raises(DataError, match="no_time.nc: a 'time' coordinate is required"):
        open_netcdf_series(tmp_path / "no_time.nc")

    ok = _series(pd.date_range("2021-01-01", periods=2, freq="h"), units="MW")
    ok.to_netcdf(tmp_path / "ok.nc")
    with pytest.raises(DataError, match="ok.nc: variable 'load_q_mvar' is missing"):
        open_netcdf_series(tmp_path / "ok.nc", ["load_q_mvar"])
