"""SGCC PV loader on the two real plant files (2019–2020, 15 min)."""

from __future__ import annotations

import csv
import gzip

import numpy as np
import pandas as pd
import pytest

from gridopt.errors import DataError
from gridopt.io.series import QC, qc_summary
from gridopt.io.sgcc_pv import open_sgcc_pv

SITE1 = "sgcc_solar_site1_50MW_2019-2020_15min.csv.gz"
SITE5 = "sgcc_solar_site5_110MW_2019-2020_15min.csv.gz"
SERIES = (  # in file column order
    "irradiance_total_w_m2",
    "irradiance_dni_w_m2",
    "irradiance_ghi_w_m2",
    "weather_temp_c",
    "weather_pressure_hpa",
    "weather_rh_percent",
    "pv_p_mw",
)


@pytest.fixture(scope="module")
def site1(shared_data):
    return open_sgcc_pv(shared_data / "solar" / SITE1)


@pytest.fixture(scope="module")
def site5(shared_data):
    return open_sgcc_pv(shared_data / "solar" / SITE5)


def _raw_sentinel_count(path) -> int:
    """No-data codes counted on the raw text: '--', -99, ±3276.x, and 6500..6553.5 (wrapped)."""
    count = 0
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = csv.reader(fh)
        next(rows)
        for row in rows:
            for cell in row[1:]:
                cell = cell.strip()
                if cell == "--":
                    count += 1
                    continue
                value = float(cell)
                count += value == -99 or 3276 <= abs(value) < 3277 or 6500 <= value <= 6553.5
    return count


@pytest.mark.parametrize(("name", "expected"), [(SITE1, 7107), (SITE5, 322)])
def test_sentinel_flags_equal_the_count_in_the_raw_text(shared_data, site1, site5, name, expected):
    ds = site1 if name == SITE1 else site5
    flagged = sum(int(((ds[f"{s}_qc"] & QC.SENTINEL) > 0).sum()) for s in SERIES)
    assert flagged == _raw_sentinel_count(shared_data / "solar" / name) == expected
    assert all(ds[s].where((ds[f"{s}_qc"] & QC.SENTINEL) > 0).isnull().all() for s in SERIES)


def test_spot_row_and_utc_conversion(site1):
    # line: 2019-03-04 16:00:00,630,37,181,15.0,910.6,6553.4,30.282131 (Beijing time, UTC+8)
    row = site1.sel(time=pd.Timestamp("2019-03-04 08:00"))
    assert row["irradiance_total_w_m2"].item() == 630
    assert row["irradiance_dni_w_m2"].item() == 37
    assert row["irradiance_ghi_w_m2"].item() == 181
    assert row["weather_temp_c"].item() == 15.0
    assert row["weather_pressure_hpa"].item() == 910.6
    assert np.isnan(row["weather_rh_percent"].item())  # 6553.4: a wrapped register
    assert row["weather_rh_percent_qc"].item() == QC.SENTINEL
    assert row["pv_p_mw"].item() == pytest.approx(30.282131)
    assert row["pv_availability_pu"].item() == pytest.approx(30.282131 / 50)


def test_index_is_a_complete_15_minute_utc_grid(site1):
    times = site1.indexes["time"]
    assert times.tz is None
    assert times[0] == pd.Timestamp("2018-12-31 16:00")  # 2019-01-01 00:00 in Beijing
    assert times[-1] == pd.Timestamp("2020-12-31 15:45")
    assert len(times) == 70176 == 731 * 96
    assert not any((site1[f"{s}_qc"] & QC.GAP).any() for s in SERIES)


def test_out_of_range_values_become_nan(site5):
    # "2019-01-22 03:15:00,0,1640,0,-0.4,1025,85.4,0": DNI 1640 W/m2 before dawn
    night = site5.sel(time=pd.Timestamp("2019-01-21 19:15"))
    assert np.isnan(night["irradiance_dni_w_m2"].item())
    assert night["irradiance_dni_w_m2_qc"].item() == QC.OUT_OF_RANGE
    assert night["weather_pressure_hpa"].item() == 1025
    # "2019-01-31 10:30:00,0,0,0,0,0,0,9.54": pressure 0 hPa
    zero = site5.sel(time=pd.Timestamp("2019-01-31 02:30"))
    assert zero["weather_pressure_hpa_qc"].item() == QC.OUT_OF_RANGE
    assert zero["pv_p_mw"].item() == pytest.approx(9.54)
    assert qc_summary(site5, "irradiance_dni_w_m2") == {"out_of_range": 74, "sentinel": 46}


def test_dash_rows_and_negative_night_output(site5):
    # "2019-04-18 09:30:00,--,--,--,--,--,--,--"
    row = site5.sel(time=pd.Timestamp("2019-04-18 01:30"))
    for s in SERIES:
        assert np.isnan(row[s].item()) and row[f"{s}_qc"].item() == QC.SENTINEL
    # small negative output at night (inverter standby) is within [-0.01, 1.05] x 110 MW
    assert float(site5["pv_p_mw"].min()) == pytest.approx(-0.54)


def test_capacity_and_attributes(site1, site5):
    assert site1.attrs["pv_capacity_mw"] == 50.0
    assert site5.attrs["pv_capacity_mw"] == 110.0
    assert site1.attrs["source_timezone"] == "Asia/Shanghai"
    assert site1["pv_p_mw"].attrs["units"] == "MW"
    assert site1["irradiance_ghi_w_m2"].attrs["units"] == "W m-2"
    assert site1["pv_availability_pu"].attrs["cell_methods"] == "time: mean"
    assert float(site5["pv_availability_pu"].max()) <= 1.05


def test_capacity_must_be_known(tmp_path):
    path = tmp_path / "plant.csv"
    path.write_text("Time(year-month-day h:m:s),Power (MW)\n2019-01-01 00:00:00,0\n")
    with pytest.raises(DataError, match="plant.csv: file name must state the capacity"):
        open_sgcc_pv(path)
