"""Day-ahead rolling horizon: each day, forecast, optimize the next hours, commit a day, settle it.

One window per day, issued at 00:00 UTC of each day from ``start`` to ``end`` (inclusive):

- **Window**: the issue time and the ``horizon_h`` hours after it (cut at the end of the series).
- **Inputs**: ``foresight="perfect"`` reads the actual series. ``"forecast"`` forecasts load (P and
  Q), renewable availability and grid CO2 intensity with :mod:`gridopt.forecast`, fitted on the
  ``FORECAST_HISTORY_DAYS`` before the issue time only (nothing at or after it is passed to the
  forecaster); the price tariff and the air-quality weight are schedules known in advance.
- **Commit**: the first ``commit_h`` hours of the plan.
- **Settlement** against the actual series: thermal units, batteries, EV charging and load shedding
  keep their committed values; renewables produce their actual availability, capped at the planned
  output where the plan curtailed; the first external grid absorbs the difference
  (``imbalance_mw``, positive: more import than planned).
- **State** carried into the next window: battery SOC at the end of the commit, thermal output
  (ramp limits hold across the boundary), and each EV session's energy delivered so far.

EV charging is planned per session (:mod:`gridopt.dispatch.ev`) in fixed *slots*: each EV bus has
as many as the most sessions plugged in during any one window of the run, each slot a charging
column at every step of the window, so every window of one length is the same LP. A window puts
the sessions plugged in during it that still need energy into the slots of their bus, in order of
arrival; a slot's power is bounded by its session's power while plugged in (0 elsewhere, and in an
empty slot), and its energy row asks for at most what the car still needs and at least what it
could not take after the window at full power (what it cannot have is penalised as unmet).
Each session receives exactly its slot's committed charging, so the plans are ones the cars can
take; what a session still lacks when it leaves is unserved (``ev_unmet_mwh`` per EV bus, and per session
``ev_session_unmet_mwh``, named in the explanation).
Sessions still plugged in at the end are reported as pending. V2G, a CO2 cap (a budget for the
whole period) and air-quality caps (rows in episode hours only, so each window's LP would have
other rows) are refused.

**Persistent** (default): one LP per window length is built and handed to HiGHS once; each window
then changes only bounds, costs and row bounds in the live ``highspy.Highs`` (load, availability,
shedding limits, prices and CO2 intensities, the EV slots, the initial-SOC rows, the thermal
units' first step; only the entries that differ from the previous window's), and HiGHS starts
from the previous window's basis. The lazy slacks (``gridopt.solve.run_highs``) stay held from
window to window and are released only for a window whose optimum needs one. Each window reads
the solution once and keeps the raw arrays of its committed hours; the results dataset is built
once, from all of them. ``persistent=False`` rebuilds (``gridopt.dispatch.build`` + hand-off)
every window (with one EV slot per session of the window).

Results: the committed hours stitched into one dataset laid out as a normal run's
(:func:`gridopt.solve.results_dataset`), holding the settled outcome; branch flows, voltages and
prices are those of the plan (no AC check). Attrs add the windows' timings (``window_time_<phase>_s``
arrays and ``time_dayahead_<phase>_s`` sums, phases ``PHASES``), ``objective`` (the settled cost of
the period) and the key figures (``kpi_*``, including ``kpi_imbalance_*``, ``kpi_ev_pending_mwh``,
``kpi_storage_soc_final_mwh``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from time import perf_counter

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.config import ModelConfig
from gridopt.errors import ConfigError, DataError, SolverError

__all__ = [
    "COMPARED",
    "FORECAST_HISTORY_DAYS",
    "PHASES",
    "DayaheadOutcome",
    "Window",
    "attribute",
    "dayahead",
    "load_scenario",
    "roll",
    "rolling_horizon",
]

HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)
FORECAST_HISTORY_DAYS = 42
"""History loaded before each issue time for the forecasts (16 days of lags + 26 of training)."""
_LAG_DAYS = 16  # what the forecasters' features need before the first training origin
FORECAST_SERIES = ("load_p_mw", "load_q_mvar", "sgen_p_max_mw",
                   "ext_grid_co2_marginal_t_per_mwh", "ext_grid_co2_average_t_per_mwh")
"""The series forecast in ``foresight="forecast"`` (where the model has them)."""
PHASES = ("forecast", "build", "handoff", "highs", "extract", "total")
"""Per-window phases: forecasting; building the LP or updating it (with the window's inputs and EV
slots); hand-off to HiGHS; HiGHS's own run time; reading the committed solution, settling it and
carrying the state; the window's wall time without forecasting."""
COMPARED = ("cost_total", "co2_marginal_t", "co2_average_t", "nox_t", "so2_t", "pm25_t",
            "import_mwh", "ev_unmet_mwh", "load_shed_mwh")
