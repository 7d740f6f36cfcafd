"""Air-quality zones and emission caps, on a two-bus grid solved by hand.

Bus 0 (upstream, ext_grid at 100/MWh) — line — bus 1 ("town", 10 MW of load). Units:
``chp`` at bus 1 (50/MWh, NOx 0.5 t/MWh = 500 kg/MWh) and ``boiler`` at bus 0 (60/MWh, the
same NOx factor), 8 MW each. Both undercut the grid, the CHP first: without a policy the CHP
runs 8 MW and the boiler 2 MW. Zone ``town`` = bus 1 on station ``A``; hours 1 and 2 are its
episode hours (AQI 210 and 300 >= 200).
"""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pytest
from _dispatch_nets import series, two_buses

from gridopt.aq_policy import policy_series, zone_emissions_t
from gridopt.config import AirQualityPolicy
from gridopt.dispatch import optimize
from gridopt.errors import ConfigError
from gridopt.options import GenParams
from gridopt.statements import bus_statement, statement_inputs

HOURS = 4
NOX_T_PER_MWH = 0.5
AQI_A = [120, 210, 300, 90]  # station A (the town): episodes in hours 1 and 2
AQI_B = [250, 50, 50, 250]  # station B (elsewhere): episodes in hours 0 and 3


def _grid():
    net = two_buses()
    pp.create_load(net, 1, p_mw=10.0)
    pp.create_gen(net, 1, p_mw=0, min_p_mw=0, max_p_mw=8, name="chp")
    pp.create_gen(net, 0, p_mw=0, min_p_mw=0, max_p_mw=8, name="boiler")
    ds = series(HOURS, 100.0, aqi_china=(("time", "station"), np.array([AQI_A, AQI_B], float).T))
    return net, ds.assign_coords(station=["A", "B"])


def _gens() -> dict:
    return {"gens": {0: GenParams(marginal_cost_per_mwh=50.0, nox_t_per_mwh=NOX_T_PER_MWH),
                     1: GenParams(marginal_cost_per_mwh=60.0, nox_t_per_mwh=NOX_T_PER_MWH)},
            "network": "dc", "nox_damage_cost_per_t": 20.0, "ext_grid_export_max_mw": 0.0}


def _policy(**kw) -> AirQualityPolicy:
    zones = {"town": {"stations": ["A"], "buses": ["town"], **kw.pop("zone", {})}}
    return AirQualityPolicy(threshold_aqi=200, zones=zones, **kw)


def _solve(policy: AirQualityPolicy, net=None, ds=None, **options):
    if net is None:
        net, ds = _grid()
    ds = ds.merge(policy_series(policy, net, ds, where="m.toml"))
    return optimize(net, ds, **{**_gens(), **options}), ds


def test_zone_episodes_come_from_its_own_stations():
    net, ds = _grid()
    out = policy_series(_policy(mode="price", factor=4.0), net, ds, where="m.toml")
    assert out["aq_zone_episode"].sel(aq_zone="town").values.tolist() == [False, True, True, False]
    assert out["aq_zone_aqi"].sel(aq_zone="town").values.tolist() == AQI_A
    assert out["aq_zone_gen"].sel(aq_zone="town").values.tolist() == [True, False]  # chp at bus 1 only
    # the CHP is policed in its zone's episodes; the boiler, outside every zone, never
    weight = out["aq_weight"].transpose("time", "gen").values
    assert weight[:, 0].tolist() == [1.0, 4.0, 4.0, 1.0]
    assert weight[:, 1].tolist() == [1.0] * HOURS


def test_whole_model_form_is_one_zone_over_every_bus():
    net, ds = _grid()
    out = policy_series(AirQualityPolicy(mode="price", factor=4.0), net, ds, where="m.toml")
    # highest of A and B: 250, 210, 300, 250 -> every hour an episode
    assert out["aq_zone_aqi"].sel(aq_zone="all").values.tolist() == [250, 210, 300, 250]
    assert out["aq_weight"].dims == ("time",) and out["aq_weight"].values.tolist() == [4.0] * HOURS
    assert out["aq_zone_gen"].values.all()


