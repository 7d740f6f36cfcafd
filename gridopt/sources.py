"""Series sources named in model files (``[series.<name>] loader = "..."``).

Each loader turns one ``[series.*]`` entry into an ``xr.Dataset`` named by the scenario contract
(``load_p_mw``, ``sgen_p_max_mw``, ``ext_grid_co2_average_t_per_mwh``, ``aq_pm25_ug_m3``,
``pv_availability_pu``, EV sessions with dimension ``session`` …). :func:`load_source` then
relabels years if asked, cuts the model's window, checks the data covers it, and resamples to the
model step by each variable's ``cell_methods`` rule.

Checks on the way, each a one-line error naming the model file, the ``[series.<name>]`` entry and
the variable, element or session:

- the window's steps are all there after resampling, on the model's grid (a step missing from the
  file, or values stamped at half past the hour, are errors, not NaN);
- the variables the optimizer reads (:data:`SERIES_CONTRACT`) hold numbers along ``time`` and
  their element dimension, for elements of the network, in the stated units;
- the energy price is not a series: it comes from the model's ``[grid]`` section;
- EV sessions sit at buses of the network, depart after they arrive, and carry an energy >= 0 and
  a power limit > 0. A session asking for more energy than its charger can give in its plugged
  time is not an input error: the optimizer reports it as infeasible as posed, naming it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.aq_policy import AQI_LEAD_IN, with_aqi
from gridopt.config import ModelConfig, SeriesSection
from gridopt.errors import ConfigError, DataError
from gridopt.io.series import add_series, resample

__all__ = ["LOADERS", "SERIES_CONTRACT", "Contract", "SourceContext", "load_source", "shift_to_year"]


@dataclass(frozen=True)
class SourceContext:
    """What a loader may use: the validated model, its network and the UTC window [start, end).

    ``series`` is the name of the ``[series.<name>]`` entry being loaded (set by ``load_source``).
    """

    config: ModelConfig
    net: object
    start: datetime
    end: datetime
    series: str = ""

    def where(self, spec: SeriesSection) -> str:
        """'<model file>: series.<name> (<loader>, <file>)', the start of an error message."""
        about = f"{spec.loader}, {spec.path}" if spec.path else spec.loader
        return f"{self.config.path}: series.{self.series} ({about})"


@dataclass(frozen=True)
class Contract:
    """What the optimizer expects of one series variable.

    ``element`` is the pandapower table along its second dimension (None: dims ``(time,)``),
    ``units`` its units, ``low`` the smallest allowed value (None: any finite number).
    """

    element: str | None
    units: str
    low: float | None


SERIES_CONTRACT: dict[str, Contract] = {
    # A negative load is a prosumer feeding in, and reactive power has either sign.
    "load_p_mw": Contract("load", "MW", None),
    "load_q_mvar": Contract("load", "Mvar", None),
    "sgen_p_max_mw": Contract("sgen", "MW", 0.0),
    # An average intensity is a weighted mean of non-negative factors; a marginal one is a
    # regression slope, which can be negative (gridopt.environment.marginal_intensity).
    "ext_grid_co2_average_t_per_mwh": Contract(None, "t/MWh", 0.0),
    "ext_grid_co2_marginal_t_per_mwh": Contract(None, "t/MWh", None),
}
"""The series the optimizer reads, by variable name."""

PRICE = "ext_grid_price_per_mwh"
"""Made from the model's [grid] section (``gridopt.scenario``); no series may give it."""


def _simbench_profiles(spec: SeriesSection, ctx: SourceContext) -> xr.Dataset:
    from gridopt.io.simbench import open_simbench_profiles

    return open_simbench_profiles(ctx.net)


def _simbench_carbon(spec: SeriesSection, ctx: SourceContext) -> xr.Dataset:
    from gridopt.environment import simbench_carbon_signal

    return simbench_carbon_signal()


def _eia930(spec: SeriesSection, ctx: SourceContext) -> xr.Dataset:
    """Average and marginal intensity from generation by fuel, with the chosen factor set."""
    from gridopt.environment import average_intensity, marginal_intensity
    from gridopt.io.eia930 import FACTOR_SETS, open_eia930

    raw = open_eia930(ctx.config.resolve(_need_path(spec, ctx)))
    factors = {fuel: g / 1000 for fuel, g in FACTOR_SETS[spec.factor_set].items()}
    average = average_intensity(raw["generation_mw"], factors)
    marginal, fit = marginal_intensity(raw["generation_mw"], factors)
    basis = {"factor_set": spec.factor_set, "marginal_fit_median_r2": float(np.nanmedian(fit["r2"].values))}
    ds = xr.Dataset(attrs=raw.attrs)
    qc = raw["grid_co2_average_t_per_mwh_qc"]
    add_series(ds, "ext_grid_co2_average_t_per_mwh", average, qc, {**average.attrs, **basis})
    add_series(ds, "ext_grid_co2_marginal_t_per_mwh", marginal, qc, {**marginal.attrs, **basis})
    return ds


