"""AC check of a dispatch: every step of the optimizer's decisions through a full AC power flow.

The optimizer plans on a linear network model (DC flow or LinDistFlow). ``ac_check`` applies its
decisions to a copy of the pandapower net, step by step, and solves the AC power flow the way
pandapower's ``runpp`` does (Newton-Raphson, 10 iterations, 1e-8 tolerance, external grids as
slack, generators voltage-controlled at their ``vm_pu``, no reactive limits). ``ac_violations``
lists the voltage and thermal limits the AC state breaks; ``linear_error`` says how far the
linear model was from it.

What each step applies (MW/MVAr; a load consumes, everything else injects):

- loads: ``load_p_mw`` / ``load_q_mvar`` of the series (absolute demand: the net's ``scaling``
  is not applied to them). ``load_shed_mw`` at a bus reduces that bus's loads in proportion to
  their P, and their Q by the same factor.
- static generators: ``sgen_p_mw`` of the results (after curtailment); Q stays the net's
  ``q_mvar`` × ``scaling``.
- storage: ``storage_discharge_mw`` − ``storage_charge_mw`` is injected; Q stays the net's.
- EV charging: ``ev_bus_p_mw`` (or the optimizer's ``ev_p_mw`` per session or per ``ev_bus``,
  summed by bus) is an extra load at its bus, at unity power factor (Q = 0).
- generators: ``gen_p_mw`` is the active setpoint; the voltage is held at the net's ``vm_pu``.
- external grids: slack. Their P is an output (``ac_ext_grid_p_mw``, positive = import into
  the grid), to compare with the dispatch's ``ext_grid_import_mw``: the difference is mostly
  the losses the linear model did not see.

Backends. ``"lightsim2grid"`` solves all steps in one C++ batch (``InjectionSweepCPP``: each
step starts from the same DC-flow voltages, so a step that fails does not spoil the next).
lightsim2grid's pandapower converter ignores switches, so the net is first reduced the way
pandapower reduces it internally: buses joined by closed bus-bus switches are fused, a branch
end behind an open switch (or at an out-of-service line bus) moves to an auxiliary bus of its
own, and each part of the grid fed by its own external grid becomes its own network. pandapower
3 ignores ``tap_pos`` of transformers whose ``tap_changer_type`` is empty; so does the
reduction. Transformer impedances are computed here as pandapower does (lightsim2grid 1.2's
converter drops ``i0_percent`` when ``pfe_kw`` is set). ``"pandapower"`` runs ``pp.runpp`` per
step (two orders of magnitude slower). ``"auto"`` uses lightsim2grid when the net allows it and
its answer for the first converged step equals ``runpp``'s (|Δvm| ≤ 1e-6 pu, |Δva| ≤ 1e-4°,
branch flows and external grid P within 1e-4 MVA); otherwise it uses pandapower and says why in the
``ac_backend_note`` attribute.

Branches are the net's lines and two-winding transformers, labelled ``"line:17"``,
``"trafo:0"`` (three-winding transformers are not reported). NaN in an output means "not
solved": a bus or branch out of service or not fed by any external grid, or a step whose power
flow did not converge (``ac_converged`` False, ``ac_failure`` says why).
"""

from __future__ import annotations

import copy
import enum
import functools
import importlib.util
import time as _time
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pandapower as pp
import scipy.sparse as sp
import xarray as xr
from pandapower.auxiliary import pandapowerNet
from scipy.sparse.csgraph import connected_components

from gridopt.errors import ConfigError, DataError, NetworkError
from gridopt.io.series import Rule, series_attrs

__all__ = [
    "BACKENDS",
    "Violation",
    "ViolationKind",
    "ac_check",
    "ac_violations",
    "violation_lines",
    "linear_error",
]

BACKENDS = ("auto", "lightsim2grid", "pandapower")
MAX_ITERATION = 10  # pandapower's default for Newton-Raphson
TOLERANCE_PU = 1e-8  # largest power mismatch at convergence, pu of net.sn_mva (runpp's default)
# How close lightsim2grid must come to runpp on the checked step for "auto" to keep it.
_AGREE_VM_PU, _AGREE_VA_DEGREE, _AGREE_S_MVA = 1e-6, 1e-4, 1e-4
_SHED_TOL_MW = 1e-6  # shedding may exceed a bus's load by this much (solver round-off)
_DEFAULT_VM_MIN_PU, _DEFAULT_VM_MAX_PU, _DEFAULT_LOADING_PERCENT = 0.95, 1.05, 100.0
_VIOLATION_NOISE = 1e-9  # pu or %: a value on its limit up to round-off is no violation
_BRANCH_TABLES = ("line", "trafo")
# pandapower elements the reduction for lightsim2grid does not carry over.
_LIGHTSIM_UNSUPPORTED = ("trafo3w", "impedance", "ward", "xward", "motor", "asymmetric_load",
                         "asymmetric_sgen", "dcline", "svc", "tcsc", "ssc", "vsc")
_NUMBA = importlib.util.find_spec("numba") is not None


# --------------------------------------------------------------------------- public API


def ac_check(net: pandapowerNet, series: xr.Dataset, results: xr.Dataset, *,
             backend: str = "auto") -> xr.Dataset:
    """AC power flow of every step of ``results`` (see the module docstring for what is applied).

    ``series`` holds ``load_p_mw`` / ``load_q_mvar`` (time, load) at least at the times of
    ``results``. ``net`` is never modified. Returns a dataset on (time, bus, branch, ext_grid):
    ``ac_bus_vm_pu``, ``ac_bus_va_degree``, ``ac_branch_loading_percent`` (the larger of both
    ends' currents over the rating, as pandapower computes it), ``ac_branch_p_from_mw`` (P
    entering at the from/hv end), ``ac_losses_mw`` (line and transformer losses),
    ``ac_ext_grid_p_mw``, ``ac_converged`` and ``ac_failure``; attrs ``ac_backend``,
    ``ac_backend_note``, ``ac_time_s``. A step that does not converge is recorded, not raised.

    Raises DataError when a variable or element is missing, a value is NaN, or shedding
    exceeds a bus's load; ConfigError for an unknown ``backend``; NetworkError when
    ``backend="lightsim2grid"`` is asked of a net it cannot represent.
    """
    started = _time.perf_counter()
    if backend not in BACKENDS:
        raise ConfigError(f"ac_check: backend must be one of {BACKENDS} (got {backend!r})")
    setpoints = _setpoints(net, series, results)
    flows, used, note = _solve(net, setpoints, backend)
    ds = _dataset(net, setpoints.time, flows)
    ds.attrs.update(ac_backend=used, ac_backend_note=note, ac_time_s=_time.perf_counter() - started,
                    ac_max_iteration=MAX_ITERATION, ac_tolerance_pu=TOLERANCE_PU)
    return ds


