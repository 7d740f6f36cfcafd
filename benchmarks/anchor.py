"""The case118 anchor of shared/PERFORMANCE.md, built and solved by gridopt, phase by phase.

Problem: pandapower's case118 (linear costs only), PV and wind at 20 % of the buses, batteries
(η 0.95/0.95, cyclic SOC) at 10 %, EV fleets as per-bus envelopes at 10 %, a CO2 price on grid
imports and thermal units, line ratings tightened to 1.25 × the base-case DC flow (at least 30 MW)
so that some bind. Series are synthetic and seeded (daily load, PV and wind shapes, price).

For each horizon: gridopt's phases (build, hand-off, HiGHS, extraction), then the same LP written
by HiGHS to MPS, read into a fresh ``Highs`` and solved alone: "total / HiGHS alone" is the figure
of merit (target <= 1.25). Medians of ``--repeat`` runs.

    python benchmarks/anchor.py                 # T = 24, 168
    python benchmarks/anchor.py --hours 24 168 8760 --repeat 1
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import warnings
from pathlib import Path

import highspy
import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
import xarray as xr

from gridopt.dispatch import build
from gridopt.options import GenParams, StorageParams, make_options
from gridopt.solve import hand_off, solve

SEED = 118


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


def run_gridopt(hours: int, **overrides) -> tuple[dict, object]:
    """gridopt's phase timings (s) and the problem, for one horizon."""
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


def run_highs_alone(problem) -> dict:
    """Write the problem's LP to MPS, read it into a fresh Highs and solve it there."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "anchor.mps")
        problem.highs.writeModel(path)
        highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        highs.readModel(path)
        highs.run()
        return {"highs_alone_s": highs.getRunTime(), "objective": highs.getInfo().objective_function_value}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=int, nargs="+", default=[24, 168])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dc-flow", choices=["angle", "cycle"], default=None)
    args = parser.parse_args()
    overrides = {"dc_flow": args.dc_flow} if args.dc_flow else {}
    header = ("T", "cols", "rows", "build", "hand-off", "HiGHS", "extract", "total", "HiGHS alone", "total/alone", "overhead", "status")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for hours in args.hours:
        runs, alone = [], []
        for _ in range(args.repeat):
            timings, problem = run_gridopt(hours, **overrides)
            runs.append(timings)
            solo = run_highs_alone(problem)
            assert abs(solo["objective"] - timings["objective"]) <= 1e-6 * abs(timings["objective"])
            alone.append(solo["highs_alone_s"])
        med = {k: statistics.median(r[k] for r in runs) for k in ("time_build_s", "time_handoff_s", "time_solve_s", "time_extract_s", "total_s")}
        solo_s = statistics.median(alone)
        print(
            f"| {hours} | {runs[0]['cols']} | {runs[0]['rows']} | {med['time_build_s']:.2f} | {med['time_handoff_s']:.2f} "
            f"| {med['time_solve_s']:.2f} | {med['time_extract_s']:.2f} | {med['total_s']:.2f} | {solo_s:.2f} "
            f"| {med['total_s'] / solo_s:.2f} | {med['total_s'] - med['time_solve_s']:.2f} | {runs[0]['status']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
