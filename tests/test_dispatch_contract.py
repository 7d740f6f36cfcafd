"""The optimizer's contract: options and input errors, statuses, results layout, persistence."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest
from _dispatch_nets import feeder, series, triangle, two_buses

from gridopt.dispatch import build, optimize
from gridopt.errors import ConfigError, DataError, NetworkError
from gridopt.options import make_options
from gridopt.solve import Status, hand_off, solve, status_of


def test_bad_option_names_the_option():
    with pytest.raises(ConfigError, match="'carbon_price_per_t'.*greater than or equal to 0"):
        make_options(carbon_price_per_t=-1)
    with pytest.raises(ConfigError, match="'network'"):
        make_options(network="ac")
    with pytest.raises(ConfigError, match="vm_min_pu must be below vm_max_pu"):
        make_options(vm_min_pu=1.1, vm_max_pu=1.0)


def test_nan_in_a_series_names_the_element_and_time():
    net = two_buses()
    pp.create_load(net, 1, p_mw=10)
    ds = series(3, 30.0, load_p_mw=(("time", "load"), np.array([[1.0], [np.nan], [2.0]])))
    ds = ds.assign_coords(load=[0])
    with pytest.raises(DataError, match=r"load_p_mw must be finite \(got NaN for load 0 at 2024-01-01 01:00:00\)"):
        optimize(net, ds)


def test_storage_without_energy_rating_is_a_network_error():
    net = two_buses()
    pp.create_storage(net, 1, p_mw=0, max_e_mwh=np.nan)
    with pytest.raises(NetworkError, match="storage 0 needs"):
        optimize(net, series(2, 30.0))


def test_options_for_unknown_elements_are_refused():
    net = two_buses()
    with pytest.raises(NetworkError, match="gen 7 must be an element of net.gen"):
        optimize(net, series(1, 30.0), gens={7: {"co2_t_per_mwh": 0.5}})


def test_status_table_maps_highs_and_pyomo_conditions():
    assert status_of("kOptimal") is Status.OPTIMAL
    assert status_of("kTimeLimit") is Status.TIME_LIMIT
    assert status_of("maxTimeLimit") is Status.TIME_LIMIT
    assert status_of("kInfeasible") is Status.ERROR
    assert status_of("never heard of it") is Status.ERROR


def test_network_choice_follows_topology():
    # case9 is meshed (a loop through all nine buses) -> DC; the feeder is radial -> LinDistFlow.
    assert optimize(pn.case9(), series(1)).attrs["network_formulation"] == "dc (cycle)"
    net = feeder()
    pp.create_load(net, 2, p_mw=1)
    assert optimize(net, series(1, 30.0)).attrs["network_formulation"] == "lindistflow"


def test_closed_bus_switch_merges_buses_and_open_line_switch_cuts_the_line():
    # Load at bus 2, which hangs on bus 1 through a closed bus-bus switch: it is served over line 0.
    # A second line 0-2 is opened by its switch: no flow on it, and the grid is radial.
    net = two_buses()
    b2 = pp.create_bus(net, 110.0)
    pp.create_switch(net, 1, b2, et="b", closed=True)
    pp.create_line_from_parameters(net, 0, b2, 5, 0.1, 0.4, 0, 1.0)
    pp.create_switch(net, 0, 1, et="l", closed=False)
    pp.create_load(net, b2, p_mw=25)
    res = optimize(net, series(1, 30.0), network="dc")
    assert float(res.branch_p_mw.sel(branch="line:0").item()) == pytest.approx(25)
    assert "line:1" not in res.branch.values
    assert float(res.bus_price_per_mwh.sel(bus=b2).item()) == pytest.approx(30)


def test_results_carry_units_timings_and_no_nan():
    # The cost terms add up to the objective: 10 MW for 3 h at 30/MWh = 900, plus 80/t × 0.4 t/MWh
    # × 30 MWh = 960 of carbon on the import.
    net = two_buses()
    pp.create_load(net, 1, p_mw=10)
    ds = series(3, 30.0, ext_grid_co2_marginal_t_per_mwh=(("time",), np.full(3, 0.4)))
    res = optimize(net, ds, network="dc", carbon_price_per_t=80)
    assert res.attrs["cost_energy"] == pytest.approx(900)
    assert res.attrs["cost_carbon"] == pytest.approx(960)
    assert res.attrs["objective"] == pytest.approx(1860)
    np.testing.assert_allclose(res.emissions_t.sel(pollutant="co2", source="grid_import"), 4.0)
    np.testing.assert_allclose(res.grid_co2_average_t, 0.0)
    for name, var in res.data_vars.items():
        assert {"units", "long_name"} <= set(var.attrs), name
        assert not np.isnan(var.values).any(), name
    for phase in ("build", "handoff", "solve", "extract"):
        assert res.attrs[f"time_{phase}_s"] >= 0


def test_handed_off_problem_updates_bounds_without_rebuilding():
    # The persistent path: cap the import at 4 MW in the live HiGHS model; 6 MW must then be shed.
    net = two_buses()
    pp.create_load(net, 1, p_mw=10)
    problem = build(net, series(2, 30.0), make_options(network="dc"))
    hand_off(problem)
    problem.set_col_bounds("ext_grid.p", -np.inf, 4.0)
    res = solve(problem)
    assert res.attrs["status"] == "infeasible_as_posed"
    np.testing.assert_allclose(res.load_shed_mw.sel(bus=1), 6.0)
    assert res.attrs["explanation"].splitlines()[0] == (
        "bus 1 (town) sheds 6.000 MW of load at 2024-01-01 00:00 UTC"
    )


@pytest.mark.parametrize("overload", [False, True])
def test_holding_the_slacks_first_finds_the_same_optimum(overload):
    # lazy_slacks solves with every slack at zero first, then releases them. Without overload no
    # slack pays; with 80 MW to bring over a 50 MW line, 30 MW over the rating (5000/MWh) is
    # cheaper than shedding (10000/MWh): the released slack must carry it, as in a plain solve.
    net = two_buses(rating_mva=50)
    pp.create_load(net, 1, p_mw=80 if overload else 40)
    runs = [optimize(net, series(3, 20.0), network="dc", lazy_slacks=lazy) for lazy in (True, False)]
    lazy, plain = runs
    assert lazy.attrs["status"] == plain.attrs["status"] == ("infeasible_as_posed" if overload else "optimal")
    assert lazy.attrs["objective"] == pytest.approx(plain.attrs["objective"], rel=1e-12)
    assert lazy.attrs["explanation"] == plain.attrs["explanation"]
    expected = 3 * (80 * 20 + 30 * 5000) if overload else 3 * 40 * 20
    assert lazy.attrs["objective"] == pytest.approx(expected)


def test_a_time_limit_covers_both_runs_of_the_lazy_slacks():
    # 48 h on the triangle cannot be solved in a microsecond, held slacks or not
    net, ds = triangle(48)
    for lazy in (True, False):
        res = optimize(net, ds, network="dc", time_limit_s=1e-6, lazy_slacks=lazy)
        assert res.attrs["status"] == "time_limit"
        assert res.attrs["explanation"] == "HiGHS stopped without a solution: kTimeLimit"