class ViolationKind(enum.StrEnum):
    UNDERVOLTAGE = "undervoltage"
    OVERVOLTAGE = "overvoltage"
    OVERLOAD = "overload"


@dataclass(frozen=True)
class Violation:
    """One limit broken at one step. ``value``, ``limit`` and ``amount`` (how far beyond the
    limit, > 0) are in pu for voltages and % of rating for overloads."""

    kind: ViolationKind
    element: str  # "bus:12", "line:17", "trafo:0"
    name: str  # the element's pandapower name ("" when it has none)
    time: pd.Timestamp  # UTC
    value: float
    limit: float
    amount: float

    @property
    def unit(self) -> str:
        return "%" if self.kind is ViolationKind.OVERLOAD else "pu"


def ac_violations(net: pandapowerNet, ac: xr.Dataset, *, vm_min_pu: float | None = None,
                  vm_max_pu: float | None = None) -> list[Violation]:
    """Voltage and loading limits broken in ``ac`` (the output of ``ac_check``), by time.

    Voltage limits: ``vm_min_pu`` / ``vm_max_pu`` when given, else the bus's ``min_vm_pu`` /
    ``max_vm_pu``, else 0.95 / 1.05 pu. Loading limit: the branch's ``max_loading_percent``,
    else 100 %. Steps that did not converge have no values and so no violations.
    """
    bus = net.bus.loc[ac.indexes["bus"]]
    vm = ac["ac_bus_vm_pu"].transpose("time", "bus").values
    low = _limit(bus, "min_vm_pu", vm_min_pu, _DEFAULT_VM_MIN_PU)
    high = _limit(bus, "max_vm_pu", vm_max_pu, _DEFAULT_VM_MAX_PU)
    bus_labels = [f"bus:{b}" for b in bus.index]
    loading = ac["ac_branch_loading_percent"].transpose("time", "branch").values
    branches = [str(b) for b in ac.indexes["branch"].values]
    rating = np.array([_branch_rating(net, label) for label in branches])
    times = ac.indexes["time"]
    found = (_beyond(ViolationKind.UNDERVOLTAGE, low - vm, vm, low, bus_labels, times)
             + _beyond(ViolationKind.OVERVOLTAGE, vm - high, vm, high, bus_labels, times)
             + _beyond(ViolationKind.OVERLOAD, loading - rating, loading, rating, branches, times))
    named = [replace(v, name=_element_name(net, v.element)) for v in found]
    return sorted(named, key=lambda v: (v.time, v.kind, *_element_key(v.element)))


def violation_lines(violations: list[Violation]) -> list[str]:
    """One readable line per violation, e.g. ``bus 12 (MV1.101 Bus 12) undervoltage 0.938 pu
    < 0.95 at 2016-06-06 18:00 UTC, by 0.012 pu``."""
    return [_violation_line(v) for v in violations]


def linear_error(results: xr.Dataset, ac: xr.Dataset) -> dict[str, float | int | str]:
    """How far the linear model of ``results`` was from the AC state ``ac``, over converged steps.

    Keys present when ``results`` has what they compare: ``vm_abs_max_pu``, ``vm_abs_mean_pu``,
    ``vm_abs_max_at`` (from ``bus_vm_pu``, LinDistFlow); ``p_abs_max_mw``, ``p_abs_mean_mw``,
    ``p_abs_max_at`` (from ``branch_p_mw``: P at the from end); ``ext_grid_p_abs_max_mw`` and
    ``ext_grid_p_mean_mw`` (from ``ext_grid_import_mw``: AC import minus dispatched import,
    the mean signed, positive when the AC flow needs more import, i.e. unmodelled losses).
    ``steps`` is the number of converged steps compared.
    """
    ok = ac["ac_converged"]
    summary: dict[str, float | int | str] = {"steps": int(ok.sum())}
    pairs = (("bus_vm_pu", "ac_bus_vm_pu", "vm", "pu"),
             ("branch_p_mw", "ac_branch_p_from_mw", "p", "mw"))
    for linear, exact, key, unit in pairs:
        if linear in results:
            summary.update(_abs_error(results[linear], ac[exact].where(ok), key, unit))
    if "ext_grid_import_mw" in results:
        lin, acp = xr.align(results["ext_grid_import_mw"], ac["ac_ext_grid_p_mw"].where(ok))
        diff = acp - lin
        summary["ext_grid_p_abs_max_mw"] = float(abs(diff).max())
        summary["ext_grid_p_mean_mw"] = float(diff.sum("ext_grid", min_count=1).mean())
    return summary


# --------------------------------------------------------------------------- setpoints


@dataclass(frozen=True)
class _Setpoints:
    """What the dispatch asks of every element at every step, in the net's table order.

    Arrays are (time, element) and cover every row of the table (0 for rows out of service).
    """

    time: pd.DatetimeIndex
    load_p_mw: np.ndarray  # consumption after shedding
    load_q_mvar: np.ndarray
    sgen_p_mw: np.ndarray  # injection
    storage_p_mw: np.ndarray  # pandapower sign: positive = charging
    ev_p_mw: np.ndarray  # (time, bus) consumption
    gen_p_mw: np.ndarray  # injection
    sgen_q_mvar: np.ndarray  # (sgen,) constant injection
    storage_q_mvar: np.ndarray  # (storage,) constant, load sign

    def take(self, steps: list[int]) -> _Setpoints:
        """The same setpoints restricted to the given step positions."""
        per_step = ("load_p_mw", "load_q_mvar", "sgen_p_mw", "storage_p_mw", "ev_p_mw", "gen_p_mw")
        rows = {k: getattr(self, k)[steps] for k in per_step}
        return replace(self, time=self.time[steps], **rows)


def _setpoints(net: pandapowerNet, series: xr.Dataset, results: xr.Dataset) -> _Setpoints:
    if "time" not in results.indexes:
        raise DataError("ac_check: results must have a 'time' coordinate")
    times = pd.DatetimeIndex(results.indexes["time"])
    series = _at_times(series, times)

    def read(ds, name, table, *, where, required=True):
        return _matrix(ds, name, table, net[table], times, where=where, required=required)

    load_p = read(series, "load_p_mw", "load", where="series")
    load_q = read(series, "load_q_mvar", "load", where="series")
    shed = _bus_matrix(results, "load_shed_mw", net, times)
    factor = _kept_share(net, load_p, shed, times)
    charge = read(results, "storage_charge_mw", "storage", where="results")
    discharge = read(results, "storage_discharge_mw", "storage", where="results")
    return _Setpoints(
        time=times,
        load_p_mw=load_p * factor,
        load_q_mvar=load_q * factor,
        sgen_p_mw=read(results, "sgen_p_mw", "sgen", where="results"),
        storage_p_mw=charge - discharge,
        ev_p_mw=_bus_matrix(_ev_by_bus(results), "ev_bus_p_mw", net, times),
        gen_p_mw=read(results, "gen_p_mw", "gen", where="results"),
        sgen_q_mvar=_scaled(net.sgen, "q_mvar"),
        storage_q_mvar=_scaled(net.storage, "q_mvar"),
    )


