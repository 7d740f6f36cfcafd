"""The closed AC loop removes an undervoltage that LinDistFlow does not see."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
import xarray as xr

from gridopt.ac_loop import ac_loop
from gridopt.validate import ac_check, ac_violations


def _feeder_with_battery():
    """case33bw with a 0.93 pu floor and a full battery at bus 17 that can prop the voltage up.

    Storing energy is worth 100 per MWh at the end, so the battery discharges only what the
    voltage floor needs; LinDistFlow ignores losses, so that is slightly too little in AC.
    """
    net = pn.case33bw()
    net.bus.loc[1:, "min_vm_pu"] = 0.93
    pp.create_storage(net, 17, p_mw=0.0, max_e_mwh=4.0, max_p_mw=2.0, min_p_mw=-2.0, soc_percent=100.0)
    times = pd.date_range("2020-01-01", periods=2, freq="1h")
    series = xr.Dataset(
        {
            "ext_grid_price_per_mwh": ("time", [30.0, 30.0]),
            "ext_grid_co2_marginal_t_per_mwh": ("time", [0.5, 0.5]),
            "ext_grid_co2_average_t_per_mwh": ("time", [0.4, 0.4]),
            "load_p_mw": (("time", "load"), np.tile(net.load.p_mw.values, (2, 1))),
            "load_q_mvar": (("time", "load"), np.tile(net.load.q_mvar.values, (2, 1))),
        },
        coords={"time": times, "load": net.load.index.values},
    )
    options = {"storage": {0: {"terminal": "value", "terminal_value_per_mwh": 100.0, "soc_min_mwh": 0.0}}}
    return net, series, options


def test_linear_dispatch_is_feasible_but_ac_shows_undervoltage():
    from gridopt.dispatch import optimize

    net, series, options = _feeder_with_battery()
    results = optimize(net, series, **options)
    assert results.attrs["status"] == "optimal" and results.attrs["network_formulation"] == "lindistflow"
    assert float(results.bus_vm_pu.min()) >= 0.93 - 1e-6
    violations = ac_violations(net, ac_check(net, series, results))
    assert violations and all(v.kind == "undervoltage" for v in violations)


def test_loop_removes_the_undervoltage_in_a_few_iterations():
    net, series, options = _feeder_with_battery()
    results, ac, iterations = ac_loop(net, series, max_iterations=5, **options)
    assert iterations[0].violations > 0 and iterations[-1].violations == 0
    assert len(iterations) <= 3
    assert float(ac.ac_bus_vm_pu.sel(bus=net.bus.index[1:]).min()) >= 0.93
    # Holding the voltage in AC takes more discharge, so the objective can only get worse.
    assert iterations[-1].objective >= iterations[0].objective
    assert net.bus.loc[17, "min_vm_pu"] == 0.93  # the caller's net is untouched
