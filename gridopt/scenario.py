"""A study ready to optimize: the network with its added assets, the series on one time index,
EV sessions, and the dispatch options, built once from a model file and validated on the way.

Sign conventions: loads and charging consume (positive MW drawn from the grid); sgen, gen and
external-grid import inject (positive MW into the grid).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.config import ModelConfig
from gridopt.errors import ConfigError, DataError
from gridopt.sources import SERIES_CONTRACT, SourceContext, load_source

__all__ = ["Scenario", "build_scenario", "time_index"]

REQUIRED_SIGNALS = ("ext_grid_co2_average_t_per_mwh", "ext_grid_co2_marginal_t_per_mwh")


@dataclass(frozen=True)
class Scenario:
    """Inputs of one optimization. ``series`` holds only the model window at the model step."""

    name: str
    net: Any  # pandapowerNet; a private copy with the model's assets added
    series: xr.Dataset
    ev_sessions: xr.Dataset | None
    options: Any  # gridopt.options.DispatchOptions
    config: ModelConfig | None = None
    sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def time_index(config: ModelConfig) -> pd.DatetimeIndex:
    """The model's time steps (naive UTC, step start times)."""
    t = config.time
    return pd.date_range(t.start_utc, t.end_utc, freq=t.step, inclusive="left")


def build_scenario(config: ModelConfig, progress: Callable[[str], None] | None = None) -> Scenario:
    """Load network and series, add the assets, and check that everything fits together."""
    from gridopt.network import check_network, load_network, set_vm_limits

    say = progress or (lambda _msg: None)
    base_dir = config.path.parent if config.path else None
    say(f"network {config.network.source}")
    net = load_network(config.network.source, base_dir=base_dir)
    set_vm_limits(net, config.network.vm_limits_pu, where=f"{config.path}: network.vm_limits_pu")
    check_network(net)
    times = time_index(config)
    ctx = SourceContext(config, net, times[0].to_pydatetime(), config.time.end_utc)
    series, sessions, sources = _load_all(config, ctx, times, say)
    series = _with_static_defaults(series, net, times)
    series["ext_grid_price_per_mwh"] = _tariff(config, times)
    net, series, options = _add_assets(config, net, series)
    series = _with_aq_policy(config, net, series)
    _check_signals(config, series)
    _check_values(config, series)
    sessions = _sessions_for_model(config, sessions)
    options = options.model_copy(update={"ev_formulation": _ev_formulation(config, sessions)})
    return Scenario(config.name, net, series, sessions, options, config, sources)


def _load_all(config, ctx, times, say):
    frames, sessions, sources = [], {}, {}
    for name, spec in config.series.items():
        say(f"series {name} ({spec.loader})")
        ds = load_source(name, spec, ctx)
        sources[name] = {"loader": spec.loader, "path": spec.path, "attrs": dict(ds.attrs)}
        if "session" in ds.dims:
            sessions[name] = ds
            continue
        if "time" in ds.dims:
            ds = ds.reindex(time=times)
        for var in ds.data_vars.values():
            var.attrs.setdefault("source_series", name)
        frames.append(_unclashed(ds.drop_attrs(deep=False), name, frames))
    series = xr.merge(frames, compat="no_conflicts", join="outer") if frames else xr.Dataset()
    series = series.reindex(time=times) if "time" in series.dims else series.assign_coords(time=times)
    series.attrs = {"model": config.name, "step": config.time.step}
    return series, sessions, sources


def _unclashed(ds: xr.Dataset, series: str, earlier: list[xr.Dataset]) -> xr.Dataset:
    """A variable an earlier series already gives is kept as ``<series>_<variable>``."""
    taken = {str(v) for frame in earlier for v in frame.data_vars}
    clashes = {str(v): f"{series}_{v}" for v in ds.data_vars if str(v) in taken}
    return ds.rename(clashes) if clashes else ds


def _with_static_defaults(series: xr.Dataset, net, times: pd.DatetimeIndex) -> xr.Dataset:
    """Networks without profiles (pandapower built-ins): loads and sgens held at their table values."""
    static = {
        "load_p_mw": ("load", "p_mw", "MW"),
        "load_q_mvar": ("load", "q_mvar", "Mvar"),
        "sgen_p_max_mw": ("sgen", "p_mw", "MW"),
    }
    for name, (table, column, units) in static.items():
        frame = getattr(net, table)
        if name in series or frame.empty:
            continue
        values = (frame[column] * frame["scaling"]).to_numpy(dtype=float)
        series[name] = xr.DataArray(
            np.broadcast_to(values, (times.size, values.size)).copy(),
            dims=("time", table),
            coords={"time": times, table: frame.index.to_numpy()},
            attrs={"units": units, "long_name": f"{table} {column} held at the network's value",
                   "source_series": f"static (net.{table}.{column})", "cell_methods": "time: mean"},
        )
    return series


