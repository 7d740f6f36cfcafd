"""Sources of power: the external grid, renewables (sgen) and thermal units (gen).

Sign convention: every ``p`` here is generation (MW injected into the node).

- ``ext_grid.p`` is the net import from upstream (negative = export), within
  ``[-export max, import max]``; ``ext_grid.q`` (LinDistFlow only) is free.
- ``sgen.p`` lies in ``[0, availability]``; curtailment = availability − p (not a variable).
- ``gen.p`` lies in ``[min_p_mw, max_p_mw]`` and moves at most ``ramp × dt_h`` between steps.
Units run at unity power factor except the external grid.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from gridopt.dispatch.lp import each_step, incidence, selection
from gridopt.dispatch.parts import Parts

__all__ = ["define_ext_grid", "define_sgen", "define_gen"]


def define_ext_grid(m: pyo.ConcreteModel, parts: Parts) -> None:
    ext = parts.data.ext_grid
    n_node = parts.data.network.n_node
    b = m.ext_grid = pyo.Block()
    b.X = pyo.RangeSet(0, len(ext) - 1)
    parts.groups(b, "at", m.N, ext.node, n_node)
    parts.var(b, "p", (m.T, b.X), ext.p_min_mw, ext.p_max_mw)
    parts.inject(
        lambda m, t, n: sum(m.ext_grid.p[t, x] for x in m.ext_grid.at[n]), "ext_grid.p", incidence(ext.node, n_node)
    )
    if parts.data.formulation == "lindistflow":
        parts.var(b, "q", (m.T, b.X), -np.inf, np.inf)
        parts.inject(
            lambda m, t, n: sum(m.ext_grid.q[t, x] for x in m.ext_grid.at[n]),
            "ext_grid.q",
            incidence(ext.node, n_node),
            reactive=True,
        )


def define_sgen(m: pyo.ConcreteModel, parts: Parts) -> None:
    sgen = parts.data.sgen
    n_node = parts.data.network.n_node
    b = m.sgen = pyo.Block()
    b.S = pyo.RangeSet(0, len(sgen) - 1)
    parts.groups(b, "at", m.N, sgen.node, n_node)
    parts.var(b, "p", (m.T, b.S), 0.0, sgen.p_avail_mw)
    parts.inject(lambda m, t, n: sum(m.sgen.p[t, s] for s in m.sgen.at[n]), "sgen.p", incidence(sgen.node, n_node))


def define_gen(m: pyo.ConcreteModel, parts: Parts) -> None:
    data = parts.data
    gen = data.gen
    n_node = data.network.n_node
    b = m.gen = pyo.Block()
    b.G = pyo.RangeSet(0, len(gen) - 1)
    parts.groups(b, "at", m.N, gen.node, n_node)
    parts.var(b, "p", (m.T, b.G), gen.p_min_mw, gen.p_max_mw)
    parts.inject(lambda m, t, n: sum(m.gen.p[t, g] for g in m.gen.at[n]), "gen.p", incidence(gen.node, n_node))
    # ramp limits where given; an unlimited side gets the full range, which never binds
    full = gen.p_max_mw - gen.p_min_mw
    limited = np.isfinite(gen.ramp_up_mw_per_h) | np.isfinite(gen.ramp_down_mw_per_h)
    ramped = np.flatnonzero(limited & (full > 0))
    up = np.minimum(gen.ramp_up_mw_per_h * data.dt_h, full)[ramped]
    down = np.minimum(gen.ramp_down_mw_per_h * data.dt_h, full)[ramped]
    b.R = pyo.RangeSet(0, len(ramped) - 1)
    parts.param(b, "ramped", (b.R,), ramped)
    parts.param(b, "ramp_up_mw", (b.R,), up)
    parts.param(b, "ramp_down_mw", (b.R,), down)
    steps = np.arange(1, data.n_time)
    pick = selection(ramped, len(gen))
    parts.constraint(
        b,
        "ramp",
        (m.T1, b.R),
        lambda b, t, r: pyo.inequality(
            -b.ramp_down_mw[r], b.p[t, b.ramped[r]] - b.p[t - 1, b.ramped[r]], b.ramp_up_mw[r]
        ),
        terms=[
            each_step("gen.p", pick, data.n_time, steps),
            each_step("gen.p", -pick, data.n_time, steps, shift=-1),
        ],
        lower=-down,
        upper=up,
    )
