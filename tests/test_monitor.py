"""``gridopt monitor``: the report on every Beijing station, a model window, AirQualityUCI."""

from __future__ import annotations

import struct
import time

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from gridopt.environment import CHINA_CATEGORIES, china_aqi
from gridopt.errors import DataError
from gridopt.io.airquality import open_beijing_multisite
from gridopt.monitor import aqi_episodes, monitor_command

STATIONS = ["Aotizhongxin", "Changping", "Dingling", "Guanyuan", "Gucheng", "Nongzhanguan",
            "Wanliu", "Wanshouxigong"]  # fmt: skip
CATEGORY_COLUMNS = [f"{c.name} ({c.local_name})" for c in CHINA_CATEGORIES]


@pytest.fixture(scope="module")
def beijing_dir(shared_data):
    return shared_data / "air_quality" / "beijing_multisite"


@pytest.fixture(scope="module")
def folder_report(beijing_dir, tmp_path_factory):
    png = tmp_path_factory.mktemp("monitor") / "beijing.png"
    start = time.perf_counter()
    report = monitor_command(str(beijing_dir), out_png=png)
    return report, time.perf_counter() - start


def table(report, starts_with):
    return next(rows for title, rows in report.tables if title.startswith(starts_with))


def test_every_beijing_station_in_one_call(folder_report, beijing_dir):
    report, seconds = folder_report
    assert seconds < 30  # measured 2.5 s: 8 stations x 35,064 hours, and the figure
    assert [t for t, _ in report.tables] == [
        "data coverage and QC flags",
        "hours per China HJ 633-2012 AQI category",
        "worst episodes: runs of hours with China HJ 633-2012 AQI >= 200 (Asia/Shanghai time)",
    ]
    categories = table(report, "hours per")
    assert [r["station"] for r in categories] == STATIONS
    # every value is a string, ready for the CLI's tables
    assert all(isinstance(v, str) for rows in (r for _, r in report.tables) for row in rows
               for v in row.values())  # fmt: skip
    coverage = table(report, "data coverage")
    assert len(coverage) == 8 * 12 and {r["station"] for r in coverage} == set(STATIONS)


def test_category_hours_sum_to_the_hours_with_an_aqi(folder_report, beijing_dir):
    report, _ = folder_report
    independent = china_aqi(open_beijing_multisite(beijing_dir))["aqi_china"]
    for row in table(report, "hours per"):
        counts = [int(row[c]) for c in CATEGORY_COLUMNS]
        assert row["hours"] == "35064"
        assert sum(counts) == int(row["with AQI"])
        valid = np.isfinite(independent.sel(station=row["station"]).values).sum()
        assert int(row["with AQI"]) == valid, row["station"]
        assert row["max AQI"] == "500"  # every station went off the scale at least once


def test_episodes_are_runs_at_or_above_200(folder_report):
    report, _ = folder_report
    aqi = report.aqi["aqi_china"]
    rows = table(report, "worst episodes")
    assert [r["station"] for r in rows] == [s for s in STATIONS for _ in range(3)]
    for row in rows:
        # local (UTC+8) times back to UTC
        start = pd.Timestamp(row["start"]) - pd.Timedelta(hours=8)
        end = pd.Timestamp(row["end"]) - pd.Timedelta(hours=8)
        series = aqi.sel(station=row["station"])
        inside = series.sel(time=slice(start, end)).values
        assert len(inside) == int(row["hours"]) and (inside >= 200).all()
        assert f"{inside.max():.0f}" == row["peak AQI"]
        for edge in (start - pd.Timedelta(hours=1), end + pd.Timedelta(hours=1)):
            assert not float(series.sel(time=edge)) >= 200
    # longest first within a station: Aotizhongxin's worst is the December 2016 red alert
    assert rows[0]["start"].startswith("2016-12-17") and int(rows[0]["hours"]) >= 100


def test_figure_is_a_valid_png(folder_report):
    report, _ = folder_report
    data = report.figure.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    assert (width, height) == (1200, 1180)  # 12 in x (1.3 x 8 + 1.4) in at 100 dpi
    assert 50_000 < len(data) < 5_000_000


def test_model_window_uses_the_hours_before_it(shared_data, beijing_dir, tmp_path):
    report = monitor_command("beijing", data_dir=shared_data, standard="epa",
                             out_png=tmp_path / "model.png")
    aqi = report.aqi["aqi_epa"]
    # the window: 168 h from local 2016-12-15 00:00 (UTC 2016-12-14 16:00)
    assert aqi.sizes == {"time": 168, "station": 8}
    assert aqi.time.values[0] == np.datetime64("2016-12-14T16:00")
    # the first hour already has a 24-h PM mean: the same AQI as over the whole record
    from gridopt.environment import epa_aqi

    full = epa_aqi(open_beijing_multisite(beijing_dir))["aqi_epa"].sel(time=aqi.time)
    np.testing.assert_array_equal(aqi.values, full.values)
    for row in table(report, "hours per"):
        assert row["hours"] == "168" and row["with AQI"] == "168"
        assert sum(int(v) for k, v in row.items() if k not in ("station", "hours", "with AQI",
                                                               "max AQI")) == 168  # fmt: skip
    assert report.figure.stat().st_size > 10_000


def test_airquality_uci_reports_the_calibration(shared_data, tmp_path):
    target = "air_quality/AirQualityUCI.csv"  # relative to the data folder
    report = monitor_command(target, data_dir=shared_data)
    assert report.aqi is None and report.figure is None
    calibration = table(report, "sensor calibration")
    benzene = next(r for r in calibration if r["target"] == "ref_benzene_ug_m3")
    assert benzene["R² test"] == "0.919" and benzene["train / test hours"] == "6401 / 2590"
    with pytest.raises(DataError, match="no air-quality index to plot or rate"):
        monitor_command(target, data_dir=shared_data, out_png=tmp_path / "x.png")


def test_unknown_files_name_what_is_expected(tmp_path):
    (tmp_path / "readings.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="readings.csv: file must be a Beijing PRSA_Data"):
        monitor_command(str(tmp_path / "readings.csv"))
    with pytest.raises(DataError, match="a folder of Beijing PRSA_Data_"):
        monitor_command(str(tmp_path))


def test_aqi_episodes_by_hand():
    values = [[150, 210], [200, 220], [250, np.nan], [199, 230], [205, 240]]
    aqi = xr.DataArray(values, dims=("time", "station"), coords={
        "time": pd.date_range("2020-01-01", periods=5, freq="1h"), "station": ["a", "b"]})
    runs = [(r["station"], r["start"].hour, r["end"].hour, r["hours"], r["peak"])
            for r in aqi_episodes(aqi, 200)]
    # a: hours 1-2 (200, 250) and hour 4 (205); b: a NaN at hour 2 splits 0-1 from 3-4
    assert runs == [("a", 1, 2, 2, 250), ("a", 4, 4, 1, 205),
                    ("b", 0, 1, 2, 220), ("b", 3, 4, 2, 240)]  # fmt: skip
