"""gridopt against other tools on the same problem: pandapower's DC OPF and PyPSA.

Sign conventions: pandapower ``res_line.p_from_mw`` and gridopt ``branch_p_mw`` both flow from
``from_bus`` to ``to_bus``; PyPSA ``lines_t.p0`` likewise from ``bus0`` to ``bus1``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
import pytest
from _dispatch_nets import hours, line_rating_ka, series

from gridopt.dispatch import optimize
from gridopt.options import GenParams, StorageParams


def test_single_period_matches_pandapower_rundcopp_on_case30():
    # case30 with linear costs only (cp0 and cp2 dropped): pandapower's DC OPF loads a line to
    # 100 %, so the limits matter. Same objective (currency/h) and the same flow on every line.
    net = pn.case30()
    net.poly_cost[["cp0_eur", "cp2_eur_per_mw2"]] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.rundcopp(net)
    assert net.res_line.loading_percent.max() == pytest.approx(100, abs=1e-4)
    res = optimize(net, series(1), network="dc")  # ext_grid price from poly_cost
    assert res.attrs["status"] == "optimal"
    assert res.attrs["objective"] == pytest.approx(net.res_cost, rel=1e-6)
    lines = [f"line:{i}" for i in net.line.index]
    np.testing.assert_allclose(
        res.branch_p_mw.sel(branch=lines).isel(time=0), net.res_line.p_from_mw, atol=1e-4
    )


def test_angle_and_cycle_flows_agree_on_case30():
    # Kirchhoff's voltage law posed with angles or around cycles: one LP optimum, same flows.
    net = pn.case30()
    net.poly_cost[["cp0_eur", "cp2_eur_per_mw2"]] = 0.0
    angle = optimize(net, series(1), network="dc", dc_flow="angle")
    cycle = optimize(net, series(1), network="dc", dc_flow="cycle")
    assert cycle.attrs["objective"] == pytest.approx(angle.attrs["objective"], rel=1e-9)
    np.testing.assert_allclose(cycle.branch_p_mw, angle.branch_p_mw, atol=1e-6)
    np.testing.assert_allclose(cycle.bus_price_per_mwh, angle.bus_price_per_mwh, atol=1e-6)


def _ciso_intensity_t_per_mwh(shared_data, n: int) -> np.ndarray:
    """The first ``n`` hours of CAISO's 2022 average carbon intensity (gCO2/kWh -> t/MWh)."""
    path = shared_data / "carbon_intensity" / "eia930_CISO_2022_hourly_gen_by_fuel_and_avgCI.csv"
    return pd.read_csv(path, usecols=["avg_CI"], nrows=n)["avg_CI"].to_numpy() / 1000.0


def _triangle(n: int):
    """Three 110 kV buses in a loop: import at 0, a unit at 1, PV and a battery at 2."""
    rng = np.random.default_rng(7)
    load1 = 60 + 20 * np.sin(np.arange(n) / 24 * 2 * np.pi) + rng.uniform(0, 5, n)
    load2 = 40 + 10 * np.cos(np.arange(n) / 24 * 2 * np.pi)
    pv = 50 * np.clip(np.sin((np.arange(n) % 24 - 6) / 12 * np.pi), 0, None)
    price = 40 + 30 * np.sin((np.arange(n) - 8) / 24 * 2 * np.pi)
    net = pp.create_empty_network(sn_mva=100.0)
    b = [pp.create_bus(net, 110.0) for _ in range(3)]
    pp.create_ext_grid(net, b[0])
    for (f, t, km, mva) in ((0, 1, 20, 45.0), (1, 2, 15, 80.0), (0, 2, 30, 60.0)):
        pp.create_line_from_parameters(net, b[f], b[t], km, 0.05, 0.4, 0, line_rating_ka(mva, 110.0))
    pp.create_load(net, b[1], p_mw=0)
    pp.create_load(net, b[2], p_mw=0)
    pp.create_gen(net, b[1], p_mw=0, min_p_mw=0, max_p_mw=80)
    pp.create_poly_cost(net, 0, "gen", cp1_eur_per_mw=45.0)
    pp.create_sgen(net, b[2], p_mw=50)
    pp.create_storage(net, b[2], p_mw=0, max_e_mwh=20, soc_percent=25, max_p_mw=10, min_p_mw=-10)
    profiles = dict(load=np.stack([load1, load2], axis=1), pv=pv, price=price)
    return net, profiles


