"""One study end to end: model file → scenario → dispatch and baseline → key figures → store.

The baseline is the same scenario with uncontrolled EV charging and idle storage; every run
reports what it avoided against it (``kpi_*_avoided_*``). Phases are timed and reported through
``progress`` as they finish.

A run lands completely or not at all: the ``out`` file and the store folder are checked before
anything is computed, ``out`` is written under a temporary name and renamed into place only once
the store has the run, and a failed store write removes the temporary file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

import xarray as xr

from gridopt.aq_policy import without_policy, zone_emissions_t
from gridopt.config import ModelConfig
from gridopt.errors import ConfigError, GridoptError, SolverError
from gridopt.kpis import air_quality_kpis, avoided, kpis, policy_compared

__all__ = ["RunOutcome", "run_model", "run_inputs", "check_destinations", "save_results", "with_ac_check"]


@dataclass(frozen=True)
class RunOutcome:
    """A stored run: its id, results, key figures and those of its baseline."""

    run_id: str | None
    results: xr.Dataset
    kpis: dict[str, float]
    baseline_kpis: dict[str, float]
    avoided: dict[str, float]
    phases_s: dict[str, float]


def run_model(
    config: ModelConfig,
    *,
    store=None,
    out: Path | None = None,
    ac: bool = True,
    ac_iterations: int = 1,
    progress: Callable[[str, float], None] | None = None,
) -> RunOutcome:
    """Build, optimize, check with an AC power flow (``ac``), compare with the baseline, and save
    (to ``store`` and/or ``out``). ``ac_iterations`` > 1 runs the closed AC loop
    (:mod:`gridopt.ac_loop`) with at most that many solves.

    Raises ``SolverError`` when HiGHS fails or stops at its limit without a solution; a run that
    is infeasible as posed is returned (and stored) with its explanation.
    """
    from gridopt.dispatch import baseline_dispatch, optimize
    from gridopt.scenario import build_scenario

    check_destinations(store, out)
    phases: dict[str, float] = {}
    say = progress or (lambda _phase, _s: None)

    def timed(name: str, func, *args, **kwargs):
        start = perf_counter()
        value = func(*args, **kwargs)
        phases[name] = perf_counter() - start
        say(name, phases[name])
        return value

    scenario = timed("scenario", build_scenario, config)
    opts = scenario.options.model_dump()
    series = scenario.series
    if ac_iterations > 1:
        results = timed("ac loop", _ac_looped, scenario, config, opts, ac_iterations, say)
    else:
        results = timed("optimize", optimize, scenario.net, series, scenario.ev_sessions, **opts)
        _raise_if_unsolved(results, config)
        if ac:
            results = timed("ac check", with_ac_check, scenario, results)
    baseline = timed("baseline", baseline_dispatch, scenario.net, series, scenario.ev_sessions, **opts)
    _raise_if_unsolved(baseline, config, "baseline ")
    results, baseline = _with_signals(results, scenario), _with_signals(baseline, scenario)
    figures, base_figures = _figures(results, config), _figures(baseline, config)
    saved = avoided(figures, base_figures)
    if "aq_episode" in series:
        unpoliced = timed("no_policy", optimize, scenario.net, without_policy(series),
                          scenario.ev_sessions, **opts)
        _raise_if_unsolved(unpoliced, config, "no-policy ")
        _annotate_policy(results, _figures(_with_signals(unpoliced, scenario), config), figures)
    _annotate(results, config, figures, base_figures, saved, phases)
    save = {"model": config.name, "inputs": run_inputs(config), "options": opts, "model_file": config.path}
    run_id = None
    if store is not None or out is not None:
        run_id = timed("store", save_results, results, store, out, save)
    return RunOutcome(run_id, results, figures, base_figures, saved, phases)


def check_destinations(store, out: Path | None) -> None:
    """Refuse, before any work, a store or ``out`` path that cannot take the results."""
    if store is not None and store.root.exists() and not store.root.is_dir():
        raise ConfigError(f"--store {store.root}: must be a folder (got a file)")
    if out is None:
        return
    out = Path(out)
    if out.is_dir():
        raise ConfigError(f"--out {out}: must be a file name (got a folder)")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: folder {out.parent} does not exist")


def save_results(results: xr.Dataset, store, out: Path | None, save: dict) -> str | None:
    """Store the run and write ``out``, both or neither; returns the run id (None without store)."""
    tmp = None
    if out is not None:
        out = Path(out)
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        try:
            results.to_netcdf(tmp)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise GridoptError(f"--out {out}: cannot be written ({exc.strerror or exc})") from None
    try:
        run_id = store.save(results, **save) if store is not None else None
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    if tmp is not None:
        os.replace(tmp, out)
    return run_id


def _ac_looped(scenario, config: ModelConfig, opts: dict, iterations: int, say) -> xr.Dataset:
    """The closed AC loop; each iteration's violations, objective and time go to the attrs."""
    from gridopt.ac_loop import ac_loop

    def report(it) -> None:
        say(f"ac loop {it.number}: {it.violations} violations", it.time_s)

    results, ac, record = ac_loop(scenario.net, scenario.series, scenario.ev_sessions,
                                  max_iterations=iterations, progress=report, **opts)
    _raise_if_unsolved(results, config)
    merged = with_ac_check(scenario, results, ac)
    merged.attrs["ac_loop"] = "\n".join(
        f"iteration {it.number}: {it.violations} violations"
        + (f" (worst {it.worst})" if it.worst else "")
        + f", objective {it.objective:.6g}, {it.time_s:.2f} s" for it in record)
    return merged