@pytest.mark.parametrize("zone, message", [
    ({"stations": ["Z"], "buses": [1]}, "zones.town.stations: 'Z' is not a station of the data"),
    ({"stations": ["A"], "buses": [7]}, "zones.town.buses: bus 7 is not a bus of the network"),
    ({"stations": ["A"], "buses": ["harbour"]}, "zones.town.buses: bus name 'harbour' must name one bus"),
])
def test_unknown_station_or_bus_names_the_zone_and_the_value(zone, message):
    net, ds = _grid()
    with pytest.raises(ConfigError, match=message):
        policy_series(AirQualityPolicy(mode="price", zones={"town": zone}), net, ds, where="m.toml")


def test_a_bus_in_two_zones_is_refused():
    net, ds = _grid()
    zones = {"a": {"stations": ["A"], "buses": [1]}, "b": {"stations": ["B"], "buses": [0, 1]}}
    with pytest.raises(ConfigError, match=r"zones.b.buses: bus 1 is already in zone 'a'"):
        policy_series(AirQualityPolicy(mode="price", zones=zones), net, ds, where="m.toml")


def test_cap_mode_needs_a_cap():
    with pytest.raises(ValueError, match="mode 'cap' needs cap_kg_per_h for zone 'town'"):
        _policy(mode="cap")


def test_cap_binds_exactly_in_the_zones_episode_hours():
    # cap 2,000 kg/h of NOx at 500 kg/MWh: the CHP may run 4 MW in hours 1 and 2; the boiler,
    # outside the zone, makes up the rest (6 MW) and is not capped.
    results, ds = _solve(_policy(mode="cap", zone={"cap_kg_per_h": {"nox": 2000.0}}))
    assert results.attrs["status"] == "optimal"
    chp, boiler = results["gen_p_mw"].transpose("gen", "time").values
    np.testing.assert_allclose(chp, [8, 4, 4, 8], atol=1e-6)
    np.testing.assert_allclose(boiler, [2, 6, 6, 2], atol=1e-6)
    zone = zone_emissions_t(results["gen_p_mw"], ds["aq_zone_gen"],
                            {0: {"co2_t_per_mwh": 0, "nox_t_per_mwh": 0.5, "so2_t_per_mwh": 0, "pm25_t_per_mwh": 0}},
                            {"co2_t_per_mwh": 0, "nox_t_per_mwh": 0, "so2_t_per_mwh": 0, "pm25_t_per_mwh": 0}, 1.0)
    np.testing.assert_allclose(zone.sel(aq_zone="town", pollutant="nox").values, [4, 2, 2, 4], atol=1e-6)


def test_cap_slack_names_zone_pollutant_hour_and_kg():
    # the CHP must run 6 MW (p_min): 3,000 kg/h against a 2,000 kg/h cap -> 1,000 kg over in
    # each episode hour; the run is infeasible as posed and says where.
    net, ds = _grid()
    net.gen.loc[0, "min_p_mw"] = 6.0
    results, _ = _solve(_policy(mode="cap", zone={"cap_kg_per_h": {"nox": 2000.0}}), net, ds)
    assert results.attrs["status"] == "infeasible_as_posed"
    lines = results.attrs["explanation"].split("\n")
    assert lines == [
        "air-quality zone 'town' over its nox cap of 2000 kg/h by 1000.000 kg at 2024-01-01 01:00 UTC",
        "air-quality zone 'town' over its nox cap of 2000 kg/h by 1000.000 kg at 2024-01-01 02:00 UTC",
    ]
    np.testing.assert_allclose(results["gen_p_mw"].sel(gen=0).values, [8, 6, 6, 8], atol=1e-6)


def test_price_mode_in_a_zone_prices_only_its_units():
    # factor 10 on 20/t × 0.5 t/MWh = 10/MWh -> 100/MWh in episodes: the CHP (50 + 100) loses to
    # the grid (100) in hours 1 and 2, the boiler (60 + 10, unpoliced) runs flat out.
    results, _ = _solve(_policy(mode="price", factor=10.0))
    chp, boiler = results["gen_p_mw"].transpose("gen", "time").values
    np.testing.assert_allclose(chp, [8, 0, 0, 8], atol=1e-6)
    np.testing.assert_allclose(boiler, [2, 8, 8, 2], atol=1e-6)
    # pollution cost: Σ 20/t × 0.5 t/MWh × (weight × MWh) = 10 × (8 + 2 + 8 + 8 + 8 + 2) = 360
    assert results.attrs["cost_pollution"] == pytest.approx(360.0)


