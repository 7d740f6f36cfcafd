"""LinDistFlow on real distribution feeders, checked against the AC power flow (gridopt.validate).

LinDistFlow leaves out the series losses (I²R, I²X); everything else of pandapower's branch model is
in: transformer taps, line charging, shunts. What remains between its voltages and the AC ones is
the voltage drop of the losses, which grows with the load.
"""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest
import simbench
import xarray as xr
from _dispatch_nets import feeder, series

from gridopt.dispatch import optimize
from gridopt.io.simbench import open_simbench_profiles
from gridopt.validate import ac_check, linear_error


def static_series(net, n: int, sgen_share=None) -> xr.Dataset:
    """``n`` hours of the net's static loads (× scaling) and sgens (× ``sgen_share`` per hour,
    default the net's scaling), at 50/MWh."""
    share = np.broadcast_to(net.sgen.scaling.to_numpy(float), (n, len(net.sgen)))
    if sgen_share is not None:
        share = np.broadcast_to(np.asarray(sgen_share, float)[:, None], (n, len(net.sgen)))
    load = net.load.scaling.to_numpy(float)
    return series(
        n,
        50.0,
        load_p_mw=(("time", "load"), np.tile(net.load.p_mw.to_numpy() * load, (n, 1))),
        load_q_mvar=(("time", "load"), np.tile(net.load.q_mvar.to_numpy() * load, (n, 1))),
        sgen_p_max_mw=(("time", "sgen"), net.sgen.p_mw.to_numpy()[None, :] * share),
    ).assign_coords(load=net.load.index, sgen=net.sgen.index)


def test_case33bw_with_a_slack_bus_fixed_by_its_limits():
    # Regression: bus 0 of case33bw has min_vm_pu = max_vm_pu = 1.0, so its voltage row is an
    # equality, which the hand-off once refused. Baran & Wu (1989): 3.715 MW + 2.3 Mvar of load;
    # the AC flow has 202.7 kW of losses and its lowest voltage, 0.9131 pu, at bus 17 (bus 18
    # counted from 1). LinDistFlow, lossless, imports exactly the load and sits a little higher.
    net = pn.case33bw()
    ds = static_series(net, 3)
    res = optimize(net, ds)
    assert res.attrs["status"] == "optimal"
    np.testing.assert_allclose(res.ext_grid_import_mw, 3.715, atol=1e-9)
    np.testing.assert_allclose(res.bus_vm_pu.sel(bus=0), 1.0, atol=1e-12)
    ac = ac_check(net, ds, res)
    assert float(ac.ac_losses_mw.isel(time=0)) == pytest.approx(0.2027, abs=1e-4)
    assert float(ac.ac_bus_vm_pu.isel(time=0).min()) == pytest.approx(0.9131, abs=1e-4)
    err = linear_error(res, ac)
    assert 0.002 < err["vm_abs_max_pu"] < 0.003
    assert err["vm_abs_max_at"].startswith("bus 17 ")


def test_voltage_rows_without_an_upper_limit():
    # One-sided rows (vm_max_pu = inf): the answer of the hand case in test_dispatch_cases, where
    # the lower limit binds at the feeder end: a local unit covers 1.85 MW.
    net = feeder()
    pp.create_load(net, 2, p_mw=10, q_mvar=2)
    g = pp.create_gen(net, 2, p_mw=0, max_p_mw=20, min_p_mw=0)
    pp.create_poly_cost(net, g, "gen", cp1_eur_per_mw=100)
    res = optimize(net, series(1, 50.0), vm_max_pu=float("inf"))
    assert res.attrs["status"] == "optimal"
    assert float(res.gen_p_mw.sel(gen=g).item()) == pytest.approx(1.85, abs=1e-6)


def test_transformer_tap_raises_the_lv_voltage_by_its_ratio():
    # 110/20 kV, tap on the hv side at -2 of 1.5 %: the hv winding has 0.97 × 110 kV, so at no load
    # the lv bus sits at 1/0.97 = 1.030928 pu; without a tap changer type the tap does not act
    # (pandapower 3). A 1 MW load through x = 12 % on 25 MVA (0.0048 pu on 1 MVA) barely moves it.
    def net_with(changer):
        net = pp.create_empty_network(sn_mva=1.0)
        hv, lv = pp.create_bus(net, 110.0), pp.create_bus(net, 20.0)
        pp.create_ext_grid(net, hv, vm_pu=1.0)
        pp.create_transformer_from_parameters(
            net, hv, lv, sn_mva=25, vn_hv_kv=110, vn_lv_kv=20, vk_percent=12, vkr_percent=0.0,
            pfe_kw=0, i0_percent=0, tap_side="hv", tap_neutral=0, tap_min=-9, tap_max=9,
            tap_step_percent=1.5, tap_pos=-2, tap_changer_type=changer,
        )
        return net

    for changer, expected in (("Ratio", 1 / 0.97), (None, 1.0)):
        res = optimize(net_with(changer), series(1, 50.0), vm_max_pu=1.1)
        assert float(res.bus_vm_pu.sel(bus=1).item()) == pytest.approx(expected, abs=1e-12)


def test_mv_oberrhein_voltages_agree_with_ac():
    # Two 110/20 kV substations with taps at -2 and -3 (1.5 % per step). Hour 0: the net's static
    # state (loads × 0.6, sgens × 0: the heaviest loading); hour 1: every sgen at its rated p_mw.
    # Measured: max |Δvm| 0.0090 pu at hour 0 (the AC flow also has 0.96 MW of losses, 2.6 % of
    # the load, which LinDistFlow leaves out), 0.0015 pu at hour 1.
    net = pn.mv_oberrhein()
    ds = static_series(net, 2, sgen_share=[0.0, 1.0])
    res = optimize(net, ds)
    assert res.attrs["status"] == "optimal", res.attrs["explanation"]
    ac = ac_check(net, ds, res)
    heavy = linear_error(res.isel(time=[0]), ac.isel(time=[0]))
    light = linear_error(res.isel(time=[1]), ac.isel(time=[1]))
    assert heavy["vm_abs_max_pu"] < 0.01 and heavy["vm_abs_mean_pu"] < 0.008
    assert light["vm_abs_max_pu"] < 0.002
    assert 0.9 < heavy["ext_grid_p_mean_mw"] < 1.0  # the losses LinDistFlow does not see


def test_simbench_mv_urban_day_agrees_with_ac():
    # SimBench 1-MV-urban--0-sw with its own profiles, 96 quarter-hours of 6 June 2016; a short
    # cable grid fed at 1.025 pu: measured max |Δvm| 1.8e-4 pu.
    net = simbench.get_simbench_net("1-MV-urban--0-sw")
    ds = open_simbench_profiles(net, start="2016-06-06 00:00", end="2016-06-06 23:45")
    ds["ext_grid_price_per_mwh"] = ("time", np.full(ds.sizes["time"], 50.0))
    res = optimize(net, ds)
    assert res.attrs["status"] == "optimal", res.attrs["explanation"]
    assert res.attrs["network_formulation"] == "lindistflow"
    err = linear_error(res, ac_check(net, ds, res))
    assert err["steps"] == 96
    assert err["vm_abs_max_pu"] < 5e-4
