"""HiGHS: hand-off, solve, status, explanation of slacks, and the results dataset.

Hand-off: the LP is assembled from the registry's coefficient arrays (``gridopt.dispatch.lp``)
and goes to ``highspy.Highs.passModel``; ``hand_off(problem, via="pyomo")`` compiles the Pyomo
model instead, into the same layout. Columns and rows map back to the blocks by position.

Solve: with ``options.lazy_slacks`` (default) HiGHS first solves with the per-step slacks held at
zero; that optimum stands when no held slack would pay, and otherwise HiGHS continues from its
basis with them released (``_run_with_slacks_held``).

Status: ``Status`` is what a run reports; ``TERMINATION`` maps each raw HiGHS model status and
Pyomo termination condition to it, once. A solved run whose slacks (load shedding, unmet EV energy,
thermal or voltage violation) exceed ``options.slack_tolerance`` is ``infeasible_as_posed``, and
``attrs["explanation"]`` says where, when and by how much, one line per finding.
"""

from __future__ import annotations

import enum
from time import perf_counter

import highspy
import numpy as np
import pandas as pd
import xarray as xr

import gridopt
from gridopt.dispatch.emissions import POLLUTANTS, SOURCES, aq_cap_lines, emissions_t, grid_co2_t
from gridopt.dispatch.inputs import DispatchData, EvSessions
from gridopt.dispatch.lp import LinearProgram, assemble, from_pyomo
from gridopt.dispatch.model import pyomo_model
from gridopt.dispatch.network import THERMAL_SLACKS
from gridopt.dispatch.objective import TERMS, constant_terms, cost_terms
from gridopt.dispatch.parts import DispatchProblem
from gridopt.errors import ConfigError, SolverError

__all__ = ["Status", "TERMINATION", "status_of", "hand_off", "to_highs", "slack_blocks", "solve", "run_highs", "read_solution", "extract",
           "results_dataset", "explain", "ev_session_finding", "MAX_EXPLANATION_LINES"]

MAX_EXPLANATION_LINES = 50


class Status(enum.StrEnum):
    """Outcome of a dispatch run (``results.attrs["status"]``)."""

    OPTIMAL = "optimal"
    INFEASIBLE_AS_POSED = "infeasible_as_posed"  # solved, but only by using slack
    TIME_LIMIT = "time_limit"  # stopped at a limit (time or iterations): see attrs["incumbent"]
    ERROR = "error"


# Raw termination conditions -> Status: HiGHS model statuses (highspy.HighsModelStatus names),
# Pyomo's legacy TerminationCondition and its newer contrib.solver TerminationCondition values.
TERMINATION: dict[str, Status] = {
    "kOptimal": Status.OPTIMAL,
    "kModelEmpty": Status.OPTIMAL,
    "kTimeLimit": Status.TIME_LIMIT,
    "kIterationLimit": Status.TIME_LIMIT,  # a limit the user set through highs_options
    "kInfeasible": Status.ERROR,  # cannot happen with the slacks: a modelling error
    "kUnbounded": Status.ERROR,
    "kUnboundedOrInfeasible": Status.ERROR,
    "kSolveError": Status.ERROR,
    "kModelError": Status.ERROR,
    "kInterrupt": Status.ERROR,
    "kMemoryLimit": Status.ERROR,
    "kUnknown": Status.ERROR,
    "optimal": Status.OPTIMAL,
    "convergenceCriteriaSatisfied": Status.OPTIMAL,
    "maxTimeLimit": Status.TIME_LIMIT,
    "maxIterations": Status.TIME_LIMIT,
    "iterationLimit": Status.TIME_LIMIT,
    "infeasible": Status.ERROR,
    "provenInfeasible": Status.ERROR,
    "unbounded": Status.ERROR,
    "infeasibleOrUnbounded": Status.ERROR,
    "error": Status.ERROR,
}


def status_of(raw: str) -> Status:
    """The Status of a raw solver termination string (unknown strings are errors)."""
    return TERMINATION.get(raw, Status.ERROR)


# ---------------------------------------------------------------- hand-off


