"""The registry the components fill while they build, and the problem object that keeps it.

Each component declares its variables through ``Parts.var`` (bounds as numpy arrays) and each
constraint family through ``Parts.constraint``, twice over: a Pyomo rule, the readable
formulation, and the same rows as coefficient ``Term`` s with their bounds, from which
``gridopt.dispatch.lp.assemble`` builds the LP for HiGHS. The Pyomo objects (``Var``,
``Constraint``, the Params and indexed Sets the rules read, via ``Parts.param`` and
``Parts.groups``, and the objective) are made only when the registry is built with
``pyomo=True``; Blocks and the RangeSets that index the blocks are always there (they give the
shapes) and cost next to nothing. Components also register their injections at nodes
(``Parts.inject``): the nodal balance is assembled last from them.

Layout: columns and rows are numbered block after block in registration order; a block's entries
follow its index order. Indices are positions: time ``t`` in ``0..T-1`` and element ``e`` in
``0..E-1`` of the arrays in ``DispatchData``; ``(T, E)`` blocks run time-major, so a block's
columns reshape to ``(T, E)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp

from gridopt.dispatch.inputs import DispatchData
from gridopt.dispatch.lp import Term

__all__ = ["ColumnBlock", "RowBlock", "Injection", "Parts", "DispatchProblem"]


@dataclass
class ColumnBlock:
    """One variable block: its LP columns ``start .. start + size - 1``, bounds and cost."""

    shape: tuple[int, ...]
    start: int
    lb: np.ndarray  # flat, in index order (-inf: none)
    ub: np.ndarray
    cost: np.ndarray  # flat objective coefficient (currency per unit of the variable)
    var: pyo.Var | None = None  # the Pyomo variable, when the Pyomo model is built

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def values(self, x: np.ndarray) -> np.ndarray:
        """The block's values from the LP solution ``x``, reshaped to ``shape``."""
        return x[self.start : self.start + self.size].reshape(self.shape)


@dataclass
class RowBlock:
    """One constraint family: its LP rows ``start .. start + size - 1`` and what they hold."""

    shape: tuple[int, ...]
    start: int
    lower: np.ndarray  # flat (-inf: open)
    upper: np.ndarray  # flat (inf: open)
    terms: list[Term]
    con: pyo.Constraint | None = None  # the Pyomo constraint, when the Pyomo model is built

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True)
class Injection:
    """Power into node ``n`` at step ``t``: the Pyomo expression ``rule(m, t, n)`` and the same as
    ``Σ_e matrix[n, e] · column[t, e]`` (``matrix``: nodes × elements of the column block)."""

    rule: Callable
    column: str
    matrix: object


