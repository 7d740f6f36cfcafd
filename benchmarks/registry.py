"""The benchmark problems: named cases, each built for any horizon of ``hours`` hourly steps.

``PROBLEMS[name].make(hours)`` returns a ``Case`` (net, series, ev_sessions, options): the inputs of
``gridopt.dispatch.build``. Every case is posed with DC flow (``network="dc"``) and EV fleets as
energy envelopes (``ev_formulation="aggregate"``), so that PyPSA's twin (``gridopt.testing.
pypsa_twin``) mirrors it and objectives can be compared. Seeded: the same name and hours give the
same case.

- ``case118`` -- the anchor of shared/PERFORMANCE.md (see ``transmission_case``): pandapower's
  case118 with linear costs, PV and wind at 20 % of the buses, batteries at 10 %, EV fleets at
  10 %, a CO2 price of 80/t and a NOx damage cost, line ratings tightened so that some bind.
- ``case300`` -- the same recipe on pandapower's case300 (a size point for the scaling run); its one
  series-compensated line (negative reactance, which gridopt's DC flow refuses) gets ``|x|``.
- ``sb_lv`` (1-LV-rural1--0-sw), ``sb_mv`` (1-MV-semiurb--0-sw), ``sb_hv`` (1-HV-mixed--0-sw) --
  SimBench grids with their own 2016 profiles (``gridopt.io.simbench``, averaged to hours from
  2016-01-01 00:00 UTC; at most 8784 steps), plus batteries and EV fleets (``distribution_case``).
- ``mv_oberrhein`` -- pandapower's mv_oberrhein with the generated load and sun profile of
  ``profiles`` (daily curve × season) and the same batteries and EV fleets.

Every case carries ``load_q_mvar`` so that the AC check can run on its dispatch. Prices: the
external grid at 35 ± 20 /MWh over the day; grid CO2 intensity 0.45 ± 0.1 t/MWh (marginal) and
0.30 ± 0.05 (average).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
import xarray as xr

from gridopt.options import GenParams, StorageParams, make_options

SEED = 118
START = "2024-06-03"  # the synthetic cases' first hour (UTC)


class Case(NamedTuple):
    """The inputs of ``gridopt.dispatch.build``."""

    net: object
    series: xr.Dataset
    ev: xr.Dataset | None
    options: object


@dataclass(frozen=True)
class Problem:
    name: str
    describe: str
    make: Callable[[int], Case]
    max_hours: int = 8760


def options(**overrides):
    """The options every benchmark case is posed with (DC flow, EV envelopes, CO2 and NOx priced)."""
    return make_options(
        carbon_price_per_t=80.0,
        gen_default=GenParams(co2_t_per_mwh=0.6, nox_t_per_mwh=0.001),
        nox_damage_cost_per_t=10_000.0,
        storage_default=StorageParams(charge_efficiency=0.95, discharge_efficiency=0.95),
        ev_formulation="aggregate",
        network="dc",
        **overrides,
    )


# ---------------------------------------------------------------- transmission: case118, case300


def transmission_case(net, hours: int) -> Case:
    """A pandapower transmission case decorated as the anchor: linear costs, PV (60 MW) and wind
    (80 MW) at 20 % of the buses with daily availability shapes, batteries (20 MW / 80 MWh) at
    10 %, EV fleets at 10 %, line ratings 1.25 × the base-case DC flow (at least 30 MW)."""
    rng = np.random.default_rng(SEED)
    net.poly_cost[["cp0_eur", "cp2_eur_per_mw2"]] = 0.0
    _tighten_ratings(net)
    buses = net.bus.index.to_numpy()
    n_bus = len(buses)
    n_own = len(net.sgen)  # the case's own sgens (case300 has some) stay at their p_mw
    renewable = rng.choice(buses, size=n_bus // 5, replace=False)
    pv, wind = renewable[: len(renewable) // 2], renewable[len(renewable) // 2 :]
    for b in pv:
        pp.create_sgen(net, b, p_mw=60.0, type="PV")
    for b in wind:
        pp.create_sgen(net, b, p_mw=80.0, type="WP")
    for b in rng.choice(buses, size=n_bus // 10, replace=False):
        pp.create_storage(net, b, p_mw=0, max_e_mwh=80.0, soc_percent=50, max_p_mw=20.0, min_p_mw=-20.0)
    time_index = pd.date_range(START, periods=hours, freq="h")
    hour = np.arange(hours) % 24
    day_shape = 0.85 + 0.2 * np.sin((hour - 7) / 24 * 2 * np.pi)
    load = net.load.p_mw.to_numpy()[None, :] * day_shape[:, None] * rng.uniform(0.95, 1.05, (hours, len(net.load)))
    solar = np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None)[:, None] * rng.uniform(0.7, 1.0, (hours, len(pv)))
    gust = np.clip(0.4 + 0.3 * np.sin(np.arange(hours)[:, None] / 17 + rng.uniform(0, 6, len(wind)))
                   + rng.normal(0, 0.1, (hours, len(wind))), 0, 1)
    series = xr.Dataset(
        {
            "load_p_mw": (("time", "load"), load),
            "load_q_mvar": (("time", "load"), load * _q_ratio(net)),
            "sgen_p_max_mw": (("time", "sgen"), np.hstack([np.tile(net.sgen.p_mw.to_numpy()[:n_own], (hours, 1)),
                                                          60.0 * solar, 80.0 * gust])),
        },
        coords={"time": time_index, "load": net.load.index, "sgen": net.sgen.index},
    )
    _add_grid_signals(series)
    ev = ev_fleets(rng, rng.choice(buses, size=n_bus // 10, replace=False), time_index)
    return Case(net, series, ev, options())


def _case300():
    net = pn.case300()
    net.line["x_ohm_per_km"] = net.line["x_ohm_per_km"].abs()
    return net


def _tighten_ratings(net) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.rundcpp(net)
    mva = np.maximum(1.25 * net.res_line.p_from_mw.abs().to_numpy(), 30.0)
    vn = net.bus.vn_kv.loc[net.line.from_bus].to_numpy()
    net.line["max_i_ka"] = mva / (np.sqrt(3) * vn)


def _q_ratio(net) -> np.ndarray:
    """Each load's q/p ratio from the net (0 where p is 0)."""
    p, q = net.load.p_mw.to_numpy(float), net.load.q_mvar.to_numpy(float)
    return np.divide(q, p, out=np.zeros_like(p), where=p != 0)[None, :]


