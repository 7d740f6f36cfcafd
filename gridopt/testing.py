"""Helpers for checking gridopt's results: ``assert_results_close`` and a PyPSA twin.

``assert_results_close(actual, expected)`` compares two results datasets by meaning, not layout:
status, objective, key figures and decision variables, aligned by their coordinate labels.

``pypsa_twin(data)`` poses the dispatch of a ``DispatchData`` (``gridopt.dispatch.inputs.prepare``,
or ``problem.data`` of a built problem) in PyPSA, element by element, with PyPSA's own components
and formulation (KVL around cycles, its storage and store equations). The tests solve both and
compare objectives; ``benchmarks/anchor.py`` times both. PyPSA is a test extra (``pypsa<1.4``:
1.4 needs pandas 3, which pandapower does not support yet); it is imported only here.

The mapping, per gridopt element (nodes are PyPSA buses ``n<k>``; every price is currency/MWh):

- branch -> ``Line`` with ``x = x_pu τ`` (the DC reactance) and ``s_nom`` = rating; only ratios
  of reactances around a cycle matter to KVL, so ``v_nom`` is 1 everywhere.
- gen -> ``Generator``: ``p_nom = p_max``, ``p_min_pu``, ramp limits per step as a share of
  ``p_nom``; marginal cost = cost + carbon price × CO2 factor + Σ damage cost × factor × AQ weight.
- ext_grid -> ``Generator`` between ``-export`` and ``import`` at price + carbon price × priced
  grid intensity, every step.
- sgen -> ``Generator`` with ``p_max_pu`` = availability; curtailment cost -> marginal cost
  ``-curtailment_cost`` (gridopt counts the same cost from full availability, a constant).
- storage -> ``StorageUnit``. PyPSA's first step does not decay the initial SOC, so its initial
  SOC is gridopt's × the per-step keep factor. Cyclic units end at their initial SOC through
  ``state_of_charge_set``; a terminal value is a negative ``marginal_cost_storage`` at the last step.
- EV envelopes (``ev_formulation="aggregate"``) -> per EV bus a ``Link`` of ``p_max`` into a
  ``Store`` whose energy stays between the latest and earliest cumulative curves.

PyPSA's objective equals gridopt's minus ``sum(constant_terms(data).values())``, provided gridopt
uses none of its elastic slacks (load shedding, unmet EV energy, thermal or voltage violation):
the twin has hard limits instead. Not mirrored (``ConfigError``): LinDistFlow, EV sessions,
a CO2 cap, air-quality caps, degradation costs, a minimum SOC. Air-quality weights
(``aq_weight``, per step and unit) are mirrored in the units' marginal costs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.dispatch.inputs import DispatchData, EvAggregates
from gridopt.errors import ConfigError

__all__ = ["assert_results_close", "pypsa_twin"]

_COMPARED_ATTRS = ("status", "network_formulation")


def assert_results_close(actual: xr.Dataset, expected: xr.Dataset, *, rtol: float = 1e-6,
                         atol: float = 1e-6, variables: list[str] | None = None) -> None:
    """Assert that two results datasets say the same, or raise ``AssertionError`` naming where not.

    Compared: ``status`` and ``network_formulation``; ``objective`` and every ``kpi_*`` attribute
    both hold, to ``rtol``; and data variables (``variables``, or every one both hold) element by
    element, to ``atol + rtol·|expected|``, after aligning by coordinate labels, so the order of
    elements and of dimensions does not matter. Timings, versions and other attributes are not
    compared. An LP with several optimal dispatches can pass on objective and fail on variables:
    name the variables that are unique (e.g. prices of a non-degenerate case) in ``variables``.
    """
    for name in _COMPARED_ATTRS:
        if actual.attrs.get(name) != expected.attrs.get(name):
            raise AssertionError(f"{name}: {actual.attrs.get(name)!r} != {expected.attrs.get(name)!r}")
    figures = [k for k in expected.attrs if k == "objective" or k.startswith("kpi_")]
    for name in (k for k in figures if k in actual.attrs):
        a, e = float(actual.attrs[name]), float(expected.attrs[name])
        if not np.isclose(a, e, rtol=rtol, atol=0.0, equal_nan=True):
            raise AssertionError(f"{name}: {a!r} != {e!r} (rtol {rtol:g})")
    names = variables if variables is not None else [v for v in expected.data_vars if v in actual.data_vars]
    for name in names:
        if name not in actual or name not in expected:
            raise AssertionError(f"{name}: not in {'actual' if name not in actual else 'expected'}")
        _assert_variable_close(name, actual[name], expected[name], rtol, atol)


def _assert_variable_close(name: str, actual: xr.DataArray, expected: xr.DataArray,
                           rtol: float, atol: float) -> None:
    if set(actual.dims) != set(expected.dims):
        raise AssertionError(f"{name}: dimensions {actual.dims} != {expected.dims}")
    for dim in expected.dims:
        if dim in expected.indexes and set(actual[dim].values) != set(expected[dim].values):
            raise AssertionError(f"{name}: coordinates along {dim!r} differ")
        if actual.sizes[dim] != expected.sizes[dim]:
            raise AssertionError(f"{name}: {actual.sizes[dim]} != {expected.sizes[dim]} along {dim!r}")
    labelled = {dim: expected[dim].values for dim in expected.dims if dim in expected.indexes}
    a, e = actual.sel(labelled).transpose(*expected.dims).values, expected.values
    if np.issubdtype(e.dtype, np.number):
        bad = ~np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    else:
        bad = np.asarray(a != e)
    if bad.any():
        first = tuple(np.argwhere(bad)[0]) if bad.ndim else ()
        where = ", ".join(f"{d}={expected[d].values[i]}" for d, i in zip(expected.dims, first))
        got, want = (v.item() if hasattr(v, "item") else v for v in (a[first], e[first]))
        raise AssertionError(f"{name}: {int(bad.sum())} of {bad.size} values differ; first at {where}: "
                             f"{got!r} != {want!r}")

_NO_RATING_MVA = 1e7  # s_nom of a branch without a rating (PyPSA needs a finite one)


def pypsa_twin(data: DispatchData):
    """The dispatch of ``data`` as a ``pypsa.Network`` (see the module docstring)."""
    import pypsa

    _check_mirrored(data)
    n = pypsa.Network()
    n.set_snapshots(data.time)
    n.snapshot_weightings.loc[:, :] = data.dt_h
    net = data.network
    n.add("Bus", _names("n", net.n_node), v_nom=1.0)
    n.add(
        "Line",
        _names("branch", len(net.branch)),
        bus0=_nodes(net.from_node),
        bus1=_nodes(net.to_node),
        x=net.x_dc_pu,
        r=0.0,
        s_nom=np.where(np.isfinite(net.rating_mva), net.rating_mva, _NO_RATING_MVA),
    )
    loaded = np.flatnonzero(np.abs(data.load_p_mw).max(axis=0) > 0)
    loads = _names("load", net.n_node)[loaded]
    n.add("Load", loads, bus=_nodes(loaded), p_set=_frame(data, data.load_p_mw[:, loaded], loads))
    _add_gens(n, data)
    _add_ext_grids(n, data)
    _add_sgens(n, data)
    _add_storage(n, data)
    if data.ev is not None:
        _add_ev_envelopes(n, data)
    return n


def _check_mirrored(data: DispatchData) -> None:
    o = data.options
    problems = {
        "network must be 'dc'": data.formulation != "dc",
        "ev_formulation must be 'aggregate'": data.ev is not None and not isinstance(data.ev, EvAggregates),
        "co2_cap_t must be None": o.co2_cap_t is not None,
        "the air-quality policy must not cap emissions": data.aq_cap is not None,
        "storage degradation_cost_per_mwh must be 0": bool((data.storage.degradation_cost_per_mwh > 0).any()),
        "storage soc_min_mwh must be 0": bool((data.storage.soc_min_mwh > 0).any()),
    }
    for what, broken in problems.items():
        if broken:
            raise ConfigError(f"pypsa_twin: {what} (PyPSA's twin does not mirror it)")


def _names(prefix: str, count: int) -> np.ndarray:
    return np.array([f"{prefix}{k}" for k in range(count)], dtype=object)


def _nodes(positions) -> np.ndarray:
    return np.array([f"n{k}" for k in np.asarray(positions, int)], dtype=object)


def _frame(data: DispatchData, values: np.ndarray, names) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(values, float), index=data.time, columns=list(names))


def _share(values: np.ndarray, nominal: np.ndarray) -> np.ndarray:
    """``values / nominal`` with 0 where the nominal is 0."""
    shape = np.broadcast_shapes(np.shape(values), np.shape(nominal))
    return np.divide(values, nominal, out=np.zeros(shape), where=np.broadcast_to(nominal != 0, shape))


def _add_gens(n, data: DispatchData) -> None:
    gen, o = data.gen, data.options
    if not len(gen):
        return
    names = _names("gen", len(gen))
    ef = gen.ef_t_per_mwh  # (G, 4): co2, nox, so2, pm25
    damage = np.array([0.0, o.nox_damage_cost_per_t, o.so2_damage_cost_per_t, o.pm25_damage_cost_per_t])
    cost = (
        gen.marginal_cost_per_mwh[None, :]
        + o.carbon_price_per_t * ef[:, 0][None, :]
        + data.aq_weight * (ef @ damage)[None, :]
    )
    p_nom = np.maximum(gen.p_max_mw, 0.0)
    per_h = np.array([gen.ramp_up_mw_per_h, gen.ramp_down_mw_per_h])  # inf: no limit
    step = np.minimum(per_h * data.dt_h, gen.p_max_mw - gen.p_min_mw)
    ramp = np.where(np.isfinite(per_h), _share(step, p_nom), np.nan)
    n.add(
        "Generator",
        names,
        bus=_nodes(gen.node),
        p_nom=p_nom,
        p_min_pu=_share(gen.p_min_mw, p_nom),
        marginal_cost=_frame(data, np.broadcast_to(cost, (data.n_time, len(gen))), names),
        ramp_limit_up=ramp[0],
        ramp_limit_down=ramp[1],
    )


def _add_ext_grids(n, data: DispatchData) -> None:
    ext, o = data.ext_grid, data.options
    if not len(ext):
        return
    names = _names("ext_grid", len(ext))
    bound = np.where(np.isfinite(ext.p_max_mw), ext.p_max_mw, _NO_RATING_MVA)
    floor = np.where(np.isfinite(ext.p_min_mw), ext.p_min_mw, -_NO_RATING_MVA)
    p_nom = np.maximum(np.abs(bound), np.abs(floor))
    price = data.price_per_mwh + o.carbon_price_per_t * data.co2_priced_t_per_mwh
    n.add(
        "Generator",
        names,
        bus=_nodes(ext.node),
        p_nom=p_nom,
        p_min_pu=floor / p_nom,
        p_max_pu=bound / p_nom,
        marginal_cost=_frame(data, np.repeat(price[:, None], len(ext), axis=1), names),
    )


def _add_sgens(n, data: DispatchData) -> None:
    sgen = data.sgen
    if not len(sgen):
        return
    names = _names("sgen", len(sgen))
    p_nom = np.maximum(sgen.p_avail_mw.max(axis=0), 1e-9)
    n.add(
        "Generator",
        names,
        bus=_nodes(sgen.node),
        p_nom=p_nom,
        p_max_pu=_frame(data, sgen.p_avail_mw / p_nom, names),
        marginal_cost=-data.options.curtailment_cost_per_mwh,
    )


def _add_storage(n, data: DispatchData) -> None:
    st = data.storage
    if not len(st):
        return
    names = _names("storage", len(st))
    p_nom = np.maximum(np.maximum(st.charge_max_mw, st.discharge_max_mw), 1e-9)
    soc_set = np.full((data.n_time, len(st)), np.nan)
    soc_set[-1, st.cyclic] = st.soc_initial_mwh[st.cyclic]
    soc_cost = np.zeros((data.n_time, len(st)))
    soc_cost[-1] = -st.terminal_value_per_mwh / data.dt_h  # PyPSA weights it by the step length
    n.add(
        "StorageUnit",
        names,
        bus=_nodes(st.node),
        p_nom=p_nom,
        p_min_pu=-st.charge_max_mw / p_nom,
        p_max_pu=st.discharge_max_mw / p_nom,
        max_hours=st.soc_max_mwh / p_nom,
        efficiency_store=st.eta_charge,
        efficiency_dispatch=st.eta_discharge,
        standing_loss=1.0 - st.keep_per_step ** (1.0 / data.dt_h),
        state_of_charge_initial=st.keep_per_step * st.soc_initial_mwh,
        cyclic_state_of_charge=False,
        state_of_charge_set=_frame(data, soc_set, names),
        marginal_cost_storage=_frame(data, soc_cost, names),
    )


def _add_ev_envelopes(n, data: DispatchData) -> None:
    ev = data.ev
    k = len(ev)
    buses, links, stores = _names("ev_bus", k), _names("ev_link", k), _names("ev_store", k)
    p_nom = np.maximum(ev.p_max_mw.max(axis=0), 1e-9)
    e_nom = np.maximum(ev.e_early_mwh.max(axis=0), 1e-9)
    n.add("Bus", buses, v_nom=1.0)
    n.add("Link", links, bus0=_nodes(ev.node), bus1=buses, p_nom=p_nom, p_max_pu=_frame(data, ev.p_max_mw / p_nom, links))
    n.add(
        "Store",
        stores,
        bus=buses,
        e_nom=e_nom,
        e_initial=0.0,
        e_max_pu=_frame(data, ev.e_early_mwh / e_nom, stores),
        e_min_pu=_frame(data, ev.e_late_mwh / e_nom, stores),
    )