def hand_off(problem: DispatchProblem, via: str = "direct") -> None:
    """Load the problem's LP into a new ``highspy.Highs`` (timed as ``time_handoff_s``).

    ``via="direct"`` assembles it from the registry's coefficient arrays; ``via="pyomo"`` builds
    the Pyomo model and compiles it with Pyomo's standard-form compiler (the same LP, slower).
    """
    start = perf_counter()
    if via == "direct":
        lp = assemble(problem)
    elif via == "pyomo":
        lp = from_pyomo(pyomo_model(problem), problem)
    else:
        raise ConfigError(f"hand_off: via must be 'direct' or 'pyomo' (got {via!r})")
    problem.highs = to_highs(lp)
    problem.n_rows, problem.n_cols = lp.shape
    problem.held, problem.solution = {}, None  # of any earlier hand-off
    blocks = {name: problem.columns[name] for name in slack_blocks(problem)}
    problem.entries = {name: lp.matrix[:, b.start : b.start + b.size].T.tocsr() for name, b in blocks.items()}
    problem.timings["time_handoff_s"] = perf_counter() - start


def to_highs(lp: LinearProgram):
    """A new quiet ``highspy.Highs`` holding ``lp`` (``passModel``, column-wise)."""
    n_row, n_col = lp.shape
    matrix = lp.matrix
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    status = highs.passModel(
        n_col,
        n_row,
        matrix.nnz,
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        lp.offset,
        lp.cost,
        lp.col_lower,
        lp.col_upper,
        lp.row_lower,
        lp.row_upper,
        matrix.indptr[:-1].astype(np.int32),  # column starts
        matrix.indices.astype(np.int32),
        matrix.data.astype(float),
        np.zeros(n_col, dtype=np.int32),  # all continuous
    )
    if status != highspy.HighsStatus.kOk:
        raise SolverError(f"HiGHS refused the model ({status})")
    return highs


# ---------------------------------------------------------------- solve


def solve(problem: DispatchProblem) -> xr.Dataset:
    """Solve the problem with HiGHS and return the results dataset (see ``extract``)."""
    if problem.highs is None:
        hand_off(problem)
    raw = run_highs(problem)
    status = status_of(raw)
    if status is Status.TIME_LIMIT and _has_feasible_point(problem.highs):
        return _timed_extract(problem, incumbent=raw)
    if status is not Status.OPTIMAL:
        return _unsolved(problem, status, raw)
    return _timed_extract(problem)


def _has_feasible_point(highs) -> bool:
    """Whether HiGHS holds a primal feasible (not necessarily optimal) solution."""
    feasible = int(highspy.SolutionStatus.kSolutionStatusFeasible)
    return int(highs.getInfo().primal_solution_status) == feasible


def _timed_extract(problem: DispatchProblem, incumbent: str | None = None) -> xr.Dataset:
    start = perf_counter()
    results = extract(problem) if incumbent is None else _incumbent(problem, incumbent)
    problem.timings["time_extract_s"] = perf_counter() - start
    results.attrs.update({k: float(v) for k, v in problem.timings.items()})
    return results


def _incumbent(problem: DispatchProblem, raw: str) -> xr.Dataset:
    """The results of the feasible point HiGHS held when it stopped at a limit (``raw``).

    Its status stays ``time_limit`` and ``attrs["incumbent"]`` says it is feasible but not proven
    optimal. Nodal prices are dropped: duals of a non-optimal basis are not prices.
    """
    results = extract(problem).drop_vars("bus_price_per_mwh")
    slack_lines = results.attrs["explanation"]
    results.attrs["status"] = str(Status.TIME_LIMIT)
    results.attrs["incumbent"] = "feasible, not proven optimal"
    results.attrs["explanation"] = "\n".join(filter(None, [
        f"HiGHS stopped at its limit ({raw}) with a feasible solution that is not proven optimal "
        f"(objective {results.attrs['objective']:.6g}); nodal prices are not reported",
        slack_lines,
    ]))
    return results


