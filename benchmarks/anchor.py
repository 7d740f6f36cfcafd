"""The case118 anchor of shared/PERFORMANCE.md: gridopt, HiGHS alone and PyPSA on one dispatch LP.

Problem: pandapower's case118 (linear costs only), PV and wind at 20 % of the buses with daily
availability profiles, batteries (η 0.95/0.95, cyclic SOC) at 10 %, EV fleets as per-bus energy
envelopes at 10 %, a CO2 price (80/t) on grid imports and thermal units and a NOx damage cost,
DC flow, line ratings tightened to 1.25 × the base-case DC flow (at least 30 MW) so that some bind.
Series are synthetic and seeded (daily load, PV and wind shapes, price, grid CO2 intensity).

Three measurements per horizon, each in a fresh child process (so that its peak RSS, ``ru_maxrss``,
is its own; imports and the construction of the case are not timed but are in the RSS):

- **gridopt**: ``build`` (pandapower net + series -> arrays -> LP), ``hand_off`` (-> ``highspy``),
  HiGHS's run time, extraction (results dataset with prices and emissions). By default HiGHS
  first solves with the slacks held at zero (``lazy_slacks``); "gridopt, lazy_slacks=False"
  solves the full LP in one run, as HiGHS alone does.
- **HiGHS alone**: gridopt's LP written to MPS, read into a fresh ``Highs`` and solved there.
- **PyPSA** (1.2, linopy, ``io_api="direct"``): the same dispatch built with ``gridopt.testing.
  pypsa_twin`` from gridopt's input arrays, ``create_model``, ``solve``, ``assign_solution`` +
  ``assign_duals`` + ``post_processing``. "hand-off" is linopy's solve minus HiGHS's run time.

Objectives must agree (1e-6 relative) before any time is compared. "total" = build + hand-off +
HiGHS + extraction; the figures of merit are total / HiGHS alone (target <= 1.25) and
total / PyPSA total (target <= 0.6). Medians of ``--repeat`` runs.

    python benchmarks/anchor.py                          # T = 24, 168; 3 repeats
    python benchmarks/anchor.py --hours 168 --repeat 1
    python benchmarks/anchor.py --year                   # adds T = 8760, once, if memory allows

``--max-rss-gb`` (default 12) guards the machine: before a horizon above 168 h each tool's peak RSS
is extrapolated linearly in T from its 168-h run and the tool is skipped if that exceeds the
limit; a child whose RSS passes the limit while running is stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
import xarray as xr

from gridopt.options import GenParams, StorageParams, make_options

SEED = 118
TOOLS = ("gridopt", "gridopt_plain", "highs", "pypsa")
LABELS = {"gridopt": "gridopt", "gridopt_plain": "gridopt, lazy_slacks=False", "highs": "HiGHS alone", "pypsa": "PyPSA"}
PHASES = ("build", "handoff", "highs", "extract")


# ---------------------------------------------------------------- the problem


def anchor_case(hours: int):
    """(net, series, ev_sessions, options) of the anchor problem over ``hours`` hours."""
    rng = np.random.default_rng(SEED)
    net = pn.case118()
    net.poly_cost[["cp0_eur", "cp2_eur_per_mw2"]] = 0.0
    _tighten_ratings(net)
    buses = net.bus.index.to_numpy()
    n_bus = len(buses)
    renewable = rng.choice(buses, size=n_bus // 5, replace=False)
    pv, wind = renewable[: len(renewable) // 2], renewable[len(renewable) // 2 :]
    for b in pv:
        pp.create_sgen(net, b, p_mw=60.0, type="PV")
    for b in wind:
        pp.create_sgen(net, b, p_mw=80.0, type="WP")
    for b in rng.choice(buses, size=n_bus // 10, replace=False):
        pp.create_storage(net, b, p_mw=0, max_e_mwh=80.0, soc_percent=50, max_p_mw=20.0, min_p_mw=-20.0)
    time_index = pd.date_range("2024-06-03", periods=hours, freq="h")
    hour = np.arange(hours) % 24
    day_shape = 0.85 + 0.2 * np.sin((hour - 7) / 24 * 2 * np.pi)
    load = net.load.p_mw.to_numpy()[None, :] * day_shape[:, None] * rng.uniform(0.95, 1.05, (hours, len(net.load)))
    solar = np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None)[:, None] * rng.uniform(0.7, 1.0, (hours, len(pv)))
    gust = np.clip(0.4 + 0.3 * np.sin(np.arange(hours)[:, None] / 17 + rng.uniform(0, 6, len(wind))) + rng.normal(0, 0.1, (hours, len(wind))), 0, 1)
    series = xr.Dataset(
        {
            "load_p_mw": (("time", "load"), load),
            "sgen_p_max_mw": (("time", "sgen"), np.hstack([60.0 * solar, 80.0 * gust])),
            "ext_grid_price_per_mwh": ("time", 35 + 20 * np.sin((hour - 10) / 24 * 2 * np.pi)),
            "ext_grid_co2_marginal_t_per_mwh": ("time", 0.45 + 0.1 * np.cos(hour / 24 * 2 * np.pi)),
            "ext_grid_co2_average_t_per_mwh": ("time", 0.30 + 0.05 * np.cos(hour / 24 * 2 * np.pi)),
        },
        coords={"time": time_index, "load": net.load.index, "sgen": net.sgen.index},
    )
    ev = _ev_fleets(rng, rng.choice(buses, size=n_bus // 10, replace=False), time_index)
    options = make_options(
        carbon_price_per_t=80.0,
        gen_default=GenParams(co2_t_per_mwh=0.6, nox_t_per_mwh=0.001),
        nox_damage_cost_per_t=10_000.0,
        storage_default=StorageParams(charge_efficiency=0.95, discharge_efficiency=0.95),
        ev_formulation="aggregate",
        network="dc",
    )
    return net, series, ev, options


def _tighten_ratings(net) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.rundcpp(net)
    mva = np.maximum(1.25 * net.res_line.p_from_mw.abs().to_numpy(), 30.0)
    vn = net.bus.vn_kv.loc[net.line.from_bus].to_numpy()
    net.line["max_i_ka"] = mva / (np.sqrt(3) * vn)


def _ev_fleets(rng, buses, time_index, per_bus: int = 40) -> xr.Dataset:
    """Commuter sessions every day: arrive 07-10 h, leave 16-19 h, 10-40 kWh at 7-11 kW."""
    days = pd.date_range(time_index[0].normalize(), time_index[-1], freq="D")
    n = len(days) * len(buses) * per_bus
    day = np.repeat(days.values, len(buses) * per_bus)
    arrival = day + (rng.uniform(7, 10, n) * 3600e9).astype("timedelta64[ns]")
    departure = day + (rng.uniform(16, 19, n) * 3600e9).astype("timedelta64[ns]")
    return xr.Dataset(
        {
            "ev_bus": ("session", np.tile(np.repeat(buses, per_bus), len(days))),
            "ev_arrival_time": ("session", arrival),
            "ev_departure_time": ("session", departure),
            "ev_energy_mwh": ("session", rng.uniform(0.010, 0.040, n)),
            "ev_p_max_mw": ("session", rng.uniform(0.007, 0.011, n)),
        },
        coords={"session": [f"s{i}" for i in range(n)]},
    )


# ---------------------------------------------------------------- measurements (child side)


def _rss_gb() -> float:
    """Current resident set size of this process, GB."""
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kb / 1024**2


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # ru_maxrss is in kB


def run_gridopt(hours: int, **overrides) -> tuple[dict, object]:
    """gridopt's phase timings (s), objective, status and LP size, and the problem, for one horizon
    (also used by ``flow_formulations.py``)."""
    from gridopt.dispatch import build
    from gridopt.solve import hand_off, solve

    net, series, ev, options = anchor_case(hours)
    problem = build(net, series, make_options(options, **overrides), ev)
    hand_off(problem)
    results = solve(problem)
    timings = dict(problem.timings)
    timings["total_s"] = sum(timings[k] for k in ("time_build_s", "time_handoff_s", "time_solve_s", "time_extract_s"))
    timings["objective"] = results.attrs["objective"]
    timings["status"] = results.attrs["status"]
    timings["cols"], timings["rows"] = problem.n_cols, problem.n_rows
    return timings, problem


def measure_gridopt(hours: int, mps: str | None = None, **overrides) -> dict:
    """``run_gridopt`` with the RSS; writes the LP to ``mps`` afterwards (for HiGHS alone)."""
    start_rss = _rss_gb()
    t, problem = run_gridopt(hours, **overrides)
    out = {
        "build": t["time_build_s"],
        "handoff": t["time_handoff_s"],
        "highs": t["time_solve_s"],
        "extract": t["time_extract_s"],
        "objective": t["objective"],
        "status": t["status"],
        "cols": t["cols"],
        "rows": t["rows"],
        "start_rss_gb": start_rss,
        "peak_rss_gb": _peak_rss_gb(),
    }
    if mps:
        problem.highs.writeModel(mps)
    return out


def run_highs_alone(mps: str) -> dict:
    """A fresh ``Highs`` reads gridopt's LP from MPS and solves it."""
    import highspy

    start_rss = _rss_gb()
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    started = time.perf_counter()
    highs.readModel(mps)
    read = time.perf_counter() - started
    highs.run()
    return {
        "build": 0.0,
        "handoff": read,
        "highs": highs.getRunTime(),  # the run clock counts run() only, not the reading
        "extract": 0.0,
        "objective": highs.getInfo().objective_function_value,
        "status": highs.getModelStatus().name,
        "cols": highs.getNumCol(),
        "rows": highs.getNumRow(),
        "start_rss_gb": start_rss,
        "peak_rss_gb": _peak_rss_gb(),
    }


