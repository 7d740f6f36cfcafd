"""Day-ahead rolling horizon (gridopt.horizon): state across windows, persistent LP, CLI.

Small cases are a two-bus feeder (ext_grid at bus 0, a 2 MW load at bus 1) with hand-set prices,
whose optimum can be read off; the rest runs the shipped default model (SimBench
1-MV-urban--0-sw, 2016) with real HiGHS.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandapower as pp
import pytest
import xarray as xr

from gridopt.cli import main
from gridopt.config import load_model
from gridopt.dispatch import optimize
from gridopt.errors import ConfigError
from gridopt.horizon import issue_times, load_scenario, roll
from gridopt.options import StorageParams, make_options
from gridopt.scenario import Scenario
from gridopt.store import Store

DAY1 = pd.Timestamp("2016-06-06")


def _feeder(battery: bool):
    net = pp.create_empty_network()
    b0, b1 = pp.create_bus(net, 20.0), pp.create_bus(net, 20.0)
    pp.create_ext_grid(net, b0)
    pp.create_line(net, b0, b1, 1.0, "NA2XS2Y 1x240 RM/25 12/20 kV")
    pp.create_load(net, b1, p_mw=2.0, q_mvar=0.0)
    if battery:
        pp.create_storage(net, b1, p_mw=0.0, max_e_mwh=1.0, max_p_mw=1.0, min_p_mw=-1.0)
    return net


def _scenario(net, price: np.ndarray, sessions: xr.Dataset | None = None, **options) -> Scenario:
    time = pd.date_range(DAY1, periods=len(price), freq="h")
    series = xr.Dataset({"ext_grid_price_per_mwh": ("time", price)}, coords={"time": time})
    return Scenario("feeder", net, series, sessions, make_options(**options))


def test_battery_charges_before_midnight_for_the_next_morning_and_carries_its_soc():
    """Price 50 all along, 10 in the last hour of day 1, 100 in the first hour of day 2; a 1 MW /
    1 MWh lossless battery, empty at first, 1 EUR/MWh of throughput. Looking
    36 h ahead, day 1 charges 1 MWh at 23:00 (cost 10) and commits it; day 2 starts from SOC 1 and
    discharges it at 00:00 (saving 100). Looking 24 h ahead, day 1 does not see 00:00 and the
    battery stays empty."""
    price = np.full(60, 50.0)
    price[23], price[24] = 10.0, 100.0
    storage = {0: StorageParams(initial_soc_mwh=0.0, charge_efficiency=1.0, discharge_efficiency=1.0,
                                terminal="value", degradation_cost_per_mwh=1.0)}  # no idle cycling
    scenario = _scenario(_feeder(battery=True), price, storage=storage)
    issues = issue_times(DAY1, DAY1 + pd.Timedelta(days=1), where="test")
    ahead = roll(scenario, issues, horizon_h=36)
    soc = ahead.storage_soc_mwh.sel(storage=0)
    assert ahead.sizes["time"] == 48
    assert soc.sel(time="2016-06-06 22:00").item() == pytest.approx(0.0, abs=1e-6)
    assert soc.sel(time="2016-06-06 23:00").item() == pytest.approx(1.0, abs=1e-6)
    assert soc.sel(time="2016-06-07 00:00").item() == pytest.approx(0.0, abs=1e-6)
    ext = ahead.ext_grid_import_mw.sel(ext_grid=0)
    assert ext.sel(time="2016-06-06 23:00").item() == pytest.approx(3.0, abs=1e-6)  # load + charging
    assert ext.sel(time="2016-06-07 00:00").item() == pytest.approx(1.0, abs=1e-6)  # load - discharge
    assert ahead.attrs["kpi_storage_soc_final_mwh"] == pytest.approx(0.0, abs=1e-6)
    blind = roll(scenario, issues, horizon_h=24)
    assert float(abs(blind.storage_soc_mwh).max()) == pytest.approx(0.0, abs=1e-6)
    # 36 h ahead saves (100 - 10) per MWh moved: 90 on the energy bill
    assert blind.attrs["cost_energy"] - ahead.attrs["cost_energy"] == pytest.approx(90.0, abs=1e-4)


def _session(arrival: str, departure: str, energy_mwh: float, sid: str = "car") -> xr.Dataset:
    """One car at bus 1 charging at up to 1 MW."""
    return xr.Dataset(
        {"ev_bus": ("session", [1]), "ev_arrival_time": ("session", [np.datetime64(arrival)]),
         "ev_departure_time": ("session", [np.datetime64(departure)]),
         "ev_energy_mwh": ("session", [energy_mwh]), "ev_p_max_mw": ("session", [1.0])},
        coords={"session": [sid]},
    )


def test_ev_session_over_midnight_is_served_across_two_windows():
    """One car plugged in 22:00-02:00 (1 MW) asks for 3 MWh; prices 50 at 22:00, 60 at 23:00, 20
    after midnight. The cheapest way is 1 MWh at 22:00 (committed by day 1) and the remaining 2 MWh
    at 00:00 and 01:00, which day 2 plans from what the car still lacks."""
    price = np.full(60, 40.0)
    price[22], price[23], price[24], price[25] = 50.0, 60.0, 20.0, 20.0
    scenario = _scenario(_feeder(battery=False), price,
                         _session("2016-06-06T22:00", "2016-06-07T02:00", 3.0))
    issues = issue_times(DAY1, DAY1 + pd.Timedelta(days=1), where="test")
    for persistent in (True, False):
        ds = roll(scenario, issues, horizon_h=36, persistent=persistent)
        ev = ds.ev_p_mw.sel(ev_bus=1).to_series()
        assert ev["2016-06-06 22:00"] == pytest.approx(1.0, abs=1e-6)
        assert ev["2016-06-06 23:00"] == pytest.approx(0.0, abs=1e-6)
        assert ev["2016-06-07 00:00"] == pytest.approx(1.0, abs=1e-6)
        assert ev["2016-06-07 01:00"] == pytest.approx(1.0, abs=1e-6)
        assert ev.sum() == pytest.approx(3.0, abs=1e-6)
        assert ds.attrs["kpi_ev_unmet_mwh"] == pytest.approx(0.0, abs=1e-6)
        assert ds.attrs["kpi_ev_pending_mwh"] == pytest.approx(0.0, abs=1e-6)


def test_a_car_left_short_is_named_with_what_it_lacked():
    """Car 'short' (00:00-02:00, up to 1 MW) asks for 5 MWh: 2 hours at 1 MW deliver 2, so it
    leaves 3 MWh short at 02:00 and the run is infeasible as posed, naming it. Car 'late' arrives at
    23:00 on day 2 for 1 MWh and leaves after the run's end; the price rises at midnight, so it takes
    its 1 MWh at 23:00 and is still plugged in at the end: pending, not unserved."""
    cars = xr.concat([_session("2016-06-06T00:00", "2016-06-06T02:00", 5.0, "short"),
                      _session("2016-06-07T23:00", "2016-06-08T05:00", 1.0, "late")], dim="session")
    price = np.full(60, 50.0)
    price[48:] = 100.0
    scenario = _scenario(_feeder(battery=False), price, cars)
    ds = roll(scenario, issue_times(DAY1, DAY1 + pd.Timedelta(days=1), where="test"), horizon_h=36)
    assert ds.attrs["status"] == "infeasible_as_posed"
    assert ds.attrs["explanation"] == "EV session 'short' at bus 1 is short 3.000 MWh at departure 2016-06-06 02:00 UTC"
    sessions = ds[["ev_session_delivered_mwh", "ev_session_unmet_mwh"]].to_dataframe()
    assert sessions.loc["short"].tolist() == pytest.approx([2.0, 3.0], abs=1e-6)
    assert sessions.loc["late", "ev_session_delivered_mwh"] == pytest.approx(1.0, abs=1e-6)
    assert np.isnan(sessions.loc["late", "ev_session_unmet_mwh"])
    assert ds.ev_unmet_mwh.sel(ev_bus=1).item() == pytest.approx(3.0, abs=1e-6)


def test_two_cars_at_one_bus_get_exactly_their_own_hours():
    """At bus 1, car 'a' is plugged in 00:00-03:00 and car 'b' 01:00-02:00, each asking for 1 MWh
    at up to 1 MW; prices 10 at 00:00, 80 at 01:00, 20 at 02:00, 50 elsewhere. 'b' can only
    charge at 01:00 (80) and 'a' takes the cheapest of its hours, 00:00 (10): 1 MW at 00:00 and
    01:00, none at 02:00, nothing unserved. The per-bus envelope cannot see that 'a''s energy at
    00:00 is no help to 'b': it plans 1 MW at 00:00 and 02:00 (cost 30 instead of 90), which no car
    at 02:00 could take ('b' has left, 'a' is full)."""
    price = np.full(60, 50.0)
    price[:3] = [10.0, 80.0, 20.0]
    cars = xr.concat([_session("2016-06-06T00:00", "2016-06-06T03:00", 1.0, "a"),
                      _session("2016-06-06T01:00", "2016-06-06T02:00", 1.0, "b")], dim="session")
    scenario = _scenario(_feeder(battery=False), price, cars)
    issues = issue_times(DAY1, DAY1 + pd.Timedelta(days=1), where="test")
    for persistent in (True, False):
        ds = roll(scenario, issues, horizon_h=36, persistent=persistent)
        ev = ds.ev_p_mw.sel(ev_bus=1).values
        np.testing.assert_allclose(ev[:4], [1.0, 1.0, 0.0, 0.0], atol=1e-6)
        assert ev.sum() == pytest.approx(2.0, abs=1e-6)
        assert ds.attrs["kpi_ev_unmet_mwh"] == pytest.approx(0.0, abs=1e-6)
        assert ds.attrs["status"] == "optimal"
        # the energy bill: the 2 MW load at every price of the two days, plus 10 + 80 for the cars
        assert ds.attrs["cost_energy"] == pytest.approx(2.0 * price[:48].sum() + 90.0, abs=1e-6)
    series = scenario.series.isel(time=slice(0, 36))
    envelope = optimize(scenario.net, series, cars, ev_formulation="aggregate")
    np.testing.assert_allclose(envelope.ev_p_mw.sel(ev_bus=1).values[:4], [1.0, 0.0, 1.0, 0.0], atol=1e-6)


@pytest.fixture(scope="module")
def default_june():
    """The default model over 2016-06-06 and -07 (perfect foresight: no history needed)."""
    issues = issue_times("2016-06-06", "2016-06-07", where="test")
    return load_scenario(load_model("default"), issues, 36, "perfect"), issues


def test_persistent_and_rebuilt_windows_commit_the_same_dispatch(default_june):
    scenario, issues = default_june
    kept = roll(scenario, issues, persistent=True)
    rebuilt = roll(scenario, issues, persistent=False)
    assert list(kept.attrs["window_rebuilt"]) == [1, 0]
    assert list(rebuilt.attrs["window_rebuilt"]) == [1, 1]
    for name in ("gen_p_mw", "sgen_p_mw", "storage_soc_mwh", "storage_charge_mw", "ext_grid_import_mw", "ev_p_mw"):
        np.testing.assert_allclose(kept[name].values, rebuilt[name].values, atol=1e-6, err_msg=name)
    assert kept.attrs["kpi_cost_total"] == pytest.approx(rebuilt.attrs["kpi_cost_total"], rel=1e-9)
    # the update is cheaper than a build + hand-off (windows after the first)
    assert kept.attrs["window_time_build_s"][1] < rebuilt.attrs["window_time_build_s"][1]
    assert kept.attrs["window_time_handoff_s"][1] == 0.0


def test_one_window_with_perfect_foresight_is_a_plain_optimize(default_june):
    scenario, issues = default_june
    day = roll(scenario, issues[:1], horizon_h=24, commit_h=24)
    series = scenario.series.sel(time=slice("2016-06-06 00:00", "2016-06-06 23:00"))
    opts = scenario.options.model_copy(update={"ev_formulation": "session"}).model_dump()
    plain = optimize(scenario.net, series, scenario.ev_sessions, **opts)
    for name in ("gen_p_mw", "storage_soc_mwh", "ext_grid_import_mw", "sgen_p_mw"):
        np.testing.assert_allclose(day[name].values, plain[name].values, atol=1e-6, err_msg=name)
    per_bus = plain.ev_p_mw.groupby(plain.ev_bus).sum().rename(ev_bus="bus")
    np.testing.assert_allclose(day.ev_p_mw.values, per_bus.sel(bus=day.ev_bus.values).values, atol=1e-6)
    assert day.attrs["cost_energy"] == pytest.approx(plain.attrs["cost_energy"], rel=1e-9)


def test_commit_longer_than_the_horizon_is_refused(default_june):
    scenario, issues = default_june
    with pytest.raises(ConfigError, match="commit_h must be 1 to horizon_h"):
        roll(scenario, issues, horizon_h=24, commit_h=36)


def test_cli_dayahead_two_days_with_forecasts_stores_the_settled_run(tmp_path, default_june, capsys):
    # every session of the run can take its energy at full power while plugged in, and each car
    # is planned on its own: none is short, no slack is in use (exit 0, status optimal)
    ev = default_june[0].ev_sessions
    hours = (ev.ev_departure_time - ev.ev_arrival_time) / np.timedelta64(1, "h")
    assert bool((ev.ev_energy_mwh <= ev.ev_p_max_mw * hours).all())
    code = main(["--store", str(tmp_path), "dayahead", "default", "--from", "2016-06-06", "--to", "2016-06-07"])
    assert code == 0
    (record,) = Store(tmp_path).list()
    ds = Store(tmp_path).open(record.run_id)
    assert ds.attrs["status"] == "optimal"
    assert ds.attrs["kpi_ev_unmet_mwh"] == pytest.approx(0.0, abs=1e-9)
    assert float(ds.ev_p_mw.sum()) > 1.0  # MWh: the cars did charge
    assert ds.sizes["time"] == 48
    assert str(ds.time.values[0])[:16] == "2016-06-06T00:00"
    attrs = ds.attrs
    assert attrs["dayahead_foresight"] == "forecast"
    # settlement: the first external grid takes the forecast error
    np.testing.assert_allclose(ds.ext_grid_import_mw.sel(ext_grid=0) - ds.ext_grid_import_planned_mw.sel(ext_grid=0),
                               ds.imbalance_mw, atol=1e-9)
    assert attrs["kpi_imbalance_import_mwh"] > 0
    assert attrs["kpi_forecast_error_cost_total"] == pytest.approx(
        attrs["kpi_cost_total"] - attrs["kpi_perfect_cost_total"])
    assert len(attrs["window_time_highs_s"]) == 2
    assert record.kpis["cost_total"] == pytest.approx(attrs["kpi_cost_total"])
    # the AC power flow of every committed hour: converged, and the lossless plan's import plus the
    # AC losses is the AC import to within the shunts' and losses' second-order effects (0.1 MW)
    assert bool(ds.ac_converged.all()) and ds.ac_converged.sizes["time"] == 48
    gap = ds.ac_ext_grid_p_mw.sum("ext_grid") - ds.ext_grid_import_mw.sum("ext_grid") - ds.ac_losses_mw
    assert float(abs(gap).max()) < 0.1
    assert "AC power flow (lightsim2grid): 0 violations" in capsys.readouterr().out


def test_air_quality_caps_are_refused_in_one_line(shared_data, capsys):
    """beijing_cap holds zones to emission caps in their episode hours only: each window's LP would
    have other cap rows, which the persistent LP cannot take, so dayahead says so before any window."""
    code = main(["--data-dir", str(shared_data), "dayahead", "beijing_cap", "--from", "2016-12-16",
                 "--to", "2016-12-16", "--perfect"])
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress line
    assert code == 2
    assert last.startswith("gridopt: error: ")
    assert last.endswith("beijing_cap.toml: policy.air_quality.mode \"cap\" is not supported by dayahead "
                           "(its caps hold in episode hours only, so each window's LP has other rows); use \"price\"")


def test_a_window_that_needs_a_slack_and_the_next_that_does_not_match_rebuilding():
    """The feeder's 2 MW load peaks at 30 MW at 05:00 on day 1 (DC flow), over the cable's
    rating of 0.421 kA × 20 kV × √3 = 14.584 MVA: that window's plan needs thermal violation
    (5000/MWh, cheaper than shedding at 10000/MWh), so its held slacks are released; day 2 needs
    none, and they are held again. Every MW still comes through the one cable: the import equals
    the load, and nothing is shed."""
    load = np.full(60, 2.0)
    load[5] = 30.0
    scenario = _scenario(_feeder(battery=False), np.full(60, 50.0), network="dc")
    series = scenario.series.assign(load_p_mw=(("time", "load"), load[:, None])).assign_coords(load=[0])
    scenario = Scenario("feeder", scenario.net, series, None, scenario.options)
    issues = issue_times(DAY1, DAY1 + pd.Timedelta(days=1), where="test")
    kept, rebuilt = (roll(scenario, issues, persistent=p) for p in (True, False))
    for name in ("ext_grid_import_mw", "branch_p_mw", "load_shed_mw", "bus_price_per_mwh"):
        np.testing.assert_allclose(kept[name].values, rebuilt[name].values, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(kept.ext_grid_import_mw.sel(ext_grid=0).values, load[:48], atol=1e-6)
    assert float(kept.load_shed_mw.max()) == pytest.approx(0.0, abs=1e-9)
    assert kept.attrs["explanation"] == "line 0 over its rating by 15.416 MW at 2016-06-06 05:00 UTC"
    assert kept.attrs["kpi_cost_total"] == pytest.approx(rebuilt.attrs["kpi_cost_total"], rel=1e-9)