def _tariff(config: ModelConfig, times: pd.DatetimeIndex) -> xr.DataArray:
    """External-grid energy price: flat, with an optional daily peak window in local time."""
    grid = config.grid
    price = np.full(times.size, grid.price_per_mwh)
    if grid.peak_price_per_mwh is not None:
        hour = times.tz_localize("UTC").tz_convert(grid.timezone).hour
        lo, hi = grid.peak_hours_local
        price[(hour >= lo) & (hour < hi)] = grid.peak_price_per_mwh
    return xr.DataArray(
        price,
        dims="time",
        coords={"time": times},
        attrs={"units": f"{grid.currency}/MWh", "long_name": "external grid energy price",
               "source_series": "grid tariff (model file)", "cell_methods": "time: mean"},
    )


def _add_assets(config: ModelConfig, net, series: xr.Dataset):
    """Copy the net and add the model's PV, wind, batteries and thermal units to it."""
    import pandapower as pp

    net = copy.deepcopy(net)
    assets = config.assets
    _check_buses(config, net)
    new_sgens = {}
    for kind, items in (("PV", assets.pv), ("WP", assets.wind)):
        for a in items:
            idx = pp.create_sgen(net, a.bus, p_mw=a.p_mw, name=a.name, type=kind)
            new_sgens[idx] = _availability(config, series, a) * a.p_mw
    if new_sgens:
        series = _append_sgens(series, new_sgens)
    storage = {}
    for b in assets.battery:
        idx = pp.create_storage(net, b.bus, p_mw=0.0, max_e_mwh=b.e_mwh, name=b.name, type="battery",
                                max_p_mw=b.p_mw, min_p_mw=-b.p_mw, soc_percent=100 * b.soc_initial)
        storage[idx] = b.model_dump(exclude={"name", "bus"})
    thermal = {}
    for g in assets.thermal:
        idx = pp.create_gen(net, g.bus, p_mw=g.p_min_mw, name=g.name, min_p_mw=g.p_min_mw,
                            max_p_mw=g.p_max_mw, controllable=True, type="thermal")
        thermal[idx] = g.model_dump(exclude={"name", "bus"})
    return net, series, _options(config, storage, thermal)


def _check_buses(config: ModelConfig, net) -> None:
    groups = {"pv": config.assets.pv, "wind": config.assets.wind,
              "battery": config.assets.battery, "thermal": config.assets.thermal}
    for group, items in groups.items():
        for i, a in enumerate(items):
            if a.bus not in net.bus.index:
                raise ConfigError(
                    f"{config.path}: assets.{group}[{i}].bus must be a bus of "
                    f"{config.network.source} (0..{net.bus.index.max()}) (got {a.bus})"
                )


def _availability(config: ModelConfig, series: xr.Dataset, asset) -> xr.DataArray:
    if asset.profile not in series:
        have = sorted(str(v) for v in series.data_vars if str(v).endswith("_pu"))
        raise ConfigError(
            f"{config.path}: asset {asset.name!r} profile must name a series variable in pu "
            f"(got {asset.profile!r}; available: {have})"
        )
    profile = series[asset.profile]
    if profile.ndim != 1:  # a per-station profile: take the first station
        profile = profile.isel({d: 0 for d in profile.dims if d != "time"})
    return profile.clip(min=0.0).fillna(0.0)


def _append_sgens(series: xr.Dataset, new: dict[int, xr.DataArray]) -> xr.Dataset:
    """Add the availability (MW) of newly created sgens, with all-good QC flags."""
    added = xr.concat(
        [v.drop_vars([c for c in v.coords if c != "time"]) for v in new.values()], dim="sgen"
    ).assign_coords(sgen=list(new)).transpose("time", "sgen")
    if "sgen" not in series.dims:
        return series.assign(sgen_p_max_mw=added.assign_attrs(units="MW", cell_methods="time: mean"))
    old = series[[v for v in series.data_vars if "sgen" in series[v].dims]]
    extra = xr.Dataset({v: added if v == "sgen_p_max_mw" else xr.zeros_like(added, dtype=old[v].dtype)
                        for v in old.data_vars})
    both = xr.concat([old, extra], dim="sgen", combine_attrs="override")
    for v in both.data_vars:
        both[v].attrs = old[v].attrs
    return xr.merge([series.drop_dims("sgen"), both], combine_attrs="override")


