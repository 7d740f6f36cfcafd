"""The dispatch LP as sparse arrays: assembled from the registry, or compiled from the Pyomo model.

Every component states each constraint family twice, side by side: as a Pyomo rule (the readable
formulation) and as coefficient ``Term`` s (what HiGHS gets). ``assemble`` builds the LP from the
terms in milliseconds; ``from_pyomo`` compiles the Pyomo model with Pyomo's
``LinearStandardFormCompiler`` into the same layout. ``tests/test_dispatch_lp.py`` checks that
both give the identical LP on problems that use every constraint family.

Layout: columns and rows follow the registry, block after block in registration order, each
block's entries in index order (time-major for ``(time, element)`` blocks). Row ``r`` reads
``row_lower[r] <= Σ_c A[r, c] x[c] <= row_upper[r]`` (±inf where a side is open); the objective is
``cost · x + offset``, minimised.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from gridopt.errors import SolverError

__all__ = [
    "Term",
    "LinearProgram",
    "each_step",
    "static",
    "in_every_step",
    "over_steps",
    "incidence",
    "selection",
    "assemble",
    "from_pyomo",
    "quiet_templates",
]


@dataclass(frozen=True)
class Term:
    """The coefficients of one column block in one row block: COO triplets of flat positions
    (``row`` within the row block, ``col`` within the column block)."""

    column: str
    row: np.ndarray
    col: np.ndarray
    coef: np.ndarray


def each_step(column: str, matrix, n_time: int, steps: Sequence[int] | None = None, shift: int = 0) -> Term:
    """``Σ_e matrix[r, e] · column[t + shift, e]`` in row ``(k, r)`` for the k-th step ``t`` of
    ``steps`` (default every step). The column block is ``(n_time, E)``; the rows ``(len(steps), R)``.
    """
    m = sp.coo_matrix(matrix)
    n_rows, n_elem = m.shape
    t = np.arange(n_time) if steps is None else np.asarray(steps, dtype=np.int64)
    k = np.arange(len(t))
    return Term(
        column,
        (k[:, None] * n_rows + m.row[None, :]).ravel(),
        ((t[:, None] + shift) * n_elem + m.col[None, :]).ravel(),
        np.broadcast_to(m.data, (len(t), m.nnz)).ravel(),
    )


def static(column: str, matrix) -> Term:
    """``Σ_e matrix[r, e] · column[e]`` in row ``r``: neither the rows nor the column block have a
    time axis."""
    return each_step(column, matrix, 1)


def in_every_step(column: str, matrix, n_time: int) -> Term:
    """``Σ_e matrix[r, e] · column[e]`` in row ``(t, r)`` of every step: a column block without a
    time axis in rows ``(n_time, R)``."""
    m = sp.coo_matrix(matrix)
    t = np.arange(n_time)
    return Term(
        column,
        (t[:, None] * m.shape[0] + m.row[None, :]).ravel(),
        np.broadcast_to(m.col, (n_time, m.nnz)).ravel(),
        np.broadcast_to(m.data, (n_time, m.nnz)).ravel(),
    )


def over_steps(column: str, matrix, n_time: int, weights=1.0) -> Term:
    """``Σ_t weights[t] Σ_e matrix[r, e] · column[t, e]`` in row ``r``: a ``(n_time, E)`` column
    block summed over the horizon into rows without a time axis."""
    m = sp.coo_matrix(matrix)
    t = np.arange(n_time)
    w = np.broadcast_to(np.asarray(weights, float), (n_time,))
    return Term(
        column,
        np.broadcast_to(m.row, (n_time, m.nnz)).ravel(),
        (t[:, None] * m.shape[1] + m.col[None, :]).ravel(),
        (w[:, None] * m.data[None, :]).ravel(),
    )


def incidence(node: np.ndarray, n_node: int, sign: float | np.ndarray = 1.0) -> sp.coo_matrix:
    """``(n_node, E)`` matrix with ``sign`` at ``(node[e], e)``: element e sits at that node."""
    node = np.asarray(node, dtype=np.int64)
    values = np.broadcast_to(np.asarray(sign, float), node.shape)
    return sp.coo_matrix((values, (node, np.arange(len(node)))), shape=(n_node, len(node)))


def selection(picked: np.ndarray, n_elem: int, coef: float | np.ndarray = 1.0) -> sp.coo_matrix:
    """``(len(picked), n_elem)`` matrix with ``coef`` at ``(k, picked[k])``."""
    picked = np.asarray(picked, dtype=np.int64)
    values = np.broadcast_to(np.asarray(coef, float), picked.shape)
    return sp.coo_matrix((values, (np.arange(len(picked)), picked)), shape=(len(picked), n_elem))


@dataclass
class LinearProgram:
    """``min cost·x + offset`` s.t. ``row_lower <= A x <= row_upper``, ``col_lower <= x <= col_upper``."""

    matrix: sp.csc_matrix
    cost: np.ndarray
    offset: float
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape


def assemble(parts) -> LinearProgram:
    """The LP of a registry (``gridopt.dispatch.parts.Parts``) from its terms and cost arrays."""
    columns, rows = parts.columns, parts.rows
    n_col = sum(b.size for b in columns.values())
    n_row = sum(b.size for b in rows.values())
    row, col, coef = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for block in rows.values():
        for term in block.terms:
            row.append(block.start + term.row)
            col.append(columns[term.column].start + term.col)
            coef.append(term.coef)
    row, col, coef = np.concatenate(row), np.concatenate(col), np.concatenate(coef)
    matrix = sp.csc_matrix((coef, (row, col)), shape=(n_row, n_col))  # sums duplicates
    matrix.eliminate_zeros()
    return LinearProgram(
        matrix=matrix,
        cost=_stack(columns, "cost", n_col),
        offset=float(parts.offset),
        col_lower=_stack(columns, "lb", n_col),
        col_upper=_stack(columns, "ub", n_col),
        row_lower=_stack(rows, "lower", n_row),
        row_upper=_stack(rows, "upper", n_row),
    )


def _stack(blocks, attr: str, size: int) -> np.ndarray:
    out = np.zeros(size)
    for b in blocks.values():
        out[b.start : b.start + b.size] = getattr(b, attr)
    return out


# ---------------------------------------------------------------- the Pyomo path


def from_pyomo(model, parts) -> LinearProgram:
    """Compile the Pyomo model of ``parts`` (built by ``create_model``) into the registry's layout.

    The compiler lays columns out in its own order and drops variables used nowhere; they come
    back here as empty columns. Column bounds are the Pyomo variables' own. With ``mixed_form`` it writes
    ``lo <= e <= hi`` as one equality row when ``lo == hi`` (bound type 0), one ``<=`` row (1) when
    only ``hi`` is finite, one ``>=`` row (-1) when only ``lo`` is, and otherwise a ``<=`` row
    directly followed by a ``>=`` row of the same constraint, merged back into one row here. A
    constraint it drops (no bound, or no variable) becomes an empty free row.
    """
    with quiet_templates():
        info = LinearStandardFormCompiler().write(model, mixed_form=True)
    col_of = _registry_positions(((b.start, b.var.values()) for b in parts.columns.values()))
    cols = np.fromiter((col_of[id(v)] for v in info.columns), np.int64, len(info.columns))
    lower, upper, keep = _merge_ranged(info)
    row_of = _registry_positions(((b.start, b.con.values()) for b in parts.rows.values()))
    owners = [r.constraint for r, kept in zip(info.rows, keep) if kept]
    rows = np.array([row_of.get(id(c), -1) for c in owners], dtype=np.int64)
    if (rows < 0).any():
        name = owners[int(np.flatnonzero(rows < 0)[0])].name
        raise SolverError(f"internal: constraint {name} was not registered")
    n_col = sum(b.size for b in parts.columns.values())
    n_row = sum(b.size for b in parts.rows.values())
    col_lower, col_upper = _pyomo_bounds(parts.columns.values(), n_col)
    a = info.A[keep].tocoo()
    matrix = sp.csc_matrix((a.data, (rows[a.row], cols[a.col])), shape=(n_row, n_col))
    matrix.eliminate_zeros()
    cost = np.zeros(n_col)
    if info.c.shape[0]:
        cost[cols] = np.asarray(info.c.toarray()).ravel()
    row_lower, row_upper = np.full(n_row, -np.inf), np.full(n_row, np.inf)
    row_lower[rows], row_upper[rows] = lower, upper
    return LinearProgram(
        matrix=matrix,
        cost=cost,
        offset=float(info.c_offset[0]) if len(info.c_offset) else 0.0,
        col_lower=col_lower,
        col_upper=col_upper,
        row_lower=row_lower,
        row_upper=row_upper,
    )


def _pyomo_bounds(blocks, n_col: int) -> tuple[np.ndarray, np.ndarray]:
    """The Pyomo variables' own bounds, in registry order (None: infinite)."""
    lower, upper = np.full(n_col, -np.inf), np.full(n_col, np.inf)
    for b in blocks:
        bounds = np.array([(v.lb, v.ub) for v in b.var.values()], dtype=float).reshape(-1, 2)
        lower[b.start : b.start + b.size] = np.nan_to_num(bounds[:, 0], nan=-np.inf)
        upper[b.start : b.start + b.size] = np.nan_to_num(bounds[:, 1], nan=np.inf)
    return lower, upper


