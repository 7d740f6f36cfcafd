"""Lazy slacks (gridopt.solve): HiGHS solves with the per-step slacks held at zero, and that optimum
stands only when no held slack would pay; otherwise they are released and HiGHS carries on.

Cases on two 110 kV buses joined by a 50 MW line (import at bus 0 priced 20/MWh, load at bus 1),
whose optima can be read off. Thermal violation costs 5000/MWh, load shedding 10000/MWh.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandapower as pp
import pytest
from _dispatch_nets import feeder, line_rating_ka, series, two_buses

from gridopt.dispatch import build, optimize
from gridopt.options import make_options
from gridopt.solve import hand_off, solve

HELD = {"shed.p", "flow.over_pos", "flow.over_neg"}  # the per-step slacks of a DC two-bus net


def _town(load_mw: float, local_cost: float | None = None):
    net = two_buses(rating_mva=50)
    pp.create_load(net, 1, p_mw=load_mw)
    if local_cost is not None:
        unit = pp.create_gen(net, 1, p_mw=0, min_p_mw=0, max_p_mw=100)
        pp.create_poly_cost(net, unit, "gen", cp1_eur_per_mw=local_cost)
    return net


def _solved(net, hours=3, **options):
    problem = build(net, series(hours, 20.0), make_options(network="dc", **options))
    hand_off(problem)
    return problem, solve(problem)


def test_a_slack_that_pays_although_the_held_lp_is_feasible_is_released():
    # 80 MW over a 50 MW line: with the slacks held, the local unit covers 30 MW at 6000/MWh (a
    # feasible plan); released, 30 MW over the rating at 5000 + 20 for the import is cheaper.
    problem, lazy = _solved(_town(80, local_cost=6000))
    assert problem.held == {}  # released for the second run
    _, plain = _solved(_town(80, local_cost=6000), lazy_slacks=False)
    expected = 3 * (80 * 20 + 30 * 5000)
    assert lazy.attrs["objective"] == pytest.approx(expected, rel=1e-12)
    assert plain.attrs["objective"] == pytest.approx(expected, rel=1e-12)
    assert lazy.attrs["status"] == "infeasible_as_posed"
    np.testing.assert_allclose(lazy.gen_p_mw.values, 0.0, atol=1e-9)
    np.testing.assert_allclose(lazy.ext_grid_import_mw.values, 80.0, atol=1e-9)
    assert lazy.attrs["explanation"].splitlines()[0] == "line 0 (tie) over its rating by 30.000 MW at 2024-01-01 00:00 UTC"
    assert lazy.attrs["explanation"] == plain.attrs["explanation"]


def test_a_held_optimum_that_no_slack_improves_stands_and_keeps_them_held():
    # 80 MW with a local unit at 4000/MWh: 30 MW from it beats 30 MW over the rating at 5000.
    problem, lazy = _solved(_town(80, local_cost=4000))
    assert set(problem.held) == HELD  # one run: the held optimum is the full LP's
    assert lazy.attrs["status"] == "optimal"
    assert lazy.attrs["objective"] == pytest.approx(3 * (50 * 20 + 30 * 4000), rel=1e-12)
    np.testing.assert_allclose(lazy.gen_p_mw.values, 30.0, atol=1e-9)
    # the bounds the registry keeps are the slacks' own, not the held zeros
    assert problem.columns["shed.p"].ub.max() == pytest.approx(80.0)


def test_held_slacks_follow_bound_changes_and_are_held_again_after_a_window_that_needed_them():
    # The persistent path: one live HiGHS model, three solves. The load row goes 40 -> 80 -> 40 MW
    # (no local unit): 80 MW needs 30 MW over the rating; 40 MW needs no slack.
    net = _town(40)
    problem = build(net, series(2, 20.0), make_options(network="dc"))
    hand_off(problem)
    balance = problem.rows["balance"]
    objectives, held = [], []
    for load in (40.0, 80.0, 40.0):
        bounds = np.zeros(balance.shape)  # (time, node): the load at node 1, nothing at node 0
        bounds[:, 1] = load
        problem.set_row_bounds("balance", bounds, bounds)
        problem.set_col_bounds("shed.p", 0.0, np.full(problem.columns["shed.p"].shape, load))
        res = solve(problem)
        objectives.append(res.attrs["objective"])
        held.append(set(problem.held))
    assert objectives == pytest.approx([2 * 40 * 20, 2 * (80 * 20 + 30 * 5000), 2 * 40 * 20], rel=1e-12)
    assert held == [HELD, set(), HELD]
    assert problem.columns["shed.p"].ub.max() == pytest.approx(40.0)


def test_without_lazy_slacks_a_problem_held_before_is_released():
    problem, _ = _solved(_town(80, local_cost=4000))
    assert set(problem.held) == HELD
    problem.data = replace(problem.data, options=make_options(network="dc", lazy_slacks=False))
    problem.set_col_costs("gen.p", np.full(problem.columns["gen.p"].shape, 6000.0))
    res = solve(problem)
    assert problem.held == {}
    assert res.attrs["objective"] == pytest.approx(3 * (80 * 20 + 30 * 5000), rel=1e-12)
    assert res.attrs["objective"] == pytest.approx(
        optimize(_town(80, local_cost=6000), series(3, 20.0), network="dc").attrs["objective"], rel=1e-12)


def test_lindistflow_holds_its_four_thermal_slacks_and_releases_them_for_an_overload():
    # The 20 kV feeder with line 1 rated 5 MVA and 4 MW at bus 2 (no slack needed): every per-step
    # slack is held, LinDistFlow's P and Q shifts of the flow among them, and the held optimum
    # stands. At 8 MW the P shift pays (3 MVA at 5000 against shedding at 10000): released.
    def feeder_with(load_mw):
        net = feeder()
        net.line.loc[1, "max_i_ka"] = line_rating_ka(5.0, 20.0)
        pp.create_load(net, 2, p_mw=load_mw)
        problem = build(net, series(1, 50.0), make_options())
        hand_off(problem)
        return problem, solve(problem)

    problem, light = feeder_with(4.0)
    assert set(problem.held) == {"shed.p", "flow.v_hi", "flow.v_lo", "flow.over_pos", "flow.over_neg",
                                 "flow.over_q_pos", "flow.over_q_neg"}
    assert light.attrs["status"] == "optimal"
    problem, heavy = feeder_with(8.0)
    assert problem.held == {}
    assert heavy.attrs["objective"] == pytest.approx(8 * 50 + 3 * 5000, rel=1e-12)