def _china_grid_factor(spec: SeriesSection, ctx: SourceContext) -> xr.Dataset:
    from gridopt.io.china_factors import open_china_grid_factors

    return open_china_grid_factors(
        ctx.config.resolve(_need_path(spec, ctx)),
        region=spec.region or "Beijing",
        year=spec.year or 2022,
        start=ctx.start,
        end=ctx.end,
    )


def _beijing_multisite(spec: SeriesSection, ctx: SourceContext) -> xr.Dataset:
    from gridopt.io.airquality import open_beijing_multisite

    return open_beijing_multisite(ctx.config.resolve(_need_path(spec, ctx)), stations=spec.stations)


def _china_5cities(spec: SeriesSection, ctx: SourceContext) -> xr.Dataset:
    from gridopt.io.airquality import open_china_5cities

    return open_china_5cities(ctx.config.resolve(_need_path(spec, ctx)))


def _airquality_uci(spec: SeriesSection, ctx: SourceContext) -> xr.Dataset:
    from gridopt.io.airquality import open_airquality_uci

    return open_airquality_uci(ctx.config.resolve(_need_path(spec, ctx)))


def _sgcc_pv(spec: SeriesSection, ctx: SourceContext) -> xr.Dataset:
    from gridopt.io.sgcc_pv import open_sgcc_pv

    return open_sgcc_pv(ctx.config.resolve(_need_path(spec, ctx)))


def _tmy_pv(spec: SeriesSection, ctx: SourceContext) -> xr.Dataset:
    from gridopt.io.tmy import builtin_tmy_path, open_tmy, pv_availability_from_weather

    path = ctx.config.resolve(spec.path) if spec.path else builtin_tmy_path()
    weather = open_tmy(path)
    weather["pv_availability_pu"] = pv_availability_from_weather(weather, tilt_deg=30, azimuth_deg=180)
    return weather


def _netcdf(spec: SeriesSection, ctx: SourceContext) -> xr.Dataset:
    """Series (a ``time`` coordinate), or EV sessions (a ``session`` dimension and no ``time``)."""
    from gridopt.io.acn import sessions_in_window
    from gridopt.io.generic import holds_sessions, open_netcdf_series, open_netcdf_sessions

    path = ctx.config.resolve(_need_path(spec, ctx))
    if holds_sessions(path):
        return sessions_in_window(open_netcdf_sessions(path), ctx.start, ctx.end)
    return open_netcdf_series(path)


def _acn_sessions(spec: SeriesSection, ctx: SourceContext) -> xr.Dataset:
    from gridopt.io.acn import open_acn_sessions, sessions_in_window

    raw = sessions_in_window(open_acn_sessions(ctx.config.resolve(_need_path(spec, ctx))), ctx.start, ctx.end)
    return _sessions_at_buses(raw, _need_buses(spec, ctx))


def _synthetic_ev(spec: SeriesSection, ctx: SourceContext) -> xr.Dataset:
    from gridopt.io.ev_synthetic import synthetic_sessions

    return synthetic_sessions(
        _need_buses(spec, ctx),
        pd.Timestamp(ctx.start),
        pd.Timestamp(ctx.end),
        sessions_per_day=spec.sessions_per_day if spec.sessions_per_day is not None else 20,
        p_max_kw=spec.p_max_kw or 11.0,
        timezone=ctx.config.grid.timezone,
        seed=spec.seed,
    )


LOADERS: dict[str, Callable[[SeriesSection, SourceContext], xr.Dataset]] = {
    "simbench_profiles": _simbench_profiles,
    "simbench_carbon": _simbench_carbon,
    "eia930": _eia930,
    "china_grid_factor": _china_grid_factor,
    "beijing_multisite": _beijing_multisite,
    "china_5cities": _china_5cities,
    "airquality_uci": _airquality_uci,
    "sgcc_pv": _sgcc_pv,
    "tmy_pv": _tmy_pv,
    "netcdf": _netcdf,
    "acn_sessions": _acn_sessions,
    "synthetic_ev": _synthetic_ev,
}
"""Loader name → function. Session loaders return a dataset with dimension ``session``."""


def _need_path(spec: SeriesSection, ctx: SourceContext) -> str:
    if spec.path is None:
        raise ConfigError(_needs(spec, ctx, "a 'path' key"))
    return spec.path


