"""Solver limits: a run stopped at a limit keeps HiGHS's feasible point, reported as such.

HiGHS's primal simplex without presolve walks through feasible points once its phase 1 is done,
so an iteration limit (deterministic, unlike a time limit) just past phase 1 leaves a feasible,
not optimal, dispatch. The time limit goes through the same path (``Status.TIME_LIMIT``).
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandapower as pp
import pytest
from _dispatch_nets import series, two_buses

from gridopt.cli import main
from gridopt.config import load_model
from gridopt.dispatch import optimize
from gridopt.options import StorageParams
from gridopt.scenario import build_scenario
from gridopt.store import Store

PRIMAL_NO_PRESOLVE = {"simplex_strategy": 4, "presolve": "off"}
ETA = 0.9


def arbitrage(limit: int | None):
    """A 20 MW load behind a battery (10 MW, 10 MWh, η 0.9 both ways, cyclic from 5 MWh) over six
    hours priced 10, 50, 10, 50, 10, 50 /MWh; stopped after ``limit`` simplex iterations."""
    net = two_buses()
    pp.create_load(net, 1, p_mw=20)
    pp.create_storage(net, 1, p_mw=0, max_e_mwh=10, soc_percent=50, max_p_mw=10, min_p_mw=-10)
    options = {} if limit is None else {**PRIMAL_NO_PRESOLVE, "simplex_iteration_limit": limit}
    return optimize(net, series(6, [10.0, 50.0] * 3), network="dc", lazy_slacks=False,
                    storage_default=StorageParams(charge_efficiency=ETA, discharge_efficiency=ETA),
                    highs_options=options)


def first_incumbent(solve, limits=range(200)):
    """The first iteration limit at which ``solve(limit)`` stops with a feasible point."""
    for limit in limits:
        res = solve(limit)
        if "incumbent" in res.attrs:
            return limit, res
    pytest.fail("HiGHS never stopped at its limit with a feasible point")


def test_an_incumbent_is_feasible_costs_more_than_the_optimum_and_says_so():
    optimum = arbitrage(None)
    # Hand check: fill to 10 MWh in hour 0 (5/0.9 MW), empty in hour 1 (9 MW out), fill at the 10-MW
    # limit to 9 MWh in hours 2 and 4, empty in hour 3 (8.1 MW) and down to the cyclic 5 MWh in hour 5
    # (3.6 MW), against 20 MW a hour bought at 10, 50, 10, 50, 10, 50.
    by_hand = 3 * (20 * 10 + 20 * 50) + 5 / ETA * 10 - 9 * 50 + 10 * 10 - 8.1 * 50 + 10 * 10 - 3.6 * 50
    assert optimum.attrs["objective"] == pytest.approx(by_hand, rel=1e-9)
    limit, res = first_incumbent(arbitrage)
    assert res.attrs["status"] == "time_limit"
    assert res.attrs["incumbent"] == "feasible, not proven optimal"
    assert res.attrs["explanation"].startswith("HiGHS stopped at its limit (kIterationLimit) with a feasible")
    assert res.attrs["objective"] >= optimum.attrs["objective"] - 1e-6
    assert "bus_price_per_mwh" not in res  # duals of a non-optimal basis are not prices
    # Feasible: the SOC follows the storage equation from 5 MWh, within its bounds ...
    charge = res.storage_charge_mw.values.ravel()
    discharge = res.storage_discharge_mw.values.ravel()
    soc = res.storage_soc_mwh.values.ravel()
    np.testing.assert_allclose(soc, 5 + np.cumsum(ETA * charge - discharge / ETA), atol=1e-6)
    assert soc.min() >= -1e-6 and soc.max() <= 10 + 1e-6
    # ... and the bus balances: import + discharge + shed = 20 MW load + charge.
    served = res.ext_grid_import_mw.values.ravel() + discharge + res.load_shed_mw.values.sum(axis=1)
    np.testing.assert_allclose(served, 20 + charge, atol=1e-6)
    assert arbitrage(limit + 200).attrs["status"] == "optimal"  # given the iterations, it finishes


MODEL = """
name = "limits"
[network]
source = "pandapower:case9"
[time]
start = "2016-06-06T00:00:00Z"
hours = 24
[series.carbon]
loader = "simbench_carbon"
[[assets.battery]]
name = "b5"
bus = 4
p_mw = 20
e_mwh = 40
[solver]
highs_options = {{ simplex_strategy = 4, presolve = "off", simplex_iteration_limit = {limit} }}
"""


def test_gridopt_run_stores_the_incumbent_and_exits_4(tmp_path, capsys):
    def model(limit):
        path = tmp_path / "limits.toml"
        path.write_text(textwrap.dedent(MODEL.format(limit=limit)))
        return path

    def solve(limit):
        scenario = build_scenario(load_model(model(limit)))
        return optimize(scenario.net, scenario.series, scenario.ev_sessions, **scenario.options.model_dump())

    limit, expected = first_incumbent(solve, range(0, 400, 5))
    store = tmp_path / "runs"
    code = main(["--store", str(store), "run", str(model(limit)), "--no-ac"])
    printed = capsys.readouterr()
    assert code == 4, printed.err
    assert "status time_limit (feasible, not proven optimal); stored as run" in printed.out
    (record,) = Store(store).list()
    assert record.status == "time_limit"
    assert record.objective == pytest.approx(expected.attrs["objective"], rel=1e-9)


def test_a_limit_without_a_feasible_point_stores_nothing(tmp_path, capsys):
    path = tmp_path / "limits.toml"
    path.write_text(textwrap.dedent(MODEL.format(limit=0)))
    store = tmp_path / "runs"
    code = main(["--store", str(store), "run", str(path), "--no-ac"])
    last_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 4
    assert last_line == (f"gridopt: error: {path}: dispatch stopped at the solver iteration limit without a "
                         "usable solution (raise [solver] highs_options; HiGHS stopped without a solution: "
                         "kIterationLimit)")
    assert Store(store).list() == []