def with_ac_check(scenario, results: xr.Dataset, ac: xr.Dataset | None = None) -> xr.Dataset:
    """The results with the AC power flow of every step, its violations and the linear error."""
    from gridopt.validate import ac_check, ac_violations, linear_error, violation_lines

    if ac is None:
        ac = ac_check(scenario.net, scenario.series, results)
    violations = ac_violations(scenario.net, ac)
    merged = xr.merge([results, ac], join="outer", combine_attrs="override")  # AC also reports open branches
    merged.attrs = {**results.attrs, **ac.attrs}
    merged.attrs["ac_violations"] = "\n".join(violation_lines(violations))
    merged.attrs["kpi_ac_violations"] = float(len(violations))
    merged.attrs["kpi_ac_unconverged_steps"] = float((~ac["ac_converged"].values).sum())
    for key, value in linear_error(results, ac).items():
        if isinstance(value, (int, float)):
            merged.attrs[f"ac_linear_error_{key}"] = float(value)
    return merged


SIGNALS = ("ext_grid_price_per_mwh", "ext_grid_co2_marginal_t_per_mwh", "ext_grid_co2_average_t_per_mwh",
           "aq_weight", "aq_episode", "aq_zone_aqi", "aq_zone_episode", "aq_zone_gen", "aq_cap_kg_per_h",
           "aqi_china", "aqi_epa")
"""Input series copied into the results, so a stored run explains itself (and the app can plot it)."""


def _with_signals(results: xr.Dataset, scenario) -> xr.Dataset:
    """The results with the SIGNALS, what the per-bus statement needs (``statement_inputs``) and,
    under an air-quality policy, each zone's emissions (``aq_zone_emissions_t``)."""
    from gridopt.statements import statement_inputs

    series = scenario.series
    present = [name for name in SIGNALS if name in series]
    out = results.assign({name: series[name] for name in present})
    out = out.assign(statement_inputs(scenario.net, series).data_vars)
    if "aq_zone_gen" in series:
        o = scenario.options.model_dump()
        out["aq_zone_emissions_t"] = zone_emissions_t(out["gen_p_mw"], series["aq_zone_gen"], o["gens"],
                                                      o["gen_default"], float(out.attrs["time_step_h"]))
    return out


def _figures(results: xr.Dataset, config: ModelConfig) -> dict[str, float]:
    figures = kpis(results)
    if "aq_episode" in results:
        figures.update(air_quality_kpis(results, config.policy.air_quality.standard))
    return figures


def _annotate_policy(results: xr.Dataset, unpoliced: dict[str, float], figures: dict[str, float]) -> None:
    """What the air-quality policy changed: the run without it minus the run with it (cost, CO2,
    episode-hour emissions of the model and of each zone; ``kpi_baseline_*`` has the baseline's)."""
    for key in policy_compared(figures):
        results.attrs[f"kpi_nopolicy_{key}"] = unpoliced[key]
        results.attrs[f"kpi_policy_{key}_avoided"] = unpoliced[key] - figures[key]


def _raise_if_unsolved(results: xr.Dataset, config: ModelConfig, what: str = "") -> None:
    """SolverError when HiGHS stopped at its time limit without a feasible point, or failed; the
    message says which. A run stopped at the limit with a feasible point goes on (``incumbent``)."""
    status = results.attrs.get("status")
    detail = results.attrs.get("explanation", "")
    if status == "time_limit" and "incumbent" not in results.attrs:
        limit = (f"time limit of {config.solver.time_limit_s:g} s", "time_limit_s")
        if "IterationLimit" in detail:
            limit = ("iteration limit", "highs_options")
        raise SolverError(
            f"{config.path}: {what}dispatch stopped at the solver {limit[0]} without a usable "
            f"solution (raise [solver] {limit[1]}; {detail})"
        )
    if status == "error":
        raise SolverError(f"{config.path}: {what}dispatch: the solver failed ({detail})")


def _annotate(results, config, figures, base_figures, saved, phases) -> None:
    results.attrs.update({f"kpi_{k}": v for k, v in figures.items()})
    results.attrs.update({f"kpi_baseline_{k}": v for k, v in base_figures.items()})
    results.attrs.update({f"kpi_{k}": v for k, v in saved.items()})
    results.attrs.update({f"time_phase_{k}_s": v for k, v in phases.items()})
    results.attrs["model"] = config.name
    results.attrs["currency"] = config.grid.currency


def run_inputs(config: ModelConfig) -> dict[str, Path | str]:
    """What the run read, for the manifest's hashes: data files by content, the network by name."""
    inputs: dict[str, Path | str] = {"network": config.network.source}
    for name, spec in config.series.items():
        if spec.path:
            path = config.resolve(spec.path)
            if path.is_file():
                inputs[f"series.{name}"] = path
    return inputs
