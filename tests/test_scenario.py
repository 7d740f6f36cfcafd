"""Model file → scenario: network, series on one UTC index, assets added, errors named."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest

from gridopt.cli import main
from gridopt.config import load_model
from gridopt.errors import ConfigError, DataError, NetworkError
from gridopt.scenario import build_scenario


@pytest.fixture(scope="module")
def default():
    return build_scenario(load_model("default"))


@pytest.fixture(scope="module")
def beijing(shared_data):
    return build_scenario(load_model("beijing", shared_data))


def test_default_model_series_cover_the_week_hourly_in_utc(default):
    times = default.series.indexes["time"]
    assert times[0] == pd.Timestamp("2016-06-06 00:00") and len(times) == 168
    assert (np.diff(times) == np.timedelta64(1, "h")).all()
    assert default.series.load_p_mw.sizes == {"time": 168, "load": 139}
    assert set(default.series["load"].values) == set(default.net.load.index)


def test_default_model_adds_its_assets(default):
    storage = default.net.storage
    assert storage.name.tolist() == ["battery_bus15", "battery_bus42", "battery_bus67", "battery_bus84"]
    assert storage.max_e_mwh.tolist() == [1.0, 1.0, 1.0, 2.0]
    chp = default.net.gen.loc[default.net.gen.name == "chp_gas_bus84"].iloc[0]
    assert (chp.bus, chp.max_p_mw) == (84, 2.0)
    params = default.options.storage[int(storage.index[3])]
    assert params.charge_efficiency == 0.95 and params.charge_max_mw == 1.0
    assert (params.soc_min_mwh, params.soc_max_mwh, params.initial_soc_mwh) == (0.2, 1.8, 1.0)
    chp_params = default.options.gens[int(chp.name)]
    assert chp_params.marginal_cost_per_mwh == 85.0 and chp_params.co2_t_per_mwh == 0.516
    assert default.options.nox_damage_cost_per_t == 12000.0 and default.options.ev_formulation == "session"


def test_tariff_peak_is_local_berlin_time(default):
    price = default.series.ext_grid_price_per_mwh.to_series()
    # 17:00-21:00 CEST (UTC+2) is 15:00-19:00 UTC.
    assert price["2016-06-06 14:00"] == 45.0
    assert price["2016-06-06 15:00"] == 95.0
    assert price["2016-06-06 18:00"] == 95.0
    assert price["2016-06-06 19:00"] == 45.0


def test_default_model_ev_sessions_are_seeded_and_inside_the_window(default):
    ev = default.ev_sessions
    assert ev.sizes["session"] == 7 * 60
    arrival = pd.DatetimeIndex(ev.ev_arrival_time.values)
    assert arrival.min() >= pd.Timestamp("2016-06-06") and arrival.max() < pd.Timestamp("2016-06-13")
    assert (ev.ev_departure_time.values > ev.ev_arrival_time.values).all()
    plugged_h = (ev.ev_departure_time - ev.ev_arrival_time).values / np.timedelta64(1, "h")
    assert (ev.ev_energy_mwh.values <= ev.ev_p_max_mw.values * plugged_h).all()
    again = build_scenario(load_model("default")).ev_sessions
    assert (again.ev_arrival_time.values == ev.ev_arrival_time.values).all()


def test_beijing_pv_asset_follows_the_measured_plant(beijing):
    pv = beijing.net.sgen.index[beijing.net.sgen.name == "pv_rooftops_bus42"][0]
    availability = beijing.series.pv_availability_pu.values
    assert np.allclose(beijing.series.sgen_p_max_mw.sel(sgen=pv).values, 2.0 * np.clip(availability, 0, None))
    # Local noon in Beijing is 04:00 UTC: the plant produces then and not at local midnight (16:00 UTC).
    hourly = beijing.series.sgen_p_max_mw.sel(sgen=pv).to_series()
    assert hourly["2016-12-15 04:00"] > 0.5 and hourly["2016-12-15 16:00"] == 0.0
    assert beijing.series.sgen_p_max_mw_qc.sizes["sgen"] == beijing.series.sizes["sgen"]


def test_beijing_air_quality_stations_and_china_factor(beijing):
    assert beijing.series.aq_pm25_ug_m3.sizes["station"] == 8
    assert float(beijing.series.ext_grid_co2_average_t_per_mwh[0]) == pytest.approx(0.558)
    # The December 2016 episode: PM2.5 far above the 75 µg/m³ daily limit at every station.
    assert float(beijing.series.aq_pm25_ug_m3.max()) > 300


def _model(tmp_path, extra: str = "", start: str = "2016-06-06T00:00:00Z", source="simbench:1-MV-urban--0-sw"):
    path = tmp_path / "m.toml"
    path.write_text(textwrap.dedent(f"""
        name = "t"
        [network]
        source = "{source}"
        [time]
        start = "{start}"
        hours = 24
        [series.profiles]
        loader = "simbench_profiles"
        [series.carbon]
        loader = "simbench_carbon"
    """) + textwrap.dedent(extra))
    return load_model(path)


def test_window_outside_the_data_names_the_series(tmp_path):
    with pytest.raises(DataError, match=r"series.profiles \(simbench_profiles\) covers 2015-12-31 23:00 to 2016-12-31 23:00 UTC, which does not contain the window 2018-03-01"):
        build_scenario(_model(tmp_path, start="2018-03-01T00:00:00Z"))


def test_unknown_network_name(tmp_path):
    with pytest.raises(NetworkError, match="nope"):
        build_scenario(_model(tmp_path, source="pandapower:nope"))


def test_asset_on_a_missing_bus(tmp_path):
    extra = '[[assets.battery]]\nname = "b"\nbus = 9999\np_mw = 1\ne_mwh = 2\n'
    with pytest.raises(ConfigError, match=r"assets.battery\[0\].bus must be a bus of .* \(got 9999\)"):
        build_scenario(_model(tmp_path, extra))


def test_unknown_loader(tmp_path):
    with pytest.raises(ConfigError, match="series.x.loader must be one of .*'magic'"):
        build_scenario(_model(tmp_path, '[series.x]\nloader = "magic"\n'))


def test_carbon_signal_is_required(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('name="t"\n[network]\nsource="pandapower:case9"\n[time]\nstart="2016-06-06T00:00:00Z"\nhours=3\n')
    with pytest.raises(ConfigError, match="no \\[series.\\*\\] entry gives ext_grid_co2_average"):
        build_scenario(load_model(path))


def test_cli_inspect_prints_summary(capsys):
    assert main(["inspect"]) == 0
    printed = capsys.readouterr().out
    assert "simbench:1-MV-urban--0-sw" in printed and "battery" in printed and "load_p_mw" in printed


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('name="x"\n[network]\nsource="pandapower:case9"\n[time]\nstart="2016-01-01"\nhours=-5\n')
    assert main(["inspect", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "time.hours" in err and "(got -5)" in err
