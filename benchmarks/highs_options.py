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

from run import option_value

from gridopt.dispatch import build
from gridopt.dispatch.lp import LinearProgram, assemble
from gridopt.solve import slack_blocks, to_highs


def anchor(hours: int):
    """gridopt's problem of the anchor over ``hours``, built (not handed off)."""
    c = case("case118", hours)
    return build(c.net, c.series, c.options, c.ev)


def held_lp(problem) -> LinearProgram:
    """The problem's LP with gridopt's slack blocks held at zero (``gridopt.solve.slack_blocks``,
    as ``lazy_slacks`` holds them)."""
    lp = assemble(problem)
    for name in slack_blocks(problem):
        block = problem.columns[name]
        held = np.clip(0.0, block.lb, block.ub)
        lp.col_lower[block.start : block.start + block.size] = held
        lp.col_upper[block.start : block.start + block.size] = held
    return lp


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
        if highs.setOptionValue(name, option_value(value)) != highspy.HighsStatus.kOk:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=int, default=720)
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per variant")
    parser.add_argument("variants", nargs="*", default=[""])
    args = parser.parse_args()
    problem = anchor(args.hours)
    lp = held_lp(problem)
    col_step, row_step = _steps(problem.columns, lp.shape[1], args.hours), _steps(problem.rows, lp.shape[0], args.hours)
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