@dataclass
class Parts:
    """What the components registered while building."""

    data: DispatchData
    pyomo: bool = False  # also make the Pyomo variables, constraints, Params, Sets and objective
    columns: dict[str, ColumnBlock] = field(default_factory=dict)
    rows: dict[str, RowBlock] = field(default_factory=dict)
    injections: list[Injection] = field(default_factory=list)  # MW into node n at step t
    q_injections: list[Injection] = field(default_factory=list)  # Mvar, LinDistFlow only
    offset: float = 0.0  # the objective's constant part
    n_cols: int = 0  # LP columns and rows registered so far
    n_rows: int = 0

    def var(
        self,
        block: pyo.Block,
        name: str,
        sets: Sequence[pyo.Set],
        lb: float | np.ndarray,
        ub: float | np.ndarray,
    ) -> None:
        """Declare ``block.<name>`` indexed by ``sets`` with bounds broadcast to their shape."""
        shape = tuple(len(s) for s in sets)
        lo = np.broadcast_to(np.asarray(lb, dtype=float), shape).ravel()
        hi = np.broadcast_to(np.asarray(ub, dtype=float), shape).ravel()
        column = ColumnBlock(shape, self.n_cols, lo, hi, np.zeros(lo.size))
        self.n_cols += lo.size
        self.columns[_key(block, name)] = column
        if self.pyomo:
            column.var = _pyomo_var(block, name, sets, lo, hi)

    def constraint(
        self,
        block: pyo.Block,
        name: str,
        sets: Sequence[pyo.Set],
        rule: Callable,
        terms: list[Term],
        lower: float | np.ndarray,
        upper: float | np.ndarray,
    ) -> None:
        """Declare ``block.<name>``: ``rule(block, *index)`` (O(1) per index) and the same rows
        as ``lower <= Σ terms <= upper`` (bounds broadcast to the shape of ``sets``)."""
        shape = tuple(len(s) for s in sets)
        lo = np.broadcast_to(np.asarray(lower, dtype=float), shape).ravel()
        hi = np.broadcast_to(np.asarray(upper, dtype=float), shape).ravel()
        row = RowBlock(shape, self.n_rows, lo, hi, terms)
        self.n_rows += lo.size
        self.rows[_key(block, name)] = row
        if self.pyomo:
            row.con = pyo.Constraint(*sets, rule=rule)
            block.add_component(name, row.con)

    def param(self, block: pyo.Block, name: str, sets: Sequence[pyo.Set], values) -> None:
        """``block.<name>``: an immutable Param over ``sets`` (positions) holding ``values`` (their
        dtype kept: integer positions stay integers), for the rules of the Pyomo model; not made
        without it."""
        if not self.pyomo:
            return
        values = np.asarray(values)
        flat = values.ravel().tolist()
        if values.ndim < 2:
            block.add_component(name, pyo.Param(*sets, initialize=flat, within=pyo.Any))
            return
        width = values.shape[-1]

        def rule(_, t, e):
            return flat[t * width + e]

        block.add_component(name, pyo.Param(*sets, initialize=rule, within=pyo.Any))

    def groups(self, block: pyo.Block, name: str, index: pyo.Set, keys: np.ndarray, count: int) -> None:
        """``block.<name>[k]``: the positions ``e`` with ``keys[e] == k`` for ``k`` in ``index``
        (``0..count-1``), e.g. the units at each node: the map the rules iterate, built once.
        Pyomo model only."""
        if not self.pyomo:
            return
        grouped: dict[int, list[int]] = {k: [] for k in range(count)}
        for pos, key in enumerate(np.asarray(keys).tolist()):
            grouped[key].append(pos)
        block.add_component(name, pyo.Set(index, initialize=grouped))

    def inject(self, rule: Callable, column: str, matrix, reactive: bool = False) -> None:
        """Register an injection into the nodal balance (``reactive``: the Q balance)."""
        (self.q_injections if reactive else self.injections).append(Injection(rule, column, matrix))


def _pyomo_var(block, name, sets, lo: np.ndarray, hi: np.ndarray) -> pyo.Var:
    lo_list = [None if np.isinf(v) else v for v in lo.tolist()]
    hi_list = [None if np.isinf(v) else v for v in hi.tolist()]
    width = len(sets[-1]) if len(sets) == 2 else 1

    def bounds(_, *idx):
        k = idx[0] * width + idx[1] if len(idx) == 2 else idx[0]
        return lo_list[k], hi_list[k]

    var = pyo.Var(*sets, bounds=bounds, dense=True)
    block.add_component(name, var)
    return var


def _key(block: pyo.Block, name: str) -> str:
    """``"gen.p"`` for a component of block ``gen``; ``"balance"`` on the model itself."""
    return name if block.parent_block() is None else f"{block.local_name}.{name}"


