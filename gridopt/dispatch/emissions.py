"""Emissions: factors × energy, the optional CO2 cap, and the accounting of a solved dispatch.

Local emissions (source ``"local"``) are those of thermal units: ``ef[g, pollutant] × p[t, g] × dt_h``
(t). Grid imports (source ``"grid_import"``) carry CO2 only, at the hourly grid intensity:
``intensity[t] × import[t] × dt_h``, with net exports credited at the same intensity (the import is
signed). Both the marginal and the average intensity are carried; ``options.co2_signal`` says which
one prices decisions and enters the cap and ``emissions_t``.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from gridopt.dispatch.inputs import POLLUTANTS, DispatchData
from gridopt.dispatch.lp import over_steps
from gridopt.dispatch.parts import Parts

__all__ = ["POLLUTANTS", "SOURCES", "define_co2_cap", "emissions_t", "grid_co2_t"]

SOURCES = ("local", "grid_import")


def define_co2_cap(m: pyo.ConcreteModel, parts: Parts) -> None:
    """``Σ local CO2 + Σ grid-import CO2 <= co2_cap_t`` over the horizon (one row)."""
    data = parts.data
    dt = data.dt_h
    b = m.co2 = pyo.Block()
    gen_t_per_mw = data.gen.ef_t_per_mwh[:, 0] * dt
    grid_t_per_mw = data.co2_priced_t_per_mwh * dt
    parts.param(b, "gen_t_per_mw", (m.gen.G,), gen_t_per_mw)
    parts.param(b, "grid_t_per_mw", (m.T,), grid_t_per_mw)
    cap = data.options.co2_cap_t
    parts.constraint(
        b,
        "cap",
        (),
        lambda b: sum(b.gen_t_per_mw[g] * m.gen.p[t, g] for t in m.T for g in m.gen.G)
        + sum(b.grid_t_per_mw[t] * m.ext_grid.p[t, x] for t in m.T for x in m.ext_grid.X)
        <= cap,
        terms=[
            over_steps("gen.p", gen_t_per_mw[None, :], data.n_time),
            over_steps("ext_grid.p", np.ones((1, len(data.ext_grid))), data.n_time, weights=grid_t_per_mw),
        ],
        lower=-np.inf,
        upper=cap,
    )


def emissions_t(data: DispatchData, gen_p_mw: np.ndarray, ext_grid_p_mw: np.ndarray) -> np.ndarray:
    """(T, pollutant, source) tonnes per step; grid imports use the priced CO2 signal."""
    out = np.zeros((data.n_time, len(POLLUTANTS), len(SOURCES)))
    out[:, :, 0] = gen_p_mw @ data.gen.ef_t_per_mwh * data.dt_h
    out[:, 0, 1] = grid_co2_t(data, ext_grid_p_mw, data.co2_priced_t_per_mwh)
    return out


def grid_co2_t(data: DispatchData, ext_grid_p_mw: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    """(T,) tonnes of CO2 of the net import at ``intensity`` (t/MWh)."""
    return intensity * ext_grid_p_mw.sum(axis=1) * data.dt_h
