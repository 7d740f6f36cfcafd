"""The benchmark runner: gridopt and its peers on the problems of ``registry.py``, phase by phase.

    python benchmarks/run.py [--problems case118 sb_lv ...] [--hours 24 168 ...]
                             [--tools gridopt highs pypsa pyomo runpp ...] [--repeat N]
                             [--out benchmarks/results/<stamp>.json]

``--option NAME VALUE`` sets a dispatch option for gridopt and plain Pyomo (e.g. ``dc_flow angle``),
``--highs-option NAME VALUE`` a HiGHS option for gridopt and HiGHS alone (e.g. ``solver ipm``).

Tools (each measurement in a fresh child process; its peak memory is the child's ``VmHWM``, imports
included; the case is made once in the parent and unpickled by each child; neither imports nor
unpickling are timed):

- ``gridopt``: ``build`` (net + series -> arrays -> LP registry), ``handoff`` (LP -> ``highspy``),
  ``highs`` (HiGHS's run time), ``extract`` (results dataset with nodal prices and emissions), and
  separately ``ac`` (``gridopt.validate.ac_check`` on every step of the dispatch).
  ``gridopt_plain`` is the same with ``lazy_slacks=False`` (the full LP in one HiGHS run).
- ``highs``: HiGHS alone on gridopt's LP (the floor): the LP's arrays, saved by the gridopt child,
  passed to a fresh ``highspy.Highs`` with ``passModel`` (``handoff``) and solved (``highs``).
- ``pypsa``: the same dispatch built by PyPSA (``gridopt.testing.pypsa_twin``, ``create_model``:
  ``build``), solved through linopy with ``io_api="direct"`` (``handoff`` = linopy's solve minus
  HiGHS's run time) and read back (``assign_solution``, ``assign_duals``, ``post_processing``).
- ``pyomo``: a plain rule-per-index Pyomo model: gridopt's ``pyomo_model(problem)`` built with
  ``pyomo_templates=False`` (``build`` includes gridopt's input arrays), solved by Pyomo's
  ``appsi`` HiGHS interface the plain way (``handoff`` = appsi's solve minus HiGHS's run time),
  ``extract`` = loading primal values and duals back into Pyomo.
- ``runpp``: the AC check done by hand: for ``--runpp-steps`` steps spread over the horizon, the
  dispatch's setpoints written into a copy of the net and ``pp.runpp`` called per step;
  extrapolated linearly to the whole horizon (``ac``) and checked against gridopt's bus voltages.
- ``forecast``: forecasting throughput on ``forecast_100.py``'s code path (its 100 real series,
  serial, day-ahead); once per repeat, not per problem; needs the shared data.

Objectives must agree to 1e-6 relative across the tools of a (problem, T) before any time is
shown; otherwise the runner prints the objectives, writes them to the JSON and exits 1. Medians
over ``--repeat`` runs. "total" = build + handoff + highs + extract. Ratios: total / the floor's
HiGHS run time, and total / PyPSA's total. A child that runs past ``--time-limit`` seconds or
``--max-rss-gb`` is stopped and recorded as such. Writes the JSON and a markdown table beside it.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TOOLS = ("gridopt", "gridopt_plain", "highs", "pypsa", "pyomo", "runpp", "forecast")
CHILDREN = (*TOOLS, "lp")  # "lp": gridopt's LP saved for HiGHS alone when gridopt's own child did not
DEFAULT_TOOLS = ("gridopt", "highs", "pypsa", "pyomo", "runpp")
LABELS = {"gridopt": "gridopt", "gridopt_plain": "gridopt, lazy_slacks=False", "highs": "HiGHS alone (floor)",
          "pypsa": "PyPSA (linopy)", "pyomo": "plain Pyomo + appsi HiGHS", "runpp": "runpp loop",
          "forecast": "forecast (100 series)"}
PHASES = ("build", "handoff", "highs", "extract")
DISPATCH = ("gridopt", "gridopt_plain", "highs", "pypsa", "pyomo")  # tools that solve the LP
RTOL = 1e-6


# ---------------------------------------------------------------- child side


def peak_rss_gb() -> float:
    """This process's peak resident set size (``VmHWM``), GB."""
    return _status_kb("self", "VmHWM") / 1024**2


def _status_kb(pid, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))