@dataclass
class DispatchProblem:
    """A built dispatch problem: the data, the registry and, after the hand-off, HiGHS.

    Once handed off, the HiGHS model is the live problem: a rolling horizon or the baseline
    changes its bounds and costs through ``set_col_bounds``/``set_row_bounds``/``set_col_costs`` instead of
    rebuilding (the LP matrix stays as handed off); each sends HiGHS only the entries that differ
    from the registry's. ``columns``/``rows`` map every block to its LP columns and rows. ``model``
    is the Pyomo model once ``gridopt.dispatch.pyomo_model(problem)`` has built it.

    ``held``: blocks whose columns HiGHS holds at their bound nearest zero (``hold``; the lazy
    slacks of ``gridopt.solve``) while ``columns`` keeps their own bounds; ``set_col_bounds`` on a
    held block records the bounds and tells HiGHS only where the held values move.
    ``solution``: the last run's column values and row duals, once read
    (``gridopt.solve.read_solution``; None after each new run). ``entries``: the LP matrix's
    columns of the blocks ``gridopt.solve`` may hold, transposed (block size × rows, CSR), kept
    at the hand-off.
    """

    data: DispatchData
    columns: dict[str, ColumnBlock]
    rows: dict[str, RowBlock]
    offset: float
    timings: dict[str, float]
    model: pyo.ConcreteModel | None = None
    highs: object | None = None  # highspy.Highs after the hand-off
    n_cols: int = 0
    n_rows: int = 0
    held: dict[str, np.ndarray] = field(default_factory=dict)  # block -> flat values HiGHS holds
    solution: tuple[np.ndarray, np.ndarray] | None = None
    entries: dict[str, sp.csr_matrix] = field(default_factory=dict, repr=False)

    def set_col_bounds(self, name: str, lb: np.ndarray, ub: np.ndarray) -> None:
        """Change the bounds of column block ``name`` (arrays of its shape) in HiGHS."""
        block = self.columns[name]
        lb = np.broadcast_to(np.asarray(lb, float), block.shape).ravel().copy()
        ub = np.broadcast_to(np.asarray(ub, float), block.shape).ravel().copy()
        if name in self.held:
            was = self.held[name]
            self.held[name] = np.clip(0.0, lb, ub)
            changed = _changed(self.held[name], was)
            send_lb = send_ub = self.held[name]
        else:
            changed = _changed(lb, block.lb, ub, block.ub)
            send_lb, send_ub = lb, ub
        block.lb, block.ub = lb, ub
        if changed.size:
            self.highs.changeColsBounds(changed.size, block.start + changed, send_lb[changed], send_ub[changed])

    def set_col_costs(self, name: str, cost: np.ndarray) -> None:
        """Change the objective coefficients of column block ``name`` (array of its shape) in HiGHS."""
        block = self.columns[name]
        cost = np.broadcast_to(np.asarray(cost, float), block.shape).ravel().copy()
        changed = _changed(cost, block.cost)
        block.cost = cost
        if changed.size:
            self.highs.changeColsCost(changed.size, block.start + changed, cost[changed])

    def set_row_bounds(self, name: str, lower: np.ndarray, upper: np.ndarray) -> None:
        """Change the bounds of row block ``name`` (arrays of its shape) in HiGHS."""
        block = self.rows[name]
        lower = np.broadcast_to(np.asarray(lower, float), block.shape).ravel().copy()
        upper = np.broadcast_to(np.asarray(upper, float), block.shape).ravel().copy()
        changed = _changed(lower, block.lower, upper, block.upper)
        block.lower, block.upper = lower, upper
        if changed.size:
            self.highs.changeRowsBounds(changed.size, block.start + changed, lower[changed], upper[changed])

    def hold(self, names: Sequence[str]) -> None:
        """Hold the columns of blocks ``names`` in HiGHS at their bound nearest zero (blocks
        already held stay held); one HiGHS call."""
        names = [name for name in names if name not in self.held]
        for name in names:
            block = self.columns[name]
            self.held[name] = np.clip(0.0, block.lb, block.ub)
        self._send_bounds(names, [self.held[n] for n in names], [self.held[n] for n in names])

    def release(self) -> None:
        """Give every held block its own bounds back in HiGHS; one HiGHS call."""
        names = list(self.held)
        self.held.clear()
        self._send_bounds(names, [self.columns[n].lb for n in names], [self.columns[n].ub for n in names])

    def _send_bounds(self, names: list[str], lower: list[np.ndarray], upper: list[np.ndarray]) -> None:
        if not names:
            return
        idx = np.concatenate([np.arange(self.columns[n].start, self.columns[n].start + self.columns[n].size)
                              for n in names]).astype(np.int32)
        self.highs.changeColsBounds(len(idx), idx, np.concatenate(lower), np.concatenate(upper))


def _changed(new: np.ndarray, old: np.ndarray, *pairs: np.ndarray) -> np.ndarray:
    """Positions (int32) where ``new`` differs from ``old`` (or any further new/old pair)."""
    differ = new != old
    for a, b in zip(pairs[::2], pairs[1::2]):
        differ |= a != b
    return np.flatnonzero(differ).astype(np.int32)