def _options(config: ModelConfig, storage: dict, thermal: dict):
    """Dispatch options from the model file (the keyword arguments of ``gridopt.optimize``)."""
    from gridopt.options import GenParams, make_options

    p = config.policy
    damage = {f"{k}_damage_cost_per_t": v for k, v in p.damage_cost_per_t.items()}
    return make_options(
        network=config.network.formulation,
        carbon_price_per_t=p.carbon_price_per_t,
        co2_signal=p.co2_signal,
        co2_cap_t=p.co2_cap_t,
        curtailment_cost_per_mwh=p.curtailment_cost_per_mwh,
        ext_grid_import_max_mw=config.grid.import_max_mw,
        ext_grid_export_max_mw=config.grid.export_max_mw,
        storage={i: _storage_params(b) for i, b in storage.items()},
        gens={i: GenParams(marginal_cost_per_mwh=g["cost_per_mwh"], co2_t_per_mwh=g["co2_t_per_mwh"],
                           nox_t_per_mwh=g["nox_t_per_mwh"], so2_t_per_mwh=g["so2_t_per_mwh"],
                           pm25_t_per_mwh=g["pm25_t_per_mwh"], ramp_up_mw_per_h=g["ramp_mw_per_h"],
                           ramp_down_mw_per_h=g["ramp_mw_per_h"])
              for i, g in thermal.items()},
        time_limit_s=config.solver.time_limit_s,
        threads=config.solver.threads,
        highs_options=config.solver.highs_options,
        **damage,
    )


def _storage_params(b: dict):
    from gridopt.options import StorageParams

    e = b["e_mwh"]
    return StorageParams(
        charge_max_mw=b["p_mw"], discharge_max_mw=b["p_mw"],
        charge_efficiency=b["eta_charge"], discharge_efficiency=b["eta_discharge"],
        standing_loss_per_h=b["standing_loss_per_h"],
        soc_min_mwh=b["soc_min"] * e, soc_max_mwh=b["soc_max"] * e, initial_soc_mwh=b["soc_initial"] * e,
        terminal="cyclic" if b["cyclic"] else "value",
        degradation_cost_per_mwh=b["degradation_cost_per_mwh"],
    )


AGGREGATE_EV_ABOVE = 2000
"""``auto`` EV formulation: per session up to this many sessions, the per-bus envelope above."""


def _ev_formulation(config: ModelConfig, sessions: xr.Dataset | None) -> str:
    chosen = config.assets.ev.formulation if config.assets.ev else "auto"
    if chosen == "auto":
        many = sessions is not None and sessions.sizes["session"] > AGGREGATE_EV_ABOVE
        return "aggregate" if many else "session"
    return {"sessions": "session", "aggregate": "aggregate"}[chosen]


def _with_aq_policy(config: ModelConfig, net, series: xr.Dataset) -> xr.Dataset:
    """Episode hours by zone and the weights or caps of the air-quality policy (when it is on);
    ``net`` already holds the model's thermal units (``gridopt.aq_policy``)."""
    from gridopt.aq_policy import policy_series

    policy = config.policy.air_quality
    if policy.mode == "off":
        return series
    return series.merge(policy_series(policy, net, series, where=str(config.path)))


def _check_signals(config: ModelConfig, series: xr.Dataset) -> None:
    missing = [s for s in REQUIRED_SIGNALS if s not in series]
    if missing:
        raise ConfigError(
            f"{config.path}: no [series.*] entry gives {', '.join(missing)}; add a carbon source "
            "(loader simbench_carbon, eia930 or china_grid_factor)"
        )


def _check_values(config: ModelConfig, series: xr.Dataset) -> None:
    """Every series that drives a decision is a finite number at every step, within its range
    (``gridopt.sources.SERIES_CONTRACT``); the error names the element, the step and the source."""
    names = [*SERIES_CONTRACT, "ext_grid_price_per_mwh"]
    for name in names:
        if name not in series:
            continue
        var = series[name].transpose("time", ...)
        values = var.values
        low = SERIES_CONTRACT[name].low if name in SERIES_CONTRACT else None
        bad = ~np.isfinite(values)
        expected = "finite at every step"
        if not bad.any() and low is not None:
            bad = values < low
            expected = f">= {low:g} at every step"
        if bad.any():
            t, *rest = np.argwhere(bad)[0]
            element = f" {var.dims[1]} {var[var.dims[1]].values[rest[0]]}" if rest else ""
            raise DataError(
                f"{config.path}: series {name}{element} must be {expected} "
                f"(got {values[bad][0]} at {pd.Timestamp(var.time.values[t]):%Y-%m-%d %H:%M} UTC, "
                f"{int(bad.sum())} values in all; source {var.attrs.get('source_series', '?')})"
            )


def _sessions_for_model(config: ModelConfig, sessions: dict) -> xr.Dataset | None:
    if config.assets.ev is None:
        return None
    ds = sessions.get(config.assets.ev.sessions)
    if ds is None:
        raise ConfigError(
            f"{config.path}: assets.ev.sessions names series {config.assets.ev.sessions!r}, "
            "which yields no sessions (use loader acn_sessions, synthetic_ev, or netcdf with a "
            "session table)"
        )
    return ds.assign(ev_v2g=("session", np.full(ds.sizes["session"], config.assets.ev.v2g)))
