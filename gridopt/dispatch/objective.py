"""The objective: what a dispatch costs, term by term.

Minimise, over the horizon (each coefficient is per MW of the variable per step, so × ``dt_h``)::

    energy       Σ marginal_cost_g p_g dt + Σ price_t import_t dt
    carbon       carbon_price × (Σ ef_co2,g p_g dt + Σ intensity_t import_t dt)
    pollution    Σ_pollutant damage_cost × Σ_g aq_weight_t,g ef_pollutant,g p_g dt
    curtailment  curtailment_cost × Σ (availability − p_sgen) dt
    degradation  degradation_cost × Σ (charge + discharge) dt
    terminal     − terminal_value × SOC at the end (non-cyclic batteries)
    slack        penalties × (load shed, unmet EV energy, MW over ratings (LinDistFlow: MW and Mvar the
                 flow is shifted by to fit its rating's polygon, one price per MVA), pu² outside
                 voltage limits, kg over air-quality caps)

``cost_terms`` gives each term's coefficients per column block, so a solved run reports the
same breakdown (``gridopt.solve`` puts ``cost_<term>`` in the results' attrs).
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from gridopt.dispatch.emissions import aq_cap_rows
from gridopt.dispatch.inputs import DispatchData, EvAggregates
from gridopt.dispatch.network import THERMAL_SLACKS
from gridopt.dispatch.parts import Parts

__all__ = ["TERMS", "cost_terms", "constant_terms", "register_costs", "define_objective"]

TERMS = ("energy", "carbon", "pollution", "curtailment", "degradation", "terminal", "slack")


def cost_terms(data: DispatchData) -> dict[str, dict[str, np.ndarray]]:
    """Coefficients by column block and term (broadcastable to the block's shape)."""
    o = data.options
    dt = data.dt_h
    ef = data.gen.ef_t_per_mwh
    damage_per_t = np.array(
        [0.0, o.nox_damage_cost_per_t, o.so2_damage_cost_per_t, o.pm25_damage_cost_per_t]
    )
    last = np.zeros((data.n_time, 1))
    last[-1] = 1.0
    terms = {
        "gen.p": {
            "energy": data.gen.marginal_cost_per_mwh[None, :] * dt,
            "carbon": o.carbon_price_per_t * ef[:, 0][None, :] * dt,
            "pollution": data.aq_weight * (ef @ damage_per_t)[None, :] * dt,
        },
        "ext_grid.p": {
            "energy": data.price_per_mwh[:, None] * dt,
            "carbon": o.carbon_price_per_t * data.co2_priced_t_per_mwh[:, None] * dt,
        },
        "sgen.p": {"curtailment": np.array(-o.curtailment_cost_per_mwh * dt)},
        "storage.charge": {"degradation": data.storage.degradation_cost_per_mwh[None, :] * dt},
        "storage.discharge": {"degradation": data.storage.degradation_cost_per_mwh[None, :] * dt},
        "storage.soc": {"terminal": -last * data.storage.terminal_value_per_mwh[None, :]},
        "ev.unmet": {"slack": np.array(o.ev_unmet_penalty_per_mwh)},
        "shed.p": {"slack": np.array(o.load_shed_penalty_per_mwh * dt)},
        **{f"flow.{name}": {"slack": np.array(o.thermal_violation_penalty_per_mwh * dt)} for name in THERMAL_SLACKS},
        "flow.v_hi": {"slack": np.array(o.voltage_violation_penalty_per_pu_h * dt)},
        "flow.v_lo": {"slack": np.array(o.voltage_violation_penalty_per_pu_h * dt)},
    }
    if data.aq_cap is not None:
        terms["aq_cap.excess"] = {"slack": aq_cap_rows(data).penalty_per_kg * dt}
    return terms


def constant_terms(data: DispatchData) -> dict[str, float]:
    """Parts of the cost no decision changes: curtailment counted from full availability, and
    EV energy that no schedule can deliver in the aggregated formulation."""
    o = data.options
    out = {"curtailment": o.curtailment_cost_per_mwh * data.sgen.p_avail_mw.sum() * data.dt_h}
    if isinstance(data.ev, EvAggregates):
        out["slack"] = o.ev_unmet_penalty_per_mwh * data.ev.shortfall_mwh.sum()
    return out


def register_costs(parts: Parts) -> None:
    """Each column block's cost (the sum of its terms) and the objective's constant part."""
    for name, terms in cost_terms(parts.data).items():
        block = parts.columns.get(name)
        if block is not None and block.size:
            block.cost = sum(np.broadcast_to(c, block.shape) for c in terms.values()).ravel().astype(float)
    parts.offset = sum(constant_terms(parts.data).values())


def define_objective(m: pyo.ConcreteModel, parts: Parts) -> None:
    """``m.cost``: Σ over column blocks of cost × variable, plus the constant part (Pyomo model)."""
    priced = []
    for block in parts.columns.values():
        if not block.size or not block.cost.any():
            continue
        coef = _compact(block.cost.reshape(block.shape))
        priced.append((_coefficient(parts, block.var, coef), block.var))
    constant = parts.offset

    def total(m):
        return constant + sum(_weighted_sum(cost, var) for cost, var in priced)

    m.cost = pyo.Objective(rule=total, sense=pyo.minimize)


def _weighted_sum(cost, var: pyo.Var):
    """``Σ cost(index) × var[index]`` over the variable's sets (time-major)."""
    sets = list(var.index_set().subsets())
    if len(sets) == 1:
        return sum(cost(k) * var[k] for k in sets[0])
    return sum(cost(t, e) * var[t, e] for t in sets[0] for e in sets[1])


def _compact(coef: np.ndarray) -> np.ndarray:
    """Collapse the axes along which ``coef`` does not vary to length 1 (scalars stay scalar)."""
    for axis in range(coef.ndim):
        if coef.shape[axis] > 1 and (coef == coef.take([0], axis=axis)).all():
            coef = coef.take([0], axis=axis)
    return coef


def _coefficient(parts: Parts, var: pyo.Var, coef: np.ndarray):
    """``cost(*index) -> coefficient`` of ``var``: a float, or a Param over the axes that vary."""
    if coef.size == 1:
        value = float(coef.ravel()[0])
        return lambda *idx: value
    sets = list(var.index_set().subsets())
    varying = [axis for axis in range(coef.ndim) if coef.shape[axis] > 1]
    block, name = var.parent_block(), f"cost_{var.local_name}"
    parts.param(block, name, [sets[a] for a in varying], coef.squeeze())
    param = block.component(name)
    if len(varying) == coef.ndim:
        return lambda *idx: param[idx] if len(idx) > 1 else param[idx[0]]
    axis = varying[0]
    return lambda *idx: param[idx[axis]]