def _at_times(series: xr.Dataset, times: pd.DatetimeIndex) -> xr.Dataset:
    have = series.indexes.get("time")
    missing = times if have is None else times.difference(have)
    if len(missing):
        raise DataError(f"ac_check: series has no step at {missing[0]} UTC (results has it)")
    return series.sel(time=times)


def _matrix(ds: xr.Dataset, name: str, table: str, frame: pd.DataFrame, times: pd.DatetimeIndex,
            *, where: str, required: bool) -> np.ndarray:
    """``ds[name]`` as a (time, row) array in ``frame`` order; all in-service rows must be in it."""
    out = np.zeros((len(times), len(frame)))
    live = frame.index[frame["in_service"].to_numpy(bool)]
    if name not in ds:
        if required and len(live):
            raise DataError(f"ac_check: {where} has no variable '{name}' "
                            f"(the net has {len(live)} {table} in service, e.g. {table} {live[0]})")
        return out
    var = _element_var(ds, name, table, frame, where)
    absent = live.difference(pd.Index(var.indexes[table]))
    if len(absent):
        raise DataError(
            f"ac_check: {where} '{name}' has no {table} {absent[0]} (in service in the net)")
    values = var.sel({table: live}).values
    _check_finite(values, name, table, live, times, where)
    out[:, frame.index.get_indexer(live)] = values
    return out


def _bus_matrix(ds: xr.Dataset, name: str, net: pandapowerNet,
                times: pd.DatetimeIndex) -> np.ndarray:
    """Optional ``ds[name](time, bus)`` as a (time, bus) array in net.bus order, 0 where absent."""
    out = np.zeros((len(times), len(net.bus)))
    if name not in ds:
        return out
    var = _element_var(ds, name, "bus", net.bus, "results")
    buses = pd.Index(var.indexes["bus"])
    _check_finite(var.values, name, "bus", buses, times, "results")
    out[:, net.bus.index.get_indexer(buses)] = var.values
    return out


def _ev_by_bus(results: xr.Dataset) -> xr.Dataset:
    """EV charging as ``ev_bus_p_mw(time, bus)``: taken as is, or summed from the optimizer's
    ``ev_p_mw`` per session (placed by ``ev_bus(session)``) or per ``ev_bus``. Empty when the
    results have no EV charging."""
    if "ev_bus_p_mw" in results or "ev_p_mw" not in results:
        return results
    ev = results["ev_p_mw"]
    if "session" in ev.dims:
        if "ev_bus" not in results:
            raise DataError("ac_check: results 'ev_p_mw' per session needs 'ev_bus(session)'")
        ev = ev.groupby(results["ev_bus"]).sum()
    if set(ev.dims) != {"time", "ev_bus"}:
        raise DataError(f"ac_check: results 'ev_p_mw' must have dims (time, session) or "
                        f"(time, ev_bus) (got {ev.dims})")
    return xr.Dataset({"ev_bus_p_mw": ev.rename(ev_bus="bus")})


def _element_var(ds: xr.Dataset, name: str, dim: str, frame: pd.DataFrame,
                 where: str) -> xr.DataArray:
    var = ds[name]
    if set(var.dims) != {"time", dim}:
        raise DataError(f"ac_check: {where} '{name}' must have dims (time, {dim}) (got {var.dims})")
    unknown = pd.Index(var.indexes[dim]).difference(frame.index)
    if len(unknown):
        raise DataError(
            f"ac_check: {where} '{name}' names {dim} {unknown[0]}, which the net has not")
    return var.transpose("time", dim)


def _check_finite(values: np.ndarray, name: str, dim: str, labels, times, where: str) -> None:
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        t, k = bad[0]
        raise DataError(f"ac_check: {where} '{name}' must be finite (got {values[t, k]} "
                        f"for {dim} {labels[k]} at {times[t]} UTC)")


def _kept_share(net: pandapowerNet, load_p: np.ndarray, shed: np.ndarray,
                times: pd.DatetimeIndex) -> np.ndarray:
    """(time, load) share of each load left after shedding; a bus's loads share its shedding
    in proportion to their P."""
    live = net.load["in_service"].to_numpy(bool)
    at_bus = _incidence(net.bus.index, net.load["bus"], live)
    bus_load = load_p @ at_bus
    over = shed - np.maximum(bus_load, 0.0) > _SHED_TOL_MW
    under = shed < -_SHED_TOL_MW
    if over.any() or under.any():
        t, b = np.argwhere(over | under)[0]
        raise DataError(
            f"ac_check: results 'load_shed_mw' at bus {net.bus.index[b]}, {times[t]} UTC must lie "
            f"in [0, {bus_load[t, b]:.6g}] MW, the bus's load (got {shed[t, b]:.6g})")
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(bus_load > 0, 1.0 - shed / bus_load, 1.0)
    return np.asarray(at_bus @ np.clip(share, 0.0, 1.0).T).T


def _incidence(buses: pd.Index, element_bus: pd.Series, live: np.ndarray) -> sp.csr_matrix:
    """(element, bus) 0/1 matrix placing each in-service element at its bus."""
    rows = np.flatnonzero(live)
    cols = buses.get_indexer(element_bus.to_numpy()[rows])
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(element_bus), len(buses)))


def _scaled(frame: pd.DataFrame, column: str) -> np.ndarray:
    scaling = frame["scaling"].fillna(1.0).to_numpy(float) if "scaling" in frame else 1.0
    return frame[column].fillna(0.0).to_numpy(float) * scaling


# --------------------------------------------------------------------------- solving


@dataclass
class _Flows:
    """AC results of every step in net order; NaN where not solved."""

    vm_pu: np.ndarray  # (time, bus)
    va_degree: np.ndarray  # (time, bus)
    s_from_mva: np.ndarray  # (time, branch) complex power entering at the from/hv end
    s_to_mva: np.ndarray  # (time, branch) ... at the to/lv end
    v_from_kv: np.ndarray  # (time, branch) voltage magnitude at the from/hv end
    v_to_kv: np.ndarray
    ext_grid_p_mw: np.ndarray  # (time, ext_grid) injection into the grid
    converged: np.ndarray  # (time,)
    failure: np.ndarray  # (time,) str

    @classmethod
    def empty(cls, net: pandapowerNet, steps: int) -> _Flows:
        n_bus, n_branch = len(net.bus), len(net.line) + len(net.trafo)

        def nan(n, dtype=float):
            return np.full((steps, n), np.nan, dtype=dtype)

        return cls(nan(n_bus), nan(n_bus), nan(n_branch, complex), nan(n_branch, complex),
                   nan(n_branch), nan(n_branch), nan(len(net.ext_grid)),
                   np.zeros(steps, bool), np.full(steps, "", dtype=object))

    def fail(self, step: int, reason: str) -> None:
        for arr in (self.vm_pu, self.va_degree, self.s_from_mva, self.s_to_mva, self.v_from_kv,
                    self.v_to_kv, self.ext_grid_p_mw):
            arr[step] = np.nan
        self.converged[step] = False
        self.failure[step] = reason


