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
from _dispatch_nets import series, triangle

from gridopt.dispatch import build, optimize
from gridopt.options import GenParams, StorageParams, make_options
from gridopt.solve import solve
from gridopt.testing import pypsa_twin


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


def test_multi_period_with_storage_matches_pypsa(shared_data):
    # 24 h on a meshed triangle with line limits, a ramp-limited unit (gen 0: 16 of 80 MW per
    # hour), PV with curtailment, a lossy battery (η 0.9/0.9, 1 %/h standing loss, starts at 5 MWh,
    # ends free) and a CO2 price on imports at CAISO's measured hourly intensity; PyPSA poses the
    # same dispatch with its own components (gridopt.testing.pypsa_twin). The objectives agree.
    pytest.importorskip("pypsa", reason="PyPSA is a test extra: pip install 'pypsa<1.4'")
    n = 24
    net, ds = triangle(n)
    ds["ext_grid_co2_marginal_t_per_mwh"] = ("time", _ciso_intensity_t_per_mwh(shared_data, n))
    problem = build(
        net,
        ds,
        make_options(
            network="dc",
            carbon_price_per_t=80.0,
            gens={0: GenParams(ramp_up_mw_per_h=16, ramp_down_mw_per_h=16)},
            storage_default=StorageParams(
                charge_efficiency=0.9, discharge_efficiency=0.9, standing_loss_per_h=0.01, terminal="value"
            ),
        ),
    )
    res = solve(problem)
    assert res.attrs["status"] == "optimal"
    twin = pypsa_twin(problem.data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status, _ = twin.optimize(solver_name="highs", solver_options={"output_flag": False})
    assert status == "ok"
    # the twin's import pays price + 80/t × intensity; first hour: 40 + 30 sin(-2π/3) = 14.019 plus
    # 80 × 0.22230 t/MWh (CAISO, 2022-01-01 00:00 UTC: avg_CI 222.296 g/kWh) = 17.784 -> 31.803
    assert twin.generators_t.marginal_cost["ext_grid0"].iloc[0] == pytest.approx(31.803, abs=1e-3)
    assert res.attrs["objective"] == pytest.approx(twin.objective, rel=1e-6)
