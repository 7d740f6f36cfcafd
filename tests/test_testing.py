"""gridopt.testing.assert_results_close: passes on the same meaning, names the first difference."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pytest
from _dispatch_nets import series, two_buses

from gridopt.dispatch import optimize
from gridopt.testing import assert_results_close


@pytest.fixture(scope="module")
def run():
    # 2 hours at 10 and 50 /MWh, a 20 MW load and a 10 MW unit at 30 /MWh: it runs in hour 1 only.
    net = two_buses()
    pp.create_load(net, 1, p_mw=20)
    g = pp.create_gen(net, 1, p_mw=0, max_p_mw=10, min_p_mw=0)
    pp.create_poly_cost(net, g, "gen", cp1_eur_per_mw=30)
    return optimize(net, series(2, [10.0, 50.0]), network="dc")


def test_the_same_results_in_another_layout_pass(run):
    np.testing.assert_allclose(run.gen_p_mw.values.ravel(), [0, 10])  # the case, by hand
    reordered = run.isel(time=[1, 0]).transpose(*reversed(list(run.dims)))
    reordered.attrs = {**run.attrs, "time_solve_s": 99.0}  # timings are not compared
    assert_results_close(reordered, run)


def test_a_changed_value_is_named_with_its_coordinates(run):
    changed = run.copy(deep=True)
    changed["gen_p_mw"][1, 0] = 9.5
    with pytest.raises(AssertionError, match=r"gen_p_mw: 1 of 2 values differ; first at time=2024-01-01T01:00:00.*, "
                                             r"gen=0: 9.5 != 10.0"):
        assert_results_close(changed, run)


def test_status_objective_and_key_figures_are_compared(run):
    other = run.copy()
    other.attrs = {**run.attrs, "status": "infeasible_as_posed"}
    with pytest.raises(AssertionError, match="status: 'infeasible_as_posed' != 'optimal'"):
        assert_results_close(other, run)
    other.attrs = {**run.attrs, "objective": run.attrs["objective"] * (1 + 1e-3)}
    with pytest.raises(AssertionError, match="objective: "):
        assert_results_close(other, run)
    assert_results_close(other, run, rtol=1e-2)


def test_named_variables_must_exist_and_share_coordinates(run):
    with pytest.raises(AssertionError, match="nonsense_mw: not in actual"):
        assert_results_close(run, run, variables=["nonsense_mw"])
    shifted = run.assign_coords(gen=[7])
    with pytest.raises(AssertionError, match="gen_p_mw: coordinates along 'gen' differ"):
        assert_results_close(shifted, run, variables=["gen_p_mw"])
