"""Each elastic slack family, used on purpose, is explained by element, hour and amount.

Families: load shedding, unmet EV energy (per session and per-bus aggregate), thermal violation,
voltage violation, the air-quality emission cap. The EV session, thermal and cap cases are in
test_dispatch_cases.py and test_aq_zones.py; this file covers the others, each small enough to
check by hand.
"""

from __future__ import annotations

import math

import pandapower as pp
import pytest
from _dispatch_nets import ev_sessions, feeder, series, two_buses

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
