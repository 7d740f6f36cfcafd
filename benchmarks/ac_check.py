"""A year of hourly AC power flows on mv_oberrhein: gridopt's ac_check against a plain runpp loop.

Setpoints: every load at ``p_mw`` × ``scaling`` and every static generator at ``p_mw``, each times
a deterministic profile (loads: a daily curve × a winter-high season; generation: a solar-like
daily bell × a summer-high season). The anchor is what a user would write by hand: set the
loads and sgens of a net copy and call ``pp.runpp`` for each step. It is run on the first
``--anchor-steps`` steps and extrapolated linearly to the year (printed as such); the largest
voltage difference is taken over those steps.

Run:  python benchmarks/ac_check.py            (about a minute on 2 cores)
      python benchmarks/ac_check.py --steps 720 --anchor-steps 50   (quick)
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import time

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
import xarray as xr
from registry import profiles

from gridopt.validate import ac_check

NUMBA = importlib.util.find_spec("numba") is not None


def case(steps: int) -> tuple[pp.pandapowerNet, xr.Dataset, xr.Dataset]:
    net = pn.mv_oberrhein()
    load, sun = profiles(steps)
    times = pd.date_range("2016-01-01", periods=steps, freq="h")
    scale = net.load["scaling"].to_numpy()
    series = xr.Dataset(
        {"load_p_mw": (("time", "load"), np.outer(load, net.load["p_mw"].to_numpy() * scale)),
         "load_q_mvar": (("time", "load"), np.outer(load, net.load["q_mvar"].to_numpy() * scale))},
        coords={"time": times, "load": net.load.index.to_numpy()},
    )
    results = xr.Dataset(
        {"sgen_p_mw": (("time", "sgen"), np.outer(sun, net.sgen["p_mw"].to_numpy()))},
        coords={"time": times, "sgen": net.sgen.index.to_numpy()},
    )
    return net, series, results


def runpp_loop(net, series: xr.Dataset, results: xr.Dataset,
               steps: int) -> tuple[float, np.ndarray]:
    """The anchor: seconds for ``steps`` runpp calls, and their bus voltages (step, bus)."""
    work = copy.deepcopy(net)
    work.load["scaling"] = 1.0
    work.sgen["scaling"] = 1.0
    load_p, load_q = series["load_p_mw"].values, series["load_q_mvar"].values
    sgen_p = results["sgen_p_mw"].values
    vm = np.empty((steps, len(net.bus)))
    start = time.perf_counter()
    for t in range(steps):
        work.load["p_mw"] = load_p[t]
        work.load["q_mvar"] = load_q[t]
        work.sgen["p_mw"] = sgen_p[t]
        pp.runpp(work, numba=NUMBA)
        vm[t] = work.res_bus["vm_pu"].to_numpy()
    return time.perf_counter() - start, vm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8760)
    parser.add_argument("--anchor-steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of ac_check; the median is shown")
    args = parser.parse_args()

    net, series, results = case(args.steps)
    runs = [ac_check(net, series, results, backend="auto") for _ in range(args.repeat)]
    ac = runs[0]
    seconds = float(np.median([r.attrs["ac_time_s"] for r in runs]))
    n = args.anchor_steps
    anchor_s, anchor_vm = runpp_loop(net, series, results, n)
    first = results.isel(time=slice(0, n))
    pp_backend = ac_check(net, series, first, backend="pandapower")

    dvm = float(np.abs(ac["ac_bus_vm_pu"].values[:n] - anchor_vm).max())
    dvm_pp = float(np.abs(pp_backend["ac_bus_vm_pu"].values - anchor_vm).max())
    scale = args.steps / n
    rows = [
        (f"pp.runpp per-step loop (anchor, {n} steps, extrapolated)", anchor_s * scale,
         "reference"),
        (f"gridopt ac_check backend=pandapower ({n} steps, extrapolated)",
         pp_backend.attrs["ac_time_s"] * scale, f"{dvm_pp:.1e}"),
        ((f"gridopt ac_check backend=auto -> {ac.attrs['ac_backend']} (all {args.steps} steps, "
         f"median of {args.repeat})"), seconds, f"{dvm:.1e}"),
    ]
    converged = int(ac["ac_converged"].sum())
    print(f"mv_oberrhein, {args.steps} hourly steps, {len(net.bus)} buses; "
          f"converged {converged}/{args.steps}; numba {'on' if NUMBA else 'off'}")
    print(f"ac_backend_note: {ac.attrs['ac_backend_note']}")
    print()
    print(f"| method | seconds for {args.steps} steps | max |Δvm| vs runpp (pu) |")
    print("|---|---|---|")
    for name, secs, diff in rows:
        print(f"| {name} | {secs:.1f} | {diff} |")
    print()
    print(f"speed-up over the anchor: {anchor_s * scale / seconds:.0f}x")


if __name__ == "__main__":
    main()