"""Key figures compared between forecast and perfect foresight (forecast-error attribution)."""
_TOL = 1e-6  # MW / MWh treated as zero (curtailment in use, EV energy left)


@dataclass(frozen=True)
class Window:
    """One window's timings (s) and what it did; ``rebuilt``: its LP was built for it."""

    issue: pd.Timestamp
    hours: int
    rebuilt: bool
    seconds: dict[str, float]


# ---------------------------------------------------------------- entry points


def rolling_horizon(
    config: ModelConfig,
    start,
    end,
    *,
    horizon_h: int = 36,
    commit_h: int = 24,
    foresight: str = "forecast",
    persistent: bool = True,
    progress: Callable[[int, int, Window], None] | None = None,
) -> xr.Dataset:
    """Day-ahead windows issued at 00:00 UTC each day from ``start`` to ``end`` (dates, inclusive);
    returns the stitched results (module docstring). ``progress(done, total, window)`` after each."""
    issues = issue_times(start, end, where=str(config.path))
    scenario = load_scenario(config, issues, horizon_h, foresight)
    return roll(scenario, issues, horizon_h=horizon_h, commit_h=commit_h, foresight=foresight,
                persistent=persistent, progress=progress)


@dataclass(frozen=True)
class DayaheadOutcome:
    """A stored day-ahead run, and the perfect-foresight run it was compared with (if any)."""

    run_id: str | None
    results: xr.Dataset
    perfect: xr.Dataset | None
    attribution: dict[str, float] = field(default_factory=dict)


def dayahead(
    config: ModelConfig,
    start,
    end,
    *,
    horizon_h: int = 36,
    perfect: bool = False,
    persistent: bool = True,
    ac: bool = True,
    store=None,
    out: Path | None = None,
    progress: Callable[[str, int, int, Window], None] | None = None,
) -> DayaheadOutcome:
    """``gridopt dayahead``: the forecast run and, for the attribution, the same period with
    perfect foresight (``perfect``: that run alone); the AC power flow of every committed hour of
    the (first) run (``ac``: its setpoints against the actual loads), which is stored like
    ``gridopt run``. ``progress(run, done, total, window)``; ``run`` is "forecast" or "perfect"."""
    from gridopt.run import check_destinations, run_inputs, save_results, with_ac_check

    check_destinations(store, out)
    issues = issue_times(start, end, where=str(config.path))
    foresights = ["perfect"] if perfect else ["forecast", "perfect"]
    scenario = load_scenario(config, issues, horizon_h, foresights[0])
    runs = {}
    for name in foresights:
        say = None if progress is None else (lambda d, n, w, name=name: progress(name, d, n, w))
        runs[name] = roll(scenario, issues, horizon_h=horizon_h, foresight=name,
                          persistent=persistent, progress=say)
    results = runs[foresights[0]]
    attribution = {} if perfect else attribute(results, runs["perfect"])
    results.attrs.update({f"kpi_{k}": v for k, v in attribution.items()})
    if ac:
        results = with_ac_check(scenario, results)
    results.attrs["model"] = config.name
    options = {"dayahead": {"from": str(issues[0].date()), "to": str(issues[-1].date()),
                            "horizon_h": horizon_h, "foresight": foresights[0],
                            "persistent": persistent}, **scenario.options.model_dump()}
    save = {"model": config.name, "inputs": run_inputs(config), "options": options,
            "model_file": config.path}
    run_id = save_results(results, store, out, save) if store is not None or out is not None else None
    return DayaheadOutcome(run_id, results, None if perfect else runs["perfect"], attribution)


def attribute(forecast: xr.Dataset, perfect: xr.Dataset) -> dict[str, float]:
    """Forecast-error attribution: ``perfect_<k>`` and ``forecast_error_<k>`` (forecast minus
    perfect foresight, positive: the forecast errors cost that much more) for ``COMPARED``."""
    out = {}
    for key in COMPARED:
        out[f"perfect_{key}"] = float(perfect.attrs[f"kpi_{key}"])
        out[f"forecast_error_{key}"] = float(forecast.attrs[f"kpi_{key}"]) - out[f"perfect_{key}"]
    return out


