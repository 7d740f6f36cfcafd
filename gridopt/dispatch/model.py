"""The dispatch model, assembled component by component (read this file as the table of contents).

``build`` turns a pandapower net, the series and the options into a ``DispatchProblem``: the
arrays (``inputs.prepare``), then the registry of the LP: network flows, load shedding, external
grid, renewables, thermal units, storage, EVs, each in its own Block; the nodal balance last, from
the injections the components registered; the optional CO2 cap; the costs. ``gridopt.solve``
hands the LP to HiGHS and maps the solution back. ``create_model`` builds the same model in Pyomo
(the readable formulation; ``pyomo_model(problem)`` attaches it to a built problem), which
``gridopt.dispatch.lp.from_pyomo`` compiles into the identical LP.

The nodal balance ``balance[t, n]`` (MW) reads ``Σ injections = load``; its dual, divided by
``dt_h``, is the nodal price (currency/MWh; positive means more load costs more).
"""

from __future__ import annotations

from contextlib import contextmanager
from time import perf_counter

import numpy as np
import pyomo.core.base.constraint as _constraint
import pyomo.core.base.objective as _objective
import pyomo.environ as pyo
import xarray as xr
from pyomo.common.gc_manager import PauseGC

from gridopt.dispatch.emissions import define_aq_cap, define_co2_cap
from gridopt.dispatch.ev import define_ev
from gridopt.dispatch.generation import define_ext_grid, define_gen, define_sgen
from gridopt.dispatch.inputs import DispatchData, EvSessions, prepare
from gridopt.dispatch.lp import each_step, quiet_templates
from gridopt.dispatch.network import define_load_shed, define_network
from gridopt.dispatch.objective import define_objective, register_costs
from gridopt.dispatch.parts import DispatchProblem, Parts
from gridopt.dispatch.storage import define_storage
from gridopt.options import DispatchOptions, make_options

__all__ = ["build", "create_model", "pyomo_model", "apply_baseline"]


def build(
    net,
    series: xr.Dataset,
    options: DispatchOptions | None = None,
    ev_sessions: xr.Dataset | None = None,
) -> DispatchProblem:
    """Validate the inputs and register the LP (timed as ``time_build_s``)."""
    start = perf_counter()
    data = prepare(net, series, options or make_options(), ev_sessions)
    _, parts = _define(data, pyomo=False)
    return DispatchProblem(
        data=data,
        columns=parts.columns,
        rows=parts.rows,
        offset=parts.offset,
        timings={"time_build_s": perf_counter() - start},
    )


def create_model(data: DispatchData) -> tuple[pyo.ConcreteModel, Parts]:
    """The Pyomo model of ``data`` and its registry."""
    return _define(data, pyomo=True)


def pyomo_model(problem: DispatchProblem) -> pyo.ConcreteModel:
    """The Pyomo model of a built problem (made on first use): ``problem.model``, whose
    variables and constraints are also reachable as ``problem.columns[name].var`` and
    ``problem.rows[name].con``. It is the problem as built: bounds changed later in HiGHS
    (``set_col_bounds``, ``apply_baseline``) are not carried over."""
    if problem.model is None:
        model, parts = create_model(problem.data)
        for name, block in parts.columns.items():
            problem.columns[name].var = block.var
        for name, block in parts.rows.items():
            problem.rows[name].con = block.con
        problem.model = model
    return problem.model


def _define(data: DispatchData, pyomo: bool) -> tuple[pyo.ConcreteModel, Parts]:
    m = pyo.ConcreteModel("dispatch")
    parts = Parts(data, pyomo=pyomo)
    with _templates(pyomo and data.options.pyomo_templates), quiet_templates(), PauseGC():
        m.T = pyo.RangeSet(0, data.n_time - 1)  # time steps
        m.T1 = pyo.RangeSet(1, data.n_time - 1)  # steps with a predecessor
        m.N = pyo.RangeSet(0, data.network.n_node - 1)  # nodes (buses merged by switches)
        define_network(m, parts)
        define_load_shed(m, parts)
        define_ext_grid(m, parts)
        define_sgen(m, parts)
        define_gen(m, parts)
        define_storage(m, parts)
        if data.ev is not None:
            define_ev(m, parts)
        define_balance(m, parts)
        if data.options.co2_cap_t is not None:
            define_co2_cap(m, parts)
        if data.aq_cap is not None:
            define_aq_cap(m, parts)
        register_costs(parts)
        if pyomo:
            define_objective(m, parts)
    return m, parts


def define_balance(m: pyo.ConcreteModel, parts: Parts) -> None:
    """Kirchhoff's current law per node and step, from the registered injections."""
    data = parts.data
    _balance(m, parts, "balance", parts.injections, data.load_p_mw)
    if data.formulation == "lindistflow":
        _balance(m, parts, "balance_q", parts.q_injections, data.load_q_mvar)


def _balance(m, parts: Parts, name: str, injections, load: np.ndarray) -> None:
    rules = [inj.rule for inj in injections]
    parts.param(m, f"{name}_load", (m.T, m.N), load)
    parts.constraint(
        m,
        name,
        (m.T, m.N),
        lambda m, t, n: sum(inject(m, t, n) for inject in rules) == m.component(f"{name}_load")[t, n],
        terms=[each_step(inj.column, inj.matrix, parts.data.n_time) for inj in injections],
        lower=load,
        upper=load,
    )


def apply_baseline(problem: DispatchProblem) -> None:
    """Turn a handed-off problem into its baseline: uncontrolled EV charging, idle storage.

    EVs draw full power from arrival until their energy is in; batteries neither charge nor
    discharge (their SOC only decays; the cyclic end condition is lifted). Everything else stays
    optimised. Changes the live HiGHS model only.
    """
    data = problem.data
    if len(data.storage):
        zero = np.zeros(problem.columns["storage.charge"].shape)
        problem.set_col_bounds("storage.charge", zero, zero)
        problem.set_col_bounds("storage.discharge", zero, zero)
        if data.storage.cyclic.any():
            problem.set_row_bounds("storage.terminal", -np.inf, np.inf)
    if data.ev is not None:
        if isinstance(data.ev, EvSessions):
            profile = data.ev.uncontrolled_mw(data.dt_h)
        else:
            profile = data.ev.uncontrolled
        problem.set_col_bounds("ev.p", profile, profile)


@contextmanager
def _templates(on: bool):
    """Pyomo's constraint/objective templating for this build only (restored afterwards)."""
    saved = (_constraint.TEMPLATIZE_CONSTRAINTS, _objective.TEMPLATIZE_OBJECTIVES)
    _constraint.TEMPLATIZE_CONSTRAINTS = _objective.TEMPLATIZE_OBJECTIVES = on
    try:
        yield
    finally:
        _constraint.TEMPLATIZE_CONSTRAINTS, _objective.TEMPLATIZE_OBJECTIVES = saved