def test_bus_statement_at_nodal_prices_by_hand():
    # price mode as above: the boiler (60 + 10 pollution) sets the price in hours 0 and 3, the
    # grid (100) in hours 1 and 2, where 2 MW are imported at 0.5 t/MWh (marginal), 0.4 (average)
    net, ds = _grid()
    ds = ds.assign(ext_grid_co2_marginal_t_per_mwh=("time", [0.5] * HOURS),
                   ext_grid_co2_average_t_per_mwh=("time", [0.4] * HOURS))
    results, ds = _solve(_policy(mode="price", factor=10.0), net, ds)
    frame = bus_statement(results.assign(statement_inputs(net, ds).data_vars)).set_index("bus")
    assert frame.loc[1, "drawn_mwh"] == pytest.approx(40.0) and frame.loc[0, "drawn_mwh"] == 0.0
    assert frame.loc[1, "cost_eur"] == pytest.approx(10 * (70 + 100 + 100 + 70))
    assert frame.loc[1, "co2_marginal_t"] == pytest.approx(2 * 2 * 0.5)
    assert frame.loc[1, "co2_average_t"] == pytest.approx(2 * 2 * 0.4)


def test_beijing_cap_holds_in_each_zones_episode_hours_and_the_bus_statement_adds_up(shared_data, tmp_path):
    """models/beijing_cap.toml on 16 December 2016: the centre zone's NOx cap of 0.5 kg/h holds
    the CHP (0.443 kg/MWh) to 0.5 / 0.443 = 1.129 MW in the centre's episode hours."""
    from gridopt.config import load_model, with_window
    from gridopt.run import run_model
    from gridopt.store import Store

    config = with_window(load_model("beijing_cap", shared_data), "2016-12-16T00:00:00+08:00", 24)
    store = Store(tmp_path / "runs")
    outcome = run_model(config, ac=False, store=store)
    results, attrs = outcome.results, outcome.results.attrs
    assert attrs["status"] == "optimal"
    episodes = results["aq_zone_episode"].sel(aq_zone="centre").values
    assert episodes.sum() == attrs["kpi_zone_centre_episode_hours"] > 0
    chp = results["gen_p_mw"].sel(gen=1).values  # gen 1: chp_gas_bus84, in the centre zone
    nox_kg_per_h = results["aq_zone_emissions_t"].sel(aq_zone="centre", pollutant="nox").values * 1000
    assert nox_kg_per_h[episodes].max() == pytest.approx(0.5, abs=1e-6)  # the cap binds
    assert chp[episodes].max() == pytest.approx(0.5 / 0.443, abs=1e-5)
    assert attrs["kpi_nopolicy_zone_centre_episode_nox_t"] > attrs["kpi_zone_centre_episode_nox_t"]
    assert attrs["kpi_policy_zone_centre_episode_nox_t_avoided"] == pytest.approx(
        attrs["kpi_nopolicy_zone_centre_episode_nox_t"] - attrs["kpi_zone_centre_episode_nox_t"])
    # the per-bus statement of the stored run sums to the run's totals
    frame = bus_statement(store.open(outcome.run_id))
    assert frame["co2_marginal_t"].sum() == pytest.approx(attrs["kpi_co2_marginal_t"], rel=1e-9)
    assert frame["co2_average_t"].sum() == pytest.approx(attrs["kpi_co2_average_t"], rel=1e-9)
    assert frame["ev_mwh"].sum() == pytest.approx(attrs["kpi_ev_energy_served_mwh"], rel=1e-9)
    # consumption also counts the two transformers' iron losses (2 × 22 kW at 1 pu, ∝ v²): no
    # bus draws those
    gap_mw = (attrs["kpi_consumption_mwh"] - frame["drawn_mwh"].sum()) / 24
    assert 0.044 * 0.95**2 <= gap_mw <= 0.044 * 1.05**2