def _run_with_slacks_held(problem: DispatchProblem) -> bool:
    """Run HiGHS with the per-step slack columns held at zero; whether that run answers the full
    LP (nothing to hold, or an optimum that stands). If not, the slacks are released and HiGHS's
    next run starts from the held basis.

    Held: the blocks priced as "slack" in the objective that have a time axis (load shedding,
    thermal and voltage violation; ``problem.entries``, found at the hand-off): they make up most
    of the LP's columns. Unmet EV energy stays
    free: a handful of columns, each relaxing a whole horizon of rows, whose reduced cost in the
    held solution is often negative through dual degeneracy alone (on the anchor at T=720 that
    cost 13,000 simplex iterations to repair, for the same optimum).

    The held optimum is the full LP's when no held slack pays: its basis stays primal feasible
    with the slacks released (they sit at a bound) and dual feasible when each held column's
    reduced cost is >= 0 (HiGHS's dual feasibility tolerance), which is LP optimality; the run
    that would follow does no iteration. Held slacks stay held (``DispatchProblem.hold``), so a
    rolling horizon changes their bounds in HiGHS only after a window that needed them. The held
    LP is much smaller after presolve (benchmarks/README.md).
    """
    problem.hold(list(problem.entries))  # the slack blocks, found at the hand-off
    problem.highs.run()
    if not problem.held or _optimal_when_released(problem):
        return True
    problem.release()
    return False


def slack_blocks(problem: DispatchProblem) -> list[str]:
    """The (time, element) column blocks priced as "slack", not empty."""
    slack = [name for name, terms in cost_terms(problem.data).items() if "slack" in terms]
    return [name for name in slack if name in problem.columns
            and problem.columns[name].size and len(problem.columns[name].shape) == 2]


def _optimal_when_released(problem: DispatchProblem) -> bool:
    """Whether HiGHS's optimum with ``problem.held`` held stays optimal with them released: no
    held column's reduced cost improves the objective by moving it off its held value within its
    own bounds (to HiGHS's dual feasibility tolerance). Reduced costs as HiGHS's ``col_dual``:
    cost minus the column's entries times the row duals (read anyway for the prices)."""
    highs = problem.highs
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return False
    _, tol = highs.getOptionValue("dual_feasibility_tolerance")  # (status, value)
    _, duals = read_solution(problem)
    for name, held in problem.held.items():
        block = problem.columns[name]
        d = block.cost - problem.entries[name] @ duals
        if np.any((d < -tol) & (held < block.ub)) or np.any((d > tol) & (held > block.lb)):
            return False
    return True


def read_solution(problem: DispatchProblem) -> tuple[np.ndarray, np.ndarray]:
    """HiGHS's column values and row duals after the last run (kept in ``problem.solution``:
    copying them out of HiGHS costs about 1 ms per 50,000 entries)."""
    if problem.solution is None:
        solution = problem.highs.getSolution()
        problem.solution = tuple(np.fromiter(v, float, len(v)) for v in (solution.col_value, solution.row_dual))
    return problem.solution


def _set_options(highs, options) -> None:
    if options.threads is not None:
        highs.setOptionValue("threads", int(options.threads))
    for name, value in options.highs_options.items():
        if highs.setOptionValue(name, value) != highspy.HighsStatus.kOk:
            raise SolverError(f"options: highs_options {name!r} is not a valid HiGHS option (got {value!r})")


def _unsolved(problem: DispatchProblem, status: Status, raw: str) -> xr.Dataset:
    data = problem.data
    ds = xr.Dataset(coords={"time": data.time})
    ds.attrs.update(_run_attrs(problem, status))
    ds.attrs["explanation"] = f"HiGHS stopped without a solution: {raw}"
    ds.attrs.update({k: float(v) for k, v in problem.timings.items()})
    return ds


def _run_attrs(problem: DispatchProblem, status: Status) -> dict:
    return _data_attrs(problem.data, f"highs {problem.highs.version()}", status)


def _data_attrs(data: DispatchData, solver: str, status: Status) -> dict:
    formulation = data.formulation
    if formulation == "dc":
        formulation = f"dc ({data.options.dc_flow})"
    return {
        "status": str(status),
        "solver": solver,
        "network_formulation": formulation,
        "gridopt_version": gridopt.__version__,
        "time_step_h": data.dt_h,
    }


