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

import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp

from gridopt.dispatch.lp import each_step, incidence, selection
from gridopt.dispatch.parts import Parts

__all__ = ["define_storage"]


def define_storage(m: pyo.ConcreteModel, parts: Parts) -> None:
    data = parts.data
    st = data.storage
    dt, n_time, n_node = data.dt_h, data.n_time, data.network.n_node
    b = m.storage = pyo.Block()
    b.S = pyo.RangeSet(0, len(st) - 1)
    parts.groups(b, "at", m.N, st.node, n_node)
    parts.var(b, "charge", (m.T, b.S), 0.0, st.charge_max_mw)
    parts.var(b, "discharge", (m.T, b.S), 0.0, st.discharge_max_mw)
    parts.var(b, "soc", (m.T, b.S), st.soc_min_mwh, st.soc_max_mwh)
    parts.inject(
        lambda m, t, n: sum(m.storage.discharge[t, s] for s in m.storage.at[n]),
        "storage.discharge",
        incidence(st.node, n_node),
    )
    parts.inject(
        lambda m, t, n: -sum(m.storage.charge[t, s] for s in m.storage.at[n]),
        "storage.charge",
        incidence(st.node, n_node, -1.0),
    )
    charge_mwh_per_mw = st.eta_charge * dt
    discharge_mwh_per_mw = dt / st.eta_discharge
    parts.param(b, "keep", (b.S,), st.keep_per_step)
    parts.param(b, "charge_mwh_per_mw", (b.S,), charge_mwh_per_mw)
    parts.param(b, "discharge_mwh_per_mw", (b.S,), discharge_mwh_per_mw)
    parts.param(b, "soc_initial", (b.S,), st.soc_initial_mwh)

    def stored(b, t, s):
        return b.charge_mwh_per_mw[s] * b.charge[t, s] - b.discharge_mwh_per_mw[s] * b.discharge[t, s]

    def balance_terms(steps):
        """soc[t] - η_c dt charge[t] + dt/η_d discharge[t] at ``steps`` (the previous SOC apart)."""
        return [
            each_step("storage.soc", sp.identity(len(st)), n_time, steps),
            each_step("storage.charge", sp.diags(-charge_mwh_per_mw), n_time, steps),
            each_step("storage.discharge", sp.diags(discharge_mwh_per_mw), n_time, steps),
        ]

    start = st.keep_per_step * st.soc_initial_mwh
    parts.constraint(
        b,
        "energy_first",
        (b.S,),
        lambda b, s: b.soc[0, s] == b.keep[s] * b.soc_initial[s] + stored(b, 0, s),
        terms=balance_terms([0]),
        lower=start,
        upper=start,
    )
    later = np.arange(1, n_time)
    parts.constraint(
        b,
        "energy",
        (m.T1, b.S),
        lambda b, t, s: b.soc[t, s] == b.keep[s] * b.soc[t - 1, s] + stored(b, t, s),
        terms=balance_terms(later)
        + [each_step("storage.soc", sp.diags(-st.keep_per_step), n_time, later, shift=-1)],
        lower=0.0,
        upper=0.0,
    )
    cyclic = np.flatnonzero(st.cyclic)
    b.CYCLIC = pyo.Set(initialize=cyclic.tolist())
    last = n_time - 1
    parts.constraint(
        b,
        "terminal",
        (b.CYCLIC,),
        lambda b, s: b.soc[last, s] == b.soc_initial[s],
        terms=[each_step("storage.soc", selection(cyclic, len(st)), n_time, [last])],
        lower=st.soc_initial_mwh[cyclic],
        upper=st.soc_initial_mwh[cyclic],
    )