def _need_buses(spec: SeriesSection, ctx: SourceContext) -> list[int]:
    if not spec.buses:
        raise ConfigError(_needs(spec, ctx, "a 'buses' list"))
    unknown = [b for b in spec.buses if b not in ctx.net.bus.index]
    if unknown:
        raise ConfigError(
            f"{ctx.config.path}: series.{ctx.series}.buses must be buses of "
            f"{ctx.config.network.source} (0..{ctx.net.bus.index.max()}) (got {unknown[0]})"
        )
    return spec.buses


def _needs(spec: SeriesSection, ctx: SourceContext, what: str) -> str:
    return f"{ctx.config.path}: series.{ctx.series}: loader {spec.loader!r} needs {what}"


def _sessions_at_buses(raw: xr.Dataset, buses: list[int]) -> xr.Dataset:
    """Give measured sessions a bus: charging stations are spread over ``buses`` in turn."""
    stations = np.unique(raw["ev_station"].values)
    bus_of = {s: buses[i % len(buses)] for i, s in enumerate(stations)}
    # The target is the energy actually delivered: it fits the plugged-in window by construction,
    # while 44 % of the drivers' requests exceed what the charger could give before departure.
    energy = raw["ev_energy_delivered_mwh"]
    # A charger gave at least its session's mean power: some level-2 sessions averaged up to
    # 7.2 kW against the 6.6 kW default rating, so the rating is raised to what was observed.
    # (A session that departs before it arrives keeps its rating; load_source rejects it.)
    plugged_h = (raw["ev_departure_time"] - raw["ev_arrival_time"]) / np.timedelta64(1, "h")
    observed = (energy / plugged_h.where(plugged_h > 0)).fillna(0.0)
    p_max = np.maximum(raw["ev_p_max_mw"], observed).assign_attrs(raw["ev_p_max_mw"].attrs)
    return xr.Dataset(
        {
            "ev_bus": ("session", np.array([bus_of[s] for s in raw["ev_station"].values])),
            "ev_arrival_time": raw["ev_arrival_time"],
            "ev_departure_time": raw["ev_departure_time"],
            "ev_energy_mwh": energy.assign_attrs(units="MWh", long_name="energy to deliver by departure"),
            "ev_energy_requested_mwh": raw["ev_energy_requested_mwh"],
            "ev_p_max_mw": p_max,
            "ev_station": raw["ev_station"],
        },
        attrs=raw.attrs,
    )


