"""Air-quality loaders on the real UCI files, and the spike/stuck detectors on hand-made arrays.

Spot values are copied from the raw CSV lines quoted beside them (line 1 is the header).
"""

from __future__ import annotations

import gzip
import re
import time

import numpy as np
import pandas as pd
import pytest

from gridopt.errors import DataError
from gridopt.io.airquality import (
    UCI_TZ,
    open_airquality_uci,
    open_beijing_multisite,
    open_china_5cities,
    spike_flags,
    stuck_flags,
)
from gridopt.io.series import QC, to_utc

BEIJING_STATIONS = [
    "Aotizhongxin", "Changping", "Dingling", "Guanyuan",
    "Gucheng", "Nongzhanguan", "Wanliu", "Wanshouxigong",
]  # fmt: skip
BEIJING_COLUMNS = {
    "PM2.5": "aq_pm25_ug_m3", "PM10": "aq_pm10_ug_m3", "SO2": "aq_so2_ug_m3",
    "NO2": "aq_no2_ug_m3", "CO": "aq_co_ug_m3", "O3": "aq_o3_ug_m3",
    "TEMP": "weather_temp_c", "PRES": "weather_pressure_hpa", "DEWP": "weather_dewpoint_c",
    "RAIN": "weather_rain_mm", "WSPM": "weather_wind_speed_m_s", "wd": "weather_wind_dir_deg",
}  # fmt: skip
UCI_COLUMNS = {
    "CO_GT": "ref_co_mg_m3", "NMHC_GT": "ref_nmhc_ug_m3", "C6H6_GT": "ref_benzene_ug_m3",
    "NOx_GT": "ref_nox_ppb", "NO2_GT": "ref_no2_ug_m3", "PT08_S1_CO": "sensor_pt08_s1_co",
    "PT08_S2_NMHC": "sensor_pt08_s2_nmhc", "PT08_S3_NOx": "sensor_pt08_s3_nox",
    "PT08_S4_NO2": "sensor_pt08_s4_no2", "PT08_S5_O3": "sensor_pt08_s5_o3",
    "T": "weather_temp_c", "RH": "weather_rh_percent", "AH": "weather_ah_kpa",
}  # fmt: skip


def beijing_file(folder, station):
    return folder / f"PRSA_Data_{station}_20130301-20170228.csv.gz"


@pytest.fixture(scope="module")
def beijing_dir(shared_data):
    return shared_data / "air_quality" / "beijing_multisite"


@pytest.fixture(scope="module")
def cities_dir(shared_data):
    return shared_data / "air_quality" / "china_5cities_pm25"


@pytest.fixture(scope="module")
def uci_file(shared_data):
    return shared_data / "air_quality" / "AirQualityUCI.csv"


@pytest.fixture(scope="module")
def beijing(beijing_dir):
    return open_beijing_multisite(beijing_dir)


@pytest.fixture(scope="module")
def cities(cities_dir):
    return open_china_5cities(cities_dir)


@pytest.fixture(scope="module")
def uci(uci_file):
    return open_airquality_uci(uci_file)


def flags_at(ds, name, **where):
    return int(ds[f"{name}_qc"].sel(**where))


# ---------------------------------------------------------------- Beijing multi-site


def test_beijing_layout_and_utc_time(beijing):
    assert list(beijing.station.values) == BEIJING_STATIONS
    assert beijing.sizes == {"time": 35064, "station": 8}  # 1461 days x 24 h, no gaps
    # local 2013-03-01 00:00 (UTC+8) is the first row; 2017-02-28 23:00 the last
    assert beijing.time.values[0] == np.datetime64("2013-02-28T16:00")
    assert beijing.time.values[-1] == np.datetime64("2017-02-28T15:00")
    assert set(BEIJING_COLUMNS.values()) <= set(beijing.data_vars)
    assert beijing.attrs["source_timezone"] == "Asia/Shanghai"
    assert beijing["weather_rain_mm"].attrs["cell_methods"] == "time: sum"
    assert beijing["aq_pm25_ug_m3"].attrs["units"] == "ug m-3"
    assert beijing["aq_pm25_ug_m3"].attrs["ancillary_variables"] == "aq_pm25_ug_m3_qc"