def _case_path(work: Path, problem: str, hours: int) -> Path:
    return work / f"case_{problem}_{hours}.pkl"


def make_case(work: Path, problem: str, hours: int) -> float:
    """Make the registry's case once (in the parent) and keep it as a pickle for the children, so
    that every measured child starts alike: it loads the pickle. Returns the seconds it took."""
    from registry import case

    started = time.perf_counter()
    _case_path(work, problem, hours).write_bytes(pickle.dumps(case(problem, hours)))
    return time.perf_counter() - started


def load_case(work: Path, problem: str, hours: int):
    """The case made by ``make_case``."""
    return pickle.loads(_case_path(work, problem, hours).read_bytes())


def child_gridopt(work: Path, problem: str, hours: int, overrides: dict, save: bool, runpp_steps: int = 48) -> dict:
    """gridopt's phases and its AC check; with ``save``, the LP's arrays (for HiGHS alone) and the
    sampled setpoints and voltages (for the runpp loop) go to ``work``."""
    from gridopt.dispatch import build
    from gridopt.options import make_options
    from gridopt.solve import hand_off, solve
    from gridopt.validate import ac_check

    c = load_case(work, problem, hours)
    problem_ = build(c.net, c.series, make_options(c.options, **overrides), c.ev)
    hand_off(problem_)
    results = solve(problem_)
    t = problem_.timings
    out = {"build": t["time_build_s"], "handoff": t["time_handoff_s"], "highs": t["time_solve_s"],
           "extract": t["time_extract_s"], "objective": results.attrs["objective"],
           "status": results.attrs["status"], "cols": problem_.n_cols, "rows": problem_.n_rows,
           "buses": len(c.net.bus), "peak_rss_gb": peak_rss_gb()}
    started = time.perf_counter()
    ac = ac_check(c.net, c.series, results)
    out["ac"] = time.perf_counter() - started
    out["ac_backend"] = ac.attrs["ac_backend"]
    out["ac_converged"] = f"{int(ac['ac_converged'].sum())}/{hours}"
    if save:
        _save_lp(work / f"lp_{problem}_{hours}.npz", problem_)
        steps = sample_steps(hours, runpp_steps)
        sample = results.isel(time=steps)
        sample["ac_bus_vm_pu"] = ac["ac_bus_vm_pu"].isel(time=steps)
        (work / f"ac_{problem}_{hours}.pkl").write_bytes(pickle.dumps(sample))
    return out


def _save_lp(path: Path, problem) -> None:
    from gridopt.dispatch.lp import assemble

    lp = assemble(problem)
    m = lp.matrix.tocsc()
    np.savez(path, indptr=m.indptr, indices=m.indices, data=m.data, shape=np.array(lp.shape),
             cost=lp.cost, offset=np.array(lp.offset), col_lower=lp.col_lower, col_upper=lp.col_upper,
             row_lower=lp.row_lower, row_upper=lp.row_upper)


def child_lp(work: Path, problem: str, hours: int, overrides: dict) -> dict:
    """gridopt's LP built and saved for HiGHS alone, untimed (when gridopt's child was stopped)."""
    from gridopt.dispatch import build
    from gridopt.options import make_options

    c = load_case(work, problem, hours)
    _save_lp(work / f"lp_{problem}_{hours}.npz", build(c.net, c.series, make_options(c.options, **overrides), c.ev))
    return {"peak_rss_gb": peak_rss_gb()}


def child_highs(work: Path, problem: str, hours: int, highs_options: dict) -> dict:
    """HiGHS alone: gridopt's LP from its arrays into a fresh ``Highs`` (``passModel``), solved."""
    import highspy

    lp = np.load(work / f"lp_{problem}_{hours}.npz")
    n_row, n_col = (int(x) for x in lp["shape"])
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    for name, value in highs_options.items():
        highs.setOptionValue(name, value)
    started = time.perf_counter()
    highs.passModel(n_col, n_row, len(lp["data"]), int(highspy.MatrixFormat.kColwise),
                    int(highspy.ObjSense.kMinimize), float(lp["offset"]), lp["cost"], lp["col_lower"],
                    lp["col_upper"], lp["row_lower"], lp["row_upper"], lp["indptr"][:-1].astype(np.int32),
                    lp["indices"].astype(np.int32), lp["data"], np.zeros(n_col, dtype=np.int32))
    handoff = time.perf_counter() - started
    highs.run()
    return {"build": 0.0, "handoff": handoff, "highs": highs.getRunTime(), "extract": 0.0,
            "objective": highs.getInfo().objective_function_value, "status": highs.getModelStatus().name,
            "cols": n_col, "rows": n_row, "peak_rss_gb": peak_rss_gb()}


