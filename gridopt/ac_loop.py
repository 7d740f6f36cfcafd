"""The closed AC feasibility loop: optimize, check with an AC power flow, tighten, re-solve.

The linear network models are lossless (LinDistFlow overestimates voltages at the end of a
loaded feeder; DC ignores reactive power and losses), so a dispatch feasible in the linear model
can violate limits in AC. Each iteration runs the AC check of :mod:`gridopt.validate` against the
*original* limits; where it finds a violation, the linear model's limit on that element is
tightened by the observed amount plus a margin, on a private copy of the net:

- undervoltage at bus b by d pu: ``min_vm_pu[b] += d + margin_pu`` (overvoltage: ``max_vm_pu -=``);
- overload of a branch at L % of its limit M: ``max_loading_percent *= M / L × (1 - margin)``.

It stops when AC shows no violation or after ``max_iterations`` solves. Tightening is for the
whole horizon (the bounds are static), which is conservative in hours without violations.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter

import numpy as np
import xarray as xr

__all__ = ["Iteration", "ac_loop"]


@dataclass(frozen=True)
class Iteration:
    """One solve of the loop: what AC found, the objective and the time it took (s)."""

    number: int
    violations: int
    worst: str
    objective: float
    time_s: float


def ac_loop(
    net,
    series: xr.Dataset,
    ev_sessions: xr.Dataset | None = None,
    *,
    max_iterations: int = 5,
    margin_pu: float = 0.002,
    margin_loading: float = 0.01,
    progress: Callable[[Iteration], None] | None = None,
    **options,
) -> tuple[xr.Dataset, xr.Dataset, list[Iteration]]:
    """Results and AC check of the last iteration, and the record of every iteration."""
    from gridopt.dispatch import optimize
    from gridopt.validate import ac_check, ac_violations

    work = _with_explicit_limits(net, options)
    iterations: list[Iteration] = []
    for number in range(1, max_iterations + 1):
        start = perf_counter()
        results = optimize(work, series, ev_sessions, **options)
        if results.attrs.get("status") in ("time_limit", "error"):
            return results, xr.Dataset(), iterations
        ac = ac_check(net, series, results)
        violations = ac_violations(net, ac)
        worst = max(violations, key=lambda v: v.amount, default=None)
        iteration = Iteration(number, len(violations), _describe(worst), float(results.attrs["objective"]),
                              perf_counter() - start)
        iterations.append(iteration)
        if progress:
            progress(iteration)
        if not violations:
            break
        _tighten(work, violations, margin_pu, margin_loading)
    return results, ac, iterations


def _with_explicit_limits(net, options: dict):
    """A copy of ``net`` whose buses carry voltage limits and branches loading limits."""
    work = copy.deepcopy(net)
    for column, default in (("min_vm_pu", options.get("vm_min_pu", 0.95)),
                            ("max_vm_pu", options.get("vm_max_pu", 1.05))):
        values = work.bus[column] if column in work.bus else np.nan
        work.bus[column] = np.where(np.isnan(np.asarray(values, dtype=float)), default, values)
    for table in (work.line, work.trafo):
        if "max_loading_percent" not in table:
            table["max_loading_percent"] = 100.0
        table["max_loading_percent"] = table["max_loading_percent"].fillna(100.0)
    return work


def _tighten(work, violations, margin_pu: float, margin_loading: float) -> None:
    """Move each violated element's linear limit inward by its worst violation plus a margin."""
    from gridopt.validate import ViolationKind

    worst: dict[tuple[ViolationKind, str], float] = {}
    for v in violations:
        # Voltages: the largest deficit (pu). Overloads: the smallest limit/value ratio.
        size = v.amount if v.kind is not ViolationKind.OVERLOAD else -v.limit / v.value
        worst[(v.kind, v.element)] = max(worst.get((v.kind, v.element), -np.inf), size)
    for (kind, element), size in worst.items():
        table, index = element.split(":")
        idx = int(index)
        if kind is ViolationKind.UNDERVOLTAGE:
            work.bus.loc[idx, "min_vm_pu"] += size + margin_pu
        elif kind is ViolationKind.OVERVOLTAGE:
            work.bus.loc[idx, "max_vm_pu"] -= size + margin_pu
        else:
            getattr(work, table).loc[idx, "max_loading_percent"] *= -size * (1 - margin_loading)


def _describe(violation) -> str:
    if violation is None:
        return ""
    return f"{violation.kind} at {violation.element} by {violation.amount:.4g} {violation.unit}"