class _Unsupported(Exception):
    """The net has something the lightsim2grid reduction does not represent; says what."""


def _solve(net: pandapowerNet, setpoints: _Setpoints, backend: str) -> tuple[_Flows, str, str]:
    """The flows, the backend that produced them, and a note on the choice."""
    if backend == "pandapower":
        return _pandapower_flows(net, setpoints), "pandapower", "asked for by the caller"
    try:
        flows = _lightsim_flows(net, setpoints)
    except _Unsupported as exc:
        if backend == "lightsim2grid":
            raise NetworkError(
                f"network '{net.name}': lightsim2grid cannot solve it ({exc})") from None
        return _pandapower_flows(net, setpoints), "pandapower", f"lightsim2grid not used: {exc}"
    if backend == "lightsim2grid":
        return flows, "lightsim2grid", "asked for by the caller"
    disagreement, note = _compare_with_runpp(net, setpoints, flows)
    if disagreement:
        return _pandapower_flows(net, setpoints), "pandapower", f"lightsim2grid not used: {note}"
    return flows, "lightsim2grid", note


def _compare_with_runpp(net: pandapowerNet, setpoints: _Setpoints,
                        flows: _Flows) -> tuple[bool, str]:
    """Whether lightsim2grid disagrees with runpp on its first converged step, and a note."""
    done = np.flatnonzero(flows.converged)
    if not len(done):
        return True, "it converged at no step, so it could not be checked against runpp"
    step = int(done[0])
    ref = _pandapower_flows(net, setpoints.take([step]))
    if not ref.converged[0]:
        return True, f"runpp did not converge at {setpoints.time[step]} where lightsim2grid did"
    gaps = {
        "vm": (_gap(flows.vm_pu[step], ref.vm_pu[0]), _AGREE_VM_PU, "pu"),
        "va": (_gap(flows.va_degree[step], ref.va_degree[0]), _AGREE_VA_DEGREE, "degree"),
        "s": (max(_gap(flows.s_from_mva[step], ref.s_from_mva[0]),
                  _gap(flows.s_to_mva[step], ref.s_to_mva[0]),
                  _gap(flows.ext_grid_p_mw[step], ref.ext_grid_p_mw[0])), _AGREE_S_MVA, "MVA"),
    }
    text = ", ".join(f"max |Δ{k}| {g:.1e} {u}" for k, (g, _, u) in gaps.items())
    verdict = any(g > tol for g, tol, _ in gaps.values())
    return verdict, f"runpp at {setpoints.time[step]} UTC gives {text}"