def test_multi_period_with_storage_matches_pypsa(shared_data):
    # 24 h on a meshed triangle with line limits, a ramp-limited unit (gen 0: 0.2 of 80 MW per
    # hour), PV with curtailment, a lossy battery (η 0.9/0.9, 1 %/h standing loss, starts at 5 MWh,
    # ends free) and a CO2 price on imports at CAISO's measured hourly intensity. PyPSA sees the
    # carbon cost folded into the import's marginal cost; the two objectives must agree.
    # PyPSA lets its initial SOC into the first step without standing loss; gridopt's initial SOC
    # is at the start of the first hour and decays through it, so PyPSA gets 5 · 0.99 MWh.
    pypsa = pytest.importorskip("pypsa", reason="PyPSA is a test extra: pip install 'pypsa<1.4'")
    n = 24
    net, prof = _triangle(n)
    co2 = _ciso_intensity_t_per_mwh(shared_data, n)
    carbon_price = 80.0
    ds = series(
        n,
        prof["price"],
        load_p_mw=(("time", "load"), prof["load"]),
        sgen_p_max_mw=(("time", "sgen"), prof["pv"][:, None]),
        ext_grid_co2_marginal_t_per_mwh=(("time",), co2),
    )
    ds = ds.assign_coords(load=[0, 1], sgen=[0])
    res = optimize(
        net,
        ds,
        network="dc",
        carbon_price_per_t=carbon_price,
        gens={0: GenParams(ramp_up_mw_per_h=16, ramp_down_mw_per_h=16)},
        storage_default=StorageParams(
            charge_efficiency=0.9, discharge_efficiency=0.9, standing_loss_per_h=0.01, terminal="value"
        ),
    )
    assert res.attrs["status"] == "optimal"

    nw = pypsa.Network()
    nw.set_snapshots(hours(n))
    for i in range(3):
        nw.add("Bus", f"b{i}", v_nom=110.0)
    for i, row in net.line.iterrows():
        nw.add(
            "Line", f"l{i}", bus0=f"b{row.from_bus}", bus1=f"b{row.to_bus}",
            x=row.x_ohm_per_km * row.length_km, r=row.r_ohm_per_km * row.length_km,
            s_nom=row.max_i_ka * 110.0 * np.sqrt(3),
        )
    nw.add("Load", "d1", bus="b1", p_set=prof["load"][:, 0])
    nw.add("Load", "d2", bus="b2", p_set=prof["load"][:, 1])
    nw.add("Generator", "import", bus="b0", p_nom=1e5, p_min_pu=-1,
           marginal_cost=pd.Series(prof["price"] + carbon_price * co2, index=nw.snapshots))
    nw.add("Generator", "unit", bus="b1", p_nom=80, marginal_cost=45.0,
           ramp_limit_up=0.2, ramp_limit_down=0.2)
    nw.add("Generator", "pv", bus="b2", p_nom=50, p_max_pu=prof["pv"] / 50, marginal_cost=0.0)
    nw.add("StorageUnit", "battery", bus="b2", p_nom=10, max_hours=2, efficiency_store=0.9,
           efficiency_dispatch=0.9, standing_loss=0.01, state_of_charge_initial=5 * 0.99,
           cyclic_state_of_charge=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status, _ = nw.optimize(solver_name="highs", solver_options={"output_flag": False})
    assert status == "ok"
    assert res.attrs["objective"] == pytest.approx(nw.objective, rel=1e-6)