def run_highs(problem: DispatchProblem) -> str:
    """Run HiGHS on a handed-off problem (``solve`` without the results): with
    ``options.lazy_slacks``, first with the slacks held (``_run_with_slacks_held``), then, unless
    that optimum stands, in full. Returns the raw model status (``status_of`` maps it); times the
    run(s) as ``time_solve_s``. For callers that read only part of the solution
    (``gridopt.horizon``)."""
    highs = problem.highs
    options = problem.data.options
    _set_options(highs, options)
    before = highs.getRunTime()  # HiGHS's run clock, and its time limit, run on over runs of one object
    problem.solution = None
    if options.time_limit_s is not None:  # one limit for both runs
        highs.setOptionValue("time_limit", before + float(options.time_limit_s))
    if not (options.lazy_slacks and _run_with_slacks_held(problem)):
        problem.release()  # held by an earlier run with lazy slacks
        problem.solution = None
        highs.run()
    problem.timings["time_solve_s"] = highs.getRunTime() - before
    return highs.getModelStatus().name


# ---------------------------------------------------------------- extraction


def extract(problem: DispatchProblem) -> xr.Dataset:
    """The results dataset of a solved problem (decisions, prices, emissions, attrs)."""
    data = problem.data
    x, duals = read_solution(problem)
    values = {name: block.values(x) for name, block in problem.columns.items()}
    balance = problem.rows["balance"]
    nodal = duals[balance.start : balance.start + balance.size].reshape(balance.shape) / data.dt_h
    ds = results_dataset(data, values, nodal, f"highs {problem.highs.version()}")
    ds.attrs["objective"] = float(problem.highs.getInfo().objective_function_value)
    return ds


def results_dataset(
    data: DispatchData, values: dict[str, np.ndarray], nodal_price_per_mwh: np.ndarray, solver: str,
    ev_findings: list[tuple[float, str]] | None = None,
) -> xr.Dataset:
    """The results dataset of decisions ``values`` (column block name → array of its shape) and
    nodal prices (time × node, currency/MWh): decisions, prices, emissions, CF attrs, status
    (infeasible_as_posed when a slack is in use), explanation and cost breakdown; no objective.
    ``ev_findings`` replaces the explanation's EV lines (see ``explain``)."""
    ds = _decisions(data, values)
    ds["bus_price_per_mwh"] = (("time", "bus"), nodal_price_per_mwh[:, data.network.node_of_bus])
    ds.update(_emissions(data, values))
    ds = ds.assign_coords(pollutant=list(POLLUTANTS), source=list(SOURCES))
    for name, attrs in VARIABLE_ATTRS.items():
        if name in ds:
            ds[name].attrs.update(attrs)
    lines = explain(data, values, ev_findings)
    status = Status.INFEASIBLE_AS_POSED if lines else Status.OPTIMAL
    ds.attrs.update(_data_attrs(data, solver, status))
    ds.attrs["explanation"] = "\n".join(lines)
    ds.attrs.update(_cost_breakdown(data, values))
    ds.attrs["title"] = "gridopt dispatch results"
    return ds


def _decisions(data: DispatchData, v: dict[str, np.ndarray]) -> xr.Dataset:
    net = data.network
    coords = {
        "time": data.time,
        "bus": net.bus,
        "branch": net.branch.astype(str),
        "gen": data.gen.index,
        "sgen": data.sgen.index,
        "storage": data.storage.index,
        "ext_grid": data.ext_grid.index,
    }
    shed = np.zeros((data.n_time, len(net.bus)))
    first = pd.Index(net.bus).get_indexer(net.node_bus)  # each node's shed at its first bus
    shed[:, first] = v["shed.p"]
    ds = xr.Dataset(
        {
            "gen_p_mw": (("time", "gen"), v["gen.p"]),
            "sgen_p_mw": (("time", "sgen"), v["sgen.p"]),
            "sgen_curtailment_mw": (("time", "sgen"), np.maximum(data.sgen.p_avail_mw - v["sgen.p"], 0.0)),
            "storage_charge_mw": (("time", "storage"), v["storage.charge"]),
            "storage_discharge_mw": (("time", "storage"), v["storage.discharge"]),
            "storage_soc_mwh": (("time", "storage"), v["storage.soc"]),
            "ext_grid_import_mw": (("time", "ext_grid"), v["ext_grid.p"]),
            "branch_p_mw": (("time", "branch"), v["flow.p"]),
            "load_shed_mw": (("time", "bus"), shed),
        },
        coords=coords,
    )
    if data.formulation == "lindistflow":
        ds["branch_q_mvar"] = (("time", "branch"), v["flow.q"])
        ds["bus_vm_pu"] = (("time", "bus"), np.sqrt(np.maximum(v["flow.w"], 0.0))[:, net.node_of_bus])
    if data.ev is not None:
        ds.update(_ev_results(data, v))
    return ds