def _gap(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |a - b|; infinite when one is NaN where the other is not."""
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return np.inf
    both = ~np.isnan(a)
    return float(np.abs(a[both] - b[both]).max(initial=0.0))


# --------------------------------------------------------------------------- pandapower


def _pandapower_flows(net: pandapowerNet, setpoints: _Setpoints) -> _Flows:
    """``pp.runpp`` step by step on a copy of ``net`` carrying the setpoints."""
    work, ev_buses = _pandapower_copy(net, setpoints)
    flows = _Flows.empty(net, len(setpoints.time))
    for step in range(len(setpoints.time)):
        _apply_step(work, setpoints, step, ev_buses)
        try:
            pp.runpp(work, numba=_NUMBA)
        except pp.LoadflowNotConverged as exc:
            flows.fail(step, f"pandapower: {exc}")
            continue
        _read_pandapower(work, net, flows, step)
    return flows


def _pandapower_copy(net: pandapowerNet, setpoints: _Setpoints) -> tuple[pandapowerNet, np.ndarray]:
    """A copy with absolute setpoints (scaling 1), constant Q in place, and one EV load per bus
    that charges at some step (appended after the net's loads); returns it and those buses'
    positions."""
    work = copy.deepcopy(net)
    for table in ("load", "sgen", "storage", "gen"):
        work[table]["scaling"] = 1.0
    work.sgen["q_mvar"] = setpoints.sgen_q_mvar
    work.storage["q_mvar"] = setpoints.storage_q_mvar
    ev_buses = np.flatnonzero((setpoints.ev_p_mw != 0).any(axis=0))
    if len(ev_buses):
        pp.create_loads(work, buses=net.bus.index[ev_buses], p_mw=0.0, q_mvar=0.0,
                        name="EV charging")
    return work, ev_buses


def _apply_step(work: pandapowerNet, setpoints: _Setpoints, step: int,
                ev_buses: np.ndarray) -> None:
    ev = setpoints.ev_p_mw[step, ev_buses]
    work.load["p_mw"] = np.concatenate([setpoints.load_p_mw[step], ev])
    work.load["q_mvar"] = np.concatenate([setpoints.load_q_mvar[step], np.zeros(len(ev_buses))])
    work.sgen["p_mw"] = setpoints.sgen_p_mw[step]
    work.storage["p_mw"] = setpoints.storage_p_mw[step]
    work.gen["p_mw"] = setpoints.gen_p_mw[step]


def _read_pandapower(work: pandapowerNet, net: pandapowerNet, flows: _Flows, step: int) -> None:
    flows.vm_pu[step] = work.res_bus["vm_pu"].reindex(net.bus.index).to_numpy()
    flows.va_degree[step] = work.res_bus["va_degree"].reindex(net.bus.index).to_numpy()
    vn_kv = net.bus["vn_kv"]
    parts = {"from": [], "to": [], "vf": [], "vt": []}
    for table, (f, t) in (("line", ("from", "to")), ("trafo", ("hv", "lv"))):
        res, frame = work[f"res_{table}"].reindex(net[table].index), net[table]
        parts["from"].append(res[f"p_{f}_mw"].to_numpy() + 1j * res[f"q_{f}_mvar"].to_numpy())
        parts["to"].append(res[f"p_{t}_mw"].to_numpy() + 1j * res[f"q_{t}_mvar"].to_numpy())
        first, second = _END_COLUMN[table]
        parts["vf"].append(res[f"vm_{f}_pu"].to_numpy() * vn_kv.loc[frame[first]].to_numpy())
        parts["vt"].append(res[f"vm_{t}_pu"].to_numpy() * vn_kv.loc[frame[second]].to_numpy())
    v_from, v_to = np.concatenate(parts["vf"]), np.concatenate(parts["vt"])
    solved = _branch_in_service(net) & ~np.isnan(v_from) & ~np.isnan(v_to)  # as lightsim2grid's
    flows.s_from_mva[step] = np.where(solved, np.concatenate(parts["from"]), np.nan)
    flows.s_to_mva[step] = np.where(solved, np.concatenate(parts["to"]), np.nan)
    flows.v_from_kv[step] = np.where(solved, v_from, np.nan)
    flows.v_to_kv[step] = np.where(solved, v_to, np.nan)
    flows.ext_grid_p_mw[step] = work.res_ext_grid["p_mw"].reindex(net.ext_grid.index).to_numpy()
    flows.converged[step] = True


_END_COLUMN = {"line": ("from_bus", "to_bus"), "trafo": ("hv_bus", "lv_bus")}


# --------------------------------------------------------------------------- lightsim2grid


@dataclass(frozen=True)
class _Zone:
    """One part of the grid fed by one external grid, as a lightsim2grid network.

    Its buses are numbered 0..n-1; ``bus_of[k]`` is the flow-net bus of zone bus k (a fused
    representative or an auxiliary bus). It has one load per bus carrying the bus's net demand.
    """

    grid: object  # lightsim2grid LSGrid
    buses: pd.Index  # flow-net bus ids, in zone order
    vn_kv: np.ndarray  # (zone bus,)
    lines: pd.Index  # net.line rows, in lightsim order
    line_ends: np.ndarray  # (line, 2) zone bus of the from and to end
    trafos: pd.Index
    trafo_ends: np.ndarray
    gens: pd.Index  # net.gen rows; the slack generator follows them
    ext_grid: int  # net.ext_grid row
    ext_bus: int  # its zone bus
    va_degree: float  # the external grid's angle
    v_init: np.ndarray  # complex start voltages (DC power flow)


@dataclass(frozen=True)
class _Reduced:
    """The net the way pandapower solves it: fused buses, open branch ends on auxiliary buses."""

    rep: pd.Series  # net bus -> flow-net bus
    vn_kv: pd.Series  # flow-net bus -> kV
    line: pd.DataFrame  # in-service rows, bus columns in flow-net buses
    trafo: pd.DataFrame
    live_buses: pd.Index  # flow-net buses in service (representatives and auxiliary)


def _lightsim_flows(net: pandapowerNet, setpoints: _Setpoints) -> _Flows:
    zones, rep = _zones(net)
    demand_p, demand_q = _bus_demand(net, setpoints)
    flows = _Flows.empty(net, len(setpoints.time))
    flows.converged[:] = True
    failures = {}
    for zone in zones:
        failures |= _solve_zone(net, zone, rep, demand_p, demand_q, setpoints, flows)
    for step, reason in failures.items():  # after every zone has written its part
        flows.fail(step, reason)
    return flows


def _zones(net: pandapowerNet) -> tuple[list[_Zone], pd.Series]:
    """One lightsim2grid network per part of the grid fed by an external grid, and the map
    net bus -> flow-net bus."""
    try:
        from lightsim2grid.network import init_from_pandapower
    except ImportError:
        raise _Unsupported("lightsim2grid is not installed") from None
    _check_supported(net)
    reduced = _reduce(net)
    labels = _components(reduced)
    ext = net.ext_grid[net.ext_grid["in_service"].to_numpy(bool)]
    ext = ext[net.bus.loc[ext["bus"], "in_service"].to_numpy(bool)]
    ext_zone = labels.loc[reduced.rep.loc[ext["bus"]]].to_numpy()
    counts = pd.Series(ext_zone).value_counts()
    if (counts > 1).any():
        raise _Unsupported(f"{counts.max()} external grids feed one connected part of the grid")
    zones = [_zone(net, reduced, labels, label, ext_row, init_from_pandapower)
             for label, ext_row in zip(ext_zone, ext.index)]
    return zones, reduced.rep


def _check_supported(net: pandapowerNet) -> None:
    for table in _LIGHTSIM_UNSUPPORTED:
        if table in net and len(net[table]) and net[table].get("in_service", pd.Series(True)).any():
            raise _Unsupported(f"the net has a {table} in service")
    zip_columns = [c for c in net.load.columns if c.startswith(("const_z", "const_i"))]
    live = net.load[net.load["in_service"].to_numpy(bool)]
    if zip_columns and live[zip_columns].fillna(0.0).to_numpy().any():
        raise _Unsupported("voltage-dependent (constant Z or I) loads")
    for table in ("line", "trafo", "gen", "shunt"):
        if "parallel" in net[table] and (net[table]["parallel"] != 1).any():
            raise _Unsupported(f"a {table} with parallel != 1")
    gen = net.gen[net.gen["in_service"].to_numpy(bool)]
    if "slack" in gen and gen["slack"].fillna(False).astype(bool).any():
        raise _Unsupported("a generator is a slack")
    rep = _fused_buses(net)
    if set(rep.loc[gen["bus"]]) & set(rep.loc[net.ext_grid["bus"]]):
        raise _Unsupported("a generator stands at an external grid's bus")
    if "tap2_pos" in net.trafo and net.trafo["tap2_pos"].notna().any():
        raise _Unsupported("a transformer with a second tap changer")


def _fused_buses(net: pandapowerNet) -> pd.Series:
    """Bus -> representative bus: buses joined by closed bus-bus switches without impedance are
    one node for pandapower; the smallest index represents them."""
    sw = net.switch
    closed = sw[(sw["et"] == "b") & sw["closed"].astype(bool)]
    if (closed["z_ohm"].fillna(0.0) > 0).any():
        raise _Unsupported("a closed bus-bus switch with an impedance (z_ohm > 0)")
    idx = net.bus.index
    a, b = idx.get_indexer(closed["bus"]), idx.get_indexer(closed["element"])
    graph = sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(len(idx), len(idx)))
    _, label = connected_components(graph, directed=False)
    first = pd.Series(np.arange(len(idx))).groupby(label).transform("min").to_numpy()
    return pd.Series(idx[first], index=idx)


def _reduce(net: pandapowerNet) -> _Reduced:
    rep = _fused_buses(net)
    vn_kv = net.bus["vn_kv"].copy()
    tables = {}
    for table, ends in _END_COLUMN.items():
        frame = net[table][net[table]["in_service"].to_numpy(bool)].copy()
        for column in ends:
            frame[column] = rep.loc[frame[column]].to_numpy()
        tables[table] = frame
    tables["trafo"] = _taps_as_pandapower(tables["trafo"])
    next_bus = int(net.bus.index.max()) + 1
    for table, row, column in _open_ends(net):
        if row not in tables[table].index:
            continue
        vn_kv.loc[next_bus] = net.bus.at[net[table].at[row, column], "vn_kv"]
        tables[table].at[row, column] = next_bus
        next_bus += 1
    in_service = net.bus.index[net.bus["in_service"].to_numpy(bool)]
    aux = vn_kv.index[vn_kv.index > net.bus.index.max()]
    live = pd.Index(rep.loc[in_service].unique()).append(aux)
    return _Reduced(rep, vn_kv, tables["line"], tables["trafo"], live)


def _open_ends(net: pandapowerNet) -> list[tuple[str, int, str]]:
    """(table, row, bus column) of each branch end pandapower leaves open: behind an open line
    or transformer switch, or a line end at an out-of-service bus (both get an auxiliary bus)."""
    ends = []
    sw = net.switch[~net.switch["closed"].astype(bool)]
    for et, table in (("l", "line"), ("t", "trafo")):
        first, second = _END_COLUMN[table]
        for bus, row in zip(sw.loc[sw["et"] == et, "bus"], sw.loc[sw["et"] == et, "element"]):
            ends.append((table, row, first if net[table].at[row, first] == bus else second))
    dead = net.bus.index[~net.bus["in_service"].to_numpy(bool)]
    for column in _END_COLUMN["line"]:
        ends += [("line", row, column) for row in net.line.index[net.line[column].isin(dead)]]
    trafo_buses = net.trafo.loc[net.trafo["in_service"].to_numpy(bool), list(_END_COLUMN["trafo"])]
    if trafo_buses.isin(dead).any(axis=None):
        raise _Unsupported("a transformer in service at an out-of-service bus")
    return ends


def _taps_as_pandapower(trafo: pd.DataFrame) -> pd.DataFrame:
    """Transformer taps as pandapower 3 applies them: a tap with an empty ``tap_changer_type``
    is ignored (tap_pos set to neutral); positions are made relative to a neutral of 0."""
    kind = trafo["tap_changer_type"].fillna("").astype(str) if "tap_changer_type" in trafo else \
        pd.Series("", index=trafo.index)
    odd = ~kind.isin(["", "Ratio"])
    if odd.any():
        raise _Unsupported(
            f"trafo {trafo.index[odd][0]} has tap_changer_type '{kind[odd].iloc[0]}'")
    tables = trafo.get("tap_dependency_table", pd.Series(False, index=trafo.index))
    if tables.fillna(False).astype(bool).any():
        raise _Unsupported("a transformer with a tap dependency table")
    if trafo["tap_step_degree"].fillna(0.0).any():
        raise _Unsupported("a transformer with tap_step_degree")
    out = trafo.copy()
    ignored = (kind == "").to_numpy()
    relative = out["tap_pos"].fillna(0.0) - out["tap_neutral"].fillna(0.0)
    out["tap_pos"] = np.where(ignored, 0.0, relative)
    out["tap_neutral"] = 0.0
    out["tap_step_percent"] = out["tap_step_percent"].fillna(0.0)
    out["tap_step_degree"] = 0.0
    return out


def _components(reduced: _Reduced) -> pd.Series:
    """Flow-net bus -> label of its connected part (in-service buses and branches)."""
    live = reduced.live_buses
    edges = pd.concat([reduced.line[list(_END_COLUMN["line"])].set_axis(["a", "b"], axis=1),
                       reduced.trafo[list(_END_COLUMN["trafo"])].set_axis(["a", "b"], axis=1)])
    edges = edges[edges["a"].isin(live) & edges["b"].isin(live)]
    a, b = live.get_indexer(edges["a"]), live.get_indexer(edges["b"])
    graph = sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(len(live), len(live)))
    _, label = connected_components(graph, directed=False)
    return pd.Series(label, index=live)


def _zone(net, reduced: _Reduced, labels: pd.Series, label: int, ext_row: int, init) -> _Zone:
    buses = labels.index[labels.to_numpy() == label]
    pos = pd.Series(np.arange(len(buses)), index=buses)
    znet = copy.deepcopy(_empty_net())
    znet.sn_mva, znet.f_hz = net.sn_mva, net.f_hz
    pp.create_buses(znet, len(buses), vn_kv=reduced.vn_kv.loc[buses].to_numpy())
    znet.bus.index = pd.RangeIndex(len(buses))
    for table, frame in (("line", reduced.line), ("trafo", reduced.trafo)):
        first, second = _END_COLUMN[table]
        inside = frame[frame[first].isin(buses) & frame[second].isin(buses)].copy()
        inside[[first, second]] = np.column_stack([pos.loc[inside[first]], pos.loc[inside[second]]])
        znet[table] = inside
    for table in ("gen", "shunt", "ext_grid"):
        frame = net[table][net[table]["in_service"].to_numpy(bool)].copy()
        frame["bus"] = reduced.rep.loc[frame["bus"]].to_numpy()
        frame = frame[frame["bus"].isin(buses)]
        frame["bus"] = pos.loc[frame["bus"]].to_numpy()
        znet[table] = frame
    znet.ext_grid = znet.ext_grid.loc[[ext_row]]
    znet.gen["min_q_mvar"] = znet.gen["min_q_mvar"].fillna(-1e9)  # limits are not enforced
    znet.gen["max_q_mvar"] = znet.gen["max_q_mvar"].fillna(1e9)
    pp.create_loads(znet, buses=np.arange(len(buses)), p_mw=0.0, q_mvar=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the converter warns about every ext_grid it makes a slack
        try:
            grid = init(znet, pp_orig_file="pandapower_v3")
        except RuntimeError as exc:
            raise _Unsupported(f"lightsim2grid's converter: {exc}") from None
    if len(znet.trafo):
        grid.update_trafos_parameters(*_trafo_pi(znet))
    ext = net.ext_grid.loc[ext_row]
    vm0 = np.mean(np.concatenate([[ext["vm_pu"]], znet.gen["vm_pu"].to_numpy()]))
    return _Zone(grid, buses, reduced.vn_kv.loc[buses].to_numpy(),
                 znet.line.index, znet.line[list(_END_COLUMN["line"])].to_numpy(),
                 znet.trafo.index, znet.trafo[list(_END_COLUMN["trafo"])].to_numpy(),
                 znet.gen.index, ext_row, int(znet.ext_grid.at[ext_row, "bus"]),
                 float(ext["va_degree"]), _dc_start(grid, vm0))


@functools.cache
def _empty_net() -> pandapowerNet:
    """An empty pandapower net to copy (building one takes 0.3 s)."""
    return pp.create_empty_network()


def _trafo_pi(znet: pandapowerNet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Series r, x and total shunt admittance g + jb (pu of sn_mva) of the zone's transformers,
    as pandapower 3 builds them: T model (leakage split by ``leakage_*_ratio_hv``, 0.5 when
    absent) turned into a pi by a wye-delta transform. lightsim2grid 1.2's converter drops
    ``i0_percent`` when ``pfe_kw`` is not zero, so these replace its values."""
    trafo = znet.trafo
    vn_lv_bus = znet.bus["vn_kv"].to_numpy(float)[trafo["lv_bus"].to_numpy(int)]
    sn, parallel = trafo["sn_mva"].to_numpy(float), trafo["parallel"].to_numpy(float)
    vn_lv = trafo["vn_lv_kv"].to_numpy(float)
    lv_tap = (trafo["tap_side"] == "lv").to_numpy()
    step = 1 + trafo["tap_pos"].to_numpy(float) * trafo["tap_step_percent"].to_numpy(float) / 100
    vn_trafo_lv = np.where(lv_tap, vn_lv * step, vn_lv)
    to_pu = np.square(vn_trafo_lv / vn_lv_bus) * znet.sn_mva
    z = trafo["vk_percent"].to_numpy(float) / 100 / sn * to_pu / parallel
    r = trafo["vkr_percent"].to_numpy(float) / 100 / sn * to_pu / parallel
    x = np.sqrt(z ** 2 - r ** 2)
    pfe_mw = trafo["pfe_kw"].to_numpy(float) / 1000
    ym_mva = trafo["i0_percent"].to_numpy(float) / 100 * sn
    b_mva = -np.sqrt(np.maximum(ym_mva ** 2 - pfe_mw ** 2, 0.0))
    y_pu = (pfe_mw + 1j * b_mva) / vn_lv ** 2 * vn_lv_bus ** 2 / znet.sn_mva * parallel \
        / np.square(vn_trafo_lv / vn_lv)
    r_ratio = _column(trafo, "leakage_resistance_ratio_hv", 0.5)
    x_ratio = _column(trafo, "leakage_reactance_ratio_hv", 0.5)
    magnetized = y_pu != 0
    za = (r * r_ratio + 1j * x * x_ratio)[magnetized]
    zb = (r * (1 - r_ratio) + 1j * x * (1 - x_ratio))[magnetized]
    zc = 1 / y_pu[magnetized]
    total = za * zb + za * zc + zb * zc
    series = r + 1j * x
    series[magnetized] = total / zc
    shunt = y_pu.copy()
    shunt[magnetized] = 1 / (total / zb) + 1 / (total / za)  # both ends' halves
    return series.real, series.imag, shunt


def _column(frame: pd.DataFrame, name: str, default: float) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), default)
    return frame[name].fillna(default).to_numpy(float)


