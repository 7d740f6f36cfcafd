"""The registry the components fill while they build, and the problem object that keeps it.

Each component adds its Pyomo variables and constraints through ``Parts.var`` and
``Parts.constraint``, which record the variable bounds as numpy arrays (the hand-off to HiGHS
reads bounds from here, not from thousands of Pyomo objects) and the shape of every block, so that
solution values and duals map back by column and row order without a per-element lookup.
Components also register their injections at nodes (``Parts.injections``): the nodal balance is
assembled last from them.

Indices are positions: time ``t`` in ``0..T-1`` and element ``e`` in ``0..E-1`` of the arrays in
``DispatchData``; ``Var(T, E)`` iterates time-major, so a block's columns reshape to ``(T, E)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo

from gridopt.dispatch.inputs import DispatchData

__all__ = ["ColumnBlock", "RowBlock", "Parts", "DispatchProblem", "add_param", "quiet_templates"]


@dataclass
class ColumnBlock:
    """One Pyomo variable component and where its entries sit among the LP columns."""

    var: pyo.Var
    shape: tuple[int, ...]
    lb: np.ndarray  # flat, in the variable's index order (-inf: none)
    ub: np.ndarray
    pos: np.ndarray | None = None  # LP column of each entry, -1 if the LP has no such column

    def values(self, x: np.ndarray) -> np.ndarray:
        """The block's values from the LP solution ``x``, reshaped to ``shape``.

        A variable that appears in no row and no cost is absent from the LP; it takes the value
        nearest zero within its bounds.
        """
        idle = np.clip(0.0, self.lb, self.ub)
        out = np.where(self.pos >= 0, x[np.maximum(self.pos, 0)], idle) if len(self.pos) else idle
        return out.reshape(self.shape)


@dataclass
class RowBlock:
    """One Pyomo constraint component; ``ranged`` rows have a lower and an upper bound."""

    con: pyo.Constraint
    shape: tuple[int, ...]
    ranged: bool = False
    start: int = -1  # first LP row (rows of one block are contiguous, in index order)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


Injection = Callable[[pyo.ConcreteModel, object, object], object]


@dataclass
class Parts:
    """What the components registered while building."""

    data: DispatchData
    columns: dict[str, ColumnBlock] = field(default_factory=dict)
    rows: dict[str, RowBlock] = field(default_factory=dict)
    injections: list[Injection] = field(default_factory=list)  # MW into node n at step t
    q_injections: list[Injection] = field(default_factory=list)  # Mvar, LinDistFlow only

    def var(
        self,
        block: pyo.Block,
        name: str,
        sets: Sequence[pyo.Set],
        lb: float | np.ndarray,
        ub: float | np.ndarray,
    ) -> pyo.Var:
        """Add ``block.<name>`` indexed by ``sets`` with bounds broadcast to their shape."""
        shape = tuple(len(s) for s in sets)
        lo = np.broadcast_to(np.asarray(lb, dtype=float), shape).ravel()
        hi = np.broadcast_to(np.asarray(ub, dtype=float), shape).ravel()
        lo_list = [None if np.isinf(v) else v for v in lo.tolist()]
        hi_list = [None if np.isinf(v) else v for v in hi.tolist()]
        width = shape[-1] if len(shape) == 2 else 1

        def bounds(_, *idx):
            k = idx[0] * width + idx[1] if len(idx) == 2 else idx[0]
            return lo_list[k], hi_list[k]

        var = pyo.Var(*sets, bounds=bounds, dense=True)
        block.add_component(name, var)
        self.columns[_key(block, name)] = ColumnBlock(var, shape, lo, hi)
        return var

    def constraint(
        self,
        block: pyo.Block,
        name: str,
        sets: Sequence[pyo.Set],
        rule: Callable,
        *,
        ranged: bool = False,
    ) -> pyo.Constraint:
        """Add ``block.<name>`` built by ``rule(block, *index)`` (O(1) per index).

        ``ranged`` says every row has both a finite lower and upper bound (``lo <= e <= hi``).
        """
        con = pyo.Constraint(*sets, rule=rule)
        block.add_component(name, con)
        shape = tuple(len(s) for s in sets)
        self.rows[_key(block, name)] = RowBlock(con, shape, ranged)
        return con


def add_param(block: pyo.Block, name: str, sets: Sequence[pyo.Set], values) -> pyo.Param:
    """``block.<name>``: an immutable Param over ``sets`` (positions) holding ``values``."""
    values = np.asarray(values, dtype=float)
    flat = values.ravel().tolist()
    width = values.shape[-1] if values.ndim == 2 else 1

    def rule(_, *idx):
        return flat[idx[0] * width + idx[1]] if len(idx) == 2 else flat[idx[0]]

    param = pyo.Param(*sets, initialize=rule, within=pyo.Any)
    block.add_component(name, param)
    return param


def _key(block: pyo.Block, name: str) -> str:
    """``"gen.p"`` for a component of block ``gen``; ``"balance"`` on the model itself."""
    return name if block.parent_block() is None else f"{block.local_name}.{name}"


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


@dataclass
class DispatchProblem:
    """A built dispatch problem: the data, the Pyomo model and, after the hand-off, HiGHS.

    Once handed off, the HiGHS model is the live problem: a rolling horizon or the baseline
    changes its bounds and costs through ``set_col_bounds``/``set_row_bounds`` instead of
    rebuilding. ``columns``/``rows`` map every Pyomo block to LP columns and rows.
    """

    data: DispatchData
    model: pyo.ConcreteModel
    columns: dict[str, ColumnBlock]
    rows: dict[str, RowBlock]
    timings: dict[str, float]
    highs: object | None = None  # highspy.Highs after the hand-off
    objective_offset: float = 0.0
    n_cols: int = 0
    n_rows: int = 0

    def set_col_bounds(self, name: str, lb: np.ndarray, ub: np.ndarray) -> None:
        """Change the bounds of column block ``name`` (arrays of its shape) in HiGHS."""
        block = self.columns[name]
        lo = np.broadcast_to(np.asarray(lb, float), block.shape).ravel()
        hi = np.broadcast_to(np.asarray(ub, float), block.shape).ravel()
        block.lb, block.ub = lo.copy(), hi.copy()
        present = block.pos >= 0
        idx = block.pos[present].astype(np.int32)
        self.highs.changeColsBounds(len(idx), idx, lo[present], hi[present])

    def set_row_bounds(self, name: str, lower: np.ndarray, upper: np.ndarray) -> None:
        """Change the bounds of row block ``name`` (arrays of its shape) in HiGHS."""
        block = self.rows[name]
        idx = np.arange(block.start, block.start + block.size, dtype=np.int32)
        lo = np.broadcast_to(np.asarray(lower, float), block.shape).ravel()
        hi = np.broadcast_to(np.asarray(upper, float), block.shape).ravel()
        self.highs.changeRowsBounds(len(idx), idx, lo, hi)
