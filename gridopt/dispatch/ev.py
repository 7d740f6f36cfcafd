"""EV charging, per session or as a per-bus energy envelope.

**Per session** (``ev_formulation="session"``): ``ev.p[t, s]`` (MW drawn from the grid) lies in
``[0, p_max × plugged fraction of step t]`` (``[-…, …]`` for V2G), so charging happens only while
plugged in, and ``Σ_t p[t, s] dt_h + unmet[s] = E_s`` delivers the requested energy by departure,
``unmet`` (MWh, penalised) being what cannot be delivered. A V2G car's cumulative energy stays within
``[0, E_s]``: it never returns more than it took, nor stores more than it asked for (losses neglected).
The row is ranged, ``E_s <= Σ_t p dt_h + unmet <= E_max_s``: in one run ``E_max = E``; in a
rolling-horizon window (``gridopt.dispatch.inputs.fill_ev_slots``) a car still plugged in after it
takes at most all it still needs (``E_max``) and at least what it could not take afterwards
(``E``). A session's columns cover every step (bounds 0 where it is not plugged in), so one LP can
hold any sessions of a bus: the rolling horizon's fixed slots (``gridopt.horizon``).

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
import scipy.sparse as sp

from gridopt.dispatch.inputs import EvAggregates, EvSessions
from gridopt.dispatch.lp import each_step, in_every_step, incidence, over_steps, selection, static
from gridopt.dispatch.parts import Parts

__all__ = ["define_ev"]


def define_ev(m: pyo.ConcreteModel, parts: Parts) -> None:
    ev = parts.data.ev
    n_node = parts.data.network.n_node
    b = m.ev = pyo.Block()
    b.K = pyo.RangeSet(0, len(ev) - 1)
    parts.groups(b, "at", m.N, ev.node, n_node)
    parts.inject(lambda m, t, n: -sum(m.ev.p[t, k] for k in m.ev.at[n]), "ev.p", incidence(ev.node, n_node, -1.0))
    if isinstance(ev, EvSessions):
        _define_sessions(m, b, ev, parts)
    else:
        _define_envelope(m, b, ev, parts)


def _define_sessions(m, b, ev: EvSessions, parts: Parts) -> None:
    dt, n_time = parts.data.dt_h, parts.data.n_time
    lower = np.where(ev.v2g[None, :], -ev.p_max_mw, 0.0)
    parts.var(b, "p", (m.T, b.K), lower, ev.p_max_mw)
    parts.var(b, "unmet", (b.K,), 0.0, ev.energy_mwh)
    parts.param(b, "energy_mwh", (b.K,), ev.energy_mwh)
    parts.param(b, "energy_max_mwh", (b.K,), ev.energy_max_mwh)
    each = sp.identity(len(ev))
    parts.constraint(
        b,
        "energy",
        (b.K,),
        lambda b, k: pyo.inequality(
            b.energy_mwh[k], sum(b.p[t, k] for t in m.T) * dt + b.unmet[k], b.energy_max_mwh[k]
        ),
        terms=[over_steps("ev.p", each, n_time, weights=dt), static("ev.unmet", each)],
        lower=ev.energy_mwh,
        upper=ev.energy_max_mwh,
    )
    v2g = np.flatnonzero(ev.v2g)
    b.V = pyo.RangeSet(0, len(v2g) - 1)
    parts.param(b, "v2g", (b.V,), v2g)
    parts.var(b, "e", (m.T, b.V), 0.0, ev.energy_mwh[v2g])  # MWh taken so far
    taken = selection(v2g, len(ev), -dt)  # e[t, v] takes p[t, session of v] dt
    parts.constraint(
        b,
        "v2g_first",
        (b.V,),
        lambda b, v: b.e[0, v] == b.p[0, b.v2g[v]] * dt,
        terms=_cumulative_terms(taken, n_time, first=True),
        lower=0.0,
        upper=0.0,
    )
    parts.constraint(
        b,
        "v2g_energy",
        (m.T1, b.V),
        lambda b, t, v: b.e[t, v] == b.e[t - 1, v] + b.p[t, b.v2g[v]] * dt,
        terms=_cumulative_terms(taken, n_time),
        lower=0.0,
        upper=0.0,
    )


def _define_envelope(m, b, ev: EvAggregates, parts: Parts) -> None:
    dt, n_time = parts.data.dt_h, parts.data.n_time
    parts.var(b, "p", (m.T, b.K), 0.0, ev.p_max_mw)
    parts.var(b, "e", (m.T, b.K), 0.0, ev.e_early_mwh)  # cumulative MWh, under the earliest curve
    parts.var(b, "unmet", (b.K,), 0.0, np.inf)
    parts.param(b, "e_late", (m.T, b.K), ev.e_late_mwh)
    each = sp.identity(len(ev))
    taken = -dt * each
    parts.constraint(
        b,
        "energy_first",
        (b.K,),
        lambda b, k: b.e[0, k] == b.p[0, k] * dt,
        terms=_cumulative_terms(taken, n_time, first=True),
        lower=0.0,
        upper=0.0,
    )
    parts.constraint(
        b,
        "energy",
        (m.T1, b.K),
        lambda b, t, k: b.e[t, k] == b.e[t - 1, k] + b.p[t, k] * dt,
        terms=_cumulative_terms(taken, n_time),
        lower=0.0,
        upper=0.0,
    )
    parts.constraint(
        b,
        "latest",
        (m.T, b.K),
        lambda b, t, k: b.e[t, k] + b.unmet[k] >= b.e_late[t, k],
        terms=[each_step("ev.e", each, n_time), in_every_step("ev.unmet", each, n_time)],
        lower=ev.e_late_mwh,
        upper=np.inf,
    )


def _cumulative_terms(taken, n_time: int, first: bool = False) -> list:
    """``e[t] - e[t-1] + taken · p[t]`` for t >= 1, or ``e[0] + taken · p[0]`` (``first``): the
    energy taken so far, ``taken`` being ``-dt`` at (entry of ``e``, column of ``p``)."""
    each = sp.identity(taken.shape[0])
    if first:
        return [each_step("ev.e", each, n_time, [0]), each_step("ev.p", taken, n_time, [0])]
    later = np.arange(1, n_time)
    return [
        each_step("ev.e", each, n_time, later),
        each_step("ev.e", -each, n_time, later, shift=-1),
        each_step("ev.p", taken, n_time, later),
    ]