def _ev_results(data: DispatchData, v: dict[str, np.ndarray]) -> xr.Dataset:
    ev = data.ev
    if isinstance(ev, EvSessions):
        return xr.Dataset(
            {
                "ev_p_mw": (("time", "session"), v["ev.p"]),
                "ev_unmet_mwh": (("session",), v["ev.unmet"]),
                "ev_bus": (("session",), ev.bus),
            },
            coords={"session": ev.index},
        )
    return xr.Dataset(
        {
            "ev_p_mw": (("time", "ev_bus"), v["ev.p"]),
            "ev_unmet_mwh": (("ev_bus",), v["ev.unmet"] + ev.shortfall_mwh),
            "ev_sessions": (("ev_bus",), ev.n_sessions),
        },
        coords={"ev_bus": ev.index},
    )


def _emissions(data: DispatchData, v: dict[str, np.ndarray]) -> dict:
    ext = v["ext_grid.p"]
    return {
        "emissions_t": (("time", "pollutant", "source"), emissions_t(data, v["gen.p"], ext)),
        "grid_co2_marginal_t": (("time",), grid_co2_t(data, ext, data.co2_marginal_t_per_mwh)),
        "grid_co2_average_t": (("time",), grid_co2_t(data, ext, data.co2_average_t_per_mwh)),
    }


def _cost_breakdown(data: DispatchData, v: dict[str, np.ndarray]) -> dict[str, float]:
    out = dict.fromkeys(TERMS, 0.0)
    for name, terms in cost_terms(data).items():
        if name not in v:
            continue
        for term, coef in terms.items():
            out[term] += float((np.broadcast_to(coef, v[name].shape) * v[name]).sum())
    for term, value in constant_terms(data).items():
        out[term] += value
    return {f"cost_{k}": val for k, val in out.items()}


# ---------------------------------------------------------------- explanation


def _when(time: pd.Timestamp) -> str:
    return f"{pd.Timestamp(time):%Y-%m-%d %H:%M} UTC"


def explain(data: DispatchData, v: dict[str, np.ndarray],
            ev_findings: list[tuple[float, str]] | None = None) -> list[str]:
    """One line per slack in use beyond the tolerance, in grid terms; worst first per kind.
    ``ev_findings``: (MWh, line) pairs of unserved EV energy found by the caller instead of from
    ``data.ev`` (a rolling horizon names sessions where its stitched run holds buses)."""
    tol = data.options.slack_tolerance
    net = data.network
    found: list[tuple[float, str]] = []
    for t, n in np.argwhere(v["shed.p"] > tol):
        found.append((v["shed.p"][t, n], f"{net.node_label[n]} sheds {v['shed.p'][t, n]:.3f} MW of load at {_when(data.time[t])}"))
    found += _ev_lines(data, v, tol) if ev_findings is None else ev_findings
    # DC: MW beyond ±S. LinDistFlow: the L1 length of the (P, Q) shift into the rating's polygon,
    # at least the apparent power's excess over S (gridopt.dispatch.network)
    over = sum(v[f"flow.{name}"] for name in THERMAL_SLACKS if f"flow.{name}" in v)
    limited = np.flatnonzero(np.isfinite(net.rating_mva))
    unit = "MVA" if data.formulation == "lindistflow" else "MW"
    for t, k in np.argwhere(over > tol):
        label = net.branch_label[limited[k]]
        found.append((over[t, k], f"{label} over its rating by {over[t, k]:.3f} {unit} at {_when(data.time[t])}"))
    if data.formulation == "lindistflow":
        found += _voltage_lines(data, v, tol)
    found += aq_cap_lines(data, v)
    found.sort(key=lambda item: -item[0])
    lines = [text for _, text in found]
    if len(lines) > MAX_EXPLANATION_LINES:
        rest = len(lines) - MAX_EXPLANATION_LINES
        lines = lines[:MAX_EXPLANATION_LINES] + [f"... and {rest} more"]
    return lines