def issue_times(start, end, *, where: str) -> pd.DatetimeIndex:
    """00:00 UTC of each day from ``start`` to ``end`` inclusive (dates or times; naive = UTC)."""
    try:
        first, last = (pd.Timestamp(x) for x in (start, end))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: --from/--to must be dates such as 2016-06-01 (got {start!r}, {end!r})") from None
    first, last = (t.tz_convert("UTC").tz_localize(None) if t.tzinfo else t for t in (first, last))
    if first != first.normalize() or last < first:
        raise ConfigError(f"{where}: --from must be a date (00:00 UTC) not after --to (got {first} to {last})")
    return pd.date_range(first, last.normalize(), freq="D")


def load_scenario(config: ModelConfig, issues: pd.DatetimeIndex, horizon_h: int, foresight: str):
    """The model's scenario over the run: the forecasts' history before the first issue (when
    forecasting), the windows, and each window's look-ahead."""
    from gridopt.config import with_window
    from gridopt.scenario import build_scenario

    if foresight not in ("forecast", "perfect"):
        raise ConfigError(f"foresight must be 'forecast' or 'perfect' (got {foresight!r})")
    if not 1 <= horizon_h <= 168:
        raise ConfigError(f"{config.path}: --horizon must be 1 to 168 hours (got {horizon_h})")
    first = issues[0] - (FORECAST_HISTORY_DAYS * DAY if foresight == "forecast" else pd.Timedelta(0))
    last = issues[-1] + max(horizon_h * HOUR, DAY)
    window = with_window(config, first.isoformat() + "Z", int((last - first) / HOUR))
    try:
        scenario = build_scenario(window)
    except DataError as exc:
        history = (f" ({FORECAST_HISTORY_DAYS} days of history for the forecasts, or use --perfect)"
                   if foresight == "forecast" else "")
        raise DataError(f"dayahead needs the series from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} "
                        f"UTC{history}: {exc}") from None
    return scenario


def _check_supported(scenario) -> None:
    where = scenario.config.path if scenario.config is not None else f"model {scenario.name!r}"
    if scenario.options.co2_cap_t is not None:
        raise ConfigError(f"{where}: policy co2_cap_t is a budget for the whole period; "
                          "dayahead cannot split it into windows (remove it)")
    sessions = scenario.ev_sessions
    if sessions is not None and "ev_v2g" in sessions and bool(sessions.ev_v2g.any()):
        raise ConfigError(f"{where}: assets.ev.v2g must be false for dayahead "
                          "(the EV slots of its fixed LP have no V2G)")
    if "aq_cap_kg_per_h" in scenario.series:
        raise ConfigError(f"{where}: policy.air_quality.mode \"cap\" is not supported by dayahead "
                          "(its caps hold in episode hours only, so each window's LP has other rows); use \"price\"")


# ---------------------------------------------------------------- the roll


def roll(
    scenario,
    issues: pd.DatetimeIndex,
    *,
    horizon_h: int = 36,
    commit_h: int = 24,
    foresight: str = "perfect",
    persistent: bool = True,
    progress: Callable[[int, int, Window], None] | None = None,
) -> xr.Dataset:
    """The rolling horizon over a loaded scenario (see ``load_scenario``)."""
    from gridopt.dispatch.inputs import prepare

    if not 1 <= commit_h <= horizon_h:
        raise ConfigError(f"commit_h must be 1 to horizon_h = {horizon_h} hours (got {commit_h})")
    _check_supported(scenario)
    options = scenario.options.model_copy(update={"ev_formulation": "session"})
    actual = prepare(scenario.net, scenario.series, options)
    if actual.dt_h != 1.0:
        raise ConfigError("dayahead needs an hourly model ([time] step = \"1h\")")
    roller = _Roller(scenario, actual, options, horizon_h, commit_h, foresight, persistent, issues)
    for done, issue in enumerate(issues, 1):
        window = roller.window(issue)
        if progress is not None:
            progress(done, len(issues), window)
    return roller.results()


@dataclass
class _State:
    """What one window leaves to the next."""

    soc_mwh: np.ndarray  # (storage,) at the end of the last committed hour
    gen_mw: np.ndarray | None  # (gen,) output in the last committed hour (None: no window yet)