def test_beijing_first_row_of_aotizhongxin(beijing):
    # line 2: 1,2013,3,1,0,4,4,4,7,300,77,-0.7,1023,-18.8,0,"NNW",4.4,"Aotizhongxin"
    row = beijing.sel(time="2013-02-28T16:00", station="Aotizhongxin")
    expected = {
        "aq_pm25_ug_m3": 4, "aq_pm10_ug_m3": 4, "aq_so2_ug_m3": 4, "aq_no2_ug_m3": 7,
        "aq_co_ug_m3": 300, "aq_o3_ug_m3": 77, "weather_temp_c": -0.7,
        "weather_pressure_hpa": 1023, "weather_dewpoint_c": -18.8, "weather_rain_mm": 0,
        "weather_wind_speed_m_s": 4.4, "weather_wind_dir_deg": 337.5,  # NNW
    }  # fmt: skip
    for name, value in expected.items():
        assert float(row[name]) == pytest.approx(value), name
        assert int(row[f"{name}_qc"]) == 0, name


def test_beijing_rain_storm_and_missing_cell(beijing):
    # Aotizhongxin line 29701: 29700,2016,7,20,11,36,36,2,17,600,61,21.7,996.7,21,24.1,"NE",5.2
    row = beijing.sel(time="2016-07-20T03:00", station="Aotizhongxin")
    assert float(row["weather_rain_mm"]) == pytest.approx(24.1)
    assert float(row["weather_wind_dir_deg"]) == 45.0
    # Dingling line 2: 1,2013,3,1,0,4,4,3,NA,200,82,... : NO2 empty -> NaN, MISSING
    no2 = beijing["aq_no2_ug_m3"].sel(time="2013-02-28T16:00", station="Dingling")
    assert np.isnan(float(no2))
    at = {"time": "2013-02-28T16:00", "station": "Dingling"}
    assert flags_at(beijing, "aq_no2_ug_m3", **at) == QC.MISSING


def test_beijing_missing_flags_count_the_empty_cells(beijing, beijing_dir):
    for station in BEIJING_STATIONS:
        raw = pd.read_csv(beijing_file(beijing_dir, station))
        for column, name in BEIJING_COLUMNS.items():
            flags = beijing[f"{name}_qc"].sel(station=station).values
            missing = np.count_nonzero(flags & QC.MISSING)
            assert missing == raw[column].isna().sum(), (station, column)
    # and no hour is absent from any file
    assert not (beijing["aq_pm25_ug_m3_qc"].values & QC.GAP).any()


def test_beijing_stuck_ozone(beijing):
    # Wanshouxigong lines 114-137: O3 = 78 from local 2013-03-05 17:00 to 03-06 16:00 (24 h);
    # line 113 (16:00) has 87, line 138 (03-06 17:00) has 67.
    qc = beijing["aq_o3_ug_m3_qc"].sel(station="Wanshouxigong")
    stuck = qc.sel(time=slice("2013-03-05T09:00", "2013-03-06T08:00")).values
    assert len(stuck) == 24 and (stuck & QC.STUCK).all()
    assert not int(qc.sel(time="2013-03-05T08:00")) & QC.STUCK
    assert not int(qc.sel(time="2013-03-06T09:00")) & QC.STUCK
    # the value stays
    assert float(beijing["aq_o3_ug_m3"].sel(station="Wanshouxigong", time="2013-03-05T09:00")) == 78