def child_pypsa(work: Path, problem: str, hours: int) -> dict:
    """PyPSA's twin of the case: network + linopy model, HiGHS direct, solution and duals back."""
    import logging

    from gridopt.dispatch.inputs import prepare
    from gridopt.dispatch.objective import constant_terms
    from gridopt.testing import pypsa_twin

    logging.disable(logging.WARNING)
    c = load_case(work, problem, hours)
    data = prepare(c.net, c.series, c.options, c.ev)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        n = pypsa_twin(data)
        m = n.optimize.create_model()
        t1 = time.perf_counter()
        _, condition = m.solve(solver_name="highs", io_api="direct", output_flag=False)
        t2 = time.perf_counter()
        n.optimize.assign_solution()
        n.optimize.assign_duals()
        n.optimize.post_processing()
        t3 = time.perf_counter()
    run = m.solver_model.getRunTime()
    return {"build": t1 - t0, "handoff": t2 - t1 - run, "highs": run, "extract": t3 - t2,
            "objective": float(n.objective) + sum(constant_terms(data).values()), "status": condition,
            "cols": int(m.nvars), "rows": int(m.ncons), "peak_rss_gb": peak_rss_gb()}


def child_pyomo(work: Path, problem: str, hours: int, overrides: dict) -> dict:
    """Plain rule-per-index Pyomo (gridopt's model, no templating) through ``appsi``'s HiGHS."""
    import pyomo.environ as pyo
    from pyomo.contrib.appsi.solvers import Highs

    from gridopt.dispatch import build
    from gridopt.dispatch.model import pyomo_model
    from gridopt.options import make_options

    c = load_case(work, problem, hours)
    t0 = time.perf_counter()
    overrides = {k: v for k, v in overrides.items() if k != "highs_options"}
    model = pyomo_model(build(c.net, c.series, make_options(c.options, **overrides, pyomo_templates=False), c.ev))
    t1 = time.perf_counter()
    opt = Highs()
    opt.config.load_solution = False
    opt.highs_options["output_flag"] = False
    res = opt.solve(model)
    t2 = time.perf_counter()
    res.solution_loader.load_vars()
    duals = res.solution_loader.get_duals()
    t3 = time.perf_counter()
    run = opt._solver_model.getRunTime()  # appsi keeps its highspy.Highs here
    n_rows = sum(1 for _ in model.component_data_objects(pyo.Constraint, active=True))
    return {"build": t1 - t0, "handoff": t2 - t1 - run, "highs": run, "extract": t3 - t2,
            "objective": res.best_feasible_objective, "status": str(res.termination_condition.name),
            "cols": opt._solver_model.getNumCol(), "rows": n_rows, "duals": len(duals),
            "peak_rss_gb": peak_rss_gb()}


def sample_steps(hours: int, n: int) -> np.ndarray:
    """``n`` step positions spread evenly over ``hours`` (all of them when fewer)."""
    return np.unique(np.linspace(0, hours - 1, min(n, hours)).round().astype(int))


