"""Synthetic EV charging sessions, for models that have no measured sessions (offline default).

The sessions are drawn from stated distributions with a fixed seed, so a model gives the same
sessions every run. Two kinds of charging, half each:

- home: arrival ~ N(18:00, 1.5 h) local time, departure the next morning ~ N(07:30, 1 h);
- work: arrival ~ N(08:30, 1 h), departure ~ N(17:00, 1 h).

Requested energy ~ U(5, 30) kWh (a 20–150 km day at 0.2 kWh/km), capped at what the charger can
deliver in the plugged time, so every synthetic session is feasible on its own. The output has the
same variables as the ``acn_sessions`` source gives the optimizer:
``ev_bus``, ``ev_arrival_time``, ``ev_departure_time`` (naive UTC), ``ev_energy_mwh``,
``ev_p_max_mw``, with dimension ``session``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.errors import DataError

__all__ = ["synthetic_sessions"]

_KINDS = {  # (arrival mean h, arrival sd h, departure mean h, departure sd h, next day?)
    "home": (18.0, 1.5, 7.5, 1.0, True),
    "work": (8.5, 1.0, 17.0, 1.0, False),
}


def synthetic_sessions(
    buses: Sequence[int],
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    sessions_per_day: float,
    p_max_kw: float = 11.0,
    timezone: str = "UTC",
    seed: int = 0,
) -> xr.Dataset:
    """Sessions arriving in [start, end) (naive UTC), spread evenly over ``buses``."""
    if not buses:
        raise DataError("synthetic EV sessions: 'buses' must list at least one bus (got none)")
    rng = np.random.default_rng(seed)
    days = pd.date_range(
        pd.Timestamp(start).tz_localize("UTC").tz_convert(timezone).normalize(),
        pd.Timestamp(end).tz_localize("UTC").tz_convert(timezone),
        freq="D",
    )
    per_kind = int(round(sessions_per_day / 2))
    arrivals, departures = [], []
    for arr_mu, arr_sd, dep_mu, dep_sd, next_day in _KINDS.values():
        day = np.repeat(days.tz_localize(None).values, per_kind)
        arr_h = np.clip(rng.normal(arr_mu, arr_sd, day.size), 0, 23.9)
        dep_h = np.clip(rng.normal(dep_mu, dep_sd, day.size), 0, 23.9) + (24 if next_day else 0)
        dep_h = np.maximum(dep_h, arr_h + 1.0)  # at least an hour plugged in
        arrivals.append(day + pd.to_timedelta(arr_h, unit="h").values)
        departures.append(day + pd.to_timedelta(dep_h, unit="h").values)
    local_arr = pd.DatetimeIndex(np.concatenate(arrivals)).round("min")
    local_dep = pd.DatetimeIndex(np.concatenate(departures)).round("min")
    arr = local_arr.tz_localize(timezone, ambiguous="NaT", nonexistent="shift_forward")
    dep = local_dep.tz_localize(timezone, ambiguous="NaT", nonexistent="shift_forward")
    arr = arr.tz_convert("UTC").tz_localize(None)
    dep = dep.tz_convert("UTC").tz_localize(None)
    keep = ~(arr.isna() | dep.isna()) & (arr >= start) & (arr < end)
    arr, dep = arr[keep], dep[keep]
    order = np.argsort(arr.values, kind="stable")
    arr, dep = arr[order], dep[order]
    plugged_h = (dep - arr).total_seconds().values / 3600
    energy_kwh = np.minimum(rng.uniform(5, 30, arr.size), 0.95 * p_max_kw * plugged_h)
    return _dataset(buses, arr, dep, energy_kwh, p_max_kw, seed)


def _dataset(buses, arr, dep, energy_kwh, p_max_kw, seed) -> xr.Dataset:
    n = arr.size
    ids = [f"ev{i:05d}" for i in range(n)]
    bus = np.resize(np.asarray(buses, dtype=np.int64), n)
    return xr.Dataset(
        {
            "ev_bus": ("session", bus, {"long_name": "pandapower bus the charger is at"}),
            "ev_arrival_time": ("session", arr.values, {"long_name": "plug-in time (UTC)"}),
            "ev_departure_time": ("session", dep.values, {"long_name": "plug-out time (UTC)"}),
            "ev_energy_mwh": (
                "session",
                energy_kwh / 1000,
                {"units": "MWh", "long_name": "energy requested by departure"},
            ),
            "ev_p_max_mw": (
                "session",
                np.full(n, p_max_kw / 1000),
                {"units": "MW", "long_name": "maximum charging power"},
            ),
        },
        coords={"session": ids},
        attrs={"source": "synthetic", "seed": seed, "title": "synthetic EV charging sessions"},
    )
