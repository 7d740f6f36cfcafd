"""Each elastic slack family, used on purpose, is explained by element, hour and amount.

Families: load shedding, unmet EV energy (per session and per-bus aggregate), thermal violation,
voltage violation, the air-quality emission cap. The EV session, DC thermal and cap cases are in
test_dispatch_cases.py and test_aq_zones.py; this file covers the others (LinDistFlow's thermal
slack among them), each small enough to check by hand.
"""

from __future__ import annotations

import math

import pandapower as pp
import pytest
from _dispatch_nets import ev_sessions, feeder, line_rating_ka, series, two_buses

from gridopt.dispatch import optimize


def test_load_shedding_names_bus_hour_and_mw():
    # 80 MW at the town behind an import limit of 50 MW and nothing local: 30 MW are shed in
    # the second hour only (the first asks 40 MW).
    net = two_buses()
    load = pp.create_load(net, 1, p_mw=80)
    ds = series(2, 20.0, load_p_mw=(("time", "load"), [[40.0], [80.0]])).assign_coords(load=[load])
    res = optimize(net, ds, network="dc", ext_grid_import_max_mw=50)
    assert res.attrs["status"] == "infeasible_as_posed"
    assert res.attrs["explanation"] == "bus 1 (town) sheds 30.000 MW of load at 2024-01-01 01:00 UTC"
    assert float(res.load_shed_mw.sel(bus=1).sum()) == pytest.approx(30.0)


def test_undervoltage_names_bus_limit_and_pu():
    # 10 MW + 2 Mvar at the end of the 20 kV feeder, all imported: w2 = 1 - 2·(0.005·10 + 0.004·2)
    # = 0.884. Raising w by shedding costs 10,000/MWh ÷ (2·0.005 pu² per MW) = 10⁶ per pu², the
    # voltage slack 10⁵: the slack takes the whole 0.0185 pu², and the bus sits at √0.884 pu,
    # 0.95 − 0.94021 = 0.0098 pu below its limit.
    net = feeder()
    pp.create_load(net, 2, p_mw=10, q_mvar=2)
    res = optimize(net, series(1, 50.0))
    assert res.attrs["status"] == "infeasible_as_posed"
    by_pu = 0.95 - math.sqrt(0.884)
    assert res.attrs["explanation"] == (
        f"bus 2 (feeder 2) below its voltage limit 0.950 pu by {by_pu:.4f} pu at 2024-01-01 00:00 UTC"
    )
    assert float(res.bus_vm_pu.sel(bus=2).item()) == pytest.approx(math.sqrt(0.884), abs=1e-9)


def test_overvoltage_names_bus_limit_and_pu():
    # A must-run 12 MW unit (min = max) at the feeder end and no load: all 12 MW flow back up,
    # w2 = 1 + 2·0.005·12 = 1.12 > 1.05² = 1.1025, and nothing but the voltage slack can help:
    # √1.12 − 1.05 = 0.0583 pu over.
    net = feeder()
    g = pp.create_gen(net, 2, p_mw=12, min_p_mw=12, max_p_mw=12)
    pp.create_poly_cost(net, g, "gen", cp1_eur_per_mw=0)
    res = optimize(net, series(1, 50.0))
    assert res.attrs["status"] == "infeasible_as_posed"
    by_pu = math.sqrt(1.12) - 1.05
    assert res.attrs["explanation"] == (
        f"bus 2 (feeder 2) above its voltage limit 1.050 pu by {by_pu:.4f} pu at 2024-01-01 00:00 UTC"
    )


def test_aggregate_ev_shortfall_names_bus_sessions_and_mwh():
    # Two sessions at bus 1, each plugged in one hour at 11 kW and asking 50 kWh: the per-bus
    # envelope can deliver 2 · 11 kWh of the 100 kWh, 0.078 MWh short by the horizon's end.
    net = two_buses()
    pp.create_load(net, 1, p_mw=1)
    ev = ev_sessions([
        dict(id=f"s{i}", bus=1, arrival="2024-01-01 01:00", departure="2024-01-01 02:00",
             energy_mwh=0.05, p_max_mw=0.011)
        for i in range(2)
    ])
    res = optimize(net, series(4, 30.0), ev, network="dc", ev_formulation="aggregate")
    assert res.attrs["status"] == "infeasible_as_posed"
    (line,) = res.attrs["explanation"].split("\n")
    assert line.endswith("(2 sessions) is short 0.078 MWh by 2024-01-01 04:00 UTC")
    assert "bus 1" in line


