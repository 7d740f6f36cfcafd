"""HiGHS options and column/row order on the anchor's LP, as gridopt first solves it.

gridopt's LP of ``case118`` (``registry``) with the slack columns held at zero, which is the LP
``lazy_slacks`` hands HiGHS first and, on the anchor, the last (no slack is used). Each variant
runs in a fresh ``Highs`` in this process, one after the other; objectives must agree to 1e-9.
Variants are HiGHS options as ``NAME=VALUE`` separated by spaces, one variant per argument, or
``order=time`` (columns and rows sorted by time step, then block: a banded matrix) and
``order=random`` (a seeded shuffle). HiGHS fixes its thread pool at its first run in a process:
give a ``threads`` variant a run of its own.

    python benchmarks/highs_options.py --hours 720 "" "simplex_strategy=3 threads=2" order=time
"""

from __future__ import annotations

import argparse

import highspy
import numpy as np
from registry import case

from gridopt.dispatch import build
from gridopt.dispatch.lp import LinearProgram, assemble
from gridopt.solve import to_highs

HELD = ("shed.p", "flow.over_pos", "flow.over_neg")


def held_lp(hours: int) -> tuple[LinearProgram, np.ndarray, np.ndarray]:
    """The held LP, and each column's and row's time step (T for blocks without one)."""
    c = case("case118", hours)
    problem = build(c.net, c.series, c.options, c.ev)
    lp = assemble(problem)
    for name in HELD:
        block = problem.columns[name]
        lp.col_upper[block.start : block.start + block.size] = 0.0
    return lp, _steps(problem.columns, lp.shape[1], hours), _steps(problem.rows, lp.shape[0], hours)


def _steps(blocks, size: int, hours: int) -> np.ndarray:
    """Time step of each entry of a registry's blocks (blocks over T - 1 steps start at step 1)."""
    out = np.full(size, hours)
    for b in blocks.values():
        if b.size and len(b.shape) == 2 and b.shape[0] in (hours, hours - 1):
            out[b.start : b.start + b.size] = np.arange(b.size) // b.shape[1] + hours - b.shape[0]
    return out


def permuted(lp: LinearProgram, cols: np.ndarray, rows: np.ndarray) -> LinearProgram:
    a = lp.matrix.tocsr()[rows][:, cols].tocsc()
    return LinearProgram(a, lp.cost[cols], lp.offset, lp.col_lower[cols], lp.col_upper[cols],
                         lp.row_lower[rows], lp.row_upper[rows])


def variant(lp: LinearProgram, col_step: np.ndarray, row_step: np.ndarray, text: str, limit_s: float) -> dict:
    options = dict(item.split("=", 1) for item in text.split())
    order = options.pop("order", "registry")
    if order == "time":  # stable: within a step, registry (block) order
        lp = permuted(lp, np.argsort(col_step, kind="stable"), np.argsort(row_step, kind="stable"))
    elif order == "random":
        rng = np.random.default_rng(118)
        lp = permuted(lp, rng.permutation(lp.shape[1]), rng.permutation(lp.shape[0]))
    highs = to_highs(lp)
    for name, value in options.items():
        if highs.setOptionValue(name, _value(value)) != highspy.HighsStatus.kOk:
            return {"status": "option refused by this HiGHS build", "highs_s": np.nan,
                    "objective": np.nan, "iterations": 0, "ipm_iterations": 0}
    highs.setOptionValue("time_limit", limit_s)
    if highs.run() == highspy.HighsStatus.kError:  # e.g. a new ``threads`` after HiGHS's first run here
        return {"status": "HiGHS refused to run it (run this variant alone)", "highs_s": np.nan,
                "objective": np.nan, "iterations": 0, "ipm_iterations": 0}
    info = highs.getInfo()
    return {"status": highs.getModelStatus().name, "highs_s": highs.getRunTime(),
            "objective": info.objective_function_value, "iterations": info.simplex_iteration_count,
            "ipm_iterations": info.ipm_iteration_count}


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=int, default=720)
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per variant")
    parser.add_argument("variants", nargs="*", default=[""])
    args = parser.parse_args()
    lp, col_step, row_step = held_lp(args.hours)
    print(f"T = {args.hours}: {lp.shape[1]} columns, {lp.shape[0]} rows (slacks held)")
    print("| variant | status | HiGHS s | simplex iterations | IPM iterations | objective |")
    print("|---|---|---|---|---|---|")
    reference = None
    for text in args.variants:
        r = variant(lp, col_step, row_step, text, args.time_limit)
        if r["status"] == "kOptimal":
            reference = r["objective"] if reference is None else reference
            assert abs(r["objective"] - reference) <= 1e-9 * abs(reference), (text, r)
        print(f"| {text or 'defaults'} | {r['status']} | {r['highs_s']:.2f} | {r['iterations']} | "
              f"{r['ipm_iterations']} | {r['objective']:.10g} |", flush=True)


if __name__ == "__main__":
    main()