class _Roller:
    """Runs the windows one by one and keeps the committed hours."""

    def __init__(self, scenario, actual, options, horizon_h, commit_h, foresight, persistent, issues):
        self.scenario, self.actual, self.options = scenario, actual, options
        self.horizon_h, self.commit_h = horizon_h, commit_h
        self.foresight, self.persistent = foresight, persistent
        self.ev = _EvBook.of(scenario.ev_sessions, actual, issues, horizon_h)
        self.state = _State(actual.storage.soc_initial_mwh.copy(), None)
        self.problems = {}  # window length (h) -> handed-off DispatchProblem (persistent)
        self.committed: list[dict[str, np.ndarray]] = []
        self.windows: list[Window] = []
        self.first = None  # index of the first committed hour
        self.solver = ""

    # -- one window

    def window(self, issue: pd.Timestamp) -> Window:
        actual = self.actual
        i0 = actual.time.get_loc(issue)
        i1 = min(i0 + self.horizon_h, actual.n_time)
        self.first = i0 if self.first is None else self.first
        seconds = dict.fromkeys(PHASES, 0.0)
        start = perf_counter()
        series = _forecast_window(self.scenario.series, actual, i0, i1) if self.foresight == "forecast" else None
        seconds["forecast"] = perf_counter() - start
        start = perf_counter()
        problem, rebuilt = self._problem(i0, i1, series)
        _apply_state(problem, self.state)
        seconds["handoff"] = problem.timings["time_handoff_s"] if rebuilt else 0.0
        seconds["build"] = perf_counter() - start - seconds["handoff"]
        self._run(problem, issue)
        seconds["highs"] = problem.timings["time_solve_s"]
        tick = perf_counter()
        self._commit(problem, i0, min(self.commit_h, i1 - i0))
        seconds["extract"] = perf_counter() - tick
        seconds["total"] = perf_counter() - start
        record = Window(issue, i1 - i0, rebuilt, seconds)
        self.windows.append(record)
        return record

    def _problem(self, i0: int, i1: int, series: xr.Dataset | None):
        """The window's LP, updated (persistent, same length seen before) or built and handed off;
        ``problem.data`` is then what the window plans with."""
        from gridopt.dispatch import build
        from gridopt.dispatch.inputs import prepare
        from gridopt.solve import hand_off

        time = self.actual.time[i0:i1]
        ev = self.ev.slots(time, self.persistent) if self.ev is not None else None
        problem = self.problems.get(i1 - i0) if self.persistent else None
        if problem is not None:
            data = _slice(self.actual, i0, i1) if series is None else prepare(self.scenario.net, series, self.options)
            _update(problem, replace(data, ev=ev))
            return problem, False
        if series is None:
            series = self.scenario.series.isel(time=slice(i0, i1))
        problem = build(self.scenario.net, series, self.options, ev)
        hand_off(problem)
        self.solver = f"highs {problem.highs.version()}"
        if self.persistent:
            self.problems[i1 - i0] = problem
        return problem, True

    def _run(self, problem, issue: pd.Timestamp) -> None:
        from gridopt.solve import Status, run_highs, status_of

        raw = run_highs(problem)
        if status_of(raw) is not Status.OPTIMAL:
            raise SolverError(f"dayahead window issued {issue:%Y-%m-%d %H:%M} UTC: HiGHS stopped "
                              f"without an optimal solution ({raw})")

    def _commit(self, problem, i0: int, hours: int) -> None:
        """Read the committed hours of the plan, settle them, and carry the state."""
        from gridopt.solve import read_solution

        plan = problem.data
        x, duals = read_solution(problem)
        n_time = plan.n_time
        kept = {name: block.values(x)[:hours].copy() for name, block in problem.columns.items()
                if len(block.shape) == 2 and block.shape[0] == n_time and not name.startswith("ev.")}
        balance = problem.rows["balance"]
        kept["price"] = duals[balance.start : balance.start + balance.size].reshape(balance.shape)[:hours] / plan.dt_h
        if self.ev is not None:
            p_mw = problem.columns["ev.p"].values(x)[:hours]
            kept["ev.p"] = self.ev.per_bus(p_mw, plan.ev.node)
            self.ev.commit(plan.time[:hours], p_mw)
        kept.update(_settle(kept, plan, self.actual, i0, hours, self.foresight == "forecast"))
        if len(plan.storage):
            self.state.soc_mwh = kept["storage.soc"][-1].copy()
        self.state.gen_mw = kept["gen.p"][-1].copy() if len(plan.gen) else None
        self.committed.append(kept)

    # -- the stitched run

    def results(self) -> xr.Dataset:
        from gridopt.kpis import kpis
        from gridopt.run import SIGNALS
        from gridopt.solve import results_dataset

        done = self.committed
        i0 = self.first
        i1 = i0 + sum(len(k["price"]) for k in done)
        data = _slice(self.actual, i0, i1)
        values = {name: np.concatenate([k[name] for k in done]) for name in done[0]
                  if name not in ("price", "imbalance", "ext_grid.planned")}
        ev_findings = None
        if self.ev is not None:
            data = replace(data, ev=self.ev.summary(data))
            values["ev.unmet"] = self.ev.unserved_per_bus()
            ev_findings = self.ev.findings(data.options.slack_tolerance)
        prices = np.concatenate([k["price"] for k in done])
        ds = results_dataset(data, values, prices, self.solver, ev_findings)
        if self.ev is not None:
            ds = ds.merge(self.ev.session_results(data.time[0].to_datetime64()))
        series = self.scenario.series.isel(time=slice(i0, i1))
        ds = ds.assign({name: series[name] for name in SIGNALS if name in series})
        ds["imbalance_mw"] = ("time", np.concatenate([k["imbalance"] for k in done]),
                              {"units": "MW", "long_name": "settled minus planned import (actual load "
                               "and renewables against the plan's forecast)", "cell_methods": "time: mean"})
        ds["ext_grid_import_planned_mw"] = (("time", "ext_grid"), np.concatenate([k["ext_grid.planned"] for k in done]),
                                            {"units": "MW", "long_name": "net import in the committed plan",
                                             "cell_methods": "time: mean"})
        self._annotate(ds, done)
        ds.attrs.update({f"kpi_{k}": v for k, v in kpis(ds).items()})
        return ds

    def _annotate(self, ds: xr.Dataset, done: list[dict]) -> None:
        attrs = ds.attrs
        attrs["title"] = f"gridopt day-ahead rolling horizon ({self.foresight} foresight)"
        attrs["objective"] = float(sum(v for k, v in attrs.items() if k.startswith("cost_")))
        attrs.update(dayahead_foresight=self.foresight, dayahead_horizon_h=self.horizon_h,
                     dayahead_commit_h=self.commit_h, dayahead_windows=len(self.windows),
                     dayahead_persistent=int(self.persistent),
                     dayahead_first_issue=f"{self.windows[0].issue:%Y-%m-%d %H:%M} UTC")
        attrs["window_rebuilt"] = np.array([int(w.rebuilt) for w in self.windows], dtype=np.int8)
        for phase in PHASES:
            per = np.array([w.seconds[phase] for w in self.windows])
            attrs[f"window_time_{phase}_s"] = per
            attrs[f"time_dayahead_{phase}_s"] = float(per.sum())
        imbalance = np.concatenate([k["imbalance"] for k in done])
        attrs["kpi_imbalance_import_mwh"] = float(imbalance.clip(min=0).sum()) * self.actual.dt_h
        attrs["kpi_imbalance_export_mwh"] = float((-imbalance).clip(min=0).sum()) * self.actual.dt_h
        attrs["kpi_storage_soc_final_mwh"] = float(self.state.soc_mwh.sum())
        if self.ev is not None:
            attrs["kpi_ev_pending_mwh"] = self.ev.pending_mwh()