def test_beijing_pressure_spike(beijing):
    # Aotizhongxin lines 15062-15064, local 2014-11-18 12:00-14:00: PRES 1017, 1024.7, 1013.
    # Jumps +7.7 and +11.7 hPa against a robust hourly scale of 1.4826 x 0.4 = 0.59 hPa (x10 = 5.9).
    qc = beijing["weather_pressure_hpa_qc"].sel(station="Aotizhongxin")
    assert int(qc.sel(time="2014-11-18T05:00")) == QC.SPIKE
    assert int(qc.sel(time="2014-11-18T04:00")) == 0
    assert int(qc.sel(time="2014-11-18T06:00")) == 0
    pres = beijing["weather_pressure_hpa"].sel(station="Aotizhongxin", time="2014-11-18T05:00")
    assert float(pres) == pytest.approx(1024.7)


def test_beijing_select_stations_and_single_file(beijing_dir):
    two = open_beijing_multisite(beijing_dir, stations=["Wanliu", "Dingling"])
    assert list(two.station.values) == ["Wanliu", "Dingling"]
    one = open_beijing_multisite(beijing_file(beijing_dir, "Dingling"))
    assert list(one.station.values) == ["Dingling"]
    # Dingling line 3: 2,2013,3,1,1,7,7,3,NA,200,80,...
    assert float(one["aq_pm25_ug_m3"].sel(station="Dingling", time="2013-02-28T17:00")) == 7
    with pytest.raises(DataError, match="'Haidian' must be one of"):
        open_beijing_multisite(beijing_dir, stations=["Haidian"])


def test_beijing_loads_fast(beijing_dir):
    start = time.perf_counter()
    open_beijing_multisite(beijing_dir)
    assert time.perf_counter() - start < 6.0  # measured 0.7 s; 8 stations x 35,064 rows


# ---------------------------------------------------------------- five cities


def test_cities_stations_and_first_row(cities):
    posts = ["Beijing/US Post", "Guangzhou/US Post", "Shanghai/US Post"]
    assert list(cities.station.values) == posts
    assert list(cities.city.values) == ["Beijing", "Guangzhou", "Shanghai"]
    assert cities.sizes["time"] == 52584  # 2010-2015, 2191 days x 24 h
    assert cities.time.values[0] == np.datetime64("2009-12-31T16:00")  # local 2010-01-01 00:00
    # Beijing line 2: 1,2010,1,1,0,4,NA,-21,43,1021,-11,NW,1.79,0,0
    row = cities.sel(time="2009-12-31T16:00", station="Beijing/US Post")
    assert np.isnan(float(row["aq_pm25_ug_m3"])) and int(row["aq_pm25_ug_m3_qc"]) == QC.MISSING
    expected = {
        "weather_dewpoint_c": -21, "weather_rh_percent": 43, "weather_pressure_hpa": 1021,
        "weather_temp_c": -11, "weather_wind_dir_deg": 315, "weather_wind_speed_cum_m_s": 1.79,
        "weather_rain_mm": 0, "weather_rain_cum_mm": 0,
    }  # fmt: skip
    for name, value in expected.items():
        assert float(row[name]) == pytest.approx(value), name


def test_cities_pm_values_and_calm_wind(cities):
    # Beijing line 35414: 35413,2014,1,15,12,4,51,-20,17,1032,2,cv,1.79,0,0
    # Shanghai line 35414: 35413,2014,1,15,12,4,30,-6,36.44,1034,8,cv,6,0,0
    row = cities.sel(time="2014-01-15T04:00")
    assert row["aq_pm25_ug_m3"].sel(station="Beijing/US Post") == 51
    assert row["aq_pm25_ug_m3"].sel(station="Shanghai/US Post") == 30
    assert row["weather_rh_percent"].sel(station="Shanghai/US Post") == pytest.approx(36.44)
    # "cv" (calm/variable) has no direction: NaN, SENTINEL
    wd = row["weather_wind_dir_deg"].sel(station="Beijing/US Post")
    assert np.isnan(float(wd))
    assert int(row["weather_wind_dir_deg_qc"].sel(station="Beijing/US Post")) == QC.SENTINEL


