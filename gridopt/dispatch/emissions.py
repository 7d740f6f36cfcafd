"""Emissions: factors × energy, the optional CO2 cap, and the accounting of a solved dispatch.

Local emissions (source ``"local"``) are those of thermal units: ``ef[g, pollutant] × p[t, g] × dt_h``
(t). Grid imports (source ``"grid_import"``) carry CO2 only, at the hourly grid intensity:
``intensity[t] × import[t] × dt_h``, with net exports credited at the same intensity (the import is
signed). Both the marginal and the average intensity are carried; ``options.co2_signal`` says which
one prices decisions and enters the cap and ``emissions_t``.

Air-quality caps (``define_aq_cap``): in each capped step ``t`` of zone ``k`` and pollutant ``p``
(``data.aq_cap``), the summed emission rate of the zone's units stays under the cap, elastically::

    Σ_{g in k} 1000 ef[g, p] p[t, g] - excess[r] <= cap_kg_per_h[t, k, p]      (kg/h)

``excess[r] >= 0`` (kg/h over the step) costs ``CAP_EXCESS_SHARE × load_shed_penalty`` per MWh of
the zone's cleanest unit (for ``p``) run over the cap: dearer than any energy trade, so the cap
holds whenever lowering output can meet it, and cheaper than shedding load, so a unit the load
needs runs over its cap rather than leaving load unserved. An excess in use makes the run
infeasible as posed (``aq_cap_lines``). Rows exist only where a cap holds and a unit of the
zone emits ``p``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from gridopt.dispatch.inputs import POLLUTANTS, DispatchData
from gridopt.dispatch.lp import Term, over_steps
from gridopt.dispatch.parts import Parts

__all__ = [
    "POLLUTANTS", "SOURCES", "CAP_EXCESS_SHARE", "CapRows", "define_co2_cap", "define_aq_cap",
    "aq_cap_rows", "aq_cap_lines", "emissions_t", "grid_co2_t",
]

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


CAP_EXCESS_SHARE = 0.5
"""An air-quality cap excess costs this share of the load-shedding penalty per MWh (see above)."""

KG_PER_T = 1000.0


@dataclass(frozen=True)
class CapRows:
    """The capped (step, zone, pollutant) triples, one LP row each, in row order."""

    step: np.ndarray  # (R,) positions
    zone: np.ndarray  # (R,) positions in ``data.aq_cap.zone``
    pollutant: np.ndarray  # (R,) positions in POLLUTANTS
    cap_kg_per_h: np.ndarray  # (R,)
    penalty_per_kg: np.ndarray  # (R,) currency per kg over the cap

    def __len__(self) -> int:
        return len(self.step)


def aq_cap_rows(data: DispatchData) -> CapRows:
    """The rows of ``define_aq_cap``: capped steps of zones with a unit emitting the pollutant."""
    caps = data.aq_cap
    ef_kg = data.gen.ef_t_per_mwh * KG_PER_T  # (G, P)
    n_zone = len(caps.zone)
    cleanest = np.full((n_zone, len(POLLUTANTS)), np.inf)  # lowest positive factor per zone, kg/MWh
    for g, k in enumerate(caps.zone_of_gen):
        if k >= 0:
            cleanest[k] = np.minimum(cleanest[k], np.where(ef_kg[g] > 0, ef_kg[g], np.inf))
    held = np.isfinite(caps.cap_kg_per_h) & np.isfinite(cleanest)[None, :, :]
    t, k, p = np.nonzero(held)
    penalty = CAP_EXCESS_SHARE * data.options.load_shed_penalty_per_mwh / cleanest[k, p]
    return CapRows(t, k, p, caps.cap_kg_per_h[t, k, p], penalty)


def define_aq_cap(m: pyo.ConcreteModel, parts: Parts) -> None:
    """``aq_cap.cap[r]``: a zone's emission rate <= its cap (kg/h), with ``aq_cap.excess[r]``."""
    data = parts.data
    rows = aq_cap_rows(data)
    ef_kg = data.gen.ef_t_per_mwh * KG_PER_T
    zone_of_gen = data.aq_cap.zone_of_gen
    b = m.aq_cap = pyo.Block()
    b.R = pyo.RangeSet(0, len(rows) - 1)
    b.K = pyo.RangeSet(0, len(data.aq_cap.zone) - 1)
    b.P = pyo.RangeSet(0, len(POLLUTANTS) - 1)
    parts.var(b, "excess", (b.R,), 0.0, np.inf)
    parts.param(b, "step", (b.R,), rows.step)
    parts.param(b, "zone", (b.R,), rows.zone)
    parts.param(b, "pollutant", (b.R,), rows.pollutant)
    parts.param(b, "cap_kg_per_h", (b.R,), rows.cap_kg_per_h)
    parts.param(b, "ef_kg_per_mwh", (m.gen.G, b.P), ef_kg)
    if parts.pyomo:
        members = {k: np.flatnonzero(zone_of_gen == k).tolist() for k in range(len(data.aq_cap.zone))}
        b.units = pyo.Set(b.K, initialize=members)
    # gen.p coefficients: row r holds the zone's units with a positive factor for its pollutant
    r_idx, g_idx = np.nonzero((zone_of_gen[None, :] == rows.zone[:, None]) & (ef_kg[:, rows.pollutant].T > 0))
    n_gen = len(data.gen)
    parts.constraint(
        b,
        "cap",
        (b.R,),
        lambda b, r: sum(b.ef_kg_per_mwh[g, b.pollutant[r]] * m.gen.p[b.step[r], g] for g in b.units[b.zone[r]])
        - b.excess[r]
        <= b.cap_kg_per_h[r],
        terms=[
            Term("gen.p", r_idx, rows.step[r_idx] * n_gen + g_idx, ef_kg[g_idx, rows.pollutant[r_idx]]),
            Term("aq_cap.excess", np.arange(len(rows)), np.arange(len(rows)), -np.ones(len(rows))),
        ],
        lower=-np.inf,
        upper=rows.cap_kg_per_h,
    )


def aq_cap_lines(data: DispatchData, v: dict[str, np.ndarray]) -> list[tuple[float, str]]:
    """``(kg, line)`` per cap exceeded beyond the slack tolerance (as kg in the step)."""
    if data.aq_cap is None or "aq_cap.excess" not in v:
        return []
    rows = aq_cap_rows(data)
    excess_kg = v["aq_cap.excess"] * data.dt_h
    out = []
    for r in np.flatnonzero(excess_kg > data.options.slack_tolerance):
        zone, pollutant = data.aq_cap.zone[rows.zone[r]], POLLUTANTS[rows.pollutant[r]]
        when = f"{pd.Timestamp(data.time[rows.step[r]]):%Y-%m-%d %H:%M} UTC"
        line = (f"air-quality zone {zone!r} over its {pollutant} cap of {rows.cap_kg_per_h[r]:g} kg/h "
                f"by {excess_kg[r]:.3f} kg at {when}")
        out.append((excess_kg[r], line))
    return out