# ---------------------------------------------------------------- inputs of a window


def _slice(data, i0: int, i1: int):
    """The DispatchData of steps ``i0 .. i1 - 1`` (everything per step is cut; the rest kept)."""
    cut = slice(i0, i1)
    return replace(
        data,
        time=data.time[cut],
        load_p_mw=data.load_p_mw[cut],
        load_q_mvar=data.load_q_mvar[cut],
        sgen=replace(data.sgen, p_avail_mw=data.sgen.p_avail_mw[cut]),
        price_per_mwh=data.price_per_mwh[cut],
        co2_marginal_t_per_mwh=data.co2_marginal_t_per_mwh[cut],
        co2_average_t_per_mwh=data.co2_average_t_per_mwh[cut],
        aq_weight=data.aq_weight[cut],
    )


def _forecast_window(series: xr.Dataset, actual, i0: int, i1: int) -> xr.Dataset:
    """The window's series with ``FORECAST_SERIES`` replaced by forecasts (their means) issued at
    step ``i0`` from the history before it only. Where a forecast has no value (a feature missing
    at the issue time) the last value before the issue stands in; negative forecasts of
    availability and intensity are cut to 0."""
    from gridopt.forecast import forecast_dataset

    names = [n for n in FORECAST_SERIES if n in series]
    history = FORECAST_HISTORY_DAYS * 24
    if i0 < history:
        raise DataError(f"dayahead: forecasts need {FORECAST_HISTORY_DAYS} days of history before "
                        f"{actual.time[i0]} UTC (got {i0} hours)")
    window = series.isel(time=slice(i0, i1)).copy()
    if not names:
        return window
    past = series[names].isel(time=slice(i0 - history, i0))
    fc = forecast_dataset(past, actual.time[i0], i1 - i0, variables=names,
                          history_days=FORECAST_HISTORY_DAYS - _LAG_DAYS)
    for name in names:
        values = fc[f"{name}_mean"].transpose(*window[name].dims).reset_coords(drop=True)
        values = values.fillna(past[name].isel(time=-1).reset_coords(drop=True))
        if name != "load_p_mw" and name != "load_q_mvar":
            values = values.clip(min=0.0)
        window[name] = values.assign_attrs(window[name].attrs).assign_coords(time=window.time)
    return window