def test_cities_sentinel_codes(cities):
    # Guangzhou line 34638: 34637,2013,12,14,4,4,69,-9999,-9999,1011,12.6,NW,11.5,0.7,4.5
    at = {"time": "2013-12-13T20:00", "station": "Guangzhou/US Post"}
    for name in ("weather_dewpoint_c", "weather_rh_percent"):
        assert np.isnan(float(cities[name].sel(**at)))
        assert flags_at(cities, name, **at) == QC.SENTINEL
    assert float(cities["weather_rain_mm"].sel(**at)) == pytest.approx(0.7)
    assert float(cities["weather_rain_cum_mm"].sel(**at)) == pytest.approx(4.5)
    # Beijing line 51279: 51278,2015,11,7,13,3,16,-1,NA,NA,4,NE,4.92,999990,999990
    at = {"time": "2015-11-07T05:00", "station": "Beijing/US Post"}
    assert flags_at(cities, "weather_rain_mm", **at) == QC.SENTINEL
    assert flags_at(cities, "weather_pressure_hpa", **at) == QC.MISSING
    assert float(cities["aq_pm25_ug_m3"].sel(**at)) == 16


def test_cities_missing_flags_count_the_empty_cells(cities, cities_dir):
    for city in ("Beijing", "Guangzhou", "Shanghai"):
        raw = pd.read_csv(cities_dir / f"{city}PM20100101_20151231.csv.gz")
        flags = cities["aq_pm25_ug_m3_qc"].sel(station=f"{city}/US Post").values
        assert np.count_nonzero(flags & QC.MISSING) == raw["PM_US Post"].isna().sum()


def test_cities_select(cities_dir):
    one = open_china_5cities(cities_dir, cities=["Shanghai"])
    assert list(one.station.values) == ["Shanghai/US Post"]
    with pytest.raises(DataError, match="'Chengdu' must be one of"):
        open_china_5cities(cities_dir, cities=["Chengdu"])


# ---------------------------------------------------------------- AirQualityUCI


def test_uci_first_row(uci):
    assert uci.sizes == {"time": 9357}
    # line 2: 10/03/2004,18:00:00,2.6,1360,150,11.9,1046,166,1056,113,1692,1268,13.6,48.9,0.7578
    row = uci.sel(time="2004-03-10T17:00")  # 18:00 at UTC+1
    values = [2.6, 1360, 150, 11.9, 1046, 166, 1056, 113, 1692, 1268, 13.6, 48.9, 0.7578]
    columns = ["CO_GT", "PT08_S1_CO", "NMHC_GT", "C6H6_GT", "PT08_S2_NMHC", "NOx_GT",
               "PT08_S3_NOx", "NO2_GT", "PT08_S4_NO2", "PT08_S5_O3", "T", "RH", "AH"]  # fmt: skip
    for column, value in zip(columns, values, strict=True):
        assert float(row[UCI_COLUMNS[column]]) == pytest.approx(value), column
    assert uci["ref_nox_ppb"].attrs["units"] == "ppb"
    assert uci["ref_co_mg_m3"].attrs["units"] == "mg m-3"


def test_uci_minus_200_is_sentinel_and_nan(uci, uci_file):
    raw = pd.read_csv(uci_file)
    for column, name in UCI_COLUMNS.items():
        is_code = (raw[column] == -200).to_numpy()
        flags = uci[f"{name}_qc"].values
        assert np.array_equal(flags == QC.SENTINEL, is_code), column
        assert np.isnan(uci[name].values[is_code]).all(), column
        assert not (flags & QC.MISSING).any(), column
    assert is_code.sum() == 366  # AH: the 366 rows where the whole device was down


