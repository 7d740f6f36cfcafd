"""The dispatch optimizer: a Pyomo LP of network flows, renewables, thermal units, storage and EVs.

    problem = build(net, series, options, ev_sessions)   # arrays + the LP's registry
    results = gridopt.solve.solve(problem)               # HiGHS, status, explanation, xr.Dataset
    model = pyomo_model(problem)                         # the same LP as a Pyomo model, on request
    results = optimize(net, series, ev_sessions, carbon_price_per_t=80)   # both at once

Modules: ``inputs`` (net + series → arrays), ``network`` (flows), ``generation`` (ext_grid, sgen,
gen), ``storage``, ``ev``, ``emissions``, ``objective``, ``model`` (the assembly), ``parts`` (the
registry of blocks and the ``DispatchProblem``), ``lp`` (the LP as sparse arrays, from the registry
or compiled from Pyomo).
"""

from __future__ import annotations

import xarray as xr

from gridopt.dispatch.model import apply_baseline, build, create_model, pyomo_model
from gridopt.dispatch.parts import DispatchProblem
from gridopt.options import DispatchOptions, GenParams, StorageParams, make_options

__all__ = [
    "build",
    "create_model",
    "pyomo_model",
    "optimize",
    "baseline_dispatch",
    "DispatchProblem",
    "DispatchOptions",
    "GenParams",
    "StorageParams",
]


def optimize(net, series: xr.Dataset, ev_sessions: xr.Dataset | None = None, **options) -> xr.Dataset:
    """Build and solve one dispatch; ``options`` are ``DispatchOptions`` fields."""
    from gridopt.solve import solve  # gridopt.solve imports this package

    return solve(build(net, series, make_options(**options), ev_sessions))


def baseline_dispatch(
    net, series: xr.Dataset, ev_sessions: xr.Dataset | None = None, **options
) -> xr.Dataset:
    """The same scenario with uncontrolled EV charging and idle storage (see ``apply_baseline``)."""
    from gridopt.solve import hand_off, solve

    problem = build(net, series, make_options(**options), ev_sessions)
    hand_off(problem)
    apply_baseline(problem)
    results = solve(problem)
    results.attrs["scenario"] = "baseline"
    return results