def _ev_lines(data: DispatchData, v: dict[str, np.ndarray], tol: float) -> list[tuple[float, str]]:
    ev = data.ev
    if ev is None:
        return []
    end = data.time[-1] + pd.Timedelta(hours=data.dt_h)
    if isinstance(ev, EvSessions):
        return [ev_session_finding(ev.label[s], v["ev.unmet"][s], ev.departure[s], end)
                for s in np.flatnonzero(v["ev.unmet"] > tol)]
    short = v["ev.unmet"] + ev.shortfall_mwh
    return [(short[k], f"{ev.label[k]} ({ev.n_sessions[k]} sessions) is short {short[k]:.3f} MWh by {_when(end)}")
            for k in np.flatnonzero(short > tol)]


def ev_session_finding(label: str, short_mwh: float, departure, end) -> tuple[float, str]:
    """(MWh, line) for an EV session short ``short_mwh`` when it leaves at ``departure``, or at
    ``end`` (the horizon's end, exclusive) if it is still plugged in then."""
    departure = pd.Timestamp(departure)
    due = min(departure, pd.Timestamp(end))
    when = "at departure" if departure <= due else "by the end of the horizon"
    return short_mwh, f"{label} is short {short_mwh:.3f} MWh {when} {_when(due)}"


def _voltage_lines(data: DispatchData, v: dict[str, np.ndarray], tol: float) -> list[tuple[float, str]]:
    net = data.network
    vm = np.sqrt(np.maximum(v["flow.w"], 0.0))
    out = []
    for t, n in np.argwhere(v["flow.v_hi"] > tol):
        by = vm[t, n] - net.vm_max_pu[n]
        out.append((by, f"{net.node_label[n]} above its voltage limit {net.vm_max_pu[n]:.3f} pu by {by:.4f} pu at {_when(data.time[t])}"))
    for t, n in np.argwhere(v["flow.v_lo"] > tol):
        by = net.vm_min_pu[n] - vm[t, n]
        out.append((by, f"{net.node_label[n]} below its voltage limit {net.vm_min_pu[n]:.3f} pu by {by:.4f} pu at {_when(data.time[t])}"))
    return out


def _cf(units: str, long_name: str) -> dict[str, str]:
    return {"units": units, "long_name": long_name}


VARIABLE_ATTRS: dict[str, dict[str, str]] = {
    "gen_p_mw": _cf("MW", "thermal unit output"),
    "sgen_p_mw": _cf("MW", "renewable output"),
    "sgen_curtailment_mw": _cf("MW", "renewable curtailment (availability minus output)"),
    "storage_charge_mw": _cf("MW", "battery charging power at the grid connection"),
    "storage_discharge_mw": _cf("MW", "battery discharging power at the grid connection"),
    "storage_soc_mwh": _cf("MWh", "battery state of charge at the end of the step"),
    "ext_grid_import_mw": _cf("MW", "net import from the upstream grid (negative: export)"),
    "branch_p_mw": _cf("MW", "active power flow from from_bus/hv_bus to to_bus/lv_bus"),
    "branch_q_mvar": _cf("Mvar", "reactive power flow from from_bus/hv_bus to to_bus/lv_bus"),
    "load_shed_mw": _cf("MW", "load shed (slack)"),
    "bus_vm_pu": _cf("1", "bus voltage magnitude (LinDistFlow)"),
    "bus_price_per_mwh": _cf("currency/MWh", "nodal price: marginal cost of one more MWh of load"),
    "ev_p_mw": _cf("MW", "EV charging power (negative: V2G discharge)"),
    "ev_unmet_mwh": _cf("MWh", "requested EV energy not delivered by departure (slack)"),
    "ev_bus": _cf("1", "pandapower bus of the EV session"),
    "ev_sessions": _cf("1", "number of sessions in the aggregate"),
    "emissions_t": _cf("t", "emissions per step by pollutant and source"),
    "grid_co2_marginal_t": _cf("t", "CO2 of the net grid import at the marginal intensity"),
    "grid_co2_average_t": _cf("t", "CO2 of the net grid import at the average intensity"),
}