def run_pypsa(hours: int) -> dict:
    """PyPSA's twin of the anchor: network, linopy model, HiGHS direct, solution back."""
    import logging

    from gridopt.dispatch.inputs import prepare
    from gridopt.dispatch.objective import constant_terms
    from gridopt.testing import pypsa_twin

    logging.disable(logging.WARNING)
    net, series, ev, options = anchor_case(hours)
    data = prepare(net, series, options, ev)
    start_rss = _rss_gb()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        n = pypsa_twin(data)
        m = n.optimize.create_model()
        t1 = time.perf_counter()
        status, condition = m.solve(solver_name="highs", io_api="direct", output_flag=False)
        t2 = time.perf_counter()
        n.optimize.assign_solution()
        n.optimize.assign_duals()
        n.optimize.post_processing()
        t3 = time.perf_counter()
    run = m.solver_model.getRunTime()
    return {
        "build": t1 - t0,
        "handoff": t2 - t1 - run,
        "highs": run,
        "extract": t3 - t2,
        "objective": float(n.objective) + sum(constant_terms(data).values()),
        "status": condition,
        "cols": int(m.nvars),
        "rows": int(m.ncons),
        "start_rss_gb": start_rss,
        "peak_rss_gb": _peak_rss_gb(),
    }


# ---------------------------------------------------------------- the parent