def _dc_start(grid, vm_pu: float) -> np.ndarray:
    """Start voltages as runpp's: magnitude the mean voltage setpoint, angles of a DC power flow
    (a flat start fails across a 150° transformer shift)."""
    flat = np.full(grid.total_bus(), vm_pu, dtype=complex)
    dc = grid.dc_pf(flat.copy(), MAX_ITERATION, TOLERANCE_PU)
    return flat if not len(dc) else vm_pu * np.exp(1j * np.angle(dc))


def _bus_demand(net: pandapowerNet, setpoints: _Setpoints) -> tuple[np.ndarray, np.ndarray]:
    """Net consumption at each bus (time, bus in net order): loads + storage + EV − sgens,
    MW and MVAr."""
    live = {t: net[t]["in_service"].to_numpy(bool) for t in ("load", "sgen", "storage")}
    at = {t: _incidence(net.bus.index, net[t]["bus"], live[t]) for t in live}
    p = setpoints.ev_p_mw + setpoints.load_p_mw @ at["load"] - setpoints.sgen_p_mw @ at["sgen"] \
        + setpoints.storage_p_mw @ at["storage"]
    q_fixed = setpoints.storage_q_mvar @ at["storage"] - setpoints.sgen_q_mvar @ at["sgen"]
    q = setpoints.load_q_mvar @ at["load"] + q_fixed
    return np.asarray(p), np.asarray(q)