def _registry_positions(blocks) -> dict[int, int]:
    """``id(component data) -> registry position`` over ``(start, data in index order)`` pairs."""
    out: dict[int, int] = {}
    for start, values in blocks:
        out.update((id(v), start + k) for k, v in enumerate(values))
    return out


def _merge_ranged(info) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row bounds with each ranged ``<=``/``>=`` pair merged, and which compiler rows are kept."""
    rows = info.rows
    n = len(rows)
    kind = np.fromiter((r.bound_type for r in rows), np.int8, n)  # 0 ==, 1 <=, -1 >=
    rhs = np.asarray(info.rhs, dtype=float)
    second = np.zeros(n, dtype=bool)  # the ``>=`` half of a ranged pair
    if n > 1:
        owner = [r.constraint for r in rows]
        same = np.fromiter((a is b for a, b in zip(owner[:-1], owner[1:])), bool, n - 1)
        second[1:] = same & (kind[:-1] == 1) & (kind[1:] == -1)
    lower = np.where(kind == 1, -np.inf, rhs)
    upper = np.where(kind == -1, np.inf, rhs)
    pair = np.flatnonzero(second)
    lower[pair - 1] = rhs[pair]
    keep = ~second
    return lower[keep], upper[keep], keep


class _DropDeprecation(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "sparse_iteritems" not in record.getMessage()


@contextmanager
def quiet_templates():
    """Silence the deprecation notice Pyomo 6.10's own template expansion logs (not ours)."""
    logger = logging.getLogger("pyomo.core.base.param")  # where the notice is logged
    flt = _DropDeprecation()
    logger.addFilter(flt)
    try:
        yield
    finally:
        logger.removeFilter(flt)