def measure(tool: str, hours: int, mps: str, max_rss_gb: float, overrides: dict) -> dict:
    """Run one measurement in a child process; stop it if its RSS passes ``max_rss_gb``."""
    cmd = [sys.executable, __file__, "--child", tool, "--hours", str(hours), "--mps", mps,
           "--overrides", json.dumps(overrides)]
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, text=True)
        while child.poll() is None:
            if _child_rss_gb(child.pid) > max_rss_gb:
                child.kill()
                child.wait()
                raise MemoryError(f"{tool} at T={hours} passed {max_rss_gb} GB RSS and was stopped")
            time.sleep(0.2)
        out.seek(0)
        lines = out.read().strip().splitlines()
    if child.returncode or not lines:
        raise RuntimeError(f"{tool} at T={hours} failed (exit {child.returncode})")
    return json.loads(lines[-1])


def _child_rss_gb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024**2
    except (FileNotFoundError, StopIteration):
        return 0.0


def _median(runs: list[dict]) -> dict:
    out = dict(runs[0])
    for key in (*PHASES, "peak_rss_gb", "start_rss_gb"):
        out[key] = statistics.median(r[key] for r in runs)
    out["total"] = sum(out[k] for k in PHASES)
    return out


def _agree(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b))


def run_horizon(hours: int, repeat: int, tools: list[str], max_rss_gb: float, overrides: dict) -> dict:
    """Medians per tool for one horizon, after checking that the objectives agree."""
    runs: dict[str, list[dict]] = {tool: [] for tool in tools}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(repeat):
            mps = str(Path(tmp) / f"anchor_{hours}_{k}.mps")
            for tool in tools:
                runs[tool].append(measure(tool, hours, mps, max_rss_gb, overrides))
    med = {tool: _median(r) for tool, r in runs.items()}
    reference = med["gridopt"]["objective"]
    for tool, m in med.items():
        if not _agree(m["objective"], reference):
            raise AssertionError(f"T={hours}: {tool} objective {m['objective']!r} != gridopt {reference!r}")
    return med


