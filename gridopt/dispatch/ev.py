"""EV charging, per session or as a per-bus energy envelope.

**Per session** (``ev_formulation="session"``): ``ev.p[t, s]`` (MW drawn from the grid) lies in
``[0, p_max × plugged fraction of step t]`` (``[-…, …]`` for V2G), so charging happens only while
plugged in, and ``Σ_t p[t, s] dt_h + unmet[s] = E_s`` delivers the requested energy by departure,
``unmet`` (MWh, penalised) being what cannot be delivered. A V2G car's cumulative energy stays within
``[0, E_s]``: it never returns more than it took, nor stores more than it asked for (losses neglected).

**Aggregated** (``ev_formulation="aggregate"``), for thousands of sessions: one ``p[t, k]`` per bus
with ``0 <= p <= Σ p_max`` of the sessions plugged in, and the cumulative energy ``e[t, k]``
(MWh at the end of step t) between two curves: the *earliest* (every car at full power from
arrival until full, ``e <= E_early``) and the *latest* (what must already be in so that every car
can still finish at full power, ``e + unmet >= E_late``).

When the envelope is exact: it is necessary for any per-session schedule, and sufficient (every
aggregate schedule splits into feasible per-session ones) when a bus has a single session, or only
identical sessions (same window, energy and power: the aggregate set is then the single set scaled).
In general it is a relaxation: its optimum is a lower bound of the per-session optimum and its
schedule may not split into sessions (two cars with different windows can trade capacity that a
prefix-sum envelope does not see). Requests larger than ``p_max × plugged-in time`` are cut to that
and the cut is reported as unmet (and penalised as such) in both formulations.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from gridopt.dispatch.inputs import EvAggregates, EvSessions
from gridopt.dispatch.network import _grouped, _listed
from gridopt.dispatch.parts import Parts, add_param

__all__ = ["define_ev"]


def define_ev(m: pyo.ConcreteModel, parts: Parts) -> None:
    ev = parts.data.ev
    b = m.ev = pyo.Block()
    b.K = pyo.RangeSet(0, len(ev) - 1)
    b.at = pyo.Set(m.N, initialize=_grouped(ev.node, len(m.N)))
    parts.injections.append(lambda m, t, n: -sum(m.ev.p[t, k] for k in m.ev.at[n]))
    if isinstance(ev, EvSessions):
        _define_sessions(m, b, ev, parts)
    else:
        _define_envelope(m, b, ev, parts)


def _define_sessions(m, b, ev: EvSessions, parts: Parts) -> None:
    dt = parts.data.dt_h
    lower = np.where(ev.v2g[None, :], -ev.p_max_mw, 0.0)
    parts.var(b, "p", (m.T, b.K), lower, ev.p_max_mw)
    parts.var(b, "unmet", (b.K,), 0.0, ev.energy_mwh)
    b.energy_mwh = pyo.Param(b.K, initialize=_listed(ev.energy_mwh))
    parts.constraint(
        b,
        "energy",
        (b.K,),
        lambda b, k: sum(b.p[t, k] for t in m.T) * dt + b.unmet[k] == b.energy_mwh[k],
    )
    v2g = np.flatnonzero(ev.v2g)
    b.V = pyo.RangeSet(0, len(v2g) - 1)
    b.v2g = pyo.Param(b.V, initialize=_listed(v2g))
    parts.var(b, "e", (m.T, b.V), 0.0, ev.energy_mwh[v2g])  # MWh taken so far
    parts.constraint(b, "v2g_first", (b.V,), lambda b, v: b.e[0, v] == b.p[0, b.v2g[v]] * dt)
    parts.constraint(
        b,
        "v2g_energy",
        (m.T1, b.V),
        lambda b, t, v: b.e[t, v] == b.e[t - 1, v] + b.p[t, b.v2g[v]] * dt,
    )


def _define_envelope(m, b, ev: EvAggregates, parts: Parts) -> None:
    dt = parts.data.dt_h
    parts.var(b, "p", (m.T, b.K), 0.0, ev.p_max_mw)
    parts.var(b, "e", (m.T, b.K), 0.0, ev.e_early_mwh)  # cumulative MWh, under the earliest curve
    parts.var(b, "unmet", (b.K,), 0.0, np.inf)
    add_param(b, "e_late", (m.T, b.K), ev.e_late_mwh)
    parts.constraint(b, "energy_first", (b.K,), lambda b, k: b.e[0, k] == b.p[0, k] * dt)
    parts.constraint(
        b, "energy", (m.T1, b.K), lambda b, t, k: b.e[t, k] == b.e[t - 1, k] + b.p[t, k] * dt
    )
    parts.constraint(
        b, "latest", (m.T, b.K), lambda b, t, k: b.e[t, k] + b.unmet[k] >= b.e_late[t, k]
    )
