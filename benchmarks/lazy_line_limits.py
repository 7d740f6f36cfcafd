"""A tried alternative for large horizons: PTDF flows with line limits added lazily.

gridopt poses DC flow with flows as columns, Kirchhoff's voltage law around cycles and the limits
as bounds (``dc_flow="cycle"``). The classic alternative for long horizons drops the flows: one
balance row per step and island (the nodal balances summed: the flow terms cancel), and a line
limit ``|PTDF_l · (injection_t - load_t)| <= S_l`` added only for the (step, line) pairs that the
current optimum overloads, then HiGHS runs again from its basis, until no line is overloaded. The
optimum is the same LP's (checked: objectives agree to 1e-9). It pays when few limits bind; on the
anchor, whose ratings are 1.25 x the base-case flow, about 40 % of the (step, line) pairs are
overloaded in the first round, and each added row is dense (one entry per injecting column of
the step), so it is no faster than gridopt's formulation (about the same HiGHS time at T = 168
and 720). Measured and kept as the record of why gridopt does not use it (benchmarks/RESULTS.md,
"Other ways tried at large T").

Both variants are solved with the slack columns held at zero (as ``lazy_slacks`` holds them; no
slack is used at this optimum). Single island (case118).

    python benchmarks/lazy_line_limits.py --hours 168 720
"""

from __future__ import annotations

import argparse

import highspy
import numpy as np
import scipy.sparse as sp
from highs_options import anchor, held_lp

from gridopt.dispatch.lp import LinearProgram
from gridopt.solve import to_highs


def ptdf(net) -> np.ndarray:
    """(branches x nodes) MW of flow per MW injected at the node and taken at the reference."""
    n_branch, n_node = len(net.branch), net.n_node
    branches = np.arange(n_branch)
    incidence = sp.csc_matrix((np.r_[np.ones(n_branch), -np.ones(n_branch)],
                               (np.r_[branches, branches], np.r_[net.from_node, net.to_node])),
                              shape=(n_branch, n_node))
    susceptance = sp.diags(1.0 / net.x_dc_pu)
    keep = np.setdiff1d(np.arange(n_node), net.ref_node)
    b_bus = (incidence.T @ susceptance @ incidence)[keep][:, keep].toarray()
    out = np.zeros((n_branch, n_node))
    out[:, keep] = np.linalg.solve(b_bus, (susceptance @ incidence[:, keep]).toarray().T).T
    return out


def solve_full(lp: LinearProgram) -> dict:
    """gridopt's LP (slacks held), as it is."""
    highs = to_highs(lp)
    highs.run()
    return {"highs_s": highs.getRunTime(), "objective": highs.getInfo().objective_function_value,
            "rows": lp.shape[0]}


def solve_lazy(problem, lp: LinearProgram) -> dict:
    """The PTDF variant of ``lp`` (gridopt's LP of ``problem``, slacks held): relaxed LP first,
    then violated limits added round by round."""
    net, n_time = problem.data.network, problem.data.n_time
    assert len(net.ref_node) == 1, "one island only"
    n_node = net.n_node
    flow, balance = problem.columns["flow.p"], problem.rows["balance"]
    a = lp.matrix.tocsr()
    not_flow = np.ones(lp.shape[1])
    not_flow[flow.start : flow.start + flow.size] = 0.0
    injection = (a[balance.start : balance.start + balance.size] @ sp.diags(not_flow)).tocsr()
    injection.eliminate_zeros()
    load = balance.lower.reshape(n_time, n_node)
    network_rows = [problem.rows[name] for name in ("balance", "flow.kvl", "flow.limit")]
    other = np.ones(lp.shape[0], bool)
    for block in network_rows:
        other[block.start : block.start + block.size] = False
    system = sp.kron(sp.identity(n_time), np.ones((1, n_node))) @ injection  # one balance per step
    col_lower, col_upper = lp.col_lower.copy(), lp.col_upper.copy()
    col_lower[not_flow == 0] = col_upper[not_flow == 0] = 0.0  # the flows are not columns here
    highs = to_highs(LinearProgram(
        sp.vstack([a[other], system]).tocsc(), lp.cost, lp.offset, col_lower, col_upper,
        np.r_[lp.row_lower[other], load.sum(1)], np.r_[lp.row_upper[other], load.sum(1)]))
    limited = np.flatnonzero(np.isfinite(net.rating_mva))
    shift, rating = ptdf(net)[limited], net.rating_mva[limited]
    over_pos, over_neg = problem.columns["flow.over_pos"], problem.columns["flow.over_neg"]
    highs.run()
    rounds, added = 0, 0
    while True:
        x = np.asarray(highs.getSolution().col_value)
        p = ((injection @ x).reshape(n_time, n_node) - load) @ shift.T
        t, k = np.nonzero(np.abs(p) > rating * (1 + 1e-9) + 1e-7)
        if not len(t):
            break
        rows = _limit_rows(t, k, shift, injection, n_node, n_time, lp.shape[1],
                           over_pos.start + t * len(limited) + k, over_neg.start + t * len(limited) + k)
        offset = (load[t] * shift[k]).sum(axis=1)
        highs.addRows(len(t), offset - rating[k], offset + rating[k], rows.nnz,
                      rows.indptr[:-1].astype(np.int32), rows.indices.astype(np.int32), rows.data)
        highs.run()
        rounds, added = rounds + 1, added + len(t)
    assert highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return {"highs_s": highs.getRunTime(), "objective": highs.getInfo().objective_function_value,
            "rounds": rounds, "rows": highs.getNumRow(), "limits_added": added, "limits_all": n_time * len(limited)}


def _limit_rows(t, k, shift, injection, n_node, n_time, n_col, pos, neg) -> sp.csr_matrix:
    """Rows ``shift[k] · injection_t - over_pos + over_neg`` for each overloaded (t, k)."""
    n = len(t)
    pick = sp.csr_matrix((shift[k].ravel(), (np.repeat(np.arange(n), n_node), (t[:, None] * n_node
                          + np.arange(n_node)).ravel())), shape=(n, n_time * n_node))
    slack = sp.csr_matrix((np.r_[-np.ones(n), np.ones(n)], (np.r_[np.arange(n), np.arange(n)], np.r_[pos, neg])),
                          shape=(n, n_col))
    rows = (pick @ injection + slack).tocsr()
    rows.eliminate_zeros()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=int, nargs="+", default=[168, 720])
    args = parser.parse_args()
    print("| T | gridopt LP rows | HiGHS s | PTDF + lazy limits: rounds | limits added / all | rows | HiGHS s |")
    print("|---|---|---|---|---|---|---|")
    for hours in args.hours:
        problem = anchor(hours)
        lp = held_lp(problem)
        full, lazy = solve_full(lp), solve_lazy(problem, lp)
        assert abs(full["objective"] - lazy["objective"]) <= 1e-9 * abs(full["objective"]), (full, lazy)
        print(f"| {hours} | {full['rows']} | {full['highs_s']:.2f} | {lazy['rounds']} | {lazy['limits_added']} / "
              f"{lazy['limits_all']} | {lazy['rows']} | {lazy['highs_s']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