# ---------------------------------------------------------------- the LP between windows


def _update(problem, data) -> None:
    """Load the window's ``data`` (same length; its EV sessions in the problem's slots) into the
    live HiGHS model: only what the components derive from the series, and the EV slots' bounds,
    change."""
    from gridopt.dispatch.objective import constant_terms, cost_terms

    problem.data = data
    problem.set_row_bounds("balance", data.load_p_mw, data.load_p_mw)
    if "balance_q" in problem.rows:
        problem.set_row_bounds("balance_q", data.load_q_mvar, data.load_q_mvar)
    problem.set_col_bounds("shed.p", 0.0, np.maximum(data.load_p_mw, 0.0))
    if len(data.sgen):
        problem.set_col_bounds("sgen.p", 0.0, data.sgen.p_avail_mw)
    for name, terms in cost_terms(data).items():
        block = problem.columns.get(name)
        if block is not None and block.size:
            problem.set_col_costs(name, sum(np.broadcast_to(c, block.shape) for c in terms.values()))
    problem.highs.changeObjectiveOffset(float(sum(constant_terms(data).values())))
    if data.ev is not None:
        problem.set_col_bounds("ev.p", 0.0, data.ev.p_max_mw)
        problem.set_col_bounds("ev.unmet", 0.0, data.ev.energy_mwh)
        problem.set_row_bounds("ev.energy", data.ev.energy_mwh, data.ev.energy_max_mwh)


def _apply_state(problem, state: _State) -> None:
    """The carried state: each battery starts from its SOC; a ramp-limited thermal unit's first
    step lies within a ramp of its last committed output."""
    data = problem.data
    st = data.storage
    if len(st):
        first = st.keep_per_step * state.soc_mwh
        problem.set_row_bounds("storage.energy_first", first, first)
    if state.gen_mw is None or not len(data.gen):
        return
    gen = data.gen
    lower = np.broadcast_to(gen.p_min_mw, (data.n_time, len(gen))).copy()
    upper = np.broadcast_to(gen.p_max_mw, (data.n_time, len(gen))).copy()
    lower[0] = np.maximum(gen.p_min_mw, state.gen_mw - gen.ramp_down_mw_per_h * data.dt_h)
    upper[0] = np.minimum(gen.p_max_mw, state.gen_mw + gen.ramp_up_mw_per_h * data.dt_h)
    problem.set_col_bounds("gen.p", lower, upper)


def _settle(kept: dict, plan, actual, i0: int, hours: int, forecast: bool) -> dict[str, np.ndarray]:
    """The committed hours (steps ``i0 ..`` of ``actual``) on the actual series: renewables at
    their actual availability (capped at the planned output where the plan curtailed), the first
    external grid absorbing the rest."""
    planned_ext = kept["ext_grid.p"].copy()
    if not forecast:  # the plan's inputs were the actual ones
        return {"ext_grid.planned": planned_ext, "imbalance": np.zeros(hours)}
    actual = _slice(actual, i0, i0 + hours)
    planned_sgen = kept["sgen.p"]
    curtailed = plan.sgen.p_avail_mw[:hours] - planned_sgen > _TOL
    sgen = np.where(curtailed, np.minimum(actual.sgen.p_avail_mw, planned_sgen), actual.sgen.p_avail_mw)
    imbalance = (actual.load_p_mw - plan.load_p_mw[:hours]).sum(axis=1) - (sgen - planned_sgen).sum(axis=1)
    ext = planned_ext.copy()
    ext[:, 0] += imbalance
    return {"sgen.p": sgen, "ext_grid.p": ext, "ext_grid.planned": planned_ext, "imbalance": imbalance}