def test_uci_clock_has_no_daylight_saving(uci, uci_file):
    # The file keeps one clock all year: local 2004-03-28 02:00 (skipped in Europe/Rome) is there,
    # and 2004-10-31 02:00 appears once. So Europe/Rome cannot map the file ...
    raw = pd.read_csv(uci_file)
    local = pd.to_datetime(raw["Date"] + " " + raw["Time"], format="%d/%m/%Y %H:%M:%S")
    with pytest.raises(DataError, match="Europe/Rome"):
        to_utc(local, "Europe/Rome", where="AirQualityUCI.csv")
    # ... and at UTC+1 every hour follows the previous one, across both changes.
    assert UCI_TZ == "Etc/GMT-1"
    assert (np.diff(uci.time.values) == np.timedelta64(1, "h")).all()
    # lines 416-418: 28/03/2004 1:00, 2:00, 3:00 with CO_GT 2.3, 1.7, 2.2
    spring = uci["ref_co_mg_m3"].sel(time=slice("2004-03-28T00:00", "2004-03-28T02:00"))
    assert spring.values.tolist() == [2.3, 1.7, 2.2]
    # lines 5625-5626: 31/10/2004 2:00, 3:00 with CO_GT 1.3, 1.0
    autumn = uci["ref_co_mg_m3"].sel(time=slice("2004-10-31T01:00", "2004-10-31T02:00"))
    assert autumn.values.tolist() == [1.3, 1.0]


def test_uci_original_semicolon_layout(uci_file, uci, tmp_path):
    # The UCI zip ships ';' separated, decimal comma, '18.00.00' times, 'CO(GT)' names,
    # two trailing empty columns and empty trailing rows.
    raw = pd.read_csv(uci_file, nrows=6)
    header = ";".join(["Date", "Time", "CO(GT)", "PT08.S1(CO)", "NMHC(GT)", "C6H6(GT)",
                       "PT08.S2(NMHC)", "NOx(GT)", "PT08.S3(NOx)", "NO2(GT)", "PT08.S4(NO2)",
                       "PT08.S5(O3)", "T", "RH", "AH"]) + ";;"  # fmt: skip
    lines = [header]
    for _, r in raw.iterrows():
        cells = [r["Date"], r["Time"].replace(":", ".")] + [str(v) for v in r.iloc[2:]]
        cells[2:] = [c.replace(".", ",") for c in cells[2:]]  # decimal comma
        lines.append(";".join(cells) + ";;")
    original = tmp_path / "AirQualityUCI.csv"
    original.write_text("\n".join(lines + [";" * 16, ";" * 16]) + "\n")
    ds = open_airquality_uci(original)
    assert ds.sizes == {"time": 6}
    for name in UCI_COLUMNS.values():
        np.testing.assert_array_equal(ds[name].values, uci[name].values[:6])


# ---------------------------------------------------------------- bad input


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "AirQualityUCI.csv"
    with pytest.raises(DataError, match=re.escape(str(missing))):
        open_airquality_uci(missing)
    with pytest.raises(DataError, match="nowhere"):
        open_beijing_multisite(tmp_path / "nowhere")


def copy_lines(source, target, keep):
    with gzip.open(source, "rt") as handle:
        lines = handle.read().splitlines()
    target.write_text("\n".join(keep(lines)) + "\n")
    return target


def test_duplicated_timestamp_names_the_file(beijing_dir, tmp_path):
    name = "PRSA_Data_Aotizhongxin_20130301-20170228.csv"
    copy = copy_lines(beijing_file(beijing_dir, "Aotizhongxin"), tmp_path / name,
                      lambda lines: lines[:50] + [lines[10]])  # fmt: skip
    with pytest.raises(DataError, match=rf"{name}: timestamps must be unique"):
        open_beijing_multisite(copy)


def test_missing_column_names_the_column(beijing_dir, tmp_path):
    def drop_o3(lines):
        cut = [line.split(",") for line in lines[:50]]
        return [",".join(cells[:10] + cells[11:]) for cells in cut]

    copy = copy_lines(beijing_file(beijing_dir, "Dingling"),
                      tmp_path / "PRSA_Data_Dingling_20130301-20170228.csv", drop_o3)  # fmt: skip
    with pytest.raises(DataError, match="column 'O3' is required"):
        open_beijing_multisite(copy)