def shift_to_year(ds: xr.Dataset, year: int) -> xr.Dataset:
    """Relabel timestamps into ``year`` by whole weeks, so weekdays stay weekdays."""
    times = ds.indexes["time"]
    source_year = times[len(times) // 2].year
    weeks = round((year - source_year) * 365.2425 / 7)
    shifted = ds.assign_coords(time=times + pd.Timedelta(weeks=weeks))
    shifted.attrs["time_shift_days"] = weeks * 7
    return shifted


def load_source(name: str, spec: SeriesSection, ctx: SourceContext) -> xr.Dataset:
    """Load one ``[series.<name>]`` entry, cut to the window and resampled to the model step."""
    loader = LOADERS.get(spec.loader)
    if loader is None:
        raise ConfigError(
            f"{ctx.config.path}: series.{name}.loader must be one of {sorted(LOADERS)} "
            f"(got {spec.loader!r})"
        )
    ctx = dataclasses.replace(ctx, series=name)
    ds = loader(spec, ctx)
    if "session" in ds.dims:
        _check_sessions(ds, spec, ctx)
        return ds
    if "time" not in ds.dims:  # constants
        return ds
    if spec.shift_to_year is not None:
        ds = shift_to_year(ds, spec.shift_to_year)
    if any(str(v).startswith("aq_") for v in ds.data_vars):
        ds = with_aqi(ds.sel(time=slice(pd.Timestamp(ctx.start) - AQI_LEAD_IN, pd.Timestamp(ctx.end))))
    ds = _window(ds, spec, ctx)
    ds = resample(ds, ctx.config.time.step)
    _check_steps(ds, spec, ctx)
    _check_contract(ds, spec, ctx)
    if spec.scale != 1.0:
        for key in [k for k in ds.data_vars if not str(k).endswith("_qc")]:
            ds[key] = (ds[key] * spec.scale).assign_attrs(ds[key].attrs)
    ds.attrs.update(loader=spec.loader, series=name)
    return ds


def _window(ds: xr.Dataset, spec: SeriesSection, ctx: SourceContext) -> xr.Dataset:
    times = ds.indexes["time"]
    step = pd.Timedelta(np.diff(times[:2])[0]) if len(times) > 1 else pd.Timedelta(ctx.config.time.step)
    first, last_end = times[0], times[-1] + step
    if first > pd.Timestamp(ctx.start) or last_end < pd.Timestamp(ctx.end):
        raise DataError(
            f"{ctx.where(spec)} covers {first:%Y-%m-%d %H:%M} to "
            f"{last_end:%Y-%m-%d %H:%M} UTC, which does not contain the window "
            f"{ctx.start:%Y-%m-%d %H:%M} to {ctx.end:%Y-%m-%d %H:%M} UTC"
        )
    return ds.sel(time=slice(pd.Timestamp(ctx.start), pd.Timestamp(ctx.end) - pd.Timedelta("1ns")))


def _check_steps(ds: xr.Dataset, spec: SeriesSection, ctx: SourceContext) -> None:
    """After resampling, the series hold exactly the window's steps, on the model's grid."""
    step = ctx.config.time.step
    expected = pd.date_range(ctx.start, ctx.end, freq=step, inclusive="left")
    times = ds.indexes["time"]
    off_grid = times.difference(expected)
    if len(off_grid):
        raise DataError(
            f"{ctx.where(spec)}: time steps must fall on the model's {step} grid from "
            f"{ctx.start:%Y-%m-%d %H:%M} UTC (got {off_grid[0]:%Y-%m-%d %H:%M})"
        )
    missing = expected.difference(times)
    if len(missing):
        raise DataError(
            f"{ctx.where(spec)}: the file has no step {missing[0]:%Y-%m-%d %H:%M} UTC "
            f"({len(missing)} of {len(expected)} steps of the window missing)"
        )


def _check_contract(ds: xr.Dataset, spec: SeriesSection, ctx: SourceContext) -> None:
    """The variables the optimizer reads have its dims, elements and units (SERIES_CONTRACT)."""
    if PRICE in ds:
        raise ConfigError(
            f"{ctx.where(spec)}: gives {PRICE}, but the energy price comes from the model's "
            "[grid] section (price_per_mwh, peak_price_per_mwh); remove one of the two"
        )
    for name, rule in SERIES_CONTRACT.items():
        if name not in ds:
            continue
        var = ds[name]
        where = f"{ctx.where(spec)}: {name}"
        if var.dtype.kind not in "fiu":
            raise DataError(f"{where} must hold numbers (got dtype {var.dtype})")
        dims = ("time",) if rule.element is None else ("time", rule.element)
        if set(var.dims) != set(dims):
            raise DataError(f"{where} must have dims {dims} (got {var.dims})")
        if _norm_units(var.attrs.get("units", "")) != _norm_units(rule.units):
            raise DataError(f"{where} must be in {rule.units} (got units {var.attrs.get('units')!r})")
        if rule.element is not None:
            _check_elements(var[rule.element].values, rule.element, where, ctx)


def _norm_units(units: str) -> str:
    """'t MWh-1' and 't/MWh', 'MVAr' and 'Mvar' compare equal."""
    return units.replace(" ", "").lower().replace("mwh-1", "/mwh")


def _check_elements(values: np.ndarray, table: str, where: str, ctx: SourceContext) -> None:
    index = getattr(ctx.net, table).index
    unknown = [v for v in values.tolist() if v not in index]
    if unknown:
        have = f"{index.min()}..{index.max()}" if len(index) else "none"
        raise DataError(
            f"{where}: {table} {unknown[0]!r} is not a {table} of {ctx.config.network.source} "
            f"({table}s: {have})"
        )
    if len(set(values.tolist())) < len(values):
        raise DataError(f"{where}: each {table} must appear once along '{table}'")


def _check_sessions(ds: xr.Dataset, spec: SeriesSection, ctx: SourceContext) -> None:
    """Sessions at buses of the network, departing after arrival, energy >= 0, power > 0."""
    where = f"{ctx.where(spec)}: session"
    ids = ds.indexes["session"] if "session" in ds.indexes else range(ds.sizes["session"])
    bus = ds["ev_bus"].values
    arrival, departure = ds["ev_arrival_time"].values, ds["ev_departure_time"].values
    energy, p_max = ds["ev_energy_mwh"].values, ds["ev_p_max_mw"].values
    rules = [
        (~np.isin(bus, ctx.net.bus.index), "ev_bus must be a bus of the network",
         lambda i: bus[i]),
        (~(departure > arrival), "must depart after it arrives",
         lambda i: f"{_hm(arrival[i])} to {_hm(departure[i])} UTC"),
        (~(np.isfinite(energy) & (energy >= 0)), "ev_energy_mwh must be >= 0", lambda i: energy[i]),
        (~(np.isfinite(p_max) & (p_max > 0)), "ev_p_max_mw must be > 0", lambda i: p_max[i]),
    ]
    for bad, expected, got in rules:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            more = f"; {int(bad.sum()) - 1} more" if bad.sum() > 1 else ""
            raise DataError(f"{where} {ids[i]!r} {expected} (got {got(i)}{more})")


def _hm(t: np.datetime64) -> str:
    return f"{pd.Timestamp(t):%Y-%m-%d %H:%M}"
