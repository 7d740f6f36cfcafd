"""Hand-solvable dispatch cases: each expected value is computed in the comment above it."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pytest
from _dispatch_nets import ev_sessions, feeder, series, two_buses

from gridopt.dispatch import baseline_dispatch, optimize
from gridopt.options import StorageParams


def test_merit_order_runs_the_cheap_unit_first():
    # Load 60 MW at bus 1. Unit A: 20/MWh up to 30 MW; unit B: 40/MWh up to 100 MW; import 50/MWh,
    # no export. Cheapest first: A = 30 MW, B = 30 MW, import 0. Cost = 30·20 + 30·40 = 1800 per hour.
    # The next MW at bus 1 comes from B: price 40.
    net = two_buses()
    pp.create_load(net, 1, p_mw=60)
    a = pp.create_gen(net, 1, p_mw=0, min_p_mw=0, max_p_mw=30)
    b = pp.create_gen(net, 1, p_mw=0, min_p_mw=0, max_p_mw=100)
    pp.create_poly_cost(net, a, "gen", cp1_eur_per_mw=20)
    pp.create_poly_cost(net, b, "gen", cp1_eur_per_mw=40)
    res = optimize(net, series(2, 50.0), network="dc", ext_grid_export_max_mw=0)
    assert res.attrs["status"] == "optimal"
    np.testing.assert_allclose(res.gen_p_mw.sel(gen=a), 30, atol=1e-6)
    np.testing.assert_allclose(res.gen_p_mw.sel(gen=b), 30, atol=1e-6)
    np.testing.assert_allclose(res.ext_grid_import_mw, 0, atol=1e-6)
    assert res.attrs["objective"] == pytest.approx(2 * 1800)
    np.testing.assert_allclose(res.bus_price_per_mwh.sel(bus=1), 40, atol=1e-6)


def test_storage_arbitrage_with_efficiency():
    # Prices 10 then 50 /MWh; battery 10 MW / 10 MWh, η_c = η_d = 0.9, starts empty, ends free.
    # Hour 1: charge 10 MW -> SOC = 0.9 · 10 = 9 MWh. Hour 2: discharge 9 · 0.9 = 8.1 MW.
    # Profit = 8.1 · 50 - 10 · 10 = 305; without storage the 20 MW load costs 20·10 + 20·50 = 1200.
    net = two_buses()
    pp.create_load(net, 1, p_mw=20)
    pp.create_storage(net, 1, p_mw=0, max_e_mwh=10, soc_percent=0, max_p_mw=10, min_p_mw=-10)
    params = StorageParams(charge_efficiency=0.9, discharge_efficiency=0.9, terminal="value")
    res = optimize(net, series(2, [10.0, 50.0]), network="dc", storage_default=params)
    np.testing.assert_allclose(res.storage_charge_mw.values.ravel(), [10, 0], atol=1e-6)
    np.testing.assert_allclose(res.storage_discharge_mw.values.ravel(), [0, 8.1], atol=1e-6)
    np.testing.assert_allclose(res.storage_soc_mwh.values.ravel(), [9, 0], atol=1e-6)
    assert res.attrs["objective"] == pytest.approx(1200 - 305)


def test_cyclic_storage_ends_where_it_started():
    # Same battery, starting half full (5 MWh) and cyclic: it must end at 5 MWh again.
    # Cheap hour first: fill up to 10 MWh, charging (10 - 5)/0.9 = 5.556 MW; then back to 5 MWh,
    # discharging (10 - 5)·0.9 = 4.5 MW.
    net = two_buses()
    pp.create_load(net, 1, p_mw=20)
    pp.create_storage(net, 1, p_mw=0, max_e_mwh=10, soc_percent=50, max_p_mw=10, min_p_mw=-10)
    params = StorageParams(charge_efficiency=0.9, discharge_efficiency=0.9)
    res = optimize(net, series(2, [10.0, 50.0]), network="dc", storage_default=params)
    np.testing.assert_allclose(res.storage_charge_mw.values.ravel(), [5 / 0.9, 0], atol=1e-6)
    np.testing.assert_allclose(res.storage_discharge_mw.values.ravel(), [0, 4.5], atol=1e-6)
    np.testing.assert_allclose(res.storage_soc_mwh.values.ravel(), [10, 5], atol=1e-6)


def test_ev_charges_in_the_cheapest_hours_of_its_window():
    # Prices by hour 0..5: 30, 10, 20, 5, 40, 50. Plugged in 01:00-04:00 (hours 1, 2, 3), needs
    # 0.02 MWh at up to 0.011 MW: hour 3 (5/MWh) takes 0.011, hour 1 (10/MWh) the other 0.009.
    net = two_buses()
    pp.create_load(net, 1, p_mw=1)
    ev = ev_sessions([dict(id="abc", bus=1, arrival="2024-01-01 01:00", departure="2024-01-01 04:00",
                           energy_mwh=0.02, p_max_mw=0.011)])
    res = optimize(net, series(6, [30, 10, 20, 5, 40, 50]), ev, network="dc")
    assert res.attrs["status"] == "optimal"
    np.testing.assert_allclose(res.ev_p_mw.sel(session="abc"), [0, 0.009, 0, 0.011, 0, 0], atol=1e-9)
    assert float(res.ev_unmet_mwh.sel(session="abc")) == pytest.approx(0, abs=1e-9)


def test_baseline_charges_from_arrival_and_leaves_storage_idle():
    # Uncontrolled: full 0.011 MW from 01:00 until 0.02 MWh are in: 0.011 at hour 1, 0.009 at hour 2.
    net = two_buses()
    pp.create_load(net, 1, p_mw=1)
    pp.create_storage(net, 1, p_mw=0, max_e_mwh=10, soc_percent=50, max_p_mw=10, min_p_mw=-10)
    ev = ev_sessions([dict(id="abc", bus=1, arrival="2024-01-01 01:00", departure="2024-01-01 04:00",
                           energy_mwh=0.02, p_max_mw=0.011)])
    res = baseline_dispatch(net, series(6, [30, 10, 20, 5, 40, 50]), ev, network="dc")
    np.testing.assert_allclose(res.ev_p_mw.sel(session="abc"), [0, 0.011, 0.009, 0, 0, 0], atol=1e-9)
    np.testing.assert_allclose(res.storage_charge_mw, 0, atol=1e-9)
    np.testing.assert_allclose(res.storage_discharge_mw, 0, atol=1e-9)
    assert res.attrs["scenario"] == "baseline"


def test_congested_line_splits_nodal_prices():
    # Import at 20/MWh through a 50 MW line; local unit at 60/MWh; load 80 MW at bus 1.
    # The line carries 50 MW, the unit 30 MW. Prices: bus 0 = 20 (import), bus 1 = 60 (unit);
    # the difference, 40/MWh, is the line's congestion rent per MW.
    net = two_buses(rating_mva=50)
    pp.create_load(net, 1, p_mw=80)
    g = pp.create_gen(net, 1, p_mw=0, max_p_mw=100, min_p_mw=0)
    pp.create_poly_cost(net, g, "gen", cp1_eur_per_mw=60)
    res = optimize(net, series(1, 20.0), network="dc")
    assert res.attrs["status"] == "optimal"
    assert float(res.branch_p_mw.sel(branch="line:0").item()) == pytest.approx(50)
    assert float(res.gen_p_mw.sel(gen=g).item()) == pytest.approx(30)
    prices = res.bus_price_per_mwh.isel(time=0)
    assert float(prices.sel(bus=0)) == pytest.approx(20)
    assert float(prices.sel(bus=1)) == pytest.approx(60)


def test_lindistflow_voltage_limit_binds_at_the_feeder_end():
    # Load 10 MW + 2 Mvar at bus 2; import at 50/MWh, a local unit at bus 2 at 100/MWh.
    # All import: w2 = 1 - 2·(0.005·10 + 0.004·2) = 0.884 < 0.95² = 0.9025, so the unit covers g with
    # 1 - 2·(0.005·(10 - g) + 0.004·2) = 0.9025  ->  g = 10 - (0.04875 - 0.008)/0.005 = 1.85 MW.
    # Bus 1 then sits at w1 = 1 - 2·(0.0025·8.15 + 0.002·2) = 0.95125.
    net = feeder()
    pp.create_load(net, 2, p_mw=10, q_mvar=2)
    g = pp.create_gen(net, 2, p_mw=0, max_p_mw=20, min_p_mw=0)
    pp.create_poly_cost(net, g, "gen", cp1_eur_per_mw=100)
    res = optimize(net, series(1, 50.0))
    assert res.attrs["network_formulation"] == "lindistflow"
    assert res.attrs["status"] == "optimal"
    assert float(res.gen_p_mw.sel(gen=g).item()) == pytest.approx(1.85, abs=1e-6)
    vm = res.bus_vm_pu.isel(time=0)
    assert float(vm.sel(bus=2)) ** 2 == pytest.approx(0.9025, abs=1e-9)
    assert float(vm.sel(bus=1)) ** 2 == pytest.approx(0.95125, abs=1e-9)


def test_impossible_ev_session_is_explained_by_name():
    # 'abc' is plugged in 01:00-03:00 at 0.011 MW: at most 0.022 MWh of the 0.05 it asks for,
    # so it is short 0.028 MWh at its departure.
    net = two_buses()
    pp.create_load(net, 1, p_mw=1)
    ev = ev_sessions([dict(id="abc", bus=1, arrival="2024-01-01 01:00", departure="2024-01-01 03:00",
                           energy_mwh=0.05, p_max_mw=0.011)])
    res = optimize(net, series(4, 30.0), ev, network="dc")
    assert res.attrs["status"] == "infeasible_as_posed"
    assert float(res.ev_unmet_mwh.sel(session="abc")) == pytest.approx(0.028)
    assert res.attrs["explanation"] == (
        "EV session 'abc' at bus 1 is short 0.028 MWh at departure 2024-01-01 03:00 UTC"
    )


def test_overloaded_line_is_explained_in_grid_terms():
    # 80 MW must cross a 50 MW line (no local unit), at a violation penalty (5000/MWh) below the
    # shedding penalty (10000/MWh): the line is 30 MW over its rating.
    net = two_buses(rating_mva=50)
    net.line.loc[0, "name"] = "tie"
    pp.create_load(net, 1, p_mw=80)
    res = optimize(net, series(1, 20.0), network="dc")
    assert res.attrs["status"] == "infeasible_as_posed"
    assert res.attrs["explanation"] == "line 0 (tie) over its rating by 30.000 MW at 2024-01-01 00:00 UTC"
