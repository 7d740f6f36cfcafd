"""The two ways to the LP give the identical LP: coefficient arrays assembled from the registry
(what HiGHS gets by default) and the Pyomo model compiled by Pyomo's standard-form compiler.

The problems below use every constraint family of the formulation: DC flow with cycles and with
angles, LinDistFlow with transformer taps, shunts and two substations, thermal limits, ramps,
storage with standing loss (cyclic and with a terminal value), EV sessions with V2G, EV envelopes
and a rolling horizon's EV slots (ranged energy rows, an empty slot), a CO2 cap, air-quality caps
by zone with per-unit pollutant weights; equality, ranged and one-sided rows; and every slack
(LinDistFlow's thermal slacks shift p and q in the polygon rows).
"""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest
from _dispatch_nets import ev_sessions, series, triangle

from gridopt.dispatch import build, pyomo_model
from gridopt.dispatch.inputs import ev_slots, fill_ev_slots
from gridopt.dispatch.lp import assemble, from_pyomo
from gridopt.dispatch.objective import cost_terms
from gridopt.options import GenParams, StorageParams, make_options
from gridopt.testing import assert_results_close
from gridopt.solve import hand_off, solve

HOURS = 6


def _sessions(buses):
    rows = [
        dict(id="a", bus=buses[0], arrival="2024-01-01 00:30", departure="2024-01-01 04:00", energy_mwh=0.03, p_max_mw=0.011),
        dict(id="b", bus=buses[1], arrival="2024-01-01 01:00", departure="2024-01-01 09:00", energy_mwh=0.05, p_max_mw=0.011),
        dict(id="c", bus=buses[1], arrival="2024-01-01 02:00", departure="2024-01-01 05:15", energy_mwh=0.02, p_max_mw=0.007),
    ]
    return ev_sessions(rows)


def triangle_sessions():
    # cycle flow, ramps, a lossy battery ending free with a terminal value, curtailment cost,
    # EV sessions (one V2G) and a CO2 cap on the horizon
    net, ds = triangle(HOURS)
    ds["ext_grid_co2_marginal_t_per_mwh"] = ("time", np.linspace(0.3, 0.5, HOURS))
    ev = _sessions([1, 2])
    ev["ev_v2g"] = ("session", np.array([False, True, False]))
    options = make_options(
        network="dc", dc_flow="cycle", co2_cap_t=40.0, curtailment_cost_per_mwh=5.0,
        gens={0: GenParams(ramp_up_mw_per_h=16, ramp_down_mw_per_h=8, co2_t_per_mwh=0.5)},
        storage_default=StorageParams(standing_loss_per_h=0.01, terminal="value", terminal_value_per_mwh=20.0),
    )
    return net, ds, options, ev


def triangle_envelopes():
    # angle flow, a cyclic battery, EV envelopes (one request cut: a shortfall, a constant cost)
    net, ds = triangle(HOURS)
    ev = _sessions([1, 2])
    ev["ev_energy_mwh"] = ("session", np.array([0.03, 0.05, 0.04]))
    return net, ds, make_options(network="dc", dc_flow="angle", ev_formulation="aggregate"), ev


def triangle_slots():
    # a rolling horizon's EV slots (gridopt.horizon): three at bus 1, one at bus 2, slot 2 empty
    # (all bounds 0); car 'b' leaves after the horizon: a ranged energy row
    net, ds = triangle(HOURS)
    ev = _sessions([1, 1])
    ev = ev.assign(ev_bus=("session", [1, 1, 2]))
    layout = ev_slots(np.array([1, 1, 1, 2]), np.array([1, 1, 1, 2]))
    per_session = (ev[name].values for name in ("ev_arrival_time", "ev_departure_time", "ev_energy_mwh", "ev_p_max_mw"))
    slots = fill_ev_slots(layout, np.array([0, 1, 3]), ds.indexes["time"], 1.0, *per_session)
    assert slots.energy_max_mwh[1] > slots.energy_mwh[1] > 0
    return net, ds, make_options(network="dc"), slots


def oberrhein():
    # LinDistFlow: two 110/20 kV substations with taps, cable charging, a battery, EV envelopes
    net = pn.mv_oberrhein()
    pp.create_storage(net, 40, p_mw=0, max_e_mwh=2, soc_percent=50, max_p_mw=1, min_p_mw=-1)
    scale = np.linspace(0.5, 1.0, HOURS)[:, None]
    ds = series(
        HOURS, 50.0,
        load_p_mw=(("time", "load"), scale * net.load.p_mw.to_numpy()[None, :]),
        load_q_mvar=(("time", "load"), scale * net.load.q_mvar.to_numpy()[None, :]),
        sgen_p_max_mw=(("time", "sgen"), (1 - scale) * net.sgen.p_mw.to_numpy()[None, :]),
    ).assign_coords(load=net.load.index, sgen=net.sgen.index)
    return net, ds, make_options(ev_formulation="aggregate"), _sessions([40, 41])