def child_runpp(work: Path, problem: str, hours: int) -> dict:
    """The AC check by hand: the dispatch's setpoints into a net copy, ``pp.runpp`` per sampled
    step; seconds extrapolated to ``hours`` steps; max |Δvm| against gridopt's AC check."""
    import pandapower as pp

    c = load_case(work, problem, hours)
    sample = pickle.loads((work / f"ac_{problem}_{hours}.pkl").read_bytes())
    net = copy.deepcopy(c.net)
    for table in ("load", "sgen", "storage", "gen"):
        net[table]["scaling"] = 1.0
    series = c.series.sel(time=sample.time)
    ev = sample.get("ev_p_mw")
    if ev is not None:
        pp.create_loads(net, buses=ev["ev_bus"].values, p_mw=0.0, name="EV")
    n_load = len(c.net.load)
    vm = np.empty(sample["ac_bus_vm_pu"].shape)
    started = time.perf_counter()
    for k in range(sample.sizes["time"]):
        p = series["load_p_mw"].values[k]
        net.load["p_mw"] = p if ev is None else np.concatenate([p, ev.values[k]])
        net.load["q_mvar"] = np.concatenate([series["load_q_mvar"].values[k], np.zeros(len(net.load) - n_load)])
        net.sgen["p_mw"] = sample["sgen_p_mw"].values[k]
        net.gen["p_mw"] = sample["gen_p_mw"].values[k]
        net.storage["p_mw"] = sample["storage_charge_mw"].values[k] - sample["storage_discharge_mw"].values[k]
        pp.runpp(net)
        vm[k] = net.res_bus["vm_pu"].loc[sample["bus"].values].to_numpy()
    seconds = time.perf_counter() - started
    dvm = float(np.nanmax(np.abs(vm - sample["ac_bus_vm_pu"].values)))
    return {"ac": seconds * hours / sample.sizes["time"], "ac_steps": int(sample.sizes["time"]),
            "ac_max_dvm_pu": dvm, "peak_rss_gb": peak_rss_gb()}


def child_forecast(horizon_h: int = 48) -> dict:
    """forecast_100.py's timing path, serial: 100 real series fitted and forecast day-ahead."""
    import pandas as pd
    from forecast_100 import ISSUE, YEAR, beijing, eia, run_forecast, simbench

    issues = {k: pd.Timestamp(v) for k, v in ISSUE.items()}
    groups = {"beijing": beijing(YEAR, issues["beijing"], horizon_h),
              "eia": eia(YEAR, issues["eia"], horizon_h),
              "simbench": simbench(YEAR, issues["simbench"], horizon_h)}
    jobs = [(t, ISSUE[g]) for g, tasks in groups.items() for t in tasks]
    started = time.perf_counter()
    for t, issue in jobs:
        run_forecast(t, issue, horizon_h)
    return {"forecast": time.perf_counter() - started, "series": len(jobs), "peak_rss_gb": peak_rss_gb()}


def warm_imports() -> None:
    """Import before any clock starts what xarray would import on first use: with dask installed,
    xarray imports it when it first builds a variable from anything but a plain array (0.3-1 s,
    once per process), which would otherwise land in whichever phase came first."""
    from xarray.namedarray.pycompat import array_type

    array_type("dask")


def child_main(args) -> None:
    warm_imports()
    work, hours = Path(args.work), args.hours[0] if args.hours else 0
    problem = args.problems[0] if args.problems else ""
    overrides = json.loads(args.options)
    runpp_steps = overrides.pop("_runpp_steps", 48)
    if args.child == "gridopt":
        out = child_gridopt(work, problem, hours, overrides, save=True, runpp_steps=runpp_steps)
    elif args.child == "gridopt_plain":
        out = child_gridopt(work, problem, hours, {**overrides, "lazy_slacks": False}, save=False)
    elif args.child == "highs":
        out = child_highs(work, problem, hours, overrides.get("highs_options", {}))
    elif args.child == "pypsa":
        out = child_pypsa(work, problem, hours)
    elif args.child == "pyomo":
        out = child_pyomo(work, problem, hours, overrides)
    elif args.child == "runpp":
        out = child_runpp(work, problem, hours)
    elif args.child == "lp":
        out = child_lp(work, problem, hours, overrides)

    else:
        out = child_forecast()
    print(json.dumps(out))


# ---------------------------------------------------------------- parent side