def _solve_zone(net, zone: _Zone, rep: pd.Series, demand_p, demand_q, setpoints: _Setpoints,
                flows: _Flows) -> dict[int, str]:
    """Run the zone's batch, write its part of ``flows``; return the failed steps and why."""
    from lightsim2grid.injectionSweep import InjectionSweepCPP

    # net bus position -> zone bus (fused buses add up), for in-service buses of this zone
    zone_pos = pd.Series(np.arange(len(zone.buses)), index=zone.buses)
    net_bus_zone = zone_pos.reindex(rep.to_numpy()).to_numpy()
    alive = net.bus["in_service"].to_numpy(bool) & ~np.isnan(net_bus_zone)
    members = np.flatnonzero(alive)
    to_zone = sp.csr_matrix((np.ones(len(members)), (members, net_bus_zone[members].astype(int))),
                            shape=(len(net.bus), len(zone.buses)))
    batch = InjectionSweepCPP(zone.grid)
    batch.modify_load_p(np.ascontiguousarray(demand_p @ to_zone))
    batch.modify_load_q(np.ascontiguousarray(demand_q @ to_zone))
    if len(zone.gens):
        gen_p = setpoints.gen_p_mw[:, net.gen.index.get_indexer(zone.gens)]
        batch.modify_gen_p(np.ascontiguousarray(np.column_stack([gen_p, np.zeros(len(gen_p))])))
    batch.compute_gen_results = True
    batch.compute(zone.v_init, MAX_ITERATION, TOLERANCE_PU)
    ok = np.asarray(batch.converged_mask(), bool)
    volts = batch.get_voltages()
    branch = batch.compute_branch_results()
    slack_p = batch.get_gen_results()[:, len(zone.gens), 0]
    _write_zone(net, zone, members, net_bus_zone, volts, branch, slack_p, flows)
    iterations = batch.get_row_nb_iter().ravel()
    return {int(step): _lightsim_failure(zone, int(iterations[step]))
            for step in np.flatnonzero(~ok)}


def _write_zone(net, zone: _Zone, members, net_bus_zone, volts, branch, slack_p,
                flows: _Flows) -> None:
    vm = np.abs(volts)
    va = np.degrees(np.angle(volts))
    va = va - va[:, [zone.ext_bus]] + zone.va_degree  # angles referenced to the external grid's
    cols = net_bus_zone[members].astype(int)
    flows.vm_pu[:, members] = vm[:, cols]
    flows.va_degree[:, members] = va[:, cols]
    n_line = len(net.line)
    offsets = {"line": (zone.lines, zone.line_ends, 0, net.line.index),
               "trafo": (zone.trafos, zone.trafo_ends, n_line, net.trafo.index)}
    start = 0
    for table, (rows, ends, offset, index) in offsets.items():
        where = offset + index.get_indexer(rows)
        block = branch[:, start:start + len(rows)]
        start += len(rows)
        flows.s_from_mva[:, where] = block[..., 0] + 1j * block[..., 1]
        flows.s_to_mva[:, where] = block[..., 2] + 1j * block[..., 3]
        flows.v_from_kv[:, where] = vm[:, ends[:, 0]] * zone.vn_kv[ends[:, 0]]
        flows.v_to_kv[:, where] = vm[:, ends[:, 1]] * zone.vn_kv[ends[:, 1]]
    flows.ext_grid_p_mw[:, net.ext_grid.index.get_loc(zone.ext_grid)] = slack_p