def case33_open_upper_limits():
    # equality rows (bus 0: min = max = 1.0), ranged rows, and one-sided rows (no upper limit)
    net = pn.case33bw()
    net.bus.loc[20:, "max_vm_pu"] = np.nan
    ds = series(
        HOURS, 50.0,
        load_p_mw=(("time", "load"), np.tile(net.load.p_mw.to_numpy(), (HOURS, 1))),
        load_q_mvar=(("time", "load"), np.tile(net.load.q_mvar.to_numpy(), (HOURS, 1))),
    ).assign_coords(load=net.load.index)
    return net, ds, make_options(vm_max_pu=float("inf")), None


def triangle_aq_caps():
    # a second unit at bus 2; zone "z" holds unit 0 only: NOx and PM2.5 capped in hours 1-3 (PM2.5
    # only in hour 2), unit 0's pollution weighted 3× in those hours, unit 1 never
    net, ds = triangle(HOURS)
    pp.create_gen(net, 2, p_mw=0, min_p_mw=5, max_p_mw=40)
    cap = np.full((HOURS, 1, 4), np.nan)
    cap[1:4, 0, 1] = 900.0
    cap[2, 0, 3] = 30.0
    weight = np.ones((HOURS, 2))
    weight[1:4, 0] = 3.0
    ds = ds.assign(
        aq_cap_kg_per_h=(("time", "aq_zone", "pollutant"), cap),
        aq_zone_gen=(("aq_zone", "gen"), np.array([[True, False]])),
        aq_weight=(("time", "gen"), weight),
    ).assign_coords(aq_zone=["z"], pollutant=["co2", "nox", "so2", "pm25"], gen=[0, 1])
    dirty = GenParams(nox_t_per_mwh=0.02, pm25_t_per_mwh=0.001)
    options = make_options(network="dc", gens={0: dirty, 1: dirty}, nox_damage_cost_per_t=1000.0)
    return net, ds, options, None


CASES = [
    triangle_sessions, triangle_envelopes, triangle_slots, oberrhein, case33_open_upper_limits, triangle_aq_caps,
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_assembled_and_compiled_lp_are_identical(case):
    net, ds, options, ev = case()
    problem = build(net, ds, options, ev)
    direct = assemble(problem)
    compiled = from_pyomo(pyomo_model(problem), problem)
    assert direct.shape == compiled.shape
    assert (direct.matrix != compiled.matrix).nnz == 0
    for name in ("cost", "col_lower", "col_upper", "row_lower", "row_upper"):
        np.testing.assert_array_equal(getattr(direct, name), getattr(compiled, name), err_msg=name)
    assert direct.offset == compiled.offset


def test_the_cases_cover_every_constraint_family():
    used = set()
    for case in CASES:
        net, ds, options, ev = case()
        used |= {name for name, block in build(net, ds, options, ev).rows.items() if block.size}
    assert used == {
        "balance", "balance_q", "flow.kvl", "flow.limit", "flow.voltage_drop", "flow.voltage_limit",
        "gen.ramp", "storage.energy_first", "storage.energy", "storage.terminal", "ev.energy",
        "ev.v2g_first", "ev.v2g_energy", "ev.energy_first", "ev.latest", "co2.cap", "aq_cap.cap",
    }


def test_the_cases_cover_every_slack_and_each_enters_its_rows():
    # every block priced as "slack", and each with entries in the LP matrix (a slack that no row
    # reads would relax nothing, in both hand-offs alike)
    used = set()
    for case in CASES:
        net, ds, options, ev = case()
        problem = build(net, ds, options, ev)
        matrix = assemble(problem).matrix.tocsc()
        slack = {name for name, terms in cost_terms(problem.data).items() if "slack" in terms}
        for name, block in problem.columns.items():
            if name in slack and block.size:
                used.add(name)
                entries = np.diff(matrix.indptr)[block.start : block.start + block.size]
                assert (entries > 0).all(), f"{case.__name__}: {name}"
    assert used == {
        "shed.p", "ev.unmet", "flow.over_pos", "flow.over_neg", "flow.over_q_pos", "flow.over_q_neg",
        "flow.v_hi", "flow.v_lo", "aq_cap.excess",
    }


def test_the_case_uses_each_kind_of_row():
    net, ds, options, ev = case33_open_upper_limits()
    lp = assemble(build(net, ds, options, ev))
    equal = lp.row_lower == lp.row_upper
    ranged = np.isfinite(lp.row_lower) & np.isfinite(lp.row_upper) & ~equal
    one_sided = np.isfinite(lp.row_lower) & np.isinf(lp.row_upper)
    assert equal.any() and ranged.any() and one_sided.any()


@pytest.mark.parametrize(
    "case", [triangle_sessions, triangle_slots, oberrhein, triangle_aq_caps], ids=lambda c: c.__name__
)
def test_both_hand_offs_solve_to_the_same_dispatch(case):
    net, ds, options, ev = case()
    results = []
    for via in ("direct", "pyomo"):
        problem = build(net, ds, options, ev)
        hand_off(problem, via=via)
        results.append(solve(problem))
    direct, pyomo = results
    assert_results_close(direct, pyomo, rtol=1e-9, variables=["bus_price_per_mwh"])
