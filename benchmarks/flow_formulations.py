"""Kirchhoff's voltage law posed with angles or with cycles, under HiGHS's simplex and IPM.

Same anchor problem as ``benchmarks/anchor.py`` (case118 with renewables, batteries, EV
envelopes, binding line limits). For each horizon, flow formulation (``dc_flow``) and HiGHS
solver: LP size, gridopt's overhead (build + hand-off + extraction) and HiGHS's own time.
Objectives must agree across formulations (checked).

    python benchmarks/flow_formulations.py --hours 24 168
"""

from __future__ import annotations

import argparse

from anchor import run_gridopt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=int, nargs="+", default=[24, 168])
    parser.add_argument("--solvers", nargs="+", default=["simplex", "ipm"])
    args = parser.parse_args()
    print("| T | dc_flow | HiGHS solver | cols | rows | overhead s | HiGHS s | objective |")
    print("|---|---|---|---|---|---|---|---|")
    for hours in args.hours:
        reference = None
        for flow in ("angle", "cycle"):
            for solver in args.solvers:
                timings, _ = run_gridopt(hours, dc_flow=flow, highs_options={"solver": solver})
                overhead = timings["total_s"] - timings["time_solve_s"]
                reference = reference if reference is not None else timings["objective"]
                assert abs(timings["objective"] - reference) <= 1e-6 * abs(reference), (flow, solver)
                print(
                    f"| {hours} | {flow} | {solver} | {timings['cols']} | {timings['rows']} "
                    f"| {overhead:.2f} | {timings['time_solve_s']:.2f} | {timings['objective']:.6g} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
