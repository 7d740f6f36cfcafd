"""AQI: US EPA (2024 breakpoints) and China HJ 633-2012, against the standards' own tables.

EPA: Technical Assistance Document EPA-454/B-24-002 (May 2024), Table 6 "Breakpoints for the AQI"
and Tables 1-2 (categories, colours); AirNow "The AQI Equation (2024)" (truncation, rounding) and
its NowCast pages. China: HJ 633-2012 Table 1 (IAQI and concentration limits), Table 2 and
Appendix A (categories, colours).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from gridopt.environment import (
    CHINA_CATEGORIES,
    CHINA_TABLES,
    EPA_CATEGORIES,
    EPA_TABLES,
    aqi_category,
    china_aqi,
    epa_aqi,
    molar_volume_l_per_mol,
    nowcast,
    ppb_from_ug_m3,
    sub_index,
    ug_m3_from_ppb,
)
from gridopt.errors import DataError
from gridopt.io.airquality import open_beijing_multisite


def hourly(**series) -> xr.Dataset:
    """A one-site dataset of hourly series (lists of equal length) named as given."""
    n = len(next(iter(series.values())))
    time = pd.date_range("2024-06-01", periods=n, freq="1h")
    return xr.Dataset({k: ("time", np.asarray(v, dtype=float)) for k, v in series.items()},
                      coords={"time": time}, attrs={"source": "test"})


def last(ds: xr.Dataset, name: str):
    value = ds[name].isel(time=-1).values
    return value.item() if value.dtype == object else float(value)


# ---------------------------------------------------------------- EPA tables

# Table 6, every band edge: (concentration, AQI). Units as in the table.
EPA_EDGES = {
    "pm25_24h": [(0.0, 0), (9.0, 50), (9.1, 51), (35.4, 100), (35.5, 101), (55.4, 150), (55.5, 151),
                 (125.4, 200), (125.5, 201), (225.4, 300), (225.5, 301), (325.4, 500)],
    "pm10_24h": [(0, 0), (54, 50), (55, 51), (154, 100), (155, 101), (254, 150), (255, 151),
                 (354, 200), (355, 201), (424, 300), (425, 301), (604, 500)],
    "o3_8h": [(0.000, 0), (0.054, 50), (0.055, 51), (0.070, 100), (0.071, 101), (0.085, 150),
              (0.086, 151), (0.105, 200), (0.106, 201), (0.200, 300)],
    "o3_1h": [(0.125, 101), (0.164, 150), (0.165, 151), (0.204, 200), (0.205, 201), (0.404, 300),
              (0.405, 301), (0.604, 500)],
    "co_8h": [(0.0, 0), (4.4, 50), (4.5, 51), (9.4, 100), (9.5, 101), (12.4, 150), (12.5, 151),
              (15.4, 200), (15.5, 201), (30.4, 300), (30.5, 301), (50.4, 500)],
    "so2_1h": [(0, 0), (35, 50), (36, 51), (75, 100), (76, 101), (185, 150), (186, 151),
               (304, 200)],
    "so2_24h": [(305, 201), (604, 300), (605, 301), (1004, 500)],
    "no2_1h": [(0, 0), (53, 50), (54, 51), (100, 100), (101, 101), (360, 150), (361, 151),
               (649, 200), (650, 201), (1249, 300), (1250, 301), (2049, 500)],
}  # fmt: skip


@pytest.mark.parametrize("key", sorted(EPA_EDGES))
def test_epa_table_edges(key):
    conc, expected = zip(*EPA_EDGES[key], strict=True)
    assert sub_index(EPA_TABLES[key], conc).tolist() == list(expected)


def test_epa_pm25_truncation_and_rounding():
    # Truncated to 0.1 ug/m3 first: 9.09 is 9.0 (Good, 50), 35.49 is 35.4 (100).
    table = EPA_TABLES["pm25_24h"]
    assert sub_index(table, [9.09, 35.49, 55.45]).tolist() == [50, 100, 150]
    # 17.4: (100-51)/(35.4-9.1) x (17.4-9.1) + 51 = 66.46 -> 66
    # 35.9: (150-101)/(55.4-35.5) x (35.9-35.5) + 101 = 101.98 -> 102
    assert sub_index(table, [17.4, 35.9]).tolist() == [66, 102]
    # beyond the table: 500 ("beyond the AQI"); no index for NaN or a negative value
    assert sub_index(table, [600.0]).tolist() == [500]
    assert np.isnan(sub_index(table, [np.nan, -1.0])).all()


def test_epa_tad_truncation_example():
    # The TAD's example: an 8-hour O3 of 0.07853 ppm is truncated to 0.078 ppm, then
    # (150-101)/(0.085-0.071) x (0.078-0.071) + 101 = 125.5, rounded to 126.
    assert sub_index(EPA_TABLES["o3_8h"], [0.07853]).tolist() == [126]


def test_epa_several_pollutants_report_the_highest():
    # The TAD's multi-pollutant example: 8-h O3 0.078 ppm -> 126, PM2.5 35.9 -> 102,
    # CO 8.4 ppm -> (100-51)/(9.4-4.5) x (8.4-4.5) + 51 = 90. The AQI is 126, O3 responsible.
    ds = hourly(aq_o3_ppm=[0.078] * 24, aq_pm25_ug_m3=[35.9] * 24, aq_co_ppm=[8.4] * 24)
    aqi = epa_aqi(ds)
    assert [last(aqi, f"aqi_epa_{p}") for p in ("o3", "pm25", "co")] == [126, 102, 90]
    assert last(aqi, "aqi_epa") == 126
    assert last(aqi, "aqi_epa_primary") == "O3"
    assert last(aqi, "aqi_epa_category") == 2  # Unhealthy for Sensitive Groups


def test_epa_ozone_rules():
    # 8-h only: 7 h at 65 ppb then 110 ppb; 8-h mean (455+110)/8 = 70.6 ppb -> 0.070 ppm -> 100;
    # the 1-h 0.110 ppm is below 0.125 and defines nothing.
    assert last(epa_aqi(hourly(aq_o3_ppb=[65] * 7 + [110])), "aqi_epa_o3") == 100
    # Both: 7 h at 65 ppb then 177 ppb. 8-h mean 632/8 = 79 ppb -> (49/0.014) x 0.008 + 101 = 129;
    # 1-h 0.177 ppm -> (49/0.039) x 0.012 + 151 = 166.08 -> 166. The larger is reported.
    assert last(epa_aqi(hourly(aq_o3_ppb=[65] * 7 + [177])), "aqi_epa_o3") == 166
    # 8-h above 0.200 ppm defines no AQI: the 1-h 0.210 ppm gives (99/0.199) x 0.005 + 201 = 203
    assert last(epa_aqi(hourly(aq_o3_ppm=[0.21] * 8)), "aqi_epa_o3") == 203


def test_epa_sulphur_dioxide_rules():
    # 1-h below 305 ppb: the 1-h table (304 -> 200)
    assert last(epa_aqi(hourly(aq_so2_ppb=[10] * 23 + [304])), "aqi_epa_so2") == 200
    # 1-h at 305 or more: the 24-h mean. 24 h at 400 ppb -> (99/299) x 95 + 201 = 232.45 -> 232
    assert last(epa_aqi(hourly(aq_so2_ppb=[400] * 24)), "aqi_epa_so2") == 232
    # ... and at least 200 when the 24-h mean is below 305 ppb (23 h at 10, then 400: mean 26)
    assert last(epa_aqi(hourly(aq_so2_ppb=[10] * 23 + [400])), "aqi_epa_so2") == 200


def test_epa_averaging_needs_75_percent_of_the_hours():
    # 24-h PM needs 18 hours: 17 valid -> no index, 18 -> index of their mean
    pm = [np.nan] * 7 + [20.0] * 17
    assert np.isnan(last(epa_aqi(hourly(aq_pm25_ug_m3=pm)), "aqi_epa"))
    pm = [np.nan] * 6 + [20.0] * 18
    assert last(epa_aqi(hourly(aq_pm25_ug_m3=pm)), "aqi_epa") == 71  # 49/26.3 x 10.9 + 51 = 71.3
    # 8-h CO needs 6 hours
    co = [np.nan] * 3 + [2.0] * 5
    assert np.isnan(last(epa_aqi(hourly(aq_co_ppm=co)), "aqi_epa_co"))
    co = [np.nan] * 2 + [2.2] * 6
    assert last(epa_aqi(hourly(aq_co_ppm=co)), "aqi_epa_co") == 25  # 50/4.4 x 2.2


def test_epa_categories_and_colours():
    # TAD Tables 1-2: names and RGB colours
    expected = [("Good", "#00E400"), ("Moderate", "#FFFF00"),
                ("Unhealthy for Sensitive Groups", "#FF7E00"), ("Unhealthy", "#FF0000"),
                ("Very Unhealthy", "#8F3F97"), ("Hazardous", "#7E0023")]  # fmt: skip
    assert [(c.name, c.color) for c in EPA_CATEGORIES] == expected
    got = aqi_category([0, 50, 51, 100, 101, 150, 151, 200, 201, 300, 301, 500, np.nan],
                       EPA_CATEGORIES)  # fmt: skip
    assert got.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, -1]


# ---------------------------------------------------------------- NowCast


def test_pm_nowcast_epa_example():
    # EPA's "Computing the NowCast" example, oldest hour first; the current hour is 13.
    # Range 90-10 = 80, scaled 80/90, weight 1-80/90 = 0.11 < 0.5 -> 0.5; NowCast 17.4 ug/m3.
    hours = [50, 80, 75, 90, 82, 53, 64, 74, 21, 10, 16, 13]
    ds = hourly(aq_pm25_ug_m3=hours)
    value = nowcast(ds["aq_pm25_ug_m3"]).isel(time=-1)
    assert float(value) == pytest.approx(17.4139, abs=1e-4)
    # truncated to 17.4 -> AQI (100-51)/(35.4-9.1) x (17.4-9.1) + 51 = 66.46 -> 66
    assert last(epa_aqi(ds, use_nowcast=True), "aqi_epa_pm25") == 66


def test_o3_nowcast_airnow_example():
    # AirNow's ozone NowCast example (8 hours, no weight floor), newest first:
    # 63, 69, 80, 74, 60, missing, 35, 22 ppb. Range 80-22 = 58, weight 1-58/80 = 0.275,
    # numerator 63 + 69(.275) + 80(.275)^2 + ... + 22(.275)^7 = 89.925.
    newest_first = [63, 69, 80, 74, 60, np.nan, 35, 22]
    series = hourly(aq_o3_ppb=newest_first[::-1])["aq_o3_ppb"]
    value = float(nowcast(series, hours=8, min_weight=0.0).isel(time=-1))
    weights = 0.275 ** np.array([0, 1, 2, 3, 4, 6, 7])
    assert value == pytest.approx(89.925 / weights.sum(), rel=1e-4)  # 65.27 ppb
    # -> 0.065 ppm on the 8-hour table: (100-51)/(0.070-0.055) x (0.065-0.055) + 51 = 83.7 -> 84
    aqi = epa_aqi(hourly(aq_o3_ppb=newest_first[::-1]), use_nowcast=True)
    assert last(aqi, "aqi_epa_o3") == 84


def test_nowcast_needs_two_of_the_last_three_hours():
    base = [30.0] * 9
    ok = nowcast(hourly(x=base + [np.nan, 30, 30])["x"]).isel(time=-1)
    assert float(ok) == 30
    gone = nowcast(hourly(x=base + [30, np.nan, np.nan])["x"]).isel(time=-1)
    assert np.isnan(float(gone))


# ---------------------------------------------------------------- China HJ 633-2012

IAQI = [0, 50, 100, 150, 200, 300, 400, 500]
# HJ 633-2012 Table 1, each column's limits for IAQI 0, 50, ..., 500
CHINA_LIMITS = {
    "so2_24h": [0, 50, 150, 475, 800, 1600, 2100, 2620],
    "so2_1h": [0, 150, 500, 650, 800],
    "no2_24h": [0, 40, 80, 180, 280, 565, 750, 940],
    "no2_1h": [0, 100, 200, 700, 1200, 2340, 3090, 3840],
    "pm10_24h": [0, 50, 150, 250, 350, 420, 500, 600],
    "co_24h": [0, 2, 4, 14, 24, 36, 48, 60],
    "co_1h": [0, 5, 10, 35, 60, 90, 120, 150],
    "o3_1h": [0, 160, 200, 300, 400, 800, 1000, 1200],
    "o3_8h": [0, 100, 160, 215, 265, 800],
    "pm25_24h": [0, 35, 75, 115, 150, 250, 350, 500],
}


@pytest.mark.parametrize("key", sorted(CHINA_LIMITS))
def test_china_table_limits(key):
    limits = CHINA_LIMITS[key]
    assert sub_index(CHINA_TABLES[key], limits).tolist() == IAQI[: len(limits)]


def test_china_pm25_band_edges_and_rounding_up():
    table = CHINA_TABLES["pm25_24h"]
    edges = [75, 115, 150, 250, 350, 500]
    assert sub_index(table, edges).tolist() == [100, 150, 200, 300, 400, 500]
    # 100 ug/m3: 100 + 50 x (100-75)/(115-75) = 131.25, rounded up to 132; a hair above 75 is 101
    assert sub_index(table, [100.0, 75.001]).tolist() == [132, 101]
    # above 500 ug/m3 the IAQI stays 500 ("off the scale")
    assert sub_index(table, [800.0]).tolist() == [500]


def test_china_so2_and_o3_switch_averaging_above_800():
    # SO2 1-h above 800 ug/m3 has no 1-h IAQI: the 24-h one is reported.
    # 24 h at 900: 24-h IAQI 200 + 100 x (900-800)/(1600-800) = 212.5 -> 213
    assert np.isnan(sub_index(CHINA_TABLES["so2_1h"], [801])).all()
    assert last(china_aqi(hourly(aq_so2_ug_m3=[900] * 24)), "aqi_china_so2") == 213
    # at 800 the 1-h table still applies (IAQI 200) though the 24-h mean of 23 h at 10 is low
    assert last(china_aqi(hourly(aq_so2_ug_m3=[10] * 23 + [800])), "aqi_china_so2") == 200
    # O3 8-h above 800 has no 8-h IAQI: 8 h at 900 -> 1-h IAQI 300 + 100 x 100/200 = 350
    assert last(china_aqi(hourly(aq_o3_ug_m3=[900] * 8)), "aqi_china_o3") == 350
    # otherwise the larger of the two: 8 h at 180 -> 8-h 100 + 50 x 20/55 = 118.2 -> 119,
    # 1-h 50 + 50 x 20/40 = 75
    assert last(china_aqi(hourly(aq_o3_ug_m3=[180] * 8)), "aqi_china_o3") == 119
    # a 1-h peak: 7 h at 100 then 300 -> 8-h mean 125: 50 + 50 x 25/60 = 70.8 -> 71;
    # the 1-h 300 is the limit of IAQI 150, the larger
    assert last(china_aqi(hourly(aq_o3_ug_m3=[100] * 7 + [300])), "aqi_china_o3") == 150


def test_china_primary_pollutants():
    # PM2.5 24-h 75 and PM10 24-h 150 both give IAQI 100: both are primary
    ds = hourly(aq_pm25_ug_m3=[75] * 24, aq_pm10_ug_m3=[150] * 24, aq_no2_ug_m3=[40] * 24)
    aqi = china_aqi(ds)
    assert last(aqi, "aqi_china") == 100
    assert last(aqi, "aqi_china_primary") == "PM2.5,PM10"
    assert last(aqi, "aqi_china_category") == 1  # 良
    # AQI <= 50: no primary pollutant
    clean = china_aqi(hourly(aq_pm25_ug_m3=[30] * 24, aq_no2_ug_m3=[40] * 24))
    assert last(clean, "aqi_china") == 43 and last(clean, "aqi_china_primary") == ""
    # 20 of 24 hours are needed for the 24-h mean (GB 3095-2012)
    short = china_aqi(hourly(aq_pm25_ug_m3=[np.nan] * 5 + [75] * 19))
    assert np.isnan(last(short, "aqi_china"))


def test_china_categories_and_colours():
    # HJ 633-2012 Table 2 and Appendix A (RGB 0,228,0; 255,255,0; 255,126,0; 255,0,0;
    # 153,0,76; 126,0,35)
    expected = [("优", "Excellent", 0, "#00E400"), ("良", "Good", 51, "#FFFF00"),
                ("轻度污染", "Lightly polluted", 101, "#FF7E00"),
                ("中度污染", "Moderately polluted", 151, "#FF0000"),
                ("重度污染", "Heavily polluted", 201, "#99004C"),
                ("严重污染", "Severely polluted", 301, "#7E0023")]  # fmt: skip
    assert [(c.local_name, c.name, c.low, c.color) for c in CHINA_CATEGORIES] == expected


# ---------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def dingling(shared_data):
    return open_beijing_multisite(shared_data / "air_quality" / "beijing_multisite",
                                  stations=["Dingling"])


def test_beijing_hour_by_hand(dingling, shared_data):
    # Dingling, local 2016-12-20 12:00 (04:00 UTC): file lines 33351-33374 are the 24 hours from
    # 2016-12-19 13:00. Their PM2.5 sum to 4615 (mean 192.29) and PM10 to 4648 (193.67); the
    # hour itself has SO2 32, NO2 154, CO 6900 ug/m3 and O3 10 (last 8 O3: 3 3 2 3 4 5 8 10).
    raw = pd.read_csv(shared_data / "air_quality" / "beijing_multisite"
                      / "PRSA_Data_Dingling_20130301-20170228.csv.gz")
    day = raw.iloc[33351 - 2 : 33374 - 1]
    assert (day[["month", "day", "hour"]].iloc[-1] == [12, 20, 12]).all()
    assert day["PM2.5"].sum() == 4615 and day["PM10"].sum() == 4648
    aqi = china_aqi(dingling).sel(time="2016-12-20T04:00", station="Dingling")
    expected = {
        "pm25": 243,  # 200 + 100 x (192.29-150)/(250-150) = 242.3 -> 243
        "pm10": 122,  # 100 + 50 x (193.67-150)/(250-150) = 121.8 -> 122
        "co": 69,  # 6.9 mg/m3 on the 1-h table: 50 + 50 x 1.9/5 = 69
        "no2": 77,  # 50 + 50 x 54/100 = 77
        "so2": 11,  # 50 x 32/150 = 10.7 -> 11
        "o3": 4,  # 1-h 50 x 10/160 = 3.1 -> 4; 8-h mean 4.75: 2.4 -> 3
    }
    assert {p: float(aqi[f"aqi_china_{p}"]) for p in expected} == expected
    assert float(aqi["aqi_china"]) == 243 and aqi["aqi_china_primary"].item() == "PM2.5"
    epa = epa_aqi(dingling).sel(time="2016-12-20T04:00", station="Dingling")
    # PM2.5 truncated 192.2: (300-201)/(225.4-125.5) x (192.2-125.5) + 201 = 267.1 -> 267;
    # NO2 154 ug/m3 = 154 x 24.465/46.005 = 81.9 ppb -> 81: 49/46 x 27 + 51 = 79.8 -> 80
    assert float(epa["aqi_epa_pm25"]) == 267 and float(epa["aqi_epa_no2"]) == 80


def test_aqi_dataset_conventions(dingling):
    aqi = china_aqi(dingling)
    assert aqi["aqi_china"].dims == ("time", "station")
    assert aqi["aqi_china"].attrs["units"] == "1"
    assert aqi["aqi_china"].attrs["ancillary_variables"] == "aqi_china_qc"
    # QC MISSING exactly where there is no AQI; the category is -1 there too
    missing = np.isnan(aqi["aqi_china"].values)
    assert np.array_equal(aqi["aqi_china_qc"].values == 1, missing)
    assert np.array_equal(aqi["aqi_china_category"].values == -1, missing)
    # the first 19 hours have no 24-h PM mean, but the gases already give an AQI
    assert np.isnan(aqi["aqi_china_pm25"].values[:19]).all()
    assert np.isfinite(aqi["aqi_china"].values[:19]).any()


# ---------------------------------------------------------------- units and errors


def test_unit_conversions():
    assert molar_volume_l_per_mol() == pytest.approx(24.465, abs=1e-3)  # 25 degC, 1013.25 hPa
    # UK DEFRA conversion factors at 20 degC and 1013 mb (ug/m3 per ppb)
    defra = {"no2": 1.9125, "o3": 1.9957, "so2": 2.6609, "co": 1.1642}
    for pollutant, factor in defra.items():
        got = ug_m3_from_ppb(1.0, pollutant, temp_c=20.0, pressure_hpa=1013.0)
        assert got == pytest.approx(factor, rel=1e-3), pollutant
    assert ppb_from_ug_m3(ug_m3_from_ppb(42.0, "o3"), "o3") == pytest.approx(42.0)
    with pytest.raises(DataError, match="pollutant must be one of"):
        ppb_from_ug_m3(10.0, "pm25")


def test_bad_input_is_a_data_error():
    with pytest.raises(DataError, match="aq_<pollutant>_<unit> is required"):
        epa_aqi(hourly(weather_temp_c=[1.0] * 3))
    with pytest.raises(DataError, match="aq_pm25_ppb must be a mass concentration"):
        epa_aqi(hourly(aq_pm25_ppb=[1.0] * 3))
    gappy = hourly(aq_pm25_ug_m3=[1.0] * 3).isel(time=[0, 2])
    with pytest.raises(DataError, match="time must be hourly without gaps"):
        china_aqi(gappy)