def test_bad_cells_name_column_and_line(beijing_dir, uci_file, tmp_path):
    def corrupt(line_no, old, new):
        def keep(lines):
            lines = lines[:50]
            lines[line_no - 1] = lines[line_no - 1].replace(old, new)
            return lines

        return keep

    name = "PRSA_Data_Dingling_20130301-20170228.csv"
    source = beijing_file(beijing_dir, "Dingling")
    copy_lines(source, tmp_path / name, corrupt(17, ",0,", ",abc,"))  # RAIN of line 17
    with pytest.raises(DataError, match=r"column 'RAIN' must be numeric \(got 'abc' in line 17\)"):
        open_beijing_multisite(tmp_path / name)
    copy_lines(source, tmp_path / name, corrupt(2, '"E"', '"EAST"'))
    with pytest.raises(DataError, match=r"column 'wd' must be a 16-point .* 'EAST' in line 2"):
        open_beijing_multisite(tmp_path / name)
    uci_copy = tmp_path / "AirQualityUCI.csv"
    lines = uci_file.read_text().splitlines()[:20]
    lines[8] = lines[8].replace("11/03/2004", "31/02/2004")
    uci_copy.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"'Date/Time' must be DD/MM/YYYY HH:MM:SS .* in line 9"):
        open_airquality_uci(uci_copy)


# ---------------------------------------------------------------- detectors


def test_stuck_flags_runs():
    got = stuck_flags(np.array([1.0, 2, 2, 2, 3, 3]), 3)
    assert got.tolist() == [0, 32, 32, 32, 0, 0]
    # NaN breaks a run; values at or below the floor repeat legitimately
    assert not stuck_flags(np.array([2.0, 2, np.nan, 2, 2]), 3).any()
    assert not stuck_flags(np.array([0.0, 0, 0, 0]), 3, floor=0.0).any()
    assert stuck_flags(np.array([0.1, 0.1, 0.1]), 3, floor=0.0).tolist() == [32, 32, 32]


def test_stuck_flags_columns_are_independent():
    # column 0 ends with 7, 7 and column 1 starts with 7, 7: two runs of 2, not one of 4
    values = np.array([[1.0, 7], [7, 7], [7, 5]])
    assert not stuck_flags(values, 3).any()
    values = np.array([[4.0, 1], [4, 2], [4, 3]])
    assert stuck_flags(values, 3)[:, 0].tolist() == [32, 32, 32]
    assert not stuck_flags(values, 3)[:, 1].any()
    with pytest.raises(ValueError, match="min_run"):
        stuck_flags(values, 1)


def test_spike_flags_hand_computed():
    # differences 1, -1, 40, -40, 1, -1: median 0, MAD 1, scale 1.4826, threshold 14.8
    values = np.array([10.0, 11, 10, 50, 10, 11, 10])
    assert spike_flags(values, min_jump=5).tolist() == [0, 0, 0, 16, 0, 0, 0]
    assert not spike_flags(values, min_jump=45).any()  # both jumps are 40
    # a dip is a spike too; a step is not; a two-hour excursion is not; nor beside a NaN
    assert spike_flags(-values, min_jump=5)[3] == QC.SPIKE
    assert not spike_flags(np.array([10.0, 11, 10, 50, 51, 50, 51]), min_jump=5).any()
    assert not spike_flags(np.array([10.0, 11, 10, 50, 50, 10, 11]), min_jump=5).any()
    assert not spike_flags(np.array([10.0, 11, np.nan, 50, 10, 11, 10]), min_jump=5).any()


def test_spike_flags_quantised_series_uses_min_jump():
    # MAD of the differences is 0, so min_jump alone sets the threshold
    values = np.array([[0.0, 0], [0, 0], [0, 0], [5, 0], [0, 20], [0, 0], [0, 0]])
    assert spike_flags(values, min_jump=3).T.tolist() == [[0, 0, 0, 16, 0, 0, 0],
                                                          [0, 0, 0, 0, 16, 0, 0]]  # fmt: skip
    assert spike_flags(values, min_jump=10).T.tolist() == [[0] * 7, [0, 0, 0, 0, 16, 0, 0]]
