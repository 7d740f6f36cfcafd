"""Air-quality-aware dispatch: episode hours, weights, episode-hour emissions, the Beijing model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from gridopt.aq_policy import aq_weight, episode_hours
from gridopt.config import AirQualityPolicy, load_model, with_window
from gridopt.errors import ConfigError
from gridopt.kpis import air_quality_kpis
from gridopt.run import run_model

TIMES = pd.date_range("2016-12-15", periods=4, freq="1h")


def _aqi(values) -> xr.Dataset:
    data = np.asarray(values, dtype=float)  # (time, station)
    return xr.Dataset({"aqi_china": (("time", "station"), data)},
                      coords={"time": TIMES, "station": ["A", "B"]})


def test_episode_is_the_highest_station_at_or_above_the_threshold():
    series = _aqi([[150, 199], [150, 200], [np.nan, np.nan], [250, np.nan]])
    policy = AirQualityPolicy(mode="price", threshold_aqi=200, factor=4.0)
    episodes = episode_hours(series, policy, where="m.toml")
    assert episodes.values.tolist() == [False, True, False, True]
    assert aq_weight(episodes, policy).values.tolist() == [1.0, 4.0, 1.0, 4.0]


def test_episode_on_listed_stations_only():
    series = _aqi([[150, 250], [250, 150], [0, 0], [0, 0]])
    policy = AirQualityPolicy(mode="price", threshold_aqi=200, stations=["A"])
    assert episode_hours(series, policy, where="m.toml").values.tolist() == [False, True, False, False]
    with pytest.raises(ConfigError, match=r"stations must be stations of the data \(got \['Z'\]"):
        episode_hours(series, AirQualityPolicy(mode="price", stations=["Z"]), where="m.toml")


def test_policy_without_air_quality_series_is_a_config_error():
    with pytest.raises(ConfigError, match="needs air-quality series"):
        episode_hours(xr.Dataset(coords={"time": TIMES}), AirQualityPolicy(mode="price"), where="m.toml")


def test_episode_emissions_and_category_hours_by_hand():
    # NOx 1, 2, 3, 4 t in the four hours; hours 2 and 4 are episodes → 2 + 4 = 6 t.
    emissions = np.zeros((4, 4, 2))
    emissions[:, 1, 0] = [1, 2, 3, 4]
    results = _aqi([[40, 30], [210, 120], [90, 80], [320, 10]]).assign(
        emissions_t=(("time", "pollutant", "source"), emissions),
        aq_episode=("time", [False, True, False, True]),
    ).assign_coords(pollutant=["co2", "nox", "so2", "pm25"], source=["local", "grid_import"])
    figures = air_quality_kpis(results, "china")
    assert figures["episode_nox_t"] == 6.0 and figures["episode_hours"] == 2.0
    # Σ e·AQI/100 with the highest station's AQI 40, 210, 90, 320: 0.4 + 4.2 + 2.7 + 12.8 = 20.1
    assert figures["nox_aqi_weighted_t"] == pytest.approx(20.1)
    # Categories of 40, 210, 90, 320: excellent, heavily, good, severely.
    assert figures["aqi_hours_excellent"] == 1 and figures["aqi_hours_good"] == 1
    assert figures["aqi_hours_heavily_polluted"] == 1 and figures["aqi_hours_severely_polluted"] == 1


def test_beijing_policy_cuts_local_pollution_in_episode_hours(shared_data):
    """The smog of 16 December 2016: with the policy the CHP stays off in episode hours."""
    config = load_model("beijing", shared_data)
    outcome = run_model(with_window(config, "2016-12-16T00:00:00+08:00", 24), ac=False)
    attrs = outcome.results.attrs
    assert attrs["kpi_episode_hours"] > 0
    assert attrs["kpi_nopolicy_episode_nox_t"] > 0
    assert attrs["kpi_policy_episode_nox_t_avoided"] == pytest.approx(
        attrs["kpi_nopolicy_episode_nox_t"] - attrs["kpi_episode_nox_t"])
    assert attrs["kpi_episode_nox_t"] < attrs["kpi_nopolicy_episode_nox_t"]
    weight = outcome.results["aq_weight"].values
    assert set(np.unique(weight)) <= {1.0, 10.0}
    assert (weight == 10.0).sum() == attrs["kpi_episode_hours"]


def test_gridopt_run_beijing_prints_the_policy_table(shared_data, tmp_path, capsys):
    from gridopt.cli import main

    code = main(["--data-dir", str(shared_data), "--store", str(tmp_path), "run", "beijing",
                 "--start", "2016-12-16T00:00:00+08:00", "--hours", "24", "--no-ac"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "air-quality policy: 5 episode hours in the window" in printed
    assert "NOx in episode hours" in printed and "without policy" in printed and "baseline" in printed
    assert "hours per AQI category" in printed