def measure(tool: str, problem: str, hours: int, work: Path, options: dict, limits: argparse.Namespace) -> dict:
    """One measurement in a child process. A child that passes the time or memory limit is stopped
    and its record says so (``stopped``); a failing child's last stderr line is kept (``error``)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", tool, "--work", str(work),
           "--options", json.dumps(options)]
    if problem:
        cmd += ["--problems", problem, "--hours", str(hours)]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        stopped, rss = None, 0.0
        while child.poll() is None:
            rss = max(rss, _child_rss_gb(child.pid))
            if rss > limits.max_rss_gb:
                stopped = f"stopped at {limits.max_rss_gb} GB RSS"
            elif time.perf_counter() - started > limits.time_limit:
                stopped = f"stopped after {limits.time_limit:.0f} s"
            if stopped:
                child.kill()
                child.wait()
                break
            time.sleep(0.2)
        out.seek(0)
        err.seek(0)
        lines, errors = out.read().strip().splitlines(), err.read().strip().splitlines()
    wall = time.perf_counter() - started
    if stopped:
        return {"stopped": stopped, "wall_s": wall, "peak_rss_gb": rss, "load_avg": load}
    if child.returncode or not lines:
        return {"error": errors[-1] if errors else f"exit {child.returncode}", "wall_s": wall, "load_avg": load}
    return {**json.loads(lines[-1]), "wall_s": wall, "load_avg": load}


def _child_rss_gb(pid: int) -> float:
    try:
        return _status_kb(pid, "VmRSS") / 1024**2
    except (FileNotFoundError, ProcessLookupError, StopIteration):
        return 0.0


def median(runs: list[dict]) -> dict:
    """The median of every timing over the completed runs (the first run's other fields)."""
    done = [r for r in runs if "stopped" not in r and "error" not in r]
    if not done:
        return dict(runs[0])
    out = dict(done[0])
    for key in (*PHASES, "ac", "forecast", "peak_rss_gb", "wall_s"):
        if key in out:
            out[key] = statistics.median(r[key] for r in done)
    if all(k in out for k in PHASES):
        out["total"] = sum(out[k] for k in PHASES)
    out["runs"] = len(done)
    return out


def agreement(med: dict[str, dict]) -> tuple[bool, str]:
    """Whether the objectives of the solving tools agree to ``RTOL`` (relative), and a line saying so."""
    objectives = {t: m["objective"] for t, m in med.items() if t in DISPATCH and "objective" in m}
    if len(objectives) < 2:
        return True, "one objective only"
    values = np.array(list(objectives.values()))
    spread = float((values.max() - values.min()) / max(abs(values).max(), 1e-12))
    text = ", ".join(f"{t} {v:.10g}" for t, v in objectives.items())
    return spread <= RTOL, f"relative spread {spread:.1e} ({text})"


def run_case(problem: str, hours: int, tools: list[str], args, work: Path) -> dict:
    """All tools on one (problem, T), ``args.repeat`` times interleaved; medians and agreement."""
    runs: dict[str, list[dict]] = {t: [] for t in tools}
    made = make_case(work, problem, hours)
    for _ in range(args.repeat):
        for tool in tools:
            if tool == "highs" and not (work / f"lp_{problem}_{hours}.npz").exists():
                measure("lp", problem, hours, work, args.option_overrides, args)
            if tool == "runpp" and not (work / f"ac_{problem}_{hours}.pkl").exists():
                runs[tool].append({"error": "no gridopt dispatch to check", "load_avg": os.getloadavg()[0]})
                continue
            runs[tool].append(measure(tool, problem, hours, work, args.option_overrides, args))
            _progress(problem, hours, tool, runs[tool][-1])
    med = {t: median(r) for t, r in runs.items()}
    agree, note = agreement(med)
    return {"problem": problem, "hours": hours, "case_made_s": made, "agree": agree, "objectives": note,
            "median": med, "runs": runs}


def _progress(problem: str, hours: int, tool: str, r: dict) -> None:
    what = r.get("stopped") or r.get("error") or ", ".join(
        f"{k} {r[k]:.2f}" for k in (*PHASES, "ac", "forecast", "peak_rss_gb") if k in r)
    print(f"# {problem} T={hours} {tool}: {what} (load {r['load_avg']:.1f})", file=sys.stderr, flush=True)


def machine() -> dict:
    """nproc, RAM, CPU model, load average now, and the versions that matter."""
    with open("/proc/meminfo") as f:
        ram_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    versions = {}
    for pkg in ("highspy", "pyomo", "pypsa", "linopy", "pandapower", "lightsim2grid", "numpy", "pandas", "scipy", "gridopt"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {"nproc": os.cpu_count(), "ram_gb": round(ram_kb / 1024**2, 1), "cpu": cpu,
            "python": platform.python_version(), "versions": versions}


# ---------------------------------------------------------------- tables


def _f(x, digits: int = 2) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def dispatch_table(cases: list[dict]) -> list[str]:
    """One markdown table of the solving tools, with the ratios to the floor and to PyPSA."""
    lines = [("| problem | T | tool | cols | rows | build | hand-off | HiGHS | extract | total | peak RSS GB "
             "| total / floor | total / PyPSA |"), "|" + "---|" * 13]
    for c in cases:
        med = c["median"]
        if not c["agree"]:
            lines.append(f"| {c['problem']} | {c['hours']} | objectives disagree: {c['objectives']} |" + " |" * 10)
            continue
        floor = med.get("highs", {}).get("highs")
        pypsa = med.get("pypsa", {}).get("total")
        for tool, m in med.items():
            if tool not in DISPATCH:
                continue
            if "total" not in m:  # stopped or failed: what happened, and the RSS it had reached
                rss = _f(m.get("peak_rss_gb"))
                lines.append(f"| {c['problem']} | {c['hours']} | {LABELS[tool]} | "
                             f"{m.get('stopped') or m.get('error')} |" + " |" * 6 + f" {rss} | | |")
                continue
            r1 = _f(m["total"] / floor) if floor else ""
            r2 = _f(m["total"] / pypsa) if pypsa else ""
            lines.append(f"| {c['problem']} | {c['hours']} | {LABELS[tool]} | {m['cols']} | {m['rows']} | "
                         f"{_f(m['build'])} | {_f(m['handoff'])} | {_f(m['highs'])} | {_f(m['extract'])} | "
                         f"{_f(m['total'])} | {_f(m['peak_rss_gb'])} | {r1} | {r2} |")
    return lines


def ratio_table(cases: list[dict]) -> list[str]:
    """gridopt's total as a ratio to each peer's (HiGHS alone: to its run time, the floor), and the
    AC check to the runpp loop; blank where a tool did not run or did not finish."""
    lines = [("| problem | T | gridopt total s | gridopt / floor | gridopt / PyPSA | gridopt / plain Pyomo "
             "| AC check: gridopt / runpp loop |"), "|---|---|---|---|---|---|---|"]
    for c in cases:
        med = c["median"]
        g = med.get("gridopt", {})
        if not c["agree"] or "total" not in g:
            continue

        cells = [_ratio(g, med, tool, key, mine) for tool, key, mine in
                 (("highs", "highs", "total"), ("pypsa", "total", "total"), ("pyomo", "total", "total"),
                  ("runpp", "ac", "ac"))]
        lines.append(f"| {c['problem']} | {c['hours']} | {_f(g['total'])} | " + " | ".join(cells) + " |")
    return lines


def _ratio(g: dict, med: dict, tool: str, key: str, mine: str) -> str:
    """gridopt's ``mine`` over ``tool``'s ``key`` (blank when either is missing)."""
    other = med.get(tool, {}).get(key)
    return _f(g[mine] / other) if other and mine in g else ""


def ac_table(cases: list[dict]) -> list[str]:
    """gridopt's AC check against the runpp loop, where both ran."""
    lines = [("| problem | T | gridopt ac_check s (backend, converged) | runpp loop s (steps run, extrapolated) "
             "| gridopt / runpp | max abs Δvm pu |"), "|---|---|---|---|---|---|"]
    for c in cases:
        g, r = c["median"].get("gridopt", {}), c["median"].get("runpp", {})
        if "ac" not in g or "ac" not in r:
            continue
        lines.append(f"| {c['problem']} | {c['hours']} | {_f(g['ac'])} ({g['ac_backend']}, {g['ac_converged']}) | "
                     f"{_f(r['ac'])} ({r['ac_steps']}) | {_f(g['ac'] / r['ac'], 3)} | {r['ac_max_dvm_pu']:.1e} |")
    return lines


def markdown(report: dict) -> str:
    m = report["machine"]
    v = ", ".join(f"{k} {x}" for k, x in m["versions"].items() if x)
    out = [f"Command: `{report['command']}`", "",
           (f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gb']} GB RAM, Python {m['python']}; {v}. "
           f"Started {report['started']} UTC; load average {report['load_start']} at the start, "
           f"{report['load_end']} at the end. Medians of {report['repeat']} run(s), seconds."), ""]
    if report["cases"]:
        out += [*ratio_table(report["cases"]), "", *dispatch_table(report["cases"])]
    ac = ac_table(report["cases"])
    if len(ac) > 2:
        out += ["", *ac]
    for f in report.get("forecast", []):
        out += ["", f"Forecast: {f.get('series')} series fitted and forecast serially in "
                    f"{_f(f.get('forecast'), 1)} s, peak RSS {_f(f.get('peak_rss_gb'))} GB"
                    if "forecast" in f else f"Forecast: {f.get('error') or f.get('stopped')}"]
    return "\n".join(out) + "\n"


def run(args) -> dict:
    """Every (problem, T) with the chosen tools; the report (also written as JSON and markdown)."""
    tools = [t for t in TOOLS if t in args.tools]
    if any(t in tools for t in ("highs", "runpp")) and "gridopt" not in tools:
        tools.insert(0, "gridopt")  # HiGHS alone and the runpp loop read what gridopt's child saves
    solving = [t for t in tools if t != "forecast"]
    report = {"command": args.command or " ".join(["python", "benchmarks/run.py", *sys.argv[1:]]),
              "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
              "load_start": " ".join(f"{x:.2f}" for x in os.getloadavg()), "repeat": args.repeat,
              "machine": machine(), "cases": [], "forecast": []}
    print(f"# load average at start: {report['load_start']}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="gridopt-bench-") as tmp:
        for problem in args.problems if solving else []:
            for hours in args.hours:
                report["cases"].append(run_case(problem, hours, solving, args, Path(tmp)))
        if "forecast" in tools:
            for _ in range(args.repeat):
                report["forecast"].append(measure("forecast", "", 0, Path(tmp), {}, args))
    report["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"# load average at the end: {report['load_end']}", file=sys.stderr, flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str))
    out.with_suffix(".md").write_text(markdown(report))
    return report


def parser(problems=None) -> argparse.ArgumentParser:
    """The command line; ``problems`` are the registry's names (checked in the parent only, so that a
    child does not import the registry)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--problems", nargs="+", default=["case118"], choices=problems)
    p.add_argument("--hours", type=int, nargs="+", default=[24, 168])
    p.add_argument("--tools", nargs="+", choices=TOOLS, default=list(DEFAULT_TOOLS))
    p.add_argument("--repeat", type=int, default=3)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M")
    p.add_argument("--out", default=str(HERE / "results" / f"{stamp}.json"))
    p.add_argument("--time-limit", type=float, default=1500.0, help="seconds per child (default 25 min)")
    p.add_argument("--max-rss-gb", type=float, default=16.0, help="stop a child past this RSS")
    p.add_argument("--runpp-steps", type=int, default=48, help="steps the runpp loop runs (extrapolated)")
    p.add_argument("--highs-option", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="a HiGHS option for gridopt and HiGHS alone, e.g. --highs-option solver ipm")
    p.add_argument("--option", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="a dispatch option for gridopt and plain Pyomo, e.g. --option dc_flow angle")
    p.add_argument("--child", choices=CHILDREN, help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    p.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    p.add_argument("--command", default=None, help=argparse.SUPPRESS)
    return p


def option_value(text: str):
    """A command-line option value as int, float, bool or text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--render"]:  # re-render the markdown of earlier reports
        for path in argv[1:]:
            Path(path).with_suffix(".md").write_text(markdown(json.loads(Path(path).read_text())))
        return 0
    if "--child" in argv:
        child_main(parser().parse_args(argv))
        return 0
    from registry import PROBLEMS

    args = parser(sorted(PROBLEMS)).parse_args(argv)
    highs = {name: option_value(value) for name, value in args.highs_option}
    args.option_overrides = {"_runpp_steps": args.runpp_steps, **({"highs_options": highs} if highs else {}),
                             **{name: option_value(value) for name, value in args.option}}
    report = run(args)
    print(markdown(report))
    bad = [c for c in report["cases"] if not c["agree"]]
    for c in bad:
        print(f"objectives disagree at {c['problem']} T={c['hours']}: {c['objectives']}", file=sys.stderr)
    failed = [f"{c['problem']} T={c['hours']} {tool}: {r['error']}" for c in report["cases"]
              for tool, runs in c["runs"].items() for r in runs if "error" in r]
    for line in failed:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if bad or failed else 0


if __name__ == "__main__":
    sys.exit(main())