# LinDistFlow's thermal slack. Line 1 of the 20 kV feeder rated S = 5 MVA, a load at bus 2 and
# nothing local, one hour at 50/MWh. The 12-gon inscribed in the circle of radius S has its
# vertices at 0°, 30°, ..., its sides' normals at φ = 15°, 45°, ..., 165° and side rows
# |cos φ·p' + sin φ·q'| <= S cos 15° = 4.8296 MVA on the shifted flow (p', q'). The slack is
# priced 5000 per MVA of shift (the L1 length of the shift), shedding 10000/MWh.


def _overloaded_feeder(p_mw: float, q_mvar: float):
    net = feeder()
    net.line.loc[1, "max_i_ka"] = line_rating_ka(5.0, 20.0)
    pp.create_load(net, 2, p_mw=p_mw, q_mvar=q_mvar)
    return net


def test_lindistflow_active_overload_uses_the_thermal_slack_not_shedding():
    # 8 MW, pure P, through the 5 MVA line. Near the vertex (S, 0) the 15° and 165° rows read
    # p' cos 15° ± q' sin 15° <= S cos 15°, i.e. p' <= S - |q'| tan 15°: the cheapest shift takes
    # p' to S and leaves q' at 0, a shift of 8 - 5 = 3 MVA costing 3 × 5000; the 8 MW still flow
    # (w2 = 1 - 2·0.005·8 = 0.92 > 0.95², no voltage slack). Shedding 3 MW would cost 30000.
    res = optimize(_overloaded_feeder(8.0, 0.0), series(1, 50.0))
    assert res.attrs["status"] == "infeasible_as_posed"
    assert res.attrs["explanation"] == "line 1 over its rating by 3.000 MVA at 2024-01-01 00:00 UTC"
    assert float(res.load_shed_mw.sum()) == pytest.approx(0.0, abs=1e-9)
    assert float(res.branch_p_mw.sel(branch="line:1").item()) == pytest.approx(8.0, abs=1e-9)
    assert res.attrs["cost_slack"] == pytest.approx(15_000.0, rel=1e-9)
    assert res.attrs["objective"] == pytest.approx(8 * 50 + 15_000.0, rel=1e-9)


def test_lindistflow_reactive_overload_is_shifted_in_q():
    # 8 Mvar, pure Q: (0, S) is a vertex too, so the shift is 8 - 5 = 3 MVA, in q: no point of the
    # polygon has |q'| > S, so a shift of p alone could not help, and shedding (P only) neither.
    # (w2 = 1 - 2·0.004·8 = 0.936 > 0.95².)
    res = optimize(_overloaded_feeder(0.0, 8.0), series(1, 50.0))
    assert res.attrs["explanation"] == "line 1 over its rating by 3.000 MVA at 2024-01-01 00:00 UTC"
    assert res.attrs["cost_slack"] == pytest.approx(15_000.0, rel=1e-9)


def test_lindistflow_diagonal_overload_reports_the_l1_shift():
    # 4 MW + 4 Mvar, |S| = 5.657 MVA at 45°, the normal of a side: only the 45° row is violated,
    # by 8 cos 45° - 5 cos 15° = 0.8272 MVA. A shift (dp, dq) reduces that row by
    # (dp + dq) cos 45°, so the cheapest L1 shift is 0.8272 / cos 45° = 1.1699 MVA (in p, in q or
    # split; the 15° and 75° rows stay slack): √2 times the distance to the polygon, above the
    # apparent power's excess of 0.657 MVA. (w2 = 1 - 2·(0.02 + 0.016) = 0.928 > 0.95².)
    res = optimize(_overloaded_feeder(4.0, 4.0), series(1, 50.0))
    excess = (8 * math.cos(math.pi / 4) - 5 * math.cos(math.pi / 12)) / math.cos(math.pi / 4)
    assert excess == pytest.approx(1.1699, abs=1e-4)
    assert res.attrs["explanation"] == f"line 1 over its rating by {excess:.3f} MVA at 2024-01-01 00:00 UTC"
    assert res.attrs["cost_slack"] == pytest.approx(5000 * excess, rel=1e-9)


def test_lindistflow_overload_sheds_when_shedding_is_cheaper():
    # The 8 MW case with shedding at 1000/MWh, below the violation's 5000: 3 MW are shed at bus 2
    # and the line carries its rating, 5 MW; cost 5 × 50 + 3 × 1000.
    res = optimize(_overloaded_feeder(8.0, 0.0), series(1, 50.0), load_shed_penalty_per_mwh=1000.0)
    assert res.attrs["explanation"] == "bus 2 (feeder 2) sheds 3.000 MW of load at 2024-01-01 00:00 UTC"
    assert float(res.branch_p_mw.sel(branch="line:1").item()) == pytest.approx(5.0, abs=1e-9)
    assert res.attrs["objective"] == pytest.approx(5 * 50 + 3 * 1000.0, rel=1e-9)
