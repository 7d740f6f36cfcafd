"""Batteries (pandapower ``storage`` + ``StorageParams``).

Variables per step: ``charge`` and ``discharge`` (MW at the grid connection, both >= 0) and
``soc`` (MWh at the end of the step, within ``[soc_min, soc_max]``). Energy balance::

    soc[t] = keep * soc[t-1] + (eta_c * charge[t] - discharge[t] / eta_d) * dt_h,
    soc[-1] = initial SOC,  keep = (1 - standing loss per h) ** dt_h

Cyclic units end at their initial SOC (row block ``storage.terminal``); the others end free and
their last SOC is credited at the terminal value in the objective. Being an LP, a battery may
charge and discharge in the same step when that wastes energy profitably (e.g. at negative prices).
"""

from __future__ import annotations

import pyomo.environ as pyo

from gridopt.dispatch.network import _grouped, _listed
from gridopt.dispatch.parts import Parts

__all__ = ["define_storage"]


def define_storage(m: pyo.ConcreteModel, parts: Parts) -> None:
    data = parts.data
    st = data.storage
    dt = data.dt_h
    b = m.storage = pyo.Block()
    b.S = pyo.RangeSet(0, len(st) - 1)
    b.at = pyo.Set(m.N, initialize=_grouped(st.node, len(m.N)))
    parts.var(b, "charge", (m.T, b.S), 0.0, st.charge_max_mw)
    parts.var(b, "discharge", (m.T, b.S), 0.0, st.discharge_max_mw)
    parts.var(b, "soc", (m.T, b.S), st.soc_min_mwh, st.soc_max_mwh)
    parts.injections.append(
        lambda m, t, n: sum(m.storage.discharge[t, s] - m.storage.charge[t, s] for s in m.storage.at[n])
    )
    b.keep = pyo.Param(b.S, initialize=_listed(st.keep_per_step))
    b.charge_mwh_per_mw = pyo.Param(b.S, initialize=_listed(st.eta_charge * dt))
    b.discharge_mwh_per_mw = pyo.Param(b.S, initialize=_listed(dt / st.eta_discharge))
    b.soc_initial = pyo.Param(b.S, initialize=_listed(st.soc_initial_mwh))

    def stored(b, t, s):
        return b.charge_mwh_per_mw[s] * b.charge[t, s] - b.discharge_mwh_per_mw[s] * b.discharge[t, s]

    parts.constraint(
        b,
        "energy_first",
        (b.S,),
        lambda b, s: b.soc[0, s] == b.keep[s] * b.soc_initial[s] + stored(b, 0, s),
    )
    parts.constraint(
        b,
        "energy",
        (m.T1, b.S),
        lambda b, t, s: b.soc[t, s] == b.keep[s] * b.soc[t - 1, s] + stored(b, t, s),
    )
    cyclic = [int(s) for s in range(len(st)) if st.cyclic[s]]
    b.CYCLIC = pyo.Set(initialize=cyclic)
    last = data.n_time - 1
    parts.constraint(
        b, "terminal", (b.CYCLIC,), lambda b, s: b.soc[last, s] == b.soc_initial[s]
    )