def _add_grid_signals(series: xr.Dataset) -> None:
    """External grid price (/MWh) and CO2 intensities (t/MWh), daily shapes, in place."""
    hour = series.indexes["time"].hour.to_numpy()
    series["ext_grid_price_per_mwh"] = ("time", 35 + 20 * np.sin((hour - 10) / 24 * 2 * np.pi))
    series["ext_grid_co2_marginal_t_per_mwh"] = ("time", 0.45 + 0.1 * np.cos(hour / 24 * 2 * np.pi))
    series["ext_grid_co2_average_t_per_mwh"] = ("time", 0.30 + 0.05 * np.cos(hour / 24 * 2 * np.pi))


def ev_fleets(rng, buses, time_index, per_bus: int = 40, scale: float = 1.0) -> xr.Dataset:
    """Commuter sessions every day at each bus: arrive 07-10 h, leave 16-19 h, 10-40 kWh at
    7-11 kW (both × ``scale``)."""
    days = pd.date_range(time_index[0].normalize(), time_index[-1], freq="D")
    n = len(days) * len(buses) * per_bus
    day = np.repeat(days.values, len(buses) * per_bus)
    arrival = day + (rng.uniform(7, 10, n) * 3600e9).astype("timedelta64[ns]")
    departure = day + (rng.uniform(16, 19, n) * 3600e9).astype("timedelta64[ns]")
    return xr.Dataset(
        {
            "ev_bus": ("session", np.tile(np.repeat(buses, per_bus), len(days))),
            "ev_arrival_time": ("session", arrival),
            "ev_departure_time": ("session", departure),
            "ev_energy_mwh": ("session", scale * rng.uniform(0.010, 0.040, n)),
            "ev_p_max_mw": ("session", scale * rng.uniform(0.007, 0.011, n)),
        },
        coords={"session": [f"s{i}" for i in range(n)]},
    )


# ---------------------------------------------------------------- distribution: SimBench, mv_oberrhein


def simbench_case(code: str, hours: int) -> Case:
    """A SimBench grid with its own 2016 profiles (hourly means from 2016-01-01 00:00 UTC)."""
    import simbench

    from gridopt.io.series import resample
    from gridopt.io.simbench import open_simbench_profiles

    net = simbench.get_simbench_net(code)
    end = pd.Timestamp("2016-01-01") + pd.Timedelta(hours=hours) - pd.Timedelta("15min")
    quarter = open_simbench_profiles(net, start="2016-01-01 00:00", end=end)
    series = resample(quarter[["load_p_mw", "load_q_mvar", "sgen_p_max_mw"]], "1h")
    if series.sizes["time"] != hours:
        raise ValueError(f"{code}: SimBench profiles hold {series.sizes['time']} hours from 2016-01-01 (asked {hours})")
    return distribution_case(net, series)