def print_table(results: dict[int, dict]) -> None:
    header = ("T", "tool", "cols", "rows", "build", "hand-off", "HiGHS", "extract", "total",
              "peak RSS GB", "total / HiGHS alone", "total / PyPSA total")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for hours, med in results.items():
        alone = med.get("highs", {}).get("highs")
        pypsa = med.get("pypsa", {}).get("total")
        for tool, m in med.items():
            r1 = f"{m['total'] / alone:.2f}" if alone else ""
            r2 = f"{m['total'] / pypsa:.2f}" if pypsa else ""
            print(f"| {hours} | {LABELS[tool]} | {m['cols']} | {m['rows']} | {m['build']:.2f} | {m['handoff']:.2f} "
                  f"| {m['highs']:.2f} | {m['extract']:.2f} | {m['total']:.2f} | {m['peak_rss_gb']:.2f} | {r1} | {r2} |",
                  flush=True)


def _fits(tool: str, hours: int, results: dict, max_rss_gb: float) -> bool:
    """Whether the tool's peak RSS, extrapolated linearly from its 168-h run, stays under the limit."""
    base = results.get(168, {}).get(tool)
    if hours <= 168 or base is None:
        return True
    grow = (base["peak_rss_gb"] - base["start_rss_gb"]) * hours / 168
    guess = base["start_rss_gb"] + grow
    print(f"# {tool} at T={hours}: peak RSS extrapolated from T=168: {guess:.1f} GB", flush=True)
    return guess <= max_rss_gb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=int, nargs="+", default=[24, 168])
    parser.add_argument("--year", action="store_true", help="add T = 8760 (one run)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--max-rss-gb", type=float, default=12.0)
    parser.add_argument("--dc-flow", choices=["angle", "cycle"], default=None)
    parser.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--mps", help=argparse.SUPPRESS)
    parser.add_argument("--overrides", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        overrides = json.loads(args.overrides)
        hours = args.hours[0]
        if args.child == "gridopt":
            out = measure_gridopt(hours, args.mps, **overrides)
        elif args.child == "gridopt_plain":
            out = measure_gridopt(hours, None, **{**overrides, "lazy_slacks": False})
        elif args.child == "highs":
            out = run_highs_alone(args.mps)
        else:
            out = run_pypsa(hours)
        print(json.dumps(out))
        return
    overrides = {"dc_flow": args.dc_flow} if args.dc_flow else {}
    tools = ["gridopt"] + [t for t in args.tools if t != "gridopt"]  # HiGHS alone reads gridopt's LP
    hours_list = sorted(set(args.hours + ([168, 8760] if args.year else [])))
    print(f"# {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    results: dict[int, dict] = {}
    for hours in hours_list:
        fitting = [t for t in tools if _fits(t, hours, results, args.max_rss_gb)]
        if "gridopt" not in fitting:
            print(f"# T={hours} skipped: gridopt would pass {args.max_rss_gb} GB", flush=True)
            continue
        repeat = 1 if hours > 168 else args.repeat
        results[hours] = run_horizon(hours, repeat, fitting, args.max_rss_gb, overrides)
    print_table(results)
    print(f"# load average {os.getloadavg()[0]:.2f} at the end", flush=True)


if __name__ == "__main__":
    main()