def _lightsim_failure(zone: _Zone, iterations: int) -> str:
    where = f"part fed by ext_grid {zone.ext_grid}"
    if iterations >= MAX_ITERATION:
        return (f"lightsim2grid: Newton-Raphson did not converge in {MAX_ITERATION} iterations "
                f"({where})")
    return (f"lightsim2grid: Newton-Raphson stopped after {iterations} iterations, singular or "
            f"diverging ({where})")


# --------------------------------------------------------------------------- results dataset


def _branch_labels(net: pandapowerNet) -> list[str]:
    return [f"{table}:{i}" for table in _BRANCH_TABLES for i in net[table].index]


def _loading_percent(net: pandapowerNet, flows: _Flows) -> np.ndarray:
    """(time, branch) loading as pandapower computes it: the larger end current over the rating."""
    with np.errstate(divide="ignore", invalid="ignore"):
        i_from = np.abs(flows.s_from_mva) / (np.sqrt(3) * flows.v_from_kv)  # kA
        i_to = np.abs(flows.s_to_mva) / (np.sqrt(3) * flows.v_to_kv)
        n_line = len(net.line)
        line, trafo = net.line, net.trafo
        rating = (line["max_i_ka"] * line["df"] * line["parallel"]).to_numpy(float)
        line_pct = np.maximum(i_from[:, :n_line], i_to[:, :n_line]) / rating * 100
        hv = i_from[:, n_line:] * trafo["vn_hv_kv"].to_numpy(float)
        lv = i_to[:, n_line:] * trafo["vn_lv_kv"].to_numpy(float)
        per_unit = np.sqrt(3) / (trafo["sn_mva"] * trafo["parallel"] * trafo["df"]).to_numpy(float)
        trafo_pct = np.maximum(hv, lv) * per_unit * 100
    return np.concatenate([line_pct, trafo_pct], axis=1)


def _branch_in_service(net: pandapowerNet) -> np.ndarray:
    return np.concatenate([net[t]["in_service"].to_numpy(bool) for t in _BRANCH_TABLES])


def _dataset(net: pandapowerNet, times: pd.DatetimeIndex, flows: _Flows) -> xr.Dataset:
    loss = (flows.s_from_mva + flows.s_to_mva).real
    losses = np.where(flows.converged, np.nansum(loss, axis=1), np.nan)
    coords = {"time": times, "bus": net.bus.index.to_numpy(), "branch": _branch_labels(net),
              "ext_grid": net.ext_grid.index.to_numpy()}

    def attrs(units, long_name):
        return series_attrs(units, long_name, Rule.POINT)

    tb, tr, t = ("time", "bus"), ("time", "branch"), ("time",)
    ds = xr.Dataset(
        {
            "ac_bus_vm_pu": (tb, flows.vm_pu, attrs("1", "AC bus voltage magnitude (pu)")),
            "ac_bus_va_degree": (tb, flows.va_degree, attrs("degree", "AC bus voltage angle")),
            "ac_branch_loading_percent": (
                tr, _loading_percent(net, flows),
                attrs("percent", "AC branch loading: larger end current over the rating")),
            "ac_branch_p_from_mw": (
                tr, flows.s_from_mva.real,
                attrs("MW", "AC active power entering the branch at its from (hv) end")),
            "ac_losses_mw": (
                t, losses, attrs("MW", "AC active power lost in lines and transformers")),
            "ac_ext_grid_p_mw": (
                ("time", "ext_grid"), flows.ext_grid_p_mw,
                attrs("MW", "AC active power from the external grid (positive = import)")),
            "ac_converged": (t, flows.converged.copy(), attrs("1", "AC power flow converged")),
            "ac_failure": (
                t, flows.failure.astype(str),
                attrs("1", "why the AC power flow failed (empty when converged)")),
        },
        coords=coords,
    )
    ds["time"].attrs["timezone"] = "UTC"
    ds.attrs["title"] = f"AC power flow check of a dispatch on {net.name or 'a pandapower net'}"
    return ds


# --------------------------------------------------------------------------- violations


def _limit(frame: pd.DataFrame, column: str, override: float | None, default: float) -> np.ndarray:
    if override is not None:
        return np.full(len(frame), float(override))
    if column not in frame:
        return np.full(len(frame), default)
    return frame[column].fillna(default).to_numpy(float)


def _branch_rating(net: pandapowerNet, label: str) -> float:
    table, _, row = label.partition(":")
    frame = net[table]
    if "max_loading_percent" not in frame:
        return _DEFAULT_LOADING_PERCENT
    value = frame.at[int(row), "max_loading_percent"]
    return _DEFAULT_LOADING_PERCENT if pd.isna(value) else float(value)


def _beyond(kind: ViolationKind, excess: np.ndarray, value: np.ndarray, limit: np.ndarray,
            labels: list[str], times: pd.DatetimeIndex) -> list[Violation]:
    with np.errstate(invalid="ignore"):
        hits = np.argwhere(excess > _VIOLATION_NOISE)
    return [Violation(kind, labels[k], "", times[t], float(value[t, k]), float(limit[k]),
                      float(excess[t, k])) for t, k in hits]


def _element_key(element: str) -> tuple[str, int]:
    table, _, row = element.partition(":")
    return table, int(row)


def _element_name(net: pandapowerNet, element: str) -> str:
    table, _, row = element.partition(":")
    name = net[table].at[int(row), "name"] if "name" in net[table] else None
    return "" if name is None or pd.isna(name) else str(name)


def _violation_line(v: Violation) -> str:
    table, _, row = v.element.partition(":")
    who = f"{table} {row}" + (f" ({v.name})" if v.name else "")
    when = pd.Timestamp(v.time).strftime("%Y-%m-%d %H:%M UTC")
    digits = 1 if v.unit == "%" else 3
    sign = "<" if v.kind is ViolationKind.UNDERVOLTAGE else ">"
    return (f"{who} {v.kind.value} {v.value:.{digits}f} {v.unit} {sign} {v.limit:g} at {when}, "
            f"by {v.amount:.{digits}f} {v.unit}")


def _abs_error(linear: xr.DataArray, exact: xr.DataArray, key: str,
               unit: str) -> dict[str, float | str]:
    lin, ac = xr.align(linear, exact)
    diff = abs(ac - lin)
    if not diff.size or bool(diff.isnull().all()):
        return {}
    dim = next(d for d in diff.dims if d != "time")
    where = diff.fillna(-1).argmax(...)
    element = diff[dim].values[int(where[dim])]
    at = pd.Timestamp(diff["time"].values[int(where["time"])]).strftime("%Y-%m-%d %H:%M UTC")
    return {f"{key}_abs_max_{unit}": float(diff.max()),
            f"{key}_abs_mean_{unit}": float(diff.mean()),
            f"{key}_abs_max_at": f"{dim} {element} at {at}"}