def oberrhein_case(hours: int) -> Case:
    """mv_oberrhein with the generated profile of ``profiles`` (from 2016-01-01 00:00 UTC)."""
    net = pn.mv_oberrhein()
    load, sun = profiles(hours)
    times = pd.date_range("2016-01-01", periods=hours, freq="h")
    scale = net.load["scaling"].to_numpy()
    series = xr.Dataset(
        {
            "load_p_mw": (("time", "load"), np.outer(load, net.load["p_mw"].to_numpy() * scale)),
            "load_q_mvar": (("time", "load"), np.outer(load, net.load["q_mvar"].to_numpy() * scale)),
            "sgen_p_max_mw": (("time", "sgen"), np.outer(sun, net.sgen["p_mw"].to_numpy())),
        },
        coords={"time": times, "load": net.load.index.to_numpy(), "sgen": net.sgen.index.to_numpy()},
    )
    return distribution_case(net, series)


def profiles(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(load factor, generation factor) per hourly step from 1 January, deterministic: loads a
    daily curve with an evening peak × a winter-high season; generation a solar-like daily bell ×
    a summer-high season."""
    hour = np.arange(steps) % 24
    day = np.arange(steps) // 24
    season = np.cos(2 * np.pi * (day - 15) / 365)  # +1 mid-January, -1 mid-July
    daytime = np.sin(np.pi * (hour - 6) / 12).clip(0)
    evening = (hour >= 17) & (hour <= 21)
    load = (0.55 + 0.25 * daytime + 0.2 * evening) * (1 + 0.15 * season)
    sun = daytime * (0.65 - 0.35 * season)
    return load, sun


def distribution_case(net, series: xr.Dataset) -> Case:
    """A distribution grid with its series, plus batteries at 10 % of the load buses (power 20 %
    of the grid's peak load / their number, 4 h) and EV fleets at another 10 % (40 sessions per bus
    and day, scaled to the grid: a fleet's peak is about 1 % of the grid's peak load)."""
    rng = np.random.default_rng(SEED)
    load_buses = np.unique(net.load.bus.to_numpy())
    peak = float(series["load_p_mw"].sum("load").max())
    picked = rng.choice(load_buses, size=max(2, len(load_buses) // 5), replace=False)
    batteries, fleets = picked[: len(picked) // 2], picked[len(picked) // 2 :]
    p_mw = 0.2 * peak / len(batteries)
    for b in batteries:
        pp.create_storage(net, b, p_mw=0, max_e_mwh=4 * p_mw, soc_percent=50, max_p_mw=p_mw, min_p_mw=-p_mw)
    fleet_scale = 0.01 * peak / (40 * 0.009)  # 40 sessions at 9 kW on average, in MW
    ev = ev_fleets(rng, fleets, series.indexes["time"], scale=fleet_scale / len(fleets))
    series = series.copy()
    _add_grid_signals(series)
    return Case(net, series, ev, options())


# ---------------------------------------------------------------- the registry


PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in (
        Problem("case118", "pandapower case118, renewables, batteries, EV fleets, binding lines",
                lambda hours: transmission_case(pn.case118(), hours)),
        Problem("case300", "pandapower case300, decorated as case118",
                lambda hours: transmission_case(_case300(), hours)),
        Problem("sb_lv", "SimBench 1-LV-rural1--0-sw with its 2016 profiles",
                lambda hours: simbench_case("1-LV-rural1--0-sw", hours), 8784),
        Problem("sb_mv", "SimBench 1-MV-semiurb--0-sw with its 2016 profiles",
                lambda hours: simbench_case("1-MV-semiurb--0-sw", hours), 8784),
        Problem("sb_hv", "SimBench 1-HV-mixed--0-sw with its 2016 profiles",
                lambda hours: simbench_case("1-HV-mixed--0-sw", hours), 8784),
        Problem("mv_oberrhein", "pandapower mv_oberrhein with a generated profile", oberrhein_case),
    )
}


def case(name: str, hours: int) -> Case:
    """The case ``name`` over ``hours`` hourly steps."""
    return PROBLEMS[name].make(hours)
