"""TMY3 loader and PV availability on the TMY3 files shipped with pvlib."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from gridopt.errors import DataError
from gridopt.io.series import QC
from gridopt.io.tmy import builtin_tmy_path, open_tmy, pv_availability_from_weather

FILES = ("723170TYA.CSV", "703165TY.csv")


@pytest.fixture(scope="module")
def weather():
    return {name: open_tmy(builtin_tmy_path(name)) for name in FILES}


def _raw(name):
    """Header fields and data rows of a TMY3 file, read with the csv module."""
    with open(builtin_tmy_path(name), newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1], rows[2:]


def _local_end(date: str, hhmm: str, year: int) -> pd.Timestamp:
    """TMY3 stamp (MM/DD/YYYY, HH:MM with 24:00 for midnight) on ``year``."""
    month, day, _ = date.split("/")
    hour = int(hhmm.split(":")[0])
    return pd.Timestamp(year=year, month=int(month), day=int(day)) + pd.Timedelta(hours=hour)


@pytest.mark.parametrize("name", FILES)
def test_utc_shift_equals_the_file_offset(weather, name):
    header, _, rows = _raw(name)
    offset_h = float(header[3])  # -5.0 Greensboro, -9.0 Sand Point
    ds = weather[name]
    assert ds.attrs["utc_offset_h"] == offset_h
    stamps = pd.DatetimeIndex([_local_end(r[0], r[1], 2021) for r in rows])
    # label = start of the hour (stamp - 1 h), moved from local standard time to UTC
    expected = stamps - pd.Timedelta(hours=1) - pd.Timedelta(hours=offset_h)
    assert (ds.indexes["time"] == expected.sort_values()).all()
    assert len(ds.indexes["time"]) == 8760


def test_spot_values_match_the_raw_row(weather):
    _, columns, rows = _raw("723170TYA.CSV")
    col = {c: i for i, c in enumerate(columns)}
    row = next(r for r in rows if r[0].startswith("06/21/") and r[1] == "13:00")
    # 06/21 13:00 EST ends the hour 12:00-13:00 EST = 17:00-18:00 UTC
    hour = weather["723170TYA.CSV"].sel(time=pd.Timestamp("2021-06-21 17:00"))
    pairs = {
        "weather_ghi_w_m2": "GHI (W/m^2)",
        "weather_dni_w_m2": "DNI (W/m^2)",
        "weather_dhi_w_m2": "DHI (W/m^2)",
        "weather_temp_c": "Dry-bulb (C)",
        "weather_wind_speed_m_s": "Wspd (m/s)",
        "weather_rh_percent": "RHum (%)",
    }
    for name, column in pairs.items():
        assert hour[name].item() == float(row[col[column]]), name
    assert hour["weather_ghi_w_m2"].item() > 500  # a June early afternoon


def test_station_attributes_come_from_the_header(weather):
    # 723170,"GREENSBORO PIEDMONT TRIAD INT",NC,-5.0,36.100,-79.950,273
    header, _, _ = _raw("723170TYA.CSV")
    ds = weather["723170TYA.CSV"]
    assert ds.attrs["station_name"] == header[1] == "GREENSBORO PIEDMONT TRIAD INT"
    assert (ds.attrs["latitude"], ds.attrs["longitude"], ds.attrs["altitude"]) == (
        36.1,
        -79.95,
        273.0,
    )
    assert ds.attrs["source_timezone"] == "Etc/GMT+5"
    assert ds["weather_ghi_w_m2"].attrs["units"] == "W m-2"
    assert ds["weather_temp_c"].attrs["units"] == "degC"


@pytest.mark.parametrize("name", FILES)
def test_pv_availability_is_bounded_and_zero_at_night(weather, name):
    ds = weather[name]
    pv = pv_availability_from_weather(ds, tilt_deg=30, azimuth_deg=180)
    assert pv.name == "pv_p_max_pu" and pv.attrs["units"] == "1"
    assert not pv.isnull().any()
    assert float(pv.min()) >= 0 and float(pv.max()) <= 1.1
    assert float(pv.max()) > 0.8  # clear days reach near-rated output
    local_hour = (ds.indexes["time"] + pd.Timedelta(hours=ds.attrs["utc_offset_h"])).hour
    assert (pv.values[(local_hour >= 0) & (local_hour < 3)] == 0).all()  # local midnight to 3 am
    no_light = (ds["weather_ghi_w_m2"] == 0) & (ds["weather_dhi_w_m2"] == 0)
    assert (pv.values[no_light.values] == 0).all()


def test_pv_availability_follows_orientation(weather):
    """At Greensboro (36° N) a south-facing 30° panel yields more over a year than a north one."""
    ds = weather["723170TYA.CSV"]
    south = pv_availability_from_weather(ds, tilt_deg=30, azimuth_deg=180).mean().item()
    north = pv_availability_from_weather(ds, tilt_deg=30, azimuth_deg=0).mean().item()
    assert south > 1.2 * north


def test_unknown_builtin_name_is_a_data_error():
    with pytest.raises(DataError, match="TMY file 'nope.csv' not found"):
        builtin_tmy_path("nope.csv")


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="x.csv: file not found"):
        open_tmy(tmp_path / "x.csv")


def test_tmy3_no_data_code_becomes_a_sentinel(tmp_path):
    """A copy of the Greensboro file with GHI of 06/21 13:00 replaced by -9900 (TMY3 no-data)."""
    header, columns, rows = _raw("723170TYA.CSV")
    ghi = columns.index("GHI (W/m^2)")
    for row in rows:
        if row[0].startswith("06/21/") and row[1] == "13:00":
            row[ghi] = "-9900"
    path = tmp_path / "edited.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([header, columns, *rows])
    hour = open_tmy(path).sel(time=pd.Timestamp("2021-06-21 17:00"))
    assert np.isnan(hour["weather_ghi_w_m2"].item())
    assert hour["weather_ghi_w_m2_qc"].item() == QC.SENTINEL
    assert hour["weather_dni_w_m2_qc"].item() == 0