# ---------------------------------------------------------------- EV sessions across windows


@dataclass
class _EvBook:
    """Every session of the run, the energy each has received so far (MWh), and the EV slots of
    the windows' LPs: per EV node, as many as the most sessions plugged in during one window."""

    node: np.ndarray  # (S,) node of each session
    arrival: np.ndarray  # (S,) datetime64[ns]
    departure: np.ndarray
    energy: np.ndarray  # (S,) requested MWh
    p_max: np.ndarray  # (S,) MW
    nodes: np.ndarray  # (K,) the EV nodes, sorted: the results' columns
    network: object  # gridopt.dispatch.inputs.Network
    layout: object  # EvSessions: the persistent LP's empty slots, grouped by node
    delivered: np.ndarray  # (S,) MWh received so far
    unserved: np.ndarray  # (S,) MWh short at departure (NaN: not departed yet)
    ids: np.ndarray  # (S,) session ids
    bus: np.ndarray  # (S,) pandapower bus
    placed: tuple[np.ndarray, np.ndarray] | None = None  # the window's sessions and their slots
    until: np.datetime64 | None = None  # end of the committed hours so far

    @classmethod
    def of(cls, sessions: xr.Dataset | None, actual, issues: pd.DatetimeIndex, horizon_h: int) -> _EvBook | None:
        """The sessions still plugged in at the first issue or arriving later (None: none), and
        slots for the windows issued at ``issues``."""
        from gridopt.dispatch.inputs import ev_slots

        if sessions is None:
            return None
        later = sessions.ev_departure_time.values.astype("datetime64[ns]") > issues[0].to_datetime64()
        sessions = sessions.isel(session=np.flatnonzero(later))
        if not sessions.sizes["session"]:
            return None
        net = actual.network
        node_of = dict(zip(net.bus.tolist(), net.node_of_bus.tolist()))
        node = np.array([node_of[b] for b in sessions.ev_bus.values.astype(int)])
        arrival = sessions.ev_arrival_time.values.astype("datetime64[ns]")
        departure = sessions.ev_departure_time.values.astype("datetime64[ns]")
        nodes, k_of = np.unique(node, return_inverse=True)
        most = np.zeros(len(nodes), dtype=int)
        time = actual.time.values.astype("datetime64[ns]")
        for issue in issues:
            i0 = actual.time.get_loc(issue)
            end = time[min(i0 + horizon_h, len(time)) - 1] + np.timedelta64(1, "h")
            plugged = (arrival < end) & (departure > time[i0])
            most = np.maximum(most, np.bincount(k_of[plugged], minlength=len(nodes)))
        slot_node = np.repeat(nodes, most)
        n = len(node)
        ids = sessions.indexes["session"] if "session" in sessions.indexes else np.arange(n)
        return cls(node=node, arrival=arrival, departure=departure, ids=np.asarray(ids),
                   bus=sessions.ev_bus.values.astype(int),
                   energy=sessions.ev_energy_mwh.values.astype(float),
                   p_max=sessions.ev_p_max_mw.values.astype(float), nodes=nodes, network=net,
                   layout=ev_slots(slot_node, net.node_bus[slot_node]),
                   delivered=np.zeros(n), unserved=np.full(n, np.nan))

    def slots(self, time: pd.DatetimeIndex, persistent: bool):
        """The window's EV input (``EvSessions``): the sessions plugged in during ``time`` that
        still need energy, in the slots of their node in order of arrival: the fixed layout's
        (``persistent``) or one slot each (a rebuilt LP). Filled by arrival, a slot tends to hold
        a car plugged in at the same hours of the window as the day before; keeping each car in its
        slot instead costs HiGHS's warm start more simplex iterations (81 against 62 per window,
        median, on the default model)."""
        from gridopt.dispatch.inputs import ev_slots, fill_ev_slots

        end = time[-1].to_datetime64() + np.timedelta64(1, "h")
        left = self.energy - self.delivered
        active = np.flatnonzero((self.arrival < end) & (self.departure > time[0].to_datetime64())
                                & (left > _TOL) & np.isnan(self.unserved))
        active = active[np.lexsort((self.arrival[active], self.node[active]))]
        nodes = self.node[active]
        layout = self.layout if persistent else ev_slots(nodes, self.network.node_bus[nodes])
        slot = np.searchsorted(layout.node, nodes) + np.arange(len(active)) - np.searchsorted(nodes, nodes)
        if (slot >= len(layout)).any() or (layout.node[slot] != nodes).any():
            raise SolverError("internal: a window has more EV sessions at a bus than the slots counted for it")
        self.placed = (active, slot)
        return fill_ev_slots(layout, slot, time, 1.0, self.arrival[active], self.departure[active],
                             left[active], self.p_max[active])

    def per_bus(self, p_mw: np.ndarray, slot_node: np.ndarray) -> np.ndarray:
        """(hours, K) EV charging per EV node from ``p_mw`` (hours, slots; slots grouped by node)."""
        out = np.zeros((len(p_mw), len(self.nodes)))
        if len(slot_node):
            starts = np.flatnonzero(np.r_[True, slot_node[1:] != slot_node[:-1]])
            out[:, np.searchsorted(self.nodes, slot_node[starts])] = np.add.reduceat(p_mw, starts, axis=1)
        return out

    def commit(self, times: pd.DatetimeIndex, p_mw: np.ndarray) -> None:
        """Deliver the committed hours' charging ``p_mw`` (hours, slots) to the window's sessions
        and close the sessions that left: what they lack is unserved."""
        active, slot = self.placed
        self.delivered[active] += p_mw[:, slot].sum(axis=0)  # MWh: one-hour steps
        end = times[-1].to_datetime64() + np.timedelta64(1, "h")
        left_now = np.flatnonzero((self.departure <= end) & np.isnan(self.unserved))
        self.unserved[left_now] = np.maximum(self.energy[left_now] - self.delivered[left_now], 0.0)
        self.until = end

    def unserved_per_bus(self) -> np.ndarray:
        """(K,) energy sessions lacked at departure, by EV node."""
        short = np.nan_to_num(self.unserved)
        return np.bincount(np.searchsorted(self.nodes, self.node), weights=short, minlength=len(self.nodes))

    def counted(self, start: np.datetime64) -> np.ndarray:
        """Whether each session was plugged in at some committed hour from ``start`` on."""
        return (self.arrival < self.until) & (self.departure > start)

    def session_results(self, start: np.datetime64) -> xr.Dataset:
        """Per session plugged in during the run: bus, energy requested, delivered and unserved at
        departure (MWh; NaN: still plugged in at the end)."""
        kept = np.flatnonzero(self.counted(start))
        attrs = {"units": "MWh", "cell_methods": "session: point"}
        return xr.Dataset(
            {
                "ev_session_bus": ("session", self.bus[kept], {"units": "1", "long_name": "pandapower bus of the EV session"}),
                "ev_session_energy_mwh": ("session", self.energy[kept], {**attrs, "long_name": "EV energy requested"}),
                "ev_session_delivered_mwh": ("session", self.delivered[kept], {**attrs, "long_name": "EV energy delivered"}),
                "ev_session_unmet_mwh": ("session", self.unserved[kept],
                                         {**attrs, "long_name": "EV energy not delivered by departure (NaN: still plugged in)"}),
            },
            coords={"session": self.ids[kept]},
        )

    def findings(self, tol: float) -> list[tuple[float, str]]:
        """(MWh, line) per session that left short by more than ``tol``, for the explanation."""
        from gridopt.dispatch.inputs import ev_session_label
        from gridopt.solve import ev_session_finding

        ids = self.ids.tolist()  # Python scalars: their repr is the id as written
        short = np.flatnonzero(np.nan_to_num(self.unserved) > tol)
        return [ev_session_finding(ev_session_label(ids[s], self.bus[s]), self.unserved[s],
                                   self.departure[s], self.until) for s in short]

    def pending_mwh(self) -> float:
        """Energy still owed to sessions plugged in at the end of the run."""
        open_ = np.isnan(self.unserved) & (self.arrival < self.until)
        return float((self.energy[open_] - self.delivered[open_]).clip(min=0).sum())

    def summary(self, data):
        """The EV part of the stitched run's data: one aggregate per EV node."""
        from gridopt.dispatch.inputs import EvAggregates

        k = len(self.nodes)
        zeros = np.zeros((data.n_time, k))
        counted = self.counted(data.time[0].to_datetime64())
        bus = self.network.node_bus[self.nodes]
        return EvAggregates(
            index=bus, node=self.nodes, label=[f"EV sessions at bus {b}" for b in bus],
            p_max_mw=zeros, e_early_mwh=zeros, e_late_mwh=zeros, shortfall_mwh=np.zeros(k),
            n_sessions=np.bincount(np.searchsorted(self.nodes, self.node[counted]), minlength=k),
            uncontrolled=zeros,
        )
