"""Kirchhoff's voltage law posed with angles or with cycles, under HiGHS's simplex and IPM.

Same anchor problem as ``benchmarks/run.py`` (``registry`` problem ``case118``: renewables,
batteries, EV envelopes, binding line limits). For each horizon, flow formulation (``dc_flow``)
and HiGHS solver: LP size, gridopt's overhead (build + hand-off + extraction) and HiGHS's own time,
in this process. Objectives must agree across formulations (checked).

    python benchmarks/flow_formulations.py --hours 24 168
"""

from __future__ import annotations

import argparse

from registry import case

from gridopt.dispatch import build
from gridopt.options import make_options
from gridopt.solve import solve


def run_gridopt(hours: int, **overrides) -> dict:
    """gridopt's timings (``time_*_s``), objective and LP size on the anchor over ``hours``."""
    c = case("case118", hours)
    problem = build(c.net, c.series, make_options(c.options, **overrides), c.ev)
    results = solve(problem)
    out = dict(problem.timings, objective=results.attrs["objective"], cols=problem.n_cols, rows=problem.n_rows)
    out["overhead_s"] = out["time_build_s"] + out["time_handoff_s"] + out["time_extract_s"]
    return out


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
                t = run_gridopt(hours, dc_flow=flow, highs_options={"solver": solver})
                reference = reference if reference is not None else t["objective"]
                assert abs(t["objective"] - reference) <= 1e-6 * abs(reference), (flow, solver)
                print(f"| {hours} | {flow} | {solver} | {t['cols']} | {t['rows']} | {t['overhead_s']:.2f} "
                      f"| {t['time_solve_s']:.2f} | {t['objective']:.6g} |", flush=True)


if __name__ == "__main__":
    main()
